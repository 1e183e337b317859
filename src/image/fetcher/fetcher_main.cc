// coracle-fetch: the only code of coracle that talks to the network. It is
// linked against the host's libcurl (the main binary is static and cannot
// be: see docs/benchmarks.md), embedded in the coracle binary, and run from
// a memfd with the credentials of nobody (http_client.cc). It reads
// requests on fd 3 and streams responses back (fetch_protocol.h); it never
// sees the store, and coracle checks every byte it returns against a digest.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "image/fetch_protocol.h"

namespace {

using namespace coracle::fetch;
constexpr int kChannel = 3;

struct Transfer {
  CURL* curl = nullptr;
  long status = 0;
  std::map<std::string, std::string> headers;
  bool headers_sent = false;
  bool parent_gone = false;
  bool no_loopback = false;
  std::string refused_address;  // a connection no_loopback stopped
};

// The host's own addresses as a connection sees them: 127/8, 0/8 (which
// reaches the host too), ::1, ::, and their IPv4-mapped forms.
bool is_host_loopback(const sockaddr* a) {
  auto v4_local = [](uint32_t host_order) {
    return (host_order >> 24) == 127 || (host_order >> 24) == 0;
  };
  if (a->sa_family == AF_INET)
    return v4_local(ntohl(reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr));
  if (a->sa_family != AF_INET6) return false;
  const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr;
  if (IN6_IS_ADDR_LOOPBACK(&v6) || IN6_IS_ADDR_UNSPECIFIED(&v6)) return true;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    uint32_t v4;
    memcpy(&v4, &v6.s6_addr[12], 4);
    return v4_local(ntohl(v4));
  }
  return false;
}

// Every connection curl opens (each redirect, each resolved address) is
// checked here, after name resolution: a host name that resolves to
// 127.0.0.1, or a redirect there, is stopped as a literal address is.
curl_socket_t open_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (t->no_loopback && is_host_loopback(&address->addr)) {
    char text[INET6_ADDRSTRLEN] = "?";
    const void* raw = address->family == AF_INET
                          ? static_cast<const void*>(
                                &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr)
                          : &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr;
    inet_ntop(address->family, raw, text, sizeof text);
    t->refused_address = text;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Each response (redirects included) starts with a status line: only the
// last response's headers are kept.
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->headers.clear();
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    t->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return size * n;
}

bool send_headers(Transfer& t) {
  if (t.headers_sent) return true;
  t.headers_sent = true;
  char* url = nullptr;
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
  curl_easy_getinfo(t.curl, CURLINFO_EFFECTIVE_URL, &url);
  nlohmann::json h = {{"status", t.status}, {"url", url ? url : ""}, {"headers", t.headers}};
  // A header is the server's bytes, not always UTF-8: replaced, never a
  // throw (which would end this helper mid-pull).
  std::string text = h.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (!write_frame(kChannel, kHeaders, text.data(), text.size())) t.parent_gone = true;
  return !t.parent_gone;
}

// The request body, pulled from coracle a piece at a time ('R' → 'B').
size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  uint32_t max = static_cast<uint32_t>(std::min<size_t>(size * n, 1u << 20));
  char type = 0;
  std::string piece;
  if (!write_frame(kChannel, kBodyRequest, &max, sizeof max) ||
      !read_frame(kChannel, type, piece) || type != kBody || piece.size() > max) {
    t->parent_gone = true;
    return CURL_READFUNC_ABORT;
  }
  memcpy(buf, piece.data(), piece.size());
  return piece.size();
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (!send_headers(*t)) return 0;
  // The socket blocks when coracle is busy writing: that is the back
  // pressure that keeps a layer from ever piling up in memory.
  if (!write_frame(kChannel, kData, data, size * n)) {
    t->parent_gone = true;
    return 0;
  }
  return size * n;
}

std::string read_text(const char* path) {
  std::string out;
  if (FILE* f = fopen(path, "r")) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    fclose(f);
  }
  return out;
}

class Fetcher {
 public:
  Fetcher() : curl_(curl_easy_init()) {}
  ~Fetcher() { curl_easy_cleanup(curl_); }

  void init(const nlohmann::json& o) {
    // An extra CA is trusted beside the system's, not instead of them: a
    // private registry may redirect blob downloads to a public CDN.
    std::string extra = o.value("ca_pem", "");
    if (!extra.empty()) {
      const char* system = curl_version_info(CURLVERSION_NOW)->cainfo;
      ca_bundle_ = (system ? read_text(system) : "") + "\n" + extra;
    }
    connect_timeout_ = o.value("connect_timeout", 30L);
    stall_timeout_ = o.value("stall_timeout", 60L);
  }

  bool perform(const nlohmann::json& q) {
    Transfer t;
    t.curl = curl_;
    curl_easy_reset(curl_);
    std::string url = q.at("url").get<std::string>();
    bool insecure = q.value("insecure_tls", false);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "coracle/" CORACLE_VERSION);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    // Redirects are followed (blob stores hand out CDN URLs), but never
    // from https down to http unless the registry is insecure anyway.
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
    bool https = url.rfind("https://", 0) == 0;
    curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR,
                     https && !insecure ? "https" : "http,https");
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, insecure ? 0L : 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, insecure ? 0L : 2L);
    if (!ca_bundle_.empty()) {
      curl_blob blob{ca_bundle_.data(), ca_bundle_.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(curl_, CURLOPT_CAINFO_BLOB, &blob);
    }
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, connect_timeout_);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, stall_timeout_);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    std::string method = q.value("method", "GET");
    int64_t body_size = q.value("body_size", int64_t{-1});
    curl_slist* headers = nullptr;
    if (method == "HEAD") {
      curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    } else if (body_size >= 0) {
      // An upload (a registry's POST, PATCH, PUT): the body comes from
      // coracle; no redirect is followed (the body cannot be sent twice)
      // and no 100-continue round trip is waited for.
      curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
      curl_easy_setopt(curl_, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(curl_, CURLOPT_READDATA, &t);
      curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
      headers = curl_slist_append(headers, "Expect:");
      if (method != "PUT") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    } else if (method != "GET") {
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    for (const auto& h : q.value("headers", nlohmann::json::array()))
      headers = curl_slist_append(headers, h.get<std::string>().c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &t);
    t.no_loopback = q.value("no_loopback", false);
    curl_easy_setopt(curl_, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(curl_, CURLOPT_OPENSOCKETDATA, &t);
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (t.parent_gone) return false;
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    // A response without a body still has a status; a failed connection
    // has none (status 0) and the error says why.
    if (status != 0 && !send_headers(t)) return false;
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    if (rc != CURLE_OK && !t.refused_address.empty())
      why = "refused to connect to " + t.refused_address +
            ", an address of the host itself (it is reachable with the host's network only)";
    nlohmann::json end = {{"ok", rc == CURLE_OK},
                          {"curl_code", static_cast<int>(rc)},
                          {"error", why},
                          {"refused_loopback", !t.refused_address.empty()}};
    std::string text = end.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return write_frame(kChannel, kEnd, text.data(), text.size());
  }

 private:
  CURL* curl_;
  std::string ca_bundle_;
  long connect_timeout_ = 30, stall_timeout_ = 60;
};

}  // namespace

int main() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return 1;
  Fetcher fetcher;
  char type;
  std::string payload;
  while (read_frame(kChannel, type, payload)) {
    nlohmann::json msg = nlohmann::json::parse(payload, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) return 2;
    if (type == kInit) {
      fetcher.init(msg);
    } else if (type == kRequest) {
      try {
        if (!fetcher.perform(msg)) return 0;
      } catch (const nlohmann::json::exception&) {
        return 2;
      }
    } else {
      return 2;
    }
  }
  return 0;
}

#include "image/registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace coracle::image {
namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr size_t kMaxToken = 1 << 20;

}  // namespace

bool plain_http_allowed(const std::string& host_port, bool insecure) {
  if (insecure) return true;
  std::string host = host_port;
  if (!host.empty() && host[0] == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  // Addresses, not names that look like them ("127.0.0.1.example.com").
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return host == "localhost";
}

namespace {

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// `Bearer realm="https://auth/token",service="reg",scope="a:b:pull,push"`:
// the scheme, then key=value pairs (values quoted or not).
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge parse_challenge(const std::string& text) {
  Challenge c;
  size_t i = text.find(' ');
  c.scheme = text.substr(0, i);
  for (auto& ch : c.scheme) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  while (i != std::string::npos && i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    size_t eq = text.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = text.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < text.size() && text[i] == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i];
      }
      ++i;
    } else {
      size_t end = text.find(',', i);
      value = text.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end;
    }
    c.params[key] = value;
  }
  return c;
}

std::string strip_params(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

}  // namespace

struct RegistryClient::Lease {
  RegistryClient* owner;
  std::unique_ptr<HttpSession> session;
  Lease(RegistryClient* o, std::unique_ptr<HttpSession> s) : owner(o), session(std::move(s)) {}
  Lease(Lease&&) = default;
  ~Lease() {
    if (!session) return;
    std::lock_guard<std::mutex> lock(owner->mutex_);
    owner->idle_.push_back(std::move(session));
  }
  HttpSession* operator->() { return session.get(); }
};

RegistryClient::RegistryClient(const Reference& ref, RegistryOptions options,
                               std::optional<Credential> credential)
    : ref_(ref),
      options_(std::move(options)),
      credential_(std::move(credential)),
      plain_allowed_(plain_http_allowed(ref.registry, options_.insecure)) {
  if (!options_.ca_file.empty()) http_options_.ca_pem = read_file(options_.ca_file);
}

RegistryClient::~RegistryClient() = default;

RegistryClient::Lease RegistryClient::lease() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(s));
  }
  return Lease(this, std::make_unique<HttpSession>(http_options_));
}

std::string RegistryClient::endpoint() {
  ping();
  std::lock_guard<std::mutex> lock(mutex_);
  return base_ + "/v2/";
}

// Finds the API (https first; plain http where allowed) and its auth
// challenge, then gets a token: once, whatever the number of threads.
void RegistryClient::ping() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!base_.empty()) return;
  }
  auto session = lease();
  std::lock_guard<std::mutex> lock(ping_mutex_);
  {
    std::lock_guard<std::mutex> state(mutex_);
    if (!base_.empty()) return;
  }
  std::string host = ref_.api_host();
  struct Candidate {
    std::string base;
    bool insecure_tls;
  };
  std::vector<Candidate> candidates = {{"https://" + host, options_.insecure}};
  if (plain_allowed_) candidates.push_back({"http://" + host, false});
  std::string errors;
  for (const auto& c : candidates) {
    HttpRequest req;
    req.url = c.base + "/v2/";
    req.insecure_tls = c.insecure_tls;
    std::string body;
    HttpResult r = session->fetch(req, body, kMaxManifest);
    if (r.tls_untrusted() && !c.insecure_tls)
      throw Error("registry " + ref_.registry + " at " + req.url +
                  " has a certificate this host does not trust (" + r.error +
                  "); give its CA with --ca FILE, or use --insecure");
    if (r.response.status == 0) {
      errors += (errors.empty() ? "" : "; ") + req.url + ": " + r.error;
      continue;
    }
    if (r.response.status != 200 && r.response.status != 401)
      throw Error("registry " + ref_.registry + " does not serve the registry API at " + req.url +
                  " (HTTP " + std::to_string(r.response.status) + ")");
    std::string challenge = r.response.status == 401 ? r.response.header("www-authenticate") : "";
    {
      std::lock_guard<std::mutex> state(mutex_);
      insecure_tls_ = c.insecure_tls;
      challenge_ = challenge;
    }
    if (!challenge.empty()) authenticate(*session.session, challenge);
    std::lock_guard<std::mutex> state(mutex_);
    base_ = c.base;
    return;
  }
  std::string hint = plain_allowed_ ? "check the name and that the registry is running"
                                    : "check the name and the network; a registry that speaks "
                                      "plain HTTP needs --insecure";
  throw Error("cannot reach registry " + ref_.registry + ": " + errors + "; " + hint);
}

void RegistryClient::authenticate(HttpSession& session, const std::string& text) {
  Challenge c = parse_challenge(text);
  std::string login_hint = "log in with `coracle login " + ref_.registry + "`";
  if (c.scheme == "basic") {
    if (!credential_) throw Error("registry " + ref_.registry + " requires a login; " + login_hint);
    std::lock_guard<std::mutex> lock(mutex_);
    authorization_ = basic_authorization(*credential_);
    return;
  }
  if (c.scheme != "bearer" || c.params["realm"].empty())
    throw Error("registry " + ref_.registry + " asks for an unsupported authentication: " + text);
  HttpRequest req;
  req.url = c.params["realm"];
  char sep = req.url.find('?') == std::string::npos ? '?' : '&';
  if (!c.params["service"].empty()) {
    req.url += sep + std::string("service=") + url_encode(c.params["service"]);
    sep = '&';
  }
  std::string scope = c.params["scope"];
  if (scope.empty() && !ref_.repository.empty())
    scope = "repository:" + ref_.repository + ":" + options_.actions;
  if (!scope.empty()) req.url += sep + std::string("scope=") + url_encode(scope);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    req.insecure_tls = insecure_tls_;
  }
  if (credential_) req.headers.push_back("Authorization: " + basic_authorization(*credential_));
  std::string body;
  HttpResult r = session.fetch(req, body, kMaxToken);
  if (r.response.status == 0)
    throw Error("cannot reach the token service of " + ref_.registry + " at " + req.url + ": " +
                r.error);
  if (r.response.status == 401 || r.response.status == 403)
    throw Error(
        "registry " + ref_.registry + " refused " +
        (credential_ ? "the credentials of " + credential_->username : "an anonymous pull") + "; " +
        login_hint);
  if (r.response.status != 200)
    throw Error("the token service of " + ref_.registry + " at " + req.url + " answered HTTP " +
                std::to_string(r.response.status));
  auto j = nlohmann::json::parse(body, nullptr, false);
  std::string token;
  if (j.is_object()) {
    if (j.contains("token") && j["token"].is_string()) token = j["token"];
    if (token.empty() && j.contains("access_token") && j["access_token"].is_string())
      token = j["access_token"];
  }
  if (token.empty())
    throw Error("the token service of " + ref_.registry + " at " + req.url + " sent no token");
  std::lock_guard<std::mutex> lock(mutex_);
  authorization_ = "Bearer " + token;
}

std::vector<std::string> RegistryClient::auth_headers() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (authorization_.empty()) return {};
  return {"Authorization: " + authorization_};
}

HttpRequest RegistryClient::request(const std::string& path) const {
  HttpRequest req;
  req.url = base_ + "/v2/" + ref_.repository + path;
  req.insecure_tls = insecure_tls_;
  return req;
}

void RegistryClient::fail_status(const HttpResponse& r, const std::string& what,
                                 const std::string& url) {
  long s = r.status;
  if (s == 401 || s == 403)
    throw Error("registry " + ref_.registry + " denied access to " + what + " (HTTP " +
                std::to_string(s) + " from " + url + "); log in with `coracle login " +
                ref_.registry + "` or check the name");
  throw Error("registry " + ref_.registry + " answered HTTP " + std::to_string(s) + " for " + what +
              " (" + url + ")");
}

FetchedManifest RegistryClient::manifest(const std::string& tag_or_digest) {
  ping();
  std::string what = ref_.name() + (is_sha256_digest(tag_or_digest) ? "@" : ":") + tag_or_digest;
  for (int attempt = 0;; ++attempt) {
    auto session = lease();
    HttpRequest req;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      req = request("/manifests/" + tag_or_digest);
    }
    req.headers = auth_headers();
    req.headers.push_back(
        "Accept: " + std::string(media::kOciIndex) + ", " + std::string(media::kOciManifest) +
        ", " + std::string(media::kDockerList) + ", " + std::string(media::kDockerManifest));
    FetchedManifest m;
    HttpResult r = session->fetch(req, m.body, kMaxManifest);
    long s = r.response.status;
    if (s == 0 || (s >= 500 && attempt < options_.retries) ||
        (s == 429 && attempt < options_.retries)) {
      if (attempt >= options_.retries)
        throw Error("cannot fetch the manifest of " + what + " from " + req.url + ": " + r.error);
      sleep_ms(200L << std::min(attempt, 4));
      continue;
    }
    if (s == 401 && attempt == 0 && !r.response.header("www-authenticate").empty()) {
      authenticate(*session.session, r.response.header("www-authenticate"));
      continue;
    }
    if (s == 404)
      throw Error("image " + what + " is not in registry " + ref_.registry +
                  " (manifest unknown); check the name and the tag");
    if (s != 200) fail_status(r.response, "the manifest of " + what, req.url);
    if (!r.ok)
      throw Error("cannot fetch the manifest of " + what + " from " + req.url + ": " + r.error);
    m.digest = sha256_digest(m.body);
    if (is_sha256_digest(tag_or_digest) && m.digest != tag_or_digest)
      throw Error("the manifest " + req.url + " hashes to " + m.digest +
                  ", not to the digest asked for: the registry is corrupt or tampered with");
    std::string claimed = r.response.header("docker-content-digest");
    if (is_sha256_digest(claimed) && claimed != m.digest)
      throw Error("the manifest " + req.url + " hashes to " + m.digest + " but the registry says " +
                  claimed + ": it is corrupt or was tampered with");
    m.media_type = strip_params(r.response.header("content-type"));
    if (!is_index_type(m.media_type) && !is_manifest_type(m.media_type))
      m.media_type = sniff_media_type(m.body, "manifest of " + what);
    return m;
  }
}

void RegistryClient::blob(const Descriptor& d, BlobWriter& writer,
                          const std::function<void(uint64_t)>& on_progress) {
  ping();
  int failures = 0;  // transfers in a row that brought nothing new
  bool reauthenticated = false;
  for (;;) {
    auto session = lease();
    HttpRequest req;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      req = request("/blobs/" + d.digest);
    }
    req.headers = auth_headers();
    uint64_t start = writer.size();
    if (start > 0) req.headers.push_back("Range: bytes=" + std::to_string(start) + "-");
    long status = 0;
    HttpResult r = session->perform(
        req,
        [&](const HttpResponse& resp) {
          status = resp.status;
          // A server that ignores Range sends the whole blob again.
          if (status == 200 && writer.size() > 0) writer.restart();
          if (status == 206 &&
              resp.header("content-range").rfind("bytes " + std::to_string(start) + "-", 0) != 0)
            throw Error("registry " + ref_.registry + " resumed " + d.digest +
                        " at the wrong offset (" + resp.header("content-range") + ")");
        },
        [&](const char* data, size_t size) {
          if (status != 200 && status != 206) return;  // an error page
          if (d.size >= 0 && writer.size() + size > static_cast<uint64_t>(d.size))
            throw Error("registry " + ref_.registry + " sent more than the " +
                        std::to_string(d.size) + " bytes of blob " + d.digest + " (" + req.url +
                        "): it is corrupt or tampered with");
          writer.write(data, size);
          if (on_progress) on_progress(writer.size());
        });
    if (r.ok && (status == 200 || status == 206)) return;
    if (status == 401 && !reauthenticated && !r.response.header("www-authenticate").empty()) {
      // A token may expire during a long pull.
      reauthenticated = true;
      authenticate(*session.session, r.response.header("www-authenticate"));
      continue;
    }
    if (status == 404)
      throw Error("blob " + d.digest + " of " + ref_.name() + " is missing from registry " +
                  ref_.registry + " (" + req.url + ")");
    bool retryable =
        status == 0 || status == 200 || status == 206 || status == 429 || status >= 500;
    if (!retryable) fail_status(r.response, "blob " + d.digest, req.url);
    failures = writer.size() > start ? 0 : failures + 1;
    if (failures > options_.retries)
      throw Error("cannot download blob " + d.digest + " from " + req.url + ": " +
                  (r.error.empty() ? "HTTP " + std::to_string(status) : r.error) + " (after " +
                  std::to_string(options_.retries) + " retries)");
    sleep_ms(200L << std::min(failures, 4));
  }
}

HttpResult RegistryClient::send(const std::function<void(HttpRequest&)>& prepare, std::string* body,
                                const std::string& what) {
  ping();
  bool reauthenticated = false;
  for (int attempt = 0;; ++attempt) {
    auto session = lease();
    HttpRequest req;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      req.insecure_tls = insecure_tls_;
    }
    req.headers = auth_headers();
    prepare(req);
    std::string reply;
    HttpResult r = session->fetch(req, reply, kMaxManifest);
    long s = r.response.status;
    if (s == 401 && !reauthenticated && !r.response.header("www-authenticate").empty()) {
      // The first push of a session: the token was for pulling only.
      reauthenticated = true;
      authenticate(*session.session, r.response.header("www-authenticate"));
      continue;
    }
    if ((s == 0 || s == 429 || s >= 500) && attempt < options_.retries) {
      sleep_ms(200L << std::min(attempt, 4));
      continue;
    }
    if (s == 0)
      throw Error("cannot reach registry " + ref_.registry + " for " + what + " (" + req.url +
                  "): " + r.error);
    if (body) *body = std::move(reply);
    return r;
  }
}

void RegistryClient::check_login() {
  ping();
  auto session = lease();
  HttpRequest req;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    req.url = base_ + "/v2/";
    req.insecure_tls = insecure_tls_;
  }
  req.headers = auth_headers();
  std::string body;
  HttpResult r = session->fetch(req, body, kMaxManifest);
  if (r.response.status == 401 || r.response.status == 403)
    throw Error("registry " + ref_.registry + " refused the credentials" +
                (credential_ ? " of " + credential_->username : std::string()));
  if (r.response.status != 200)
    throw Error("registry " + ref_.registry + " answered " +
                (r.response.status ? "HTTP " + std::to_string(r.response.status) : r.error) +
                " at " + req.url);
}

}  // namespace coracle::image

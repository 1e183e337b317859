// HTTP(S) for the registry client, through the fetcher helper (fetcher/):
// coracle itself is static and has no TLS stack; the helper is linked with
// the host's libcurl, runs unprivileged from a memfd, and streams response
// bodies back over a socketpair. One HttpSession is one helper process and
// one kept-alive connection; sessions run in parallel for parallel layers.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::image {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH or DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool insecure_tls = false;         // no certificate checks (--insecure)
  // Never connect to the host's own loopback (checked after resolution and
  // on every redirect): for downloads a sandboxed build asked for.
  bool no_loopback = false;
  // A request body of body_size bytes (-1: none), read through body as
  // curl sends it: body(buf, max) fills up to max bytes and returns how
  // many (0 only at the end). Not followed through redirects.
  int64_t body_size = -1;
  std::function<size_t(char* buf, size_t max)> body;
};

struct HttpResponse {
  long status = 0;                             // 0: no response at all (see HttpResult::error)
  std::string url;                             // after redirects
  std::map<std::string, std::string> headers;  // names in lower case
  std::string header(const std::string& lower_name) const;
};

// Transport failures (no route, TLS, a cut transfer) are results, not
// exceptions: the caller decides whether to retry, resume or fall back.
struct HttpResult {
  HttpResponse response;
  bool ok = false;
  std::string error;  // curl's message when !ok
  int curl_code = 0;
  bool refused_loopback = false;  // HttpRequest::no_loopback stopped it
  // The server's certificate was not trusted (not merely unreachable).
  bool tls_untrusted() const { return curl_code == 60 || curl_code == 77 || curl_code == 83; }
};

struct HttpOptions {
  std::string ca_pem;         // trusted beside the system's CAs (--ca)
  long connect_timeout = 30;  // seconds
  long stall_timeout = 60;    // seconds without a byte before giving up
};

class HttpSession {
 public:
  explicit HttpSession(HttpOptions options);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  using OnHeaders = std::function<void(const HttpResponse&)>;
  using OnData = std::function<void(const char*, size_t)>;
  // Runs a request. on_headers sees the final response before any of its
  // body; on_data each piece of the body. If either throws, the helper is
  // dropped (a new one serves the next request) and the exception goes on.
  HttpResult perform(const HttpRequest& request, const OnHeaders& on_headers,
                     const OnData& on_data);
  // The body into a string; a body over max_body is an error.
  HttpResult fetch(const HttpRequest& request, std::string& body, size_t max_body);

 private:
  void start();
  void stop();

  HttpOptions options_;
  UniqueFd channel_;
  pid_t pid_ = -1;
};

}  // namespace coracle::image

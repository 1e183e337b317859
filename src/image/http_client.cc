#include "image/http_client.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "image/fetch_protocol.h"

// The fetcher's ELF, embedded by fetcher/embed.S.in.
extern "C" const char coracle_fetcher_start[];
extern "C" const char coracle_fetcher_end[];

namespace coracle::image {
namespace {

constexpr uid_t kNobody = 65534;
constexpr int kChannelFd = 3;  // where the fetcher expects its socket

// The fetcher as an executable file that exists nowhere on disk: written
// once per process into a sealed memfd and run from there.
int fetcher_memfd() {
  static std::once_flag once;
  static int fd = -1;
  static int err = 0;
  std::call_once(once, [] {
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
    // MFD_EXEC: kernels with vm.memfd_noexec=1 make memfds non-executable
    // unless asked; older kernels reject the flag, hence the second try.
    int m = memfd_create("coracle-fetch", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (m < 0 && errno == EINVAL)
      m = memfd_create("coracle-fetch", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0) {
      err = errno;
      return;
    }
    size_t size = static_cast<size_t>(coracle_fetcher_end - coracle_fetcher_start);
    try {
      write_all(m, coracle_fetcher_start, size, "memfd");
    } catch (const Error&) {
      err = errno;
      close(m);
      return;
    }
    fcntl(m, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    fd = m;
  });
  if (fd < 0) throw_errno("cannot prepare the fetcher helper (memfd_create)", err);
  return fd;
}

// What the helper may see of coracle's environment: proxies and CA
// locations, which users set for curl and expect to be honoured.
std::vector<std::string> fetcher_environment() {
  static const char* keep[] = {"http_proxy",    "https_proxy",  "no_proxy",      "all_proxy",
                               "HTTP_PROXY",    "HTTPS_PROXY",  "NO_PROXY",      "ALL_PROXY",
                               "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"};
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  for (const char* k : keep)
    if (const char* v = getenv(k)) env.push_back(std::string(k) + "=" + v);
  return env;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

HttpSession::HttpSession(HttpOptions options) : options_(std::move(options)) {}

HttpSession::~HttpSession() {
  stop();
}

void HttpSession::start() {
  int exe = fetcher_memfd();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("cannot create the fetcher's socket");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) throw_errno("cannot open /dev/null");
  // Everything the child needs is built before fork: between fork and
  // exec it only makes system calls (other threads may hold malloc's lock).
  std::vector<std::string> env = fetcher_environment();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  char arg0[] = "coracle-fetch";
  char* argv[] = {arg0, nullptr};
  bool drop = geteuid() == 0;

  pid_t pid = fork();
  if (pid < 0) throw_errno("cannot start the fetcher helper (fork)");
  if (pid == 0) {
    // The helper dies with coracle; it holds nothing worth finishing.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The executable's fd must not sit where the channel goes.
    int exe_fd = exe > kChannelFd ? exe : fcntl(exe, F_DUPFD_CLOEXEC, kChannelFd + 1);
    if (exe_fd < 0) _exit(121);
    int chan = theirs.get();
    if (chan == kChannelFd) {
      fcntl(chan, F_SETFD, 0);
    } else if (dup2(chan, kChannelFd) < 0) {
      _exit(121);
    }
    // stdin and stdout are coracle's (its --json events go to stdout);
    // the helper gets /dev/null for both and keeps stderr for libc's own
    // messages (a missing libcurl.so is reported there).
    dup2(devnull.get(), 0);
    dup2(devnull.get(), 1);
    if (exe_fd > kChannelFd + 1) syscall(SYS_close_range, kChannelFd + 1, exe_fd - 1, 0);
    syscall(SYS_close_range, exe_fd + 1, ~0U, 0);
    // Run as root, the helper would parse TLS and HTTP from the network
    // with every privilege; as nobody, with no groups, it can read nothing
    // of the store or the user's files and cannot regain privileges.
    if (drop) {
      if (setgroups(0, nullptr) < 0 || setresgid(kNobody, kNobody, kNobody) < 0 ||
          setresuid(kNobody, kNobody, kNobody) < 0)
        _exit(122);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(122);
    syscall(SYS_execveat, exe_fd, "", argv, envp.data(), AT_EMPTY_PATH);
    _exit(123);
  }
  pid_ = pid;
  channel_ = std::move(mine);
  nlohmann::json init = {{"ca_pem", options_.ca_pem},
                         {"connect_timeout", options_.connect_timeout},
                         {"stall_timeout", options_.stall_timeout}};
  std::string text = init.dump();
  if (!fetch::write_frame(channel_.get(), fetch::kInit, text.data(), text.size())) {
    stop();
    throw Error("the fetcher helper did not start");
  }
}

void HttpSession::stop() {
  channel_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

HttpResult HttpSession::perform(const HttpRequest& req, const OnHeaders& on_headers,
                                const OnData& on_data) {
  if (!channel_) start();
  nlohmann::json q = {{"method", req.method},           {"url", req.url},
                      {"headers", req.headers},         {"insecure_tls", req.insecure_tls},
                      {"no_loopback", req.no_loopback}, {"body_size", req.body_size}};
  std::string text = q.dump();
  HttpResult result;
  bool sent = fetch::write_frame(channel_.get(), fetch::kRequest, text.data(), text.size());
  char type = 0;
  std::string payload;
  try {
    while (sent && fetch::read_frame(channel_.get(), type, payload)) {
      if (type == fetch::kHeaders) {
        auto h = nlohmann::json::parse(payload);
        result.response.status = h.at("status").get<long>();
        result.response.url = h.at("url").get<std::string>();
        result.response.headers = h.at("headers").get<std::map<std::string, std::string>>();
        if (on_headers) on_headers(result.response);
      } else if (type == fetch::kData) {
        if (on_data) on_data(payload.data(), payload.size());
      } else if (type == fetch::kBodyRequest) {
        uint32_t max = 0;
        if (payload.size() != sizeof max) break;
        memcpy(&max, payload.data(), sizeof max);
        std::string piece(std::min<uint32_t>(max, 1u << 20), '\0');
        size_t n = req.body && req.body_size >= 0 ? req.body(piece.data(), piece.size()) : 0;
        if (!fetch::write_frame(channel_.get(), fetch::kBody, piece.data(), n)) break;
      } else if (type == fetch::kEnd) {
        auto e = nlohmann::json::parse(payload);
        result.ok = e.at("ok").get<bool>();
        if (!result.ok) result.error = e.at("error").get<std::string>();
        result.curl_code = e.value("curl_code", 0);
        result.refused_loopback = e.value("refused_loopback", false);
        return result;
      } else {
        break;
      }
    }
  } catch (const nlohmann::json::exception&) {
    // falls through: the helper is not speaking the protocol
  } catch (...) {
    stop();  // mid-transfer: the rest of the body would come next
    throw;
  }
  // The helper died or talked nonsense. Exit status 127 is the dynamic
  // loader's "cannot find a library": the host has no libcurl. A helper
  // that is still alive (a bad frame) gets a moment, then SIGKILL.
  int status = 0;
  pid_t pid = pid_;
  channel_.reset();
  pid_ = -1;
  for (int i = 0; pid > 0; ++i) {
    if (i == 100) kill(pid, SIGKILL);
    pid_t r = waitpid(pid, &status, i < 100 ? WNOHANG : 0);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (r == 0) usleep(1000);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw Error(
        "cannot run the fetcher helper: this host lacks libcurl "
        "(Debian/Ubuntu: apt-get install libcurl4; Fedora: dnf install libcurl)");
  if (WIFEXITED(status) && WEXITSTATUS(status) >= 121 && WEXITSTATUS(status) <= 123)
    throw Error("cannot start the fetcher helper (dropping privileges or exec failed)");
  throw Error("the fetcher helper stopped unexpectedly while fetching " + req.url);
}

HttpResult HttpSession::fetch(const HttpRequest& req, std::string& body, size_t max_body) {
  body.clear();
  return perform(req, nullptr, [&](const char* data, size_t size) {
    if (body.size() + size > max_body)
      throw Error(req.url + " returned more than " + std::to_string(max_body) +
                  " bytes; that is not a manifest or a token");
    body.append(data, size);
  });
}

}  // namespace coracle::image

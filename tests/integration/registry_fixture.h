// A real docker-registry on 127.0.0.1 for the pull tests: plain, with
// htpasswd basic auth, with bearer tokens (tests/fixtures/token_server.py),
// and/or with TLS from a throw-away CA; plus a misbehaving proxy in front
// of it (tests/fixtures/registry_proxy.py) that cuts or slows transfers.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "harness.h"

namespace coracle::test {

// A child process killed (SIGKILL) and reaped with the object.
class Background {
 public:
  Background() = default;
  Background(const std::vector<std::string>& argv, const std::string& log_file);
  Background(Background&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Background& operator=(Background&& o) noexcept;
  ~Background();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

int free_port();
// Waits until something accepts connections on 127.0.0.1:port.
bool wait_for_port(int port, int max_wait_ms = 15000);
// The same for ip:port (a test host's address).
bool wait_for_address(const std::string& ip, int port, int max_wait_ms = 15000);

class RegistryServer {
 public:
  enum class Auth { kNone, kBasic, kToken };
  static constexpr const char* kUser = "tester";
  static constexpr const char* kPassword = "s3cret-pw";

  explicit RegistryServer(Auth auth = Auth::kNone, bool tls = false);
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& ca_file() const { return ca_file_; }
  // skopeo copy SRC docker://HOST/DEST, with this server's credentials.
  void push(const std::string& src, const std::string& dest, const std::string& extra = "");
  // Where the registry keeps a blob's bytes (to tamper with them).
  std::string blob_path(const std::string& digest) const;
  // Writes HOME/.docker/config.json as `docker login` leaves it.
  void write_docker_login(const std::string& home) const;

 private:
  TempDir dir_;
  int port_ = 0;
  Auth auth_;
  std::string ca_file_;
  Background token_server_, registry_;
};

class RegistryProxy {
 public:
  // cut_after: cut the first connection after that many bytes (0: never);
  // throttle: bytes per second per connection (0: full speed).
  RegistryProxy(int target_port, long cut_after = 0, long throttle = 0);
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string log() const;  // request lines, Range headers, "CUT"

 private:
  TempDir dir_;
  int port_ = 0;
  Background proc_;
};

// An image made with umoci: busybox in the first layer; a second layer
// that deletes a file (a whiteout) and replaces a directory's content (an
// opaque dir or whiteouts, as umoci chooses); cmd cat /hello. Returns the
// layout reference "oci:DIR:t".
std::string make_umoci_image(const std::string& dir, const std::string& hello = "hello");

}  // namespace coracle::test

// Sockets in a sandbox's network namespace, made by its init on request.
//
// A socket belongs to the network namespace it was created in, whoever uses
// it afterwards. The port monitor needs sock_diag and TCP/UDP sockets inside
// the sandbox's namespace, but the runner cannot simply setns() there: that
// needs CAP_SYS_ADMIN in the runner's own user namespace, which a rootless
// runner does not have. The sandbox's init is already inside, so it makes the
// sockets and passes them back over a socket pair only the runner holds (the
// command never inherits it: close-on-exec, and close_range before exec).
#pragma once
#include <mutex>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle::sandbox {

// The sandbox's init has exited: there is no namespace to make sockets in.
class SandboxEnded : public Error {
 public:
  SandboxEnded() : Error("the sandbox has ended") {}
};

class SocketFactory {
 public:
  explicit SocketFactory(UniqueFd channel) : channel_(std::move(channel)) {}

  // socket(family, type, protocol) `count` times inside the sandbox (type may
  // carry SOCK_NONBLOCK; every fd arrives close-on-exec). Thread-safe.
  // Throws SandboxEnded when init is gone, coracle::Error when it refuses.
  std::vector<UniqueFd> make(int family, int type, int protocol, unsigned count = 1);
  UniqueFd make_one(int family, int type, int protocol) {
    return std::move(make(family, type, protocol, 1).front());
  }

  // The most sockets one request returns.
  static constexpr unsigned kMaxBatch = 64;

 private:
  std::mutex mutex_;
  UniqueFd channel_;
};

// Init's side: answers one SocketRequest read from fd. Allocates nothing.
// Returns 0, or -errno when the channel itself failed (the runner is gone).
int serve_socket_request(int fd);

}  // namespace coracle::sandbox

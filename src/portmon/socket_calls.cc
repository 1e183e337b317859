#include "portmon/socket_calls.h"

#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/error.h"

namespace coracle::portmon {

const std::vector<std::string>& watched_syscalls() {
  static const std::vector<std::string> names = {"bind", "listen"};
  return names;
}

SocketCalls::SocketCalls(UniqueFd listener) : listener_(std::move(listener)) {
  // The kernel's structs may be larger than this build's headers know; it
  // insists the receive buffer be its size and zeroed.
  struct seccomp_notif_sizes sizes {};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
    throw_errno("cannot ask the kernel for seccomp notification sizes");
  request_.resize(std::max<size_t>(sizes.seccomp_notif, sizeof(struct seccomp_notif)));
  response_.resize(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp)));
}

std::optional<SocketCall> SocketCalls::next() {
  std::fill(request_.begin(), request_.end(), 0);
  auto* req = reinterpret_cast<struct seccomp_notif*>(request_.data());
  while (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
    if (errno == EINTR) continue;
    // ENOENT: the caller was killed before we got to it.
    if (errno == ENOENT || errno == EAGAIN) return std::nullopt;
    throw_errno("cannot read a seccomp notification");
  }
  SocketCall call;
  call.kind = req->data.nr == SYS_listen ? SocketCall::Kind::kListen : SocketCall::Kind::kBind;
  call.pid = static_cast<pid_t>(req->pid);

  // The socket, while the caller is stopped and its fd table cannot change.
  // The pid may have been reused if the caller died; ID_VALID after
  // pidfd_open proves the pidfd names the caller.
  if (call.pid > 0) {
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, call.pid, 0)));
    uint64_t id = req->id;
    if (pidfd && ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0) {
      int sock_fd = static_cast<int>(req->data.args[0]);
      call.socket.reset(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), sock_fd, 0)));
    }
  }

  std::fill(response_.begin(), response_.end(), 0);
  auto* resp = reinterpret_cast<struct seccomp_notif_resp*>(response_.data());
  resp->id = req->id;
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  while (ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, resp) < 0) {
    if (errno == EINTR) continue;
    if (errno == ENOENT) return std::nullopt;  // the caller died meanwhile
    throw_errno("cannot answer a seccomp notification");
  }
  return call;
}

}  // namespace coracle::portmon

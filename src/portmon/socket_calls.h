// The trigger for port opens: every bind() and listen() in the sandbox stops
// at a seccomp user-notification filter (sandbox::Spec::notify_syscalls),
// and this side lets each one go on at once. Before answering it takes a
// duplicate of the socket the call names (pidfd_getfd), so the monitor can
// watch that very socket become a listener or a bound UDP socket, instead of
// polling the whole namespace.
//
// The answer is always SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel runs the
// real syscall with the app's own credentials, so privileged ports, LSMs and
// cgroup hooks judge the app, never the runner. (Doing the call on the app's
// behalf would let a sandbox bind ports below 1024 with the runner's rights.)
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::portmon {

// The syscalls to route to SocketCalls (for Spec::notify_syscalls).
const std::vector<std::string>& watched_syscalls();

struct SocketCall {
  enum class Kind { kBind, kListen } kind;
  pid_t pid = 0;    // the caller, in the runner's pid namespace
  UniqueFd socket;  // a duplicate of the socket it named; empty if unknown
};

class SocketCalls {
 public:
  explicit SocketCalls(UniqueFd listener);
  int fd() const { return listener_.get(); }
  // Takes one pending notification, lets the syscall continue, and says
  // what it was. Nothing when the caller died meanwhile or when none was
  // pending. Throws coracle::Error if the listener itself fails.
  std::optional<SocketCall> next();

 private:
  UniqueFd listener_;
  std::vector<char> request_;  // struct seccomp_notif, sized by the kernel
  std::vector<char> response_;
};

}  // namespace coracle::portmon

// The fds a sandboxed process starts with: 0-2, the preserved_fds after
// them (3 .. 3+N-1, e.g. socket activation), nothing else. Anything else
// the caller held without close-on-exec (a folder of the host's, say)
// would let the process reach outside through /proc/self/fd/N (the
// CVE-2024-21626 class). Called in a forked child just before exec: no
// allocation.
#pragma once
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace coracle::sandbox {

// CLOEXEC rather than close: a pipe or socket that reports an exec failure
// must stay open until the exec.
inline void keep_only_preserved_fds(unsigned preserved_fds) {
  unsigned first = 3 + preserved_fds;
  for (unsigned fd = 3; fd < first; ++fd) fcntl(static_cast<int>(fd), F_SETFD, 0);
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (unsigned fd = first; fd < 1024; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
}

}  // namespace coracle::sandbox

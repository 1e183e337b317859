// Credential changes for the cloned child, as raw syscalls.
//
// glibc's setresuid/setresgid/setgroups apply the change to every thread the
// process has (POSIX semantics, through __nptl_setxid). The sandbox child is
// made by a raw clone3, so glibc's thread list is still the caller's: if the
// caller had other threads, the wrapper waits forever for threads that do
// not exist in the child. The child has exactly one thread, so the
// per-thread syscall is the whole truth there.
#pragma once
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace coracle::sandbox {

inline int raw_setresuid(uid_t uid) {
  return static_cast<int>(syscall(SYS_setresuid, uid, uid, uid));
}
inline int raw_setresgid(gid_t gid) {
  return static_cast<int>(syscall(SYS_setresgid, gid, gid, gid));
}
inline int raw_set_groups(size_t n, const gid_t* groups) {
  return static_cast<int>(syscall(SYS_setgroups, n, groups));
}
inline int raw_clear_groups() {
  return static_cast<int>(syscall(SYS_setgroups, 0, nullptr));
}

}  // namespace coracle::sandbox

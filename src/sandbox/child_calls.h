// The syscalls of the child's setup and of its command before the exec,
// besides the mounts', as a table of
// plain functions with the mounts' own table inside (mount_calls.h): the
// steps of child_setup.cc and child_command.cc go through
// ChildContext::calls, so that a unit
// test sees the whole setup sequence, in order, without root (youki's
// fakeable syscall layer is the model). Every entry returns its result
// (>= 0) or -errno, and none allocates.
#pragma once
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>

#include "sandbox/caps.h"
#include "sandbox/mount_calls.h"
#include "sandbox/seccomp.h"

namespace coracle::sandbox {

struct ChildCalls {
  MountCalls mounts;
  int (*set_parent_death_signal)(int sig);  // prctl(PR_SET_PDEATHSIG)
  // Whether the runner's end of sync_fd is still open: 0 when it closed,
  // > 0 or -EAGAIN while it is there (a peek that takes nothing).
  int (*peek_runner)(int sync_fd);
  int (*unshare)(int flags);
  int (*setresgid)(gid_t gid);  // all three ids, this thread only (raw_ids.h)
  int (*setresuid)(uid_t uid);
  int (*clear_groups)();
  int (*sethostname)(const char* name, size_t len);
  int (*umask)(mode_t mask);  // the previous mask
  int (*setrlimit)(int resource, const struct rlimit* limit);
  int (*setsid)();
  // The command's own, before its exec (child_command.cc).
  int (*set_groups)(size_t n, const gid_t* groups);
  int (*drop_bounding)(const CapPlan& caps);       // CapPlan::drop_bounding
  int (*keep_across_setuid)(const CapPlan& caps);  // CapPlan::keep_across_setuid
  int (*apply_caps)(const CapPlan& caps);          // CapPlan::apply
  int (*set_no_new_privs)();
  int (*load_seccomp)(const SeccompProgram& program);
  int (*execve)(const char* path, char* const argv[], char* const envp[]);
};
const ChildCalls& real_child_calls();

}  // namespace coracle::sandbox

#include "sandbox/child_calls.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sandbox/raw_ids.h"

namespace coracle::sandbox {
namespace {

int result(long rc) {
  return rc < 0 ? -errno : static_cast<int>(rc);
}

// Built on first use: the mounts' table is another translation unit's.
ChildCalls make_real() {
  ChildCalls c{};
  c.mounts = real_mount_calls();
  c.set_parent_death_signal = [](int sig) { return result(prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)); };
  c.peek_runner = [](int sync_fd) {
    char byte;
    return result(recv(sync_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT));
  };
  c.unshare = [](int flags) { return result(::unshare(flags)); };
  c.setresgid = [](gid_t gid) { return result(raw_setresgid(gid)); };
  c.setresuid = [](uid_t uid) { return result(raw_setresuid(uid)); };
  c.clear_groups = [] { return result(raw_clear_groups()); };
  c.sethostname = [](const char* name, size_t len) { return result(::sethostname(name, len)); };
  c.umask = [](mode_t mask) { return static_cast<int>(::umask(mask)); };
  c.setrlimit = [](int resource, const struct rlimit* limit) {
    return result(::setrlimit(static_cast<__rlimit_resource_t>(resource), limit));
  };
  c.setsid = [] { return result(::setsid()); };
  c.set_groups = [](size_t n, const gid_t* groups) { return result(raw_set_groups(n, groups)); };
  c.drop_bounding = [](const CapPlan& caps) { return caps.drop_bounding(); };
  c.keep_across_setuid = [](const CapPlan& caps) { return caps.keep_across_setuid(); };
  c.apply_caps = [](const CapPlan& caps) { return caps.apply(); };
  c.set_no_new_privs = [] { return result(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)); };
  c.load_seccomp = [](const SeccompProgram& program) { return load_seccomp(program); };
  c.execve = [](const char* path, char* const argv[], char* const envp[]) {
    return result(::execve(path, argv, envp));
  };
  return c;
}

}  // namespace

const ChildCalls& real_child_calls() {
  static const ChildCalls real = make_real();
  return real;
}

}  // namespace coracle::sandbox

// The host processes of a VM run (qemu, passt, virtiofsd): started with a
// clean signal mask, the fds they need inherited, and SIGKILLed with the
// runner (PR_SET_PDEATHSIG), even a runner killed with SIGKILL.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace coracle::vm {

struct HelperSpec {
  std::vector<std::string> argv;  // argv[0] searched in PATH
  std::vector<int> inherit;       // fds the helper keeps (others are close-on-exec)
  int quiet_fds = 2;              // 0..quiet_fds-1 become /dev/null (2: stdin and stdout)
  // Runs in the child before exec (a mount namespace, a seccomp filter);
  // false ends the child. It may allocate: the runner has no other thread.
  std::function<bool()> before_exec;
  std::string package;  // named when the program cannot be run
};

// Starts the helper; throws coracle::Error when it cannot be run (the errno
// of its exec comes back through a close-on-exec pipe).
pid_t spawn_helper(const HelperSpec& spec);

// SIGKILL and reap.
void end_helper(pid_t pid);

}  // namespace coracle::vm

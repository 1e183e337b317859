#include "vm/helper_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle::vm {

pid_t spawn_helper(const HelperSpec& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw_errno("cannot start " + spec.argv[0]);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the runner is already gone
    // A process group of its own: the terminal's Ctrl-C (SIGINT to the
    // foreground group) is coracle's to pass to the command, not the
    // VMM's (or passt's, virtiofsd's) to die of.
    setpgid(0, 0);
    for (int fd : spec.inherit)
      if (fd >= 0) fcntl(fd, F_SETFD, 0);
    int devnull = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < spec.quiet_fds && devnull >= 0; ++fd) dup2(devnull, fd);
    // The runner blocks the signals it forwards; the helper must not keep
    // that mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int e = 0;
    if (spec.before_exec && !spec.before_exec()) {
      e = errno ? errno : EPERM;
    } else {
      execvp(argv[0], argv.data());
      e = errno;
    }
    (void)!write(err_w.get(), &e, sizeof e);
    _exit(127);
  }
  err_w.reset();
  int e = 0;
  if (read(err_r.get(), &e, sizeof e) == sizeof e) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw_errno("cannot run " + spec.argv[0] +
                    (spec.package.empty() ? "" : " (Debian package " + spec.package + ")"),
                e);
  }
  return pid;
}

void end_helper(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace coracle::vm

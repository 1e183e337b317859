#include "oci_runtime/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>

#include "common/error.h"
#include "common/io.h"
#include "common/unique_fd.h"

namespace coracle::oci_runtime {
namespace {

// Writes the state to a hook's stdin. A hook that exits without reading it
// must not end the runtime with SIGPIPE (common/io.h: blocked on this
// thread for the write, never ignored process-wide).
void write_state(int fd, const std::string& state) {
  SigpipeBlocked quiet;
  (void)!write(fd, state.data(), state.size());
}

void run_hook(const Hook& h, const std::string& kind, const std::string& state) {
  std::string what = kind + " hook " + h.path;
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = h.env;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw_errno("cannot run the " + what);
  if (pid == 0) {
    // A hook starts as runc's do: SIGPIPE at its default, whatever the
    // embedding program chose for itself.
    signal(SIGPIPE, SIG_DFL);
    dup2(in_r.get(), 0);
    execve(h.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  in_r.reset();
  write_state(in_w.get(), state);
  in_w.reset();
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  int timeout_ms = h.timeout ? *h.timeout * 1000 : -1;
  struct pollfd p = {pidfd.get(), POLLIN, 0};
  if (pidfd && poll(&p, 1, timeout_ms) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    throw Error(what + " timed out after " + std::to_string(*h.timeout) + "s");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(what + " failed (" +
                (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                   : "killed by signal " + std::to_string(WTERMSIG(status))) +
                ")");
}

}  // namespace

void run_hooks(const std::vector<Hook>& hooks, const std::string& kind, const std::string& state) {
  for (const auto& h : hooks) run_hook(h, kind, state);
}

}  // namespace coracle::oci_runtime

#include "sandbox/container_hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"

namespace coracle::sandbox {

std::vector<PreparedHook> prepare_hooks(const std::vector<ContainerHook>& hooks, bool on_host) {
  std::vector<PreparedHook> out(hooks.size());
  for (size_t i = 0; i < hooks.size(); ++i) {
    const ContainerHook& h = hooks[i];
    PreparedHook& p = out[i];
    if (h.path.empty() || h.path[0] != '/') throw Error("hook path must be absolute: " + h.path);
    // Without O_CLOEXEC: a script's interpreter reads it through
    // /proc/self/fd after execveat; init marks every fd close-on-exec
    // before the command starts.
    if (on_host) {
      p.binary.reset(open(h.path.c_str(), O_PATH));
      if (!p.binary) throw_errno("cannot open the hook " + h.path);
    }
    p.path = h.path.c_str();
    if (h.args.empty()) p.argv.push_back(const_cast<char*>(h.path.c_str()));
    for (const auto& a : h.args) p.argv.push_back(const_cast<char*>(a.c_str()));
    p.argv.push_back(nullptr);
    for (const auto& e : h.env) p.envp.push_back(const_cast<char*>(e.c_str()));
    p.envp.push_back(nullptr);
    p.timeout_s = h.timeout_s;
  }
  return out;
}

int run_prepared_hook(const PreparedHook& hook, const char* state, size_t state_len) {
  // A socket rather than a pipe: a hook that does not read its stdin must
  // not end init with SIGPIPE (MSG_NOSIGNAL).
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(pair[0]);
    close(pair[1]);
    return -err;
  }
  if (pid == 0) {
    dup2(pair[1], 0);
    if (hook.binary)
      syscall(SYS_execveat, hook.binary.get(), "", hook.argv.data(), hook.envp.data(),
              AT_EMPTY_PATH);
    else
      execve(hook.path, hook.argv.data(), hook.envp.data());
    _exit(127);
  }
  close(pair[1]);
  for (size_t done = 0; done < state_len;) {
    ssize_t n = send(pair[0], state + done, state_len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // it stopped reading: its status says the rest
    done += static_cast<size_t>(n);
  }
  close(pair[0]);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -errno;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (hook.timeout_s > 0 && now.tv_sec - start.tv_sec >= hook.timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -ETIMEDOUT;
    }
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECANCELED;
}

}  // namespace coracle::sandbox

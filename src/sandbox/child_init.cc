// The sandbox's init once the command runs (CAP_KILL only: it forwards
// signals, serves the socket factory, reaps orphans and reports the
// command's end), and the OCI hooks it runs before.
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <cerrno>
#include <cstdio>

#include "sandbox/child_steps.h"
#include "sandbox/net_counters.h"
#include "sandbox/socket_factory.h"

namespace coracle::sandbox {

size_t receive_hook_state(const ChildContext& ctx) {
  if (!ctx.hook_state) return 0;
  // A HookState header, then the state in one record of exactly its size.
  Msg header{};
  if (recv_msg(ctx.sync_fd, header) < 0 || header.type != MsgType::HookState ||
      header.args[0] < 0 || static_cast<size_t>(header.args[0]) > ctx.hook_state_cap)
    _exit(125);
  auto len = static_cast<size_t>(header.args[0]);
  ssize_t n = recv(ctx.sync_fd, ctx.hook_state, ctx.hook_state_cap, 0);
  if (n < 0 || static_cast<size_t>(n) != len) _exit(125);
  return len;
}

// Runs each hook in order; the first that fails ends the sandbox's setup.
void run_hooks_or_fail(const ChildContext& ctx, const std::vector<PreparedHook>& hooks,
                       const char* kind, size_t state_len) {
  for (const auto& h : hooks) {
    int rc = run_prepared_hook(h, ctx.hook_state, state_len);
    if (rc == 0) continue;
    char what[240];
    snprintf(what, sizeof what, "%s hook %s %s", kind, h.path,
             rc == -ETIMEDOUT   ? "timed out"
             : rc == -ECANCELED ? "failed"
                                : "could not run");
    child_fail(ctx, rc == -ECANCELED ? EIO : -rc, what);
  }
}

void wait_for_start(const ChildContext& ctx) {
  // Made (its terminal's master already handed over): the runner may go.
  // The command starts when `start` opens the FIFO for reading; this open
  // blocks until then. (It is reopened through /proc: the host path is
  // outside the new root.)
  Msg ready{};
  ready.type = MsgType::Ready;
  send_msg(ctx.sync_fd, ready);
  char path[40];
  snprintf(path, sizeof path, "/proc/self/fd/%d", ctx.start_fifo_fd);
  int fifo = open(path, O_WRONLY | O_CLOEXEC);
  if (fifo < 0) _exit(125);
  (void)!write(fifo, "0", 1);
  close(fifo);
  close(ctx.start_fifo_fd);
}

[[noreturn]] void init_loop(const ChildContext& ctx, pid_t command) {
  // init keeps only CAP_KILL, to pass signals to a command of any uid (it
  // is non-dumpable already: the command cannot ptrace it meanwhile). If
  // this fails, init would stay a way in: the sandbox ends.
  if (cap_set_proc(ctx.init_caps) < 0) {
    int err = errno;
    kill(command, SIGKILL);
    child_fail(ctx, err, "drop init's capabilities");
  }
  for (int fd = 0; fd < 3; ++fd) close(fd);

  Msg started{};
  started.type = MsgType::Started;
  send_msg(ctx.sync_fd, started);

  // Signals were blocked before the fork; they are read from a signalfd
  // so that one poll also serves the socket factory.
  sigset_t wait_set = ctx.forwarded;
  sigaddset(&wait_set, SIGCHLD);
  int signals = signalfd(-1, &wait_set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) {
    kill(command, SIGKILL);
    child_fail(ctx, errno, "create init's signalfd");
  }
  int factory = ctx.factory_fd;
  while (true) {
    struct pollfd fds[2] = {{signals, POLLIN, 0}, {factory, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    // A failed channel means the runner is gone; PDEATHSIG ends us soon.
    if (fds[1].revents && serve_socket_request(factory) < 0) factory = -1;
    if (!fds[0].revents) continue;
    bool child_changed = false;
    struct signalfd_siginfo si;
    while (read(signals, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD)
        child_changed = true;
      else
        kill(command, static_cast<int>(si.ssi_signo));
    }
    if (!child_changed) continue;
    int status;
    struct rusage usage;
    pid_t pid;
    while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
      if (pid != command) continue;  // an orphan reaped, nothing more
      Msg done{};
      done.type = MsgType::Exited;
      done.maxrss_kib = static_cast<uint64_t>(usage.ru_maxrss);
      if (WIFSIGNALED(status)) {
        done.signo = WTERMSIG(status);
        done.exit_code = 128 + done.signo;
      } else {
        done.exit_code = WEXITSTATUS(status);
      }
      // Only for a failure: a command that ended well needs no hint.
      if (ctx.count_unroutable && done.exit_code != 0) done.unroutable = read_out_no_routes();
      send_msg(ctx.sync_fd, done);
      // Leaving PID 1 kills whatever else still runs in the namespace. A
      // detached init's status is the container's (its parent is then an
      // engine's monitor, conmon or a shim, which reads it).
      _exit(ctx.start_fifo_fd >= 0 ? done.exit_code : 0);
    }
  }
}

}  // namespace coracle::sandbox

#include "sandbox/supervise.h"

#include <poll.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/error.h"

namespace coracle::sandbox {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

std::string describe_failure(const Msg& m) {
  if (m.exit_code == 127) return std::string(m.context) + ": command not found";
  if (m.exit_code == 126) return std::string(m.context) + ": cannot execute: " + strerror(m.err);
  return std::string("sandbox setup failed: ") + m.context + ": " + strerror(m.err);
}

void wait_for_exit(InitProcess& init, int sock, const SignalForwarding& signals, const Spec& spec,
                   const Hooks& hooks, Watch& watch, Outcome& out, TerminalRelay* tty) {
  auto start = Clock::now();
  std::optional<Clock::time_point> term_at, kill_at;
  if (spec.timeout.count() > 0) term_at = start + spec.timeout;
  bool sock_open = true;
  int interrupts = 0;
  while (true) {
    struct pollfd fds[5] = {{init.pidfd(), POLLIN, 0},
                            {sock_open ? sock : -1, POLLIN, 0},
                            {signals.fd(), POLLIN, 0},
                            {tty ? tty->master_fd() : -1, POLLIN, 0},
                            {tty && tty->master_fd() >= 0 ? tty->input_fd() : -1, POLLIN, 0}};
    int timeout_ms = -1;
    auto deadline = kill_at ? kill_at : term_at;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count() + 1));
    }
    int n = poll(fds, 5, timeout_ms);
    if (n < 0 && errno != EINTR) throw_errno("poll");
    if (fds[3].revents) tty->from_master();
    if (fds[4].revents) tty->from_input();
    if (fds[1].revents) {
      Msg msg;
      int passed = -1;
      if (recv_msg(sock, msg, &passed, 1) < 0) {
        sock_open = false;
      } else if (msg.type == MsgType::Failure) {
        if (!out.failure) out.failure = msg;
      } else if (msg.type == MsgType::Exited) {
        out.exited = msg;
      } else if (msg.type == MsgType::Ready && !spec.start_fifo.empty()) {
        out.ready = true;
        return;
      } else if (msg.type == MsgType::Listener && msg.nfds == 1) {
        watch.listener.reset(passed);
        passed = -1;
      } else if (msg.type == MsgType::Pty && msg.nfds == 1 && tty) {
        tty->attach(UniqueFd(passed));
        passed = -1;
      } else if (msg.type == MsgType::Pty && msg.nfds == 1 && !spec.console_socket.empty()) {
        UniqueFd console = connect_console_socket(spec.console_socket);
        if (int rc = send_console_master(console.get(), passed); rc < 0)
          throw_errno("cannot send the terminal to the console socket " + spec.console_socket, -rc);
      } else if (msg.type == MsgType::Upper && msg.nfds == 1 && watch.upper) {
        watch.upper->dir.reset(passed);
        passed = -1;
      } else if (msg.type == MsgType::Started && hooks.on_start) {
        Started started;
        started.init_pid = init.pid();
        started.seccomp_listener = std::move(watch.listener);
        started.sockets = std::move(watch.sockets);
        try {
          hooks.on_start(started);
        } catch (const Error& e) {
          out.hook_error = e.what();
          init.signal(SIGKILL);
        }
      }
      if (passed >= 0) close(passed);
      continue;  // drain messages before looking at the exit
    }
    if (fds[2].revents) {
      struct signalfd_siginfo si;
      while (read(signals.fd(), &si, sizeof si) == sizeof si) {
        // A second Ctrl-C (or SIGTERM) means "now": an app that handles or
        // ignores the first must not keep the user waiting.
        if (si.ssi_signo == SIGWINCH) {
          if (tty) tty->resize();
          continue;
        }
        bool interrupt = si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM;
        if (interrupt && ++interrupts >= 2)
          init.signal(SIGKILL);
        else
          init.signal(static_cast<int>(si.ssi_signo));
      }
    }
    if (fds[0].revents) {
      out.init_status = init.reap();
      if (tty) tty->drain();
      return;
    }
    auto now = Clock::now();
    if (kill_at && now >= *kill_at) {
      init.signal(SIGKILL);
      kill_at.reset();
      term_at.reset();
    } else if (term_at && now >= *term_at) {
      out.timed_out = true;
      init.signal(SIGTERM);  // init passes it on to the command
      term_at.reset();
      kill_at = now + spec.kill_grace;
    }
  }
}

}  // namespace coracle::sandbox

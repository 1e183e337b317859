// The runner's side once the sandbox exists: its init process (killed and
// reaped if the runner bails out), the signals it forwards, and one poll
// loop over the child's messages, its exit (pidfd), forwarded signals, the
// terminal and the timeout. runner.cc plans and starts; this supervises.
#pragma once
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"
#include "sandbox/socket_factory.h"
#include "sandbox/sync.h"
#include "sandbox/terminal.h"

namespace coracle::sandbox {

inline constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Blocks the forwarded signals for the duration of a run and restores the
// caller's mask afterwards; they are read from a signalfd instead.
class SignalForwarding {
 public:
  // with_winch: SIGWINCH is read too (a terminal's size), not forwarded.
  SignalForwarding(bool enabled, bool with_winch) {
    sigemptyset(&set_);
    for (int s : kForwardedSignals) sigaddset(&set_, s);
    if (with_winch) sigaddset(&set_, SIGWINCH);
    if (!enabled && !with_winch) return;
    sigprocmask(SIG_BLOCK, &set_, &saved_);
    fd_.reset(signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
    active_ = true;
  }
  ~SignalForwarding() {
    if (active_) sigprocmask(SIG_SETMASK, &saved_, nullptr);
  }
  const sigset_t& set() const { return set_; }
  int fd() const { return fd_.get(); }

 private:
  sigset_t set_, saved_;
  UniqueFd fd_;
  bool active_ = false;
};

// Owns the init process until it is reaped: if the runner bails out early,
// the whole sandbox is killed (init's death ends the pid namespace).
class InitProcess {
 public:
  InitProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  ~InitProcess() {
    if (reaped_) return;
    signal(SIGKILL);
    reap();
  }
  pid_t pid() const { return pid_; }
  // Leaves the process running (a sandbox that outlives its runner).
  void release() { reaped_ = true; }
  int pidfd() const { return pidfd_.get(); }
  void signal(int sig) { syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0); }
  siginfo_t reap() {
    siginfo_t info{};
    while (waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return info;
  }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

struct Outcome {
  bool ready = false;  // Spec::start_fifo: set up, waiting for start
  std::optional<Msg> failure, exited;
  std::optional<std::string> hook_error;  // on_start failed: the sandbox was killed
  bool timed_out = false;
  siginfo_t init_status{};
};

// What the runner hands to Hooks::on_start besides the pid.
struct Watch {
  UniqueFd listener;
  std::shared_ptr<SocketFactory> sockets;
  std::shared_ptr<UpperDir> upper;  // Spec::keep_upper: filled in from the child
};

// Waits for the sandbox to finish: child messages, forwarded signals,
// timeout; out says how it ended.
void wait_for_exit(InitProcess& init, int sock, const SignalForwarding& signals, const Spec& spec,
                   const Hooks& hooks, Watch& watch, Outcome& out, TerminalRelay* tty);

// A child's Failure message as the run's message.
std::string describe_failure(const Msg& m);

}  // namespace coracle::sandbox

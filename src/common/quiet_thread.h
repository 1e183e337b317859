// Helper threads that never take a signal meant for the process.
//
// A signal sent to the process (a user's Ctrl-C, systemd's SIGTERM) goes to
// any one thread that does not block it. The sandbox runner blocks the
// signals it forwards and reads them from a signalfd; a helper thread (the
// port monitor's, a progress ticker) that left them unblocked would take
// one instead and the default action would end coracle on the spot, with
// no forwarding and no cleanup. A thread inherits its creator's mask, so
// these are started with every blockable signal blocked.
#pragma once
#include <signal.h>

#include <thread>
#include <utility>

namespace coracle {

template <typename F>
std::thread start_quiet_thread(F&& body) {
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &saved);
  std::thread t(std::forward<F>(body));
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return t;
}

}  // namespace coracle

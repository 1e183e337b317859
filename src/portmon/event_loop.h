// One epoll loop for the monitor thread: the seccomp listener, the destroy
// broadcast, host listeners and every forwarded connection. Handlers are
// found by a token, so one removed while a batch of events is dispatched is
// simply not called again.
#pragma once
#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "common/unique_fd.h"

namespace coracle::portmon {

using Clock = std::chrono::steady_clock;

class EventLoop {
 public:
  using Handler = std::function<void(uint32_t events)>;
  using Token = uint64_t;

  EventLoop();
  // Watches fd for events (EPOLLIN, EPOLLOUT, EPOLLET, ...). Throws.
  Token add(int fd, uint32_t events, Handler handler);
  void modify(Token token, int fd, uint32_t events);
  // Forgets fd (before it is closed) and its handler.
  void remove(Token token, int fd);
  // Forgets only the handler, for an fd about to be closed that has no
  // duplicate: closing it takes it out of the epoll set (one syscall less
  // for every forwarded connection).
  void forget(Token token) { handlers_.erase(token); }
  // Waits for events until deadline (none: until one comes) and runs their
  // handlers. Returns early when wake() is called.
  void run_once(std::optional<Clock::time_point> deadline);
  // From any thread: makes run_once return.
  void wake();

 private:
  UniqueFd epoll_, wake_;
  std::unordered_map<Token, std::shared_ptr<Handler>> handlers_;
  Token next_ = 1;
};

}  // namespace coracle::portmon

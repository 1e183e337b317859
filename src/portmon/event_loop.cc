#include "portmon/event_loop.h"

#include <sys/eventfd.h>
#include <time.h>

#include <cerrno>

#include "common/error.h"

namespace coracle::portmon {

namespace {
constexpr EventLoop::Token kWakeToken = 0;
}

EventLoop::EventLoop()
    : epoll_(epoll_create1(EPOLL_CLOEXEC)), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) throw_errno("cannot create the port monitor's event loop");
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) < 0) throw_errno("epoll_ctl");
}

EventLoop::Token EventLoop::add(int fd, uint32_t events, Handler handler) {
  Token token = next_++;
  struct epoll_event ev {};
  ev.events = events;
  ev.data.u64 = token;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno("epoll_ctl add");
  handlers_.emplace(token, std::make_shared<Handler>(std::move(handler)));
  return token;
}

void EventLoop::modify(Token token, int fd, uint32_t events) {
  struct epoll_event ev {};
  ev.events = events;
  ev.data.u64 = token;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) throw_errno("epoll_ctl mod");
}

void EventLoop::remove(Token token, int fd) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  handlers_.erase(token);
}

void EventLoop::run_once(std::optional<Clock::time_point> deadline) {
  struct timespec timeout {
  }, *timeout_ptr = nullptr;
  if (deadline) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now());
    if (left.count() > 0) {
      timeout.tv_sec = static_cast<time_t>(left.count() / 1000000000);
      timeout.tv_nsec = static_cast<long>(left.count() % 1000000000);
    }
    timeout_ptr = &timeout;
  }
  struct epoll_event events[64];
  // epoll_pwait2: a nanosecond timeout; the monitor's confirmation checks
  // are tens of microseconds apart.
  int n = epoll_pwait2(epoll_.get(), events, 64, timeout_ptr, nullptr);
  if (n < 0) {
    if (errno == EINTR) return;
    throw_errno("epoll_pwait2");
  }
  for (int i = 0; i < n; ++i) {
    Token token = events[i].data.u64;
    if (token == kWakeToken) {
      uint64_t count;
      while (read(wake_.get(), &count, sizeof count) > 0) {
      }
      continue;
    }
    auto it = handlers_.find(token);
    if (it == handlers_.end()) continue;            // removed by an earlier handler
    std::shared_ptr<Handler> handler = it->second;  // alive while it runs
    (*handler)(events[i].events);
  }
}

void EventLoop::wake() {
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
}

}  // namespace coracle::portmon

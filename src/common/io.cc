#include "common/io.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <optional>

namespace coracle {

namespace {

using Clock = std::chrono::steady_clock;

// The one loop that reads two fds at once (second may be -1): every piece
// to sink (which = 0 or 1), an empty piece when that fd ends. Stops when
// both have ended (true), when sink returns false (true), or when the
// deadline passes (false).
bool drain_until(int first_fd, int second_fd,
                 const std::function<bool(int which, std::string_view data)>& sink,
                 std::optional<Clock::time_point> deadline) {
  struct pollfd fds[2] = {{first_fd, POLLIN, 0}, {second_fd, POLLIN, 0}};
  int open_count = (first_fd >= 0) + (second_fd >= 0);
  char buf[65536];
  while (open_count > 0) {
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) return false;
      wait_ms = static_cast<int>(left.count());
    }
    if (poll(fds, 2, wait_ms) <= 0) continue;  // EINTR, or the deadline: the loop decides
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (!sink(i, std::string_view(buf, static_cast<size_t>(n)))) return true;
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
        if (!sink(i, {})) return true;
      }
    }
  }
  return true;
}

}  // namespace

void drain_pipes(int first_fd, int second_fd,
                 const std::function<void(int which, std::string_view data)>& sink) {
  drain_until(
      first_fd, second_fd,
      [&](int which, std::string_view data) {
        sink(which, data);
        return true;
      },
      std::nullopt);
}

void drain_two(int out_fd, int err_fd, std::string& out, std::string& err) {
  drain_pipes(out_fd, err_fd,
              [&](int which, std::string_view data) { (which == 0 ? out : err).append(data); });
}

bool read_both_until(int first_fd, int second_fd, std::string& first, std::string& second,
                     std::chrono::milliseconds timeout, size_t cap) {
  return drain_until(
      first_fd, second_fd,
      [&](int which, std::string_view data) {
        std::string& into = which == 0 ? first : second;
        into.append(data);
        return into.size() <= cap;
      },
      Clock::now() + timeout);
}

SigpipeBlocked::SigpipeBlocked() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &saved_);
}

SigpipeBlocked::~SigpipeBlocked() {
  if (!sigismember(&saved_, SIGPIPE)) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec now {};
    while (sigtimedwait(&pipe_only, nullptr, &now) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

void write_best_effort(int fd, std::string_view data) {
  while (fd >= 0 && !data.empty()) {
    ssize_t w = write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return;
    data.remove_prefix(static_cast<size_t>(w));
  }
}

}  // namespace coracle

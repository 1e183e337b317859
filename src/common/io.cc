#include "common/io.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace coracle {

void drain_pipes(int first_fd, int second_fd,
                 const std::function<void(int which, std::string_view data)>& sink) {
  struct pollfd fds[2] = {{first_fd, POLLIN, 0}, {second_fd, POLLIN, 0}};
  int open_count = (first_fd >= 0) + (second_fd >= 0);
  char buf[65536];
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sink(i, std::string_view(buf, static_cast<size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
        sink(i, {});
      }
    }
  }
}

void drain_two(int out_fd, int err_fd, std::string& out, std::string& err) {
  drain_pipes(out_fd, err_fd,
              [&](int which, std::string_view data) { (which == 0 ? out : err).append(data); });
}

bool read_both_until(int first_fd, int second_fd, std::string& first, std::string& second,
                     std::chrono::milliseconds timeout, size_t cap) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  struct pollfd fds[2] = {{first_fd, POLLIN, 0}, {second_fd, POLLIN, 0}};
  std::string* into[2] = {&first, &second};
  char buf[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int rc = poll(fds, 2, static_cast<int>(left.count()));
    if (rc <= 0) continue;  // EINTR, or the deadline: the loop decides
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        continue;
      }
      into[i]->append(buf, static_cast<size_t>(n));
      if (into[i]->size() > cap) return true;
    }
  }
  return true;
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

// Reading child output without deadlocks.
#pragma once
#include <signal.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace coracle {

// Reads two fds (second_fd may be -1) at once until each reaches end of
// file, handing every piece to sink with which = 0 or 1, and an empty piece
// when that fd ends. Neither pipe can fill up and block its writer.
void drain_pipes(int first_fd, int second_fd,
                 const std::function<void(int which, std::string_view data)>& sink);

// Reads two fds (say a child's stdout and stderr pipes) at once until both
// reach end of file, appending to out and err, so that neither pipe can fill
// up and block the writer. Closes nothing.
void drain_two(int out_fd, int err_fd, std::string& out, std::string& err);

// Reads two fds at once, as drain_two, but gives up when the timeout
// passes (returns false) or when either has brought more than cap bytes.
bool read_both_until(int first_fd, int second_fd, std::string& first, std::string& second,
                     std::chrono::milliseconds timeout, size_t cap);

// While it lives, SIGPIPE is blocked on this thread: a write to a pipe or
// socket whose reader is gone fails with EPIPE instead of ending coracle
// (a hook or helper that exits unread, a client that resets). A SIGPIPE
// the writes raised (it goes to the writing thread) is taken back before
// the mask is restored. Not process-wide: an ignored SIGPIPE would be
// inherited through exec by every program coracle starts, and seen by an
// embedding program.
class SigpipeBlocked {
 public:
  SigpipeBlocked();
  ~SigpipeBlocked();
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t saved_;
};

// Writes all of data to fd, giving up quietly on an error (a terminal that
// went away must not stop the build or the step whose output it shows).
void write_best_effort(int fd, std::string_view data);

}  // namespace coracle

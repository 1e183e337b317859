// Reading child output without deadlocks.
#pragma once
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

// Writes all of data to fd, giving up quietly on an error (a terminal that
// went away must not stop the build or the step whose output it shows).
void write_best_effort(int fd, std::string_view data);

}  // namespace coracle

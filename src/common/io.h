// Reading child output without deadlocks.
#pragma once
#include <string>

namespace coracle {

// Reads two fds (say a child's stdout and stderr pipes) at once until both
// reach end of file, appending to out and err, so that neither pipe can fill
// up and block the writer. Closes nothing.
void drain_two(int out_fd, int err_fd, std::string& out, std::string& err);

}  // namespace coracle

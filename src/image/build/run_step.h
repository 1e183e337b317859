// A RUN step: the command in coracle's sandbox on the stage's layers, its
// output streamed to the user as it comes and its last lines kept for the
// error message, its file system changes kept (Spec::keep_upper).
#pragma once
#include <string>

#include "sandbox/sandbox.h"

namespace coracle::image {

struct RunOutcome {
  sandbox::Result result;
  std::string tail;  // the last few KiB of the output
};

// Runs spec (its stdout/stderr are replaced by a pipe) and copies the
// output to output_fd as it arrives.
RunOutcome run_streamed(sandbox::Spec spec, int output_fd);

}  // namespace coracle::image

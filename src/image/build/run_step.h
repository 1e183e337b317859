// A RUN step's command in the sandbox: its output (stdout and stderr in
// the order written) streamed to the user as it comes, and its last lines
// kept for the error message.
#pragma once
#include <string>

#include "sandbox/sandbox.h"

namespace coracle::image {

struct RunOutcome {
  sandbox::Result result;
  std::string tail;  // the last few KiB of the output
};

// Runs spec, copying its output to output_fd (-1: nowhere).
RunOutcome run_step_command(const sandbox::Spec& spec, int output_fd);

}  // namespace coracle::image

#include "image/build/run_step.h"

#include "common/io.h"

namespace coracle::image {

constexpr size_t kTailBytes = 4096;

RunOutcome run_step_command(const sandbox::Spec& spec, int output_fd) {
  RunOutcome out;
  auto sink = [&](int, std::string_view data) {
    write_best_effort(output_fd, data);
    out.tail.append(data);
    if (out.tail.size() > 2 * kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
  };
  out.result = sandbox::run_streamed(spec, {}, sink, true);
  if (out.tail.size() > kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
  return out;
}

}  // namespace coracle::image

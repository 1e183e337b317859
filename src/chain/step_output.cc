// Live output of a step: copied to the terminal as it comes, and cut into
// lines for the JSON event stream. The pipes are the sandbox's
// (run_streamed); this only decides where the bytes go.
#include "chain/steps.h"
#include "common/io.h"

namespace coracle::chain {

void StepOutput::operator()(int stream, std::string_view data) {
  auto emit = [&](std::string_view line) {
    options_.on_event(
        {{"event", "log"}, {"stream", stream == 2 ? "stderr" : "stdout"}, {"line", line}});
  };
  if (!data.empty()) write_best_effort(options_.output_fd, data);
  if (keep_ && !data.empty()) {
    kept_.append(data);
    if (kept_.size() > 2 * max_keep_) kept_.erase(0, kept_.size() - max_keep_);
  }
  if (options_.on_event) lines_[stream].feed(data, emit);
}

std::string StepOutput::kept() const {
  return kept_.size() > max_keep_ ? kept_.substr(kept_.size() - max_keep_) : kept_;
}

}  // namespace coracle::chain

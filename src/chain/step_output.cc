// Live output of a step: copied to the terminal as it comes, and cut into
// lines for the JSON event stream. The pipes are the sandbox's
// (run_streamed); this only decides where the bytes go.
#include "chain/steps.h"
#include "common/io.h"

namespace coracle::chain {

void StepOutput::operator()(int stream, std::string_view data) {
  auto emit = [&](const std::string& line) {
    options_.on_event(
        {{"event", "log"}, {"stream", stream == 2 ? "stderr" : "stdout"}, {"line", line}});
  };
  if (data.empty()) {  // the stream ended: its unfinished last line
    if (options_.on_event && !partial_[stream].empty()) emit(partial_[stream]);
    partial_[stream].clear();
    return;
  }
  write_best_effort(options_.output_fd, data);
  if (keep_) {
    kept_.append(data);
    if (kept_.size() > 2 * max_keep_) kept_.erase(0, kept_.size() - max_keep_);
  }
  if (!options_.on_event) return;
  partial_[stream].append(data);
  size_t nl;
  while ((nl = partial_[stream].find('\n')) != std::string::npos) {
    emit(partial_[stream].substr(0, nl));
    partial_[stream].erase(0, nl + 1);
  }
}

std::string StepOutput::kept() const {
  return kept_.size() > max_keep_ ? kept_.substr(kept_.size() - max_keep_) : kept_;
}

StreamedRun run_with_output(const sandbox::Spec& spec, const sandbox::Hooks& hooks,
                            const ChainOptions& options, bool keep, size_t max_keep) {
  StepOutput output(options, keep, max_keep);
  StreamedRun run;
  run.result = sandbox::run_streamed(spec, hooks,
                                     [&](int stream, std::string_view d) { output(stream, d); });
  run.kept = output.kept();
  return run;
}

}  // namespace coracle::chain

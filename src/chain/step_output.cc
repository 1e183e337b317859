// Live output of a step: copied to the terminal as it comes, and cut into
// lines for the JSON event stream. The pipes are the sandbox's
// (run_streamed); this only decides where the bytes go.
#include "chain/steps.h"
#include "common/io.h"

namespace coracle::chain {
StreamedRun run_with_output(const sandbox::Spec& spec, const sandbox::Hooks& hooks,
                            const ChainOptions& options, bool keep, size_t max_keep) {
  StreamedRun run;
  std::string partial[3];  // by stream: 1 stdout, 2 stderr
  auto emit = [&](int stream, const std::string& line) {
    options.on_event(
        {{"event", "log"}, {"stream", stream == 2 ? "stderr" : "stdout"}, {"line", line}});
  };
  auto sink = [&](int stream, std::string_view data) {
    if (data.empty()) {  // the stream ended: its unfinished last line
      if (options.on_event && !partial[stream].empty()) emit(stream, partial[stream]);
      return;
    }
    write_best_effort(options.output_fd, data);
    if (keep) {
      run.kept.append(data);
      if (run.kept.size() > 2 * max_keep) run.kept.erase(0, run.kept.size() - max_keep);
    }
    if (!options.on_event) return;
    partial[stream].append(data);
    size_t nl;
    while ((nl = partial[stream].find('\n')) != std::string::npos) {
      emit(stream, partial[stream].substr(0, nl));
      partial[stream].erase(0, nl + 1);
    }
  };
  run.result = sandbox::run_streamed(spec, hooks, sink);
  if (run.kept.size() > max_keep) run.kept.erase(0, run.kept.size() - max_keep);
  return run;
}

}  // namespace coracle::chain

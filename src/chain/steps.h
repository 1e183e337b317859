// The chain's steps (internal to src/chain): what one step gets and gives.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "builder/builder.h"
#include "chain/assistants.h"
#include "chain/chain.h"
#include "chain/state.h"
#include "common/lines.h"
#include "image/store.h"
#include "launch/run.h"
#include "sandbox/sandbox.h"

namespace coracle::chain {

struct StepContext {
  const ChainOptions& options;
  const image::Store& store;
  std::string work_dir;  // this step's own scratch dir (under ROOT/tmp)
  std::string app_dir;   // the current app (read-only to the step)
  const AppState& state;
  int number = 0;
  std::string what;  // "step 2 (local:helper)"
};

struct StepOutcome {
  std::optional<std::string> new_app;  // the app's new dir (/out/app), if replaced
  AppState state;                      // the state after the step
  std::string next;                    // empty: the chain ends
  std::optional<int> app_exit;         // builtin:exec: the app's own status
};

StepOutcome run_external(const StepContext& ctx, const ExternalAssistant& assistant);
StepOutcome run_builtin_dockerfile(const StepContext& ctx);
StepOutcome run_builtin_python(const StepContext& ctx);
// What builtin:python takes (Ayup's rule): requirements.txt or __main__.py.
bool is_python_app(const std::string& app_dir);
StepOutcome run_builtin_exec(const StepContext& ctx);

// Runs spec with its stdout and stderr copied live to output_fd and, line
// by line, into `log` events (stream stdout/stderr); keeps the combined
// output when keep is set (at most max_keep bytes, the newest).
// Where a step's output goes: copied to the terminal as it comes, cut into
// lines for the JSON event stream, the last max_keep bytes kept (keep).
class StepOutput {
 public:
  StepOutput(const ChainOptions& options, bool keep, size_t max_keep)
      : options_(options), keep_(keep), max_keep_(max_keep) {}
  // A piece of stream 1 (stdout) or 2 (stderr); empty: the stream ended.
  void operator()(int stream, std::string_view data);
  std::string kept() const;

 private:
  const ChainOptions& options_;
  bool keep_;
  size_t max_keep_;
  std::string kept_;
  LineSplitter lines_[3];
};

// A step's sandbox output into its StepOutput (launch::run's observer).
class StepOutputObserver : public launch::Observer {
 public:
  explicit StepOutputObserver(StepOutput& output) : output_(output) {}
  void output(int stream, std::string_view data) override { output_(stream, data); }

 private:
  StepOutput& output_;
};

// The time a sandbox of this step may take: what is left of the run's
// --timeout (0: no bound). Throws once none is left, naming the step.
std::chrono::milliseconds time_left(const StepContext& ctx);

// coracle build of context into tag, its steps relayed as build.step /
// build.cached events of this chain step. Besides what the caller set
// (dockerfile text, secrets, paths always left out), the build takes the
// chain's options (overlay, pulls, output).
void build_for_step(const StepContext& ctx, builder::BuildOptions build, const std::string& context,
                    const std::string& tag);

// A store name for what was built from folder dir: kind/base name plus a
// hash of the folder's absolute path, so that two folders of one name (two
// apps called `app`, two assistants whose `name` file says `helper`) never
// take each other's image.
std::string folder_image_tag(const std::string& kind, const std::string& name,
                             const std::string& dir);

// The image an external assistant runs: pulled when missing, or built from
// its Dockerfile (cached: a rebuild of an unchanged folder costs ms).
std::string assistant_image(const StepContext& ctx, const ExternalAssistant& assistant);

}  // namespace coracle::chain

// How `coracle build` shows itself (--progress, as docker build's flag):
//  - tty: BuildKit's live view on a terminal: each finished step as one
//    line with its time, and under them the running step with its elapsed
//    time ticking and the last lines of its output, redrawn in place and cut
//    to the terminal's width;
//  - plain: one line per step, RUN output as it comes (logs, CI);
//  - json: one event per line on stdout (--json), RUN output as log events;
//  - auto: tty when stderr is a terminal, else plain.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "builder/builder.h"
#include "common/lines.h"

namespace coracle::cli {

enum class BuildProgress { kTty, kPlain, kJson, kQuiet };

// --progress's value (auto, plain, tty, json; rawjson as json), with --json
// and -q. Throws coracle::Error for another value.
BuildProgress parse_build_progress(const std::string& flag, bool json, bool quiet);

class BuildView {
 public:
  explicit BuildView(BuildProgress mode);
  ~BuildView();
  BuildView(const BuildView&) = delete;
  BuildView& operator=(const BuildView&) = delete;

  void event(const builder::BuildEvent& e);
  // A RUN's output, as it comes.
  void output(std::string_view data);
  // The build ended (the live area is cleared; an error is printed by the
  // caller after it).
  void finish();
  // Clears the live area and draws nothing until the next event: someone
  // else (a base image's pull) writes to the terminal meanwhile.
  void hold();

 private:
  void add_output_locked(std::string_view data);
  void emit_log_locked(std::string_view line);
  void draw_locked();
  void tick();

  BuildProgress mode_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false, held_ = false;
  // The running step (tty): its line, when it started, its last lines.
  std::string running_;
  std::chrono::steady_clock::time_point started_;
  std::deque<std::string> tail_;
  std::string partial_;
  int drawn_lines_ = 0;
  std::thread ticker_;
  // json: RUN output as log events of the step that printed it.
  LineSplitter log_lines_;
  int log_step_ = 0;
};

}  // namespace coracle::cli

// How a long operation shows itself: bars redrawn in place when stderr is
// a terminal (cut to its width), one plain line per step otherwise (logs,
// CI), events of the --json stream, or nothing with -q.
#pragma once
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "image/layer_cache.h"
#include "image/pull.h"

namespace coracle::cli {

enum class OutputMode { kTerminal, kPlain, kJson, kQuiet };
// kJson if json (the event stream is on), else kQuiet after set_quiet(),
// else kTerminal when stderr is a terminal, else kPlain.
OutputMode output_mode(bool json);
// -q: no progress at all (results still go to stdout).
void set_quiet(bool quiet);

// "12.3 MiB"
std::string human_size(int64_t bytes);
// stderr's width in columns (80 when it is no terminal or says nothing).
int terminal_columns();
// text cut to columns (UTF-8: a column per character), "..." when cut.
std::string fit_columns(const std::string& text, int columns);

// Rows of bars redrawn in place on stderr: at most ten frames a second
// unless a row changes state, each frame one write() (no flicker), every
// line cut to the terminal's width, read anew each frame.
class LiveRows {
 public:
  struct Row {
    std::string key, label;  // label: "3f2a9c0d1e2b layer"
    uint64_t done = 0, total = 0;
    std::string state;  // "downloading", "done", ...
  };
  Row& row(const std::string& key, const std::string& label, uint64_t total);
  void draw(bool force);

 private:
  std::vector<Row> rows_;
  int drawn_lines_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

// Shows a pull (or a push: the same events, the other way): a bar per blob
// on a terminal.
class PullView {
 public:
  enum class Direction { kPull, kPush };
  PullView(OutputMode mode, std::string reference, Direction direction = Direction::kPull);
  void operator()(const image::PullEvent& event);

 private:
  void json(const image::PullEvent& e);

  OutputMode mode_;
  std::string reference_;
  Direction direction_;
  LiveRows rows_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Shows the unpacking of an image's layers (the first run of an image):
// a bar per layer on a terminal, nothing otherwise (local work a log has no
// use for), or unpack.* events. Layers unpack on several threads: calls are
// serialized.
class UnpackView {
 public:
  UnpackView(OutputMode mode, std::string image);
  void operator()(const image::LayerEvent& event);

 private:
  std::mutex mu_;
  OutputMode mode_;
  std::string image_;
  LiveRows rows_;
  bool announced_ = false;
};

}  // namespace coracle::cli

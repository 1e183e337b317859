// How a long operation shows itself: bars redrawn in place when stderr is
// a terminal, one plain line per step otherwise (logs, CI), or one JSON
// object per line on stdout with --json.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "image/pull.h"

namespace coracle::cli {

enum class OutputMode { kTerminal, kPlain, kJson };
// kJson if json, else kTerminal when stderr is a terminal, else kPlain.
OutputMode output_mode(bool json);

// "12.3 MiB"
std::string human_size(int64_t bytes);

// Shows a pull (or a push: the same events, the other way): a bar per blob
// on a terminal.
class PullView {
 public:
  enum class Direction { kPull, kPush };
  PullView(OutputMode mode, std::string reference, Direction direction = Direction::kPull);
  void operator()(const image::PullEvent& event);

 private:
  struct Row {
    std::string digest, role;
    int64_t size = 0;
    uint64_t done = 0;
    std::string state;  // "waiting", "downloading", "done", "exists"
  };
  Row& row(const image::PullEvent& e);
  void draw(bool force);
  void json(const image::PullEvent& e);

  OutputMode mode_;
  std::string reference_;
  Direction direction_;
  std::vector<Row> rows_;
  int drawn_lines_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace coracle::cli

#include "cli/build_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/events.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/io.h"
#include "common/quiet_thread.h"
#include "common/terminal_text.h"

namespace coracle::cli {
namespace {

constexpr size_t kTailLines = 6;

using Clock = std::chrono::steady_clock;

// A line of a program's output made safe to redraw: through the one
// sanitiser (escape sequences, C0 and C1 controls would move the cursor
// under the view), tabs as spaces.
std::string printable(std::string_view line) {
  std::string out;
  for (char c : terminal_safe(line, TerminalLines::kOne)) {
    if (c == '\t')
      out += "  ";
    else
      out += c;
  }
  return out;
}

// The step's label, "[2/5] RUN apk add ..." (the instruction's first line).
std::string label(const builder::BuildEvent& e, bool cached) {
  std::string out = "[";
  out.append(std::to_string(e.number)).append("/").append(std::to_string(e.total)).append("] ");
  if (cached) out.append("CACHED ");
  // The Dockerfile's own text: as hostile as anything else from outside.
  return out.append(printable(std::string_view(e.text).substr(0, e.text.find('\n'))));
}

// "LABEL  1.2s" in columns: the label is cut, never the time.
std::string with_time(const std::string& label, double seconds, int columns) {
  char time[32];
  snprintf(time, sizeof time, "  %.1fs", seconds);
  return fit_columns(label, columns - static_cast<int>(strlen(time))) + time;
}

}  // namespace

BuildProgress parse_build_progress(const std::string& flag, bool json, bool quiet) {
  if (flag != "auto" && flag != "plain" && flag != "tty" && flag != "json" && flag != "rawjson")
    throw Error("--progress " + flag + ": use auto, plain, tty or json");
  if (quiet) return BuildProgress::kQuiet;
  if (json || flag == "json" || flag == "rawjson") return BuildProgress::kJson;
  if (flag == "plain") return BuildProgress::kPlain;
  if (flag == "tty") return BuildProgress::kTty;
  return isatty(STDERR_FILENO) ? BuildProgress::kTty : BuildProgress::kPlain;
}

BuildView::BuildView(BuildProgress mode) : mode_(mode) {
  // The elapsed time ticks while a step prints nothing.
  if (mode_ == BuildProgress::kTty) ticker_ = start_quiet_thread([this] { tick(); });
}

BuildView::~BuildView() {
  finish();
}

void BuildView::finish() {
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = true;
    log_lines_.feed({}, [&](std::string_view line) { emit_log_locked(line); });
    running_.clear();
    tail_.clear();
    if (mode_ == BuildProgress::kTty) draw_locked();
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void BuildView::tick() {
  std::unique_lock lock(mu_);
  while (!done_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    if (!done_ && !held_ && !running_.empty()) draw_locked();
  }
}

void BuildView::hold() {
  if (mode_ != BuildProgress::kTty) return;
  std::lock_guard lock(mu_);
  held_ = true;
  std::string running;
  running.swap(running_);
  draw_locked();  // clears the live area
  running_.swap(running);
}

void BuildView::event(const builder::BuildEvent& e) {
  using K = builder::BuildEvent;
  if (mode_ == BuildProgress::kQuiet) return;
  if (mode_ == BuildProgress::kJson) {
    std::lock_guard lock(mu_);
    // A step's unfinished last line belongs to it, not to the next one.
    log_lines_.feed({}, [&](std::string_view line) { emit_log_locked(line); });
    if (e.kind == builder::BuildEvent::Step) log_step_ = e.number;
    return events::emit(builder::build_event_json(e));
  }
  if (mode_ == BuildProgress::kPlain) {
    // The instruction's first line only: a heredoc or a long continued
    // RUN would drown the step list.
    std::string line = label(e, e.kind == K::Cached);
    if (e.kind != K::Done) fprintf(stderr, "%s\n", fit_columns(line, 100).c_str());
    return;
  }
  std::lock_guard lock(mu_);
  held_ = false;
  // A step that ends (or a FROM, which has no end of its own when the next
  // step starts) leaves one line behind: its label and its time.
  int width = terminal_columns() - 1;
  std::string finished;
  if (!running_.empty()) {
    double s = e.kind == K::Done ? e.ms / 1000
                                 : std::chrono::duration<double>(Clock::now() - started_).count();
    finished = with_time(running_, s, width) + "\n";
  }
  if (e.kind == K::Cached) finished += fit_columns(label(e, true), width) + "\n";
  running_.clear();
  tail_.clear();
  partial_.clear();
  if (!finished.empty()) {
    draw_locked();  // clears the live area
    write_best_effort(STDERR_FILENO, finished);
  }
  if (e.kind == K::Step) {
    running_ = label(e, false);
    started_ = Clock::now();
  }
  draw_locked();
}

void BuildView::output(std::string_view data) {
  if (mode_ == BuildProgress::kQuiet) return;
  if (mode_ == BuildProgress::kJson) {
    std::lock_guard lock(mu_);
    log_lines_.feed(data, [&](std::string_view line) { emit_log_locked(line); });
    return;
  }
  if (mode_ != BuildProgress::kTty) {
    // RUN output is the user's to see, on stderr (stdout carries the
    // result), as lines of text: a hostile RUN writes no escape sequence
    // to the user's terminal (a sequence cut between two reads loses its
    // tail as text, never as a control).
    write_best_effort(STDERR_FILENO, terminal_safe(data));
    return;
  }
  std::lock_guard lock(mu_);
  add_output_locked(data);
  if (!held_) draw_locked();
}

void BuildView::emit_log_locked(std::string_view line) {
  // A RUN's stdout and stderr reach the build as one stream.
  events::log("output", line, {{"build_step", log_step_}});
}

void BuildView::add_output_locked(std::string_view data) {
  for (char c : data) {
    if (c == '\n') {
      tail_.push_back(printable(partial_));
      if (tail_.size() > kTailLines) tail_.pop_front();
      partial_.clear();
    } else if (c == '\r') {
      partial_.clear();  // a progress bar redrawing its line: keep the last
    } else if (partial_.size() < 4096) {
      partial_ += c;
    }
  }
}

// The live area: the running step with its elapsed time, then its last
// lines of output (dimmed), redrawn over what was drawn before in one write.
void BuildView::draw_locked() {
  int width = terminal_columns();
  std::string out;
  if (drawn_lines_ > 0) out += "\r\033[" + std::to_string(drawn_lines_) + "A";
  out += "\r\033[J";
  int lines = 0;
  if (!running_.empty()) {
    out += with_time(running_, std::chrono::duration<double>(Clock::now() - started_).count(),
                     width - 1) +
           "\n";
    ++lines;
    std::deque<std::string> shown = tail_;
    if (!partial_.empty()) {
      shown.push_back(printable(partial_));
      if (shown.size() > kTailLines) shown.pop_front();
    }
    for (const auto& line : shown) {
      out += "\033[2m" + fit_columns("  | " + line, width - 1) + "\033[0m\n";
      ++lines;
    }
  }
  drawn_lines_ = lines;
  write_best_effort(STDERR_FILENO, out);
}

}  // namespace coracle::cli

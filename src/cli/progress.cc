#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/events.h"
#include "common/io.h"

namespace coracle::cli {

using image::PullEvent;

namespace {
std::atomic<bool> quiet_mode{false};

std::string short_digest(const std::string& d) {
  return d.size() > 19 ? d.substr(7, 12) : d;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

void set_quiet(bool quiet) {
  quiet_mode = quiet;
}

OutputMode output_mode(bool json) {
  if (json && events::on()) return OutputMode::kJson;
  if (quiet_mode) return OutputMode::kQuiet;
  return isatty(STDERR_FILENO) ? OutputMode::kTerminal : OutputMode::kPlain;
}

std::string human_size(int64_t bytes) {
  char buf[32];
  if (bytes >= (1 << 30))
    snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  else if (bytes >= (1 << 20))
    snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  else if (bytes >= 1024)
    snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024);
  else
    snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  return buf;
}

int terminal_columns() {
  struct winsize ws {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string fit_columns(const std::string& text, int columns) {
  if (columns <= 0) return "";
  int count = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) continue;
    if (++count > columns) {
      size_t cut = i;
      // Back off three characters for the dots.
      for (int dots = 0; dots < 3 && cut > 0; ++dots) {
        do --cut;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80);
      }
      return text.substr(0, cut) + "...";
    }
  }
  return text;
}

LiveRows::Row& LiveRows::row(const std::string& key, const std::string& label, uint64_t total) {
  for (auto& r : rows_)
    if (r.key == key) return r;
  rows_.push_back({key, label, 0, total, "waiting"});
  return rows_.back();
}

// "  LABEL [#####.....] 12.3 MiB / 80.0 MiB STATE": the bar takes what the
// terminal's width leaves (at most 40 columns; none below 5), and the
// line is cut to the width, so that a narrow terminal never wraps it
// (a wrapped line would break the cursor-up redraw).
void LiveRows::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  int width = terminal_columns() - 1;  // the last column would wrap on some terminals
  std::string out;
  if (drawn_lines_ > 0) out += "\r\033[" + std::to_string(drawn_lines_) + "A";
  for (const auto& r : rows_) {
    double frac = r.total > 0 ? static_cast<double>(r.done) / static_cast<double>(r.total) : 1.0;
    if (frac > 1) frac = 1;
    // Fixed widths: the bar keeps its place and length from frame to frame.
    char amounts[96];
    snprintf(amounts, sizeof amounts, "%9s / %-9s %-11s",
             human_size(static_cast<int64_t>(r.done)).c_str(),
             human_size(static_cast<int64_t>(r.total)).c_str(), r.state.c_str());
    int fixed = 2 + static_cast<int>(r.label.size()) + 1 + 3 + static_cast<int>(strlen(amounts));
    int bar = std::min(40, width - fixed);
    std::string line = "  " + r.label + " ";
    if (bar >= 5) {
      int filled = static_cast<int>(frac * bar);
      line += "[" + std::string(static_cast<size_t>(filled), '#') +
              std::string(static_cast<size_t>(bar - filled), '.') + "] ";
    }
    line += amounts;
    out += "\r\033[K" + fit_columns(line, width) + "\n";
  }
  drawn_lines_ = static_cast<int>(rows_.size());
  write_best_effort(STDERR_FILENO, out);
}

PullView::PullView(OutputMode mode, std::string reference, Direction direction)
    : mode_(mode), reference_(std::move(reference)), direction_(direction) {}

namespace {
const char* event_suffix(PullEvent::Kind k) {
  switch (k) {
    case PullEvent::Kind::kResolved:
      return "resolved";
    case PullEvent::Kind::kBlobStart:
      return "blob.start";
    case PullEvent::Kind::kBlobProgress:
      return "blob.progress";
    case PullEvent::Kind::kBlobDone:
      return "blob.done";
    case PullEvent::Kind::kBlobCached:
      return "blob.exists";
    case PullEvent::Kind::kDone:
      return "done";
  }
  return "event";
}
}  // namespace

void PullView::json(const PullEvent& e) {
  std::string name =
      std::string(direction_ == Direction::kPush ? "push." : "pull.") + event_suffix(e.kind);
  nlohmann::ordered_json j = {{"event", name}, {"ref", reference_}, {"digest", e.digest}};
  if (e.kind != PullEvent::Kind::kDone && e.kind != PullEvent::Kind::kResolved) j["role"] = e.role;
  j["size"] = e.size;
  if (e.kind == PullEvent::Kind::kBlobProgress) j["bytes"] = e.done;
  if (e.kind == PullEvent::Kind::kDone) j["duration_ms"] = seconds_since(started_) * 1000;
  events::emit(j);
}

void PullView::operator()(const PullEvent& e) {
  if (mode_ == OutputMode::kQuiet) return;
  if (mode_ == OutputMode::kJson) return json(e);
  using K = PullEvent::Kind;
  bool push = direction_ == Direction::kPush;
  if (e.kind == K::kResolved) {
    fprintf(stderr, "%s %s (manifest %s, %s)\n", push ? "pushing" : "pulling", reference_.c_str(),
            short_digest(e.digest).c_str(), human_size(e.size).c_str());
    return;
  }
  if (e.kind == K::kDone) {
    if (mode_ == OutputMode::kTerminal) rows_.draw(true);
    fprintf(stderr, "%s %s in %.1fs\n", push ? "pushed" : "pulled", reference_.c_str(),
            seconds_since(started_));
    return;
  }
  char label[64];
  snprintf(label, sizeof label, "%s %-6s", short_digest(e.digest).c_str(), e.role.c_str());
  LiveRows::Row& r = rows_.row(e.digest, label, static_cast<uint64_t>(e.size));
  switch (e.kind) {
    case K::kBlobStart:
      r.state = push ? "uploading" : "downloading";
      break;
    case K::kBlobProgress:
      r.done = e.done;
      break;
    case K::kBlobDone:
      r.state = "done";
      r.done = e.done;
      break;
    case K::kBlobCached:
      r.state = "exists";
      r.done = static_cast<uint64_t>(e.size);
      break;
    default:
      break;
  }
  if (mode_ == OutputMode::kTerminal) {
    rows_.draw(e.kind != K::kBlobProgress);
  } else if (e.kind == K::kBlobDone || e.kind == K::kBlobCached) {
    fprintf(stderr, "  %s %10s %s\n", label, human_size(e.size).c_str(),
            e.kind != K::kBlobDone ? "already present"
            : push                 ? "uploaded"
                                   : "downloaded");
  }
}

UnpackView::UnpackView(OutputMode mode, std::string image)
    : mode_(mode), image_(std::move(image)) {}

void UnpackView::operator()(const image::LayerEvent& e) {
  using K = image::LayerEvent::Kind;
  if (mode_ == OutputMode::kQuiet || e.kind == K::Cached) return;
  std::lock_guard lock(mu_);
  if (mode_ == OutputMode::kJson) {
    static const char* const kNames[] = {"", "unpack.start", "unpack.progress", "unpack.done"};
    nlohmann::ordered_json j = {{"event", kNames[e.kind]},
                                {"digest", e.digest},
                                {"size", e.size},
                                {"layer", e.index + 1},
                                {"layers", e.count}};
    if (e.kind == K::Progress) j["bytes"] = e.bytes;
    if (e.kind == K::Done) j["duration_ms"] = e.ms;
    return events::emit(j);
  }
  // Not on a terminal: nothing. A pull's lines say what came from where;
  // an unpack is local work a log has no use for, and a command's stderr
  // stays its own.
  if (mode_ == OutputMode::kPlain) return;
  std::string label = short_digest(e.digest) + " layer " + std::to_string(e.index + 1) + "/" +
                      std::to_string(e.count);
  if (!announced_) fprintf(stderr, "unpacking %s\n", image_.c_str());
  announced_ = true;
  LiveRows::Row& r = rows_.row(e.digest, label, e.size);
  if (e.kind == K::Unpacking) r.state = "unpacking";
  if (e.kind == K::Progress) r.done = e.bytes;
  if (e.kind == K::Done) {
    r.done = e.size;
    char took[32];
    snprintf(took, sizeof took, "done %.1fs", e.ms / 1000);
    r.state = took;
  }
  rows_.draw(e.kind != K::Progress);
}

}  // namespace coracle::cli

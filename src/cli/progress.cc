#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/events.h"

namespace coracle::cli {

using image::PullEvent;

OutputMode output_mode(bool json) {
  if (json && events::on()) return OutputMode::kJson;
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

PullView::PullView(OutputMode mode, std::string reference, Direction direction)
    : mode_(mode), reference_(std::move(reference)), direction_(direction) {}

PullView::Row& PullView::row(const PullEvent& e) {
  for (auto& r : rows_)
    if (r.digest == e.digest) return r;
  rows_.push_back({e.digest, e.role, e.size, 0, "waiting"});
  return rows_.back();
}

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

std::string short_digest(const std::string& d) {
  return d.size() > 19 ? d.substr(7, 12) : d;
}
}  // namespace

void PullView::json(const PullEvent& e) {
  std::string name =
      std::string(direction_ == Direction::kPush ? "push." : "pull.") + event_suffix(e.kind);
  nlohmann::ordered_json j = {{"event", name}, {"ref", reference_}, {"digest", e.digest}};
  if (e.kind != PullEvent::Kind::kDone && e.kind != PullEvent::Kind::kResolved) j["role"] = e.role;
  j["size"] = e.size;
  if (e.kind == PullEvent::Kind::kBlobProgress) j["bytes"] = e.done;
  if (e.kind == PullEvent::Kind::kDone)
    j["duration_ms"] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
            .count();
  events::emit(j);
}

void PullView::operator()(const PullEvent& e) {
  if (mode_ == OutputMode::kJson) return json(e);
  using K = PullEvent::Kind;
  if (e.kind == K::kResolved) {
    fprintf(stderr, "%s %s (manifest %s, %s)\n",
            direction_ == Direction::kPush ? "pushing" : "pulling", reference_.c_str(),
            short_digest(e.digest).c_str(), human_size(e.size).c_str());
    return;
  }
  if (e.kind == K::kDone) {
    if (mode_ == OutputMode::kTerminal) draw(true);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    fprintf(stderr, "%s %s in %.1fs\n", direction_ == Direction::kPush ? "pushed" : "pulled",
            reference_.c_str(), s);
    return;
  }
  Row& r = row(e);
  switch (e.kind) {
    case K::kBlobStart:
      r.state = "downloading";
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
    draw(e.kind != K::kBlobProgress);
  } else if (e.kind == K::kBlobDone || e.kind == K::kBlobCached) {
    fprintf(stderr, "  %s %-6s %10s %s\n", short_digest(r.digest).c_str(), r.role.c_str(),
            human_size(r.size).c_str(),
            e.kind != K::kBlobDone           ? "already present"
            : direction_ == Direction::kPush ? "uploaded"
                                             : "downloaded");
  }
}

// Redraws every row in place (cursor up over what was drawn), at most ten
// times a second unless a row changed state.
void PullView::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::string out;
  if (drawn_lines_ > 0) out += "\033[" + std::to_string(drawn_lines_) + "A";
  constexpr int kWidth = 30;
  for (const auto& r : rows_) {
    double frac = r.size > 0 ? static_cast<double>(r.done) / static_cast<double>(r.size) : 1.0;
    if (frac > 1) frac = 1;
    int filled = static_cast<int>(frac * kWidth);
    char line[256];
    snprintf(line, sizeof line, "\r\033[K  %s %-6s [%s%s] %9s / %-9s %s\n",
             short_digest(r.digest).c_str(), r.role.c_str(), std::string(filled, '#').c_str(),
             std::string(kWidth - filled, '.').c_str(),
             human_size(static_cast<int64_t>(r.done)).c_str(), human_size(r.size).c_str(),
             r.state.c_str());
    out += line;
  }
  drawn_lines_ = static_cast<int>(rows_.size());
  fputs(out.c_str(), stderr);
  fflush(stderr);
}

}  // namespace coracle::cli

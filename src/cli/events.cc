#include "cli/events.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "common/error.h"
#include "common/io.h"
#include "common/lines.h"
#include "common/quiet_thread.h"

namespace coracle::cli::events {
namespace {

struct Stream {
  std::mutex mu;
  int fd = -1;
  std::string command;
  bool finished = false;
};

Stream& stream() {
  static Stream s;
  return s;
}

// `event` first, then v and time_ms, then the event's own fields in the
// order given. Invalid UTF-8 (a program's output, a file name) is replaced
// rather than failing the whole stream.
std::string line_of(std::string_view name, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json j;
  j["event"] = name;
  j["v"] = kSchemaVersion;
  j["time_ms"] = fields.contains("time_ms") ? fields["time_ms"] : nlohmann::ordered_json(now_ms());
  if (fields.is_object())
    for (auto it = fields.begin(); it != fields.end(); ++it)
      if (it.key() != "event" && it.key() != "time_ms") j[it.key()] = it.value();
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void write_locked(Stream& s, std::string_view name, const nlohmann::ordered_json& fields) {
  write_best_effort(s.fd, line_of(name, fields));
}

}  // namespace

bool is_streamed_command(std::string_view command) {
  static const char* const kStreamed[] = {
      "exec",         "run",      "build",           "image pull",     "image push",
      "image import", "image gc", "assistants push", "assistants pull"};
  for (const char* streamed : kStreamed)
    if (command == streamed) return true;
  return false;
}

double now_ms() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return static_cast<double>(us.count()) / 1000.0;
}

void open(std::string command, int fd) {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  s.fd = fd;
  s.command = std::move(command);
  s.finished = false;
}

bool on() {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  return s.fd >= 0;
}

bool on_stdout() {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  return s.fd == 1;
}

void emit(const nlohmann::ordered_json& fields) {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  // After the final event nothing more: a consumer stops reading there.
  if (s.fd < 0 || s.finished) return;
  write_locked(s, fields.value("event", std::string("unknown")), fields);
}

void log(std::string_view stream_name, std::string_view line, const nlohmann::ordered_json& where) {
  nlohmann::ordered_json j = {{"event", "log"}};
  if (where.is_object())
    for (auto it = where.begin(); it != where.end(); ++it) j[it.key()] = it.value();
  j["stream"] = stream_name;
  j["line"] = line;
  emit(j);
}

void result(const nlohmann::ordered_json& fields) {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  if (s.fd < 0 || s.finished) return;
  s.finished = true;
  nlohmann::ordered_json j = {{"command", s.command}};
  if (fields.is_object())
    for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
  write_locked(s, "result", j);
}

void error(int exit_code, std::string_view message) {
  Stream& s = stream();
  std::lock_guard lock(s.mu);
  if (s.fd < 0 || s.finished) return;
  s.finished = true;
  write_locked(s, "error",
               {{"command", s.command}, {"exit_code", exit_code}, {"message", message}});
}

OutputAsLogs::OutputAsLogs() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  out_r_.reset(p[0]);
  out_w_.reset(p[1]);
  if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  err_r_.reset(p[0]);
  err_w_.reset(p[1]);
  reader_ = start_quiet_thread([this] {
    LineSplitter lines[2];
    drain_pipes(out_r_.get(), err_r_.get(), [&](int which, std::string_view data) {
      lines[which].feed(
          data, [&](std::string_view line) { log(which == 0 ? "stdout" : "stderr", line); });
    });
  });
}

void OutputAsLogs::finish() {
  out_w_.reset();
  err_w_.reset();
  if (reader_.joinable()) reader_.join();
}

OutputAsLogs::~OutputAsLogs() {
  finish();
}

}  // namespace coracle::cli::events

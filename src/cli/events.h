// The --json event stream (docs/events.md, docs/events.schema.json): one
// JSON object per line, `event` first, then the schema version `v` and
// `time_ms`; every command's stream ends with exactly one final event,
// `result` or `error`. One stream per process: the pull inside an exec, the
// port monitor's thread and a build's RUN output all write into it, a whole
// line per write().
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "common/unique_fd.h"

namespace coracle::cli::events {

// Bumped when a field changes meaning or goes away (new events and new
// fields keep it).
constexpr int kSchemaVersion = 1;

// The commands whose --json is this stream ("image ls --json" and
// "image inspect" print one document instead): the one list, read by main
// (which opens the stream before parsing) and by open_event_stream().
bool is_streamed_command(std::string_view command);

// Turns the stream on for `command` ("exec", "image pull", ...), on fd
// (stdout unless --json-fd names another).
void open(std::string command, int fd = 1);
bool on();
// Whether the stream is on stdout (then a command's own output must not
// go there: it travels as `log` events).
bool on_stdout();

// One event: `fields` holds "event" and its own fields; `v` and `time_ms`
// (now, unless fields has one) are added. Nothing when the stream is off.
void emit(const nlohmann::ordered_json& fields);
// A line of a program's output as a `log` event (stream "stdout" or
// "stderr"); bytes that are not UTF-8 become U+FFFD.
void log(std::string_view stream, std::string_view line, const nlohmann::ordered_json& where = {});

// The command's final event: `result` with its own fields, or `error`
// (exit status and message). Only the first final event is written.
void result(const nlohmann::ordered_json& fields = {});
void error(int exit_code, std::string_view message);

// Milliseconds since the Unix epoch, to the microsecond: the one unit of
// the stream's times (durations are milliseconds too).
double now_ms();

// A command's stdout and stderr as `log` events, for when the stream is on
// stdout: two pipes the sandbox writes to, drained line by line on a
// thread of their own (a chatty command never blocks on a full pipe).
class OutputAsLogs {
 public:
  OutputAsLogs();  // throws coracle::Error
  ~OutputAsLogs();
  OutputAsLogs(const OutputAsLogs&) = delete;
  OutputAsLogs& operator=(const OutputAsLogs&) = delete;
  int stdout_fd() const { return out_w_.get(); }
  int stderr_fd() const { return err_w_.get(); }
  // After the command ended: closes coracle's write ends and waits until
  // every line is out (the command's own ends closed when it exited), so
  // that no log event comes after the result.
  void finish();

 private:
  UniqueFd out_r_, out_w_, err_r_, err_w_;
  std::thread reader_;
};

}  // namespace coracle::cli::events

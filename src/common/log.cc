#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "common/error.h"
#include "common/terminal_text.h"

namespace coracle {
namespace {

std::atomic<int> level{-1};  // -1: not decided yet (CORACLE_LOG_LEVEL)

const auto start = std::chrono::steady_clock::now();

}  // namespace

LogLevel parse_log_level(const std::string& w) {
  if (w == "error") return LogLevel::kError;
  if (w == "warn" || w == "warning") return LogLevel::kWarn;
  if (w == "info") return LogLevel::kInfo;
  if (w == "debug" || w == "trace") return LogLevel::kDebug;
  throw Error("log level '" + w + "': use error, warn, info or debug");
}

void set_log_level(LogLevel l) {
  level = static_cast<int>(l);
}

LogLevel log_level() {
  int l = level.load(std::memory_order_relaxed);
  if (l >= 0) return static_cast<LogLevel>(l);
  LogLevel from_env = LogLevel::kWarn;
  if (const char* env = getenv("CORACLE_LOG_LEVEL"); env && *env) {
    try {
      from_env = parse_log_level(env);
    } catch (const Error&) {
      // A bad value in the environment must not stop every command.
    }
  }
  level = static_cast<int>(from_env);
  return from_env;
}

void log_debug(const std::string& what) {
  if (!debug_enabled()) return;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char head[48];
  snprintf(head, sizeof head, "coracle[debug] %8.3f ", s);
  std::string line = head + terminal_safe(what) + "\n";
  // One write(): lines from threads do not interleave.
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace coracle

// --log-level (podman's flag) and CORACLE_LOG_LEVEL: `debug` says what
// coracle is doing, step by step, on stderr ("coracle[debug] 12.345 ..."),
// so that an error has a trail to read. The sandbox's child never logs (it
// allocates nothing after clone); its parent logs what it prepared.
#pragma once
#include <string>

namespace coracle {

enum class LogLevel { kError, kWarn, kInfo, kDebug };

// "error", "warn" (the default), "info", "debug"; throws coracle::Error
// for another word.
LogLevel parse_log_level(const std::string& word);
void set_log_level(LogLevel level);
LogLevel log_level();
inline bool debug_enabled() {
  return log_level() == LogLevel::kDebug;
}

// One line on stderr when the level is debug: "coracle[debug] SECONDS WHAT".
void log_debug(const std::string& what);

}  // namespace coracle

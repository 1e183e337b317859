// Parsers for the human units the CLI takes: durations, byte sizes, ids.
// Each throws coracle::Error naming the bad text.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coracle {

// "1.5s", "200ms", "2m", "1h", "10" (seconds).
std::chrono::milliseconds parse_duration(std::string_view text);
// "512m", "1g", "1048576", "64k", with an optional "b"/"ib" suffix (binary units).
uint64_t parse_bytes(std::string_view text);
// A decimal number that fits in uint64_t.
uint64_t parse_uint(std::string_view text, std::string_view what);
std::vector<std::string> split(std::string_view text, char sep);
// text without the whitespace and newlines around it.
std::string trimmed(const std::string& text);
// dotenv lines (--env-file, an assistant's .ayup-env): K=V, comments and
// blank lines skipped, optional "export ", quotes around a value removed.
std::vector<std::string> parse_env_file(const std::string& text);
// Sets "K=V" in a K=V list: replaces the entry for K, or appends.
void set_env(std::vector<std::string>& env, const std::string& entry);

}  // namespace coracle

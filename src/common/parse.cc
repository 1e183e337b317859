#include "common/parse.h"

#include <charconv>
#include <cmath>

#include "common/error.h"

namespace coracle {

uint64_t parse_uint(std::string_view text, std::string_view what) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw Error("invalid " + std::string(what) + " '" + std::string(text) + "': expected a number");
  return value;
}

static double parse_number_prefix(std::string_view text, size_t& used, std::string_view what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (i == 0 || ec != std::errc() || end != text.data() + i || !std::isfinite(value))
    throw Error("invalid " + std::string(what) + " '" + std::string(text) + "'");
  used = i;
  return value;
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  size_t used = 0;
  double value = parse_number_prefix(text, used, "duration");
  std::string_view unit = text.substr(used);
  double ms;
  if (unit.empty() || unit == "s")
    ms = value * 1e3;
  else if (unit == "ms")
    ms = value;
  else if (unit == "m")
    ms = value * 60e3;
  else if (unit == "h")
    ms = value * 3600e3;
  else
    throw Error("invalid duration '" + std::string(text) + "': use a unit of ms, s, m or h");
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

uint64_t parse_bytes(std::string_view text) {
  size_t used = 0;
  double value = parse_number_prefix(text, used, "size");
  std::string unit(text.substr(used));
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'b') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'i') unit.pop_back();
  double scale;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k")
    scale = 1024.0;
  else if (unit == "m")
    scale = 1024.0 * 1024;
  else if (unit == "g")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "t")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    throw Error("invalid size '" + std::string(text) + "': use a unit of k, m, g or t");
  return static_cast<uint64_t>(value * scale);
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(sep, start);
    parts.emplace_back(text.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::vector<std::string> parse_env_file(const std::string& text) {
  std::vector<std::string> env;
  for (auto line : split(text, '\n')) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("invalid env-file line '" + line + "': use K=V");
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0])
      value = value.substr(1, value.size() - 2);
    env.push_back(line.substr(0, eq + 1) + value);
  }
  return env;
}

void set_env(std::vector<std::string>& env, const std::string& entry) {
  auto key = entry.substr(0, entry.find('=') + 1);
  for (auto& e : env)
    if (e.compare(0, key.size(), key) == 0) {
      e = entry;
      return;
    }
  env.push_back(entry);
}

std::string trimmed(const std::string& text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1);
}

}  // namespace coracle

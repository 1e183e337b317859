#include "builder/dockerfile/dockerignore.h"

#include <cctype>
#include <cstdint>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::builder {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// filepath.Clean for relative '/'-paths: no empty or "." elements, ".."
// folded where it can be, no leading '/'.
std::string clean(std::string_view path) {
  std::vector<std::string> parts;
  for (const auto& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

// The UTF-8 character at s[i]: its code point, and in *len its bytes (1
// for a byte that starts no valid sequence). Patterns match characters, as
// Go's filepath.Match does, not bytes.
uint32_t decode(std::string_view s, size_t i, size_t* len) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? b : b & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) {
      *len = 1;
      return b;
    }
    cp = (cp << 6) | (c & 0x3f);
  }
  *len = n;
  return cp;
}

// One character class at pattern[i] ('[' ... ']'); returns whether the
// character c is in it and moves i past it. A malformed class matches
// nothing (DockerIgnore refuses it up front).
bool match_class(std::string_view pattern, size_t& i, uint32_t c) {
  size_t j = i + 1;
  bool negate = j < pattern.size() && (pattern[j] == '^' || pattern[j] == '!');
  if (negate) ++j;
  bool found = false, first = true;
  size_t len;
  while (j < pattern.size() && (pattern[j] != ']' || first)) {
    first = false;
    if (pattern[j] == '\\' && j + 1 < pattern.size()) ++j;
    uint32_t lo = decode(pattern, j, &len), hi = lo;
    j += len;
    if (j + 1 < pattern.size() && pattern[j] == '-' && pattern[j + 1] != ']') {
      ++j;
      if (pattern[j] == '\\' && j + 1 < pattern.size()) ++j;
      hi = decode(pattern, j, &len);
      j += len;
    }
    if (lo <= c && c <= hi) found = true;
  }
  if (j >= pattern.size()) return false;
  i = j + 1;
  return found != negate;
}

// Whether pattern is one Go's filepath.Match accepts: every class closed,
// no escape at the very end.
bool valid_pattern(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (++i >= p.size()) return false;
    } else if (p[i] == '[') {
      size_t j = i + 1;
      if (j < p.size() && (p[j] == '^' || p[j] == '!')) ++j;
      if (j < p.size() && p[j] == ']') ++j;  // a leading ']' is a member
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      if (j >= p.size()) return false;
      i = j;
    }
  }
  return true;
}

bool match_from(std::string_view p, size_t pi, std::string_view s, size_t si) {
  while (pi < p.size()) {
    char c = p[pi];
    if (c == '*' && pi + 1 < p.size() && p[pi + 1] == '*') {
      // "**/" matches any number of whole elements (none too); "**"
      // elsewhere matches anything, separators included.
      size_t rest = pi + 2;
      bool slash = rest < p.size() && p[rest] == '/';
      if (slash) ++rest;
      for (size_t k = si; k <= s.size(); ++k) {
        if (slash && k != si && s[k - 1] != '/') continue;
        if (match_from(p, rest, s, k)) return true;
      }
      return false;
    }
    if (c == '*') {
      for (size_t k = si; k <= s.size(); ++k) {
        if (match_from(p, pi + 1, s, k)) return true;
        if (k < s.size() && s[k] == '/') break;  // '*' stays inside one element
      }
      return false;
    }
    if (si >= s.size()) return false;
    size_t len;
    if (c == '?') {
      if (s[si] == '/') return false;
      decode(s, si, &len);
      ++pi;
      si += len;
      continue;
    }
    if (c == '[') {
      uint32_t ch = decode(s, si, &len);
      if (s[si] == '/' || !match_class(p, pi, ch)) return false;
      si += len;
      continue;
    }
    if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
    if (c != s[si]) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_from(pattern, 0, path, 0);
}

DockerIgnore::DockerIgnore(std::string_view text) {
  for (const auto& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    Rule rule;
    if (line[0] == '!') {
      rule.exception = true;
      line = trim(line.substr(1));
      // BuildKit fails the build on these rather than guess.
      if (line.empty()) throw Error("illegal exclusion pattern: \"!\"");
    }
    if (!valid_pattern(line)) throw Error("syntax error in pattern \"" + std::string(line) + "\"");
    rule.pattern = clean(line);
    if (rule.exception) has_exceptions_ = true;
    if (rule.pattern.empty()) continue;  // "/" or ".": nothing to match
    rules_.push_back(std::move(rule));
  }
}

bool DockerIgnore::may_include_under(std::string_view dir) const {
  if (!has_exceptions_) return false;
  std::vector<std::string> d = split(clean(dir), '/');
  for (const auto& rule : rules_) {
    if (!rule.exception) continue;
    std::vector<std::string> p = split(rule.pattern, '/');
    bool could = p.size() > d.size();
    for (size_t i = 0; could && i < d.size(); ++i) {
      if (p[i].find("**") != std::string::npos) break;  // any depth: it could
      could = glob_match(p[i], d[i]);
    }
    if (could || rule.pattern.find("**") != std::string::npos) return true;
  }
  return false;
}

bool DockerIgnore::excluded(std::string_view path) const {
  std::string cleaned = clean(path);
  bool excluded = false;
  for (const auto& rule : rules_) {
    // The path itself or any of its parents.
    bool matched = glob_match(rule.pattern, cleaned);
    for (size_t slash = cleaned.find('/'); !matched && slash != std::string::npos;
         slash = cleaned.find('/', slash + 1))
      matched = glob_match(rule.pattern, std::string_view(cleaned).substr(0, slash));
    if (matched) excluded = !rule.exception;
  }
  return excluded;
}

}  // namespace coracle::builder

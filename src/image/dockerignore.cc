#include "image/dockerignore.h"

#include <cctype>

#include "common/parse.h"

namespace coracle::image {
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

// One character class at pattern[i] ('[' ... ']'); returns whether c is in
// it and moves i past it. A malformed class matches nothing.
bool match_class(std::string_view pattern, size_t& i, char c) {
  size_t j = i + 1;
  bool negate = j < pattern.size() && (pattern[j] == '^' || pattern[j] == '!');
  if (negate) ++j;
  bool found = false, first = true;
  while (j < pattern.size() && (pattern[j] != ']' || first)) {
    first = false;
    char lo = pattern[j];
    if (lo == '\\' && j + 1 < pattern.size()) lo = pattern[++j];
    char hi = lo;
    if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
      hi = pattern[j + 2];
      if (hi == '\\' && j + 3 < pattern.size()) hi = pattern[++j + 2];
      j += 2;
    }
    if (lo <= c && c <= hi) found = true;
    ++j;
  }
  if (j >= pattern.size()) return false;
  i = j + 1;
  return found != negate;
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
    if (c == '?') {
      if (s[si] == '/') return false;
      ++pi;
      ++si;
      continue;
    }
    if (c == '[') {
      if (s[si] == '/' || !match_class(p, pi, s[si])) return false;
      ++si;
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
    }
    rule.pattern = clean(line);
    if (rule.pattern.empty()) continue;  // "/" or ".": nothing to match
    rules_.push_back(std::move(rule));
  }
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

}  // namespace coracle::image

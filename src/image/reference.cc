#include "image/reference.h"

#include <cctype>

#include "common/error.h"
#include "common/sha256.h"

namespace coracle::image {
namespace {

bool is_alnum_lower(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (is_alnum_lower(ch)) continue;
    if (ch == '.' || ch == '_' || ch == '-') {
      if (ch == '.' && !is_alnum_lower(c[i + 1])) return false;
      if (ch == '_' && c[i + 1] == '_' && !is_alnum_lower(c[i + 2])) return false;
      if (ch == '_' && c[i + 1] != '_' && !is_alnum_lower(c[i + 1])) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char c : t)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  return true;
}

bool valid_registry(std::string_view r) {
  if (r.empty()) return false;
  for (char c : r)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']'))
      return false;
  return true;
}

}  // namespace

std::string Reference::name() const {
  return registry + "/" + repository;
}

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::api_host() const {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

Reference parse_reference(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error("invalid image reference '" + std::string(text) + "': " + why);
  };
  if (text.empty()) throw bad("empty");
  if (text.size() > 512) throw bad("longer than 512 characters");
  Reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    if (!is_sha256_digest(ref.digest)) throw bad("the digest must be sha256: and 64 hex digits");
    rest = rest.substr(0, at);
  }
  // The tag is after the last ':' that comes after the last '/', so a
  // registry port ("localhost:5000/x") is not taken for a tag.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    if (!valid_tag(ref.tag)) throw bad("invalid tag '" + ref.tag + "'");
    rest = rest.substr(0, colon);
  }
  // The first component names a registry if it looks like a host.
  auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, first_slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost") {
      ref.registry = std::string(first);
      if (!valid_registry(ref.registry)) throw bad("invalid registry '" + ref.registry + "'");
      rest = rest.substr(first_slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io") ref.registry = "docker.io";
  if (rest.empty()) throw bad("no repository name");
  std::string_view walk = rest;
  while (true) {
    auto s = walk.find('/');
    std::string_view comp = walk.substr(0, s);
    if (!valid_component(comp))
      throw bad("'" + std::string(comp) +
                "' is not a valid name component (lowercase letters, digits and . _ -)");
    if (s == std::string_view::npos) break;
    walk = walk.substr(s + 1);
  }
  ref.repository = std::string(rest);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

bool looks_like_reference(std::string_view text) {
  try {
    parse_reference(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace coracle::image

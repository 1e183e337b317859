#include "cli/aliases.h"

#include <algorithm>
#include <map>

namespace coracle::cli {
namespace {

// podman's word → coracle's.
const std::map<std::string, std::vector<std::string>>& aliases() {
  static const std::map<std::string, std::vector<std::string>> kAliases = {
      {"pull", {"image", "pull"}},       {"push", {"image", "push"}},
      {"images", {"image", "ls"}},       {"rmi", {"image", "rm"}},
      {"save", {"image", "export"}},     {"load", {"image", "import"}},
      {"inspect", {"image", "inspect"}}, {"version", {"--version"}}};
  return kAliases;
}

// What a podman user may type that coracle does differently: the answer
// says where to go.
const std::map<std::string, std::string>& podman_only() {
  static const std::map<std::string, std::string> kHints = {
      {"ps", "coracle keeps no containers: a sandbox lives as long as `coracle exec` runs"},
      {"start", "coracle keeps no containers: `coracle exec IMAGE` runs one to its end"},
      {"stop", "coracle keeps no containers: Ctrl-C or a signal to `coracle exec` ends one"},
      {"rm", "images are removed with `coracle image rm` (or `rmi`)"},
      {"container", "coracle keeps no containers: `coracle exec IMAGE -- COMMAND` runs one"},
  };
  return kHints;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::vector<std::pair<std::string, std::string>> alias_table() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [word, expansion] : aliases()) {
    std::string meaning;
    for (const auto& w : expansion) meaning += (meaning.empty() ? "" : " ") + w;
    out.emplace_back(word, meaning);
  }
  return out;
}

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> kNames = {"exec", "image",      "build", "run",
                                                  "app",  "assistants", "login", "logout"};
  return kNames;
}

bool is_global_flag(const std::string& arg, bool* takes_value) {
  static const struct {
    const char* name;
    bool value;
  } kFlags[] = {{"--root", true},           {"--max-entry-size", true},
                {"--storage-driver", true}, {"--log-level", true},
                {"--help", false},          {"-h", false},
                {"--version", false},       {"-v", false}};
  std::string name = arg.substr(0, arg.find('='));
  for (const auto& f : kFlags) {
    if (name != f.name) continue;
    if (takes_value) *takes_value = f.value && arg.find('=') == std::string::npos;
    return true;
  }
  return false;
}

int command_index(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") return -1;
    // A global option's value given as the next word is not the command.
    bool takes_value = false;
    if (is_global_flag(a, &takes_value) && takes_value) {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> expand_alias(std::vector<std::string> args, int index) {
  if (index < 0) return args;
  auto it = aliases().find(args[static_cast<size_t>(index)]);
  if (it == aliases().end()) return args;
  args.erase(args.begin() + index);
  args.insert(args.begin() + index, it->second.begin(), it->second.end());
  return args;
}

std::optional<std::string> unknown_command(const std::string& word) {
  const auto& names = command_names();
  if (std::find(names.begin(), names.end(), word) != names.end() || aliases().count(word))
    return std::nullopt;
  std::string message = "unknown command '" + word + "'";
  if (auto hint = podman_only().find(word); hint != podman_only().end())
    return message + ": " + hint->second + "\nSee 'coracle --help'.";
  // The nearest words: a typo (two edits at most) or a prefix.
  std::vector<std::string> near;
  for (const auto& [alias, _] : aliases()) (void)_, near.push_back(alias);
  near.insert(near.end(), names.begin(), names.end());
  std::vector<std::string> suggestions;
  for (const auto& n : near)
    if (edit_distance(word, n) <= 2 || (word.size() >= 2 && n.rfind(word, 0) == 0))
      suggestions.push_back(n);
  std::sort(suggestions.begin(), suggestions.end(), [&](const auto& a, const auto& b) {
    return edit_distance(word, a) < edit_distance(word, b);
  });
  if (!suggestions.empty()) {
    message += "\nDid you mean";
    for (size_t i = 0; i < suggestions.size() && i < 3; ++i)
      message += (i ? ", '" : " '") + suggestions[i] + "'";
    message += "?";
  }
  return message + "\nSee 'coracle --help'.";
}

}  // namespace coracle::cli

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
  static const std::string kNoContainers = "coracle keeps no containers: ";
  static const std::map<std::string, std::string> kHints = {
      {"ps", kNoContainers + "a sandbox lives as long as `coracle exec` runs"},
      {"start", kNoContainers + "`coracle exec IMAGE` runs one to its end"},
      {"stop", kNoContainers + "Ctrl-C or a signal to `coracle exec` ends one"},
      {"kill", kNoContainers + "a signal to `coracle exec` is passed on to its command"},
      {"restart", kNoContainers + "`coracle exec IMAGE` runs one to its end; run it again"},
      {"logs", kNoContainers + "a command's output is `coracle exec`'s own (--json: as events)"},
      {"attach", kNoContainers + "`coracle exec -it IMAGE` gives a command your terminal"},
      {"wait", kNoContainers + "`coracle exec` returns with its command's status"},
      {"top", kNoContainers + "a sandbox's processes are the host's, under `coracle exec`"},
      {"pause", kNoContainers + "coracle-runc pause ID pauses an OCI runtime's container"},
      {"unpause", kNoContainers + "coracle-runc resume ID"},
      {"port", "ports are reported as they open: `coracle exec -P IMAGE` forwards them"},
      {"cp", "`coracle exec --in DIR --out DIR` (or -v SRC:DST) shares folders with a sandbox"},
      {"create", kNoContainers + "`coracle exec IMAGE` runs one to its end"},
      {"rm", "images are removed with `coracle image rm` (or `rmi`)"},
      {"container", kNoContainers + "`coracle exec IMAGE -- COMMAND` runs one"},
  };
  return kHints;
}

// Edits from a to b (insert, delete, replace, or swap two neighbours: the
// optimal string alignment distance, so "biuld" is one from "build").
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? 1 : 0)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// A typo of name: one edit in a short word, two in a longer one (so that
// "logs" is not "load" and "kill" is not "pull"), or its start.
bool looks_like(const std::string& word, const std::string& name) {
  size_t allowed = word.size() <= 4 ? 1 : 2;
  return edit_distance(word, name) <= allowed || (word.size() >= 2 && name.rfind(word, 0) == 0);
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
  static const std::vector<std::string> kNames = {"exec",       "image", "build",  "run",   "app",
                                                  "assistants", "login", "logout", "volume"};
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
  // The nearest of the words coracle answers: its commands, podman's
  // that it takes, podman's that it answers with a pointer.
  std::vector<std::string> near(names.begin(), names.end());
  for (const auto& [alias, _] : aliases()) (void)_, near.push_back(alias);
  for (const auto& [podman, _] : podman_only()) (void)_, near.push_back(podman);
  std::vector<std::string> suggestions;
  for (const auto& n : near)
    if (looks_like(word, n)) suggestions.push_back(n);
  std::stable_sort(suggestions.begin(), suggestions.end(), [&](const auto& a, const auto& b) {
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

// What the command line means before CLI11 reads it: podman's short forms
// (`coracle pull X` is `coracle image pull X`, `images` is `image ls`, ...)
// and, for a word that is no command, an answer that names the nearest
// ones instead of CLI11's "A subcommand is required".
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace coracle::cli {

// coracle's own top-level commands.
const std::vector<std::string>& command_names();

// podman's words coracle takes, each with what it stands for
// ("images" → "image ls"), for completions and the man page.
std::vector<std::pair<std::string, std::string>> alias_table();

// args (without argv[0], in order) with a podman alias at the command's
// place replaced by coracle's words. command_index: where the command word
// is (-1: none).
std::vector<std::string> expand_alias(std::vector<std::string> args, int command_index);

// Is arg (a word before the command, "--root" or "--root=X") one of
// coracle's global options? takes_value: it is given as two words.
bool is_global_flag(const std::string& arg, bool* takes_value = nullptr);

// Where the command word is in args: the first word that is not an option
// or an option's value (-1 when there is none before "--").
int command_index(const std::vector<std::string>& args);

// For a word that is neither a command nor an alias: "unknown command
// 'ps'" with the nearest commands and what to do; nullopt when word is one.
std::optional<std::string> unknown_command(const std::string& word);

}  // namespace coracle::cli

// The shell completions (bash, zsh) and the man page, generated from the
// CLI11 command tree itself, so they never drift from the flags: the build
// runs `coracle --generate bash|zsh|man [FILE]` and `make install` puts the files
// where bash-completion, zsh and man look for them.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace coracle::cli {

// "bash", "zsh" or "man" for app (every command registered). Throws
// coracle::Error for another kind.
std::string generate_docs(const std::string& kind, CLI::App& app, const std::string& version);

}  // namespace coracle::cli

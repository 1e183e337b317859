// The CLI's commands: each registers a CLI11 subcommand and runs it. The
// logic lives in the modules; these only translate flags and print results.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace coracle::cli {

struct GlobalOptions {
  std::string root;  // --root; empty: CORACLE_ROOT or the default
  // What followed the first "--" on the command line.
  bool has_command = false;
  std::vector<std::string> command;
  std::string store_root() const;
};

// Registers `exec` and returns the function that runs it (its exit status).
std::function<int()> add_exec_command(CLI::App& app, const GlobalOptions& global);
// Registers `image` (import, ls, inspect, tag, rm, unpack).
std::function<int()> add_image_command(CLI::App& app, const GlobalOptions& global);

}  // namespace coracle::cli

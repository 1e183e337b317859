// The CLI's commands: each registers a CLI11 subcommand and runs it. The
// logic lives in the modules; these only translate flags and print results.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "launch/launch.h"

namespace coracle::cli {

struct GlobalOptions {
  std::string root;  // --root; empty: CORACLE_ROOT or the default
  // --storage-driver: "overlay", "vfs" (a flattened copy per run), or empty
  // for CORACLE_STORAGE_DRIVER, else overlay where the kernel has it.
  std::string storage_driver;
  bool use_overlay() const;
  // What followed the first "--" on the command line.
  bool has_command = false;
  std::vector<std::string> command;
  std::string store_root() const;
};

// What killed runs left (a dead runner's cgroup and what still runs in it,
// a killed build's work dir under ROOT/tmp), removed at the start of every
// command: two directory reads when there is nothing to remove.
void sweep_leftovers(const GlobalOptions& global);

// How to reach registries: shared by `image pull`, `exec` (which pulls a
// missing image) and `login`.
struct RegistryFlags {
  std::string platform, ca;
  bool insecure = false;
};
void add_registry_flags(CLI::App* command, RegistryFlags& flags, bool with_platform = true);
// --dns, --dns-search, --dns-option, --add-host (podman's), one value per
// occurrence: exec's, build's (for RUN) and run's (the app, its steps and
// builds).
void add_etc_flags(CLI::App* command, launch::EtcOptions& etc);
// Pulls ref into the store at root with progress on stderr (or JSON events
// on stdout); returns the name it is stored under.
// artifact_type: pull an artifact of that type instead of an image.
std::string pull_with_progress(const std::string& root, const std::string& ref,
                               const RegistryFlags& flags, bool json,
                               const std::string& artifact_type = "");

// --json / --json-fd: the event stream of `command` ("image pull") on fd
// (-1: stdout). Throws coracle::Error for an fd that is not open.
void open_event_stream(const std::string& command, int fd = -1);

// Registers `exec` and returns the function that runs it (its exit status).
std::function<int()> add_exec_command(CLI::App& app, const GlobalOptions& global);
// Registers `image` (pull, import, ls, inspect, tag, rm, gc, export, unpack).
std::function<int()> add_image_command(CLI::App& app, const GlobalOptions& global);
// Registers `build`.
std::function<int()> add_build_command(CLI::App& app, const GlobalOptions& global);
// Registers `run`, `app assistant` and `assistants list|push|rm`.
std::function<int()> add_run_command(CLI::App& app, const GlobalOptions& global);
// Registers `volume` (create, ls, inspect, rm, prune).
std::function<int()> add_volume_command(CLI::App& app, const GlobalOptions& global);

// Registers `login` and `logout`.
std::function<int()> add_login_command(CLI::App& app, const GlobalOptions& global);

}  // namespace coracle::cli

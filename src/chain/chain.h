// The assistant chain (the main job): assistants run one after another on
// an app folder, each in its own sandbox with /in (the app and its state,
// read-only) and /out (what it makes), each naming the next; builtin:exec
// finally runs the app with its ports found and forwarded. The ABI is
// Ayup's (../shared/DESIGN.md); this module calls sandbox, image and
// portmon for everything it does.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "builder/builder.h"
#include "sandbox/sandbox.h"

namespace coracle::chain {

// The caller's pip settings builtin:python passes on as build secrets.
inline constexpr const char* kPipSettings[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                                               "PIP_TRUSTED_HOST"};

struct ChainOptions {
  std::string app_dir;
  // --assistant: a name (builtin:, local:, remote:) or an assistant folder;
  // else APP/.ayup/first, else auto-detection.
  std::string assistant;
  int max_steps = 64;
  std::string output_dir;  // write the result here instead of into APP
  // --changes: one archive per step of what it changed in the app
  // (DIR/step-N.tar.zst; step_changes.h).
  std::string changes_dir;
  // --timeout: the whole run, every step, build and the app, from the
  // start of run_chain (0: none). run_chain sets deadline from it.
  std::chrono::milliseconds timeout{0};
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::vector<std::string> publish;  // -p for builtin:exec
  bool vm = false;                   // builtin:exec runs the app in a micro-VM
  // The steps' and the app's network: their own namespace with outbound
  // access (never the host's, whose 127.0.0.1 services and abstract
  // sockets a step must not reach), unless the user asks.
  sandbox::NetMode net = sandbox::NetMode::Pasta;
  // --dns, --dns-search, --dns-option, --add-host: the steps', the app's
  // and the builds' RUN's (which also take net).
  launch::EtcOptions etc;
  // -e/--env-file and -v: the app's (builtin:exec) only. Over the image's
  // environment; binds beside the app's own.
  std::vector<std::string> app_env;
  std::vector<sandbox::BindMount> app_volumes;
  // The entitlements the user grants the chain's builds (--allow): a
  // Dockerfile of the app's or an assistant's takes none by itself.
  builder::BuildOptions::Entitlements build_allow;
  // Each step's and the app's writable layer and /tmp as tmpfs mounts of
  // these sizes; 0: on disk under the store (launch::put_writable_layer_on_disk).
  uint64_t upper_size_bytes = 0, tmp_size_bytes = 0;
  std::string store_root;
  std::string remote_dir;  // bundled assistants
  bool use_overlay = true;
  // Pulls a reference that is not in the store (may throw).
  std::function<void(const std::string& ref)> fetch_image;
  // The same for an assistant artifact (oci:REF).
  std::function<void(const std::string& ref)> fetch_assistant;
  // One event of the stream per call (step.start, log, port.*, step.end,
  // ...: docs/events.md); the caller ends the stream with the result.
  std::function<void(const nlohmann::json&)> on_event;
  // The same for people, where a line says it better than the JSON can
  // be rendered (ports: "port 5000/tcp open → 127.0.0.1:5000").
  std::function<void(const std::string&)> on_text;
  // Written to state/version when the app has none (the tool that made it).
  std::string version;
  // Asked before installing what the user did not list (builtin:python's
  // requirements guessed from the app's imports): the question and its
  // default; returns the answer. Unset: the default.
  std::function<bool(const std::string& question, bool default_yes)> ask;
  // The caller's package index (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
  // PIP_TRUSTED_HOST): secrets of builtin:python's pip install (an index
  // URL can carry a password), never in a layer or the cache key.
  std::map<std::string, std::string> pip_settings;
  // builtin:python's base image (Ayup's): pulled when missing.
  std::string python_image = "docker.io/library/python:3.12-slim";
  // Where steps' output goes live (the terminal); -1 for nowhere.
  int output_fd = 2;
};

struct ChainResult {
  int exit_code = 0;  // 0, the app's own status, or 125
  int steps = 0;
  std::optional<int> app_exit_code;  // builtin:exec ran the app
  std::string written_to;            // the app folder, or --output
};

// Runs the chain. A failed step, an ABI error or --max-steps throws
// coracle::Error naming the step (exit 125, or the step's own status where
// that is the cause) and writes nothing back.
ChainResult run_chain(const ChainOptions& options);

// APP/.ayup/first: read (empty when unset) or write it.
std::string first_assistant(const std::string& app_dir);
void set_first_assistant(const std::string& app_dir, const std::string& name);

}  // namespace coracle::chain

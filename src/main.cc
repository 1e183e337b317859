// coracle: pull and unpack OCI images without a daemon, run assistant chains
// in Linux namespaces, and run apps under a port-monitoring exec backend.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cli/aliases.h"
#include "cli/commands.h"
#include "cli/docs_gen.h"
#include "cli/events.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/terminal_text.h"
#include "image/layer_unpack.h"
#include "oci_runtime/runtime_cli.h"
#include "vm/agent.h"

#ifndef CORACLE_VERSION
#define CORACLE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  // Inside a micro-VM, the guest kernel runs this binary as its init.
  if (coracle::vm::is_guest_init(argc, argv)) coracle::vm::agent_main();
  // Called as coracle-runc: the OCI runtime's command line.
  if (argc > 0 && coracle::oci_runtime::is_runtime_name(argv[0]))
    return coracle::oci_runtime::runtime_main(argc, argv);
  CLI::App app{"coracle: run OCI images and assistant chains in Linux namespaces, no daemon"};
  app.name("coracle");
  app.set_version_flag("-v,--version", "coracle " CORACLE_VERSION);
  app.footer(
      "podman's short forms work too: pull, push, images, rmi, save, load, inspect (the image "
      "commands) and version.");
  app.require_subcommand(1);
  coracle::cli::GlobalOptions global;
  app.add_option("--root", global.root,
                 "Store directory (default /var/lib/coracle as root, "
                 "$XDG_DATA_HOME/coracle rootless; or CORACLE_ROOT)");
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "error, warn (default), info, or debug: what coracle is doing, step by step, "
                 "on stderr (or CORACLE_LOG_LEVEL)")
      ->check(CLI::IsMember({"error", "warn", "warning", "info", "debug", "trace"}));
  std::string max_entry;
  app.add_option("--max-entry-size", max_entry,
                 "Refuse image layers holding a file larger than this (default 64g, or "
                 "CORACLE_MAX_ENTRY_SIZE)");
  app.add_option("--storage-driver", global.storage_driver,
                 "overlay (default where the kernel has it) or vfs (images run on a flattened "
                 "copy; or CORACLE_STORAGE_DRIVER)")
      ->check(CLI::IsMember({"overlay", "vfs"}));
  // podman's short forms become coracle's words; a word that is no
  // command gets an answer naming the nearest ones. Only the named
  // command's options are registered: registering every command's costs
  // ~0.1 ms, paid by each exec (docs/benchmarks.md).
  std::vector<std::string> words(argv + 1, argv + argc);
  // The build's own use: completions and the man page from the full tree.
  std::string generate, generate_to;
  if ((words.size() == 2 || words.size() == 3) && words[0] == "--generate") {
    generate = words[1];
    if (words.size() == 3) generate_to = words[2];
    words.clear();
  }
  int at = coracle::cli::command_index(words);
  words = coracle::cli::expand_alias(std::move(words), at);
  // The version alone (podman's `version` too) builds no command tree: it
  // is what people time as the binary's own start.
  if (words.size() == 1 && (words[0] == "--version" || words[0] == "-v")) {
    fputs("coracle " CORACLE_VERSION "\n", stdout);
    return 0;
  }
  std::string named;
  if (at >= 0 && words[static_cast<size_t>(at)] != "--version") {  // not `coracle version`
    if (auto unknown = coracle::cli::unknown_command(words[static_cast<size_t>(at)])) {
      coracle::print_error(*unknown);
      return coracle::kExitInternal;
    }
    named = words[static_cast<size_t>(at)];
  } else if (at < 0) {
    for (const auto& w : words) {
      if (w == "--") break;
      if (!w.empty() && w[0] == '-' && !coracle::cli::is_global_flag(w)) {
        coracle::print_error("unknown flag '" + w + "'" +
                             (w == "-V" ? "\nDid you mean '--version' (or -v)?" : "") +
                             "\nSee 'coracle --help'.");
        return coracle::kExitInternal;
      }
    }
  }
  // --json asks for the event stream: opened before parsing, so that a
  // usage error ends the stream with an error event too.
  if (!named.empty()) {
    std::string command = named;
    bool json = false;
    for (size_t i = static_cast<size_t>(at) + 1; i < words.size() && words[i] != "--"; ++i) {
      if (words[i] == "--json") json = true;
      if ((named == "image" || named == "assistants") && command == named && words[i][0] != '-')
        command += " " + words[i];
    }
    if (json && coracle::cli::events::is_streamed_command(command))
      coracle::cli::events::open(command);
  }
  auto wanted = [&](std::initializer_list<const char*> names) {
    if (named.empty()) return true;
    for (const char* n : names)
      if (named == n) return true;
    return false;
  };
  std::function<int()> exec, image, build, chain, login, volume;
  if (wanted({"exec"})) exec = coracle::cli::add_exec_command(app, global);
  if (wanted({"image"})) image = coracle::cli::add_image_command(app, global);
  if (wanted({"build"})) build = coracle::cli::add_build_command(app, global);
  if (wanted({"run", "app", "assistants"})) chain = coracle::cli::add_run_command(app, global);
  if (wanted({"login", "logout"})) login = coracle::cli::add_login_command(app, global);
  if (wanted({"volume"})) volume = coracle::cli::add_volume_command(app, global);
  if (!generate.empty()) {
    try {
      std::string text = coracle::cli::generate_docs(generate, app, CORACLE_VERSION);
      if (generate_to.empty())
        fputs(text.c_str(), stdout);
      else
        coracle::write_file_atomic(generate_to, text);
      return 0;
    } catch (const coracle::Error& e) {
      coracle::print_error(e.what());
      return coracle::kExitInternal;
    }
  }
  // Everything after the first "--" is the command, verbatim: CLI11 would
  // otherwise hand it to the first positional (the image).
  std::vector<std::string> args(words.rbegin(), words.rend());  // CLI11 wants them reversed
  for (size_t i = args.size(); i-- > 0;) {
    if (args[i] != "--") continue;
    global.command.assign(args.rbegin() + static_cast<long>(args.size() - i), args.rend());
    global.has_command = true;
    args.erase(args.begin(), args.begin() + static_cast<long>(i) + 1);
    break;
  }
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a usage error is coracle's failure: 125.
    int code = app.exit(e);
    if (code != 0) coracle::cli::events::error(coracle::kExitInternal, e.what());
    return code == 0 ? 0 : coracle::kExitInternal;
  }
  int status = 0;
  try {
    if (!log_level.empty()) coracle::set_log_level(coracle::parse_log_level(log_level));
    if (coracle::debug_enabled()) {
      std::string line = "coracle " CORACLE_VERSION ":";
      for (const auto& w : words) line += " " + w;
      coracle::log_debug(line);
      coracle::log_debug("store " + global.store_root() +
                         (global.use_overlay() ? " (overlay)" : " (vfs)"));
    }
    if (!max_entry.empty()) coracle::image::set_max_entry_size(coracle::parse_bytes(max_entry));
    coracle::cli::sweep_leftovers(global);
    if (exec && app.got_subcommand("exec")) status = exec();
    if (image && app.got_subcommand("image")) status = image();
    if (build && app.got_subcommand("build")) status = build();
    if (chain)
      for (const char* name : {"run", "app", "assistants"})
        if (app.got_subcommand(name)) status = chain();
    if (login && (app.got_subcommand("login") || app.got_subcommand("logout"))) status = login();
    if (volume && app.got_subcommand("volume")) status = volume();
  } catch (const coracle::Error& e) {
    coracle::print_error(e.what());
    coracle::cli::events::error(e.exit_code(), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    coracle::print_error(std::string("internal error: ") + e.what());
    coracle::cli::events::error(coracle::kExitInternal, std::string("internal error: ") + e.what());
    return coracle::kExitInternal;
  }
  // A command that has no result of its own to tell still ends its stream
  // with one (nothing is written when it did).
  coracle::cli::events::result({{"exit_code", status}});
  return status;
}

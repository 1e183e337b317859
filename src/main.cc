// coracle: pull and unpack OCI images without a daemon, run assistant chains
// in Linux namespaces, and run apps under a port-monitoring exec backend.
#include <cstdio>
#include <cstring>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"
#include "common/parse.h"
#include "image/layer_unpack.h"

#ifndef CORACLE_VERSION
#define CORACLE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"coracle: run OCI images and assistant chains in Linux namespaces, no daemon"};
  app.name("coracle");
  app.set_version_flag("--version", "coracle " CORACLE_VERSION);
  app.require_subcommand(1);
  coracle::cli::GlobalOptions global;
  app.add_option("--root", global.root,
                 "Store directory (default /var/lib/coracle as root, "
                 "$XDG_DATA_HOME/coracle rootless; or CORACLE_ROOT)");
  std::string max_entry;
  app.add_option("--max-entry-size", max_entry,
                 "Refuse image layers holding a file larger than this (default 64g, or "
                 "CORACLE_MAX_ENTRY_SIZE)");
  app.add_option("--storage-driver", global.storage_driver,
                 "overlay (default where the kernel has it) or vfs (images run on a flattened "
                 "copy; or CORACLE_STORAGE_DRIVER)")
      ->check(CLI::IsMember({"overlay", "vfs"}));
  auto exec = coracle::cli::add_exec_command(app, global);
  auto image = coracle::cli::add_image_command(app, global);
  auto build = coracle::cli::add_build_command(app, global);
  auto chain = coracle::cli::add_run_command(app, global);
  auto login = coracle::cli::add_login_command(app, global);
  // Everything after the first "--" is the command, verbatim: CLI11 would
  // otherwise hand it to the first positional (the image).
  std::vector<std::string> args;
  for (int i = argc - 1; i > 0; --i) args.emplace_back(argv[i]);  // CLI11 wants them reversed
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
    return code == 0 ? 0 : coracle::kExitInternal;
  }
  try {
    if (!max_entry.empty()) coracle::image::set_max_entry_size(coracle::parse_bytes(max_entry));
    if (app.got_subcommand("exec")) return exec();
    if (app.got_subcommand("image")) return image();
    if (app.got_subcommand("build")) return build();
    for (const char* name : {"run", "app", "assistants"})
      if (app.got_subcommand(name)) return chain();
    if (app.got_subcommand("login") || app.got_subcommand("logout")) return login();
  } catch (const coracle::Error& e) {
    fprintf(stderr, "coracle: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    fprintf(stderr, "coracle: internal error: %s\n", e.what());
    return coracle::kExitInternal;
  }
  return 0;
}

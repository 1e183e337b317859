#include <fcntl.h>

#include <cstdlib>

#include "cli/commands.h"
#include "cli/events.h"
#include "common/error.h"
#include "common/store_root.h"
#include "image/store_tmp.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

std::string GlobalOptions::store_root() const {
  return root.empty() ? default_store_root() : root;
}

bool GlobalOptions::use_overlay() const {
  std::string driver = storage_driver;
  if (driver.empty())
    if (const char* env = getenv("CORACLE_STORAGE_DRIVER")) driver = env;
  if (driver == "vfs") return false;
  if (driver == "overlay") return true;
  if (!driver.empty()) throw Error("CORACLE_STORAGE_DRIVER='" + driver + "': use overlay or vfs");
  return sandbox::overlay_supported();
}

void sweep_leftovers(const GlobalOptions& global) {
  try {
    sandbox::sweep_leftovers();
    image::sweep_dead_tmp(global.store_root());
  } catch (const Error&) {
    // Best effort: a command is never stopped by another's leftovers.
  }
}

void add_etc_flags(CLI::App* cmd, launch::EtcOptions& etc) {
  cmd->add_option("--dns", etc.dns, "A nameserver for /etc/resolv.conf instead of the host's")
      ->allow_extra_args(false);
  cmd->add_option("--dns-search", etc.dns_search,
                  "A search domain for /etc/resolv.conf instead of the host's ('.' for none)")
      ->allow_extra_args(false);
  cmd->add_option("--dns-option", etc.dns_options,
                  "An option for /etc/resolv.conf (ndots:2, timeout:1) instead of the host's")
      ->allow_extra_args(false);
  cmd->add_option("--add-host", etc.add_hosts, "A NAME:IP line for /etc/hosts")
      ->allow_extra_args(false);
}

void open_event_stream(const std::string& command, int fd) {
  // A command missing from the list would lose its early error events.
  if (!events::is_streamed_command(command))
    throw Error("internal error: '" + command + "' is not a streamed command");
  if (fd < 0) fd = 1;
  if (fd == 0 || fcntl(fd, F_GETFL) < 0)
    throw Error("--json-fd " + std::to_string(fd) + ": not an open fd to write to");
  // Before anything can fail: even a bad flag value ends the stream with
  // an error event.
  events::open(command, fd);
}

}  // namespace coracle::cli

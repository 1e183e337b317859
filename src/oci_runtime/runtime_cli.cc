#include "oci_runtime/runtime_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/terminal_text.h"
#include "oci_runtime/config.h"
#include "oci_runtime/documents.h"
#include "oci_runtime/lifecycle.h"
#include "oci_runtime/state.h"

#ifndef CORACLE_VERSION
#define CORACLE_VERSION "0.0.0"
#endif

namespace coracle::oci_runtime {
namespace {

using nlohmann::json;

struct Globals {
  std::string root = default_state_root();
  std::string log, log_format = "text";
  bool debug = false, systemd_cgroup = false;
};

// Errors as runc reports them: on stderr, and in --log (containerd reads
// that file, in JSON with --log-format json, when a call fails).
void report(const Globals& g, const std::string& message) {
  // A message may quote the bundle's config.json: the engine's user's
  // terminal sees it only through the sanitiser.
  fprintf(stderr, "coracle-runc: %s\n", terminal_safe(message).c_str());
  if (g.log.empty()) return;
  char when[64];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line = g.log_format == "json"
                         ? json({{"level", "error"}, {"msg", message}, {"time", when}}).dump()
                         : std::string("time=\"") + when + "\" level=error msg=\"" + message + "\"";
  line += "\n";
  FILE* f = fopen(g.log.c_str(), "a");
  if (!f) return;
  fputs(line.c_str(), f);
  fclose(f);
}

int signal_number(std::string name) {
  if (name.empty()) return SIGTERM;
  if (isdigit(static_cast<unsigned char>(name[0]))) {
    int n = std::stoi(name);
    if (n <= 0 || n >= NSIG) throw Error("invalid signal " + name);
    return n;
  }
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (int n = 1; n < NSIG; ++n)
    if (const char* abbrev = sigabbrev_np(n); abbrev && name == abbrev) return n;
  throw Error("invalid signal " + name);
}

}  // namespace

bool is_runtime_name(const char* argv0) {
  const char* base = strrchr(argv0, '/');
  base = base ? base + 1 : argv0;
  return strcmp(base, "coracle-runc") == 0;
}

int runtime_main(int argc, char** argv) {
  CLI::App app{"coracle-runc: coracle as an OCI runtime (runc's command line)"};
  app.name("coracle-runc");
  app.set_version_flag("-v,--version", "coracle-runc version " CORACLE_VERSION "\nspec: 1.0.2");
  app.require_subcommand(1);
  Globals g;
  app.add_option("--root", g.root, "Where container state is kept");
  app.add_option("--log", g.log, "Also write errors to this file");
  app.add_option("--log-format", g.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", g.debug, "More messages");
  app.add_flag("--systemd-cgroup", g.systemd_cgroup, "Refused: coracle-runc manages cgroupfs");
  std::string criu, rootless_global;
  app.add_option("--criu", criu, "Ignored (no checkpoint support)");
  app.add_option("--rootless", rootless_global, "Ignored: the config decides");

  std::string id, bundle = ".", signal_name, format = "table";
  bool force = false, rootless = false, quiet = false, all = false;
  auto* spec = app.add_subcommand("spec", "Write a config.json to start from");
  spec->add_option("-b,--bundle", bundle, "Where to write it");
  spec->add_flag("--rootless", rootless, "For a plain user: a user namespace, fewer mounts");
  app.add_subcommand("features", "What this runtime supports, as JSON");
  auto* state = app.add_subcommand("state", "A container's state, as JSON");
  state->add_option("id", id)->required();
  auto* list = app.add_subcommand("list", "The containers");
  list->add_option("-f,--format", format)->check(CLI::IsMember({"table", "json"}));
  list->add_flag("-q,--quiet", quiet, "Only ids");
  auto* kill_cmd = app.add_subcommand("kill", "Send a signal to a container's init");
  kill_cmd->add_option("id", id)->required();
  kill_cmd->add_option("signal", signal_name, "Default SIGTERM");
  kill_cmd->add_flag("-a,--all", all, "Every process of the container");
  auto* del = app.add_subcommand("delete", "Remove a stopped container");
  del->add_option("id", id)->required();
  del->add_flag("-f,--force", force, "Kill it first if it runs");
  CreateOptions run_flags;
  // create's flags (runc's), which run takes too.
  auto create_flags = [&](CLI::App* c) {
    c->add_option("id", id)->required();
    c->add_option("-b,--bundle", run_flags.bundle, "The bundle (default .)");
    c->add_option("--pid-file", run_flags.pid_file, "Write the init's pid here");
    c->add_option("--console-socket", run_flags.console_socket,
                  "A unix socket that gets the terminal's master (process.terminal)");
    c->add_flag("--no-pivot", run_flags.no_pivot, "Ignored: coracle always pivots");
    c->add_flag("--no-new-keyring", run_flags.no_new_keyring, "Ignored");
    c->add_option("--preserve-fds", run_flags.preserve_fds,
                  "Pass fds 3 .. 3+N-1 of this call on to the container's process");
  };
  auto* run = app.add_subcommand("run", "Create and start a container (foreground, or -d)");
  create_flags(run);
  run->add_flag("-d,--detach", run_flags.detach, "Return once it has started");
  run->add_flag("--keep", run_flags.keep, "Keep the state after it ends");
  auto* create = app.add_subcommand("create", "Set a container up; `start` runs its process");
  create_flags(create);
  auto* start = app.add_subcommand("start", "Run a created container's process");
  start->add_option("id", id)->required();
  // What comes next (issue 18): runc's commands parse and say so, rather
  // than being unknown.
  std::vector<CLI::App*> later;
  ExecOptions exec_opts;
  auto* exec = app.add_subcommand("exec", "Run another process in a running container");
  exec->add_option("id", id)->required();
  // runc's shape: exec [options] ID COMMAND [ITS OPTIONS...]: what follows
  // the id is the command's.
  exec->prefix_command();
  exec->add_option("-p,--process", exec_opts.process_file, "A process.json");
  exec->add_option("--cwd", exec_opts.cwd, "Working directory");
  exec->add_option("-e,--env", exec_opts.env, "K=V (repeatable)")->allow_extra_args(false);
  exec->add_option("--pid-file", exec_opts.pid_file, "With --detach: the process's pid");
  exec->add_flag("-d,--detach", exec_opts.detach, "Return once it runs");
  exec->add_option("--preserve-fds", exec_opts.preserve_fds,
                   "Pass fds 3 .. 3+N-1 of this call on to the process");
  exec->add_flag("-t,--tty", exec_opts.tty, "A terminal (its master goes to --console-socket)");
  exec->add_option("--console-socket", exec_opts.console_socket,
                   "A unix socket that takes the terminal's master (runc's protocol)");
  auto* pause = app.add_subcommand("pause", "Freeze every process of a running container");
  pause->add_option("id", id)->required();
  auto* resume = app.add_subcommand("resume", "Thaw a paused container");
  resume->add_option("id", id)->required();
  auto* ps = app.add_subcommand("ps", "The processes of a container");
  ps->add_option("id", id)->required();
  std::string ps_format = "table";
  ps->add_option("-f,--format", ps_format, "table (ps's own columns) or json (the pids)");
  ps->prefix_command();  // what follows the id is ps's arguments (default -ef)
  for (const char* name : {"update", "events", "checkpoint", "restore"}) {
    auto* c = app.add_subcommand(name, "Not yet in coracle-runc");
    c->allow_extras();
    later.push_back(c);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  try {
    // Checked before this call opens anything of its own: an fd of ours in
    // a gap of the range would be passed on.
    int preserved = std::max(run_flags.preserve_fds, exec_opts.preserve_fds);
    if (preserved < 0) throw Error("--preserve-fds must be 0 or more");
    for (int fd = 3; fd < 3 + preserved; ++fd)
      if (fcntl(fd, F_GETFD) < 0)
        throw Error("--preserve-fds " + std::to_string(preserved) + ": fd " + std::to_string(fd) +
                    " is not open");
    if (g.systemd_cgroup)
      throw Error(
          "--systemd-cgroup is not supported: coracle-runc manages cgroupfs (set "
          "cgroup_manager = \"cgroupfs\")");
    StateStore store(g.root);
    if (spec->parsed()) {
      std::string path = bundle + "/config.json";
      if (path_exists(path)) throw Error("File " + path + " exists. Remove it first");
      write_file_atomic(path, default_spec(rootless).dump(2) + "\n", 0644);
      return 0;
    }
    if (app.got_subcommand("features")) {
      printf("%s\n", features().dump(2).c_str());
      return 0;
    }
    if (state->parsed()) {
      printf("%s\n", state_json(store.load(id)).dump(2).c_str());
      return 0;
    }
    if (list->parsed()) {
      auto all_states = store.list();
      if (format == "json") {
        json out = json::array();
        for (const auto& s : all_states) out.push_back(state_json(s));
        printf("%s\n", out.dump().c_str());
      } else if (quiet) {
        for (const auto& s : all_states) printf("%s\n", s.id.c_str());
      } else {
        printf("%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
               "OWNER");
        for (const auto& s : all_states) {
          json j = state_json(s);
          printf("%-12s %-8d %-10s %-40s %-30s %u\n", s.id.c_str(), j["pid"].get<int>(),
                 j["status"].get<std::string>().c_str(), s.bundle.c_str(), s.created.c_str(),
                 s.owner);
        }
      }
      return 0;
    }
    if (create->parsed()) {
      create_container(store, id, run_flags);
      return 0;
    }
    if (start->parsed()) {
      start_container(store, id);
      return 0;
    }
    if (run->parsed()) {
      return run_container(store, id, run_flags);
    }
    if (exec->parsed()) {
      exec_opts.args = exec->remaining();
      return exec_in_container(store, id, exec_opts);
    }
    if (kill_cmd->parsed()) {
      kill_container(store, id, signal_number(signal_name));
      return 0;
    }
    if (del->parsed()) {
      delete_container(store, id, force);
      return 0;
    }
    if (pause->parsed() || resume->parsed()) {
      pause_container(store, id, pause->parsed());
      return 0;
    }
    if (ps->parsed()) {
      if (ps_format != "table" && ps_format != "json")
        throw Error("--format must be table or json");
      std::vector<pid_t> pids = container_pids(store, id);
      if (ps_format == "json") {
        printf("%s\n", json(pids).dump().c_str());
        return 0;
      }
      std::vector<std::string> args = ps->remaining();
      if (args.empty()) args = {"-ef"};
      printf("%s", ps_table(pids, args).c_str());
      return 0;
    }
    for (auto* c : later)
      if (c->parsed()) throw Error("'" + c->get_name() + "' is not in coracle-runc yet");
  } catch (const Error& e) {
    report(g, e.what());
    return 1;
  } catch (const std::exception& e) {
    report(g, std::string("internal error: ") + e.what());
    return 1;
  }
  return 0;
}

}  // namespace coracle::oci_runtime

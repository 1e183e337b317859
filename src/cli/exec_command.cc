#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/events.h"
#include "cli/exec_options.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/terminal_text.h"
#include "common/unique_fd.h"
#include "image/default_image.h"
#include "image/reference.h"
#include "image/resolve.h"
#include "image/store.h"
#include "launch/launch.h"
#include "launch/run.h"
#include "launch/upper_layer.h"
#include "portmon/port_events.h"
#include "portmon/portmon.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {
namespace {

// The default network is loopback only: a command that failed after
// sending packets out (a name to resolve, a host to reach) is told once
// which flag gives it the world.
void hint_at_outbound_access(const sandbox::Result& r) {
  if (r.exit_code == 0 || r.unroutable_packets == 0) return;
  std::string text =
      "the command tried to reach the network, but this sandbox has loopback only (the "
      "default, --net private): --net pasta gives it outbound access";
  if (events::on())
    events::emit({{"event", "warning"}, {"message", text}});
  else
    fprintf(stderr, "coracle: %s\n", text.c_str());
}

void report(const sandbox::Result& r) {
  hint_at_outbound_access(r);
  if (!r.message.empty()) {
    print_error(r.message);
  } else if (r.term_signal) {
    fprintf(stderr, "coracle: command %s\n", launch::how_it_ended(r, "--timeout").c_str());
  }
  if (!events::on()) return;
  // coracle's failure, or a command that could not be started, is an
  // error; a command that ran (whatever its status, a kill included) is
  // the result.
  bool failed = !r.message.empty() && !r.oom_killed && !r.timed_out &&
                (r.exit_code == kExitInternal || r.exit_code == 126 || r.exit_code == 127);
  if (failed) return events::error(r.exit_code, r.message);
  nlohmann::ordered_json j = {
      {"exit_code", r.exit_code},   {"signal", r.term_signal},
      {"oom_killed", r.oom_killed}, {"timed_out", r.timed_out},
      {"duration_ms", r.wall_ms},   {"peak_memory_bytes", r.peak_memory_bytes}};
  if (!r.message.empty()) j["message"] = r.message;
  events::result(j);
}

// One whole line per write(): the monitor's thread prints while the app
// may write to the same stdout, and a line must not be split by it.
void write_line(int fd, const std::string& line) {
  std::string text = line + "\n";
  (void)!write(fd, text.data(), text.size());
}

// A port event as exec reports it, for either backend: an event of the
// --json stream when it is on, a line on stderr otherwise.
void print_port_event(const portmon::PortEvent& e) {
  if (events::on()) return events::emit(portmon::port_event_json(e));
  write_line(2, portmon::port_event_line(e));
}

// What exec shows of a run while it goes: ports and the VMM on stderr or
// in the event stream; the command's output goes to the user's fds.
class ExecObserver : public launch::Observer {
 public:
  void published(const portmon::PortEvent& e) override {
    if (events::on())
      events::emit(portmon::publish_event_json(e));
    else
      write_line(2, portmon::publish_event_line(e));
  }
  void port(const portmon::PortEvent& e) override { print_port_event(e); }
  void warning(const std::string& text) override { print_error(text); }
  void vm_started(const std::string& accel) override {
    if (events::on()) events::emit({{"event", "vm.start"}, {"accel", accel}});
  }
};

// The ports -p, -P and --watch-ports ask for.
launch::PortRequest port_request(const ExecFlags& flags) {
  launch::PortRequest ports;
  for (const auto& text : flags.publish) ports.publish.push_back(portmon::parse_publish(text));
  ports.publish_all = flags.publish_all;
  ports.watch = flags.ports_wanted();
  // A tuning knob (and the tests' way to prove the triggers work alone).
  if (const char* ms = getenv("CORACLE_PORT_RESCAN_MS"))
    ports.rescan_interval = std::chrono::milliseconds(parse_uint(ms, "CORACLE_PORT_RESCAN_MS"));
  return ports;
}

}  // namespace

namespace {

// exec --changes FILE: the kept upper dir as a layer tar, written whole or
// not at all.
void write_changes(const sandbox::UpperDir& upper, const std::string& file) {
  std::string tmp = file + ".tmp";
  UniqueFd out(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) throw_errno("cannot write --changes " + tmp);
  try {
    launch::stream_upper_tar(
        upper, [&](const void* p, size_t n) { write_all(out.get(), p, n, tmp); }, "--changes");
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
  if (fsync(out.get()) < 0 || rename(tmp.c_str(), file.c_str()) < 0)
    throw_errno("cannot write --changes " + file);
}

}  // namespace

std::function<int()> add_exec_command(CLI::App& app, const GlobalOptions& global) {
  auto flags = std::make_shared<ExecFlags>();
  auto json = std::make_shared<bool>(false);
  auto json_fd = std::make_shared<int>(-1);
  auto pull = std::make_shared<std::string>("missing");
  auto registry = std::make_shared<RegistryFlags>();
  CLI::App* cmd = app.add_subcommand(
      "exec", "Run a command in a new sandbox (every namespace, overlay rootfs, seccomp)");
  cmd->footer(
      "Usage: coracle exec [OPTIONS] [--rootfs DIR | IMAGE] [-- CMD ARGS...]\n"
      "Exit status: the command's; 128+N when killed by signal N; 125 when coracle failed;\n"
      "126 when the command cannot be executed; 127 when it is not found.\n"
      "Example: coracle exec --in ./src --out ./build -- /bin/sh -c 'cp -r /in/. /out/'");
  cmd->add_option("--rootfs", flags->rootfs, "Run on this directory instead of an image")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("image", flags->image, "Image to run (default: the embedded busybox image)");
  cmd->add_option("command", flags->command, "Command and arguments (after --)");
  auto entrypoint = std::make_shared<std::string>();
  CLI::Option* entrypoint_option = cmd->add_option(
      "--entrypoint", *entrypoint,
      "Run this instead of the image's ENTRYPOINT ('' for none; a JSON array for several words)");
  cmd->add_option("-e,--env", flags->env, "Set K=V, or pass the host's K");
  cmd->add_option("--env-file", flags->env_files, "Read K=V lines from a file");
  cmd->add_option("-w,--workdir", flags->workdir, "Working directory inside (created if missing)");
  cmd->add_option("-u,--user", flags->user,
                  "User to run as inside: NAME or UID, [:GROUP or GID] (default: the image's, "
                  "else 0:0)");
  cmd->add_option("--hostname", flags->hostname, "Hostname inside")->capture_default_str();
  cmd->add_option("--net,--network", flags->net,
                  "private (own netns, loopback only: the fast default), pasta (own netns with "
                  "outbound access), none, or host")
      ->capture_default_str();
  cmd->add_option("--device", flags->devices,
                  "Bind a host device node: HOST[:CONTAINER][:PERMS] (serial ports, GPIO, "
                  "cameras; PERMS: some of rwm, enforced by a device cgroup as root)");
  cmd->add_option("--tmpfs", flags->tmpfs,
                  "A tmpfs at PATH[:size=N,mode=M,ro,noexec] (bounded like /tmp by default)");
  add_etc_flags(cmd, flags->etc);
  cmd->add_option("--in", flags->in_dir, "Directory mounted read-only at /in");
  cmd->add_option("--out", flags->out_dir,
                  "Directory mounted read-write at /out (made when missing)");
  cmd->add_option("-v,--volume", flags->volumes, "Bind SRC:DST[:ro]");
  cmd->add_flag("-t,--tty", flags->tty,
                "A terminal for the command (a pty of the sandbox's own; job control works)");
  cmd->add_flag("-i,--interactive", flags->interactive,
                "With -t: what you type goes to the command (without -t stdin is always passed)");
  cmd->add_flag("--read-only", flags->read_only, "Rootfs read-only (no overlay)");
  cmd->add_option("--changes", flags->changes,
                  "Write what the command changed in the rootfs to FILE, as a layer tar "
                  "(OCI whiteouts for deletions)");
  cmd->add_option("--cap-add", flags->cap_add, "Add a capability (or ALL)");
  cmd->add_option("--cap-drop", flags->cap_drop, "Drop a capability (or ALL)");
  cmd->add_option("--seccomp", flags->seccomp, "unconfined, or a Docker/OCI profile JSON file");
  cmd->add_option("-m,--memory", flags->memory, "Memory limit (e.g. 256m)");
  cmd->add_option("--upper-size", flags->upper_size,
                  "The writable layer in a tmpfs of this size (default: on disk under the store)");
  cmd->add_option("--tmp-size", flags->tmp_size,
                  "A tmpfs of this size on /tmp (default: the rootfs's own /tmp, on disk)");
  cmd->add_option("--pids,--pids-limit", flags->pids, "Maximum number of processes");
  cmd->add_option("--security-opt", flags->security_opts,
                  "podman's: seccomp=unconfined|PROFILE, no-new-privileges (always set), "
                  "label=disable, apparmor=unconfined (neither is enforced here)")
      ->allow_extra_args(false);
  cmd->add_flag("-q,--quiet", flags->quiet, "No progress on stderr (pulling, unpacking)");
  cmd->add_flag("--rm", flags->rm, "Accepted: coracle keeps nothing of a run anyway");
  cmd->add_flag("--init", flags->init, "Accepted: coracle's own init is always PID 1");
  cmd->add_option("--cpus", flags->cpus, "CPU quota in cores (e.g. 0.5)");
  cmd->add_option("--ulimit", flags->ulimits, "NAME=SOFT[:HARD], e.g. nofile=1024:4096");
  cmd->add_option("--timeout", flags->timeout,
                  "Stop after this long (SIGTERM, then SIGKILL), e.g. 30s");
  cmd->add_option("--pull", *pull, "When to pull IMAGE: missing (default), always, or never")
      ->check(CLI::IsMember({"missing", "always", "never"}))
      ->capture_default_str();
  add_registry_flags(cmd, *registry);
  cmd->add_option("-p,--publish", flags->publish,
                  "Forward [HOSTIP:]HOSTPORT:PORT[/udp] from the host to the sandbox");
  cmd->add_flag("-P,--publish-all", flags->publish_all,
                "Forward every TCP port the command opens, from 127.0.0.1");
  cmd->add_flag("--watch-ports", flags->watch_ports,
                "Report ports as the command opens and closes them (forward nothing)");
  cmd->add_flag("--vm", flags->vm,
                "Run in a micro-VM (qemu; KVM where it works, else emulation) instead of "
                "namespaces");
  cmd->add_flag("--json", *json,
                "Events as JSON lines on stdout (docs/events.md): ports, the result; the "
                "command's own output comes as log events");
  cmd->add_option("--json-fd", *json_fd,
                  "The --json events on this fd instead (e.g. 3 with 3>events.jsonl); the "
                  "command's stdout and stderr stay its own");
  // One value per occurrence, as docker and podman take them: `-e A=1 IMAGE`
  // must leave IMAGE alone.
  for (const char* name :
       {"--env", "--env-file", "--volume", "--cap-add", "--cap-drop", "--ulimit", "--publish"})
    cmd->get_option(name)->allow_extra_args(false);
  cmd->positionals_at_end();

  return [flags, json, json_fd, pull, registry, entrypoint, entrypoint_option, &global]() -> int {
    if (*json || *json_fd >= 0) open_event_stream("exec", *json_fd);
    set_quiet(flags->quiet);
    if (entrypoint_option->count()) flags->entrypoint = *entrypoint;
    // Without "--", `exec IMAGE CMD...` (docker's shape); with --rootfs there
    // is no image, so every positional is the command.
    if (global.has_command) {
      if (!flags->command.empty())
        throw Error("give the command either after the image or after --, not both");
      flags->command = global.command;
    } else if (!flags->rootfs.empty() && !flags->image.empty()) {
      flags->command.insert(flags->command.begin(), flags->image);
      flags->image.clear();
    }
    launch::RootfsRequest request;
    request.image = flags->image;
    request.rootfs = flags->rootfs;
    request.pull = launch::parse_pull_policy(*pull);
    if (!registry->platform.empty()) request.platform = image::parse_platform(registry->platform);
    request.use_overlay = global.use_overlay();
    UnpackView unpack_view(output_mode(events::on()), flags->image);
    request.on_layer = [&unpack_view](const image::LayerEvent& e) { unpack_view(e); };
    request.pull_image = [&](const std::string& ref) {
      // Progress goes to stderr (stdout belongs to the command), or into
      // the event stream.
      pull_with_progress(global.store_root(), ref, *registry, events::on());
    };
    // Held until the run ends: gc leaves the image's layers alone meanwhile.
    launch::Rootfs rootfs = launch::prepare_rootfs(global.store_root(), request);
    sandbox::Spec spec = launch::make_spec(rootfs, process_overrides(*flags));
    apply_sandbox_flags(spec, *flags);
    // Held until the run ends: its named volumes, and its image's VOLUMEs.
    launch::VolumeLeases volumes =
        launch::lease_volumes(spec, global.store_root(), rootfs.config());
    // --out names where the results go: made when missing, as `-o DIR`
    // makes its directory in other tools (its parent must exist).
    if (spec.out_dir && !path_exists(*spec.out_dir) && mkdir(spec.out_dir->c_str(), 0755) < 0)
      throw_errno("cannot create the --out directory " + *spec.out_dir);
    // Events on stdout: the command's output travels as log events, so
    // that every line there is one event.
    std::optional<events::OutputAsLogs> logs;
    if (events::on_stdout()) {
      if (spec.tty)
        throw Error(
            "-t with --json: a terminal's output cannot travel as events; use --json-fd N "
            "to have the events on their own fd");
      logs.emplace();
      spec.stdout_fd = logs->stdout_fd();
      spec.stderr_fd = logs->stderr_fd();
    }
    if (!flags->changes.empty()) {
      if (flags->read_only || spec.rootfs_is_private_copy || flags->vm)
        throw Error(
            "--changes needs the overlay's writable layer (not --read-only, not the vfs "
            "storage driver, not --vm)");
      spec.keep_upper = true;
    }
    launch::Request run;
    run.spec = std::move(spec);
    run.store_root = global.store_root();
    run.vm = flags->vm;
    run.vm_stdin = flags->interactive;
    run.ports = port_request(*flags);
    ExecObserver observer;
    launch::Outcome outcome = launch::run(std::move(run), observer);
    sandbox::Result& result = outcome.result;
    // As `podman diff` + export: also after a failed command.
    if (!flags->changes.empty() && result.upper) write_changes(*result.upper, flags->changes);
    if (logs) logs->finish();
    report(result);
    return result.exit_code;
  };
}

}  // namespace coracle::cli

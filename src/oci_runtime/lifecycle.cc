#include "oci_runtime/lifecycle.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/terminal_text.h"
#include "common/unique_fd.h"
#include "oci_runtime/config.h"
#include "oci_runtime/config_mapping.h"
#include "oci_runtime/hooks.h"
#include "sandbox/join.h"
#include "sandbox/sandbox.h"
#include "sandbox/terminal.h"

namespace coracle::oci_runtime {
namespace {

std::string now_rfc3339_nano() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

// A container's state as it is made (no init yet).
ContainerState new_state(const std::string& id, const std::string& bundle, const Config& config) {
  ContainerState s;
  s.id = id;
  s.bundle = bundle;
  s.rootfs = config.root_path;
  s.created = now_rfc3339_nano();
  s.owner = geteuid();
  s.annotations = config.annotations;
  return s;
}

// The container's cgroup, as the sandbox names it: the config's
// cgroupsPath from each hierarchy's root (a relative one too, so that
// every later call finds it, whatever cgroup it runs in), else coracle's.
std::string cgroup_path_for(const Config& config, const std::string& id) {
  const std::string& path = config.linux.cgroups_path;
  if (path.empty()) return "/coracle/oci-" + id;
  if (path.find(':') != std::string::npos)
    throw Error("config.json: linux.cgroupsPath: " + path +
                " is a systemd slice:prefix:name (coracle-runc manages cgroupfs)");
  std::string absolute = path[0] == '/' ? path : "/" + path;
  try {
    sandbox::check_cgroup_name(absolute);
  } catch (const Error& e) {
    throw Error(std::string("config.json: linux.cgroupsPath: ") + e.what());
  }
  return absolute;
}

}  // namespace

// `create`: the container set up and waiting (its init blocked on
// ROOT/ID/exec.fifo, as runc's), this call returning; `start` lets it go.
void create_container(const StateStore& store, const std::string& id, const CreateOptions& f) {
  check_container_id(id);
  std::string bundle = absolute_path(f.bundle);
  Config config = load_config(bundle);
  // runc's rules: a terminal goes to the engine through the socket.
  bool terminal = config.process && config.process->terminal;
  if (terminal && f.console_socket.empty())
    throw Error(
        "config.json: process.terminal: a detached container's terminal needs "
        "--console-socket");
  if (!terminal && !f.console_socket.empty())
    throw Error("--console-socket given, but process.terminal is false");
  ContainerState s = new_state(id, bundle, config);
  s.cgroup = cgroup_path_for(config, id);
  store.create(s);
  try {
    std::string fifo = store.dir_of(id) + "/exec.fifo";
    // Written by the container's init (its root is an unprivileged host
    // uid), read by start (root): runc's mode.
    if (mkfifo(fifo.c_str(), 0622) < 0 || chmod(fifo.c_str(), 0622) < 0)
      throw_errno("cannot make " + fifo);
    Mapped mapped = map_config(config, id, store.dir_of(id));
    mapped.spec.start_fifo = fifo;
    mapped.spec.console_socket = f.console_socket;
    mapped.spec.forward_signals = false;
    mapped.spec.limits.cgroup_name = s.cgroup;
    mapped.spec.limits.freezer = true;  // pause and resume
    mapped.spec.preserved_fds = f.preserve_fds;
    // The hooks that run in the container's namespaces: the sandbox's init
    // runs them, with the state as it is once init exists.
    auto container_hooks = [](const std::vector<Hook>& hooks) {
      std::vector<sandbox::ContainerHook> out;
      for (const auto& h : hooks) out.push_back({h.path, h.args, h.env, h.timeout.value_or(0)});
      return out;
    };
    mapped.spec.create_hooks = container_hooks(config.hooks.create_container);
    mapped.spec.start_hooks = container_hooks(config.hooks.start_container);
    mapped.spec.hook_state = [&s](int init_pid) {
      nlohmann::json state = state_json(s);
      state["status"] = "created";
      state["pid"] = init_pid;
      return state.dump();
    };
    sandbox::Result r = sandbox::run(mapped.spec);
    if (r.init_pid <= 0)
      throw Error(r.message.empty() ? "the container could not be created" : r.message);
    s.pid = r.init_pid;
    s.pid_start_time = process_start_time(s.pid);
    store.save(s);
    // Created: the runtime's own hooks see it (prestart is the old name).
    std::string state = state_json(s).dump();
    run_hooks(config.hooks.prestart, "prestart", state);
    run_hooks(config.hooks.create_runtime, "createRuntime", state);
    if (!f.pid_file.empty()) write_file_atomic(f.pid_file, std::to_string(s.pid), 0644);
  } catch (...) {
    // Only what this create made: the cgroup is the container's once the
    // sandbox exists (a sandbox that failed removed its own). One that
    // was there before (cgroupsPath naming another's, "File exists") and
    // its processes are not ours to kill.
    if (s.pid > 0) {
      kill(s.pid, SIGKILL);
      sandbox::destroy_cgroup(s.cgroup);
    }
    store.remove(id);
    throw;
  }
}

void start_container(const StateStore& store, const std::string& id) {
  ContainerState s = store.load(id);
  std::string status = status_of(s);
  if (status != "created") throw Error("cannot start a container that is " + status);
  std::string fifo = store.dir_of(id) + "/exec.fifo";
  // Opening the FIFO for reading is what lets init go on; its byte says
  // it did. Not blocking, so an init that died is noticed.
  UniqueFd r(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!r) throw_errno("cannot open " + fifo);
  for (int waited = 0;; waited += 10) {
    char byte;
    if (read(r.get(), &byte, 1) == 1) break;
    if (status_of(s) == "stopped") throw Error("container " + id + " ended before it started");
    if (waited > 10000) throw Error("container " + id + " did not start");
    usleep(10000);
  }
  s.started = true;
  store.save(s);
  unlink(fifo.c_str());
  // poststart: a failure is a warning; the container runs on (runtime-spec).
  try {
    // The state as the process started it: running (a short one may be
    // gone already; the hook is told about its start, as runtime-spec asks).
    nlohmann::json state = state_json(s);
    state["status"] = "running";
    state["pid"] = s.pid;
    run_hooks(load_config(s.bundle).hooks.poststart, "poststart", state.dump());
  } catch (const Error& e) {
    fprintf(stderr, "coracle-runc: warning: %s\n", terminal_safe(e.what()).c_str());
  }
}

// `run`: create and start in one, in the foreground; the exit status is
// the container's. Its state exists while it runs (state, kill, list see
// it) and goes when it ends, unless --keep.
int run_container(const StateStore& store, const std::string& id, const CreateOptions& f) {
  if (f.detach) {
    create_container(store, id, f);
    start_container(store, id);
    return 0;
  }
  if (!f.console_socket.empty())
    throw Error(
        "--console-socket is for a detached container (run -d, or create): run in the "
        "foreground uses this terminal");
  check_container_id(id);
  std::string bundle = absolute_path(f.bundle);
  Config config = load_config(bundle);
  const Hooks& h = config.hooks;
  if (!h.prestart.empty() || !h.create_runtime.empty() || !h.create_container.empty() ||
      !h.start_container.empty() || !h.poststart.empty() || !h.poststop.empty())
    throw Error("config.json: hooks: run them with create and start (or run --detach)");
  ContainerState s = new_state(id, bundle, config);
  s.cgroup = cgroup_path_for(config, id);
  store.create(s);
  struct Remove {
    const StateStore& store;
    std::string id;
    bool keep;
    ~Remove() {
      if (keep) return;
      try {
        store.remove(id);
      } catch (const Error&) {
      }
    }
  } remove{store, id, f.keep};
  Mapped mapped = map_config(config, id, store.dir_of(id));
  mapped.spec.limits.cgroup_name = s.cgroup;
  mapped.spec.limits.freezer = true;
  mapped.spec.preserved_fds = f.preserve_fds;
  sandbox::Hooks hooks;
  hooks.on_start = [&](sandbox::Started& started) {
    s.pid = started.init_pid;
    s.pid_start_time = process_start_time(s.pid);
    s.started = true;
    store.save(s);
    if (!f.pid_file.empty()) write_file_atomic(f.pid_file, std::to_string(s.pid), 0644);
  };
  sandbox::Result r = sandbox::run(mapped.spec, hooks);
  if (!r.message.empty() && r.exit_code == kExitInternal) throw Error(r.message);
  return r.exit_code;
}

int exec_in_container(const StateStore& store, const std::string& id, const ExecOptions& o) {
  ContainerState s = store.load(id);
  if (status_of(s) != "running") throw Error("container " + id + " is not running");
  Config config = load_config(s.bundle);
  if (!config.process) throw Error("config.json: process: is required");
  // The process: process.json as given, else the config's with the command
  // line's changes.
  Process p = *config.process;
  if (!o.process_file.empty()) {
    p = parse_process(read_file(o.process_file));
  } else {
    if (o.args.empty()) throw Error("exec needs a command or --process");
    p.args = o.args;
  }
  if (!o.cwd.empty()) p.cwd = o.cwd;
  for (const auto& e : o.env) set_env(p.env, e);
  sandbox::JoinSpec j;
  j.init_pid = s.pid;
  j.argv = p.args;
  j.env = p.env;
  j.cwd = p.cwd;
  j.uid = p.user.uid;
  j.gid = p.user.gid;
  j.groups = p.user.additional_gids;
  j.capability_sets = exec_capabilities(p, *config.process);
  j.preserved_fds = static_cast<unsigned>(o.preserve_fds);
  j.no_new_privs = p.no_new_privileges;
  j.oom_score_adj = p.oom_score_adj;
  // As the container's own process: writable binds bring the host-write
  // guard and take CAP_SETFCAP.
  j.host_writes = has_writable_binds(config);
  j.rlimits = map_rlimits(p);
  std::string profile = store.dir_of(id) + "/seccomp.json";
  if (is_regular_file(profile)) j.seccomp_profile = profile;
  j.cgroup_name = s.cgroup;
  j.detach = o.detach;
  // runc's rule: a terminal (--tty, or the process.json's) needs a console
  // socket to hand it to, and a console socket is only for a terminal.
  bool tty = o.tty || p.terminal;
  if (tty && o.console_socket.empty()) throw Error("exec with a terminal needs --console-socket");
  if (!tty && !o.console_socket.empty())
    throw Error("--console-socket given, but no terminal was asked for (--tty)");
  UniqueFd console;
  if (tty) {
    console = sandbox::connect_console_socket(o.console_socket);
    j.console_socket = console.get();
  }
  pid_t pid = 0;
  int status = sandbox::join_sandbox(j, &pid);
  if (o.detach && !o.pid_file.empty()) write_file_atomic(o.pid_file, std::to_string(pid), 0644);
  return status;
}

void kill_container(const StateStore& store, const std::string& id, int sig) {
  ContainerState s = store.load(id);
  // Only while it is still that process (a reused pid is not the container).
  if (status_of(s) == "stopped") throw Error("container " + s.id + " is not running");
  if (kill(s.pid, sig) < 0) throw_errno("cannot signal container " + s.id);
}

void delete_container(const StateStore& store, const std::string& id, bool force) {
  if (!store.contains(id)) {
    // As runc: a create that died before its state was written leaves a
    // directory without one, removed here; with --force, a container
    // that is not there is deleted already (engines' cleanup calls this
    // after the container may have gone by itself).
    if (is_directory(store.dir_of(id))) store.remove(id);
    if (force) return;
  }
  ContainerState s = store.load(id);
  std::string status = status_of(s);
  if (status != "stopped") {
    if (!force) throw Error("cannot delete container " + id + " that is not stopped: " + status);
    kill(s.pid, SIGKILL);
  }
  sandbox::destroy_cgroup(s.cgroup);
  // poststop, once it is gone: warnings only.
  try {
    if (is_regular_file(s.bundle + "/config.json"))
      run_hooks(load_config(s.bundle).hooks.poststop, "poststop", state_json(s).dump());
  } catch (const Error& e) {
    fprintf(stderr, "coracle-runc: warning: %s\n", terminal_safe(e.what()).c_str());
  }
  store.remove(id);
}

void pause_container(const StateStore& store, const std::string& id, bool pause) {
  ContainerState s = store.load(id);
  std::string status = status_of(s);
  if (pause && status != "running") throw Error("container " + id + " is not running: " + status);
  if (!pause && status != "paused") throw Error("container " + id + " is not paused: " + status);
  sandbox::freeze_cgroup(s.cgroup, pause);
}

std::vector<pid_t> container_pids(const StateStore& store, const std::string& id) {
  ContainerState s = store.load(id);
  if (status_of(s) == "stopped") return {};
  return sandbox::cgroup_pids(s.cgroup);
}

namespace {

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

std::string ps_table(const std::vector<pid_t>& pids, const std::vector<std::string>& args) {
  std::string cmd = "ps";
  for (const auto& a : args) {
    // Only ps's own flags and column names: nothing for a shell to read.
    for (char c : a)
      if (!isalnum(static_cast<unsigned char>(c)) && !strchr("-_,=:%+", c))
        throw Error("ps argument '" + a + "' is not one ps takes");
    cmd += " " + a;
  }
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw_errno("cannot run ps");
  std::string text;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  if (pclose(p) != 0) throw Error("ps " + cmd.substr(3) + " failed");
  auto lines = split(text, '\n');
  if (lines.empty()) return text;
  // The PID column: where its header's word is.
  auto header = split_words(lines[0]);
  auto col = std::find(header.begin(), header.end(), "PID");
  if (col == header.end()) throw Error("ps's output has no PID column");
  size_t index = static_cast<size_t>(col - header.begin());
  std::string out = lines[0] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    auto words = split_words(lines[i]);
    if (words.size() <= index) continue;
    pid_t pid = static_cast<pid_t>(atoi(words[index].c_str()));
    if (std::find(pids.begin(), pids.end(), pid) != pids.end()) out += lines[i] + "\n";
  }
  return out;
}

}  // namespace coracle::oci_runtime

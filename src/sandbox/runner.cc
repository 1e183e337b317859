// The parent's side of a run: plan everything (allocating freely), clone3
// into the namespaces, finish the child's setup from outside (id maps,
// cgroup, idmapped mounts, the network namespace beside it), then wait
// (supervise.h) for the child's messages, its exit, forwarded signals and
// the timeout.
#include <fcntl.h>
#include <linux/sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/userns.h"
#include "sandbox/cgroup.h"
#include "sandbox/child.h"
#include "sandbox/child_calls.h"
#include "sandbox/device_twins.h"
#include "sandbox/namespaces.h"
#include "sandbox/net.h"
#include "sandbox/netns_maker.h"
#include "sandbox/pasta.h"
#include "sandbox/run_plan.h"
#include "sandbox/sandbox.h"
#include "sandbox/socket_factory.h"
#include "sandbox/supervise.h"
#include "sandbox/sync.h"
#include "sandbox/terminal.h"

namespace coracle::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

// Fields 48-51 of /proc/self/stat: where this process's argv and
// environment strings are. Read once; they never move.
struct StringAreas {
  uintptr_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
};
const StringAreas& process_string_areas() {
  static const StringAreas areas = [] {
    StringAreas a;
    try {
      std::string stat = read_file("/proc/self/stat");
      // Fields after the command name, which may hold spaces: from ") ".
      auto fields = split(stat.substr(stat.rfind(')') + 2), ' ');
      // fields[0] is field 3 (state), so field N is fields[N - 3].
      if (fields.size() > 51 - 3) {
        a.arg_start = std::stoull(fields[48 - 3]);
        a.arg_end = std::stoull(fields[49 - 3]);
        a.env_start = std::stoull(fields[50 - 3]);
        a.env_end = std::stoull(fields[51 - 3]);
      }
    } catch (...) {
    }
    return a;
  }();
  return areas;
}

std::vector<std::string> search_path(const std::vector<std::string>& env) {
  std::string path = kDefaultPath;
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::vector<std::string> dirs;
  for (auto& d : split(path, ':')) dirs.push_back(d.empty() ? "." : d);
  return dirs;
}

// What the sandbox writes as its own (the overlay's upper dir, a named
// volume) must be container root's: as a root runner, the mapped host uid.
// The upper dir (and the upper and work dirs in it, when a reused one has
// them already) always; a volume only while no id of the sandbox owns it
// (a new one: PostgreSQL's chown of its data to its own user stays).
// Changed only where it differs: a chown is a journal write even when it
// changes nothing.
void hand_storage_to_sandbox(const Spec& spec, const IdMapping& ids) {
  uid_t uid = ids.uids[0].outside;
  gid_t gid = ids.gids[0].outside;
  auto hand = [&](const std::string& path) {
    if (lchown(path.c_str(), uid, gid) < 0) throw_errno("cannot hand " + path + " to the sandbox");
  };
  if (!spec.upper_dir.empty())
    for (const char* sub : {"", "/upper", "/work"}) {
      std::string path = spec.upper_dir + sub;
      struct stat st {};
      if (lstat(path.c_str(), &st) < 0 && *sub) continue;
      if (st.st_uid != uid || st.st_gid != gid) hand(path);
    }
  for (const auto& v : spec.volumes) {
    struct stat st {};
    if (!v.sandbox_owned || lstat(v.source.c_str(), &st) < 0) continue;
    bool sandboxs = false;
    for (const auto& r : ids.uids)
      sandboxs |= st.st_uid >= r.outside && st.st_uid - r.outside < r.count;
    if (!sandboxs) hand(v.source);
  }
}

// The runner's side of a sandbox being made: what the child is handed
// (its context, and what the context points into besides the plan and the
// spec) and what lives as long as the run.
struct Launch {
  UniqueFd start_fifo;  // Spec::start_fifo, O_PATH
  static constexpr size_t kHookStateCap = 1 << 16;
  std::unique_ptr<char[]> hook_state;  // with container hooks
  std::unique_ptr<Cgroup> cgroup;      // with limits
  std::unique_ptr<_cap_struct, int (*)(void*)> init_caps{nullptr, cap_free};
  UniqueFd sock, child_sock, factory, child_factory;
  std::optional<SignalForwarding> signals;
  std::unique_ptr<TerminalRelay> tty;
  std::vector<char> loopback_up;
  std::unique_ptr<char[]> command_stack;
  ChildContext ctx;
};

// --device nodes of a root runner, removed when the run is over.
struct DeviceTwins {
  std::vector<std::string> dirs;
  ~DeviceTwins() { remove_device_twins(dirs); }
};

std::pair<UniqueFd, UniqueFd> seqpacket_pair() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
  return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

// The fds and helpers a run holds: the start FIFO, the hooks' state, the
// cgroup, init's capabilities, the sync socket (and the socket factory's),
// signal forwarding and the terminal relay.
void open_channels(const Spec& spec, const RunPlan& plan, Launch& l) {
  if (!spec.start_fifo.empty()) {
    l.start_fifo.reset(open(spec.start_fifo.c_str(), O_PATH | O_CLOEXEC));
    if (!l.start_fifo) throw_errno("cannot open " + spec.start_fifo);
  }
  if (!plan.create_hooks.empty() || !plan.start_hooks.empty())
    l.hook_state.reset(new char[Launch::kHookStateCap]);
  if (plan.limits.any()) l.cgroup = Cgroup::create(plan.limits);
  l.init_caps.reset(cap_init());
  cap_value_t kill_cap = CAP_KILL;
  cap_set_flag(l.init_caps.get(), CAP_PERMITTED, 1, &kill_cap, CAP_SET);
  cap_set_flag(l.init_caps.get(), CAP_EFFECTIVE, 1, &kill_cap, CAP_SET);
  std::tie(l.sock, l.child_sock) = seqpacket_pair();
  if (spec.socket_factory) std::tie(l.factory, l.child_factory) = seqpacket_pair();
  l.signals.emplace(spec.forward_signals, spec.tty);
  if (spec.tty && spec.console_socket.empty())
    l.tty = std::make_unique<TerminalRelay>(spec.tty_input ? spec.stdin_fd : -1, spec.stdout_fd);
}

// The child's context: pointers into the plan, the spec and l, all of
// which outlive the child's setup.
void fill_child_context(const Spec& spec, const RunPlan& plan, Launch& l) {
  ChildContext& ctx = l.ctx;
  ctx.calls = &real_child_calls();
  ctx.sync_fd = l.child_sock.get();
  // With pasta the namespace must exist before the runner starts pasta on
  // it (or pasta would join the host's): clone3 makes it, the child brings
  // loopback up. Any other of the sandbox's own is made beside the child.
  if (makes_network(spec) && (spec.net == NetMode::Private || spec.net == NetMode::Pasta))
    l.loopback_up = build_loopback_up_request();
  if (spec.net == NetMode::Pasta) ctx.loopback_up = &l.loopback_up;
  ctx.network_beside = makes_network_beside(spec);
  ctx.count_unroutable = spec.net == NetMode::Private || spec.net == NetMode::None;
  ctx.setgroups_allowed = plan.ids.setgroups_allowed;
  ctx.mounts = &plan.mounts;
  ctx.caps = plan.caps.get();
  ctx.no_new_privs = spec.no_new_privs;
  if (spec.oom_score_adj)
    snprintf(ctx.oom_score_adj, sizeof ctx.oom_score_adj, "%d", *spec.oom_score_adj);
  ctx.init_caps = l.init_caps.get();
  ctx.seccomp = &plan.seccomp;
  if (!plan.notify.code.empty()) ctx.notify = &plan.notify;
  if (plan.host_writes) ctx.guard = &host_write_guard_program();
  ctx.factory_fd = l.child_factory.get();
  ctx.tty = spec.tty;
  ctx.start_fifo_fd = l.start_fifo ? l.start_fifo.get() : -1;
  if (!plan.create_hooks.empty()) ctx.create_hooks = &plan.create_hooks;
  if (!plan.start_hooks.empty()) ctx.start_hooks = &plan.start_hooks;
  ctx.hook_state = l.hook_state.get();
  ctx.hook_state_cap = l.hook_state ? Launch::kHookStateCap : 0;
  ctx.hostname = makes_namespace(spec, CLONE_NEWUTS) ? spec.hostname.c_str() : nullptr;
  ctx.uid = spec.uid;
  ctx.gid = spec.gid;
  ctx.groups = &plan.groups;
  ctx.stdio[0] = spec.stdin_fd;
  ctx.stdio[1] = spec.stdout_fd;
  ctx.stdio[2] = spec.stderr_fd;
  if (spec.preserved_fds < 0 || spec.preserved_fds > 1000) throw Error("too many fds to preserve");
  for (int fd = 3; fd < 3 + spec.preserved_fds; ++fd)
    if (fcntl(fd, F_GETFD) < 0)
      throw Error("fd " + std::to_string(fd) + " to preserve is not open");
  ctx.preserved_fds = static_cast<unsigned>(spec.preserved_fds);
  for (const auto& a : spec.argv) ctx.argv.push_back(const_cast<char*>(a.c_str()));
  ctx.argv.push_back(nullptr);
  for (const auto& e : spec.env) ctx.envp.push_back(const_cast<char*>(e.c_str()));
  ctx.envp.push_back(nullptr);
  ctx.search_path = search_path(spec.env);
  ctx.rlimits = spec.rlimits;
  ctx.forwarded = l.signals->set();
  constexpr size_t kCommandStack = 256 * 1024;
  l.command_stack.reset(new char[kCommandStack]);
  ctx.command_stack = l.command_stack.get();
  ctx.command_stack_size = kCommandStack;
  const StringAreas& areas = process_string_areas();
  ctx.arg_start = areas.arg_start;
  ctx.arg_end = areas.arg_end;
  ctx.env_start = areas.env_start;
  ctx.env_end = areas.env_end;
}

// clone3's arguments: the namespaces, the pidfd, the cgroup to start in.
struct clone_args clone_args_for(const Spec& spec, Launch& l, int* pidfd) {
  struct clone_args args {};
  args.flags = clone_namespace_flags(spec) | CLONE_PIDFD;
  bool new_cgroupns = makes_namespace(spec, CLONE_NEWCGROUP);
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (l.cgroup && l.cgroup->clone_into_fd() >= 0) {
    args.flags |= CLONE_INTO_CGROUP | (new_cgroupns ? CLONE_NEWCGROUP : 0);
    args.cgroup = static_cast<uint64_t>(l.cgroup->clone_into_fd());
  } else if (l.cgroup) {
    l.ctx.unshare_cgroupns = new_cgroupns;  // after the parent has moved it
  } else if (new_cgroupns) {
    args.flags |= CLONE_NEWCGROUP;
  }
  return args;
}

void log_clone(const Spec& spec, const RunPlan& plan, const Launch& l, uint64_t flags) {
  if (!debug_enabled()) return;
  char hex[24];
  snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(flags));
  std::string what = std::string("sandbox: clone3 flags 0x") + hex;
  what +=
      std::string(", rootfs ") +
      (spec.layers.empty() ? spec.rootfs : std::to_string(spec.layers.size()) + " overlay layers") +
      ", uid " + std::to_string(spec.uid) + " gid " + std::to_string(spec.gid) +
      (plan.ids.rootful       ? ", rootful id map"
       : plan.ids.via_helpers ? ", subordinate ids"
                              : ", own id") +
      ", net " +
      (spec.net == NetMode::Private ? "private"
       : spec.net == NetMode::Pasta ? "pasta"
       : spec.net == NetMode::None  ? "none"
                                    : "host") +
      ", " + std::to_string(plan.mounts.ops.size()) + " mount steps, cgroup " +
      (l.cgroup ? "yes" : "no") + ", command " + spec.argv[0];
  log_debug(what);
}

// From outside, once the child exists: id maps, pasta, the cgroup, the
// idmapped trees, Go, the network beside it, the hooks' state. Throws
// coracle::Error (the caller's InitProcess then kills the child).
void complete_setup(const Spec& spec, const RunPlan& plan, Launch& l, InitProcess& init,
                    Watch& watch, std::unique_ptr<Pasta>& pasta, DeviceTwins& device_twins) {
  if (spec.keep_upper) {
    // Opened now, while the child is still ours to inspect: init turns
    // itself non-dumpable later, which closes /proc/PID/ns to a rootless
    // runner.
    watch.upper = std::make_shared<UpperDir>();
    std::string ns = "/proc/" + std::to_string(init.pid()) + "/ns/user";
    watch.upper->userns.reset(open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!watch.upper->userns) throw_errno("cannot open " + ns);
  }
  if (spec.user_namespace) write_id_mapping(init.pid(), plan.ids);  // sync 2
  // Before Go: the command starts with its network up, and init is still
  // dumpable, so a rootless pasta may join its namespaces.
  if (spec.net == NetMode::Pasta) pasta = Pasta::start(init.pid());
  if (l.cgroup) l.cgroup->add_process(init.pid());
  std::vector<UniqueFd> trees;
  if (plan.ids.rootful && spec.user_namespace && !plan.given_maps)
    trees = make_idmapped_trees(plan.mounts, init.pid(), plan.ids.uids[0].outside,
                                plan.ids.gids[0].outside, device_twins.dirs);
  std::vector<int> tree_fds;
  Msg go{};
  go.type = MsgType::Go;
  go.ntrees = static_cast<uint32_t>(trees.size());
  for (size_t i = 0; i < trees.size(); ++i) {
    go.has_tree[i] = trees[i] ? 1 : 0;
    if (trees[i]) tree_fds.push_back(trees[i].get());
  }
  if (int rc = send_msg(l.sock.get(), go, tree_fds.data(),
                        static_cast<unsigned>(tree_fds.size()));  // sync 3
      rc < 0)
    throw_errno("cannot start the sandbox", -rc);
  // After Go: the runner is otherwise idle while the child mounts.
  if (l.ctx.network_beside)  // sync 4, 5
    make_network_beside(init.pidfd(), spec.user_namespace, l.sock.get(),
                        l.loopback_up.empty() ? nullptr : &l.loopback_up);
  if (l.hook_state) {  // sync 7
    std::string state = spec.hook_state(init.pid());
    if (state.size() > Launch::kHookStateCap) throw Error("the hooks' state is too large");
    Msg header{};
    header.type = MsgType::HookState;
    header.args[0] = static_cast<int32_t>(state.size());
    if (int rc = send_msg(l.sock.get(), header); rc < 0)
      throw_errno("cannot send the hooks' state", -rc);
    if (send(l.sock.get(), state.data(), state.size(), MSG_NOSIGNAL) < 0)
      throw_errno("cannot send the hooks' state");
  }
}

// The run's result from how it ended.
Result result_of(const Outcome& out, Watch& watch, const Cgroup* cgroup) {
  Result result;
  result.timed_out = out.timed_out;
  if (cgroup) {
    result.oom_killed = cgroup->oom_killed();
    result.peak_memory_bytes = cgroup->peak_memory_bytes();
  }
  if (out.hook_error) {
    result.exit_code = kExitInternal;
    result.message = *out.hook_error;
  } else if (out.failure) {
    result.exit_code = out.failure->exit_code;
    result.message = describe_failure(*out.failure);
    log_debug("sandbox: the child failed: " + result.message);
  } else if (out.exited) {
    result.exit_code = out.exited->exit_code;
    result.term_signal = out.exited->signo;
    if (!result.peak_memory_bytes) result.peak_memory_bytes = out.exited->maxrss_kib * 1024;
    result.unroutable_packets = out.exited->unroutable;
  } else {
    // init itself was killed (timeout escalation, OOM, or from outside).
    bool killed = out.init_status.si_code == CLD_KILLED || out.init_status.si_code == CLD_DUMPED;
    result.term_signal = killed ? out.init_status.si_status : 0;
    result.exit_code = killed ? 128 + result.term_signal : kExitInternal;
    if (!killed) result.message = "the sandbox's init ended without a status";
  }
  if (watch.upper && watch.upper->dir) result.upper = std::move(watch.upper);
  if (result.oom_killed)
    result.message = "killed: out of memory (the memory limit was reached)";
  else if (result.timed_out)
    result.message = "killed: the timeout was reached";
  return result;
}

}  // namespace

// The stages: the plan (run_plan.h), the runner's channels and the child's
// context, clone3, the setup completed from outside, the wait, the result.
Result run(const Spec& spec, const Hooks& hooks) {
  auto start = Clock::now();
  RunPlan plan = prepare_run(spec, hooks);
  if (plan.ids.rootful) hand_storage_to_sandbox(spec, plan.ids);
  JoinedNamespaces joined(spec);
  Launch l;
  open_channels(spec, plan, l);
  fill_child_context(spec, plan, l);
  int pidfd = -1;
  struct clone_args args = clone_args_for(spec, l, &pidfd);
  log_clone(spec, plan, l, args.flags);
  joined.enter();
  long pid = syscall(SYS_clone3, &args, sizeof args);  // sync 1
  int clone_errno = errno;
  if (pid != 0) joined.leave();
  if (pid < 0) throw_errno("cannot create the sandbox (clone3)", clone_errno);
  if (pid == 0) {
    // The runner's ends: once only the runner holds them, end of stream on
    // ours means the runner is gone.
    close(l.sock.release());
    if (l.factory) close(l.factory.release());
    child_main(l.ctx);
  }
  l.child_sock.reset();
  l.child_factory.reset();
  InitProcess init(static_cast<pid_t>(pid), pidfd);
  Watch watch;
  if (l.factory) watch.sockets = std::make_shared<SocketFactory>(std::move(l.factory));
  std::unique_ptr<Pasta> pasta;  // stopped when the run is over
  DeviceTwins device_twins;
  try {
    complete_setup(spec, plan, l, init, watch, pasta, device_twins);
  } catch (const Error& e) {
    Result failed;
    failed.exit_code = kExitInternal;
    failed.message = e.what();
    return failed;  // ~InitProcess kills and reaps the child
  }
  Outcome out;
  wait_for_exit(init, l.sock.get(), *l.signals, spec, hooks, watch, out, l.tty.get());
  if (out.ready) {
    // Made, waiting for start: it outlives this runner, cgroup and all.
    Result made;
    made.init_pid = init.pid();
    init.release();
    if (l.cgroup) l.cgroup->release();
    return made;
  }
  Result result = result_of(out, watch, l.cgroup.get());
  result.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  log_debug("sandbox: ended with status " + std::to_string(result.exit_code) + " after " +
            std::to_string(static_cast<int>(result.wall_ms)) + " ms");
  return result;
}

void sweep_leftovers() {
  sweep_cgroups();
}

}  // namespace coracle::sandbox

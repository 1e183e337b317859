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
#include "sandbox/device_twins.h"
#include "sandbox/namespaces.h"
#include "sandbox/net.h"
#include "sandbox/netns_maker.h"
#include "sandbox/pasta.h"
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

// The device cgroup's rules for --device: the defaults and each device
// with its permissions. Only root can have one; a plain user's devices get
// none, and asking for less than rwm is then an error rather than a
// promise not kept.
std::vector<DeviceRule> device_rules(const Spec& spec, bool rootful) {
  if (spec.devices.empty()) return {};
  std::vector<DeviceRule> rules = default_device_rules();
  for (const auto& d : spec.devices) {
    DeviceRule rule = device_rule_for(d.source, d.perms);
    bool all = rule.access.find('r') != std::string::npos &&
               rule.access.find('w') != std::string::npos &&
               rule.access.find('m') != std::string::npos;
    if (!rootful && !all)
      throw Error("--device " + d.source + ":" + d.perms +
                  ": permissions other than rwm need a device cgroup, which needs root");
    rules.push_back(rule);
  }
  return rootful ? rules : std::vector<DeviceRule>{};
}

}  // namespace

namespace {

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

}  // namespace

Result run(const Spec& spec, const Hooks& hooks) {
  if (spec.argv.empty()) throw Error("no command to run");
  auto start = Clock::now();

  check_namespaces(spec);
  // Without a user namespace of its own, ids inside are the host's.
  IdMapping ids = spec.user_namespace ? plan_id_mapping() : host_id_mapping();
  bool given_maps = spec.user_namespace && !spec.uid_map.empty();
  if (given_maps) {
    if (geteuid() != 0 || spec.gid_map.empty())
      throw Error("given uid and gid maps need root (and both maps)");
    ids.uids = spec.uid_map;
    ids.gids = spec.gid_map;
    ids.rootful = true;
    ids.via_helpers = false;
    ids.setgroups_allowed = true;
  }
  if (!maps_id(ids.uids, spec.uid) || !maps_id(ids.gids, spec.gid))
    throw Error("user " + std::to_string(spec.uid) + ":" + std::to_string(spec.gid) +
                " is not mapped in the sandbox; as a plain user, add subordinate ids for yourself "
                "to /etc/subuid and /etc/subgid");
  std::vector<gid_t> groups(spec.supplementary_gids.begin(), spec.supplementary_gids.end());
  for (gid_t g : groups)
    if (!maps_id(ids.gids, g))
      throw Error("group " + std::to_string(g) + " is not mapped in the sandbox");
  // Setting groups is denied in a user namespace whose setgroups is off
  // (a rootless runner without a subordinate range).
  if (!groups.empty() && !ids.setgroups_allowed)
    throw Error("supplementary groups need a subordinate gid range for this user (/etc/subgid)");
  // A sandbox that can write to a host directory gets the host-write guard:
  // nothing it writes there may raise anyone's privileges on the host.
  bool host_writes = spec.out_dir.has_value();
  for (const auto& v : spec.volumes) host_writes |= !v.read_only;
  std::optional<CapPlan> caps_storage;
  if (spec.capability_sets)
    caps_storage.emplace(*spec.capability_sets, host_writes);
  else
    caps_storage.emplace(spec.uid, spec.cap_add, spec.cap_drop, host_writes);
  const CapPlan& caps = *caps_storage;
  SeccompProgram seccomp;
  if (spec.seccomp_profile.empty())
    seccomp = default_seccomp_program(caps.mask());
  else if (spec.seccomp_profile != "unconfined")
    seccomp = compile_seccomp(read_file(spec.seccomp_profile), caps.mask());
  MountPlan mounts = plan_mounts(spec, maps_id(ids.gids, 5));
  if (ids.rootful) hand_storage_to_sandbox(spec, ids);
  SeccompProgram notify;
  if (!spec.notify_syscalls.empty()) {
    // Nobody to answer would hang the command at its first bind().
    if (!hooks.on_start) throw Error("notify_syscalls needs a Hooks::on_start to answer them");
    notify = notify_program(spec.notify_syscalls);
  }
  UniqueFd start_fifo;
  if (!spec.start_fifo.empty()) {
    if ((spec.tty && spec.console_socket.empty()) || spec.keep_upper ||
        spec.net == NetMode::Pasta || !spec.notify_syscalls.empty())
      throw Error(
          "a sandbox started later cannot relay a tty (a console socket takes it), keep "
          "its upper dir, use pasta or notify syscalls");
    start_fifo.reset(open(spec.start_fifo.c_str(), O_PATH | O_CLOEXEC));
    if (!start_fifo) throw_errno("cannot open " + spec.start_fifo);
  }
  Limits limits = spec.limits;
  limits.devices = device_rules(spec, ids.rootful);
  // Real root inside could mknod a disk and write to it: only a device
  // cgroup stops that when no user namespace does. Rules the caller adds
  // (an OCI config's) come on top of the defaults.
  if ((!spec.user_namespace || (ids.rootful && !spec.limits.devices.empty())) &&
      limits.devices.empty())
    limits.devices = default_device_rules();
  if (ids.rootful)
    limits.devices.insert(limits.devices.end(), spec.limits.devices.begin(),
                          spec.limits.devices.end());
  if (!spec.device_nodes.empty()) {
    if (spec.user_namespace)
      throw Error("device nodes are made only in a sandbox without a user namespace of its own");
    for (const auto& d : spec.device_nodes)
      if (d.type != 'p')
        limits.devices.push_back(
            {d.type, static_cast<long>(d.major), static_cast<long>(d.minor), "rwm"});
  }
  JoinedNamespaces joined(spec);
  std::vector<PreparedHook> create_hooks = prepare_hooks(spec.create_hooks, true);
  std::vector<PreparedHook> start_hooks = prepare_hooks(spec.start_hooks, false);
  bool has_hooks = !create_hooks.empty() || !start_hooks.empty();
  if (has_hooks && !spec.hook_state) throw Error("container hooks need a hook_state");
  constexpr size_t kHookStateCap = 1 << 16;
  std::unique_ptr<char[]> hook_state(has_hooks ? new char[kHookStateCap] : nullptr);
  std::unique_ptr<Cgroup> cgroup = limits.any() ? Cgroup::create(limits) : nullptr;

  std::unique_ptr<_cap_struct, int (*)(void*)> init_caps(cap_init(), cap_free);
  cap_value_t kill_cap = CAP_KILL;
  cap_set_flag(init_caps.get(), CAP_PERMITTED, 1, &kill_cap, CAP_SET);
  cap_set_flag(init_caps.get(), CAP_EFFECTIVE, 1, &kill_cap, CAP_SET);

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
  UniqueFd sock(pair[0]), child_sock(pair[1]);
  UniqueFd factory, child_factory;
  if (spec.socket_factory) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
    factory.reset(pair[0]);
    child_factory.reset(pair[1]);
  }
  SignalForwarding signals(spec.forward_signals, spec.tty);
  std::unique_ptr<TerminalRelay> tty;
  if (spec.tty && spec.console_socket.empty())
    tty = std::make_unique<TerminalRelay>(spec.tty_input ? spec.stdin_fd : -1, spec.stdout_fd);

  ChildContext ctx;
  ctx.sync_fd = child_sock.get();
  // With pasta the namespace must exist before the runner starts pasta on
  // it (or pasta would join the host's): clone3 makes it, the child brings
  // loopback up. Any other of the sandbox's own is made beside the child.
  std::vector<char> loopback_up;
  if (makes_network(spec) && (spec.net == NetMode::Private || spec.net == NetMode::Pasta))
    loopback_up = build_loopback_up_request();
  if (spec.net == NetMode::Pasta) ctx.loopback_up = &loopback_up;
  ctx.network_beside = makes_network_beside(spec);
  ctx.count_unroutable = spec.net == NetMode::Private || spec.net == NetMode::None;
  ctx.setgroups_allowed = ids.setgroups_allowed;
  ctx.mounts = &mounts;
  ctx.caps = &caps;
  ctx.no_new_privs = spec.no_new_privs;
  if (spec.oom_score_adj)
    snprintf(ctx.oom_score_adj, sizeof ctx.oom_score_adj, "%d", *spec.oom_score_adj);
  ctx.init_caps = init_caps.get();
  ctx.seccomp = &seccomp;
  if (!notify.code.empty()) ctx.notify = &notify;
  if (host_writes) ctx.guard = &host_write_guard_program();
  ctx.factory_fd = child_factory.get();
  ctx.tty = spec.tty;
  ctx.start_fifo_fd = start_fifo ? start_fifo.get() : -1;
  if (!create_hooks.empty()) ctx.create_hooks = &create_hooks;
  if (!start_hooks.empty()) ctx.start_hooks = &start_hooks;
  ctx.hook_state = hook_state.get();
  ctx.hook_state_cap = has_hooks ? kHookStateCap : 0;
  ctx.hostname = makes_namespace(spec, CLONE_NEWUTS) ? spec.hostname.c_str() : nullptr;
  ctx.uid = spec.uid;
  ctx.gid = spec.gid;
  ctx.groups = &groups;
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
  ctx.forwarded = signals.set();
  constexpr size_t kCommandStack = 256 * 1024;
  std::unique_ptr<char[]> command_stack(new char[kCommandStack]);
  ctx.command_stack = command_stack.get();
  ctx.command_stack_size = kCommandStack;
  const StringAreas& areas = process_string_areas();
  ctx.arg_start = areas.arg_start;
  ctx.arg_end = areas.arg_end;
  ctx.env_start = areas.env_start;
  ctx.env_end = areas.env_end;

  struct clone_args args {};
  args.flags = clone_namespace_flags(spec) | CLONE_PIDFD;
  bool new_cgroupns = makes_namespace(spec, CLONE_NEWCGROUP);
  int pidfd = -1;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup && cgroup->clone_into_fd() >= 0) {
    args.flags |= CLONE_INTO_CGROUP | (new_cgroupns ? CLONE_NEWCGROUP : 0);
    args.cgroup = static_cast<uint64_t>(cgroup->clone_into_fd());
  } else if (cgroup) {
    ctx.unshare_cgroupns = new_cgroupns;  // after the parent has moved it
  } else if (new_cgroupns) {
    args.flags |= CLONE_NEWCGROUP;
  }
  if (debug_enabled()) {
    std::string what = "sandbox: clone3 flags 0x" + [&] {
      char hex[24];
      snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(args.flags));
      return std::string(hex);
    }();
    what += std::string(", rootfs ") +
            (spec.layers.empty() ? spec.rootfs
                                 : std::to_string(spec.layers.size()) + " overlay layers") +
            ", uid " + std::to_string(spec.uid) + " gid " + std::to_string(spec.gid) +
            (ids.rootful       ? ", rootful id map"
             : ids.via_helpers ? ", subordinate ids"
                               : ", own id") +
            ", net " +
            (spec.net == NetMode::Private ? "private"
             : spec.net == NetMode::Pasta ? "pasta"
             : spec.net == NetMode::None  ? "none"
                                          : "host") +
            ", " + std::to_string(mounts.ops.size()) + " mount steps, cgroup " +
            (cgroup ? "yes" : "no") + ", command " + spec.argv[0];
    log_debug(what);
  }
  joined.enter();
  long pid = syscall(SYS_clone3, &args, sizeof args);  // sync 1
  int clone_errno = errno;
  if (pid != 0) joined.leave();
  if (pid < 0) throw_errno("cannot create the sandbox (clone3)", clone_errno);
  if (pid == 0) {
    // The runner's ends: once only the runner holds them, end of stream on
    // ours means the runner is gone.
    close(sock.release());
    if (factory) close(factory.release());
    child_main(ctx);
  }
  child_sock.reset();
  child_factory.reset();
  InitProcess init(static_cast<pid_t>(pid), pidfd);
  Watch watch;
  if (factory) watch.sockets = std::make_shared<SocketFactory>(std::move(factory));

  Result result;
  std::unique_ptr<Pasta> pasta;  // stopped when the run is over
  struct DeviceTwins {
    std::vector<std::string> dirs;
    ~DeviceTwins() { remove_device_twins(dirs); }
  } device_twins;  // --device nodes of a root runner, removed when it is over
  try {
    if (spec.keep_upper) {
      // Opened now, while the child is still ours to inspect: init turns
      // itself non-dumpable later, which closes /proc/PID/ns to a rootless
      // runner.
      watch.upper = std::make_shared<UpperDir>();
      std::string ns = "/proc/" + std::to_string(init.pid()) + "/ns/user";
      watch.upper->userns.reset(open(ns.c_str(), O_RDONLY | O_CLOEXEC));
      if (!watch.upper->userns) throw_errno("cannot open " + ns);
    }
    if (spec.user_namespace) write_id_mapping(init.pid(), ids);  // sync 2
    // Before Go: the command starts with its network up, and init is still
    // dumpable, so a rootless pasta may join its namespaces.
    if (spec.net == NetMode::Pasta) pasta = Pasta::start(init.pid());
    if (cgroup) cgroup->add_process(init.pid());
    std::vector<UniqueFd> trees;
    if (ids.rootful && spec.user_namespace && !given_maps)
      trees = make_idmapped_trees(mounts, init.pid(), ids.uids[0].outside, ids.gids[0].outside,
                                  device_twins.dirs);
    std::vector<int> tree_fds;
    Msg go{};
    go.type = MsgType::Go;
    go.ntrees = static_cast<uint32_t>(trees.size());
    for (size_t i = 0; i < trees.size(); ++i) {
      go.has_tree[i] = trees[i] ? 1 : 0;
      if (trees[i]) tree_fds.push_back(trees[i].get());
    }
    if (int rc = send_msg(sock.get(), go, tree_fds.data(),
                          static_cast<unsigned>(tree_fds.size()));  // sync 3
        rc < 0)
      throw_errno("cannot start the sandbox", -rc);
    // After Go: the runner is otherwise idle while the child mounts.
    if (ctx.network_beside)  // sync 4, 5
      make_network_beside(pidfd, spec.user_namespace, sock.get(),
                          loopback_up.empty() ? nullptr : &loopback_up);
    if (has_hooks) {  // sync 7
      std::string state = spec.hook_state(init.pid());
      if (state.size() > kHookStateCap) throw Error("the hooks' state is too large");
      Msg header{};
      header.type = MsgType::HookState;
      header.args[0] = static_cast<int32_t>(state.size());
      if (int rc = send_msg(sock.get(), header); rc < 0)
        throw_errno("cannot send the hooks' state", -rc);
      if (send(sock.get(), state.data(), state.size(), MSG_NOSIGNAL) < 0)
        throw_errno("cannot send the hooks' state");
    }
  } catch (const Error& e) {
    result.exit_code = kExitInternal;
    result.message = e.what();
    return result;  // ~InitProcess kills and reaps the child
  }
  Outcome out;
  wait_for_exit(init, sock.get(), signals, spec, hooks, watch, out, tty.get());
  if (out.ready) {
    // Made, waiting for start: it outlives this runner, cgroup and all.
    result.init_pid = init.pid();
    init.release();
    if (cgroup) cgroup->release();
    return result;
  }
  result.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
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
  log_debug("sandbox: ended with status " + std::to_string(result.exit_code) + " after " +
            std::to_string(static_cast<int>(result.wall_ms)) + " ms");
  if (result.oom_killed)
    result.message = "killed: out of memory (the memory limit was reached)";
  else if (result.timed_out)
    result.message = "killed: the timeout was reached";
  return result;
}

void sweep_leftovers() {
  sweep_cgroups();
}

}  // namespace coracle::sandbox

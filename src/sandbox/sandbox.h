// One sandboxed process: the public API of src/sandbox.
//
// run() starts spec.argv inside fresh user, mount, pid, ipc, uts, cgroup and
// (unless net == Host) network namespaces on an overlay of spec.rootfs, waits
// for it, and cleans up whatever happens. It knows nothing of images or chains:
// callers hand it a directory and a command.
#pragma once
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"
#include "common/userns.h"
#include "sandbox/device_cgroup.h"

namespace coracle::sandbox {

class SocketFactory;

// Private: own namespace, loopback only (the fast path). Pasta: own
// namespace with outbound access through pasta (pasta.h). None: own
// namespace, loopback down. Host: the host's namespace.
enum class NetMode { Private, None, Host, Pasta };
// "private", "pasta", "none", "host" (podman's names); throws coracle::Error.
NetMode parse_net_mode(std::string_view text);

struct BindMount {
  std::string source;  // host path
  std::string target;  // path inside the sandbox
  bool read_only = false;
  // Its propagation inside the sandbox (an OCI mount's shared, rslave, ...):
  // one of MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE, maybe with
  // MS_REC; 0: as the sandbox's mounts are (private).
  unsigned long propagation = 0;
  // The sandbox's own storage (a named volume), not a host folder shared
  // with it: bound as it is, never idmapped, so its files keep the
  // sandbox's host ids as the writable layer's do; as root, the runner
  // hands the directory itself to container root when it is not the
  // sandbox's yet.
  bool sandbox_owned = false;
};

// A file coracle writes for the sandbox (/etc/hosts, /etc/resolv.conf,
// /etc/hostname, a build secret): made on the sandbox's own tmpfs and bound
// read-only over target, so the rootfs (and a build's layer) never gets it
// and it never touches a disk.
struct GeneratedFile {
  std::string target;  // absolute, inside the sandbox
  std::string content;
  mode_t mode = 0644;
  uint32_t uid = 0, gid = 0;  // the sandbox's own ids
  // false: a target that cannot be made or bound is left out (the image
  // keeps its own /etc/hosts); true: that is an error.
  bool required = false;
};

// --device: a host device node bound in, the only bind without nodev.
struct DeviceMount {
  std::string source;  // the host's node, e.g. /dev/ttyUSB0
  std::string target;  // inside; empty: the same path
  // Some of "rwm" (read, write, mknod); "": all. Enforced by a device
  // cgroup, which needs root.
  std::string perms;
};

// A device node made in the sandbox's /dev (an OCI config's linux.devices):
// needs a sandbox without a user namespace of its own, which cannot mknod.
// The device cgroup allows it (rwm).
struct DeviceNode {
  std::string path;  // absolute, inside, under /dev
  char type = 'c';   // 'c', 'b' or 'p' (a FIFO)
  uint32_t major = 0, minor = 0;
  mode_t mode = 0666;
  uint32_t uid = 0, gid = 0;
};

// An OCI hook the sandbox runs itself, in its own namespaces
// (Spec::create_hooks, start_hooks).
struct ContainerHook {
  std::string path;                    // absolute
  std::vector<std::string> args, env;  // args[0] is the hook's argv[0]
  int timeout_s = 0;                   // 0: none
};

// --tmpfs: a tmpfs of its own at target (nosuid, nodev, always bounded).
struct TmpfsMount {
  std::string target;
  uint64_t size_bytes = 0;  // 0: as /tmp (tmp_size_bytes)
  unsigned mode = 01777;
  bool read_only = false, noexec = false;
};

struct Rlimit {
  int resource;  // RLIMIT_*
  rlim_t soft;
  rlim_t hard;
};

// The five capability sets of an OCI process, by name ("CAP_CHOWN"),
// each exactly as given (Spec::capability_sets).
struct CapabilitySets {
  std::vector<std::string> bounding, effective, permitted, inheritable, ambient;
};

struct Limits {
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<double> cpus;
  // Not empty: a device cgroup allowing these nodes and no other
  // (device_cgroup.h). The runner fills it for a sandbox with --device or
  // without a user namespace of its own; what the caller puts here (an OCI
  // config's allow rules) is allowed besides the defaults (root only).
  std::vector<DeviceRule> devices;
  // The cgroup's name. Empty: coracle-<runner pid>-<n>, removed with its
  // run (or swept once that runner is gone); set (an OCI container's): it
  // outlives the runner and is removed by destroy_cgroup(). A name under
  // coracle's own cgroup, or an absolute path from each hierarchy's root
  // ("/libpod_parent/libpod-ID", an OCI config's cgroupsPath).
  std::string cgroup_name;
  // An OCI config's cpu settings as the cgroup files take them (cpus above
  // is coracle's short form): cpu.shares (v2: cpu.weight), the CFS period
  // and quota, the realtime period and runtime (v1 only), cpuset's cpus
  // and mems.
  struct CpuSettings {
    std::optional<uint64_t> shares, period, realtime_period;
    std::optional<int64_t> quota, realtime_runtime;
    std::string cpuset_cpus, cpuset_mems;
    bool any() const {
      return shares || period || realtime_period || quota || realtime_runtime ||
             !cpuset_cpus.empty() || !cpuset_mems.empty();
    }
  } cpu;
  // A cgroup even without limits, that can be frozen (an OCI container's
  // pause; v1: its freezer hierarchy joined too).
  bool freezer = false;
  bool any() const {
    return memory_bytes || pids || cpus || cpu.any() || !devices.empty() || freezer;
  }
};

// PATH for a command whose environment sets none (Docker's default).
inline constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Spec {
  std::string rootfs;               // host directory, the lower layer
  std::vector<std::string> layers;  // or: lower layers, lowest first (an image)
  bool read_only_rootfs = false;    // no writable upper layer
  // rootfs is this run's own copy (an image flattened for a host without
  // overlayfs): mounted writable as it is, with no overlay.
  bool rootfs_is_private_copy = false;
  std::vector<std::string> argv;             // argv[0] is searched in PATH from env
  std::vector<std::string> env;              // "K=V"
  std::string workdir = "/";                 // created when missing
  uint32_t uid = 0, gid = 0;                 // inside the sandbox
  std::vector<uint32_t> supplementary_gids;  // the command's other groups (inside)
  std::string hostname = "coracle";
  NetMode net = NetMode::Private;
  std::optional<std::string> in_dir;   // at /in, read-only
  std::optional<std::string> out_dir;  // at /out, read-write
  std::vector<BindMount> volumes;
  // Bound before the volumes, so a volume on the same target wins. One
  // whose target cannot be made (a read-only rootfs without it) is left out.
  std::vector<GeneratedFile> generated_files;
  std::vector<DeviceMount> devices;
  std::vector<DeviceNode> device_nodes;
  // More tmpfs mounts (one at /tmp replaces the default /tmp).
  std::vector<TmpfsMount> tmpfs;
  std::vector<std::string> cap_add, cap_drop;  // "NET_ADMIN", "CAP_SYS_TIME", "ALL"
  // Set: these sets exactly, for any uid, instead of cap_add/cap_drop.
  std::optional<CapabilitySets> capability_sets;
  // false (an OCI config's noNewPrivileges: false): setuid binaries and file
  // capabilities inside work as they would on a host; the seccomp filter is
  // then loaded while the setup still holds CAP_SYS_ADMIN.
  bool no_new_privs = true;
  // /proc/self/oom_score_adj of the command (set on init, inherited).
  std::optional<int> oom_score_adj;
  // "" for the built-in default profile, "unconfined", or a Docker/OCI JSON file.
  std::string seccomp_profile;
  Limits limits;
  std::vector<Rlimit> rlimits;
  std::chrono::milliseconds timeout{0};        // 0: none
  std::chrono::milliseconds kill_grace{2000};  // SIGTERM → SIGKILL
  // Where the sandbox's stdio goes: fds of the caller, inherited at start.
  int stdin_fd = 0, stdout_fd = 1, stderr_fd = 2;
  // The caller's fds 3 .. 3+N-1 stay open in the command, at the same
  // numbers (an OCI runtime's --preserve-fds, socket activation).
  int preserved_fds = 0;
  // Forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 received by the
  // calling process to the sandbox while it runs.
  bool forward_signals = true;
  // A pty for the command (from the sandbox's own devpts), relayed to
  // stdout_fd and, with tty_input, from stdin_fd; the user's terminal in
  // raw mode meanwhile, the size kept in step (SIGWINCH).
  bool tty = false;
  bool tty_input = false;
  // Syscalls (e.g. "bind", "listen") of the command and all its descendants
  // that stop until a supervisor answers them (seccomp user notification).
  // The listener comes to Hooks::on_start, which must take it and answer
  // every notification while the sandbox runs: once it is closed, these
  // syscalls fail with ENOSYS. The profile still decides what is allowed.
  std::vector<std::string> notify_syscalls;
  // init makes sockets in the sandbox's network namespace on request
  // (Started::sockets); works rootless, where setns() into it would not.
  bool socket_factory = false;
  // Keep the overlay's upper dir after the run (Result::upper): what the
  // command changed, for the builder to turn into a layer. Needs an overlay
  // rootfs (not read_only_rootfs, not a private copy).
  bool keep_upper = false;
  // A fresh tmpfs on /tmp. The builder turns it off (a RUN's files in /tmp
  // belong to the image, as with docker build), and so does a writable
  // layer on disk (launch::put_writable_layer_on_disk) unless sized.
  bool tmp_tmpfs = true;
  // Bounds of the two tmpfs mounts: the overlay's writable layer (what the
  // command writes to its rootfs) and /tmp. 0: --memory's limit when set,
  // else kDefaultScratchBytes. A write past the bound fails with ENOSPC.
  uint64_t upper_size_bytes = 0;
  uint64_t tmp_size_bytes = 0;
  // A host directory (empty, the caller's own, e.g. under the store) for the
  // overlay's upper and work dirs instead of the bounded tmpfs: for a
  // command whose changes may grow large (the builder's RUN). Needs an
  // overlay rootfs. Its files keep the sandbox's host ids: the caller
  // removes it with remove_mapped_tree (common/userns.h).
  std::string upper_dir;
  // An OCI runtime's create/start split: a FIFO (mode 0622) on the host.
  // run() returns once the sandbox is set up (Result::init_pid), leaving it
  // to outlive the runner; its command starts when someone opens the FIFO
  // for reading, and init then exits with the command's status. Not with
  // keep_upper, pasta or notify_syscalls; tty only with console_socket.
  std::string start_fifo;
  // With tty and start_fifo: the pty master goes to this unix socket (an
  // OCI runtime's --console-socket, runc's protocol: one SCM_RIGHTS fd),
  // not to a relay of the caller's terminal.
  std::string console_socket;
  // Namespaced sysctls ("net.ipv4.ping_group_range" → "0 0"), written in the
  // sandbox's own namespaces before /proc/sys turns read-only. check_sysctl
  // refuses the ones that would reach the host.
  std::vector<std::pair<std::string, std::string>> sysctls;
  // More paths masked (an empty read-only tmpfs, or /dev/null for a file)
  // or made read-only, besides the /proc and /sys ones every sandbox has.
  std::vector<std::string> masked_paths, readonly_paths;
  // OCI createContainer hooks (after the root is set up, before `create`
  // returns; binaries opened on the host) and startContainer hooks (after
  // `start`, before the command; paths looked up inside), run by init in
  // the sandbox's namespaces. Each reads hook_state(init's host pid) on
  // stdin; one that fails or outlives its timeout fails the sandbox.
  std::vector<ContainerHook> create_hooks, start_hooks;
  std::function<std::string(int init_pid)> hook_state;
  // false (a root runner only): no user namespace of its own, so ids inside
  // are the host's and root inside is held in by the bounding set, seccomp,
  // no_new_privs and a device cgroup alone, as runc does. For an engine's
  // rootfs that cannot be idmapped (an overlay mount) or namespaces joined
  // from the host's side.
  bool user_namespace = true;
  // With a user namespace: exactly these maps (an OCI config's
  // uidMappings/gidMappings; a root runner only) instead of coracle's own.
  // The rootfs and binds are then taken as owned by those ids already, as
  // the engine prepared them: no idmapped mounts.
  std::vector<IdRange> uid_map, gid_map;
  // Namespaces joined (setns, before the sandbox is cloned) rather than
  // made: type is one of CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
  // CLONE_NEWPID, CLONE_NEWCGROUP; path a /proc/PID/ns file or a bind of one
  // (an engine's pre-made network namespace). A joined network is neither
  // configured nor given loopback: net must be Private or None.
  struct JoinedNamespace {
    int type;
    std::string path;
  };
  std::vector<JoinedNamespace> join_namespaces;
  // Namespace types (CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID |
  // CLONE_NEWCGROUP) not made: the runner's are kept, as an OCI config that
  // leaves them out asks. The host's network is NetMode::Host. The
  // hostname is then left alone.
  int shared_namespaces = 0;
};

// Throws coracle::Error for a sysctl a sandbox may not set: only those
// namespaced by the sandbox's own namespaces (net.* with a network of its
// own, kernel.shm*/msg*/sem, fs.mqueue.*, kernel.hostname/domainname).
void check_sysctl(const std::string& name, bool own_network);

// The default bound of the writable layer and of /tmp, each (documented in
// the README and docs/security.md).
inline constexpr uint64_t kDefaultScratchBytes = 1ULL << 30;
uint64_t upper_size_bytes(const Spec& spec);
uint64_t tmp_size_bytes(const Spec& spec);

// What a run changed (Spec::keep_upper): the overlay's upper dir on the
// sandbox's tmpfs, which this fd keeps alive after the sandbox has gone, and
// the sandbox's user namespace. Its files belong to ids of that namespace:
// a reader that joins it (setns) sees the container's own uids and gids
// and may read every file, rootless too.
struct UpperDir {
  UniqueFd dir;     // O_RDONLY | O_DIRECTORY
  UniqueFd userns;  // /proc/PID/ns/user of the sandbox
};

struct Result {
  int exit_code = 0;    // the command's, 128+N for signal N, 125/126/127
  int init_pid = 0;     // Spec::start_fifo: the waiting sandbox's init
  int term_signal = 0;  // N when killed by signal N
  bool oom_killed = false;
  bool timed_out = false;
  double wall_ms = 0;
  uint64_t peak_memory_bytes = 0;  // cgroup peak when limited, else max RSS
  std::string message;             // why, when coracle reports 125/126/127
  // A failed command on a network of loopback only (NetMode::Private or
  // None): the packets it sent to addresses outside, which had no route
  // (a name it tried to resolve, a host it tried to reach). 0 otherwise.
  uint64_t unroutable_packets = 0;
  std::shared_ptr<UpperDir> upper;  // with Spec::keep_upper, once set up
};

// What a watcher of a running sandbox gets (the port monitor, the chain).
struct Started {
  int init_pid = 0;                        // host pid of the sandbox's init
  UniqueFd seccomp_listener;               // with Spec::notify_syscalls
  std::shared_ptr<SocketFactory> sockets;  // with Spec::socket_factory
};

struct Hooks {
  // Called once the command has been exec'd, on the thread that called
  // run(); it must return quickly (start a thread for long work). A
  // coracle::Error thrown here kills the sandbox: run() returns 125 with it.
  std::function<void(Started&)> on_start;
};

// Runs the sandbox to completion. Setup failures come back as exit 125 with a
// message, not as exceptions; a bad spec (missing rootfs, bad profile) throws
// coracle::Error before anything starts.
Result run(const Spec& spec, const Hooks& hooks = {});

// Kills what is left in the named cgroup (Limits::cgroup_name) and removes
// it; nothing when there is none.
void destroy_cgroup(const std::string& name);

// Throws coracle::Error unless name (Limits::cgroup_name) stays below the
// hierarchies' roots: at least one component, none empty, "." or "..". Every
// function taking a cgroup name checks it: one from a damaged state file
// or a config must never name a hierarchy's root, whose processes
// destroy_cgroup would kill.
void check_cgroup_name(const std::string& name);

// Freezes (true) or thaws the named cgroup's processes (v2's cgroup.freeze,
// v1's freezer, which Limits::freezer joins) and waits until the kernel
// says it is done. Throws coracle::Error.
void freeze_cgroup(const std::string& name, bool frozen);
bool cgroup_frozen(const std::string& name);
// The processes in the named cgroup (host pids).
std::vector<pid_t> cgroup_pids(const std::string& name);

// Can this kernel mount overlayfs? (Loaded, or available as a module.)
// Without it, images run on a flattened private copy (rootfs_is_private_copy).
bool overlay_supported();

// run() with stdin /dev/null and the command's output handed to sink as it
// comes, on a reader thread: stream 1 (stdout) or 2 (stderr), and an empty
// piece when that stream ends. With merge, both go down one pipe in the
// order written, reported as stream 1.
using OutputSink = std::function<void(int stream, std::string_view data)>;
Result run_streamed(Spec spec, const Hooks& hooks, const OutputSink& sink, bool merge = false);

// run() with stdout and stderr captured (stdin is /dev/null).
struct Captured {
  Result result;
  std::string out, err;
};
Captured run_captured(Spec spec, const Hooks& hooks = {});

// Removes what dead runners left behind (the cgroups of a runner killed
// with SIGKILL, and what still ran in them): one directory read. The CLI
// calls it at the start of every command; a library caller, when it likes.
void sweep_leftovers();

}  // namespace coracle::sandbox

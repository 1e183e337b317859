// The steps of the sandbox's side of a run, in the order child_main takes
// them (child.cc reads as their table of contents, as nsjail's containProc
// does). Each step either returns or reports errno + what it was doing to
// the runner and exits: none allocates or throws. Internal to src/sandbox.
#pragma once
#include <sys/types.h>

#include "sandbox/child.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {

// Reports err (a positive errno or -errno) and what to the runner; exits 125.
[[noreturn]] void child_fail(const ChildContext& ctx, int err, const char* what);

// child_setup.cc: before the file system.
// The sandbox dies with its runner, even on SIGKILL (unless it outlives
// it: Spec::start_fifo). Checked: a sandbox no one would end is refused.
void tie_to_runner(const ChildContext& ctx);
// /proc/1/cmdline and environ show "coracle-init" and nothing of the host.
void scrub_process_strings(const ChildContext& ctx);
// Spec::oom_score_adj, while still the runner's uid.
void set_oom_score(const ChildContext& ctx);
// pasta's namespace (made by clone3): loopback up.
void bring_up_loopback(const ChildContext& ctx);

// What Go brought (sync point 3): the idmapped trees in their sources'
// places (-1 where a source has none), and the sources opened with the
// runner's access rights.
struct GoReceived {
  Msg go{};
  int received[kMaxMsgFds];
  int trees[kMaxMsgFds];
  int sources[kMaxMsgFds];
};
// Waits for Go (the id maps are written); opens the mount sources.
void await_go(const ChildContext& ctx, GoReceived& in);
// Root of the user namespace for the setup: a cgroup namespace when the
// runner moved us, uid/gid 0, the death signal armed again, no groups,
// the hostname.
void become_container_root(const ChildContext& ctx);
// The mount plan applied (the new root pivoted into), the network joined
// and awaited, the upper dir handed to the runner; Go's fds closed.
void build_root(const ChildContext& ctx, GoReceived& in);
// The command's rlimits, set on init (the command inherits them): one the
// host refuses fails the setup, not a started command.
void set_rlimits(const ChildContext& ctx);
// A session of its own (checked): the command gets no controlling
// terminal, so it cannot push input into the host's shell with TIOCSTI.
void start_session(const ChildContext& ctx);

// child_init.cc: hooks and init.
// The OCI hooks' state, right after Go; its length (0 without hooks).
size_t receive_hook_state(const ChildContext& ctx);
// Runs each hook in order; the first that fails ends the setup.
void run_hooks_or_fail(const ChildContext& ctx, const std::vector<PreparedHook>& hooks,
                       const char* kind, size_t state_len);
// Spec::start_fifo: says Ready, then blocks until `start` opens the FIFO.
void wait_for_start(const ChildContext& ctx);
// init from here: CAP_KILL only, Started sent, signals forwarded, the
// socket factory served, orphans reaped; exits when the command has.
[[noreturn]] void init_loop(const ChildContext& ctx, pid_t command);

// child_command.cc: the command.
// With Spec::tty, a pty of the sandbox's own devpts (its master to the
// runner); the slave, or -1 without a tty.
int open_command_terminal(const ChildContext& ctx);
// Signals blocked for init's wait, init non-dumpable, the command started
// (CLONE_VM | CLONE_VFORK: it runs until its exec on init's prepared
// stack). Returns its pid.
pid_t start_command(const ChildContext& ctx, int tty_slave);

}  // namespace coracle::sandbox

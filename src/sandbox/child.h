// The sandbox's side of a run. After clone3 the child is PID 1 of the new pid
// namespace: it finishes its own setup (ids, mounts, hostname), forks the
// command, and stays as a minimal init that reaps zombies and forwards
// signals. It runs coracle's code from the parent's address space (no
// re-exec through /proc/self/exe), allocates nothing, throws nothing, and
// reports any failure as errno + context over the sync socket.
#pragma once
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/caps.h"
#include "sandbox/container_hooks.h"
#include "sandbox/mounts.h"
#include "sandbox/seccomp.h"

namespace coracle::sandbox {

// Everything the child needs, prepared (and allocated) by the parent.
struct ChildCalls;  // child_calls.h

struct ChildContext {
  // The setup's syscalls (real_child_calls(), set by the runner before
  // clone3; a unit test's recording fake).
  const ChildCalls* calls = nullptr;
  int sync_fd = -1;
  // pasta's network namespace: loopback up by a prebuilt request (others
  // are made with loopback up beside the child, netns_maker.h).
  const std::vector<char>* loopback_up = nullptr;
  // A network namespace made beside the child: joined during the mounts,
  // its loopback awaited before the command starts.
  bool network_beside = false;
  // A network of loopback only (or nothing): a command that fails is
  // asked about packets it sent with no route (net_counters.h).
  bool count_unroutable = false;
  bool unshare_cgroupns = false;  // v1: the parent moves us; a new cgroupns after that
  bool setgroups_allowed = true;
  const MountPlan* mounts = nullptr;
  const CapPlan* caps = nullptr;
  bool no_new_privs = true;     // Spec::no_new_privs
  char oom_score_adj[16] = {};  // Spec::oom_score_adj as text, or empty
  cap_t init_caps = nullptr;    // what init keeps: CAP_KILL only
  const SeccompProgram* seccomp = nullptr;
  // Stacked under seccomp; its listener fd goes to the runner before exec.
  const SeccompProgram* notify = nullptr;
  // The host-write guard (writable binds), stacked under seccomp too.
  const SeccompProgram* guard = nullptr;
  int factory_fd = -1;             // init serves SocketFactory requests on it
  const char* hostname = nullptr;  // nullptr: a uts namespace not its own, left alone
  uid_t uid = 0;
  gid_t gid = 0;
  const std::vector<gid_t>* groups = nullptr;  // supplementary, for the command
  int stdio[3] = {0, 1, 2};
  unsigned preserved_fds = 0;            // Spec::preserved_fds
  std::vector<char*> argv, envp;         // NULL-terminated, pointing into the spec
  std::vector<std::string> search_path;  // PATH of the command's environment
  std::vector<Rlimit> rlimits;
  sigset_t forwarded;  // the signals init passes on
  // Stack for the command's vfork-style start (CLONE_VM | CLONE_VFORK): init
  // is suspended until the exec, so no page of it is copied.
  char* command_stack = nullptr;
  size_t command_stack_size = 0;
  // Where the runner's argv and environment strings are (the child has a
  // copy of them): init overwrites them, so /proc/1/cmdline and environ in
  // the sandbox show nothing of the host (the binary's path, the caller's
  // arguments, -e values). Zero when unknown.
  uintptr_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  bool tty = false;  // Spec::tty: the command gets a pty of the sandbox's devpts
  // Spec::start_fifo: an O_PATH fd of the FIFO (else -1). The sandbox then
  // outlives its runner (no parent-death signal): init says Ready, waits
  // until someone opens the FIFO for reading (`coracle-runc start`), then
  // starts the command, and exits with its status.
  int start_fifo_fd = -1;
  // Spec::create_hooks and start_hooks, and a buffer for the state the
  // runner sends after Go when there are any.
  const std::vector<PreparedHook>* create_hooks = nullptr;
  const std::vector<PreparedHook>* start_hooks = nullptr;
  char* hook_state = nullptr;
  size_t hook_state_cap = 0;
};

[[noreturn]] void child_main(const ChildContext& ctx);

}  // namespace coracle::sandbox

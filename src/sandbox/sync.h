// Typed messages between the runner (parent) and the sandbox's init (child)
// over a SOCK_SEQPACKET pair: one fixed-size record per message, optionally
// carrying file descriptors. Fixed size so the child can send without
// allocating, and a short read is always a protocol error.
#pragma once
#include <cstdint>

namespace coracle::sandbox {

// The order of a run, on both sides (runner.cc, child.cc name these
// numbers where they are):
//  1  runner: clone3; the child is in its namespaces, tied to the runner
//     (parent-death signal), its strings scrubbed, waiting for Go.
//  2  runner: the id maps written, pasta started on the child's network,
//     the cgroup joined, the idmapped trees made.
//  3  Go, runner → child (the trees as fds): the child opens its mount
//     sources, becomes container root and builds the new root. The runner
//     then starts the network helper.
//  4  Network, helper → child, during the mounts: the new network
//     namespace, joined at the plan's JoinNetwork step.
//  5  NetworkUp, runner → child, the helper reaped: loopback up; awaited
//     once the root is built.
//  6  Upper, child → runner (Spec::keep_upper): the upper dir's fd.
//  7  HookState, runner → child (container hooks only): the state the
//     hooks read, then createContainer hooks run.
//  8  Pty, child → runner (Spec::tty): the pty's master.
//  9  Ready, child → runner (Spec::start_fifo): made; the command starts
//     when `start` opens the FIFO; then startContainer hooks.
//  10 Listener, command → runner (Spec::notify_syscalls): the seccomp
//     listener, before the exec.
//  11 Started, init → runner: the command has exec'd.
//  12 Exited, init → runner: the command's status; init exits, which
//     ends the sandbox.
// Failure may come instead of any of the child's messages: the runner
// reports it and the sandbox ends. SocketRequest/SocketReply come any time
// after 11.
enum class MsgType : uint32_t {
  Go = 1,         // parent → child: ids mapped, cgroup joined; may carry mount fds
  Failure,        // child → parent: setup or exec failed (err, stage)
  Started,        // child → parent: the command has exec'd (or failed to; Failure says)
  Exited,         // child → parent: the command ended (status, maxrss)
  Listener,       // command → parent, before exec: the seccomp notification fd
  SocketRequest,  // parent → init: make args[3] sockets (family, type, protocol)
  SocketReply,    // init → parent: the sockets, or err
  Upper,          // child → parent, before the command starts: the upper dir fd
  Pty,            // init → parent, before the command starts: the pty master
  Ready,          // init → parent, Spec::start_fifo: set up, waiting for start
  Network,        // network helper → child, while it mounts: its namespace (one fd) or err
  NetworkUp,      // parent → child, the helper reaped: loopback up, or err; before the command
  HookState,      // parent → child, after Go: args[0] bytes of the hooks' state follow
};

// Image layers plus volumes; the kernel passes at most 253 (SCM_MAX_FD).
inline constexpr int kMaxMsgFds = 250;

struct Msg {
  MsgType type;
  int32_t err;        // errno for Failure
  int32_t exit_code;  // Failure: exit status to report; Exited: code
  int32_t signo;      // Exited: signal that killed the command, or 0
  uint32_t nfds;
  uint64_t maxrss_kib;  // Exited
  uint64_t unroutable;  // Exited: ChildContext::count_unroutable's count
  int32_t args[4];      // SocketRequest: family, type, protocol, count
  char context[240];    // Failure: what was being done, NUL-terminated
  // Go: which mount sources have an idmapped tree (1) or not (0); the fds
  // carry only the trees, in order (SCM_RIGHTS cannot carry a -1).
  uint8_t has_tree[kMaxMsgFds];
  uint32_t ntrees;  // Go: entries of has_tree in use
};

// Sends one message with up to kMaxMsgFds fds. Returns 0 or -errno; safe in
// the child (no allocation).
int send_msg(int sock, const Msg& msg, const int* fds = nullptr, unsigned nfds = 0);
// Receives one message; fds, if any, are stored (close-on-exec) in fds.
// Returns 0, -errno, or -EPIPE on end of stream.
int recv_msg(int sock, Msg& msg, int* fds = nullptr, unsigned max_fds = 0);

// Child side: reports err + context to the parent and exits with exit_code.
[[noreturn]] void fail_child(int sock, int err, const char* context, int exit_code = 125);

}  // namespace coracle::sandbox

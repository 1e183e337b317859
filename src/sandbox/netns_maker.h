// The sandbox's network namespace, made beside the child while it mounts.
//
// Creating a network namespace is the longest single step of a sandbox's
// start (0.4-0.8 ms here: every network subsystem sets itself up per
// namespace; bringing loopback up adds 0.1-0.3 ms), yet the child needs the
// namespace only when its mount plan reaches a net sysctl or /sys, and
// loopback only when the command starts. So the runner has a helper make
// it once it has sent Go: a process that shares the runner's memory and fd
// table (clone with CLONE_VM | CLONE_VFORK | CLONE_FILES, on a stack
// prepared here; the runner sleeps until it exits) and
//   1. joins the sandbox's user namespace (so that the new namespace is
//      owned by it, exactly as if the child had made it),
//   2. unshares CLONE_NEWNET and opens the namespace,
//   3. sends the namespace to the child itself (a Network message on the
//      runner's end of the sync socket), which joins it at the plan's
//      JoinNetwork step,
//   4. brings loopback up and exits.
// The runner reaps it and then sends NetworkUp, which the child waits for
// once its mounts are done, before the command: no process of the runner
// is left in the sandbox's user namespace when the command starts. A step
// that fails ends the helper; its message carries the errno and the step,
// and the child fails the setup with them.
//
// Why a process of its own: a thread cannot change its user namespace
// (setns refuses a task that shares its thread group or fs_struct), and a
// thread of the child took a pid in the sandbox's pid namespace, so the
// command was no longer PID 2. The helper lives in the runner's pid
// namespace, is never visible inside the sandbox, and has finished before
// the child lets the command start.
#pragma once
#include <sys/types.h>

#include <vector>

namespace coracle::sandbox {

// Runner side, right after Go: makes the namespace through the helper
// (clone with CLONE_VFORK: the runner sleeps until it exits, then reaps
// it) for the sandbox whose init pidfd refers to, the helper sending it
// on sync_fd (the runner's end); then sends NetworkUp. own_userns: the
// sandbox has a user namespace of its own to join (else it has the
// runner's). loopback_up: the prebuilt request, or null to leave loopback
// down. Throws Error when the helper cannot start or NetworkUp cannot be
// sent to a child that is still there.
void make_network_beside(int pidfd, bool own_userns, int sync_fd,
                         const std::vector<char>* loopback_up);

// Child side, on the sync socket. Each returns 0 or -errno with *what
// naming the step that failed (the helper's own, when it was there).
// Receives the namespace and joins it (the JoinNetwork step).
int join_network_from(int sync_fd, const char** what);
// Waits until loopback is up (or the helper's failure).
int await_network_up(int sync_fd, const char** what);

}  // namespace coracle::sandbox

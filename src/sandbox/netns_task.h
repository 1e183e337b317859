// The sandbox's network namespace, made on a task of its own while the
// child mounts the file system: creating a network namespace is the
// longest single step of a sandbox's start (~0.6 ms here: every
// subsystem's per-namespace set-up), and the child's mounts, which do not
// need it until /proc/sys and /sys, take longer still. A thread of the
// child (raw clone: CLONE_VM | CLONE_THREAD, on a stack the runner
// prepared) unshares CLONE_NEWNET, brings loopback up and opens its
// namespace; the child joins it (setns) when the mount plan says so.
// Nothing allocates; errors come back as -errno.
#pragma once
#include <cstddef>
#include <vector>

namespace coracle::sandbox {

// Starts the task (loopback_up: the prebuilt request, or null). 0 or -errno.
int start_netns_task(char* stack, size_t stack_size, const std::vector<char>* loopback_up);
// Waits for the task and moves the caller into its namespace; what names
// the step that failed. 1 when it joined, 0 when no task was started or
// it was joined already, -errno on failure. pid_file: an fd of the
// sandbox's /proc/sys/kernel/ns_last_pid (or -1), kept for
// reset_next_pid().
int join_netns_task(const char** what, int pid_file = -1);
// Right before the command starts: waits until the task has exited (it
// must not outlive the set-up: it holds the capabilities init drops) and,
// given ns_last_pid, until its pid is free, then makes that pid (2) the
// next one again, so that the command is PID 2 as without the task.
void reset_next_pid();

}  // namespace coracle::sandbox

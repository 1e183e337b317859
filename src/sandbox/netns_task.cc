#include "sandbox/netns_task.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "sandbox/net.h"

namespace coracle::sandbox {
namespace {

// The child's own copy (it is a process of its own): one task at most.
struct NetnsTask {
  const std::vector<char>* loopback_up = nullptr;
  std::atomic<int> done{0};  // the futex word: 1 once rc and fd are set
  int rc = 0;
  const char* what = nullptr;
  int fd = -1;  // the namespace, opened by the task before it exits
  bool started = false, joined = false;
  // The task's tid: set by clone, cleared (and woken) by the kernel when
  // the task exits (CLONE_CHILD_CLEARTID).
  std::atomic<pid_t> tid{0};
  pid_t first_tid = 0;
  int pid_file = -1;
} task;

int netns_task_main(void*) {
  // Only plain syscalls: this task has no thread state of its own in libc.
  if (unshare(CLONE_NEWNET) < 0) {
    task.rc = -errno;
    task.what = "create the network namespace";
  } else if (task.loopback_up) {
    if (int rc = send_netlink_request(*task.loopback_up); rc < 0) {
      task.rc = rc;
      task.what = "bring up loopback";
    }
  }
  if (task.rc == 0) {
    // Held by the fd: the namespace outlives this task's exit.
    task.fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (task.fd < 0) {
      task.rc = -errno;
      task.what = "open the network namespace";
    }
  }
  task.done.store(1, std::memory_order_release);
  syscall(SYS_futex, &task.done, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  return 0;
}

}  // namespace

int start_netns_task(char* stack, size_t stack_size, const std::vector<char>* loopback_up) {
  task.loopback_up = loopback_up;
  // A thread of the child: it shares the child's memory and fds (the
  // namespace fd), never its namespace; it exits on its own when done.
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
              CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  pid_t* tid = reinterpret_cast<pid_t*>(&task.tid);
  int rc = clone(netns_task_main, stack + stack_size, flags, nullptr, tid, nullptr, tid);
  if (rc < 0) return -errno;
  task.first_tid = rc;
  task.started = true;
  return 0;
}

int join_netns_task(const char** what, int pid_file) {
  if (!task.started || task.joined) {
    if (pid_file >= 0) close(pid_file);
    return 0;
  }
  task.pid_file = pid_file;
  while (task.done.load(std::memory_order_acquire) == 0)
    syscall(SYS_futex, &task.done, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  task.joined = true;
  if (task.rc < 0) {
    *what = task.what;
    return task.rc;
  }
  int rc = setns(task.fd, CLONE_NEWNET) < 0 ? -errno : 1;
  close(task.fd);
  if (rc < 0) *what = "join the network namespace";
  return rc;
}

void reset_next_pid() {
  if (!task.started) return;
  // Gone before the command exists, whatever else: the kernel clears the
  // tid when the task exits (it held the capabilities init drops later)...
  while (pid_t t = task.tid.load(std::memory_order_acquire))
    syscall(SYS_futex, &task.tid, FUTEX_WAIT, t, nullptr, nullptr, 0);
  if (task.pid_file < 0) return;
  // ... and frees its pid a moment later.
  for (int i = 0; i < 10000 && (kill(task.first_tid, 0) == 0 || errno != ESRCH); ++i) sched_yield();
  (void)!write(task.pid_file, "1", 1);
  close(task.pid_file);
  task.pid_file = -1;
}

}  // namespace coracle::sandbox

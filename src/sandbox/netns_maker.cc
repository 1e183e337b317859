#include "sandbox/netns_maker.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/error.h"
#include "sandbox/net.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {
namespace {

constexpr size_t kStackSize = 64 * 1024;

// What the helper does, shared with it through memory.
struct Job {
  int pidfd = -1;
  bool join_userns = true;
  int sync_fd = -1;
  const std::vector<char>* loopback_up = nullptr;
  int loopback_err = 0;  // set by the helper
};

// The helper's steps, as Msg::args[0] of a failure: the child names the
// step with a string of its own memory.
enum Step : int32_t { kJoinUserns, kMakeNetns, kOpenNetns, kLoopbackUp, kSteps };
constexpr const char* kStepNames[kSteps] = {"join the sandbox's user namespace (network helper)",
                                            "create the network namespace",
                                            "open the network namespace", "bring up loopback"};

// Runs in the helper: plain syscalls only, nothing allocated. It has no
// libc thread state of its own (it shares the runner's, errno included;
// the runner sleeps meanwhile): a failing step's errno is read at once.
int make_netns(void* p) {
  auto* job = static_cast<Job*>(p);
  Msg msg{};
  msg.type = MsgType::Network;
  int netns = -1;
  auto step_failed = [&](Step step, int err) {
    msg.err = err;
    msg.args[0] = step;
  };
  // The runner's capabilities over the sandbox's user namespace (it made
  // it) become this process's own inside it: enough to make a network
  // namespace there, and nothing on the host any more.
  if (job->join_userns && setns(job->pidfd, CLONE_NEWUSER) < 0)
    step_failed(kJoinUserns, errno);
  else if (unshare(CLONE_NEWNET) < 0)
    step_failed(kMakeNetns, errno);
  else if ((netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
    step_failed(kOpenNetns, errno);
  int sent = send_msg(job->sync_fd, msg, &netns, netns >= 0 ? 1 : 0);
  if (netns >= 0) close(netns);  // the child has its own copy now
  // The child's end closes when it fails or dies: nothing left to tell it.
  if (sent < 0 || msg.err) return 1;
  if (job->loopback_up) {
    if (int rc = send_netlink_request(*job->loopback_up); rc < 0) job->loopback_err = -rc;
  }
  return 0;
}

// Receives the helper's message of this type; 0 or -errno with *what set.
int receive_from_helper(int sync_fd, MsgType type, int* fd, const char** what) {
  Msg msg{};
  int received = -1;
  int rc = recv_msg(sync_fd, msg, &received, fd ? 1 : 0);
  if (rc == 0 && (msg.type != type || (msg.err == 0 && fd && msg.nfds != 1))) rc = -EPROTO;
  if (rc == 0 && msg.err) {
    rc = -msg.err;
    if (msg.args[0] >= 0 && msg.args[0] < kSteps) *what = kStepNames[msg.args[0]];
  }
  if (rc < 0 && received >= 0) close(received);
  if (rc == 0 && fd) *fd = received;
  return rc;
}

}  // namespace

void make_network_beside(int pidfd, bool own_userns, int sync_fd,
                         const std::vector<char>* loopback_up) {
  std::unique_ptr<char[]> stack(new char[kStackSize]);
  Job job;
  job.pidfd = pidfd;
  job.join_userns = own_userns;
  job.sync_fd = sync_fd;
  job.loopback_up = loopback_up;
  // CLONE_VFORK: this returns once the helper has exited, which it always
  // does on its own (its steps are bounded kernel work and one send on a
  // socket that has room). No exit signal: the runner's SIGCHLD is about
  // its sandbox; the helper is reaped with __WCLONE. No CLONE_FS or
  // CLONE_THREAD: setns into a user namespace needs both unshared.
  pid_t pid = clone(make_netns, stack.get() + kStackSize,
                    CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_UNTRACED, &job);
  if (pid < 0) throw_errno("cannot start the network namespace's helper");
  int status;
  while (waitpid(pid, &status, __WCLONE) < 0 && errno == EINTR) {
  }
  Msg up{};
  up.type = MsgType::NetworkUp;
  if (job.loopback_err) {
    up.err = job.loopback_err;
    up.args[0] = kLoopbackUp;
  }
  // A child that has gone meanwhile (a mount failed) has sent its Failure:
  // the runner reports that, not this send's EPIPE.
  if (int rc = send_msg(sync_fd, up); rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
    throw_errno("cannot start the sandbox", -rc);
}

int join_network_from(int sync_fd, const char** what) {
  int fd = -1;
  if (int rc = receive_from_helper(sync_fd, MsgType::Network, &fd, what); rc < 0) return rc;
  int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
  close(fd);
  return rc;
}

int await_network_up(int sync_fd, const char** what) {
  return receive_from_helper(sync_fd, MsgType::NetworkUp, nullptr, what);
}

}  // namespace coracle::sandbox

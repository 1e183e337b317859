// Where a run's writable layer lives: what its command writes to the
// rootfs (and, unless a tmpfs is asked for, to /tmp). By default on disk
// under the store, as podman keeps a container's: a sandbox's use of the
// host's RAM is then its processes' own, where two tmpfs mounts (the upper
// dir and /tmp) let any sandbox pin up to 2 GiB of RAM that no memory
// limit saw. A bounded tmpfs stays available (--upper-size, --tmp-size).
//
// What that costs an exec is kept off its critical path: the overlay is
// volatile (no sync of the host's file system at unmount), and the
// directory is removed by a child of the runner after the run, while the
// runner goes on (deleting a dozen entries on ext4 took ~0.5 ms here, 15%
// of an exec; measured in docs/benchmarks.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "common/userns.h"
#include "image/store.h"
#include "launch/launch.h"

namespace coracle::launch {
namespace {

// Removers not yet reaped, for a caller that outlives them (a chain's many
// steps): collected as later runs start, so none stays a zombie for long.
std::mutex removers_mutex;
std::vector<pid_t> removers;

void reap_finished_removers() {
  std::lock_guard lock(removers_mutex);
  std::erase_if(removers, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; });
}

}  // namespace

WritableLayer::~WritableLayer() {
  if (dir_.empty()) return;
  reap_finished_removers();
  pid_t pid = fork();
  if (pid == 0) {
    // No fd of the caller's: one holding a pipe open (the caller's stdout,
    // an event stream) would keep its reader waiting for the removal. A
    // Ctrl-C meant for the run does not stop the removal half way.
    // The directory's lock stays held (its fd, kept) until the removal is
    // done: the sweep of other commands leaves the directory to this one.
    unsigned keep = static_cast<unsigned>(lock_.get());
    if (keep > 0) syscall(SYS_close_range, 0U, keep - 1, 0U);
    syscall(SYS_close_range, keep + 1, ~0U, 0U);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);  // takes fd 0 (or the lock's neighbour)
    for (int fd = 0; fd < 3 && null >= 0; ++fd)
      if (fd != null && fd != static_cast<int>(keep)) dup2(null, fd);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    // Named for ps; behind the next run, but never starved (SCHED_IDLE
    // removers piled up by the dozen on a busy host).
    prctl(PR_SET_NAME, "coracle-rm", 0, 0, 0);
    (void)!nice(10);
    try {
      remove_mapped_tree(dir_);
    } catch (...) {
      // Swept by a later command (the directory names a dead process).
    }
    _exit(0);
  }
  if (pid < 0) {
    TreeRemoval now(dir_);  // no process to spare: removed here
    return;
  }
  std::lock_guard lock(removers_mutex);
  removers.push_back(pid);
}

WritableLayer put_writable_layer_on_disk(sandbox::Spec& spec, const std::string& store_root) {
  // A tmpfs asked for by size, a read-only root (its upper dir holds only
  // mount points, and /tmp stays a tmpfs as podman's --read-only has it),
  // a private copy (on disk already) or a caller's own dir: as they are.
  if (spec.upper_size_bytes || spec.read_only_rootfs || spec.rootfs_is_private_copy ||
      !spec.upper_dir.empty())
    return WritableLayer();
  // ROOT/tmp/run-PID-N: swept by the next command if this run is killed.
  std::string dir = image::make_store_tmp_dir(store_root, "run");
  UniqueFd lock(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!lock || flock(lock.get(), LOCK_EX) < 0) throw_errno("cannot lock " + dir);
  spec.upper_dir = dir;
  // /tmp is the rootfs's own directory (the image's, 1777), on that disk,
  // unless its size was given.
  if (!spec.tmp_size_bytes) spec.tmp_tmpfs = false;
  return WritableLayer(dir, std::move(lock));
}

}  // namespace coracle::launch

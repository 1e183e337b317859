#include "image/store_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

#include "common/error.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "common/userns.h"

namespace coracle::image {
namespace {

std::atomic<unsigned> tmp_counter{0};

constexpr const char* kLayerPurpose = "upper-";  // launch's writable layers
constexpr const char* kSparePurpose = "spare-";  // emptied ones, for the next run
constexpr size_t kMaxSpares = 4;
// Spares a quiet store keeps once its reaper has gone: the next run, maybe
// minutes later, then claims one instead of making three ext4 directories
// (the layer's own, its upper and work dirs) on its path.
constexpr size_t kSparesKeptWhenIdle = 1;

bool is_dead(pid_t pid) {
  return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

// Locks path (a directory) into held, unless someone holds it (a run that
// uses it, one that is claiming it: claim_layer_dir checks after its lock
// that the directory is still there under its name).
bool take_if_released(const std::string& path, UniqueFd& held) {
  held.reset(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return held && flock(held.get(), LOCK_EX | LOCK_NB) == 0;
}

// Removes path unless someone holds it locked (a run using its layer,
// another remover). True when something was removed.
bool remove_unless_held(const std::string& path) {
  UniqueFd held;
  // Not a directory (a blob's temporary file): nothing to hold.
  if (is_directory(path) && !take_if_released(path, held)) return false;
  try {
    // A sandbox's files may be of the caller's subordinate ids.
    remove_mapped_tree(path);
    return true;
  } catch (const Error&) {
    return false;  // best effort: tried again later
  }
}

// Makes a released layer dir a spare: its upper and work dirs emptied and
// kept (the next run neither makes them nor the dir itself: each inode
// ext4 allocates after many deletions is a search for one not recently
// freed), then renamed spare-PID-N. False when it could not be emptied.
bool make_spare(const std::string& tmp, const std::string& path) {
  try {
    for (const char* sub : {"/upper", "/work"}) {
      std::string dir = path + sub;
      if (!is_directory(dir)) continue;
      for (const auto& name : list_dir(dir)) remove_mapped_tree(dir + "/" + name);
    }
  } catch (const Error&) {
    return false;
  }
  return rename(path.c_str(), (tmp + "/" + tmp_entry_name("spare")).c_str()) == 0;
}

size_t count_spares(const std::vector<std::string>& names) {
  size_t n = 0;
  for (const auto& name : names) n += name.rfind(kSparePurpose, 0) == 0;
  return n;
}

std::vector<std::string> entries(const std::string& tmp, const char* prefix = "") {
  std::vector<std::string> names;
  DIR* d = opendir(tmp.c_str());
  if (!d) return names;
  while (struct dirent* e = readdir(d))
    if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
      names.emplace_back(e->d_name);
  closedir(d);
  return names;
}

// One pass over tmp/: every released layer made a spare (up to kMaxSpares)
// or removed, every dead entry removed. True when it did anything.
bool reap_once(const std::string& tmp) {
  std::vector<std::string> names = entries(tmp);
  size_t spares = count_spares(names);
  bool worked = false;
  for (const auto& name : names) {
    if (name.rfind(kSparePurpose, 0) == 0) continue;
    bool layer = name.rfind(kLayerPurpose, 0) == 0;
    if (!layer && !is_dead(tmp_entry_owner(name.c_str()))) continue;
    std::string path = tmp + "/" + name;
    UniqueFd held;
    if (layer && spares < kMaxSpares && take_if_released(path, held) && make_spare(tmp, path)) {
      ++spares;
      worked = true;
      continue;
    }
    held.reset();
    worked |= remove_unless_held(path);
  }
  return worked;
}

// The reaper's life: a pass whenever a run releases its layer (it opens
// the reaper's lock file for writing and closes it: inotify says so at
// once, so the spare is ready for the next run), until nothing has come
// for two seconds; then the spares go but one, so that a quiet store's
// tmp/ holds one empty layer.
void reap(const std::string& tmp, const std::string& lock_path) {
  UniqueFd events(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (events) inotify_add_watch(events.get(), lock_path.c_str(), IN_CLOSE_WRITE);
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  constexpr auto kIdle = std::chrono::seconds(2);
  while (Clock::now() - last_work < kIdle) {
    if (reap_once(tmp)) {
      last_work = Clock::now();
      continue;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(kIdle - (Clock::now() - last_work));
    // Without inotify: a look every 50 ms.
    struct pollfd p = {events.get(), POLLIN, 0};
    int wait_ms = events ? static_cast<int>(std::max<int64_t>(left.count(), 0)) : 50;
    if (poll(&p, 1, wait_ms) > 0) {
      char buf[4096];
      while (read(events.get(), buf, sizeof buf) > 0) {
      }
    }
  }
  std::vector<std::string> spares = entries(tmp, kSparePurpose);
  for (size_t i = kSparesKeptWhenIdle; i < spares.size(); ++i)
    remove_unless_held(tmp + "/" + spares[i]);
}

std::mutex reapers_mutex;
std::vector<pid_t> reapers;  // children not yet waited for
// The read end of the pipe on which a reaper started at a run's claim says
// it has closed its copies of this process's fds (none if it has said so).
UniqueFd reaper_not_yet_closed;

// Blocks until the reaper started last has closed its copies of this
// process's fds (at once, nearly always: it did so while the run ran).
void wait_for_reaper_to_close_fds() {
  if (!reaper_not_yet_closed) return;
  char byte;
  while (read(reaper_not_yet_closed.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  reaper_not_yet_closed.reset();
}

// Forks the reaper (the caller holds reapers_mutex and the reaper's lock,
// which the child takes over). Returns the pipe's read end, which sees a
// byte (or EOF) once the child holds no fd of the caller's but the lock;
// an invalid fd when no child could be made.
UniqueFd fork_reaper(const std::string& root, UniqueFd lock);

}  // namespace

std::string tmp_entry_name(const std::string& purpose) {
  return purpose + "-" + std::to_string(getpid()) + "-" + std::to_string(tmp_counter++);
}

pid_t tmp_entry_owner(const char* name) {
  const char* last = strrchr(name, '-');
  if (!last || last == name) return 0;
  const char* dash = last - 1;
  while (dash > name && *dash != '-') --dash;
  if (*dash != '-') return 0;
  char* end;
  long pid = strtol(dash + 1, &end, 10);
  return (end == last && pid > 0) ? static_cast<pid_t>(pid) : 0;
}

std::vector<std::string> dead_tmp_entries(const std::string& tmp, const std::string& purpose) {
  std::vector<std::string> stale;
  std::string prefix = purpose.empty() ? "" : purpose + "-";
  for (const auto& name : entries(tmp, prefix.c_str()))
    if (is_dead(tmp_entry_owner(name.c_str()))) stale.push_back(tmp + "/" + name);
  return stale;
}

std::string make_store_tmp_dir(const std::string& root, const std::string& purpose) {
  std::string tmp = root + "/tmp";
  std::string path = tmp + "/" + tmp_entry_name(purpose);
  if (mkdir(path.c_str(), 0700) < 0) {
    // No store yet (an exec of a rootfs directory opens none), or someone
    // cleaned up by removing tmp/ itself: made now, private as the store.
    if (errno != ENOENT) throw_errno("cannot create " + path);
    mkdir_p(root, 0700);
    mkdir_p(tmp, 0700);
    if (mkdir(path.c_str(), 0700) < 0) throw_errno("cannot create " + path);
  }
  return path;
}

ClaimedDir claim_layer_dir(const std::string& root) {
  std::string tmp = root + "/tmp";
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string path = tmp + "/" + tmp_entry_name("upper");
    bool claimed = false;
    // A spare: the rename is the claim (of two runs, one wins it).
    for (const auto& spare : entries(tmp, kSparePurpose))
      if (rename((tmp + "/" + spare).c_str(), path.c_str()) == 0) {
        claimed = true;
        break;
      }
    if (!claimed) path = make_store_tmp_dir(root, "upper");
    ClaimedDir out{path,
                   UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))};
    if (!out.lock || flock(out.lock.get(), LOCK_EX) < 0) continue;
    // The reaper may have taken it between its naming and the lock (it
    // takes unlocked layers): still there under this name, it is ours.
    struct stat held {
    }, named{};
    if (fstat(out.lock.get(), &held) == 0 && lstat(path.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      // Locked first: the reaper never takes a layer in use.
      start_reaper_for_a_run(root);
      return out;
    }
  }
  throw Error("cannot claim a directory for the writable layer under " + tmp);
}

void sweep_dead_tmp(const std::string& root) {
  std::string tmp = root + "/tmp";
  bool layers = false;
  for (const auto& name : entries(tmp)) {
    // Spares are kept for the next run; layers are the reaper's, off this
    // command's path.
    if (name.rfind(kSparePurpose, 0) == 0 || !is_dead(tmp_entry_owner(name.c_str()))) continue;
    if (name.rfind(kLayerPurpose, 0) == 0)
      layers = true;
    else
      remove_unless_held(tmp + "/" + name);
  }
  // No reaper to be had (a store whose locks/ cannot be written, no
  // process to spare): the dead layers go here after all.
  if (layers && !reap_tmp_in_background(root))
    for (const auto& path : dead_tmp_entries(tmp, "upper")) remove_unless_held(path);
}

namespace {

// The store's reaper lock, taken (a reaper to start) or not (one runs, or
// the lock file cannot be had: told by ok).
struct ReaperLock {
  UniqueFd fd;
  bool ok = false;
};
// wake: opened for writing, so that its close wakes a running reaper
// (IN_CLOSE_WRITE: a release); a run's start only looks.
ReaperLock take_reaper_lock(const std::string& root, bool wake) {
  std::string locks = root + "/locks";
  std::string path = locks + "/tmp-reaper";
  int mode = (wake ? O_RDWR : O_RDONLY) | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd lock(open(path.c_str(), mode, 0600));
  if (!lock && errno == ENOENT) {
    mkdir(locks.c_str(), 0700);
    lock.reset(open(path.c_str(), mode, 0600));
  }
  // A file (a directory opens read-only, and flocks, too).
  struct stat st;
  if (!lock || fstat(lock.get(), &st) < 0 || !S_ISREG(st.st_mode)) return {};
  if (flock(lock.get(), LOCK_EX | LOCK_NB) < 0) return {UniqueFd(), errno == EWOULDBLOCK};
  return {std::move(lock), true};
}

UniqueFd fork_reaper(const std::string& root, UniqueFd lock) {
  int closed[2];
  if (pipe2(closed, O_CLOEXEC) < 0) return UniqueFd();
  pid_t pid = fork();
  if (pid != 0) {
    close(closed[1]);
    if (pid < 0) {
      close(closed[0]);
      return UniqueFd();
    }
    reapers.push_back(pid);
    return UniqueFd(closed[0]);  // the child holds the lock now (the same open file)
  }
  // No fd of the caller's but the lock: one holding a pipe (the caller's
  // stdout, an event stream) would keep its reader waiting. A Ctrl-C meant
  // for the run does not stop a removal half way. Behind every run, but
  // never starved (a SCHED_IDLE remover waited indefinitely on a busy host).
  auto keep = static_cast<unsigned>(lock.get());
  int told = closed[1];
  // Everything but the lock and the pipe's end, in three ranges around them.
  unsigned low = std::min(keep, static_cast<unsigned>(told));
  unsigned high = std::max(keep, static_cast<unsigned>(told));
  if (low > 0) syscall(SYS_close_range, 0U, low - 1, 0U);
  if (high > low + 1) syscall(SYS_close_range, low + 1, high - 1, 0U);
  syscall(SYS_close_range, high + 1, ~0U, 0U);
  (void)!write(told, "x", 1);
  close(told);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && null >= 0; ++fd)
    if (fd != null && fd != static_cast<int>(keep)) dup2(null, fd);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  prctl(PR_SET_NAME, "coracle-reaper", 0, 0, 0);
  (void)!nice(19);
  try {
    reap(root + "/tmp", root + "/locks/tmp-reaper");
  } catch (...) {
  }
  _exit(0);
}

}  // namespace

void start_reaper_for_a_run(const std::string& root) {
  std::lock_guard guard(reapers_mutex);
  if (reaper_not_yet_closed) return;
  ReaperLock lock = take_reaper_lock(root, false);
  if (!lock.fd) return;  // one runs, or none can: the release sees to it
  // Not waited for here: by the run's release, the child has long closed
  // its copies of this process's fds (the release makes sure).
  reaper_not_yet_closed = fork_reaper(root, std::move(lock.fd));
}

bool reap_tmp_in_background(const std::string& root) {
  std::lock_guard guard(reapers_mutex);
  // The caller's locks (a run's layer, its volumes) are free once it
  // returns, and its stdout's reader sees EOF when it exits: no reaper
  // holds a copy of them.
  wait_for_reaper_to_close_fds();
  std::erase_if(reapers, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; });
  ReaperLock lock = take_reaper_lock(root, true);
  if (!lock.fd) return lock.ok;  // one runs (closing its lock file wakes it)
  UniqueFd closed = fork_reaper(root, std::move(lock.fd));
  if (!closed) return false;
  reaper_not_yet_closed = std::move(closed);
  wait_for_reaper_to_close_fds();
  return true;
}

}  // namespace coracle::image

#include "image/store_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "common/userns.h"

namespace coracle::image {
namespace {

std::atomic<unsigned> tmp_counter{0};

constexpr const char* kLayerPurpose = "upper-";  // launch's writable layers

bool is_dead(pid_t pid) {
  return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

// Removes path unless someone holds it locked (a run using its layer,
// another remover); young: a run layer made so lately that its maker may
// not have locked it yet. True when something was removed.
bool remove_unless_held(const std::string& path, bool must_be_old) {
  UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir) {
    if (flock(dir.get(), LOCK_EX | LOCK_NB) < 0) return false;
    if (must_be_old) {
      struct stat st {};
      struct timespec now {};
      clock_gettime(CLOCK_REALTIME, &now);
      if (fstat(dir.get(), &st) < 0) return false;
      double age = static_cast<double>(now.tv_sec - st.st_ctim.tv_sec) +
                   static_cast<double>(now.tv_nsec - st.st_ctim.tv_nsec) / 1e9;
      if (age < 0.25) return false;
    }
  }
  try {
    // A sandbox's files may be of the caller's subordinate ids.
    remove_mapped_tree(path);
    return true;
  } catch (const Error&) {
    return false;  // best effort: tried again later
  }
}

// The reaper's life: every released or dead entry removed, until nothing
// has come for two seconds.
void reap(const std::string& tmp) {
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  while (Clock::now() - last_work < std::chrono::seconds(2)) {
    bool removed = false;
    DIR* d = opendir(tmp.c_str());
    if (!d) return;
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    closedir(d);
    for (const auto& name : names) {
      bool dead = is_dead(tmp_entry_owner(name.c_str()));
      bool layer = name.rfind(kLayerPurpose, 0) == 0;
      if (dead || layer) removed |= remove_unless_held(tmp + "/" + name, !dead);
    }
    if (removed)
      last_work = Clock::now();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::mutex reapers_mutex;
std::vector<pid_t> reapers;  // children not yet waited for

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
  DIR* dir = opendir(tmp.c_str());
  if (!dir) return stale;
  while (struct dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (!purpose.empty() && name.rfind(purpose + "-", 0) != 0) continue;
    if (is_dead(tmp_entry_owner(name.c_str()))) stale.push_back(tmp + "/" + name);
  }
  closedir(dir);
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

void sweep_dead_tmp(const std::string& root) {
  bool layers = false;
  for (const auto& path : dead_tmp_entries(root + "/tmp")) {
    if (path.compare(root.size() + 5, strlen(kLayerPurpose), kLayerPurpose) == 0) {
      layers = true;  // the reaper's, off this command's path
      continue;
    }
    remove_unless_held(path, false);
  }
  if (layers) reap_tmp_in_background(root);
}

void reap_tmp_in_background(const std::string& root) {
  std::lock_guard guard(reapers_mutex);
  std::erase_if(reapers, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; });
  std::string locks = root + "/locks";
  UniqueFd lock(
      open((locks + "/tmp-reaper").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock && errno == ENOENT) {
    mkdir(locks.c_str(), 0700);
    lock.reset(
        open((locks + "/tmp-reaper").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  }
  if (!lock || flock(lock.get(), LOCK_EX | LOCK_NB) < 0) return;  // one runs already
  pid_t pid = fork();
  if (pid != 0) {
    if (pid > 0) reapers.push_back(pid);
    return;  // the child holds the lock now (the same open file)
  }
  // No fd of the caller's but the lock: one holding a pipe (the caller's
  // stdout, an event stream) would keep its reader waiting. A Ctrl-C meant
  // for the run does not stop a removal half way. Behind every run, but
  // never starved (a SCHED_IDLE remover waited indefinitely on a busy host).
  auto keep = static_cast<unsigned>(lock.get());
  if (keep > 0) syscall(SYS_close_range, 0U, keep - 1, 0U);
  syscall(SYS_close_range, keep + 1, ~0U, 0U);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && null >= 0; ++fd)
    if (fd != null && fd != static_cast<int>(keep)) dup2(null, fd);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  prctl(PR_SET_NAME, "coracle-reaper", 0, 0, 0);
  (void)!nice(19);
  try {
    reap(root + "/tmp");
  } catch (...) {
  }
  _exit(0);
}

}  // namespace coracle::image

#include "sandbox/device_twins.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/fs.h"
#include "sandbox/mount_api.h"

namespace coracle::sandbox {

// The twin lives in /tmp/coracle-device-PID-XXXXXX (0700, root's), so a
// killed runner's can be told and swept. Inside, the device belongs to
// container root as on the host it belongs to root: a 0660 serial port
// works. nodev is cleared on the clone alone, wherever /tmp is mounted.
UniqueFd make_device_tree(const std::string& source, uid_t owner, gid_t group,
                          std::vector<std::string>& made) {
  struct stat st;
  if (stat(source.c_str(), &st) < 0) return UniqueFd();
  std::string dir = "/tmp/coracle-device-" + std::to_string(getpid()) + "-XXXXXX";
  if (!mkdtemp(dir.data())) return UniqueFd();
  made.push_back(dir);
  std::string node = dir + "/node";
  UniqueFd tree;
  if (mknod(node.c_str(), (st.st_mode & S_IFMT) | (st.st_mode & 0777), st.st_rdev) == 0 &&
      chown(node.c_str(), owner, group) == 0 && chmod(node.c_str(), st.st_mode & 0777) == 0) {
    tree.reset(sys_open_tree(AT_FDCWD, node.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_NOSUID;
    attr.attr_clr = MOUNT_ATTR_NODEV;
    if (tree && sys_mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr) < 0) tree.reset();
  }
  return tree;
}

namespace {

// Removes the twin and its directory name in /tmp (tmp_fd). /tmp is
// everyone's: a name that is a symlink, or a directory not made by root,
// is someone else's and is left alone.
void remove_twin(int tmp_fd, const std::string& name) {
  UniqueFd dir(openat(tmp_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!dir || fstat(dir.get(), &st) < 0 || st.st_uid != 0) return;
  unlinkat(dir.get(), "node", 0);
  unlinkat(tmp_fd, name.c_str(), AT_REMOVEDIR);
}

}  // namespace

void remove_device_twins(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return;
  UniqueFd tmp(open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tmp) return;
  for (const auto& d : dirs) remove_twin(tmp.get(), d.substr(d.rfind('/') + 1));
}

void sweep_device_twins() {
  UniqueFd tmp(open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tmp) return;
  for (const auto& name : list_dir_at(tmp.get(), "/tmp")) {
    if (name.rfind("coracle-device-", 0) != 0) continue;
    long pid = strtol(name.c_str() + 15, nullptr, 10);
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH)
      remove_twin(tmp.get(), name);
  }
}

}  // namespace coracle::sandbox

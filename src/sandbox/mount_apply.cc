// The child's half of the mount plan: one loop over the operations, through
// a MountCalls table. Runs after clone, so it allocates nothing, throws
// nothing, and reports a failure as -errno plus the operation's name.
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sandbox/mount_calls.h"
#include "sandbox/mounts.h"

namespace coracle::sandbox {
namespace {

constexpr unsigned long kMsRdonly = 1, kMsBind = 4096, kMsRec = 16384, kMsPrivate = 1 << 18;
constexpr int kMntDetach = 2;

// "/proc/self/fd/N": mount(2) follows it to the fd's file. The host /proc
// is still mounted until pivot_root, and self resolves in its pid namespace.
struct FdPath {
  char buf[32];
  explicit FdPath(int fd) { snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd); }
  operator const char*() const { return buf; }
};

const char* data_or_null(const std::string& data) {
  return data.empty() ? nullptr : data.c_str();
}

class Applier {
 public:
  Applier(const MountCalls& sys, const int* trees, unsigned ntrees, const int* sources, int sync_fd)
      : sys_(sys), trees_(trees), ntrees_(ntrees), sources_(sources), sync_fd_(sync_fd) {}
  ~Applier() {
    if (dir_ >= 0) sys_.close(dir_);
    if (root_ >= 0) sys_.close(root_);
  }

  int apply(const MountOp& op, int* upper);
  // A failed step's own account of what failed (the network helper's
  // step), or null: the op's what says it.
  const char* failed_what() const { return failed_what_; }

 private:
  // Every tree the sandbox gets from outside (image layers, the rootfs, -v,
  // --in, --out) is nodev and nosuid: a device node or a setuid file that an
  // image or a host directory carries grants nothing inside. Only the /dev
  // nodes that coracle binds itself, and an explicit --device, keep working.
  // Nothing is lost by nosuid: the command runs with no_new_privs, which
  // ignores setuid bits and file capabilities anyway.
  int set_attrs(int tree, bool read_only, bool recursive, bool device) {
    struct mount_attr attr {};
    attr.attr_set =
        (device ? 0 : MOUNT_ATTR_NODEV) | MOUNT_ATTR_NOSUID | (read_only ? MOUNT_ATTR_RDONLY : 0);
    return sys_.mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr);
  }
  int move_onto(int tree, int target) {
    return sys_.move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  }
  // Clones the mount tree at (dfd, path) ("" for dfd itself) and attaches
  // it on target. Nothing is looked up by path but a host source.
  int clone_onto(int dfd, const char* path, int target, bool read_only, bool recursive,
                 bool device) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (*path ? 0 : AT_EMPTY_PATH) |
                     (recursive ? AT_RECURSIVE : 0);
    int tree = sys_.open_tree(dfd, path, flags);
    if (tree < 0) return tree;
    int rc = set_attrs(tree, read_only, recursive, device);
    if (rc >= 0) rc = move_onto(tree, target);
    sys_.close(tree);
    return rc;
  }
  // The mount point of op, made when missing (a directory or an empty
  // file), as an fd.
  int open_target(const MountOp& op, bool is_dir) {
    const char* path = op.target.c_str();
    switch (op.base) {
      case MountBase::Host:
        return sys_.open(path, O_PATH | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0), 0);
      case MountBase::Root:
        return is_dir ? sys_.mkdir_p_in_root(root_, path) : sys_.touch_in_root(root_, path);
      case MountBase::Dir:
        if (!is_dir)
          return sys_.openat(dir_, path, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (int rc = sys_.mkdirat(dir_, path, 0755); rc < 0 && rc != -EEXIST) return rc;
        return sys_.openat(dir_, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    }
    return -EINVAL;
  }
  int mount_fs(const MountOp& op);
  int write_file(const MountOp& op);
  int mask(const MountOp& op);
  int make_device(const MountOp& op);
  int pivot(const MountOp& op);

  const MountCalls& sys_;
  const int* trees_;
  unsigned ntrees_;
  const int* sources_;
  int sync_fd_;
  int root_ = -1, dir_ = -1;
  const char* failed_what_ = nullptr;
};

int Applier::make_device(const MountOp& op) {
  // target is absolute and clean (the plan checked it): its parent in the
  // root, then the node by name in it.
  const char* path = op.target.c_str();
  const char* slash = strrchr(path, '/');
  char parent[4096];
  size_t len = static_cast<size_t>(slash - path);
  if (len >= sizeof parent) return -ENAMETOOLONG;
  memcpy(parent, path, len);
  parent[len] = '\0';
  int dir = len == 0 ? sys_.open_in_root(root_, "/", O_PATH | O_DIRECTORY)
                     : sys_.mkdir_p_in_root(root_, parent);
  if (dir < 0) return dir;
  int rc = sys_.mknodat(dir, slash + 1, op.mode, static_cast<dev_t>(op.dev));
  if (rc == 0) rc = sys_.fchownat(dir, slash + 1, op.uid, op.gid, AT_SYMLINK_NOFOLLOW);
  sys_.close(dir);
  return rc;
}

int Applier::mount_fs(const MountOp& op) {
  const char* data = data_or_null(op.data);
  const char* source = op.source_name.empty() ? op.fstype.c_str() : op.source_name.c_str();
  if (op.base == MountBase::Host)
    return sys_.mount(source, op.target.c_str(), op.fstype.c_str(), op.flags, data);
  int target = open_target(op, true);
  if (target < 0) return target;
  int rc = sys_.mount(source, FdPath(target), op.fstype.c_str(), op.flags, data);
  sys_.close(target);
  if (rc < 0 || !op.enter) return rc;
  // The fd above is the directory under the new mount; names are made in
  // the mount itself.
  if (dir_ >= 0) sys_.close(dir_);
  dir_ = sys_.open_in_root(root_, op.target.c_str(), O_PATH | O_DIRECTORY);
  return dir_ < 0 ? dir_ : 0;
}

// A new file (O_EXCL: on a tmpfs of the plan's own, nothing else can be
// there) holding op.data.
int Applier::write_file(const MountOp& op) {
  int file = sys_.open(op.target.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, op.mode);
  if (file < 0) return file;
  unsigned long done = 0;
  // The child is root of the sandbox's user namespace here: the owner is
  // one of the sandbox's ids (a secret given to the RUN's user).
  int rc = op.uid || op.gid ? sys_.fchown(file, op.uid, op.gid) : 0;
  while (done < op.data.size() && rc == 0) {
    long n = sys_.write(file, op.data.data() + done, op.data.size() - done);
    if (n == -EINTR) continue;
    if (n <= 0) rc = n < 0 ? static_cast<int>(n) : -EIO;
    if (n > 0) done += static_cast<unsigned long>(n);
  }
  sys_.close(file);
  return rc;
}

int Applier::mask(const MountOp& op) {
  int target = sys_.open_in_root(root_, op.target.c_str(), O_PATH | O_NOFOLLOW);
  if (target == -ENOENT) return 0;
  if (target < 0) return target;
  struct stat st;
  int rc = sys_.fstat(target, &st);
  if (rc >= 0 && op.step == MountStep::ReadOnly)
    rc = clone_onto(target, "", target, true, true, false);
  else if (rc >= 0 && S_ISDIR(st.st_mode))
    rc = sys_.mount("tmpfs", FdPath(target), "tmpfs", kMsRdonly, "size=0,mode=0555");
  else if (rc >= 0)
    rc = sys_.mount("/dev/null", FdPath(target), nullptr, kMsBind, nullptr);
  sys_.close(target);
  return rc;
}

// pivot_root(".", ".") stacks the old root on the new one; detaching it
// leaves the host's file system unreachable (bubblewrap's and runc's trick,
// without needing a directory for the old root).
int Applier::pivot(const MountOp& op) {
  int rc = sys_.fchdir(root_);
  if (rc >= 0) rc = sys_.pivot_root(".", ".");
  if (rc >= 0) rc = sys_.umount2(".", kMntDetach);
  if (rc >= 0) rc = sys_.chdir("/");
  if (rc >= 0) rc = sys_.chdir(op.target.c_str());
  return rc;
}

int Applier::apply(const MountOp& op, int* upper) {
  switch (op.step) {
    case MountStep::MakePrivate:
      return sys_.mount(nullptr, "/", nullptr, kMsRec | kMsPrivate, nullptr);
    case MountStep::Mount:
      return mount_fs(op);
    case MountStep::Mkdir: {
      int rc;
      if (op.base == MountBase::Root) {
        rc = sys_.mkdir_p_in_root(root_, op.target.c_str());
        if (rc >= 0) sys_.close(rc);
      } else {
        rc = op.base == MountBase::Host ? sys_.mkdir(op.target.c_str(), op.mode)
                                        : sys_.mkdirat(dir_, op.target.c_str(), op.mode);
      }
      return rc == -EEXIST ? 0 : rc;
    }
    case MountStep::Symlink:
      return sys_.symlinkat(op.data.c_str(), dir_, op.target.c_str());
    case MountStep::BindHost: {
      int target = open_target(op, op.is_dir);
      int rc = target;
      if (target >= 0) {
        rc = op.read_only ? clone_onto(AT_FDCWD, op.data.c_str(), target, true, true, false)
                          : sys_.mount(op.data.c_str(), FdPath(target), nullptr, kMsBind, nullptr);
        sys_.close(target);
      }
      return op.optional ? 0 : rc;
    }
    case MountStep::Attach: {
      int target = open_target(op, op.is_dir);
      if (target < 0) return target;
      int tree =
          op.source >= 0 && static_cast<unsigned>(op.source) < ntrees_ ? trees_[op.source] : -1;
      int rc;
      if (tree >= 0) {
        rc = set_attrs(tree, op.read_only, true, op.device);
        if (rc >= 0) rc = move_onto(tree, target);
      } else {
        rc = clone_onto(sources_[op.source], "", target, op.read_only, true, op.device);
      }
      sys_.close(target);
      return rc;
    }
    case MountStep::WriteFile:
      return write_file(op);
    case MountStep::Sysctl: {
      int file = sys_.open_in_root(root_, op.target.c_str(), O_WRONLY | O_NOFOLLOW);
      if (file < 0) return file;
      long n = sys_.write(file, op.data.data(), op.data.size());
      sys_.close(file);
      return n < 0 ? static_cast<int>(n) : 0;
    }
    case MountStep::KeepUpper:
      *upper = sys_.open(op.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      return *upper < 0 ? *upper : 0;
    case MountStep::EnterRoot:
      root_ = sys_.open(op.target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
      return root_ < 0 ? root_ : 0;
    case MountStep::MakeDevice:
      return make_device(op);
    case MountStep::Propagate: {
      int target = open_target(op, op.is_dir);
      if (target < 0) return target;
      int rc = sys_.mount(nullptr, FdPath(target), nullptr, op.flags, nullptr);
      sys_.close(target);
      return rc;
    }
    case MountStep::Mask:
    case MountStep::ReadOnly:
      return mask(op);
    case MountStep::RootReadOnly: {
      struct mount_attr attr {};
      attr.attr_set = MOUNT_ATTR_RDONLY;
      return sys_.mount_setattr(root_, "", AT_EMPTY_PATH, &attr);
    }
    case MountStep::PivotRoot:
      return pivot(op);
    case MountStep::JoinNetwork:
      return sys_.join_network(sync_fd_, &failed_what_);
  }
  return -EINVAL;
}

}  // namespace

int apply_mount_plan(const MountPlan& plan, const MountCalls& sys, const int* trees,
                     unsigned ntrees, const int* sources, int sync_fd, int* upper,
                     const char** what) {
  Applier applier(sys, trees, ntrees, sources, sync_fd);
  for (const MountOp& op : plan.ops) {
    int rc = applier.apply(op, upper);
    if (rc < 0) {
      *what = applier.failed_what() ? applier.failed_what() : op.error_context();
      return rc;
    }
  }
  return 0;
}

}  // namespace coracle::sandbox

// The syscalls that apply a mount plan, as a table of plain functions: the
// child uses real_mount_calls(); a unit test passes its own to see what a
// plan would do, without root and without touching a mount (youki's
// fakeable syscall layer is the model). Every entry returns its result
// (>= 0) or -errno, and none allocates.
#pragma once
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>

namespace coracle::sandbox {

struct MountCalls {
  int (*mount)(const char* source, const char* target, const char* fstype, unsigned long flags,
               const char* data);
  int (*umount2)(const char* target, int flags);
  int (*open_tree)(int dfd, const char* path, unsigned flags);
  int (*move_mount)(int from_dfd, const char* from_path, int to_dfd, const char* to_path,
                    unsigned flags);
  int (*mount_setattr)(int dfd, const char* path, unsigned flags, struct mount_attr* attr);
  int (*open)(const char* path, int flags, mode_t mode);
  int (*openat)(int dfd, const char* path, int flags, mode_t mode);
  // common/fs.h's lookups inside a root (RESOLVE_IN_ROOT).
  int (*open_in_root)(int root, const char* path, int flags);
  int (*mkdir_p_in_root)(int root, const char* path);
  int (*touch_in_root)(int root, const char* path);
  int (*mkdir)(const char* path, mode_t mode);
  int (*mkdirat)(int dfd, const char* path, mode_t mode);
  int (*symlinkat)(const char* text, int dfd, const char* path);
  long (*write)(int fd, const void* data, unsigned long size);
  int (*fchown)(int fd, uint32_t uid, uint32_t gid);
  int (*fstat)(int fd, struct stat* st);
  int (*close)(int fd);
  int (*fchdir)(int fd);
  int (*chdir)(const char* path);
  int (*pivot_root)(const char* new_root, const char* put_old);
  int (*mknodat)(int dfd, const char* path, mode_t mode, dev_t dev);
  int (*fchownat)(int dfd, const char* path, uint32_t uid, uint32_t gid, int flags);
  // join_network_from (netns_maker.h): receives the network namespace the
  // runner's helper made and joins it; what names a step of the helper's.
  int (*join_network)(int sync_fd, const char** what);
};

const MountCalls& real_mount_calls();

}  // namespace coracle::sandbox

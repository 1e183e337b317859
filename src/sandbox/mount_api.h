// The new mount API (open_tree, move_mount, mount_setattr) as glibc 2.36
// does not wrap it: one place for the raw syscalls, used by the mount
// setup and the --device twins.
#pragma once
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace coracle::sandbox {

inline int sys_open_tree(int dfd, const char* path, unsigned flags) {
  return static_cast<int>(syscall(SYS_open_tree, dfd, path, flags));
}
inline int sys_move_mount(int from, const char* from_path, int to, const char* to_path,
                          unsigned flags) {
  return static_cast<int>(syscall(SYS_move_mount, from, from_path, to, to_path, flags));
}
inline int sys_mount_setattr(int dfd, const char* path, unsigned flags, struct mount_attr* attr) {
  return static_cast<int>(syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof *attr));
}

}  // namespace coracle::sandbox

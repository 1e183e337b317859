#include "sandbox/mount_calls.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"
#include "sandbox/mount_api.h"
#include "sandbox/netns_maker.h"

// <sys/mount.h> and <linux/mount.h> clash on glibc 2.36; mount(2) itself is
// declared here.
extern "C" int mount(const char*, const char*, const char*, unsigned long, const void*) noexcept;
extern "C" int umount2(const char*, int) noexcept;

namespace coracle::sandbox {
namespace {

int result(long rc) {
  return rc < 0 ? -errno : static_cast<int>(rc);
}

const MountCalls kReal = {
    [](const char* source, const char* target, const char* fstype, unsigned long flags,
       const char* data) { return result(::mount(source, target, fstype, flags, data)); },
    [](const char* target, int flags) { return result(::umount2(target, flags)); },
    [](int dfd, const char* path, unsigned flags) {
      return result(sys_open_tree(dfd, path, flags));
    },
    [](int from, const char* from_path, int to, const char* to_path, unsigned flags) {
      return result(sys_move_mount(from, from_path, to, to_path, flags));
    },
    [](int dfd, const char* path, unsigned flags, struct mount_attr* attr) {
      return result(sys_mount_setattr(dfd, path, flags, attr));
    },
    [](const char* path, int flags, mode_t mode) { return result(::open(path, flags, mode)); },
    [](int dfd, const char* path, int flags, mode_t mode) {
      return result(::openat(dfd, path, flags, mode));
    },
    [](int root, const char* path, int flags) { return open_in_root(root, path, flags); },
    [](int root, const char* path) { return mkdir_p_in_root(root, path); },
    [](int root, const char* path) { return touch_in_root(root, path); },
    [](const char* path, mode_t mode) { return result(::mkdir(path, mode)); },
    [](int dfd, const char* path, mode_t mode) { return result(::mkdirat(dfd, path, mode)); },
    [](const char* text, int dfd, const char* path) {
      return result(::symlinkat(text, dfd, path));
    },
    [](int fd, const void* data, unsigned long size) {
      long n = ::write(fd, data, size);
      return n < 0 ? -static_cast<long>(errno) : n;
    },
    [](int fd, uint32_t uid, uint32_t gid) { return result(::fchown(fd, uid, gid)); },
    [](int fd, struct stat* st) { return result(::fstat(fd, st)); },
    [](int fd) { return result(::close(fd)); },
    [](int fd) { return result(::fchdir(fd)); },
    [](const char* path) { return result(::chdir(path)); },
    [](const char* new_root, const char* put_old) {
      return result(syscall(SYS_pivot_root, new_root, put_old));
    },
    [](int dfd, const char* path, mode_t mode, dev_t dev) {
      return result(::mknodat(dfd, path, mode, dev));
    },
    [](int dfd, const char* path, uint32_t uid, uint32_t gid, int flags) {
      return result(::fchownat(dfd, path, uid, gid, flags));
    },
    join_network_from,
};

}  // namespace

const MountCalls& real_mount_calls() {
  return kReal;
}

}  // namespace coracle::sandbox

// The sandbox's file system: an overlay of the rootfs with a tmpfs upper
// layer (gone with the mount namespace, so nothing is left on disk), fresh
// /proc, a minimal /dev, /sys read-only, /tmp, the /in, /out and -v binds,
// the masked /proc and /sys paths of the OCI defaults, then pivot_root.
//
// Every source is opened in the parent (with the caller's rights, before any
// namespace exists) and reaches the child as an fd; every target is resolved
// inside the new root with RESOLVE_IN_ROOT, so a symlink in the image cannot
// send a mount outside it.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

struct BindPlan {
  std::string target;  // absolute, inside the sandbox
  bool read_only = false;
  bool is_dir = true;
  UniqueFd source;     // O_PATH, opened by the parent
};

struct MountPlan {
  UniqueFd rootfs;     // O_PATH directory
  bool read_only_rootfs = false;
  bool fresh_sysfs = true;     // own network namespace: a sysfs of its own
  bool devpts_tty_gid = false; // gid 5 (tty) is mapped
  std::string staging = "/tmp"; // host dir the child covers with its tmpfs
  std::string workdir = "/";
  std::vector<BindPlan> binds;
};

MountPlan plan_mounts(const Spec& spec, bool tty_gid_mapped);

// Parent side, once the child's id maps are written: for the rootfs and each
// bind, a detached mount idmapped to the child's user namespace, so files
// owned by host root look owned by container root inside, and files the
// sandbox creates belong to the caller outside. Entries are -1 where the
// file system cannot be idmapped (the child then binds the plain source).
// Empty when the kernel has no idmapped mounts.
std::vector<UniqueFd> make_idmapped_trees(const MountPlan& plan, pid_t child);

// Child side: everything up to and including pivot_root and chdir(workdir).
// trees[i] for the rootfs (i = 0) and binds (i = 1 + n), or -1. Returns 0,
// or -errno with *what naming the step (a buffer of the child's own).
int setup_filesystem(const MountPlan& plan, const int* trees, unsigned ntrees, const char** what);

}  // namespace coracle::sandbox

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
  std::string source;  // absolute host path, checked by the parent
  std::string target;  // absolute, inside the sandbox
  bool read_only = false;
  bool is_dir = true;
  bool device = false;  // --device: the one bind that is not nodev
};

struct MountPlan {
  std::vector<std::string> lower_paths;  // the rootfs layers, lowest first
  std::vector<UniqueFd> lowers;          // O_PATH dirs, for the idmapped trees
  bool read_only_rootfs = false;
  bool private_rootfs = false;   // Spec::rootfs_is_private_copy
  bool keep_upper = false;       // Spec::keep_upper
  bool tmp_tmpfs = true;         // Spec::tmp_tmpfs
  bool fresh_sysfs = true;       // own network namespace: a sysfs of its own
  bool devpts_tty_gid = false;   // gid 5 (tty) is mapped
  std::string staging = "/tmp";  // host dir the child covers with its tmpfs
  std::string staging_options;   // its mount data (mode, size: the upper's bound)
  std::string tmp_options;       // /tmp's tmpfs (mode, size)
  std::string workdir = "/";
  std::vector<BindPlan> binds;
  std::string upper_dir;                 // Spec::upper_dir: a plain bind, never idmapped
  std::vector<GeneratedFile> generated;  // Spec::generated_files
  struct Tmpfs {
    std::string target, options;  // options: "mode=...,size=..."
    unsigned long flags;
  };
  std::vector<Tmpfs> tmpfs;  // Spec::tmpfs
};

MountPlan plan_mounts(const Spec& spec, bool tty_gid_mapped);

// Mount sources, in the order trees and sources use: the lower layers, the
// binds, then the upper dir when there is one.
inline size_t source_count(const MountPlan& plan) {
  return plan.lowers.size() + plan.binds.size() + (plan.upper_dir.empty() ? 0 : 1);
}

// Parent side, once the child's id maps are written: for each rootfs layer
// and each bind, a detached mount idmapped to the child's user namespace, so files
// owned by host root look owned by container root inside, and files the
// sandbox creates belong to the caller outside. Entries are -1 where the
// file system cannot be idmapped (the child then binds the plain source).
// Empty when the kernel has no idmapped mounts.
// Device binds (--device) get a twin node owned by container root's host
// ids (root_uid, root_gid) instead, in a directory named in device_dirs:
// remove_device_twins() (device_twins.h) once the sandbox has ended.
std::vector<UniqueFd> make_idmapped_trees(const MountPlan& plan, pid_t child, uid_t root_uid,
                                          gid_t root_gid, std::vector<std::string>& device_dirs);

// Child side, before it changes uid: opens (O_PATH) every source that has no
// tree in trees, into sources[i] (source_count order). The child
// must open them itself: a mount seen through a fd of the parent's mount
// namespace cannot be cloned into the child's. Returns 0 or -errno.
int open_sources(const MountPlan& plan, const int* trees, unsigned ntrees, int* sources,
                 const char** what);

// Child side: everything up to and including pivot_root and chdir(workdir).
// trees[i] is the parent's idmapped tree for source i, or -1; sources[i]
// the child's own fd for it otherwise. With plan.keep_upper, *upper gets a
// directory fd of the overlay's upper dir, opened before pivot_root hides
// it. Returns 0, or -errno with *what naming the step.
int setup_filesystem(const MountPlan& plan, const int* trees, unsigned ntrees, const int* sources,
                     int* upper, const char** what);

}  // namespace coracle::sandbox

// The sandbox's file system: the mount plan (mount_plan.h) and the two
// sides that carry it out around clone.
//
// Every source is opened outside the sandbox's reach (the rootfs by the
// parent, binds by the child with the caller's own rights before its uid
// changes) and reaches the setup as an fd; every target is resolved inside
// the new root with RESOLVE_IN_ROOT, so a symlink in the image cannot send a
// mount outside it.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/mount_calls.h"
#include "sandbox/mount_plan.h"

namespace coracle::sandbox {

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

// Child side: the plan's operations in order, up to and including
// pivot_root and chdir to the working directory, through sys. trees[i] is
// the parent's idmapped tree for source i, or -1; sources[i] the child's
// own fd for it otherwise. A KeepUpper operation puts a directory fd of the
// overlay's upper dir in *upper. Returns 0, or -errno with *what naming the
// operation. A JoinNetwork operation receives the namespace on sync_fd.
// Allocates nothing.
int apply_mount_plan(const MountPlan& plan, const MountCalls& sys, const int* trees,
                     unsigned ntrees, const int* sources, int sync_fd, int* upper,
                     const char** what);

}  // namespace coracle::sandbox

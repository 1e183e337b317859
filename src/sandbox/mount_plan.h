// The sandbox's file system as data. The parent turns a Spec into a list of
// mount operations (plan_mounts: every path, flag and mount option decided,
// every error a Spec can cause raised, allocating freely); the child walks
// the list in one allocation-free loop (apply_mount_plan, mounts.h) through
// a table of syscalls that a test can replace. bubblewrap's SetupOp list is
// the model.
//
// What the plan builds: an overlay of the rootfs layers with its upper dir
// on a bounded tmpfs (gone with the mount namespace), or on a caller's dir;
// a fresh /proc, a minimal /dev, /sys read-only, /tmp, the generated /etc
// files, the --tmpfs mounts, the /in, /out, -v and --device binds, the
// masked /proc and /sys paths of the OCI defaults, the root made read-only
// (--read-only) and pivot_root.
//
// Where an operation's target is looked up (MountOp::base) is part of the
// plan: the staging tmpfs by host path, before the root exists; everything
// in the root with RESOLVE_IN_ROOT, so a symlink in the image cannot send a
// mount outside it; names in a tmpfs the plan has just mounted (/dev) by
// one openat, since nothing else can have put anything there.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

enum class MountStep : uint8_t {
  MakePrivate,   // nothing done from here on propagates to the host's mounts
  Mount,         // a file system (fstype, flags, data) on target; with enter, it
                 // becomes the directory that Base::Dir names are in
  Mkdir,         // a directory (mode); one that exists is fine
  Symlink,       // target -> data
  BindHost,      // the host path data (/dev/null, /sys) bound on target (made if
                 // missing, a file or a directory as is_dir says), read_only
                 // (then submounts too)
  Attach,        // mount source `source` (its idmapped tree, or a bind of it) on target
  WriteFile,     // a new file at target (a host path on a tmpfs of the plan's
                 // own) holding data, with mode, uid and gid
  Sysctl,        // data written into the existing file target (a /proc/sys entry,
                 // resolved in the root), before /proc/sys turns read-only
  KeepUpper,     // target (host) opened for the runner: the overlay's upper dir
  EnterRoot,     // target (host) becomes the root that Base::Root paths resolve in
  MakeDevice,    // a node (mode: type and permissions, dev) at target in the root,
                 // owned by uid:gid; its parent directories made
  Propagate,     // target's propagation set to flags (MS_SHARED, ... | MS_REC)
  Mask,          // a directory: an empty read-only tmpfs; a file: /dev/null; absent: nothing
  ReadOnly,      // target re-bound read-only, submounts too; absent: nothing
  RootReadOnly,  // the root mount itself read-only (its submounts keep their flags)
  PivotRoot,     // pivot_root into the root, detach the host's, chdir to target
  JoinNetwork,   // join the sandbox's network namespace, made meanwhile beside the
                 // child (netns_maker.h): before the first step that needs it
};

enum class MountBase : uint8_t {
  Host,  // an absolute path in the child's mount namespace, before pivot_root
  Root,  // resolved inside the root (RESOLVE_IN_ROOT); missing parents made
  Dir,   // a name in the directory the last Mount with enter opened
};

struct MountOp {
  MountStep step;
  MountBase base = MountBase::Root;
  std::string target;
  std::string fstype;
  std::string source_name;    // Mount: the source mountinfo shows; empty: fstype
  std::string data;           // mount data, symlink text, host source path, file content
  unsigned long flags = 0;    // MS_* of a Mount
  mode_t mode = 0755;         // Mkdir, WriteFile
  uint32_t uid = 0, gid = 0;  // WriteFile: its owner
  uint64_t dev = 0;           // MakeDevice: makedev(major, minor)
  int source = -1;            // Attach: index into the mount sources (source_count order)
  bool read_only = false;     // Attach, BindHost
  bool device = false;        // Attach: a --device, the one bind without nodev
  bool is_dir = true;         // Attach, BindHost: the mount point's kind
  bool enter = false;         // Mount
  bool optional = false;      // BindHost: a failure is not an error (/dev/tty, a
                              // generated file whose target cannot be made)
  const char* what = "";      // names the operation in an error
  std::string context;        // what and its operand ("bind a volume: /data"), or empty
  const char* error_context() const { return context.empty() ? what : context.c_str(); }
};

// One mount source the child gets as an fd: a rootfs layer, a bind's host
// path, or the upper dir on disk.
struct BindPlan {
  std::string source;  // absolute host path, checked by the parent
  std::string target;  // absolute, inside the sandbox, lexically clean
  bool read_only = false;
  bool is_dir = true;
  bool device = false;            // --device: the one bind that is not nodev
  bool sandbox_owned = false;     // BindMount::sandbox_owned: never idmapped
  unsigned long propagation = 0;  // BindMount::propagation
};

struct MountPlan {
  std::vector<MountOp> ops;
  // The sources, in the order Attach's indexes count: the layers, lowest
  // first, then the binds, then the upper dir when there is one.
  std::vector<std::string> lower_paths;
  std::vector<UniqueFd> lowers;  // O_PATH dirs, for the idmapped trees
  std::vector<BindPlan> binds;
  std::string upper_dir;         // Spec::upper_dir: a plain bind, never idmapped
  bool layers_read_only = true;  // false only for a writable private copy
};

// The parent's half: the plan for spec. Opens the rootfs layers and checks
// every bind source (Error when one is missing or a device is passed with
// -v). tty_gid_mapped: gid 5 exists inside, so devpts can give it its ptys.
// staging: the host directory the child covers with its tmpfs.
MountPlan plan_mounts(const Spec& spec, bool tty_gid_mapped, const std::string& staging = "");

inline size_t source_count(const MountPlan& plan) {
  return plan.lowers.size() + plan.binds.size() + (plan.upper_dir.empty() ? 0 : 1);
}

// path made absolute and lexically clean: '.', '..' (never above '/') and
// repeated slashes resolved, as RESOLVE_IN_ROOT would. Error if relative.
std::string clean_sandbox_path(const std::string& path, const char* what);

}  // namespace coracle::sandbox

#include "sandbox/mount_plan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <cstdio>

#include "common/error.h"
#include "common/fs.h"
#include "sandbox/namespaces.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {
namespace {

constexpr unsigned long kMsRdonly = 1, kMsNosuid = 2, kMsNodev = 4, kMsNoexec = 8;
constexpr unsigned long kMsRemount = 32, kMsStrictatime = 1 << 24;

// The OCI/Docker defaults: files that leak host state are covered by
// /dev/null (directories by an empty read-only tmpfs), kernel knobs are
// read-only.
constexpr const char* kMaskedPaths[] = {"/proc/asound",
                                        "/proc/acpi",
                                        "/proc/kcore",
                                        "/proc/keys",
                                        "/proc/latency_stats",
                                        "/proc/timer_list",
                                        "/proc/timer_stats",
                                        "/proc/sched_debug",
                                        "/proc/scsi",
                                        "/sys/firmware",
                                        "/sys/devices/virtual/powercap"};
constexpr const char* kReadOnlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                          "/proc/sysrq-trigger"};

// Builds the op list; each helper appends one operation.
struct OpList {
  std::vector<MountOp>& ops;

  MountOp& add(MountStep step, MountBase base, std::string target, const char* what) {
    MountOp op;
    op.step = step;
    op.base = base;
    op.target = std::move(target);
    op.what = what;
    ops.push_back(std::move(op));
    return ops.back();
  }
  MountOp& mount(MountBase base, std::string target, const char* fstype, unsigned long flags,
                 std::string data, const char* what) {
    MountOp& op = add(MountStep::Mount, base, std::move(target), what);
    op.fstype = fstype;
    op.flags = flags;
    op.data = std::move(data);
    return op;
  }
  void mkdir(MountBase base, std::string target, mode_t mode, const char* what) {
    add(MountStep::Mkdir, base, std::move(target), what).mode = mode;
  }
  void attach(MountBase base, std::string target, int source, bool read_only, const char* what,
              bool is_dir = true, bool device = false) {
    MountOp& op = add(MountStep::Attach, base, std::move(target), what);
    op.source = source;
    op.read_only = read_only;
    op.is_dir = is_dir;
    op.device = device;
  }
};

// The generated files' mount points that the image lacks are made in the
// overlay's upper dir before it is mounted: a plain mkdir and an empty file
// on the staging tmpfs, where making them through the overlay would copy
// /etc up first (~0.15 ms of every run on an image without them). Only
// where overlayfs would show the same: the directory absent from every
// layer, or a plain 0755 directory of container root in the topmost layer
// that has it; the file absent (never there, or whited out).
bool has_opaque_xattr(const std::string& dir) {
  char value[2];
  for (const char* name : {"user.overlay.opaque", "trusted.overlay.opaque"})
    if (lgetxattr(dir.c_str(), name, value, sizeof value) == 1 && value[0] == 'y') return true;
  return false;
}

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// Whether an empty dir/name can be put in the upper dir for the layers
// (lowest first): false when the image has the file (nothing to make) or
// when dir is anything but a plain root-owned 0755 directory.
bool can_stub_in_upper(const std::vector<std::string>& layers, const std::string& dir,
                       const std::string& name) {
  bool dir_seen = false;
  for (size_t i = layers.size(); i-- > 0;) {
    struct stat st;
    std::string d = layers[i] + "/" + dir;
    if (lstat(d.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;
      return false;
    }
    if (!S_ISDIR(st.st_mode)) return false;  // a whiteout, a file or a symlink above
    if (!dir_seen) {
      dir_seen = true;
      // Container root's own, as the overlay would show the copied-up dir.
      bool roots = st.st_uid == 0 || st.st_uid == geteuid();
      if ((st.st_mode & 07777) != 0755 || !roots) return false;
    }
    if (lstat((d + "/" + name).c_str(), &st) == 0) return is_whiteout(st);
    if (errno != ENOENT) return false;
    if (has_opaque_xattr(d)) return true;  // nothing below shows through
  }
  return true;
}

void plan_upper_stubs(OpList& list, const Spec& spec, const std::vector<std::string>& layers,
                      const std::string& upper) {
  std::vector<std::string> made;
  for (const auto& g : spec.generated_files) {
    std::string target = clean_sandbox_path(g.target, "generated file target");
    size_t slash = target.rfind('/');
    if (slash == 0 || target.find('/', 1) != slash) continue;  // only /DIR/NAME
    std::string dir = target.substr(1, slash - 1), name = target.substr(slash + 1);
    if (!can_stub_in_upper(layers, dir, name)) continue;
    if (std::find(made.begin(), made.end(), dir) == made.end()) {
      list.mkdir(MountBase::Host, upper + "/" + dir, 0755, "make a mount point's directory");
      made.push_back(dir);
    }
    list.add(MountStep::WriteFile, MountBase::Host, upper + target, "make a mount point");
  }
}

// Whether /tmp is the rootfs's own (no tmpfs on it) and no layer has one:
// a program's /tmp is then made in the upper dir, 1777, as a tmpfs would
// have given it (a FROM scratch image has none).
bool needs_tmp_dir(const Spec& spec, const std::vector<std::string>& layers) {
  // A kept upper dir becomes a layer (a RUN's): only what the command wrote.
  if (spec.tmp_tmpfs || spec.keep_upper) return false;
  for (const auto& t : spec.tmpfs)
    if (clean_sandbox_path(t.target, "tmpfs target") == "/tmp") return false;
  struct stat st;
  for (const auto& layer : layers)
    if (lstat((layer + "/tmp").c_str(), &st) == 0 || errno != ENOENT) return false;
  return true;
}

// The top-level directories this run mounts on (/proc, /dev, /sys, /in,
// /out, a volume's or a --tmpfs's /NAME) that no layer has: the child
// would make each in the overlay, an inode of the upper dir.
std::vector<std::string> missing_top_mount_points(const Spec& spec, const MountPlan& plan) {
  std::vector<std::string> names = {"proc", "dev", "sys"};
  auto add_top = [&](const std::string& target) {
    if (target.size() > 1 && target.find('/', 1) == std::string::npos)
      names.push_back(target.substr(1));
  };
  for (const auto& b : plan.binds)
    if (b.is_dir) add_top(b.target);
  for (const auto& t : spec.tmpfs) add_top(clean_sandbox_path(t.target, "tmpfs target"));
  std::vector<std::string> missing;
  struct stat st;
  for (const auto& name : names) {
    if (name == "tmp" || std::find(missing.begin(), missing.end(), name) != missing.end())
      continue;  // /tmp: needs_tmp_dir's, made 1777
    bool in_a_layer = false;
    for (const auto& layer : plan.lower_paths)
      in_a_layer = in_a_layer || lstat((layer + "/" + name).c_str(), &st) == 0 || errno != ENOENT;
    if (!in_a_layer) missing.push_back(name);
  }
  return missing;
}

// The rootfs: the layers at STAGE/l<i> under an overlay at STAGE/root (its
// upper dir on the staging tmpfs, or on the caller's dir bound at
// STAGE/disk), or a writable private copy bound at STAGE/root itself. A
// read-only rootfs is an overlay too: its upper dir takes only the mount
// points the image lacks (/proc, /etc/hosts, ...), and the root turns
// read-only once they are all mounted.
void plan_rootfs(OpList& list, const Spec& spec, MountPlan& plan, const std::string& stage) {
  unsigned layers = static_cast<unsigned>(plan.lowers.size());
  bool private_rootfs = spec.rootfs_is_private_copy && spec.layers.empty();
  plan.layers_read_only = !private_rootfs || spec.read_only_rootfs;
  list.mkdir(MountBase::Host, stage + "/root", 0755, "make the root's mount point");
  if (private_rootfs && !spec.read_only_rootfs) {
    list.attach(MountBase::Host, stage + "/root", 0, false, "bind the rootfs");
    return;
  }
  std::string lowerdir;
  for (unsigned i = 0; i < layers; ++i) {
    std::string dir = stage + "/l" + std::to_string(i);
    list.mkdir(MountBase::Host, dir, 0755, "make a layer's mount point");
    // Layers are shared by every run: read-only (a read-only private copy too).
    list.attach(MountBase::Host, dir, static_cast<int>(i), true, "attach a rootfs layer");
    lowerdir = dir + (lowerdir.empty() ? "" : ":") + lowerdir;  // topmost first
  }
  std::string upper_base = stage;
  if (!spec.upper_dir.empty()) {
    upper_base = stage + "/disk";
    list.mkdir(MountBase::Host, upper_base, 0700, "make the upper dir's mount point");
    list.attach(MountBase::Host, upper_base, static_cast<int>(source_count(plan)) - 1, false,
                "bind the upper dir");
  }
  list.mkdir(MountBase::Host, upper_base + "/upper", 0755, "make the overlay's upper dir");
  list.mkdir(MountBase::Host, upper_base + "/work", 0755, "make the overlay's work dir");
  // The mount points the image lacks (/etc/hosts, /tmp, ...) go in the
  // upper dir, unless that is on disk and this run's alone: then in a
  // layer of their own on the staging tmpfs, above the image's, so that no
  // run makes (and no reaper deletes) a handful of ext4 inodes for them.
  bool stubs_on_tmpfs = !spec.upper_dir.empty() && !spec.keep_upper;
  std::string stub_base = stubs_on_tmpfs ? stage + "/stubs" : upper_base + "/upper";
  size_t before_stubs = plan.ops.size();
  if (stubs_on_tmpfs) list.mkdir(MountBase::Host, stub_base, 0755, "make the mount points' layer");
  size_t after_mkdir = plan.ops.size();
  plan_upper_stubs(list, spec, plan.lower_paths, stub_base);
  if (stubs_on_tmpfs)
    for (const auto& name : missing_top_mount_points(spec, plan))
      list.mkdir(MountBase::Host, stub_base + "/" + name, 0755, "make a mount point");
  if (needs_tmp_dir(spec, plan.lower_paths))
    list.mkdir(MountBase::Host, stub_base + "/tmp", 01777, "make /tmp (the image has none)");
  if (stubs_on_tmpfs && plan.ops.size() == after_mkdir)
    plan.ops.resize(before_stubs);  // none needed: no layer
  else if (stubs_on_tmpfs)
    lowerdir = stub_base + ":" + lowerdir;
  std::string options = "lowerdir=" + lowerdir + ",upperdir=" + upper_base +
                        "/upper,workdir=" + upper_base + "/work,userxattr";
  // An upper dir on disk is this run's alone and never outlives it (or the
  // builder reads it at once): volatile spares every sync of the host's
  // file system (each unmount flushed its journal: ~0.1 ms per run here).
  // Where coracle's overlay works at all (5.11+, in a user namespace),
  // volatile (5.10) does too.
  if (!spec.upper_dir.empty()) options += ",volatile";
  // One page of mount data is all the kernel takes.
  if (options.size() >= 4096)
    throw Error("too many image layers for one overlay (" + std::to_string(layers) + ")");
  list.mount(MountBase::Host, stage + "/root", "overlay", kMsNosuid | kMsNodev, options,
             "mount the overlay rootfs");
  if (spec.keep_upper)
    list.add(MountStep::KeepUpper, MountBase::Host, upper_base + "/upper",
             "open the overlay's upper dir");
}

// A minimal /dev: a tmpfs with the host's harmless nodes bound in (nodes
// cannot be made in a user namespace, and a bind keeps them usable where a
// node on this tmpfs would not be), the usual links, its own devpts, shm
// and mqueue.
void plan_dev(OpList& list, bool tty_gid_mapped) {
  list.mount(MountBase::Root, "/dev", "tmpfs", kMsNosuid | kMsNoexec | kMsStrictatime,
             "mode=755,size=65536k", "mount tmpfs on /dev")
      .enter = true;
  for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
    MountOp& op = list.add(MountStep::BindHost, MountBase::Dir, node, "bind a /dev node");
    op.data = std::string("/dev/") + node;
    op.is_dir = false;
    op.optional = op.target == "tty";  // a host without /dev/tty still works
  }
  static const char* const kLinks[][2] = {
      {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
      {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"}};
  for (const auto& link : kLinks)
    list.add(MountStep::Symlink, MountBase::Dir, link[0], "make a /dev link").data = link[1];
  list.mkdir(MountBase::Dir, "pts", 0755, "make /dev/pts");
  list.mkdir(MountBase::Dir, "shm", 01777, "make /dev/shm");
  list.mkdir(MountBase::Dir, "mqueue", 0755, "make /dev/mqueue");
  list.mount(MountBase::Root, "/dev/pts", "devpts", kMsNosuid | kMsNoexec,
             tty_gid_mapped ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
                            : "newinstance,ptmxmode=0666,mode=0620",
             "mount devpts on /dev/pts");
  // "shm", as docker and runc name it (tools match mounts by source).
  list.mount(MountBase::Root, "/dev/shm", "tmpfs", kMsNosuid | kMsNodev | kMsNoexec,
             "mode=1777,size=65536k", "mount tmpfs on /dev/shm")
      .source_name = "shm";
  list.mount(MountBase::Root, "/dev/mqueue", "mqueue", kMsNosuid | kMsNodev | kMsNoexec, "",
             "mount mqueue on /dev/mqueue");
}

}  // namespace

uint64_t upper_size_bytes(const Spec& spec) {
  if (spec.upper_size_bytes) return spec.upper_size_bytes;
  return spec.limits.memory_bytes.value_or(kDefaultScratchBytes);
}

uint64_t tmp_size_bytes(const Spec& spec) {
  if (spec.tmp_size_bytes) return spec.tmp_size_bytes;
  return spec.limits.memory_bytes.value_or(kDefaultScratchBytes);
}

std::string clean_sandbox_path(const std::string& path, const char* what) {
  if (path.empty() || path[0] != '/')
    throw Error(std::string(what) + " '" + path + "' must be an absolute path");
  return clean_path(path);
}

MountPlan plan_mounts(const Spec& spec, bool tty_gid_mapped, const std::string& staging) {
  MountPlan plan;
  OpList list{plan.ops};
  struct stat st;
  // The child covers this host directory with its staging tmpfs, in its
  // own mount namespace: the host's stays as it is.
  std::string stage = staging;
  if (stage.empty()) stage = stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode) ? "/tmp" : "/mnt";
  bool private_rootfs = spec.rootfs_is_private_copy && spec.layers.empty();
  if ((spec.keep_upper || !spec.upper_dir.empty()) && (spec.read_only_rootfs || private_rootfs))
    throw Error(
        "keeping the upper dir needs an overlay rootfs (not read-only, not a private copy)");
  std::string workdir =
      clean_sandbox_path(spec.workdir.empty() ? "/" : spec.workdir, "working directory");

  // The sources.
  plan.lower_paths = spec.layers.empty() ? std::vector<std::string>{spec.rootfs} : spec.layers;
  for (const auto& p : plan.lower_paths) {
    plan.lowers.emplace_back(open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!plan.lowers.back()) throw_errno("cannot open rootfs " + p);
  }
  auto add_bind = [&](const std::string& source, const std::string& target, bool ro) {
    BindPlan bind;
    bind.source = source;
    bind.target = clean_sandbox_path(target, "mount target");
    bind.read_only = ro;
    if (stat(source.c_str(), &st) < 0)
      throw_errno("cannot use " + source + " (for " + target + ")");
    bind.is_dir = S_ISDIR(st.st_mode);
    plan.binds.push_back(std::move(bind));
  };
  if (spec.in_dir) add_bind(*spec.in_dir, "/in", true);
  for (const auto& v : spec.volumes)
    if (stat(v.source.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
      throw Error(v.source + " is a device node: pass it with --device " + v.source +
                  (v.target == v.source ? "" : ":" + v.target) +
                  " (a -v bind never carries a usable device)");
  if (spec.out_dir) add_bind(*spec.out_dir, "/out", false);
  for (const auto& v : spec.volumes) {
    add_bind(v.source, v.target, v.read_only);
    plan.binds.back().propagation = v.propagation;
    plan.binds.back().sandbox_owned = v.sandbox_owned;
  }
  for (const auto& d : spec.devices) {
    if (stat(d.source.c_str(), &st) < 0) throw_errno("cannot use the device " + d.source);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
      throw Error("--device " + d.source + " is not a device node");
    add_bind(d.source, d.target.empty() ? d.source : d.target, false);
    plan.binds.back().device = true;
  }
  plan.upper_dir = spec.upper_dir;
  if (source_count(plan) > static_cast<size_t>(kMaxMsgFds))
    throw Error("too many mounts: at most " + std::to_string(kMaxMsgFds) +
                " image layers and volumes (--in and --out included) together");

  // The operations, in order.
  list.add(MountStep::MakePrivate, MountBase::Host, "/", "make / private");
  // Both tmpfs mounts are bounded: unbounded, each could take half the
  // host's RAM. Their pages count against --memory too, when it is set.
  list.mount(MountBase::Host, stage, "tmpfs", kMsNosuid | kMsNodev,
             "mode=0700,size=" + std::to_string(upper_size_bytes(spec)), "mount the staging tmpfs");
  plan_rootfs(list, spec, plan, stage);
  // The generated files: written on a tmpfs of their own, made read-only
  // as a whole (so that each needs one plain bind later).
  if (!spec.generated_files.empty()) {
    std::string gen = stage + "/gen";
    list.mkdir(MountBase::Host, gen, 0755, "make the generated files' mount point");
    // Bounded by what it holds (a page per file besides), read-only once written.
    size_t bytes = 1 << 20;
    for (const auto& g : spec.generated_files) bytes += g.content.size() + 4096;
    list.mount(MountBase::Host, gen, "tmpfs", kMsNosuid | kMsNodev | kMsNoexec,
               "mode=0755,size=" + std::to_string(bytes), "mount the generated files' tmpfs");
    for (size_t i = 0; i < spec.generated_files.size(); ++i) {
      const GeneratedFile& g = spec.generated_files[i];
      MountOp& op = list.add(MountStep::WriteFile, MountBase::Host, gen + "/" + std::to_string(i),
                             "write a generated file");
      op.data = g.content;
      op.mode = g.mode & 07777;
      op.uid = g.uid;
      op.gid = g.gid;
    }
    list.mount(MountBase::Host, gen, "", kMsRemount | kMsRdonly | kMsNosuid | kMsNodev | kMsNoexec,
               "", "make the generated files read-only");
  }
  list.add(MountStep::EnterRoot, MountBase::Host, stage + "/root", "open the new root");

  list.mount(MountBase::Root, "/proc", "proc", kMsNosuid | kMsNodev | kMsNoexec, "", "mount /proc");
  // The network namespace, made meanwhile beside the child (netns_maker.h),
  // is joined right before the first step that needs it: a sysctl (net.*
  // are the namespace's) or /sys (sysfs shows its mounter's network
  // devices). The mounts before it overlap with its making.
  bool network_joined = !makes_network_beside(spec);
  auto join_network = [&] {
    if (!network_joined)
      list.add(MountStep::JoinNetwork, MountBase::Root, "/", "join the network namespace");
    network_joined = true;
  };
  if (!spec.sysctls.empty()) join_network();
  for (const auto& [name, value] : spec.sysctls) {
    check_sysctl(name, spec.net != NetMode::Host);
    std::string path = "/proc/sys/" + name;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    list.add(MountStep::Sysctl, MountBase::Root, path, "set a sysctl").data = value;
  }
  plan_dev(list, tty_gid_mapped);
  for (const auto& d : spec.device_nodes) {
    std::string path = clean_sandbox_path(d.path, "device path");
    if (path.rfind("/dev/", 0) != 0 || path.size() >= 4096)
      throw Error("device node " + d.path + " must be under /dev");
    MountOp& op = list.add(MountStep::MakeDevice, MountBase::Root, path, "make a device node");
    mode_t kind = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    op.mode = kind | (d.mode & 07777);
    op.dev = d.type == 'p' ? 0 : makedev(d.major, d.minor);
    op.uid = d.uid;
    op.gid = d.gid;
  }
  join_network();
  if (spec.net != NetMode::Host) {
    // A network namespace of its own: a sysfs of its own too.
    list.mount(MountBase::Root, "/sys", "sysfs", kMsRdonly | kMsNosuid | kMsNodev | kMsNoexec, "",
               "mount /sys");
  } else {
    // The host's network namespace: its sysfs, read-only.
    MountOp& op = list.add(MountStep::BindHost, MountBase::Root, "/sys", "bind /sys read-only");
    op.data = "/sys";
    op.read_only = true;
  }
  bool tmp_tmpfs = spec.tmp_tmpfs;
  for (const auto& t : spec.tmpfs)
    tmp_tmpfs &= clean_sandbox_path(t.target, "tmpfs target") != "/tmp";
  if (tmp_tmpfs)
    list.mount(MountBase::Root, "/tmp", "tmpfs", kMsNosuid | kMsNodev,
               "mode=1777,size=" + std::to_string(tmp_size_bytes(spec)), "mount /tmp");
  for (const auto& t : spec.tmpfs) {
    char options[96];
    snprintf(options, sizeof options, "mode=%o,size=%llu", t.mode & 07777,
             static_cast<unsigned long long>(t.size_bytes ? t.size_bytes : tmp_size_bytes(spec)));
    list.mount(MountBase::Root, clean_sandbox_path(t.target, "tmpfs target"), "tmpfs",
               kMsNosuid | kMsNodev | (t.read_only ? kMsRdonly : 0) | (t.noexec ? kMsNoexec : 0),
               options, "mount a --tmpfs");
  }
  // Each generated file: a plain bind, which inherits their tmpfs's
  // read-only flag. A target that cannot be made or bound (a read-only
  // rootfs without it, a directory there) is left out, the image keeping
  // its own, unless the file is required.
  for (size_t i = 0; i < spec.generated_files.size(); ++i) {
    MountOp& op =
        list.add(MountStep::BindHost, MountBase::Root,
                 clean_sandbox_path(spec.generated_files[i].target, "generated file target"),
                 "bind a generated file");
    op.data = stage + "/gen/" + std::to_string(i);
    op.is_dir = false;
    op.optional = !spec.generated_files[i].required;
  }
  for (size_t i = 0; i < plan.binds.size(); ++i) {
    const BindPlan& b = plan.binds[i];
    list.attach(MountBase::Root, b.target, static_cast<int>(plan.lowers.size() + i), b.read_only,
                b.device ? "bind a --device" : "bind a volume", b.is_dir, b.device);
    if (b.propagation) {
      MountOp& op =
          list.add(MountStep::Propagate, MountBase::Root, b.target, "set a bind's propagation");
      op.flags = b.propagation;
      op.is_dir = b.is_dir;
    }
  }
  for (const char* path : kMaskedPaths)
    list.add(MountStep::Mask, MountBase::Root, path, "mask a /proc or /sys path");
  for (const auto& path : spec.masked_paths)
    list.add(MountStep::Mask, MountBase::Root, clean_sandbox_path(path, "masked path"),
             "mask a path");
  for (const char* path : kReadOnlyPaths)
    list.add(MountStep::ReadOnly, MountBase::Root, path, "make a /proc path read-only");
  for (const auto& path : spec.readonly_paths)
    list.add(MountStep::ReadOnly, MountBase::Root, clean_sandbox_path(path, "read-only path"),
             "make a path read-only");
  if (workdir != "/") list.mkdir(MountBase::Root, workdir, 0755, "create the working directory");
  // Read-only from here on: the root mount alone (its submounts, /tmp and
  // the writable binds, keep their own flags).
  if (spec.read_only_rootfs)
    list.add(MountStep::RootReadOnly, MountBase::Root, "/", "make the rootfs read-only");
  list.add(MountStep::PivotRoot, MountBase::Root, workdir, "pivot_root");
  // Each error names its operand: "bind a volume: /data", made here (the
  // child cannot allocate) for the paths the user knows, those inside.
  for (MountOp& op : plan.ops)
    if (op.base == MountBase::Root && !op.target.empty() && op.step != MountStep::PivotRoot &&
        std::string_view(op.what).find(op.target) == std::string_view::npos)
      op.context = std::string(op.what) + ": " + op.target;
  return plan;
}

void check_sysctl(const std::string& name, bool own_network) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  bool ok = name == "kernel.msgmax" || name == "kernel.msgmnb" || name == "kernel.msgmni" ||
            name == "kernel.sem" || name == "kernel.shmall" || name == "kernel.shmmax" ||
            name == "kernel.shmmni" || name == "kernel.shm_rmid_forced" ||
            name == "kernel.hostname" || name == "kernel.domainname" || starts("fs.mqueue.") ||
            (starts("net.") && own_network);
  if (name.find("..") != std::string::npos || name.find('/') != std::string::npos) ok = false;
  if (!ok)
    throw Error("sysctl " + name + " is not namespaced by the sandbox" +
                (starts("net.") ? " (it shares the host's network)" : "") +
                ": setting it would change the host");
}

}  // namespace coracle::sandbox

#include "sandbox/mounts.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "sandbox/device_twins.h"
#include "sandbox/mount_api.h"
#include "sandbox/sandbox.h"
#include "sandbox/sync.h"

// <sys/mount.h> and <linux/mount.h> clash on glibc 2.36; mount(2) itself is
// declared here.
extern "C" int mount(const char*, const char*, const char*, unsigned long, const void*) noexcept;
extern "C" int umount2(const char*, int) noexcept;

namespace coracle::sandbox {
namespace {

constexpr unsigned long kMsRdonly = 1, kMsNosuid = 2, kMsNodev = 4, kMsNoexec = 8;
constexpr unsigned long kMsBind = 4096, kMsRec = 16384, kMsPrivate = 1 << 18;
constexpr unsigned long kMsStrictatime = 1 << 24;
constexpr int kMntDetach = 2;

// "/proc/self/fd/N": mount(2) follows it to the fd's file. The host /proc
// is still mounted until pivot_root, and self resolves in its pid namespace.
struct FdPath {
  char buf[32];
  explicit FdPath(int fd) { snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd); }
  operator const char*() const { return buf; }
};

// Every tree the sandbox gets from outside (image layers, the rootfs, -v,
// --in, --out) is nodev and nosuid: a device node or a setuid file that an
// image or a host directory carries grants nothing inside. Only the /dev
// nodes that coracle binds itself keep working (setup_dev). Nothing is lost
// by nosuid: the command runs with no_new_privs, which ignores setuid bits
// and file capabilities anyway.
// (An explicit --device is the one bind that keeps its device working.)
int set_bind_attrs(int tree, bool read_only, bool recursive, bool device = false) {
  struct mount_attr attr {};
  attr.attr_set =
      (device ? 0 : MOUNT_ATTR_NODEV) | MOUNT_ATTR_NOSUID | (read_only ? MOUNT_ATTR_RDONLY : 0);
  unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  return sys_mount_setattr(tree, "", flags, &attr) == 0 ? 0 : -errno;
}

// Clones the mount tree at source, optionally read-only, and attaches it on
// target. Both are fds; nothing is looked up by path.
int bind_fd(int source, int target, bool read_only, bool recursive, bool device = false) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
  if (recursive) flags |= AT_RECURSIVE;
  int tree = sys_open_tree(source, "", flags);
  if (tree < 0) return -errno;
  int rc = set_bind_attrs(tree, read_only, recursive, device);
  if (rc == 0 &&
      sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    rc = -errno;
  close(tree);
  return rc;
}

int attach_tree(int tree, int target, bool read_only, bool device = false) {
  if (int rc = set_bind_attrs(tree, read_only, true, device); rc < 0) return rc;
  if (sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return -errno;
  return 0;
}

int mount_fs_at(int root, const char* path, const char* type, unsigned long flags,
                const char* data) {
  int fd = mkdir_p_in_root(root, path);
  if (fd < 0) return fd;
  int rc = mount(type, FdPath(fd), type, flags, data) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

// Fails with the step's name: the child has no exceptions to throw.
#define STEP(expr, name) \
  do {                   \
    int rc_ = (expr);    \
    if (rc_ < 0) {       \
      *what = (name);    \
      return rc_;        \
    }                    \
  } while (0)

int setup_dev(int root, bool tty_gid, const char** what) {
  STEP(mount_fs_at(root, "/dev", "tmpfs", kMsNosuid | kMsNoexec | kMsStrictatime,
                   "mode=755,size=65536k"),
       "mount tmpfs on /dev");
  int dev = open_in_root(root, "/dev", O_PATH | O_DIRECTORY);
  STEP(dev, "open /dev");
  // Device nodes cannot be made in a user namespace; the host's are bound in
  // (a bind keeps them usable, a new tmpfs here would be nodev).
  static const char* const kNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (const char* node : kNodes) {
    char host[32];
    snprintf(host, sizeof host, "/dev/%s", node);
    int file = openat(dev, node, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (file < 0) {
      close(dev);
      *what = "create a /dev node";
      return -errno;
    }
    int rc = mount(host, FdPath(file), nullptr, kMsBind, nullptr) == 0 ? 0 : -errno;
    close(file);
    if (rc < 0 && strcmp(node, "tty") != 0) {  // a host without /dev/tty still works
      close(dev);
      *what = "bind a /dev node";
      return rc;
    }
  }
  static const char* const kLinks[][2] = {
      {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},         {"/proc/kcore", "core"}};
  for (const auto& link : kLinks) symlinkat(link[0], dev, link[1]);
  mkdirat(dev, "pts", 0755);
  mkdirat(dev, "shm", 01777);
  mkdirat(dev, "mqueue", 0755);
  close(dev);
  STEP(mount_fs_at(root, "/dev/pts", "devpts", kMsNosuid | kMsNoexec,
                   tty_gid ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
                           : "newinstance,ptmxmode=0666,mode=0620"),
       "mount devpts on /dev/pts");
  STEP(mount_fs_at(root, "/dev/shm", "tmpfs", kMsNosuid | kMsNodev | kMsNoexec,
                   "mode=1777,size=65536k"),
       "mount tmpfs on /dev/shm");
  STEP(mount_fs_at(root, "/dev/mqueue", "mqueue", kMsNosuid | kMsNodev | kMsNoexec, nullptr),
       "mount mqueue on /dev/mqueue");
  return 0;
}

// The generated files: written to the staging tmpfs (stage), each bound
// read-only over its target. A target that cannot be made or bound (a
// read-only rootfs without it, a directory there) is left out: the image
// keeps its own.
int bind_generated(int root, const char* stage, const MountPlan& plan, const char** what) {
  if (plan.generated.empty()) return 0;
  int dir = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  STEP(dir < 0 ? -errno : 0, "open the staging tmpfs");
  for (unsigned i = 0; i < plan.generated.size(); ++i) {
    const GeneratedFile& g = plan.generated[i];
    char name[32];
    snprintf(name, sizeof name, "gen%u", i);
    int file = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (file < 0) {
      close(dir);
      *what = "write a generated file";
      return -errno;
    }
    size_t done = 0;
    while (done < g.content.size()) {
      ssize_t n = write(file, g.content.data() + done, g.content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(file);
    int target = touch_in_root(root, g.target.c_str());
    if (target < 0) continue;
    int source = openat(dir, name, O_PATH | O_CLOEXEC);
    if (source >= 0) bind_fd(source, target, true, false);
    if (source >= 0) close(source);
    close(target);
  }
  close(dir);
  return 0;
}

// The OCI/Docker defaults: files that leak host state are covered by
// /dev/null (directories by an empty read-only tmpfs), kernel knobs are
// read-only.
int mask_paths(int root, const char** what) {
  static const char* const kMasked[] = {"/proc/asound",
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
  static const char* const kReadOnly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                          "/proc/sysrq-trigger"};
  for (const char* path : kMasked) {
    int target = open_in_root(root, path, O_PATH | O_NOFOLLOW);
    if (target == -ENOENT) continue;
    STEP(target, "open a masked path");
    struct stat st;
    int rc = fstat(target, &st) < 0 ? -errno : 0;
    if (rc == 0) {
      if (S_ISDIR(st.st_mode))
        rc = mount("tmpfs", FdPath(target), "tmpfs", kMsRdonly, "size=0,mode=0555") == 0 ? 0
                                                                                         : -errno;
      else
        rc = mount("/dev/null", FdPath(target), nullptr, kMsBind, nullptr) == 0 ? 0 : -errno;
    }
    close(target);
    STEP(rc, "mask a /proc or /sys path");
  }
  for (const char* path : kReadOnly) {
    int target = open_in_root(root, path, O_PATH | O_NOFOLLOW);
    if (target == -ENOENT) continue;
    STEP(target, "open a read-only /proc path");
    int rc = bind_fd(target, target, true, true);
    close(target);
    STEP(rc, "make a /proc path read-only");
  }
  return 0;
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

MountPlan plan_mounts(const Spec& spec, bool tty_gid_mapped) {
  MountPlan plan;
  plan.read_only_rootfs = spec.read_only_rootfs;
  plan.private_rootfs = spec.rootfs_is_private_copy && spec.layers.empty();
  plan.keep_upper = spec.keep_upper;
  plan.tmp_tmpfs = spec.tmp_tmpfs;
  for (const auto& t : spec.tmpfs) {
    if (t.target.empty() || t.target[0] != '/')
      throw Error("tmpfs target '" + t.target + "' must be an absolute path");
    if (t.target == "/tmp") plan.tmp_tmpfs = false;  // the user's own /tmp
    char options[96];
    snprintf(options, sizeof options, "mode=%o,size=%llu", t.mode & 07777,
             static_cast<unsigned long long>(t.size_bytes ? t.size_bytes : tmp_size_bytes(spec)));
    plan.tmpfs.push_back(
        {t.target, options,
         kMsNosuid | kMsNodev | (t.read_only ? kMsRdonly : 0) | (t.noexec ? kMsNoexec : 0)});
  }
  if ((plan.keep_upper || !spec.upper_dir.empty()) &&
      (plan.read_only_rootfs || plan.private_rootfs))
    throw Error(
        "keeping the upper dir needs an overlay rootfs (not read-only, not a private copy)");
  plan.upper_dir = spec.upper_dir;
  for (const auto& g : spec.generated_files) {
    if (g.target.empty() || g.target[0] != '/')
      throw Error("generated file target '" + g.target + "' must be an absolute path");
    plan.generated.push_back(g);
  }
  plan.fresh_sysfs = spec.net != NetMode::Host;
  // Both tmpfs mounts are bounded: unbounded, each could take half the
  // host's RAM. Their pages count against --memory too, when it is set.
  plan.staging_options = "mode=0700,size=" + std::to_string(upper_size_bytes(spec));
  plan.tmp_options = "mode=1777,size=" + std::to_string(tmp_size_bytes(spec));
  plan.devpts_tty_gid = tty_gid_mapped;
  plan.workdir = spec.workdir.empty() ? "/" : spec.workdir;
  if (plan.workdir[0] != '/')
    throw Error("working directory '" + plan.workdir + "' must be absolute");
  plan.lower_paths = spec.layers.empty() ? std::vector<std::string>{spec.rootfs} : spec.layers;
  for (const auto& p : plan.lower_paths) {
    plan.lowers.emplace_back(open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!plan.lowers.back()) throw_errno("cannot open rootfs " + p);
  }
  struct stat st;
  if (stat(plan.staging.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) plan.staging = "/mnt";

  auto add = [&](const std::string& source, const std::string& target, bool ro) {
    if (target.empty() || target[0] != '/')
      throw Error("mount target '" + target + "' must be an absolute path");
    BindPlan bind;
    bind.source = source;
    bind.target = target;
    bind.read_only = ro;
    if (stat(source.c_str(), &st) < 0)
      throw_errno("cannot use " + source + " (for " + target + ")");
    bind.is_dir = S_ISDIR(st.st_mode);
    plan.binds.push_back(std::move(bind));
  };
  if (spec.in_dir) add(*spec.in_dir, "/in", true);
  for (const auto& v : spec.volumes)
    if (stat(v.source.c_str(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
      throw Error(v.source + " is a device node: pass it with --device " + v.source +
                  (v.target == v.source ? "" : ":" + v.target) +
                  " (a -v bind never carries a usable device)");
  if (spec.out_dir) add(*spec.out_dir, "/out", false);
  for (const auto& v : spec.volumes) add(v.source, v.target, v.read_only);
  for (const auto& d : spec.devices) {
    if (stat(d.source.c_str(), &st) < 0) throw_errno("cannot use the device " + d.source);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
      throw Error("--device " + d.source + " is not a device node");
    add(d.source, d.target.empty() ? d.source : d.target, false);
    plan.binds.back().device = true;
  }
  if (source_count(plan) > static_cast<size_t>(kMaxMsgFds))
    throw Error("too many mounts: at most " + std::to_string(kMaxMsgFds) +
                " image layers and volumes (--in and --out included) together");
  return plan;
}

std::vector<UniqueFd> make_idmapped_trees(const MountPlan& plan, pid_t child, uid_t root_uid,
                                          gid_t root_gid, std::vector<std::string>& device_dirs) {
  std::vector<UniqueFd> trees;
  char ns_path[64];
  snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/user", child);
  UniqueFd userns(open(ns_path, O_RDONLY | O_CLOEXEC));
  if (!userns) throw_errno(std::string("cannot open ") + ns_path);
  auto make = [&](int source, bool read_only) {
    UniqueFd tree(sys_open_tree(
        source, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
    if (!tree) return UniqueFd();
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID |
                    (read_only ? MOUNT_ATTR_RDONLY : 0);
    attr.userns_fd = static_cast<uint64_t>(userns.get());
    // Only the top mount is idmapped: submounts keep their owners, and a
    // file system that cannot be idmapped (EINVAL) is bound as it is.
    if (sys_mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr) < 0) return UniqueFd();
    return tree;
  };
  for (const auto& lower : plan.lowers) {
    // Overlay lowers are never written: read-only mounts, so not even a bug
    // of the child's setup code could change an image layer in the store.
    // A private copy is the one exception: it is this run's own tree.
    trees.push_back(make(lower.get(), !plan.private_rootfs || plan.read_only_rootfs));
    if (!trees.back()) return {};  // no idmapped mounts here: plain binds everywhere
  }
  // Twins a killed runner left: looked for only by a run that makes some.
  for (const auto& b : plan.binds)
    if (b.device) {
      sweep_device_twins();
      break;
    }
  for (const auto& b : plan.binds) {
    UniqueFd source(open(b.source.c_str(), O_PATH | O_CLOEXEC));
    if (!source) throw_errno("cannot open " + b.source);
    trees.push_back(b.device ? make_device_tree(b.source, root_uid, root_gid, device_dirs)
                             : make(source.get(), b.read_only));
  }
  // The upper dir is bound as it is: owned by container root's host uid,
  // its files keep the sandbox's host ids (never host root's).
  if (!plan.upper_dir.empty()) trees.emplace_back();
  return trees;
}

int open_sources(const MountPlan& plan, const int* trees, unsigned ntrees, int* sources,
                 const char** what) {
  size_t layers = plan.lowers.size();
  for (unsigned i = 0; i < source_count(plan); ++i) {
    sources[i] = -1;
    if (i < ntrees && trees[i] >= 0) continue;
    bool is_layer = i < layers, is_bind = !is_layer && i - layers < plan.binds.size();
    const char* path = is_layer  ? plan.lower_paths[i].c_str()
                       : is_bind ? plan.binds[i - layers].source.c_str()
                                 : plan.upper_dir.c_str();
    sources[i] = open(path, O_PATH | O_CLOEXEC);
    STEP(sources[i] < 0 ? -errno : 0, is_layer  ? "open the rootfs"
                                      : is_bind ? "open a volume source"
                                                : "open the upper dir");
  }
  return 0;
}

int setup_filesystem(const MountPlan& plan, const int* trees, unsigned ntrees, const int* sources,
                     int* upper, const char** what) {
  auto tree_at = [&](unsigned i) { return i < ntrees ? trees[i] : -1; };
  // Nothing done here may propagate back to the host's mount namespace.
  STEP(mount(nullptr, "/", nullptr, kMsRec | kMsPrivate, nullptr) == 0 ? 0 : -errno,
       "make / private");
  const char* stage = plan.staging.c_str();
  STEP(mount("tmpfs", stage, "tmpfs", kMsNosuid | kMsNodev, plan.staging_options.c_str()) == 0
           ? 0
           : -errno,
       "mount the staging tmpfs");
  int stage_fd = open(stage, O_PATH | O_DIRECTORY | O_CLOEXEC);
  STEP(stage_fd < 0 ? -errno : 0, "open the staging tmpfs");
  for (const char* d : {"upper", "work", "root"}) mkdirat(stage_fd, d, 0755);

  // Each layer at STAGE/l<i>; the overlay lists them topmost first.
  unsigned layers = static_cast<unsigned>(plan.lowers.size());
  char path[4200], lowerdir[4096];
  size_t used = 0;
  for (unsigned i = 0; i < layers; ++i) {
    char name[16];
    snprintf(name, sizeof name, "l%u", i);
    mkdirat(stage_fd, name, 0755);
    int lower = openat(stage_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    STEP(lower < 0 ? -errno : 0, "open a lower dir");
    // Layers are shared by every run: read-only, except a private copy.
    bool ro = !plan.private_rootfs || plan.read_only_rootfs;
    int rc =
        tree_at(i) >= 0 ? attach_tree(tree_at(i), lower, ro) : bind_fd(sources[i], lower, ro, true);
    close(lower);
    STEP(rc, tree_at(i) >= 0 ? "attach an idmapped rootfs layer" : "bind a rootfs layer");
  }
  for (unsigned i = layers; i-- > 0;) {
    int n =
        snprintf(lowerdir + used, sizeof lowerdir - used, "%s%s/l%u", used ? ":" : "", stage, i);
    STEP(n < 0 || static_cast<size_t>(n) >= sizeof lowerdir - used ? -E2BIG : 0,
         "list the image layers (too many for one overlay)");
    used += static_cast<size_t>(n);
  }

  // A private copy, writable, is the root itself; keep_upper always takes
  // the overlay path (plan_mounts refused the other cases). A read-only
  // rootfs is an overlay too: its upper dir takes only the mount points
  // that the image lacks (/proc, /etc/hosts, ...), and the root turns
  // read-only once they are all mounted (make_root_read_only).
  if (plan.private_rootfs && !plan.read_only_rootfs && layers == 1) {
    snprintf(path, sizeof path, "%s/l0", stage);
    int src = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int dst = openat(stage_fd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    STEP(src < 0 || dst < 0 ? -errno : 0, "open the rootfs");
    STEP(bind_fd(src, dst, false, true), "bind the rootfs");
    close(src);
    close(dst);
  } else {
    // The upper and work dirs are on the staging tmpfs, or on the caller's
    // disk dir (Spec::upper_dir) bound at STAGE/disk.
    char upper_base[4200];
    snprintf(upper_base, sizeof upper_base, "%s", stage);
    if (!plan.upper_dir.empty()) {
      unsigned k = static_cast<unsigned>(source_count(plan)) - 1;
      mkdirat(stage_fd, "disk", 0700);
      int disk = openat(stage_fd, "disk", O_PATH | O_DIRECTORY | O_CLOEXEC);
      STEP(disk < 0 ? -errno : 0, "open the upper dir's mount point");
      int rc = bind_fd(sources[k], disk, false, true);
      close(disk);
      STEP(rc, "bind the upper dir");
      disk = openat(stage_fd, "disk", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      STEP(disk < 0 ? -errno : 0, "open the upper dir");
      for (const char* d : {"upper", "work"}) mkdirat(disk, d, 0755);
      close(disk);
      snprintf(upper_base, sizeof upper_base, "%s/disk", stage);
    }
    char opts[8500];
    int n = snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work,userxattr",
                     lowerdir, upper_base, upper_base);
    STEP(n < 0 || static_cast<size_t>(n) >= sizeof opts ? -E2BIG : 0,
         "list the image layers (too many for one overlay)");
    snprintf(path, sizeof path, "%s/root", stage);
    unsigned long flags = kMsNosuid | kMsNodev;
    STEP(mount("overlay", path, "overlay", flags, opts) == 0 ? 0 : -errno,
         "mount the overlay rootfs");
    if (plan.keep_upper) {
      snprintf(path, sizeof path, "%s/upper", upper_base);
      *upper = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      STEP(*upper < 0 ? -errno : 0, "open the overlay's upper dir");
    }
  }
  close(stage_fd);
  snprintf(path, sizeof path, "%s/root", stage);
  int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  STEP(root < 0 ? -errno : 0, "open the new root");

  STEP(mount_fs_at(root, "/proc", "proc", kMsNosuid | kMsNodev | kMsNoexec, nullptr),
       "mount /proc");
  if (int rc = setup_dev(root, plan.devpts_tty_gid, what); rc < 0) return rc;
  if (plan.fresh_sysfs) {
    STEP(mount_fs_at(root, "/sys", "sysfs", kMsRdonly | kMsNosuid | kMsNodev | kMsNoexec, nullptr),
         "mount /sys");
  } else {
    int host_sys = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int target = mkdir_p_in_root(root, "/sys");
    STEP(host_sys < 0 ? -errno : target, "open /sys");
    STEP(bind_fd(host_sys, target, true, true), "bind /sys read-only");
    close(host_sys);
    close(target);
  }
  if (plan.tmp_tmpfs)
    STEP(mount_fs_at(root, "/tmp", "tmpfs", kMsNosuid | kMsNodev, plan.tmp_options.c_str()),
         "mount /tmp");

  for (const auto& t : plan.tmpfs)
    STEP(mount_fs_at(root, t.target.c_str(), "tmpfs", t.flags, t.options.c_str()),
         "mount a --tmpfs");
  if (int rc = bind_generated(root, stage, plan, what); rc < 0) return rc;
  for (unsigned i = 0; i < plan.binds.size(); ++i) {
    const BindPlan& b = plan.binds[i];
    int target =
        b.is_dir ? mkdir_p_in_root(root, b.target.c_str()) : touch_in_root(root, b.target.c_str());
    STEP(target, b.is_dir ? "create a bind mount point" : "create a file bind mount point");
    unsigned k = layers + i;
    int rc = tree_at(k) >= 0 ? attach_tree(tree_at(k), target, b.read_only, b.device)
                             : bind_fd(sources[k], target, b.read_only, true, b.device);
    close(target);
    STEP(rc, b.device ? "bind a --device" : "bind a volume");
  }
  if (int rc = mask_paths(root, what); rc < 0) return rc;

  if (plan.workdir != "/") {
    int wd = mkdir_p_in_root(root, plan.workdir.c_str());
    STEP(wd, "create the working directory");
    close(wd);
  }
  // Read-only from here on: the root mount alone (its submounts, /tmp and
  // the writable binds, keep their own flags).
  if (plan.read_only_rootfs) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    STEP(sys_mount_setattr(root, "", AT_EMPTY_PATH, &attr) == 0 ? 0 : -errno,
         "make the rootfs read-only");
  }
  // pivot_root(".", ".") stacks the old root on the new one; detaching it
  // leaves the host's file system unreachable (bubblewrap's and runc's trick,
  // without needing a directory for the old root).
  STEP(fchdir(root) == 0 ? 0 : -errno, "enter the new root");
  STEP(syscall(SYS_pivot_root, ".", ".") == 0 ? 0 : -errno, "pivot_root");
  STEP(umount2(".", kMntDetach) == 0 ? 0 : -errno, "detach the old root");
  close(root);
  STEP(chdir("/") == 0 ? 0 : -errno, "chdir /");
  STEP(chdir(plan.workdir.c_str()) == 0 ? 0 : -errno, "enter the working directory");
  return 0;
}

}  // namespace coracle::sandbox

namespace coracle::sandbox {

bool overlay_supported() {
  std::string fs;
  try {
    fs = read_file("/proc/filesystems");
  } catch (const Error&) {
  }
  if (fs.find("\toverlay\n") != std::string::npos) return true;
  // Not loaded yet: mounting it loads the module, if there is one.
  utsname u;
  if (uname(&u) != 0) return false;
  struct stat st;
  return stat(("/lib/modules/" + std::string(u.release) + "/kernel/fs/overlayfs").c_str(), &st) ==
         0;
}

}  // namespace coracle::sandbox

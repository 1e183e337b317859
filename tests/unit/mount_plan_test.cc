// The sandbox's mount plan, without root: what plan_mounts decides for a
// Spec (order, flags, masked paths, targets, read-only mode), and what the
// child's loop does with a plan, through a recording MountCalls table.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "sandbox/mounts.h"
#include "temp_dir.h"

namespace coracle::sandbox {
namespace {

constexpr unsigned long kMsRdonly = 1, kMsNosuid = 2, kMsNodev = 4;

struct PlanFixture : ::testing::Test {
  test::UnitTempDir tmp;
  Spec spec;
  void SetUp() override {
    make_dir(tmp.path + "/rootfs");
    make_dir(tmp.path + "/data");
    spec.rootfs = tmp.path + "/rootfs";
    spec.argv = {"/bin/true"};
  }
  static void make_dir(const std::string& path) { ASSERT_EQ(mkdir(path.c_str(), 0755), 0); }
  MountPlan plan() { return plan_mounts(spec, true, "/stage"); }
};

// Index of the first op with this step and target, or -1.
int find(const MountPlan& p, MountStep step, const std::string& target) {
  for (size_t i = 0; i < p.ops.size(); ++i)
    if (p.ops[i].step == step && p.ops[i].target == target) return static_cast<int>(i);
  return -1;
}

TEST_F(PlanFixture, StagesAnOverlayThenBuildsTheRootInsideItAndPivotsLast) {
  spec.workdir = "/srv/app";
  MountPlan p = plan();
  ASSERT_GE(p.ops.size(), 10u);
  EXPECT_EQ(p.ops.front().step, MountStep::MakePrivate);
  EXPECT_EQ(p.ops[1].step, MountStep::Mount);  // the staging tmpfs, bounded
  EXPECT_EQ(p.ops[1].target, "/stage");
  EXPECT_NE(p.ops[1].data.find("size=1073741824"), std::string::npos);
  int overlay = find(p, MountStep::Mount, "/stage/root");
  ASSERT_GE(overlay, 0);
  EXPECT_EQ(p.ops[overlay].fstype, "overlay");
  EXPECT_EQ(p.ops[overlay].data,
            "lowerdir=/stage/l0,upperdir=/stage/upper,workdir=/stage/work,userxattr");
  int enter = find(p, MountStep::EnterRoot, "/stage/root");
  EXPECT_GT(enter, overlay);
  EXPECT_EQ(p.ops.back().step, MountStep::PivotRoot);
  EXPECT_EQ(p.ops.back().target, "/srv/app");
  EXPECT_LT(find(p, MountStep::Mkdir, "/srv/app"), static_cast<int>(p.ops.size()) - 1);
  // /proc before what masks it; /dev's nodes in the /dev tmpfs.
  EXPECT_LT(find(p, MountStep::Mount, "/proc"), find(p, MountStep::Mask, "/proc/kcore"));
  EXPECT_LT(find(p, MountStep::Mount, "/sys"), find(p, MountStep::Mask, "/sys/firmware"));
  EXPECT_LT(find(p, MountStep::Mount, "/dev"), find(p, MountStep::BindHost, "null"));
  EXPECT_EQ(p.ops[find(p, MountStep::Mount, "/dev/pts")].data.find("gid=5") != std::string::npos,
            true);
}

TEST_F(PlanFixture, TheNetworkNamespaceIsJoinedRightBeforeWhatNeedsIt) {
  // Made beside the child meanwhile (netns_maker.h): joined before /sys
  // (sysfs shows its mounter's devices) or the first sysctl (net.* are per
  // namespace), after the mounts that can overlap with its making.
  auto joins = [](const MountPlan& p) {
    return std::count_if(p.ops.begin(), p.ops.end(),
                         [](const MountOp& op) { return op.step == MountStep::JoinNetwork; });
  };
  auto join_at = [](const MountPlan& p) {
    for (size_t i = 0; i < p.ops.size(); ++i)
      if (p.ops[i].step == MountStep::JoinNetwork) return static_cast<int>(i);
    return -1;
  };
  MountPlan p = plan();
  ASSERT_EQ(joins(p), 1);
  EXPECT_LT(join_at(p), find(p, MountStep::Mount, "/sys"));
  EXPECT_GT(join_at(p), find(p, MountStep::Mount, "/dev"));
  EXPECT_GT(join_at(p), find(p, MountStep::Mount, "/stage/root"));
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
  p = plan();
  ASSERT_EQ(joins(p), 1);
  EXPECT_LT(join_at(p), find(p, MountStep::Sysctl, "/proc/sys/net/ipv4/ip_forward"));
  // The host's network, pasta's (made by clone3) and a joined one: nothing to join.
  spec.sysctls.clear();
  for (NetMode mode : {NetMode::Host, NetMode::Pasta}) {
    spec.net = mode;
    EXPECT_EQ(joins(plan()), 0);
  }
  spec.net = NetMode::Private;
  spec.join_namespaces = {{CLONE_NEWNET, "/proc/1/ns/net"}};
  EXPECT_EQ(joins(plan()), 0);
}

TEST_F(PlanFixture, EveryTargetOnceTheRootExistsIsResolvedInsideIt) {
  spec.volumes = {{tmp.path + "/data", "/srv//data/../cache/.", false}};
  spec.tmpfs = {{"/run/../scratch", 0, 01777, false, false}};
  spec.generated_files = {{"/etc/hosts", "127.0.0.1 localhost\n"}};
  MountPlan p = plan();
  bool in_root = false;
  for (const MountOp& op : p.ops) {
    if (op.step == MountStep::EnterRoot) {
      in_root = true;
      continue;
    }
    if (!in_root) {
      // Before: only the staging tmpfs and what is on it, by host path.
      EXPECT_EQ(op.base, MountBase::Host) << op.what;
      EXPECT_TRUE(op.target == "/" || op.target.rfind("/stage", 0) == 0) << op.target;
      continue;
    }
    EXPECT_NE(op.base, MountBase::Host) << op.what << " " << op.target;
    if (op.base == MountBase::Dir) {
      EXPECT_EQ(op.target.find('/'), std::string::npos) << op.target;  // one name
    } else {
      ASSERT_FALSE(op.target.empty());
      EXPECT_EQ(op.target[0], '/') << op.target;
      for (const char* bad : {"/../", "/./", "//"})
        if (op.target != "/") {
          EXPECT_EQ((op.target + "/").find(bad), std::string::npos) << op.target;
        }
    }
    if (op.step == MountStep::BindHost && op.target == "/etc/hosts") {
      EXPECT_EQ(op.data, "/stage/gen/0");  // the generated file's own tmpfs
    }
  }
  EXPECT_GE(find(p, MountStep::Attach, "/srv/cache"), 0);
  EXPECT_GE(find(p, MountStep::Mount, "/scratch"), 0);
  spec.volumes = {{tmp.path + "/data", "relative/path", false}};
  EXPECT_THROW(plan(), Error);
}

TEST_F(PlanFixture, EverythingFromOutsideIsNosuidAndNodevButTheDeviceNodes) {
  spec.volumes = {{tmp.path + "/data", "/data", true}};
  spec.devices = {{"/dev/null", "/dev/mine"}};
  spec.tmpfs = {{"/cache", 0, 0755, true, true}};
  MountPlan p = plan();
  for (const MountOp& op : p.ops) {
    if (op.step == MountStep::Mount) {
      EXPECT_TRUE(op.flags & kMsNosuid) << op.target;
      // /dev holds the bound nodes, /dev/pts the ptys: device files by design.
      if (op.target != "/dev" && op.target != "/dev/pts") {
        EXPECT_TRUE(op.flags & kMsNodev) << op.target;
      }
    }
    if (op.step == MountStep::Attach) {
      EXPECT_EQ(op.device, op.target == "/dev/mine") << op.target;
    }
    // Layers are never written through (not even by a bug in the setup).
    if (op.step == MountStep::Attach && op.target.rfind("/stage/l", 0) == 0) {
      EXPECT_TRUE(op.read_only);
    }
  }
  EXPECT_TRUE(p.ops[find(p, MountStep::Attach, "/data")].read_only);
  EXPECT_FALSE(p.ops[find(p, MountStep::Attach, "/dev/mine")].read_only);
  unsigned long cache = p.ops[find(p, MountStep::Mount, "/cache")].flags;
  EXPECT_TRUE(cache & kMsRdonly);
  EXPECT_EQ(p.ops[find(p, MountStep::Mount, "/sys")].flags & kMsRdonly, kMsRdonly);
  // A device given as a volume would be a dead node: refused with the hint.
  spec.devices.clear();
  spec.volumes = {{"/dev/null", "/dev/null", false}};
  try {
    plan();
    ADD_FAILURE() << "a device as -v was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--device /dev/null"), std::string::npos) << e.what();
  }
}

TEST_F(PlanFixture, TheOciMaskedAndReadOnlyPathsAreAllThere) {
  MountPlan p = plan();
  for (const char* path :
       {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap"})
    EXPECT_GE(find(p, MountStep::Mask, path), 0) << path;
  for (const char* path :
       {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"})
    EXPECT_GE(find(p, MountStep::ReadOnly, path), 0) << path;
  // Masks come after the binds, so no bind can uncover what they cover.
  spec.volumes = {{tmp.path + "/data", "/proc/keys", false}};
  p = plan();
  EXPECT_LT(find(p, MountStep::Attach, "/proc/keys"), find(p, MountStep::Mask, "/proc/keys"));
}

TEST_F(PlanFixture, BindsComeAfterTheGeneratedFilesAndTmpfsSoTheUsersWin) {
  spec.generated_files = {{"/etc/hosts", "x"}};
  spec.volumes = {{tmp.path + "/data", "/etc/hosts", true}};
  spec.tmpfs = {{"/tmp", 4096, 01777, false, false}};
  MountPlan p = plan();
  EXPECT_LT(find(p, MountStep::BindHost, "/etc/hosts"), find(p, MountStep::Attach, "/etc/hosts"));
  // A --tmpfs at /tmp replaces the default one rather than stacking on it.
  int tmp_mounts = 0;
  for (const MountOp& op : p.ops) tmp_mounts += op.step == MountStep::Mount && op.target == "/tmp";
  EXPECT_EQ(tmp_mounts, 1);
  EXPECT_NE(p.ops[find(p, MountStep::Mount, "/tmp")].data.find("size=4096"), std::string::npos);
}

TEST_F(PlanFixture, MountPointsTheImageLacksAreMadeInTheUpperDirBeforeTheOverlay) {
  spec.generated_files = {{"/etc/hostname", "h"}, {"/etc/hosts", "x"}};
  MountPlan p = plan();  // the rootfs has no /etc at all
  int overlay = find(p, MountStep::Mount, "/stage/root");
  int dir = find(p, MountStep::Mkdir, "/stage/upper/etc");
  ASSERT_GE(dir, 0);
  EXPECT_LT(dir, overlay);
  EXPECT_LT(find(p, MountStep::WriteFile, "/stage/upper/etc/hostname"), overlay);
  EXPECT_LT(find(p, MountStep::WriteFile, "/stage/upper/etc/hosts"), overlay);
  // The image's own file: bound over, nothing made for it.
  make_dir(spec.rootfs + "/etc");
  ASSERT_EQ(chmod((spec.rootfs + "/etc").c_str(), 0755), 0);
  write_file_atomic(spec.rootfs + "/etc/hosts", "");
  p = plan();
  EXPECT_GE(find(p, MountStep::WriteFile, "/stage/upper/etc/hostname"), 0);
  EXPECT_LT(find(p, MountStep::WriteFile, "/stage/upper/etc/hosts"), 0);
  // A /etc the overlay would not show as a plain directory: left to the
  // overlay (a symlink must stay a symlink).
  ASSERT_EQ(chmod((spec.rootfs + "/etc").c_str(), 0700), 0);
  EXPECT_LT(find(plan(), MountStep::Mkdir, "/stage/upper/etc"), 0);
  ASSERT_EQ(rename((spec.rootfs + "/etc").c_str(), (spec.rootfs + "/real-etc").c_str()), 0);
  ASSERT_EQ(symlink("real-etc", (spec.rootfs + "/etc").c_str()), 0);
  EXPECT_LT(find(plan(), MountStep::Mkdir, "/stage/upper/etc"), 0);
}

TEST_F(PlanFixture, ReadOnlyRootfsTurnsTheRootReadOnlyAfterEveryMountPoint) {
  spec.read_only_rootfs = true;
  spec.volumes = {{tmp.path + "/data", "/new/dir", false}};
  MountPlan p = plan();
  // Still an overlay: its upper takes the mount points the image lacks.
  EXPECT_GE(find(p, MountStep::Mount, "/stage/root"), 0);
  int ro = find(p, MountStep::RootReadOnly, "/");
  ASSERT_GE(ro, 0);
  EXPECT_EQ(ro, static_cast<int>(p.ops.size()) - 2);  // just before pivot_root
  EXPECT_LT(find(p, MountStep::Attach, "/new/dir"), ro);
  spec.read_only_rootfs = false;
  EXPECT_LT(find(plan(), MountStep::RootReadOnly, "/"), 0);
}

TEST_F(PlanFixture, LayersAreListedTopmostFirstAndAPrivateCopyIsTheRootItself) {
  make_dir(tmp.path + "/l1");
  spec.layers = {tmp.path + "/rootfs", tmp.path + "/l1"};
  MountPlan p = plan();
  EXPECT_EQ(p.ops[find(p, MountStep::Mount, "/stage/root")].data.rfind(
                "lowerdir=/stage/l1:/stage/l0,", 0),
            0u);
  EXPECT_EQ(p.ops[find(p, MountStep::Attach, "/stage/l1")].source, 1);

  spec.layers.clear();
  spec.rootfs_is_private_copy = true;
  p = plan();
  EXPECT_LT(find(p, MountStep::Mount, "/stage/root"), 0);  // no overlay
  int root = find(p, MountStep::Attach, "/stage/root");
  ASSERT_GE(root, 0);
  EXPECT_FALSE(p.ops[root].read_only);
  EXPECT_FALSE(p.layers_read_only);
  spec.keep_upper = true;  // nothing to keep without an overlay
  EXPECT_THROW(plan(), Error);
}

TEST_F(PlanFixture, AnUpperDirOnDiskIsTheLastSourceAndKeepUpperOpensIt) {
  make_dir(tmp.path + "/upper");
  spec.upper_dir = tmp.path + "/upper";
  spec.keep_upper = true;
  spec.volumes = {{tmp.path + "/data", "/data", false}};
  MountPlan p = plan();
  ASSERT_EQ(source_count(p), 3u);
  int disk = find(p, MountStep::Attach, "/stage/disk");
  ASSERT_GE(disk, 0);
  EXPECT_EQ(p.ops[disk].source, 2);
  EXPECT_NE(p.ops[find(p, MountStep::Mount, "/stage/root")].data.find("upperdir=/stage/disk/upper"),
            std::string::npos);
  EXPECT_GE(find(p, MountStep::KeepUpper, "/stage/disk/upper"), 0);
}

// A run's own upper dir on disk (launch's writable layer): the mount points
// the image lacks, /tmp among them, go in a layer of their own on the
// staging tmpfs, above the image's, not in ext4 inodes of every run; the
// overlay is volatile (no sync at unmount). A kept upper dir (a RUN's,
// which becomes a layer) takes them itself and makes no /tmp.
TEST_F(PlanFixture, ADiskUpperDirGetsTheMountPointsInATmpfsLayerAndIsVolatile) {
  make_dir(tmp.path + "/upper");
  spec.upper_dir = tmp.path + "/upper";
  spec.tmp_tmpfs = false;
  spec.generated_files = {{"/etc/hostname", "h"}};
  MountPlan p = plan();  // the rootfs has neither /etc nor /tmp
  const std::string& data = p.ops[find(p, MountStep::Mount, "/stage/root")].data;
  EXPECT_EQ(data.rfind("lowerdir=/stage/stubs:/stage/l0,", 0), 0u) << data;
  EXPECT_NE(data.find(",volatile"), std::string::npos) << data;
  EXPECT_GE(find(p, MountStep::WriteFile, "/stage/stubs/etc/hostname"), 0);
  int tmp_dir = find(p, MountStep::Mkdir, "/stage/stubs/tmp");
  ASSERT_GE(tmp_dir, 0);
  EXPECT_EQ(p.ops[tmp_dir].mode, 01777u);
  EXPECT_LT(find(p, MountStep::WriteFile, "/stage/disk/upper/etc/hostname"), 0);
  // The directories mounted on: there too, unless the image has them.
  for (const char* dir : {"/stage/stubs/proc", "/stage/stubs/dev", "/stage/stubs/sys"})
    EXPECT_GE(find(p, MountStep::Mkdir, dir), 0) << dir;
  EXPECT_LT(find(p, MountStep::Mkdir, "/stage/stubs/data"), 0);
  make_dir(tmp.path + "/vol");
  spec.volumes = {{tmp.path + "/vol", "/data"}};
  make_dir(spec.rootfs + "/sys");
  p = plan();
  EXPECT_GE(find(p, MountStep::Mkdir, "/stage/stubs/data"), 0);
  EXPECT_LT(find(p, MountStep::Mkdir, "/stage/stubs/sys"), 0);
  spec.volumes.clear();
  // An image with all of them: no extra layer.
  for (const char* dir : {"/etc", "/tmp", "/proc", "/dev"}) make_dir(spec.rootfs + dir);
  write_file_atomic(spec.rootfs + "/etc/hostname", "");
  p = plan();
  EXPECT_EQ(p.ops[find(p, MountStep::Mount, "/stage/root")].data.rfind("lowerdir=/stage/l0,", 0),
            0u);
  EXPECT_LT(find(p, MountStep::Mkdir, "/stage/stubs"), 0);
  // A kept upper dir: the mount points in it, as before, and no /tmp.
  ASSERT_EQ(rmdir((spec.rootfs + "/tmp").c_str()), 0);
  spec.keep_upper = true;
  p = plan();
  EXPECT_LT(find(p, MountStep::Mkdir, "/stage/stubs"), 0);
  EXPECT_LT(find(p, MountStep::Mkdir, "/stage/disk/upper/tmp"), 0);
}

TEST_F(PlanFixture, TheHostsNetworkGetsTheHostsSysfsReadOnly) {
  spec.net = NetMode::Host;
  MountPlan p = plan();
  EXPECT_LT(find(p, MountStep::Mount, "/sys"), 0);
  int sys = find(p, MountStep::BindHost, "/sys");
  ASSERT_GE(sys, 0);
  EXPECT_TRUE(p.ops[sys].read_only);
  EXPECT_EQ(p.ops[sys].data, "/sys");
}

// A MountCalls table that records what the loop asks for. Fds are numbers
// from 100 on, each remembered with what it names.
struct FakeKernel {
  std::vector<std::string> log;
  std::map<int, std::string> open_fds;
  int next_fd = 100;
  std::string fail_mount_type;      // mount() of this fstype fails with EPERM
  std::string fail_move_onto;       // move_mount() onto this fd's name fails with EPERM
  std::vector<std::string> absent;  // open_in_root gives ENOENT
  int touch_error = 0;              // touch_in_root fails with it
  std::map<std::string, std::string> written;
  std::map<std::string, mode_t> created_modes;  // open(O_CREAT)'s mode by path

  int fd_for(const std::string& what) {
    open_fds[next_fd] = what;
    return next_fd++;
  }
  std::string name(const char* path) {
    int fd;
    if (path && sscanf(path, "/proc/self/fd/%d", &fd) == 1) return "fd:" + open_fds[fd];
    return path ? path : "(null)";
  }
  std::string name(int fd) { return fd == AT_FDCWD ? "cwd" : "fd:" + open_fds[fd]; }
};
FakeKernel* fake;

MountCalls fake_calls() {
  MountCalls c{};
  c.mount = [](const char* source, const char* target, const char* fstype, unsigned long flags,
               const char*) {
    if (fstype && !fake->fail_mount_type.empty() && fake->fail_mount_type == fstype) return -EPERM;
    fake->log.push_back("mount " +
                        std::string(fstype   ? fstype
                                    : source ? source
                                             : "") +
                        " on " + fake->name(target) + ((flags & 4096) ? " bind" : ""));
    return 0;
  };
  c.umount2 = [](const char* target, int) {
    fake->log.push_back(std::string("umount ") + target);
    return 0;
  };
  c.open_tree = [](int dfd, const char* path, unsigned) {
    return fake->fd_for("tree of " + (*path ? std::string(path) : fake->name(dfd)));
  };
  c.move_mount = [](int from, const char*, int to, const char*, unsigned) {
    if (!fake->fail_move_onto.empty() && fake->name(to) == fake->fail_move_onto) return -EPERM;
    fake->log.push_back("move " + fake->name(from) + " onto " + fake->name(to));
    return 0;
  };
  c.mount_setattr = [](int dfd, const char*, unsigned, struct mount_attr* attr) {
    fake->log.push_back("setattr " + fake->name(dfd) +
                        ((attr->attr_set & MOUNT_ATTR_RDONLY) ? " ro" : " rw") +
                        ((attr->attr_set & MOUNT_ATTR_NODEV) ? "" : " dev"));
    return 0;
  };
  c.open = [](const char* path, int flags, mode_t mode) {
    if (flags & O_CREAT) fake->created_modes[path] = mode;
    return fake->fd_for(((flags & O_CREAT) ? "new " : "host ") + std::string(path));
  };
  c.openat = [](int dfd, const char* path, int, mode_t) {
    return fake->fd_for(fake->open_fds[dfd] + "/" + path);
  };
  c.open_in_root = [](int root, const char* path, int) {
    EXPECT_EQ(fake->open_fds[root], "host /stage/root") << path;
    for (const auto& a : fake->absent)
      if (a == path) return -ENOENT;
    return fake->fd_for(std::string("root ") + path);
  };
  c.mkdir_p_in_root = [](int root, const char* path) {
    EXPECT_EQ(fake->open_fds[root], "host /stage/root") << path;
    return fake->fd_for(std::string("root ") + path);
  };
  c.touch_in_root = [](int root, const char* path) {
    EXPECT_EQ(fake->open_fds[root], "host /stage/root") << path;
    if (fake->touch_error) return -fake->touch_error;
    return fake->fd_for(std::string("root ") + path);
  };
  c.mkdir = [](const char*, mode_t) { return 0; };
  c.mkdirat = [](int, const char*, mode_t) { return 0; };
  c.symlinkat = [](const char*, int, const char*) { return 0; };
  c.write = [](int fd, const void* data, unsigned long size) {
    fake->written[fake->open_fds[fd]].append(static_cast<const char*>(data), size);
    return static_cast<long>(size);
  };
  c.fchown = [](int fd, uint32_t uid, uint32_t gid) {
    fake->log.push_back("chown " + fake->name(fd) + " " + std::to_string(uid) + ":" +
                        std::to_string(gid));
    return 0;
  };
  c.fstat = [](int, struct stat* st) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0444;
    return 0;
  };
  c.close = [](int fd) {
    EXPECT_EQ(fake->open_fds.erase(fd), 1u) << "close of an fd not open: " << fd;
    return 0;
  };
  c.fchdir = [](int fd) {
    fake->log.push_back("fchdir " + fake->name(fd));
    return 0;
  };
  c.chdir = [](const char* path) {
    fake->log.push_back(std::string("chdir ") + path);
    return 0;
  };
  c.pivot_root = [](const char*, const char*) {
    fake->log.push_back("pivot_root");
    return 0;
  };
  c.join_network = [](int sync_fd, const char**) {
    fake->log.push_back("join the network namespace from fd " + std::to_string(sync_fd));
    return 0;
  };
  return c;
}

struct ApplyFixture : PlanFixture {
  FakeKernel kernel;
  int trees[4] = {-1, -1, -1, -1}, sources[4] = {7, 8, 9, 10};
  int upper = -1;
  const char* what = "";
  void SetUp() override {
    PlanFixture::SetUp();
    fake = &kernel;
    for (int fd : sources) kernel.open_fds[fd] = "source " + std::to_string(fd);
  }
  int apply(const MountPlan& p) {
    return apply_mount_plan(p, fake_calls(), trees, 4, sources, 3, &upper, &what);
  }
  bool logged(const std::string& line) {
    return std::find(kernel.log.begin(), kernel.log.end(), line) != kernel.log.end();
  }
};

TEST_F(ApplyFixture, ThePlanBecomesMountsInsideTheRootAndLeavesNoFdOpen) {
  spec.volumes = {{tmp.path + "/data", "/data", true}};
  spec.generated_files = {{"/etc/hostname", "box\n"}};
  spec.workdir = "/w";
  MountPlan p = plan();
  ASSERT_EQ(apply(p), 0) << what;
  EXPECT_TRUE(logged("mount tmpfs on /stage"));
  EXPECT_TRUE(logged("mount overlay on /stage/root"));
  EXPECT_TRUE(logged("mount proc on fd:root /proc"));
  EXPECT_TRUE(logged("mount /dev/null on fd:root /dev/null bind"));    // in the /dev tmpfs
  EXPECT_TRUE(logged("mount /dev/null on fd:root /proc/kcore bind"));  // masked
  EXPECT_TRUE(logged("move fd:tree of fd:source 7 onto fd:host /stage/l0"));
  EXPECT_TRUE(logged("setattr fd:tree of fd:source 8 ro"));  // the volume, nodev
  EXPECT_TRUE(logged("move fd:tree of fd:source 8 onto fd:root /data"));
  EXPECT_TRUE(logged("mount /stage/gen/0 on fd:root /etc/hostname bind"));
  EXPECT_TRUE(logged("join the network namespace from fd 3"));  // the sync socket
  EXPECT_EQ(kernel.written["new /stage/gen/0"], "box\n");
  // Written first, then the tmpfs made read-only, then bound.
  auto at = [&](const std::string& line) {
    return std::find(kernel.log.begin(), kernel.log.end(), line) - kernel.log.begin();
  };
  EXPECT_LT(at("mount  on /stage/gen"), at("mount /stage/gen/0 on fd:root /etc/hostname bind"));
  ASSERT_GE(kernel.log.size(), 4u);
  EXPECT_EQ(kernel.log[kernel.log.size() - 4], "pivot_root");
  EXPECT_EQ(kernel.log.back(), "chdir /w");
  // What the loop opened, it closed; the sources are the caller's.
  for (const auto& [fd, name] : kernel.open_fds) EXPECT_LT(fd, 100) << name;
}

TEST_F(ApplyFixture, AnIdmappedTreeIsAttachedAsItIsAndAMissingMaskedPathIsSkipped) {
  trees[0] = 50;
  kernel.open_fds[50] = "idmapped layer";
  kernel.absent = {"/proc/kcore", "/sys/firmware"};
  ASSERT_EQ(apply(plan()), 0) << what;
  EXPECT_TRUE(logged("move fd:idmapped layer onto fd:host /stage/l0"));
  for (const auto& line : kernel.log) {
    EXPECT_EQ(line.find("/proc/kcore"), std::string::npos) << line;
    EXPECT_EQ(line.find("tree of fd:source 7"), std::string::npos) << line;
  }
}

TEST_F(ApplyFixture, AFailureNamesTheOperationAndStopsThere) {
  kernel.fail_mount_type = "proc";
  EXPECT_EQ(apply(plan()), -EPERM);
  EXPECT_STREQ(what, "mount /proc");
  EXPECT_FALSE(logged("pivot_root"));
  EXPECT_TRUE(kernel.open_fds.size() == 4) << "fds left open after the failure";
}

TEST_F(ApplyFixture, AGeneratedFileGetsItsModeAndOwnerBeforeItsTmpfsTurnsReadOnly) {
  sandbox::GeneratedFile secret{"/run/secrets/token", "s3cret", 0400, 1000, 1001, true};
  spec.generated_files = {secret};
  MountPlan p = plan();
  ASSERT_EQ(apply(p), 0) << what;
  EXPECT_EQ(kernel.created_modes["/stage/gen/0"], 0400u);
  EXPECT_EQ(kernel.written["new /stage/gen/0"], "s3cret");
  auto at = [&](const std::string& line) {
    return std::find(kernel.log.begin(), kernel.log.end(), line) - kernel.log.begin();
  };
  ASSERT_TRUE(logged("chown fd:new /stage/gen/0 1000:1001"));
  EXPECT_LT(at("chown fd:new /stage/gen/0 1000:1001"), at("mount  on /stage/gen"));
  EXPECT_TRUE(logged("mount /stage/gen/0 on fd:root /run/secrets/token bind"));
}

TEST_F(ApplyFixture, ARequiredGeneratedFileWhoseTargetCannotBeMadeFailsTheSetup) {
  spec.generated_files = {{"/run/secrets/token", "s3cret", 0400, 0, 0, true}};
  kernel.touch_error = EROFS;
  MountPlan p = plan();  // what points into it
  EXPECT_EQ(apply(p), -EROFS);
  EXPECT_STREQ(what, "bind a generated file: /run/secrets/token");
  EXPECT_FALSE(logged("pivot_root"));
}

TEST_F(ApplyFixture, AGeneratedFileWhoseTargetCannotBeMadeIsLeftOut) {
  spec.generated_files = {{"/etc/resolv.conf", "nameserver 10.0.0.1\n"}};
  kernel.touch_error = EROFS;
  ASSERT_EQ(apply(plan()), 0) << what;
  for (const auto& line : kernel.log)
    EXPECT_EQ(line.find("/etc/resolv.conf"), std::string::npos) << line;
  EXPECT_TRUE(logged("pivot_root"));
}

TEST_F(PlanFixture, SysctlsAreWrittenAfterProcAndOnlyNamespacedOnes) {
  spec.sysctls = {{"net.ipv4.ping_group_range", "0 0"}, {"kernel.shmmax", "1024"}};
  MountPlan p = plan();
  int proc = find(p, MountStep::Mount, "/proc");
  int net = find(p, MountStep::Sysctl, "/proc/sys/net/ipv4/ping_group_range");
  ASSERT_GE(net, 0);
  EXPECT_GT(net, proc);
  EXPECT_EQ(p.ops[net].data, "0 0");
  EXPECT_GE(find(p, MountStep::Sysctl, "/proc/sys/kernel/shmmax"), 0);
  // Before /proc/sys is made read-only.
  EXPECT_LT(net, find(p, MountStep::ReadOnly, "/proc/sys"));
  for (const char* host_wide : {"kernel.panic", "vm.swappiness", "net/../kernel.panic"}) {
    spec.sysctls = {{host_wide, "1"}};
    EXPECT_THROW(plan(), Error) << host_wide;
  }
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
  spec.net = NetMode::Host;  // the host's network: not its own to change
  EXPECT_THROW(plan(), Error);
}

TEST_F(PlanFixture, TheCallersMaskedAndReadOnlyPathsJoinTheDefaults) {
  spec.masked_paths = {"/sys/devices/virtual/powercap", "/secret/../hidden"};
  spec.readonly_paths = {"/etc"};
  MountPlan p = plan();
  EXPECT_GE(find(p, MountStep::Mask, "/proc/kcore"), 0);  // the defaults stay
  EXPECT_GE(find(p, MountStep::Mask, "/sys/devices/virtual/powercap"), 0);
  EXPECT_GE(find(p, MountStep::Mask, "/hidden"), 0);  // cleaned, never outside the root
  EXPECT_GE(find(p, MountStep::ReadOnly, "/etc"), 0);
}

TEST_F(ApplyFixture, AFailureNamesItsOperandInsideTheSandbox) {
  spec.volumes = {{tmp.path + "/data", "/srv/data", true}};
  MountPlan p = plan();
  for (const auto& op : p.ops)
    if (op.step == MountStep::Attach && op.base == MountBase::Root)
      EXPECT_STREQ(op.error_context(), "bind a volume: /srv/data");
  kernel.fail_move_onto = "fd:root /srv/data";
  EXPECT_EQ(apply(p), -EPERM);
  EXPECT_STREQ(what, "bind a volume: /srv/data");
}

}  // namespace
}  // namespace coracle::sandbox

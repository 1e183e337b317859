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

namespace coracle::sandbox {

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
    trees.push_back(make(lower.get(), plan.layers_read_only));
    if (!trees.back()) return {};  // no idmapped mounts here: plain binds everywhere
  }
  // Twins a killed runner left: looked for only by a run that makes some.
  for (const auto& b : plan.binds)
    if (b.device) {
      sweep_device_twins();
      break;
    }
  for (const auto& b : plan.binds) {
    if (b.sandbox_owned) {  // bound as it is, as the upper dir is
      trees.emplace_back();
      continue;
    }
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
    if (sources[i] < 0) {
      *what = is_layer  ? "open the rootfs"
              : is_bind ? "open a volume source"
                        : "open the upper dir";
      return -errno;
    }
  }
  return 0;
}

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

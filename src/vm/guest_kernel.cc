#include "vm/guest_kernel.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "vm/initramfs.h"

namespace coracle::vm {
namespace {

// "6.1.0-57-cloud-amd64" < "6.1.0-58-cloud-amd64", numbers as numbers.
bool version_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (isdigit(static_cast<unsigned char>(a[i])) && isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ei = i, ej = j;
      while (ei < a.size() && isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      unsigned long x = std::stoul(a.substr(i, ei - i)), y = std::stoul(b.substr(j, ej - j));
      if (x != y) return x < y;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

GuestKernel find_guest_kernel(const std::string& boot_dir, const std::string& modules_root) {
  GuestKernel k;
  if (const char* image = getenv("CORACLE_VM_KERNEL"); image && *image) {
    k.image = image;
    std::string base = k.image.substr(k.image.rfind('/') + 1);
    k.version = base.rfind("vmlinuz-", 0) == 0 ? base.substr(8) : base;
    const char* modules = getenv("CORACLE_VM_MODULES");
    k.modules_dir = modules && *modules ? modules : modules_root + "/" + k.version;
    if (!is_regular_file(k.image)) throw Error("CORACLE_VM_KERNEL=" + k.image + " is not a file");
    if (!is_regular_file(k.modules_dir + "/modules.dep"))
      throw Error("no modules for the guest kernel in " + k.modules_dir +
                  " (set CORACLE_VM_MODULES to its /lib/modules/VERSION)");
    return k;
  }
  std::vector<std::string> versions;
  for (const auto& name : list_dir(boot_dir)) {
    if (name.rfind("vmlinuz-", 0) != 0 || name.find("-cloud-") == std::string::npos) continue;
    std::string version = name.substr(8);
    if (is_regular_file(modules_root + "/" + version + "/modules.dep")) versions.push_back(version);
  }
  if (versions.empty())
    throw Error(
        "no kernel for the micro-VM: install Debian's linux-image-cloud-amd64 (its virtio "
        "drivers are modules the guest loads), or name one with CORACLE_VM_KERNEL");
  std::sort(versions.begin(), versions.end(), version_less);
  k.version = versions.back();
  k.image = boot_dir + "/vmlinuz-" + k.version;
  k.modules_dir = modules_root + "/" + k.version;
  return k;
}

std::string ensure_initramfs(const std::string& cache_dir, const GuestKernel& kernel,
                             const std::string& agent) {
  // Keyed by the kernel and by this very binary (its size and time: a new
  // build is a new agent), without reading 10 MB to hash it.
  struct stat st;
  if (stat(agent.c_str(), &st) < 0) throw_errno("cannot read the agent " + agent);
  std::string key = kernel.image + "\n" + kernel.modules_dir + "\n" + std::to_string(st.st_size) +
                    "\n" + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec);
  std::string path =
      cache_dir + "/initramfs-" + kernel.version + "-" + sha256_digest(key).substr(7, 16) + ".cpio";
  if (is_regular_file(path)) return path;
  mkdir_p(cache_dir, 0700);
  std::string cpio = build_initramfs(agent, kernel.modules_dir,
                                     module_load_order(kernel.modules_dir, guest_modules()));
  write_file_atomic(path, cpio, 0600);
  // Those of earlier builds go: each is ~10 MB, and a binary only ever
  // uses its own (a run that already started has qemu holding its file).
  std::string prefix = "initramfs-" + kernel.version + "-";
  for (const auto& name : list_dir(cache_dir))
    if (name.rfind(prefix, 0) == 0 && cache_dir + "/" + name != path)
      unlink((cache_dir + "/" + name).c_str());
  return path;
}

}  // namespace coracle::vm

// The guest's kernel and initramfs, found or made once. The kernel is a
// Debian cloud kernel (linux-image-cloud-amd64: every virtio driver a
// module, which the initramfs carries) or the one CORACLE_VM_KERNEL names.
#pragma once
#include <string>

namespace coracle::vm {

struct GuestKernel {
  std::string image;        // vmlinuz (a bzImage)
  std::string modules_dir;  // /lib/modules/VERSION, with modules.dep
  std::string version;
};

// CORACLE_VM_KERNEL (with CORACLE_VM_MODULES, or /lib/modules/VERSION
// from its name vmlinuz-VERSION), else the newest vmlinuz-*-cloud-* in
// boot_dir with its modules. Throws coracle::Error saying what to install.
GuestKernel find_guest_kernel(const std::string& boot_dir = "/boot",
                              const std::string& modules_root = "/lib/modules");

// The initramfs for kernel with this binary as the agent, under cache_dir
// (made once per kernel and binary, by rename: whole or absent). Returns
// its path.
std::string ensure_initramfs(const std::string& cache_dir, const GuestKernel& kernel,
                             const std::string& agent = "/proc/self/exe");

}  // namespace coracle::vm

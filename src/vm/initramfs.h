// The guest's initramfs: a newc cpio archive (the format the kernel
// unpacks into its rootfs at boot) holding coracle's own static binary as
// /init, the kernel modules the guest needs (virtio-mmio, block, console,
// net, erofs, overlay, virtio-fs, the sock_diag modules), in load order,
// and /dev/console.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace coracle::vm {

// Appends newc entries to a string. Paths are relative ("init",
// "lib/modules/x.ko"); parents must be added before their entries.
class CpioWriter {
 public:
  void dir(const std::string& path, mode_t mode = 0755);
  void file(const std::string& path, const std::string& data, mode_t mode = 0644);
  void symlink(const std::string& path, const std::string& target);
  void char_device(const std::string& path, unsigned major, unsigned minor, mode_t mode = 0600);
  // The trailer; the archive is done.
  const std::string& finish();

 private:
  void entry(const std::string& path, uint32_t mode, const std::string& data, unsigned rmajor = 0,
             unsigned rminor = 0);
  std::string out_;
  uint32_t next_ino_ = 1;
};

// The modules the guest loads, by name ('-' and '_' alike, as modprobe).
const std::vector<std::string>& guest_modules();

// The files of names and everything they depend on, dependencies first,
// each once: paths relative to modules_dir (/lib/modules/VERSION), from its
// modules.dep. Throws coracle::Error naming a module the kernel lacks.
std::vector<std::string> module_load_order(const std::string& modules_dir,
                                           const std::vector<std::string>& names);

// The whole initramfs: agent (a static binary) as /init, the modules in
// load order under /modules (uncompressed: a .ko.xz, .ko.zst or .ko.gz is
// decompressed here, so the guest kernel needs no in-kernel
// decompression), their order in /modules/order, /dev/console.
std::string build_initramfs(const std::string& agent, const std::string& modules_dir,
                            const std::vector<std::string>& modules);

}  // namespace coracle::vm

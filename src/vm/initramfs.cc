#include "vm/initramfs.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "image/layer_unpack.h"

namespace coracle::vm {
namespace {

void pad4(std::string& s) {
  while (s.size() % 4) s.push_back('\0');
}

// modprobe's rule: '-' and '_' are the same in a module's name.
std::string module_name(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  base = base.substr(0, base.find(".ko"));
  for (char& c : base)
    if (c == '-') c = '_';
  return base;
}

// A module file, uncompressed (LayerStream reads plain files too).
std::string read_module(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open the kernel module " + path);
  image::LayerStream stream(fd.get(), path);
  std::string data;
  const void* piece;
  ssize_t n;
  while ((n = stream.next(&piece)) > 0) data.append(static_cast<const char*>(piece), n);
  if (n < 0) throw Error("cannot read the kernel module " + path + ": " + stream.error());
  return data;
}

}  // namespace

void CpioWriter::entry(const std::string& path, uint32_t mode, const std::string& data,
                       unsigned rmajor, unsigned rminor) {
  char header[111];
  // newc: magic, then 13 fields of 8 hex digits: ino, mode, uid, gid,
  // nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
  // namesize (with its NUL), check (0 without a checksum).
  snprintf(header, sizeof header, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08zX%08X",
           next_ino_++, mode, 0U, 0U, S_ISDIR(mode) ? 2U : 1U, 0U,
           static_cast<unsigned>(data.size()), 0U, 0U, rmajor, rminor, path.size() + 1, 0U);
  out_.append(header, 110);
  out_.append(path);
  out_.push_back('\0');
  pad4(out_);
  out_.append(data);
  pad4(out_);
}

void CpioWriter::dir(const std::string& path, mode_t mode) {
  entry(path, S_IFDIR | mode, "");
}

void CpioWriter::file(const std::string& path, const std::string& data, mode_t mode) {
  entry(path, S_IFREG | mode, data);
}

void CpioWriter::symlink(const std::string& path, const std::string& target) {
  entry(path, S_IFLNK | 0777, target);
}

void CpioWriter::char_device(const std::string& path, unsigned major, unsigned minor, mode_t mode) {
  entry(path, S_IFCHR | mode, "", major, minor);
}

const std::string& CpioWriter::finish() {
  entry("TRAILER!!!", 0, "");
  return out_;
}

const std::vector<std::string>& guest_modules() {
  static const std::vector<std::string> kModules = {
      // virtio-mmio devices, found through microvm's ACPI tables
      "virtio_mmio", "virtio_blk", "virtio_console", "virtio_net",
      // the rootfs: erofs layers under an overlay; binds through virtio-fs
      "erofs", "overlay", "virtiofs",
      // the port monitor's sock_diag
      "inet_diag", "tcp_diag", "udp_diag"};
  return kModules;
}

std::vector<std::string> module_load_order(const std::string& modules_dir,
                                           const std::vector<std::string>& names) {
  // modules.dep: "kernel/a/x.ko: kernel/b/y.ko kernel/c/z.ko" (dependencies
  // of x, each to be loaded before it).
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> by_name;
  for (const auto& line : split(read_file(modules_dir + "/modules.dep"), '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string path = line.substr(0, colon);
    std::vector<std::string> deps;
    for (const auto& d : split(line.substr(colon + 1), ' '))
      if (!d.empty()) deps.push_back(d);
    by_name[module_name(path)] = {path, deps};
  }
  std::vector<std::string> order;
  std::set<std::string> placed;
  // Depth first, dependencies before their user.
  std::function<void(const std::string&, int)> place = [&](const std::string& path, int depth) {
    if (depth > 64) throw Error("modules.dep in " + modules_dir + " has a dependency loop");
    if (placed.count(path)) return;
    auto it = by_name.find(module_name(path));
    if (it != by_name.end())
      for (const auto& dep : it->second.second) place(dep, depth + 1);
    placed.insert(path);
    order.push_back(path);
  };
  for (const auto& raw : names) {
    std::string name = module_name(raw);
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw Error("the kernel in " + modules_dir + " has no module " + name +
                  " (built in, or missing: the micro-VM needs it)");
    place(it->second.first, 0);
  }
  return order;
}

std::string build_initramfs(const std::string& agent, const std::string& modules_dir,
                            const std::vector<std::string>& modules) {
  CpioWriter cpio;
  cpio.file("init", read_file(agent), 0755);
  cpio.dir("dev");
  cpio.char_device("dev/console", 5, 1);
  cpio.dir("modules");
  std::string order;
  for (size_t i = 0; i < modules.size(); ++i) {
    // Numbered, so the guest needs no directory listing to keep the order.
    std::string name = std::to_string(i) + "-" + module_name(modules[i]) + ".ko";
    cpio.file("modules/" + name, read_module(modules_dir + "/" + modules[i]));
    order += name + "\n";
  }
  cpio.file("modules/order", order);
  return cpio.finish();
}

}  // namespace coracle::vm

// qemu's command line for a run, without qemu.
#include <gtest/gtest.h>

#include <algorithm>

#include "vm/qemu.h"

namespace coracle::vm {
namespace {

bool has_pair(const std::vector<std::string>& a, const std::string& flag,
              const std::string& value) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag && a[i + 1] == value) return true;
  return false;
}

std::string value_of(const std::vector<std::string>& a, const std::string& flag) {
  auto it = std::find(a.begin(), a.end(), flag);
  return it == a.end() || it + 1 == a.end() ? "" : *(it + 1);
}

TEST(QemuArgv, TcgGetsItsTscRateAndKvmTheHostsCpu) {
  VmConfig c;
  c.kernel.image = "/boot/vmlinuz-x";
  c.initramfs = "/cache/init.cpio";
  c.memory_bytes = 256ULL << 20;
  c.cpus = 2;
  c.tsc_khz = 1234567;
  auto a = qemu_argv(c);
  EXPECT_TRUE(has_pair(a, "-accel", "tcg"));
  EXPECT_TRUE(has_pair(a, "-m", "256M"));
  EXPECT_TRUE(has_pair(a, "-smp", "2"));
  EXPECT_TRUE(has_pair(a, "-kernel", "/boot/vmlinuz-x"));
  EXPECT_TRUE(has_pair(a, "-initrd", "/cache/init.cpio"));
  EXPECT_NE(value_of(a, "-append").find("tsc_early_khz=1234567"), std::string::npos);
  EXPECT_NE(value_of(a, "-append").find("panic=-1"), std::string::npos);
  EXPECT_NE(std::find(a.begin(), a.end(), "-no-reboot"), a.end());
  EXPECT_NE(std::find(a.begin(), a.end(), "-nodefaults"), a.end());
  // The console to the runner's socket, never to a file a guest could fill.
  c.console_fd = 8;
  a = qemu_argv(c);
  EXPECT_TRUE(has_pair(a, "-chardev", "socket,id=console,fd=8"));
  EXPECT_TRUE(has_pair(a, "-serial", "chardev:console"));
  EXPECT_NE(value_of(a, "-append").find("console=ttyS0"), std::string::npos);
  c.console_fd = -1;
  c.kvm = true;
  a = qemu_argv(c);
  EXPECT_TRUE(has_pair(a, "-accel", "kvm"));
  EXPECT_TRUE(has_pair(a, "-cpu", "host"));
  EXPECT_EQ(value_of(a, "-append").find("tsc_early_khz"), std::string::npos);
}

TEST(QemuArgv, DisksAreReadOnlyInOrderAndTheChannelIsTheInheritedFd) {
  VmConfig c;
  c.disks = {"/store/vm/a.erofs", "/store/vm/b.erofs"};
  c.channel_fd = 7;
  c.net_fd = 9;
  auto a = qemu_argv(c);
  std::vector<std::string> drives;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "-drive") drives.push_back(a[i + 1]);
  ASSERT_EQ(drives.size(), 2u);
  EXPECT_NE(drives[0].find("file=/store/vm/a.erofs"), std::string::npos);
  EXPECT_NE(drives[0].find("readonly=on"), std::string::npos);
  EXPECT_NE(drives[1].find("file=/store/vm/b.erofs"), std::string::npos);
  EXPECT_TRUE(has_pair(a, "-chardev", "socket,id=agent,fd=7"));
  EXPECT_TRUE(has_pair(a, "-device", "virtserialport,chardev=agent,name=org.coracle.agent"));
  // passt, never qemu's user networking (it would give the host's loopback).
  EXPECT_TRUE(has_pair(a, "-netdev", "stream,id=net0,server=off,addr.type=fd,addr.str=9"));
  for (const auto& arg : a) EXPECT_EQ(arg.find("user,"), std::string::npos) << arg;
  // No console unless asked: the kernel's messages are not the command's.
  EXPECT_NE(value_of(a, "-append").find("console=none"), std::string::npos);
  EXPECT_EQ(std::find(a.begin(), a.end(), "-serial"), a.end());
}

}  // namespace
}  // namespace coracle::vm

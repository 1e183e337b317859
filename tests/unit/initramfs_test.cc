// The guest's initramfs, read back with libarchive (the kernel's own
// format, newc), and the module load order from a modules.dep.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "temp_dir.h"
#include "vm/guest_kernel.h"
#include "vm/initramfs.h"

namespace coracle::vm {
namespace {

struct Entry {
  unsigned mode;
  std::string data;
  unsigned rdev_major = 0, rdev_minor = 0;
};

std::map<std::string, Entry> read_cpio(const std::string& bytes) {
  std::map<std::string, Entry> entries;
  archive* a = archive_read_new();
  archive_read_support_format_cpio(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry out{static_cast<unsigned>(archive_entry_mode(e)), ""};
    out.rdev_major = archive_entry_rdevmajor(e);
    out.rdev_minor = archive_entry_rdevminor(e);
    if (const char* link = archive_entry_symlink(e)) out.data = link;
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) out.data.append(buf, n);
    entries[archive_entry_pathname(e)] = out;
  }
  archive_read_free(a);
  return entries;
}

TEST(Initramfs, CpioEntriesReadBackAsWritten) {
  CpioWriter w;
  w.dir("dev");
  w.char_device("dev/console", 5, 1);
  w.file("init", "#!/bin/true\n", 0755);
  w.file("odd", "123");  // a size that needs padding
  w.symlink("sbin", "bin");
  auto entries = read_cpio(w.finish());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_TRUE(S_ISDIR(entries["dev"].mode));
  EXPECT_TRUE(S_ISCHR(entries["dev/console"].mode));
  EXPECT_EQ(entries["dev/console"].rdev_major, 5u);
  EXPECT_EQ(entries["dev/console"].rdev_minor, 1u);
  EXPECT_EQ(entries["init"].mode, static_cast<unsigned>(S_IFREG | 0755));
  EXPECT_EQ(entries["init"].data, "#!/bin/true\n");
  EXPECT_EQ(entries["odd"].data, "123");
  EXPECT_TRUE(S_ISLNK(entries["sbin"].mode));
  EXPECT_EQ(entries["sbin"].data, "bin");
}

struct ModulesDir : ::testing::Test {
  test::UnitTempDir tmp;
  std::string dir() { return tmp.path; }
  void SetUp() override {
    mkdir_p(tmp.path + "/kernel/fs");
    mkdir_p(tmp.path + "/kernel/lib");
    write_file_atomic(tmp.path + "/kernel/lib/libcrc32c.ko", "crc");
    write_file_atomic(tmp.path + "/kernel/lib/base-dep.ko", "base");
    write_file_atomic(tmp.path + "/kernel/fs/erofs.ko", "erofs module");
    write_file_atomic(tmp.path + "/modules.dep",
                      "kernel/fs/erofs.ko: kernel/lib/libcrc32c.ko kernel/lib/base-dep.ko\n"
                      "kernel/lib/libcrc32c.ko: kernel/lib/base-dep.ko\n"
                      "kernel/lib/base-dep.ko:\n"
                      "kernel/fs/overlay.ko.gz:\n");
  }
};

TEST_F(ModulesDir, DependenciesComeFirstAndEachOnce) {
  auto order = module_load_order(dir(), {"erofs", "libcrc32c", "base_dep"});
  EXPECT_EQ(order, (std::vector<std::string>{"kernel/lib/base-dep.ko", "kernel/lib/libcrc32c.ko",
                                             "kernel/fs/erofs.ko"}));
  try {
    module_load_order(dir(), {"virtio_fs_missing"});
    ADD_FAILURE() << "a missing module was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("virtio_fs_missing"), std::string::npos);
  }
}

TEST_F(ModulesDir, TheInitramfsCarriesTheAgentAndTheModulesInOrderDecompressed) {
  write_file_atomic(tmp.path + "/overlay.ko", "overlay module");
  ASSERT_EQ(
      system(("gzip -c " + tmp.path + "/overlay.ko > " + tmp.path + "/kernel/fs/overlay.ko.gz")
                 .c_str()),
      0);
  write_file_atomic(tmp.path + "/agent", "AGENT");
  auto order = module_load_order(dir(), {"erofs", "overlay"});
  auto entries = read_cpio(build_initramfs(tmp.path + "/agent", dir(), order));
  EXPECT_EQ(entries["init"].data, "AGENT");
  EXPECT_EQ(entries["init"].mode & 0777, 0755u);
  EXPECT_TRUE(S_ISCHR(entries["dev/console"].mode));
  EXPECT_EQ(entries["modules/order"].data,
            "0-base_dep.ko\n1-libcrc32c.ko\n2-erofs.ko\n3-overlay.ko\n");
  EXPECT_EQ(entries["modules/2-erofs.ko"].data, "erofs module");
  EXPECT_EQ(entries["modules/3-overlay.ko"].data, "overlay module");  // gunzipped
}

}  // namespace
}  // namespace coracle::vm

namespace coracle::vm {
namespace {

struct BootDir : ::testing::Test {
  test::UnitTempDir tmp;
  void kernel(const std::string& version, bool with_modules = true) {
    mkdir_p(tmp.path + "/boot");
    write_file_atomic(tmp.path + "/boot/vmlinuz-" + version, "bzImage");
    if (!with_modules) return;
    mkdir_p(tmp.path + "/modules/" + version);
    write_file_atomic(tmp.path + "/modules/" + version + "/modules.dep", "");
  }
  GuestKernel find() { return find_guest_kernel(tmp.path + "/boot", tmp.path + "/modules"); }
};

TEST_F(BootDir, TheNewestCloudKernelWithItsModulesIsChosen) {
  unsetenv("CORACLE_VM_KERNEL");
  kernel("6.1.0-9-cloud-amd64");
  kernel("6.1.0-57-cloud-amd64");
  kernel("6.1.0-60-cloud-amd64", false);  // no modules: unusable
  kernel("6.1.0-99-amd64");               // not a cloud kernel: its virtio is built differently
  GuestKernel k = find();
  EXPECT_EQ(k.version, "6.1.0-57-cloud-amd64");
  EXPECT_EQ(k.image, tmp.path + "/boot/vmlinuz-6.1.0-57-cloud-amd64");
  EXPECT_EQ(k.modules_dir, tmp.path + "/modules/6.1.0-57-cloud-amd64");
}

TEST_F(BootDir, NoKernelSaysWhatToInstallAndTheEnvironmentWins) {
  unsetenv("CORACLE_VM_KERNEL");
  mkdir_p(tmp.path + "/boot");
  try {
    find();
    ADD_FAILURE() << "no kernel was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linux-image-cloud-amd64"), std::string::npos);
  }
  kernel("6.1.0-1-cloud-amd64");
  setenv("CORACLE_VM_KERNEL", (tmp.path + "/boot/vmlinuz-6.1.0-1-cloud-amd64").c_str(), 1);
  setenv("CORACLE_VM_MODULES", (tmp.path + "/modules/6.1.0-1-cloud-amd64").c_str(), 1);
  EXPECT_EQ(find().version, "6.1.0-1-cloud-amd64");
  setenv("CORACLE_VM_KERNEL", (tmp.path + "/nothing").c_str(), 1);
  EXPECT_THROW(find(), Error);
  unsetenv("CORACLE_VM_KERNEL");
  unsetenv("CORACLE_VM_MODULES");
}

TEST_F(BootDir, TheInitramfsIsMadeOnceAndAgainForAnotherAgent) {
  kernel("6.1.0-1-cloud-amd64");
  std::string modules = tmp.path + "/modules/6.1.0-1-cloud-amd64";
  std::string deps;
  for (const auto& m : guest_modules()) {
    write_file_atomic(modules + "/" + m + ".ko", m);
    deps += m + ".ko:\n";
  }
  write_file_atomic(modules + "/modules.dep", deps);
  write_file_atomic(tmp.path + "/agent", "one");
  GuestKernel k{tmp.path + "/boot/vmlinuz-6.1.0-1-cloud-amd64", modules, "6.1.0-1-cloud-amd64"};
  std::string first = ensure_initramfs(tmp.path + "/cache", k, tmp.path + "/agent");
  EXPECT_EQ(ensure_initramfs(tmp.path + "/cache", k, tmp.path + "/agent"), first);
  write_file_atomic(tmp.path + "/agent", "two!");  // a new build
  std::string second = ensure_initramfs(tmp.path + "/cache", k, tmp.path + "/agent");
  EXPECT_NE(second, first);
  EXPECT_FALSE(path_exists(first));  // an earlier build's goes
  EXPECT_NE(read_file(second).find("two!"), std::string::npos);
}

}  // namespace
}  // namespace coracle::vm

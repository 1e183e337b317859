// The tar writer against two readers: libarchive (what coracle unpacks
// layers with) and GNU tar.
#include "image/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "common/error.h"

namespace coracle::image {
namespace {

struct ReadBack {
  int type;
  mode_t perm;
  int64_t uid, gid, size, mtime;
  std::string link, hardlink, data;
  dev_t rdev;
  std::map<std::string, std::string> xattrs;
};

std::map<std::string, ReadBack> read_back(const std::string& tar) {
  std::map<std::string, ReadBack> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    ReadBack r{};
    r.type = static_cast<int>(archive_entry_filetype(e));
    r.perm = archive_entry_perm(e);
    r.uid = archive_entry_uid(e);
    r.gid = archive_entry_gid(e);
    r.size = archive_entry_size(e);
    r.mtime = archive_entry_mtime(e);
    if (auto* l = archive_entry_symlink(e)) r.link = l;
    if (auto* h = archive_entry_hardlink(e)) r.hardlink = h;
    r.rdev = archive_entry_rdev(e);
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
      r.xattrs[name] = std::string(static_cast<const char*>(value), size);
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
      r.data.append(buf, static_cast<size_t>(n));
    out[archive_entry_pathname(e)] = r;
  }
  archive_read_free(a);
  return out;
}

TEST(TarWriter, EveryEntryTypeAndWhatUstarCannotHold) {
  std::string tar;
  TarWriter w([&](const void* d, size_t n) { tar.append(static_cast<const char*>(d), n); });
  std::string long_dir(120, 'd'), long_leaf(130, 'f');
  std::string long_name = long_dir + "/" + long_leaf;  // no ustar prefix/name split fits
  std::string long_link(150, 'l');

  TarEntry dir;
  dir.type = TarEntry::Type::kDir;
  dir.name = "etc";
  dir.mode = 01755;
  dir.mtime = 1700000000;
  w.add(dir);
  TarEntry file;
  file.name = "etc/passwd";
  file.mode = 04755;
  file.uid = 1000;
  file.gid = 100;
  file.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)},
                 {"user.note", "hello"}};
  w.add_file(file, "root:x:0:0\n");
  TarEntry big_ids;
  big_ids.name = long_name;
  big_ids.uid = 1000000000;  // beyond ustar's 7 octal digits
  big_ids.gid = 3000000000ULL;
  w.add_file(big_ids, std::string(1000, 'x'));  // more than one block
  TarEntry sym;
  sym.type = TarEntry::Type::kSymlink;
  sym.name = "etc/far";
  sym.link = long_link;
  sym.mode = 0777;
  w.add(sym);
  TarEntry hard;
  hard.type = TarEntry::Type::kHardlink;
  hard.name = "etc/passwd-";
  hard.link = "etc/passwd";
  w.add(hard);
  TarEntry chr;
  chr.type = TarEntry::Type::kCharDev;
  chr.name = "etc/.wh.gone";  // the shape of an overlay whiteout, as a device
  chr.dev_major = 1;
  chr.dev_minor = 3;
  w.add(chr);
  TarEntry fifo;
  fifo.type = TarEntry::Type::kFifo;
  fifo.name = "run.fifo";
  w.add(fifo);
  w.finish();
  EXPECT_EQ(tar.size() % 512, 0u);
  EXPECT_EQ(w.bytes_written(), tar.size());

  auto entries = read_back(tar);
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries["etc/"].type, AE_IFDIR);
  EXPECT_EQ(entries["etc/"].perm, 01755u);
  EXPECT_EQ(entries["etc/"].mtime, 1700000000);
  const auto& pw = entries["etc/passwd"];
  EXPECT_EQ(pw.data, "root:x:0:0\n");
  EXPECT_EQ(pw.perm, 04755u);
  EXPECT_EQ(pw.uid, 1000);
  EXPECT_EQ(pw.gid, 100);
  EXPECT_EQ(pw.xattrs.at("security.capability"), std::string("\x01\x00\x00\x02", 4));
  EXPECT_EQ(pw.xattrs.at("user.note"), "hello");
  ASSERT_TRUE(entries.count(long_name));
  EXPECT_EQ(entries[long_name].uid, 1000000000);
  EXPECT_EQ(entries[long_name].gid, 3000000000LL);
  EXPECT_EQ(entries[long_name].data, std::string(1000, 'x'));
  EXPECT_EQ(entries["etc/far"].type, AE_IFLNK);
  EXPECT_EQ(entries["etc/far"].link, long_link);
  EXPECT_EQ(entries["etc/passwd-"].hardlink, "etc/passwd");
  EXPECT_EQ(entries["etc/.wh.gone"].type, AE_IFCHR);
  EXPECT_EQ(major(entries["etc/.wh.gone"].rdev), 1u);
  EXPECT_EQ(minor(entries["etc/.wh.gone"].rdev), 3u);
  EXPECT_EQ(entries["run.fifo"].type, AE_IFIFO);

  // GNU tar reads the same names.
  std::string path = testing::TempDir() + "/coracle-writer.tar";
  std::ofstream(path, std::ios::binary) << tar;
  FILE* p = popen(("tar -tf " + path).c_str(), "r");
  std::string listing;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) listing.append(buf, n);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_NE(listing.find(long_name + "\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find("etc/passwd-\n"), std::string::npos);
  remove(path.c_str());
}

TEST(TarWriter, MisuseIsRefused) {
  std::string tar;
  TarWriter w([&](const void* d, size_t n) { tar.append(static_cast<const char*>(d), n); });
  TarEntry e;
  e.name = "/absolute";
  EXPECT_THROW(w.add(e), Error);
  e.name = "short";
  e.size = 10;
  w.add(e);
  EXPECT_THROW(w.data("0123456789ab", 12), Error);  // more than its size
  w.data("01234", 5);
  EXPECT_THROW(w.finish(), Error);  // 5 bytes missing
}

}  // namespace
}  // namespace coracle::image

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "image/default_image.h"
#include "temp_dir.h"

namespace coracle::image {
namespace {

// Builds a minimal ustar archive in memory.
std::string entry(const std::string& name, char type, const std::string& data = "",
                  const std::string& link = "") {
  char h[512] = {};
  strncpy(h, name.c_str(), 100);
  snprintf(h + 100, 8, "%07o", 0644);
  snprintf(h + 124, 12, "%011zo", data.size());
  h[156] = type;
  strncpy(h + 157, link.c_str(), 100);
  memcpy(h + 257, "ustar", 6);
  std::string out(h, 512);
  out += data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

using Dir = test::UnitTempDir;

TEST(Ustar, UnpacksFilesDirsAndLinks) {
  Dir d;
  std::string tar = entry("./etc/", '5') + entry("./etc/hosts", '0', "127.0.0.1 localhost\n") +
                    entry("./bin/sh", '2', "", "busybox") + std::string(1024, '\0');
  unpack_ustar(tar, d.path);
  EXPECT_EQ(read_file(d.path + "/etc/hosts"), "127.0.0.1 localhost\n");
  char target[32] = {};
  ASSERT_GT(readlink((d.path + "/bin/sh").c_str(), target, sizeof target), 0);
  EXPECT_STREQ(target, "busybox");
}

TEST(Ustar, RefusesEntriesThatLeaveTheDestination) {
  Dir d;
  EXPECT_THROW(unpack_ustar(entry("../evil", '0', "x"), d.path), Error);
  EXPECT_THROW(unpack_ustar(entry("/etc/evil", '0', "x"), d.path), Error);
  EXPECT_THROW(unpack_ustar(entry("a/../../evil", '0', "x"), d.path), Error);
}

TEST(Ustar, ASymlinkPlantedEarlierCannotRedirectLaterEntries) {
  Dir d, outside;
  std::string tar = entry("link", '2', "", outside.path) + entry("link/file", '0', "x");
  unpack_ustar(tar, d.path);
  struct stat st;
  EXPECT_NE(stat((outside.path + "/file").c_str(), &st), 0) << "written through a planted symlink";
  EXPECT_EQ(stat((d.path + outside.path + "/file").c_str(), &st), 0) << "the link resolves inside";
}

TEST(Ustar, TruncatedArchiveIsAnError) {
  Dir d;
  std::string tar = entry("f", '0', std::string(2000, 'a'));
  EXPECT_THROW(unpack_ustar(tar.substr(0, 1024), d.path), Error);
}

}  // namespace
}  // namespace coracle::image

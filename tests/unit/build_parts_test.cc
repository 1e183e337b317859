// The builder's parts on real directories: the merged view of layers
// (whiteouts, opaque directories, symlinks kept inside the image), a tree
// as a sorted layer tar with overlay whiteouts turned into OCI ones,
// here-document expansion and the config's time stamps.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "builder/dockerfile/shell_words.h"
#include "builder/layered_fs.h"
#include "builder/stage_state.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "image/tree_tar.h"
#include "temp_dir.h"

namespace coracle::test {
namespace {

using builder::LayeredFs;

void put(const std::string& path, const std::string& content) {
  mkdir_p(path.substr(0, path.find_last_of('/')));
  write_file_atomic(path, content);
}

// An overlay whiteout: what the layer cache stores for a deletion.
bool whiteout(const std::string& path) {
  mkdir_p(path.substr(0, path.find_last_of('/')));
  return mknod(path.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0;
}

TEST(LayeredFs, UpperLayersWinAndWhiteoutsAndOpaqueDirsHide) {
  UnitTempDir t;
  std::string l0 = t.path + "/l0", l1 = t.path + "/l1";
  put(l0 + "/etc/a", "a0");
  put(l0 + "/etc/b", "b0");
  put(l0 + "/data/old", "old");
  put(l0 + "/real/file", "through the link");
  put(l1 + "/etc/a", "a1");
  put(l1 + "/data/new", "new");
  mkdir_p(l0 + "/lib");
  ASSERT_EQ(symlink("/real", (l1 + "/link").c_str()), 0);
  ASSERT_EQ(symlink("../../../../real", (l1 + "/escape").c_str()), 0);
  if (!whiteout(l1 + "/etc/b")) GTEST_SKIP() << "cannot create whiteouts (mknod 0:0) here";
  ASSERT_EQ(setxattr((l1 + "/data").c_str(), "user.overlay.opaque", "y", 1, 0), 0);

  LayeredFs fs({l0, l1});
  EXPECT_EQ(fs.read_small_file("/etc/a"), "a1");
  EXPECT_FALSE(fs.lookup("/etc/b"));
  EXPECT_EQ(fs.list("/etc"), std::vector<std::string>{"a"});
  EXPECT_FALSE(fs.lookup("/data/old"));  // the opaque dir hides the layer below
  EXPECT_EQ(fs.list("/data"), std::vector<std::string>{"new"});
  EXPECT_EQ(fs.read_small_file("/link/file"), "through the link");
  // ".." past the root stays at the image's root.
  EXPECT_EQ(fs.read_small_file("/escape/file"), "through the link");
  auto link = fs.lookup("/link");
  ASSERT_TRUE(link);
  EXPECT_TRUE(S_ISLNK(link->st.st_mode));
  EXPECT_EQ(fs.list("/"),
            (std::vector<std::string>{"data", "escape", "etc", "lib", "link", "real"}));
}

TEST(TreeTar, SortedEntriesWithOciWhiteouts) {
  UnitTempDir t;
  std::string up = t.path + "/upper";
  put(up + "/b/file", "bee");
  put(up + "/a", "ay");
  mkdir_p(up + "/opq");
  if (!whiteout(up + "/gone")) GTEST_SKIP() << "cannot create whiteouts (mknod 0:0) here";
  ASSERT_EQ(setxattr((up + "/opq").c_str(), "user.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(link((up + "/a").c_str(), (up + "/b/hard").c_str()), 0);

  std::string tar_bytes;
  image::TarWriter tar([&](const void* p, size_t n) { tar_bytes.append((const char*)p, n); });
  UniqueFd dir(open(up.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  image::TreeTarOptions options;
  options.overlay_whiteouts = true;
  image::write_tree(dir.get(), tar, options);
  tar.finish();
  put(t.path + "/layer.tar", tar_bytes);

  FILE* p = popen(("tar tf " + t.path + "/layer.tar").c_str(), "r");
  std::string listing;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, p)) listing.append(buf, n);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(listing, "a\nb/\nb/file\nb/hard\n.wh.gone\nopq/\nopq/.wh..wh..opq\n");
}

TEST(ShellWords, HeredocBodiesExpandVariablesButKeepQuotes) {
  builder::ShellWords words;
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "WHO") return std::string("world");
    return std::nullopt;
  };
  EXPECT_EQ(words.expand_heredoc("say \"hi\" to '$WHO' \\$HOME ${NONE:-x}\n", env),
            "say \"hi\" to 'world' $HOME x\n");
}

TEST(StageState, TimesRoundTripAndZonesCount) {
  EXPECT_EQ(builder::rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(builder::parse_rfc3339("2024-05-06T07:08:09Z"), 1714979289);
  EXPECT_EQ(builder::parse_rfc3339("2024-05-06T07:08:09.123456789Z"), 1714979289);
  EXPECT_EQ(builder::parse_rfc3339("2024-05-06T09:08:09+02:00"), 1714979289);
  EXPECT_EQ(builder::parse_rfc3339("not a time"), 0);
}

}  // namespace
}  // namespace coracle::test

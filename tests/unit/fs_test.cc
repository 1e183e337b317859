#include "common/fs.h"
#include "temp_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle {
namespace {

using Dir = test::UnitTempDir;

TEST(Fs, SymlinksResolveInsideTheRoot) {
  Dir root, outside;
  write_file_atomic(outside.path + "/secret", "s");
  write_file_atomic(root.path + "/secret", "inside");
  ASSERT_EQ(symlink(outside.path.c_str(), (root.path + "/escape").c_str()), 0);
  ASSERT_EQ(symlink("../../../../secret", (root.path + "/up").c_str()), 0);
  UniqueFd r(open(root.path.c_str(), O_PATH | O_DIRECTORY));
  // An absolute link is taken relative to the root: it points at nothing.
  EXPECT_EQ(open_in_root(r.get(), "/escape/secret", O_RDONLY), -ENOENT);
  // ".." cannot climb above the root.
  int fd = open_in_root(r.get(), "/up", O_RDONLY);
  ASSERT_GE(fd, 0);
  char buf[16] = {};
  EXPECT_EQ(read(fd, buf, sizeof buf), 6);
  EXPECT_STREQ(buf, "inside");
  close(fd);
}

TEST(Fs, MkdirInRootCreatesThroughLinksOnlyInside) {
  Dir root, outside;
  ASSERT_EQ(symlink(outside.path.c_str(), (root.path + "/link").c_str()), 0);
  UniqueFd r(open(root.path.c_str(), O_PATH | O_DIRECTORY));
  // The link names a host path; inside the root that path is created.
  int fd = mkdir_p_in_root(r.get(), "/link/a/b");
  ASSERT_GE(fd, 0);
  close(fd);
  struct stat st;
  EXPECT_NE(stat((outside.path + "/a").c_str(), &st), 0) << "created outside the root";
  EXPECT_EQ(stat((root.path + outside.path + "/a/b").c_str(), &st), 0);
  ASSERT_EQ(symlink("loop", (root.path + "/loop").c_str()), 0);
  EXPECT_EQ(mkdir_p_in_root(r.get(), "/loop/x"), -ELOOP);
  fd = touch_in_root(r.get(), "/x/y/file");
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(stat((root.path + "/x/y/file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(Fs, AtomicWriteAndRead) {
  Dir d;
  write_file_atomic(d.path + "/f", "one");
  write_file_atomic(d.path + "/f", "two");
  EXPECT_EQ(read_file(d.path + "/f"), "two");
  EXPECT_THROW(read_file(d.path + "/missing"), Error);
}

}  // namespace
TEST(Fs, AbsolutePathsAreLexicallyTidy) {
  EXPECT_EQ(absolute_path("/a/./b//c/."), "/a/b/c");
  EXPECT_EQ(absolute_path("/a/../b"), "/a/../b");  // ".." is left to the kernel
  EXPECT_EQ(absolute_path("/"), "/");
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(absolute_path("./x"), std::string(cwd == std::string("/") ? "" : cwd) + "/x");
}

}  // namespace coracle

// The one launch path through the binary: exec, the chain's steps and
// builtin:exec give a process the same environment, users by name work on
// every kind of rootfs, --entrypoint, and the storage driver is obeyed
// everywhere.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "chain_fixture.h"
#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class LaunchTest : public ChainFixture {
 protected:
  // An image with an ENTRYPOINT, an Env and a user of its own.
  void import_entry_image() {
    json layer = busybox_layer();
    layer.push_back({{"name", "bin/env"}, {"type", "symlink"}, {"target", "busybox"}});
    layer.push_back({{"name", "bin/sort"}, {"type", "symlink"}, {"target", "busybox"}});
    make_layout(work.path() + "/lay", {{"tag", "entry"},
                                       {"layers", {layer}},
                                       {"entrypoint", {"/bin/echo", "from-entrypoint"}},
                                       {"cmd", {"default-arg"}},
                                       {"env", {"MODE=image"}}});
    ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  }
};

TEST_F(LaunchTest, EntrypointCanBeReplacedOrCleared) {
  import_entry_image();
  EXPECT_EQ(cor({"exec", "entry"}).out, "from-entrypoint default-arg\n");
  EXPECT_EQ(cor({"exec", "entry", "--", "mine"}).out, "from-entrypoint mine\n");
  auto r = cor({"exec", "--entrypoint", "", "entry", "--", "/bin/sh", "-c", "echo plain"});
  EXPECT_EQ(r.out, "plain\n") << r.err;
  r = cor({"exec", "--entrypoint", "/bin/id", "entry", "--", "-u"});
  EXPECT_EQ(r.out, "0\n") << r.err;
}

TEST_F(LaunchTest, UsersByNameOnEveryKindOfRootfs) {
  // The default image and a --rootfs directory have their own passwd.
  auto r = cor({"exec", "-u", "nobody", "--", "id", "-u"});
  EXPECT_EQ(r.out, "65534\n") << r.err;
  std::string rootfs = work.path() + "/rootfs";
  run_sh("mkdir -p " + rootfs + "/bin " + rootfs + "/etc && cp /bin/busybox " + rootfs +
         "/bin/ && ln -s busybox " + rootfs + "/bin/id");
  write_file_atomic(rootfs + "/etc/passwd", "root:x:0:0::/root:/bin/sh\nbob:x:1234:1234::/:/x\n");
  write_file_atomic(rootfs + "/etc/group", "root:x:0:\nbob:x:1234:\n");
  r = cor({"exec", "-u", "bob", "--rootfs", rootfs, "--", "/bin/id"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("uid=1234(bob) gid=1234(bob)"), std::string::npos) << r.out;
  r = cor({"exec", "-u", "ghost", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("ghost"), std::string::npos) << r.err;
  // NAME:GROUP, through the same files; an image's own passwd too.
  r = cor({"exec", "-u", "nobody:tty", "--", "id"});
  EXPECT_NE(r.out.find("uid=65534(nobody) gid=5(tty)"), std::string::npos) << r.out << r.err;
  r = cor({"exec", "-u", "bob:root", "--rootfs", rootfs, "--", "/bin/id"});
  EXPECT_NE(r.out.find("uid=1234(bob) gid=0(root)"), std::string::npos) << r.out << r.err;
  import_entry_image();  // its passwd has app (1000:1001), its group staff (1001)
  r = cor({"exec", "-u", "app:wheel", "--entrypoint", "/bin/id", "entry", "--", "-u"});
  EXPECT_EQ(r.out, "1000\n") << r.err;
  r = cor({"exec", "-u", "app:wheel", "--entrypoint", "/bin/id", "entry", "--", "-g"});
  EXPECT_EQ(r.out, "10\n") << r.err;
}

TEST_F(LaunchTest, ACallersUmaskDoesNotLockOtherUsersOut) {
  // Under umask 077 the sandbox's / and its generated /etc files came out
  // 0700 and 0600: no user but root could run anything. The command gets
  // Docker's 022.
  mode_t saved = umask(077);
  auto r = cor({"exec", "-u", "nobody", "--", "sh", "-c",
                "cat /etc/hostname /etc/hosts >/dev/null && umask"});
  umask(saved);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0022\n") << r.err;
}

TEST_F(LaunchTest, ReadOnlyWorksOnAnImageWithoutMountPoints) {
  // A layout made entry by entry, like umoci's and skopeo's, has no /proc,
  // /dev, /sys or /tmp: they are made in the overlay's upper dir, never in
  // the image, and the root is read-only all the same.
  import_entry_image();
  auto r = cor({"exec", "--read-only", "--entrypoint", "/bin/sh", "entry", "--", "-c",
                "cat /proc/1/cmdline >/dev/null && echo proc; touch /x 2>/dev/null || echo ro"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "proc\nro\n") << r.err;
}

TEST_F(LaunchTest, ExecAndTheChainGiveTheSameEnvironment) {
  import_entry_image();
  auto exec = cor({"exec", "--entrypoint", "", "--hostname", "coracle-app", "entry", "--", "env"});
  ASSERT_EQ(exec.exit_code, 0) << exec.err;
  // builtin:exec on the same image, through a state that names it.
  std::string a = push("use-entry", R"SH(
echo entry > /out/state/image
echo '["env"]' > /out/state/cmd
echo builtin:exec > /out/state/next
)SH");
  auto run_result = run({"--assistant", a});
  ASSERT_EQ(run_result.exit_code, 0) << run_result.err;
  auto sorted = [](const std::string& text) {
    auto lines = split(text, '\n');
    std::vector<std::string> kept;
    for (auto& l : lines)
      if (!l.empty()) kept.push_back(l);
    std::sort(kept.begin(), kept.end());
    return kept;
  };
  auto log = read_file(app() + "/.ayup/log");
  EXPECT_EQ(sorted(log), sorted(exec.out));
  for (const char* key : {"PATH=", "HOME=/root", "HOSTNAME=coracle-app", "MODE=image"})
    EXPECT_NE(log.find(key), std::string::npos) << key << " in " << log;
}

TEST_F(LaunchTest, ABuildRunGetsTheSameDefaultsAndItsStagesUser) {
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\nARG WHO=builder\nRUN env > /root-env\n"
                    "USER nobody\nRUN env > /tmp/nobody-env && cat /tmp/nobody-env\n");
  auto r = cor({"build", "-t", "envs", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string root_env = cor({"exec", "envs", "--", "cat", "/root-env"}).out;
  for (const char* want : {"HOME=/root", "HOSTNAME=coracle-build", "WHO=builder", "PATH="})
    EXPECT_NE(root_env.find(want), std::string::npos) << want << " in " << root_env;
  // USER nobody: the default image's passwd names its home (the RUN
  // printed its environment with the build's output).
  EXPECT_NE((r.out + r.err).find("HOME=/nonexistent"), std::string::npos) << r.out << r.err;
}

TEST_F(LaunchTest, TheVfsDriverIsObeyedByTheChainsSteps) {
  std::string a = push("root-kind", R"SH(
awk '$5 == "/" { print $9 }' /proc/self/mountinfo > /out/app/root-fs
)SH");
  auto r = cor({"--storage-driver", "vfs", "run", app(), "--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string kind = read_file(app() + "/root-fs");
  EXPECT_EQ(kind.find("overlay"), std::string::npos) << kind;
  r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/root-fs"), "overlay\n");
  // The runs' work dirs go: the writable layer's by a child of the runner,
  // just after the run.
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

}  // namespace
}  // namespace coracle::test

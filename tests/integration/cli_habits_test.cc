// A podman user's habits at coracle's command line: the short forms of the
// image commands, `version` and `-v`, and for a mistyped or podman-only
// word an answer that says what was meant, not "A subcommand is required".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class CliHabits : public ::testing::Test {
 protected:
  TempDir work, store;
  RunResult cor(std::vector<std::string> args) {
    args.insert(args.begin(), {"--root", store.path()});
    return coracle(args);
  }
};

TEST_F(CliHabits, TyposAndPodmanWordsGetAnAnswer) {
  auto r = cor({"imag", "ls"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("unknown command 'imag'\nDid you mean 'image'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("See 'coracle --help'."), std::string::npos) << r.err;
  r = cor({"exce", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Did you mean 'exec'"), std::string::npos) << r.err;
  // A podman command coracle has no counterpart for: where to go instead.
  r = cor({"ps"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("unknown command 'ps': coracle keeps no containers"), std::string::npos)
      << r.err;
  r = cor({"-V"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("unknown flag '-V'\nDid you mean '--version' (or -v)?"), std::string::npos)
      << r.err;
  // `run IMAGE` as podman has it: coracle's run takes a folder.
  r = cor({"run", "alpine:3.20"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("to run an image, as `podman run` does: coracle exec alpine:3.20"),
            std::string::npos)
      << r.err;
  // Nothing of these reached the store.
  EXPECT_EQ(count_entries(store.path()), 0);
}

TEST_F(CliHabits, VersionThreeWays) {
  auto version = coracle({"--version"});
  ASSERT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("coracle ", 0), 0u) << version.out;
  EXPECT_EQ(coracle({"version"}).out, version.out);
  EXPECT_EQ(coracle({"-v"}).out, version.out);
  EXPECT_NE(coracle({"--help"}).out.find("podman's short forms work too"), std::string::npos);
}

TEST_F(CliHabits, PodmansShortFormsAreTheImageCommands) {
  json top = json::array({{{"name", "mark"}, {"data", "short forms"}}});
  make_layout(work.path() + "/layout", {{"tag", "habit"}, {"layers", {busybox_layer(), top}}});
  // load = image import; images = image ls; inspect = image inspect.
  ASSERT_EQ(cor({"load", work.path() + "/layout"}).exit_code, 0);
  auto images = cor({"images"});
  ASSERT_EQ(images.exit_code, 0) << images.err;
  EXPECT_EQ(images.out, cor({"image", "ls"}).out);
  EXPECT_NE(images.out.find("habit"), std::string::npos) << images.out;
  auto inspect = cor({"inspect", "habit"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(inspect.out, cor({"image", "inspect", "habit"}).out);
  // save = image export; rmi = image rm; and load brings it back.
  std::string tar = work.path() + "/habit.tar";
  ASSERT_EQ(cor({"save", "habit", tar}).exit_code, 0);
  ASSERT_EQ(cor({"rmi", "habit"}).exit_code, 0);
  EXPECT_EQ(cor({"images"}).out.find("habit"), std::string::npos);
  ASSERT_EQ(cor({"load", tar}).exit_code, 0);
  EXPECT_EQ(cor({"exec", "habit", "--", "cat", "/mark"}).out, "short forms");
  // pull and push are image pull and push: their own usage errors.
  auto pull = cor({"pull"});
  EXPECT_EQ(pull.exit_code, 125);
  EXPECT_NE(pull.err.find("ref is required"), std::string::npos) << pull.err;
  auto push = cor({"push"});
  EXPECT_EQ(push.exit_code, 125);
  EXPECT_NE(push.err.find("ref is required"), std::string::npos) << push.err;
}

TEST_F(CliHabits, ExecTakesPodmansHarmlessFlags) {
  // --rm and --init are what coracle does anyway; --pids-limit is --pids;
  // --security-opt's seccomp=unconfined turns the filter off,
  // no-new-privileges is always so.
  auto r = cor({"exec", "--rm", "--init", "--network", "none", "--security-opt",
                "no-new-privileges", "--security-opt", "seccomp=unconfined", "--", "sh", "-c",
                "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "NoNewPrivs:\t1\nSeccomp:\t0\n");
  r = cor({"exec", "--pids-limit", "5", "--", "sh", "-c",
           "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait"});
  EXPECT_NE(r.err.find("can't fork"), std::string::npos) << r.err;
  r = cor({"exec", "--security-opt", "apparmor=strict", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--security-opt apparmor=strict: not supported"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace coracle::test

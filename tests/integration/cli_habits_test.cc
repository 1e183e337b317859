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

class CliHabits : public StoreTest {
 protected:
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
  // Every podman word coracle answers gets its own answer, not a guess.
  for (const char* word : {"logs", "kill", "restart", "attach", "wait", "port", "cp"}) {
    r = cor({word, "x"});
    EXPECT_EQ(r.exit_code, 125) << word;
    EXPECT_NE(r.err.find(std::string("unknown command '") + word + "': "), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("Did you mean"), std::string::npos) << r.err;
  }
  // Typos: a swap of two letters is one; short words get no far guesses.
  r = cor({"biuld", "."});
  EXPECT_NE(r.err.find("Did you mean 'build'"), std::string::npos) << r.err;
  r = cor({"lgos"});
  EXPECT_NE(r.err.find("Did you mean 'logs'"), std::string::npos) << r.err;
  r = cor({"kil"});
  EXPECT_NE(r.err.find("Did you mean 'kill'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("'pull'"), std::string::npos) << r.err;
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

TEST_F(CliHabits, LogLevelDebugSaysWhatCoracleIsDoing) {
  // A command that fails in the sandbox: the trail leads to it.
  auto r = cor({"--log-level", "debug", "exec", "--", "/no/such/command"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("coracle[debug]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("store " + store.path()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sandbox: clone3 flags"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sandbox: the child failed: /no/such/command"), std::string::npos) << r.err;
  // The environment says it too; the default says nothing of it.
  r = coracle({"--root", store.path(), "exec", "--", "true"}, {.env = {"CORACLE_LOG_LEVEL=debug"}});
  EXPECT_NE(r.err.find("sandbox: ended with status 0"), std::string::npos) << r.err;
  r = cor({"exec", "--", "true"});
  EXPECT_EQ(r.err, "");
  r = cor({"--log-level", "loud", "exec", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--log-level"), std::string::npos) << r.err;
}

// Completions and the man page come from the command tree, made by the
// build: they name every command and flag the binary has.
class GeneratedDocs : public ::testing::Test {
 protected:
  std::string share = std::string(CORACLE_BUILD_DIR) + "/share";
  // What bash completes for the words (the last one is being typed).
  std::string complete(const std::string& words) {
    return run_sh("bash -c 'source " + share +
                  "/bash-completion/completions/coracle; COMP_WORDS=(" + words +
                  "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _coracle; echo \"${COMPREPLY[*]}\"'");
  }
};

TEST_F(GeneratedDocs, AreTheBinarysOwnAndCurrent) {
  for (const auto& [kind, path] : std::vector<std::pair<std::string, std::string>>{
           {"bash", "/bash-completion/completions/coracle"},
           {"zsh", "/zsh/site-functions/_coracle"},
           {"man", "/man/man1/coracle.1"}}) {
    auto r = coracle({"--generate", kind});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(share + path), r.out) << kind << " is stale";
  }
  EXPECT_EQ(coracle({"--generate", "fish"}).exit_code, 125);
}

TEST_F(GeneratedDocs, BashCompletesCommandsAliasesAndFlags) {
  EXPECT_EQ(complete("coracle ima"), "image images\n");
  EXPECT_EQ(complete("coracle image p"), "pull push\n");
  // A global option's value is skipped: "ima" is still the command word.
  EXPECT_EQ(complete("coracle --root /x ima"), "image images\n");
  EXPECT_EQ(complete("coracle image pull --j"), "--json\n");
  EXPECT_EQ(complete("coracle exec --json-"), "--json-fd\n");
  EXPECT_EQ(complete("coracle build --prog"), "--progress\n");
  // After "--", the command's own words: nothing of coracle's.
  EXPECT_EQ(complete("coracle exec -- --j"), "\n");
}

TEST_F(GeneratedDocs, ZshReadsItsFunction) {
  if (system("command -v zsh >/dev/null") != 0) GTEST_SKIP() << "zsh is not installed";
  run_sh("zsh -n " + share + "/zsh/site-functions/_coracle");
  std::string text = read_file(share + "/zsh/site-functions/_coracle");
  EXPECT_EQ(text.rfind("#compdef coracle\n", 0), 0u);
  EXPECT_NE(text.find("'image pull')"), std::string::npos);
  EXPECT_NE(text.find("'--json-fd:The --json events on this fd"), std::string::npos);
}

TEST_F(GeneratedDocs, TheManPageRendersWithoutWarningsAndNamesEveryCommand) {
  std::string page =
      run_sh("MANWIDTH=100 man --warnings=all -l " + share + "/man/man1/coracle.1 2>&1 | col -b");
  EXPECT_EQ(page.find("warning"), std::string::npos) << page;
  for (const char* c : {"coracle exec", "coracle image pull", "coracle build", "coracle run",
                        "coracle assistants push", "--log-level", "--json-fd", "EXIT STATUS"})
    EXPECT_NE(page.find(c), std::string::npos) << c;
}

TEST_F(GeneratedDocs, MakeInstallPutsThemWhereShellsAndManLook) {
  TempDir dest;
  run_sh(std::string("make -s -C ") + CORACLE_SOURCE_DIR + " install-files BUILD=" +
         CORACLE_BUILD_DIR + " DESTDIR=" + dest.path() + " PREFIX=/opt/coracle");
  for (const char* f :
       {"/opt/coracle/bin/coracle", "/opt/coracle/bin/coracle-runc",
        "/opt/coracle/share/bash-completion/completions/coracle",
        "/opt/coracle/share/zsh/site-functions/_coracle", "/opt/coracle/share/man/man1/coracle.1",
        "/opt/coracle/share/coracle/assistants"})
    EXPECT_TRUE(path_exists(dest.path() + f)) << f;
}

}  // namespace
}  // namespace coracle::test

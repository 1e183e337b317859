// `coracle run` through the real binary, one test per rule of the assistant
// ABI (../shared/DESIGN.md): the in/out layout, the state merge, app
// replacement, next/nil, detection, --max-steps, failed steps committing
// nothing, write-back and --output, names, .ayup-env, the event stream.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <chrono>

#include <map>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include "chain_fixture.h"
#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class ChainTest : public ChainFixture {
 protected:
  std::map<std::string, std::string> state() { return read_regular_files(app() + "/.ayup"); }
  // Every file under dir with its content: a snapshot to compare.
  std::string snapshot(const std::string& dir) {
    return run_sh("cd " + dir +
                  " && find . -type f | sort | while read f; do echo \"$f\"; cat "
                  "\"$f\"; done");
  }
  static std::vector<json> events(const std::string& out) {
    std::vector<json> v;
    for (const auto& line : lines_with(out, "{")) v.push_back(json::parse(line));
    return v;
  }
};

TEST_F(ChainTest, InAndOutLayoutAndTheStateMerge) {
  mkdir_p(app() + "/.ayup");
  write_file_atomic(app() + "/.ayup/keep", "kept\n");
  write_file_atomic(app() + "/.ayup/clear-empty", "x\n");
  write_file_atomic(app() + "/.ayup/clear-null", "x\n");
  std::string a = push("inspect", R"SH(
# /in is read-only, /in/app has no .ayup, /out starts empty.
touch /in/app/x 2>/dev/null && exit 9
[ -e /in/app/.ayup ] && exit 10
[ -z "$(ls -A /out/app)$(ls -A /out/state)" ] || exit 11
cat /in/state/keep > /out/app/seen-keep
cp /in/app/main.txt /out/app/main.txt
echo new > /out/app/added.txt
: > /out/state/clear-empty
echo null > /out/state/clear-null
printf '["echo", "hi"]' > /out/state/cmd
printf '[5000]' > /out/state/ports
)SH");
  auto r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = state();
  EXPECT_EQ(s["keep"], "kept\n");  // persisted: the step did not write it
  EXPECT_EQ(s.count("clear-empty"), 0u);
  EXPECT_EQ(s.count("clear-null"), 0u);
  EXPECT_EQ(s["cmd"], "[\"echo\", \"hi\"]");
  EXPECT_EQ(s["ports"], "[5000]");
  EXPECT_EQ(read_file(app() + "/seen-keep"), "kept\n");
  EXPECT_EQ(read_file(app() + "/added.txt"), "new\n");
}

TEST_F(ChainTest, AppIsReplacedByOutAppButWriteBackNeverDeletes) {
  write_file_atomic(app() + "/dropped.txt", "the step does not copy me\n");
  std::string a = push("rewrite", R"SH(
echo rewritten > /out/app/main.txt
[ -e /in/app/dropped.txt ] && echo seen > /out/state/dropped-was-there
echo "next" > /out/app/only-new.txt
echo local:check > /out/state/next
)SH");
  // The next step sees the app as the first step left it: dropped.txt gone.
  push("check", R"SH(
[ -e /in/app/dropped.txt ] && exit 12
cp -a /in/app/. /out/app/
)SH");
  auto r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/main.txt"), "rewritten\n");
  EXPECT_EQ(read_file(app() + "/only-new.txt"), "next\n");
  // Written back by adding and overwriting only: the user's file stays.
  EXPECT_EQ(read_file(app() + "/dropped.txt"), "the step does not copy me\n");
  EXPECT_EQ(state()["dropped-was-there"], "seen\n");
}

TEST_F(ChainTest, AFailingStepCommitsNothingAndNamesItself) {
  mkdir_p(app() + "/.ayup");
  write_file_atomic(app() + "/.ayup/keep", "before\n");
  std::string before = snapshot(app());
  std::string ok = push("ok",
                        "cp -a /in/app/. /out/app/\necho changed > /out/state/keep\n"
                        "echo local:fails > /out/state/next\n");
  push("fails", "echo partial > /out/app/partial\necho from the failing step\nexit 3\n");
  auto r = run({"--assistant", ok, "--json"});
  // A failed chain is coracle's failure (125); the step's own status is
  // in the message and in its step.end event.
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("step 2 (local:fails) failed: exited with status 3"), std::string::npos)
      << r.err;
  auto all = events(r.out);
  ASSERT_GE(all.size(), 2u) << r.out;
  EXPECT_EQ(all.back()["event"], "error");  // the stream's end: the chain's failure
  EXPECT_EQ(all.back()["exit_code"], 125);
  json last = all[all.size() - 2];
  EXPECT_EQ(last["event"], "step.end");
  EXPECT_EQ(last["step"], 2);
  EXPECT_EQ(last["assistant"], "local:fails");
  EXPECT_EQ(last["exit_code"], 3);
  EXPECT_NE(last["error"].get<std::string>().find("exited with status 3"), std::string::npos);
  EXPECT_EQ(snapshot(app()), before);  // not even step 1's change
}

TEST_F(ChainTest, StateAsAyupLeavesIt) {
  // An app Ayup ran before: its version, first = nil (unset: detected), a
  // stale next, ports = null (Ayup's dockerfile assistant writes that).
  mkdir_p(app() + "/.ayup");
  write_file_atomic(app() + "/.ayup/version", "0.10.0\n");
  write_file_atomic(app() + "/.ayup/first", "nil\n");
  write_file_atomic(app() + "/.ayup/next", "local:stale\n");
  write_file_atomic(app() + "/.ayup/ports", "null\n");
  push("second", "cp -a /in/app/. /out/app/\ncat /in/state/next > /out/app/next-seen-by-second\n");
  write_file_atomic(app() + "/Dockerfile", "FROM default\nCMD [\"true\"]\n");
  std::string first = push("first", R"SH(
cp -a /in/app/. /out/app/
cat /in/state/next > /out/app/next-seen-by-first
cat /in/state/version > /out/app/version-seen
echo local:second > /out/state/next
)SH");
  auto r = run({"--assistant", first});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/next-seen-by-first"), "nil");
  EXPECT_EQ(read_file(app() + "/next-seen-by-second"), "local:second");
  EXPECT_EQ(read_file(app() + "/version-seen"), "0.10.0\n");
  auto s = state();
  EXPECT_EQ(s["version"], "0.10.0\n");  // never overwritten
  EXPECT_EQ(s.count("next"), 0u);
  // first = nil is detection: the app's Dockerfile; ports = null: none.
  r = run({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("step 1: builtin:dockerfile"), std::string::npos) << r.err;
}

TEST_F(ChainTest, FoldersOfOneNameGetImagesOfTheirOwn) {
  // Two apps called "app" and two assistants whose name file says "twin".
  std::string other = work.path() + "/elsewhere/app";
  mkdir_p(other);
  write_file_atomic(app() + "/Dockerfile", "FROM default\nCMD [\"echo\", \"one\"]\n");
  write_file_atomic(other + "/Dockerfile", "FROM default\nCMD [\"echo\", \"two\"]\n");
  ASSERT_EQ(run({}).exit_code, 0);
  ASSERT_EQ(cor({"run", other}).exit_code, 0);
  EXPECT_NE(read_file(app() + "/.ayup/image"), read_file(other + "/.ayup/image"));
  std::string a = assistant("twin", "echo a > /out/state/by\n");
  std::string b = assistant("twin", "echo b > /out/state/by\n", work.path() + "/more");
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(run({"--assistant", a}).exit_code, 0);
    EXPECT_EQ(state()["by"], "a\n");
    ASSERT_EQ(run({"--assistant", b}).exit_code, 0);
    EXPECT_EQ(state()["by"], "b\n");
  }
  auto images = cor({"image", "ls"}).out;
  EXPECT_EQ(count_occurrences(images, "coracle-assistant/path/twin-"), 2) << images;
}

TEST_F(ChainTest, RunConfiguresTheAppAsExecDoesAndItsBuildsNetworkAsBuildDoes) {
  // -e, --env-file, -v for the app; --add-host, --dns-search, --dns-option
  // for the app and its build's RUN (the build's view is kept in a file).
  std::string data = work.path() + "/data";
  mkdir_p(data);
  write_file_atomic(data + "/x", "from the host\n");
  write_file_atomic(work.path() + "/env", "FROM_FILE=file\n");
  write_file_atomic(app() + "/Dockerfile",
                    "FROM default\nRUN cat /etc/hosts /etc/resolv.conf > /at-build\n"
                    "CMD [\"sh\", \"-c\", \"cat /at-build /etc/hosts /etc/resolv.conf /data/x; "
                    "echo $GREETING $FROM_FILE\"]\n");
  auto r =
      run({"-q", "-e", "GREETING=hi", "--env-file", work.path() + "/env", "-v", data + ":/data:ro",
           "--add-host", "db:10.1.2.3", "--dns-search", "corp.example", "--dns-option", "ndots:3"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string out = r.out + r.err;
  EXPECT_EQ(count_occurrences(out, "10.1.2.3\tdb"), 2) << out;  // the build's and the app's
  EXPECT_EQ(count_occurrences(out, "search corp.example"), 2) << out;
  EXPECT_EQ(count_occurrences(out, "options ndots:3"), 2) << out;
  EXPECT_NE(out.find("from the host"), std::string::npos) << out;
  EXPECT_NE(out.find("hi file"), std::string::npos) << out;
  // A bad value stops the run before any work.
  auto bad = run({"--dns-search", "a b"});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("--dns-search"), std::string::npos) << bad.err;
}

TEST_F(ChainTest, BrokenStateFilesAreABIErrors) {
  std::string before = snapshot(app());
  struct Case {
    std::string script, expected;
  } cases[] = {
      {"echo 'python app.py' > /out/state/cmd", "state/cmd"},
      {"echo '[0]' > /out/state/ports", "1..65535"},
      {"echo '[80, 70000]' > /out/state/ports", "1..65535"},
      {"echo exec > /out/state/next", "not an assistant name"},
      {"echo local:no-such-assistant > /out/state/next",
       "unknown assistant local:no-such-assistant"},
  };
  int i = 0;
  for (const auto& c : cases) {
    std::string name = "broken" + std::to_string(i++);
    auto r = run({"--assistant", push(name, "cp -a /in/app/. /out/app/\n" + c.script + "\n")});
    EXPECT_EQ(r.exit_code, 125) << c.script;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.script << "\n" << r.err;
    EXPECT_EQ(snapshot(app()), before) << c.script;
  }
}

TEST_F(ChainTest, ALoopOfThreeIsStoppedByMaxSteps) {
  std::string a = push("a",
                       "cp -a /in/app/. /out/app/\necho x >> /out/app/trail\n"
                       "echo local:b > /out/state/next\n");
  push("b", "cp -a /in/app/. /out/app/\necho local:c > /out/state/next\n");
  push("c", "cp -a /in/app/. /out/app/\necho local:a > /out/state/next\n");
  std::string before = snapshot(app());
  auto r = run({"--assistant", a, "--max-steps", "5", "--json"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("did not end after 5 steps"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(app()), before);
  int starts = 0;
  for (const auto& e : events(r.out)) starts += e["event"] == "step.start";
  EXPECT_EQ(starts, 5);
}

TEST_F(ChainTest, NamesFoldersAndAppsThatDoNotExist) {
  auto r = run({"--assistant", "local:nope"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("unknown assistant local:nope"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("builtin:exec"), std::string::npos) << r.err;  // the list
  EXPECT_NE(r.err.find("remote:hello"), std::string::npos) << r.err;
  r = run({"--assistant", "nocolon"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("has no type"), std::string::npos) << r.err;
  // No Dockerfile and no first assistant: the error lists the assistants.
  r = run({});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("no assistant for"), std::string::npos) << r.err;
  std::string dir = work.path() + "/bad";
  mkdir_p(dir);
  write_file_atomic(dir + "/Dockerfile", "FROM default\n");
  r = run({"--assistant", dir});
  EXPECT_NE(r.err.find("no `name` file"), std::string::npos) << r.err;
  write_file_atomic(dir + "/name", "bad\n");
  r = run({"--assistant", dir});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("no ENTRYPOINT or CMD"), std::string::npos) << r.err;
  r = cor({"run", work.path() + "/missing-app"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

TEST_F(ChainTest, AyupEnvIsTheAssistantsEnvironmentAndIsNeverPrinted) {
  std::string dir = assistant("env", "echo \"$API_TOKEN\" > /out/state/token\n");
  write_file_atomic(dir + "/.ayup-env", "# secrets\nAPI_TOKEN=s3cr3t-value\n");
  auto r = run({"--assistant", dir, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(state()["token"], "s3cr3t-value\n");
  EXPECT_EQ(r.out.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(r.err.find("s3cr3t"), std::string::npos);
}

TEST_F(ChainTest, DockerfileAppRunsThroughExecWithEventsInOrder) {
  write_file_atomic(app() + "/Dockerfile",
                    "FROM default\nEXPOSE 8000\nWORKDIR /srv\nCOPY main.txt .\n"
                    "CMD [\"sh\", \"-c\", \"httpd -p 8000 -h /srv && cat main.txt && sleep 1 "
                    "&& exit 7\"]\n");
  auto r = run({"--json"});
  // The app's own status is the result, and its log and ports commit.
  EXPECT_EQ(r.exit_code, 7) << r.err;
  std::vector<std::string> order;
  for (const auto& e : events(r.out)) {
    std::string kind = e["event"];
    if (kind.rfind("build.", 0) == 0 || kind == "log") continue;
    if (e.contains("assistant")) kind.append(" ").append(e["assistant"].get<std::string>());
    order.push_back(kind);
  }
  std::vector<std::string> expected = {"step.start builtin:dockerfile",
                                       "step.changes",
                                       "step.end builtin:dockerfile",
                                       "step.start builtin:exec",
                                       "port.publish",
                                       "port.open",
                                       "port.close",
                                       "step.changes",
                                       "step.end builtin:exec",
                                       "result"};
  EXPECT_EQ(order, expected) << r.out;
  auto s = state();
  EXPECT_EQ(s["cmd"],
            "[\"sh\",\"-c\",\"httpd -p 8000 -h /srv && cat main.txt && sleep 1 && exit 7\"]");
  EXPECT_EQ(s["workingdir"], "/srv");
  EXPECT_EQ(s["ports"], "[8000]");
  EXPECT_EQ(s["log"], "original\n");
  EXPECT_EQ(s.count("next"), 0u);
  EXPECT_FALSE(s["version"].empty());  // the tool that made the state
}

TEST_F(ChainTest, SigtermReachesTheAppAndTheStateIsWritten) {
  // The port monitor's threads are running (the app's state port is
  // published): a SIGTERM must still be forwarded to the app, not taken by
  // one of those threads, whose default action would end coracle where it
  // stands, writing nothing back.
  write_file_atomic(app() + "/Dockerfile",
                    "FROM default\nEXPOSE 8000\n"
                    "CMD [\"sh\", \"-c\", \"echo serving; exec sleep 100\"]\n");
  int out = -1;
  pid_t pid = spawn_coracle({"--root", store.path(), "run", app(), "--json"}, &out);
  // The app's first line, as a log event: the app is running.
  std::string seen = read_until(out, "\"serving\"");
  ASSERT_NE(seen.find("\"serving\""), std::string::npos) << seen;
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(out);
  // coracle itself exits (it is not killed), with the app's end: 128 + 15.
  ASSERT_TRUE(WIFEXITED(status)) << "coracle was killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 143);
  EXPECT_EQ(state()["log"], "serving\n");
}

TEST_F(ChainTest, EachStepsChangesAreReportedAndArchived) {
  write_file_atomic(app() + "/keep.txt", "unchanged\n");
  write_file_atomic(app() + "/edit.txt", "before\n");
  write_file_atomic(app() + "/gone.txt", "bye\n");
  write_file_atomic(app() + "/old-name.txt", "moving\n");
  write_file_atomic(app() + "/tool.sh", "echo tool\n");
  mkdir_p(app() + "/olddir/sub");
  write_file_atomic(app() + "/olddir/sub/f", "x\n");
  std::string a = push("changer", R"SH(
cp -a /in/app/. /out/app/
cd /out/app
echo after > edit.txt
rm gone.txt
mv old-name.txt new-name.txt
chmod 0755 tool.sh
rm -r olddir
mkdir -p newdir && echo fresh > newdir/added.txt
)SH");
  std::string changes = work.path() + "/changes";
  auto r = run({"--assistant", a, "--json", "--changes", changes});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json ev;
  for (const auto& e : events(r.out))
    if (e["event"] == "step.changes") ev = e;
  ASSERT_FALSE(ev.is_null()) << r.out;
  auto paths = [&](const char* k) {
    std::vector<std::string> v;
    for (const auto& e : ev[k]) v.push_back(e["path"]);
    return v;
  };
  EXPECT_EQ(paths("added"), (std::vector<std::string>{"newdir", "newdir/added.txt"}));
  EXPECT_EQ(paths("modified"), (std::vector<std::string>{"edit.txt", "tool.sh"}));
  EXPECT_EQ(paths("deleted"),
            (std::vector<std::string>{"gone.txt", "olddir", "olddir/sub", "olddir/sub/f"}));
  ASSERT_EQ(ev["renamed"].size(), 1u);
  EXPECT_EQ(ev["renamed"][0]["from"], "old-name.txt");
  EXPECT_EQ(ev["renamed"][0]["path"], "new-name.txt");
  // What changed in each modified file, with the new content's hash.
  EXPECT_EQ(ev["modified"][0]["content"], true);
  EXPECT_EQ(ev["modified"][0]["sha256"],
            "sha256:" + run_sh("printf 'after\\n' | sha256sum | cut -c1-64").substr(0, 64));
  EXPECT_EQ(ev["modified"][1]["content"], false);
  EXPECT_EQ(ev["modified"][1]["mode_changed"], true);
  EXPECT_EQ(ev["modified"][1]["mode"], "0755");
  EXPECT_EQ(ev["added"][1]["size"], 6);
  EXPECT_EQ(ev["deleted"][0]["size"], 4);  // what gone.txt was
  EXPECT_EQ(ev["deleted"][0]["sha256"],
            "sha256:" + run_sh("printf 'bye\\n' | sha256sum | cut -c1-64").substr(0, 64));
  // The archive: the changed files and whiteouts for what went (one for
  // the deleted directory), applicable to the old app as a layer.
  std::string listing =
      run_sh("zstd -dc " + changes + "/step-1.tar.zst | tar -tv | awk '{print $1, $NF}'");
  EXPECT_EQ(listing,
            "-rw-r--r-- edit.txt\n"
            "-rw-r--r-- .wh.gone.txt\n"
            "-rw-r--r-- .wh.old-name.txt\n"
            "-rw-r--r-- new-name.txt\n"
            "drwxr-xr-x newdir/\n"
            "-rw-r--r-- newdir/added.txt\n"
            "-rw-r--r-- .wh.olddir\n"
            "-rwxr-xr-x tool.sh\n")
      << listing;
  EXPECT_EQ(run_sh("zstd -dc " + changes + "/step-1.tar.zst | tar -xOf - newdir/added.txt"),
            "fresh\n");
}

TEST_F(ChainTest, AnAssistantReadsThePreviousExecsLog) {
  write_file_atomic(app() + "/run.sh", "echo first run says hi\n");
  auto r = run({"--assistant", "remote:run-sh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(state()["log"], "first run says hi\n");
  r = run({"--assistant", "remote:run-sh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the last run ended with: first run says hi"), std::string::npos) << r.err;
}

TEST_F(ChainTest, OutputDirGetsTheResultAndTheAppStaysAsItWas) {
  std::string before = snapshot(app());
  std::string out = work.path() + "/result";
  auto r = run({"--assistant", push("w", "echo made > /out/app/made.txt\necho v > /out/state/v\n"),
                "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(snapshot(app()), before);
  EXPECT_EQ(read_file(out + "/made.txt"), "made\n");
  EXPECT_EQ(read_file(out + "/.ayup/v"), "v\n");
}

TEST_F(ChainTest, LocalAndRemoteAssistantsAndTheFirstOne) {
  std::string name = push("lister", "echo listed > /out/state/by\n");
  auto list = cor({"assistants", "list"});
  EXPECT_NE(list.out.find("local:lister\n"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("remote:static-site\n"), std::string::npos) << list.out;
  ASSERT_EQ(cor({"app", "assistant", name, "--app", app()}).exit_code, 0);
  EXPECT_EQ(cor({"app", "assistant", "--app", app()}).out, "local:lister\n");
  auto r = run({});  // .ayup/first picks it
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(state()["by"], "listed\n");
  EXPECT_EQ(state()["first"], "local:lister\n");
  ASSERT_EQ(cor({"assistants", "rm", name}).exit_code, 0);
  EXPECT_EQ(run({}).exit_code, 125);  // gone
}

TEST_F(ChainTest, AnImageFileAssistantJumpsStraightToExecInItsImage) {
  // The assistant's image, built beforehand; its folder only names it.
  std::string src = assistant("img-src", R"SH(
printf 'tests/chain-image' > /out/state/image
printf '["sh", "-c", "echo running in $MARK"]' > /out/state/cmd
echo builtin:exec > /out/state/next
)SH");
  write_file_atomic(src + "/Dockerfile",
                    "FROM default\nENV MARK=the-assistants-image\n"
                    "COPY --chmod=0555 cmd /assistant/cmd\nENTRYPOINT [\"/assistant/cmd\"]\n");
  ASSERT_EQ(cor({"build", "-q", "-t", "tests/chain-image", src}).exit_code, 0);
  std::string dir = work.path() + "/by-image";
  mkdir_p(dir);
  write_file_atomic(dir + "/name", "by-image\n");
  write_file_atomic(dir + "/image", "tests/chain-image\n");
  auto r = run({"--assistant", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(state()["log"], "running in the-assistants-image\n");
}

TEST_F(ChainTest, AKilledStepAndATimedOutAppAreReported) {
  std::string before = snapshot(app());
  auto r = run({"--assistant", push("killed", "echo partial > /out/state/x\nkill -9 $$\n")});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("step 1 (local:killed) failed: killed by signal 9"), std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot(app()), before);
  // The app's own end is the result, also when --timeout ends it.
  r = run({"--assistant",
           push("forever",
                "printf '[\"sh\", \"-c\", \"echo up; sleep 30\"]' > /out/state/cmd\n"
                "echo builtin:exec > /out/state/next\n"),
           "--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_EQ(state()["log"], "up\n");
  EXPECT_NE(r.err.find("the app was stopped: the run's --timeout is over"), std::string::npos)
      << r.err;
}

TEST_F(ChainTest, TheTimeoutBoundsTheWholeRunBuildsIncluded) {
  // A RUN that would take 20 s under --timeout 2s: stopped, and said so.
  write_file_atomic(app() + "/Dockerfile", "FROM default\nRUN sleep 20\nCMD [\"true\"]\n");
  auto start = std::chrono::steady_clock::now();
  auto r = run({"--timeout", "2s"});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_LT(took, 10.0) << r.err;
  EXPECT_NE(r.err.find("RUN sleep 20\nfailed: stopped: the time allowed (--timeout) is over"),
            std::string::npos)
      << r.err;
  // The time is the whole run's: a build that takes most of it leaves the
  // app the rest (not a --timeout of its own).
  write_file_atomic(app() + "/Dockerfile",
                    "FROM default\nRUN sleep 1\nCMD [\"sh\", \"-c\", \"sleep 30\"]\n");
  start = std::chrono::steady_clock::now();
  r = run({"--timeout", "3s"});
  took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_LT(took, 6.0) << r.err;
  EXPECT_NE(r.err.find("the run's --timeout is over"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test

// The red team's attacks on the chain, replayed through `coracle run`: a
// symlinked .ayup, `next` naming a host folder, symlinked assistant files,
// state contents quoted in errors, a write-back that deletes or goes half
// way, ports on every address, two runs on one app.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "chain_fixture.h"
#include "common/fs.h"
#include "harness.h"
#include "test_host.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class ChainSecurity : public ChainFixture {
 protected:
  // Every entry under dir (type, mode, content): a snapshot to compare.
  std::string snapshot(const std::string& dir) {
    return run_sh("cd " + dir +
                  " && find . | sort | while read f; do stat -c '%n %F %a %s' \"$f\"; "
                  "[ -f \"$f\" ] && [ ! -L \"$f\" ] && cat \"$f\"; done; true");
  }
};

TEST_F(ChainSecurity, ASymlinkedAyupIsRefusedNeitherReadNorWritten) {
  // .ayup links to a directory of someone else's files.
  std::string secrets = work.path() + "/secrets";
  mkdir_p(secrets);
  write_file_atomic(secrets + "/token", "TOPSECRET-token\n");
  ASSERT_EQ(symlink(secrets.c_str(), (app() + "/.ayup").c_str()), 0);
  std::string a = push("leak", R"SH(
cat /in/state/log /in/state/token > /out/app/leaked 2>/dev/null || true
echo "hello" > /out/state/log
echo "x" > /out/state/token
)SH");
  std::string before = snapshot(secrets), app_before = snapshot(app());
  auto r = run({"--assistant", a});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(".ayup is a symlink"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(secrets), before);
  EXPECT_EQ(snapshot(app()), app_before);
  // `coracle app assistant` refuses it too.
  r = cor({"app", "assistant", "builtin:exec", "--app", app()});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(snapshot(secrets), before);

  // A real .ayup whose state files link out: they are not state.
  ASSERT_EQ(unlink((app() + "/.ayup").c_str()), 0);
  mkdir_p(app() + "/.ayup");
  ASSERT_EQ(symlink((secrets + "/token").c_str(), (app() + "/.ayup/log").c_str()), 0);
  r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/leaked"), "");  // nothing was there to read
  EXPECT_EQ(read_file(secrets + "/token"), "TOPSECRET-token\n");
  EXPECT_EQ(read_file(app() + "/.ayup/log"), "hello\n");  // the link was replaced, not followed
  struct stat st;
  ASSERT_EQ(lstat((app() + "/.ayup/log").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ChainSecurity, StateNeverNamesAHostFolder) {
  // A folder with secrets, and an assistant folder a step could point at.
  std::string evil = assistant("evil", R"SH(
echo "$SECRET" > /out/app/pwned
)SH",
                               work.path() + "/host:x");
  write_file_atomic(evil + "/.ayup-env", "SECRET=TOPSECRET-env\n");
  for (const std::string& next : {evil, "local:" + evil, "remote:../../" + evil}) {
    SCOPED_TRACE(next);
    std::string a = push("jump", "echo '" + next + "' > /out/state/next\n");
    auto r = run({"--assistant", a});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("is not an assistant name"), std::string::npos) << r.err;
    EXPECT_FALSE(path_exists(app() + "/pwned"));
  }
  // The red team's version: the step learns where its /out/app is on the
  // host (mountinfo shows bind sources, as with runc and crun), builds an
  // assistant folder there and names it. Knowing the path gets it nothing.
  std::string a = push("self-made", R"SH(
host=$(awk '$5 == "/out/app" { print $4 }' /proc/self/mountinfo)
mkdir -p /out/app/made:1
echo made > /out/app/made:1/name
printf 'FROM default\nCMD ["sh", "-c", "echo pwned > /out/app/pwned"]\n' > /out/app/made:1/Dockerfile
echo "$host/made:1" > /out/state/next
)SH");
  auto r = run({"--assistant", a});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("is not an assistant name"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(app() + "/pwned"));
  // Nor .ayup/first, nor `coracle app assistant`.
  mkdir_p(app() + "/.ayup");
  write_file_atomic(app() + "/.ayup/first", evil + "\n");
  r = run({});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_FALSE(path_exists(app() + "/pwned"));
  r = cor({"app", "assistant", evil, "--app", app()});
  EXPECT_EQ(r.exit_code, 125);
  // From the command line a folder is fine: the user named it.
  remove_file(app() + "/.ayup/first");
  r = run({"--assistant", evil});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/pwned"), "TOPSECRET-env\n");
}

TEST_F(ChainSecurity, AnAssistantsFilesAreItsOwnAndNeverQuoted) {
  std::string secret = work.path() + "/shadow";
  write_file_atomic(secret, "root:TOPSECRET-hash:19000::::::\n", 0600);
  // `name` linked to the secret: refused, and the secret is not printed.
  std::string a = assistant("linked-name", "true\n");
  remove_file(a + "/name");
  ASSERT_EQ(symlink(secret.c_str(), (a + "/name").c_str()), 0);
  auto r = run({"--assistant", a});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("TOPSECRET"), std::string::npos) << r.err;
  // A `name` that holds a secret-looking line is not quoted either.
  write_file_atomic(a + "/name.tmp", "TOPSECRET not a name\n");
  remove_file(a + "/name");
  rename_path(a + "/name.tmp", a + "/name");
  r = run({"--assistant", a});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("TOPSECRET"), std::string::npos) << r.err;
  // .ayup-env linked to the secret: refused, nothing reaches the step.
  std::string b = assistant("linked-env", "env > /out/app/env\n");
  ASSERT_EQ(symlink(secret.c_str(), (b + "/.ayup-env").c_str()), 0);
  r = run({"--assistant", b});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_FALSE(path_exists(app() + "/env"));
  EXPECT_EQ(r.err.find("TOPSECRET"), std::string::npos) << r.err;
  // A Dockerfile linked out of the app: the builder looks inside the app.
  ASSERT_EQ(symlink(secret.c_str(), (app() + "/Dockerfile").c_str()), 0);
  r = run({"--assistant", "builtin:dockerfile"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.find("TOPSECRET"), std::string::npos) << r.err;
  remove_file(app() + "/Dockerfile");
  // A state file a step wrote is not quoted in the ABI error.
  std::string c = push("bad-cmd", "echo 'TOPSECRET-state [' > /out/state/cmd\n");
  r = run({"--assistant", c});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("state/cmd"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("TOPSECRET"), std::string::npos) << r.err;
}

TEST_F(ChainSecurity, AStepsSetuidFileNeverReachesTheAppFolder) {
  // The step is container root, which is host root on /out: it tries to
  // leave a setuid-root shell and a setgid directory for the write-back.
  std::string a = push("suid", R"SH(
cp /bin/busybox /out/app/tool
chmod 4755 /out/app/tool || true
mkdir /out/app/shared && (chmod 2775 /out/app/shared || true)
)SH");
  auto r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat((app() + "/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, getuid());
  ASSERT_EQ(stat((app() + "/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u);
}

TEST_F(ChainSecurity, TheWriteBackNeverDeletesOrReplacesADirectory) {
  mkdir_p(app() + "/data");
  write_file_atomic(app() + "/data/db", "precious\n");
  mkdir_p(app() + "/.git/objects");
  write_file_atomic(app() + "/.git/HEAD", "ref: refs/heads/main\n");
  write_file_atomic(app() + "/file", "a file\n");
  std::string outside = work.path() + "/outside";
  mkdir_p(outside);
  ASSERT_EQ(symlink(outside.c_str(), (app() + "/linked").c_str()), 0);
  struct Case {
    const char* name;
    const char* script;
    const char* message;
  };
  const Case cases[] = {
      {"file over a dir", "echo x > /out/app/data", "data is a directory"},
      {"link over a dir", "ln -s /etc /out/app/.git", ".git is a directory"},
      {"dir over a file", "mkdir /out/app/file", "file is a file"},
      {"dir through a link", "mkdir /out/app/linked && echo x > /out/app/linked/f",
       "linked is a symlink"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string before = snapshot(app()), outside_before = snapshot(outside);
    std::string a = push("conflict", std::string("echo new > /out/app/new.txt\n") + c.script +
                                         "\n" + "echo '[\"true\"]' > /out/state/cmd\n");
    auto r = run({"--assistant", a});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nothing was written"), std::string::npos) << r.err;
    // All or nothing: not even new.txt or the state came through.
    EXPECT_EQ(snapshot(app()), before);
    EXPECT_EQ(snapshot(outside), outside_before);
  }
  // Without a conflict the result lands; the user's directories stay, and
  // the files the step kept as they were are not written again.
  struct stat before_st, after_st;
  ASSERT_EQ(stat((app() + "/data/db").c_str(), &before_st), 0);
  std::string a = push("fine", "cp -a /in/app/. /out/app/\necho more > /out/app/data/more\n");
  auto r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(stat((app() + "/data/db").c_str(), &after_st), 0);
  EXPECT_EQ(after_st.st_ino, before_st.st_ino);
  EXPECT_EQ(read_file(app() + "/data/db"), "precious\n");
  EXPECT_EQ(read_file(app() + "/data/more"), "more\n");
  EXPECT_EQ(read_file(app() + "/.git/HEAD"), "ref: refs/heads/main\n");
}

TEST_F(ChainSecurity, AWriteBackThatFailsHalfWayLeavesNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "mounts a read-only tmpfs in the app";
  // Read-only places in the app (root's permissions do not help): a
  // directory the result writes into, and .ayup itself, which is written
  // after the app's files. The write-back must fail having written nothing.
  struct Unmount {
    std::vector<std::string> paths;
    ~Unmount() {
      for (const auto& p : paths) umount2(p.c_str(), MNT_DETACH);
    }
  } unmount;
  mkdir_p(app() + "/ro");
  ASSERT_EQ(mount("tmpfs", (app() + "/ro").c_str(), "tmpfs", MS_RDONLY, "size=1m"), 0);
  unmount.paths.push_back(app() + "/ro");
  mkdir_p(app() + "/.ayup");
  ASSERT_EQ(mount("tmpfs", (app() + "/.ayup").c_str(), "tmpfs", 0, "size=1m"), 0);
  unmount.paths.push_back(app() + "/.ayup");
  write_file_atomic(app() + "/.ayup/log", "old log\n");
  ASSERT_EQ(mount(nullptr, (app() + "/.ayup").c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr),
            0);
  for (bool into_ro : {true, false}) {
    SCOPED_TRACE(into_ro ? "a read-only directory" : "a read-only .ayup");
    std::string a = push("many", std::string(R"SH(
mkdir -p /out/app/a/new-dir
for i in 1 2 3; do echo $i > /out/app/a/f$i; done
echo changed > /out/app/main.txt
echo 'new log' > /out/state/log
)SH") + (into_ro ? "mkdir -p /out/app/ro && echo new > /out/app/ro/f\n" : ""));
    std::string before = snapshot(app());
    auto r = run({"--assistant", a});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(app()), before);
    EXPECT_EQ(read_file(app() + "/main.txt"), "original\n");
    EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
  }
}

TEST_F(ChainSecurity, ChainPortsArePublishedOnLoopbackAndNeverOnAPrivilegedPort) {
  std::string a = push("ports", R"SH(
echo '[81, 444, 15001]' > /out/state/ports
echo '["true"]' > /out/state/cmd
echo builtin:exec > /out/state/next
)SH");
  auto r = run({"--assistant", a, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int published = 0;
  for (const auto& line : lines_with(r.out, "{")) {
    json e = json::parse(line);
    if (e["event"] != "port.publish") continue;
    ++published;
    EXPECT_EQ(e["host_address"], "127.0.0.1") << line;
    EXPECT_GE(e["host_port"].get<int>(), 1024) << line;
    if (e["port"] == 15001) EXPECT_EQ(e["host_port"], 15001) << line;
  }
  EXPECT_EQ(published, 3) << r.out;
}

// A base image's config is hostile input: an EXPOSE that names no port
// (its config written by hand) ends the run with a clear error naming it,
// never a crash of coracle (an unchecked std::stoi aborted it).
TEST_F(ChainSecurity, ABaseImagesExposedPortThatIsNoPortIsAClearError) {
  for (const char* bad : {"abc/tcp", "99999/tcp"}) {
    std::string layout = work.path() + "/bad-" + std::to_string(bad[0]);
    make_layout(layout, {{"tag", "1"}, {"layers", {busybox_layer()}}, {"exposed", {bad}}});
    auto imported = cor({"image", "import", layout, "--tag", "hostile/base:1"});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    write_file_atomic(app() + "/Dockerfile", "FROM hostile/base:1\nCMD [\"true\"]\n");
    auto r = run({});
    EXPECT_EQ(r.exit_code, 125) << bad << r.err;
    EXPECT_NE(r.err.find("exposed port"), std::string::npos) << bad << r.err;
  }
}

TEST_F(ChainSecurity, StepsReachOutButNeverTheHostsLoopback) {
  LoopbackListener host_only;  // a service only the host may reach
  std::string port = std::to_string(host_only.port());
  TestHost outside;
  outside.serve("pkg", "a package\n");
  std::string dir =
      assistant("netcheck", "/probe connect tcp 127.0.0.1 " + port + " > /out/app/host.txt\n" +
                                outside.fetch_command("pkg") + " > /out/app/fetched.txt\n");
  run_sh(std::string("cp ") + probe() + " " + dir + "/probe");
  write_file_atomic(dir + "/Dockerfile",
                    "FROM default\nCOPY probe /probe\nCOPY --chmod=0555 cmd /assistant/cmd\n"
                    "ENTRYPOINT [\"/assistant/cmd\"]\n");
  auto r = run({"--assistant", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/host.txt"), "connect ECONNREFUSED\n");
  EXPECT_EQ(read_file(app() + "/fetched.txt"), "a package\n");
  // --net host hands a step the host's own network, when asked.
  r = run({"--assistant", dir, "--net", "host"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/host.txt"), "connect OK\n");
}

// The app's Dockerfile is the app's, not the user's: the host's network
// (its 127.0.0.1 services) only with the user's --allow network.host.
TEST_F(ChainSecurity, AnAppsDockerfileTakesTheHostsNetworkOnlyWhenGranted) {
  write_file_atomic(app() + "/Dockerfile",
                    "FROM default\nRUN --network=host true\nCMD [\"true\"]\n");
  std::string before = snapshot(app());
  auto r = run({});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: RUN --network=host needs the network.host entitlement"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot(app()), before);  // a failed chain writes nothing back
  r = run({"--allow", "network.host"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ChainSecurity, StepsWriteToDiskOrToTmpfsMountsThatTheUserBounds) {
  std::string a = push("df", "df -k /tmp / | tail -2 | awk '{print $2}' > /out/app/sizes\n");
  auto r = run({"--assistant", a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string store_fs = run_sh("df -k --output=size " + store.path() + " | tail -1 | tr -d ' '");
  EXPECT_EQ(read_file(app() + "/sizes"), store_fs + store_fs);  // on the store's disk
  r = run({"--assistant", a, "--tmp-size", "16m", "--upper-size", "32m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/sizes"), "16384\n32768\n");
}

TEST_F(ChainSecurity, TwoRunsOnOneAppDoNotInterleave) {
  // The first run's step takes a while; the second run comes meanwhile.
  std::string a = push("slow", "sleep 3\ncp -a /in/app/. /out/app/ && echo one > /out/app/who\n");
  int out_fd = -1;
  pid_t first = spawn_coracle({"--root", store.path(), "run", app(), "--assistant", a}, &out_fd);
  // The lock is taken before the workspace is made.
  for (int i = 0; i < 250 && count_entries(store.path() + "/tmp") < 1; ++i) usleep(20000);
  ASSERT_GE(count_entries(store.path() + "/tmp"), 1);
  auto r = run({"--assistant", a});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("in use by another"), std::string::npos) << r.err;
  EXPECT_EQ(wait_coracle(first), 0);
  close(out_fd);
  EXPECT_EQ(read_file(app() + "/who"), "one\n");
  // Once it has ended, the app is free again.
  r = run({"--assistant", push("quick", "cp -a /in/app/. /out/app/\n")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace coracle::test

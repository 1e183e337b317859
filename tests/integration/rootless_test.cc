// coracle run by a plain user: the caller becomes container root, its
// subordinate ids (newuidmap) map the rest, and files in /out are its own.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"
#include "port_app.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

constexpr const char* kUser = "coracle-test";

class Rootless : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;  // already a plain user: run as ourselves
    // pasta (steps' and RUN's outbound network) opens /dev/net/tun: 0666 on
    // Debian, but a VM without udev may leave it 0600.
    chmod("/dev/net/tun", 0666);
    if (!getpwnam(kUser)) {
      // useradd also gives the user subordinate id ranges in /etc/subuid.
      int rc = system(
          "useradd --system --no-create-home --shell /usr/sbin/nologin "
          "coracle-test >/dev/null 2>&1 && "
          "grep -q '^coracle-test:' /etc/subuid || "
          "usermod --add-subuids 300000-365535 --add-subgids 300000-365535 coracle-test");
      ASSERT_EQ(rc, 0) << "cannot create the test user";
    }
  }

  void SetUp() override {
    if (geteuid() == 0) {
      struct passwd* pw = getpwnam(kUser);
      ASSERT_NE(pw, nullptr);
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    } else {
      uid_ = getuid();
      gid_ = getgid();
    }
    chown(home_.path().c_str(), uid_, gid_);
    options_.uid = uid_;
    options_.gid = gid_;
    options_.home = home_.path();
    options_.env = {"CORACLE_ROOT=" + home_.path() + "/store", "XDG_DATA_HOME="};
  }

  uid_t uid_ = 0;
  gid_t gid_ = 0;
  TempDir home_;
  RunOptions options_;
};

TEST_F(Rootless, CallerIsContainerRoot) {
  auto r =
      coracle({"exec", "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; echo $$; hostname"},
              options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split(r.out, '\n');
  EXPECT_EQ(lines[0], "0");
  EXPECT_NE(lines[1].find(std::to_string(uid_)), std::string::npos) << r.out;
  EXPECT_EQ(lines.end()[-3], "2");
  EXPECT_EQ(lines.end()[-2], "coracle");
}

TEST_F(Rootless, ANamedVolumeIsTheSandboxsOwnAndStays) {
  // A service's chown of its data to its own user works (the user's
  // subordinate ids), and the next run finds it.
  auto r = coracle({"exec", "-v", "data:/data", "--", "sh", "-c",
                    "mkdir /data/d && echo kept > /data/d/f && chown -R 999:999 /data/d"},
                   options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = coracle({"exec", "-v", "data:/data", "--", "sh", "-c", "stat -c %u /data/d/f; cat /data/d/f"},
              options_);
  EXPECT_EQ(r.out, "999\nkept\n") << r.err;
  EXPECT_EQ(coracle({"volume", "rm", "data"}, options_).exit_code, 0);
}

TEST_F(Rootless, SubordinateIdsMapTheOtherUsers) {
  auto r = coracle(
      {"exec", "-u", "1000", "--", "/bin/sh", "-c", "id -u; wc -l < /proc/self/uid_map"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1000\n2\n");
}

TEST_F(Rootless, OutFilesBelongToTheCaller) {
  TempDir out;
  chown(out.path().c_str(), uid_, gid_);
  auto r =
      coracle({"exec", "--out", out.path(), "--", "/bin/sh", "-c", "echo x > /out/f"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat((out.path() + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_gid, gid_);
}

TEST_F(Rootless, SameLockdownAsRoot) {
  auto r = coracle({"exec", "--", "/bin/cat", "/proc/self/status"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_field(r.out, "CapEff"), "00000000a80425fb");
  EXPECT_EQ(status_field(r.out, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(r.out, "Seccomp"), "2");
  r = coracle({"exec", "-v", std::string(probe()) + ":/probe:ro", "--", "/probe", "syscalls"},
              options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mount EPERM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ptrace_init EPERM"), std::string::npos) << r.out;
}

TEST_F(Rootless, ExitCodesAndOverlay) {
  EXPECT_EQ(coracle({"exec", "--", "/bin/sh", "-c", "exit 5"}, options_).exit_code, 5);
  EXPECT_EQ(coracle({"exec", "--", "nope"}, options_).exit_code, 127);
  auto r = coracle({"exec", "--", "/bin/sh", "-c", "echo changed > /etc/motd && cat /etc/motd"},
                   options_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "changed\n");
}

TEST_F(Rootless, LimitsNeedADelegatedCgroup) {
  // cgroup v1 cannot be delegated to a plain user: a clear error, not a
  // silent run without the limit.
  if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) GTEST_SKIP() << "pure cgroup v2 host";
  auto r = coracle({"exec", "--memory", "64m", "--", "true"}, options_);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("memory"), std::string::npos) << r.err;
}

TEST_F(Rootless, DevicePermissionsNeedRoot) {
  // No device cgroup for a plain user: fewer than rwm would be a promise
  // not kept. All of them is fine.
  auto r = coracle({"exec", "--device", "/dev/null:/dev/n:r", "--", "true"}, options_);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
  r = coracle(
      {"exec", "--device", "/dev/null:/dev/n", "--", "sh", "-c", "echo x > /dev/n && echo ok"},
      options_);
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

// Rootless, layers are unpacked as the caller's own files (no chown), with
// overlay whiteouts all the same (a 0:0 device needs no privilege), and a
// flatten writes into directories that a lower layer made read-only.
TEST_F(Rootless, ImagesImportRunAndUnpack) {
  TempDir work;
  chown(work.path().c_str(), uid_, gid_);
  nlohmann::json base = busybox_layer();
  base.push_back({{"name", "gone"}, {"data", "x"}});
  base.push_back({{"name", "ro"}, {"type", "dir"}, {"mode", 0555}});
  base.push_back({{"name", "ro/f"}, {"data", "f"}});
  nlohmann::json top = nlohmann::json::array();
  top.push_back({{"name", ".wh.gone"}});
  top.push_back({{"name", "ro/g"}, {"data", "g"}});
  make_layout(work.path() + "/lay", {{"tag", "w"}, {"layers", {base, top}}});
  run_sh("chown -R " + std::to_string(uid_) + " " + work.path());
  std::string root = work.path() + "/store";
  auto r = coracle({"--root", root, "image", "import", work.path() + "/lay"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = coracle({"--root", root, "exec", "w", "--", "/bin/sh", "-c",
               "ls /ro; test -e /gone || echo gone-is-gone"},
              options_);
  EXPECT_EQ(r.out, "f\ng\ngone-is-gone\n") << r.err;
  r = coracle({"--root", root, "image", "unpack", "w", work.path() + "/flat"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(work.path() + "/flat/ro/g"), "g");
  struct stat st;
  EXPECT_NE(stat((work.path() + "/flat/gone").c_str(), &st), 0);
  ASSERT_EQ(stat((work.path() + "/flat/ro").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_uid, uid_);
  // The caller can always clean up its own store with coracle's own removal.
  run_sh("chmod -R u+w " + work.path());
}

// The image's owners survive as a plain user: its layers are unpacked in a
// user namespace mapped through the user's subordinate range, the same
// mapping the sandbox has, so the image's uid 1000 is uid 1000 inside.
TEST_F(Rootless, TheImagesOwnersAreKeptThroughTheSubordinateRange) {
  TempDir work;
  nlohmann::json layer = busybox_layer();
  layer.push_back(
      {{"name", "data"}, {"type", "dir"}, {"mode", 0755}, {"uid", 1000}, {"gid", 1000}});
  layer.push_back(
      {{"name", "data/own"}, {"data", "mine"}, {"mode", 0600}, {"uid", 1000}, {"gid", 1000}});
  layer.push_back({{"name", "secret"}, {"data", "only root"}, {"mode", 0600}});
  make_layout(work.path() + "/lay", {{"tag", "owners"}, {"layers", {layer}}});
  run_sh("chown -R " + std::to_string(uid_) + " " + work.path());
  std::string root = work.path() + "/store";
  auto r = coracle({"--root", root, "image", "import", work.path() + "/lay"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* driver : {"overlay", "vfs"}) {
    r = coracle({"--root", root, "--storage-driver", driver, "exec", "owners", "--", "stat", "-c",
                 "%u:%g", "/data", "/data/own", "/secret"},
                options_);
    EXPECT_EQ(r.out, "1000:1000\n1000:1000\n0:0\n") << driver << ": " << r.err;
    // uid 1000 writes in its own directory and reads its own 0600 file.
    r = coracle({"--root", root, "--storage-driver", driver, "exec", "-u", "1000", "owners", "--",
                 "sh", "-c", "touch /data/x && cat /data/own"},
                options_);
    EXPECT_EQ(r.out, "mine") << driver << ": " << r.err;
  }
  // On the host, the layer's files belong to the range: 1000 is its 1000th id.
  uint32_t base = 0;
  for (const auto& line : split(read_file("/etc/subuid"), '\n'))
    if (line.rfind(std::string(kUser) + ":", 0) == 0)
      base = static_cast<uint32_t>(std::stoul(split(line, ':')[1]));
  if (geteuid() == 0) {
    ASSERT_NE(base, 0u);
    std::string dir = run_sh("ls -d " + root + "/layers/*-ids-* | head -1");
    ASSERT_FALSE(dir.empty());
    dir.pop_back();
    struct stat st;
    ASSERT_EQ(stat((dir + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, base + 999);
    // A cache of another ownership (as unpacked before, all the caller's)
    // is never used, and gc takes it away; the current one stays.
    std::string hex = dir.substr(dir.rfind('/') + 1, 64);
    run_sh("mkdir " + root + "/layers/" + hex + " && chown " + std::to_string(uid_) + " " + root +
           "/layers/" + hex);
    r = coracle({"--root", root, "image", "gc"}, options_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(path_exists(root + "/layers/" + hex));
    EXPECT_TRUE(path_exists(dir));
  }
  r = coracle({"--root", root, "image", "rm", "owners"}, options_);
  r = coracle({"--root", root, "image", "gc"}, options_);
  EXPECT_EQ(r.exit_code, 0) << r.err;  // the range's files removed through the mapping
  EXPECT_EQ(run_sh("ls " + root + "/layers | wc -l"), "0\n");
}

// A user without a subordinate range: every file is the caller's (root
// inside), and one warning says how to add a range.
TEST_F(Rootless, WithoutASubordinateRangeOneWarningSaysHowToAddOne) {
  if (geteuid() != 0) GTEST_SKIP() << "needs a second user without a range";
  constexpr const char* kBare = "coracle-test-bare";
  if (!getpwnam(kBare))
    ASSERT_EQ(
        system("useradd --system --no-create-home --shell /usr/sbin/nologin coracle-test-bare"), 0);
  ASSERT_EQ(run_sh("grep -c '^coracle-test-bare:' /etc/subuid || true"), "0\n");
  struct passwd* pw = getpwnam(kBare);
  TempDir work;
  nlohmann::json layer = busybox_layer();
  layer.push_back(
      {{"name", "data"}, {"type", "dir"}, {"mode", 0755}, {"uid", 1000}, {"gid", 1000}});
  make_layout(work.path() + "/lay", {{"tag", "bare"}, {"layers", {layer}}});
  run_sh("chown -R " + std::to_string(pw->pw_uid) + " " + work.path());
  RunOptions bare = options_;
  bare.uid = pw->pw_uid;
  bare.gid = pw->pw_gid;
  bare.home = work.path();
  std::string root = work.path() + "/store";
  auto r = coracle({"--root", root, "image", "import", work.path() + "/lay"}, bare);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = coracle({"--root", root, "exec", "bare", "--", "stat", "-c", "%u", "/data"}, bare);
  EXPECT_EQ(r.out, "0\n") << r.err;
  std::string all = r.err;
  r = coracle({"--root", root, "exec", "bare", "--", "true"}, bare);
  all += r.err;
  EXPECT_EQ(count_occurrences(all, "no subordinate ids"), 1) << all;
  EXPECT_NE(all.find("usermod --add-subuids"), std::string::npos) << all;
}

TEST_F(Rootless, PullsFromARegistryAndRuns) {
  RegistryServer reg(RegistryServer::Auth::kBasic);
  TempDir work;
  reg.push(make_umoci_image(work.path(), "rootless pull"), "tests/rootless:1");
  std::string ref = reg.host() + "/tests/rootless:1";
  // The user's own docker config holds the login.
  reg.write_docker_login(home_.path());
  run_sh("chown -R " + std::to_string(uid_) + " " + home_.path());
  auto r = coracle({"image", "pull", ref}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = coracle({"exec", ref}, options_);
  EXPECT_EQ(r.out, "rootless pull") << r.err;
}

TEST_F(Rootless, PortsAreSeenAndForwarded) {
  // As a plain user the runner cannot enter the sandbox's network namespace
  // (setns needs CAP_SYS_ADMIN in its own user namespace): every socket in
  // there comes from the sandbox's init.
  uint16_t host = free_host_port();
  RunOptions triggers_only = options_;
  triggers_only.env.push_back("CORACLE_PORT_RESCAN_MS=3600000");
  PortApp app({"-p", "127.0.0.1:" + std::to_string(host) + ":7000"}, triggers_only);
  EXPECT_EQ(app.send("echo 7000"), "echoing 7000");
  EXPECT_EQ(app.send("udp6 :: 0").rfind("opened 0 ", 0), 0u);
  ASSERT_TRUE(app.wait_for([](const auto& ev) { return ev.size() >= 3; }));
  auto opens = app.of_kind("port.open");
  ASSERT_EQ(opens.size(), 2u);
  EXPECT_EQ(opens[0]["port"], 7000);
  EXPECT_EQ(opens[0]["host_port"], host);
  EXPECT_EQ(opens[1]["proto"], "udp");
  int fd = connect_tcp(host);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "rootless", 8), 8);
  char buf[8];
  ASSERT_EQ(read(fd, buf, 8), 8);
  EXPECT_EQ(std::string(buf, 8), "rootless");
  close(fd);
  EXPECT_EQ(app.send("close 0"), "closed 0");  // through the destroy broadcast
  EXPECT_TRUE(app.wait_for([](const auto& ev) { return ev.size() >= 4; }));
  EXPECT_EQ(app.events().back()["event"], "port.close");
  EXPECT_EQ(app.finish(), 0);
}

TEST_F(Rootless, BuildKeepsTheContainersOwnersAndReadsPrivateFiles) {
  std::string ctx = home_.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/hello.txt", "hello\n");
  // A file only uid 1000 may read: the layer helper reads it from inside
  // the sandbox's user namespace, where it is readable to container root.
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\n"
                    "RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && "
                    "mkdir -p /home/app && echo secret > /home/app/private && "
                    "chmod 600 /home/app/private && chown -R 1000:1000 /home/app\n"
                    "COPY --chown=app hello.txt /home/app/\n");
  run_sh("chown -R " + std::to_string(uid_) + " " + ctx);
  auto r = coracle({"build", "-t", "tests/rootless", ctx}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // (Run rootless, the unpacked copy's owners are the caller's: the layer
  // cache cannot chown to subordinate ids yet. The layers are right.)
  auto run = coracle({"exec", "tests/rootless", "--", "cat", "/home/app/private"}, options_);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "secret\n");
  // The layers themselves say 1000:1000, whatever the runner's own uid.
  std::string listing;
  auto inspected = coracle({"image", "inspect", "tests/rootless"}, options_);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  nlohmann::json image = nlohmann::json::parse(inspected.out);
  for (const auto& l : image["layers"])
    listing += run_sh("tar --numeric-owner -tzvf " + home_.path() + "/store/oci/blobs/sha256/" +
                      l["digest"].get<std::string>().substr(7));
  EXPECT_NE(listing.find("-rw------- 1000/1000"), std::string::npos) << listing;
  EXPECT_NE(listing.find("1000/1000         6"), std::string::npos) << listing;
}

TEST_F(Rootless, TheChainRunsAsAPlainUser) {
  std::string app = home_.path() + "/app";
  mkdir_p(app);
  write_file_atomic(app + "/run.sh", "echo \"app as $(id -u)\" > /dev/stderr; echo done\n");
  run_sh("chown -R " + std::to_string(uid_) + " " + app);
  auto r = coracle({"run", app, "--assistant", "remote:run-sh"}, options_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("app as 0"), std::string::npos) << r.err;
  // The result is the caller's own.
  struct stat st;
  ASSERT_EQ(stat((app + "/.ayup/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(read_file(app + "/.ayup/cmd"), "[\"sh\", \"run.sh\"]");
}

TEST_F(Rootless, AWriteBackOfUnreadableFilesIsRefusedWholeAndLeavesNoWorkspace) {
  // A step (container root = the caller) leaves what the caller cannot
  // read on the host: a 0000 directory, a 0600 file of container uid 1000
  // (a subordinate uid outside). Nothing may be written half way, and the
  // workspace must not stay behind.
  std::string app = home_.path() + "/app";
  mkdir_p(app + "/.ayup");
  write_file_atomic(app + "/main.txt", "original\n");
  write_file_atomic(app + "/.ayup/log", "old log\n");
  std::string dir = home_.path() + "/assistant";
  mkdir_p(dir);
  write_file_atomic(dir + "/name", "unreadable\n");
  write_file_atomic(dir + "/Dockerfile",
                    "FROM default\nCOPY --chmod=0555 cmd /assistant/cmd\n"
                    "ENTRYPOINT [\"/assistant/cmd\"]\n");
  write_file_atomic(dir + "/cmd",
                    "#!/bin/sh\nset -e\necho changed > /out/app/main.txt\n"
                    "mkdir -p /out/app/locked/inner && echo x > /out/app/locked/inner/f\n"
                    "chmod 0 /out/app/locked\n"
                    "mkdir /out/app/theirs && echo x > /out/app/theirs/f && "
                    "chown -R 1000:1000 /out/app/theirs\n"
                    "echo secret > /out/app/private && chown 1000:1000 /out/app/private && "
                    "chmod 600 /out/app/private\necho 'new log' > /out/state/log\n");
  run_sh("chown -R " + std::to_string(uid_) + " " + app + " " + dir);
  auto r = coracle({"run", app, "--assistant", dir}, options_);
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("nothing was written"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("private"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("locked"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(app + "/main.txt"), "original\n");
  EXPECT_EQ(read_file(app + "/.ayup/log"), "old log\n");
  EXPECT_FALSE(path_exists(app + "/locked"));
  EXPECT_EQ(count_entries_settled(home_.path() + "/store/tmp"), 0);
}

}  // namespace
}  // namespace coracle::test

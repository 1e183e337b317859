// The red team's attacks on the sandbox itself, each replayed: device nodes
// from an image or a host directory, privilege-raising files planted on the
// host through a bind, unbounded tmpfs. (The chain's attacks are in
// chain_security_test.cc.)
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"
#include "sandbox/device_cgroup.h"
#include "test_host.h"

namespace coracle::test {
namespace {

using nlohmann::json;

// Every file under dir that could raise a host user's privileges: a setuid
// or setgid bit, or a security.capability xattr.
std::vector<std::string> privilege_raising_files(const std::string& dir) {
  std::vector<std::string> found;
  DIR* d = opendir(dir.c_str());
  if (!d) return found;
  while (auto* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) < 0) continue;
    if (st.st_mode & (S_ISUID | S_ISGID)) found.push_back(path + " (mode)");
    if (!S_ISLNK(st.st_mode) && getxattr(path.c_str(), "security.capability", nullptr, 0) >= 0)
      found.push_back(path + " (file capability)");
    if (S_ISDIR(st.st_mode))
      for (auto& f : privilege_raising_files(path)) found.push_back(f);
  }
  closedir(d);
  return found;
}

class Security : public ::testing::Test {
 protected:
  TempDir work, store;
  RunResult cor(std::vector<std::string> args, const RunOptions& o = {}) {
    args.insert(args.begin(), {"--root", store.path()});
    return coracle(args, o);
  }
};

// A loop device standing in for a host disk, its backing file saying so.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& backing) {
    write_file_atomic(backing, "SECRET-DISK-CONTENT\n" + std::string(1 << 20, '\0'));
    FILE* p = popen(("losetup -f --show " + backing + " 2>/dev/null").c_str(), "r");
    char buf[64] = {};
    if (p && fgets(buf, sizeof buf, p)) path_ = split(buf, '\n')[0];
    if (p) pclose(p);
  }
  ~LoopDevice() {
    if (!path_.empty()) run_sh("losetup -d " + path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(Security, AnImagesDeviceNodesAreNeverUsableWithEitherDriver) {
  if (geteuid() != 0) GTEST_SKIP() << "device nodes can be made only as root";
  LoopDevice disk(work.path() + "/disk.img");
  if (disk.path().empty()) GTEST_SKIP() << "no loop device on this kernel";
  struct stat st;
  ASSERT_EQ(stat(disk.path().c_str(), &st), 0);
  json layer = busybox_layer();
  layer.push_back({{"name", "bin/head"}, {"type", "symlink"}, {"target", "busybox"}});
  layer.push_back({{"name", "disk"},
                   {"type", "blockdev"},
                   {"major", major(st.st_rdev)},
                   {"minor", minor(st.st_rdev)},
                   {"mode", 0666}});
  layer.push_back(
      {{"name", "null"}, {"type", "chardev"}, {"major", 1}, {"minor", 3}, {"mode", 0666}});
  layer.push_back(
      {{"name", "console"}, {"type", "chardev"}, {"major", 5}, {"minor", 1}, {"mode", 0666}});
  make_layout(work.path() + "/lay", {{"tag", "devs"}, {"layers", {layer}}});
  ASSERT_EQ(cor({"image", "import", work.path() + "/lay"}).exit_code, 0);
  // (A missing node would be made a plain file by `>`: only existing ones
  // are written to.)
  std::string script =
      "for n in disk null console; do test -e /$n && echo EXISTS-$n && echo x > /$n && "
      "echo WROTE-$n; done; head -c 11 /disk 2>/dev/null; true";
  for (const char* driver : {"vfs", "overlay"}) {
    SCOPED_TRACE(driver);
    auto r = cor({"--storage-driver", driver, "exec", "devs", "--", "sh", "-c", script});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("SECRET-DISK"), std::string::npos) << r.out;
    // Not even made: the image's nodes are skipped when its layers are laid out.
    EXPECT_EQ(r.out, "");
  }
  // The disk is as it was.
  EXPECT_EQ(read_file(work.path() + "/disk.img").substr(0, 11), "SECRET-DISK");

  // image unpack makes none either, and its tree is the caller's alone.
  auto r = cor({"image", "unpack", "devs", work.path() + "/flat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 3 device node"), std::string::npos) << r.err;
  for (const char* node : {"disk", "null", "console"})
    EXPECT_NE(lstat((work.path() + "/flat/" + node).c_str(), &st), 0) << node;
  ASSERT_EQ(stat((work.path() + "/flat").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(Security, HostDirectoriesAreNodevWhateverTheirMount) {
  if (geteuid() != 0) GTEST_SKIP() << "device nodes can be made only as root";
  // A host directory that holds a device node (a /dev/null twin), bound in
  // every way the CLI allows, and used as a read-only --rootfs.
  std::string dir = work.path() + "/dir";
  mkdir_p(dir);
  ASSERT_EQ(mknod((dir + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  std::string rootfs = work.path() + "/rootfs";
  run_sh("mkdir -p " + rootfs + "/bin && cp /bin/busybox " + rootfs + "/bin/ && ln -s busybox " +
         rootfs + "/bin/sh");
  ASSERT_EQ(mknod((rootfs + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  std::string write = "echo x > /d/null && echo WROTE";
  for (auto args : std::vector<std::vector<std::string>>{
           {"-v", dir + ":/d"}, {"-v", dir + ":/d:ro"}, {"--out", dir, "-v", dir + ":/d"}}) {
    args.insert(args.begin(), "exec");
    for (const char* a : {"--", "sh", "-c", write.c_str()}) args.push_back(a);
    auto r = cor(args);
    EXPECT_EQ(r.out.find("WROTE"), std::string::npos) << args[2];
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  }
  for (const char* mode : {"--read-only", "--cap-add=ALL"}) {
    auto r = cor(
        {"exec", mode, "--rootfs", rootfs, "--", "/bin/sh", "-c", "echo x > /null && echo WROTE"});
    EXPECT_EQ(r.out.find("WROTE"), std::string::npos) << mode;
  }
  // coracle's own /dev nodes still work.
  auto r = cor({"exec", "--", "sh", "-c", "echo x > /dev/null && head -c 1 /dev/zero | wc -c"});
  EXPECT_EQ(r.out, "1\n") << r.err;
}

// What probe `plant` reports, by syscall.
std::map<std::string, std::string> plant_report(const std::string& out) {
  std::map<std::string, std::string> m;
  for (const auto& line : split(out, '\n')) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) m[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return m;
}

TEST_F(Security, NoPrivilegeRaisingFileCanBePlantedThroughABind) {
  std::string probe_bind = std::string(probe()) + ":/probe:ro";
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string target;
  };
  std::string out = work.path() + "/out", vol = work.path() + "/vol", file = work.path() + "/f";
  std::vector<Case> cases = {
      {"--out", {"--out", out}, "/out"},
      {"-v", {"-v", vol + ":/data"}, "/data"},
      {"unconfined", {"--seccomp", "unconfined", "--out", out}, "/out"},
      {"cap-add ALL", {"--cap-add", "ALL", "-v", vol + ":/data"}, "/data"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    mkdir_p(out);
    mkdir_p(vol);
    std::vector<std::string> args = {"exec", "-v", probe_bind};
    args.insert(args.end(), c.args.begin(), c.args.end());
    for (const auto& a : {std::string("--"), std::string("/probe"), std::string("plant"), c.target})
      args.push_back(a);
    auto r = cor(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rep = plant_report(r.out);
    for (const char* call :
         {"creat", "open", "openat", "tmpfile", "mknod", "mknodat", "chmod", "fchmod", "fchmodat",
          "fchmodat2", "chmod_dir", "setcap", "unshare_user"})
      EXPECT_NE(rep[call], "OK") << call;
    EXPECT_EQ(rep["openat2"], "ENOSYS");
    EXPECT_EQ(privilege_raising_files(out), std::vector<std::string>{});
    EXPECT_EQ(privilege_raising_files(vol), std::vector<std::string>{});
    remove_tree(out);
    remove_tree(vol);
  }
  // Ordinary files are still made, owned by the caller, modes kept.
  mkdir_p(out);
  auto r = cor({"exec", "--out", out, "--", "sh", "-c",
                "echo hi > /out/f && chmod 0750 /out/f && mkdir -m 1777 /out/t"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(stat((out + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, getuid());
  ASSERT_EQ(stat((out + "/t").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  // Asking for CAP_SETFCAP beside a writable bind is refused up front.
  r = cor({"exec", "--cap-add", "SETFCAP", "--out", out, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("SETFCAP"), std::string::npos) << r.err;
  // Without a writable bind nothing changes: an image may still chmod its
  // own files (a package manager installing sudo, say).
  mkdir_p(vol);
  r = cor({"exec", "-v", vol + ":/ro:ro", "--", "sh", "-c",
           "touch /x && chmod 4755 /x && stat -c %a /x"});
  EXPECT_EQ(r.out, "4755\n") << r.err;
}

TEST_F(Security, TheWritableLayerIsOnDiskUnlessATmpfsIsAskedFor) {
  // Default: the writable layer and /tmp on disk under the store, as
  // podman has them; --upper-size and --tmp-size ask for bounded tmpfs
  // mounts instead; --memory alone changes nothing of that.
  auto df = [&](std::vector<std::string> flags) {
    std::vector<std::string> args = {"exec"};
    args.insert(args.end(), flags.begin(), flags.end());
    for (const char* a : {"--", "sh", "-c", "df -k /tmp / | tail -2 | awk '{print $2}'"})
      args.push_back(a);
    auto r = cor(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return split(r.out, '\n');
  };
  std::string store_fs = run_sh("df -k --output=size " + store.path() + " | tail -1 | tr -d ' '");
  store_fs.pop_back();
  for (const auto& flags : std::vector<std::vector<std::string>>{{}, {"--memory", "64m"}}) {
    auto lines = df(flags);
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[0], store_fs);  // /tmp: the rootfs's own, on the store's disk
    EXPECT_EQ(lines[1], store_fs);  // the overlay reports its upper dir's file system
  }
  auto lines = df({"--upper-size", "32m", "--tmp-size", "8m"});
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "8192");
  EXPECT_EQ(lines[1], "32768");
  // What a sandbox writes is not the host's shared memory: 96 MiB to its
  // root and its /tmp leave Shmem (tmpfs pages) where it was.
  auto r = cor({"exec", "--", "sh", "-c",
                "s() { awk '/^Shmem:/ {print $2}' /proc/meminfo; }; a=$(s); "
                "dd if=/dev/zero of=/big bs=1M count=48 2>/dev/null; "
                "dd if=/dev/zero of=/tmp/big bs=1M count=48 2>/dev/null; "
                "echo $(( $(s) - a ))"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(std::stol(r.out), 32 * 1024) << "KiB of Shmem grew: the writes went to RAM";
  // Nothing of the run is left on that disk soon after it (a child of the
  // runner removes it, off the exec's critical path).
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
  // An image without /tmp still gives its programs one, 1777.
  TempDir bare;
  run_sh("mkdir -p " + bare.path() + "/bin && cp /bin/busybox " + bare.path() +
         "/bin/sh && cp /bin/busybox " + bare.path() + "/bin/stat");
  r = cor({"exec", "--rootfs", bare.path(), "--", "/bin/sh", "-c",
           "echo x > /tmp/f && read l < /tmp/f && echo $l && /bin/stat -c %a /tmp"});
  EXPECT_EQ(r.out, "x\n1777\n") << r.err;
  // --tmpfs mounts are bounded like /tmp unless given a size; one at /tmp
  // replaces the default.
  auto r0 = cor({"exec", "--tmpfs", "/cache", "--tmpfs", "/tmp:size=2m,mode=0700", "--", "sh", "-c",
                 "df -k /cache /tmp | tail -2 | awk '{print $2}'; stat -c %a /tmp; "
                 "grep ' /tmp ' /proc/self/mountinfo | wc -l"});
  EXPECT_EQ(r0.out, "1048576\n2048\n700\n1\n") << r0.err;
  // Filling the writable layer past its bound fails with ENOSPC, not the host.
  r = cor({"exec", "--upper-size", "4m", "--", "sh", "-c",
           "dd if=/dev/zero of=/big bs=1M count=16 2>&1; echo rc=$?"});
  EXPECT_NE(r.out.find("No space left on device"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// Services on the host that only the host may reach: a TCP port on
// 127.0.0.1 and an abstract unix socket (the CVE-2020-15257 class).
class HostOnlyServices {
 public:
  HostOnlyServices() {
    abstract_name_ = "coracle-test-" + std::to_string(getpid());
    unix_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    memcpy(u.sun_path + 1, abstract_name_.data(), abstract_name_.size());
    bind(unix_, reinterpret_cast<sockaddr*>(&u),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract_name_.size()));
    listen(unix_, 16);
  }
  ~HostOnlyServices() { close(unix_); }
  // Shell lines that try both (and the host's loopback through the
  // gateway, which pasta would map to it without --no-map-gw); /probe
  // prints "connect OK" for each one reached.
  std::string probes() const {
    std::string p = std::to_string(tcp_.port());
    return "/probe connect tcp 127.0.0.1 " + p + "; /probe connect abstract " + abstract_name_ +
           "; gw=$(ip route 2>/dev/null | awk '/default/ {print $3}'); [ -n \"$gw\" ] && "
           "/probe connect tcp $gw " +
           p + "; true";
  }

 private:
  LoopbackListener tcp_;
  int unix_ = -1;
  std::string abstract_name_;
};

TEST_F(Security, BuildRunsReachOutButNeverTheHostsOwnServices) {
  HostOnlyServices host;
  TestHost outside;
  outside.serve("file", "from the test host\n");
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  run_sh(std::string("cp ") + probe() + " " + ctx + "/probe");
  write_file_atomic(ctx + "/Dockerfile", "FROM default\nCOPY probe /probe\nRUN (" + host.probes() +
                                             ") > /reached\n"
                                             "RUN " +
                                             outside.fetch_command("file") + " > /fetched\n");
  auto r = cor({"build", "-t", "net-default", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto reached = cor({"exec", "net-default", "--", "cat", "/reached"});
  EXPECT_EQ(count_occurrences(reached.out, "connect OK"), 0) << reached.out;
  EXPECT_GE(count_occurrences(reached.out, "connect "), 2) << reached.out;
  auto fetched = cor({"exec", "net-default", "--", "cat", "/fetched"});
  EXPECT_NE(fetched.out.find("from the test host"), std::string::npos) << fetched.out;

  // The host's network only when asked: then the probes do reach (which
  // shows they can tell).
  r = cor({"build", "--no-cache", "--net", "host", "-t", "net-host", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  reached = cor({"exec", "net-host", "--", "cat", "/reached"});
  EXPECT_EQ(count_occurrences(reached.out, "connect OK"), 2) << reached.out;

  // RUN --network=none: nothing at all.
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\nRUN --network=none " + outside.fetch_command("file") +
                        " > /fetched; cat /sys/class/net/lo/operstate > /lo\n");
  r = cor({"build", "-t", "net-none", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", "net-none", "--", "cat", "/fetched"}).out, "");
  EXPECT_EQ(cor({"exec", "net-none", "--", "cat", "/lo"}).out, "down\n");
}

TEST_F(Security, ExecWithPastaReachesOutButNotTheHost) {
  HostOnlyServices host;
  TestHost outside;
  outside.serve("file", "hello from outside\n");
  std::string probe_bind = std::string(probe()) + ":/probe:ro";
  auto r = cor({"exec", "--net", "pasta", "-v", probe_bind, "--", "sh", "-c",
                outside.fetch_command("file") + "; " + host.probes()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hello from outside"), std::string::npos) << r.out;
  EXPECT_EQ(count_occurrences(r.out, "connect OK"), 0) << r.out;
  // pasta went with the sandbox: none is left without its coracle (one of
  // a test running beside this one still has its own as parent; pasta's
  // own helpers have pasta, whose name is passt*).
  EXPECT_EQ(run_sh("for p in $(pgrep -f '^/usr/bin/pasta'); do "
                   "pp=$(ps -o ppid= -p $p | tr -d ' '); "
                   "case \"$(cat /proc/$pp/comm 2>/dev/null)\" in coracle|pas*) ;; "
                   "*) echo left $p ;; esac; done"),
            "");
  // The default exec network is loopback only: the test host is out of reach.
  r = cor({"exec", "--", "sh", "-c", outside.fetch_command("file") + " || echo unreachable"});
  EXPECT_EQ(r.out.find("hello from outside"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// Layer directories are reused (the store's reaper empties a released one
// into a spare): a run never sees what the one before wrote, and runs at
// once never share one.
TEST_F(Security, AReusedWritableLayerHoldsNothingOfAnEarlierRun) {
  for (int i = 0; i < 6; ++i) {
    auto r = cor({"exec", "--", "sh", "-c",
                  "ls /secret /tmp/secret /etc/secret 2>/dev/null; echo run > /secret; "
                  "echo run > /tmp/secret; echo run > /etc/secret; mkdir -p /d/e; echo ok"});
    EXPECT_EQ(r.out, "ok\n") << "run " << i << " saw an earlier run's files: " << r.out;
    usleep(100000);  // the reaper makes the spare
  }
  std::vector<std::thread> runs;
  std::vector<RunResult> results(6);
  for (size_t i = 0; i < results.size(); ++i)
    runs.emplace_back([&, i] {
      results[i] = cor({"exec", "--", "sh", "-c",
                        "echo " + std::to_string(i) +
                            " > /mine; sleep 0.3; cat /mine; ls /secret "
                            "2>/dev/null; true"});
    });
  for (auto& t : runs) t.join();
  for (size_t i = 0; i < results.size(); ++i)
    EXPECT_EQ(results[i].out, std::to_string(i) + "\n") << results[i].err;
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

TEST_F(Security, ABuildRunWritesToDiskUnderTheStoreNotToTheBoundedTmpfs) {
  // A RUN that installs a toolchain may write gigabytes: its writable layer
  // is a directory under the store (the store's file system), removed after
  // the step, as an exec's is.
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\nRUN df -k / | tail -1 | awk '{print $2}' > /size\n");
  auto r = cor({"build", "-t", "disk-upper", ctx});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct statvfs fs;
  ASSERT_EQ(statvfs(store.path().c_str(), &fs), 0);
  uint64_t store_kib = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize / 1024;
  EXPECT_EQ(cor({"exec", "disk-upper", "--", "cat", "/size"}).out,
            std::to_string(store_kib) + "\n");
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST_F(Security, InitIsNonDumpableAndKeepsOnlyCapKill) {
  // The command runs as container root, like init: only init's
  // non-dumpable flag keeps it from reading init's memory and environment
  // (set before the command exists). init drops its capabilities once the
  // command has exec'd, so they are read a moment later.
  auto r = cor({"exec", "--", "sh", "-c",
                "cat /proc/1/environ >/dev/null 2>&1 && echo READ; sleep 0.2; "
                "grep CapEff /proc/1/status; "
                "ls -l /proc/1/fd/ >/dev/null 2>&1 && echo LISTED; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "CapEff:\t0000000000000020\n");
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST_F(Security, PidOneShowsNothingOfTheHost) {
  // The runner's command line holds the binary's host path and the
  // caller's arguments, -e values included; init is a copy of the runner.
  auto r = cor({"exec", "-e", "TOKEN=TOPSECRET-arg", "--", "sh", "-c",
                "cat /proc/1/cmdline; echo; ps -o args | head -2 | tail -1; "
                "cat /proc/1/environ 2>/dev/null; true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("TOPSECRET"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(CORACLE_BIN), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(store.path()), std::string::npos) << r.out;
  EXPECT_EQ(r.out, std::string("coracle-init") + '\0' + "\ncoracle-init\n");
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST_F(Security, OnlyAnExplicitDeviceIsUsableAndItWorksAsOnTheHost) {
  if (geteuid() != 0) GTEST_SKIP() << "a loop device needs root";
  LoopDevice disk(work.path() + "/disk.img");
  if (disk.path().empty()) GTEST_SKIP() << "no loop device on this kernel";
  // A 0660/0600 node of host root (a disk, a serial port of the dialout
  // group) belongs to container root inside, as it belongs to root outside.
  auto r = cor({"exec", "--device", disk.path() + ":/dev/disk0", "--", "sh", "-c",
                "stat -c '%u %t,%T' /dev/disk0; head -c 11 /dev/disk0; echo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SECRET-DISK"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(0, 2), "0 ") << r.out;
  // Nothing of it stays on the host.
  EXPECT_EQ(run_sh("ls -d /tmp/coracle-device-* 2>/dev/null | wc -l"), "0\n");
  r = cor({"exec", "--device", "/dev/null", "--", "sh", "-c", "echo x > /dev/null && echo ok"});
  EXPECT_EQ(r.out, "ok\n") << r.err;
  // A device through -v is refused with the way to do it; --device of a
  // file is refused.
  r = cor({"exec", "-v", disk.path() + ":/dev/disk0", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--device " + disk.path() + ":/dev/disk0"), std::string::npos) << r.err;
  r = cor({"exec", "--device", work.path() + "/disk.img", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("not a device node"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST_F(Security, ADevicesPermissionsAreEnforcedByTheDeviceCgroup) {
  if (geteuid() != 0) GTEST_SKIP() << "a loop device needs root";
  LoopDevice disk(work.path() + "/disk.img");
  if (disk.path().empty()) GTEST_SKIP() << "no loop device on this kernel";
  // r: read, no write. The usual /dev nodes still work.
  auto r = cor({"exec", "--device", disk.path() + ":/dev/disk0:r", "--", "sh", "-c",
                "head -c 11 /dev/disk0; echo; echo x > /dev/disk0 && echo WROTE; "
                "echo y > /dev/null && head -c 1 /dev/zero | wc -c"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "SECRET-DISK\n1\n");
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.err;
  // rw (and the default, rwm): writes go through.
  r = cor({"exec", "--device", disk.path() + ":/dev/disk0:rw", "--", "sh", "-c",
           "printf W > /dev/disk0 && echo WROTE"});
  EXPECT_EQ(r.out, "WROTE\n") << r.err;
}

// The cgroup v2 program itself, attached to a cgroup of the host's v2
// hierarchy (the unified one on a hybrid host): a process in it opens
// exactly what the rules allow.
TEST(DeviceCgroup, TheV2ProgramAllowsExactlyItsRules) {
  if (geteuid() != 0) GTEST_SKIP() << "attaching a cgroup program needs root";
  std::string v2;
  for (const auto& line : split(read_file("/proc/self/mountinfo"), '\n'))
    if (line.find(" - cgroup2 ") != std::string::npos) v2 = split(line, ' ')[4];
  if (v2.empty()) GTEST_SKIP() << "no cgroup2 hierarchy mounted";
  std::string dir = v2 + "/coracle-devtest-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  {
    UniqueFd cg(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(cg);
    std::vector<sandbox::DeviceRule> rules = {{'c', 1, 3, "r"}, {'c', 1, 5, "rw"}};
    sandbox::attach_device_program(cg.get(), sandbox::load_device_program(rules).get());
  }
  pid_t child = fork();
  if (child == 0) {
    std::string pid = std::to_string(getpid());
    int procs = open((dir + "/cgroup.procs").c_str(), O_WRONLY);
    if (procs < 0 || write(procs, pid.data(), pid.size()) < 0) _exit(100);
    auto opens = [](const char* path, int flags) {
      int fd = open(path, flags);
      if (fd >= 0) close(fd);
      return fd >= 0 ? 1 : 0;
    };
    int bits = opens("/dev/null", O_RDONLY) | opens("/dev/null", O_WRONLY) << 1 |
               opens("/dev/zero", O_RDWR) << 2 | opens("/dev/full", O_RDONLY) << 3;
    _exit(bits);
  }
  int status = 0;
  waitpid(child, &status, 0);
  rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  // null: read only; zero: read and write; full: nothing.
  EXPECT_EQ(WEXITSTATUS(status), 0b0101);
}

}  // namespace
}  // namespace coracle::test

// What a sandboxed process sees from inside: its own pid, uts, mount, net
// and user namespaces, the privileges it is left with, its files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

std::vector<std::string> probe_args(const std::string& what) {
  return {"-v", std::string(probe()) + ":/probe:ro", "--", "/probe", what};
}

TEST(Isolation, OwnPidNamespaceWithInitAsPid1) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c",
                    "echo $$; cat /proc/1/status | head -1; ls -d /proc/[0-9]* | wc -l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split(r.out, '\n');
  EXPECT_EQ(lines[0], "2");  // init is 1, the command 2
  EXPECT_EQ(lines[1], "Name:\tcoracle");
  // init, sh, and the ls/wc of the pipeline: no host process is visible.
  EXPECT_LE(std::stoi(lines[2]), 5);
}

TEST(Isolation, OwnHostnameAndNoHostMounts) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c", "hostname; cat /proc/self/mountinfo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "coracle");
  // None of the host's own mounts (its cgroup hierarchies, this test's
  // store) is there: only what coracle mounted.
  EXPECT_EQ(r.out.find("/sys/fs/cgroup"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(store_root()), std::string::npos) << r.out;
  EXPECT_LT(split(r.out, '\n').size(), 40u) << r.out;
  EXPECT_NE(r.out.find(" / / "), std::string::npos);  // the overlay is the root
  EXPECT_NE(r.out.find("overlay"), std::string::npos);
}

TEST(Isolation, PrivateNetworkHasOnlyLoopbackUp) {
  auto r = coracle(
      {"exec", "--", "/bin/sh", "-c",
       "ls /sys/class/net; cat /sys/class/net/lo/operstate; ip -o link 2>/dev/null | wc -l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split(r.out, '\n');
  EXPECT_EQ(lines[0], "lo");
  EXPECT_EQ(lines[1], "unknown");  // "unknown" is what lo reports when up
  r = coracle({"exec", "--net", "none", "--", "/bin/sh", "-c", "cat /sys/class/net/lo/flags"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0x8\n");  // IFF_LOOPBACK only: down
  r = coracle({"exec", "--", "/bin/sh", "-c", "cat /sys/class/net/lo/flags"});
  EXPECT_EQ(r.out, "0x9\n");  // IFF_UP | IFF_LOOPBACK
  r = coracle({"exec", "--net", "host", "--", "/bin/sh", "-c", "ls /sys/class/net | wc -l"});
  EXPECT_GE(std::stoi(r.out), 2) << "the host's interfaces should be visible with --net host";
}

TEST(Isolation, AMissingOutDirectoryIsMadeButNotItsParents) {
  TempDir work;
  auto r = coracle(
      {"exec", "--out", work.path() + "/build", "--", "/bin/sh", "-c", "echo made > /out/result"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(work.path() + "/build/result"), "made\n");
  // A typo in a parent is an error, not a tree of new directories.
  r = coracle({"exec", "--out", work.path() + "/no/such/build", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
}

TEST(Isolation, InIsReadOnlyAndOutIsWritableAndOwnedByTheCaller) {
  TempDir in, out;
  write_file_atomic(in.path() + "/greeting", "hi\n");
  auto r = coracle(
      {"exec", "--in", in.path(), "--out", out.path(), "--", "/bin/sh", "-c",
       "cat /in/greeting; touch /in/x 2>&1 || echo in-ro; echo data > /out/file; mkdir /out/d; "
       "stat -c %u /in/greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hi\n"), std::string::npos);
  EXPECT_NE(r.out.find("Read-only file system"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("in-ro"), std::string::npos);
  // The caller's files look like container root's inside.
  EXPECT_EQ(split(r.out, '\n').end()[-2], "0");
  struct stat st;
  ASSERT_EQ(stat((out.path() + "/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_gid, getgid());
  ASSERT_EQ(stat((out.path() + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, getuid());
  struct stat in_st;
  EXPECT_NE(stat((in.path() + "/x").c_str(), &in_st), 0);
}

TEST(Isolation, VolumesReadOnlyAndReadWrite) {
  TempDir a, b;
  write_file_atomic(a.path() + "/f", "A");
  auto r = coracle(
      {"exec", "-v", a.path() + ":/data/a:ro", "-v", b.path() + ":/data/b", "--", "/bin/sh", "-c",
       "cat /data/a/f; echo B > /data/b/g; echo x > /data/a/h 2>/dev/null || echo ro"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Aro\n");
  EXPECT_EQ(read_file(b.path() + "/g"), "B\n");
}

TEST(Isolation, ContainerRootIsNotHostRoot) {
  TempDir out;
  auto r = coracle(
      {"exec", "--out", out.path(), "--", "/bin/sh", "-c", "cat /proc/self/uid_map; id -u"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream map(r.out);
  unsigned inside, outside, count;
  map >> inside >> outside >> count;
  EXPECT_EQ(inside, 0u);
  EXPECT_NE(outside, 0u) << "container root must map to an unprivileged host uid";
  EXPECT_NE(r.out.find("\n0\n"), std::string::npos);
}

TEST(Isolation, RootfsFilesKeepTheirOwners) {
  // On disk the default image belongs to the caller; inside it is root's,
  // and container root can change it (in the overlay) like its own.
  auto r = coracle({"exec", "--", "/bin/sh", "-c",
                    "stat -c '%u:%g' /bin/busybox /etc/passwd; chown 1000:1000 /etc/passwd && stat "
                    "-c %u /etc/passwd"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0:0\n0:0\n1000\n");
}

TEST(Isolation, DefaultCapabilitiesAndNoNewPrivsAndSeccomp) {
  auto r = coracle({"exec", "--", "/bin/cat", "/proc/self/status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_field(r.out, "CapEff"), "00000000a80425fb");  // Docker's default set
  EXPECT_EQ(status_field(r.out, "CapBnd"), "00000000a80425fb");
  EXPECT_EQ(status_field(r.out, "CapAmb"), "0000000000000000");
  EXPECT_EQ(status_field(r.out, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(r.out, "Seccomp"), "2");

  r = coracle({"exec", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--", "/bin/cat",
               "/proc/self/status"});
  EXPECT_EQ(status_field(r.out, "CapEff"), "0000000000001000");
  r = coracle({"exec", "--cap-drop", "chown", "--", "/bin/cat", "/proc/self/status"});
  EXPECT_EQ(status_field(r.out, "CapEff"), "00000000a80425fa");
  r = coracle({"exec", "-u", "1000", "--", "/bin/cat", "/proc/self/status"});
  EXPECT_EQ(status_field(r.out, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_field(r.out, "CapPrm"), "0000000000000000");
  r = coracle({"exec", "--seccomp", "unconfined", "--", "/bin/cat", "/proc/self/status"});
  EXPECT_EQ(status_field(r.out, "Seccomp"), "0");
  EXPECT_EQ(status_field(r.out, "NoNewPrivs"), "1");
  r = coracle({"exec", "--cap-add", "NOT_A_CAP", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
}

TEST(Isolation, BlockedSyscallsFailWithEperm) {
  auto args = probe_args("syscalls");
  args.insert(args.begin(), "exec");
  auto r = coracle(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mount EPERM\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("keyctl EPERM\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bpf EPERM\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unshare_user EPERM\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ptrace_init EPERM\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clone_newns EPERM\n"), std::string::npos) << r.out;
}

TEST(Isolation, CustomSeccompProfileInDockerFormat) {
  TempDir dir;
  std::string profile = dir.path() + "/deny-mkdir.json";
  write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})");
  auto r = coracle(
      {"exec", "--seccomp", profile, "--", "/bin/sh", "-c", "mkdir /tmp/x 2>&1; echo done"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Permission denied"), std::string::npos) << r.out;
  write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_NOPE"})");
  r = coracle({"exec", "--seccomp", profile, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("SCMP_ACT_NOPE"), std::string::npos) << r.err;
}

TEST(Isolation, MaskedAndReadOnlyProcPaths) {
  // Absent paths (no /proc/kcore on some kernels) read as nothing too.
  auto r = coracle({"exec", "--", "/bin/sh", "-c",
                    "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys | wc -c; ls /proc/acpi "
                    "2>/dev/null | wc -l; "
                    "echo 1 > /proc/sys/kernel/domainname 2>&1 || echo sys-ro; "
                    "echo x > /proc/sysrq-trigger 2>&1 || echo sysrq-ro"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split(r.out, '\n');
  EXPECT_EQ(lines[0], "0");
  EXPECT_EQ(lines[1], "0");
  EXPECT_EQ(lines[2], "0");
  EXPECT_NE(r.out.find("sys-ro"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sysrq-ro"), std::string::npos) << r.out;
  r = coracle({"exec", "--", "/bin/sh", "-c", "touch /sys/x 2>&1 || echo sys-readonly"});
  EXPECT_NE(r.out.find("sys-readonly"), std::string::npos) << r.out;
}

TEST(Isolation, MinimalDev) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c",
                    "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null "
                    "&& echo null-ok; "
                    "readlink /dev/fd; test -d /dev/pts && test -d /dev/shm && echo dirs-ok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(split(r.out, '\n')[0],
            "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ");
  EXPECT_NE(r.out.find("\n4\n"), std::string::npos);
  EXPECT_NE(r.out.find("null-ok"), std::string::npos);
  EXPECT_NE(r.out.find("/proc/self/fd"), std::string::npos);
  EXPECT_NE(r.out.find("dirs-ok"), std::string::npos);
}

TEST(Isolation, NoInheritedFds) {
  // A descriptor the caller leaked (no O_CLOEXEC) must not reach the command.
  int leaked = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  auto args = probe_args("fds");
  args.insert(args.begin(), "exec");
  auto r = coracle(args);
  close(leaked);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");
}

TEST(Isolation, CwdIsInsideTheRootfs) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c",
                    "pwd; ls -d ../../.. ; cd .. && pwd; ls /proc/1/cwd/ | head -3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 2), "/\n");
  r = coracle({"exec", "-w", "/app", "--", "/bin/sh", "-c", "pwd; readlink /proc/self/cwd"});
  EXPECT_EQ(r.out, "/app\n/app\n");
}

TEST(Isolation, SymlinkInRootfsCannotRedirectAMountOutside) {
  TempDir rootfs, victim, src;
  // A rootfs whose /in is a symlink to a host directory: the bind must land
  // inside the rootfs, never on the host path.
  auto r =
      coracle({"exec", "-v", rootfs.path() + ":/dst", "--", "/bin/sh", "-c",
               "mkdir -p /dst/bin && cp /bin/busybox /dst/bin/ && ln -s busybox /dst/bin/sh && "
               "ln -s busybox /dst/bin/ls && ln -s " +
                   victim.path() + " /dst/in"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  write_file_atomic(src.path() + "/marker", "m");
  r = coracle({"exec", "--rootfs", rootfs.path(), "--in", src.path(), "--", "/bin/ls", "/in"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "marker\n");
  struct stat st;
  EXPECT_NE(stat((victim.path() + "/marker").c_str(), &st), 0);
}

}  // namespace
}  // namespace coracle::test

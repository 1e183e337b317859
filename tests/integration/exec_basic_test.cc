// `coracle exec`: exit statuses, messages, --json, the default image, the
// process environment.
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

// The runner is one static-pie file: no dynamic loader on the exec path (it
// costs 0.3 ms), no shared libraries to go missing on an edge box, and ASLR
// for a process that runs as root.
TEST(ExecBasic, BinaryIsStaticPie) {
  std::string elf = read_file(CORACLE_BIN);
  ASSERT_GT(elf.size(), sizeof(Elf64_Ehdr));
  Elf64_Ehdr eh;
  memcpy(&eh, elf.data(), sizeof eh);
  ASSERT_EQ(memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(eh.e_type, ET_DYN) << "not position-independent";
  bool has_interp = false, has_dynamic = false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    ASSERT_LE(eh.e_phoff + (i + 1) * sizeof ph, elf.size());
    memcpy(&ph, elf.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    has_interp |= ph.p_type == PT_INTERP;
    has_dynamic |= ph.p_type == PT_DYNAMIC;
  }
  EXPECT_FALSE(has_interp) << "needs a dynamic loader";
  EXPECT_TRUE(has_dynamic) << "static-pie keeps PT_DYNAMIC for its self-relocation";
}

TEST(ExecBasic, RunsOnTheEmbeddedDefaultImage) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c", "echo hello; cat /etc/passwd | head -1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\nroot:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(r.err, "");
}

TEST(ExecBasic, DefaultImageIsUnpackedOnceAndStaleCopiesAreSwept) {
  TempDir root;
  // A half-unpacked copy left by a coracle killed mid-way (pid 999999999 is
  // never alive).
  std::string stale = root.path() + "/embedded/0123456789abcdef.tmp.999999999";
  mkdir_p(stale + "/rootfs");
  auto r = coracle({"--root", root.path(), "exec", "--", "/bin/sh", "-c", "ls /bin/busybox"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "/bin/busybox\n");
  struct stat st;
  EXPECT_NE(stat(stale.c_str(), &st), 0) << "the stale copy should be gone";
  int copies = 0;
  for (const auto& e :
       split(coracle({"exec", "-v", root.path() + "/embedded:/e:ro", "--", "ls", "/e"}).out, '\n'))
    copies += !e.empty();
  EXPECT_EQ(copies, 1);
}

TEST(ExecBasic, DockerShapeWithoutDashes) {
  auto r = coracle({"exec", "default", "echo", "a", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a b\n");
}

TEST(ExecBasic, ExitStatusIsTheCommands) {
  EXPECT_EQ(coracle({"exec", "--", "/bin/sh", "-c", "exit 0"}).exit_code, 0);
  EXPECT_EQ(coracle({"exec", "--", "/bin/sh", "-c", "exit 1"}).exit_code, 1);
  EXPECT_EQ(coracle({"exec", "--", "/bin/sh", "-c", "exit 42"}).exit_code, 42);
}

TEST(ExecBasic, KilledBySignalIs128PlusN) {
  auto r = coracle({"exec", "--", "/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_NE(r.err.find("killed by signal 9"), std::string::npos) << r.err;
  r = coracle({"exec", "--", "/bin/sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(r.exit_code, 139);
  EXPECT_NE(r.err.find("SIGSEGV"), std::string::npos) << r.err;
}

TEST(ExecBasic, CommandNotFoundIs127) {
  auto r = coracle({"exec", "--", "no-such-command"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.err, "coracle: no-such-command: command not found\n");
  r = coracle({"exec", "--", "/no/such/path"});
  EXPECT_EQ(r.exit_code, 127);
}

TEST(ExecBasic, NotExecutableIs126) {
  auto r = coracle({"exec", "--", "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_NE(r.err.find("/etc/passwd: cannot execute: Permission denied"), std::string::npos)
      << r.err;
  r = coracle({"exec", "--", "/etc"});
  EXPECT_EQ(r.exit_code, 126) << r.err;
}

TEST(ExecBasic, CoracleFailuresAre125WithAMessage) {
  auto r = coracle({"exec", "--net", "bogus", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("unknown network 'bogus'"), std::string::npos) << r.err;
  r = coracle({"exec", "--rootfs", "/no/such/dir", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  r = coracle({"exec", "-v", "/no/such/source:/x", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("/no/such/source"), std::string::npos) << r.err;
  r = coracle({"exec", "--seccomp", "/no/such/profile.json", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  r = coracle({"exec", "no-such-image", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("no-such-image"), std::string::npos) << r.err;
  r = coracle({"exec", "--bogus-flag"});
  EXPECT_EQ(r.exit_code, 125);
}

TEST(ExecBasic, JsonReportsTheRun) {
  auto r = coracle({"exec", "--json", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["event"], "result");
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["signal"], 0);
  EXPECT_EQ(j["oom_killed"], false);
  EXPECT_EQ(j["timed_out"], false);
  EXPECT_GT(j["duration_ms"].get<double>(), 0);
  EXPECT_GT(j["peak_memory_bytes"].get<uint64_t>(), 0u);

  r = coracle({"exec", "--json", "--", "/bin/sh", "-c", "kill -TERM $$"});
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["exit_code"], 143);
  EXPECT_EQ(j["signal"], 15);
}

TEST(ExecBasic, EnvironmentWorkdirUserHostname) {
  TempDir dir;
  std::string env_file = dir.path() + "/env";
  FILE* f = fopen(env_file.c_str(), "w");
  fputs("# comment\nFROM_FILE=1\nexport QUOTED=\"a b\"\nOVERRIDDEN=file\n", f);
  fclose(f);
  setenv("CORACLE_TEST_PASSED", "from-host", 1);
  auto r = coracle(
      {"exec", "--env-file", env_file, "-e", "OVERRIDDEN=flag", "-e", "CORACLE_TEST_PASSED", "-w",
       "/work/dir", "--hostname", "box", "--", "/bin/sh", "-c",
       "echo $FROM_FILE/$QUOTED/$OVERRIDDEN/$CORACLE_TEST_PASSED; pwd; hostname; echo $HOME"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1/a b/flag/from-host\n/work/dir\nbox\n/root\n");

  r = coracle({"exec", "-u", "1000:1001", "--", "/bin/sh", "-c", "id -u; id -g; echo $HOME"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1000\n1001\n/\n");
}

TEST(ExecBasic, HelpAndVersion) {
  auto r = coracle({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("coracle ", 0), 0u) << r.out;
  r = coracle({"exec", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--memory"), std::string::npos);
  EXPECT_NE(r.out.find("127 when it is not found"), std::string::npos);
  r = coracle({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("exec"), std::string::npos);
}

TEST(ExecBasic, RootfsDirectoryAndReadOnly) {
  TempDir rootfs;
  // A rootfs made of the default image's busybox, owned by host root.
  auto r = coracle(
      {"exec", "-v", rootfs.path() + ":/dst", "--", "/bin/sh", "-c",
       "mkdir -p /dst/bin /dst/tmp /dst/proc /dst/dev /dst/sys && cp /bin/busybox /dst/bin/ && "
       "ln -s busybox /dst/bin/sh && ln -s busybox /dst/bin/touch && ln -s busybox /dst/bin/cat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = coracle({"exec", "--rootfs", rootfs.path(), "--", "/bin/sh", "-c", "touch /new && echo ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  struct stat st;
  EXPECT_NE(stat((rootfs.path() + "/new").c_str(), &st), 0)
      << "the overlay's upper layer must not reach the rootfs";
  r = coracle(
      {"exec", "--read-only", "--rootfs", rootfs.path(), "--", "/bin/sh", "-c", "touch /new2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
}

TEST(ExecBasic, ChangesAreWrittenAsALayerTar) {
  // As `podman diff` + export: what the command added, changed and
  // deleted in the rootfs, deletions as OCI whiteouts; also when it fails.
  TempDir work;
  std::string file = work.path() + "/changes.tar";
  auto r = coracle({"exec", "--changes", file, "--", "sh", "-c",
                    "echo new > /etc/added && chmod 600 /etc/added && rm /bin/ls && "
                    "mkdir -p /srv/data && echo d > /srv/data/f && echo x >> /etc/passwd; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(run_sh("tar -tvf " + file + " | awk '{print $1, $NF}'"),
            "drwxr-xr-x bin/\n"
            "---------- bin/.wh.ls\n"
            "drwxr-xr-x etc/\n"
            "-rw------- etc/added\n"
            "-rw-r--r-- etc/passwd\n"
            "drwxr-xr-x srv/\n"
            "drwxr-xr-x srv/data/\n"
            "-rw-r--r-- srv/data/f\n");
  EXPECT_EQ(run_sh("tar -xOf " + file + " etc/added"), "new\n");
  // Not with a rootfs that has no writable layer of its own.
  r = coracle({"exec", "--read-only", "--changes", file, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--changes needs the overlay"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test

// The child's setup through its syscall table (sandbox/child_calls.h):
// the order of its steps seen by a recording fake, without root, and a
// failing call reported to the runner with its errno and what it was.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "sandbox/child_calls.h"
#include "sandbox/child_steps.h"
#include "sandbox/mount_plan.h"
#include "sandbox/sync.h"

namespace coracle::sandbox {
namespace {

std::vector<std::string>* calls_log;
int failing_setresuid = 0;  // the errno setresuid fails with, or 0

ChildCalls recording_calls() {
  ChildCalls c = real_child_calls();  // the mounts' entries: an empty plan calls none
  c.set_parent_death_signal = [](int sig) {
    calls_log->push_back("pdeathsig " + std::to_string(sig));
    return 0;
  };
  c.peek_runner = [](int) {
    calls_log->push_back("peek the runner");
    return -EAGAIN;
  };
  c.unshare = [](int) {
    calls_log->push_back("unshare cgroup");
    return 0;
  };
  c.setresgid = [](gid_t g) {
    calls_log->push_back("setresgid " + std::to_string(g));
    return 0;
  };
  c.setresuid = [](uid_t u) {
    calls_log->push_back("setresuid " + std::to_string(u));
    return failing_setresuid ? -failing_setresuid : 0;
  };
  c.clear_groups = [] {
    calls_log->push_back("clear groups");
    return 0;
  };
  c.sethostname = [](const char* name, size_t len) {
    calls_log->push_back("hostname " + std::string(name, len));
    return 0;
  };
  c.umask = [](mode_t m) {
    calls_log->push_back("umask " + std::to_string(m));
    return 022;
  };
  c.setrlimit = [](int resource, const struct rlimit* l) {
    calls_log->push_back("rlimit " + std::to_string(resource) + " " + std::to_string(l->rlim_cur));
    return 0;
  };
  c.setsid = [] {
    calls_log->push_back("setsid");
    return 1;
  };
  c.set_groups = [](size_t n, const gid_t*) {
    calls_log->push_back("set " + std::to_string(n) + " groups");
    return 0;
  };
  c.drop_bounding = [](const CapPlan&) {
    calls_log->push_back("drop the bounding set");
    return 0;
  };
  c.keep_across_setuid = [](const CapPlan&) {
    calls_log->push_back("keep capabilities across setuid");
    return 0;
  };
  c.apply_caps = [](const CapPlan&) {
    calls_log->push_back("set capabilities");
    return 0;
  };
  c.set_no_new_privs = [] {
    calls_log->push_back("no_new_privs");
    return 0;
  };
  c.load_seccomp = [](const SeccompProgram& p) {
    calls_log->push_back("seccomp " + std::to_string(p.code.size()));
    return 0;
  };
  c.execve = [](const char* path, char* const*, char* const*) {
    calls_log->push_back(std::string("execve ") + path);
    return -ENOENT;
  };
  return c;
}

struct ChildSetup : ::testing::Test {
  std::vector<std::string> log;
  ChildCalls calls = recording_calls();
  MountPlan plan;  // empty: the mounts' own sequence is mount_plan_test's
  ChildContext ctx;
  int runner = -1;
  void SetUp() override {
    calls_log = &log;
    failing_setresuid = 0;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    runner = pair[0];
    ctx.sync_fd = pair[1];
    ctx.calls = &calls;
    ctx.mounts = &plan;
    ctx.hostname = "box";
    ctx.unshare_cgroupns = true;
    ctx.rlimits = {{RLIMIT_NOFILE, 1024, 4096}};
  }
  void TearDown() override {
    close(runner);
    close(ctx.sync_fd);
  }
  void send_go() {
    Msg go{};
    go.type = MsgType::Go;
    ASSERT_EQ(send_msg(runner, go), 0);
  }
};

TEST_F(ChildSetup, TheStepsComeInTheirOrder) {
  send_go();
  tie_to_runner(ctx);
  GoReceived go;
  await_go(ctx, go);
  become_container_root(ctx);
  build_root(ctx, go);
  set_rlimits(ctx);
  start_session(ctx);
  std::vector<std::string> expected = {
      "pdeathsig 9", "peek the runner",
      // container root: the gid first (the uid's change takes the right to)
      "unshare cgroup", "setresgid 0", "setresuid 0",
      // a change of ids clears the death signal: armed again
      "pdeathsig 9", "peek the runner", "clear groups", "hostname box",
      // the plan's modes as written, then Docker's umask for the command
      "umask 0", "umask 18", "rlimit 7 1024", "setsid"};
  EXPECT_EQ(log, expected);
}

TEST_F(ChildSetup, AFailedCallIsReportedWithItsErrnoAndWhatItWas) {
  failing_setresuid = EPERM;
  EXPECT_EXIT(become_container_root(ctx), ::testing::ExitedWithCode(125), "");
  Msg failure{};
  ASSERT_EQ(recv_msg(runner, failure), 0);
  EXPECT_EQ(failure.type, MsgType::Failure);
  EXPECT_EQ(failure.err, EPERM);
  EXPECT_STREQ(failure.context, "become root in the user namespace (uid)");
}

// The command's own steps, in the started command (CLONE_VM | CLONE_VFORK:
// it logs into this process's memory): the bounding set while CAP_SETPCAP
// is there, groups, the gid, the capabilities kept across the uid's
// change, the uid, the capabilities, no_new_privs, the filters, the exec;
// an exec that fails is 127 with the command's name.
TEST_F(ChildSetup, TheCommandBecomesItsUserAndIsConfinedBeforeItsExec) {
  CapPlan caps(1000, {}, {});
  SeccompProgram filter;
  filter.code.resize(3);
  std::vector<gid_t> groups = {27, 100};
  std::vector<char> stack(256 * 1024);
  ctx.caps = &caps;
  ctx.seccomp = &filter;
  ctx.groups = &groups;
  ctx.uid = ctx.gid = 1000;
  ctx.argv = {const_cast<char*>("/bin/true"), nullptr};
  ctx.envp = {nullptr};
  ctx.command_stack = stack.data();
  ctx.command_stack_size = stack.size();
  pid_t command = start_command(ctx, -1);
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // start_command made this process non-dumpable
  int status = 0;
  ASSERT_EQ(waitpid(command, &status, __WALL), command);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127) << status;
  std::vector<std::string> expected = {"drop the bounding set", "set 2 groups",
                                       "setresgid 1000",        "keep capabilities across setuid",
                                       "setresuid 1000",        "set capabilities",
                                       "no_new_privs",          "seccomp 3",
                                       "execve /bin/true"};
  EXPECT_EQ(log, expected);
  Msg failure{};
  ASSERT_EQ(recv_msg(runner, failure), 0);
  EXPECT_EQ(failure.err, ENOENT);
  EXPECT_STREQ(failure.context, "/bin/true");
}

}  // namespace
}  // namespace coracle::sandbox

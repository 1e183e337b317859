// The sandbox library API that the chain and the builder call: Spec in,
// Result out, output captured through pipes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "harness.h"
#include "image/default_image.h"
#include "sandbox/sandbox.h"
#include "sandbox/socket_factory.h"

namespace coracle::sandbox {
namespace {

Spec default_spec(std::vector<std::string> argv) {
  Spec spec;
  spec.rootfs = image::ensure_default_rootfs(test::store_root());
  spec.argv = std::move(argv);
  spec.env = {"PATH=/bin:/usr/bin"};
  spec.forward_signals = false;
  return spec;
}

TEST(Library, CapturesStdoutAndStderrApart) {
  auto c = run_captured(default_spec({"sh", "-c", "echo out; echo err >&2; exit 4"}));
  EXPECT_EQ(c.result.exit_code, 4);
  EXPECT_EQ(c.out, "out\n");
  EXPECT_EQ(c.err, "err\n");
  EXPECT_TRUE(c.result.message.empty());
}

TEST(Library, LargeOutputDoesNotBlock) {
  // Far more than a pipe holds: the reader must drain while the sandbox runs.
  auto c = run_captured(
      default_spec({"sh", "-c", "head -c 8388608 /dev/zero; head -c 1048576 /dev/zero >&2"}));
  EXPECT_EQ(c.result.exit_code, 0);
  EXPECT_EQ(c.out.size(), 8388608u);
  EXPECT_EQ(c.err.size(), 1048576u);
}

TEST(Library, StartHookSeesTheRunningInit) {
  pid_t seen = 0;
  bool alive = false;
  Hooks hooks;
  hooks.on_start = [&](Started& started) {
    seen = started.init_pid;
    alive = kill(seen, 0) == 0;
    EXPECT_FALSE(started.seccomp_listener);  // nothing asked for them
    EXPECT_FALSE(started.sockets);
  };
  auto c = run_captured(default_spec({"true"}), hooks);
  EXPECT_EQ(c.result.exit_code, 0);
  EXPECT_GT(seen, 1);
  EXPECT_TRUE(alive);
}

TEST(Library, FailuresComeBackAsResults) {
  auto c = run_captured(default_spec({"missing-command"}));
  EXPECT_EQ(c.result.exit_code, 127);
  EXPECT_EQ(c.result.message, "missing-command: command not found");
  Spec spec = default_spec({"sleep", "10"});
  spec.timeout = std::chrono::milliseconds(200);
  c = run_captured(spec);
  EXPECT_TRUE(c.result.timed_out);
  EXPECT_EQ(c.result.exit_code, 143);
  EXPECT_EQ(c.result.term_signal, 15);
}

TEST(Library, MultithreadedCallersNeverHang) {
  // The chain and the builder call run() from processes with threads. The
  // cloned child must not use libc paths that wait on the caller's other
  // threads (glibc's setxid broadcast did: an intermittent hang).
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 3; ++t)
    busy.emplace_back([&] {
      while (!stop) {
        std::vector<std::string> churn(64, std::string(100, 'x'));
        (void)churn;
      }
    });
  int ok = 0;
  for (int i = 0; i < 60; ++i) {
    Spec spec = default_spec({"sh", "-c", "echo $$"});
    spec.uid = i % 2 ? 1000 : 0;  // both credential paths
    spec.gid = spec.uid;
    auto c = run_captured(spec);
    ok += c.result.exit_code == 0 && c.out == "2\n";
  }
  stop = true;
  for (auto& t : busy) t.join();
  EXPECT_EQ(ok, 60);
}

TEST(Library, TheNetworkNamespaceIsTheSandboxsOwnWithLoopbackUpBeforeTheCommand) {
  // Made beside the child while it mounts (netns_maker.h): it must still be
  // owned by the sandbox's user namespace (a net sysctl can be set in it),
  // show only loopback, and have it up when the command starts; without a
  // user namespace of the sandbox's own (an OCI config's), the same.
  char host_netns[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/net", host_netns, sizeof host_netns - 1), 0);
  for (bool own_userns : {true, false}) {
    SCOPED_TRACE(own_userns ? "own user namespace" : "the runner's user namespace");
    Spec spec =
        default_spec({"sh", "-c",
                      "readlink /proc/self/ns/net; ls /sys/class/net; "
                      "cat /sys/class/net/lo/flags /proc/sys/net/ipv4/ip_unprivileged_port_start"});
    spec.user_namespace = own_userns;
    spec.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "80"}};
    auto c = run_captured(spec);
    ASSERT_EQ(c.result.exit_code, 0) << c.result.message << c.err;
    EXPECT_EQ(c.out.find(host_netns), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("\nlo\n0x9\n80\n"), std::string::npos) << c.out;  // IFF_UP | IFF_LOOPBACK
  }
  Spec spec = default_spec({"cat", "/sys/class/net/lo/flags"});
  spec.net = NetMode::None;  // a namespace of its own, loopback left down
  auto c = run_captured(spec);
  EXPECT_EQ(c.result.exit_code, 0) << c.result.message;
  EXPECT_EQ(c.out, "0x8\n");
}

TEST(Library, WhenTheCommandRunsOnlyItAndInitAreInTheSandboxsUserNamespace) {
  // The runner's network helper joins the sandbox's user namespace to make
  // its network namespace: it must be gone before the command starts.
  std::vector<std::string> members;
  Hooks hooks;
  hooks.on_start = [&](Started& started) {
    auto ns_of = [](const std::string& pid) {
      char link[64] = {};
      ssize_t n = readlink(("/proc/" + pid + "/ns/user").c_str(), link, sizeof link - 1);
      return n > 0 ? std::string(link, n) : std::string();
    };
    std::string sandbox = ns_of(std::to_string(started.init_pid));
    ASSERT_FALSE(sandbox.empty());
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string pid = e.path().filename();
      if (pid.find_first_not_of("0123456789") == std::string::npos && ns_of(pid) == sandbox)
        members.push_back(pid);
    }
  };
  auto c = run_captured(default_spec({"sleep", "0.2"}), hooks);
  EXPECT_EQ(c.result.exit_code, 0) << c.result.message;
  EXPECT_EQ(members.size(), 2u);  // init and the command
}

TEST(Library, BadSpecsThrowBeforeAnythingStarts) {
  Spec spec = default_spec({});
  EXPECT_THROW(run(spec), Error);
  spec = default_spec({"true"});
  spec.rootfs = "/no/such/rootfs";
  EXPECT_THROW(run(spec), Error);
  spec = default_spec({"true"});
  spec.workdir = "relative";
  EXPECT_THROW(run(spec), Error);
}

TEST(Library, NotifiedSyscallsNeedAStartHook) {
  // Nobody would answer: the command would hang at its first bind().
  Spec spec = default_spec({"true"});
  spec.notify_syscalls = {"bind"};
  EXPECT_THROW(run(spec), Error);
  spec.notify_syscalls = {"no_such_syscall"};
  Hooks hooks;
  hooks.on_start = [](Started&) {};
  EXPECT_THROW(run(spec, hooks), Error);
}

TEST(Library, AFailingStartHookKillsTheSandbox) {
  Hooks hooks;
  hooks.on_start = [](Started&) { throw Error("the watcher broke"); };
  auto c = run_captured(default_spec({"sleep", "30"}), hooks);
  EXPECT_EQ(c.result.exit_code, 125);
  EXPECT_EQ(c.result.message, "the watcher broke");
  EXPECT_LT(c.result.wall_ms, 10000);
}

TEST(Library, SocketFactoryAndListenerReachTheStartHook) {
  Spec spec = default_spec({"sleep", "1"});
  spec.socket_factory = true;
  spec.notify_syscalls = {"listen"};
  struct stat own_netns, sandbox_netns, socket_netns;
  ASSERT_EQ(stat("/proc/self/ns/net", &own_netns), 0);
  bool listener = false;
  Hooks hooks;
  hooks.on_start = [&](Started& started) {
    listener = static_cast<bool>(started.seccomp_listener);
    ASSERT_TRUE(started.sockets);
    ASSERT_EQ(
        stat(("/proc/" + std::to_string(started.init_pid) + "/ns/net").c_str(), &sandbox_netns), 0);
    auto sockets = started.sockets->make(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, 3);
    ASSERT_EQ(sockets.size(), 3u);
    // SIOCGSKNS: the network namespace a socket belongs to.
    UniqueFd ns(ioctl(sockets[0].get(), SIOCGSKNS));
    ASSERT_TRUE(ns);
    ASSERT_EQ(fstat(ns.get(), &socket_netns), 0);
    EXPECT_TRUE(fcntl(sockets[1].get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(sockets[2].get(), F_GETFD) & FD_CLOEXEC);
    EXPECT_THROW(started.sockets->make(AF_INET, SOCK_STREAM, 0, 0), Error);
    started.seccomp_listener.reset();  // nothing listens in `sleep`
  };
  auto c = run_captured(spec, hooks);
  EXPECT_EQ(c.result.exit_code, 0) << c.result.message;
  EXPECT_TRUE(listener);
  EXPECT_EQ(socket_netns.st_ino, sandbox_netns.st_ino);
  EXPECT_NE(socket_netns.st_ino, own_netns.st_ino);
}

}  // namespace
}  // namespace coracle::sandbox

// The micro-VM backend under qemu (TCG here and in CI: each boot takes
// seconds, so these tests are few and labelled "vm").
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"
#include "image/default_image.h"
#include "test_host.h"
#include "vm/guest_kernel.h"
#include "vm/protocol.h"
#include "vm/qemu.h"
#include "vm/vm_runner.h"

namespace coracle::test {
namespace {

TEST(Vm, TheAgentBootsAndSaysReadyOverItsChannel) {
  vm::GuestKernel kernel;
  try {
    kernel = vm::find_guest_kernel();
  } catch (const Error& e) {
    FAIL() << e.what() << " (make deps installs linux-image-cloud-amd64)";
  }
  TempDir cache;
  vm::VmConfig config;
  config.kernel = kernel;
  config.initramfs = vm::ensure_initramfs(cache.path(), kernel, CORACLE_BIN);
  config.kvm = vm::kvm_usable();
  config.memory_bytes = 256ULL << 20;
  config.console_log = cache.path() + "/console.log";
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd host(pair[0]), guest(pair[1]);
  config.channel_fd = guest.get();
  vm::VmProcess qemu(config);
  guest.reset();
  vm::FrameReader reader;
  std::optional<vm::Frame> frame;
  while (!frame) {
    struct pollfd p = {host.get(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 60000), 1) << "no word from the agent in 60 s:\n"
                                     << read_file(config.console_log);
    char buf[256];
    ssize_t n = read(host.get(), buf, sizeof buf);
    ASSERT_GT(n, 0) << "the channel closed:\n" << read_file(config.console_log);
    reader.feed(buf, static_cast<size_t>(n));
    frame = reader.next();
  }
  EXPECT_EQ(frame->type, vm::FrameType::Ready);
  host.reset();  // no Start: the agent finds its channel closed and powers off
  int status = qemu.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// One VM run on the embedded default image (busybox), its output caught.
struct VmRun {
  vm::VmResult result;
  std::string out, err;
};

VmRun run_vm(const std::vector<std::string>& argv, const std::string& store, uint32_t uid = 0,
             const std::function<void(vm::VmRunRequest&)>& adjust = {}) {
  vm::VmRunRequest r;
  r.layer_dirs = {image::ensure_default_rootfs(store)};
  r.cache_dir = store + "/vm";
  r.agent = CORACLE_BIN;
  r.memory_bytes = 256ULL << 20;
  r.guest.argv = argv;
  r.guest.env = {"PATH=/bin", "HOME=/root"};
  r.guest.uid = r.guest.gid = uid;
  r.guest.files = {{"/etc/hostname", "vmbox\n"}};
  if (adjust) adjust(r);
  int out[2], err[2];
  EXPECT_EQ(pipe(out), 0);
  EXPECT_EQ(pipe(err), 0);
  r.stdout_fd = out[1];
  r.stderr_fd = err[1];
  VmRun run;
  run.result = vm::run_in_vm(r);
  close(out[1]);
  close(err[1]);
  read_to_end(out[0], run.out);
  read_to_end(err[0], run.err);
  close(out[0]);
  close(err[0]);
  return run;
}

TEST(Vm, ACommandRunsInTheGuestWithItsOutputAndStatus) {
  TempDir store;
  auto run =
      run_vm({"sh", "-c", "cat /etc/hostname; id -u; echo to-err >&2; exit 3"}, store.path(), 1000);
  EXPECT_EQ(run.result.exit_code, 3) << run.result.message;
  EXPECT_EQ(run.out, "vmbox\n1000\n");
  EXPECT_EQ(run.err, "to-err\n");
  EXPECT_EQ(run.result.kvm, vm::kvm_usable());  // the run says which it used
  // A command the image lacks: 127, said by coracle.
  run = run_vm({"no-such-command"}, store.path());
  EXPECT_EQ(run.result.exit_code, 127);
  EXPECT_NE(run.result.message.find("no-such-command"), std::string::npos) << run.result.message;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST(Vm, ExecVmGivesTheCommandsStatusAndTakesItsInput) {
  auto r =
      coracle({"exec", "--vm", "--", "sh", "-c", "echo out; cat /sys/class/net/lo/flags; exit 5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.out, "out\n0x9\n");  // loopback up, as in a sandbox
  std::string sorted = run_sh("printf 'b\\na\\n' | CORACLE_ROOT=" + store_root() + " " +
                              CORACLE_BIN + " exec --vm -i -- sort");
  EXPECT_EQ(sorted, "a\nb\n");
}

TEST(Vm, ATimeoutEndsTheRunAndAKilledRunnerLeavesNoVm) {
  auto r = coracle({"exec", "--vm", "--timeout", "2s", "--", "sleep", "100"});
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_NE(r.err.find("timeout"), std::string::npos) << r.err;
  // kill -9 of the runner: qemu goes with it (PR_SET_PDEATHSIG).
  int out = -1;
  pid_t runner = spawn_coracle({"exec", "--vm", "--", "sh", "-c", "echo up; sleep 100"}, &out);
  char buf[16];
  ASSERT_GT(read(out, buf, sizeof buf), 0);  // the command runs in the guest
  std::string qemu = run_sh("pgrep -f 'qemu-syste[m].*" + store_root() + "' | wc -l");
  EXPECT_EQ(qemu, "1\n");
  kill(runner, SIGKILL);
  waitpid(runner, nullptr, 0);
  close(out);
  std::string left;
  for (int i = 0; i < 50; ++i) {
    left = run_sh("pgrep -f 'qemu-syste[m].*" + store_root() + "' | wc -l");
    if (left == "0\n") break;
    usleep(100000);
  }
  EXPECT_EQ(left, "0\n");
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

TEST(Vm, SignalsToTheRunnerReachTheCommand) {
  int out = -1;
  pid_t runner = spawn_coracle({"exec", "--vm", "--", "sh", "-c",
                                "trap 'echo got-term; exit 9' TERM; echo up; "
                                "while :; do sleep 0.1; done"},
                               &out);
  char buf[64];
  ASSERT_GT(read(out, buf, sizeof buf), 0);  // "up": the trap is set
  kill(runner, SIGTERM);
  std::string rest;
  read_to_end(out, rest);
  close(out);
  int status = 0;
  waitpid(runner, &status, 0);
  EXPECT_NE(rest.find("got-term"), std::string::npos) << rest;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 9);
}

TEST(Vm, DashTGivesTheCommandAPtyThatFollowsTheTerminalsSize) {
  // exec --vm -it on a terminal (a pty of the test's, 30x100): the command
  // has a terminal of that size, sees the new size when the user's
  // changes, and Ctrl-C typed (raw mode) is its SIGINT.
  std::string out = run_sh(
      "python3 - <<'PY'\n"
      "import os, pty, fcntl, termios, struct, time, select\n"
      "pid, fd = pty.fork()\n"
      "if pid == 0:\n"
      "    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))\n"
      "    os.execv('" +
      std::string(CORACLE_BIN) +
      "', ['coracle', 'exec', '--vm', '-it', '--', "
      "'sh', '-c', \"test -t 0 && echo is-a-tty; stty size; trap 'stty size' WINCH; "
      "trap 'echo got-int; exit 6' INT; echo ready; while :; do sleep 0.1; done\"])\n"
      "seen = b''\n"
      "def read_until(text, seconds=60):\n"
      "    global seen\n"
      "    end = time.time() + seconds\n"
      "    while text not in seen and time.time() < end:\n"
      "        r, _, _ = select.select([fd], [], [], 0.5)\n"
      "        if r:\n"
      "            try: seen += os.read(fd, 4096)\n"
      "            except OSError: break\n"
      "read_until(b'ready')\n"
      "fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))\n"
      "read_until(b'40 120')\n"
      "os.write(fd, b'\\x03')\n"
      "read_until(b'got-int')\n"
      "_, status = os.waitpid(pid, 0)\n"
      "print(seen.decode(errors='replace').replace('\\r', ''))\n"
      "print('status', os.WEXITSTATUS(status))\n"
      "PY\n");
  EXPECT_NE(out.find("is-a-tty\n30 100\n"), std::string::npos) << out;
  EXPECT_NE(out.find("40 120"), std::string::npos) << out;
  EXPECT_NE(out.find("got-int"), std::string::npos) << out;
  EXPECT_NE(out.find("status 6"), std::string::npos) << out;
}

TEST(Vm, ATerminalsCtrlCReachesTheCommandNotTheVmm) {
  // A terminal sends SIGINT to its whole foreground process group: coracle
  // passes it to the command; qemu, in a group of its own, never gets it.
  std::string out = run_sh(
      "python3 - <<'PY'\n"
      "import subprocess, os, signal\n"
      "p = subprocess.Popen(['" +
      std::string(CORACLE_BIN) +
      "', 'exec', '--vm', '-i', '--', 'sh', "
      "'-c', \"trap 'echo got-int; exit 3' INT; echo up; while :; do sleep 0.1; done\"], "
      "stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)\n"
      "up = p.stdout.readline().decode().strip()\n"
      "os.killpg(p.pid, signal.SIGINT)\n"
      "rest = p.stdout.read().decode().strip()\n"
      "print(up, rest, p.wait())\n"
      "PY\n");
  EXPECT_EQ(out, "up got-int 3\n");
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// The sandbox's cgroup v2 code, on a pure v2 host: this machine is hybrid
// (v1 controllers), users' edge hosts are pure v2. coracle itself runs in
// the guest, with cgroup2 alone at /sys/fs/cgroup.
TEST(Vm, TheSandboxsCgroupLimitsWorkOnAPureCgroupV2Host) {
  TempDir store;
  const char* script = R"SH(
export CORACLE_ROOT=/tmp/store
grep -c cgroup2 /proc/mounts
coracle exec --json --memory 24m -- awk 'BEGIN { s = "x"; while (1) s = s s }' | grep '"event":"result"'
coracle exec --pids 8 -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; wait' 2>&1 | grep -c "can't fork"
coracle exec --cpus 0.5 --memory 40m -- sleep 4 &
sleep 2
cat /sys/fs/cgroup/coracle/coracle-*/cpu.max /sys/fs/cgroup/coracle/coracle-*/memory.max
wait
coracle exec --device /dev/zero:/dev/z:r -- sh -c 'head -c 1 /dev/z | wc -c; echo x 2>/dev/null > /dev/z || echo denied'
)SH";
  auto run = run_vm({"sh", "-c", script}, store.path(), 0, [](vm::VmRunRequest& r) {
    r.guest.cgroup2 = true;
    r.guest.agent_at = "/bin/coracle";
    // coracle's own sandbox inside needs what a privileged container has.
    r.guest.seccomp = "unconfined";
    r.guest.cap_add = {"ALL"};
    r.memory_bytes = 512ULL << 20;
    r.timeout = std::chrono::seconds(240);
  });
  ASSERT_EQ(run.result.exit_code, 0) << run.result.message << run.out << run.err;
  auto lines = split(run.out, '\n');
  ASSERT_GE(lines.size(), 7u) << run.out << run.err;
  EXPECT_EQ(lines[0], "1");  // cgroup2 alone
  // The OOM verdict and exit status, read from cgroup v2's memory.events.
  EXPECT_NE(lines[1].find("\"oom_killed\":true"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"exit_code\":137"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2], "0") << run.out;            // forks refused by pids.max
  EXPECT_EQ(lines[3], "50000 100000");            // cpu.max
  EXPECT_EQ(lines[4], std::to_string(40 << 20));  // memory.max
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// The app's port, seen by the agent in the guest and forwarded from the
// host over the agent's channel: no vsock, no qemu networking.
TEST(Vm, AGuestPortIsReportedAndForwardedFromTheHost) {
  int out = -1;
  pid_t runner = spawn_coracle({"exec", "--vm", "--json", "-p", "127.0.0.1::8000", "--", "sh", "-c",
                                "mkdir -p /www && echo hello-from-the-vm > /www/index.html && "
                                "httpd -f -p 8000 -h /www"},
                               &out);
  std::string events;
  char buf[512];
  while (events.find("\"host_port\"") == std::string::npos) {
    ssize_t n = read(out, buf, sizeof buf);
    ASSERT_GT(n, 0) << events;
    events.append(buf, n);
  }
  // First which VMM runs it (TCG here: this host's KVM cannot run qemu's
  // guests), then the port.
  auto first = nlohmann::json::parse(events.substr(0, events.find('\n')));
  EXPECT_EQ(first["event"], "vm.start");
  EXPECT_EQ(first["accel"], vm::kvm_usable() ? "kvm" : "tcg");
  size_t second = events.find('\n') + 1;
  auto j = nlohmann::json::parse(events.substr(second, events.find('\n', second) - second));
  EXPECT_EQ(j["event"], "port.open");
  EXPECT_EQ(j["port"], 8000);
  uint16_t host_port = j["host_port"];
  std::string page =
      run_sh("timeout 20 wget -q -O - http://127.0.0.1:" + std::to_string(host_port) + "/");
  EXPECT_EQ(page, "hello-from-the-vm\n");
  kill(runner, SIGTERM);  // httpd ends; the port is reported closed
  std::string rest;
  read_to_end(out, rest);
  close(out);
  waitpid(runner, nullptr, 0);
  EXPECT_NE(rest.find("\"port.close\""), std::string::npos) << rest;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// The guest's command ends the run, as in a sandbox: what it left in the
// background (holding its output pipes) is killed, not waited for; and a
// VM stopped once its agent is up prints no kernel console line.
TEST(Vm, TheCommandsEndIsTheRunsEndWhateverItLeftBehind) {
  // Waiting for the background sleep would end in the timeout's 143.
  auto r = coracle({"exec", "--vm", "--timeout", "90s", "--", "sh", "-c", "sleep 100 & echo hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.err.find("PCI"), std::string::npos) << r.err;
  r = coracle({"exec", "--vm", "--timeout", "2s", "--", "sleep", "100"});
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_EQ(r.err.find("PCI"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Linux version"), std::string::npos) << r.err;
}

// -P on the VM backend follows the namespace backend's rule: a guest port
// below 1024 never takes that privileged port of the host. And clients that
// reset before reading the reply end only their own connections: no
// SIGPIPE (141) ends coracle.
TEST(Vm, GuestPortsTakeNoPrivilegedHostPortAndRudeClientsEndOnlyThemselves) {
  int out = -1;
  pid_t runner = spawn_coracle(
      {"exec", "--vm", "--json", "-P", "--", "sh", "-c",
       "mkdir -p /www && echo small > /www/index.html && head -c 4000000 /dev/zero > /www/big "
       "&& httpd -f -p 81 -h /www"},
      &out);
  // The port.open event, whole (a TCG boot takes seconds).
  std::string events = read_until(out, "\"host_port\"", 120000);
  size_t open_at = events.find("\"port.open\"");
  ASSERT_NE(open_at, std::string::npos) << events;
  while (events.find('\n', open_at) == std::string::npos) {
    std::string more = read_until(out, "\n");
    ASSERT_FALSE(more.empty()) << events;
    events += more;
  }
  auto line_start = events.rfind('\n', open_at);
  auto j = nlohmann::json::parse(
      events.substr(line_start + 1, events.find('\n', line_start + 1) - line_start - 1));
  EXPECT_EQ(j["port"], 81);
  int host_port = j["host_port"];
  EXPECT_GE(host_port, 1024) << "a guest's port 81 took the host's port " << host_port;
  std::string url = "http://127.0.0.1:" + std::to_string(host_port);
  // Each asks for 4 MB and is gone before the reply: closed at once (the
  // relay's next writes meet a closed peer), or after a moment with the
  // reply unread (a reset).
  for (const char* wait : {"0", "0", "0.2", "0.5"})
    run_sh("python3 -c \"import socket, time; s = socket.create_connection(('127.0.0.1', " +
           std::to_string(host_port) +
           ")); s.sendall(b'GET /big HTTP/1.0\\r\\n\\r\\n'); time.sleep(" + wait +
           "); s.close()\"; sleep 1");
  run_sh("timeout 60 wget -q -O - " + url + "/big | head -c 1 >/dev/null; true");
  EXPECT_EQ(run_sh("timeout 60 wget -q -O - " + url + "/index.html"), "small\n");
  EXPECT_EQ(kill(runner, 0), 0) << "coracle died of a client's reset";
  kill(runner, SIGTERM);
  std::string rest;
  read_to_end(out, rest);
  close(out);
  int status = wait_coracle(runner);
  EXPECT_NE(status, 128 + SIGPIPE) << rest;
  EXPECT_NE(rest.find("\"port.close\""), std::string::npos) << rest;
}

// `coracle run --vm` of examples/hello: the chain builds it, builtin:exec
// runs it in a micro-VM, its page is fetched from the host.
TEST(Vm, RunVmServesTheHelloExampleFromAGuest) {
  TempDir work;
  run_sh(std::string("cp -r ") + CORACLE_FIXTURES + "/../../examples/hello " + work.path() + "/");
  int out = -1;
  pid_t runner = spawn_coracle({"run", "--vm", "--json", work.path() + "/hello"}, &out);
  std::string events;
  char buf[1024];
  size_t at;
  while ((at = events.find("\"port.open\"")) == std::string::npos) {
    ssize_t n = read(out, buf, sizeof buf);
    ASSERT_GT(n, 0) << events;
    events.append(buf, n);
  }
  size_t line_start = events.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  auto j = nlohmann::json::parse(events.substr(line_start, events.find('\n', at) - line_start));
  uint16_t host_port = j["host_port"];
  std::string page =
      run_sh("timeout 20 wget -q -O - http://127.0.0.1:" + std::to_string(host_port) + "/");
  EXPECT_NE(page.find("hello from coracle"), std::string::npos) << page;
  read_to_end(out, events);
  close(out);
  int status = 0;
  waitpid(runner, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << events;
  EXPECT_EQ(events.find("\"warning\""), std::string::npos) << events;
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// --net pasta in a micro-VM: passt gives the guest outbound access (a test
// host in a network namespace of its own, behind a veth pair), and the
// host's loopback stays out of reach, the gateway included.
TEST(Vm, AGuestReachesOutThroughPasstButNotTheHostsLoopback) {
  TestHost outside;
  outside.serve("file", "hello from outside\n");
  LoopbackListener host_only;  // a service on the host's 127.0.0.1
  std::string passts_before = run_sh("pgrep -c -f \"^passt \" || true");
  std::string port = std::to_string(host_only.port());
  auto r = coracle({"exec", "--vm", "--net", "pasta", "--", "sh", "-c",
                    outside.fetch_command("file") +
                        "; for a in 127.0.0.1 10.0.2.2; do "
                        "timeout 5 nc $a " +
                        port + " </dev/null && echo reached-$a; done; true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hello from outside"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("reached-"), std::string::npos) << r.out;
  // passt went with the VM.
  EXPECT_EQ(run_sh("pgrep -c -f \"^passt \" || true"), passts_before);
}

}  // namespace
}  // namespace coracle::test

namespace coracle::test {
namespace {

// /in and /out through virtio-fs, bounded on the host's side: a read-only
// share stays read-only even when guest root remounts it, and nothing the
// guest does plants a setuid file or a device node on the host.
TEST(Vm, InIsReadOnlyOutIsWrittenAndTheHostStaysSafe) {
  if (geteuid() != 0) GTEST_SKIP() << "virtiofsd needs root";
  TempDir in, out;
  write_file_atomic(in.path() + "/greeting", "hi\n");
  auto r =
      coracle({"exec", "--vm", "--in", in.path(), "--out", out.path(), "--", "sh", "-c",
               "cat /in/greeting; mount -o remount,rw /in; echo x > /in/planted || echo in-ro; "
               "echo result > /out/r; mkdir /out/d; chmod 4755 /out/r || echo no-setuid; "
               "mknod /out/node c 1 3 || echo no-node; true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\nin-ro\nno-setuid\nno-node\n") << r.err;
  EXPECT_FALSE(path_exists(in.path() + "/planted"));
  EXPECT_EQ(read_file(out.path() + "/r"), "result\n");
  EXPECT_TRUE(is_directory(out.path() + "/d"));
  struct stat st;
  ASSERT_EQ(stat((out.path() + "/r").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_FALSE(path_exists(out.path() + "/node"));
}

}  // namespace
}  // namespace coracle::test

// coracle as an OCI runtime, through its runc command line (the binary run
// as coracle-runc): what exists so far: spec, features, create and start,
// run (foreground or detached), state, list, kill, delete, runc's global
// flags and its error log for containerd.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"
#include "oci_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

// Deletes a container (killed if it runs) and checks nothing of it is
// left: no state, no cgroup.
void delete_and_expect_gone(const std::string& runtime, const std::string& id) {
  run_sh(runtime + " delete --force " + id);
  EXPECT_EQ(run_sh(runtime + " list -q"), "");
  EXPECT_EQ(run_sh("find /sys/fs/cgroup -maxdepth 4 -path '*/coracle/oci-" + id +
                   "' | grep -c . || true"),
            "0\n");
}

TEST(OciRuntime, RuncsCommandLineForTheDocumentsAndTheState) {
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  mkdir_p(bundle);
  run_sh(runc() + " spec --bundle " + bundle);
  json spec = json::parse(read_file(bundle + "/config.json"));
  EXPECT_EQ(spec["process"]["args"], json({"sh"}));
  EXPECT_EQ(spec["root"]["path"], "rootfs");
  // runc's rule: an existing config.json is not overwritten.
  EXPECT_NE(run_sh(runc() + " spec --bundle " + bundle + " 2>&1; echo status=$?")
                .find("exists. Remove it first\nstatus=1"),
            std::string::npos);
  json features = json::parse(run_sh(runc() + " features"));
  EXPECT_EQ(features["ociVersionMin"], "1.0.0");
  EXPECT_NE(features["linux"]["namespaces"].dump().find("user"), std::string::npos);
  EXPECT_EQ(run_sh(runc() + " --root " + root + " list --format json"), "[]\n");
  // A failed call: exit 1, the message on stderr and, as containerd reads
  // it, in --log as JSON.
  std::string log = work.path() + "/log.json";
  std::string out = run_sh(runc() + " --root " + root + " --log " + log +
                           " --log-format json state nope 2>&1; echo status=$?");
  EXPECT_NE(out.find("container nope does not exist\nstatus=1"), std::string::npos) << out;
  json line = json::parse(read_file(log));
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["msg"], "container nope does not exist");
  // delete: of a container that is not there, an error, unless --force
  // (runc exits 0: engines' cleanup calls it after the container went);
  // a directory a dead create left without its state is removed.
  out = run_sh(runc() + " --root " + root + " delete nope 2>&1; echo status=$?");
  EXPECT_NE(out.find("container nope does not exist\nstatus=1"), std::string::npos) << out;
  EXPECT_EQ(run_sh(runc() + " --root " + root + " delete --force nope 2>&1; echo status=$?"),
            "status=0\n");
  mkdir_p(root + "/halfmade");
  EXPECT_EQ(run_sh(runc() + " --root " + root + " delete -f halfmade 2>&1; echo status=$?"),
            "status=0\n");
  EXPECT_FALSE(path_exists(root + "/halfmade"));
  // runc's other commands parse and say they are not here yet; systemd
  // cgroups are refused with the setting to change.
  out = run_sh(runc() + " --root " + root + " update c1 2>&1; echo $?");
  EXPECT_NE(out.find("'update' is not in coracle-runc yet"), std::string::npos) << out;
  out = run_sh(runc() + " --systemd-cgroup --root " + root + " list 2>&1; echo $?");
  EXPECT_NE(out.find("cgroup_manager = \"cgroupfs\""), std::string::npos) << out;
  // Called as coracle, the same binary is coracle's own command line.
  EXPECT_EQ(coracle({"--version"}).exit_code, 0);
}

TEST(OciRuntime, RunABundleInTheForeground) {
  // A bundle as an engine lays it out: a rootfs (the host's static
  // busybox) and a config.json from `spec`, changed as podman would.
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh touch hostname id");
  config["process"]["args"] = {"sh", "-c", "echo hi from $(hostname); id -G; touch /made; exit 3"};
  config["process"]["user"]["additionalGids"] = {10, 20};
  config["root"]["readonly"] = false;
  config["hostname"] = "oci-box";
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string out = run_sh("cd " + bundle + " && " + runc() + " --root " + root +
                           " run --pid-file " + work.path() + "/pid c1; echo status=$?");
  EXPECT_EQ(out, "hi from oci-box\n0 10 20\nstatus=3\n");
  // It wrote into the bundle's rootfs, as host root's own file.
  struct stat st;
  ASSERT_EQ(stat((bundle + "/rootfs/made").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_GT(std::stoi(read_file(work.path() + "/pid")), 1);
  // Gone when it ends, unless kept; a kept one is stopped, and deleted.
  EXPECT_EQ(run_sh(runc() + " --root " + root + " list -q"), "");
  run_sh(runc() + " --root " + root + " run --keep -b " + bundle + " c2 || true");
  EXPECT_EQ(json::parse(run_sh(runc() + " --root " + root + " state c2"))["status"], "stopped");
  run_sh(runc() + " --root " + root + " delete c2");
  EXPECT_EQ(run_sh(runc() + " --root " + root + " list -q"), "");
  // --preserve-fds: the caller's fd 3 on to the process (socket
  // activation); without it, nothing past stderr is passed.
  write_file_atomic(work.path() + "/passed", "through fd 3\n");
  config["process"]["args"] = {"sh", "-c", "cat <&3 2>&1 || echo no-fd-3"};
  write_file_atomic(bundle + "/config.json", config.dump());
  EXPECT_EQ(run_sh(runc() + " --root " + root + " run --preserve-fds 1 -b " + bundle + " f1 3<" +
                   work.path() + "/passed"),
            "through fd 3\n");
  EXPECT_NE(
      run_sh(runc() + " --root " + root + " run -b " + bundle + " f2 3<" + work.path() + "/passed")
          .find("no-fd-3"),
      std::string::npos);
  // Namespaced sysctls are set in the container's own namespaces (podman
  // sets net.ipv4.ping_group_range); one that would change the host is
  // refused naming the field, and nothing is left behind.
  config["linux"]["sysctl"] = {{"net.ipv4.ping_group_range", "0 0"}};
  config["process"]["args"] = {"sh", "-c", "cat /proc/sys/net/ipv4/ping_group_range"};
  write_file_atomic(bundle + "/config.json", config.dump());
  EXPECT_EQ(run_sh(runc() + " --root " + root + " run -b " + bundle + " c4"), "0\t0\n");
  EXPECT_NE(read_file("/proc/sys/net/ipv4/ping_group_range"), "0\t0\n");  // the host's stays
  config["linux"]["sysctl"] = {{"kernel.panic", "1"}};
  write_file_atomic(bundle + "/config.json", config.dump());
  out = run_sh(runc() + " --root " + root + " run -b " + bundle + " c3 2>&1; echo status=$?");
  EXPECT_NE(out.find("config.json: linux.sysctl: sysctl kernel.panic is not namespaced"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("status=1"), std::string::npos);
  EXPECT_EQ(run_sh(runc() + " --root " + root + " list -q"), "");
}

TEST(OciRuntime, CreateWaitsForStartAndOutlivesTheCall) {
  // runc's split, as podman and containerd drive it: create returns with
  // the container made and waiting; start lets its process run.
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh sleep touch");
  config["process"]["args"] = {"sh", "-c", "touch /started; exec sleep 60"};
  config["root"]["readonly"] = false;
  config["linux"]["resources"]["pids"] = {{"limit", 50}};
  // The runtime's own hooks, each given the state on stdin.
  std::string hooks = work.path() + "/hooks";
  mkdir_p(hooks);
  for (const char* kind : {"createRuntime", "poststart", "poststop"})
    config["hooks"][kind] = {{{"path", "/bin/sh"},
                              {"args", {"sh", "-c", "cat > " + hooks + "/" + kind}},
                              {"timeout", 10}}};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  // The container's stdio are create's: files here (as conmon's pipes),
  // or run_sh would wait for the end of a container that waits for start.
  std::string io = " </dev/null >" + work.path() + "/out 2>&1";
  run_sh(r + " create --bundle " + bundle + " --pid-file " + work.path() + "/pid web" + io);
  json state = json::parse(run_sh(r + " state web"));
  EXPECT_EQ(state["status"], "created");
  EXPECT_EQ(state["pid"], std::stoi(read_file(work.path() + "/pid")));
  json seen = json::parse(read_file(hooks + "/createRuntime"));
  EXPECT_EQ(seen["id"], "web");
  EXPECT_EQ(seen["status"], "created");
  EXPECT_EQ(seen["pid"], state["pid"]);
  EXPECT_FALSE(path_exists(hooks + "/poststart"));
  usleep(200000);
  EXPECT_FALSE(path_exists(bundle + "/rootfs/started"));  // not before start
  // Its cgroup is its own, named after it (the config asked for a limit).
  EXPECT_FALSE(
      run_sh("find /sys/fs/cgroup -maxdepth 4 -path '*/coracle/oci-web' | head -1").empty());
  run_sh(r + " start web");
  EXPECT_EQ(json::parse(run_sh(r + " state web"))["status"], "running");
  EXPECT_EQ(json::parse(read_file(hooks + "/poststart"))["status"], "running");
  for (int i = 0; i < 100 && !path_exists(bundle + "/rootfs/started"); ++i) usleep(20000);
  EXPECT_TRUE(path_exists(bundle + "/rootfs/started"));
  // A second start, and a delete of a running container, are refused.
  EXPECT_NE(run_sh(r + " start web 2>&1; echo status=$?").find("status=1"), std::string::npos);
  EXPECT_NE(run_sh(r + " delete web 2>&1; echo status=$?").find("that is not stopped: running"),
            std::string::npos);
  run_sh(r + " kill web KILL");
  for (int i = 0; i < 100 && json::parse(run_sh(r + " state web"))["status"] != "stopped"; ++i)
    usleep(20000);
  EXPECT_EQ(json::parse(run_sh(r + " state web"))["status"], "stopped");
  run_sh(r + " delete web");
  EXPECT_EQ(json::parse(read_file(hooks + "/poststop"))["status"], "stopped");
  EXPECT_EQ(run_sh(r + " list -q"), "");
  EXPECT_EQ(run_sh("find /sys/fs/cgroup -maxdepth 4 -path '*/coracle/oci-web' | head -1"), "");
  // run --detach is create and start in one; delete --force ends it.
  run_sh(r + " run -d -b " + bundle + " bg" + io);
  EXPECT_EQ(json::parse(run_sh(r + " state bg"))["status"], "running");
  // exec: another process inside it (its pid namespace: init and the
  // container's process are there), the command line's or a process.json,
  // its exit status; --detach returns with its pid.
  run_sh("ln -s busybox " + bundle + "/rootfs/bin/ps && ln -s busybox " + bundle +
         "/rootfs/bin/cat");
  EXPECT_EQ(run_sh(r + " exec -e GREETING=hi bg sh -c 'echo $GREETING; ps -o comm | grep -c "
                       "sleep; exit 4'; echo status=$?"),
            "hi\n1\nstatus=4\n");
  json process = config["process"];
  process["args"] = {"sh", "-c", "ulimit -n > /exec-made"};
  process["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 321}, {"hard", 321}}};
  write_file_atomic(work.path() + "/process.json", process.dump());
  run_sh(r + " exec --process " + work.path() + "/process.json bg");
  EXPECT_EQ(read_file(bundle + "/rootfs/exec-made"), "321\n");  // its own rlimits
  run_sh(r + " exec -d --pid-file " + work.path() + "/exec.pid bg sleep 30" + io);
  pid_t exec_pid = std::stoi(read_file(work.path() + "/exec.pid"));
  EXPECT_EQ(kill(exec_pid, 0), 0);
  EXPECT_NE(run_sh(r + " exec bg no-such-command 2>&1; echo status=$?").find("command not found"),
            std::string::npos);
  run_sh(r + " delete --force bg");
  EXPECT_TRUE(eventually_gone(exec_pid));
  EXPECT_EQ(run_sh(r + " list -q"), "");
}

// The receiving end of a console socket, as conmon listens on one.
class ConsoleSocket {
 public:
  explicit ConsoleSocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
  }
  ~ConsoleSocket() { close(fd_); }
  // The master the runtime sent (and the name beside it).
  int receive(std::string* name) {
    int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    char buf[64] = {};
    iovec iov = {buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    close(conn);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    if (n < 0 || !c || c->cmsg_type != SCM_RIGHTS) return -1;
    int master;
    memcpy(&master, CMSG_DATA(c), sizeof master);
    *name = std::string(buf, static_cast<size_t>(n));
    return master;
  }

 private:
  std::string path_;
  int fd_;
};

TEST(OciRuntime, ATerminalGoesToTheConsoleSocket) {
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh tty cat", true);
  config["process"]["args"] = {"sh", "-c", "tty; read line; echo got:$line"};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  // Without a socket, a detached terminal is refused (runc's rule).
  EXPECT_NE(run_sh(r + " create -b " + bundle + " t0 2>&1 </dev/null; echo $?")
                .find("needs --console-socket"),
            std::string::npos);
  ConsoleSocket console(work.path() + "/console.sock");
  run_sh(r + " create -b " + bundle + " --console-socket " + work.path() +
         "/console.sock t1 </dev/null >/dev/null 2>&1");
  std::string name;
  int master = console.receive(&name);
  ASSERT_GE(master, 0);
  EXPECT_EQ(name, "/dev/ptmx");
  run_sh(r + " start t1");
  // The container's own pty: what it prints and what it reads.
  std::string seen;
  auto read_until_text = [&](const std::string& text) {
    for (int i = 0; i < 200 && seen.find(text) == std::string::npos; ++i) {
      pollfd p = {master, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[256];
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) seen.append(buf, static_cast<size_t>(n));
    }
  };
  read_until_text("/dev/pts/0");
  EXPECT_NE(seen.find("/dev/pts/0"), std::string::npos) << seen;
  (void)!write(master, "hello\n", 6);
  read_until_text("got:hello");
  EXPECT_NE(seen.find("got:hello"), std::string::npos) << seen;
  close(master);
  run_sh(r + " delete --force t1");
}

TEST(OciRuntime, AJoinedNetworkNamespaceAndTheHostsIdsAsRuncHasThem) {
  // podman's shape: the network namespace made beforehand (here with a
  // veth pair in it) and passed by path, no user namespace in the config.
  // A namespace joined from the host's side cannot be owned by a user
  // namespace of the sandbox's own, so root inside is the host's root:
  // capabilities, seccomp and a device cgroup hold it in.
  TempDir work;
  std::string netns = "coracle-oci-" + std::to_string(getpid());
  run_sh("ip netns add " + netns + " && ip -n " + netns +
         " link add oci-dummy type veth peer name oci-peer");
  struct NetnsRemoval {
    std::string name;
    ~NetnsRemoval() { (void)!system(("ip netns delete " + name).c_str()); }
  } removal{netns};
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh ip cat mknod sleep tty");
  for (auto& ns : config["linux"]["namespaces"])
    if (ns["type"] == "network") ns["path"] = "/run/netns/" + netns;
  for (const char* set : {"bounding", "effective", "permitted"})
    config["process"]["capabilities"][set].push_back("CAP_MKNOD");
  config["process"]["args"] = {"sh", "-c",
                               "cat /proc/self/uid_map; ip -o link show oci-dummy | cut -d' ' -f2; "
                               "mknod /dev/disk0 b 254 0 2>/dev/null && echo made-a-disk; "
                               "mknod /dev/tun0 c 10 200 && echo made-a-tun; exit 4"};
  // A device cgroup rule of the config's: allowed on top of the defaults.
  config["linux"]["resources"]["devices"].push_back(
      {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 200}, {"access", "rwm"}});
  config["root"]["readonly"] = false;
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  std::string out = run_sh(r + " run -b " + bundle + " j1; echo status=$?");
  EXPECT_NE(out.find("0          0 4294967295"), std::string::npos) << out;
  EXPECT_NE(out.find("oci-dummy@"), std::string::npos) << out;
  EXPECT_EQ(out.find("made-a-disk"), std::string::npos) << out;  // the device cgroup said no
  EXPECT_NE(out.find("made-a-tun"), std::string::npos) << out;
  EXPECT_NE(out.find("status=4"), std::string::npos) << out;

  // exec into such a container (no user namespace to join), with a
  // terminal through the console socket as podman exec -it asks.
  config["process"]["args"] = {"sleep", "60"};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string io = " </dev/null >/dev/null 2>&1";
  run_sh(r + " run -d -b " + bundle + " j2" + io);
  EXPECT_NE(run_sh(r + " exec j2 ip -o link show oci-dummy").find("oci-dummy@"), std::string::npos);
  ConsoleSocket console(work.path() + "/console.sock");
  run_sh(r + " exec -d --tty --console-socket " + work.path() +
         "/console.sock j2 sh -c 'tty; sleep 5'" + io);
  std::string name;
  int master = console.receive(&name);
  ASSERT_GE(master, 0);
  std::string seen;
  for (int i = 0; i < 100 && seen.find("/dev/pts/") == std::string::npos; ++i) {
    pollfd p = {master, POLLIN, 0};
    char buf[128];
    ssize_t n = poll(&p, 1, 50) > 0 ? read(master, buf, sizeof buf) : 0;
    if (n > 0) seen.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(seen.find("/dev/pts/"), std::string::npos) << seen;
  close(master);
  EXPECT_NE(run_sh(r + " exec --console-socket " + work.path() +
                   "/console.sock j2 true 2>&1; "
                   "echo status=$?")
                .find("no terminal was asked for"),
            std::string::npos);
  delete_and_expect_gone(r, "j2");
}

TEST(OciRuntime, PauseResumeAndPs) {
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh sleep");
  config["root"]["readonly"] = false;
  // A tick a line every 20 ms: it stops while paused.
  config["process"]["args"] = {"sh", "-c", "while true; do echo >> /ticks; sleep 0.02; done"};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  run_sh(r + " run -d -b " + bundle + " p1 </dev/null >/dev/null 2>&1");
  auto ticks = [&] { return read_file(bundle + "/rootfs/ticks").size(); };
  auto status = [&] { return json::parse(run_sh(r + " state p1"))["status"]; };
  usleep(200000);
  json pids = json::parse(run_sh(r + " ps -f json p1"));
  ASSERT_GE(pids.size(), 2u) << pids;  // init and the shell at least
  EXPECT_NE(std::find(pids.begin(), pids.end(), json::parse(run_sh(r + " state p1"))["pid"]),
            pids.end());
  EXPECT_NE(run_sh(r + " ps p1").find("while true"), std::string::npos);
  run_sh(r + " pause p1");
  EXPECT_EQ(status(), "paused");
  size_t frozen = ticks();
  usleep(300000);
  EXPECT_EQ(ticks(), frozen);
  EXPECT_NE(run_sh(r + " pause p1 2>&1; echo status=$?").find("is not running: paused"),
            std::string::npos);
  run_sh(r + " resume p1");
  EXPECT_EQ(status(), "running");
  usleep(300000);
  EXPECT_GT(ticks(), frozen);
  // A paused container is deleted all the same (thawed to die).
  run_sh(r + " pause p1");
  delete_and_expect_gone(r, "p1");
}

TEST(OciRuntime, HooksInTheContainersNamespaces) {
  // createContainer: the binary found on the host (a static busybox), run
  // in the container's namespaces once its root is set up; startContainer:
  // found inside, run before the command. Both read the state on stdin.
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh cat hostname");
  config["root"]["readonly"] = false;
  config["hostname"] = "hooked";
  config["process"]["args"] = {"sh", "-c", "cat /start-hook"};
  config["hooks"]["createContainer"] = {
      {{"path", "/bin/busybox"},
       {"args", {"busybox", "sh", "-c", "cat > /created-state; busybox hostname > /created-in"}}}};
  config["hooks"]["startContainer"] = {
      {{"path", "/bin/sh"}, {"args", {"sh", "-c", "echo started-by-hook > /start-hook"}}}};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  run_sh(r + " create -b " + bundle + " h1 </dev/null >/dev/null 2>&1");
  // Run inside: it wrote into the container's root, and saw its hostname.
  EXPECT_EQ(read_file(bundle + "/rootfs/created-in"), "hooked\n");
  json state = json::parse(read_file(bundle + "/rootfs/created-state"));
  EXPECT_EQ(state["id"], "h1");
  EXPECT_EQ(state["pid"], json::parse(run_sh(r + " state h1"))["pid"]);
  EXPECT_FALSE(path_exists(bundle + "/rootfs/start-hook"));
  run_sh(r + " start h1");
  for (int i = 0; i < 100 && !path_exists(bundle + "/rootfs/start-hook"); ++i) usleep(20000);
  EXPECT_EQ(read_file(bundle + "/rootfs/start-hook"), "started-by-hook\n");
  run_sh(r + " delete --force h1");
  // A failing createContainer hook fails create, and leaves nothing.
  config["hooks"]["createContainer"][0]["args"] = {"busybox", "sh", "-c", "exit 3"};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string out = run_sh(r + " create -b " + bundle + " h2 </dev/null 2>&1; echo status=$?");
  EXPECT_NE(out.find("createContainer hook /bin/busybox failed"), std::string::npos) << out;
  EXPECT_NE(out.find("status=1"), std::string::npos) << out;
  EXPECT_EQ(run_sh(r + " list -q"), "");
}

TEST(OciRuntime, ExecIntoAContainerWithAWritableBindKeepsTheHostWriteGuard) {
  // As the container's own command: nothing an exec'd process writes
  // through a writable bind may raise privileges on the host.
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  std::string shared = work.path() + "/shared";
  mkdir_p(shared);
  json config = make_bundle(bundle, "sh sleep touch chmod cat grep");
  config["mounts"].push_back({{"destination", "/data"},
                              {"type", "bind"},
                              {"source", shared},
                              {"options", {"rbind", "rw", "rshared"}}});
  config["process"]["args"] = {"sleep", "60"};
  config["process"]["capabilities"]["bounding"].push_back("CAP_SETFCAP");
  config["process"]["capabilities"]["effective"].push_back("CAP_SETFCAP");
  config["process"]["capabilities"]["permitted"].push_back("CAP_SETFCAP");
  config["process"]["oomScoreAdj"] = 500;
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  run_sh(r + " run -d -b " + bundle + " w1 </dev/null >/dev/null 2>&1");
  std::string out = run_sh(r +
                           " exec w1 sh -c 'touch /data/f; chmod u+s /data/f; echo chmod=$?; "
                           "grep CapBnd /proc/self/status; cat /proc/self/oom_score_adj'");
  EXPECT_NE(out.find("chmod=1"), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(stat((shared + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & S_ISUID, 0u);
  // No CAP_SETFCAP (bit 31) in the bounding set; the process's oomScoreAdj.
  auto bnd = out.find("CapBnd:");
  ASSERT_NE(bnd, std::string::npos) << out;
  uint64_t caps = std::stoull(out.substr(bnd + 7), nullptr, 16);
  EXPECT_EQ(caps & (1ULL << 31), 0u) << out;
  EXPECT_NE(out.find("\n500\n"), std::string::npos) << out;
  // The bind's propagation as the config asks (rshared: a peer group).
  EXPECT_NE(run_sh(r + " exec w1 grep ' /data ' /proc/self/mountinfo").find(" shared:"),
            std::string::npos);
  delete_and_expect_gone(r, "w1");
}

TEST(OciRuntime, ACgroupPathNeverNamesAHierarchysRoot) {
  // destroy_cgroup kills what a cgroup holds: a cgroupsPath or a damaged
  // state file that names a hierarchy's root must be refused, not obeyed.
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh sleep");
  config["process"]["args"] = {"sleep", "60"};
  config["linux"]["cgroupsPath"] = "/coracle-test/..";
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  std::string out = run_sh(r + " create -b " + bundle + " c1 </dev/null 2>&1; echo status=$?");
  EXPECT_NE(out.find("config.json: linux.cgroupsPath: cgroup path '/coracle-test/..' must name "
                     "a cgroup below the root"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_sh(r + " list -q"), "");
  // A state file edited to name the root: delete refuses and kills nothing.
  config["linux"].erase("cgroupsPath");
  write_file_atomic(bundle + "/config.json", config.dump());
  run_sh(r + " run -d -b " + bundle + " c2 </dev/null >/dev/null 2>&1");
  std::string state_file = root + "/c2/state.json";
  json state = json::parse(read_file(state_file));
  state["cgroup"] = "/";
  write_file_atomic(state_file, state.dump());
  out = run_sh(r + " delete --force c2 2>&1; echo status=$?");
  EXPECT_NE(out.find("cgroup path '/' must name a cgroup below the root"), std::string::npos)
      << out;
  EXPECT_EQ(kill(getpid(), 0), 0);
  state["cgroup"] = "/coracle/oci-c2";
  write_file_atomic(state_file, state.dump());
  delete_and_expect_gone(r, "c2");
}

}  // namespace
}  // namespace coracle::test

// coracle-runc under the engines that call OCI runtimes: podman (through
// conmon) and containerd (through its runc shim), each started here with a
// private root, state and configuration, on an image coracle built. Every
// test ends with nothing of its containers left: no process, no mount, no
// cgroup, no network namespace.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/fs.h"
#include "harness.h"
#include "port_app.h"

namespace coracle::test {
namespace {

std::string runc() {
  return std::string(CORACLE_BIN) + "-runc";
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// What a container can leave on the host: its cgroup (podman's
// /libpod_parent/libpod-ID, containerd's /default/ID, coracle's own), an
// init, its rootfs mounted under the fixture's directory.
std::string leftovers(const std::string& fixture_dir) {
  return run_sh(
      "{ find /sys/fs/cgroup -maxdepth 5 -type d \\( -name 'libpod-*' -o -path '*/coracle/oci-*' "
      "-o -path '*/default/t[0-9]' \\) 2>/dev/null; "
      "grep -l '^coracle-init' /proc/[0-9]*/cmdline 2>/dev/null; "
      "grep -F " +
      quoted(fixture_dir + "/") + " /proc/self/mountinfo | grep -E '/merged |/rootfs '; } || true");
}

// The image every engine runs: coracle's embedded default (busybox), built
// and written as an OCI archive once for the whole test program.
class EngineImage {
 public:
  static const std::string& archive() {
    static EngineImage image;
    return image.archive_;
  }

 private:
  EngineImage() {
    mkdir_p(dir_.path() + "/ctx");
    write_file_atomic(dir_.path() + "/ctx/Dockerfile", "FROM default\n");
    archive_ = dir_.path() + "/image.tar";
    RunResult r = coracle({"build", "-q", "-t", "engine-test", "-o", "oci-archive:" + archive_,
                           dir_.path() + "/ctx"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  TempDir dir_;
  std::string archive_;
};

// podman with everything of its own under one directory: storage,
// run state, containers.conf (cgroupfs, no journal, coracle-runc as the
// runtime, ulimits within what this host's root may set), CNI configs.
class Podman {
 public:
  Podman() {
    struct rlimit files {
    }, procs{};
    getrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NPROC, &procs);
    auto limit = [](rlim_t v) {
      return v == RLIM_INFINITY ? std::string("-1") : std::to_string(v);
    };
    std::string conf = dir_.path() + "/containers.conf";
    write_file_atomic(conf,
                      "[containers]\n"
                      "default_ulimits = [\"nofile=" +
                          limit(files.rlim_max) + ":" + limit(files.rlim_max) +
                          "\", \"nproc=" + limit(std::min<rlim_t>(procs.rlim_max, 32768)) + ":" +
                          limit(std::min<rlim_t>(procs.rlim_max, 32768)) +
                          "\"]\n"
                          "[engine]\n"
                          "cgroup_manager = \"cgroupfs\"\n"
                          "events_logger = \"none\"\n"
                          "runtime = \"coracle\"\n"
                          "[engine.runtimes]\n"
                          "coracle = [\"" +
                          runc() +
                          "\"]\n"
                          "[network]\n"
                          "network_config_dir = \"" +
                          dir_.path() + "/net\"\n");
    mkdir_p(dir_.path() + "/net");
    cmd_ = "CONTAINERS_CONF=" + conf + " podman --root " + dir_.path() + "/root --runroot " +
           dir_.path() + "/run --storage-driver overlay";
    run_sh(cmd_ + " pull -q oci-archive:" + EngineImage::archive() + " >/dev/null 2>&1");
    image_ = run_sh(cmd_ + " images -q | head -1");
    image_.erase(image_.find_last_not_of("\n") + 1);
  }
  ~Podman() {
    (void)!system((cmd_ + " rm -a -f -t 0 >/dev/null 2>&1").c_str());
    // c/storage keeps its overlay home mounted: let it go.
    (void)!system(("umount -R " + dir_.path() + "/root/overlay 2>/dev/null").c_str());
  }
  const std::string& cmd() const { return cmd_; }
  const std::string& image() const { return image_; }
  const std::string& dir() const { return dir_.path(); }
  // `podman ARGS; echo status=$?`, all output.
  std::string run(const std::string& args) const {
    return run_sh(cmd_ + " " + args + " 2>&1; echo status=$?");
  }

 private:
  TempDir dir_;
  std::string cmd_, image_;
};

TEST(Podman, RunsContainersWithCoracleAsItsRuntime) {
  Podman podman;
  ASSERT_FALSE(podman.image().empty());
  // The container's PID 1 is coracle's init, and the exit status is the
  // command's.
  std::string out = podman.run("run --rm " + podman.image() +
                               " sh -c 'tr \"\\0\" \" \" </proc/1/cmdline; echo; exit 3'");
  EXPECT_NE(out.find("coracle-init"), std::string::npos) << out;
  EXPECT_NE(out.find("status=3"), std::string::npos) << out;
  out = podman.run("run --rm --network none " + podman.image() + " true");
  EXPECT_EQ(out, "status=0\n");
  out = podman.run("run --rm " + podman.image() + " no-such-command");
  EXPECT_NE(out.find("status=127"), std::string::npos) << out;
  // -it: the terminal comes through conmon's console socket (script gives
  // podman a terminal of its own). The command lingers a moment: a pty
  // whose last writer has gone may answer its reader EIO before the bytes
  // it still holds (1 of 6 full runs lost `tty`'s line so).
  out = run_sh(
      "script -qec " +
      quoted(podman.cmd() + " run -it --rm " + podman.image() + " sh -c 'tty; sleep 0.3; exit 5'") +
      " /dev/null </dev/null; echo status=$?");
  EXPECT_NE(out.find("/dev/pts/0"), std::string::npos) << out;
  EXPECT_NE(out.find("status=5"), std::string::npos) << out;
  EXPECT_EQ(leftovers(podman.dir()), "");
}

TEST(Podman, ExecStopAndAPublishedPort) {
  Podman podman;
  ASSERT_FALSE(podman.image().empty());
  int port = free_host_port();
  std::string out = podman.run(
      "run -d --name web -p 127.0.0.1:" + std::to_string(port) + ":8080 " + podman.image() +
      " sh -c 'mkdir -p /www && echo served-by-coracle > /www/index.html && exec httpd -f -p "
      "8080 -h /www'");
  ASSERT_NE(out.find("status=0"), std::string::npos) << out;
  // The port podman published reaches the server inside.
  std::string page;
  for (int i = 0; i < 50 && page.find("served-by-coracle") == std::string::npos; ++i) {
    page = run_sh("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
                  " && printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3' 2>/dev/null || true");
    if (page.find("served-by-coracle") == std::string::npos) usleep(100000);
  }
  EXPECT_NE(page.find("served-by-coracle"), std::string::npos) << page;
  // podman exec: another process in it, its status, and with a terminal.
  out = podman.run("exec web sh -c 'pidof httpd >/dev/null && echo beside-httpd; exit 7'");
  EXPECT_NE(out.find("beside-httpd"), std::string::npos) << out;
  EXPECT_NE(out.find("status=7"), std::string::npos) << out;
  out = run_sh("script -qec " + quoted(podman.cmd() + " exec -it web sh -c 'tty; exit 6'") +
               " /dev/null </dev/null; echo status=$?");
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("status=6"), std::string::npos) << out;
  // podman stop: SIGTERM ends httpd (143).
  podman.run("stop -t 5 web");
  EXPECT_EQ(podman.run("inspect --format '{{.State.ExitCode}}' web"), "143\nstatus=0\n");
  // One that ignores SIGTERM gets SIGKILL after the timeout (137).
  podman.run("run -d --name stubborn " + podman.image() +
             " sh -c 'trap \"\" TERM; while true; do sleep 1; done'");
  out = podman.run("stop -t 1 stubborn");
  EXPECT_NE(out.find("status=0"), std::string::npos) << out;
  EXPECT_EQ(podman.run("inspect --format '{{.State.ExitCode}}' stubborn"), "137\nstatus=0\n");
  podman.run("rm web stubborn");
  EXPECT_EQ(leftovers(podman.dir()), "");
}

// containerd with its own root, state, socket and no CRI plugin, for the
// whole test program.
class Containerd {
 public:
  Containerd() {
    std::string d = dir_.path();
    socket_ = d + "/containerd.sock";
    write_file_atomic(d + "/config.toml",
                      "version = 2\nroot = \"" + d + "/root\"\nstate = \"" + d +
                          "/state\"\n[grpc]\n  address = \"" + socket_ +
                          "\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable = true\n");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      int log = open((d + "/log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(log, 1);
      dup2(log, 2);
      execlp("containerd", "containerd", "--config", (d + "/config.toml").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && !path_exists(socket_); ++i) usleep(50000);
    run_sh(ctr() + " images import --index-name engine-test:latest " + EngineImage::archive() +
           " >/dev/null");
  }
  ~Containerd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    // Its snapshots stay mounted in its root until unmounted.
    (void)!system(("grep -o ' " + dir_.path() +
                   "/[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount 2>/dev/null")
                      .c_str());
  }
  std::string ctr() const { return "ctr -a " + socket_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

TEST(Containerd, CtrRunsWithTheRuncShimPointedAtCoracle) {
  Containerd containerd;
  std::string out = run_sh(containerd.ctr() + " run --rm --runc-binary " + runc() +
                           " engine-test:latest t1 sh -c "
                           "'tr \"\\0\" \" \" </proc/1/cmdline; echo; echo hi from ctr; exit 9' "
                           "2>&1; echo status=$?");
  EXPECT_NE(out.find("coracle-init"), std::string::npos) << out;
  EXPECT_NE(out.find("hi from ctr"), std::string::npos) << out;
  EXPECT_NE(out.find("status=9"), std::string::npos) << out;
  out = run_sh(containerd.ctr() + " run --rm --runc-binary " + runc() +
               " engine-test:latest t2 true 2>&1; echo status=$?");
  EXPECT_EQ(out, "status=0\n");
  EXPECT_EQ(run_sh(containerd.ctr() + " containers ls -q"), "");
  EXPECT_EQ(leftovers(containerd.dir()), "");
}

}  // namespace
}  // namespace coracle::test

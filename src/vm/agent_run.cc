#include "vm/agent_run.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "sandbox/caps.h"
#include "sandbox/seccomp.h"
#include "vm/guest_ports.h"
#include "vm/passt.h"

namespace coracle::vm {
namespace {

constexpr const char* kRoot = "/run/root";

std::string errno_text(const std::string& what) {
  return what + ": " + strerror(errno);
}

// virtio_blk probes its devices after the module is loaded: the node can
// be a moment late.
bool wait_for(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (access(path.c_str(), F_OK) == 0) return true;
    usleep(2000);
  }
  return false;
}

// The host's frames during a run: input for the command, its end,
// signals. False for a broken stream (the command is then killed).
bool take_frames(FrameReader& from_host, pid_t child, int& stdin_fd, GuestPorts* ports,
                 int tty_fd) {
  try {
    while (auto f = from_host.next()) {
      if (ports && (f->type == FrameType::Connect || f->type == FrameType::StreamData ||
                    f->type == FrameType::StreamClose)) {
        ports->on_frame(*f);
      } else if (f->type == FrameType::Stdin && stdin_fd >= 0) {
        if (!send_all(stdin_fd, f->payload)) {
          close(stdin_fd);
          stdin_fd = -1;
        }
      } else if (f->type == FrameType::StdinEnd && stdin_fd >= 0) {
        close(stdin_fd);
        stdin_fd = -1;
      } else if (f->type == FrameType::Signal) {
        kill(child, std::atoi(f->payload.c_str()));
      } else if (f->type == FrameType::Resize && tty_fd >= 0) {
        // The pty's new size: its foreground process group gets SIGWINCH.
        struct winsize ws {};
        unsigned rows = 0, cols = 0;
        if (sscanf(f->payload.c_str(), "%u %u", &rows, &cols) == 2 && rows < 65536 &&
            cols < 65536) {
          ws.ws_row = static_cast<unsigned short>(rows);
          ws.ws_col = static_cast<unsigned short>(cols);
          ioctl(tty_fd, TIOCSWINSZ, &ws);
        }
      }
    }
  } catch (const Error&) {
    return false;
  }
  return true;
}

void set_inet(sockaddr* addr, const char* ip) {
  auto* in = reinterpret_cast<sockaddr_in*>(addr);
  in->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &in->sin_addr);
}

// eth0 as passt's guest: its address, up, the default route through the
// gateway (passt answers for it; nothing of the host is behind it).
std::string configure_eth0() {
  if (!wait_for("/sys/class/net/eth0")) return "no eth0 in the guest (virtio-net)";
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  struct ifreq ifr {};
  strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  set_inet(&ifr.ifr_addr, kGuestAddress);
  if (ioctl(sock.get(), SIOCSIFADDR, &ifr) < 0) return errno_text("set eth0's address");
  char mask[16];
  uint32_t bits = kGuestPrefix ? ~0U << (32 - kGuestPrefix) : 0;
  snprintf(mask, sizeof mask, "%u.%u.%u.%u", bits >> 24, (bits >> 16) & 255, (bits >> 8) & 255,
           bits & 255);
  set_inet(&ifr.ifr_netmask, mask);
  if (ioctl(sock.get(), SIOCSIFNETMASK, &ifr) < 0) return errno_text("set eth0's netmask");
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return errno_text("read eth0's flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return errno_text("bring up eth0");
  struct rtentry route {};
  set_inet(&route.rt_dst, "0.0.0.0");
  set_inet(&route.rt_genmask, "0.0.0.0");
  set_inet(&route.rt_gateway, kGuestGateway);
  route.rt_flags = RTF_UP | RTF_GATEWAY;
  if (ioctl(sock.get(), SIOCADDRT, &route) < 0) return errno_text("add the default route");
  return "";
}

}  // namespace

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string prepare_guest_rootfs(const GuestSpec& spec) {
  if (spec.layers == 0 || spec.layers > 26) return "the guest needs 1 to 26 layers";
  if (sethostname(spec.hostname.data(), spec.hostname.size()) < 0) return errno_text("sethostname");
  // Loopback up: an app may talk to itself on 127.0.0.1, as in a sandbox.
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool lo_up = sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 &&
               (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) == 0);
  if (sock >= 0) close(sock);
  if (!lo_up) return errno_text("bring up loopback");
  if (spec.network) {
    if (std::string e = configure_eth0(); !e.empty()) return e;
  }
  mkdir("/run", 0755);
  if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    return errno_text("mount /run");
  std::string lowerdir;
  for (unsigned i = 0; i < spec.layers; ++i) {
    std::string dev = std::string("/dev/vd") + static_cast<char>('a' + i);
    std::string dir = "/run/l" + std::to_string(i);
    mkdir(dir.c_str(), 0755);
    if (!wait_for(dev)) return dev + " did not appear";
    if (mount(dev.c_str(), dir.c_str(), "erofs", MS_RDONLY | MS_NODEV, nullptr) < 0)
      return errno_text("mount " + dev);
    lowerdir = dir + (lowerdir.empty() ? "" : ":") + lowerdir;  // topmost first
  }
  for (const char* d : {"/run/upper", "/run/work", kRoot}) mkdir(d, 0755);
  // userxattr: the layers mark opaque directories with user.overlay.opaque,
  // as the store's layer dirs do.
  std::string options = "lowerdir=" + lowerdir + ",upperdir=/run/upper,workdir=/run/work,userxattr";
  if (mount("overlay", kRoot, "overlay", MS_NODEV, options.c_str()) < 0)
    return errno_text("mount the overlay rootfs");
  struct Fs {
    const char *type, *target, *data;
    unsigned long flags;
  };
  const Fs kFs[] = {
      {"proc", "/proc", nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"sysfs", "/sys", nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY},
      {"devtmpfs", "/dev", nullptr, MS_NOSUID | MS_NOEXEC},
      {"devpts", "/dev/pts", "newinstance,ptmxmode=0666,mode=0620", MS_NOSUID | MS_NOEXEC},
      {"tmpfs", "/dev/shm", "mode=1777", MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"tmpfs", "/tmp", "mode=1777", MS_NOSUID | MS_NODEV}};
  UniqueFd root(open(kRoot, O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (const auto& fs : kFs) {
    int fd = mkdir_p_in_root(root.get(), fs.target);
    if (fd < 0) return std::string("make ") + fs.target + ": " + strerror(-fd);
    std::string at = "/proc/self/fd/" + std::to_string(fd);
    int rc = mount(fs.type, at.c_str(), fs.type, fs.flags, fs.data);
    close(fd);
    if (rc < 0) return errno_text(std::string("mount ") + fs.target);
  }
  // Host directories, through virtio-fs; read-only ones are read-only on
  // the host's side too (shares.h).
  for (const auto& share : spec.shares) {
    int fd = mkdir_p_in_root(root.get(), share.target.c_str());
    if (fd < 0) return "make " + share.target + ": " + strerror(-fd);
    std::string at = "/proc/self/fd/" + std::to_string(fd);
    int rc = mount(share.tag.c_str(), at.c_str(), "virtiofs",
                   MS_NOSUID | MS_NODEV | (share.read_only ? MS_RDONLY : 0), nullptr);
    close(fd);
    if (rc < 0) return errno_text("mount " + share.target + " (virtio-fs)");
  }
  if (spec.cgroup2) {
    int fd = open_in_root(root.get(), "/sys/fs/cgroup", O_PATH | O_DIRECTORY);
    if (fd < 0) return "no /sys/fs/cgroup in the guest";
    std::string at = "/proc/self/fd/" + std::to_string(fd);
    int rc = mount("cgroup2", at.c_str(), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    close(fd);
    if (rc < 0) return errno_text("mount cgroup2");
  }
  if (!spec.agent_at.empty()) {
    int fd = touch_in_root(root.get(), spec.agent_at.c_str());
    if (fd < 0) return "make " + spec.agent_at + ": " + strerror(-fd);
    std::string at = "/proc/self/fd/" + std::to_string(fd);
    int rc = mount("/init", at.c_str(), nullptr, MS_BIND, nullptr);
    close(fd);
    if (rc == 0) {
      // Read-only through a fresh lookup: the fd above is the file under
      // the bind (a remount through it would hit the rootfs's own mount).
      fd = open_in_root(root.get(), spec.agent_at.c_str(), O_PATH);
      at = "/proc/self/fd/" + std::to_string(fd);
      rc = fd < 0 ? -1
                  : mount(nullptr, at.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr);
      if (fd >= 0) close(fd);
    }
    if (rc < 0) return errno_text("bind the agent at " + spec.agent_at);
  }
  // The generated files, written into the overlay (its upper dir is this
  // run's own tmpfs), through the root so a symlink cannot lead out.
  for (const auto& [target, content] : spec.files) {
    int fd = touch_in_root(root.get(), target.c_str());
    if (fd < 0) continue;  // a directory there: the image keeps its own
    close(fd);
    int file = open_in_root(root.get(), target.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW);
    if (file < 0) continue;
    bool ok = send_all(file, content);
    fchmod(file, 0644);
    close(file);
    if (!ok) return "write " + target;
  }
  if (!spec.workdir.empty()) {
    int fd = mkdir_p_in_root(root.get(), spec.workdir.c_str());
    if (fd >= 0) close(fd);
  }
  return "";
}

void run_guest_command(const GuestSpec& spec, int channel, FrameReader& from_host) {
  int out[2], err[2], in[2], exec_err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0 ||
      pipe2(exec_err, O_CLOEXEC) < 0) {
    send_all(channel, encode_frame(FrameType::Failed, R"({"errno":24,"what":"pipes"})"));
    return;
  }
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // Planned before the fork, as the namespace backend does (libcap and
  // libseccomp allocate); applied in the child.
  std::optional<sandbox::CapPlan> caps;
  sandbox::SeccompProgram seccomp;
  try {
    caps.emplace(spec.uid, spec.cap_add, spec.cap_drop);
    if (spec.seccomp == "default")
      seccomp = sandbox::default_seccomp_program(caps->mask());
    else if (spec.seccomp != "unconfined")
      seccomp = sandbox::compile_seccomp(spec.seccomp, caps->mask());
  } catch (const std::exception& e) {
    nlohmann::json j = {{"errno", 0}, {"what", e.what()}};
    send_all(channel, encode_frame(FrameType::Failed, j.dump()));
    return;
  }
  // With a terminal: a pty of the rootfs's own devpts instance, its peer
  // the command's stdio and controlling terminal.
  int tty = -1, tty_peer = -1;
  if (spec.tty) {
    int unlock = 0;
    tty = open((std::string(kRoot) + "/dev/pts/ptmx").c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0 || ioctl(tty, TIOCSPTLCK, &unlock) < 0 ||
        (tty_peer = ioctl(tty, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
      nlohmann::json j = {{"errno", errno}, {"what", "open a pty"}};
      send_all(channel, encode_frame(FrameType::Failed, j.dump()));
      return;
    }
    struct winsize ws {};
    ws.ws_row = spec.rows;
    ws.ws_col = spec.cols;
    if (spec.rows && spec.cols) ioctl(tty, TIOCSWINSZ, &ws);
  }
  pid_t child = fork();
  if (child == 0) {
    if (tty_peer >= 0) {
      setsid();
      ioctl(tty_peer, TIOCSCTTY, 0);
      for (int fd = 0; fd < 3; ++fd) dup2(tty_peer, fd);
    } else {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
    }
    // The rootfs becomes the root of a mount namespace of the command's
    // own, as switch_root does (mounted over "/", then chroot into it): a
    // plain chroot would look like a jail to the kernel, which then refuses
    // new user namespaces (coracle's own sandbox inside the guest).
    const char* what = "enter the rootfs";
    if (unshare(CLONE_NEWNS) == 0 &&
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 && chdir(kRoot) == 0 &&
        mount(".", "/", nullptr, MS_MOVE, nullptr) == 0 && chroot(".") == 0 &&
        (what = "chdir", chdir(spec.workdir.c_str()) == 0) &&
        (what = "drop capabilities", caps->drop_bounding() == 0) &&
        (what = "setgroups", setgroups(0, nullptr) == 0) &&
        (what = "setgid", setresgid(spec.gid, spec.gid, spec.gid) == 0) &&
        (what = "setuid", setresuid(spec.uid, spec.uid, spec.uid) == 0) &&
        (what = "set capabilities", caps->apply() == 0) &&
        (what = "set no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) &&
        (what = "load the seccomp filter", sandbox::load_seccomp(seccomp) == 0)) {
      what = spec.argv[0].c_str();
      // execvpe searches the PATH of this process's own environment.
      setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
      for (const auto& e : spec.env)
        if (e.rfind("PATH=", 0) == 0) setenv("PATH", e.c_str() + 5, 1);
      execvpe(argv[0], argv.data(), envp.data());
    }
    // One write, so the agent reads errno and what together.
    int e = errno;
    char report[512];
    size_t len = std::min(strlen(what), sizeof report - sizeof e);
    memcpy(report, &e, sizeof e);
    memcpy(report + sizeof e, what, len);
    (void)!write(exec_err[1], report, sizeof e + len);
    _exit(127);
  }
  for (int fd : {out[1], err[1], in[0], exec_err[1]}) close(fd);
  char report[512];
  ssize_t got = read(exec_err[0], report, sizeof report);
  close(exec_err[0]);
  if (got >= static_cast<ssize_t>(sizeof(int))) {
    int e;
    memcpy(&e, report, sizeof e);
    nlohmann::json j = {{"errno", e}, {"what", std::string(report + sizeof e, got - sizeof e)}};
    waitpid(child, nullptr, 0);
    send_all(channel, encode_frame(FrameType::Failed, j.dump()));
    return;
  }
  // Relay until both output pipes end; input and signals meanwhile. The
  // command's end is the run's end, as in a sandbox (whose init kills the
  // rest): what it left in the background (holding the pipes) is killed.
  UniqueFd child_fd(static_cast<int>(syscall(SYS_pidfd_open, child, 0)));
  int status = 0;
  bool reaped = false;
  int stdin_fd = in[1];
  if (tty >= 0) {
    // One stream both ways: the pty. Its reads end (EIO) once the command
    // and whatever holds its peer are gone.
    close(tty_peer);
    for (int fd : {out[0], err[0], in[1]}) close(fd);
    out[0] = tty;
    err[0] = -1;
    stdin_fd = dup(tty);
  }
  std::optional<GuestPorts> ports;
  if (spec.watch_ports) ports.emplace(channel);
  GuestPorts* watcher = ports ? &*ports : nullptr;
  int outputs[2] = {out[0], err[0]};
  bool channel_open = true;
  char buf[65536];
  // What came with the Start frame first.
  if (!take_frames(from_host, child, stdin_fd, watcher, tty)) kill(child, SIGKILL);
  while (outputs[0] >= 0 || outputs[1] >= 0) {
    std::vector<pollfd> fds = {{outputs[0], POLLIN, 0},
                               {outputs[1], POLLIN, 0},
                               {channel_open ? channel : -1, POLLIN, 0},
                               {reaped ? -1 : child_fd.get(), POLLIN, 0}};
    if (ports) ports->add_pollfds(fds);
    if (poll(fds.data(), fds.size(), ports ? ports->timeout_ms() : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[3].revents && !reaped) {
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      reaped = true;
      // The agent is the guest's init: -1 is everything but itself. The
      // pipes end once the last holder is gone; what is left in them is
      // still read below.
      kill(-1, SIGKILL);
    }
    if (ports) {
      ports->rescan();
      ports->on_poll(fds, 4);
    }
    for (int i = 0; i < 2; ++i) {
      if (outputs[i] < 0 || !fds[i].revents) continue;
      ssize_t n = read(outputs[i], buf, sizeof buf);
      if (n > 0) {
        send_all(channel, encode_frame(i == 0 ? FrameType::Stdout : FrameType::Stderr,
                                       std::string_view(buf, static_cast<size_t>(n))));
      } else if (n == 0 || errno != EINTR) {
        close(outputs[i]);
        outputs[i] = -1;
      }
    }
    if (fds[2].revents) {
      ssize_t n = read(channel, buf, sizeof buf);
      if (n <= 0) {
        channel_open = false;  // the host is gone: the run ends with the VM
        kill(child, SIGKILL);
        continue;
      }
      from_host.feed(buf, static_cast<size_t>(n));
      if (!take_frames(from_host, child, stdin_fd, watcher, tty)) kill(child, SIGKILL);
    }
  }
  if (ports) ports->rescan(true);  // the ports the command closed as it ended
  if (stdin_fd >= 0) close(stdin_fd);
  while (!reaped && waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  nlohmann::json j = {
      {"exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)},
      {"signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0}};
  send_all(channel, encode_frame(FrameType::Exit, j.dump()));
}

}  // namespace coracle::vm

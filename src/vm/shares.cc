#include "vm/shares.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "sandbox/seccomp.h"

namespace coracle::vm {
namespace {

constexpr const char* kVirtiofsd = "/usr/lib/qemu/virtiofsd";

}  // namespace

VirtioFsShare::VirtioFsShare(const std::string& source, bool read_only,
                             const std::string& socket_path)
    : socket_path_(socket_path) {
  if (geteuid() != 0)
    throw Error("host directories in a micro-VM need root (virtiofsd runs as root) for now");
  if (access(kVirtiofsd, X_OK) != 0)
    throw Error("host directories in a micro-VM need virtiofsd (" + std::string(kVirtiofsd) +
                ", Debian package qemu-system-common)");
  // The listening socket is made here, so qemu can connect as soon as it
  // starts; virtiofsd takes it by fd.
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    throw Error("socket path too long: " + socket_path);
  strcpy(addr.sun_path, socket_path.c_str());
  if (!listener || bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
      listen(listener.get(), 1) < 0)
    throw_errno("cannot make virtiofsd's socket " + socket_path);
  std::vector<std::string> args = {kVirtiofsd, "--fd=" + std::to_string(listener.get()), "-o",
                                   "source=" + source, "-o", "cache=none", "-o",
                                   "sandbox=namespace",
                                   // no device nodes on the host
                                   "-o", "modcaps=-mknod", "-o", "log_level=err"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const sandbox::SeccompProgram& guard = sandbox::host_write_guard_program();
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw_errno("cannot start virtiofsd");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // gone with the runner
    if (getppid() != parent) _exit(127);
    fcntl(listener.get(), F_SETFD, 0);
    int devnull = open("/dev/null", O_RDWR);
    // Its complaints at the end of a run (the guest gone) are not the
    // command's output; a share that fails shows as the guest's mount error.
    for (int fd = 0; fd < 3 && devnull >= 0; ++fd) dup2(devnull, fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // A mount namespace of its own, where the share is a bind that is
    // nosuid and nodev, and read-only when asked: virtiofsd's sandbox
    // pivots into it and so keeps those flags.
    unsigned long ro = read_only ? MS_RDONLY : 0;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0 ||
        mount(source.c_str(), source.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0 ||
        mount(nullptr, source.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | ro,
              nullptr) < 0)
      _exit(126);
    // The host-write guard: no setuid/setgid bit, ever, on the host's files.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sandbox::load_seccomp(guard) < 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

VirtioFsShare::~VirtioFsShare() {
  unlink(socket_path_.c_str());
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace coracle::vm

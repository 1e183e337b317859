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
#include "vm/helper_process.h"

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
  const sandbox::SeccompProgram& guard = sandbox::host_write_guard_program();
  HelperSpec helper;
  helper.argv = std::move(args);
  helper.inherit = {listener.get()};
  // Its complaints at the end of a run (the guest gone) are not the
  // command's output; a share that fails shows as the guest's mount error.
  helper.quiet_fds = 3;
  helper.package = "qemu-system-common";
  helper.before_exec = [&] {
    // A mount namespace of its own, where the share is a bind that is
    // nosuid and nodev, and read-only when asked: virtiofsd's sandbox
    // pivots into it and so keeps those flags.
    unsigned long ro = read_only ? MS_RDONLY : 0;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0 ||
        mount(source.c_str(), source.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0 ||
        mount(nullptr, source.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | ro,
              nullptr) < 0)
      return false;
    // The host-write guard: no setuid/setgid bit, ever, on the host's files.
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && sandbox::load_seccomp(guard) == 0;
  };
  pid_ = spawn_helper(helper);
}

VirtioFsShare::~VirtioFsShare() {
  unlink(socket_path_.c_str());
  end_helper(pid_);
}

}  // namespace coracle::vm

#include "vm/passt.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/error.h"
#include "sandbox/pasta.h"

namespace coracle::vm {

Passt::Passt() {
  std::string pasta = sandbox::pasta_path();
  std::string exe = pasta.empty() ? "" : pasta.substr(0, pasta.rfind('/')) + "/passt";
  if (exe.empty() || access(exe.c_str(), X_OK) != 0)
    throw Error(
        "the micro-VM's network needs passt, which is not installed: apt-get install passt");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
  UniqueFd passt_end(pair[0]);
  qemu_end_.reset(pair[1]);
  std::vector<std::string> args = {exe,
                                   "--foreground",
                                   "--quiet",
                                   "--fd",
                                   std::to_string(passt_end.get()),
                                   "--no-map-gw",
                                   "-t",
                                   "none",
                                   "-u",
                                   "none",
                                   "--address",
                                   kGuestAddress,
                                   "--netmask",
                                   std::to_string(kGuestPrefix),
                                   "--gateway",
                                   kGuestGateway,
                                   "--dns-forward",
                                   sandbox::kPastaDnsForward};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw_errno("cannot start passt");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // gone with the runner
    if (getppid() != parent) _exit(127);
    fcntl(passt_end.get(), F_SETFD, 0);
    int devnull = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && devnull >= 0; ++fd) dup2(devnull, fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

Passt::~Passt() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace coracle::vm

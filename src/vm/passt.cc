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
#include "vm/helper_process.h"

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
                                   kGuestGateway};
  if (sandbox::pasta_forwards_dns(sandbox::host_resolv_conf()))
    args.insert(args.end(), {"--dns-forward", sandbox::kPastaDnsForward});
  HelperSpec helper;
  helper.argv = std::move(args);
  helper.inherit = {passt_end.get()};
  helper.quiet_fds = 3;
  helper.package = "passt";
  pid_ = spawn_helper(helper);
}

Passt::~Passt() {
  end_helper(pid_);
}

}  // namespace coracle::vm

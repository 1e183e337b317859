// Another process in a running sandbox (an OCI runtime's `exec`): it joins
// the namespaces of the sandbox's init (the user namespace first, the mount
// namespace last), its cgroup, and takes the ids, capabilities, seccomp
// filter and no_new_privs it is given, as the sandbox's own command did.
// Needs a root runner: setns into another process's namespaces.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace coracle::sandbox {

struct JoinSpec {
  pid_t init_pid = 0;
  std::vector<std::string> argv, env;
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  std::vector<std::string> cap_add, cap_drop;  // as Spec's
  std::optional<CapabilitySets> capability_sets;
  bool no_new_privs = true;
  // The container can write to host directories (writable binds): the
  // process gets the host-write guard under its filter and no CAP_SETFCAP,
  // as the container's own command.
  bool host_writes = false;
  std::optional<int> oom_score_adj;
  std::string seccomp_profile;  // as Spec's
  std::string cgroup_name;      // Limits::cgroup_name to join, if it exists
  std::vector<Rlimit> rlimits;
  bool detach = false;
  // The caller's fds 3 .. 3+N-1 pass to the process; every other fd but
  // 0-2 is closed at its exec.
  unsigned preserved_fds = 0;
  // A connected console socket (connect_console_socket): the process gets
  // a pty of the container's own devpts, its master sent there.
  int console_socket = -1;
};

// Runs the process. Returns its exit status (128+N for signal N; 126/127
// when it could not be executed); with detach, 0 once it has exec'd, its
// host pid in *pid. Throws coracle::Error for what fails before the exec.
int join_sandbox(const JoinSpec& spec, pid_t* pid = nullptr);

}  // namespace coracle::sandbox

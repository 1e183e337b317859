// What a run decides before anything of it exists: ids, capabilities,
// seccomp filters, the mount plan, the device rules and limits, the
// container hooks. runner.cc's first stage, data only (the hooks'
// binaries are opened here, the one exception), and unit-tested without
// root, as the mount plan is. Internal to src/sandbox.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/userns.h"
#include "sandbox/caps.h"
#include "sandbox/container_hooks.h"
#include "sandbox/mount_plan.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"

namespace coracle::sandbox {

// A process's privileges: its capabilities (the sets given, or Docker's
// default for its uid with add and drop) and its seccomp filter (Docker's
// default profile, a profile file, or none for "unconfined"). One choice
// for a run's command and for a process joining a container (join.cc).
// host_writes: the process can write to a host directory (CAP_SETFCAP goes).
struct ProcessPrivileges {
  std::unique_ptr<CapPlan> caps;  // not movable: held here
  SeccompProgram seccomp;         // empty: unconfined
};
ProcessPrivileges plan_privileges(uint32_t uid, const std::optional<CapabilitySets>& sets,
                                  const std::vector<std::string>& cap_add,
                                  const std::vector<std::string>& cap_drop,
                                  const std::string& seccomp_profile, bool host_writes);

struct RunPlan {
  IdMapping ids;              // the user namespace's maps (the host's without one)
  bool given_maps = false;    // Spec::uid_map/gid_map: a root caller's own maps
  std::vector<gid_t> groups;  // the command's supplementary groups
  // The sandbox can write to a host directory (--out, a writable bind):
  // the host-write guard is stacked and CAP_SETFCAP goes.
  bool host_writes = false;
  std::unique_ptr<CapPlan> caps;  // not movable: held here
  SeccompProgram seccomp;         // empty: unconfined
  SeccompProgram notify;          // Spec::notify_syscalls' watch filter, or empty
  MountPlan mounts;
  Limits limits;  // the spec's, with the device cgroup's rules
  std::vector<PreparedHook> create_hooks, start_hooks;
};

// Throws coracle::Error for what cannot run: an id the maps lack, groups
// without setgroups, given maps without root, notify_syscalls without an
// on_start hook, device permissions a plain user cannot have, a start
// FIFO with what a later start cannot do, hooks without their state.
RunPlan prepare_run(const Spec& spec, const Hooks& hooks);

}  // namespace coracle::sandbox

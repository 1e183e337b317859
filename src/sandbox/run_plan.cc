#include "sandbox/run_plan.h"

#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "sandbox/device_cgroup.h"
#include "sandbox/namespaces.h"

namespace coracle::sandbox {
namespace {

// The device cgroup's rules for --device: the defaults and each device
// with its permissions. Only root can have one; a plain user's devices get
// none, and asking for less than rwm is then an error rather than a
// promise not kept.
std::vector<DeviceRule> device_rules(const Spec& spec, bool rootful) {
  if (spec.devices.empty()) return {};
  std::vector<DeviceRule> rules = default_device_rules();
  for (const auto& d : spec.devices) {
    DeviceRule rule = device_rule_for(d.source, d.perms);
    bool all = rule.access.find('r') != std::string::npos &&
               rule.access.find('w') != std::string::npos &&
               rule.access.find('m') != std::string::npos;
    if (!rootful && !all)
      throw Error("--device " + d.source + ":" + d.perms +
                  ": permissions other than rwm need a device cgroup, which needs root");
    rules.push_back(rule);
  }
  return rootful ? rules : std::vector<DeviceRule>{};
}

// The maps, and the ids and groups checked against them.
void plan_ids(const Spec& spec, RunPlan& plan) {
  // Without a user namespace of its own, ids inside are the host's.
  plan.ids = spec.user_namespace ? plan_id_mapping() : host_id_mapping();
  plan.given_maps = spec.user_namespace && !spec.uid_map.empty();
  if (plan.given_maps) {
    if (geteuid() != 0 || spec.gid_map.empty())
      throw Error("given uid and gid maps need root (and both maps)");
    plan.ids.uids = spec.uid_map;
    plan.ids.gids = spec.gid_map;
    plan.ids.rootful = true;
    plan.ids.via_helpers = false;
    plan.ids.setgroups_allowed = true;
  }
  if (!maps_id(plan.ids.uids, spec.uid) || !maps_id(plan.ids.gids, spec.gid))
    throw Error("user " + std::to_string(spec.uid) + ":" + std::to_string(spec.gid) +
                " is not mapped in the sandbox; as a plain user, add subordinate ids for yourself "
                "to /etc/subuid and /etc/subgid");
  plan.groups.assign(spec.supplementary_gids.begin(), spec.supplementary_gids.end());
  for (gid_t g : plan.groups)
    if (!maps_id(plan.ids.gids, g))
      throw Error("group " + std::to_string(g) + " is not mapped in the sandbox");
  // Setting groups is denied in a user namespace whose setgroups is off
  // (a rootless runner without a subordinate range).
  if (!plan.groups.empty() && !plan.ids.setgroups_allowed)
    throw Error("supplementary groups need a subordinate gid range for this user (/etc/subgid)");
}

// Capabilities and the seccomp filters.
void plan_run_privileges(const Spec& spec, const Hooks& hooks, RunPlan& plan) {
  // A sandbox that can write to a host directory gets the host-write guard:
  // nothing it writes there may raise anyone's privileges on the host.
  plan.host_writes = spec.out_dir.has_value();
  for (const auto& v : spec.volumes) plan.host_writes |= !v.read_only;
  ProcessPrivileges p = plan_privileges(spec.uid, spec.capability_sets, spec.cap_add, spec.cap_drop,
                                        spec.seccomp_profile, plan.host_writes);
  plan.caps = std::move(p.caps);
  plan.seccomp = std::move(p.seccomp);
  if (!spec.notify_syscalls.empty()) {
    // Nobody to answer would hang the command at its first bind().
    if (!hooks.on_start) throw Error("notify_syscalls needs a Hooks::on_start to answer them");
    plan.notify = notify_program(spec.notify_syscalls);
  }
}

// The limits with the device cgroup's rules.
void plan_limits(const Spec& spec, RunPlan& plan) {
  plan.limits = spec.limits;
  plan.limits.devices = device_rules(spec, plan.ids.rootful);
  // Real root inside could mknod a disk and write to it: only a device
  // cgroup stops that when no user namespace does. Rules the caller adds
  // (an OCI config's) come on top of the defaults.
  if ((!spec.user_namespace || (plan.ids.rootful && !spec.limits.devices.empty())) &&
      plan.limits.devices.empty())
    plan.limits.devices = default_device_rules();
  if (plan.ids.rootful)
    plan.limits.devices.insert(plan.limits.devices.end(), spec.limits.devices.begin(),
                               spec.limits.devices.end());
  if (!spec.device_nodes.empty()) {
    if (spec.user_namespace)
      throw Error("device nodes are made only in a sandbox without a user namespace of its own");
    for (const auto& d : spec.device_nodes)
      if (d.type != 'p')
        plan.limits.devices.push_back(
            {d.type, static_cast<long>(d.major), static_cast<long>(d.minor), "rwm"});
  }
}

}  // namespace

ProcessPrivileges plan_privileges(uint32_t uid, const std::optional<CapabilitySets>& sets,
                                  const std::vector<std::string>& cap_add,
                                  const std::vector<std::string>& cap_drop,
                                  const std::string& seccomp_profile, bool host_writes) {
  ProcessPrivileges p;
  if (sets)
    p.caps = std::make_unique<CapPlan>(*sets, host_writes);
  else
    p.caps = std::make_unique<CapPlan>(uid, cap_add, cap_drop, host_writes);
  if (seccomp_profile.empty())
    p.seccomp = default_seccomp_program(p.caps->mask());
  else if (seccomp_profile != "unconfined")
    p.seccomp = compile_seccomp(read_file(seccomp_profile), p.caps->mask());
  return p;
}

RunPlan prepare_run(const Spec& spec, const Hooks& hooks) {
  if (spec.argv.empty()) throw Error("no command to run");
  check_namespaces(spec);
  RunPlan plan;
  plan_ids(spec, plan);
  plan_run_privileges(spec, hooks, plan);
  plan.mounts = plan_mounts(spec, maps_id(plan.ids.gids, 5));
  if (!spec.start_fifo.empty() && ((spec.tty && spec.console_socket.empty()) || spec.keep_upper ||
                                   spec.net == NetMode::Pasta || !spec.notify_syscalls.empty()))
    throw Error(
        "a sandbox started later cannot relay a tty (a console socket takes it), keep "
        "its upper dir, use pasta or notify syscalls");
  plan_limits(spec, plan);
  plan.create_hooks = prepare_hooks(spec.create_hooks, true);
  plan.start_hooks = prepare_hooks(spec.start_hooks, false);
  if ((!plan.create_hooks.empty() || !plan.start_hooks.empty()) && !spec.hook_state)
    throw Error("container hooks need a hook_state");
  return plan;
}

}  // namespace coracle::sandbox

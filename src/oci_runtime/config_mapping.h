// A bundle's config mapped onto coracle's sandbox, with coracle's isolation
// where the config leaves room: a user namespace of its own wherever the
// rootfs can be idmapped and nothing is joined from the host (the rootfs
// and binds reach it through idmapped mounts, so host root's files look
// like container root's; elsewhere root inside is the host's, as with
// runc, held in by capabilities, seccomp and a device cgroup), the default
// seccomp filter when the config has none, no_new_privs. What the config asks and the sandbox
// cannot do yet is refused with the field named, never dropped in silence; what is stricter than
// asked is listed in Mapped::notes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "oci_runtime/config.h"
#include "sandbox/sandbox.h"

namespace coracle::oci_runtime {

struct Mapped {
  sandbox::Spec spec;
  std::vector<std::string> notes;  // where coracle is stricter than the config
};

// state_dir: the container's own directory (a seccomp profile given in the
// config is written there for the sandbox to read). Throws coracle::Error
// naming the field it cannot honour.
Mapped map_config(const Config& config, const std::string& id, const std::string& state_dir);

// What a process (a config's, or an exec's process.json) gets, as the
// sandbox takes it: its rlimits (throws naming an unknown one), and its
// capabilities (its five sets exactly; none given: the sandbox's own).
std::vector<sandbox::Rlimit> map_rlimits(const Process& p);
std::optional<sandbox::CapabilitySets> map_capabilities(const Process& p);
// An exec's capabilities (runc's rule, and no more): its process.json's
// sets, the container's when it names none, each cut to the container's
// bounding set, so an exec never holds what the container cannot. Neither
// naming any: nullopt, coracle's default for the uid, as the container had.
std::optional<sandbox::CapabilitySets> exec_capabilities(const Process& exec,
                                                         const Process& container);
// Does the config bind a host path writable (so its processes get the
// host-write guard and no CAP_SETFCAP)?
bool has_writable_binds(const Config& config);

}  // namespace coracle::oci_runtime

// A bundle's config mapped onto coracle's sandbox, with coracle's isolation
// where the config leaves room: a user namespace of its own always (the
// rootfs and binds reach it through idmapped mounts, so host root's files
// look like container root's), the default seccomp filter when the config
// has none, no_new_privs. What the config asks and the sandbox cannot do
// yet is refused with the field named, never dropped in silence; what is
// stricter than asked is listed in Mapped::notes.
#pragma once
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

// RLIMIT_NOFILE → its resource number; throws naming field for an unknown one.
int rlimit_resource(const std::string& name, const std::string& field);

}  // namespace coracle::oci_runtime

// The documents the runtime prints: `spec`'s starting config.json and
// `features` (what this runtime reads and enforces, runtime-spec's
// features.md shape).
#pragma once
#include <nlohmann/json.hpp>

namespace coracle::oci_runtime {

// A config.json to start from, as `runc spec` gives one: sh on a terminal
// in ./rootfs (read-only), Docker's default capabilities trimmed to runc's
// three, new pid/network/ipc/uts/mount/cgroup namespaces, the masked and
// read-only paths every runtime uses. rootless adds a user namespace that
// maps the caller to root, and leaves out what a plain user cannot mount.
nlohmann::json default_spec(bool rootless);

nlohmann::json features();

}  // namespace coracle::oci_runtime

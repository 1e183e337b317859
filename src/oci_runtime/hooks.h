// The config's hooks that run in the runtime's own namespaces, as the
// runtime spec says: createRuntime (and the deprecated prestart) once the
// container is created, poststart after start, poststop at delete. Each is
// run with the container's state JSON on stdin, its own args and env, and
// its timeout; a failing one fails the call (poststop only warns).
#pragma once
#include <string>
#include <vector>

#include "oci_runtime/config.h"

namespace coracle::oci_runtime {

// Runs hooks in order; throws coracle::Error naming the kind and the hook
// that failed. state: the JSON the hooks read on stdin.
void run_hooks(const std::vector<Hook>& hooks, const std::string& kind, const std::string& state);

}  // namespace coracle::oci_runtime

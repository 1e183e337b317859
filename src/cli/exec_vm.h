// `coracle exec --vm`: the spec the launch path made, run in a micro-VM
// (src/vm) instead of namespaces.
#pragma once
#include "cli/commands.h"
#include "cli/exec_options.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

// The result as the namespace backend gives it (exit statuses, message).
// Throws coracle::Error for what the VM backend cannot do yet.
// json: port events as JSON lines on stdout (--json).
sandbox::Result run_exec_in_vm(const sandbox::Spec& spec, const ExecFlags& flags,
                               const GlobalOptions& global, bool json);

}  // namespace coracle::cli

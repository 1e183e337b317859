// `coracle exec --vm`: the spec the launch path made, run in a micro-VM
// (src/vm) instead of namespaces.
#pragma once
#include "cli/commands.h"
#include "cli/exec_options.h"
#include "portmon/port_tracker.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

// A port event as exec reports it, for either backend: an event of the
// --json stream when it is on, a line on stderr otherwise; one write() per
// line (a monitor thread prints while the app writes).
void print_port_event(const portmon::PortEvent& event);

// The result as the namespace backend gives it (exit statuses, message).
// Throws coracle::Error for what the VM backend cannot do yet. vm.start
// and port events go to the --json stream when it is on.
sandbox::Result run_exec_in_vm(const sandbox::Spec& spec, const ExecFlags& flags,
                               const GlobalOptions& global);

}  // namespace coracle::cli

// A sandbox::Spec (the launch path's result) as a micro-VM run: the same
// rootfs, process, generated files, limits and timeout. Shared by `exec
// --vm` and the chain's builtin:exec.
#pragma once
#include <string>

#include "sandbox/sandbox.h"
#include "vm/vm_runner.h"

namespace coracle::vm {

// Throws coracle::Error naming what the guest cannot do yet (a file bound
// with -v, devices, a terminal, a read-only rootfs, the vfs driver). /in,
// /out and directory binds are virtio-fs shares (shares.h; root only). The network is
// the caller's to decide: the guest has its own loopback only.
VmRunRequest request_from_spec(const sandbox::Spec& spec, const std::string& store_root);

}  // namespace coracle::vm

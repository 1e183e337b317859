// coracle as an OCI runtime: runc's command line (create, start, state,
// kill, delete, ...), entered when the binary runs as `coracle-runc` (the
// link `make install` and the build make), so that podman (--runtime),
// containerd's runc shim (BinaryName) and CRI-O can call it. Exit status 1
// on failure, as runc.
#pragma once

namespace coracle::oci_runtime {

bool is_runtime_name(const char* argv0);
int runtime_main(int argc, char** argv);

}  // namespace coracle::oci_runtime

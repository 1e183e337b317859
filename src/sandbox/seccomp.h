// Seccomp: a Docker/OCI-format profile compiled to BPF in the parent with
// libseccomp (crun's model), loaded in the child as the very last step
// before exec, so the filter need not allow anything coracle's setup does.
#pragma once
#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

namespace coracle::sandbox {

struct SeccompProgram {
  std::vector<struct sock_filter> code;  // empty: unconfined
};

// The profile coracle uses when none is given (Docker's allowlist).
const std::string& default_seccomp_profile();

// Compiles a profile (JSON text) for this machine's architecture. Rules are
// kept or dropped by "includes"/"excludes" against cap_mask (bit N:
// capability N granted) and the running kernel. Throws coracle::Error naming
// the bad field.
SeccompProgram compile_seccomp(const std::string& profile_json, uint64_t cap_mask);

// The program for the built-in default profile and cap_mask: the one
// compiled at build time when cap_mask is the default set, else compiled now.
SeccompProgram default_seccomp_program(uint64_t cap_mask);

// Child side: loads the program (no_new_privs must be set). 0 or -errno.
int load_seccomp(const SeccompProgram& program);

// A filter that stops the named syscalls (e.g. "bind", "listen") for a
// user-space supervisor (SECCOMP_RET_USER_NOTIF) and allows everything else:
// it is stacked on the real profile, and the kernel takes the strictest
// answer of all filters, so a syscall the profile denies is denied without a
// notification. Throws coracle::Error for an unknown name.
SeccompProgram notify_program(const std::vector<std::string>& syscalls);

// Child side: loads a notify_program and returns its listener fd
// (close-on-exec), or -errno. EBUSY: an outer filter already has a
// listener (the kernel allows one per filter chain).
int load_seccomp_listener(const SeccompProgram& program);

// The host-write guard, stacked on the profile when the sandbox can write to
// a host directory: no setuid/setgid bit can be set, no user namespace made
// (seccomp.cc says why, rule by rule). Precompiled at build time.
const SeccompProgram& host_write_guard_program();
SeccompProgram compile_host_write_guard();

// The capabilities that a profile's includes/excludes test (bit N: cap N):
// two capability sets that differ elsewhere compile to the same filter.
uint64_t profile_cap_mask(const std::string& profile_json);

}  // namespace coracle::sandbox

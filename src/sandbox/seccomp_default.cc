#include "sandbox/seccomp.h"

namespace coracle::sandbox {

extern const uint64_t kPrecompiledCapMask;
extern const struct sock_filter kPrecompiledFilter[];
extern const unsigned kPrecompiledFilterLen;
extern const uint64_t kPrecompiledRelevantCaps;
extern const struct sock_filter kPrecompiledGuard[];
extern const unsigned kPrecompiledGuardLen;

SeccompProgram default_seccomp_program(uint64_t cap_mask) {
  // Only the capabilities the profile's rules test make a difference.
  if ((cap_mask ^ kPrecompiledCapMask) & kPrecompiledRelevantCaps)
    return compile_seccomp(default_seccomp_profile(), cap_mask);
  return SeccompProgram{{kPrecompiledFilter, kPrecompiledFilter + kPrecompiledFilterLen}};
}

const SeccompProgram& host_write_guard_program() {
  static const SeccompProgram program{
      {kPrecompiledGuard, kPrecompiledGuard + kPrecompiledGuardLen}};
  return program;
}

}  // namespace coracle::sandbox

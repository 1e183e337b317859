#include "sandbox/seccomp.h"

namespace coracle::sandbox {

extern const uint64_t kPrecompiledCapMask;
extern const struct sock_filter kPrecompiledFilter[];
extern const unsigned kPrecompiledFilterLen;

SeccompProgram default_seccomp_program(uint64_t cap_mask) {
  if (cap_mask != kPrecompiledCapMask) return compile_seccomp(default_seccomp_profile(), cap_mask);
  return SeccompProgram{{kPrecompiledFilter, kPrecompiledFilter + kPrecompiledFilterLen}};
}

}  // namespace coracle::sandbox

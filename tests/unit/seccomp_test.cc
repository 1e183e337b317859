#include "sandbox/seccomp.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "sandbox/caps.h"

namespace coracle::sandbox {
namespace {

TEST(Seccomp, DefaultProfileCompiles) {
  auto program = compile_seccomp(default_seccomp_profile(), default_cap_mask());
  EXPECT_GT(program.code.size(), 50u);
}

TEST(Seccomp, PrecompiledProgramMatchesARuntimeCompile) {
  auto runtime = compile_seccomp(default_seccomp_profile(), default_cap_mask());
  auto built = default_seccomp_program(default_cap_mask());
  ASSERT_EQ(runtime.code.size(), built.code.size());
  EXPECT_EQ(
      memcmp(runtime.code.data(), built.code.data(), runtime.code.size() * sizeof(sock_filter)), 0);
}

TEST(Seccomp, CapabilitiesChangeTheFilter) {
  // CAP_SYS_ADMIN lets mount, unshare and friends through: a different program.
  uint64_t with_admin = default_cap_mask() | (1ULL << CAP_SYS_ADMIN);
  auto a = default_seccomp_program(default_cap_mask());
  auto b = default_seccomp_program(with_admin);
  EXPECT_NE(a.code.size(), b.code.size());
}

TEST(Seccomp, BadProfilesAreRefusedWithTheField) {
  try {
    compile_seccomp("{not json", 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
  try {
    compile_seccomp(R"({"defaultAction": "SCMP_ACT_WHAT"})", 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SCMP_ACT_WHAT"), std::string::npos);
  }
  EXPECT_THROW(compile_seccomp(R"({"syscalls": []})", 0), Error);  // no defaultAction
  EXPECT_THROW(
      compile_seccomp(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
      "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
                      0),
      Error);
}

TEST(Seccomp, UnknownSyscallNamesAreSkipped) {
  auto p = compile_seccomp(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "not_a_syscall"],
      "action": "SCMP_ACT_ALLOW"}]})",
      0);
  EXPECT_FALSE(p.code.empty());
}

TEST(Caps, Names) {
  EXPECT_EQ(parse_cap_name("NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(parse_cap_name("cap_sys_admin"), CAP_SYS_ADMIN);
  EXPECT_THROW(parse_cap_name("FLY"), Error);
  CapPlan all(0, {"ALL"}, {});
  EXPECT_EQ(all.mask() & (1ULL << CAP_SYS_ADMIN), 1ULL << CAP_SYS_ADMIN);
  CapPlan none(0, {}, {"ALL"});
  EXPECT_EQ(none.mask(), 0u);
}

}  // namespace
}  // namespace coracle::sandbox

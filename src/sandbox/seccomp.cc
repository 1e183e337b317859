#include "sandbox/seccomp.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"
#include "sandbox/caps.h"

namespace coracle::sandbox {

extern const char kDefaultSeccompJson[];  // generated from default_seccomp.json

const std::string& default_seccomp_profile() {
  static const std::string profile = kDefaultSeccompJson;
  return profile;
}

namespace {

using nlohmann::json;

struct FilterCtx {
  scmp_filter_ctx ctx;
  ~FilterCtx() {
    if (ctx) seccomp_release(ctx);
  }
};

uint32_t parse_action(const json& rule, const std::string& name, int default_errno) {
  int err = rule.value("errnoRet", default_errno);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(static_cast<uint16_t>(err));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(static_cast<uint16_t>(err));
  throw Error("seccomp profile: unsupported action '" + name + "'");
}

scmp_compare parse_op(const std::string& op) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  throw Error("seccomp profile: unknown operator '" + op + "'");
}

std::pair<int, int> kernel_version() {
  struct utsname u;
  int major = 0, minor = 0;
  if (uname(&u) == 0) sscanf(u.release, "%d.%d", &major, &minor);
  return {major, minor};
}

bool caps_hold(const json& caps, uint64_t cap_mask, bool all_required) {
  for (const auto& c : caps) {
    bool has = cap_mask & (1ULL << parse_cap_name(c.get<std::string>()));
    if (all_required && !has) return false;
    if (!all_required && has) return true;
  }
  return all_required;
}

// Docker's semantics: a rule applies when every "includes" condition holds
// and no "excludes" condition does.
bool rule_applies(const json& rule, uint64_t cap_mask) {
  static const std::string arch = SCMP_ARCH_NATIVE == SCMP_ARCH_X86_64 ? "amd64" : "";
  if (auto inc = rule.find("includes"); inc != rule.end()) {
    if (inc->contains("caps") && !caps_hold((*inc)["caps"], cap_mask, true)) return false;
    if (inc->contains("arches") && !(*inc)["arches"].empty()) {
      bool found = false;
      for (const auto& a : (*inc)["arches"]) found |= a.get<std::string>() == arch;
      if (!found) return false;
    }
    if (inc->contains("minKernel")) {
      int major = 0, minor = 0;
      sscanf((*inc)["minKernel"].get<std::string>().c_str(), "%d.%d", &major, &minor);
      if (kernel_version() < std::make_pair(major, minor)) return false;
    }
  }
  if (auto exc = rule.find("excludes"); exc != rule.end()) {
    if (exc->contains("caps") && caps_hold((*exc)["caps"], cap_mask, false)) return false;
    if (exc->contains("arches"))
      for (const auto& a : (*exc)["arches"])
        if (a.get<std::string>() == arch) return false;
  }
  return true;
}

std::vector<scmp_arg_cmp> parse_args(const json& rule) {
  std::vector<scmp_arg_cmp> args;
  if (!rule.contains("args") || rule["args"].is_null()) return args;
  for (const auto& a : rule["args"]) {
    scmp_arg_cmp cmp{};
    cmp.arg = a.at("index").get<unsigned>();
    cmp.op = parse_op(a.at("op").get<std::string>());
    cmp.datum_a = a.at("value").get<uint64_t>();
    cmp.datum_b = a.value("valueTwo", uint64_t{0});
    // MASKED_EQ takes (mask, value); Docker's JSON says (value, valueTwo) =
    // (mask, expected).
    if (cmp.arg > 5) throw Error("seccomp profile: argument index above 5");
    args.push_back(cmp);
  }
  return args;
}

std::vector<struct sock_filter> export_bpf(scmp_filter_ctx ctx) {
  UniqueFd mem(static_cast<int>(syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC)));
  if (!mem) throw_errno("memfd_create for seccomp");
  if (int rc = seccomp_export_bpf(ctx, mem.get()); rc < 0)
    throw_errno("cannot export the seccomp filter", -rc);
  off_t size = lseek(mem.get(), 0, SEEK_END);
  std::vector<struct sock_filter> code(static_cast<size_t>(size) / sizeof(struct sock_filter));
  if (pread(mem.get(), code.data(), static_cast<size_t>(size), 0) != size)
    throw_errno("cannot read the seccomp filter");
  return code;
}

}  // namespace

SeccompProgram compile_seccomp(const std::string& profile_json, uint64_t cap_mask) {
  json profile;
  try {
    profile = json::parse(profile_json);
  } catch (const json::exception& e) {
    throw Error(std::string("seccomp profile is not valid JSON: ") + e.what());
  }
  try {
    int default_errno = profile.value("defaultErrnoRet", EPERM);
    uint32_t default_action =
        parse_action(profile, profile.at("defaultAction").get<std::string>(), default_errno);
    FilterCtx f{seccomp_init(default_action)};
    if (!f.ctx) throw Error("seccomp_init failed");
    // no_new_privs is set by the child itself, with a comment saying why.
    seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_NNP, 0);
    // A binary tree of syscall numbers instead of a linear chain: every
    // syscall the sandboxed program makes runs this filter.
    seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (const auto& rule : profile.value("syscalls", json::array())) {
      if (!rule_applies(rule, cap_mask)) continue;
      uint32_t action = parse_action(rule, rule.at("action").get<std::string>(), EPERM);
      if (action == default_action) continue;  // libseccomp refuses a no-op rule
      auto args = parse_args(rule);
      std::vector<std::string> names;
      if (rule.contains("names")) names = rule["names"].get<std::vector<std::string>>();
      if (rule.contains("name")) names.push_back(rule["name"].get<std::string>());
      for (const auto& name : names) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // not a syscall on this architecture
        int rc = seccomp_rule_add_array(f.ctx, action, nr, static_cast<unsigned>(args.size()),
                                        args.data());
        if (rc < 0 && rc != -EEXIST)
          throw_errno("seccomp profile: cannot add the rule for '" + name + "'", -rc);
      }
    }
    return SeccompProgram{export_bpf(f.ctx)};
  } catch (const json::exception& e) {
    throw Error(std::string("seccomp profile: ") + e.what());
  }
}

namespace {

long install_filter(const SeccompProgram& program, unsigned flags) {
  struct sock_fprog prog {};
  prog.len = static_cast<unsigned short>(program.code.size());
  prog.filter = const_cast<struct sock_filter*>(program.code.data());
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "add this architecture's AUDIT_ARCH_ value"
#endif

}  // namespace

int load_seccomp(const SeccompProgram& program) {
  if (program.code.empty()) return 0;
  return install_filter(program, 0) == 0 ? 0 : -errno;
}

SeccompProgram notify_program(const std::vector<std::string>& syscalls) {
  // Hand-written rather than through libseccomp: a handful of instructions
  // known at once, with no compile cost on the exec path.
  std::vector<uint32_t> numbers;
  for (const auto& name : syscalls) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR || nr < 0) throw Error("unknown syscall '" + name + "'");
    numbers.push_back(static_cast<uint32_t>(nr));
  }
  if (numbers.empty() || numbers.size() > 200) throw Error("notify filter: 1 to 200 syscalls");
  // Layout: [0] load arch, [1] other arch → allow, [2] load nr,
  // [3..3+n) match → notify, [3+n] allow, [4+n] notify.
  const auto n = static_cast<uint8_t>(numbers.size());
  std::vector<struct sock_filter> code;
  code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  // Another ABI's syscalls are the real profile's business, not ours.
  code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 0, static_cast<uint8_t>(n + 1)));
  code.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  for (uint8_t i = 0; i < n; ++i)
    code.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, numbers[i], static_cast<uint8_t>(n - i), 0));
  code.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  code.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  return SeccompProgram{std::move(code)};
}

int load_seccomp_listener(const SeccompProgram& program) {
  long fd = install_filter(program, SECCOMP_FILTER_FLAG_NEW_LISTENER);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

// The host-write guard: a seccomp filter stacked on the profile whenever a
// sandbox can write to a host directory (--out, a writable -v, a chain
// step's /out).
//
// Why it is needed: writable binds are idmapped so that container root is
// the caller on the host (files in --out belong to the caller, as the README
// promises). For a root runner that makes container root host root on those
// files: it could leave a `-rwsr-xr-x root` binary or a file capability
// (security.capability) in a host directory, and a plain host user who ran
// it would become root. So, in such a sandbox:
//  - no syscall may set S_ISUID or S_ISGID: chmod, fchmod, fchmodat,
//    fchmodat2, and the ones that create a file with a mode (open, openat
//    and creat with O_CREAT or O_TMPFILE, mknod, mknodat) fail with EPERM
//    when the mode has either bit;
//  - openat2 (its mode is behind a pointer) and io_uring (its requests are
//    not syscalls) fail with ENOSYS, so programs fall back to openat;
//  - no new user namespace (unshare or clone with CLONE_NEWUSER: EPERM;
//    clone3, whose flags are behind a pointer: ENOSYS), since its owner
//    would get every capability again, CAP_SETFCAP included;
//  - CAP_SETFCAP itself is dropped (runner.cc), so security.capability
//    cannot be written.
// The filter applies to the whole sandbox: setuid files cannot be made in
// its own rootfs either (they would grant nothing under no_new_privs).
// The 32-bit x86 ABIs get the same rules: int 0x80 is another way in.
namespace {

constexpr uint64_t kPrivilegeBits[] = {S_ISUID, S_ISGID};
constexpr uint64_t kO_TMPFILE_BIT = 020000000;  // __O_TMPFILE, without O_DIRECTORY

int resolve(const char* name) {
  int nr = seccomp_syscall_resolve_name(name);
  // fchmodat2 (Linux 6.6) has the same number on every architecture; an
  // older libseccomp may not know its name.
  if (nr == __NR_SCMP_ERROR && std::string_view(name) == "fchmodat2") return 452;
  return nr;
}

void add(scmp_filter_ctx ctx, uint32_t action, const char* name,
         std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = resolve(name);
  if (nr == __NR_SCMP_ERROR) return;  // not a syscall of this architecture
  int rc =
      seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
  if (rc < 0 && rc != -EEXIST) throw_errno(std::string("host-write guard: rule for ") + name, -rc);
}

scmp_arg_cmp has_bits(unsigned arg, uint64_t bits) {
  return scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, bits, bits};
}

}  // namespace

SeccompProgram compile_host_write_guard() {
  FilterCtx f{seccomp_init(SCMP_ACT_ALLOW)};
  if (!f.ctx) throw Error("seccomp_init failed");
  seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_NNP, 0);  // the child sets it itself
#if defined(__x86_64__)
  for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    int rc = seccomp_arch_add(f.ctx, arch);
    if (rc < 0 && rc != -EEXIST) throw_errno("host-write guard: add a 32-bit ABI", -rc);
  }
#endif
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM), enosys = SCMP_ACT_ERRNO(ENOSYS);
  for (uint64_t bit : kPrivilegeBits) {
    add(f.ctx, eperm, "chmod", {has_bits(1, bit)});
    add(f.ctx, eperm, "fchmod", {has_bits(1, bit)});
    add(f.ctx, eperm, "fchmodat", {has_bits(2, bit)});
    add(f.ctx, eperm, "fchmodat2", {has_bits(2, bit)});
    add(f.ctx, eperm, "creat", {has_bits(1, bit)});
    add(f.ctx, eperm, "mknod", {has_bits(1, bit)});
    add(f.ctx, eperm, "mknodat", {has_bits(2, bit)});
    for (uint64_t create : {uint64_t{O_CREAT}, kO_TMPFILE_BIT}) {
      add(f.ctx, eperm, "open", {has_bits(1, create), has_bits(2, bit)});
      add(f.ctx, eperm, "openat", {has_bits(2, create), has_bits(3, bit)});
    }
  }
  add(f.ctx, enosys, "openat2");
  add(f.ctx, enosys, "io_uring_setup");
  add(f.ctx, eperm, "unshare", {has_bits(0, CLONE_NEWUSER)});
  add(f.ctx, eperm, "clone", {has_bits(0, CLONE_NEWUSER)});
  add(f.ctx, enosys, "clone3");
  return SeccompProgram{export_bpf(f.ctx)};
}

uint64_t profile_cap_mask(const std::string& profile_json) {
  uint64_t mask = 0;
  json profile = json::parse(profile_json);
  for (const auto& rule : profile.value("syscalls", json::array()))
    for (const char* side : {"includes", "excludes"})
      if (rule.contains(side) && rule[side].contains("caps"))
        for (const auto& c : rule[side]["caps"])
          mask |= 1ULL << parse_cap_name(c.get<std::string>());
  return mask;
}

}  // namespace coracle::sandbox

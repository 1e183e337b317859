#include "sandbox/device_cgroup.h"

#include <linux/bpf.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::sandbox {
namespace {

// The program's access bits, as the kernel passes them in
// bpf_cgroup_dev_ctx::access_type's upper half.
unsigned access_bits(const std::string& access) {
  unsigned bits = 0;
  for (char c : access)
    bits |= c == 'm'   ? BPF_DEVCG_ACC_MKNOD
            : c == 'r' ? BPF_DEVCG_ACC_READ
            : c == 'w' ? BPF_DEVCG_ACC_WRITE
                       : 0;
  return bits;
}

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

long bpf(int cmd, bpf_attr& attr) {
  return syscall(SYS_bpf, cmd, &attr, sizeof attr);
}

}  // namespace

std::vector<DeviceRule> default_device_rules() {
  return {
      {'c', 1, 3, "rwm"},    {'c', 1, 5, "rwm"}, {'c', 1, 7, "rwm"},  // null, zero, full
      {'c', 1, 8, "rwm"},    {'c', 1, 9, "rwm"},                      // random, urandom
      {'c', 5, 0, "rwm"},    {'c', 5, 2, "rwm"},                      // tty, ptmx
      {'c', 136, -1, "rwm"},                                          // the ptys of devpts
  };
}

DeviceRule device_rule_for(const std::string& path, const std::string& perms) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) throw_errno("cannot use the device " + path);
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    throw Error("--device " + path + " is not a device node");
  return {S_ISCHR(st.st_mode) ? 'c' : 'b', static_cast<long>(major(st.st_rdev)),
          static_cast<long>(minor(st.st_rdev)), perms.empty() ? "rwm" : perms};
}

std::string v1_device_line(const DeviceRule& r) {
  auto num = [](long n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return std::string(1, r.type) + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

UniqueFd load_device_program(const std::vector<DeviceRule>& rules) {
  constexpr uint8_t kLdxW = BPF_LDX | BPF_MEM | BPF_W;
  constexpr uint8_t kJneK = BPF_JMP | BPF_JNE | BPF_K;
  // r2 = device type, r3 = access asked, r4 = major, r5 = minor (the
  // context is struct bpf_cgroup_dev_ctx).
  std::vector<bpf_insn> code = {
      insn(kLdxW, 2, 1, 0, 0), insn(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff),
      insn(kLdxW, 3, 1, 0, 0), insn(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16),
      insn(kLdxW, 4, 1, 4, 0), insn(kLdxW, 5, 1, 8, 0),
  };
  // One block per rule: each test that fails jumps past the block's end;
  // a request that passes them all is allowed.
  for (const auto& r : rules) {
    std::vector<bpf_insn> block;
    if (r.type != 'a')
      block.push_back(
          insn(kJneK, 2, 0, 0, r.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
    // Nothing asked beyond what the rule grants.
    block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, 0, 3, 0, 0));
    block.push_back(insn(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0,
                         static_cast<int32_t>(~access_bits(r.access) & 7)));
    block.push_back(insn(kJneK, 0, 0, 0, 0));
    if (r.major >= 0) block.push_back(insn(kJneK, 4, 0, 0, static_cast<int32_t>(r.major)));
    if (r.minor >= 0) block.push_back(insn(kJneK, 5, 0, 0, static_cast<int32_t>(r.minor)));
    block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
    block.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t i = 0; i < block.size(); ++i)
      if (block[i].code == kJneK) block[i].off = static_cast<int16_t>(block.size() - i - 1);
    code.insert(code.end(), block.begin(), block.end());
  }
  code.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  code.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));

  static const char kLicense[] = "Apache-2.0";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uintptr_t>(code.data());
  attr.insn_cnt = static_cast<uint32_t>(code.size());
  attr.license = reinterpret_cast<uintptr_t>(kLicense);
  long fd = bpf(BPF_PROG_LOAD, attr);
  if (fd < 0) {
    // Again with the verifier's log, for its reason (a log on a load that
    // succeeds could only fail it when it overflows).
    int err = errno;
    char log[4096] = "";
    attr.log_buf = reinterpret_cast<uintptr_t>(log);
    attr.log_size = sizeof log;
    attr.log_level = 1;
    if (bpf(BPF_PROG_LOAD, attr) >= 0) err = 0;
    // The verifier's complaint is the last line before its statistics.
    std::string reason;
    for (const auto& line : split(log, '\n'))
      if (!line.empty() && line.rfind("processed ", 0) != 0) reason = line;
    throw_errno("cannot load the device cgroup program" +
                    (reason.empty() ? "" : " (the verifier: " + reason + ")"),
                err ? err : EINVAL);
  }
  return UniqueFd(static_cast<int>(fd));
}

void attach_device_program(int cgroup_dir_fd, int program) {
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(program);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, attr) < 0) throw_errno("cannot attach the device cgroup program");
}

}  // namespace coracle::sandbox

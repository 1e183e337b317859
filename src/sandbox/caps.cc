#include "sandbox/caps.h"

#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/error.h"

namespace coracle::sandbox {

uint64_t default_cap_mask() {
  // Docker's default set: enough for package managers and servers as root,
  // nothing that reaches the kernel's global state.
  static constexpr int kDefault[] = {
      CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
      CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
      CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
      CAP_KILL,    CAP_AUDIT_WRITE};
  uint64_t mask = 0;
  for (int cap : kDefault) mask |= 1ULL << cap;
  return mask;
}

int parse_cap_name(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("cap_", 0) != 0) lower = "cap_" + lower;
  cap_value_t value;
  if (cap_from_name(lower.c_str(), &value) != 0)
    throw Error("unknown capability '" + name + "' (see capabilities(7))");
  return value;
}

CapPlan::CapPlan(uint32_t uid, const std::vector<std::string>& add,
                 const std::vector<std::string>& drop, bool host_writes)
    : last_cap_(static_cast<int>(cap_max_bits()) - 1) {
  uint64_t all = last_cap_ >= 63 ? ~0ULL : (1ULL << (last_cap_ + 1)) - 1;
  mask_ = default_cap_mask();
  auto is_all = [](const std::string& n) { return n == "ALL" || n == "all"; };
  // Drops first, then adds: "--cap-drop ALL --cap-add NET_BIND_SERVICE" keeps
  // exactly one, as with docker and podman.
  for (const auto& n : drop) mask_ &= is_all(n) ? 0 : ~(1ULL << parse_cap_name(n));
  for (const auto& n : add) mask_ |= is_all(n) ? all : 1ULL << parse_cap_name(n);
  mask_ &= all;
  if (host_writes) {
    for (const auto& n : add)
      if (!is_all(n) && parse_cap_name(n) == CAP_SETFCAP)
        throw Error(
            "--cap-add SETFCAP cannot be used with a writable bind (--out, -v): a file "
            "capability set there would work on the host; bind read-only or leave it out");
    mask_ &= ~(1ULL << CAP_SETFCAP);
  }

  state_ = cap_init();  // all clear
  if (!state_) throw_errno("cap_init");
  if (uid == 0) {
    for (int cap = 0; cap <= last_cap_; ++cap) {
      if (!(mask_ & (1ULL << cap))) continue;
      cap_value_t v = cap;
      cap_set_flag(state_, CAP_PERMITTED, 1, &v, CAP_SET);
      cap_set_flag(state_, CAP_EFFECTIVE, 1, &v, CAP_SET);
    }
  }
}

CapPlan::CapPlan(const CapabilitySets& sets, bool host_writes)
    : explicit_(true), last_cap_(static_cast<int>(cap_max_bits()) - 1) {
  auto mask_of = [&](const std::vector<std::string>& names) {
    uint64_t m = 0;
    for (const auto& n : names) {
      int cap = parse_cap_name(n);
      // One this kernel does not know cannot be held: runc skips it too.
      if (cap <= last_cap_) m |= 1ULL << cap;
    }
    return host_writes ? m & ~(1ULL << CAP_SETFCAP) : m;
  };
  mask_ = mask_of(sets.bounding);
  // The kernel raises an ambient capability only if it is permitted and
  // inheritable; others are left out, as runc does (its own `spec` lists
  // ambient ones without inheritable ones).
  ambient_ = mask_of(sets.ambient) & mask_of(sets.permitted) & mask_of(sets.inheritable);
  state_ = cap_init();
  if (!state_) throw_errno("cap_init");
  const std::pair<cap_flag_t, uint64_t> flags[] = {{CAP_EFFECTIVE, mask_of(sets.effective)},
                                                   {CAP_PERMITTED, mask_of(sets.permitted)},
                                                   {CAP_INHERITABLE, mask_of(sets.inheritable)}};
  for (const auto& [flag, m] : flags)
    for (int cap = 0; cap <= last_cap_; ++cap) {
      cap_value_t v = cap;
      if (m & (1ULL << cap)) cap_set_flag(state_, flag, 1, &v, CAP_SET);
    }
}

CapPlan::~CapPlan() {
  if (state_) cap_free(state_);
}

int CapPlan::drop_bounding() const {
  for (int cap = 0; cap <= last_cap_; ++cap) {
    if (mask_ & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -errno;
  }
  // Ambient capabilities would survive exec for a non-root user: none.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return 0;
}

int CapPlan::keep_across_setuid() const {
  if (explicit_ && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return -errno;
  return 0;
}

int CapPlan::apply() const {
  if (cap_set_proc(state_) != 0) return -errno;
  if (!explicit_) return 0;
  for (int cap = 0; cap <= last_cap_; ++cap)
    if ((ambient_ & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      return -errno;
  return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ? -errno : 0;
}

}  // namespace coracle::sandbox

// Capabilities of the sandboxed command: Docker's default set for container
// root, adjusted by --cap-add/--cap-drop, none at all for a non-root --user.
// Planned in the parent (libcap allocates); applied in the child without
// allocating.
#pragma once
#include <sys/capability.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace coracle::sandbox {

class CapPlan {
 public:
  // host_writes: the sandbox can write to a host directory, so CAP_SETFCAP
  // goes (a file capability set there would work on the host); asking for
  // it by name is an error, ALL leaves it out.
  CapPlan(uint32_t uid, const std::vector<std::string>& add, const std::vector<std::string>& drop,
          bool host_writes = false);
  // Exactly these sets, for any uid (an OCI config's); host_writes takes
  // CAP_SETFCAP out of all of them, as above.
  CapPlan(const CapabilitySets& sets, bool host_writes = false);
  ~CapPlan();
  CapPlan(const CapPlan&) = delete;
  CapPlan& operator=(const CapPlan&) = delete;

  // Bit N set: capability N stays in the bounding set (and, for root, in the
  // permitted and effective sets).
  uint64_t mask() const { return mask_; }
  // Child side, before changing uid: drops every other capability from the
  // bounding set, so no later exec can regain it. Returns 0 or -errno.
  int drop_bounding() const;
  // Child side, just before changing uid: with explicit sets, the
  // permitted set is kept across it (PR_SET_KEEPCAPS). 0 or -errno.
  int keep_across_setuid() const;
  // Child side, after changing uid: sets the permitted/effective (and
  // inheritable) sets, then raises the ambient ones. 0 or -errno.
  int apply() const;

 private:
  bool explicit_ = false;
  uint64_t ambient_ = 0;
  uint64_t mask_ = 0;
  int last_cap_ = 0;
  cap_t state_ = nullptr;
};

uint64_t default_cap_mask();
// "NET_ADMIN", "cap_net_admin" → its number; throws on an unknown name.
int parse_cap_name(const std::string& name);

}  // namespace coracle::sandbox

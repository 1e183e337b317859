// User namespace id maps. Container root is never host root:
//  - as root, container ids 0..65535 map to an unprivileged host range (the
//    "root" entry of /etc/subuid and /etc/subgid, else kRootfulBase);
//  - as a plain user, the caller is container root, and the user's
//    subordinate ranges (newuidmap/newgidmap) map ids 1..N when present.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace coracle::sandbox {

inline constexpr uint32_t kRootfulBase = 1000000000;  // documented in README
inline constexpr uint32_t kRootfulCount = 65536;

struct IdRange {
  uint32_t inside, outside, count;
};

struct IdMapping {
  std::vector<IdRange> uids, gids;
  bool rootful = false;           // the runner is host root
  bool via_helpers = false;       // newuidmap/newgidmap write the maps
  bool setgroups_allowed = true;  // false: "deny" written before gid_map
};

IdMapping plan_id_mapping();
bool maps_id(const std::vector<IdRange>& ranges, uint32_t id);
// Writes the maps of the user namespace of pid (which must not have exec'd).
void write_id_mapping(pid_t pid, const IdMapping& mapping);
// Parses /etc/subuid-style text for name or uid; empty when absent.
std::vector<IdRange> parse_subid(const std::string& text, const std::string& name, uid_t uid);

}  // namespace coracle::sandbox

// User namespace id maps. Container root is never host root:
//  - as root, container ids 0..65535 map to an unprivileged host range (the
//    "root" entry of /etc/subuid and /etc/subgid, else kRootfulBase);
//  - as a plain user, the caller is container root, and the user's
//    subordinate ranges (newuidmap/newgidmap) map ids 1..N when present.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace coracle {

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
// The host's own ids, for a root runner's sandbox without a user namespace
// of its own (nothing to write: every id is itself).
IdMapping host_id_mapping();
bool maps_id(const std::vector<IdRange>& ranges, uint32_t id);
// Writes the maps of the user namespace of pid (which must not have exec'd).
void write_id_mapping(pid_t pid, const IdMapping& mapping);
// Runs fn in a child process that is root of a new user namespace with
// the mapping ids (written from outside, by newuidmap/newgidmap when
// ids.via_helpers): as a plain user, files of the subordinate ids can be
// made, chowned and removed there. An exception of fn comes back as an
// Error with its message; what names the job when the namespace cannot be
// had. fn runs in a forked copy of this process: it must not count on
// other threads, and what it changes in memory stays in the child.
void run_as_mapped_root(const IdMapping& ids, const std::string& what,
                        const std::function<void()>& fn);
// Removes a tree whose files may belong to the caller's subordinate ids
// (what a rootless sandbox wrote, a layer with the image's owners): as root
// of a user namespace with the caller's mapping when the caller alone
// cannot. Throws coracle::Error.
void remove_mapped_tree(const std::string& path);
// A work directory removed (remove_mapped_tree) when this goes out of
// scope; what cannot be removed is left to the store's sweep of stale work
// directories. Empty: nothing to remove.
class TreeRemoval {
 public:
  explicit TreeRemoval(std::string dir = {}) : dir_(std::move(dir)) {}
  ~TreeRemoval();
  TreeRemoval(TreeRemoval&& other) noexcept : dir_(std::move(other.dir_)) { other.dir_.clear(); }
  TreeRemoval& operator=(TreeRemoval&&) = delete;
  TreeRemoval(const TreeRemoval&) = delete;
  const std::string& path() const { return dir_; }
  // Takes dir on (one not yet held: nothing is removed now).
  void hold(std::string dir) { dir_ = std::move(dir); }

 private:
  std::string dir_;
};

// Parses /etc/subuid-style text for name or uid; empty when absent.
std::vector<IdRange> parse_subid(const std::string& text, const std::string& name, uid_t uid);

}  // namespace coracle

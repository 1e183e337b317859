// A container's state under the runtime's --root, as runc keeps it: one
// directory per container id (ROOT/ID, 0700) holding state.json. The
// status a `state` call prints is worked out from the init process when
// asked (its pid and its start time, so a reused pid is not taken for the
// container), not trusted from the file.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace coracle::oci_runtime {

struct ContainerState {
  std::string id, bundle, rootfs;
  pid_t pid = 0;                // the container's init on the host
  uint64_t pid_start_time = 0;  // /proc/PID/stat field 22 when it started
  bool started = false;         // `start` ran (else: created)
  std::string created;          // RFC 3339 with nanoseconds
  uint32_t owner = 0;           // the uid that created it
  std::string cgroup;           // its cgroup (sandbox::Limits::cgroup_name)
  std::map<std::string, std::string> annotations;
};

// The runtime's --root: runc's default is /run/runc; coracle's own is
// /run/coracle-runc as root, $XDG_RUNTIME_DIR/coracle-runc, else a folder
// of the caller's store (never the shared temp directory).
std::string default_state_root();

// Throws unless root (when it exists) is a directory of the caller's that
// no one else can write, in a parent that no one else can change: a
// planted state would run its hooks and signal its pids as the caller.
void check_state_root(const std::string& root);

// A container id as runc allows it: [A-Za-z0-9_+.-], not "." or "..".
void check_container_id(const std::string& id);

// The status of the container now: "created", "running" or "stopped".
std::string status_of(const ContainerState& s);

// runc's `state` document: ociVersion, id, pid, status, bundle, rootfs,
// created, owner, annotations.
nlohmann::json state_json(const ContainerState& s);

class StateStore {
 public:
  explicit StateStore(std::string root);
  const std::string& root() const { return root_; }
  std::string dir_of(const std::string& id) const { return root_ + "/" + id; }
  // Makes ROOT/ID for a new container; throws if the id is taken.
  void create(const ContainerState& s) const;
  void save(const ContainerState& s) const;
  // Throws "container ID does not exist" when there is none.
  ContainerState load(const std::string& id) const;
  // Whether ROOT/ID has a state.json (the id and the root checked).
  bool contains(const std::string& id) const;
  std::vector<ContainerState> list() const;
  void remove(const std::string& id) const;

 private:
  // load() once the id and the root are checked (list() checks the root once).
  ContainerState read_state(const std::string& id) const;
  std::string root_;
};

// /proc/PID/stat's start time (clock ticks since boot); 0 if pid is gone.
uint64_t process_start_time(pid_t pid);

}  // namespace coracle::oci_runtime

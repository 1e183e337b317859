// Named volumes: data that outlives a run, kept in the store as podman
// keeps them (ROOT/volumes/NAME/_data). A run that binds one (-v NAME:/path)
// holds a shared lock on it for its whole length; rm and prune take it
// exclusively, so a volume in use is never removed under a run.
//
// A volume is the sandbox's own storage, like its writable layer: bound as
// it is (never idmapped), so what the sandbox's users write keeps the
// sandbox's ids (PostgreSQL's chown of its data directory to its own user
// works); sandbox::BindMount::sandbox_owned says so to the runner.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "sandbox/sandbox.h"

namespace coracle::volume {

struct VolumeInfo {
  std::string name;
  std::string mountpoint;  // ROOT/volumes/NAME/_data
  int64_t created = 0;     // seconds since the epoch
  bool in_use = false;     // a run holds it now
};

// Whether text names a volume rather than a host path (-v's source): no
// slash, not "." or "..", podman's characters ([a-zA-Z0-9][a-zA-Z0-9_.-]*).
bool is_volume_name(const std::string& text);
// Throws coracle::Error with podman's rule unless name is a volume name.
void check_volume_name(const std::string& name);

class VolumeStore {
 public:
  explicit VolumeStore(std::string store_root);

  // Makes NAME (empty); an existing one is an error unless exist_ok.
  VolumeInfo create(const std::string& name, bool exist_ok = false) const;
  std::optional<VolumeInfo> find(const std::string& name) const;
  std::vector<VolumeInfo> list() const;
  // Removes NAME and its data; refused while a run uses it.
  void remove(const std::string& name) const;
  // Removes every volume no run uses; returns their names.
  std::vector<std::string> prune() const;

  // A volume for a run: made on first use, held (shared) while the lease
  // lives.
  struct Lease {
    VolumeInfo info;
    FileLock lock;
  };
  Lease use(const std::string& name) const;

 private:
  std::string dir_of(const std::string& name) const { return root_ + "/" + name; }
  VolumeInfo info_of(const std::string& name) const;
  std::string root_;  // ROOT/volumes
};

// -v's NAME:/path[:ro]: the bind of a leased volume (sandbox_owned).
sandbox::BindMount volume_bind(const VolumeStore::Lease& lease, const std::string& target,
                               bool read_only);

}  // namespace coracle::volume

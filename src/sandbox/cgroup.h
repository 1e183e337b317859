// The sandbox's cgroup: limits (memory, pids, cpu), the OOM verdict and the
// peak memory figure. cgroup v2 (one hierarchy, joined at clone time with
// CLONE_INTO_CGROUP) and v1 (one directory per controller hierarchy, joined
// by the parent writing the child's pid) are both supported.
//
// Directories are named "coracle-<runner pid>-<n>" so that sweep_cgroups()
// can tell the leftovers of a runner that died from those of a live one.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "sandbox/sandbox.h"

namespace coracle::sandbox {

class Cgroup {
 public:
  // Creates and configures the cgroup. Throws coracle::Error (saying what to
  // do) when the limits cannot be had here.
  static std::unique_ptr<Cgroup> create(const Limits& limits);
  ~Cgroup();  // removes the directories
  // Leaves the cgroup in place (a sandbox that outlives its runner).
  void release() { dirs_.clear(); }
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // v2: a directory fd for clone3's CLONE_INTO_CGROUP; -1 on v1.
  int clone_into_fd() const { return v2_ ? dir_fd_.get() : -1; }
  // v1: moves pid into every hierarchy (v2 needs nothing).
  void add_process(pid_t pid) const;
  bool oom_killed() const;
  uint64_t peak_memory_bytes() const;

 private:
  Cgroup() = default;
  bool v2_ = false;
  UniqueFd dir_fd_;
  std::vector<std::string> dirs_;  // v2: one; v1: one per hierarchy
  std::string memory_dir_;
};

// The cgroup.procs files of the named cgroup (Limits::cgroup_name) in each
// hierarchy that has it; none when there is none.
std::vector<std::string> cgroup_procs_files(const std::string& name);

// Removes cgroups left by runners that no longer exist.
void sweep_cgroups();

}  // namespace coracle::sandbox

// RUN --mount (BuildKit's syntax): type=cache (a directory under the store
// that outlives the step and the build: a package manager's cache), and
// type=tmpfs. The mounts are the step's, never its layer's: their content
// is in no layer and no cache key (the flag's text is, as for BuildKit).
#pragma once
#include <string>
#include <vector>

#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/shell_words.h"
#include "common/file_lock.h"
#include "common/userns.h"
#include "image/store.h"
#include "sandbox/sandbox.h"

namespace coracle::builder {

struct RunMount {
  enum class Type { kCache, kTmpfs } type = Type::kCache;
  std::string target;  // absolute, inside the RUN
  std::string id;      // cache: defaults to the target
  enum class Sharing { kShared, kPrivate, kLocked } sharing = Sharing::kShared;
  bool read_only = false;
  unsigned mode = 0755;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;  // tmpfs: 0 is the sandbox's default bound
};

// The --mount flags of ins, their values expanded. Throws coracle::Error
// (naming where) for a type or an option coracle does not take.
std::vector<RunMount> parse_run_mounts(const Instruction& ins, const ShellWords& words,
                                       const ShellWords::Lookup& lookup, const std::string& where);

// The mounts of one RUN, made ready: cache directories under
// ROOT/cache-mounts (one per id), locked as their sharing says while the
// object lives, added to spec as binds and tmpfs mounts.
class RunMounts {
 public:
  RunMounts(const image::Store& store, const std::vector<RunMount>& mounts, sandbox::Spec& spec);
  RunMounts(const RunMounts&) = delete;
  RunMounts& operator=(const RunMounts&) = delete;
  // The targets made in the rootfs only to mount on (for the layer to
  // leave out).
  const std::vector<std::string>& targets() const { return targets_; }

 private:
  std::vector<FileLock> locks_;
  std::vector<TreeRemoval> private_dirs_;
  std::vector<std::string> targets_;
};

}  // namespace coracle::builder

// RUN --mount (BuildKit's syntax): type=cache (a directory under the store
// that outlives the step and the build: a package manager's cache),
// type=tmpfs, type=secret (a value given to `coracle build --secret`, as a
// file on the sandbox's own read-only tmpfs and/or an environment
// variable), and type=bind (a file or directory of the context, a stage or
// an image: a private copy, read-only unless rw, what the RUN writes there
// thrown away; its content is in the cache key, as for COPY). The mounts are the step's, never its
// layer's: their content is in no layer and no cache key (the flag's text is, as for BuildKit); a
// secret's value is in nothing the build keeps, prints or hashes.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/copy_layer.h"
#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/shell_words.h"
#include "common/file_lock.h"
#include "common/userns.h"
#include "image/store.h"
#include "sandbox/sandbox.h"

namespace coracle::builder {

struct RunMount {
  enum class Type { kCache, kTmpfs, kSecret, kBind } type = Type::kCache;
  std::string target;  // absolute, inside the RUN; a secret with env= may have none
  std::string id;      // cache: defaults to the target; secret: to its base name
  enum class Sharing { kShared, kPrivate, kLocked } sharing = Sharing::kShared;
  bool read_only = false;
  std::optional<unsigned> mode;  // default: cache 0755, secret 0400
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;        // tmpfs: 0 is the sandbox's default bound
  std::string env;          // secret: also (or only) this environment variable
  bool required = false;    // secret: a missing one is an error, not skipped
  std::string from;         // bind: a stage or an image; empty: the context
  std::string source;       // bind: a path in it ("." by default)
  std::string host_source;  // bind: the private copy to mount (copy_bind_source)
  bool source_is_dir = true;
};

// `coracle build --secret` values by id. BuildKit's bound on one value.
using BuildSecrets = std::map<std::string, std::string>;
inline constexpr size_t kMaxSecretBytes = 500 * 1024;

// The --mount flags of ins, their values expanded. Throws coracle::Error
// (naming where) for a type or an option coracle does not take.
std::vector<RunMount> parse_run_mounts(const Instruction& ins, const ShellWords& words,
                                       const ShellWords::Lookup& lookup, const std::string& where);

// A bind mount's source in from, as COPY would read it: the digest of its
// content (mtimes left out, as in COPY's key), for the RUN's cache key.
std::string bind_source_digest(const CopyFrom& from, const RunMount& m, const std::string& where);

// Copies the bind's source from from into dir (made by the caller, removed
// by it with what the RUN wrote) and sets m.host_source and
// m.source_is_dir. Owners as COPY gives them: context files 0:0, a stage's
// or an image's their own (as root).
void copy_bind_source(const CopyFrom& from, RunMount& m, const std::string& dir,
                      const std::string& where);

// The mounts of one RUN, made ready: cache directories under
// ROOT/cache-mounts (one per id), locked as their sharing says while the
// object lives, added to spec as binds and tmpfs mounts; secrets as
// required generated files (mode, owner) and environment entries. Throws
// coracle::Error (naming where) for a required secret not given.
class RunMounts {
 public:
  RunMounts(const image::Store& store, const std::vector<RunMount>& mounts,
            const BuildSecrets& secrets, const std::string& where, sandbox::Spec& spec);
  RunMounts(const RunMounts&) = delete;
  RunMounts& operator=(const RunMounts&) = delete;
  // The directories and files made in the rootfs only to mount on (for the
  // layer to leave out; a secret's file is one of spec's generated files).
  const std::vector<std::string>& targets() const { return targets_; }
  const std::vector<std::string>& file_targets() const { return file_targets_; }

 private:
  std::vector<FileLock> locks_;
  std::vector<TreeRemoval> private_dirs_;
  std::vector<std::string> targets_, file_targets_;
};

}  // namespace coracle::builder

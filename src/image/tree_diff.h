// What changed between two directory trees (buildr's remote executor
// collects a command's modified files the same way; the chain compares the
// app before a step with the app it left): entry by entry, by type, mode
// and (for files) content hash; a deleted and an added file of the same
// content are one rename. And the changes as an archive (`run --changes
// DIR`, one per step): a tar (zstd) of the changed files, with OCI
// whiteouts for what is gone, so it applies on the old tree as a layer
// does. Both trees may be hostile: nothing in them is followed (symlinks
// are entries) and nothing is opened outside them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace coracle::image {

struct TreeChange {
  enum class Kind { kAdded, kModified, kDeleted, kRenamed } kind;
  std::string path;  // relative, '/'-separated
  std::string from;  // kRenamed: the old path
  char type = 'f';   // 'f' file, 'd' directory, 'l' symlink, '?' other
  uint64_t size = 0;
  std::string sha256;                                  // files: "sha256:..." (deleted: what it was)
  unsigned mode = 0;                                   // permission bits (07777)
  bool content_changed = false, mode_changed = false;  // kModified: what
};

// The changes from before to after (both directories), sorted by path.
std::vector<TreeChange> diff_trees(const std::string& before, const std::string& after);

// The archive: after's added, modified and renamed entries (parent
// directories first), whiteouts (".wh.NAME") for deleted and renamed-from
// paths; a zstd-compressed tar written atomically to file.
void write_changes_archive(const std::string& after, const std::vector<TreeChange>& changes,
                           const std::string& file);

}  // namespace coracle::image

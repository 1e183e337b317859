// The user's app folder, the one place where the chain touches the user's
// own files. Everything in it may be hostile (a git checkout can carry
// symlinks), and coracle may be root, so:
//  - the folder is opened once; every path under it is resolved from that
//    fd with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (or O_NOFOLLOW): a
//    symlinked `.ayup`, or a symlink where the write-back would descend, is
//    an error, never followed;
//  - the folder is locked (flock) for the whole run: two runs on one app
//    never interleave their write-backs;
//  - the write-back is common/tree_merge.h: it adds and overwrites, never
//    deletes, never goes through a symlink, all or nothing.
#pragma once
#include <string>

#include "chain/state.h"
#include "common/file_lock.h"
#include "common/unique_fd.h"

namespace coracle::chain {

class AppFolder {
 public:
  // Opens path as an app folder (it must exist). With lock, takes the
  // folder's lock or throws saying another run holds it (exit 125).
  static AppFolder open(const std::string& path, bool lock);
  // Opens path as a place to write a result (--output): made if missing.
  static AppFolder open_output(const std::string& path);

  const std::string& path() const { return path_; }

  // The state: the regular files of APP/.ayup (none when it is missing).
  // A `.ayup` that is a symlink or not a directory is an error; symlinks
  // inside it are not state files and are ignored.
  AppState load_state() const;
  // APP/.ayup/first alone, trimmed ("" when unset).
  std::string first_assistant() const;
  // Sets APP/.ayup/first (the state dir made if missing).
  void set_first_assistant(const std::string& name) const;

  // Copies the app, without .ayup, into dst (a new dir of coracle's).
  void copy_app_to(const std::string& dst) const;

  // Writes the app tree at src (coracle's own dir) into this folder and the
  // state into its .ayup: all of it, or nothing (see above). Files the
  // state no longer has are removed from .ayup (it mirrors the state).
  void write_back(const std::string& src, const AppState& state) const;

 private:
  AppFolder(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  // APP/.ayup opened (O_NOFOLLOW), or -1 when missing; throws when it is
  // not a real directory.
  UniqueFd state_dir(bool create) const;

  std::string path_;
  UniqueFd fd_;    // O_RDONLY | O_DIRECTORY
  FileLock lock_;  // on the folder, for the whole run
};

}  // namespace coracle::chain

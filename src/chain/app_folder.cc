#include "chain/app_folder.h"

#include <fcntl.h>

#include <cerrno>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/tree_merge.h"

namespace coracle::chain {

AppFolder AppFolder::open(const std::string& path, bool lock) {
  // The folder itself is what the user named: a symlink to it is followed,
  // once. Below it, nothing is.
  UniqueFd fd = open_directory(AT_FDCWD, path, true);
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) throw Error("app folder " + path + " does not exist");
    throw_errno("cannot open the app folder " + path);
  }
  AppFolder folder(path, std::move(fd));
  // flock on the directory itself: nothing is created in the user's folder,
  // and the kernel drops the lock if coracle dies.
  if (lock) {
    folder.lock_ =
        FileLock::try_on_fd(open_directory(folder.fd_.get(), "."), FileLock::Mode::Exclusive);
    if (!folder.lock_)
      throw Error("the app folder " + path +
                  " is in use by another `coracle run`; wait for it to end");
  }
  return folder;
}

AppFolder AppFolder::open_output(const std::string& path) {
  mkdir_p(path);
  return open(path, false);
}

UniqueFd AppFolder::state_dir(bool create) const {
  if (create) make_dir_at(fd_.get(), ".ayup", path_ + "/.ayup");
  UniqueFd dir = open_directory(fd_.get(), ".ayup");
  if (dir || errno == ENOENT) return dir;
  if (errno == ELOOP || errno == ENOTDIR)
    throw Error(path_ +
                "/.ayup is a symlink or not a directory: coracle keeps the app's state "
                "only in a real directory (remove or replace it)");
  throw_errno("cannot open " + path_ + "/.ayup");
}

AppState AppFolder::load_state() const {
  UniqueFd dir = state_dir(false);
  if (!dir) return {};
  AppState state;
  for (const auto& [name, content] : read_regular_files_at(dir.get(), path_ + "/.ayup"))
    state.set(name, content);
  return state;
}

std::string AppFolder::first_assistant() const {
  auto first = load_state().get("first");
  return first ? trimmed(*first) : "";
}

void AppFolder::set_first_assistant(const std::string& name) const {
  UniqueFd dir = state_dir(true);
  write_file_atomic_at(dir.get(), "first", name + "\n");
}

void AppFolder::copy_app_to(const std::string& dst) const {
  copy_tree_at(fd_.get(), path_, dst, {".ayup"});
}

void AppFolder::write_back(const std::string& src, const AppState& state) const {
  UniqueFd ayup = state_dir(false);  // throws for a symlinked .ayup, first
  merge_tree(src, fd_.get(), path_, ".ayup", state.files(), static_cast<bool>(ayup));
}

}  // namespace coracle::chain

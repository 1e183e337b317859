#include "chain/app_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"

namespace coracle::chain {

AppFolder AppFolder::open(const std::string& path, bool lock) {
  // The folder itself is what the user named: a symlink to it is followed,
  // once. Below it, nothing is.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) throw Error("app folder " + path + " does not exist");
    throw_errno("cannot open the app folder " + path);
  }
  // flock on the directory itself: nothing is created in the user's folder,
  // and the kernel drops the lock if coracle dies.
  if (lock && flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK)
      throw Error("the app folder " + path +
                  " is in use by another `coracle run`; wait for it to end");
    throw_errno("cannot lock the app folder " + path);
  }
  return AppFolder(path, std::move(fd));
}

AppFolder AppFolder::open_output(const std::string& path) {
  mkdir_p(path);
  return open(path, false);
}

UniqueFd AppFolder::state_dir(bool create) const {
  if (create && mkdirat(fd_.get(), ".ayup", 0755) < 0 && errno != EEXIST)
    throw_errno("cannot create " + path_ + "/.ayup");
  UniqueFd dir(openat(fd_.get(), ".ayup", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir) return dir;
  if (errno == ENOENT) return dir;
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
  std::string tmp = ".first.tmp." + std::to_string(getpid());
  UniqueFd file(
      openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file) throw_errno("cannot create " + path_ + "/.ayup/" + tmp);
  std::string text = name + "\n";
  try {
    write_all(file.get(), text.data(), text.size(), path_ + "/.ayup/first");
  } catch (...) {
    unlinkat(dir.get(), tmp.c_str(), 0);
    throw;
  }
  if (renameat(dir.get(), tmp.c_str(), dir.get(), "first") < 0) {
    int err = errno;
    unlinkat(dir.get(), tmp.c_str(), 0);
    throw_errno("cannot write " + path_ + "/.ayup/first", err);
  }
}

void AppFolder::copy_app_to(const std::string& dst) const {
  copy_tree_at(fd_.get(), path_, dst, {".ayup"});
}

}  // namespace coracle::chain

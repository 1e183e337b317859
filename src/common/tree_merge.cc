// merge_tree (tree_merge.h): a tree into a user's directory, all or
// nothing, never deleting, never through a symlink.
//
// Three phases:
//  1. plan: walk the result and the folder side by side (fds only). Every
//     type conflict and every result file coracle cannot read is found
//     here, and any of them stops the write-back before it writes a byte;
//  2. stage: make the new directories and write every file and symlink
//     under a temporary name beside its place (same directory, so same file
//     system); a failure (a full disk, a read-only directory) removes all
//     that was staged and made;
//  3. commit: rename each staged name over its place (atomic per file),
//     then give new directories their modes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/tree_merge.h"

namespace coracle {
namespace {

enum class Kind { Dir, File, Link };

const char* kind_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISREG(mode)) return "a file";
  return "a special file";
}

// One entry of the result, relative to the folder.
struct Placement {
  std::string dir;   // its parent ("" for the folder itself)
  std::string name;  // its name in dir
  Kind kind;
  mode_t mode;
  struct timespec times[2];
  bool exists = false;  // the folder has it (a dir is kept, a file replaced)
  std::string staged;   // the temporary name in dir, once staged
};

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string staging_name() {
  static std::atomic<unsigned> counter{0};
  return ".coracle-writeback-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// A file the result has exactly as the folder has it is left alone, so an
// unchanged app costs no write: same type and mode, same size, and the
// same mtime to the nanosecond (rsync's quick check, as the chain's own
// copies keep it) or else the same bytes (tools like busybox `cp -a`
// keep only whole seconds); a symlink with the same target.
bool unchanged(int src, int dest, const std::string& name, const struct stat& st,
               const struct stat& have) {
  if ((st.st_mode & S_IFMT) != (have.st_mode & S_IFMT)) return false;
  if (S_ISLNK(st.st_mode)) {
    char a[4096], b[4096];
    ssize_t na = readlinkat(src, name.c_str(), a, sizeof a);
    ssize_t nb = readlinkat(dest, name.c_str(), b, sizeof b);
    return na >= 0 && na == nb && memcmp(a, b, static_cast<size_t>(na)) == 0;
  }
  if (!S_ISREG(st.st_mode) || st.st_size != have.st_size ||
      (st.st_mode & kCopiedModeBits) != (have.st_mode & 07777))
    return false;
  if (st.st_mtim.tv_sec == have.st_mtim.tv_sec && st.st_mtim.tv_nsec == have.st_mtim.tv_nsec)
    return true;
  UniqueFd a(openat(src, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  UniqueFd b(openat(dest, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!a || !b) return false;
  char x[65536], y[65536];
  while (true) {
    ssize_t nx = read(a.get(), x, sizeof x);
    if (nx <= 0) return nx == 0 && read(b.get(), y, 1) == 0;
    size_t got = 0;
    while (got < static_cast<size_t>(nx)) {
      ssize_t ny = read(b.get(), y + got, static_cast<size_t>(nx) - got);
      if (ny <= 0) return false;
      got += static_cast<size_t>(ny);
    }
    if (memcmp(x, y, got) != 0) return false;
  }
}

class WriteBack {
 public:
  WriteBack(int src_root, const std::string& src_path, int dest_root, const std::string& dest_path)
      : src_root_(src_root), src_path_(src_path), dest_root_(dest_root), dest_path_(dest_path) {}

  // Phase 1 for the tree (files_dir is never part of it).
  void plan_app() {
    plan_dir("", dest_root_);
    if (problems_.empty()) return;
    std::string text =
        "the result cannot be written back into " + dest_path_ + " (nothing was written):";
    for (size_t i = 0; i < problems_.size() && i < 10; ++i) text += "\n  " + problems_[i];
    if (problems_.size() > 10)
      text += "\n  ... and " + std::to_string(problems_.size() - 10) + " more";
    throw Error(text);
  }

  // Phase 1 for the files: each becomes FILES_DIR/NAME.
  void plan_files(const std::string& files_dir, const std::map<std::string, std::string>& files,
                  bool files_dir_exists) {
    files_dir_ = files_dir;
    files_ = &files;
    if (!files_dir_exists) {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      placements_.push_back({"", files_dir_, Kind::Dir, 0755, {now, now}, false, {}});
    }
  }

  // Phases 2 and 3.
  void run() {
    try {
      stage();
    } catch (...) {
      rollback();
      throw;
    }
    commit();
  }

 private:
  // The folder's dir (relative), through no symlink.
  int dest_dir(const std::string& dir) {
    auto it = open_dirs_.find(dir);
    if (it != open_dirs_.end()) return it->second.get();
    return open_dir(open_dirs_, dest_root_, dest_path_, dir);
  }

  void plan_dir(const std::string& rel, int dest) {
    UniqueFd src(rel.empty() ? dup(src_root_)
                             : open_beneath(src_root_, rel.c_str(), O_RDONLY | O_DIRECTORY));
    if (!src) {
      problems_.push_back(join(rel, "") + ": coracle cannot read this directory of the result");
      return;
    }
    for (const auto& name : list_dir_at(src.get(), join(src_path_, rel))) {
      if (rel.empty() && name == files_dir_) continue;  // the files go their own way
      std::string path = join(rel, name);
      struct stat st, have;
      if (fstatat(src.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      Kind kind;
      if (S_ISDIR(st.st_mode))
        kind = Kind::Dir;
      else if (S_ISREG(st.st_mode))
        kind = Kind::File;
      else if (S_ISLNK(st.st_mode))
        kind = Kind::Link;
      else
        continue;  // devices, fifos and sockets are not application files
      bool exists = dest >= 0 && fstatat(dest, name.c_str(), &have, AT_SYMLINK_NOFOLLOW) == 0;
      if (exists && (kind == Kind::Dir) != S_ISDIR(have.st_mode)) {
        problems_.push_back(path + " is " + kind_name(have.st_mode) + " in the app folder but " +
                            kind_name(st.st_mode) +
                            " in the result; coracle never deletes or replaces a directory "
                            "(move one of them away)");
        continue;
      }
      if (kind == Kind::File) {
        UniqueFd f(openat(src.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!f)
          problems_.push_back(path + ": coracle cannot read this file of the result (" +
                              strerror(errno) + "); a step must leave its files readable");
      }
      if (exists && unchanged(src.get(), dest, name, st, have)) continue;
      placements_.push_back({rel, name, kind, st.st_mode, {st.st_atim, st.st_mtim}, exists, {}});
      if (kind != Kind::Dir) continue;
      UniqueFd child;
      if (exists)
        child.reset(openat(dest, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (exists && !child) {
        problems_.push_back(path + ": cannot open this directory of the app folder (" +
                            strerror(errno) + ")");
        continue;
      }
      plan_dir(path, child ? child.get() : -1);
    }
  }

  void stage_file(Placement& p, int parent, const std::string& content_path,
                  const std::string* content) {
    p.staged = staging_name();
    UniqueFd to(openat(parent, p.staged.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!to) {
      p.staged.clear();
      throw_errno("cannot write in " + join(dest_path_, p.dir));
    }
    std::string where = join(dest_path_, join(p.dir, p.name));
    if (content) {
      write_all(to.get(), content->data(), content->size(), where);
    } else {
      UniqueFd from(open_beneath(src_root_, content_path.c_str(), O_RDONLY | O_NONBLOCK));
      if (!from) throw_errno("cannot read " + join(src_path_, content_path));
      char buf[65536];
      while (true) {
        ssize_t n = read(from.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("cannot read " + join(src_path_, content_path));
        if (n == 0) break;
        write_all(to.get(), buf, static_cast<size_t>(n), where);
      }
    }
    fchmod(to.get(), p.mode & kCopiedModeBits);
    futimens(to.get(), p.times);
  }

  void stage() {
    for (auto& p : placements_) {
      int parent = dest_dir(p.dir);
      std::string path = join(p.dir, p.name);
      if (p.kind == Kind::Dir) {
        if (p.exists) continue;
        if (mkdirat(parent, p.name.c_str(), 0700) < 0)
          throw_errno("cannot create " + join(dest_path_, path));
        created_.push_back(&p);
      } else if (p.kind == Kind::Link) {
        char target[4096];
        ssize_t n = readlinkat(src_dir(p.dir), p.name.c_str(), target, sizeof target - 1);
        if (n < 0) throw_errno("cannot read the link " + join(src_path_, path));
        target[n] = '\0';
        p.staged = staging_name();
        if (symlinkat(target, parent, p.staged.c_str()) < 0) {
          p.staged.clear();
          throw_errno("cannot write in " + join(dest_path_, p.dir));
        }
      } else {
        stage_file(p, parent, path, nullptr);
      }
    }
    if (!files_) return;
    int dir = dest_dir(files_dir_);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    state_files_.reserve(files_->size());
    for (const auto& [name, content] : *files_) {
      state_files_.push_back({files_dir_, name, Kind::File, 0644, {now, now}, false, {}});
      stage_file(state_files_.back(), dir, "", &content);
    }
    // One flush of the whole file system instead of one per file: what is
    // renamed in next is on disk.
    syncfs(dir);
  }

  // The result's dir rel (for readlinkat), through no symlink.
  int src_dir(const std::string& rel) {
    auto it = src_dirs_.find(rel);
    if (it != src_dirs_.end()) return it->second.get();
    return open_dir(src_dirs_, src_root_, src_path_, rel);
  }

  // dir under root (through no symlink), opened once and kept in cache.
  static int open_dir(std::map<std::string, UniqueFd>& cache, int root,
                      const std::string& root_path, const std::string& dir) {
    int fd = dir.empty() ? fcntl(root, F_DUPFD_CLOEXEC, 0)
                         : open_beneath(root, dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) throw_errno("cannot open " + join(root_path, dir), dir.empty() ? errno : -fd);
    cache.emplace(dir, UniqueFd(fd));
    return fd;
  }

  void rollback() {
    for (auto* list : {&placements_, &state_files_})
      for (auto& p : *list)
        if (!p.staged.empty()) unlinkat(dest_dir_or_none(p.dir), p.staged.c_str(), 0);
    for (auto it = created_.rbegin(); it != created_.rend(); ++it)
      unlinkat(dest_dir_or_none((*it)->dir), (*it)->name.c_str(), AT_REMOVEDIR);
  }

  int dest_dir_or_none(const std::string& dir) {
    auto it = open_dirs_.find(dir);
    return it == open_dirs_.end() ? -1 : it->second.get();
  }

  void commit() {
    for (auto* list : {&placements_, &state_files_})
      for (auto& p : *list) {
        if (p.staged.empty()) continue;
        int parent = dest_dir(p.dir);
        if (renameat(parent, p.staged.c_str(), parent, p.name.c_str()) < 0)
          throw_errno("cannot put " + join(dest_path_, join(p.dir, p.name)) + " in place");
        p.staged.clear();
      }
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      int parent = dest_dir((*it)->dir);
      fchmodat(parent, (*it)->name.c_str(), (*it)->mode & kCopiedModeBits, 0);
      utimensat(parent, (*it)->name.c_str(), (*it)->times, AT_SYMLINK_NOFOLLOW);
    }
    if (!files_) return;
    // files_dir mirrors the files: one no longer there goes (only
    // regular files: whatever else the user keeps there stays).
    int dir = dest_dir(files_dir_);
    for (const auto& name : list_dir_at(dir, dest_path_ + "/" + files_dir_)) {
      struct stat st;
      if (files_->count(name) || name.rfind(".coracle-writeback-", 0) == 0) continue;
      if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        unlinkat(dir, name.c_str(), 0);
    }
  }

  int src_root_;
  std::string src_path_;
  int dest_root_;
  std::string dest_path_;
  std::vector<std::string> problems_;
  std::vector<Placement> placements_;   // parents before children
  std::vector<Placement> state_files_;  // FILES_DIR/NAME
  std::vector<Placement*> created_;     // dirs made by stage()
  std::string files_dir_;
  const std::map<std::string, std::string>* files_ = nullptr;
  std::map<std::string, UniqueFd> open_dirs_, src_dirs_;
};

}  // namespace

void merge_tree(const std::string& src, int dest_fd, const std::string& dest_path,
                const std::string& files_dir, const std::map<std::string, std::string>& files,
                bool files_dir_exists) {
  UniqueFd src_root(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!src_root) throw_errno("cannot open " + src);
  WriteBack wb(src_root.get(), src, dest_fd, dest_path);
  wb.plan_app();
  wb.plan_files(files_dir, files, files_dir_exists);
  wb.run();
}

}  // namespace coracle

#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/parse.h"
#include "common/unique_fd.h"

namespace coracle {

int open_beneath(int dir_fd, const char* path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int open_in_root(int root_fd, const char* path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (*path == '/') ++path;
  if (*path == '\0') path = ".";
  long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

// Walks path one component at a time so each missing directory is created
// in the directory that RESOLVE_IN_ROOT found, never through a symlink. A
// dangling symlink on the way (its target missing) is followed by creating
// its target, again inside the root.
static int mkdir_p_in_root_depth(int root_fd, const char* path, int depth) {
  if (depth > 40) return -ELOOP;
  char prefix[4096];
  size_t len = strlen(path);
  if (len >= sizeof prefix) return -ENAMETOOLONG;
  int dir = open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
  if (dir < 0) return dir;
  size_t i = 0;
  while (i < len) {
    while (i < len && path[i] == '/') ++i;
    size_t end = i;
    while (end < len && path[end] != '/') ++end;
    if (end == i) break;
    memcpy(prefix, path, end);
    prefix[end] = '\0';
    int next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
    if (next == -ENOENT) {
      char name[256];
      if (end - i >= sizeof name) {
        close(dir);
        return -ENAMETOOLONG;
      }
      memcpy(name, path + i, end - i);
      name[end - i] = '\0';
      if (mkdirat(dir, name, 0755) == 0) {
        next = open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
      } else if (errno != EEXIST) {
        // The real reason (EROFS, EACCES, EOVERFLOW...), not a later ENOENT.
        int err = errno;
        close(dir);
        return -err;
      } else {
        // EEXIST but not found: a dangling symlink. Create what it names.
        char target[4096], redirected[4096];
        ssize_t n = readlinkat(dir, name, target, sizeof target - 1);
        close(dir);
        if (n < 0) return -errno;
        target[n] = '\0';
        int w = target[0] == '/'
                    ? snprintf(redirected, sizeof redirected, "%s%s", target, path + end)
                    : snprintf(redirected, sizeof redirected, "%.*s/%s%s", static_cast<int>(i),
                               path, target, path + end);
        if (w < 0 || static_cast<size_t>(w) >= sizeof redirected) return -ENAMETOOLONG;
        return mkdir_p_in_root_depth(root_fd, redirected, depth + 1);
      }
    }
    close(dir);
    if (next < 0) return next;
    dir = next;
    i = end;
  }
  return dir;
}

int mkdir_p_in_root(int root_fd, const char* path) {
  return mkdir_p_in_root_depth(root_fd, path, 0);
}

int touch_in_root(int root_fd, const char* path) {
  int fd = open_in_root(root_fd, path, O_PATH);
  if (fd != -ENOENT) return fd;
  const char* slash = strrchr(path, '/');
  char parent[4096];
  size_t plen = slash ? static_cast<size_t>(slash - path) : 0;
  if (plen >= sizeof parent) return -ENAMETOOLONG;
  memcpy(parent, path, plen);
  parent[plen] = '\0';
  int dir = mkdir_p_in_root(root_fd, parent);
  if (dir < 0) return dir;
  const char* name = slash ? slash + 1 : path;
  int created = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  int err = errno;
  close(dir);
  if (created < 0 && err != EEXIST) return -err;
  if (created >= 0) close(created);
  return open_in_root(root_fd, path, O_PATH);
}

std::string read_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open " + path);
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot read " + path);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot write " + path);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void write_file(const std::string& path, const std::string& data) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open " + path);
  write_all(fd.get(), data.data(), data.size(), path);
}

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
  write_file_atomic_at(AT_FDCWD, path, data, mode);
}

void write_file_atomic_at(int dir_fd, const std::string& name, const std::string& data,
                          mode_t mode) {
  // pid and a counter: unique across processes and across threads.
  static std::atomic<unsigned> counter{0};
  std::string tmp = name + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
  UniqueFd fd(
      openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) throw_errno("cannot create " + tmp);
  try {
    write_all(fd.get(), data.data(), data.size(), tmp);
    if (fsync(fd.get()) < 0) throw_errno("cannot sync " + tmp);
  } catch (...) {
    unlinkat(dir_fd, tmp.c_str(), 0);
    throw;
  }
  fd.reset();
  if (renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) {
    int err = errno;
    unlinkat(dir_fd, tmp.c_str(), 0);
    throw_errno("cannot rename " + tmp + " to " + name, err);
  }
}

void make_dir_at(int dir_fd, const std::string& name, const std::string& where) {
  if (mkdirat(dir_fd, name.c_str(), 0755) < 0 && errno != EEXIST)
    throw_errno("cannot create " + where);
}

UniqueFd open_directory(int dir_fd, const std::string& name, bool follow) {
  return UniqueFd(
      openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
}

void mkdir_p(const std::string& path, mode_t mode) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), mode) < 0 && errno != EEXIST) throw_errno("cannot create " + part);
  }
}

// Whether a directory must be made 0700 before its entries can be removed:
// root's access ignores the mode.
static bool needs_owner_access(const struct stat& st) {
  return geteuid() != 0 && (st.st_mode & 0700) != 0700;
}

static void remove_children(int dir_fd, const std::string& path, dev_t dev) {
  DIR* dir = fdopendir(dir_fd);
  if (!dir) {
    close(dir_fd);
    throw_errno("cannot list " + path);
  }
  while (struct dirent* entry = readdir(dir)) {
    if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
      int child =
          openat(dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      // A read-only directory of an image (0555) must become writable to be
      // emptied when coracle is not root. Only then: a chmod is a journal
      // write, and the store's reaper empties a few directories every run.
      if (child >= 0 && needs_owner_access(st)) fchmod(child, 0700);
      if (child >= 0) remove_children(child, path + "/" + entry->d_name, dev);
      unlinkat(dirfd(dir), entry->d_name, AT_REMOVEDIR);
    } else if (!S_ISDIR(st.st_mode)) {
      unlinkat(dirfd(dir), entry->d_name, 0);
    }
  }
  closedir(dir);
}

void remove_tree(const std::string& path) {
  remove_tree_at(AT_FDCWD, path.c_str());
}

void remove_tree_at(int dir_fd, const char* name) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno(std::string("cannot remove ") + name);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno(std::string("cannot open ") + name);
    if (needs_owner_access(st)) fchmod(fd, 0700);
    remove_children(fd, name, st.st_dev);
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      throw_errno(std::string("cannot remove ") + name);
  } else if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
    throw_errno(std::string("cannot remove ") + name);
  }
}

namespace {

void copy_entries(int src_dir, int dst_dir, const std::string& where,
                  const std::vector<std::string>& skip) {
  int fd = openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot read " + where);
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    throw_errno("cannot read " + where);
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (std::find(skip.begin(), skip.end(), n) != skip.end()) continue;
    names.push_back(n);
  }
  closedir(d);
  for (const auto& name : names) {
    std::string path = where + "/" + name;
    struct stat st, existing;
    if (fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno("cannot stat " + path);
    bool have = fstatat(dst_dir, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    // Something of another kind in the way goes; a directory stays and
    // takes the copy's entries.
    if (have && !(S_ISDIR(st.st_mode) && S_ISDIR(existing.st_mode))) {
      if (S_ISDIR(existing.st_mode))
        remove_tree_at(dst_dir, name.c_str());
      else if (unlinkat(dst_dir, name.c_str(), 0) < 0)
        throw_errno("cannot replace " + path);
      have = false;
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (S_ISDIR(st.st_mode)) {
      if (!have && mkdirat(dst_dir, name.c_str(), 0700) < 0) throw_errno("cannot create " + path);
      UniqueFd from(openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd to(openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from || !to) throw_errno("cannot open " + path);
      copy_entries(from.get(), to.get(), path, {});
      fchmod(to.get(), st.st_mode & kCopiedModeBits);
      futimens(to.get(), times);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("cannot read the link " + path);
      target.resize(static_cast<size_t>(n));
      if (symlinkat(target.c_str(), dst_dir, name.c_str()) < 0)
        throw_errno("cannot create " + path);
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd from(openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!from) throw_errno("cannot open " + path);
      UniqueFd to(openat(dst_dir, name.c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                         st.st_mode & kCopiedModeBits));
      if (!to) throw_errno("cannot create " + path);
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t n =
            copy_file_range(from.get(), nullptr, to.get(), nullptr, static_cast<size_t>(left), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          // Across file systems where the kernel cannot: plain reads.
          char buf[65536];
          ssize_t r = read(from.get(), buf, sizeof buf);
          if (r < 0 && errno == EINTR) continue;
          if (r < 0) throw_errno("cannot read " + path);
          if (r == 0) break;
          write_all(to.get(), buf, static_cast<size_t>(r), path);
          n = r;
        }
        left -= n;
      }
      fchmod(to.get(), st.st_mode & kCopiedModeBits);
      futimens(to.get(), times);
    }
    // Devices, fifos and sockets are not application files: left out.
  }
}

}  // namespace

void copy_tree(const std::string& src, const std::string& dst,
               const std::vector<std::string>& skip_top) {
  UniqueFd from(open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from) throw_errno("cannot open " + src);
  copy_tree_at(from.get(), src, dst, skip_top);
}

void copy_tree_at(int src_fd, const std::string& src, const std::string& dst,
                  const std::vector<std::string>& skip_top) {
  UniqueFd from(openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!from) throw_errno("cannot open " + src);
  mkdir_p(dst);
  UniqueFd to(open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!to) throw_errno("cannot open " + dst);
  copy_entries(from.get(), to.get(), src, skip_top);
}

std::optional<std::string> read_file_in_root(const std::string& root, const std::string& path,
                                             size_t max_size) {
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno("cannot open " + root);
  int fd = open_in_root(dir.get(), path.c_str(), O_RDONLY | O_NONBLOCK);
  if (fd == -ENOENT) return std::nullopt;
  if (fd < 0) throw_errno("cannot open " + path + " in " + root, -fd);
  UniqueFd file(fd);
  struct stat st;
  if (fstat(fd, &st) < 0) throw_errno("cannot read " + path + " in " + root);
  if (!S_ISREG(st.st_mode)) throw Error(path + " in " + root + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_size)
    throw Error(path + " in " + root + " is too large (" + std::to_string(st.st_size) + " bytes)");
  std::string data(static_cast<size_t>(st.st_size), '\0');
  ssize_t got = pread(fd, data.data(), data.size(), 0);
  if (got < 0) throw_errno("cannot read " + path + " in " + root);
  data.resize(static_cast<size_t>(got));
  return data;
}

std::map<std::string, std::string> read_regular_files(const std::string& dir, size_t max_size) {
  UniqueFd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) {
    if (errno == ENOENT) return {};
    throw_errno("cannot open " + dir);
  }
  return read_regular_files_at(d.get(), dir, max_size);
}

std::vector<std::string> list_dir_at(int dir_fd, const std::string& where) {
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* list = fd < 0 ? nullptr : fdopendir(fd);
  if (!list) {
    int err = errno;
    if (fd >= 0) close(fd);
    throw_errno("cannot read " + where, err);
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(list)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(list);
  std::sort(names.begin(), names.end());
  return names;
}

FileAt read_regular_file_at(int dir_fd, const std::string& name, const std::string& where,
                            size_t max_size, std::string& data) {
  UniqueFd f(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!f) {
    if (errno == ENOENT) return FileAt::Missing;
    if (errno == ELOOP) return FileAt::Symlink;
    throw_errno("cannot read " + where);
  }
  struct stat st;
  if (fstat(f.get(), &st) < 0) throw_errno("cannot read " + where);
  if (!S_ISREG(st.st_mode)) return FileAt::NotRegular;
  if (static_cast<size_t>(st.st_size) > max_size) return FileAt::TooLarge;
  data.assign(static_cast<size_t>(st.st_size), '\0');
  ssize_t got = pread(f.get(), data.data(), data.size(), 0);
  if (got < 0) throw_errno("cannot read " + where);
  data.resize(static_cast<size_t>(got));
  return FileAt::Read;
}

std::map<std::string, std::string> read_regular_files_at(int dir_fd, const std::string& dir,
                                                         size_t max_size) {
  std::map<std::string, std::string> files;
  UniqueFd d(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) throw_errno("cannot open " + dir);
  for (const auto& n : list_dir_at(d.get(), dir)) {
    std::string data;
    FileAt got = read_regular_file_at(d.get(), n, dir + "/" + n, max_size, data);
    if (got == FileAt::TooLarge) throw Error(dir + "/" + n + " is too large");
    if (got == FileAt::Read) files.emplace(n, std::move(data));
  }
  return files;
}

void remove_file(const std::string& path) {
  if (unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("cannot remove " + path);
}

std::vector<std::string> list_dir(const std::string& dir) {
  UniqueFd d(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return {};
    throw_errno("cannot read " + dir);
  }
  return list_dir_at(d.get(), dir);
}

void rename_path(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) < 0) throw_errno("cannot move " + from + " to " + to);
}

std::string clean_path(const std::string& path) {
  std::vector<std::string> parts;
  for (auto& p : split(path, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  std::string out;
  for (auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::string full = path;
  if (path[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) throw_errno("getcwd");
    full = std::string(cwd) + "/" + path;
  }
  // Without "." components and repeated slashes ("./app" is cwd/app). ".."
  // stays: it means something else after a symlink.
  std::string out;
  for (const auto& part : split(full, '/')) {
    if (part.empty() || part == ".") continue;
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_regular_file(const std::string& path, bool follow) {
  struct stat st;
  return (follow ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) == 0 && S_ISREG(st.st_mode);
}

std::string executable_dir() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return {};
  std::string path(exe, static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

std::string make_unique_dir(const std::string& parent, const std::string& prefix) {
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  if (!mkdtemp(tmpl.data())) throw_errno("cannot create a directory in " + parent);
  return tmpl;
}

}  // namespace coracle

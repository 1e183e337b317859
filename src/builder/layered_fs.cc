#include "builder/layered_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::builder {
namespace {

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

bool is_opaque_dir(int layer_fd, const std::string& rel) {
  int fd = rel.empty()
               ? dup(layer_fd)
               : openat(layer_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  char v = 0;
  bool opaque = fgetxattr(fd, "user.overlay.opaque", &v, 1) == 1 && v == 'y';
  close(fd);
  return opaque;
}

}  // namespace

LayeredFs::LayeredFs(std::vector<std::string> layer_dirs) : dirs_(std::move(layer_dirs)) {
  for (const auto& d : dirs_) {
    int fd = open(d.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      for (int f : fds_) close(f);
      throw_errno("cannot open layer " + d);
    }
    fds_.push_back(fd);
  }
}

LayeredFs::~LayeredFs() {
  for (int fd : fds_) close(fd);
}

bool LayeredFs::stat_in(size_t i, const std::string& rel, struct stat& st) const {
  if (rel.empty()) return fstat(fds_[i], &st) == 0;
  return fstatat(fds_[i], rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// path is resolved already (no symlinks in its parents): the topmost layer
// that has it, unless a whiteout, a non-directory or an opaque directory
// above hides the layers below.
std::optional<LayeredFs::Node> LayeredFs::lookup_resolved(const std::string& path) const {
  std::string rel = path == "/" ? "" : path.substr(1);
  // Each parent's "hides the layers below" markers count too.
  std::vector<std::string> parents;
  for (size_t s = rel.find('/'); s != std::string::npos; s = rel.find('/', s + 1))
    parents.push_back(rel.substr(0, s));
  for (size_t i = fds_.size(); i-- > 0;) {
    struct stat st;
    if (stat_in(i, rel, st)) {
      if (is_whiteout(st)) return std::nullopt;
      return Node{path, static_cast<int>(i), st};
    }
    // Absent here: does this layer hide what is below (a whiteout or file on
    // a parent, or an opaque parent)?
    for (const auto& p : parents) {
      struct stat pst;
      if (!stat_in(i, p, pst)) continue;
      if (!S_ISDIR(pst.st_mode)) return std::nullopt;
      if (is_opaque_dir(fds_[i], p)) return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<LayeredFs::Node> LayeredFs::lookup(const std::string& path, bool follow) const {
  std::vector<std::string> todo;
  for (auto& p : split(clean_path(path), '/'))
    if (!p.empty()) todo.push_back(p);
  std::reverse(todo.begin(), todo.end());
  std::string cur = "/";
  std::optional<Node> node = lookup_resolved("/");
  int hops = 0;
  while (!todo.empty()) {
    std::string name = todo.back();
    todo.pop_back();
    if (name == ".") continue;
    if (name == "..") {
      cur = clean_path(cur + "/..");
      node = lookup_resolved(cur);
      continue;
    }
    std::string next = cur == "/" ? "/" + name : cur + "/" + name;
    node = lookup_resolved(next);
    if (!node) return std::nullopt;
    bool last = todo.empty();
    if (S_ISLNK(node->st.st_mode) && (!last || follow)) {
      if (++hops > 40) return std::nullopt;  // ELOOP
      std::string target = read_link(*node);
      if (target.empty()) return std::nullopt;
      // The link's components go first; absolute links restart at the root.
      for (auto& p : [&] {
             auto parts = split(target, '/');
             std::reverse(parts.begin(), parts.end());
             return parts;
           }())
        if (!p.empty()) todo.push_back(p);
      if (target[0] == '/') cur = "/";
      node = lookup_resolved(cur);
      continue;
    }
    cur = next;
  }
  if (node) node->path = cur;
  return node;
}

std::optional<LayeredFs::Node> LayeredFs::child(const Node& dir, const std::string& name) const {
  return lookup_resolved(dir.path == "/" ? "/" + name : dir.path + "/" + name);
}

std::vector<std::string> LayeredFs::list(const std::string& dir) const {
  std::string rel = dir == "/" ? "" : dir.substr(1);
  std::set<std::string> seen, hidden;
  std::vector<std::string> names;
  auto top = lookup_resolved(dir);
  if (!top || !S_ISDIR(top->st.st_mode)) return names;
  for (int i = top->layer; i >= 0; --i) {
    struct stat st;
    if (!stat_in(static_cast<size_t>(i), rel, st)) continue;
    if (!S_ISDIR(st.st_mode)) break;  // a file here hides the layers below
    int fd = rel.empty()
                 ? openat(fds_[static_cast<size_t>(i)], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                 : openat(fds_[static_cast<size_t>(i)], rel.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot list " + dir + " in layer " + dirs_[static_cast<size_t>(i)]);
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      throw_errno("cannot list " + dir);
    }
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == ".." || seen.count(n) || hidden.count(n)) continue;
      struct stat est;
      if (fstatat(dirfd(d), n.c_str(), &est, AT_SYMLINK_NOFOLLOW) == 0 && is_whiteout(est)) {
        hidden.insert(n);
        continue;
      }
      seen.insert(n);
      names.push_back(n);
    }
    closedir(d);
    if (is_opaque_dir(fds_[static_cast<size_t>(i)], rel)) break;
  }
  std::sort(names.begin(), names.end());
  return names;
}

int LayeredFs::open_file(const Node& node) const {
  std::string rel = node.path.substr(1);
  int fd =
      openat(fds_[static_cast<size_t>(node.layer)], rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open " + node.path + " in the image");
  return fd;
}

std::string LayeredFs::read_link(const Node& node) const {
  std::string rel = node.path.substr(1);
  char buf[4096];
  ssize_t n = readlinkat(fds_[static_cast<size_t>(node.layer)], rel.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string LayeredFs::read_small_file(const std::string& path) const {
  auto node = lookup(path, true);
  if (!node || !S_ISREG(node->st.st_mode) || node->st.st_size > (4 << 20)) return {};
  int fd = open_file(*node);
  std::string data(static_cast<size_t>(node->st.st_size), '\0');
  ssize_t n = pread(fd, data.data(), data.size(), 0);
  close(fd);
  data.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return data;
}

}  // namespace coracle::builder

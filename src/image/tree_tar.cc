#include "image/tree_tar.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace coracle::image {
namespace {

bool keep_xattr(std::string_view name) {
  // File capabilities and users' own attributes travel with the image; the
  // overlay's bookkeeping (user.overlay.*, trusted.*) and LSM labels of
  // this host do not.
  if (name == "security.capability") return true;
  return name.rfind("user.", 0) == 0 && name.rfind("user.overlay.", 0) != 0;
}

std::string get_xattr(int fd, const char* name) {
  std::string value(256, '\0');
  while (true) {
    ssize_t n = fgetxattr(fd, name, value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      return value;
    }
    if (errno != ERANGE) return {};
    value.resize(value.size() * 4);
  }
}

// The xattrs of an open (O_PATH is not enough) file that a layer keeps.
std::vector<std::pair<std::string, std::string>> read_xattrs(int fd) {
  std::vector<std::pair<std::string, std::string>> out;
  char names[4096];
  ssize_t n = flistxattr(fd, names, sizeof names);
  if (n <= 0) return out;
  for (const char* p = names; p < names + n; p += strlen(p) + 1) {
    if (!keep_xattr(p)) continue;
    out.emplace_back(p, get_xattr(fd, p));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_opaque(int dir_fd) {
  for (const char* name : {"user.overlay.opaque", "trusted.overlay.opaque"}) {
    char v;
    if (fgetxattr(dir_fd, name, &v, 1) == 1 && v == 'y') return true;
  }
  return false;
}

class Walker {
 public:
  Walker(TarWriter& tar, const TreeTarOptions& o) : tar_(tar), opts_(o) {}

  void walk(int dir_fd, const std::string& dir_name) {
    for (const auto& name : sorted_names(dir_fd, dir_name)) entry(dir_fd, dir_name, name, name);
  }

  // name in dir_fd, written as dir_name + as_name ("" for a directory
  // whose contents go straight under dir_name).
  void entry(int dir_fd, const std::string& dir_name, const std::string& name,
             const std::string& as_name);

 private:
  std::vector<std::string> sorted_names(int dir_fd, const std::string& dir_name) {
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot read directory " + shown(dir_name));
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      throw_errno("cannot read directory " + shown(dir_name));
    }
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    closedir(d);
    // Byte order, like every other image tool: the archive is reproducible.
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string shown(const std::string& name) const { return "/" + opts_.prefix + name; }

  TarWriter& tar_;
  const TreeTarOptions& opts_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  std::vector<char> buf_;
};

void Walker::entry(int dir_fd, const std::string& dir_name, const std::string& name,
                   const std::string& as_name) {
  std::string path = dir_name + as_name;
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno("cannot stat " + shown(path));
  if (opts_.skip && !path.empty() && opts_.skip(path, S_ISDIR(st.st_mode))) return;
  TarEntry e;
  e.name = opts_.prefix + path;
  e.mode = opts_.mode ? *opts_.mode : st.st_mode & 07777;
  e.uid = opts_.owner ? opts_.owner->first : st.st_uid;
  e.gid = opts_.owner ? opts_.owner->second : st.st_gid;
  e.mtime = st.st_mtim.tv_sec;
  if (opts_.clamp_mtime && e.mtime > *opts_.clamp_mtime) e.mtime = *opts_.clamp_mtime;

  if (opts_.overlay_whiteouts && S_ISCHR(st.st_mode) && st.st_rdev == 0) {
    // A deletion of what the layers below had at this path.
    TarEntry wh;
    wh.name = opts_.prefix + dir_name + ".wh." + name;
    wh.mode = 0;
    wh.mtime = e.mtime;
    tar_.add(wh);
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    e.type = TarEntry::Type::kSymlink;
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) throw_errno("cannot read symlink " + shown(path));
    target.resize(static_cast<size_t>(n));
    e.link = std::move(target);
    tar_.add(e);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("cannot open directory " + shown(path));
    e.type = TarEntry::Type::kDir;
    if (!path.empty()) {
      e.xattrs = read_xattrs(fd.get());
      tar_.add(e);
      if (opts_.overlay_whiteouts && is_opaque(fd.get())) {
        TarEntry opq;
        opq.name = e.name + "/.wh..wh..opq";
        opq.mode = 0;
        opq.mtime = e.mtime;
        tar_.add(opq);
      }
    }
    walk(fd.get(), path.empty() ? path : path + "/");
    return;
  }
  if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) {
      auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, e.name);
      if (!first) {
        e.type = TarEntry::Type::kHardlink;
        e.link = it->second;
        tar_.add(e);
        return;
      }
    }
    UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("cannot open " + shown(path));
    e.type = TarEntry::Type::kFile;
    e.size = static_cast<uint64_t>(st.st_size);
    e.xattrs = read_xattrs(fd.get());
    tar_.add(e);
    write_file_data(tar_, fd.get(), e.size, buf_, shown(path));
    return;
  }
  // Sockets have no place in an image (docker and buildah skip them too).
  if (set_special_type(e, st)) tar_.add(e);
}

}  // namespace

bool set_special_type(TarEntry& e, const struct stat& st) {
  if (S_ISCHR(st.st_mode))
    e.type = TarEntry::Type::kCharDev;
  else if (S_ISBLK(st.st_mode))
    e.type = TarEntry::Type::kBlockDev;
  else if (S_ISFIFO(st.st_mode))
    e.type = TarEntry::Type::kFifo;
  else
    return false;
  e.dev_major = major(st.st_rdev);
  e.dev_minor = minor(st.st_rdev);
  return true;
}

void write_file_data(TarWriter& tar, int fd, uint64_t size, std::vector<char>& buf,
                     const std::string& what) {
  if (buf.empty()) buf.resize(1 << 20);
  while (size > 0) {
    ssize_t n = read(fd, buf.data(), std::min<uint64_t>(size, buf.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot read " + what);
    if (n == 0) throw Error(what + " shrank while it was being archived");
    tar.data(buf.data(), static_cast<size_t>(n));
    size -= static_cast<uint64_t>(n);
  }
}

void write_tree(int dir_fd, TarWriter& tar, const TreeTarOptions& options) {
  Walker(tar, options).walk(dir_fd, "");
}

void write_tree_entry(int dir_fd, const std::string& name, const std::string& as_name,
                      TarWriter& tar, const TreeTarOptions& options) {
  Walker(tar, options).entry(dir_fd, "", name, as_name);
}

}  // namespace coracle::image

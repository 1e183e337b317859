#include "image/default_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "default_rootfs_digest.h"

extern "C" const char coracle_default_rootfs_start[];
extern "C" const char coracle_default_rootfs_end[];

namespace coracle::image {
namespace {

uint64_t octal(const char* field, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && field[i]; ++i) {
    if (field[i] == ' ') continue;
    if (field[i] < '0' || field[i] > '7') throw Error("tar: bad number in header");
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  return v;
}

std::string field(const char* p, size_t len) {
  return std::string(p, strnlen(p, len));
}

// Rejects what a member name must never be: absolute, or climbing with "..".
std::string clean_name(const std::string& raw) {
  std::string name = raw;
  while (name.rfind("./", 0) == 0) name = name.substr(2);
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (name.empty() || name == ".") return "";
  if (name[0] == '/' || name == ".." || name.rfind("../", 0) == 0 ||
      name.find("/../") != std::string::npos || name.ends_with("/.."))
    throw Error("tar: refusing entry '" + raw + "' (outside the destination)");
  return name;
}

// Half-unpacked copies of coracles that were killed mid-way ("X.tmp.PID"
// whose PID is gone): never used, removed here.
void remove_stale_temps(const std::string& base) {
  DIR* dir = opendir(base.c_str());
  if (!dir) return;
  while (struct dirent* e = readdir(dir)) {
    const char* tag = strstr(e->d_name, ".tmp.");
    if (!tag) continue;
    int pid = atoi(tag + 5);
    if (pid > 0 && pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH)
      remove_tree(base + "/" + e->d_name);
  }
  closedir(dir);
}

}  // namespace

void unpack_ustar(std::string_view archive, const std::string& dest) {
  UniqueFd root(open(dest.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("cannot open " + dest);
  size_t pos = 0;
  while (pos + 512 <= archive.size()) {
    const char* h = archive.data() + pos;
    if (h[0] == '\0') break;  // end-of-archive blocks
    if (memcmp(h + 257, "ustar", 5) != 0) throw Error("tar: not a ustar archive");
    std::string name = field(h, 100);
    std::string prefix = field(h + 345, 155);
    if (!prefix.empty()) name = prefix + "/" + name;
    auto mode = static_cast<mode_t>(octal(h + 100, 8) & 07777);
    uint64_t size = octal(h + 124, 12);
    char type = h[156];
    std::string link = field(h + 157, 100);
    pos += 512;
    if (pos + size > archive.size()) throw Error("tar: truncated entry '" + name + "'");
    std::string_view data = archive.substr(pos, size);
    pos += (size + 511) / 512 * 512;

    std::string clean = clean_name(name);
    if (clean.empty()) continue;
    auto slash = clean.rfind('/');
    std::string parent = slash == std::string::npos ? "" : clean.substr(0, slash);
    std::string base = slash == std::string::npos ? clean : clean.substr(slash + 1);
    int parent_fd = mkdir_p_in_root(root.get(), parent.c_str());
    if (parent_fd < 0) throw_errno("tar: cannot create the parent of '" + clean + "'", -parent_fd);
    UniqueFd dir(parent_fd);
    if (type == '5') {
      if (mkdirat(dir.get(), base.c_str(), mode) < 0 && errno != EEXIST)
        throw_errno("tar: cannot create directory " + clean);
      UniqueFd d(openat(dir.get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (d) fchmod(d.get(), mode);  // mkdir applies the umask
    } else if (type == '2') {
      if (symlinkat(link.c_str(), dir.get(), base.c_str()) < 0 && errno != EEXIST)
        throw_errno("tar: cannot create symlink " + clean);
    } else if (type == '0' || type == '\0') {
      UniqueFd f(openat(dir.get(), base.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!f) throw_errno("tar: cannot create " + clean);
      size_t done = 0;
      while (done < data.size()) {
        ssize_t n = write(f.get(), data.data() + done, data.size() - done);
        if (n < 0) throw_errno("tar: cannot write " + clean);
        done += static_cast<size_t>(n);
      }
      fchmod(f.get(), mode);
    } else {
      throw Error(std::string("tar: unsupported entry type '") + type + "' for " + clean);
    }
  }
}

std::string ensure_default_rootfs(const std::string& store_root) {
  std::string base = store_root + "/embedded";
  std::string final_dir = base + "/" + std::string(CORACLE_DEFAULT_ROOTFS_DIGEST).substr(0, 16);
  std::string rootfs = final_dir + "/rootfs";
  struct stat st;
  if (stat(rootfs.c_str(), &st) == 0) return rootfs;  // the warm path: one stat

  mkdir_p(base, 0700);
  remove_stale_temps(base);
  std::string tmp = final_dir + ".tmp." + std::to_string(getpid());
  remove_tree(tmp);
  mkdir_p(tmp + "/rootfs", 0755);
  try {
    std::string_view tar(
        coracle_default_rootfs_start,
        static_cast<size_t>(coracle_default_rootfs_end - coracle_default_rootfs_start));
    unpack_ustar(tar, tmp + "/rootfs");
    chmod((tmp + "/rootfs").c_str(), 0755);
    // Whole on disk before it appears under its final name.
    UniqueFd store(open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!store || syncfs(store.get()) < 0) throw_errno("cannot sync " + tmp);
    if (rename(tmp.c_str(), final_dir.c_str()) < 0) {
      // Another coracle won the race with a whole copy of its own: use it.
      if (errno != ENOTEMPTY && errno != EEXIST) throw_errno("cannot move " + tmp + " into place");
      remove_tree(tmp);
    }
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  return rootfs;
}

}  // namespace coracle::image

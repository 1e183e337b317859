#include "image/tree_diff.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "image/tar_writer.h"

namespace coracle::image {
namespace {

struct Entry {
  char type = '?';
  unsigned mode = 0;
  uint64_t size = 0;
  std::string link;  // a symlink's text
};

using Tree = std::map<std::string, Entry>;

char type_of(mode_t m) {
  return S_ISREG(m) ? 'f' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '?';
}

// Every entry below dir_fd by relative path; no symlink is followed.
void walk(int dir_fd, const std::string& prefix, Tree& out) {
  for (const auto& name : list_dir_at(dir_fd, prefix.empty() ? "." : prefix)) {
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      throw_errno("cannot read " + prefix + name);
    std::string rel = prefix + name;
    Entry e{type_of(st.st_mode), static_cast<unsigned>(st.st_mode & 07777),
            static_cast<uint64_t>(st.st_size), ""};
    if (e.type == 'l') {
      char buf[4096];
      ssize_t n = readlinkat(dir_fd, name.c_str(), buf, sizeof buf);
      if (n >= 0) e.link.assign(buf, static_cast<size_t>(n));
    }
    if (e.type != 'f') e.size = 0;
    out[rel] = e;
    if (e.type == 'd') {
      // One the runner may not read (a rootless step's 0000 directory) is
      // listed without its contents: the write-back names it as an error.
      UniqueFd sub = open_directory(dir_fd, name);
      if (!sub && errno != EACCES) throw_errno("cannot open " + rel);
      if (sub) walk(sub.get(), rel + "/", out);
    }
  }
}

Tree read_tree(const std::string& dir) {
  UniqueFd root = open_directory(AT_FDCWD, dir, true);
  if (!root) throw_errno("cannot open " + dir);
  Tree t;
  walk(root.get(), "", t);
  return t;
}

// The sha256 of root/rel, opened beneath root without following links;
// "" for a file the runner may not read (reported as such, not hashed).
std::string hash_of(int root, const std::string& rel) {
  UniqueFd fd(open_beneath(root, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && errno == EACCES) return "";
  if (!fd) throw_errno("cannot read " + rel);
  Sha256 h;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) h.update(buf, static_cast<size_t>(n));
  if (n < 0) throw_errno("cannot read " + rel);
  return h.digest();
}

// A zstd-compressed file being written.
class ZstdFile {
 public:
  explicit ZstdFile(int fd) : fd_(fd), cctx_(ZSTD_createCCtx(), ZSTD_freeCCtx) {
    if (!cctx_) throw Error("zstd: out of memory");
    out_.resize(ZSTD_CStreamOutSize());
  }
  void write(const void* data, size_t size, bool end = false) {
    ZSTD_inBuffer in{data, size, 0};
    bool done = false;
    while (!done) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      size_t left =
          ZSTD_compressStream2(cctx_.get(), &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left)) throw Error(std::string("zstd: ") + ZSTD_getErrorName(left));
      write_all(fd_, out_.data(), out.pos, "the changes archive");
      done = end ? left == 0 : in.pos == in.size;
    }
  }

 private:
  int fd_;
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx_;
  std::vector<char> out_;
};

std::string parent_of(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

}  // namespace

std::vector<TreeChange> diff_trees(const std::string& before, const std::string& after) {
  Tree old_tree = read_tree(before), new_tree = read_tree(after);
  UniqueFd old_root = open_directory(AT_FDCWD, before, true),
           new_root = open_directory(AT_FDCWD, after, true);
  std::vector<TreeChange> added, deleted, out;
  for (const auto& [path, n] : new_tree) {
    auto o = old_tree.find(path);
    TreeChange c{TreeChange::Kind::kAdded, path, "", n.type, n.size, "", n.mode};
    if (n.type == 'f') c.sha256 = hash_of(new_root.get(), path);
    if (o == old_tree.end()) {
      added.push_back(c);
      continue;
    }
    const Entry& e = o->second;
    if (e.type != n.type) {
      // Another kind of entry at the same path: the old one went.
      deleted.push_back({TreeChange::Kind::kDeleted, path, "", e.type, e.size, "", e.mode});
      added.push_back(c);
      continue;
    }
    c.kind = TreeChange::Kind::kModified;
    c.mode_changed = e.mode != n.mode;
    c.content_changed = n.type == 'l'   ? e.link != n.link
                        : n.type == 'f' ? e.size != n.size || c.sha256.empty() ||
                                              hash_of(old_root.get(), path) != c.sha256
                                        : false;
    if (c.mode_changed || c.content_changed) out.push_back(c);
  }
  for (const auto& [path, e] : old_tree)
    if (!new_tree.count(path))
      deleted.push_back({TreeChange::Kind::kDeleted, path, "", e.type, e.size, "", e.mode});
  // A file gone and a file come with the same bytes: one rename.
  for (auto& d : deleted) {
    if (d.type != 'f') continue;
    for (auto& a : added) {
      if (a.kind != TreeChange::Kind::kAdded || a.type != 'f' || a.size != d.size) continue;
      if (d.sha256.empty()) d.sha256 = hash_of(old_root.get(), d.path);
      if (a.sha256.empty() || a.sha256 != d.sha256) continue;
      a.kind = TreeChange::Kind::kRenamed;
      a.from = d.path;
      d.kind = TreeChange::Kind::kRenamed;  // marked: not reported as deleted
      break;
    }
  }
  for (auto& a : added) out.push_back(a);
  for (auto& d : deleted) {
    if (d.kind != TreeChange::Kind::kDeleted) continue;
    // What went, with the hash it had.
    if (d.type == 'f' && d.sha256.empty()) d.sha256 = hash_of(old_root.get(), d.path);
    out.push_back(d);
  }
  std::sort(out.begin(), out.end(),
            [](const TreeChange& a, const TreeChange& b) { return a.path < b.path; });
  return out;
}

void write_changes_archive(const std::string& after, const std::vector<TreeChange>& changes,
                           const std::string& file) {
  std::string tmp = file + ".tmp";
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_errno("cannot write " + tmp);
  UniqueFd root = open_directory(AT_FDCWD, after, true);
  if (!root) throw_errno("cannot open " + after);
  ZstdFile z(fd.get());
  image::TarWriter tar([&](const void* p, size_t n) { z.write(p, n); });
  std::map<std::string, bool> dirs_written;
  // The parents of an entry, outermost first, as they are in after.
  auto parents = [&](const std::string& rel) {
    std::vector<std::string> chain;
    for (std::string p = parent_of(rel); !p.empty(); p = parent_of(p)) chain.push_back(p);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if (dirs_written[*it]) continue;
      dirs_written[*it] = true;
      struct stat st;
      image::TarEntry d;
      d.type = image::TarEntry::Type::kDir;
      d.name = *it;
      d.mode = fstatat(root.get(), it->c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & 07777
                                                                               : 0755;
      tar.add(d);
    }
  };
  std::vector<char> buf(1 << 16);
  for (const auto& c : changes) {
    bool gone = c.kind == TreeChange::Kind::kDeleted;
    std::vector<std::string> whiteouts;
    if (gone) whiteouts.push_back(c.path);
    if (c.kind == TreeChange::Kind::kRenamed) whiteouts.push_back(c.from);
    for (const auto& w : whiteouts) {
      // One whiteout hides a whole deleted directory.
      bool under_deleted = false;
      for (const auto& d : changes)
        under_deleted |=
            d.kind == TreeChange::Kind::kDeleted && d.type == 'd' && w.rfind(d.path + "/", 0) == 0;
      if (under_deleted) continue;
      parents(w);
      std::string dir = parent_of(w);
      tar.add_file({image::TarEntry::Type::kFile, (dir.empty() ? "" : dir + "/") + ".wh." +
                                                      w.substr(dir.empty() ? 0 : dir.size() + 1)},
                   "");
    }
    if (gone) continue;
    parents(c.path);
    image::TarEntry e;
    e.name = c.path;
    e.mode = c.mode;
    if (c.type == 'd') {
      if (dirs_written[c.path]) continue;
      dirs_written[c.path] = true;
      e.type = image::TarEntry::Type::kDir;
      tar.add(e);
    } else if (c.type == 'l') {
      char link[4096];
      ssize_t n = readlinkat(root.get(), c.path.c_str(), link, sizeof link);
      if (n < 0) throw_errno("cannot read " + c.path);
      e.type = image::TarEntry::Type::kSymlink;
      e.link.assign(link, static_cast<size_t>(n));
      tar.add(e);
    } else if (c.type == 'f') {
      UniqueFd in(open_beneath(root.get(), c.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      struct stat st;
      if (!in || fstat(in.get(), &st) < 0) throw_errno("cannot read " + c.path);
      e.size = static_cast<uint64_t>(st.st_size);
      tar.add(e);
      for (uint64_t left = e.size; left > 0;) {
        ssize_t n = read(in.get(), buf.data(), std::min<uint64_t>(left, buf.size()));
        if (n <= 0) throw Error(c.path + " changed while it was archived");
        tar.data(buf.data(), static_cast<size_t>(n));
        left -= static_cast<uint64_t>(n);
      }
    }
  }
  tar.finish();
  z.write(nullptr, 0, true);
  if (fsync(fd.get()) < 0 || rename(tmp.c_str(), file.c_str()) < 0)
    throw_errno("cannot write " + file);
}

}  // namespace coracle::image

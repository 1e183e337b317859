#include "builder/copy_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>
#include <tuple>

#include "common/error.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "image/tree_tar.h"

namespace coracle::builder {

using image::set_special_type;
using image::TreeTarOptions;
using image::write_file_data;
using image::write_tree;
using image::write_tree_entry;
namespace {

bool has_wildcard(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

// "a/../../b" climbs out of the root it is relative to.
bool climbs_out(const std::string& path) {
  int depth = 0;
  for (const auto& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    depth += part == ".." ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}

class CopyWriter {
 public:
  CopyWriter(const CopyRequest& r, const CopyFrom& from, const LayeredFs& target,
             image::TarWriter& tar)
      : req_(r), from_(from), target_(target), tar_(tar) {}

  void run() {
    std::vector<Source> sources;
    size_t made_files = req_.inline_files.size() + req_.downloads.size();
    bool wildcard = made_files > 1;
    for (const auto& s : req_.sources) {
      wildcard |= has_wildcard(s);
      auto found = expand(s);
      if (found.empty())
        fail(has_wildcard(s)
                 ? "no source file matches '" + s + "'"
                 : "'" + s + "' not found" + (from_.is_context ? " in the build context" : "") +
                       (from_.is_context && from_.ignore ? " (or .dockerignore excludes it)" : ""));
      sources.insert(sources.end(), found.begin(), found.end());
    }
    bool dest_dir = req_.dest_is_dir;
    size_t count = req_.sources.size() + made_files;
    if ((count > 1 || wildcard) && !dest_dir) {
      // BuildKit's rule: the destination of several files is a directory.
      auto existing = target_.lookup(req_.dest, true);
      size_t found = sources.size() + made_files;
      if (!(found == 1 && !existing) && !(existing && S_ISDIR(existing->st.st_mode)))
        fail("with more than one source, the destination must be a directory and end with a /");
      dest_dir = existing || found > 1;
    }
    for (const auto& src : sources) copy_one(src.node, src.name, dest_dir);
    for (const auto& [name, content] : req_.inline_files) {
      std::string to = dest_dir ? clean_path(req_.dest + "/" + name) : req_.dest;
      make_parents(parent_of(to));
      image::TarEntry e;
      e.name = to.substr(1);
      e.mode = req_.mode ? *req_.mode : 0644;
      if (req_.owner) std::tie(e.uid, e.gid) = *req_.owner;
      tar_.add_file(e, content);
    }
    for (const auto& d : req_.downloads) {
      std::string to = dest_dir ? clean_path(req_.dest + "/" + d.name) : req_.dest;
      make_parents(parent_of(to));
      UniqueFd in(open(d.path.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st;
      if (!in || fstat(in.get(), &st) < 0) throw_errno(req_.what + ": cannot open " + d.path);
      image::TarEntry e;
      e.name = to.substr(1);
      e.mode = req_.mode ? *req_.mode : 0600;
      if (req_.owner) std::tie(e.uid, e.gid) = *req_.owner;
      e.size = static_cast<uint64_t>(st.st_size);
      e.mtime = req_.zero_mtimes ? 0 : d.mtime;
      tar_.add(e);
      write_file_data(tar_, in.get(), e.size, buf_, d.path);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw Error(req_.what + ": " + msg); }

  std::string rel(const std::string& abs) const { return abs == "/" ? "" : abs.substr(1); }

  bool ignored(const std::string& abs) const {
    return from_.is_context && from_.ignore && abs != "/" && from_.ignore->excluded(rel(abs));
  }

  // The context is one directory: a source that resolves outside it, by
  // ".." or through a symlink, is refused, not quietly re-rooted.
  void check_inside_context(const std::string& source, const std::string& abs) const {
    if (climbs_out(source)) fail("'" + source + "' is outside the build context");
    if (!from_.is_context || abs == "/") return;
    UniqueFd ctx(open(from_.fs->dirs()[0].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!ctx) throw_errno("cannot open the build context " + from_.fs->dirs()[0]);
    struct open_how how {};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    std::string r = rel(abs);
    long fd = syscall(SYS_openat2, ctx.get(), r.c_str(), &how, sizeof how);
    if (fd >= 0) {
      close(static_cast<int>(fd));
      return;
    }
    if (errno == EXDEV)
      fail("'" + source + "' leads outside the build context (through a symlink)");
  }

  // A source as named: the node it resolves to (a symlink followed to its
  // target's content), and the name it is copied under, its own and not
  // its target's (COPY foo / with foo -> bar writes /foo, as BuildKit does).
  struct Source {
    LayeredFs::Node node;
    std::string name;
  };

  static std::string base_name(const std::string& path) {
    return path.substr(path.find_last_of('/') + 1);
  }

  std::vector<Source> expand(const std::string& source) const {
    std::vector<Source> out;
    std::string abs = clean_path("/" + source);
    if (!has_wildcard(source)) {
      check_inside_context(source, abs);
      if (ignored(abs)) return out;
      auto node = from_.fs->lookup(abs, true);
      if (node) out.push_back({*node, base_name(abs)});
      return out;
    }
    if (climbs_out(source)) fail("'" + source + "' is outside the build context");
    // Component by component: wildcards match names in each candidate dir.
    std::vector<std::string> candidates = {"/"};
    for (const auto& comp : split(abs, '/')) {
      if (comp.empty()) continue;
      std::vector<std::string> next;
      for (const auto& dir : candidates) {
        std::string base = dir == "/" ? "/" : dir + "/";
        if (!has_wildcard(comp)) {
          next.push_back(base + comp);
          continue;
        }
        for (const auto& name : from_.fs->list(dir))
          if (glob_match(comp, name)) next.push_back(base + name);
      }
      candidates = std::move(next);
    }
    for (const auto& c : candidates) {
      if (ignored(c)) continue;
      check_inside_context(c.substr(1), c);
      if (auto node = from_.fs->lookup(c, true)) out.push_back({*node, base_name(c)});
    }
    return out;
  }

  // Directories leading to dir_path that the stage lacks.
  void make_parents(const std::string& dir_path) {
    try {
      add_missing_dirs(target_, dir_path, tar_, req_.owner, mtime_for(0), made_);
    } catch (const Error& e) {
      fail(e.what());
    }
  }

  int64_t mtime_for(int64_t t) const { return req_.zero_mtimes ? 0 : t; }

  std::string parent_of(const std::string& path) const {
    auto slash = path.find_last_of('/');
    return slash == 0 ? "/" : path.substr(0, slash);
  }

  void copy_one(const LayeredFs::Node& src, const std::string& base, bool dest_dir) {
    std::string dest = clean_path(req_.dest);
    if (S_ISDIR(src.st.st_mode)) {
      // The destination stands for the source directory itself: made now,
      // it takes the source's metadata as --chmod and --chown change it
      // (BuildKit's), not a plain 0755.
      auto existing = target_.lookup(dest, true);
      if (dest != "/" && !existing && !made_.count(dest)) {
        make_parents(parent_of(dest));
        emit(src, dest);
        made_.insert(dest);
      } else {
        make_parents(dest);
      }
      walk(src, dest);
      return;
    }
    auto existing = target_.lookup(dest, true);
    bool into = dest_dir || (existing && S_ISDIR(existing->st.st_mode));
    if (req_.unpack_archives && S_ISREG(src.st.st_mode) && unpack_archive(src, dest)) return;
    std::string to = into ? (dest == "/" ? "/" + base : dest + "/" + base) : dest;
    make_parents(parent_of(to));
    emit(src, to);
  }

  void walk(const LayeredFs::Node& dir, const std::string& dest) {
    std::vector<std::pair<LayeredFs::Node, std::string>> pending;
    walk(dir, dest, pending);
  }

  // pending: excluded directories entered because an exception may bring
  // back something inside; each is written only when something inside it
  // is, so the image gets the parents of what came back and no more.
  void walk(const LayeredFs::Node& dir, const std::string& dest,
            std::vector<std::pair<LayeredFs::Node, std::string>>& pending) {
    for (const auto& name : from_.fs->list(dir.path)) {
      auto node = from_.fs->child(dir, name);
      if (!node) continue;
      std::string to = dest == "/" ? "/" + name : dest + "/" + name;
      bool is_dir = S_ISDIR(node->st.st_mode);
      if (ignored(node->path)) {
        if (is_dir && from_.ignore->may_include_under(rel(node->path))) {
          pending.emplace_back(*node, to);
          walk(*node, to, pending);
          if (!pending.empty() && pending.back().second == to) pending.pop_back();
        }
        continue;
      }
      for (const auto& [p, p_to] : pending) emit(p, p_to);
      pending.clear();
      emit(*node, to);
      if (is_dir) walk(*node, to, pending);
    }
  }

  void emit(const LayeredFs::Node& node, const std::string& to) {
    const struct stat& st = node.st;
    image::TarEntry e;
    e.name = to.substr(1);
    e.mode = req_.mode ? *req_.mode : st.st_mode & 07777;
    if (req_.owner)
      std::tie(e.uid, e.gid) = *req_.owner;
    else if (!from_.is_context) {
      e.uid = st.st_uid;
      e.gid = st.st_gid;
    }
    e.mtime = mtime_for(st.st_mtim.tv_sec);
    if (S_ISDIR(st.st_mode)) {
      e.type = image::TarEntry::Type::kDir;
      tar_.add(e);
    } else if (S_ISLNK(st.st_mode)) {
      e.type = image::TarEntry::Type::kSymlink;
      e.mode = 0777;
      e.link = from_.fs->read_link(node);
      tar_.add(e);
    } else if (S_ISREG(st.st_mode)) {
      e.type = image::TarEntry::Type::kFile;
      e.size = static_cast<uint64_t>(st.st_size);
      tar_.add(e);
      UniqueFd fd(from_.fs->open_file(node));
      write_file_data(tar_, fd.get(), e.size, buf_, req_.what + ": " + node.path);
    } else if (set_special_type(e, st)) {
      tar_.add(e);
    }
  }

  // ADD of a local tar: its entries land below dest. False when the file
  // is not a tar archive (it is then copied as it is).
  bool unpack_archive(const LayeredFs::Node& src, const std::string& dest) {
    UniqueFd fd(from_.fs->open_file(src));
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    for (auto f : {archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
                   archive_read_support_filter_xz, archive_read_support_filter_zstd})
      f(a.get());
    if (archive_read_open_fd(a.get(), fd.get(), 1 << 16) != ARCHIVE_OK) return false;
    archive_entry* entry;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return false;
    make_parents(dest);
    std::string prefix = dest == "/" ? "" : dest.substr(1) + "/";
    std::string name = src.path;
    do {
      std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
      if (climbs_out(path)) fail(name + ": entry '" + path + "' leads outside the destination");
      std::string clean = clean_path("/" + path);
      if (clean == "/") continue;
      image::TarEntry e;
      e.name = prefix + clean.substr(1);
      e.mode = req_.mode ? *req_.mode : archive_entry_perm(entry);
      e.uid = req_.owner ? req_.owner->first : static_cast<uint64_t>(archive_entry_uid(entry));
      e.gid = req_.owner ? req_.owner->second : static_cast<uint64_t>(archive_entry_gid(entry));
      e.mtime = mtime_for(archive_entry_mtime(entry));
      if (const char* hl = archive_entry_hardlink(entry)) {
        if (climbs_out(hl)) fail(name + ": link '" + hl + "' leads outside the destination");
        e.type = image::TarEntry::Type::kHardlink;
        e.link = prefix + clean_path(std::string("/") + hl).substr(1);
        tar_.add(e);
        continue;
      }
      switch (archive_entry_filetype(entry)) {
        case AE_IFDIR:
          e.type = image::TarEntry::Type::kDir;
          break;
        case AE_IFLNK:
          e.type = image::TarEntry::Type::kSymlink;
          e.link = archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
          break;
        case AE_IFCHR:
          e.type = image::TarEntry::Type::kCharDev;
          break;
        case AE_IFBLK:
          e.type = image::TarEntry::Type::kBlockDev;
          break;
        case AE_IFIFO:
          e.type = image::TarEntry::Type::kFifo;
          break;
        case AE_IFREG:
          e.type = image::TarEntry::Type::kFile;
          break;
        default:
          continue;
      }
      if (e.type == image::TarEntry::Type::kCharDev || e.type == image::TarEntry::Type::kBlockDev) {
        e.dev_major = archive_entry_rdevmajor(entry);
        e.dev_minor = archive_entry_rdevminor(entry);
      }
      if (e.type != image::TarEntry::Type::kFile) {
        tar_.add(e);
        continue;
      }
      e.size = static_cast<uint64_t>(archive_entry_size(entry));
      tar_.add(e);
      uint64_t left = e.size;
      if (buf_.empty()) buf_.resize(1 << 20);
      while (left > 0) {
        la_ssize_t n =
            archive_read_data(a.get(), buf_.data(), std::min<uint64_t>(left, buf_.size()));
        if (n <= 0) fail(name + ": the archive is corrupt at '" + path + "'");
        tar_.data(buf_.data(), static_cast<size_t>(n));
        left -= static_cast<uint64_t>(n);
      }
    } while ((rc = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK || rc == ARCHIVE_WARN);
    if (rc != ARCHIVE_EOF)
      fail(name + ": cannot read the archive: " + archive_error_string(a.get()));
    return true;
  }

  const CopyRequest& req_;
  const CopyFrom& from_;
  const LayeredFs& target_;
  image::TarWriter& tar_;
  std::set<std::string> made_;
  std::vector<char> buf_;
};

}  // namespace

void add_missing_dirs(const LayeredFs& target, const std::string& dir, image::TarWriter& tar,
                      const std::optional<std::pair<uint32_t, uint32_t>>& owner, int64_t mtime,
                      std::set<std::string>& made) {
  std::string cur;
  for (const auto& comp : split(dir, '/')) {
    if (comp.empty()) continue;
    cur += "/" + comp;
    if (made.count(cur)) continue;
    auto existing = target.lookup(cur, true);
    if (existing && S_ISDIR(existing->st.st_mode)) continue;
    if (existing) throw Error(cur + " is not a directory in the image");
    image::TarEntry e;
    e.type = image::TarEntry::Type::kDir;
    e.name = cur.substr(1);
    e.mode = 0755;
    if (owner) std::tie(e.uid, e.gid) = *owner;
    e.mtime = mtime;
    tar.add(e);
    made.insert(cur);
  }
}

void write_copy(const CopyRequest& request, const CopyFrom& from, const LayeredFs& target,
                image::TarWriter& tar) {
  CopyWriter(request, from, target, tar).run();
}

}  // namespace coracle::builder

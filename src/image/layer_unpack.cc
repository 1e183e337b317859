#include "image/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace coracle::image {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

// The decompressed stream between libarchive's filter reader (outer, format
// "raw") and its tar reader (inner): every byte passes through the hash.
struct Plain {
  LayerStream& stream;
  Sha256 hash;
  const std::function<void(uint64_t)>* on_progress = nullptr;
  uint64_t reported = 0;
};

la_ssize_t read_plain(archive*, void* ctx, const void** buf) {
  auto* p = static_cast<Plain*>(ctx);
  ssize_t n = p->stream.next(buf);
  if (n > 0) p->hash.update(*buf, static_cast<size_t>(n));
  if (p->on_progress && *p->on_progress) {
    uint64_t read = p->stream.compressed_bytes();
    if (read >= p->reported + (1 << 20)) {
      p->reported = read;
      (*p->on_progress)(read);
    }
  }
  return n;
}

// The entry's path as components, without "", "." and a leading "/"; empty
// for the root itself. ".." is refused outright: no legitimate layer needs
// it, and a lexical fix-up would hide an attack.
bool split_entry_path(std::string_view path, std::vector<std::string>* out) {
  out->clear();
  size_t i = 0;
  while (i <= path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(i, end - i);
    if (comp == "..") return false;
    if (!comp.empty() && comp != ".") out->emplace_back(comp);
    i = end + 1;
  }
  return true;
}

std::string join(const std::vector<std::string>& comps, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += '/';
    s += comps[i];
  }
  return s;
}

bool xattr_allowed(std::string_view name) {
  // user.overlay.* would be read by the sandbox's overlay (userxattr) as
  // its own metadata (redirects, whiteouts): never taken from an image.
  if (name.substr(0, 13) == "user.overlay.") return false;
  return name.substr(0, 5) == "user." || name == "security.capability";
}

struct Times {
  struct timespec ts[2];
};

Times entry_times(archive_entry* e) {
  Times t;
  t.ts[0].tv_sec = archive_entry_mtime(e);
  t.ts[0].tv_nsec = archive_entry_mtime_nsec(e);
  t.ts[1] = t.ts[0];
  return t;
}

class Unpacker {
 public:
  Unpacker(int dest, const UnpackOptions& o, const std::string& what)
      : dest_(dest), opt_(o), what_(what) {}

  void entry(archive* a, archive_entry* e, UnpackStats* stats);
  void finish(UnpackStats* stats);

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& why) const {
    throw Error(what_ + ": entry '" + path + "': " + why);
  }
  [[noreturn]] void fail_errno(const std::string& path, const std::string& doing, int err) const {
    fail(path, doing + ": " + strerror(err));
  }
  int parent_dir(const std::string& path, const std::string& parent);
  void clear_slot(int parent, const std::string& name, bool keep_dir, const std::string& path);
  void whiteout(int parent, const std::string& parent_path, const std::string& name,
                const std::string& path);
  void opaque(const std::string& dir_path, const std::string& path);
  void set_owner_mode(int fd, archive_entry* e, const std::string& path, bool is_dir);
  void set_xattrs(int fd, archive_entry* e, const std::string& path);
  void write_file(archive* a, archive_entry* e, int parent, const std::string& name,
                  const std::string& path, UnpackStats* stats);
  void remember_created(const std::vector<std::string>& comps);

  int dest_;
  const UnpackOptions& opt_;
  const std::string& what_;
  std::string cached_parent_;  // entries come grouped by directory
  UniqueFd cached_fd_;
  UniqueFd retired_;                         // a cached fd invalidated during the current entry
  std::vector<DeferredDir> dirs_;            // modes and times once the children exist
  std::unordered_set<std::string> created_;  // Apply mode: this layer's paths
};

int Unpacker::parent_dir(const std::string& path, const std::string& parent) {
  if (cached_fd_ && parent == cached_parent_) return cached_fd_.get();
  cached_fd_.reset();
  int fd = mkdir_p_in_root(dest_, parent.c_str());
  if (fd < 0) fail_errno(path, "cannot create its parent directory", -fd);
  cached_fd_.reset(fd);
  cached_parent_ = parent;
  return fd;
}

void Unpacker::clear_slot(int parent, const std::string& name, bool keep_dir,
                          const std::string& path) {
  struct stat st;
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    fail_errno(path, "cannot inspect the existing entry", errno);
  }
  if (keep_dir && S_ISDIR(st.st_mode)) return;
  try {
    remove_tree_at(parent, name.c_str());
  } catch (const Error& err) {
    fail(path, err.what());
  }
  // A removed directory may have been on the cached parent's path: look it
  // up afresh next time. The fd stays open until then, as the caller (this
  // entry) may still be using it.
  if (S_ISDIR(st.st_mode)) {
    retired_ = std::move(cached_fd_);
    cached_parent_.clear();
  }
}

void Unpacker::remember_created(const std::vector<std::string>& comps) {
  if (opt_.whiteouts != WhiteoutMode::Apply) return;
  for (size_t n = 1; n <= comps.size(); ++n) created_.insert(join(comps, n));
}

void Unpacker::whiteout(int parent, const std::string& parent_path, const std::string& name,
                        const std::string& path) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    fail(path, "whiteout of an invalid name");
  if (opt_.whiteouts == WhiteoutMode::Apply) {
    std::string victim = parent_path.empty() ? name : parent_path + "/" + name;
    if (created_.count(victim)) return;  // not from a lower layer
    clear_slot(parent, name, false, path);
    return;
  }
  clear_slot(parent, name, false, path);
  if (mknodat(parent, name.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
    fail_errno(path, "cannot create the overlay whiteout", errno);
}

void Unpacker::opaque(const std::string& dir_path, const std::string& path) {
  int made = mkdir_p_in_root(dest_, dir_path.c_str());
  if (made < 0) fail_errno(path, "cannot create the opaque directory", -made);
  close(made);
  UniqueFd dir(open_in_root(dest_, dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!dir) fail(path, "the opaque directory is not a directory");
  if (opt_.whiteouts == WhiteoutMode::Overlay) {
    if (fsetxattr(dir.get(), "user.overlay.opaque", "y", 1, 0) < 0)
      fail_errno(path, "cannot mark the directory opaque (user.overlay.opaque)", errno);
    return;
  }
  // Apply: everything in it that this layer did not put there goes.
  std::vector<std::string> victims;
  DIR* d = fdopendir(fcntl(dir.get(), F_DUPFD_CLOEXEC, 0));
  if (!d) fail_errno(path, "cannot list the opaque directory", errno);
  while (struct dirent* ent = readdir(d)) {
    std::string child = ent->d_name;
    if (child == "." || child == "..") continue;
    if (!created_.count(dir_path.empty() ? child : dir_path + "/" + child))
      victims.push_back(child);
  }
  closedir(d);
  for (const auto& v : victims) clear_slot(dir.get(), v, false, path);
}

void Unpacker::set_owner_mode(int fd, archive_entry* e, const std::string& path, bool is_dir) {
  if (opt_.preserve_owners) {
    if (fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
               static_cast<gid_t>(archive_entry_gid(e))) < 0)
      fail_errno(path, "cannot set its owner", errno);
  }
  // After chown, which clears setuid/setgid. Directories get their mode at
  // the end: a 0555 directory must stay writable while it is filled.
  if (!is_dir && fchmod(fd, archive_entry_perm(e) & 07777) < 0)
    fail_errno(path, "cannot set its mode", errno);
}

void Unpacker::set_xattrs(int fd, archive_entry* e, const std::string& path) {
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (!xattr_allowed(name)) continue;
    if (fsetxattr(fd, name, value, size, 0) < 0) {
      // No xattrs on this file system, or a capability a plain user may
      // not set: the file itself is still right.
      if (errno == ENOTSUP || (errno == EPERM && !opt_.preserve_owners)) continue;
      fail_errno(path, std::string("cannot set xattr ") + name, errno);
    }
  }
}

void Unpacker::write_file(archive* a, archive_entry* e, int parent, const std::string& name,
                          const std::string& path, UnpackStats* stats) {
  int64_t declared = archive_entry_size(e);
  if (declared < 0 || static_cast<uint64_t>(declared) > opt_.max_entry_size)
    fail(path, "is " + std::to_string(declared) + " bytes, over the limit of " +
                   std::to_string(opt_.max_entry_size));
  UniqueFd fd(
      openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) fail_errno(path, "cannot create it", errno);
  const void* buf;
  size_t size;
  la_int64_t offset;
  uint64_t written = 0;
  while (true) {
    int rc = archive_read_data_block(a, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) fail(path, std::string("cannot read it: ") + archive_error_string(a));
    if (offset < 0 || static_cast<uint64_t>(offset) + size > static_cast<uint64_t>(declared))
      fail(path, "its data runs past its declared size");
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      ssize_t n = pwrite(fd.get(), p, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno(path, "cannot write it", errno);
      p += n;
      offset += n;
      size -= static_cast<size_t>(n);
      written += static_cast<uint64_t>(n);
    }
  }
  // Sparse files: the holes at the end still count.
  if (ftruncate(fd.get(), declared) < 0) fail_errno(path, "cannot size it", errno);
  stats->bytes += written;
  set_owner_mode(fd.get(), e, path, false);
  set_xattrs(fd.get(), e, path);
  Times t = entry_times(e);
  futimens(fd.get(), t.ts);
}

void Unpacker::entry(archive* a, archive_entry* e, UnpackStats* stats) {
  const char* raw = archive_entry_pathname(e);
  std::string path = raw ? raw : "";
  std::vector<std::string> comps;
  if (!split_entry_path(path, &comps)) fail(path, "contains '..'");
  if (comps.empty()) return;  // the layer's root itself
  ++stats->entries;
  std::string name = comps.back();
  std::string parent_path = join(comps, comps.size() - 1);

  if (name.rfind(".wh.", 0) == 0) {
    if (name == ".wh..wh..opq") {
      opaque(parent_path, path);
    } else {
      int parent = parent_dir(path, parent_path);
      whiteout(parent, parent_path, name.substr(4), path);
    }
    return;
  }
  int parent = parent_dir(path, parent_path);

  if (const char* target = archive_entry_hardlink(e)) {
    std::vector<std::string> tcomps;
    if (!split_entry_path(target, &tcomps) || tcomps.empty())
      fail(path, std::string("hardlink to an invalid target '") + target + "'");
    std::string tparent = join(tcomps, tcomps.size() - 1);
    // The target's directory is found inside the layer; linkat does not
    // follow a symlink at the last component, so the link is to what is
    // there, never to something a symlink points at.
    UniqueFd tdir(open_in_root(dest_, tparent.c_str(), O_PATH | O_DIRECTORY));
    if (!tdir) fail(path, std::string("hardlink target '") + target + "' is not in this layer");
    clear_slot(parent, name, false, path);
    if (linkat(tdir.get(), tcomps.back().c_str(), parent, name.c_str(), 0) < 0)
      fail_errno(path, std::string("cannot link it to '") + target + "'", errno);
    remember_created(comps);
    return;
  }

  mode_t type = archive_entry_filetype(e);
  Times times = entry_times(e);
  switch (type) {
    case AE_IFDIR: {
      clear_slot(parent, name, true, path);
      if (mkdirat(parent, name.c_str(), 0700) < 0 && errno != EEXIST)
        fail_errno(path, "cannot create it", errno);
      UniqueFd fd(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) fail_errno(path, "cannot open it", errno);
      set_owner_mode(fd.get(), e, path, true);
      set_xattrs(fd.get(), e, path);
      dirs_.push_back(
          {join(comps, comps.size()), archive_entry_perm(e) & 07777, {times.ts[0], times.ts[1]}});
      break;
    }
    case AE_IFREG:
      clear_slot(parent, name, false, path);
      write_file(a, e, parent, name, path, stats);
      break;
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      clear_slot(parent, name, false, path);
      // The target is stored as it is: it is only ever resolved inside a
      // root (the sandbox's, or RESOLVE_IN_ROOT here).
      if (symlinkat(target ? target : "", parent, name.c_str()) < 0)
        fail_errno(path, "cannot create the symlink", errno);
      if (opt_.preserve_owners &&
          fchownat(parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) < 0)
        fail_errno(path, "cannot set its owner", errno);
      utimensat(parent, name.c_str(), times.ts, AT_SYMLINK_NOFOLLOW);
      break;
    }
    case AE_IFIFO:
    case AE_IFCHR:
    case AE_IFBLK: {
      // No image ever makes a device node: as root, a node with a host
      // disk's numbers would be that disk. Skipped and counted.
      if (type != AE_IFIFO) {
        ++stats->skipped_devices;
        return;
      }
      clear_slot(parent, name, false, path);
      dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (mknodat(parent, name.c_str(), type | (archive_entry_perm(e) & 07777), dev) < 0)
        fail_errno(path, "cannot create the special file", errno);
      if (opt_.preserve_owners)
        fchownat(parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
      break;
    }
    default:
      fail(path, "unsupported entry type");
  }
  remember_created(comps);
}

void Unpacker::finish(UnpackStats* stats) {
  if (opt_.defer_dir_modes)
    stats->dirs = std::move(dirs_);
  else
    apply_dir_modes(dest_, dirs_);
}

}  // namespace

void apply_dir_modes(int dest_fd, const std::vector<DeferredDir>& dirs) {
  for (const auto& d : dirs) {
    UniqueFd fd(open_in_root(dest_fd, d.path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (!fd) continue;  // replaced by a later entry
    fchmod(fd.get(), d.mode);
    futimens(fd.get(), d.times);
  }
}

namespace {
std::atomic<uint64_t> entry_limit{0};
}  // namespace

uint64_t max_entry_size() {
  uint64_t v = entry_limit.load();
  if (v) return v;
  v = 64ULL << 30;
  if (const char* env = getenv("CORACLE_MAX_ENTRY_SIZE"); env && *env) {
    try {
      v = parse_bytes(env);
    } catch (const Error&) {
      throw Error("CORACLE_MAX_ENTRY_SIZE='" + std::string(env) +
                  "' is not a size (e.g. 512m, 4g)");
    }
  }
  entry_limit = v;
  return v;
}

void set_max_entry_size(uint64_t bytes) {
  entry_limit = bytes;
}

LayerStream::LayerStream(int fd, const std::string& what) : a_(archive_read_new()) {
  if (!a_) throw Error(what + ": out of memory");
  archive_read_support_filter_gzip(a_);
  archive_read_support_filter_zstd(a_);
  archive_read_support_filter_xz(a_);
  archive_read_support_filter_bzip2(a_);
  archive_read_support_format_raw(a_);
  archive_read_support_format_empty(a_);
  archive_entry* e;
  int rc = archive_read_open_fd(a_, fd, 1 << 20);
  if (rc == ARCHIVE_OK) rc = archive_read_next_header(a_, &e);
  if (rc == ARCHIVE_EOF) {
    at_end_ = true;  // an empty blob: an empty layer
  } else if (rc != ARCHIVE_OK) {
    std::string why = archive_error_string(a_) ? archive_error_string(a_) : "read error";
    archive_read_free(a_);
    throw Error(what + ": cannot decompress: " + why);
  }
}

uint64_t LayerStream::compressed_bytes() const {
  // The last filter is the reader of the file itself.
  la_int64_t n = archive_filter_bytes(a_, -1);
  return n > 0 ? static_cast<uint64_t>(n) : 0;
}

LayerStream::~LayerStream() {
  archive_read_free(a_);
}

ssize_t LayerStream::next(const void** data) {
  if (at_end_) return 0;
  size_t size;
  la_int64_t offset;
  int rc = archive_read_data_block(a_, data, &size, &offset);
  if (rc == ARCHIVE_EOF) {
    at_end_ = true;
    return 0;
  }
  if (rc < ARCHIVE_WARN) {
    error_ = archive_error_string(a_) ? archive_error_string(a_) : "read error";
    return -1;
  }
  return static_cast<ssize_t>(size);
}

UnpackStats unpack_layer(int fd, int dest_fd, const UnpackOptions& options,
                         const std::string& what) {
  LayerStream stream(fd, what);
  ArchivePtr inner(archive_read_new());
  if (!inner) throw Error(what + ": out of memory");
  Plain plain{stream, {}, &options.on_progress};
  archive_entry* e;
  UnpackStats stats;
  int rc;
  archive_read_support_format_tar(inner.get());
  archive_read_support_format_empty(inner.get());
  if (archive_read_open(inner.get(), &plain, nullptr, read_plain, nullptr) != ARCHIVE_OK)
    throw Error(what + ": not a tar archive: " + archive_error_string(inner.get()));
  Unpacker unpacker(dest_fd, options, what);
  while (true) {
    rc = archive_read_next_header(inner.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      std::string why = !stream.error().empty()             ? stream.error()
                        : archive_error_string(inner.get()) ? archive_error_string(inner.get())
                                                            : "read error";
      throw Error(what + ": broken tar stream: " + why);
    }
    unpacker.entry(inner.get(), e, &stats);
  }
  unpacker.finish(&stats);
  // The diff_id covers the whole stream, padding after the end marker too.
  const void* buf;
  while (read_plain(nullptr, &plain, &buf) > 0) {
  }
  if (!stream.error().empty()) throw Error(what + ": cannot decompress: " + stream.error());
  stats.diff_id = plain.hash.digest();
  return stats;
}

}  // namespace coracle::image

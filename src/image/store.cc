#include "image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/userns.h"
#include "image/store_tmp.h"

namespace coracle::image {

BlobWriter::BlobWriter(const Store& store) : store_(&store) {
  // An unnamed file: if coracle dies before commit, nothing is left behind.
  fd_.reset(open(store.blobs_dir().c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
  if (!fd_ && (errno == EOPNOTSUPP || errno == EISDIR || errno == ENOENT)) {
    named_tmp_ = store.tmp_dir() + "/" + tmp_entry_name("blob");
    fd_.reset(open(named_tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  }
  if (!fd_) throw_errno("cannot create a blob in " + store.blobs_dir());
}

BlobWriter::~BlobWriter() {
  if (!named_tmp_.empty()) unlink(named_tmp_.c_str());
}

void BlobWriter::write(const void* data, size_t size) {
  hash_.update(data, size);
  write_all(fd_.get(), data, size, store_->blobs_dir());
  size_ += size;
}

void BlobWriter::restart() {
  if (ftruncate(fd_.get(), 0) < 0 || lseek(fd_.get(), 0, SEEK_SET) < 0)
    throw_errno("cannot rewind a blob in " + store_->blobs_dir());
  hash_ = Sha256();
  size_ = 0;
}

std::string BlobWriter::commit(const std::string& expected_digest, int64_t expected_size,
                               const std::string& what) {
  std::string digest = hash_.digest();
  if (expected_size >= 0 && static_cast<uint64_t>(expected_size) != size_)
    throw Error(what + ": size mismatch for " + expected_digest + ": expected " +
                std::to_string(expected_size) + " bytes, got " + std::to_string(size_));
  if (!expected_digest.empty() && digest != expected_digest)
    throw Error(what + ": digest mismatch: expected " + expected_digest + ", got " + digest +
                " (the content is corrupt or was tampered with)");
  if (fsync(fd_.get()) < 0) throw_errno("cannot sync blob " + digest);
  std::string path = store_->blob_path(digest);
  int rc;
  if (named_tmp_.empty()) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd_.get());
    rc = linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
  } else {
    rc = rename(named_tmp_.c_str(), path.c_str());
    if (rc == 0) named_tmp_.clear();
  }
  // Someone else stored the same content first: the same bytes, so done.
  if (rc < 0 && errno != EEXIST) throw_errno("cannot add blob " + path);
  fd_.reset();
  return digest;
}

Store::Store(std::string root) : root_(std::move(root)) {
  struct stat st;
  if (stat((root_ + "/oci/index.json").c_str(), &st) != 0) {
    // 0700: unpacked layers hold the images' setuid files, owned by root.
    mkdir_p(root_, 0700);
    chmod(root_.c_str(), 0700);
    for (const char* d : {"/oci/blobs/sha256", "/layers", "/tmp", "/locks"})
      mkdir_p(root_ + d, 0700);
    FileLock lock(lock_path("index.lock"), FileLock::Mode::Exclusive);
    if (stat((root_ + "/oci/index.json").c_str(), &st) != 0) {
      write_file_atomic(root_ + "/oci/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
      write_index({});
    }
  }
  sweep_tmp();
}

std::vector<std::string> Store::stale_tmp_dirs(const std::string& purpose) const {
  return dead_tmp_entries(tmp_dir(), purpose);
}

void Store::sweep_tmp() const {
  sweep_dead_tmp(root_);
}

std::string Store::make_tmp_dir(const std::string& purpose) const {
  return make_store_tmp_dir(root_, purpose);
}

std::string Store::blob_path(const std::string& digest) const {
  if (!is_sha256_digest(digest)) throw Error("invalid digest '" + digest + "'");
  return blobs_dir() + "/" + digest.substr(7);
}

bool Store::has_blob(const std::string& digest) const {
  struct stat st;
  return stat(blob_path(digest).c_str(), &st) == 0;
}

std::string Store::read_blob(const std::string& digest, size_t max_size) const {
  std::string path = blob_path(digest);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw Error("blob " + digest + " is not in the store");
  if (static_cast<size_t>(st.st_size) > max_size)
    throw Error("blob " + digest + " is too large (" + std::to_string(st.st_size) + " bytes)");
  std::string data = read_file(path);
  if (sha256_digest(data) != digest)
    throw Error("blob " + digest + " in the store is corrupt (its content does not match)");
  return data;
}

std::string Store::put_blob(std::string_view data) const {
  BlobWriter w(*this);
  w.write(data.data(), data.size());
  return w.commit("", -1, "blob");
}

std::vector<Descriptor> Store::read_index() const {
  std::string path = root_ + "/oci/index.json";
  return parse_index(read_file(path), path).manifests;
}

void Store::write_index(const std::vector<Descriptor>& entries) const {
  Index index;
  index.media_type = media::kOciIndex;
  index.manifests = entries;
  write_file_atomic(root_ + "/oci/index.json", index_json(index));
}

std::vector<TagEntry> Store::tags() const {
  std::vector<TagEntry> out;
  for (const auto& d : read_index()) {
    auto it = d.annotations.find(kRefNameAnnotation);
    if (it != d.annotations.end()) out.push_back({it->second, d});
  }
  return out;
}

std::optional<Descriptor> Store::find_tag(const std::string& name) const {
  for (auto& t : tags())
    if (t.name == name) return t.target;
  return std::nullopt;
}

void Store::set_tag(const std::string& name, const Descriptor& target) const {
  FileLock lock(lock_path("index.lock"), FileLock::Mode::Exclusive);
  auto entries = read_index();
  std::erase_if(entries, [&](const Descriptor& d) {
    auto it = d.annotations.find(kRefNameAnnotation);
    return it != d.annotations.end() && it->second == name;
  });
  Descriptor d = target;
  d.annotations[kRefNameAnnotation] = name;
  entries.push_back(d);
  write_index(entries);
}

bool Store::remove_tag(const std::string& name) const {
  FileLock lock(lock_path("index.lock"), FileLock::Mode::Exclusive);
  auto entries = read_index();
  size_t before = entries.size();
  std::erase_if(entries, [&](const Descriptor& d) {
    auto it = d.annotations.find(kRefNameAnnotation);
    return it != d.annotations.end() && it->second == name;
  });
  if (entries.size() == before) return false;
  write_index(entries);
  return true;
}

FileLock Store::gc_lock(FileLock::Mode mode) const {
  return FileLock(lock_path("gc.lock"), mode);
}

}  // namespace coracle::image

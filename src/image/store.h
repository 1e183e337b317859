// The content-addressed store under ROOT:
//   ROOT/oci/          a valid OCI image layout (oci-layout, index.json,
//                      blobs/sha256/<hex>); tags are index.json entries with
//                      the org.opencontainers.image.ref.name annotation, so
//                      skopeo (oci:ROOT/oci:NAME) and umoci read it
//   ROOT/layers/<hex>  unpacked layers, named by chain ID (layer_cache.h)
//   ROOT/tmp/          work in progress, named after its process; swept
//   ROOT/locks/        flock files (file_lock.h)
//
// Invariants, whatever is killed when: a blob under its digest is whole and
// verified (written to an unnamed O_TMPFILE, checked, fsynced, then linked
// in); index.json is replaced by rename; a layer dir appears by rename only
// when complete.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_lock.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "image/oci.h"

namespace coracle::image {

class Store;

// A blob being written: hashed as it goes, invisible until commit().
class BlobWriter {
 public:
  explicit BlobWriter(const Store& store);
  BlobWriter(BlobWriter&&) = default;
  ~BlobWriter();
  void write(const void* data, size_t size);
  uint64_t size() const { return size_; }
  // Drops what was written (a server that ignored a resume sends it all).
  void restart();
  // Checks the digest (and the size, if expected_size >= 0), syncs the data
  // and links the blob in under its digest. Returns the digest. Throws (and
  // leaves nothing behind) on a mismatch; what names the blob's origin.
  std::string commit(const std::string& expected_digest, int64_t expected_size,
                     const std::string& what);

 private:
  const Store* store_;
  UniqueFd fd_;
  std::string named_tmp_;  // only where O_TMPFILE is not supported
  Sha256 hash_;
  uint64_t size_ = 0;
};

struct TagEntry {
  std::string name;  // the full reference, e.g. docker.io/library/busybox:latest
  Descriptor target;
};

class Store {
 public:
  // Opens the store at root, creating its layout if missing.
  explicit Store(std::string root);

  const std::string& root() const { return root_; }
  std::string blob_path(const std::string& digest) const;
  std::string blobs_dir() const { return root_ + "/oci/blobs/sha256"; }
  std::string layers_dir() const { return root_ + "/layers"; }
  std::string tmp_dir() const { return root_ + "/tmp"; }
  std::string lock_path(const std::string& name) const { return root_ + "/locks/" + name; }
  // Things kept only to be faster (registries.conf's parsed copy): safe to
  // remove at any time.
  std::string cache_path(const std::string& name) const { return root_ + "/cache/" + name; }
  // A fresh, empty directory under tmp/ named after this process.
  std::string make_tmp_dir(const std::string& purpose) const;
  // The dirs under tmp/ whose process has died (of one purpose, or all):
  // what a killed command left. The store removes them when it opens;
  // a caller whose dirs hold files of other uids removes the rest.
  std::vector<std::string> stale_tmp_dirs(const std::string& purpose = "") const;

  bool has_blob(const std::string& digest) const;
  // Reads a small blob (manifests, configs) and checks its digest.
  std::string read_blob(const std::string& digest, size_t max_size = 8 << 20) const;
  // Stores data as a blob; returns its digest.
  std::string put_blob(std::string_view data) const;

  std::vector<TagEntry> tags() const;
  std::optional<Descriptor> find_tag(const std::string& name) const;
  // Adds or moves a tag (index.json is rewritten under the index lock).
  void set_tag(const std::string& name, const Descriptor& target) const;
  bool remove_tag(const std::string& name) const;

  // Held (shared) while something resolves an image and locks its layers,
  // and (exclusive) by gc for its whole run.
  FileLock gc_lock(FileLock::Mode mode) const;

 private:
  void sweep_tmp() const;
  std::vector<Descriptor> read_index() const;
  void write_index(const std::vector<Descriptor>& entries) const;

  std::string root_;
};

}  // namespace coracle::image

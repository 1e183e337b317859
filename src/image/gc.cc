#include "image/gc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "common/userns.h"
#include "image/layer_cache.h"

namespace coracle::image {
namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    closedir(d);
  }
  return names;
}

// Everything a tag reaches: the index or manifest, the manifests of an
// index, their configs and layers; and the chain IDs of those layers.
// A blob that is missing or broken is skipped: gc must not fail because
// an image is damaged, and it never deletes what a tag names.
class Reachable {
 public:
  explicit Reachable(const Store& store) : store_(store) {}
  void add(const Descriptor& d) {
    if (!blobs_.insert(d.digest).second) return;
    try {
      if (is_index_type(d.media_type)) {
        for (const auto& m : parse_index(store_.read_blob(d.digest), d.digest).manifests) add(m);
      } else if (is_manifest_type(d.media_type)) {
        Manifest m = parse_manifest(store_.read_blob(d.digest), d.digest);
        blobs_.insert(m.config.digest);
        for (const auto& l : m.layers) blobs_.insert(l.digest);
        ImageConfig c = parse_config(store_.read_blob(m.config.digest), m.config.digest);
        for (const auto& id : chain_ids(c.diff_ids)) chains_.insert(id.substr(7));
      }
    } catch (const Error&) {
    }
  }
  bool has_blob(const std::string& hex) const { return blobs_.count("sha256:" + hex) > 0; }
  bool has_chain(const std::string& hex) const { return chains_.count(hex) > 0; }
  const std::set<std::string>& blobs() const { return blobs_; }

 private:
  const Store& store_;
  std::set<std::string> blobs_, chains_;
};

}  // namespace

std::set<std::string> reachable_blobs(const Store& store) {
  Reachable reachable(store);
  for (const auto& t : store.tags()) reachable.add(t.target);
  return reachable.blobs();
}

GcResult collect_garbage(const Store& store) {
  FileLock gc = store.gc_lock(FileLock::Mode::Exclusive);
  GcResult result;
  Reachable reachable(store);
  for (const auto& t : store.tags()) reachable.add(t.target);

  for (const auto& hex : entries(store.blobs_dir())) {
    if (reachable.has_blob(hex)) continue;
    std::string path = store.blobs_dir() + "/" + hex;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (unlink(path.c_str()) < 0) throw_errno("cannot remove " + path);
    ++result.blobs_removed;
    result.blob_bytes += static_cast<uint64_t>(st.st_size);
  }

  // A layer dir of another ownership (a cache made before the user had a
  // subordinate range, or with another one) is never used again.
  const std::string& suffix = layer_ownership().dir_suffix;
  for (const auto& hex : entries(store.layers_dir())) {
    bool current =
        hex.size() == 64 + suffix.size() && hex.compare(64, std::string::npos, suffix) == 0;
    if (current && reachable.has_chain(hex.substr(0, 64))) continue;
    std::string dir = store.layers_dir() + "/" + hex;
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;
    // A running sandbox holds its layers with shared locks.
    if (flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
      ++result.layers_in_use;
      continue;
    }
    // Renamed away first: a layer dir is either whole or not there, even
    // if this gc is killed halfway through deleting it.
    std::string doomed = store.make_tmp_dir("gc") + "/" + hex;
    if (rename(dir.c_str(), doomed.c_str()) < 0) throw_errno("cannot remove " + dir);
    remove_mapped_tree(doomed.substr(0, doomed.rfind('/')));
    unlink(store.lock_path("layer-" + hex).c_str());
    ++result.layers_removed;
  }
  // Download locks: nobody holds one while gc holds the gc lock exclusively.
  for (const auto& name : entries(store.root() + "/locks"))
    if (name.rfind("blob-", 0) == 0) unlink(store.lock_path(name).c_str());
  return result;
}

}  // namespace coracle::image

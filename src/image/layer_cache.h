// Unpacked layers, cached per chain ID under ROOT/layers/<hex>: each layer
// is unpacked once, on its own (layers unpack in parallel), into a directory
// that is one lower layer of the sandbox's overlay. A warm start copies
// nothing. A layer directory appears (by rename) only when it is complete
// and its diff_id has been checked.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "common/userns.h"
#include "image/oci.h"
#include "image/store.h"

namespace coracle::image {

// chain_id[0] = diff_id[0]; chain_id[n] = sha256(chain_id[n-1] + " " + diff_id[n]).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

struct LayerEvent {
  size_t index;        // position in the manifest
  std::string digest;  // the layer blob
  // Progress: bytes of the blob read so far (at most once per MiB).
  enum Kind { Cached, Unpacking, Progress, Done } kind;
  double ms = 0;       // Done: how long it took
  uint64_t size = 0;   // the blob's size
  uint64_t bytes = 0;  // Progress: read so far
  size_t count = 0;    // the image's layers
};

// Makes sure every layer of the image is unpacked; returns their
// directories, lowest first. what names the image in errors.
std::vector<std::string> ensure_layers(const Store& store, const Manifest& manifest,
                                       const ImageConfig& config, const std::string& what,
                                       const std::function<void(const LayerEvent&)>& progress = {});

// Who owns the files of an unpacked layer (and of a flattened copy for the
// sandbox). As root: the image's own ids (the sandbox sees them through
// idmapped mounts). As a plain user with subordinate ids (/etc/subuid and
// /etc/subgid, newuidmap): the image's ids through the sandbox's own
// mapping, so that uid 1000 of the image is uid 1000 in the sandbox (host
// uid subuid+999), unpacked in a user namespace with that mapping, as
// podman does. Without a range: the caller owns every file (uid 0 inside).
struct LayerOwnership {
  bool preserve = false;            // the image's owners are kept
  std::optional<IdMapping> userns;  // through this mapping (a plain user)
  // Layer dirs unpacked through a mapping are named for it: a cache made
  // before (all the caller's) or with another range is not taken for one.
  std::string dir_suffix;
};
const LayerOwnership& layer_ownership();

// Runs fn(preserve_owners) where files can be given the image's owners: in
// a user namespace with the mapping (a forked child: fn must not count on
// other threads, and what it changes in memory stays there), or here. The
// first time a plain user without a range unpacks, one warning says how to
// add one.
void with_layer_owners(const std::string& what, const std::function<void(bool)>& fn);

// Shared locks on layer directories, held while a sandbox runs on them so
// that gc leaves them alone.
std::vector<FileLock> lock_layers_shared(const std::vector<std::string>& dirs);

}  // namespace coracle::image

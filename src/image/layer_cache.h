// Unpacked layers, cached per chain ID under ROOT/layers/<hex>: each layer
// is unpacked once, on its own (layers unpack in parallel), into a directory
// that is one lower layer of the sandbox's overlay. A warm start copies
// nothing. A layer directory appears (by rename) only when it is complete
// and its diff_id has been checked.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "image/oci.h"
#include "image/store.h"

namespace coracle::image {

// chain_id[0] = diff_id[0]; chain_id[n] = sha256(chain_id[n-1] + " " + diff_id[n]).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

struct LayerEvent {
  size_t index;        // position in the manifest
  std::string digest;  // the layer blob
  enum Kind { Cached, Unpacking, Done } kind;
  double ms = 0;
};

// Makes sure every layer of the image is unpacked; returns their
// directories, lowest first. what names the image in errors.
std::vector<std::string> ensure_layers(const Store& store, const Manifest& manifest,
                                       const ImageConfig& config, const std::string& what,
                                       const std::function<void(const LayerEvent&)>& progress = {});

// Shared locks on layer directories, held while a sandbox runs on them so
// that gc leaves them alone.
std::vector<FileLock> lock_layers_shared(const std::vector<std::string>& dirs);

}  // namespace coracle::image

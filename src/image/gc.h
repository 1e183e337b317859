// `coracle image gc`: frees what no tag reaches. Blobs (manifests,
// configs, layers) not reachable from a tag in index.json are deleted, and
// so are unpacked layer directories whose chain ID no tagged image has,
// unless a running sandbox holds them (a shared flock on the directory,
// layer_cache.h): those stay until a later gc. It runs under the exclusive
// gc lock, so no pull, import or exec can be halfway through linking
// something in while it decides.
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "image/store.h"

namespace coracle::image {

struct GcResult {
  int blobs_removed = 0;
  uint64_t blob_bytes = 0;
  int layers_removed = 0;
  int layers_in_use = 0;  // unreferenced but held by a running sandbox
};

GcResult collect_garbage(const Store& store);

// The digests of every blob a tag reaches (what gc keeps). The caller
// holds the gc lock exclusively, or the answer may be stale.
std::set<std::string> reachable_blobs(const Store& store);

}  // namespace coracle::image

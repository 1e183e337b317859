// `coracle image push`: an image of the store into a registry, as the
// distribution API (v2) has clients do it: each blob (config, layers) is
// skipped when the repository has it (HEAD), mounted from the source
// repository when both are on one registry, else uploaded (one PUT, or
// PATCH chunks for big blobs); the manifest goes last, as stored, so its
// digest is the same on both sides.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "image/pull.h"  // PullEvent: the same events, for a transfer the other way
#include "image/registry.h"
#include "image/store.h"

namespace coracle::image {

struct PushOptions {
  RegistryOptions registry;
  // Blobs over this size go in PATCH chunks of it; 0: every blob in one PUT.
  uint64_t chunk_size = 16ull << 20;
  // kResolved, then per blob kBlobStart/kBlobProgress/kBlobDone or
  // kBlobCached (the registry had it, or mounted it), then kDone.
  std::function<void(const PullEvent&)> on_event;
};

// Pushes the stored image source to destination (a reference; empty: the
// source's own name). Returns the manifest digest.
std::string push_image(const Store& store, const std::string& source,
                       const std::string& destination, const PushOptions& options);

}  // namespace coracle::image

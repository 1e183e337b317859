// `coracle image pull`: an image from a registry into the store. The
// manifest (an index is narrowed to the platform), the config and the
// layers are downloaded, each checked against its digest while it streams
// to disk; layers come in parallel. Only when every blob is in does the tag
// move, so an interrupted pull leaves the store as it was, plus whole,
// verified blobs that the next pull skips.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "image/oci.h"
#include "image/registry.h"
#include "image/store.h"

namespace coracle::image {

struct PullEvent {
  enum class Kind {
    kResolved,   // the manifest is known: digest, size = total of the blobs
    kBlobStart,  // digest, size, role ("config" / "layer")
    kBlobProgress,
    kBlobDone,
    kBlobCached,  // already in the store (or fetched by a concurrent pull)
    kDone,        // the tag is set: digest
  };
  Kind kind;
  std::string digest, role;
  int64_t size = 0;
  uint64_t done = 0;
};

struct PullOptions {
  Platform platform = host_platform();
  RegistryOptions registry;
  int parallel = 4;  // layers downloaded at once
  // An artifact of this type instead of an image (an empty config, its
  // layers kept as blobs); empty: an image, and an artifact is refused.
  std::string artifact_type;
  // Called from the download threads (one at a time: pull serialises them).
  std::function<void(const PullEvent&)> on_event;
};

// Returns the name the image was stored under (the full reference).
std::string pull_image(const Store& store, const std::string& reference,
                       const PullOptions& options);

}  // namespace coracle::image

#include "image/push.h"

#include <fcntl.h>

#include "common/error.h"
#include "common/unique_fd.h"
#include "image/credentials.h"
#include "image/reference.h"
#include "image/resolve.h"

namespace coracle::image {

namespace {

struct Stored {
  std::string name;  // the full reference, or a digest
  Descriptor manifest_descriptor;
  Manifest manifest;
};

// A tag of the store first (an image or an artifact, whose empty config
// resolve_image would not read), else an image by digest or prefix.
Stored find_stored(const Store& store, const std::string& source) {
  if (looks_like_reference(source))
    if (auto d = store.find_tag(parse_reference(source).str()))
      return {parse_reference(source).str(), *d,
              parse_manifest(store.read_blob(d->digest), "manifest " + d->digest)};
  ResolvedImage img = resolve_image(store, source);
  return {img.name, img.manifest_descriptor, img.manifest};
}

}  // namespace

std::string push_image(const Store& store, const std::string& source,
                       const std::string& destination, const PushOptions& options) {
  Stored img = find_stored(store, source);
  bool named = img.name.rfind("sha256:", 0) != 0;
  if (!named && destination.empty())
    throw Error(source + " has no name to push it under: give a destination");
  Reference from = named ? parse_reference(img.name) : Reference{};
  Reference to = parse_reference(destination.empty() ? img.name : destination);
  std::string target = to.digest.empty() ? (to.tag.empty() ? "latest" : to.tag) : to.digest;
  std::string manifest = store.read_blob(img.manifest_descriptor.digest);

  RegistryOptions ro = options.registry;
  ro.actions = "pull,push";
  RegistryClient client(to, ro, find_credential(to.registry));
  auto say = [&](PullEvent e) {
    if (options.on_event) options.on_event(e);
  };
  std::vector<std::pair<Descriptor, std::string>> blobs;  // with their role
  blobs.emplace_back(img.manifest.config, "config");
  for (const auto& l : img.manifest.layers) blobs.emplace_back(l, "layer");
  int64_t total = 0;
  for (const auto& [d, _] : blobs) total += d.size;
  say({PullEvent::Kind::kResolved, img.manifest_descriptor.digest, "", total, 0});

  // Mounting is worth asking only within one registry, from another
  // repository of it that the image came from.
  bool can_mount =
      !from.registry.empty() && from.registry == to.registry && from.repository != to.repository;
  for (const auto& [d, role] : blobs) {
    if (client.has_blob(d) || (can_mount && client.mount_blob(d, from.repository))) {
      say({PullEvent::Kind::kBlobCached, d.digest, role, d.size, static_cast<uint64_t>(d.size)});
      continue;
    }
    UniqueFd fd(open(store.blob_path(d.digest).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
      throw_errno("blob " + d.digest + " of " + img.name +
                  " is not in the store (an image imported without its layers?)");
    say({PullEvent::Kind::kBlobStart, d.digest, role, d.size, 0});
    uint64_t chunk = options.chunk_size && static_cast<uint64_t>(d.size) > options.chunk_size
                         ? options.chunk_size
                         : 0;
    client.upload_blob(d, fd.get(), chunk, [&](uint64_t sent) {
      say({PullEvent::Kind::kBlobProgress, d.digest, role, d.size, sent});
    });
    say({PullEvent::Kind::kBlobDone, d.digest, role, d.size, static_cast<uint64_t>(d.size)});
  }
  std::string digest = client.put_manifest(target, manifest, img.manifest_descriptor.media_type);
  say({PullEvent::Kind::kDone, digest, "", static_cast<int64_t>(manifest.size()), 0});
  return digest;
}

}  // namespace coracle::image

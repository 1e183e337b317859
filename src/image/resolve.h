// From a reference to what a sandbox needs: the manifest, the config and
// the unpacked layer directories of an image in the store.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "image/layer_cache.h"
#include "image/oci.h"
#include "image/store.h"

namespace coracle::image {

struct ResolvedImage {
  std::string name;  // as stored (full reference), or the digest
  Descriptor manifest_descriptor;
  Manifest manifest;
  ImageConfig config;
};

// Looks text up in the store: a reference (normalised like Docker's), or a
// manifest digest / unique prefix of one (like `podman images` IDs). An index
// is narrowed to the manifest for platform. Throws an Error that says how to
// get the image when it is not there.
ResolvedImage resolve_image(const Store& store, const std::string& text,
                            const Platform& platform = host_platform());

// Does the store have what text names (a reference, digest or prefix)?
bool has_image(const Store& store, const std::string& text);
// What text names in the store: a name (short names as registries.conf
// says), or a digest or its prefix (4 hex digits at least; a manifest's or
// its config's, docker's image ID), also of an image that has lost its
// names (until gc). Matched by digest, the entry's name is the digest.
// Throws when a prefix starts more than one image's digest.
std::optional<TagEntry> find_image(const Store& store, const std::string& text);

// The same for a tag entry already in hand (no index.json lookup).
ResolvedImage load_image(const Store& store, const std::string& name, const Descriptor& target,
                         const Platform& platform = host_platform());

// Picks platform's manifest out of an index (throws listing what there is).
Descriptor select_platform(const Index& index, const Platform& platform, const std::string& what);

// Everything `coracle exec IMAGE` needs from the store: the layer dirs
// (unpacked on first use), locked against gc for as long as this lives.
struct ImageRootfs {
  ResolvedImage image;
  std::vector<std::string> layer_dirs;  // lowest first
  std::vector<FileLock> locks;
};
// progress: told as layers are unpacked (layer_cache.h).
ImageRootfs prepare_image_layers(const Store& store, const std::string& text,
                                 const Platform& platform = host_platform(),
                                 const std::function<void(const LayerEvent&)>& progress = {});

// The content of a file of the image (e.g. "etc/passwd"), from the topmost
// layer that has it as a regular file; empty if none does or one above
// deletes it (an overlay whiteout).
std::string read_image_file(const std::vector<std::string>& layer_dirs, const std::string& path);

// `image unpack` and the vfs driver: the image's layers applied in order
// into dest (created 0700, or empty), whiteouts applied: the flattened
// rootfs, like umoci's. Device nodes are never made; returns how many were
// skipped. As root the files keep the image's owners; as a plain user they
// are the caller's (`image unpack`), or with for_sandbox the image's owners
// through the sandbox's mapping, as the layer cache has them
// (layer_ownership(); remove the tree with remove_mapped_tree; the count is
// then not known: 0).
uint64_t flatten_image(const Store& store, const ResolvedImage& image, const std::string& dest,
                       bool for_sandbox = false);

}  // namespace coracle::image

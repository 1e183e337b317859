// The OCI image model (image-spec v1) and Docker's schema 2 equivalents:
// descriptors, manifests, indexes / manifest lists and image configs, parsed
// from JSON with every field that coracle relies on checked. Anything that
// does not fit gives a coracle::Error naming the document and the field.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coracle::image {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
// An artifact's config: the two bytes "{}".
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media

inline constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";

bool is_index_type(std::string_view media_type);
bool is_manifest_type(std::string_view media_type);
bool is_layer_type(std::string_view media_type);

struct Platform {
  std::string os, architecture, variant;
  std::string str() const;  // "linux/arm64/v8"
};
// "linux/amd64", "linux/arm/v7"; throws on anything else.
Platform parse_platform(std::string_view text);
// The machine coracle runs on (linux/amd64, linux/arm64/v8, ...).
Platform host_platform();
// Does candidate satisfy wanted? (variants compared only when wanted has one;
// arm64's "v8" and no variant are the same.)
bool platform_matches(const Platform& wanted, const Platform& candidate);

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
};

struct Manifest {
  std::string media_type;
  // An artifact's type (not an image: its config is empty and its layers
  // are whatever the type says, never unpacked as a rootfs).
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct ImageConfig {
  std::string architecture, os, variant;
  std::vector<std::string> env, entrypoint, cmd, diff_ids;
  std::string working_dir, user, stop_signal;
  std::vector<std::string> exposed_ports;  // "5000/tcp"
  std::vector<std::string> volumes;        // VOLUME paths: an anonymous volume each per run
  std::map<std::string, std::string> labels;
};

// what names the document in errors ("manifest sha256:ab12..").
Index parse_index(std::string_view json, const std::string& what);
Manifest parse_manifest(std::string_view json, const std::string& what);
ImageConfig parse_config(std::string_view json, const std::string& what);
// The media type a manifest or index says it has (mediaType, or guessed from
// its fields when absent, as older OCI documents allow).
std::string sniff_media_type(std::string_view json, const std::string& what);

// A Docker schema 2 manifest as the OCI manifest over the same blobs (as
// skopeo writes it into an OCI layout): only the media types change.
Manifest to_oci_manifest(const Manifest& docker);

// Serialisation (for the store's index.json and for converted manifests).
std::string descriptor_json(const Descriptor& d);
std::string index_json(const Index& index);
std::string manifest_json(const Manifest& manifest);

}  // namespace coracle::image

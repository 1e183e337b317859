#include "image/resolve.h"
#include "image/registries_conf.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "image/layer_unpack.h"

#include <cstring>

#include "common/error.h"
#include "common/sha256.h"
#include "image/layer_cache.h"
#include "image/reference.h"

#include <nlohmann/json.hpp>

namespace coracle::image {
namespace {

Descriptor narrow(const Store& store, Descriptor d, const Platform& platform,
                  const std::string& what) {
  if (is_index_type(d.media_type)) {
    Index index = parse_index(store.read_blob(d.digest), what + " (index " + d.digest + ")");
    d = select_platform(index, platform, what);
  }
  if (!is_manifest_type(d.media_type))
    throw Error(what + ": unsupported media type '" + d.media_type + "'");
  return d;
}

}  // namespace

Descriptor select_platform(const Index& index, const Platform& platform, const std::string& what) {
  std::string seen;
  for (const auto& m : index.manifests) {
    if (!is_manifest_type(m.media_type)) continue;
    // An entry without a platform fits any (single-platform indexes).
    if (!m.platform || platform_matches(platform, *m.platform)) return m;
    seen += (seen.empty() ? "" : ", ") + m.platform->str();
  }
  throw Error(what + " has no image for " + platform.str() +
              (seen.empty() ? "" : " (it has: " + seen + "); choose one with --platform"));
}

namespace {

// The manifest (or index) in blob digest, or nullopt when the blob is
// something else (a config, a layer) or unreadable. Big blobs are layers.
std::optional<Descriptor> image_blob(const Store& store, const std::string& digest) {
  struct stat st;
  if (stat(store.blob_path(digest).c_str(), &st) < 0 || st.st_size > (4 << 20)) return std::nullopt;
  try {
    std::string text = store.read_blob(digest);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    std::string type = j.value("mediaType", "");
    if (type.empty() && j.contains("config") && j.contains("layers"))
      type = std::string(media::kOciManifest);
    if (type.empty() && j.contains("manifests")) type = std::string(media::kOciIndex);
    if (!is_manifest_type(type) && !is_index_type(type)) return std::nullopt;
    return Descriptor{type, digest, static_cast<int64_t>(text.size())};
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Whether hex starts d's digest or, for a manifest, its config's (docker's
// image ID, what --iidfile writes).
bool digest_matches(const Store& store, const Descriptor& d, const std::string& hex) {
  if (d.digest.compare(7, hex.size(), hex) == 0) return true;
  if (!is_manifest_type(d.media_type)) return false;
  try {
    Manifest m = parse_manifest(store.read_blob(d.digest), "manifest " + d.digest);
    return m.config.digest.compare(7, hex.size(), hex) == 0;
  } catch (const Error&) {
    return false;
  }
}

// An image named by a prefix of its digest (4 hex digits at least, with
// or without sha256:): a tagged one's manifest or config digest, else an
// image in the store that has lost its names (until gc). Throws when two
// images start so.
std::optional<TagEntry> lookup_by_digest(const Store& store, const std::string& hex,
                                         const std::string& text) {
  std::optional<TagEntry> found;
  auto take = [&](const std::string& name, const Descriptor& d) {
    if (found && found->target.digest != d.digest)
      throw Error("'" + text + "' is ambiguous: it starts more than one image's digest");
    if (!found) found = TagEntry{name, d};
  };
  for (const auto& t : store.tags())
    if (digest_matches(store, t.target, hex)) take(t.target.digest, t.target);
  if (found) return found;
  // Untagged: the blobs whose name starts so, or any manifest whose config
  // does (a directory read and the small blobs; only when nothing tagged
  // matched).
  DIR* dir = opendir(store.blobs_dir().c_str());
  if (!dir) return std::nullopt;
  std::vector<std::string> names;
  while (auto* e = readdir(dir))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(dir);
  for (const auto& n : names)
    if (auto d = image_blob(store, "sha256:" + n); d && digest_matches(store, *d, hex))
      take(d->digest, *d);
  return found;
}

// The tag entry text names, if the store has one.
std::optional<TagEntry> lookup(const Store& store, const std::string& text) {
  // A digest, or a prefix of one (at least 4 hex digits).
  std::string hex = text.rfind("sha256:", 0) == 0 ? text.substr(7) : text;
  bool hexish = hex.size() >= 4 && hex.size() <= 64 &&
                hex.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hexish)
    if (auto by_digest = lookup_by_digest(store, hex, text)) return by_digest;
  // "sha256:..." is a digest or nothing: never a repository named sha256.
  if (text.rfind("sha256:", 0) == 0) return std::nullopt;
  std::string name;  // as stored
  std::optional<Descriptor> found;
  auto tags = store.tags();
  // A short name is looked for under each name registries.conf gives it
  // (its alias, each search registry), then under docker.io's.
  std::vector<Reference> candidates;
  if (is_short_name(text)) candidates = qualify(text, registries_conf(store), true);
  Reference fallback = parse_reference(text);
  bool listed = false;
  for (const auto& c : candidates) listed |= c.str() == fallback.str();
  if (!listed) candidates.push_back(std::move(fallback));
  for (size_t i = 0; i < candidates.size() && !found; ++i) {
    const Reference& ref = candidates[i];
    for (const auto& t : tags) {
      bool same = ref.digest.empty() ? t.name == ref.str()
                                     : (t.target.digest == ref.digest ||
                                        t.name.rfind(ref.name() + "@" + ref.digest, 0) == 0);
      if (same) {
        found = t.target;
        name = t.name;
        break;
      }
    }
  }
  if (!found) return std::nullopt;
  return TagEntry{name, *found};
}
}  // namespace

std::optional<TagEntry> find_image(const Store& store, const std::string& text) {
  return lookup(store, text);
}

bool has_image(const Store& store, const std::string& text) {
  return lookup(store, text).has_value();
}

ResolvedImage resolve_image(const Store& store, const std::string& text, const Platform& platform) {
  auto entry = lookup(store, text);
  if (!entry && text.rfind("sha256:", 0) == 0)
    throw Error("no image in the store has a digest starting with " + text);
  if (!entry) {
    std::string ref = parse_reference(text).str();
    throw Error("image " + ref + " is not in the store; get it with `coracle image pull " + ref +
                "` or `coracle image import PATH --tag " + ref + "`");
  }
  return load_image(store, entry->name, entry->target, platform);
}

ResolvedImage load_image(const Store& store, const std::string& name, const Descriptor& target,
                         const Platform& platform) {
  ResolvedImage out;
  out.name = name;
  out.manifest_descriptor = narrow(store, target, platform, "image " + name);
  const std::string& digest = out.manifest_descriptor.digest;
  out.manifest = parse_manifest(store.read_blob(digest), "manifest " + digest);
  if (!out.manifest.artifact_type.empty())
    throw Error(name + " is an artifact (" + out.manifest.artifact_type +
                "), not an image: it has no rootfs to run");
  out.config = parse_config(store.read_blob(out.manifest.config.digest),
                            "config " + out.manifest.config.digest);
  return out;
}

ImageRootfs prepare_image_layers(const Store& store, const std::string& text,
                                 const Platform& platform,
                                 const std::function<void(const LayerEvent&)>& progress) {
  ImageRootfs r;
  // Shared gc lock from resolving to holding the layer locks: gc (which
  // takes it exclusively) cannot remove anything in between.
  FileLock gc = store.gc_lock(FileLock::Mode::Shared);
  r.image = resolve_image(store, text, platform);
  r.layer_dirs =
      ensure_layers(store, r.image.manifest, r.image.config, "image " + r.image.name, progress);
  r.locks = lock_layers_shared(r.layer_dirs);
  return r;
}

std::string read_image_file(const std::vector<std::string>& layer_dirs, const std::string& path) {
  for (size_t i = layer_dirs.size(); i-- > 0;) {
    UniqueFd root(open(layer_dirs[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) continue;
    int fd = open_in_root(root.get(), path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    UniqueFd file(fd);
    struct stat st;
    if (fstat(fd, &st) < 0) continue;
    if (S_ISCHR(st.st_mode)) return {};  // a whiteout: deleted above the rest
    if (!S_ISREG(st.st_mode) || st.st_size > (4 << 20)) return {};
    std::string data(static_cast<size_t>(st.st_size), '\0');
    ssize_t n = pread(fd, data.data(), data.size(), 0);
    data.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return data;
  }
  return {};
}

uint64_t flatten_image(const Store& store, const ResolvedImage& image, const std::string& dest,
                       bool for_sandbox) {
  struct stat st;
  if (stat(dest.c_str(), &st) == 0) {
    DIR* d = opendir(dest.c_str());
    if (!d) throw_errno("cannot open " + dest);
    int entries = 0;
    while (auto* e = readdir(d)) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    if (entries) throw Error(dest + " is not empty; unpack into a new or empty directory");
  } else {
    // Like umoci's bundles: the tree holds the image's setuid files with
    // their owners, so only the caller may reach into it.
    mkdir_p(dest, 0700);
  }
  uint64_t skipped = 0;
  auto flatten = [&](bool preserve) {
    UniqueFd root(open(dest.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("cannot open " + dest);
    UnpackOptions opt;
    opt.whiteouts = WhiteoutMode::Apply;
    opt.preserve_owners = preserve;
    // A directory made read-only by one layer must take the next layers'
    // files (without root's CAP_DAC_OVERRIDE): modes go on at the very end.
    opt.defer_dir_modes = true;
    std::vector<DeferredDir> dirs;
    uint64_t skipped_devices = 0;
    const auto& diff_ids = image.config.diff_ids;
    if (diff_ids.size() != image.manifest.layers.size())
      throw Error("image " + image.name + ": the manifest and the config disagree on the layers");
    for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
      const auto& layer = image.manifest.layers[i];
      std::string what = "image " + image.name + ": layer " + layer.digest;
      UniqueFd in(open(store.blob_path(layer.digest).c_str(), O_RDONLY | O_CLOEXEC));
      if (!in) throw_errno(what + " is not in the store");
      UnpackStats stats = unpack_layer(in.get(), root.get(), opt, what);
      if (stats.diff_id != diff_ids[i])
        throw Error(what + " unpacks to " + stats.diff_id + ", but the config says " + diff_ids[i]);
      dirs.insert(dirs.end(), stats.dirs.begin(), stats.dirs.end());
      skipped_devices += stats.skipped_devices;
    }
    apply_dir_modes(root.get(), dirs);
    skipped = skipped_devices;
  };
  if (for_sandbox && geteuid() != 0)
    with_layer_owners("unpack image " + image.name, flatten);
  else
    flatten(geteuid() == 0);
  // A sandbox's / is 0755, as every image's (the layer cache does the
  // same): a user other than root must be able to walk it. Its parent, in
  // the store, keeps others out.
  if (for_sandbox && chmod(dest.c_str(), 0755) < 0) throw_errno("cannot open up " + dest);
  return skipped;
}

}  // namespace coracle::image

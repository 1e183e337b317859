#include "image/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "image/reference.h"
#include "image/resolve.h"

namespace coracle::image {
namespace {

constexpr size_t kMaxJson = 8 << 20;

// Files staged under ROOT/tmp/import-PID-N, each with its digest; moved
// into the blob store only once the import has been checked as a whole.
class Spool {
 public:
  explicit Spool(const Store& store) : store_(store), dir_(store.make_tmp_dir("import")) {}
  ~Spool() {
    try {
      remove_tree(dir_);
    } catch (const Error&) {
    }
  }

  struct File {
    std::string path, digest;
    int64_t size = 0;
    std::string small;  // the content, when it is small enough to be JSON
  };

  // Copies what read() yields into a new spool file.
  template <typename Read>
  const File& add(const std::string& key, Read read) {
    File f;
    f.path = dir_ + "/" + std::to_string(files_.size());
    UniqueFd fd(open(f.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) throw_errno("cannot create " + f.path);
    Sha256 hash;
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(buf, sizeof buf)) > 0) {
      hash.update(buf, static_cast<size_t>(n));
      if (f.size + n <= static_cast<int64_t>(kMaxJson)) f.small.append(buf, static_cast<size_t>(n));
      f.size += n;
      write_all(fd.get(), buf, static_cast<size_t>(n), f.path);
    }
    if (n < 0) throw Error("cannot read " + key + " from the input");
    if (f.size > static_cast<int64_t>(kMaxJson)) f.small.clear();
    if (fsync(fd.get()) < 0) throw_errno("cannot sync " + f.path);
    f.digest = hash.digest();
    by_digest_[f.digest] = f.path;
    return files_[key] = std::move(f);
  }

  const File* find(const std::string& key) const {
    auto it = files_.find(key);
    return it == files_.end() ? nullptr : &it->second;
  }
  // A blob stored under a name that is not its digest is refused outright.
  void check_blob_names(const std::string& what) const {
    for (const auto& [key, f] : files_) {
      if (key.rfind("blobs/sha256/", 0) != 0) continue;
      std::string named = "sha256:" + key.substr(13);
      if (named != f.digest)
        throw Error(what + ": " + key + " does not match its digest (it hashes to " + f.digest +
                    "): the input is corrupt or was tampered with");
    }
  }

  bool has_digest(const std::string& digest) const { return by_digest_.count(digest) > 0; }

  // Content of a staged blob by digest (checked when it was staged).
  std::string json(const std::string& digest, const std::string& what) const {
    auto it = by_digest_.find(digest);
    if (it == by_digest_.end()) throw Error(what + ": blob " + digest + " is missing");
    struct stat st;
    if (stat(it->second.c_str(), &st) == 0 && static_cast<size_t>(st.st_size) > kMaxJson)
      throw Error(what + ": blob " + digest + " is too large for a JSON document");
    return read_file(it->second);
  }

  std::string put(const std::string& data) {
    std::string key = "generated-" + std::to_string(files_.size());
    size_t pos = 0;
    return add(key,
               [&](char* buf, size_t cap) {
                 size_t n = std::min(cap, data.size() - pos);
                 memcpy(buf, data.data() + pos, n);
                 pos += n;
                 return static_cast<ssize_t>(n);
               })
        .digest;
  }

  // Moves the blobs into the store (same file system: a rename each).
  void commit(const std::vector<std::string>& digests) {
    for (const auto& d : digests) {
      if (store_.has_blob(d)) continue;
      auto it = by_digest_.find(d);
      if (it == by_digest_.end()) throw Error("blob " + d + " is missing from the input");
      if (link(it->second.c_str(), store_.blob_path(d).c_str()) < 0 && errno != EEXIST)
        throw_errno("cannot add blob " + d + " to the store");
    }
  }

 private:
  const Store& store_;
  std::string dir_;
  std::map<std::string, File> files_;
  std::map<std::string, std::string> by_digest_;
};

std::string normalise_entry(const char* raw) {
  std::string p = raw ? raw : "";
  while (p.rfind("./", 0) == 0) p.erase(0, 2);
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  return p;
}

// Every blob an image needs, checked: manifest, config, layers present with
// the sizes their descriptors give.
std::vector<std::string> check_image(const Spool& spool, const Descriptor& manifest_desc,
                                     const std::string& what) {
  std::string text = spool.json(manifest_desc.digest, what);
  Manifest m = parse_manifest(text, what + ": manifest " + manifest_desc.digest);
  ImageConfig cfg = parse_config(spool.json(m.config.digest, what), what + ": config");
  if (cfg.diff_ids.size() != m.layers.size())
    throw Error(what + ": the manifest has " + std::to_string(m.layers.size()) +
                " layers but the config lists " + std::to_string(cfg.diff_ids.size()));
  std::vector<std::string> blobs = {manifest_desc.digest, m.config.digest};
  for (const auto& l : m.layers) {
    if (!spool.has_digest(l.digest)) throw Error(what + ": layer " + l.digest + " is missing");
    blobs.push_back(l.digest);
  }
  return blobs;
}

// A ref.name that is only a tag, as the OCI layout has it ("latest",
// "1.0", "v2", "3.12-slim"): not a repository (which "busybox", as skopeo's
// oci:DIR:busybox writes it, may be).
bool is_bare_tag(const std::string& ref_name) {
  if (ref_name.empty() || ref_name.find_first_of("/:@") != std::string::npos) return false;
  bool versionish = std::isdigit(static_cast<unsigned char>(ref_name[0])) ||
                    (ref_name.size() > 1 && ref_name[0] == 'v' &&
                     std::isdigit(static_cast<unsigned char>(ref_name[1])));
  return ref_name == "latest" || versionish;
}

// localhost/NAME from the imported path, as podman names such an image:
// its file or folder name without .tar, lowercased, other characters as -.
std::string name_from_path(const std::string& path) {
  std::string base = path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  base = base.substr(base.rfind('/') + 1);
  for (const char* ext : {".tar", ".oci", ".tgz", ".tar.gz"})
    if (base.size() > strlen(ext) && base.compare(base.size() - strlen(ext), strlen(ext), ext) == 0)
      base.resize(base.size() - strlen(ext));
  std::string out;
  for (char c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '-';
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  return "localhost/" + (out.empty() ? std::string("image") : out);
}

std::string tag_name(const std::string& given, const std::string& fallback, const std::string& what,
                     const std::string& path = "") {
  std::string name = !given.empty() ? given : fallback;
  if (name.empty()) throw Error(what + " does not name its image; give it a name with --tag NAME");
  if (given.empty() && !path.empty() && is_bare_tag(name)) name = name_from_path(path) + ":" + name;
  return parse_reference(name).str();
}

// The images an import names, checked, waiting for the commit: their blobs
// go into the store first, then their tags.
class Pending {
 public:
  void add(const Spool& spool, const std::string& name, const Descriptor& manifest,
           const std::string& what) {
    auto need = check_image(spool, manifest, what + " (" + name + ")");
    blobs_.insert(blobs_.end(), need.begin(), need.end());
    tagged_.emplace_back(name, manifest);
  }
  std::vector<std::string> commit(const Store& store, Spool& spool) {
    // gc must not take blobs that are linked in but not yet tagged.
    FileLock gc = store.gc_lock(FileLock::Mode::Shared);
    spool.commit(blobs_);
    std::vector<std::string> names;
    for (const auto& [name, desc] : tagged_) {
      store.set_tag(name, desc);
      names.push_back(name);
    }
    return names;
  }

 private:
  std::vector<std::pair<std::string, Descriptor>> tagged_;
  std::vector<std::string> blobs_;
};

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

// Reads every regular file of a tar into the spool, keyed by its path.
void spool_tar(Spool& spool, const std::string& path) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK)
    throw Error("cannot read " + path + ": " + archive_error_string(a.get()));
  archive_entry* e;
  int rc;
  while ((rc = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    std::string key = normalise_entry(archive_entry_pathname(e));
    spool.add(key, [&](char* buf, size_t cap) {
      la_ssize_t n = archive_read_data(a.get(), buf, cap);
      return static_cast<ssize_t>(n < 0 ? -1 : n);
    });
  }
  if (rc != ARCHIVE_EOF)
    throw Error("cannot read " + path + ": " + archive_error_string(a.get()) +
                " (truncated or not a tar archive)");
}

// An OCI layout: index.json names the images; blobs/sha256/<hex> must hash
// to their names.
std::vector<std::string> import_oci(const Store& store, Spool& spool, const ImportOptions& opt,
                                    const std::string& what, const std::string& path) {
  const Spool::File* index_file = spool.find("index.json");
  if (!index_file || index_file->small.empty()) throw Error(what + ": no index.json");
  Index index = parse_index(index_file->small, what + ": index.json");
  if (index.manifests.empty()) throw Error(what + ": index.json lists no image");
  if (!opt.tag.empty() && index.manifests.size() > 1)
    throw Error(what + " holds " + std::to_string(index.manifests.size()) +
                " images; --tag can name only one");
  Pending pending;
  for (const auto& d : index.manifests) {
    // containerd and Docker put the full name here, and only the tag in
    // ref.name; skopeo and umoci use ref.name alone.
    auto full = d.annotations.find("io.containerd.image.name");
    auto ref = d.annotations.find(kRefNameAnnotation);
    std::string given = full != d.annotations.end()  ? full->second
                        : ref != d.annotations.end() ? ref->second
                                                     : "";
    std::string name = tag_name(opt.tag, given, what, path);
    Descriptor m = d;
    if (is_index_type(d.media_type)) {
      Index inner = parse_index(spool.json(d.digest, what), what + ": index " + d.digest);
      m = select_platform(inner, opt.platform, what);
    }
    m.annotations.clear();
    pending.add(spool, name, m, what);
  }
  return pending.commit(store, spool);
}

// docker save: manifest.json lists config and layer files per image; the
// image is rewritten as an OCI manifest over the same blobs.
std::vector<std::string> import_docker(const Store& store, Spool& spool, const ImportOptions& opt,
                                       const std::string& what) {
  const Spool::File* mf = spool.find("manifest.json");
  nlohmann::json list;
  try {
    list = nlohmann::json::parse(mf->small);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": manifest.json is not valid JSON: " + e.what());
  }
  if (!list.is_array() || list.empty()) throw Error(what + ": manifest.json lists no image");
  if (!opt.tag.empty() && list.size() > 1)
    throw Error(what + " holds " + std::to_string(list.size()) +
                " images; --tag can name only one");
  Pending pending;
  for (const auto& img : list) {
    if (!img.is_object() || !img.contains("Config") || !img["Config"].is_string() ||
        !img.contains("Layers") || !img["Layers"].is_array())
      throw Error(what + ": manifest.json: an entry lacks Config or Layers");
    const Spool::File* config =
        spool.find(normalise_entry(img["Config"].get<std::string>().c_str()));
    if (!config) throw Error(what + ": config " + img["Config"].get<std::string>() + " is missing");
    Manifest m;
    m.media_type = media::kOciManifest;
    m.config = {std::string(media::kOciConfig), config->digest, config->size, {}, {}};
    for (const auto& l : img["Layers"]) {
      if (!l.is_string()) throw Error(what + ": manifest.json: a layer is not a path");
      const Spool::File* layer = spool.find(normalise_entry(l.get<std::string>().c_str()));
      if (!layer) throw Error(what + ": layer " + l.get<std::string>() + " is missing");
      // docker save writes plain tars; newer versions may compress them.
      char magic[4] = {};
      UniqueFd lf(open(layer->path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!lf || pread(lf.get(), magic, sizeof magic, 0) < 0)
        throw_errno("cannot read " + layer->path);
      std::string head(magic, sizeof magic);
      auto type = head.rfind("\x1f\x8b", 0) == 0           ? media::kOciLayerGzip
                  : head.rfind("\x28\xb5\x2f\xfd", 0) == 0 ? media::kOciLayerZstd
                                                           : media::kOciLayer;
      m.layers.push_back({std::string(type), layer->digest, layer->size, {}, {}});
    }
    std::string manifest_text = manifest_json(m);
    std::string manifest_digest = spool.put(manifest_text);
    Descriptor desc{std::string(media::kOciManifest),
                    manifest_digest,
                    static_cast<int64_t>(manifest_text.size()),
                    {},
                    {}};
    std::string fallback;
    if (img.contains("RepoTags") && img["RepoTags"].is_array() && !img["RepoTags"].empty() &&
        img["RepoTags"][0].is_string())
      fallback = img["RepoTags"][0].get<std::string>();
    std::string name = tag_name(opt.tag, fallback, what);
    pending.add(spool, name, desc, what);
  }
  return pending.commit(store, spool);
}

}  // namespace

std::vector<std::string> import_image(const Store& store, const std::string& path,
                                      const ImportOptions& opt) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw_errno("cannot import " + path);
  Spool spool(store);
  std::string what = "import of " + path;
  if (S_ISDIR(st.st_mode)) {
    // An OCI layout folder: index.json, then the blobs it names.
    if (stat((path + "/oci-layout").c_str(), &st) != 0)
      throw Error(path + " is not an OCI image layout (no oci-layout file)");
    auto add_file = [&](const std::string& key) {
      UniqueFd fd(open((path + "/" + key).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return;
      spool.add(key, [&](char* buf, size_t cap) { return read(fd.get(), buf, cap); });
    };
    add_file("index.json");
    // Only blobs named by their digest, and each checked against it.
    std::string blobs = path + "/blobs/sha256";
    if (auto* dir = opendir(blobs.c_str())) {
      std::vector<std::string> names;
      while (auto* e = readdir(dir))
        if (is_sha256_digest(std::string("sha256:") + e->d_name)) names.push_back(e->d_name);
      closedir(dir);
      for (const auto& n : names) add_file("blobs/sha256/" + n);
    }
  } else {
    spool_tar(spool, path);
  }
  spool.check_blob_names(what);
  // docker save since Docker 25 writes both; its manifest.json has the
  // full names (index.json's ref.name holds only the tag).
  if (spool.find("manifest.json")) return import_docker(store, spool, opt, what);
  if (spool.find("index.json")) return import_oci(store, spool, opt, what, path);
  throw Error(path + " is neither an OCI layout, an oci-archive nor a docker-archive");
}

}  // namespace coracle::image

#include "image/export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/unique_fd.h"
#include "image/layer_unpack.h"
#include "image/reference.h"
#include "image/tar_writer.h"

namespace coracle::image {
namespace {

// An image archive: a tar of a few regular files, written to fd.
class TarFile {
 public:
  TarFile(const std::string& path, int fd)
      : path_(path), fd_(fd), tar_([this](const void* d, size_t n) {
          write_all(fd_, static_cast<const char*>(d), n, path_);
        }) {}
  void add_bytes(const std::string& name, const std::string& data) {
    TarEntry e;
    e.name = name;
    tar_.add_file(e, data);
  }
  void add_file(const std::string& name, const std::string& source) {
    UniqueFd in(open(source.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!in || fstat(in.get(), &st) < 0) throw_errno("cannot read " + source);
    TarEntry e;
    e.name = name;
    e.size = static_cast<uint64_t>(st.st_size);
    tar_.add(e);
    char buf[1 << 16];
    for (uint64_t copied = 0; copied < e.size;) {
      ssize_t n = read(in.get(), buf, std::min<uint64_t>(sizeof buf, e.size - copied));
      if (n <= 0) throw_errno("cannot read " + source);
      tar_.data(buf, static_cast<size_t>(n));
      copied += static_cast<uint64_t>(n);
    }
  }
  void finish() { tar_.finish(); }

 private:
  std::string path_;
  int fd_;
  TarWriter tar_;
};

// The layer blob uncompressed into a file (docker-archive layers are plain
// tars, and a tar entry needs its size before its data).
void decompress_to(const std::string& blob, const std::string& out) {
  UniqueFd in(open(blob.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_errno("cannot read " + blob);
  LayerStream stream(in.get(), "layer " + blob);
  UniqueFd fd(open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw_errno("cannot create " + out);
  const void* data;
  ssize_t n;
  while ((n = stream.next(&data)) > 0) write_all(fd.get(), data, static_cast<size_t>(n), out);
  if (n < 0) throw Error("cannot decompress layer " + blob + ": " + stream.error());
}

void write_oci(const Store& store, const ResolvedImage& img, TarFile& tar) {
  tar.add_bytes("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  Descriptor d = img.manifest_descriptor;
  d.annotations.clear();
  d.platform.reset();
  if (!is_sha256_digest(img.name)) {
    // skopeo and umoci look a tag up by ref.name; containerd and coracle
    // take the full name from io.containerd.image.name.
    Reference ref = parse_reference(img.name);
    if (!ref.tag.empty()) d.annotations[kRefNameAnnotation] = ref.tag;
    d.annotations["io.containerd.image.name"] = img.name;
  }
  Index index{std::string(media::kOciIndex), {d}};
  tar.add_bytes("index.json", index_json(index));
  std::set<std::string> done;
  auto add_blob = [&](const std::string& digest) {
    if (done.insert(digest).second)
      tar.add_file("blobs/sha256/" + digest.substr(7), store.blob_path(digest));
  };
  add_blob(img.manifest_descriptor.digest);
  add_blob(img.manifest.config.digest);
  for (const auto& l : img.manifest.layers) add_blob(l.digest);
}

void write_docker(const Store& store, const ResolvedImage& img, TarFile& tar) {
  std::string config_name = img.manifest.config.digest.substr(7) + ".json";
  tar.add_file(config_name, store.blob_path(img.manifest.config.digest));
  std::string work = store.make_tmp_dir("export");
  nlohmann::json layers = nlohmann::json::array();
  std::set<std::string> done;
  try {
    for (size_t i = 0; i < img.manifest.layers.size(); ++i) {
      std::string hex = img.config.diff_ids.at(i).substr(7);
      std::string name = hex + "/layer.tar";
      layers.push_back(name);
      if (!done.insert(hex).second) continue;
      std::string plain = work + "/" + hex;
      decompress_to(store.blob_path(img.manifest.layers[i].digest), plain);
      tar.add_file(name, plain);
      unlink(plain.c_str());
    }
  } catch (...) {
    remove_tree(work);
    throw;
  }
  remove_tree(work);
  nlohmann::json entry = {{"Config", config_name}, {"Layers", layers}};
  entry["RepoTags"] = nlohmann::json::array();
  if (!is_sha256_digest(img.name) && !parse_reference(img.name).tag.empty())
    entry["RepoTags"].push_back(img.name);
  tar.add_bytes("manifest.json", nlohmann::json::array({entry}).dump());
}

}  // namespace

void export_image(const Store& store, const ResolvedImage& img, const std::string& path,
                  ExportFormat format) {
  std::string tmp = path + ".coracle-" + std::to_string(getpid());
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_errno("cannot create " + tmp);
  try {
    TarFile tar(path, fd.get());
    if (format == ExportFormat::kOciArchive)
      write_oci(store, img, tar);
    else
      write_docker(store, img, tar);
    tar.finish();
    if (fsync(fd.get()) < 0) throw_errno("cannot sync " + tmp);
    if (rename(tmp.c_str(), path.c_str()) < 0) throw_errno("cannot write " + path);
  } catch (...) {
    unlink(tmp.c_str());
    throw;
  }
}

}  // namespace coracle::image

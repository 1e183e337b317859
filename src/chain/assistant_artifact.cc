#include "chain/assistant_artifact.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "chain/assistants.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "image/layer_blob.h"
#include "image/layer_unpack.h"
#include "image/reference.h"
#include "image/tar_writer.h"
#include "image/tree_tar.h"

namespace coracle::chain {
namespace {

using nlohmann::json;

constexpr const char* kContentType = "application/vnd.coracle.assistant.content.v1.tar+gzip";
constexpr const char* kMetadataType = "application/vnd.coracle.assistant.metadata.v1+json";

json descriptor(const std::string& media_type, const std::string& digest, size_t size) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

}  // namespace

std::string pack_assistant(const image::Store& store, const std::string& dir,
                           const std::string& tag, std::string* digest) {
  ExternalAssistant a = load_assistant_dir(absolute_path(dir), dir);
  std::string name =
      tag.empty() ? "localhost/coracle-assistant-artifacts/" + a.name + ":latest" : tag;
  name = image::parse_reference(name).str();
  // Blobs in but not yet tagged must outlive a concurrent gc.
  FileLock gc = store.gc_lock(FileLock::Mode::Shared);

  UniqueFd root(open(a.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("cannot open the assistant " + a.dir);
  image::LayerBlob content(store);
  image::TarWriter tar([&](const void* p, size_t n) { content.write(p, n); });
  image::TreeTarOptions options;
  // Its secrets stay here: whoever pulls the assistant gives their own.
  options.skip = [](const std::string& path, bool) { return path == ".ayup-env"; };
  image::write_tree(root.get(), tar, options);
  tar.finish();
  image::Layer layer = content.finish("the assistant " + a.dir);

  // What it is for: the optional `detects` file's lines (file names or
  // globs an app it suits has, e.g. requirements.txt).
  json detects = json::array();
  if (auto text = read_file_in_root(a.dir, "detects"))
    for (const auto& line : split(*text, '\n'))
      if (!trimmed(line).empty() && trimmed(line)[0] != '#') detects.push_back(trimmed(line));
  json meta = {{"name", a.name}, {"abi", "ayup"}, {"detects", detects}};
  if (a.image)
    meta["image"] = *a.image;
  else
    meta["build"] = "Dockerfile";
  std::string meta_text = meta.dump();
  std::string meta_digest = store.put_blob(meta_text);
  std::string config_digest = store.put_blob("{}");

  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", image::media::kOciManifest},
      {"artifactType", kAssistantArtifactType},
      {"config", descriptor(std::string(image::media::kOciEmpty), config_digest, 2)},
      {"layers",
       {descriptor(kContentType, layer.blob.digest, static_cast<size_t>(layer.blob.size)),
        descriptor(kMetadataType, meta_digest, meta_text.size())}},
      {"annotations", {{"org.opencontainers.image.title", a.name}}}};
  std::string text = manifest.dump();
  std::string manifest_digest = store.put_blob(text);
  store.set_tag(name, {std::string(image::media::kOciManifest),
                       manifest_digest,
                       static_cast<int64_t>(text.size()),
                       {},
                       {}});
  if (digest) *digest = manifest_digest;
  return name;
}

std::string unpack_assistant(const image::Store& store, const std::string& ref,
                             const std::string& dest) {
  std::string digest = ref;
  if (!is_sha256_digest(ref)) {
    auto d = store.find_tag(image::parse_reference(ref).str());
    if (!d)
      throw Error("assistant " + ref + " is not in the store (coracle assistants pull " + ref +
                  ")");
    digest = d->digest;
  }
  image::Manifest m = image::parse_manifest(store.read_blob(digest), "manifest of " + ref);
  if (m.artifact_type != kAssistantArtifactType)
    throw Error(ref + " is not an assistant (" +
                (m.artifact_type.empty() ? "an image" : m.artifact_type) + ")");
  const image::Descriptor* content = nullptr;
  std::string name;
  for (const auto& l : m.layers) {
    if (l.media_type == kContentType && !content) content = &l;
    if (l.media_type == kMetadataType && name.empty()) {
      json meta = json::parse(store.read_blob(l.digest, 1 << 16), nullptr, false);
      if (meta.is_object() && meta.contains("name") && meta["name"].is_string())
        name = meta["name"].get<std::string>();
    }
  }
  if (!content || name.empty())
    throw Error(ref + ": the assistant artifact lacks its content or its name");
  // The name becomes a directory and local:NAME: one plain word.
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      throw Error(ref + ": the assistant's name '" + name + "' is not a plain name");
  if (name[0] == '.') throw Error(ref + ": the assistant's name starts with a dot");

  mkdir_p(dest, 0755);
  UniqueFd in(open(store.blob_path(content->digest).c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!in || !out) throw_errno("cannot lay out the assistant " + ref);
  image::UnpackOptions options;
  options.whiteouts = image::WhiteoutMode::Apply;
  options.preserve_owners = false;
  image::unpack_layer(in.get(), out.get(), options, "the assistant " + ref);
  // Secrets never travel with an assistant: one that came along is dropped.
  unlinkat(out.get(), ".ayup-env", 0);
  return name;
}

}  // namespace coracle::chain

#include "image/oci.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/parse.h"
#include "common/sha256.h"

namespace coracle::image {
namespace {

using nlohmann::json;

json parse_json(std::string_view text, const std::string& what) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) throw Error(what + " is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(what + " is not valid JSON: " + e.what());
  }
}

std::string get_string(const json& j, const char* key, const std::string& what, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw Error(what + ": missing \"" + key + "\"");
    return {};
  }
  if (!it->is_string()) throw Error(what + ": \"" + key + "\" is not a string");
  return it->get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const char* key, const std::string& what) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) throw Error(what + ": \"" + key + "\" is not an array");
  for (const auto& v : *it) {
    if (!v.is_string()) throw Error(what + ": \"" + key + "\" holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Descriptor parse_descriptor(const json& j, const std::string& what) {
  if (!j.is_object()) throw Error(what + ": a descriptor is not an object");
  Descriptor d;
  d.media_type = get_string(j, "mediaType", what, true);
  d.digest = get_string(j, "digest", what, true);
  if (!is_sha256_digest(d.digest))
    throw Error(what + ": unsupported or malformed digest '" + d.digest + "' (sha256 only)");
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    throw Error(what + ": descriptor " + d.digest + " has no valid size");
  d.size = size->get<int64_t>();
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    for (auto& [k, v] : a->items())
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    Platform plat;
    plat.os = get_string(*p, "os", what, false);
    plat.architecture = get_string(*p, "architecture", what, false);
    plat.variant = get_string(*p, "variant", what, false);
    d.platform = plat;
  }
  return d;
}

json descriptor_to_json(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) {
    json p = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    j["platform"] = p;
  }
  return j;
}

}  // namespace

bool is_index_type(std::string_view t) {
  return t == media::kOciIndex || t == media::kDockerList;
}
bool is_manifest_type(std::string_view t) {
  return t == media::kOciManifest || t == media::kDockerManifest;
}
bool is_layer_type(std::string_view t) {
  return t == media::kOciLayer || t == media::kOciLayerGzip || t == media::kOciLayerZstd ||
         t == media::kDockerLayerGzip || t == media::kDockerForeignLayer ||
         t == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
}

std::string Platform::str() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Platform parse_platform(std::string_view text) {
  auto parts = split(std::string(text), '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw Error("invalid platform '" + std::string(text) + "': expected OS/ARCH[/VARIANT]");
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return p;
}

Platform host_platform() {
  struct utsname u;
  uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return {"linux", "amd64", ""};
  if (m == "aarch64" || m == "arm64") return {"linux", "arm64", "v8"};
  if (m == "armv7l") return {"linux", "arm", "v7"};
  if (m == "armv6l") return {"linux", "arm", "v6"};
  if (m == "i686" || m == "i386") return {"linux", "386", ""};
  return {"linux", m, ""};  // ppc64le, s390x, riscv64 are spelled the same
}

bool platform_matches(const Platform& wanted, const Platform& candidate) {
  if (wanted.os != candidate.os || wanted.architecture != candidate.architecture) return false;
  if (wanted.variant.empty()) return true;
  auto norm = [&](const std::string& v) {
    return (wanted.architecture == "arm64" && v.empty()) ? std::string("v8") : v;
  };
  return norm(wanted.variant) == norm(candidate.variant);
}

std::string sniff_media_type(std::string_view text, const std::string& what) {
  json j = parse_json(text, what);
  std::string t = get_string(j, "mediaType", what, false);
  if (!t.empty()) return t;
  if (j.contains("manifests")) return std::string(media::kOciIndex);
  if (j.contains("layers") || j.contains("config")) return std::string(media::kOciManifest);
  if (j.contains("fsLayers")) throw Error(what + ": Docker schema 1 manifests are not supported");
  throw Error(what + ": neither a manifest nor an index");
}

Index parse_index(std::string_view text, const std::string& what) {
  json j = parse_json(text, what);
  Index index;
  index.media_type = get_string(j, "mediaType", what, false);
  if (index.media_type.empty()) index.media_type = media::kOciIndex;
  auto m = j.find("manifests");
  if (m == j.end() || !m->is_array()) throw Error(what + ": \"manifests\" is not an array");
  for (const auto& d : *m) index.manifests.push_back(parse_descriptor(d, what));
  return index;
}

Manifest parse_manifest(std::string_view text, const std::string& what) {
  json j = parse_json(text, what);
  Manifest man;
  man.media_type = get_string(j, "mediaType", what, false);
  if (man.media_type.empty()) man.media_type = media::kOciManifest;
  if (!is_manifest_type(man.media_type))
    throw Error(what + ": unsupported manifest media type '" + man.media_type + "'");
  man.artifact_type = get_string(j, "artifactType", what, false);
  auto c = j.find("config");
  if (c == j.end()) throw Error(what + ": missing \"config\"");
  man.config = parse_descriptor(*c, what);
  auto l = j.find("layers");
  if (l == j.end() || !l->is_array()) throw Error(what + ": \"layers\" is not an array");
  for (const auto& d : *l) {
    Descriptor layer = parse_descriptor(d, what);
    if (man.artifact_type.empty() && !is_layer_type(layer.media_type))
      throw Error(what + ": layer " + layer.digest + " has unsupported media type '" +
                  layer.media_type + "' (coracle reads tar layers, plain, gzip or zstd)");
    man.layers.push_back(std::move(layer));
  }
  return man;
}

Manifest to_oci_manifest(const Manifest& in) {
  Manifest out = in;
  out.media_type = media::kOciManifest;
  if (out.config.media_type == media::kDockerConfig) out.config.media_type = media::kOciConfig;
  for (auto& l : out.layers) {
    if (l.media_type == media::kDockerLayerGzip) l.media_type = media::kOciLayerGzip;
    if (l.media_type == media::kDockerForeignLayer)
      l.media_type = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  }
  return out;
}

ImageConfig parse_config(std::string_view text, const std::string& what) {
  json j = parse_json(text, what);
  ImageConfig cfg;
  cfg.architecture = get_string(j, "architecture", what, false);
  cfg.os = get_string(j, "os", what, false);
  cfg.variant = get_string(j, "variant", what, false);
  if (auto c = j.find("config"); c != j.end() && c->is_object()) {
    cfg.env = get_strings(*c, "Env", what);
    cfg.entrypoint = get_strings(*c, "Entrypoint", what);
    cfg.cmd = get_strings(*c, "Cmd", what);
    cfg.working_dir = get_string(*c, "WorkingDir", what, false);
    cfg.user = get_string(*c, "User", what, false);
    cfg.stop_signal = get_string(*c, "StopSignal", what, false);
    if (auto p = c->find("ExposedPorts"); p != c->end() && p->is_object())
      for (auto& [k, v] : p->items()) cfg.exposed_ports.push_back(k);
    if (auto p = c->find("Volumes"); p != c->end() && p->is_object())
      for (auto& [k, v] : p->items()) cfg.volumes.push_back(k);
    if (auto l = c->find("Labels"); l != c->end() && l->is_object())
      for (auto& [k, v] : l->items())
        if (v.is_string()) cfg.labels[k] = v.get<std::string>();
  }
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) throw Error(what + ": missing \"rootfs\"");
  cfg.diff_ids = get_strings(*rootfs, "diff_ids", what);
  for (const auto& d : cfg.diff_ids)
    if (!is_sha256_digest(d)) throw Error(what + ": malformed diff_id '" + d + "'");
  return cfg;
}

std::string descriptor_json(const Descriptor& d) {
  return descriptor_to_json(d).dump();
}

std::string index_json(const Index& index) {
  json j = {{"schemaVersion", 2}, {"mediaType", index.media_type}, {"manifests", json::array()}};
  for (const auto& d : index.manifests) j["manifests"].push_back(descriptor_to_json(d));
  return j.dump();
}

std::string manifest_json(const Manifest& m) {
  json j = {{"schemaVersion", 2},
            {"mediaType", m.media_type},
            {"config", descriptor_to_json(m.config)},
            {"layers", json::array()}};
  if (!m.artifact_type.empty()) j["artifactType"] = m.artifact_type;
  for (const auto& d : m.layers) j["layers"].push_back(descriptor_to_json(d));
  return j.dump();
}

}  // namespace coracle::image

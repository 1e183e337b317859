#include "builder/build_cache.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"

namespace coracle::builder {

using nlohmann::json;

BuildCache::BuildCache(const image::Store& store)
    : store_(store), dir_(store.root() + "/build-cache") {}

std::string chain_key(const std::string& key, const std::string& part) {
  Sha256 h;
  h.update(key);
  h.update("\n");
  h.update(part);
  return h.digest();
}

std::optional<CacheRecord> BuildCache::lookup(const std::string& key) const {
  std::string path = dir_ + "/" + key.substr(7);
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return std::nullopt;
  try {
    json j = json::parse(read_file(path));
    CacheRecord r;
    r.created = j.at("created").get<int64_t>();
    if (j.contains("layer") && !j["layer"].is_null()) {
      image::Descriptor d;
      d.media_type = j["layer"].at("mediaType").get<std::string>();
      d.digest = j["layer"].at("digest").get<std::string>();
      d.size = j["layer"].at("size").get<int64_t>();
      if (!is_sha256_digest(d.digest) || !store_.has_blob(d.digest)) return std::nullopt;
      r.layer = d;
      r.diff_id = j.at("diff_id").get<std::string>();
      if (!is_sha256_digest(r.diff_id)) return std::nullopt;
    }
    return r;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged record is a miss, and is rewritten
  }
}

void BuildCache::save(const std::string& key, const CacheRecord& r) const {
  json j = {{"created", r.created}, {"layer", nullptr}};
  if (r.layer) {
    j["layer"] = {
        {"mediaType", r.layer->media_type}, {"digest", r.layer->digest}, {"size", r.layer->size}};
    j["diff_id"] = r.diff_id;
  }
  mkdir_p(dir_, 0700);
  write_file_atomic(dir_ + "/" + key.substr(7), j.dump());
}

}  // namespace coracle::builder

// The build cache: ROOT/build-cache/<hex of key> holds what a step made
// (its layer, or none) and when. A record only counts while its blob is
// still in the store (gc may have taken it).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "common/sha256.h"
#include "image/oci.h"
#include "image/store.h"

namespace coracle::builder {

struct CacheRecord {
  std::optional<image::Descriptor> layer;  // none: the step changed nothing
  std::string diff_id;
  int64_t created = 0;
};

class BuildCache {
 public:
  explicit BuildCache(const image::Store& store);
  std::optional<CacheRecord> lookup(const std::string& key) const;
  void save(const std::string& key, const CacheRecord& record) const;

 private:
  const image::Store& store_;
  std::string dir_;
};

// key' = sha256(key + '\n' + part): the chain every instruction extends.
std::string chain_key(const std::string& key, const std::string& part);

}  // namespace coracle::builder

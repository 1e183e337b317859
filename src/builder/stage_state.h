// One stage of a build as it goes: the image config document (kept as
// JSON, so fields coracle does not model pass through from the base), the
// layers so far, and what the next instructions depend on.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "builder/dockerfile/build_plan.h"
#include "image/oci.h"

namespace coracle::builder {

struct StageState {
  nlohmann::json config;                  // the whole image config
  std::vector<image::Descriptor> layers;  // their diff_ids are config.rootfs.diff_ids
  std::vector<std::string> shell = {"/bin/sh", "-c"};
  bool cmd_set = false;   // CMD given in this stage (ENTRYPOINT then keeps it)
  std::string cache_key;  // chained over everything so far
  int64_t created = 0;    // time of the newest step (a cached one keeps its own)

  nlohmann::json& run_config();  // config["config"], made an object if missing
  std::string working_dir();     // WorkingDir, or "/"
  std::string user();
  std::vector<std::string> diff_ids() const;
  void add_layer(const image::Descriptor& blob, const std::string& diff_id);
  void add_history(const std::string& created_by, bool empty_layer, int64_t when);
  // What resolve_image would give for this state, for ensure_layers.
  image::Manifest manifest() const;
  image::ImageConfig image_config() const;
};

// An empty image ("FROM scratch") for the host's platform.
StageState scratch_state();

// The metadata instructions (ENV, ARG, LABEL, EXPOSE, USER, WORKDIR, CMD,
// ENTRYPOINT, SHELL, STOPSIGNAL, VOLUME, HEALTHCHECK, MAINTAINER) applied
// to the config. Returns what they resolved to (for the cache key: an ARG's
// value, ENV's expanded values). where is "Dockerfile:LINE" for errors.
std::string apply_metadata(const Instruction& ins, BuildScope& scope, StageState& state,
                           const std::string& where);

// RFC 3339 in UTC, as image configs write times.
std::string rfc3339(int64_t unix_seconds);
// The seconds of an RFC 3339 time (fractions and zone offsets read); 0 when
// it is not one.
int64_t parse_rfc3339(const std::string& text);

}  // namespace coracle::builder

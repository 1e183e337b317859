// `coracle build`: a Dockerfile built into an OCI image in the store, with
// no daemon. Each stage's instructions run in order: RUN in coracle's
// sandbox on an overlay of the stage's layers, its upper dir kept and
// turned into the step's layer; COPY/ADD written straight from their
// sources into a layer; the rest into the image config. Steps that produce
// a layer are cached under ROOT/build-cache by a key chained over the base
// image, every instruction so far, the build args in scope and (COPY/ADD)
// the content of the sources: an unchanged rebuild runs no sandbox and
// writes no layer.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "builder/dockerfile/build_plan.h"
#include "builder/run_mounts.h"
#include "image/oci.h"
#include "image/store.h"
#include "launch/launch.h"
#include "sandbox/sandbox.h"

namespace coracle::builder {

struct BuildEvent {
  // Step: an instruction starts (a layer step: after a cache miss); Cached:
  // instead of Step, its layer came from the cache; Done: it ended.
  enum Kind { Step, Cached, Done } kind = Step;
  int number = 0, total = 0;  // [number/total]
  std::string stage;          // its name, or its index
  std::string text;           // "RUN apk add ..." as written
  double ms = 0;              // Done: how long the step took
};

// The event a build step gives in the --json stream (build.step,
// build.cached, build.step_done; docs/events.md): the same in `coracle
// build` and in a chain step's build.
nlohmann::ordered_json build_event_json(const BuildEvent& event);

struct BuildOptions {
  std::string context;     // directory
  std::string dockerfile;  // path; empty: CONTEXT/Dockerfile
  std::vector<std::string> tags;
  BuildArgs args;
  bool no_cache = false;
  // RUN's network (RUN --network=default): its own namespace with outbound
  // access, never the host's unless asked.
  sandbox::NetMode net = sandbox::NetMode::Pasta;
  // BuildKit's entitlements, granted by the caller (--allow): what a
  // Dockerfile (or a base image's ONBUILD) may not take by itself.
  // network_host: RUN --network=host, the host's network namespace and its
  // services on 127.0.0.1.
  struct Entitlements {
    bool network_host = false;
  } allow;
  bool use_overlay = true;  // false: a RUN cannot be captured (no overlayfs)
  // Asked for a FROM image that is not in the store (a pull); may throw.
  std::function<void(const std::string& ref)> fetch_base;
  std::function<void(const BuildEvent&)> on_event;
  int output_fd = 2;  // where RUN output streams
  // RUN output as it comes, instead of output_fd when set.
  std::function<void(std::string_view)> on_output;
  // --label: set on the image built (over the Dockerfile's LABELs).
  std::map<std::string, std::string> labels;
  // The Dockerfile's text (-f -, read from stdin); empty: read the file.
  std::optional<std::string> dockerfile_text;
  // --secret: for RUN --mount=type=secret only; never in a layer, the
  // cache key, the history or an event.
  BuildSecrets secrets;
  // When set, no RUN outlives it: each gets the time left (a caller's
  // bound on a whole build, `coracle run --timeout`), and a RUN that would
  // start after it fails.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // RUN's /etc/resolv.conf and /etc/hosts: the caller's --dns,
  // --dns-search, --dns-option and --add-host (not part of the cache key,
  // as the generated files are in no layer).
  launch::EtcOptions etc;
  // Context paths left out whatever the .dockerignore says (patterns,
  // applied after its own lines: no exception brings them back).
  std::vector<std::string> always_ignore;
};

// --allow NAME: "network.host"; any other name throws (BuildKit's
// security.insecure has no meaning here, and is refused by name).
void grant_entitlement(BuildOptions::Entitlements& allow, const std::string& name);

struct BuildResult {
  image::Descriptor manifest;  // in the store
  std::string config_digest;
  int steps = 0, cached = 0;
  std::vector<std::string> unused_build_args;  // given, but no ARG declares them
};

// Throws coracle::Error ("Dockerfile:LINE: ..." where a line is to blame)
// on any failure; then no tag has moved.
BuildResult build_image(const image::Store& store, const BuildOptions& options);

// The reserved base "default": coracle's embedded busybox image, put into
// the store as an ordinary one-layer image on first use. Returns its name.
std::string ensure_default_image(const image::Store& store);

}  // namespace coracle::builder

// Assistants as OCI artifacts (the shape Cup sketched for its controllers):
// an image manifest with artifactType application/vnd.coracle.assistant.v1,
// the empty config, and two layers:
//   application/vnd.coracle.assistant.content.v1.tar+gzip   the folder
//       (without .ayup-env: secrets stay on the machine that has them)
//   application/vnd.coracle.assistant.metadata.v1+json      {"name", ...}
// Any registry stores it and skopeo copies it unchanged; `image push` and a
// pull with PullOptions::artifact_type move it, every blob checked against
// its digest like an image's.
#pragma once
#include <string>

#include "image/oci.h"
#include "image/store.h"

namespace coracle::chain {

inline constexpr const char* kAssistantArtifactType = "application/vnd.coracle.assistant.v1";

// Packs the assistant folder dir (checked as load_assistant_dir does) into
// the store, tagged tag (empty: localhost/coracle-assistant-artifacts/NAME:latest).
// Returns the tag; *digest gets the manifest's digest.
std::string pack_assistant(const image::Store& store, const std::string& dir,
                           const std::string& tag, std::string* digest = nullptr);

// Lays the stored artifact ref (a tag or a manifest digest) out as a
// folder at dest (made; it must not exist): the content layer unpacked as
// any hostile layer is (nothing outside dest, no device nodes, no owners
// kept), no .ayup-env. Returns the assistant's name from its metadata.
std::string unpack_assistant(const image::Store& store, const std::string& ref,
                             const std::string& dest);

}  // namespace coracle::chain

// Image references, normalised the way Docker does it:
//   busybox            -> docker.io/library/busybox:latest
//   me/app:1           -> docker.io/me/app:1
//   localhost:5000/x   -> localhost:5000/x:latest
//   x@sha256:...       -> docker.io/library/x@sha256:... (no tag)
#pragma once
#include <string>
#include <string_view>

namespace coracle::image {

struct Reference {
  std::string registry;    // "docker.io", "localhost:5000", "127.0.0.1:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // empty when only a digest is given
  std::string digest;      // "sha256:...", or empty

  // "docker.io/library/busybox:latest" or ".../busybox@sha256:..." (the tag,
  // if any, before the digest): the name tags are stored under.
  std::string str() const;
  // registry/repository, no tag or digest.
  std::string name() const;
  // The host to talk to: docker.io's API lives at registry-1.docker.io.
  std::string api_host() const;
};

// Throws coracle::Error saying what is wrong with text.
Reference parse_reference(std::string_view text);

// True if text parses as a reference (for telling IMAGE from CMD).
bool looks_like_reference(std::string_view text);

}  // namespace coracle::image

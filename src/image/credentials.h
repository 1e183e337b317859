// Registry credentials, in the files docker, podman and skopeo already use,
// so a host that is logged in with any of them is logged in for coracle:
//   $REGISTRY_AUTH_FILE                       (podman, skopeo, buildah)
//   $XDG_RUNTIME_DIR/containers/auth.json     (podman's default; root's
//                                              /run/containers/0/auth.json)
//   ~/.config/containers/auth.json            (podman's persistent one)
//   $DOCKER_CONFIG/config.json, ~/.docker/config.json  (docker)
// Each holds {"auths": {"<registry>": {"auth": base64("user:password")}}},
// and may name docker credential helpers: "credHelpers" per registry (asked
// first) and "credsStore" for every registry (asked when "auths" has
// nothing), run as docker runs them (credential_helper.h).
#pragma once
#include <optional>
#include <string>

namespace coracle::image {

struct Credential {
  std::string username, password;
};

// The credential for registry (as in a reference: "docker.io",
// "localhost:5000"), from the first file above that has one.
std::optional<Credential> find_credential(const std::string& registry);

// `coracle login`: stores it in $REGISTRY_AUTH_FILE if set, else in
// docker's config.json (created 0600); returns the file's path.
std::string save_credential(const std::string& registry, const Credential& credential);
// `coracle logout`: removes it from that file; false if it was not there.
bool remove_credential(const std::string& registry, std::string& path);

// A registry as the files and `coracle login` may spell it, as references
// name it: docker keeps Docker Hub under "https://index.docker.io/v1/";
// others may carry a scheme or a path. "registry-1.docker.io" -> "docker.io".
std::string registry_host(std::string text);

// "Basic <base64(user:password)>" for an Authorization header.
std::string basic_authorization(const Credential& credential);

}  // namespace coracle::image

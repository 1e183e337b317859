// Docker's credential helpers (credHelpers, credsStore in config.json or
// auth.json): `docker-credential-NAME get` with the server on stdin, its
// {"Username", "Secret"} on stdout, as docker runs them. The helper is
// whatever the user's own config names; it runs as the caller, found in
// PATH, with a bounded time and output.
#pragma once
#include <optional>
#include <string>

#include "image/credentials.h"

namespace coracle::image {

// The credential helper NAME has for server (a registry as the files key
// it); nullopt when it has none ("credentials not found"). Throws
// coracle::Error for a bad name, a helper that cannot run, fails otherwise,
// hangs or answers nonsense.
std::optional<Credential> run_credential_helper(const std::string& name, const std::string& server);

}  // namespace coracle::image

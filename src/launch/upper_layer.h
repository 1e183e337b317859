// A finished RUN's changes (the sandbox's kept overlay upper dir) as a
// layer in the store.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "image/layer_blob.h"
#include "image/store.h"
#include "sandbox/sandbox.h"

namespace coracle::launch {

// The layer of upper's changes, or nothing when the command changed
// nothing. The tree is read by a helper process that joins the sandbox's
// user namespace: it sees the container's own ids (no shifting back from
// the host's), and it can read files the sandbox made private to one of its
// users, which a rootless runner itself could not.
std::optional<image::Layer> layer_from_upper(const image::Store& store,
                                             const sandbox::UpperDir& upper,
                                             const std::string& what);

// The same tar of upper's changes (overlay whiteouts as OCI whiteouts),
// uncompressed, to sink (`exec --changes`). Returns its size; 1024 (two
// zero blocks) when nothing changed.
uint64_t stream_upper_tar(const sandbox::UpperDir& upper,
                          const std::function<void(const void*, size_t)>& sink,
                          const std::string& what);

}  // namespace coracle::launch

// A finished RUN's changes (the sandbox's kept overlay upper dir) as a
// layer in the store.
#pragma once
#include <optional>
#include <string>

#include "builder/layer_blob.h"
#include "image/store.h"
#include "sandbox/sandbox.h"

namespace coracle::builder {

// The layer of upper's changes, or nothing when the command changed
// nothing. The tree is read by a helper process that joins the sandbox's
// user namespace: it sees the container's own ids (no shifting back from
// the host's), and it can read files the sandbox made private to one of its
// users, which a rootless runner itself could not.
std::optional<Layer> layer_from_upper(const image::Store& store, const sandbox::UpperDir& upper,
                                      const std::string& what);

}  // namespace coracle::builder

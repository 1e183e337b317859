// `coracle image import`: an OCI image layout folder, an oci-archive tar, or
// a docker-archive tar (`docker save` / `podman save`) into the store. Every
// blob is checked against its digest on the way in. Nothing reaches the
// store until the whole input has been read and checked, so a broken input
// leaves the store as it was.
#pragma once
#include <string>
#include <vector>

#include "image/oci.h"
#include "image/store.h"

namespace coracle::image {

struct ImportOptions {
  std::string tag;  // names the image (required when the input names none)
  Platform platform = host_platform();
};

// Returns the names the images were stored under.
std::vector<std::string> import_image(const Store& store, const std::string& path,
                                      const ImportOptions& options);

}  // namespace coracle::image

// `coracle image export`: one image of the store as a tar that other tools
// load: an oci-archive (an OCI layout in a tar; skopeo's oci-archive:,
// `podman load`) or a docker-archive (`docker load`, skopeo's
// docker-archive:, with uncompressed layers named by diff_id as `docker
// save` writes them). The tar is written beside PATH and renamed onto it
// when complete: a failed export leaves PATH as it was.
#pragma once
#include <string>

#include "image/resolve.h"
#include "image/store.h"

namespace coracle::image {

enum class ExportFormat { kOciArchive, kDockerArchive };

void export_image(const Store& store, const ResolvedImage& image, const std::string& path,
                  ExportFormat format);

}  // namespace coracle::image

// FROM default: the embedded busybox rootfs as an ordinary image of the
// store, so that what is built on it is a complete, exportable image. The
// embedded tar is reproducible (sorted, zero owners and mtimes), so it is
// the layer as it is and the image's digest never changes.
#include <nlohmann/json.hpp>

#include "builder/builder.h"
#include "builder/stage_state.h"
#include "default_rootfs_digest.h"
#include "image/layer_blob.h"
#include "sandbox/sandbox.h"

extern "C" const char coracle_default_rootfs_start[];
extern "C" const char coracle_default_rootfs_end[];

namespace coracle::builder {

using image::Layer;
using image::LayerBlob;

std::string ensure_default_image(const image::Store& store) {
  const std::string name =
      "localhost/coracle/default:" + std::string(CORACLE_DEFAULT_ROOTFS_DIGEST).substr(0, 12);
  if (store.find_tag(name)) return name;
  LayerBlob blob(store);
  blob.write(coracle_default_rootfs_start,
             static_cast<size_t>(coracle_default_rootfs_end - coracle_default_rootfs_start));
  Layer layer = blob.finish("the embedded default image");
  StageState st = scratch_state();
  st.run_config()["Env"] = {std::string("PATH=") + sandbox::kDefaultPath};
  st.run_config()["Cmd"] = {"sh"};
  st.add_layer(layer.blob, layer.diff_id);
  st.add_history("coracle's embedded default image (Debian's busybox-static)", false, 0);
  st.config["created"] = rfc3339(0);
  std::string config = st.config.dump();
  image::Manifest m = st.manifest();
  m.config.digest = store.put_blob(config);
  m.config.size = static_cast<int64_t>(config.size());
  std::string manifest = image::manifest_json(m);
  image::Descriptor d;
  d.media_type = std::string(image::media::kOciManifest);
  d.digest = store.put_blob(manifest);
  d.size = static_cast<int64_t>(manifest.size());
  d.platform = image::host_platform();
  store.set_tag(name, d);
  return name;
}

}  // namespace coracle::builder

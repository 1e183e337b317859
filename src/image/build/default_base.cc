// FROM default: the embedded busybox rootfs as an ordinary image of the
// store, so that what is built on it is a complete, exportable image. The
// embedded tar is reproducible (sorted, zero owners and mtimes), so it is
// the layer as it is and the image's digest never changes.
#include <nlohmann/json.hpp>

#include "default_rootfs_digest.h"
#include "image/build/builder.h"
#include "image/build/layer_blob.h"
#include "image/build/stage_state.h"
#include "sandbox/sandbox.h"

extern "C" const char coracle_default_rootfs_start[];
extern "C" const char coracle_default_rootfs_end[];

namespace coracle::image {

std::string ensure_default_image(const Store& store) {
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
  Manifest m = st.manifest();
  m.config.digest = store.put_blob(config);
  m.config.size = static_cast<int64_t>(config.size());
  std::string manifest = manifest_json(m);
  Descriptor d;
  d.media_type = std::string(media::kOciManifest);
  d.digest = store.put_blob(manifest);
  d.size = static_cast<int64_t>(manifest.size());
  d.platform = host_platform();
  store.set_tag(name, d);
  return name;
}

}  // namespace coracle::image

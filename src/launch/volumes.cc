// A run's volumes: the named ones it binds (-v NAME:/path), made on first
// use and held while it runs, and an anonymous one for each VOLUME of its
// image that no bind covers, as podman gives them, removed with the run.
#include "common/fs.h"
#include "image/store.h"
#include "launch/launch.h"
#include "sandbox/mount_plan.h"

namespace coracle::launch {

VolumeLeases lease_volumes(sandbox::Spec& spec, const std::string& store_root,
                           const image::ImageConfig* config) {
  VolumeLeases out;
  volume::VolumeStore volumes(store_root);
  for (auto& v : spec.volumes) {
    if (!v.sandbox_owned || !volume::is_volume_name(v.source)) continue;
    out.named.push_back(volumes.use(v.source));
    v.source = out.named.back().info.mountpoint;
  }
  if (!config) return out;
  for (const auto& path : config->volumes) {
    std::string target = sandbox::clean_sandbox_path(path, "VOLUME");
    bool covered = false;
    for (const auto& v : spec.volumes)
      covered |= sandbox::clean_sandbox_path(v.target, "mount target") == target;
    if (covered || target == "/") continue;
    // Under ROOT/tmp: a killed run's is swept as its other work dirs are.
    std::string dir = image::Store(store_root).make_tmp_dir("volume");
    out.anonymous.emplace_back(TreeRemoval(dir));
    sandbox::BindMount b;
    b.source = dir;
    b.target = target;
    b.sandbox_owned = true;
    spec.volumes.push_back(b);
  }
  return out;
}

}  // namespace coracle::launch

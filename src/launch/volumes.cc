// A run's volumes: the named ones it binds (-v NAME:/path), made on first
// use and held while it runs, and an anonymous one for each VOLUME of its
// image that no bind covers, as podman gives them, removed with the run.
// An empty volume gets what the image has at its path first, as Docker
// and podman copy it.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "common/error.h"
#include "common/fs.h"
#include "common/terminal_text.h"
#include "common/unique_fd.h"
#include "image/store.h"
#include "launch/launch.h"
#include "sandbox/mount_plan.h"

namespace coracle::launch {
namespace {

constexpr const char* kCopyTarget = "/.coracle-volume";

bool is_empty_dir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (auto* e = readdir(d))
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") empty = false;
  closedir(d);
  return empty;
}

// Whether some layer of the rootfs has entries at target (whiteouts
// aside): the image has something there to copy.
bool image_has_content_at(const sandbox::Spec& spec, const std::string& target) {
  std::vector<std::string> layers =
      spec.layers.empty() ? std::vector<std::string>{spec.rootfs} : spec.layers;
  for (const auto& layer : layers) {
    // Resolved inside the layer: a symlink the image put on the path
    // never leads to the host's files.
    UniqueFd root(open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    int fd = root ? open_in_root(root.get(), target.c_str(), O_RDONLY | O_DIRECTORY) : -1;
    DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
    if (!d) {
      if (fd >= 0) close(fd);
      continue;
    }
    bool any = false;
    while (auto* e = readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != ".." && name.substr(0, 4) != ".wh.") any = true;
    }
    closedir(d);
    if (any) return true;
  }
  return false;
}

// The image's files at target into the volume at data: by the image's own
// cp -a, as container root in a sandbox of the same rootfs with the volume
// bound as the run will bind it, so owners, modes and times come out as
// the sandbox's own. An image without cp keeps an empty volume (said).
void copy_image_content(const sandbox::Spec& spec, const std::string& target,
                        const std::string& data) {
  sandbox::Spec copy = spec;
  copy.argv = {"cp", "-a", target + "/.", std::string(kCopyTarget) + "/"};
  copy.uid = copy.gid = 0;
  copy.supplementary_gids.clear();
  copy.workdir = "/";
  copy.tty = false;
  copy.net = sandbox::NetMode::None;
  copy.timeout = std::chrono::seconds(300);
  copy.upper_dir.clear();
  copy.keep_upper = false;
  sandbox::BindMount into;
  into.source = data;
  into.target = kCopyTarget;
  into.sandbox_owned = true;
  copy.volumes = {into};
  sandbox::Captured r = sandbox::run_captured(copy);
  if (r.result.exit_code == 127) {
    // The path is the image's: through the one sanitiser.
    print_error("the volume at " + target + " starts empty: the image has no cp to copy its files");
    return;
  }
  if (r.result.exit_code != 0)
    throw Error("cannot copy the image's " + target +
                " into its volume: " + (r.result.message.empty() ? r.err : r.result.message));
}

}  // namespace

VolumeLeases lease_volumes(sandbox::Spec& spec, const std::string& store_root,
                           const image::ImageConfig* config) {
  VolumeLeases out;
  volume::VolumeStore volumes(store_root);
  std::vector<std::pair<std::string, std::string>> to_fill;  // target, data dir
  for (auto& v : spec.volumes) {
    if (!v.sandbox_owned || !volume::is_volume_name(v.source)) continue;
    out.named.push_back(volumes.use(v.source));
    v.source = out.named.back().info.mountpoint;
    if (!v.read_only && is_empty_dir(v.source))
      to_fill.emplace_back(sandbox::clean_sandbox_path(v.target, "mount target"), v.source);
  }
  if (config)
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
      to_fill.emplace_back(target, dir);
    }
  for (const auto& [target, data] : to_fill)
    if (image_has_content_at(spec, target)) copy_image_content(spec, target, data);
  return out;
}

}  // namespace coracle::launch

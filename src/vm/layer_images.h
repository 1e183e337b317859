// The guest's rootfs: each cached layer dir of the store as a read-only
// erofs image (mkfs.erofs, Debian package erofs-utils), made once and kept
// beside the layer cache; the agent stacks them under an overlay as the
// namespace backend stacks the dirs.
#pragma once
#include <string>
#include <vector>

namespace coracle::vm {

// The image of layer_dir under cache_dir, made when missing. Owners as the
// sandbox would show them: the image's own (as root; as a plain user with
// a subordinate range, made in the mapped user namespace, where the files
// show their image ids), or all root (a plain user without a range).
std::string ensure_layer_image(const std::string& cache_dir, const std::string& layer_dir);

std::vector<std::string> ensure_layer_images(const std::string& cache_dir,
                                             const std::vector<std::string>& layer_dirs);

}  // namespace coracle::vm

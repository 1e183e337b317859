// The embedded default image (rootfs/ recipe, busybox-static): unpacked into
// the store on first use, with no network, and reused from then on.
#pragma once
#include <string>
#include <string_view>

namespace coracle::image {

// The rootfs directory of the default image under store_root, unpacking it
// first if it is not there. Safe against concurrent first uses: the copy
// appears by rename only when whole.
std::string ensure_default_rootfs(const std::string& store_root);

// Unpacks a ustar archive (regular files, directories, symlinks) into the
// existing directory dest; entries can never land outside it. Throws
// coracle::Error naming the entry.
void unpack_ustar(std::string_view archive, const std::string& dest);

}  // namespace coracle::image

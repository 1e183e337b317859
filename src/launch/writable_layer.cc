// Where a run's writable layer lives: what its command writes to the
// rootfs (and, unless a tmpfs is asked for, to /tmp). By default on disk
// under the store, as podman keeps a container's: a sandbox's use of the
// host's RAM is then its processes' own, where two tmpfs mounts (the upper
// dir and /tmp) let any sandbox pin up to 2 GiB of RAM that no memory
// limit saw. A bounded tmpfs stays available (--upper-size, --tmp-size).
//
// What that costs an exec is kept off its path: the overlay is volatile
// (no sync of the host's file system at unmount), and the directory is
// removed by the store's reaper (image/store_tmp.h), not by the run
// (deleting a dozen entries on ext4 is ~0.5 ms of journal work here).
#include "common/userns.h"
#include "image/store_tmp.h"
#include "launch/launch.h"

namespace coracle::launch {

WritableLayer::~WritableLayer() {
  if (dir_.empty()) return;
  lock_.reset();  // released: the reaper's to reuse or remove
  if (!image::reap_tmp_in_background(store_root_)) {
    TreeRemoval now(dir_);  // no reaper to be had: removed here
  }
}

WritableLayer put_writable_layer_on_disk(sandbox::Spec& spec, const std::string& store_root) {
  // A tmpfs asked for by size, a read-only root (its upper dir holds only
  // mount points, and /tmp stays a tmpfs as podman's --read-only has it),
  // a private copy (on disk already) or a caller's own dir: as they are.
  if (spec.upper_size_bytes || spec.read_only_rootfs || spec.rootfs_is_private_copy ||
      !spec.upper_dir.empty())
    return WritableLayer();
  // ROOT/tmp/upper-PID-N (a spare of an earlier run's, emptied), locked
  // while this run uses it.
  image::ClaimedDir dir = image::claim_layer_dir(store_root);
  spec.upper_dir = dir.path;
  // /tmp is the rootfs's own directory (the image's, 1777), on that disk,
  // unless its size was given.
  if (!spec.tmp_size_bytes) spec.tmp_tmpfs = false;
  return WritableLayer(store_root, dir.path, std::move(dir.lock));
}

}  // namespace coracle::launch

// Unpacks one layer (a tar, plain or gzip/zstd/xz/bzip2-compressed) into a
// directory, safely: every path is resolved inside the destination
// (openat2 RESOLVE_IN_ROOT), ".." in an entry name is refused, a file never
// replaces what a symlink points at, hardlinks only join files of the same
// tree. The uncompressed stream is hashed on the way, so the caller can
// check the layer's diff_id without a second pass.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct archive;

namespace coracle::image {

// The uncompressed bytes of a layer blob read from fd: gzip, zstd, xz,
// bzip2 or none, through libarchive's filters (only these are linked in).
// An empty blob is an empty stream.
class LayerStream {
 public:
  LayerStream(int fd, const std::string& what);
  ~LayerStream();
  // The next piece (valid until the next call): its size, 0 at the end, -1
  // on a corrupt stream (error() says why).
  ssize_t next(const void** data);
  const std::string& error() const { return error_; }
  // How much of the (compressed) blob has been read.
  uint64_t compressed_bytes() const;

 private:
  archive* a_;
  bool at_end_ = false;
  std::string error_;
};

enum class WhiteoutMode {
  // For the layer cache: each layer stays its own overlay lower dir.
  // ".wh.NAME" becomes an overlay whiteout (a 0:0 character device), and
  // ".wh..wh..opq" the user.overlay.opaque xattr on its directory.
  Overlay,
  // For flattening into one tree (image unpack): whiteouts delete what the
  // layers below put there; an opaque marker empties its directory of them.
  Apply,
};

// The largest file a layer may hold: 64 GiB, or CORACLE_MAX_ENTRY_SIZE, or
// what the CLI's --max-entry-size set. A bigger entry fails the unpack, so
// a hostile layer cannot fill the disk through one lying header.
uint64_t max_entry_size();
void set_max_entry_size(uint64_t bytes);

struct UnpackOptions {
  WhiteoutMode whiteouts = WhiteoutMode::Overlay;
  bool preserve_owners = true;  // chown to the tar's uid/gid (needs root)
  uint64_t max_entry_size = image::max_entry_size();
  // Leave directory modes and times to the caller (UnpackStats::dirs), for
  // a flatten whose next layers must still write into a 0555 directory.
  bool defer_dir_modes = false;
  // Called as the blob is read: the compressed bytes read so far, at most
  // once per MiB (progress for people and the event stream).
  std::function<void(uint64_t bytes)> on_progress;
};

struct DeferredDir {
  std::string path;  // inside the destination
  unsigned mode;
  struct timespec times[2];
};

struct UnpackStats {
  std::string diff_id;  // sha256 of the uncompressed tar stream
  uint64_t entries = 0;
  uint64_t bytes = 0;  // of regular file content
  uint64_t skipped_devices = 0;
  std::vector<DeferredDir> dirs;  // with defer_dir_modes
};

// Applies deferred directory modes and times inside dest_fd.
void apply_dir_modes(int dest_fd, const std::vector<DeferredDir>& dirs);

// Reads the layer from fd (to its end) into the directory dest_fd. Throws
// coracle::Error naming what (e.g. "layer sha256:ab.. of busybox") and the
// entry; the caller throws the half-written directory away.
UnpackStats unpack_layer(int fd, int dest_fd, const UnpackOptions& options,
                         const std::string& what);

}  // namespace coracle::image

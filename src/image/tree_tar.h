// A directory tree written as a layer tar: sorted, so the same tree always
// gives the same bytes (and the same diff_id); hardlinks kept as links;
// the xattrs an image carries (file capabilities, user.*) kept. For an
// overlay upper dir, its whiteouts become the OCI ".wh." entries.
#pragma once
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "image/tar_writer.h"

namespace coracle::image {

struct TreeTarOptions {
  // The tree is an overlay upper dir: a 0:0 character device is a deletion
  // (".wh.NAME"), an opaque directory (user. or trusted.overlay.opaque = y)
  // hides everything below it (".wh..wh..opq").
  bool overlay_whiteouts = false;
  // Entry names start with this ("" or "app/"): where the tree lands.
  std::string prefix;
  // mtimes after this are written as this (SOURCE_DATE_EPOCH).
  std::optional<int64_t> clamp_mtime;
  // COPY --chown / --chmod: every entry gets these.
  std::optional<std::pair<uint32_t, uint32_t>> owner;
  std::optional<uint32_t> mode;
  // Entries (paths relative to the walked dir) to leave out, with what is
  // below them (.dockerignore).
  std::function<bool(const std::string& path, bool is_dir)> skip;
};

// Writes every entry below dir_fd (not dir_fd itself) to tar, without
// finishing the archive. Files are read through dir_fd, never by a path
// from the root, so symlinks in the tree are entries, never followed.
// Throws coracle::Error naming the entry.
void write_tree(int dir_fd, TarWriter& tar, const TreeTarOptions& options = {});

// Helpers for writers of layer entries from files:
// the type and device numbers of a character/block device or fifo into e
// (false for anything else);
bool set_special_type(TarEntry& e, const struct stat& st);
// size bytes of fd as the current entry's data (buf is reused between
// calls); what names the file in errors.
void write_file_data(TarWriter& tar, int fd, uint64_t size, std::vector<char>& buf,
                     const std::string& what);

// One entry: name in dir_fd (a file, link or directory; a directory with
// everything below it), written as options.prefix + as_name. A directory
// itself is written only when as_name is not empty.
void write_tree_entry(int dir_fd, const std::string& name, const std::string& as_name,
                      TarWriter& tar, const TreeTarOptions& options = {});

}  // namespace coracle::image

// The merged view of an image's unpacked layers (ROOT/layers dirs, lowest
// first) without mounting anything: what a path is, what a directory holds,
// reading the overlay whiteouts (0:0 character devices) and opaque
// directories (user.overlay.opaque) the layer cache stores. The builder
// uses it for COPY --from, for WORKDIR and for COPY's destinations.
#pragma once
#include <sys/stat.h>
#include "common/fs.h"  // clean_path

#include <optional>
#include <string>
#include <vector>

namespace coracle::builder {

class LayeredFs {
 public:
  explicit LayeredFs(std::vector<std::string> layer_dirs);
  ~LayeredFs();
  LayeredFs(const LayeredFs&) = delete;
  LayeredFs& operator=(const LayeredFs&) = delete;

  struct Node {
    std::string path;  // absolute, symlinks resolved (but the last, if a symlink)
    int layer = -1;    // the topmost layer that has it
    struct stat st;
  };
  // The node at path (absolute, inside the image), following symlinks in
  // every component but the last (and the last too with follow). Links
  // resolve inside the image, like a chroot. Empty when nothing is there.
  std::optional<Node> lookup(const std::string& path, bool follow = false) const;
  // The entry name in the resolved directory node dir (no symlink followed).
  std::optional<Node> child(const Node& dir, const std::string& name) const;
  // The names in directory dir (a resolved absolute path), sorted.
  std::vector<std::string> list(const std::string& dir) const;
  // An fd (O_RDONLY) of the regular file node, from its layer.
  int open_file(const Node& node) const;
  std::string read_link(const Node& node) const;
  // A file's content (small files: /etc/passwd); empty when missing.
  std::string read_small_file(const std::string& path) const;
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  // The stat of rel (no leading '/') in layer i; false when absent there.
  bool stat_in(size_t i, const std::string& rel, struct stat& st) const;
  std::optional<Node> lookup_resolved(const std::string& path) const;

  std::vector<std::string> dirs_;
  std::vector<int> fds_;  // O_PATH dirs of the layers
};

}  // namespace coracle::builder

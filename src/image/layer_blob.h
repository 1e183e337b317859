// A layer being written into the store: the tar stream goes in, is hashed
// (its diff_id) and gzip-compressed on the way to a BlobWriter (the blob's
// digest). Nothing is visible in the store until finish().
#pragma once
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "image/oci.h"
#include "image/store.h"

namespace coracle::image {

struct Layer {
  Descriptor blob;  // application/vnd.oci.image.layer.v1.tar+gzip
  std::string diff_id;
};

class LayerBlob {
 public:
  explicit LayerBlob(const Store& store);
  ~LayerBlob();
  LayerBlob(const LayerBlob&) = delete;
  LayerBlob& operator=(const LayerBlob&) = delete;

  // The uncompressed tar bytes, in order.
  void write(const void* data, size_t size);
  // Ends the gzip stream and commits the blob. what names the layer in errors.
  Layer finish(const std::string& what);

 private:
  void deflate_out(int flush);

  BlobWriter blob_;
  Sha256 diff_;
  z_stream z_{};
  std::vector<unsigned char> out_;
};

}  // namespace coracle::image

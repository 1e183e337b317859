#include "image/layer_blob.h"

#include <algorithm>

#include "common/error.h"

namespace coracle::image {

// Level 1: a RUN's layer is compressed while the build waits for it, and
// level 6 takes three times as long for ~10% less (docs/benchmarks.md).
// The blob is ordinary gzip either way.
constexpr int kLevel = 1;

LayerBlob::LayerBlob(const Store& store) : blob_(store), out_(256 * 1024) {
  // windowBits 15 + 16: a gzip wrapper, as layer media types require.
  if (deflateInit2(&z_, kLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("cannot start gzip compression");
}

LayerBlob::~LayerBlob() {
  deflateEnd(&z_);
}

void LayerBlob::deflate_out(int flush) {
  do {
    z_.next_out = out_.data();
    z_.avail_out = static_cast<uInt>(out_.size());
    int rc = deflate(&z_, flush);
    if (rc == Z_STREAM_ERROR) throw Error("gzip compression failed");
    size_t produced = out_.size() - z_.avail_out;
    if (produced) blob_.write(out_.data(), produced);
    if (flush == Z_FINISH && rc == Z_STREAM_END) return;
  } while (z_.avail_out == 0 || (flush == Z_FINISH));
}

void LayerBlob::write(const void* data, size_t size) {
  diff_.update(data, size);
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    // avail_in is 32 bits wide.
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    z_.next_in = const_cast<unsigned char*>(p);
    z_.avail_in = chunk;
    deflate_out(Z_NO_FLUSH);
    p += chunk;
    size -= chunk;
  }
}

Layer LayerBlob::finish(const std::string& what) {
  z_.next_in = nullptr;
  z_.avail_in = 0;
  deflate_out(Z_FINISH);
  Layer layer;
  layer.diff_id = diff_.digest();
  layer.blob.media_type = std::string(image::media::kOciLayerGzip);
  layer.blob.size = static_cast<int64_t>(blob_.size());
  layer.blob.digest = blob_.commit("", -1, what);
  return layer;
}

}  // namespace coracle::image

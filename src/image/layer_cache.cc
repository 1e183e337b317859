#include "image/layer_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "image/layer_unpack.h"

namespace coracle::image {

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const auto& d : diff_ids)
    out.push_back(out.empty() ? d : sha256_digest(out.back() + " " + d));
  return out;
}

namespace {

bool is_dir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void unpack_one(const Store& store, const Descriptor& layer, const std::string& diff_id,
                const std::string& dir, const std::string& what, bool preserve_owners,
                const std::function<void(uint64_t)>& on_progress) {
  // One process unpacks a given layer; the others wait here and find it done.
  FileLock lock(store.lock_path("layer-" + dir.substr(dir.rfind('/') + 1)),
                FileLock::Mode::Exclusive);
  if (is_dir(dir)) return;
  std::string blob = store.blob_path(layer.digest);
  UniqueFd in(open(blob.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_errno(what + ": layer " + layer.digest + " is not in the store");
  std::string tmp = store.make_tmp_dir("layer");
  try {
    UniqueFd dest(open(tmp.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dest) throw_errno("cannot open " + tmp);
    UnpackOptions opt;
    opt.preserve_owners = preserve_owners;
    opt.on_progress = on_progress;
    UnpackStats stats = unpack_layer(in.get(), dest.get(), opt, what + ": layer " + layer.digest);
    if (stats.diff_id != diff_id)
      throw Error(what + ": layer " + layer.digest + " unpacks to " + stats.diff_id +
                  ", but the image config says " + diff_id +
                  " (the layer is corrupt or was tampered with)");
    // The overlay reads the layer's root as a directory like any other.
    chmod(tmp.c_str(), 0755);
    int rc = rename(tmp.c_str(), dir.c_str());
    if (rc < 0 && errno == ENOENT) {
      // layers/ was removed by hand (to free space): the cache starts over.
      mkdir_p(store.layers_dir(), 0700);
      rc = rename(tmp.c_str(), dir.c_str());
    }
    if (rc < 0) throw_errno("cannot move the layer to " + dir);
  } catch (...) {
    try {
      remove_tree(tmp);
    } catch (const Error&) {
    }
    throw;
  }
}

}  // namespace

const LayerOwnership& layer_ownership() {
  static const LayerOwnership ownership = [] {
    LayerOwnership o;
    if (geteuid() == 0) {
      o.preserve = true;
      return o;
    }
    IdMapping ids = plan_id_mapping();
    if (!ids.via_helpers) return o;
    o.preserve = true;
    std::string text;
    for (const auto* ranges : {&ids.uids, &ids.gids})
      for (const auto& r : *ranges)
        text += std::to_string(r.inside) + ":" + std::to_string(r.outside) + ":" +
                std::to_string(r.count) + ";";
    o.dir_suffix = "-ids-" + sha256_digest(text).substr(7, 12);
    o.userns = std::move(ids);
    return o;
  }();
  return ownership;
}

void with_layer_owners(const std::string& what, const std::function<void(bool)>& fn) {
  const LayerOwnership& o = layer_ownership();
  if (o.userns) {
    run_as_mapped_root(*o.userns, what, [&] { fn(true); });
    return;
  }
  static bool warned = false;
  if (!o.preserve && !warned) {
    warned = true;
    fprintf(stderr,
            "coracle: warning: no subordinate ids for you in /etc/subuid and /etc/subgid (or no "
            "newuidmap): every file of an image belongs to root in the sandbox. To keep the "
            "image's owners, add a range: sudo usermod --add-subuids 100000-165535 "
            "--add-subgids 100000-165535 $USER (and install uidmap)\n");
  }
  fn(o.preserve);
}

std::vector<std::string> ensure_layers(const Store& store, const Manifest& manifest,
                                       const ImageConfig& config, const std::string& what,
                                       const std::function<void(const LayerEvent&)>& progress) {
  if (config.diff_ids.size() != manifest.layers.size())
    throw Error(what + ": the manifest has " + std::to_string(manifest.layers.size()) +
                " layers but the config lists " + std::to_string(config.diff_ids.size()) +
                " diff_ids");
  auto ids = chain_ids(config.diff_ids);
  std::vector<std::string> dirs;
  std::vector<size_t> missing;
  // Progress events are said one at a time (the workers run at once).
  std::mutex mu;
  auto say = [&](size_t i, LayerEvent::Kind kind, double ms = 0, uint64_t bytes = 0) {
    if (!progress) return;
    const Descriptor& l = manifest.layers[i];
    progress({i, l.digest, kind, ms, static_cast<uint64_t>(l.size), bytes, ids.size()});
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    dirs.push_back(store.layers_dir() + "/" + ids[i].substr(7) + layer_ownership().dir_suffix);
    if (is_dir(dirs.back())) {
      say(i, LayerEvent::Cached);
    } else {
      missing.push_back(i);
    }
  }
  if (missing.empty()) return dirs;

  // Each layer on its own thread, as many at once as there are cores:
  // decompression is the bottleneck and layers do not depend on each other.
  std::exception_ptr first_error;
  size_t next = 0;
  bool preserve_owners = false;
  auto worker = [&] {
    while (true) {
      size_t i;
      {
        std::lock_guard<std::mutex> g(mu);
        if (next == missing.size() || first_error) return;
        i = missing[next++];
        say(i, LayerEvent::Unpacking);
      }
      auto start = std::chrono::steady_clock::now();
      try {
        unpack_one(store, manifest.layers[i], config.diff_ids[i], dirs[i], what, preserve_owners,
                   [&](uint64_t bytes) {
                     std::lock_guard<std::mutex> g(mu);
                     say(i, LayerEvent::Progress, 0, bytes);
                   });
      } catch (...) {
        std::lock_guard<std::mutex> g(mu);
        if (!first_error) first_error = std::current_exception();
        return;
      }
      std::lock_guard<std::mutex> g(mu);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      say(i, LayerEvent::Done, ms);
    }
  };
  unsigned n = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(),
                                               static_cast<unsigned>(missing.size())));
  // The threads start inside: a plain user's unpack runs in a forked child.
  with_layer_owners("unpack the layers of " + what, [&](bool preserve) {
    preserve_owners = preserve;
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < n; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);
  });
  return dirs;
}

std::vector<FileLock> lock_layers_shared(const std::vector<std::string>& dirs) {
  std::vector<FileLock> locks;
  for (const auto& d : dirs) {
    UniqueFd fd(open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("cannot open layer " + d);
    locks.push_back(FileLock::on_fd(std::move(fd), FileLock::Mode::Shared));
  }
  return locks;
}

}  // namespace coracle::image

#include "image/pull.h"
#include "image/registries_conf.h"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/file_lock.h"
#include "common/log.h"
#include "common/sha256.h"
#include "image/credentials.h"
#include "image/gc.h"
#include "image/reference.h"
#include "image/resolve.h"

namespace coracle::image {
namespace {

// Events from several threads, delivered one at a time.
class Events {
 public:
  explicit Events(const std::function<void(const PullEvent&)>& sink) : sink_(sink) {}
  void emit(PullEvent e) {
    if (!sink_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    sink_(e);
  }

 private:
  const std::function<void(const PullEvent&)>& sink_;
  std::mutex mutex_;
};

// What one pull added to the store, so that a failed pull can take it
// back out (and a finished one its download locks).
class Added {
 public:
  void blob(const std::string& digest) {
    std::lock_guard<std::mutex> lock(mutex_);
    blobs_.push_back(digest);
  }
  void lock_file(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    lock_files_.push_back(path);
  }
  // With `gc` given up: if no other command is using the store right now
  // (the gc lock is free), removes this pull's download locks and, when
  // the pull failed, the blobs it added that no tag reaches. Otherwise
  // leaves them for `image gc`: another pull may be counting on a blob.
  void clean_up(const Store& store, FileLock& gc, bool failed) {
    gc.unlock();
    FileLock exclusive;
    try {
      exclusive = FileLock::try_lock(store.lock_path("gc.lock"), FileLock::Mode::Exclusive);
    } catch (const Error&) {
      return;
    }
    if (!exclusive) return;
    for (const auto& path : lock_files_) unlink(path.c_str());
    if (!failed || blobs_.empty()) return;
    std::set<std::string> reachable = reachable_blobs(store);
    for (const auto& digest : blobs_)
      if (!reachable.count(digest)) unlink(store.blob_path(digest).c_str());
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> blobs_, lock_files_;
};

// One blob into the store, at most once across processes: the per-blob
// lock makes a concurrent pull of the same image wait, then find it there.
void fetch_blob(const Store& store, RegistryClient& client, const Descriptor& d,
                const std::string& role, const std::string& image, Events& events, Added& added) {
  if (!is_sha256_digest(d.digest))
    throw Error("the manifest names blob '" + d.digest + "', which is not a sha256 digest");
  if (store.has_blob(d.digest)) {
    events.emit({PullEvent::Kind::kBlobCached, d.digest, role, d.size, 0});
    return;
  }
  std::string lock_path = store.lock_path("blob-" + d.digest.substr(7));
  FileLock lock(lock_path, FileLock::Mode::Exclusive);
  added.lock_file(lock_path);
  if (store.has_blob(d.digest)) {
    events.emit({PullEvent::Kind::kBlobCached, d.digest, role, d.size, 0});
    return;
  }
  events.emit({PullEvent::Kind::kBlobStart, d.digest, role, d.size, 0});
  BlobWriter writer(store);
  uint64_t reported = 0;
  client.blob(d, writer, [&](uint64_t done) {
    // A few hundred events per layer at most, whatever its size.
    if (done - reported < (256u << 10) && done != static_cast<uint64_t>(d.size)) return;
    reported = done;
    events.emit({PullEvent::Kind::kBlobProgress, d.digest, role, d.size, done});
  });
  try {
    writer.commit(d.digest, d.size, "the " + role + " of " + image + " from " + client.endpoint());
    added.blob(d.digest);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) +
                "; the registry's copy is damaged (coracle kept none of it): pushing the image "
                "again fixes it");
  }
  events.emit({PullEvent::Kind::kBlobDone, d.digest, role, d.size, writer.size()});
}

// Runs fn over items on up to n threads; the first error wins, the rest
// stop at their next item.
template <typename T, typename Fn>
void parallel_for(const std::vector<T>& items, int n, Fn fn) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (error) return;
      }
      size_t i = next++;
      if (i >= items.size()) return;
      try {
        fn(items[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  size_t threads = std::min(items.size(), static_cast<size_t>(std::max(n, 1)));
  std::vector<std::thread> pool;
  for (size_t i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// Pulls what (the name to store, fully qualified) from one source.
std::string pull_from(const Store& store, const Reference& named, const PullSource& source,
                      const PullOptions& opt) {
  const Reference& ref = source.ref;
  Events events(opt.on_event);
  RegistryOptions registry = opt.registry;
  registry.insecure = registry.insecure || source.insecure;
  RegistryClient client(ref, registry, find_credential(ref.registry));
  std::string what = named.str();

  FetchedManifest top = client.manifest(ref.digest.empty() ? ref.tag : ref.digest);
  FetchedManifest chosen = top;
  if (is_index_type(top.media_type)) {
    Index index = parse_index(top.body, "index of " + what);
    Descriptor d = select_platform(index, opt.platform, what);
    chosen = client.manifest(d.digest);
    if (!is_manifest_type(chosen.media_type))
      throw Error("the index of " + what + " points at " + d.digest +
                  ", which is not an image manifest (" + chosen.media_type + ")");
  }
  Manifest manifest = parse_manifest(chosen.body, "manifest " + chosen.digest + " of " + what);
  // The store is an OCI layout that umoci must read, so Docker manifests
  // are kept as their OCI equivalent (the blobs, and so the image, are the
  // same; the manifest's digest is not).
  std::string manifest_text = chosen.body;
  if (manifest.media_type == media::kDockerManifest) {
    manifest = to_oci_manifest(manifest);
    manifest_text = manifest_json(manifest);
  }
  bool artifact = !opt.artifact_type.empty();
  if (artifact && manifest.artifact_type != opt.artifact_type)
    throw Error(what + " is not an artifact of type " + opt.artifact_type + " (" +
                (manifest.artifact_type.empty() ? "an image" : manifest.artifact_type) + ")");
  if (!artifact && !manifest.artifact_type.empty())
    throw Error(what + " is an artifact (" + manifest.artifact_type + "), not an image");
  if (manifest.config.media_type != (artifact ? media::kOciEmpty : media::kOciConfig))
    throw Error("manifest " + chosen.digest + " of " + what + " has a config of type '" +
                manifest.config.media_type + "', which is not " +
                (artifact ? "an artifact's empty config" : "an image config"));

  int64_t total = manifest.config.size;
  for (const auto& l : manifest.layers) total += l.size;
  events.emit({PullEvent::Kind::kResolved, chosen.digest, "manifest", total, 0});

  // gc must not take blobs that are in but not yet tagged.
  FileLock gc = store.gc_lock(FileLock::Mode::Shared);
  Added added;
  std::string digest;
  try {
    std::vector<std::pair<Descriptor, std::string>> blobs = {{manifest.config, "config"}};
    for (const auto& l : manifest.layers) blobs.emplace_back(l, "layer");
    parallel_for(blobs, opt.parallel, [&](const std::pair<Descriptor, std::string>& b) {
      fetch_blob(store, client, b.first, b.second, what, events, added);
    });

    ImageConfig config =
        artifact ? ImageConfig{}
                 : parse_config(store.read_blob(manifest.config.digest), "config of " + what);
    if (!artifact && config.diff_ids.size() != manifest.layers.size())
      throw Error("image " + what + ": the manifest has " + std::to_string(manifest.layers.size()) +
                  " layers but its config lists " + std::to_string(config.diff_ids.size()));
    bool had_manifest = store.has_blob(sha256_digest(manifest_text));
    digest = store.put_blob(manifest_text);
    if (!had_manifest) added.blob(digest);
    Descriptor target{std::string(media::kOciManifest),
                      digest,
                      static_cast<int64_t>(manifest_text.size()),
                      {},
                      {}};
    store.set_tag(what, target);
  } catch (...) {
    // A failed pull leaves the store as it found it.
    added.clean_up(store, gc, true);
    throw;
  }
  added.clean_up(store, gc, false);
  events.emit({PullEvent::Kind::kDone, digest, "manifest", total, 0});
  return what;
}

}  // namespace

std::string pull_image(const Store& store, const std::string& text, const PullOptions& opt) {
  // registries.conf: a short name's candidates, each from its mirrors
  // first, then its own location; the first that works is stored under
  // the candidate's name (never the mirror's).
  const RegistriesConf& conf = registries_conf(store);
  std::vector<std::string> failures;
  std::optional<Error> only;
  for (const Reference& candidate : qualify(text, conf)) {
    for (const PullSource& source : pull_sources(candidate, conf)) {
      try {
        log_debug("pull " + candidate.str() + ": from " + source.ref.str() +
                  (source.mirror ? " (a mirror)" : "") + (source.insecure ? " (insecure)" : ""));
        return pull_from(store, candidate, source, opt);
      } catch (const Error& e) {
        log_debug("pull " + candidate.str() + ": " + e.what());
        failures.push_back(source.ref.str() + (source.mirror ? " (a mirror)" : "") + ": " +
                           e.what());
        if (!only) only = e;
      }
    }
  }
  if (failures.size() == 1) throw *only;
  std::string all;
  for (const auto& f : failures) all += "\n  " + f;
  throw Error("cannot pull " + text + " from any place registries.conf gives:" + all);
}

}  // namespace coracle::image

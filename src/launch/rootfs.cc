// The rootfs a sandbox runs on: an image of the store (resolved, pulled by
// policy, its layers locked against gc), laid out for overlayfs or
// flattened into a private copy (the vfs driver); a host directory; or the
// embedded default image.
#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/userns.h"
#include "image/default_image.h"
#include "image/reference.h"
#include "image/resolve.h"
#include "launch/launch.h"

namespace coracle::launch {

struct Rootfs::State {
  std::string name;
  std::optional<image::ImageRootfs> image;  // its layers locked
  std::vector<std::string> layers;          // overlay lowers, lowest first
  std::string dir;                          // or a directory to run on
  bool private_copy = false;                // dir is this run's own (vfs)
  TreeRemoval private_parent;               // ROOT/tmp/run-... or scratch-...: removed at the end
  UserDb users;
};

Rootfs::Rootfs() : state_(std::make_unique<State>()) {}
Rootfs::~Rootfs() = default;
Rootfs::Rootfs(Rootfs&&) noexcept = default;
Rootfs& Rootfs::operator=(Rootfs&&) noexcept = default;

const image::ImageConfig* Rootfs::config() const {
  return state_->image ? &state_->image->image.config : nullptr;
}
const std::string& Rootfs::name() const {
  return state_->name;
}
const UserDb& Rootfs::users() const {
  return state_->users;
}

void Rootfs::apply(sandbox::Spec& spec) const {
  if (!state_->dir.empty()) {
    spec.rootfs = state_->dir;
    spec.rootfs_is_private_copy = state_->private_copy;
  } else {
    spec.layers = state_->layers;
  }
}

namespace {

UserDb users_of_dir(const std::string& dir) {
  UserDb u;
  u.passwd = read_file_in_root(dir, "etc/passwd").value_or("");
  u.group = read_file_in_root(dir, "etc/group").value_or("");
  return u;
}

// Puts the image in the store as the policy says.
void obtain(const image::Store& store, const RootfsRequest& r) {
  bool missing = !image::has_image(store, r.image);
  bool wanted = r.pull == PullPolicy::Always || (r.pull == PullPolicy::Missing && missing);
  if (!wanted || !r.pull_image) return;  // resolving says how to get a missing one
  try {
    r.pull_image(r.image);
  } catch (const Error& e) {
    if (!missing) throw;
    std::string ref = image::parse_reference(r.image).str();
    throw Error("image " + ref + " is not in the store and pulling it failed: " + e.what() +
                "\n(to use a local copy instead: `coracle image import PATH --tag " + ref +
                "`; --pull never does not try the registry)");
  }
}

}  // namespace

Rootfs prepare_rootfs(const std::string& store_root, const RootfsRequest& r) {
  Rootfs out;
  Rootfs::State& s = *out.state_;
  if (!r.rootfs.empty()) {
    s.name = s.dir = r.rootfs;
    s.users = users_of_dir(r.rootfs);
    return out;
  }
  if (r.layers) {
    s.name = "build stage";
    if (r.layers->empty()) {
      // FROM scratch: an empty directory of this run's own.
      s.dir = image::Store(store_root).make_tmp_dir("scratch");
      s.private_parent.hold(s.dir);
      return out;
    }
    s.layers = *r.layers;
    s.users.passwd = image::read_image_file(s.layers, "etc/passwd");
    s.users.group = image::read_image_file(s.layers, "etc/group");
    return out;
  }
  if (r.image.empty() || r.image == "default") {
    s.name = "default";
    s.dir = image::ensure_default_rootfs(store_root);
    s.users = users_of_dir(s.dir);
    return out;
  }
  image::Store store(store_root);
  obtain(store, r);
  s.image = image::prepare_image_layers(store, r.image, r.platform, r.on_layer);
  log_debug("image " + s.image->image.name + " (" + s.image->image.manifest_descriptor.digest +
            "): " + std::to_string(s.image->layer_dirs.size()) + " layers under " +
            store.layers_dir());
  s.name = s.image->image.name;
  s.layers = s.image->layer_dirs;
  s.users.passwd = image::read_image_file(s.layers, "etc/passwd");
  s.users.group = image::read_image_file(s.layers, "etc/group");
  if (!r.use_overlay) {
    // Without overlayfs, the image is flattened into a copy for this run
    // alone (under ROOT/tmp, so a killed run's copy is swept later).
    std::string parent = store.make_tmp_dir("run");
    s.private_parent.hold(parent);
    s.dir = parent + "/rootfs";
    s.private_copy = true;
    image::flatten_image(store, s.image->image, s.dir, true);
  }
  return out;
}

sandbox::Spec make_spec(const Rootfs& rootfs, const ProcessOverrides& overrides) {
  sandbox::Spec spec;
  rootfs.apply(spec);
  apply_process(spec, rootfs.config(), overrides, rootfs.users());
  return spec;
}

}  // namespace coracle::launch

// The one path from "what to run" to a sandbox::Spec: an image of the store
// (pulled by policy), a rootfs directory or the embedded default image, its
// config, and the caller's overrides, by Docker's rules. `coracle exec`, the
// chain's steps, builtin:exec and the builder's RUN all start here, so they
// cannot drift apart (one environment, one user lookup, one storage
// driver). The caller then adds what is its own (binds, limits, network).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/file_lock.h"
#include "common/userns.h"
#include "image/layer_cache.h"
#include "image/oci.h"
#include "image/store.h"
#include "sandbox/sandbox.h"
#include "volume/volumes.h"

namespace coracle::launch {

// What the caller asks of the process, over the image's config (the
// process flags of `docker run`).
struct ProcessOverrides {
  // --entrypoint: replaces the image's ENTRYPOINT; an empty vector clears
  // it, and the image's CMD with it (Docker's rule).
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> command;  // replaces the image's CMD when not empty
  std::vector<std::string> env;      // K=V, over the image's
  std::string user;                  // NAME or UID, [:GROUP or GID]; "": the image's
  std::string workdir;               // "": the image's, else /
  std::string hostname = "coracle";
};

// The rootfs's own /etc/passwd and /etc/group, for users given by name.
struct UserDb {
  std::string passwd, group;
};

// Docker's rules, into spec: argv (ENTRYPOINT + CMD, as overridden; /bin/sh
// with neither and no config), env (PATH, HOME and HOSTNAME, then the
// image's, then the caller's), uid/gid (by name through users), workdir,
// hostname. Throws coracle::Error for an image with nothing to run or a user
// the rootfs does not know.
void apply_process(sandbox::Spec& spec, const image::ImageConfig* config,
                   const ProcessOverrides& overrides, const UserDb& users);

enum class PullPolicy { Missing, Always, Never };

struct RootfsRequest {
  // A reference or manifest digest; "" or "default": the embedded default
  // image. Ignored when rootfs or layers is set.
  std::string image;
  std::string rootfs;  // a host directory to run on (never written)
  // Or layer directories the caller holds locked (the builder's stage),
  // lowest first; an empty list is an empty rootfs (FROM scratch). The
  // users come from the layers, as from an image's.
  std::optional<std::vector<std::string>> layers;
  PullPolicy pull = PullPolicy::Missing;
  image::Platform platform = image::host_platform();
  bool use_overlay = true;  // false: the vfs driver, a flattened copy per run
  // Puts a reference into the store (a pull with the caller's progress
  // output); throws coracle::Error. Without it, a missing image is an error.
  std::function<void(const std::string& ref)> pull_image;
  // Told as the image's layers are unpacked (the first run of an image).
  std::function<void(const image::LayerEvent&)> on_layer;
};

// A rootfs ready to run. It keeps the image's layers locked against gc and
// the vfs driver's private copy until it is destroyed: keep it alive until
// the sandbox has ended.
class Rootfs {
 public:
  ~Rootfs();
  Rootfs(Rootfs&&) noexcept;
  Rootfs& operator=(Rootfs&&) noexcept;

  // The image's config; null for a rootfs directory or the default image.
  const image::ImageConfig* config() const;
  // The image's name as stored, or the directory.
  const std::string& name() const;
  const UserDb& users() const;
  // spec.rootfs or spec.layers (and rootfs_is_private_copy).
  void apply(sandbox::Spec& spec) const;

 private:
  friend Rootfs prepare_rootfs(const std::string& store_root, const RootfsRequest& request);
  Rootfs();

 public:
  struct State;  // defined in rootfs.cc

 private:
  std::unique_ptr<State> state_;
};

// Resolves (and, by policy, pulls) the image in the store at store_root,
// and lays out its rootfs: overlay lowers, or a flattened private copy under
// ROOT/tmp for the vfs driver. A rootfs directory costs nothing more than
// reading its users (the exec fast path opens no store). Throws
// coracle::Error saying how to get a missing image.
Rootfs prepare_rootfs(const std::string& store_root, const RootfsRequest& request);

// The usual pair: the rootfs into a new spec, then the process rules over
// its config and users.
sandbox::Spec make_spec(const Rootfs& rootfs, const ProcessOverrides& overrides);

// A run's writable layer on disk, locked while it is in use: released when
// this goes (keep it until the sandbox has ended), then removed by the
// store's reaper, so that the caller does not wait for the deletion.
class WritableLayer {
 public:
  WritableLayer() = default;
  WritableLayer(std::string store_root, std::string dir, UniqueFd lock)
      : store_root_(std::move(store_root)), dir_(std::move(dir)), lock_(std::move(lock)) {}
  WritableLayer(WritableLayer&& other) noexcept
      : store_root_(std::move(other.store_root_)),
        dir_(std::move(other.dir_)),
        lock_(std::move(other.lock_)) {
    other.dir_.clear();
  }
  // The layer held before is released (the reaper's).
  WritableLayer& operator=(WritableLayer&& other) noexcept {
    WritableLayer released(std::move(*this));
    store_root_ = std::move(other.store_root_);
    dir_ = std::move(other.dir_);
    lock_ = std::move(other.lock_);
    other.dir_.clear();
    return *this;
  }
  ~WritableLayer();

 private:
  std::string store_root_, dir_;
  UniqueFd lock_;
};

// The run's writable layer (what the command writes to its rootfs) on disk
// under the store, as podman keeps a container's, so that the sandbox's
// use of the host's RAM is its processes' own: spec.upper_dir becomes a
// fresh ROOT/tmp/upper-PID-N, and /tmp the rootfs's own directory unless
// spec.tmp_size_bytes asks for a tmpfs. Nothing changes where the caller
// asked for a bounded tmpfs (spec.upper_size_bytes), for a read-only root,
// a private copy or a spec with its own upper_dir. Call it once the spec
// is complete; a killed run's directory is swept by the next command.
WritableLayer put_writable_layer_on_disk(sandbox::Spec& spec, const std::string& store_root);

// What the user says of a sandbox's /etc files.
struct EtcOptions {
  std::vector<std::string> dns;          // --dns IP: the nameservers instead of the host's
  std::vector<std::string> dns_search;   // --dns-search: instead of the host's ("." for none)
  std::vector<std::string> dns_options;  // --dns-option: instead of the host's options
  std::vector<std::string> add_hosts;    // --add-host NAME:IP
  bool empty() const {
    return dns.empty() && dns_search.empty() && dns_options.empty() && add_hosts.empty();
  }
};

// /etc/hostname, /etc/hosts and /etc/resolv.conf for spec, as podman makes
// them, from its hostname and network (set those first) and the host's
// resolvers; a file the spec already binds is left to that bind. Throws
// coracle::Error for a bad --dns or --add-host.
void add_etc_files(sandbox::Spec& spec, const EtcOptions& options = {});
// The same checks alone: a command refuses a bad flag before any work.
void check_etc_options(const EtcOptions& options);

// Their contents (etc_files.cc), for the unit tests: the host's resolv.conf
// with the resolvers the sandbox can reach (sandbox::pasta_forwards_dns),
// or the user's --dns, --dns-search and --dns-option instead of the host's.
std::string resolv_conf_for(sandbox::NetMode net, const std::string& host_text,
                            const EtcOptions& options);
std::string hosts_for(const std::string& hostname, const std::vector<std::string>& add_hosts);

// The caller's TLS trust (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and the like,
// when they name certificate files) for a sandbox that fetches through the
// host's network: a build's RUN, an assistant (host_trust.cc).
void add_host_trust(sandbox::Spec& spec);

// What a run holds of its volumes until it ends (src/volume): its named
// ones, leased (made on first use), and the anonymous ones given to its
// image's VOLUMEs, removed with it.
struct VolumeLeases {
  std::vector<volume::VolumeStore::Lease> named;
  std::vector<TreeRemoval> anonymous;
};
// Resolves spec's named volumes (a sandbox_owned bind whose source is a
// volume name: -v NAME:/path) to their data dirs, and binds an anonymous
// volume at each of config's VOLUMEs that no bind covers.
VolumeLeases lease_volumes(sandbox::Spec& spec, const std::string& store_root,
                           const image::ImageConfig* config);

// "missing", "always", "never"; throws coracle::Error.
PullPolicy parse_pull_policy(const std::string& text);

}  // namespace coracle::launch

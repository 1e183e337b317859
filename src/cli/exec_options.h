// Translation of `coracle exec` flags into a sandbox::Spec. Separate from the
// command so unit tests can check it without running anything.
#pragma once
#include <string>
#include <vector>

#include "common/parse.h"
#include "image/image_user.h"
#include "image/oci.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

struct ExecFlags {
  std::string rootfs, image;
  std::vector<std::string> command;
  std::vector<std::string> env, env_files, volumes, cap_add, cap_drop, ulimits;
  std::string workdir, user, hostname = "coracle", net = "private", in_dir, out_dir;
  std::string seccomp, memory, pids, cpus, timeout;
  std::string upper_size, tmp_size;  // tmpfs bounds (default: --memory, else 1g)
  bool read_only = false;
  std::vector<std::string> publish;  // -p
  bool publish_all = false;          // -P
  bool watch_ports = false;          // report ports, forward nothing
  bool ports_wanted() const { return !publish.empty() || publish_all || watch_ports; }
};

// What an image's config says about running it; flags override each part.
struct ImageDefaults {
  const image::ImageConfig* config = nullptr;
  std::string passwd, group;  // the image's /etc/passwd and /etc/group, for user names
};

// Everything but the rootfs path. Throws coracle::Error for a bad flag.
sandbox::Spec make_spec(const ExecFlags& flags, const ImageDefaults& image = {});
using image::parse_user;
// "SRC:DST", "SRC:DST:ro" (SRC made absolute).
sandbox::BindMount parse_volume(const std::string& text);
// "nofile=1024", "nofile=1024:4096", "core=0".
sandbox::Rlimit parse_ulimit(const std::string& text);
using coracle::parse_env_file;

}  // namespace coracle::cli

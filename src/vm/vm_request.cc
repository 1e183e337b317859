#include "vm/vm_request.h"

#include <algorithm>

#include "common/error.h"
#include "common/fs.h"

namespace coracle::vm {

VmRunRequest request_from_spec(const sandbox::Spec& spec, const std::string& store_root) {
  // What the guest does not do yet is refused, never ignored.
  auto refuse = [](bool asked, const char* what) {
    if (asked) throw Error(std::string(what) + " is not supported in a micro-VM yet");
  };
  for (const auto& v : spec.volumes)
    refuse(!is_directory(v.source), "a file (not a directory) bound with -v");
  refuse(!spec.devices.empty(), "--device");
  refuse(spec.read_only_rootfs, "--read-only");
  refuse(spec.rootfs_is_private_copy, "the vfs storage driver");

  VmRunRequest r;
  r.layer_dirs = spec.layers.empty() ? std::vector<std::string>{spec.rootfs} : spec.layers;
  r.cache_dir = store_root + "/vm";
  r.guest.argv = spec.argv;
  r.guest.env = spec.env;
  r.guest.uid = spec.uid;
  r.guest.gid = spec.gid;
  r.guest.workdir = spec.workdir.empty() ? "/" : spec.workdir;
  r.guest.hostname = spec.hostname;
  for (const auto& g : spec.generated_files) {
    // The agent writes /etc files as they are made for every sandbox.
    refuse(g.mode != 0644 || g.uid || g.gid || g.required, "a generated file with its own owner");
    r.guest.files.emplace_back(g.target, g.content);
  }
  // The same privileges as in a sandbox: capabilities, no_new_privs, the
  // seccomp profile (a file's text travels to the agent, which compiles it).
  r.guest.cap_add = spec.cap_add;
  r.guest.cap_drop = spec.cap_drop;
  r.guest.seccomp = spec.seccomp_profile.empty()           ? "default"
                    : spec.seccomp_profile == "unconfined" ? "unconfined"
                                                           : read_file(spec.seccomp_profile);
  // --memory is the guest's RAM (its kernel and agent take ~40 MiB of it),
  // --cpus its vCPUs.
  if (spec.limits.memory_bytes) r.memory_bytes = *spec.limits.memory_bytes;
  if (spec.limits.cpus) r.cpus = static_cast<unsigned>(std::max(1.0, *spec.limits.cpus + 0.999));
  r.stdout_fd = spec.stdout_fd;
  r.stderr_fd = spec.stderr_fd;
  r.timeout = spec.timeout;
  r.kill_grace = spec.kill_grace;
  r.forward_signals = spec.forward_signals;
  if (spec.in_dir) r.shares.push_back({*spec.in_dir, "/in", true});
  if (spec.out_dir) r.shares.push_back({*spec.out_dir, "/out", false});
  for (const auto& v : spec.volumes) r.shares.push_back({v.source, v.target, v.read_only});
  // pasta's outbound access, for a guest through passt; the guest's own
  // loopback otherwise (--net none has no devices beyond it either).
  r.network = spec.net == sandbox::NetMode::Pasta;
  return r;
}

}  // namespace coracle::vm

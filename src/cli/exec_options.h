// Translation of `coracle exec` flags into a sandbox::Spec. Separate from the
// command so unit tests can check it without running anything.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/parse.h"
#include "image/image_user.h"
#include "image/oci.h"
#include "launch/launch.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {

struct ExecFlags {
  std::string rootfs, image;
  std::vector<std::string> command;
  std::vector<std::string> env, env_files, volumes, cap_add, cap_drop, ulimits;
  launch::EtcOptions etc;            // --dns, --dns-search, --dns-option, --add-host
  std::vector<std::string> tmpfs;    // --tmpfs PATH[:OPTS]
  std::vector<std::string> devices;  // --device HOST[:CONTAINER][:PERMS]
  std::string workdir, user, hostname = "coracle", net = "private", in_dir, out_dir;
  std::optional<std::string> entrypoint;  // --entrypoint ('' clears it)
  std::string seccomp, memory, pids, cpus, timeout;
  // podman's --security-opt: seccomp=unconfined|PATH, no-new-privileges
  // (always so), label=disable and apparmor=unconfined (nothing to undo).
  std::vector<std::string> security_opts;
  bool quiet = false;
  bool rm = false, init = false;     // podman's habits; coracle does both anyway
  std::string upper_size, tmp_size;  // tmpfs bounds (default: --memory, else 1g)
  std::string changes;               // --changes FILE: the rootfs's changes as a layer tar
  bool read_only = false;
  bool tty = false, interactive = false;  // -t, -i
  std::vector<std::string> publish;       // -p
  bool publish_all = false;               // -P
  bool watch_ports = false;               // report ports, forward nothing
  bool vm = false;                        // --vm: a micro-VM, not namespaces
  bool ports_wanted() const { return !publish.empty() || publish_all || watch_ports; }
};

// The process flags (--entrypoint, the command, -e, --env-file, -u, -w,
// --hostname) as launch overrides. Throws coracle::Error for a bad flag.
launch::ProcessOverrides process_overrides(const ExecFlags& flags);
// The rest of the flags (network, binds, capabilities, seccomp, limits,
// rlimits, timeout) into spec, and the generated /etc files for its
// hostname and network (--dns, --add-host). Throws coracle::Error for a
// bad flag.
void apply_sandbox_flags(sandbox::Spec& spec, const ExecFlags& flags);
// Both, over an image's config and users (null: no image), for a spec
// without its rootfs: what the unit tests check.
sandbox::Spec spec_from_flags(const ExecFlags& flags, const image::ImageConfig* config = nullptr,
                              const launch::UserDb& users = {});
using image::parse_user;
// --env-file's lines, then -e's K=V (K alone: the caller's value, if set).
std::vector<std::string> env_from_flags(const std::vector<std::string>& env,
                                        const std::vector<std::string>& env_files);
// "SRC:DST", "SRC:DST:ro" (SRC made absolute).
sandbox::BindMount parse_volume(const std::string& text);
// "HOST", "HOST:CONTAINER", "HOST:CONTAINER:rwm", "HOST:rw" (docker's
// --device). The permissions are checked for form: the node's own mode
// decides what the sandbox may do with it.
sandbox::DeviceMount parse_device(const std::string& text);
// "PATH" or "PATH:size=64m,mode=1777,ro,noexec" (docker's --tmpfs).
sandbox::TmpfsMount parse_tmpfs(const std::string& text);
// "nofile=1024", "nofile=1024:4096", "core=0".
sandbox::Rlimit parse_ulimit(const std::string& text);
using coracle::parse_env_file;

}  // namespace coracle::cli

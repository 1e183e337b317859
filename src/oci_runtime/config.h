// The OCI runtime spec's config.json (runtime-spec 1.x), as a runtime reads
// a bundle: typed, with every field checked where it is read, so a bad
// config fails naming the field (as runc does) before anything is set up.
// Only what coracle maps onto its sandbox is typed; the rest (resources,
// seccomp, devices) stays JSON for the parts that read it.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coracle::oci_runtime {

struct User {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  std::optional<uint32_t> umask;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0, hard = 0;
};

struct Process {
  bool terminal = false;
  User user;
  std::vector<std::string> args, env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  std::string apparmor_profile, selinux_label;
};

struct Mount {
  std::string destination, type, source;
  std::vector<std::string> options;
};

struct Namespace {
  std::string type;  // pid, network, mount, ipc, uts, user, cgroup, time
  std::string path;  // join this one; empty: a new one
};

struct IdMapping {
  uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Hook {
  std::string path;
  std::vector<std::string> args, env;
  std::optional<int> timeout;  // seconds
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<std::string> masked_paths, readonly_paths;
  std::map<std::string, std::string> sysctl;
  std::string cgroups_path, rootfs_propagation, mount_label;
  nlohmann::json resources, seccomp, devices;  // null when absent
  // The namespace of a type, if the config asks for one.
  const Namespace* find(const std::string& type) const;
};

struct Config {
  std::string oci_version;
  std::string root_path;  // absolute (relative ones are taken from the bundle)
  bool root_readonly = false;
  std::string hostname, domainname;
  std::optional<Process> process;
  std::vector<Mount> mounts;
  Linux linux;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
};

// Parses and checks text (a bundle's config.json). Throws coracle::Error
// naming the field, e.g. "config.json: process.args: must not be empty".
Config parse_config(std::string_view text, const std::string& bundle);

// An exec's process.json (the config's process object alone).
Process parse_process(std::string_view text);

// Reads BUNDLE/config.json.
Config load_config(const std::string& bundle);

}  // namespace coracle::oci_runtime

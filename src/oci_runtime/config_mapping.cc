#include "oci_runtime/config_mapping.h"

#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "sandbox/caps.h"

namespace coracle::oci_runtime {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& field, const std::string& why) {
  throw Error("config.json: " + field + ": " + why + " (not supported by coracle-runc yet)");
}

bool has(const std::vector<std::string>& options, const char* o) {
  return std::find(options.begin(), options.end(), o) != options.end();
}

// The file systems every sandbox has anyway, in the places runtimes put
// them: the config's entries for them are what the sandbox does already.
bool is_standard_mount(const Mount& m) {
  static const std::map<std::string, std::vector<std::string>> kStandard = {
      {"/proc", {"proc"}},
      {"/dev", {"tmpfs"}},
      {"/dev/pts", {"devpts"}},
      {"/dev/shm", {"tmpfs", "bind"}},
      {"/dev/mqueue", {"mqueue"}},
      {"/sys", {"sysfs", "none", "bind"}},
      {"/sys/fs/cgroup", {"cgroup", "cgroup2"}}};
  auto it = kStandard.find(clean_path(m.destination));
  return it != kStandard.end() &&
         std::find(it->second.begin(), it->second.end(), m.type) != it->second.end();
}

bool is_bind(const Mount& m) {
  return m.type == "bind" || has(m.options, "bind") || has(m.options, "rbind");
}

void map_mount(const Mount& m, size_t index, sandbox::Spec& spec) {
  std::string field = "mounts[" + std::to_string(index) + "]";
  if (is_standard_mount(m)) return;
  if (is_bind(m)) {
    if (m.source.empty() || m.source[0] != '/')
      throw Error("config.json: " + field + ".source: a bind needs an absolute host path");
    sandbox::BindMount bind{m.source, m.destination, has(m.options, "ro")};
    static const std::map<std::string, unsigned long> kPropagation = {
        {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
        {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
        {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
        {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
    for (const auto& o : m.options)
      if (auto it = kPropagation.find(o); it != kPropagation.end()) bind.propagation = it->second;
    spec.volumes.push_back(bind);
    return;
  }
  if (m.type == "tmpfs") {
    sandbox::TmpfsMount t;
    t.target = m.destination;
    t.read_only = has(m.options, "ro");
    t.noexec = has(m.options, "noexec");
    for (const auto& o : m.options) {
      if (o.rfind("size=", 0) == 0) t.size_bytes = parse_bytes(o.substr(5));
      if (o.rfind("mode=", 0) == 0)
        t.mode = static_cast<unsigned>(std::stoul(o.substr(5), nullptr, 8));
    }
    spec.tmpfs.push_back(t);
    return;
  }
  refuse(field + ".type", "a " + m.type + " mount at " + m.destination);
}

// linux.devices: nodes made in /dev, as runc makes them.
void map_devices(const json& devices, sandbox::Spec& spec) {
  if (devices.is_null()) return;
  if (!devices.is_array()) throw Error("config.json: linux.devices: must be an array");
  for (size_t i = 0; i < devices.size(); ++i) {
    std::string field = "config.json: linux.devices[" + std::to_string(i) + "]";
    const json& d = devices[i];
    if (!d.is_object() || !d.contains("path") || !d["path"].is_string() || !d.contains("type") ||
        !d["type"].is_string())
      throw Error(field + ": needs a path and a type");
    sandbox::DeviceNode node;
    node.path = d["path"].get<std::string>();
    std::string type = d["type"].get<std::string>();
    if (type != "c" && type != "b" && type != "u" && type != "p")
      throw Error(field + ".type: must be c, b, u or p");
    node.type = type == "u" ? 'c' : type[0];
    auto number = [&](const char* key, uint32_t fallback) {
      auto it = d.find(key);
      if (it == d.end() || it->is_null()) return fallback;
      if (!it->is_number_unsigned()) throw Error(field + "." + key + ": must be a number");
      return it->get<uint32_t>();
    };
    if (node.type != 'p' && (!d.contains("major") || !d.contains("minor")))
      throw Error(field + ": a " + type + " device needs major and minor");
    node.major = number("major", 0);
    node.minor = number("minor", 0);
    node.mode = number("fileMode", 0666);
    node.uid = number("uid", 0);
    node.gid = number("gid", 0);
    spec.device_nodes.push_back(node);
  }
}

// resources.devices: the allow rules on top of the sandbox's own list,
// which denies everything else already (a deny rule adds nothing to it).
void map_device_rules(const json& rules, sandbox::Spec& spec) {
  if (rules.is_null()) return;
  if (!rules.is_array()) throw Error("config.json: linux.resources.devices: must be an array");
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    std::string field = "config.json: linux.resources.devices[" + std::to_string(i) + "]";
    if (!r.is_object() || !r.contains("allow") || !r["allow"].is_boolean())
      throw Error(field + ": needs allow");
    if (!r["allow"].get<bool>()) continue;
    sandbox::DeviceRule rule;
    std::string type = r.value("type", "a");
    if (type != "a" && type != "c" && type != "b") throw Error(field + ".type: must be a, c or b");
    rule.type = type[0];
    auto number = [&](const char* key) -> long {
      auto it = r.find(key);
      if (it == r.end() || it->is_null()) return -1;
      if (!it->is_number_integer()) throw Error(field + "." + key + ": must be a number");
      return it->get<long>();
    };
    rule.major = number("major");
    rule.minor = number("minor");
    rule.access = r.value("access", "rwm");
    if (rule.access.empty() || rule.access.find_first_not_of("rwm") != std::string::npos)
      throw Error(field + ".access: some of r, w, m");
    spec.limits.devices.push_back(rule);
  }
}

void map_resources(const json& r, sandbox::Spec& spec) {
  if (!r.is_object()) return;
  if (auto d = r.find("devices"); d != r.end()) map_device_rules(*d, spec);
  if (auto m = r.find("memory"); m != r.end() && m->is_object())
    if (auto l = m->find("limit"); l != m->end() && l->is_number_integer() && l->get<int64_t>() > 0)
      spec.limits.memory_bytes = l->get<uint64_t>();
  if (auto p = r.find("pids"); p != r.end() && p->is_object())
    if (auto l = p->find("limit"); l != p->end() && l->is_number_integer() && l->get<int64_t>() > 0)
      spec.limits.pids = l->get<uint64_t>();
  if (auto c = r.find("cpu"); c != r.end() && c->is_object()) {
    // As the cgroup files take them (a zero is "not set", as runc has it).
    sandbox::Limits::CpuSettings& cpu = spec.limits.cpu;
    auto positive = [&](const char* key, auto& into) {
      auto it = c->find(key);
      if (it == c->end() || it->is_null()) return;
      if (!it->is_number_integer())
        throw Error(std::string("config.json: linux.resources.cpu.") + key + ": must be a number");
      if (it->get<int64_t>() != 0) into = it->get<int64_t>();
    };
    std::optional<int64_t> shares, period, rt_period;
    positive("shares", shares);
    positive("period", period);
    positive("realtimePeriod", rt_period);
    positive("quota", cpu.quota);
    positive("realtimeRuntime", cpu.realtime_runtime);
    if (shares) cpu.shares = static_cast<uint64_t>(*shares);
    if (period) cpu.period = static_cast<uint64_t>(*period);
    if (rt_period) cpu.realtime_period = static_cast<uint64_t>(*rt_period);
    if (auto cpus = c->find("cpus"); cpus != c->end() && cpus->is_string()) cpu.cpuset_cpus = *cpus;
    if (auto mems = c->find("mems"); mems != c->end() && mems->is_string()) cpu.cpuset_mems = *mems;
  }
}

// Can the file system at path take an idmapped mount? Those that cannot
// (an engine's overlay, fuse, nfs) would show the host's root as nobody
// inside a user namespace of the sandbox's own.
bool idmappable(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) < 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case EXT4_SUPER_MAGIC:  // ext2, ext3 and ext4 share it
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case F2FS_SUPER_MAGIC:
      return true;
  }
  return false;
}

// Each namespace new, joined by path or the host's, as the config says;
// the user namespace the sandbox's own wherever it can be (the config
// leaving one out is room for it), else none, as runc has it.
void map_namespaces(const Config& c, sandbox::Spec& spec, std::vector<std::string>& notes) {
  static const std::map<std::string, int> kTypes = {{"network", CLONE_NEWNET},
                                                    {"ipc", CLONE_NEWIPC},
                                                    {"uts", CLONE_NEWUTS},
                                                    {"pid", CLONE_NEWPID},
                                                    {"cgroup", CLONE_NEWCGROUP}};
  const Namespace* mount = c.linux.find("mount");
  if (!mount) refuse("linux.namespaces", "the host's mount namespace");
  if (!mount->path.empty()) refuse("linux.namespaces", "joining a mount namespace");
  if (c.linux.find("time")) refuse("linux.namespaces", "a time namespace");
  for (const auto& [name, type] : kTypes) {
    const Namespace* ns = c.linux.find(name);
    if (!ns && type == CLONE_NEWNET)
      spec.net = sandbox::NetMode::Host;
    else if (!ns)
      spec.shared_namespaces |= type;
    else if (!ns->path.empty())
      spec.join_namespaces.push_back({type, ns->path});
  }
  const Namespace* user = c.linux.find("user");
  if (user && !user->path.empty()) refuse("linux.namespaces", "joining a user namespace");
  if (!c.linux.uid_mappings.empty() || !c.linux.gid_mappings.empty()) {
    if (c.linux.uid_mappings.empty() || c.linux.gid_mappings.empty())
      throw Error("config.json: linux.uidMappings: uid and gid mappings go together");
    if (geteuid() != 0) refuse("linux.uidMappings", "the config's own mappings without root");
    for (const auto& m : c.linux.uid_mappings)
      spec.uid_map.push_back({m.container_id, m.host_id, m.size});
    for (const auto& m : c.linux.gid_mappings)
      spec.gid_map.push_back({m.container_id, m.host_id, m.size});
  }
  if (user || geteuid() != 0) return;  // one of its own (a plain user's runner needs it)
  std::string why;
  if (!spec.join_namespaces.empty())
    why = "namespaces joined by path";
  else if (spec.shared_namespaces & CLONE_NEWPID)
    why = "the host's pid namespace";
  else if (!idmappable(c.root_path))
    why = "root.path cannot be idmapped (an overlay mount)";
  else if (!spec.device_nodes.empty())
    why = "linux.devices: nodes are made with mknod";
  if (why.empty()) {
    notes.push_back("linux.namespaces: a user namespace is added");
    return;
  }
  spec.user_namespace = false;
  notes.push_back("linux.namespaces: no user namespace, root inside is the host's (" + why + ")");
}

}  // namespace

namespace {

int rlimit_resource(const std::string& name, const std::string& field) {
  static const std::map<std::string, int> kNames = {
      {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
      {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME}};
  auto it = kNames.find(name);
  if (it == kNames.end()) throw Error("config.json: " + field + ": unknown rlimit " + name);
  return it->second;
}

}  // namespace

bool has_writable_binds(const Config& c) {
  return std::any_of(c.mounts.begin(), c.mounts.end(), [](const Mount& m) {
    return is_bind(m) && !is_standard_mount(m) && !has(m.options, "ro");
  });
}

std::vector<sandbox::Rlimit> map_rlimits(const Process& p) {
  std::vector<sandbox::Rlimit> out;
  for (size_t i = 0; i < p.rlimits.size(); ++i) {
    const Rlimit& r = p.rlimits[i];
    out.push_back({rlimit_resource(r.type, "process.rlimits[" + std::to_string(i) + "]"),
                   static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)});
  }
  return out;
}

std::optional<sandbox::CapabilitySets> map_capabilities(const Process& p) {
  if (!p.capabilities) return std::nullopt;
  const Capabilities& c = *p.capabilities;
  return sandbox::CapabilitySets{c.bounding, c.effective, c.permitted, c.inheritable, c.ambient};
}

std::optional<sandbox::CapabilitySets> exec_capabilities(const Process& exec,
                                                         const Process& container) {
  std::optional<sandbox::CapabilitySets> sets =
      map_capabilities(exec.capabilities ? exec : container);
  if (!sets) return std::nullopt;
  uint64_t limit = 0;
  if (container.capabilities) {
    for (const auto& name : container.capabilities->bounding)
      limit |= 1ULL << sandbox::parse_cap_name(name);
  } else {
    limit = sandbox::default_cap_mask();
  }
  for (auto* set :
       {&sets->bounding, &sets->effective, &sets->permitted, &sets->inheritable, &sets->ambient})
    std::erase_if(*set, [&](const std::string& name) {
      return !(limit & (1ULL << sandbox::parse_cap_name(name)));
    });
  return sets;
}

Mapped map_config(const Config& c, const std::string& id, const std::string& state_dir) {
  Mapped out;
  sandbox::Spec& spec = out.spec;
  if (!c.process) throw Error("config.json: process: is required to run a container");
  const Process& p = *c.process;

  // The rootfs the engine prepared, written in place (no overlay of our
  // own), or read-only as asked.
  if (!is_directory(c.root_path))
    throw Error("config.json: root.path: " + c.root_path + " is not a directory");
  spec.rootfs = c.root_path;
  spec.read_only_rootfs = c.root_readonly;
  spec.rootfs_is_private_copy = !c.root_readonly;

  spec.argv = p.args;
  spec.env = p.env;
  spec.workdir = p.cwd;
  spec.uid = p.user.uid;
  spec.gid = p.user.gid;
  spec.supplementary_gids = p.user.additional_gids;
  spec.tty = p.terminal;
  spec.rlimits = map_rlimits(p);
  spec.capability_sets = map_capabilities(p);
  if (!spec.capability_sets)
    out.notes.push_back("process.capabilities: none given, coracle's default set");
  spec.no_new_privs = p.no_new_privileges;
  spec.oom_score_adj = p.oom_score_adj;
  if (!p.apparmor_profile.empty() || !p.selinux_label.empty())
    out.notes.push_back("process.apparmorProfile/selinuxLabel: ignored (neither is enforced here)");
  spec.hostname = c.hostname.empty() ? id : c.hostname;

  map_devices(c.linux.devices, spec);
  map_namespaces(c, spec, out.notes);
  for (const auto& [name, value] : c.linux.sysctl) {
    try {
      sandbox::check_sysctl(name, spec.net != sandbox::NetMode::Host);
    } catch (const Error& e) {
      throw Error(std::string("config.json: linux.sysctl: ") + e.what());
    }
    spec.sysctls.emplace_back(name, value);
  }

  for (size_t i = 0; i < c.mounts.size(); ++i) map_mount(c.mounts[i], i, spec);
  // The config's masked and read-only paths, added to the sandbox's own.
  spec.masked_paths = c.linux.masked_paths;
  spec.readonly_paths = c.linux.readonly_paths;
  map_resources(c.linux.resources, spec);
  // A file capability set through a writable bind would work on the host:
  // the sandbox keeps CAP_SETFCAP from a container that has one (podman's
  // default set asks for it, and binds /etc/hosts and friends writable).
  if (has_writable_binds(c) && spec.capability_sets) {
    const auto& b = spec.capability_sets->bounding;
    if (std::find(b.begin(), b.end(), "CAP_SETFCAP") != b.end())
      out.notes.push_back("process.capabilities: CAP_SETFCAP left out (writable binds)");
  }
  // The config's filter replaces coracle's default; none keeps the default.
  if (!c.linux.seccomp.is_null()) {
    std::string profile = state_dir + "/seccomp.json";
    write_file_atomic(profile, c.linux.seccomp.dump(), 0600);
    spec.seccomp_profile = profile;
  } else {
    out.notes.push_back("linux.seccomp: coracle's default filter");
  }
  // Its own /tmp is the rootfs's, as in any OCI container.
  spec.tmp_tmpfs = false;
  return out;
}

}  // namespace coracle::oci_runtime

#include "oci_runtime/config.h"

#include <algorithm>
#include <limits>
#include <set>

#include "common/error.h"
#include "common/fs.h"

namespace coracle::oci_runtime {
namespace {

using nlohmann::json;

// Reads fields of one JSON object, naming each in errors by its path.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail("", "must be an object");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    std::string field = where_ + (where_.empty() || key.empty() ? "" : ".") + key;
    throw Error("config.json: " + (field.empty() ? "" : field + ": ") + why);
  }
  std::string path(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }
  const json* get(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const std::string& key, bool required = false) const {
    const json* v = get(key);
    if (!v) {
      if (required) fail(key, "is required");
      return "";
    }
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
  bool boolean(const std::string& key) const {
    const json* v = get(key);
    if (v && !v->is_boolean()) fail(key, "must be true or false");
    return v && v->get<bool>();
  }
  template <typename T>
  std::optional<T> number(const std::string& key) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "must be a whole number");
    // long double holds every int64 and uint64 exactly on x86-64.
    bool big = v->is_number_unsigned();
    long double n = big ? static_cast<long double>(v->get<uint64_t>())
                        : static_cast<long double>(v->get<int64_t>());
    if (n < static_cast<long double>(std::numeric_limits<T>::min()) ||
        n > static_cast<long double>(std::numeric_limits<T>::max()))
      fail(key, "is out of range");
    return big ? static_cast<T>(v->get<uint64_t>()) : static_cast<T>(v->get<int64_t>());
  }
  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    const json* v = get(key);
    if (!v) return out;
    if (!v->is_array()) fail(key, "must be an array of strings");
    for (const auto& s : *v) {
      if (!s.is_string()) fail(key, "must be an array of strings");
      out.push_back(s.get<std::string>());
    }
    return out;
  }
  // Each element of an array of objects, with its path ("mounts[2]").
  template <typename F>
  void each(const std::string& key, F f) const {
    const json* v = get(key);
    if (!v) return;
    if (!v->is_array()) fail(key, "must be an array");
    for (size_t i = 0; i < v->size(); ++i)
      f(Fields((*v)[i], path(key) + "[" + std::to_string(i) + "]"));
  }
  std::optional<Fields> object(const std::string& key) const {
    const json* v = get(key);
    if (!v) return std::nullopt;
    return Fields(*v, path(key));
  }

 private:
  const json& j_;
  std::string where_;
};

User read_user(const Fields& f) {
  User u;
  u.uid = f.number<uint32_t>("uid").value_or(0);
  u.gid = f.number<uint32_t>("gid").value_or(0);
  u.umask = f.number<uint32_t>("umask");
  if (const json* g = f.get("additionalGids")) {
    if (!g->is_array()) f.fail("additionalGids", "must be an array of gids");
    for (const auto& id : *g) {
      if (!id.is_number_unsigned() || id.get<uint64_t>() > UINT32_MAX)
        f.fail("additionalGids", "must be an array of gids");
      u.additional_gids.push_back(static_cast<uint32_t>(id.get<uint64_t>()));
    }
  }
  return u;
}

Process read_process(const Fields& f) {
  Process p;
  p.terminal = f.boolean("terminal");
  if (auto u = f.object("user")) p.user = read_user(*u);
  p.args = f.strings("args");
  if (p.args.empty()) f.fail("args", "must not be empty");
  p.env = f.strings("env");
  for (const auto& e : p.env)
    if (e.find('=') == std::string::npos || e[0] == '=')
      f.fail("env", "'" + e + "' is not KEY=VALUE");
  p.cwd = f.str("cwd", true);
  if (p.cwd.empty() || p.cwd[0] != '/') f.fail("cwd", "must be an absolute path");
  if (auto c = f.object("capabilities")) {
    Capabilities caps;
    caps.bounding = c->strings("bounding");
    caps.effective = c->strings("effective");
    caps.inheritable = c->strings("inheritable");
    caps.permitted = c->strings("permitted");
    caps.ambient = c->strings("ambient");
    p.capabilities = caps;
  }
  std::set<std::string> seen;
  f.each("rlimits", [&](const Fields& r) {
    Rlimit l;
    l.type = r.str("type", true);
    if (l.type.rfind("RLIMIT_", 0) != 0) r.fail("type", "must be an RLIMIT_ name");
    if (!seen.insert(l.type).second) r.fail("type", l.type + " is given twice");
    l.soft = r.number<uint64_t>("soft").value_or(0);
    l.hard = r.number<uint64_t>("hard").value_or(0);
    if (l.soft > l.hard) r.fail("soft", "is above hard");
    p.rlimits.push_back(l);
  });
  p.no_new_privileges = f.boolean("noNewPrivileges");
  p.oom_score_adj = f.number<int>("oomScoreAdj");
  if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000))
    f.fail("oomScoreAdj", "must be -1000..1000");
  p.apparmor_profile = f.str("apparmorProfile");
  p.selinux_label = f.str("selinuxLabel");
  return p;
}

std::vector<IdMapping> read_mappings(const Fields& f, const std::string& key) {
  std::vector<IdMapping> out;
  f.each(key, [&](const Fields& m) {
    IdMapping id;
    id.container_id = m.number<uint32_t>("containerID").value_or(0);
    id.host_id = m.number<uint32_t>("hostID").value_or(0);
    id.size = m.number<uint32_t>("size").value_or(0);
    if (id.size == 0) m.fail("size", "must be at least 1");
    out.push_back(id);
  });
  return out;
}

Linux read_linux(const Fields& f) {
  Linux l;
  static const std::set<std::string> kTypes = {"pid", "network", "mount",  "ipc",
                                               "uts", "user",    "cgroup", "time"};
  std::set<std::string> seen;
  f.each("namespaces", [&](const Fields& n) {
    Namespace ns{n.str("type", true), n.str("path")};
    if (!kTypes.count(ns.type)) n.fail("type", "unknown namespace type '" + ns.type + "'");
    if (!seen.insert(ns.type).second) n.fail("type", ns.type + " is given twice");
    if (!ns.path.empty() && ns.path[0] != '/') n.fail("path", "must be an absolute path");
    l.namespaces.push_back(ns);
  });
  l.uid_mappings = read_mappings(f, "uidMappings");
  l.gid_mappings = read_mappings(f, "gidMappings");
  if ((!l.uid_mappings.empty() || !l.gid_mappings.empty()) && !seen.count("user"))
    f.fail("uidMappings", "id mappings need a user namespace");
  l.masked_paths = f.strings("maskedPaths");
  l.readonly_paths = f.strings("readonlyPaths");
  for (const auto* list : {&l.masked_paths, &l.readonly_paths})
    for (const auto& p : *list)
      if (p.empty() || p[0] != '/') f.fail("maskedPaths", "'" + p + "' is not an absolute path");
  if (const json* s = f.get("sysctl")) {
    if (!s->is_object()) f.fail("sysctl", "must be an object of strings");
    for (const auto& [k, v] : s->items()) {
      if (!v.is_string()) f.fail("sysctl", k + " must be a string");
      l.sysctl[k] = v.get<std::string>();
    }
  }
  l.cgroups_path = f.str("cgroupsPath");
  l.rootfs_propagation = f.str("rootfsPropagation");
  static const std::set<std::string> kPropagation = {"",         "shared",     "slave",
                                                     "private",  "rshared",    "rslave",
                                                     "rprivate", "unbindable", "runbindable"};
  if (!kPropagation.count(l.rootfs_propagation))
    f.fail("rootfsPropagation", "unknown propagation '" + l.rootfs_propagation + "'");
  l.mount_label = f.str("mountLabel");
  if (const json* r = f.get("resources")) l.resources = *r;
  if (const json* s = f.get("seccomp")) l.seccomp = *s;
  if (const json* d = f.get("devices")) l.devices = *d;
  return l;
}

std::vector<Hook> read_hooks(const Fields& f, const std::string& key) {
  std::vector<Hook> out;
  f.each(key, [&](const Fields& h) {
    Hook hook{h.str("path", true), h.strings("args"), h.strings("env"), h.number<int>("timeout")};
    if (hook.path.empty() || hook.path[0] != '/') h.fail("path", "must be an absolute path");
    if (hook.timeout && *hook.timeout <= 0) h.fail("timeout", "must be positive");
    out.push_back(hook);
  });
  return out;
}

}  // namespace

const Namespace* Linux::find(const std::string& type) const {
  for (const auto& n : namespaces)
    if (n.type == type) return &n;
  return nullptr;
}

Config parse_config(std::string_view text, const std::string& bundle) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error("config.json: not valid JSON");
  Fields top(j, "");
  Config c;
  c.oci_version = top.str("ociVersion", true);
  if (c.oci_version.rfind("1.", 0) != 0)
    top.fail("ociVersion", "'" + c.oci_version + "' is not a 1.x runtime spec version");
  auto root = top.object("root");
  if (!root) top.fail("root", "is required");
  c.root_path = root->str("path", true);
  if (c.root_path.empty()) root->fail("path", "must not be empty");
  if (c.root_path[0] != '/') c.root_path = clean_path(bundle + "/" + c.root_path);
  c.root_readonly = root->boolean("readonly");
  c.hostname = top.str("hostname");
  c.domainname = top.str("domainname");
  if (auto p = top.object("process")) c.process = read_process(*p);
  top.each("mounts", [&](const Fields& m) {
    Mount mount{m.str("destination", true), m.str("type"), m.str("source"), m.strings("options")};
    if (mount.destination.empty() || mount.destination[0] != '/')
      m.fail("destination", "must be an absolute path");
    c.mounts.push_back(mount);
  });
  if (auto l = top.object("linux")) c.linux = read_linux(*l);
  if (!c.hostname.empty() && !c.linux.find("uts"))
    top.fail("hostname", "needs a new uts namespace");
  if (auto h = top.object("hooks")) {
    c.hooks.prestart = read_hooks(*h, "prestart");
    c.hooks.create_runtime = read_hooks(*h, "createRuntime");
    c.hooks.create_container = read_hooks(*h, "createContainer");
    c.hooks.start_container = read_hooks(*h, "startContainer");
    c.hooks.poststart = read_hooks(*h, "poststart");
    c.hooks.poststop = read_hooks(*h, "poststop");
  }
  if (const json* a = top.get("annotations")) {
    if (!a->is_object()) top.fail("annotations", "must be an object of strings");
    for (const auto& [k, v] : a->items()) {
      if (!v.is_string()) top.fail("annotations", k + " must be a string");
      c.annotations[k] = v.get<std::string>();
    }
  }
  return c;
}

Process parse_process(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error("process.json: not valid JSON");
  return read_process(Fields(j, "process"));
}

Config load_config(const std::string& bundle) {
  std::string path = bundle + "/config.json";
  if (!is_regular_file(path)) throw Error("cannot read " + path + ": no such file");
  return parse_config(read_file(path), bundle);
}

}  // namespace coracle::oci_runtime

#include "image/registries_conf.h"

#include <dirent.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/store.h"

namespace coracle::image {
namespace {

std::string where(const std::string& path, const toml::node& node) {
  return path + ":" + std::to_string(node.source().begin.line);
}

std::string string_of(const std::string& path, const toml::node& node, const char* key) {
  if (auto s = node.value<std::string>()) return *s;
  throw Error(where(path, node) + ": " + key + " must be a string");
}

bool bool_of(const std::string& path, const toml::node& node, const char* key) {
  if (auto b = node.value<bool>()) return *b;
  throw Error(where(path, node) + ": " + key + " must be true or false");
}

std::vector<std::string> strings_of(const std::string& path, const toml::node& node,
                                    const char* key) {
  const toml::array* a = node.as_array();
  if (!a) throw Error(where(path, node) + ": " + key + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *a) out.push_back(string_of(path, item, key));
  return out;
}

void add_registry(RegistriesConf& conf, RegistryEntry entry) {
  // A later file's entry for the same prefix replaces the earlier one.
  auto same = [&](const RegistryEntry& e) { return e.prefix == entry.prefix; };
  conf.registries.erase(std::remove_if(conf.registries.begin(), conf.registries.end(), same),
                        conf.registries.end());
  conf.registries.push_back(std::move(entry));
}

RegistryEntry& entry_for(RegistriesConf& conf, const std::string& prefix) {
  for (auto& e : conf.registries)
    if (e.prefix == prefix) return e;
  conf.registries.push_back({prefix, prefix, false, false, {}});
  return conf.registries.back();
}

RegistryMirror parse_mirror(const std::string& path, const toml::node& node) {
  const toml::table* t = node.as_table();
  if (!t) throw Error(where(path, node) + ": a [[registry.mirror]] must be a table");
  RegistryMirror m;
  for (const auto& [key, value] : *t) {
    if (key == "location") {
      m.location = string_of(path, value, "location");
    } else if (key == "insecure") {
      m.insecure = bool_of(path, value, "insecure");
    } else if (key == "pull-from-mirror") {
      std::string v = string_of(path, value, "pull-from-mirror");
      if (v == "all" || v.empty())
        m.pull_from = RegistryMirror::PullFrom::kAll;
      else if (v == "digest-only")
        m.pull_from = RegistryMirror::PullFrom::kDigestOnly;
      else if (v == "tag-only")
        m.pull_from = RegistryMirror::PullFrom::kTagOnly;
      else
        throw Error(where(path, value) + ": pull-from-mirror must be all, digest-only or tag-only");
    }
  }
  if (m.location.empty()) throw Error(where(path, node) + ": a mirror needs a location");
  return m;
}

RegistryEntry parse_registry(const std::string& path, const toml::node& node) {
  const toml::table* t = node.as_table();
  if (!t) throw Error(where(path, node) + ": a [[registry]] must be a table");
  RegistryEntry e;
  bool digest_only = false;
  for (const auto& [key, value] : *t) {
    if (key == "prefix") {
      e.prefix = string_of(path, value, "prefix");
    } else if (key == "location") {
      e.location = string_of(path, value, "location");
    } else if (key == "insecure") {
      e.insecure = bool_of(path, value, "insecure");
    } else if (key == "blocked") {
      e.blocked = bool_of(path, value, "blocked");
    } else if (key == "mirror-by-digest-only") {
      digest_only = bool_of(path, value, "mirror-by-digest-only");
    } else if (key == "mirror") {
      const toml::array* a = value.as_array();
      if (!a) throw Error(where(path, value) + ": mirror must be an array of tables");
      for (const auto& m : *a) e.mirrors.push_back(parse_mirror(path, m));
    }
  }
  if (e.prefix.empty()) e.prefix = e.location;
  if (e.location.empty()) e.location = e.prefix;
  if (e.prefix.empty())
    throw Error(where(path, node) + ": a [[registry]] needs a prefix or location");
  if (e.prefix.rfind("*.", 0) == 0 && e.location != e.prefix && !e.location.empty() &&
      e.location.find('*') == std::string::npos)
    throw Error(where(path, node) + ": a wildcard prefix (" + e.prefix +
                ") cannot have a location of its own");
  if (digest_only)
    for (auto& m : e.mirrors) m.pull_from = RegistryMirror::PullFrom::kDigestOnly;
  return e;
}

std::vector<std::string> conf_files_in(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".conf") == 0)
      out.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Does prefix (a registry entry's) cover name ("host/ns/repo")?
size_t match_length(const std::string& prefix, const std::string& name) {
  if (prefix.rfind("*.", 0) == 0) {
    std::string host = name.substr(0, name.find('/'));
    std::string domain = prefix.substr(1);  // ".example.com"
    if (host.size() > domain.size() &&
        host.compare(host.size() - domain.size(), domain.size(), domain) == 0)
      return prefix.size();
    return 0;
  }
  if (name.rfind(prefix, 0) != 0) return 0;
  if (name.size() != prefix.size() && name[prefix.size()] != '/') return 0;
  return prefix.size();
}

Reference with_name(const Reference& ref, const std::string& name) {
  Reference out = parse_reference(name + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest));
  if (!ref.digest.empty() && !ref.tag.empty()) out.tag = ref.tag;
  return out;
}

}  // namespace

void merge_registries_file(RegistriesConf& conf, const std::string& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw Error(path + ":" + std::to_string(e.source().begin.line) + ": " +
                std::string(e.description()));
  }
  conf.files.push_back(path);
  log_debug("registries.conf: read " + path);
  if (auto* search = doc.get("unqualified-search-registries"))
    conf.search = strings_of(path, *search, "unqualified-search-registries");
  if (auto* mode = doc.get("short-name-mode")) {
    std::string m = string_of(path, *mode, "short-name-mode");
    if (m != "enforcing" && m != "permissive" && m != "disabled" && !m.empty())
      throw Error(where(path, *mode) +
                  ": short-name-mode must be enforcing, permissive or disabled");
    if (!m.empty()) conf.short_name_mode = m;
  }
  if (auto* aliases = doc.get("aliases")) {
    const toml::table* t = aliases->as_table();
    if (!t) throw Error(where(path, *aliases) + ": [aliases] must be a table");
    for (const auto& [key, value] : *t) {
      std::string target = string_of(path, value, "an alias");
      if (is_short_name(target))
        throw Error(where(path, value) + ": the alias " + std::string(key.str()) + " = " + target +
                    " must name a registry");
      conf.aliases[std::string(key.str())] = target;
    }
  }
  if (auto* regs = doc.get("registry")) {
    const toml::array* a = regs->as_array();
    if (!a)
      throw Error(where(path, *regs) + ": registry must be an array of tables ([[registry]])");
    for (const auto& r : *a) add_registry(conf, parse_registry(path, r));
  }
  // Version 1: [registries.search], [registries.insecure], [registries.block].
  if (auto* v1 = doc.get("registries"); v1 && v1->is_table()) {
    const toml::table& t = *v1->as_table();
    auto list = [&](const char* name) {
      std::vector<std::string> out;
      if (auto* sub = t.get(name); sub && sub->is_table())
        if (auto* regs = sub->as_table()->get("registries")) out = strings_of(path, *regs, name);
      return out;
    };
    if (auto s = list("search"); !s.empty()) conf.search = s;
    for (const auto& r : list("insecure")) entry_for(conf, r).insecure = true;
    for (const auto& r : list("block")) entry_for(conf, r).blocked = true;
  }
}

RegistriesConfSources registries_conf_sources() {
  RegistriesConfSources out;
  if (const char* env = getenv("CONTAINERS_REGISTRIES_CONF"); env && *env) {
    if (!path_exists(env))
      throw Error(std::string("CONTAINERS_REGISTRIES_CONF=") + env + ": no such file");
    out.files = out.watched = {env};
    return out;
  }
  std::string home = getenv("HOME") ? getenv("HOME") : "";
  std::string user = home.empty() ? "" : home + "/.config/containers/registries.conf";
  const std::string system = "/etc/containers/registries.conf";
  if (!user.empty() && path_exists(user))
    out.files.push_back(user);
  else if (path_exists(system))
    out.files.push_back(system);
  // Where a file appearing or going would change the list.
  if (!user.empty()) out.watched.push_back(user);
  out.watched.push_back(system);
  std::vector<std::string> dirs = {"/etc/containers/registries.conf.d"};
  if (!home.empty()) dirs.push_back(home + "/.config/containers/registries.conf.d");
  for (const auto& dir : dirs) {
    out.watched.push_back(dir);
    for (auto& f : conf_files_in(dir)) out.files.push_back(std::move(f));
  }
  return out;
}

RegistriesConf read_registries_conf(const RegistriesConfSources& sources) {
  RegistriesConf c;
  for (const auto& f : sources.files) merge_registries_file(c, f);
  return c;
}

const RegistriesConf& registries_conf(const Store& store) {
  static const RegistriesConf conf =
      cached_registries_conf(registries_conf_sources(), store.cache_path("registries-conf.json"));
  return conf;
}

bool is_short_name(std::string_view text) {
  text = text.substr(0, text.find('@'));
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return true;
  std::string_view first = text.substr(0, slash);
  return first.find('.') == std::string_view::npos && first.find(':') == std::string_view::npos &&
         first != "localhost";
}

std::vector<Reference> qualify(std::string_view text, const RegistriesConf& conf, bool for_lookup) {
  if (!is_short_name(text)) return {parse_reference(text)};
  // The name without its tag or digest, as aliases are written.
  std::string_view name = text.substr(0, text.find('@'));
  if (auto colon = name.rfind(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  std::string suffix(text.substr(name.size()));
  auto alias = conf.aliases.find(std::string(name));
  if (alias == conf.aliases.end() && name.rfind("library/", 0) != 0)
    alias = conf.aliases.find("library/" + std::string(name));
  if (alias != conf.aliases.end()) return {parse_reference(alias->second + suffix)};
  if (conf.search.empty()) return {parse_reference(text)};  // docker.io, as Docker
  std::vector<Reference> out;
  if (conf.search.size() > 1 && conf.short_name_mode == "enforcing" && !for_lookup) {
    std::string names;
    for (const auto& r : conf.search)
      names += (names.empty() ? "" : ", ") + r + "/" + std::string(name);
    throw Error("the short name '" + std::string(text) + "' could be any of " + names +
                " (unqualified-search-registries in " +
                (conf.files.empty() ? std::string("registries.conf") : conf.files.front()) +
                "; short-name-mode is enforcing): give the full name, add an alias, or set "
                "short-name-mode = \"permissive\" to try them in order");
  }
  for (const auto& r : conf.search) out.push_back(parse_reference(r + "/" + std::string(text)));
  return out;
}

std::vector<PullSource> pull_sources(const Reference& ref, const RegistriesConf& conf) {
  std::string name = ref.name();
  const RegistryEntry* best = nullptr;
  size_t best_len = 0;
  for (const auto& e : conf.registries) {
    size_t len = match_length(e.prefix, name);
    if (len > best_len) {
      best = &e;
      best_len = len;
    }
  }
  if (!best) return {{ref, false, false}};
  if (best->blocked)
    throw Error("the registry of " + ref.str() + " is blocked (blocked = true for \"" +
                best->prefix + "\" in " +
                (conf.files.empty() ? std::string("registries.conf") : conf.files.back()) + ")");
  // A wildcard entry keeps the name as it is.
  std::string rest = best->prefix.rfind("*.", 0) == 0 ? "" : name.substr(best_len);
  std::vector<PullSource> out;
  for (const auto& m : best->mirrors) {
    if (m.pull_from == RegistryMirror::PullFrom::kDigestOnly && ref.digest.empty()) continue;
    if (m.pull_from == RegistryMirror::PullFrom::kTagOnly && !ref.digest.empty()) continue;
    std::string at = best->prefix.rfind("*.", 0) == 0 ? m.location + name.substr(name.find('/'))
                                                      : m.location + rest;
    out.push_back({with_name(ref, at), m.insecure, true});
  }
  std::string at = best->prefix.rfind("*.", 0) == 0 ? name : best->location + rest;
  out.push_back({with_name(ref, at), best->insecure, false});
  return out;
}

}  // namespace coracle::image

// registries.conf as podman reads it (containers-registries.conf(5), v2
// TOML, and v1's [registries.search|insecure|block] lists): where a
// reference is pulled from (mirrors first, a prefix's location), which
// registries are insecure or blocked, and what a short name ("alpine",
// "me/app:1") means (aliases, unqualified-search-registries and
// short-name-mode).
//
// Files, as podman: $CONTAINERS_REGISTRIES_CONF alone if set; else
// $HOME/.config/containers/registries.conf if it exists, else
// /etc/containers/registries.conf; then the drop-ins of
// /etc/containers/registries.conf.d/ and ~/.config/containers/registries.conf.d/
// (*.conf, by name; a later [[registry]] of the same prefix replaces an
// earlier one, a later search list replaces the earlier one).
//
// Without any file (or without a search list) a short name means docker.io,
// as for Docker.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "image/reference.h"

namespace coracle::image {

struct RegistryMirror {
  std::string location;  // "mirror.local:5000" or "mirror.local:5000/ns"
  bool insecure = false;
  enum class PullFrom { kAll, kDigestOnly, kTagOnly } pull_from = PullFrom::kAll;
};

struct RegistryEntry {
  // What it applies to: "example.com", "example.com/ns/repo" or
  // "*.example.com"; the longest match wins.
  std::string prefix;
  std::string location;  // what prefix is replaced with (default: prefix)
  bool insecure = false, blocked = false;
  std::vector<RegistryMirror> mirrors;
};

struct RegistriesConf {
  std::vector<std::string> search;             // unqualified-search-registries
  std::string short_name_mode = "enforcing";   // or permissive, disabled
  std::map<std::string, std::string> aliases;  // short name → full name
  std::vector<RegistryEntry> registries;
  std::vector<std::string> files;  // the files read, for messages
};

class Store;

// Reads the files above once per process. Throws coracle::Error naming the
// file and the line of a syntax error or a bad value. The result is kept in
// the store (its cache/registries-conf.json) between runs and reused while
// none of its sources has changed (registries_conf_cache.cc): parsing the
// TOML costs every short-name exec ~0.2 ms. The first call's store is the
// one (a process works on one store).
const RegistriesConf& registries_conf(const Store& store);

// The files read, in order, and every place whose change (a file edited,
// made or removed, a drop-in added) changes the result.
struct RegistriesConfSources {
  std::vector<std::string> files;
  std::vector<std::string> watched;
};
RegistriesConfSources registries_conf_sources();
RegistriesConf read_registries_conf(const RegistriesConfSources& sources);
// read_registries_conf, through cache_file (registries_conf_cache.cc).
RegistriesConf cached_registries_conf(const RegistriesConfSources& sources,
                                      const std::string& cache_file);
// One file (and drop-ins merged by the caller): for the tests.
void merge_registries_file(RegistriesConf& conf, const std::string& path);

// Does text name no registry ("alpine", "me/app:1", "x@sha256:...")?
bool is_short_name(std::string_view text);

// The fully qualified references text may mean, in the order to try them:
// itself when it names a registry; else its alias, else each search
// registry (one; several when short-name-mode is permissive or disabled, or
// for_lookup: a look in the local store), else docker.io. Throws
// coracle::Error when enforcing mode leaves the choice open.
std::vector<Reference> qualify(std::string_view text, const RegistriesConf& conf,
                               bool for_lookup = false);

// One place to fetch ref from.
struct PullSource {
  Reference ref;  // ref with its registry and path as the source names them
  bool insecure = false;
  bool mirror = false;
};
// Where to pull ref from: its mirrors in order, then its location. Throws
// coracle::Error when registries.conf blocks it.
std::vector<PullSource> pull_sources(const Reference& ref, const RegistriesConf& conf);

}  // namespace coracle::image

// registries.conf's parsed result kept in the store between runs: parsing
// the TOML files (toml++, cold in every new process) costs each short-name
// exec ~0.2 ms, reading this JSON copy a fraction of it (the JSON parser is
// warm: the image's manifest and config come next).
//
// The copy says which sources it came from and each one's state: inode,
// size, modification and change time, or absence, for every file read and
// every place a file could appear (a new ~/.config/containers/registries.conf,
// a drop-in added). Any difference and the files are read again. As git
// does with its index, a copy is not written while a source is younger than
// a second: a file rewritten within one timestamp tick, same size and
// inode, would otherwise look unchanged.
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/registries_conf.h"

namespace coracle::image {
namespace {

using nlohmann::json;

constexpr int kCacheVersion = 1;

// Each source's state, one line each; *racy when one changed within the
// last second (or in the future).
std::string fingerprint(const RegistriesConfSources& sources, bool* racy) {
  std::string out;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  auto add = [&](const std::string& path) {
    struct stat st;
    char state[160];
    if (stat(path.c_str(), &st) < 0) {
      snprintf(state, sizeof state, "\t-\n");
    } else {
      snprintf(state, sizeof state, "\t%llu:%llu:%lld:%lld.%09ld:%lld.%09ld\n",
               static_cast<unsigned long long>(st.st_dev),
               static_cast<unsigned long long>(st.st_ino), static_cast<long long>(st.st_size),
               static_cast<long long>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec,
               static_cast<long long>(st.st_ctim.tv_sec), st.st_ctim.tv_nsec);
      for (const auto& t : {st.st_mtim, st.st_ctim})
        if (t.tv_sec >= now.tv_sec - 1) *racy = true;
    }
    out += path;
    out += state;
  };
  out += "files\n";
  for (const auto& p : sources.files) add(p);
  out += "watched\n";
  for (const auto& p : sources.watched) add(p);
  return out;
}

json to_json(const RegistriesConf& c) {
  json registries = json::array();
  for (const auto& r : c.registries) {
    json mirrors = json::array();
    for (const auto& m : r.mirrors)
      mirrors.push_back({{"location", m.location},
                         {"insecure", m.insecure},
                         {"pull_from", static_cast<int>(m.pull_from)}});
    registries.push_back({{"prefix", r.prefix},
                          {"location", r.location},
                          {"insecure", r.insecure},
                          {"blocked", r.blocked},
                          {"mirrors", mirrors}});
  }
  return {{"search", c.search},
          {"short_name_mode", c.short_name_mode},
          {"aliases", c.aliases},
          {"registries", registries},
          {"files", c.files}};
}

// Throws on anything unexpected: the caller then reads the files.
RegistriesConf from_json(const json& j) {
  RegistriesConf c;
  c.search = j.at("search").get<std::vector<std::string>>();
  c.short_name_mode = j.at("short_name_mode").get<std::string>();
  c.aliases = j.at("aliases").get<std::map<std::string, std::string>>();
  c.files = j.at("files").get<std::vector<std::string>>();
  for (const auto& r : j.at("registries")) {
    RegistryEntry e;
    e.prefix = r.at("prefix").get<std::string>();
    e.location = r.at("location").get<std::string>();
    e.insecure = r.at("insecure").get<bool>();
    e.blocked = r.at("blocked").get<bool>();
    for (const auto& m : r.at("mirrors")) {
      RegistryMirror mirror;
      mirror.location = m.at("location").get<std::string>();
      mirror.insecure = m.at("insecure").get<bool>();
      int from = m.at("pull_from").get<int>();
      if (from < 0 || from > static_cast<int>(RegistryMirror::PullFrom::kTagOnly))
        throw Error("bad pull_from");
      mirror.pull_from = static_cast<RegistryMirror::PullFrom>(from);
      e.mirrors.push_back(std::move(mirror));
    }
    c.registries.push_back(std::move(e));
  }
  return c;
}

}  // namespace

RegistriesConf cached_registries_conf(const RegistriesConfSources& sources,
                                      const std::string& cache_file) {
  // Taken before the files are read: a change while they are read shows as
  // a different state next time.
  bool racy = false;
  std::string state = fingerprint(sources, &racy);
  if (path_exists(cache_file)) {
    try {
      json j = json::parse(read_file(cache_file));
      if (j.at("version") == kCacheVersion && j.at("sources") == state) {
        RegistriesConf c = from_json(j.at("conf"));
        log_debug("registries.conf: the store's parsed copy (" + cache_file + ")");
        return c;
      }
    } catch (const std::exception&) {
      // Unreadable or of another shape: the files are read again below.
    }
  }
  RegistriesConf c = read_registries_conf(sources);
  if (racy) return c;
  try {
    std::string dir = cache_file.substr(0, cache_file.rfind('/'));
    mkdir_p(dir, 0755);
    write_file_atomic(
        cache_file,
        json{{"version", kCacheVersion}, {"sources", state}, {"conf", to_json(c)}}.dump());
  } catch (const Error& e) {
    // A read-only store still runs; it parses the files every time.
    log_debug(std::string("registries.conf: cannot keep the parsed copy: ") + e.what());
  }
  return c;
}

}  // namespace coracle::image

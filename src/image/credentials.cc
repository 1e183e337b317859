#include "image/credentials.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/credential_helper.h"

namespace coracle::image {
namespace {

std::string base64_encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;
  out.resize(len);
  return out;
}

std::string env(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

std::string docker_config_path() {
  std::string dir = env("DOCKER_CONFIG");
  if (dir.empty()) dir = env("HOME") + "/.docker";
  return dir + "/config.json";
}

// The files to search, most specific first: podman's, then docker's.
std::vector<std::string> auth_files() {
  std::vector<std::string> files;
  if (auto f = env("REGISTRY_AUTH_FILE"); !f.empty()) files.push_back(f);
  if (auto d = env("XDG_RUNTIME_DIR"); !d.empty())
    files.push_back(d + "/containers/auth.json");
  else  // podman's place for root, and for a user without XDG_RUNTIME_DIR
    files.push_back("/run/containers/" + std::to_string(getuid()) + "/auth.json");
  if (auto h = env("HOME"); !h.empty()) files.push_back(h + "/.config/containers/auth.json");
  files.push_back(docker_config_path());
  return files;
}

std::string file_key(const std::string& registry) {
  return registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
}

nlohmann::json load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return nlohmann::json::object();
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw Error(path + " is not valid JSON; fix or remove it");
  return j;
}

}  // namespace

std::string registry_host(std::string key) {
  if (auto p = key.find("://"); p != std::string::npos) key = key.substr(p + 3);
  if (auto p = key.find('/'); p != std::string::npos) key = key.substr(0, p);
  if (key == "index.docker.io" || key == "registry-1.docker.io") key = "docker.io";
  return key;
}

std::string basic_authorization(const Credential& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

namespace {

// A helper the file names for registry: its credHelpers entry (or, with
// all = true, its credsStore, the helper for every registry).
std::string helper_for(const nlohmann::json& j, const std::string& registry, bool all) {
  if (!all && j.contains("credHelpers") && j["credHelpers"].is_object())
    for (const auto& [key, name] : j["credHelpers"].items())
      if (registry_host(key) == registry && name.is_string()) return name.get<std::string>();
  if (all && j.contains("credsStore") && j["credsStore"].is_string())
    return j["credsStore"].get<std::string>();
  return "";
}

// The login the file's "auths" hold for registry.
std::optional<Credential> from_auths(const nlohmann::json& j, const std::string& path,
                                     const std::string& registry) {
  for (const auto& [key, entry] : j["auths"].items()) {
    if (registry_host(key) != registry || !entry.is_object()) continue;
    if (entry.contains("auth") && entry["auth"].is_string()) {
      auto decoded = base64_decode(entry["auth"].get<std::string>());
      auto colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos)
        throw Error(path + ": the credential for " + key + " is not base64(user:password)");
      return Credential{decoded->substr(0, colon), decoded->substr(colon + 1)};
    }
    if (entry.contains("username") && entry.contains("password"))
      return Credential{entry.value("username", ""), entry.value("password", "")};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Credential> find_credential(const std::string& registry) {
  for (const auto& path : auth_files()) {
    nlohmann::json j = load(path);
    // As docker: the registry's own helper first, then the file's logins,
    // then its store for every registry.
    if (auto helper = helper_for(j, registry, false); !helper.empty()) {
      log_debug("login for " + registry + ": asking docker-credential-" + helper + " (" + path +
                ")");
      if (auto c = run_credential_helper(helper, file_key(registry))) return c;
    }
    std::optional<Credential> found;
    if (j.contains("auths") && j["auths"].is_object()) found = from_auths(j, path, registry);
    if (found) {
      log_debug("login for " + registry + ": from " + path);
      return found;
    }
    if (auto helper = helper_for(j, registry, true); !helper.empty()) {
      log_debug("login for " + registry + ": asking docker-credential-" + helper + " (" + path +
                ")");
      if (auto c = run_credential_helper(helper, file_key(registry))) return c;
    }
  }
  return std::nullopt;
}

namespace {
std::string write_target() {
  auto f = env("REGISTRY_AUTH_FILE");
  return f.empty() ? docker_config_path() : f;
}

void store(const std::string& path, const nlohmann::json& j) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) mkdir_p(path.substr(0, slash), 0700);
  // Passwords: readable by the owner only, and replaced all at once.
  write_file_atomic(path, j.dump(1, '\t') + "\n", 0600);
}
}  // namespace

std::string save_credential(const std::string& registry, const Credential& c) {
  std::string path = write_target();
  nlohmann::json j = load(path);
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = nlohmann::json::object();
  // One entry per host: drop other spellings of it first.
  for (auto it = j["auths"].begin(); it != j["auths"].end();)
    it = registry_host(it.key()) == registry ? j["auths"].erase(it) : std::next(it);
  j["auths"][file_key(registry)] = {{"auth", base64_encode(c.username + ":" + c.password)}};
  store(path, j);
  return path;
}

bool remove_credential(const std::string& registry, std::string& path) {
  path = write_target();
  nlohmann::json j = load(path);
  if (!j.contains("auths") || !j["auths"].is_object()) return false;
  bool found = false;
  for (auto it = j["auths"].begin(); it != j["auths"].end();) {
    if (registry_host(it.key()) == registry) {
      it = j["auths"].erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  if (found) store(path, j);
  return found;
}

}  // namespace coracle::image

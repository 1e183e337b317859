// The TLS trust the caller's environment configures (a proxy that
// re-signs HTTPS, a company CA): a build's RUN and an assistant fetch
// packages through the host's network, so they get it too, as the host's
// own tools do. Each of the usual variables (SSL_CERT_FILE,
// NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, PIP_CERT, CURL_CA_BUNDLE,
// GIT_SSL_CAINFO) that names a file of PEM certificates gives the sandbox
// that file (generated, read-only, on its /dev: in no layer) and the
// variable pointing at it, unless the image sets it itself. Nothing on a
// host that sets none.
#include <sys/stat.h>

#include <cstdlib>
#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "launch/launch.h"

namespace coracle::launch {
namespace {

constexpr const char* kTrustVariables[] = {"SSL_CERT_FILE",      "NODE_EXTRA_CA_CERTS",
                                           "REQUESTS_CA_BUNDLE", "PIP_CERT",
                                           "CURL_CA_BUNDLE",     "GIT_SSL_CAINFO"};
constexpr off_t kMaxBundle = 8 << 20;

// Certificates only: a variable that names anything else (a key, a
// secret) gives the sandbox nothing.
bool is_certificate_bundle(const std::string& text) {
  return text.find("-----BEGIN CERTIFICATE-----") != std::string::npos &&
         text.find("PRIVATE KEY") == std::string::npos;
}

bool env_sets(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env)
    if (e.compare(0, name.size() + 1, name + "=") == 0) return true;
  return false;
}

}  // namespace

void add_host_trust(sandbox::Spec& spec) {
  std::map<std::string, std::string> target_of;  // host file → sandbox path
  for (const char* name : kTrustVariables) {
    const char* path = std::getenv(name);
    struct stat st;
    if (!path || !*path || env_sets(spec.env, name) || stat(path, &st) < 0 ||
        !S_ISREG(st.st_mode) || st.st_size > kMaxBundle)
      continue;
    auto it = target_of.find(path);
    if (it == target_of.end()) {
      std::string text;
      try {
        text = read_file(path);
      } catch (const Error&) {
        continue;
      }
      if (!is_certificate_bundle(text)) continue;
      std::string target = "/dev/.coracle-host-ca-" + std::to_string(target_of.size()) + ".pem";
      spec.generated_files.push_back({target, std::move(text), 0444});
      it = target_of.emplace(path, target).first;
    }
    spec.env.push_back(std::string(name) + "=" + it->second);
  }
}

}  // namespace coracle::launch

#include "builder/stage_state.h"

#include <ctime>

#include "builder/layered_fs.h"
#include "common/error.h"
#include "common/parse.h"

namespace coracle::builder {

using nlohmann::json;

json& StageState::run_config() {
  if (!config.contains("config") || !config["config"].is_object())
    config["config"] = json::object();
  return config["config"];
}

std::string StageState::working_dir() {
  auto& c = run_config();
  std::string wd = c.value("WorkingDir", "");
  return wd.empty() ? "/" : wd;
}

std::string StageState::user() {
  return run_config().value("User", "");
}

std::vector<std::string> StageState::diff_ids() const {
  std::vector<std::string> out;
  if (config.contains("rootfs") && config["rootfs"].contains("diff_ids"))
    for (const auto& d : config["rootfs"]["diff_ids"]) out.push_back(d.get<std::string>());
  return out;
}

void StageState::add_layer(const image::Descriptor& blob, const std::string& diff_id) {
  layers.push_back(blob);
  config["rootfs"]["type"] = "layers";
  config["rootfs"]["diff_ids"].push_back(diff_id);
}

void StageState::add_history(const std::string& created_by, bool empty_layer, int64_t when) {
  json h = {{"created", rfc3339(when)}, {"created_by", created_by}, {"comment", "coracle build"}};
  if (empty_layer) h["empty_layer"] = true;
  if (!config.contains("history") || !config["history"].is_array())
    config["history"] = json::array();
  config["history"].push_back(std::move(h));
  if (when > created) created = when;
}

image::Manifest StageState::manifest() const {
  image::Manifest m;
  m.media_type = std::string(image::media::kOciManifest);
  m.config.media_type = std::string(image::media::kOciConfig);
  m.layers = layers;
  return m;
}

image::ImageConfig StageState::image_config() const {
  image::ImageConfig c;
  c.diff_ids = diff_ids();
  return c;
}

StageState scratch_state() {
  StageState s;
  image::Platform p = image::host_platform();
  s.config = {{"architecture", p.architecture},
              {"os", p.os},
              {"config", json::object()},
              {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
              {"history", json::array()}};
  if (!p.variant.empty()) s.config["variant"] = p.variant;
  return s;
}

std::string rfc3339(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t parse_rfc3339(const std::string& text) {
  struct tm tm {};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  int64_t t = static_cast<int64_t>(timegm(&tm));
  if (*rest == '.')
    while (isdigit(static_cast<unsigned char>(*++rest))) {
    }
  int sign = *rest == '+' ? 1 : *rest == '-' ? -1 : 0;
  int hh = 0, mm = 0;
  if (sign && sscanf(rest + 1, "%d:%d", &hh, &mm) == 2) t -= sign * (hh * 3600 + mm * 60);
  return t;
}

namespace {

// Words of KEY=VALUE pairs (ENV, LABEL, ARG): the key cut off before the
// value is expanded, quotes removed from both.
std::vector<std::pair<std::string, std::string>> key_values(const Instruction& ins,
                                                            const BuildScope& scope,
                                                            const std::string& where,
                                                            bool legacy_space_form) {
  std::vector<std::pair<std::string, std::string>> out;
  auto words = scope.words().split(ins.args);
  auto lookup = scope.lookup_fn();
  if (words.empty()) throw Error(where + ": " + ins.keyword + " needs at least one argument");
  if (legacy_space_form && words[0].find('=') == std::string::npos) {
    // ENV KEY value with spaces: the old form, one variable.
    std::string rest = ins.args.substr(ins.args.find(words[0]) + words[0].size());
    size_t start = rest.find_first_not_of(" \t");
    rest = start == std::string::npos ? "" : rest.substr(start);
    // BuildKit's parser refuses ENV PATH (no value, no '=').
    if (rest.empty()) throw Error(where + ": " + ins.keyword + " " + words[0] + " has no value");
    out.emplace_back(scope.words().expand(words[0], lookup), scope.words().expand(rest, lookup));
    return out;
  }
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos) {
      if (ins.keyword == "ARG") {
        out.emplace_back(scope.words().expand(w, lookup), std::string("\x01"));  // no default
        continue;
      }
      throw Error(where + ": " + ins.keyword + " expects KEY=VALUE, got '" + w + "'");
    }
    std::string key = scope.words().expand(w.substr(0, eq), lookup);
    if (key.empty()) throw Error(where + ": " + ins.keyword + " has an empty name in '" + w + "'");
    // An ARG's default is expanded once, by BuildScope::declare_arg, and
    // only when no --build-arg gives the value (as BuildKit does):
    // ARG T='$HOME' is "$HOME"; ARG B=${A:?} with --build-arg B=1 is fine.
    out.emplace_back(key, ins.keyword == "ARG" ? w.substr(eq + 1)
                                               : scope.words().expand(w.substr(eq + 1), lookup));
  }
  return out;
}

std::vector<std::string> shell_or_exec(const Instruction& ins, const StageState& st) {
  if (ins.exec_form) return *ins.exec_form;
  std::vector<std::string> argv = st.shell;
  argv.push_back(ins.args);
  return argv;
}

int64_t duration_ns(const std::string& text, const std::string& where) {
  try {
    return static_cast<int64_t>(parse_duration(text).count()) * 1000000;
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace

std::string apply_metadata(const Instruction& ins, BuildScope& scope, StageState& st,
                           const std::string& where) {
  auto& c = st.run_config();
  auto lookup = scope.lookup_fn();
  const std::string& kw = ins.keyword;
  std::string resolved;
  if (kw == "ENV") {
    for (auto& [k, v] : key_values(ins, scope, where, true)) {
      scope.set_env(k, v);
      resolved += k + "=" + v + "\n";
    }
    c["Env"] = scope.image_env();
  } else if (kw == "ARG") {
    for (auto& [k, v] : key_values(ins, scope, where, false)) {
      scope.declare_arg(k, v == "\x01" ? std::nullopt : std::optional<std::string>(v));
      resolved += k + "=" + scope.lookup(k).value_or("<unset>") + "\n";
    }
  } else if (kw == "LABEL") {
    if (!c.contains("Labels") || !c["Labels"].is_object()) c["Labels"] = json::object();
    for (auto& [k, v] : key_values(ins, scope, where, true)) {
      c["Labels"][k] = v;
      resolved += k + "=" + v + "\n";
    }
  } else if (kw == "MAINTAINER") {
    st.config["author"] = scope.words().expand(ins.args, lookup);
    resolved = st.config["author"];
  } else if (kw == "EXPOSE") {
    if (!c.contains("ExposedPorts") || !c["ExposedPorts"].is_object())
      c["ExposedPorts"] = json::object();
    for (auto& w : scope.words().expand_words(ins.args, lookup)) {
      std::string port = w, proto = "tcp";
      if (auto slash = w.find('/'); slash != std::string::npos) {
        port = w.substr(0, slash);
        proto = w.substr(slash + 1);
        for (auto& ch : proto) ch = static_cast<char>(tolower(ch));
      }
      if (proto != "tcp" && proto != "udp" && proto != "sctp")
        throw Error(where + ": EXPOSE " + w + ": the protocol must be tcp, udp or sctp");
      uint64_t n = 0;
      try {
        n = parse_uint(port, "port");
      } catch (const Error&) {
        throw Error(where + ": EXPOSE " + w + ": not a port number");
      }
      if (n < 1 || n > 65535) throw Error(where + ": EXPOSE " + w + ": ports are 1-65535");
      c["ExposedPorts"][port + "/" + proto] = json::object();
      resolved += port + "/" + proto + " ";
    }
  } else if (kw == "ONBUILD") {
    // Kept as written (BuildKit does not expand it now: the image built
    // FROM this one does, in its own scope).
    if (!c.contains("OnBuild") || !c["OnBuild"].is_array()) c["OnBuild"] = json::array();
    c["OnBuild"].push_back(ins.args);
    resolved = ins.args;
  } else if (kw == "USER") {
    resolved = scope.words().expand(ins.args, lookup);
    c["User"] = resolved;
  } else if (kw == "WORKDIR") {
    std::string wd = scope.words().expand(ins.args, lookup);
    if (wd.empty()) throw Error(where + ": WORKDIR needs a path");
    wd = clean_path(wd[0] == '/' ? wd : st.working_dir() + "/" + wd);
    c["WorkingDir"] = wd;
    resolved = wd;
  } else if (kw == "CMD") {
    c["Cmd"] = shell_or_exec(ins, st);
    st.cmd_set = true;
  } else if (kw == "ENTRYPOINT") {
    c["Entrypoint"] = shell_or_exec(ins, st);
    // An inherited CMD was meant for the base's entrypoint, not this one.
    if (!st.cmd_set) c["Cmd"] = nullptr;
  } else if (kw == "SHELL") {
    if (!ins.exec_form || ins.exec_form->empty())
      throw Error(where + ": SHELL needs a JSON array, e.g. SHELL [\"/bin/bash\", \"-c\"]");
    st.shell = *ins.exec_form;
    c["Shell"] = st.shell;
  } else if (kw == "STOPSIGNAL") {
    resolved = scope.words().expand(ins.args, lookup);
    c["StopSignal"] = resolved;
  } else if (kw == "VOLUME") {
    if (!c.contains("Volumes") || !c["Volumes"].is_object()) c["Volumes"] = json::object();
    std::vector<std::string> vols =
        ins.exec_form ? *ins.exec_form : scope.words().expand_words(ins.args, lookup);
    if (vols.empty()) throw Error(where + ": VOLUME needs a path");
    for (auto& v : vols) {
      if (v.empty() || v[0] != '/') throw Error(where + ": VOLUME " + v + " must be absolute");
      c["Volumes"][v] = json::object();
      resolved += v + " ";
    }
  } else if (kw == "HEALTHCHECK") {
    json hc = json::object();
    std::string first = ins.args.substr(0, ins.args.find_first_of(" \t"));
    for (auto& ch : first) ch = static_cast<char>(toupper(ch));
    if (first == "NONE" && !ins.exec_form) {
      hc["Test"] = {"NONE"};
    } else {
      if (ins.exec_form && !ins.exec_form->empty() && (*ins.exec_form)[0] != "CMD")
        throw Error(where + ": HEALTHCHECK needs CMD or NONE");
      if (ins.exec_form) {
        hc["Test"] = *ins.exec_form;
      } else {
        if (first != "CMD") throw Error(where + ": HEALTHCHECK needs CMD or NONE");
        std::string rest = ins.args.substr(3);
        size_t start = rest.find_first_not_of(" \t");
        rest = start == std::string::npos ? "" : rest.substr(start);
        // CMD ["x", "y"] after the keyword: exec form of the check.
        json parsed = json::parse(rest, nullptr, false);
        if (parsed.is_array()) {
          json test = {"CMD"};
          for (auto& a : parsed) test.push_back(a);
          hc["Test"] = test;
        } else {
          if (rest.empty()) throw Error(where + ": HEALTHCHECK CMD needs a command");
          hc["Test"] = {"CMD-SHELL", rest};
        }
      }
      for (const char* f : {"interval", "timeout", "start-period", "start-interval"}) {
        if (auto v = ins.flag(f)) {
          std::string key = f == std::string("interval")       ? "Interval"
                            : f == std::string("timeout")      ? "Timeout"
                            : f == std::string("start-period") ? "StartPeriod"
                                                               : "StartInterval";
          hc[key] = duration_ns(*v, where);
        }
      }
      if (auto r = ins.flag("retries")) {
        try {
          hc["Retries"] = parse_uint(*r, "retries");
        } catch (const Error& e) {
          throw Error(where + ": " + e.what());
        }
      }
    }
    c["Healthcheck"] = hc;
    resolved = hc.dump();
  } else {
    throw Error(where + ": " + kw + " is not a metadata instruction");
  }
  return resolved;
}

}  // namespace coracle::builder

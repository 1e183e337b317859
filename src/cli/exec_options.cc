#include "cli/exec_options.h"

#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"

namespace coracle::cli {
namespace {}  // namespace

std::vector<std::string> env_from_flags(const std::vector<std::string>& env,
                                        const std::vector<std::string>& env_files) {
  std::vector<std::string> out;
  for (const auto& file : env_files)
    for (const auto& e : parse_env_file(read_file(file))) out.push_back(e);
  for (const auto& e : env) {
    if (e.empty() || e[0] == '=') throw Error("invalid -e '" + e + "': use K=V or K");
    if (e.find('=') != std::string::npos) {
      out.push_back(e);
    } else if (const char* v = std::getenv(e.c_str())) {
      out.push_back(e + "=" + v);  // -e K passes the host's value, like docker
    }
  }
  return out;
}

sandbox::BindMount parse_volume(const std::string& text) {
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw Error("invalid volume '" + text + "': use SRC:DST[:ro] or NAME:DST[:ro]");
  sandbox::BindMount m{absolute_path(parts[0]), parts[1], false};
  // A bare name is a named volume, as Docker has it (./NAME is a folder):
  // resolved to its data when the run starts (launch::lease_volumes).
  if (volume::is_volume_name(parts[0])) {
    m.source = parts[0];
    m.sandbox_owned = true;
  }
  if (parts.size() == 3) {
    if (parts[2] == "ro")
      m.read_only = true;
    else if (parts[2] != "rw")
      throw Error("invalid volume option '" + parts[2] + "': use ro or rw");
  }
  return m;
}

sandbox::DeviceMount parse_device(const std::string& text) {
  auto parts = split(text, ':');
  auto is_perms = [](const std::string& p) {
    return !p.empty() && p.find_first_not_of("rwm") == std::string::npos;
  };
  sandbox::DeviceMount d;
  if (parts.empty() || parts.size() > 3 || parts[0].empty() || parts[0][0] != '/' ||
      (parts.size() == 3 && !is_perms(parts[2])))
    throw Error("invalid --device '" + text + "': use /dev/HOST[:/dev/CONTAINER][:rwm]");
  d.source = parts[0];
  if (parts.size() >= 2 && !(parts.size() == 2 && is_perms(parts[1]))) {
    if (parts[1].empty() || parts[1][0] != '/')
      throw Error("invalid --device '" + text + "': the container path must be absolute");
    d.target = parts[1];
  }
  if (is_perms(parts.back()) && parts.size() >= 2) d.perms = parts.back();
  return d;
}

sandbox::TmpfsMount parse_tmpfs(const std::string& text) {
  sandbox::TmpfsMount t;
  auto colon = text.find(':');
  t.target = text.substr(0, colon);
  if (t.target.empty() || t.target[0] != '/')
    throw Error("invalid --tmpfs '" + text + "': use /PATH[:size=N,mode=M,ro,noexec]");
  if (colon == std::string::npos) return t;
  for (const auto& opt : split(text.substr(colon + 1), ',')) {
    if (opt.rfind("size=", 0) == 0) {
      t.size_bytes = parse_bytes(opt.substr(5));
    } else if (opt.rfind("mode=", 0) == 0) {
      char* end = nullptr;
      unsigned long mode = std::strtoul(opt.c_str() + 5, &end, 8);
      if (*end || opt.size() == 5 || mode > 07777)
        throw Error("invalid --tmpfs mode '" + opt.substr(5) + "': an octal mode like 1777");
      t.mode = static_cast<unsigned>(mode);
    } else if (opt == "ro" || opt == "rw") {
      t.read_only = opt == "ro";
    } else if (opt == "noexec" || opt == "exec") {
      t.noexec = opt == "noexec";
    } else if (opt != "nosuid" && opt != "nodev") {  // always so
      throw Error("invalid --tmpfs option '" + opt + "': use size=, mode=, ro, noexec");
    }
  }
  return t;
}

sandbox::Rlimit parse_ulimit(const std::string& text) {
  static const std::map<std::string, int> kNames = {{"core", RLIMIT_CORE},
                                                    {"cpu", RLIMIT_CPU},
                                                    {"data", RLIMIT_DATA},
                                                    {"fsize", RLIMIT_FSIZE},
                                                    {"locks", RLIMIT_LOCKS},
                                                    {"memlock", RLIMIT_MEMLOCK},
                                                    {"msgqueue", RLIMIT_MSGQUEUE},
                                                    {"nice", RLIMIT_NICE},
                                                    {"nofile", RLIMIT_NOFILE},
                                                    {"nproc", RLIMIT_NPROC},
                                                    {"rss", RLIMIT_RSS},
                                                    {"rtprio", RLIMIT_RTPRIO},
                                                    {"sigpending", RLIMIT_SIGPENDING},
                                                    {"stack", RLIMIT_STACK},
                                                    {"as", RLIMIT_AS}};
  auto eq = text.find('=');
  auto it = kNames.find(text.substr(0, eq));
  if (eq == std::string::npos || it == kNames.end())
    throw Error("invalid --ulimit '" + text + "': use NAME=SOFT[:HARD], e.g. nofile=1024:4096");
  auto values = split(text.substr(eq + 1), ':');
  auto value = [](const std::string& v) {
    return v == "unlimited" || v == "-1" ? RLIM_INFINITY
                                         : static_cast<rlim_t>(parse_uint(v, "ulimit"));
  };
  rlim_t soft = value(values[0]);
  rlim_t hard = values.size() > 1 ? value(values[1]) : soft;
  if (soft > hard) throw Error("invalid --ulimit '" + text + "': soft limit above hard limit");
  return {it->second, soft, hard};
}

launch::ProcessOverrides process_overrides(const ExecFlags& f) {
  launch::ProcessOverrides o;
  if (f.entrypoint) {
    // '' clears it; a JSON array gives several words (podman's form);
    // anything else is one program, as docker takes it.
    const std::string& e = *f.entrypoint;
    if (e.empty()) {
      o.entrypoint.emplace();
    } else if (e[0] == '[') {
      auto j = nlohmann::json::parse(e, nullptr, false);
      if (!j.is_array() || j.empty())
        throw Error("invalid --entrypoint: a JSON array of strings, or one program");
      o.entrypoint.emplace();
      for (const auto& w : j) {
        if (!w.is_string())
          throw Error("invalid --entrypoint: a JSON array of strings, or one program");
        o.entrypoint->push_back(w.get<std::string>());
      }
    } else {
      o.entrypoint = std::vector<std::string>{e};
    }
  }
  o.command = f.command;
  // A terminal's programs want to know what it is: the caller's TERM (-e
  // may still say otherwise).
  if (f.tty) {
    const char* term = std::getenv("TERM");
    o.env.push_back(std::string("TERM=") + (term && *term ? term : "xterm"));
  }
  o.user = f.user;
  o.workdir = f.workdir;
  o.hostname = f.hostname;
  for (auto& e : env_from_flags(f.env, f.env_files)) o.env.push_back(std::move(e));
  return o;
}

sandbox::Spec spec_from_flags(const ExecFlags& f, const image::ImageConfig* config,
                              const launch::UserDb& users) {
  sandbox::Spec spec;
  launch::apply_process(spec, config, process_overrides(f), users);
  apply_sandbox_flags(spec, f);
  return spec;
}

void apply_sandbox_flags(sandbox::Spec& spec, const ExecFlags& f) {
  spec.net = sandbox::parse_net_mode(f.net);
  if (!f.in_dir.empty()) spec.in_dir = absolute_path(f.in_dir);
  if (!f.out_dir.empty()) spec.out_dir = absolute_path(f.out_dir);
  for (const auto& v : f.volumes) spec.volumes.push_back(parse_volume(v));
  for (const auto& t : f.tmpfs) spec.tmpfs.push_back(parse_tmpfs(t));
  for (const auto& d : f.devices) spec.devices.push_back(parse_device(d));
  spec.read_only_rootfs = f.read_only;
  spec.tty = f.tty;
  spec.tty_input = f.tty && f.interactive;
  spec.cap_add = f.cap_add;
  spec.cap_drop = f.cap_drop;
  std::string seccomp = f.seccomp;
  for (const auto& opt : f.security_opts) {
    std::string key = opt.substr(0, opt.find_first_of("=:"));
    std::string value = key.size() < opt.size() ? opt.substr(key.size() + 1) : "";
    if (key == "seccomp" && !value.empty()) {
      if (!seccomp.empty() && seccomp != value)
        throw Error("--security-opt " + opt + " and --seccomp " + seccomp + " disagree");
      seccomp = value;
    } else if (key == "no-new-privileges" && (value.empty() || value == "true")) {
      // Always set by coracle.
    } else if ((key == "label" && value == "disable") ||
               (key == "apparmor" && value == "unconfined")) {
      // Neither SELinux nor AppArmor confines coracle's sandboxes: nothing to undo.
    } else {
      throw Error("--security-opt " + opt +
                  ": not supported (seccomp=unconfined|PROFILE, no-new-privileges, "
                  "label=disable and apparmor=unconfined are)");
    }
  }
  spec.seccomp_profile = seccomp == "unconfined" ? "unconfined" : absolute_path(seccomp);
  if (!f.memory.empty()) spec.limits.memory_bytes = parse_bytes(f.memory);
  if (!f.upper_size.empty()) spec.upper_size_bytes = parse_bytes(f.upper_size);
  if (!f.tmp_size.empty()) spec.tmp_size_bytes = parse_bytes(f.tmp_size);
  if (!f.pids.empty()) spec.limits.pids = parse_uint(f.pids, "--pids");
  if (!f.cpus.empty()) {
    char* end = nullptr;
    double cpus = std::strtod(f.cpus.c_str(), &end);
    if (*end || cpus <= 0) throw Error("invalid --cpus '" + f.cpus + "': use a number like 0.5");
    spec.limits.cpus = cpus;
  }
  for (const auto& u : f.ulimits) spec.rlimits.push_back(parse_ulimit(u));
  if (!f.timeout.empty()) spec.timeout = parse_duration(f.timeout);
  launch::add_etc_files(spec, f.etc);
}

}  // namespace coracle::cli

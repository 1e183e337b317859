#include "cli/exec_options.h"

#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <map>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"

namespace coracle::cli {
namespace {}  // namespace

sandbox::BindMount parse_volume(const std::string& text) {
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw Error("invalid volume '" + text + "': use SRC:DST[:ro]");
  sandbox::BindMount m{absolute_path(parts[0]), parts[1], false};
  if (parts.size() == 3) {
    if (parts[2] == "ro")
      m.read_only = true;
    else if (parts[2] != "rw")
      throw Error("invalid volume option '" + parts[2] + "': use ro or rw");
  }
  return m;
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

sandbox::Spec make_spec(const ExecFlags& f, const ImageDefaults& image) {
  sandbox::Spec spec;
  const image::ImageConfig* cfg = image.config;
  if (cfg) {
    // Docker's rule: ENTRYPOINT stays, the given command replaces CMD.
    spec.argv = cfg->entrypoint;
    const auto& args = f.command.empty() ? cfg->cmd : f.command;
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    if (spec.argv.empty())
      throw Error("the image has neither ENTRYPOINT nor CMD; give a command after --");
  } else {
    spec.argv = f.command.empty() ? std::vector<std::string>{"/bin/sh"} : f.command;
  }
  std::string user = !f.user.empty() ? f.user : cfg ? cfg->user : "";
  if (!user.empty()) std::tie(spec.uid, spec.gid) = parse_user(user, image.passwd, image.group);
  spec.hostname = f.hostname;
  spec.net = sandbox::parse_net_mode(f.net);

  // The environment a shell in an image expects; -e and --env-file override.
  spec.env = {std::string("PATH=") + sandbox::kDefaultPath,
              std::string("HOME=") + (spec.uid == 0 ? "/root" : "/"), "HOSTNAME=" + f.hostname};
  if (cfg)
    for (const auto& e : cfg->env)
      if (e.find('=') != std::string::npos) set_env(spec.env, e);
  for (const auto& file : f.env_files)
    for (const auto& e : parse_env_file(read_file(file))) set_env(spec.env, e);
  for (const auto& e : f.env) {
    if (e.empty() || e[0] == '=') throw Error("invalid -e '" + e + "': use K=V or K");
    if (e.find('=') != std::string::npos) {
      set_env(spec.env, e);
    } else if (const char* v = std::getenv(e.c_str())) {
      set_env(spec.env, e + "=" + v);  // -e K passes the host's value, like docker
    }
  }
  spec.workdir = !f.workdir.empty()                 ? f.workdir
                 : cfg && !cfg->working_dir.empty() ? cfg->working_dir
                                                    : "/";
  if (!f.in_dir.empty()) spec.in_dir = absolute_path(f.in_dir);
  if (!f.out_dir.empty()) spec.out_dir = absolute_path(f.out_dir);
  for (const auto& v : f.volumes) spec.volumes.push_back(parse_volume(v));
  spec.read_only_rootfs = f.read_only;
  spec.cap_add = f.cap_add;
  spec.cap_drop = f.cap_drop;
  spec.seccomp_profile = f.seccomp == "unconfined" ? "unconfined" : absolute_path(f.seccomp);
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
  return spec;
}

}  // namespace coracle::cli

// Docker's rules for the process of a container: what runs, with which
// environment, as whom, where.
#include "common/error.h"
#include "common/parse.h"
#include "image/image_user.h"
#include "launch/launch.h"

namespace coracle::launch {
namespace {

// ENTRYPOINT + CMD as the overrides leave them: a new command replaces
// CMD; a new entrypoint replaces ENTRYPOINT and drops the image's CMD.
std::vector<std::string> command_line(const image::ImageConfig* config, const ProcessOverrides& o) {
  std::vector<std::string> argv, cmd;
  if (o.entrypoint) {
    argv = *o.entrypoint;
    cmd = o.command;
  } else if (config) {
    argv = config->entrypoint;
    cmd = o.command.empty() ? config->cmd : o.command;
  } else {
    cmd = o.command.empty() ? std::vector<std::string>{"/bin/sh"} : o.command;
  }
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (argv.empty())
    throw Error(config ? "the image has neither ENTRYPOINT nor CMD; give a command after --"
                       : "no command to run");
  return argv;
}

// The home directory of uid in the rootfs's passwd; "/" when it has none
// (Docker's rule), "/root" for root without an entry.
std::string home_of(uint32_t uid, const std::string& passwd) {
  for (const auto& line : split(passwd, '\n')) {
    auto f = split(line, ':');
    if (f.size() >= 6 && f[2] == std::to_string(uid) && !f[5].empty()) return f[5];
  }
  return uid == 0 ? "/root" : "/";
}

}  // namespace

void apply_process(sandbox::Spec& spec, const image::ImageConfig* config, const ProcessOverrides& o,
                   const UserDb& users) {
  spec.argv = command_line(config, o);
  std::string user = !o.user.empty() ? o.user : config ? config->user : "";
  if (!user.empty())
    std::tie(spec.uid, spec.gid) = image::parse_user(user, users.passwd, users.group);
  spec.hostname = o.hostname;
  // The environment a shell in an image expects, then the image's own,
  // then the caller's.
  spec.env = {std::string("PATH=") + sandbox::kDefaultPath,
              "HOME=" + home_of(spec.uid, users.passwd), "HOSTNAME=" + o.hostname};
  if (config)
    for (const auto& e : config->env)
      if (e.find('=') != std::string::npos) set_env(spec.env, e);
  for (const auto& e : o.env) set_env(spec.env, e);
  spec.workdir = !o.workdir.empty()                       ? o.workdir
                 : config && !config->working_dir.empty() ? config->working_dir
                                                          : "/";
}

PullPolicy parse_pull_policy(const std::string& text) {
  if (text == "missing") return PullPolicy::Missing;
  if (text == "always") return PullPolicy::Always;
  if (text == "never") return PullPolicy::Never;
  throw Error("unknown pull policy '" + text + "': use missing, always or never");
}

}  // namespace coracle::launch

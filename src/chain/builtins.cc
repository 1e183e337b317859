// The builtin assistants:
//  - builtin:dockerfile builds the app's Dockerfile (context: the app) and
//    writes image, cmd, workingdir, ports and next=builtin:exec;
//  - builtin:python, Ayup's: the app on a Python image at /app, its
//    requirements.txt installed by pip with a cache mount kept across
//    builds, cmd python __main__.py, port 5000, next=builtin:exec;
//  - builtin:exec runs the app: cmd in workingdir of image (or of the
//    default image, with the app at workingdir), output live and into
//    state/log, state ports and every port the monitor sees forwarded. The
//    app's own exit status is its result, not a failed step.
#include <cstring>
#include <nlohmann/json.hpp>

#include "builder/builder.h"
#include "chain/python_requirements.h"
#include "chain/steps.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "image/default_image.h"
#include "image/image_user.h"
#include "image/resolve.h"
#include "launch/launch.h"
#include "launch/run.h"
#include "portmon/port_events.h"
#include "portmon/portmon.h"

namespace coracle::chain {
namespace {

using nlohmann::json;

constexpr size_t kMaxLog = 1 << 20;  // state/log keeps the newest MiB

std::string app_tag(const std::string& app_dir) {
  return folder_image_tag("coracle-app", app_dir.substr(app_dir.find_last_of('/') + 1), app_dir);
}

}  // namespace

StepOutcome run_builtin_dockerfile(const StepContext& ctx) {
  if (!path_exists(ctx.app_dir + "/Dockerfile"))
    throw Error(ctx.what + ": the app has no Dockerfile");
  std::string tag = app_tag(ctx.options.app_dir);
  try {
    build_for_step(ctx, {}, ctx.app_dir, tag);
  } catch (const Error& e) {
    throw Error(ctx.what + ": " + e.what());
  }
  // The image's config as the store parsed it; its EXPOSE lines may come
  // from a hostile base image: a port that is no port is an error naming it.
  const image::ImageConfig config = image::resolve_image(ctx.store, tag).config;
  std::vector<std::string> cmd = config.entrypoint;
  cmd.insert(cmd.end(), config.cmd.begin(), config.cmd.end());
  if (cmd.empty())
    throw Error(ctx.what + ": the Dockerfile has no ENTRYPOINT or CMD to run the app");
  json ports = json::array();
  for (const auto& key : config.exposed_ports) {
    auto slash = key.find('/');
    if (slash != std::string::npos && key.substr(slash + 1) != "tcp") continue;
    uint64_t port = 0;
    try {
      port = parse_uint(key.substr(0, slash), "exposed port");
    } catch (const Error& e) {
      throw Error(ctx.what + ": the image's config: " + e.what());
    }
    if (port == 0 || port > 65535)
      throw Error(ctx.what + ": the image's config: exposed port " + std::to_string(port) +
                  " is no TCP port");
    ports.push_back(port);
  }
  const std::string& wd = config.working_dir;
  StepOutcome out;
  out.state = ctx.state;
  out.state.set("image", tag);
  out.state.set("cmd", json(cmd).dump());
  out.state.set("workingdir", wd.empty() ? "/" : wd);
  out.state.set("ports", ports.dump());
  out.next = "builtin:exec";
  return out;
}

bool is_python_app(const std::string& app_dir) {
  return is_regular_file(app_dir + "/requirements.txt", false) ||
         is_regular_file(app_dir + "/__main__.py", false);
}

namespace {

// The Debian packages some requirements need at install time (Ayup's
// list): pip's git+ URLs need git, opencv-python needs libGL and GLib.
std::vector<std::string> apt_packages_for(const std::string& requirements) {
  std::vector<std::string> packages;
  for (const auto& raw : split(requirements, '\n')) {
    std::string line = trimmed(raw);
    auto at = line.find('@');
    if (at != std::string::npos && trimmed(line.substr(at + 1)).rfind("git", 0) == 0 &&
        std::find(packages.begin(), packages.end(), "git") == packages.end())
      packages.push_back("git");
    if (line.rfind("opencv-python", 0) == 0 &&
        (line.size() == 13 || !(isalnum(static_cast<unsigned char>(line[13])) || line[13] == '_')))
      for (const char* p : {"libgl1", "libglib2.0-0"})
        if (std::find(packages.begin(), packages.end(), p) == packages.end()) packages.push_back(p);
  }
  return packages;
}

// The Dockerfile builtin:python builds (never written into the app). pip
// reads the caller's index settings from secrets (PIP_INDEX_URL and the
// like, given only when set); what it installs is requirements.txt, or
// the guessed distributions (checked names, one word each).
std::string python_dockerfile(const std::string& image, bool has_requirements,
                              const std::vector<std::string>& guessed,
                              const std::vector<std::string>& apt) {
  std::string df = "FROM " + image + "\nENV PYTHONUNBUFFERED=True\nWORKDIR /app\n";
  if (!apt.empty()) {
    // The slim images delete apt's downloads after each install: the
    // cache mount keeps them across builds instead.
    df +=
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
        "--mount=type=cache,target=/var/lib/apt/lists,sharing=locked "
        "rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update && "
        "apt-get install -y --no-install-recommends";
    for (const auto& p : apt) df += " " + p;
    df += "\n";
  }
  std::string pip = "RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked";
  for (const char* setting : kPipSettings)
    pip += std::string(" --mount=type=secret,id=") + setting + ",env=" + setting;
  if (has_requirements)
    df += "COPY requirements.txt ./\n" + pip + " pip install -r requirements.txt\n";
  if (!has_requirements && !guessed.empty()) {
    df += pip + " pip install";
    for (const auto& d : guessed) df += " " + d;
    df += "\n";
  }
  return df + "COPY . ./\n";
}

// builtin:python without requirements.txt: what the app's imports need,
// installed when the user says yes (the default), as Ayup offers it.
std::vector<std::string> requirements_to_guess(const StepContext& ctx) {
  std::vector<std::string> guessed = guess_requirements(ctx.app_dir);
  auto say = [&](const std::string& line) {
    if (ctx.options.on_text) ctx.options.on_text(line);
  };
  if (guessed.empty()) {
    say(ctx.what + ": no requirements.txt, and the app imports nothing to install");
    return {};
  }
  std::string list;
  for (const auto& d : guessed) list += (list.empty() ? "" : ", ") + d;
  std::string question = ctx.what + ": no requirements.txt; from the app's imports: " + list +
                         ". Install them with pip?";
  bool yes = ctx.options.ask ? ctx.options.ask(question, true) : true;
  if (ctx.options.on_event)
    ctx.options.on_event({{"event", "python.requirements"},
                          {"step", ctx.number},
                          {"guessed", guessed},
                          {"install", yes}});
  if (!yes) say(ctx.what + ": nothing is installed with pip");
  return yes ? guessed : std::vector<std::string>{};
}

}  // namespace

StepOutcome run_builtin_python(const StepContext& ctx) {
  if (!is_python_app(ctx.app_dir))
    throw Error(ctx.what + ": the app has neither requirements.txt nor __main__.py");
  std::optional<std::string> requirements = read_file_in_root(ctx.app_dir, "requirements.txt");
  std::vector<std::string> guessed;
  if (!requirements) guessed = requirements_to_guess(ctx);
  builder::BuildOptions build;
  build.dockerfile_text = python_dockerfile(ctx.options.python_image, requirements.has_value(),
                                            guessed, apt_packages_for(requirements.value_or("")));
  for (const auto& [name, value] : ctx.options.pip_settings) build.secrets[name] = value;
  build.always_ignore = {".venv", ".git"};
  std::string tag = app_tag(ctx.options.app_dir);
  try {
    build_for_step(ctx, std::move(build), ctx.app_dir, tag);
  } catch (const Error& e) {
    throw Error(ctx.what + ": " + e.what());
  }
  StepOutcome out;
  out.state = ctx.state;
  out.state.set("image", tag);
  out.state.set("cmd", R"(["python", "__main__.py"])");
  out.state.set("workingdir", "/app");
  out.state.set("ports", "[5000]");
  out.next = "builtin:exec";
  return out;
}

namespace {

// A port named by state (which any step may write): published on
// 127.0.0.1 only, and never on a privileged host port (a low one gets any
// free port instead). -p is the user's own choice.
portmon::Publish state_publish(uint16_t port) {
  portmon::Publish pub;
  pub.host_ip = "127.0.0.1";
  pub.host_port = portmon::automatic_host_port(port);
  pub.port = port;
  return pub;
}

// Why the app ended, when it did not end by itself: the run's --timeout,
// or a signal (an exit status speaks for itself).
void tell_how_the_app_ended(const StepContext& ctx, const sandbox::Result& r) {
  if (!r.timed_out && !r.term_signal) return;
  std::string why = "the app was " + launch::how_it_ended(r, "the run's --timeout");
  if (ctx.options.on_event) ctx.options.on_event({{"event", "warning"}, {"message", why}});
  if (ctx.options.on_text) ctx.options.on_text(why);
}

// What the chain shows of the app while it runs: its ports and the VMM as
// events and lines, its output as the step's (kept for state/log).
class AppObserver : public StepOutputObserver {
 public:
  AppObserver(const StepContext& ctx, StepOutput& output) : StepOutputObserver(output), ctx_(ctx) {}
  void published(const portmon::PortEvent& e) override {
    say(portmon::publish_event_json(e), portmon::publish_event_line(e));
  }
  void port(const portmon::PortEvent& e) override {
    say(portmon::port_event_json(e), portmon::port_event_line(e));
  }
  void warning(const std::string& text) override {
    say({{"event", "warning"}, {"message", text}}, "warning: " + text);
  }
  void vm_started(const std::string& accel) override {
    say({{"event", "vm.start"}, {"accel", accel}},
        std::string("the app runs in a micro-VM (") +
            (accel == "kvm" ? "KVM" : "TCG: emulated, no KVM here") + ")");
  }

 private:
  void say(const nlohmann::json& event, const std::string& line) {
    if (ctx_.options.on_event) ctx_.options.on_event(event);
    if (ctx_.options.on_text) ctx_.options.on_text(line);
  }
  const StepContext& ctx_;
};

// The app's ports: those state names, published on 127.0.0.1, the user's
// -p, and every other TCP port it opens; only watched where nothing can be
// forwarded (a sandbox with --net none) or nothing needs to be (--net host).
launch::PortRequest app_ports(const StepContext& ctx, const std::vector<uint16_t>& state_ports) {
  launch::PortRequest ports;
  ports.watch = true;
  bool in_sandbox = !ctx.options.vm;
  if (in_sandbox &&
      (ctx.options.net == sandbox::NetMode::None || ctx.options.net == sandbox::NetMode::Host))
    return ports;
  for (uint16_t p : state_ports) ports.publish.push_back(state_publish(p));
  for (const auto& text : ctx.options.publish)
    ports.publish.push_back(portmon::parse_publish(text));
  ports.publish_all = true;
  return ports;
}

}  // namespace

StepOutcome run_builtin_exec(const StepContext& ctx) {
  auto cmd = ctx.state.cmd(ctx.what);
  if (!cmd)
    throw Error(ctx.what +
                ": state/cmd is missing: an assistant must write the command to run "
                "(a JSON array) to /out/state/cmd");
  std::vector<uint16_t> ports = ctx.state.ports(ctx.what);
  std::string wd = ctx.state.working_dir();

  // cmd is the whole command line (ENTRYPOINT + CMD, as builtin:dockerfile
  // wrote it): the image's entrypoint is not added again.
  launch::ProcessOverrides process;
  process.entrypoint.emplace();
  process.command = *cmd;
  process.workdir = wd;
  process.hostname = "coracle-app";
  process.env = ctx.options.app_env;
  launch::RootfsRequest request;
  auto ref = ctx.state.get("image");
  if (ref && !trimmed(*ref).empty()) {
    request.image = trimmed(*ref);
    request.pull_image = ctx.options.fetch_image;
  }
  request.use_overlay = ctx.options.use_overlay;
  // Held until the app has ended: the image's layers stay locked.
  launch::Rootfs rootfs = launch::prepare_rootfs(ctx.store.root(), request);
  sandbox::Spec spec = launch::make_spec(rootfs, process);
  // No image: the default one, with the app where the command runs. The
  // app is read-only: what it writes at run time is not the app.
  if (request.image.empty()) spec.volumes.push_back({ctx.app_dir, wd, true});
  for (const auto& v : ctx.options.app_volumes) spec.volumes.push_back(v);
  // Held until the app has ended: its named volumes (made on first use:
  // redis's dump, PostgreSQL's data outlive it), its image's VOLUMEs.
  launch::VolumeLeases volumes = launch::lease_volumes(spec, ctx.store.root(), rootfs.config());
  spec.net = ctx.options.net;
  launch::add_etc_files(spec, ctx.options.etc);
  spec.timeout = time_left(ctx);
  spec.upper_size_bytes = ctx.options.upper_size_bytes;
  spec.tmp_size_bytes = ctx.options.tmp_size_bytes;

  launch::Request run;
  run.spec = std::move(spec);
  run.store_root = ctx.store.root();
  run.vm = ctx.options.vm;
  run.ports = app_ports(ctx, ports);
  run.capture_output = true;
  StepOutput output(ctx.options, true, kMaxLog);
  AppObserver observer(ctx, output);
  launch::Outcome outcome = launch::run(std::move(run), observer);
  const sandbox::Result& r = outcome.result;
  // A sandbox that could not start is coracle's failure, not the app's.
  if (outcome.failed_to_start()) throw Error(ctx.what + ": " + r.message);
  tell_how_the_app_ended(ctx, r);

  StepOutcome out;
  out.state = ctx.state;
  out.state.set("log", output.kept());
  std::set<uint16_t> seen = outcome.tcp_ports_seen;
  seen.insert(ports.begin(), ports.end());
  out.state.set("ports", json(std::vector<uint16_t>(seen.begin(), seen.end())).dump());
  out.app_exit = r.exit_code;
  return out;
}

}  // namespace coracle::chain

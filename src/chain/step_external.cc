// An external assistant's step: its image (pulled or built from its
// folder), run with the app and state at /in (read-only) and empty
// /out/app and /out/state; what it wrote there becomes the app and the
// state, by the ABI's rules.
#include "builder/builder.h"
#include "chain/steps.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/sha256.h"
#include "image/image_user.h"
#include "image/resolve.h"
#include "launch/launch.h"
#include "launch/run.h"

namespace coracle::chain {
namespace {

std::string image_tag(const ExternalAssistant& a) {
  std::string kind = a.full_name.substr(0, a.full_name.find(':'));
  if (kind.empty() || kind.find('/') != std::string::npos) kind = "path";
  return folder_image_tag("coracle-assistant/" + kind, a.name, a.dir);
}

}  // namespace

std::string folder_image_tag(const std::string& kind, const std::string& name,
                             const std::string& dir) {
  std::string clean;
  for (char c : name) {
    c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    clean += (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '-';
  }
  while (!clean.empty() && !isalnum(static_cast<unsigned char>(clean[0]))) clean.erase(0, 1);
  if (clean.size() > 64) clean.resize(64);
  if (clean.empty()) clean = "unnamed";
  return "localhost/" + kind + "/" + clean + "-" + sha256_digest(absolute_path(dir)).substr(7, 12) +
         ":latest";
}

std::string assistant_image(const StepContext& ctx, const ExternalAssistant& a) {
  if (a.image) {
    if (!image::has_image(ctx.store, *a.image) && ctx.options.fetch_image)
      ctx.options.fetch_image(*a.image);
    if (!image::has_image(ctx.store, *a.image))
      throw Error(ctx.what + ": its image " + *a.image +
                  " is not in the store (get it with `coracle image pull " + *a.image + "`)");
    return *a.image;
  }
  std::string tag = image_tag(a);
  builder::BuildOptions build;
  // .ayup-env is the assistant's secrets, as in Ayup: never in its build
  // context (so in no layer), its values only build secrets (RUN
  // --mount=type=secret,id=KEY) and the step's environment.
  build.always_ignore = {".ayup-env"};
  for (const auto& kv : a.env) {
    auto eq = kv.find('=');
    build.secrets[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  try {
    build_for_step(ctx, std::move(build), a.dir, tag);
  } catch (const Error& e) {
    throw Error(ctx.what + ": building the assistant " + a.dir + " failed: " + e.what());
  }
  return tag;
}

std::chrono::milliseconds time_left(const StepContext& ctx) {
  if (!ctx.options.deadline) return std::chrono::milliseconds{0};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      *ctx.options.deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0)
    throw Error(ctx.what + ": not started: the run's --timeout is over", kExitInternal);
  return left;
}

void build_for_step(const StepContext& ctx, builder::BuildOptions b, const std::string& context,
                    const std::string& tag) {
  b.context = context;
  b.tags = {tag};
  b.use_overlay = ctx.options.use_overlay;
  b.allow = ctx.options.build_allow;
  b.net = ctx.options.net;
  b.deadline = ctx.options.deadline;
  b.etc = ctx.options.etc;
  b.fetch_base = ctx.options.fetch_image;
  b.output_fd = ctx.options.output_fd;
  b.on_event = [&](const builder::BuildEvent& e) {
    if (!ctx.options.on_event) return;
    nlohmann::ordered_json j = builder::build_event_json(e);
    j["step"] = ctx.number;  // the chain's step whose build this is
    ctx.options.on_event(j);
  };
  builder::build_image(ctx.store, b);
}

StepOutcome run_external(const StepContext& ctx, const ExternalAssistant& a) {
  std::string ref = assistant_image(ctx, a);
  launch::RootfsRequest request;
  request.image = ref;
  request.pull = launch::PullPolicy::Never;  // assistant_image got it
  request.use_overlay = ctx.options.use_overlay;
  launch::Rootfs rootfs = launch::prepare_rootfs(ctx.store.root(), request);
  if (!rootfs.config() || rootfs.config()->entrypoint.size() + rootfs.config()->cmd.size() == 0)
    throw Error(ctx.what + ": the image " + ref + " has no ENTRYPOINT or CMD to run");

  std::string out_app = ctx.work_dir + "/out/app", out_state = ctx.work_dir + "/out/state";
  mkdir_p(out_app);
  mkdir_p(out_state);
  std::string in_state = ctx.work_dir + "/in-state";
  ctx.state.save(in_state);

  launch::ProcessOverrides process;
  process.hostname = "coracle-assistant";
  // .ayup-env: the assistant's secrets and settings, given, never shown.
  process.env = a.env;
  sandbox::Spec spec = launch::make_spec(rootfs, process);
  // Assistants fetch packages and talk to services, like the builder's RUN:
  // outbound access, from a namespace of their own.
  spec.net = ctx.options.net;
  spec.volumes = {{ctx.app_dir, "/in/app", true},
                  {in_state, "/in/state", true},
                  {out_app, "/out/app", false},
                  {out_state, "/out/state", false}};
  launch::add_etc_files(spec, ctx.options.etc);
  launch::add_host_trust(spec);
  spec.timeout = time_left(ctx);
  spec.upper_size_bytes = ctx.options.upper_size_bytes;
  spec.tmp_size_bytes = ctx.options.tmp_size_bytes;
  launch::Request run;
  run.spec = std::move(spec);
  run.store_root = ctx.store.root();
  run.capture_output = true;
  StepOutput output(ctx.options, false, 0);
  StepOutputObserver observer(output);
  launch::Outcome outcome = launch::run(std::move(run), observer);
  const sandbox::Result& r = outcome.result;
  if (r.exit_code != 0) {
    std::string why = launch::how_it_ended(r, "the run's --timeout");
    // The step's own status is told (the chain turns it into 125: only
    // the app under builtin:exec gives coracle its status).
    throw Error(ctx.what + " failed: " + why, r.term_signal ? 125 : r.exit_code);
  }
  StepOutcome out;
  out.state = ctx.state;
  out.next = out.state.merge_out(out_state, ctx.what);
  out.new_app = out_app;
  return out;
}

}  // namespace coracle::chain

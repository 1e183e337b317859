#include "chain/chain.h"

#include <chrono>

#include "chain/app_folder.h"
#include "chain/assistant_artifact.h"
#include "chain/step_changes.h"
#include "chain/steps.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/userns.h"
#include "image/reference.h"
#include "image/store.h"
#include "sandbox/sandbox.h"

namespace coracle::chain {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Where the chain works: ROOT/tmp/chain-PID-..., swept if coracle dies.
// Steps leave files of their own uids there: a rootless runner removes
// them from inside a user namespace that maps those uids.
struct Workspace {
  std::string root;
  TreeRemoval removal;
  explicit Workspace(const image::Store& store)
      : root(store.make_tmp_dir("chain")), removal(root) {}
};

// Workspaces of chains that died (killed, or their removal failed): what
// the store's own sweep could not remove.
void sweep_stale_workspaces(const image::Store& store) {
  for (const auto& dir : store.stale_tmp_dirs("chain")) {
    try {
      remove_mapped_tree(dir);
    } catch (const Error&) {
      // Best effort: the next run tries again.
    }
  }
}

// The first assistant: --assistant (a name or a folder), else
// APP/.ayup/first (a name only: state never names a host folder), else
// detection.
std::string pick_first(const ChainOptions& o, const AppState& state, const AssistantRegistry& reg,
                       const std::string& app_copy) {
  if (!o.assistant.empty()) return o.assistant;
  if (auto f = state.get("first"); f && !trimmed(*f).empty() && trimmed(*f) != "nil") {
    check_state_file("first", *f, o.app_dir + "/.ayup");
    return trimmed(*f);
  }
  // The app's own Dockerfile (a symlink to elsewhere is not one).
  if (is_regular_file(app_copy + "/Dockerfile", false)) return "builtin:dockerfile";
  if (is_python_app(app_copy)) return "builtin:python";
  std::string known;
  for (const auto& n : reg.list()) known += "\n  " + n;
  throw Error("no assistant for " + o.app_dir +
              ": it has no Dockerfile, no requirements.txt or __main__.py and no .ayup/first; "
              "choose one with --assistant NAME or "
              "`coracle app assistant NAME`. The assistants are:" +
              known);
}

// oci:REF: the artifact, pulled when missing, laid out once per manifest
// digest under ROOT/assistant-artifacts (a digest's content never changes).
ExternalAssistant oci_assistant(const StepContext& ctx, const std::string& ref) {
  std::string full = image::parse_reference(ref).str();
  if (!ctx.store.find_tag(full) && ctx.options.fetch_assistant) ctx.options.fetch_assistant(ref);
  auto d = ctx.store.find_tag(full);
  if (!d) throw Error(ctx.what + ": the assistant " + ref + " is not in the store");
  std::string base = ctx.store.root() + "/assistant-artifacts";
  std::string dir = base + "/" + d->digest.substr(7);
  if (!is_directory(dir)) {
    std::string tmp = ctx.store.make_tmp_dir("assistant");
    TreeRemoval remove_tmp(tmp);
    unpack_assistant(ctx.store, d->digest, tmp + "/a");
    mkdir_p(base, 0700);
    if (rename(tmp.append("/a").c_str(), dir.c_str()) < 0 && !is_directory(dir))
      throw_errno("cannot keep the assistant " + ref + " at " + dir);
  }
  return load_assistant_dir(dir, "oci:" + ref);
}

// One step: a builtin, a named assistant, or (given on the command line
// only) a folder used as it is: `first` and `next` are checked to be names.
StepOutcome run_step(const StepContext& ctx, const std::string& current,
                     const AssistantRegistry& registry, bool from_command_line) {
  if (from_command_line && current.find('/') != std::string::npos && current.rfind("oci:", 0) != 0)
    return run_external(ctx, load_assistant_dir(absolute_path(current), current));
  AssistantName name = parse_assistant_name(current);
  if (name.kind == "oci") return run_external(ctx, oci_assistant(ctx, name.name));
  if (name.kind != "builtin") return run_external(ctx, registry.find(name));
  if (name.name == "dockerfile") return run_builtin_dockerfile(ctx);
  if (name.name == "python") return run_builtin_python(ctx);
  if (name.name == "exec") return run_builtin_exec(ctx);
  registry.find(name);  // throws, listing the assistants
  return {};
}

}  // namespace

std::string first_assistant(const std::string& app_dir) {
  return AppFolder::open(app_dir, false).first_assistant();
}

void set_first_assistant(const std::string& app_dir, const std::string& name) {
  AppFolder folder = AppFolder::open(app_dir, true);
  if (name.find('/') != std::string::npos && name.rfind("oci:", 0) != 0)
    throw Error("'" + name +
                "' is a folder: an app's state names assistants only (builtin:NAME, "
                "local:NAME, remote:NAME); push the folder with `coracle assistants push` or "
                "give it with --assistant");
  parse_assistant_name(name);
  folder.set_first_assistant(name);
}

ChainResult run_chain(const ChainOptions& given) {
  ChainOptions o = given;
  if (o.timeout.count() > 0) o.deadline = Clock::now() + o.timeout;
  o.app_dir = absolute_path(o.app_dir);
  if (!is_directory(o.app_dir)) throw Error("app folder " + given.app_dir + " does not exist");
  if (o.max_steps < 1) throw Error("--max-steps must be at least 1");
  if (!o.changes_dir.empty()) {
    o.changes_dir = absolute_path(o.changes_dir);
    mkdir_p(o.changes_dir);
  }
  // Locked for the whole run: a second run on this app says so and stops.
  AppFolder folder = AppFolder::open(o.app_dir, true);
  image::Store store(o.store_root);
  sweep_stale_workspaces(store);
  AssistantRegistry registry(o.store_root, o.remote_dir);
  Workspace ws(store);

  // The app without its state, and the state apart: a step sees both, and
  // nothing of APP changes until the whole chain has succeeded.
  std::string app = ws.root + "/app0";
  folder.copy_app_to(app);
  AppState state = folder.load_state();
  std::string current = pick_first(o, state, registry, app);
  // As Ayup: the first step already finds state/version (written only
  // when missing: an app's own, say Ayup's 0.10.0, stays).
  if (!o.version.empty() && !state.get("version")) state.set("version", o.version + "\n");

  ChainResult result;
  std::optional<int> app_exit;
  for (int step = 1; !current.empty(); ++step) {
    if (step > o.max_steps)
      throw Error("the chain did not end after " + std::to_string(o.max_steps) +
                  " steps (--max-steps); the last asked for " + current);
    std::string what = "step " + std::to_string(step) + " (" + current + ")";
    if (o.on_event) o.on_event({{"event", "step.start"}, {"step", step}, {"assistant", current}});
    auto start = Clock::now();
    std::string work = ws.root + "/step" + std::to_string(step);
    mkdir_p(work);
    // state/next as Ayup leaves it: nil for the first step (a stale one
    // from an earlier run cleared), then the name the last step wrote.
    state.set("next", step == 1 ? "nil" : current);
    StepContext ctx{o, store, work, app, state, step, what};
    StepOutcome out;
    try {
      out = run_step(ctx, current, registry, step == 1 && current == o.assistant);
    } catch (const Error& e) {
      // A failed chain is coracle's failure (125), whatever the step's own
      // status was: that one is told in the message and the event.
      if (o.on_event)
        o.on_event({{"event", "step.end"},
                    {"step", step},
                    {"assistant", current},
                    {"exit_code", e.exit_code()},
                    {"error", e.what()},
                    {"duration_ms",
                     std::chrono::duration<double, std::milli>(Clock::now() - start).count()}});
      throw Error(e.what(), kExitInternal);
    }
    // What the step changed in the app: an event, and an archive if asked.
    std::vector<TreeChange> changes;
    if (out.new_app) changes = diff_trees(app, *out.new_app);
    if (o.on_event) o.on_event(changes_event(step, changes));
    if (!o.changes_dir.empty())
      write_changes_archive(out.new_app.value_or(app), changes,
                            o.changes_dir + "/step-" + std::to_string(step) + ".tar.zst");
    // Commit the step: only now does anything of it count.
    state = std::move(out.state);
    if (out.new_app) app = *out.new_app;
    if (out.app_exit) app_exit = out.app_exit;
    result.steps = step;
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (o.on_event) {
      json end = {{"event", "step.end"},
                  {"step", step},
                  {"assistant", current},
                  {"exit_code", 0},
                  {"next", out.next.empty() ? "nil" : out.next},
                  {"duration_ms", ms}};
      if (out.app_exit) end["app_exit_code"] = *out.app_exit;
      o.on_event(end);
    }
    current = out.next;
  }

  // Write back: files added or overwritten, never deleted; .ayup is the state.
  std::string dest = o.output_dir.empty() ? o.app_dir : absolute_path(o.output_dir);
  state.erase("next");  // consumed: the next run starts from `first`
  if (o.output_dir.empty())
    folder.write_back(app, state);
  else
    AppFolder::open_output(dest).write_back(app, state);
  result.exit_code = app_exit.value_or(0);
  result.app_exit_code = app_exit;
  result.written_to = dest;
  return result;
}

}  // namespace coracle::chain

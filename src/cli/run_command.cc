// `coracle run` (the assistant chain), `coracle app assistant` and
// `coracle assistants list|push|rm`. People get a line per step and the
// steps' own output live on stderr; --json gives DESIGN.md's event stream
// on stdout.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "builder/builder.h"
#include "chain/assistant_artifact.h"
#include "chain/assistants.h"
#include "chain/chain.h"
#include "cli/commands.h"
#include "cli/events.h"
#include "cli/exec_options.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/terminal_text.h"
#include "common/userns.h"
#include "image/push.h"
#include "image/reference.h"
#include "sandbox/sandbox.h"

namespace coracle::cli {
namespace {

struct RunFlags {
  std::string app = ".", assistant, output, timeout, first_name, push_path, rm_name;
  std::string push_ref, pack_path, pack_tag, pull_ref, chunk_size, changes_dir;
  bool assistant_json = false;
  std::string net = "pasta", upper_size, tmp_size, python_image;
  int max_steps = 64;
  std::vector<std::string> publish, allow;
  std::vector<std::string> env, env_files, volumes;  // the app's
  launch::EtcOptions etc;
  bool json = false, quiet = false;
  bool vm = false;               // --vm: the app in a micro-VM
  bool yes = false, no = false;  // answers to the chain's questions
  RegistryFlags registry;
};

// Events come from several threads (step output, the port monitor).
std::mutex print_mutex;

// Step lines quote assistants' names, steps' state and errors: all from
// outside, so all through the sanitiser.
void print_line(FILE* f, const std::string& line) {
  std::lock_guard<std::mutex> lock(print_mutex);
  fprintf(f, "%s\n", terminal_safe(line).c_str());
  fflush(f);
}

// The step events for people; the rest is said by on_text or the output.
void print_human(const nlohmann::json& e) {
  std::string kind = e.value("event", "");
  if (kind == "step.start") {
    print_line(stderr, "── step " + std::to_string(e["step"].get<int>()) + ": " +
                           e["assistant"].get<std::string>());
  } else if (kind == "step.end" && e.contains("error")) {
    // The message itself follows, as coracle's error.
    print_line(stderr, "── step " + std::to_string(e["step"].get<int>()) + " failed (status " +
                           std::to_string(e["exit_code"].get<int>()) + ")");
  } else if (kind == "step.end") {
    char ms[32];
    snprintf(ms, sizeof ms, "%.0f ms", e["duration_ms"].get<double>());
    std::string line = "── step " + std::to_string(e["step"].get<int>()) + " done (" + ms + ")";
    if (e.contains("app_exit_code"))
      line += ", the app exited with " + std::to_string(e["app_exit_code"].get<int>());
    std::string next = e.value("next", "nil");
    line += next == "nil" ? "" : " → " + next;
    print_line(stderr, line);
  } else if (kind == "build.step" || kind == "build.cached") {
    std::string text = e.value("instruction", "");
    text = text.substr(0, text.find('\n'));
    print_line(stderr, "   [" + std::to_string(e["build_step"].get<int>()) + "/" +
                           std::to_string(e["build_steps"].get<int>()) + "] " +
                           (kind == "build.cached" ? "CACHED " : "") + text);
  } else if (kind == "step.changes") {
    std::string line;
    for (const char* k : {"added", "modified", "deleted", "renamed"})
      if (!e[k].empty()) line += (line.empty() ? "" : ", ") + std::to_string(e[k].size()) + " " + k;
    if (!line.empty()) print_line(stderr, "   changed: " + line);
  }
}

// assistants pull: the artifact into the store, then its folder as local:NAME.
std::string pull_assistant(const std::string& root, const std::string& ref,
                           const RegistryFlags& flags, bool json,
                           const chain::AssistantRegistry& registry) {
  std::string name = pull_with_progress(root, ref, flags, json, chain::kAssistantArtifactType);
  image::Store store(root);
  std::string tmp = store.make_tmp_dir("assistant");
  TreeRemoval remove_tmp(tmp);
  chain::unpack_assistant(store, name, tmp + "/a");
  return registry.push(tmp + "/a");
}

// The chain's questions: --yes/--no, else CORACLE_ASSUME, else asked on
// a terminal (stdin and stderr), else the default; each answer not typed
// is said, so a log shows what was chosen.
std::function<bool(const std::string&, bool)> make_asker(bool yes, bool no, bool json) {
  if (yes && no) throw Error("--yes and --no: give one");
  std::string assume;
  if (const char* env = getenv("CORACLE_ASSUME")) assume = env;
  if (!assume.empty() && assume != "yes" && assume != "no")
    throw Error("CORACLE_ASSUME='" + assume + "': use yes or no");
  return [yes, no, json, assume](const std::string& question, bool default_yes) {
    std::optional<bool> answer;
    std::string why;
    if (yes || no)
      answer = yes, why = yes ? "--yes" : "--no";
    else if (!assume.empty())
      answer = assume == "yes", why = "CORACLE_ASSUME";
    if (!answer && !json && isatty(0) && isatty(2)) {
      std::lock_guard<std::mutex> lock(print_mutex);
      fprintf(stderr, "%s [%s] ", terminal_safe(question).c_str(), default_yes ? "Y/n" : "y/N");
      fflush(stderr);
      char line[64];
      if (fgets(line, sizeof line, stdin)) {
        std::string typed = trimmed(line);
        if (typed.empty()) return default_yes;
        return typed[0] == 'y' || typed[0] == 'Y';
      }
    }
    if (!answer) answer = default_yes, why = "the default, no terminal to ask";
    if (!json) print_line(stderr, question + " " + (*answer ? "yes" : "no") + " (" + why + ")");
    return *answer;
  };
}

}  // namespace

std::function<int()> add_run_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* run = app.add_subcommand("run", "Run the assistant chain on an app folder");
  run->add_option("app", f->app, "The app folder (default .)");
  run->add_option("--assistant", f->assistant, "First assistant: a name or an assistant folder");
  run->add_option("--max-steps", f->max_steps, "Stop a chain longer than this (default 64)");
  run->add_option("--output", f->output, "Write the resulting app and state here, not into APP");
  run->add_option("--timeout", f->timeout,
                  "Bound the whole run (every step, build and the app) to this long");
  run->add_option("--net,--network", f->net,
                  "The steps' and the app's network: pasta (own namespace, outbound access: "
                  "the default), private (loopback only), none, or host (the host's own, "
                  "services on its 127.0.0.1 included)")
      ->capture_default_str();
  run->add_option("--upper-size", f->upper_size,
                  "Each step's and the app's writable layer in a tmpfs of this size (default: on "
                  "disk under the store)");
  run->add_option("--tmp-size", f->tmp_size,
                  "A tmpfs of this size on each step's and the app's /tmp (default: the rootfs's "
                  "own /tmp, on disk)");
  run->add_option("-p,--publish", f->publish, "[HOSTIP:]HOSTPORT:PORT[/udp] for the app")
      ->allow_extra_args(false);
  run->add_option("--allow", f->allow,
                  "Grant the builds of the chain an entitlement: network.host (RUN "
                  "--network=host in the app's Dockerfile)")
      ->allow_extra_args(false);
  run->add_option("-e,--env", f->env, "K=V (or K: the caller's value) in the app's environment")
      ->allow_extra_args(false);
  run->add_option("--env-file", f->env_files, "K=V lines for the app's environment")
      ->allow_extra_args(false);
  run->add_option("-v,--volume", f->volumes, "SRC:DST[:ro]: a host folder bound into the app")
      ->allow_extra_args(false);
  add_etc_flags(run, f->etc);
  run->add_flag("-y,--yes", f->yes,
                "Answer yes to the chain's questions (install guessed Python requirements)");
  run->add_flag("--no", f->no,
                "Answer no to them (default: ask on a terminal, else yes; "
                "CORACLE_ASSUME=yes|no)");
  run->add_flag("--vm", f->vm, "Run the app (builtin:exec) in a micro-VM instead of namespaces");
  run->add_option("--python-image", f->python_image,
                  "builtin:python's base image (default $CORACLE_PYTHON_IMAGE, else "
                  "python:3.12-slim)");
  run->add_flag("--json", f->json, "JSON events on stdout, one per line");
  run->add_flag("-q,--quiet", f->quiet,
                "No step lines or progress: only the steps' and the app's own output");
  run->add_option("--changes", f->changes_dir,
                  "Write what each step changed in the app to DIR/step-N.tar.zst");
  add_registry_flags(run, f->registry, false);

  CLI::App* app_cmd = app.add_subcommand("app", "An app folder's settings");
  app_cmd->require_subcommand(1);
  CLI::App* first = app_cmd->add_subcommand("assistant", "Show or set the app's first assistant");
  first->add_option("name", f->first_name, "builtin:NAME, local:NAME or remote:NAME");
  first->add_option("--app", f->app, "The app folder (default .)");

  CLI::App* assistants = app.add_subcommand("assistants", "The assistants coracle knows");
  assistants->require_subcommand(1);
  CLI::App* list = assistants->add_subcommand("list", "List builtin, local and remote assistants");
  CLI::App* push = assistants->add_subcommand(
      "push", "Add an assistant folder as local:NAME, or with REF push it to a registry");
  push->add_option("path", f->push_path,
                   "The folder (a name file and a Dockerfile or image file), or with REF a name "
                   "(local:NAME, remote:NAME)")
      ->required();
  push->add_option("ref", f->push_ref, "A registry reference: push the assistant as an artifact");
  push->add_option("--chunk-size", f->chunk_size, "As for image push");
  push->add_flag("--json", f->assistant_json, "JSON events on stdout, one per line");
  push->add_flag("-q,--quiet", f->quiet, "No progress: only the result, on stdout");
  add_registry_flags(push, f->registry, false);
  CLI::App* pack = assistants->add_subcommand(
      "pack", "Make an assistant folder an OCI artifact in the store (without .ayup-env)");
  pack->add_option("path", f->pack_path, "The folder")->required();
  pack->add_option("--tag", f->pack_tag, "Its name in the store");
  CLI::App* pull =
      assistants->add_subcommand("pull", "Download an assistant artifact and add it as local:NAME");
  pull->add_option("ref", f->pull_ref, "A registry reference")->required();
  pull->add_flag("--json", f->assistant_json, "JSON events on stdout, one per line");
  pull->add_flag("-q,--quiet", f->quiet, "No progress: only the result, on stdout");
  add_registry_flags(pull, f->registry, false);
  CLI::App* rm = assistants->add_subcommand("rm", "Remove local:NAME");
  rm->add_option("name", f->rm_name, "The name (with or without local:)")->required();

  return [f, &global, run, first, list, push, rm, pack, pull]() -> int {
    chain::AssistantRegistry registry(global.store_root(), chain::default_remote_dir());
    if (list->parsed()) {
      for (const auto& n : registry.list())
        printf("%s\n", terminal_safe(n, TerminalLines::kOne).c_str());
      return 0;
    }
    if (pack->parsed()) {
      std::string digest;
      std::string tag = chain::pack_assistant(image::Store(global.store_root()), f->pack_path,
                                              f->pack_tag, &digest);
      printf("%s %s\n", tag.c_str(), digest.c_str());
      return 0;
    }
    if (f->assistant_json && (push->parsed() || pull->parsed()))
      open_event_stream(std::string("assistants ") + (push->parsed() ? "push" : "pull"));
    if (push->parsed() || pull->parsed()) set_quiet(f->quiet);
    if (push->parsed() && f->push_ref.empty()) {
      std::string name = registry.push(f->push_path);
      if (f->assistant_json)
        events::result({{"assistant", name}});
      else
        printf("%s\n", terminal_safe(name, TerminalLines::kOne).c_str());
      return 0;
    }
    if (push->parsed()) {
      // A folder, or the folder of a known assistant, as an artifact.
      std::string dir = f->push_path;
      if (!is_directory(dir)) dir = registry.find(chain::parse_assistant_name(dir)).dir;
      image::Store store(global.store_root());
      std::string tag = chain::pack_assistant(store, dir, f->push_ref);
      image::PushOptions opt;
      opt.registry.insecure = f->registry.insecure;
      opt.registry.ca_file = f->registry.ca;
      if (!f->chunk_size.empty()) opt.chunk_size = parse_bytes(f->chunk_size);
      PullView view(output_mode(f->assistant_json), tag, PullView::Direction::kPush);
      opt.on_event = [&view](const image::PullEvent& e) { view(e); };
      std::string digest = image::push_image(store, tag, "", opt);
      if (!f->assistant_json) printf("%s\n", digest.c_str());
      events::result({{"ref", tag}, {"digest", digest}});
      return 0;
    }
    if (pull->parsed()) {
      std::string name = pull_assistant(global.store_root(), f->pull_ref, f->registry,
                                        f->assistant_json, registry);
      if (f->assistant_json)
        events::result({{"ref", f->pull_ref}, {"assistant", name}});
      else
        printf("%s\n", terminal_safe(name, TerminalLines::kOne).c_str());
      return 0;
    }
    if (rm->parsed()) {
      std::string name = f->rm_name.rfind("local:", 0) == 0 ? f->rm_name.substr(6) : f->rm_name;
      if (!registry.remove(name)) throw Error("there is no assistant local:" + name);
      printf("removed local:%s\n", name.c_str());
      return 0;
    }
    if (first->parsed()) {
      if (f->first_name.empty()) {
        std::string name = chain::first_assistant(f->app);
        printf("%s\n", name.empty() ? "(none: detected at run time)"
                                    : terminal_safe(name, TerminalLines::kOne).c_str());
      } else {
        chain::set_first_assistant(f->app, f->first_name);
      }
      return 0;
    }
    if (!run->parsed()) return 0;
    // podman's `run IMAGE`: coracle's run takes an app folder; an image
    // runs with exec.
    if (!f->app.empty() && !is_directory(f->app) && !path_exists(f->app))
      throw Error("app folder " + f->app +
                  " does not exist. `coracle run` runs the assistant "
                  "chain on a folder; to run an image, as `podman run` does: coracle exec " +
                  f->app + " [-- COMMAND]");
    chain::ChainOptions o;
    o.app_dir = f->app;
    o.assistant = f->assistant;
    o.max_steps = f->max_steps;
    o.output_dir = f->output;
    o.changes_dir = f->changes_dir;
    if (!f->timeout.empty()) o.timeout = parse_duration(f->timeout);
    o.publish = f->publish;
    o.net = sandbox::parse_net_mode(f->net);
    launch::check_etc_options(f->etc);
    o.etc = f->etc;
    o.app_env = env_from_flags(f->env, f->env_files);
    for (const auto& v : f->volumes) o.app_volumes.push_back(parse_volume(v));
    for (const auto& name : f->allow) builder::grant_entitlement(o.build_allow, name);
    if (!f->upper_size.empty()) o.upper_size_bytes = parse_bytes(f->upper_size);
    if (!f->tmp_size.empty()) o.tmp_size_bytes = parse_bytes(f->tmp_size);
    o.store_root = global.store_root();
    o.remote_dir = chain::default_remote_dir();
    o.use_overlay = global.use_overlay();
    o.vm = f->vm;
    o.version = CORACLE_VERSION;
    if (!f->python_image.empty())
      o.python_image = f->python_image;
    else if (const char* env = getenv("CORACLE_PYTHON_IMAGE"); env && *env)
      o.python_image = env;
    image::parse_reference(o.python_image);  // a bad name fails before any work
    bool json = f->json;
    if (json) open_event_stream("run");
    o.ask = make_asker(f->yes, f->no, json);
    for (const char* setting : chain::kPipSettings)
      if (const char* v = getenv(setting); v && *v) o.pip_settings[setting] = v;
    o.fetch_image = [&global, f, json](const std::string& ref) {
      pull_with_progress(global.store_root(), ref, f->registry, json);
    };
    o.fetch_assistant = [&global, f, json](const std::string& ref) {
      pull_with_progress(global.store_root(), ref, f->registry, json,
                         chain::kAssistantArtifactType);
    };
    if (json) {
      o.output_fd = -1;
      o.on_event = [](const nlohmann::json& e) { events::emit(e); };
    } else if (f->quiet) {
      set_quiet(true);
      o.output_fd = 2;
    } else {
      o.output_fd = 2;
      o.on_event = [](const nlohmann::json& e) { print_human(e); };
      o.on_text = [](const std::string& line) { print_line(stderr, line); };
    }
    chain::ChainResult r = chain::run_chain(o);
    if (json) {
      nlohmann::ordered_json j = {
          {"exit_code", r.exit_code}, {"steps", r.steps}, {"written_to", r.written_to}};
      if (r.app_exit_code) j["app_exit_code"] = *r.app_exit_code;
      events::result(j);
    } else if (!f->quiet) {
      print_line(stderr, "── written to " + r.written_to);
    }
    return r.exit_code;
  };
}

}  // namespace coracle::cli

#include "builder/builder.h"
#include "builder/run_mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/build_cache.h"
#include "builder/copy_layer.h"
#include "builder/copy_request.h"
#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/dockerignore.h"
#include "builder/layered_fs.h"
#include "builder/run_step.h"
#include "builder/stage_state.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/parse.h"
#include "common/sha256.h"
#include "common/userns.h"
#include "image/image_user.h"
#include "image/layer_blob.h"
#include "image/layer_cache.h"
#include "image/reference.h"
#include "image/resolve.h"
#include "launch/launch.h"
#include "launch/run.h"
#include "launch/upper_layer.h"

namespace coracle::builder {

using image::Layer;
using image::LayerBlob;
using launch::layer_from_upper;

nlohmann::ordered_json build_event_json(const BuildEvent& e) {
  const char* kind = e.kind == BuildEvent::Step     ? "build.step"
                     : e.kind == BuildEvent::Cached ? "build.cached"
                                                    : "build.step_done";
  nlohmann::ordered_json j = {{"event", kind},
                              {"build_step", e.number},
                              {"build_steps", e.total},
                              {"stage", e.stage},
                              {"instruction", e.text}};
  if (e.kind != BuildEvent::Step) j["duration_ms"] = e.ms;
  return j;
}

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t now_seconds() {
  return static_cast<int64_t>(time(nullptr));
}

class Builder {
 public:
  Builder(const image::Store& store, const BuildOptions& opts)
      : store_(store), opts_(opts), cache_(store) {}

  BuildResult run() {
    context_ = absolute_path(opts_.context);
    struct stat st;
    if (stat(context_.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
      throw Error("build context " + opts_.context + " is not a directory");
    std::string df_path = opts_.dockerfile.empty() ? context_ + "/Dockerfile" : opts_.dockerfile;
    df_name_ = opts_.dockerfile.empty() ? "Dockerfile" : opts_.dockerfile;
    std::string text;
    try {
      // The context's own Dockerfile is resolved inside the context (as
      // BuildKit does): a context that links it to a host file (a
      // hostile app folder) cannot make the builder read that file.
      if (opts_.dockerfile_text) {
        text = *opts_.dockerfile_text;
        df_name_ = "Dockerfile";
      } else if (opts_.dockerfile.empty()) {
        auto found = read_file_in_root(context_, "Dockerfile");
        if (!found) throw Error("missing");
        text = std::move(*found);
      } else {
        text = read_file(df_path);
      }
    } catch (const Error&) {
      throw Error("cannot read " + df_path + " (give another one with -f)");
    }
    Dockerfile df = parse_dockerfile(text, df_name_);
    escape_ = df.escape;
    BuildPlan plan = plan_build(df, opts_.args, df_name_);
    stages_ = &plan.stages;
    // BuildKit's order: <Dockerfile>.dockerignore beside a Dockerfile given
    // with -f, else the context's .dockerignore.
    std::optional<std::string> ignore_text;
    std::string ignore_name = ".dockerignore";
    if (!opts_.dockerfile.empty() && !opts_.dockerfile_text &&
        is_regular_file(df_path + ".dockerignore")) {
      ignore_name = df_path + ".dockerignore";
      ignore_text = read_file(ignore_name);
    } else {
      ignore_text = read_file_in_root(context_, ".dockerignore");
    }
    for (const auto& pattern : opts_.always_ignore)
      ignore_text = ignore_text.value_or("") + "\n" + pattern;
    if (ignore_text) {
      try {
        ignore_ = DockerIgnore(*ignore_text);
      } catch (const Error& e) {
        throw Error(ignore_name + ": " + e.what());
      }
    }

    // gc must not take the blobs and layers this build stands on.
    FileLock gc = store_.gc_lock(FileLock::Mode::Shared);
    for (int idx : plan.order) total_ += 1 + static_cast<int>(plan.stages[idx].instructions.size());
    for (int idx : plan.order) built_[idx] = build_stage(plan, plan.stages[idx]);
    StageState& target = built_.at(plan.target);
    if (!opts_.labels.empty()) {
      auto& labels = target.run_config()["Labels"];
      if (!labels.is_object()) labels = nlohmann::json::object();
      for (const auto& [k, v] : opts_.labels) labels[k] = v;
    }
    BuildResult result = commit(target);
    result.unused_build_args = plan.unused_build_args;
    return result;
  }

 private:
  std::string where(int line) const { return df_name_ + ":" + std::to_string(line); }

  void event(BuildEvent::Kind kind, const Stage& stage, const std::string& text, double ms = 0) {
    if (!opts_.on_event) return;
    BuildEvent e;
    e.kind = kind;
    e.number = step_;
    e.total = total_;
    e.stage = stage.name.empty() ? std::to_string(stage.index) : stage.name;
    e.text = text;
    e.ms = ms;
    opts_.on_event(e);
  }

  // The state a stage starts from: scratch, an earlier stage, or an image.
  StageState base_state(const Stage& stage) {
    if (stage.base_stage) {
      StageState s = built_.at(*stage.base_stage);
      s.cmd_set = false;
      return s;
    }
    if (stage.base == "scratch") {
      StageState s = scratch_state();
      s.cache_key = chain_key("", "FROM scratch");
      return s;
    }
    image::ResolvedImage img = resolve_base(stage.base, where(stage.line));
    StageState s;
    s.config = json::parse(store_.read_blob(img.manifest.config.digest));
    s.layers = image::to_oci_manifest(img.manifest).layers;
    s.cache_key = chain_key("", "FROM " + img.manifest_descriptor.digest);
    s.created = parse_rfc3339(s.config.value("created", ""));
    if (auto sh = s.run_config().find("Shell"); sh != s.run_config().end() && sh->is_array())
      s.shell = sh->get<std::vector<std::string>>();
    // The base's own history stays; a base without one gets none invented.
    return s;
  }

  image::ResolvedImage resolve_base(const std::string& ref, const std::string& at) {
    std::string name = ref == "default" ? ensure_default_image(store_) : ref;
    if (!has_image(store_, name) && opts_.fetch_base) {
      try {
        opts_.fetch_base(name);
      } catch (const Error& e) {
        throw Error(at + ": base image " + name + " is not in the store and could not be pulled: " +
                    e.what() + "\n(get it with `coracle image pull " + name +
                    "`, or `coracle image import PATH --tag " + name + "`)");
      }
    }
    if (!has_image(store_, name))
      throw Error(at + ": base image " + name +
                  " is not in the store (get it with `coracle image pull " + name +
                  "`, or `coracle image import PATH --tag " + name + "`)");
    return image::resolve_image(store_, name);
  }

  std::vector<std::string> layer_dirs(const StageState& s, const std::string& what) {
    if (s.layers.empty()) return {};
    return image::ensure_layers(store_, s.manifest(), s.image_config(), what);
  }

  StageState build_stage(const BuildPlan& plan, const Stage& stage) {
    ++step_;
    std::string from_text = "FROM " + stage.base + (stage.name.empty() ? "" : " AS " + stage.name);
    event(BuildEvent::Step, stage, from_text);
    StageState st = base_state(stage);
    BuildScope scope(plan, opts_.args, escape_);
    if (auto env = st.run_config().find("Env"); env != st.run_config().end() && env->is_array())
      scope.set_base_env(env->get<std::vector<std::string>>());
    // The base image's ONBUILD triggers run first, as steps of this stage;
    // the image made here does not carry them on (Docker's rule).
    std::vector<const Instruction*> steps;
    if (auto ob = st.run_config().find("OnBuild"); ob != st.run_config().end()) {
      for (const Instruction* ins : onbuild_triggers(*ob, stage.base)) steps.push_back(ins);
      st.run_config().erase("OnBuild");
    }
    steps.insert(steps.end(), stage.instructions.begin(), stage.instructions.end());
    for (const Instruction* ins : steps) {
      ++step_;
      current_ = {&stage, ins, false};
      auto start = Clock::now();
      bool cached;
      try {
        cached = step(*ins, scope, st);
      } catch (const Error& e) {
        // Every failure names its Dockerfile line (a word expansion's
        // ${VAR:?message} or bad quote knows nothing of lines), or the
        // base image's trigger.
        std::string at = trigger_steps_.count(ins)
                             ? "ONBUILD trigger of " + stage.base + " (" + ins->text + ")"
                             : where(ins->line);
        if (std::string(e.what()).rfind(at, 0) == 0) throw;
        throw Error(at + ": " + e.what());
      }
      announce(false);  // metadata steps: said now, if not yet
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      cached_ += cached;
      event(BuildEvent::Done, stage, ins->text, ms);
    }
    return st;
  }

  // A base image's ONBUILD triggers, parsed; each must be one instruction
  // that ONBUILD may hold, on one line of printable text: the image is not
  // trusted to add stages (a newline and a FROM) or to print terminal
  // escapes through the step lines.
  std::vector<const Instruction*> onbuild_triggers(const nlohmann::json& triggers,
                                                   const std::string& base) {
    std::vector<const Instruction*> out;
    if (!triggers.is_array()) return out;
    for (const auto& t : triggers) {
      bool printable = t.is_string();
      if (printable)
        for (unsigned char c : t.get_ref<const std::string&>())
          printable &= c == '\t' || (c >= 0x20 && c != 0x7f);
      if (!printable) throw Error("image " + base + " has a malformed ONBUILD trigger");
      const Dockerfile& df = trigger_files_.emplace_back(
          parse_dockerfile("FROM scratch\n" + t.get<std::string>(), "ONBUILD of " + base));
      const std::string& kw = df.instructions.back().keyword;
      if (df.instructions.size() != 2 || kw == "ONBUILD" || kw == "FROM" || kw == "MAINTAINER")
        throw Error("image " + base + " has an ONBUILD trigger that ONBUILD may not hold");
      out.push_back(&df.instructions[1]);
      trigger_steps_.insert(out.back());
      ++total_;
    }
    return out;
  }

  // One instruction; true when its layer came from the cache.
  bool step(const Instruction& ins, BuildScope& scope, StageState& st) {
    const std::string at =
        trigger_steps_.count(&ins)
            ? "ONBUILD trigger of " + current_.stage->base + " (" + ins.text + ")"
            : where(ins.line);
    const std::string& kw = ins.keyword;
    if (kw == "RUN") return run_step(ins, scope, st, at);
    if (kw == "COPY" || kw == "ADD") return copy_step(ins, scope, st, at);
    std::string resolved = apply_metadata(ins, scope, st, at);
    st.cache_key = chain_key(st.cache_key, ins.text + "\n" + resolved);
    if (kw == "WORKDIR") return workdir_step(ins, st, at);
    // Dated like the newest layer below it: a rebuild of unchanged steps
    // gives the very same config, so the same image digest.
    st.add_history(ins.text, true, st.created);
    return false;
  }

  // The step line, once per instruction: a layer step says it after the
  // cache lookup, so a hit reads "CACHED" on the same line.
  void announce(bool cached) {
    if (current_.announced) return;
    current_.announced = true;
    event(cached ? BuildEvent::Cached : BuildEvent::Step, *current_.stage, current_.ins->text);
  }

  // A layer step: looked up by key, else made by make(); recorded.
  template <typename Make>
  bool layer_step(StageState& st, const std::string& key, const std::string& created_by,
                  Make make) {
    st.cache_key = key;
    std::optional<CacheRecord> hit;
    if (!opts_.no_cache) hit = cache_.lookup(key);
    announce(hit.has_value());
    if (hit) {
      if (hit->layer) st.add_layer(*hit->layer, hit->diff_id);
      st.add_history(created_by, !hit->layer, hit->created);
      return true;
    }
    std::optional<Layer> layer = make();
    CacheRecord rec;
    rec.created = now_seconds();
    if (layer) {
      rec.layer = layer->blob;
      rec.diff_id = layer->diff_id;
      st.add_layer(layer->blob, layer->diff_id);
    }
    st.add_history(created_by, !layer, rec.created);
    cache_.save(key, rec);
    return false;
  }

  bool run_step(const Instruction& ins, BuildScope& scope, StageState& st, const std::string& at) {
    // BuildKit's RUN extensions: the network can be chosen per step, cache
    // and tmpfs mounts made; other mounts and --security are refused rather
    // than ignored.
    if (ins.flag("security"))
      throw Error(at + ": RUN --security is not supported by coracle build");
    std::vector<RunMount> mounts = parse_run_mounts(ins, scope.words(), scope.lookup_fn(), at);
    sandbox::NetMode net = opts_.net;
    if (auto n = ins.flag("network")) {
      if (*n == "none")
        net = sandbox::NetMode::None;
      else if (*n == "host" && !opts_.allow.network_host)
        throw Error(at + ": RUN --network=host needs the network.host entitlement, which the " +
                    "caller grants (--allow network.host): the host's network and its services " +
                    "on 127.0.0.1 are not the Dockerfile's to take");
      else if (*n == "host")
        net = sandbox::NetMode::Host;
      else if (*n != "default")
        throw Error(at + ": RUN --network=" + *n + ": use default, none or host");
    }
    RunCommand command = run_command_of(ins, st.shell, at);
    // The stage's environment and the build args in scope: over the
    // defaults (PATH, HOME, HOSTNAME) that launch gives every process.
    std::vector<std::string> run_env = scope.run_env();

    std::string key_part = ins.text + "\n" + st.user() + "\n" + st.working_dir() + "\n";
    for (const auto& s : st.shell) key_part += s + "\x1f";
    for (const auto& e : run_env) key_part += "\n" + e;
    // A heredoc's body is part of the command (the instruction's text is
    // its first line only); a bind mount's source is part of its input.
    for (const auto& h : ins.heredocs) key_part += "\n<<" + h.name + "\n" + h.content;
    std::vector<SourceTree> bind_trees;
    for (const auto& m : mounts) {
      if (m.type != RunMount::Type::kBind) continue;
      bind_trees.push_back(source_tree(m.from, at));
      key_part += "\nbind " + bind_trees.back().key + " " +
                  bind_source_digest(bind_trees.back().from, m, at);
    }
    std::string key = chain_key(st.cache_key, key_part);
    return layer_step(st, key, ins.text, [&]() -> std::optional<Layer> {
      if (!opts_.use_overlay)
        throw Error(at + ": RUN needs overlayfs to capture what the command changes");
      auto dirs = layer_dirs(st, at);
      std::vector<FileLock> locks = image::lock_layers_shared(dirs);
      LayeredFs fs(dirs);
      // The one launch path, as for every sandbox: the stage's layers as
      // the rootfs, Docker's rules for the process (the RUN's command is
      // the whole command line; the user is looked up in the stage's own
      // passwd and group).
      launch::RootfsRequest request;
      request.layers = dirs;
      launch::Rootfs rootfs = launch::prepare_rootfs(store_.root(), request);
      launch::ProcessOverrides process;
      process.entrypoint.emplace();
      process.command = command.argv;
      process.env = run_env;
      process.user = st.user();
      process.workdir = st.working_dir();
      process.hostname = "coracle-build";
      sandbox::Spec spec = launch::make_spec(rootfs, process);
      spec.net = net;
      spec.keep_upper = true;
      if (opts_.deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            *opts_.deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
          throw Error(at + ": " + ins.text + "\nnot run: the time allowed (--timeout) is over");
        spec.timeout = left;
      }
      // What a RUN writes may be large (a compiler, a package cache): it
      // goes to disk under the store, not to the sandbox's bounded tmpfs.
      std::string scratch = store_.make_tmp_dir("build-run");
      TreeRemoval remove_scratch(scratch);
      spec.upper_dir = scratch + "/upper";
      mkdir_p(spec.upper_dir, 0700);
      spec.tmp_tmpfs = false;
      // Name resolution for package managers (and /etc/hosts, hostname) as
      // for every sandbox; what the mount points leave in the upper dir is
      // taken out again before it becomes the layer.
      launch::add_etc_files(spec, opts_.etc);
      launch::add_host_trust(spec);
      if (command.script_file) spec.generated_files.push_back(*command.script_file);
      for (size_t i = 0, bind = 0; i < mounts.size(); ++i) {
        if (mounts[i].type != RunMount::Type::kBind) continue;
        copy_bind_source(bind_trees.at(bind).from, mounts[i], scratch + "/bind" + std::to_string(i),
                         at);
        ++bind;
      }
      RunMounts run_mounts(store_, mounts, opts_.secrets, at, spec);
      RunOutcome outcome = run_step_command(spec, store_.root(), [this](std::string_view data) {
        if (opts_.on_output)
          opts_.on_output(data);
        else
          write_best_effort(opts_.output_fd, data);
      });
      std::vector<std::string> files = run_mounts.file_targets();
      for (const auto& g : spec.generated_files) files.push_back(g.target);
      remove_mount_stubs(spec.upper_dir + "/upper", fs, files, run_mounts.targets());
      const auto& r = outcome.result;
      if (r.exit_code != 0) {
        std::string why = launch::how_it_ended(r, "the time allowed (--timeout)");
        std::string msg = at + ": " + ins.text + "\nfailed: " + why;
        if (!outcome.tail.empty()) msg += "\n--- last output ---\n" + outcome.tail;
        throw Error(msg);
      }
      if (!r.upper) throw Error(at + ": the sandbox did not hand over its changes");
      return layer_from_upper(store_, *r.upper, at);
    });
  }

  // What COPY --from= and RUN --mount=type=bind,from= read: the build
  // context (no name), a stage by name or index, or an image.
  struct SourceTree {
    std::unique_ptr<LayeredFs> fs;
    CopyFrom from;
    std::string key;  // what names its content in a cache key
  };
  SourceTree source_tree(const std::string& name, const std::string& at) {
    SourceTree t;
    std::vector<std::string> dirs = {context_};
    t.from.is_context = name.empty();
    t.from.ignore = name.empty() ? &ignore_ : nullptr;
    t.key = "context";
    if (std::optional<int> idx = name.empty() ? std::nullopt : stage_index(name)) {
      const StageState& src = built_.at(*idx);
      dirs = layer_dirs(src, at);
      t.key = src.cache_key;
    } else if (!name.empty()) {
      image::ResolvedImage img = resolve_base(name, at);
      dirs = image::ensure_layers(store_, img.manifest, img.config, "image " + img.name);
      t.key = img.manifest_descriptor.digest;
    }
    t.fs = std::make_unique<LayeredFs>(dirs);
    t.from.fs = t.fs.get();
    return t;
  }

  bool copy_step(const Instruction& ins, BuildScope& scope, StageState& st, const std::string& at) {
    auto lookup = scope.lookup_fn();
    auto target_dirs = layer_dirs(st, at);
    LayeredFs target(target_dirs);
    CopyRequest req = copy_request_of(ins, scope.words(), lookup, target, st.working_dir(), at);
    // ADD's URLs are downloaded first: their content is part of the key.
    TreeRemoval downloads;
    if (!req.urls.empty()) downloads.hold(store_.make_tmp_dir("build-add"));
    for (size_t i = 0; i < req.urls.size(); ++i) {
      std::string dir = downloads.path() + "/" + std::to_string(i);
      mkdir_p(dir, 0700);
      req.downloads.push_back(download_url(req.urls[i], dir, req.checksum, opts_.net, at));
    }

    auto f = ins.flag("from");
    SourceTree source = source_tree(f ? scope.words().expand(*f, lookup) : "", at);
    const CopyFrom& from = source.from;
    const std::string& from_key = source.key;

    auto write_all = [&](image::TarWriter& tar, bool zero_mtimes) {
      CopyRequest r = req;
      r.zero_mtimes = zero_mtimes;
      write_copy(r, from, target, tar);
    };
    // The content key: the layer's tar with every mtime zeroed, hashed
    // without being stored. Touching a file changes nothing; editing it does.
    Sha256 content;
    image::TarWriter probe([&](const void* p, size_t n) { content.update(p, n); });
    write_all(probe, true);
    probe.finish();
    std::string key = chain_key(st.cache_key, ins.text + "\n" + from_key + "\n" + content.digest());
    return layer_step(st, key, ins.text, [&]() -> std::optional<Layer> {
      LayerBlob blob(store_);
      image::TarWriter tar([&](const void* p, size_t n) { blob.write(p, n); });
      write_all(tar, false);
      tar.finish();
      return blob.finish(at);
    });
  }

  // WORKDIR makes its directory when the image lacks it: a layer of the
  // missing directories, nothing else.
  bool workdir_step(const Instruction& ins, StageState& st, const std::string& at) {
    std::string wd = st.working_dir();
    auto dirs = layer_dirs(st, at);
    LayeredFs fs(dirs);
    auto node = fs.lookup(wd, true);
    if (node && S_ISDIR(node->st.st_mode)) {
      st.add_history(ins.text, true, st.created);
      return false;
    }
    if (node) throw Error(at + ": WORKDIR " + wd + " exists and is not a directory");
    // Made as the stage's USER, as BuildKit does, so that a later RUN as
    // that user can write there.
    std::optional<std::pair<uint32_t, uint32_t>> owner;
    if (!st.user().empty()) {
      try {
        owner = image::parse_user(st.user(), fs.read_small_file("/etc/passwd"),
                                  fs.read_small_file("/etc/group"));
      } catch (const Error& e) {
        throw Error(at + ": WORKDIR as USER " + st.user() + ": " + e.what());
      }
    }
    std::string key = chain_key(st.cache_key, "mkdir\n" + st.user());
    return layer_step(st, key, ins.text, [&]() -> std::optional<Layer> {
      LayerBlob blob(store_);
      image::TarWriter tar([&](const void* p, size_t n) { blob.write(p, n); });
      std::set<std::string> made;
      try {
        add_missing_dirs(fs, wd, tar, owner, now_seconds(), made);
      } catch (const Error& e) {
        throw Error(at + ": WORKDIR " + wd + ": " + e.what());
      }
      tar.finish();
      return blob.finish(at);
    });
  }

  std::optional<int> stage_index(const std::string& name) const {
    for (const auto& [idx, _] : built_) {
      (void)_;
      if (std::to_string(idx) == name) return idx;
    }
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(tolower(c));
    for (const auto& s : *stages_)
      if (!s.name.empty() && s.name == lower && built_.count(s.index)) return s.index;
    return std::nullopt;
  }

  BuildResult commit(StageState& st) {
    st.config["created"] = rfc3339(st.created ? st.created : now_seconds());
    std::string config_json = st.config.dump();
    BuildResult r;
    r.config_digest = store_.put_blob(config_json);
    image::Manifest m = st.manifest();
    m.config.digest = r.config_digest;
    m.config.size = static_cast<int64_t>(config_json.size());
    std::string manifest_json_text = image::manifest_json(m);
    r.manifest.media_type = std::string(image::media::kOciManifest);
    r.manifest.digest = store_.put_blob(manifest_json_text);
    r.manifest.size = static_cast<int64_t>(manifest_json_text.size());
    r.manifest.platform = image::host_platform();
    for (const auto& t : opts_.tags) store_.set_tag(image::parse_reference(t).str(), r.manifest);
    r.steps = step_;
    r.cached = cached_;
    return r;
  }

  const image::Store& store_;
  const BuildOptions& opts_;
  BuildCache cache_;
  std::string context_, df_name_;
  char escape_ = '\\';
  DockerIgnore ignore_;
  // The base images' ONBUILD triggers, parsed (steps point into them).
  std::deque<Dockerfile> trigger_files_;
  std::set<const Instruction*> trigger_steps_;
  std::map<int, StageState> built_;
  const std::vector<Stage>* stages_ = nullptr;
  int step_ = 0, total_ = 0, cached_ = 0;
  struct Current {
    const Stage* stage = nullptr;
    const Instruction* ins = nullptr;
    bool announced = false;
  } current_;
};

}  // namespace

BuildResult build_image(const image::Store& store, const BuildOptions& options) {
  return Builder(store, options).run();
}

}  // namespace coracle::builder

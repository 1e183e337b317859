// `coracle build`: a Dockerfile built into the store (src/builder).
// People get BuildKit's live view on a terminal, or one line per step
// ("[2/5] RUN ...", CACHED marks) and the RUN output as it comes; --json
// gives one event per line on stdout (build_view.h).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/builder.h"
#include "cli/build_view.h"
#include "cli/commands.h"
#include "cli/events.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/unique_fd.h"
#include "image/export.h"
#include "image/reference.h"
#include "image/resolve.h"
#include "image/store.h"

namespace coracle::cli {
namespace {

struct BuildFlags {
  std::vector<std::string> tags, build_args, labels, secrets, allow;
  launch::EtcOptions etc;
  std::string iidfile, platform;
  std::string file, target, net = "pasta", output, context = ".", progress = "auto";
  bool no_cache = false, json = false, quiet = false;
  RegistryFlags registry;
};

// --secret id=ID[,src=FILE|,env=VAR][,type=file|env], as docker buildx
// reads it: with neither src nor env, the variable named ID if it is set,
// else the file named ID. The value is read here, once, bounded.
std::pair<std::string, std::string> load_secret(const std::string& text) {
  std::string id, type, src, env;
  for (const auto& field : split(text, ',')) {
    auto eq = field.find('=');
    std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
    if (k == "id")
      id = v;
    else if (k == "type")
      type = v;
    else if (k == "src" || k == "source")
      src = v;
    else if (k == "env")
      env = v;
    else
      throw Error("--secret " + text + ": unknown field " + k + " (id, src, env, type)");
  }
  if (id.empty()) throw Error("--secret " + text + ": needs id=");
  if (!type.empty() && type != "file" && type != "env")
    throw Error("--secret " + text + ": type=file or type=env");
  if (type.empty())
    type = !src.empty() ? "file" : !env.empty() || getenv(id.c_str()) ? "env" : "file";
  std::string value;
  if (type == "env") {
    const char* v = getenv((env.empty() ? id : env).c_str());
    if (!v) throw Error("--secret " + text + ": $" + (env.empty() ? id : env) + " is not set");
    value = v;
  } else {
    std::string path = src.empty() ? id : src;
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("--secret " + text + ": cannot open " + path);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd.get(), buf, sizeof buf)) > 0) {
      value.append(buf, static_cast<size_t>(n));
      if (value.size() > builder::kMaxSecretBytes)
        throw Error("--secret " + text + ": " + path + " is over " +
                    std::to_string(builder::kMaxSecretBytes / 1024) + " KiB");
    }
    if (n < 0) throw_errno("--secret " + text + ": cannot read " + path);
  }
  if (value.size() > builder::kMaxSecretBytes)
    throw Error("--secret " + text + ": the value is over " +
                std::to_string(builder::kMaxSecretBytes / 1024) + " KiB");
  return {id, value};
}

}  // namespace

std::function<int()> add_build_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<BuildFlags>();
  CLI::App* cmd = app.add_subcommand("build", "Build a Dockerfile into an image in the store");
  cmd->add_option("context", f->context, "The build context directory (default .)");
  cmd->add_option("-t,--tag", f->tags, "Name for the image (repeatable)");
  cmd->add_option("-f,--file", f->file, "The Dockerfile (default CONTEXT/Dockerfile)");
  cmd->add_option("--build-arg", f->build_args, "K=V for an ARG (repeatable)");
  cmd->add_option("--target", f->target, "Build up to this stage");
  cmd->add_option("--label", f->labels, "K=V label for the image (repeatable)");
  cmd->add_option("--secret", f->secrets,
                  "id=ID,src=FILE or id=ID,env=VAR: a secret for RUN --mount=type=secret "
                  "(repeatable; never kept in the image)");
  cmd->add_option("--iidfile", f->iidfile, "Write the image ID (its config digest) to this file");
  cmd->add_option("--platform", f->platform,
                  "The image's platform: this host's only (no emulation of other CPUs)");
  cmd->add_flag("--no-cache", f->no_cache, "Run every step, reusing nothing");
  cmd->add_option("--net,--network", f->net,
                  "RUN's network: pasta (own namespace, outbound access: the default), private "
                  "(loopback only), none, or host (the host's own, services on 127.0.0.1 "
                  "included)");
  cmd->add_option("--allow", f->allow,
                  "Grant an entitlement: network.host (RUN --network=host in the Dockerfile)")
      ->allow_extra_args(false);
  add_etc_flags(cmd, f->etc);
  cmd->add_option("--output,-o", f->output, "Also write the image to oci-archive:PATH");
  cmd->add_flag("--json", f->json, "JSON events on stdout, one per line");
  cmd->add_option("--progress", f->progress,
                  "auto (tty on a terminal, else plain), plain, tty (a live view of the "
                  "running step), json (as --json)");
  cmd->add_flag("-q,--quiet", f->quiet, "Print only the image digest");
  add_registry_flags(cmd, f->registry, false);
  // One value per flag: `-t a .` must leave the context alone.
  for (const char* name : {"--tag", "--build-arg", "--label", "--secret"})
    cmd->get_option(name)->allow_extra_args(false);

  return [f, &global]() -> int {
    bool quiet = f->quiet;
    BuildProgress progress = parse_build_progress(f->progress, f->json, quiet);
    bool json = progress == BuildProgress::kJson;
    if (json) open_event_stream("build");
    set_quiet(quiet);
    image::Store store(global.store_root());
    builder::BuildOptions opt;
    opt.context = f->context;
    opt.dockerfile = f->file;
    if (f->file == "-") {
      // -f -: the Dockerfile from stdin, as docker build takes it.
      std::string text;
      char buf[65536];
      ssize_t n;
      while ((n = read(0, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      opt.dockerfile_text = std::move(text);
    }
    if (!f->platform.empty() &&
        image::parse_platform(f->platform).str() != image::host_platform().str())
      throw Error("--platform " + f->platform + ": coracle builds for this host's platform (" +
                  image::host_platform().str() + ") only");
    for (const auto& l : f->labels) {
      auto eq = l.find('=');
      if (eq == std::string::npos || eq == 0) throw Error("--label " + l + ": use KEY=VALUE");
      opt.labels[l.substr(0, eq)] = l.substr(eq + 1);
    }
    for (const auto& s : f->secrets) {
      auto [id, value] = load_secret(s);
      opt.secrets[id] = std::move(value);  // the last one given wins
    }
    opt.no_cache = f->no_cache;
    opt.use_overlay = global.use_overlay();
    opt.net = sandbox::parse_net_mode(f->net);
    launch::check_etc_options(f->etc);
    opt.etc = f->etc;
    for (const auto& name : f->allow) builder::grant_entitlement(opt.allow, name);
    opt.args.target = f->target;
    std::string plat = image::host_platform().str();
    opt.args.target_platform = opt.args.build_platform = plat;
    for (const auto& a : f->build_args) {
      auto eq = a.find('=');
      if (eq == 0) throw Error("--build-arg " + a + ": use NAME=VALUE or NAME");
      if (eq == std::string::npos) {
        // docker takes "--build-arg NAME" from the environment, and passes
        // nothing when it is unset (the ARG keeps its default).
        if (const char* v = getenv(a.c_str())) opt.args.values[a] = v;
      } else {
        opt.args.values[a.substr(0, eq)] = a.substr(eq + 1);
      }
    }
    for (const auto& t : f->tags) {
      image::parse_reference(t);  // a bad name fails before any work
      opt.tags.push_back(t);
    }
    std::string archive;
    if (!f->output.empty()) {
      if (f->output.rfind("oci-archive:", 0) != 0 || f->output.size() <= 12)
        throw Error("--output " + f->output + ": use oci-archive:PATH");
      archive = f->output.substr(12);
    }
    BuildView view(progress);
    opt.fetch_base = [&](const std::string& ref) {
      view.hold();  // the pull draws its own bars
      pull_with_progress(global.store_root(), ref, f->registry, json);
    };
    opt.on_event = [&view](const builder::BuildEvent& e) { view.event(e); };
    opt.on_output = [&view](std::string_view data) { view.output(data); };
    builder::BuildResult r = builder::build_image(store, opt);
    view.finish();
    for (const auto& a : r.unused_build_args)
      fprintf(stderr, "warning: --build-arg %s: no ARG in the Dockerfile uses it\n", a.c_str());
    if (!f->iidfile.empty()) write_file_atomic(f->iidfile, r.config_digest);
    if (!archive.empty()) {
      auto img = image::load_image(store, r.manifest.digest, r.manifest);
      image::export_image(store, img, archive, image::ExportFormat::kOciArchive);
    }
    if (json) {
      nlohmann::ordered_json tags = nlohmann::ordered_json::array();
      for (const auto& t : opt.tags) tags.push_back(image::parse_reference(t).str());
      events::result({{"digest", r.manifest.digest},
                      {"config_digest", r.config_digest},
                      {"tags", tags},
                      {"build_steps", r.steps},
                      {"cached_steps", r.cached}});
    } else if (quiet) {
      printf("%s\n", r.manifest.digest.c_str());
    } else {
      for (const auto& t : opt.tags)
        fprintf(stderr, "tagged %s\n", image::parse_reference(t).str().c_str());
      if (!archive.empty()) fprintf(stderr, "wrote %s\n", archive.c_str());
      printf("%s\n", r.manifest.digest.c_str());
    }
    return 0;
  };
}

}  // namespace coracle::cli

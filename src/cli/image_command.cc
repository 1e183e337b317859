// `coracle image ...`: the store's commands. Each is a thin layer over
// src/image; output is a table for people, or JSON with --json.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/events.h"
#include "cli/progress.h"
#include "common/error.h"
#include "common/parse.h"
#include "common/terminal_text.h"
#include "image/export.h"
#include "image/gc.h"
#include "image/import.h"
#include "image/pull.h"
#include "image/push.h"
#include "image/reference.h"
#include "image/registries_conf.h"
#include "image/resolve.h"
#include "image/store.h"
#include "volume/volumes.h"

namespace coracle::cli {
namespace {

struct ImageFlags {
  std::string path, tag, ref, dest, platform, format = "oci-archive", chunk_size;
  std::vector<std::string> refs;
  bool json = false, quiet = false;
  RegistryFlags registry;
};

image::Platform platform_of(const ImageFlags& f) {
  return f.platform.empty() ? image::host_platform() : image::parse_platform(f.platform);
}

int list(const image::Store& store, const ImageFlags& f) {
  nlohmann::json out = nlohmann::json::array();
  auto tags = store.tags();
  // The NAME column as wide as its longest name: a long one never pushes
  // the others out of line.
  int width = 4;
  for (const auto& t : tags)
    width = std::max(width, static_cast<int>(terminal_safe(t.name, TerminalLines::kOne).size()));
  if (!f.json) printf("%-*s  %-12s  %s\n", width, "NAME", "ID", "SIZE");
  for (const auto& t : tags) {
    int64_t size = 0;
    std::string artifact;  // an artifact's type (an assistant), not an image
    try {
      image::Manifest m =
          image::parse_manifest(store.read_blob(t.target.digest), "manifest of " + t.name);
      artifact = m.artifact_type;
      if (artifact.empty()) m = image::load_image(store, t.name, t.target).manifest;
      for (const auto& l : m.layers) size += l.size;
    } catch (const Error&) {
      size = -1;  // listed all the same: `image inspect` says what is wrong
    }
    if (f.json) {
      out.push_back({{"name", t.name}, {"digest", t.target.digest}, {"size", size}});
      if (!artifact.empty()) out.back()["artifactType"] = artifact;
    } else {
      printf("%-*s  %-12s  %s%s\n", width, terminal_safe(t.name, TerminalLines::kOne).c_str(),
             t.target.digest.substr(7, 12).c_str(),
             size < 0 ? "(broken)" : human_size(size).c_str(),
             artifact.empty() ? "" : ("  " + artifact).c_str());
    }
  }
  if (f.json) printf("%s\n", out.dump().c_str());
  return 0;
}

int inspect(const image::Store& store, const ImageFlags& f) {
  // An artifact (an assistant): its manifest as stored, no image config.
  if (image::looks_like_reference(f.ref))
    if (auto d = store.find_tag(image::parse_reference(f.ref).str())) {
      nlohmann::json m = nlohmann::json::parse(store.read_blob(d->digest), nullptr, false);
      if (m.is_object() && m.contains("artifactType")) {
        printf("%s\n", nlohmann::json({{"name", image::parse_reference(f.ref).str()},
                                       {"digest", d->digest},
                                       {"manifest", m}})
                           .dump(2)
                           .c_str());
        return 0;
      }
    }
  auto img = image::resolve_image(store, f.ref, platform_of(f));
  nlohmann::json config = nlohmann::json::parse(store.read_blob(img.manifest.config.digest));
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : img.manifest.layers)
    layers.push_back({{"digest", l.digest}, {"size", l.size}, {"mediaType", l.media_type}});
  nlohmann::json out = {{"name", img.name},
                        {"digest", img.manifest_descriptor.digest},
                        {"mediaType", img.manifest.media_type},
                        {"layers", layers},
                        // docker's image ID (--iidfile writes it too)
                        {"config_digest", img.manifest.config.digest},
                        {"config", config}};
  printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

void add_registry_flags(CLI::App* cmd, RegistryFlags& f, bool with_platform) {
  if (with_platform)
    cmd->add_option("--platform", f.platform,
                    "OS/ARCH[/VARIANT] to take from a multi-platform image (default: this host's)");
  cmd->add_flag("--insecure", f.insecure,
                "Allow plain HTTP and unverified TLS (always allowed for 127.0.0.0/8 and "
                "localhost)");
  cmd->add_option("--ca", f.ca, "A CA certificate (PEM) to trust for the registry")
      ->check(CLI::ExistingFile);
}

std::string pull_with_progress(const std::string& root, const std::string& ref,
                               const RegistryFlags& f, bool json,
                               const std::string& artifact_type) {
  image::Store store(root);
  image::PullOptions opt;
  opt.artifact_type = artifact_type;
  if (!f.platform.empty()) opt.platform = image::parse_platform(f.platform);
  opt.registry.insecure = f.insecure;
  opt.registry.ca_file = f.ca;
  // A short name is shown as given: registries.conf decides what it means.
  PullView view(output_mode(json),
                image::is_short_name(ref) ? ref : image::parse_reference(ref).str());
  opt.on_event = [&view](const image::PullEvent& e) { view(e); };
  return image::pull_image(store, ref, opt);
}

std::function<int()> add_image_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<ImageFlags>();
  CLI::App* image = app.add_subcommand("image", "Manage the image store (no daemon)");
  image->require_subcommand(1);

  auto* pull = image->add_subcommand("pull", "Download an image from a registry into the store");
  pull->add_option("ref", f->ref, "Image reference, e.g. alpine:3.20 or host:5000/app@sha256:...")
      ->required();
  add_registry_flags(pull, f->registry);
  pull->add_flag("--json", f->json, "JSON events on stdout, one per line");
  pull->add_flag("-q,--quiet", f->quiet, "No progress: only the name pulled, on stdout");

  auto* push = image->add_subcommand(
      "push", "Upload an image of the store to a registry (distribution API v2)");
  push->add_option("ref", f->ref, "The image in the store")->required();
  push->add_option("destination", f->tag, "Where to (a reference; default: the image's own name)");
  push->add_option("--chunk-size", f->chunk_size,
                   "Blobs over this size are sent in PATCH chunks of it (0: one PUT each; "
                   "default 16MiB)");
  add_registry_flags(push, f->registry, false);
  push->add_flag("--json", f->json, "JSON events on stdout, one per line");
  push->add_flag("-q,--quiet", f->quiet, "No progress: only the digest, on stdout");

  auto* imp = image->add_subcommand(
      "import", "Import an OCI layout folder, an oci-archive or a docker-archive tar");
  imp->add_option("path", f->path, "Folder or tar file")->required();
  imp->add_option("--tag", f->tag, "Name for the image (when the input names none, or to rename)");
  imp->add_option("--platform", f->platform,
                  "OS/ARCH[/VARIANT] to take from a multi-platform image");
  imp->add_flag("--json", f->json, "JSON events on stdout, one per line");
  imp->add_flag("-q,--quiet", f->quiet, "Only the names imported, one per line");

  auto* ls = image->add_subcommand("ls", "List the images in the store");
  ls->add_flag("--json", f->json, "One JSON array");

  auto* ins = image->add_subcommand("inspect", "Show an image's manifest and config as JSON");
  ins->add_option("ref", f->ref, "Image reference or digest")->required();
  ins->add_option("--platform", f->platform, "OS/ARCH[/VARIANT]");

  auto* tag = image->add_subcommand("tag", "Give an image another name");
  tag->add_option("source", f->ref, "Existing image")->required();
  tag->add_option("target", f->tag, "New name")->required();

  auto* rm = image->add_subcommand("rm", "Remove image names (gc frees the space)");
  rm->add_option("refs", f->refs, "Image references")->required();

  auto* unpack = image->add_subcommand("unpack", "Write an image's flattened rootfs into DIR");
  unpack->add_option("ref", f->ref, "Image reference or digest")->required();
  unpack->add_option("dir", f->dest, "New or empty directory")->required();
  unpack->add_option("--platform", f->platform, "OS/ARCH[/VARIANT]");

  auto* gc = image->add_subcommand(
      "gc", "Free blobs and unpacked layers that no image name reaches (not those in use)");
  gc->add_flag("--json", f->json, "JSON events on stdout: the result says what was freed");

  auto* exp = image->add_subcommand("export", "Write an image to a tar that other tools load");
  exp->add_option("ref", f->ref, "Image reference or digest")->required();
  exp->add_option("path", f->dest, "The tar file to write")->required();
  exp->add_option("--format", f->format, "oci-archive (default) or docker-archive")
      ->check(CLI::IsMember({"oci-archive", "docker-archive"}));
  exp->add_option("--platform", f->platform, "OS/ARCH[/VARIANT]");

  return [f, &global, pull, push, imp, ls, ins, tag, rm, gc, exp, unpack]() -> int {
    // ls and inspect print one JSON document; these stream events.
    for (auto* streamed : {pull, push, imp, gc})
      if (streamed->parsed() && f->json) open_event_stream("image " + streamed->get_name());
    set_quiet(f->quiet);
    if (pull->parsed()) {
      std::string name = pull_with_progress(global.store_root(), f->ref, f->registry, f->json);
      if (!f->json) printf("%s\n", name.c_str());
      image::Store store(global.store_root());
      auto pulled = store.find_tag(name);
      events::result(
          {{"ref", image::is_short_name(f->ref) ? f->ref : image::parse_reference(f->ref).str()},
           {"name", name},
           {"digest", pulled ? pulled->digest : ""}});
      return 0;
    }
    image::Store store(global.store_root());
    if (push->parsed()) {
      image::PushOptions opt;
      opt.registry.insecure = f->registry.insecure;
      opt.registry.ca_file = f->registry.ca;
      if (!f->chunk_size.empty()) opt.chunk_size = parse_bytes(f->chunk_size);
      std::string dest = !f->tag.empty() ? f->tag
                         : image::looks_like_reference(f->ref)
                             ? f->ref
                             : image::resolve_image(store, f->ref).name;
      dest = image::parse_reference(dest).str();
      PullView view(output_mode(f->json), dest, PullView::Direction::kPush);
      opt.on_event = [&view](const image::PullEvent& e) { view(e); };
      std::string digest = image::push_image(store, f->ref, f->tag, opt);
      if (!f->json) printf("%s\n", digest.c_str());
      events::result({{"ref", dest}, {"digest", digest}});
      return 0;
    }
    if (imp->parsed()) {
      image::ImportOptions opt;
      opt.tag = f->tag;
      opt.platform = platform_of(*f);
      nlohmann::ordered_json names = nlohmann::ordered_json::array();
      for (const auto& name : image::import_image(store, f->path, opt)) {
        if (!f->json) printf(f->quiet ? "%s\n" : "imported %s\n", name.c_str());
        names.push_back(name);
      }
      events::result({{"images", names}});
      return 0;
    }
    if (ls->parsed()) return list(store, *f);
    if (ins->parsed()) return inspect(store, *f);
    if (tag->parsed()) {
      auto img = image::resolve_image(store, f->ref);
      std::string name = image::parse_reference(f->tag).str();
      // Tag what the source name points at (an index stays an index).
      auto target = store.find_tag(img.name);
      store.set_tag(name, target ? *target : img.manifest_descriptor);
      printf("tagged %s\n", name.c_str());
      return 0;
    }
    if (rm->parsed()) {
      int status = 0;
      for (const auto& r : f->refs) {
        // A digest (prefix) removes every name of that image, as podman
        // rmi ID does.
        {
          if (auto img = image::find_image(store, r); img && img->name == img->target.digest) {
            bool any = false;
            for (const auto& t : store.tags())
              if (t.target.digest == img->target.digest && store.remove_tag(t.name)) {
                printf("removed %s\n", terminal_safe(t.name, TerminalLines::kOne).c_str());
                any = true;
              }
            if (!any) {
              fprintf(stderr, "coracle: image %s has no name left to remove\n",
                      img->target.digest.c_str());
              status = kExitInternal;
            }
            continue;
          }
        }
        std::string name = image::parse_reference(r).str();
        if (store.remove_tag(name)) {
          printf("removed %s\n", name.c_str());
        } else {
          fprintf(stderr, "coracle: no image named %s\n", name.c_str());
          status = kExitInternal;
        }
      }
      return status;
    }
    if (gc->parsed()) {
      auto r = image::collect_garbage(store);
      // Volumes are data, never garbage: kept, and said so (volume prune
      // removes those no run uses).
      int volumes = 0, volumes_in_use = 0;
      for (const auto& v : volume::VolumeStore(global.store_root()).list()) {
        ++volumes;
        volumes_in_use += v.in_use ? 1 : 0;
      }
      if (f->json) {
        events::result({{"blobs_removed", r.blobs_removed},
                        {"bytes_freed", r.blob_bytes},
                        {"layers_removed", r.layers_removed},
                        {"layers_in_use", r.layers_in_use},
                        {"volumes_kept", volumes},
                        {"volumes_in_use", volumes_in_use}});
      } else {
        printf("removed %d blobs (%s) and %d unpacked layers", r.blobs_removed,
               human_size(static_cast<int64_t>(r.blob_bytes)).c_str(), r.layers_removed);
        if (r.layers_in_use)
          printf("; %d unused layers are still in use by a sandbox", r.layers_in_use);
        if (volumes)
          printf("; kept %d volumes (%d in use; `coracle volume prune` removes the others)",
                 volumes, volumes_in_use);
        printf("\n");
      }
      return 0;
    }
    if (exp->parsed()) {
      auto img = image::resolve_image(store, f->ref, platform_of(*f));
      image::export_image(store, img, f->dest,
                          f->format == "docker-archive" ? image::ExportFormat::kDockerArchive
                                                        : image::ExportFormat::kOciArchive);
      printf("exported %s to %s (%s)\n", img.name.c_str(), f->dest.c_str(), f->format.c_str());
      return 0;
    }
    if (unpack->parsed()) {
      auto img = image::resolve_image(store, f->ref, platform_of(*f));
      uint64_t devices = image::flatten_image(store, img, f->dest);
      printf("unpacked %s into %s\n", img.name.c_str(), f->dest.c_str());
      if (devices)
        fprintf(stderr,
                "coracle: skipped %llu device node(s) of the image: coracle never makes them "
                "from an image (bind the ones you need with -v)\n",
                static_cast<unsigned long long>(devices));
      return 0;
    }
    return 0;
  };
}

}  // namespace coracle::cli

// `coracle volume create|ls|inspect|rm|prune`: the named volumes of the
// store (src/volume), as podman's volume commands show them.
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/terminal_text.h"
#include "volume/volumes.h"

namespace coracle::cli {
namespace {

struct VolumeFlags {
  std::string name;
  std::vector<std::string> names;
  bool json = false, quiet = false;
};

nlohmann::ordered_json volume_json(const volume::VolumeInfo& v) {
  char created[32] = "";
  time_t t = static_cast<time_t>(v.created);
  struct tm tm {};
  if (v.created && gmtime_r(&t, &tm)) strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {
      {"name", v.name}, {"mountpoint", v.mountpoint}, {"created", created}, {"in_use", v.in_use}};
}

}  // namespace

std::function<int()> add_volume_command(CLI::App& app, const GlobalOptions& global) {
  auto f = std::make_shared<VolumeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "volume", "Named volumes: data kept in the store across runs (-v NAME:/path)");
  cmd->require_subcommand(1);
  CLI::App* create = cmd->add_subcommand("create", "Make a volume (-v NAME makes one too)");
  create->add_option("name", f->name, "Its name")->required();
  CLI::App* ls = cmd->add_subcommand("ls", "List the volumes");
  ls->add_flag("--json", f->json, "A JSON array");
  ls->add_flag("-q,--quiet", f->quiet, "Only the names");
  CLI::App* inspect = cmd->add_subcommand("inspect", "A volume as JSON");
  inspect->add_option("name", f->name, "Its name")->required();
  CLI::App* rm = cmd->add_subcommand("rm", "Remove volumes and their data (not one in use)");
  rm->add_option("names", f->names, "Their names")->required();
  CLI::App* prune = cmd->add_subcommand("prune", "Remove every volume no run uses");

  return [f, &global, create, ls, inspect, rm, prune]() -> int {
    volume::VolumeStore store(global.store_root());
    if (create->parsed()) {
      printf("%s\n", store.create(f->name).name.c_str());
      return 0;
    }
    if (ls->parsed()) {
      auto all = store.list();
      if (f->json) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& v : all) out.push_back(volume_json(v));
        printf("%s\n", out.dump().c_str());
      } else if (f->quiet) {
        for (const auto& v : all) printf("%s\n", v.name.c_str());
      } else {
        int width = 4;
        for (const auto& v : all) width = std::max(width, static_cast<int>(v.name.size()));
        printf("%-*s  %-6s  %s\n", width, "NAME", "IN USE", "MOUNTPOINT");
        for (const auto& v : all)
          printf("%-*s  %-6s  %s\n", width, v.name.c_str(), v.in_use ? "yes" : "no",
                 terminal_safe(v.mountpoint, TerminalLines::kOne).c_str());
      }
      return 0;
    }
    if (inspect->parsed()) {
      auto v = store.find(f->name);
      if (!v) throw Error("there is no volume " + f->name);
      printf("%s\n", volume_json(*v).dump(2).c_str());
      return 0;
    }
    if (rm->parsed()) {
      int status = 0;
      for (const auto& name : f->names) {
        try {
          store.remove(name);
          printf("%s\n", name.c_str());
        } catch (const Error& e) {
          print_error(e.what());
          status = kExitInternal;
        }
      }
      return status;
    }
    if (prune->parsed()) {
      for (const auto& name : store.prune()) printf("%s\n", name.c_str());
      return 0;
    }
    return 0;
  };
}

}  // namespace coracle::cli

#include "builder/dockerfile/build_plan.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "common/parse.h"

namespace coracle::builder {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "linux/arm64/v8" → os, arch, variant.
void add_platform_args(std::map<std::string, std::optional<std::string>>& args,
                       const std::string& prefix, const std::string& platform) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t slash; (slash = platform.find('/', start)) != std::string::npos; start = slash + 1)
    parts.push_back(platform.substr(start, slash - start));
  parts.push_back(platform.substr(start));
  args[prefix + "PLATFORM"] = platform;
  args[prefix + "OS"] = parts[0];
  args[prefix + "ARCH"] = parts.size() > 1 ? parts[1] : "";
  args[prefix + "VARIANT"] = parts.size() > 2 ? parts[2] : "";
}

// "NAME=default" or "NAME" → name and optional default (unexpanded).
std::pair<std::string, std::optional<std::string>> split_arg(const std::string& word) {
  size_t eq = word.find('=');
  if (eq == std::string::npos) return {word, std::nullopt};
  return {word.substr(0, eq), word.substr(eq + 1)};
}

ShellWords::Lookup lookup_in(const std::map<std::string, std::optional<std::string>>& args) {
  return [&args](const std::string& name) -> std::optional<std::string> {
    auto it = args.find(name);
    return it == args.end() ? std::nullopt : it->second;
  };
}

}  // namespace

BuildPlan plan_build(const Dockerfile& dockerfile, const BuildArgs& args, const std::string& name) {
  auto fail = [&](int line, const std::string& message) -> void {
    throw Error(name + ":" + std::to_string(line) + ": " + message);
  };
  BuildPlan plan;
  add_platform_args(plan.global_args, "TARGET", args.target_platform);
  add_platform_args(plan.global_args, "BUILD", args.build_platform);
  ShellWords words(dockerfile.escape);
  std::set<std::string> declared;
  std::map<std::string, int> by_name;

  for (const auto& ins : dockerfile.instructions) {
    if (ins.keyword == "ARG") {
      for (const auto& word : words.split(ins.args)) {
        auto [arg, def] = split_arg(word);
        declared.insert(arg);
        if (!plan.stages.empty()) continue;  // a stage's ARG: BuildScope's business
        std::optional<std::string> value;
        if (auto given = args.values.find(arg); given != args.values.end())
          value = given->second;
        else if (def)
          value = words.expand(*def, lookup_in(plan.global_args));
        plan.global_args[arg] = value;
      }
      // A stage's ARG is one of its steps: BuildScope declares it in turn.
      if (!plan.stages.empty()) plan.stages.back().instructions.push_back(&ins);
      continue;
    }
    if (ins.keyword != "FROM") {
      plan.stages.back().instructions.push_back(&ins);
      continue;
    }
    Stage stage;
    stage.index = static_cast<int>(plan.stages.size());
    stage.line = ins.line;
    auto lookup = lookup_in(plan.global_args);
    std::vector<std::string> parts = words.expand_words(ins.args, lookup);
    if (parts.empty() || parts[0].empty()) fail(ins.line, "FROM needs an image (or scratch)");
    if (parts.size() == 3 && lower(parts[1]) == "as") {
      stage.name = lower(parts[2]);
      if (by_name.count(stage.name))
        fail(ins.line, "a stage named " + stage.name + " exists already");
      by_name[stage.name] = stage.index;
    } else if (parts.size() != 1) {
      fail(ins.line, "FROM takes IMAGE [AS NAME]");
    }
    stage.base = parts[0];
    if (auto it = by_name.find(lower(stage.base));
        it != by_name.end() && it->second != stage.index) {
      stage.base_stage = it->second;
      stage.depends_on.insert(it->second);
    }
    if (auto platform = ins.flag("platform")) stage.platform = words.expand(*platform, lookup);
    plan.stages.push_back(std::move(stage));
  }

  // COPY --from=NAME|INDEX and RUN --mount=...,from=NAME|INDEX: a
  // dependency on that stage (else an image).
  for (auto& stage : plan.stages) {
    for (const Instruction* ins : stage.instructions) {
      std::vector<std::string> froms;
      if (ins->keyword == "COPY") {
        if (auto from = ins->flag("from")) froms.push_back(*from);
      } else if (ins->keyword == "RUN") {
        for (const auto& [key, value] : ins->flags)
          for (const auto& field : split(value, ','))
            if (key == "mount" && field.rfind("from=", 0) == 0) froms.push_back(field.substr(5));
      }
      for (const auto& from : froms) {
        std::string ref = lower(words.expand(from, lookup_in(plan.global_args)));
        std::optional<int> dep;
        if (auto it = by_name.find(ref); it != by_name.end())
          dep = it->second;
        else if (!ref.empty() && std::all_of(ref.begin(), ref.end(), ::isdigit))
          dep = std::stoi(ref);
        if (!dep) continue;
        if (*dep >= stage.index)
          fail(ins->line, (ins->keyword == "COPY" ? "COPY --from=" : "RUN --mount from=") + from +
                              ": a stage can only use an earlier one");
        stage.depends_on.insert(*dep);
      }
    }
  }

  plan.target = static_cast<int>(plan.stages.size()) - 1;
  if (!args.target.empty()) {
    auto it = by_name.find(lower(args.target));
    if (it == by_name.end()) {
      std::string names;
      for (const auto& [n, i] : by_name) names += (names.empty() ? "" : ", ") + n;
      throw Error("--target " + args.target + ": no stage has that name" +
                  (names.empty() ? std::string(" (the stages have no names)")
                                 : " (stages: " + names + ")"));
    }
    plan.target = it->second;
  }
  // Dependencies always come earlier, so walking down from the target and
  // sorting gives a valid order.
  std::set<int> needed = {plan.target};
  for (int i = plan.target; i >= 0; --i)
    if (needed.count(i))
      for (int dep : plan.stages[static_cast<size_t>(i)].depends_on) needed.insert(dep);
  plan.order.assign(needed.begin(), needed.end());

  for (const auto& [arg, value] : args.values)
    if (!declared.count(arg)) plan.unused_build_args.push_back(arg);
  return plan;
}

BuildScope::BuildScope(const BuildPlan& plan, const BuildArgs& args, char escape)
    : plan_(plan), build_args_(args), words_(escape) {}

void BuildScope::set_base_env(const std::vector<std::string>& env) {
  for (const auto& entry : env) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    set_env(entry.substr(0, eq), entry.substr(eq + 1));
  }
}

void BuildScope::declare_arg(const std::string& name,
                             const std::optional<std::string>& default_value) {
  if (auto given = build_args_.values.find(name); given != build_args_.values.end()) {
    stage_args_[name] = given->second;
  } else if (default_value) {
    stage_args_[name] = words_.expand(*default_value, lookup_fn());
  } else if (auto global = plan_.global_args.find(name);
             global != plan_.global_args.end() && global->second) {
    stage_args_[name] = *global->second;
  }
}

void BuildScope::set_env(const std::string& name, const std::string& value) {
  for (auto& [k, v] : env_)
    if (k == name) {
      v = value;
      return;
    }
  env_.emplace_back(name, value);
}

std::optional<std::string> BuildScope::lookup(const std::string& name) const {
  for (const auto& [k, v] : env_)
    if (k == name) return v;
  if (auto it = stage_args_.find(name); it != stage_args_.end()) return it->second;
  return std::nullopt;
}

ShellWords::Lookup BuildScope::lookup_fn() const {
  return [this](const std::string& name) { return lookup(name); };
}

std::vector<std::string> BuildScope::image_env() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : env_) out.push_back(k + "=" + v);
  return out;
}

std::vector<std::string> BuildScope::run_env() const {
  std::vector<std::string> out = image_env();
  for (const auto& [k, v] : stage_args_) {
    bool shadowed =
        std::any_of(env_.begin(), env_.end(), [&](const auto& e) { return e.first == k; });
    if (!shadowed) out.push_back(k + "=" + v);
  }
  return out;
}

}  // namespace coracle::builder

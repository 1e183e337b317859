// From a parsed Dockerfile to what a build runs: its stages, which of them
// the target needs, and the ARG/ENV scope each instruction is expanded in.
// BuildKit's rules:
//  - ARGs before the first FROM are global: only FROM lines see them (and
//    the automatic platform ARGs: TARGETPLATFORM, TARGETOS, TARGETARCH,
//    TARGETVARIANT, BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT).
//  - Inside a stage, `ARG NAME` without a value takes the global one;
//    --build-arg NAME=V overrides every default.
//  - ENV beats ARG of the same name; RUN sees ARGs as environment, the
//    image's config keeps only ENV.
//  - Only the stages the target reaches (FROM a stage, COPY --from a stage)
//    are built.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/shell_words.h"

namespace coracle::builder {

struct BuildArgs {
  std::map<std::string, std::string> values;  // --build-arg K=V
  std::string target;                         // --target: a stage name; empty: the last
  std::string target_platform = "linux/amd64";
  std::string build_platform = "linux/amd64";
};

struct Stage {
  int index = 0;
  std::string name;               // AS name, lower case; empty when unnamed
  std::string base;               // the FROM reference, expanded; "scratch" for none
  std::optional<int> base_stage;  // FROM an earlier stage
  std::string platform;           // FROM --platform, expanded
  int line = 0;
  std::vector<const Instruction*> instructions;  // after FROM, in order
  std::set<int> depends_on;                      // stages it copies from or is built on
};

struct BuildPlan {
  std::vector<Stage> stages;
  int target = 0;
  std::vector<int> order;  // the stages to build, dependencies first
  std::map<std::string, std::optional<std::string>> global_args;
  std::vector<std::string> unused_build_args;  // given, but no ARG declares them
};

// Throws coracle::Error("NAME:LINE: ...") for a FROM without an image, a
// duplicate stage name, an unknown --target, a COPY --from a later stage.
BuildPlan plan_build(const Dockerfile& dockerfile, const BuildArgs& args,
                     const std::string& name = "Dockerfile");

// The variables one stage's instructions are expanded in.
class BuildScope {
 public:
  BuildScope(const BuildPlan& plan, const BuildArgs& args, char escape);

  // The base image's Env ("K=V"), before the stage's own instructions.
  void set_base_env(const std::vector<std::string>& env);
  // ARG NAME[=default] (already split): declares it in this stage.
  void declare_arg(const std::string& name, const std::optional<std::string>& default_value);
  // ENV K=V: it goes into the image's config too.
  void set_env(const std::string& name, const std::string& value);

  std::optional<std::string> lookup(const std::string& name) const;
  ShellWords::Lookup lookup_fn() const;
  const ShellWords& words() const { return words_; }
  // "K=V" of ENV, in the order first set: the image config's Env.
  std::vector<std::string> image_env() const;
  // image_env() plus the ARGs in scope that ENV does not override: what a
  // RUN step sees.
  std::vector<std::string> run_env() const;
  // The ARG values in scope, for the cache key of a RUN.
  const std::map<std::string, std::string>& args() const { return stage_args_; }

 private:
  const BuildPlan& plan_;
  const BuildArgs& build_args_;
  ShellWords words_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::map<std::string, std::string> stage_args_;
};

}  // namespace coracle::builder

// Stages, targets and ARG/ENV scope, by BuildKit's rules.
#include <gtest/gtest.h>

#include "builder/dockerfile/build_plan.h"
#include "common/error.h"

namespace coracle::builder {
namespace {

TEST(BuildPlan, GlobalArgsReachFromLinesOnly) {
  Dockerfile df = parse_dockerfile(
      "ARG BASE=busybox\n"
      "ARG TAG=1.36\n"
      "FROM --platform=$BUILDPLATFORM ${BASE}:${TAG} AS Build\n"
      "RUN true\n");
  BuildArgs args;
  args.values = {{"TAG", "latest"}};
  BuildPlan plan = plan_build(df, args);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].base, "busybox:latest");  // --build-arg beats the default
  EXPECT_EQ(plan.stages[0].name, "build");           // names are case-insensitive
  EXPECT_EQ(plan.stages[0].platform, "linux/amd64");
  EXPECT_EQ(plan.stages[0].instructions.size(), 1u);
  EXPECT_TRUE(plan.unused_build_args.empty());
}

TEST(BuildPlan, TheTargetNeedsOnlyTheStagesItReaches) {
  Dockerfile df = parse_dockerfile(
      "FROM busybox AS base\n"
      "FROM base AS tools\n"
      "FROM busybox AS unrelated\n"
      "FROM scratch AS final\n"
      "COPY --from=tools /a /a\n"
      "COPY --from=0 /b /b\n"
      "COPY --from=docker.io/library/alpine /c /c\n");
  BuildPlan plan = plan_build(df, {});
  EXPECT_EQ(plan.target, 3);
  EXPECT_EQ(plan.order, (std::vector<int>{0, 1, 3}));  // not "unrelated"
  EXPECT_EQ(plan.stages[1].base_stage, 0);
  EXPECT_FALSE(plan.stages[3].base_stage);  // scratch
  BuildArgs args;
  args.target = "TOOLS";
  plan = plan_build(df, args);
  EXPECT_EQ(plan.target, 1);
  EXPECT_EQ(plan.order, (std::vector<int>{0, 1}));
  args.target = "nope";
  try {
    plan_build(df, args);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stages: base, final, tools, unrelated"),
              std::string::npos)
        << e.what();
  }
}

TEST(BuildPlan, BadStagesAreRefusedWithTheirLine) {
  EXPECT_THROW(plan_build(parse_dockerfile("FROM a AS x\nFROM b AS X\n"), {}), Error);
  EXPECT_THROW(plan_build(parse_dockerfile("FROM a AS x y\n"), {}), Error);
  EXPECT_THROW(plan_build(parse_dockerfile("ARG EMPTY\nFROM $EMPTY\n"), {}), Error);
  try {
    plan_build(parse_dockerfile("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n"), {});
    FAIL() << "a COPY --from a later stage was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "Dockerfile:2: COPY --from=two: a stage can only use an earlier one");
  }
}

TEST(BuildPlan, ARunMountFromAStageDependsOnIt) {
  Dockerfile df = parse_dockerfile(
      "FROM busybox AS deps\n"
      "FROM busybox AS unrelated\n"
      "FROM busybox\n"
      "RUN --mount=type=cache,target=/c --mount=type=bind,from=deps,target=/d true\n");
  EXPECT_EQ(plan_build(df, {}).order, (std::vector<int>{0, 2}));
  EXPECT_THROW(plan_build(parse_dockerfile("FROM a\nRUN --mount=type=bind,from=1,target=/x true\n"
                                           "FROM b\n"),
                          {}),
               Error);
}

TEST(BuildPlan, UnusedBuildArgsAreReported) {
  BuildArgs args;
  args.values = {{"USED", "1"}, {"TYPO", "2"}};
  BuildPlan plan = plan_build(parse_dockerfile("FROM a\nARG USED\n"), args);
  EXPECT_EQ(plan.unused_build_args, std::vector<std::string>{"TYPO"});
}

TEST(BuildScope, ArgsEnvAndTheirPrecedence) {
  Dockerfile df = parse_dockerfile("ARG VERSION=1.0\nARG ONLY_GLOBAL=g\nFROM a\n");
  BuildArgs args;
  args.values = {{"GIVEN", "from-cli"}};
  BuildPlan plan = plan_build(df, args);
  BuildScope scope(plan, args, '\\');
  scope.set_base_env({"PATH=/usr/bin:/bin", "HOME=/root"});
  // A global ARG is not visible in a stage until declared there.
  EXPECT_FALSE(scope.lookup("VERSION"));
  scope.declare_arg("VERSION", std::nullopt);
  EXPECT_EQ(scope.lookup("VERSION"), "1.0");
  scope.declare_arg("GIVEN", std::string("default"));
  EXPECT_EQ(scope.lookup("GIVEN"), "from-cli");
  scope.declare_arg("DIR", std::string("$HOME/app"));
  EXPECT_EQ(scope.lookup("DIR"), "/root/app");
  scope.declare_arg("UNSET", std::nullopt);
  EXPECT_FALSE(scope.lookup("UNSET"));
  // ENV beats ARG, and only ENV reaches the image config.
  scope.set_env("VERSION", "2.0");
  EXPECT_EQ(scope.lookup("VERSION"), "2.0");
  EXPECT_EQ(scope.image_env(),
            (std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/root", "VERSION=2.0"}));
  EXPECT_EQ(scope.run_env(),
            (std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/root", "VERSION=2.0",
                                      "DIR=/root/app", "GIVEN=from-cli"}));
  EXPECT_EQ(scope.words().expand("${DIR}/${VERSION:-x}", scope.lookup_fn()), "/root/app/2.0");
  EXPECT_FALSE(scope.lookup("TARGETARCH"));  // automatic args need an ARG in a stage too
  scope.declare_arg("TARGETARCH", std::nullopt);
  EXPECT_EQ(scope.lookup("TARGETARCH"), "amd64");
}

}  // namespace
}  // namespace coracle::builder

// The runner's first stage (sandbox/run_plan.h): what a run decides before
// anything of it exists, checked as data.
#include "sandbox/run_plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/error.h"
#include "temp_dir.h"

namespace coracle::sandbox {
namespace {

struct RunPlanTest : ::testing::Test {
  test::UnitTempDir tmp;
  Spec spec;
  void SetUp() override {
    ASSERT_EQ(mkdir((tmp.path + "/rootfs").c_str(), 0755), 0);
    spec.rootfs = tmp.path + "/rootfs";
    spec.argv = {"/bin/true"};
  }
};

TEST_F(RunPlanTest, TheDefaultsAreDockersFilterCapabilitiesAndAMountPlan) {
  RunPlan plan = prepare_run(spec, {});
  EXPECT_FALSE(plan.seccomp.code.empty());  // the default profile, not unconfined
  EXPECT_TRUE(plan.notify.code.empty());
  ASSERT_TRUE(plan.caps);
  EXPECT_FALSE(plan.host_writes);
  EXPECT_FALSE(plan.mounts.ops.empty());
  EXPECT_TRUE(plan.create_hooks.empty());
  spec.seccomp_profile = "unconfined";
  EXPECT_TRUE(prepare_run(spec, {}).seccomp.code.empty());
}

TEST_F(RunPlanTest, AWritableHostDirectoryBringsTheHostWriteGuard) {
  spec.volumes.push_back({tmp.path, "/data", true});
  EXPECT_FALSE(prepare_run(spec, {}).host_writes);
  spec.volumes.push_back({tmp.path, "/data2", false});
  EXPECT_TRUE(prepare_run(spec, {}).host_writes);
}

TEST_F(RunPlanTest, WhatCannotRunIsRefusedBeforeAnythingExists) {
  Spec unmapped = spec;
  unmapped.uid = 4000000000U;
  EXPECT_THROW(prepare_run(unmapped, {}), Error);
  Spec nobody_answers = spec;
  nobody_answers.notify_syscalls = {"bind"};
  EXPECT_THROW(prepare_run(nobody_answers, {}), Error);
  Hooks answering;
  answering.on_start = [](Started&) {};
  EXPECT_FALSE(prepare_run(nobody_answers, answering).notify.code.empty());
  Spec later = spec;
  later.start_fifo = tmp.path + "/fifo";
  later.keep_upper = true;
  EXPECT_THROW(prepare_run(later, {}), Error);
  Spec nothing = spec;
  nothing.argv.clear();
  EXPECT_THROW(prepare_run(nothing, {}), Error);
}

TEST_F(RunPlanTest, WithoutAUserNamespaceRootIsHeldInByADeviceCgroup) {
  spec.user_namespace = false;
  RunPlan plan = prepare_run(spec, {});
  EXPECT_FALSE(plan.limits.devices.empty());
  EXPECT_TRUE(plan.limits.any());
}

}  // namespace
}  // namespace coracle::sandbox

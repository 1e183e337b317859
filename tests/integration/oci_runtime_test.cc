// coracle as an OCI runtime, through its runc command line (the binary run
// as coracle-runc): what exists so far: spec, features, state, list, kill,
// delete, runc's global flags and its error log for containerd.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using nlohmann::json;

std::string runc() {
  return std::string(CORACLE_BIN) + "-runc";
}

TEST(OciRuntime, RuncsCommandLineForTheDocumentsAndTheState) {
  TempDir work;
  std::string root = work.path() + "/state", bundle = work.path() + "/bundle";
  mkdir_p(bundle);
  run_sh(runc() + " spec --bundle " + bundle);
  json spec = json::parse(read_file(bundle + "/config.json"));
  EXPECT_EQ(spec["process"]["args"], json({"sh"}));
  EXPECT_EQ(spec["root"]["path"], "rootfs");
  // runc's rule: an existing config.json is not overwritten.
  EXPECT_NE(run_sh(runc() + " spec --bundle " + bundle + " 2>&1; echo status=$?")
                .find("exists. Remove it first\nstatus=1"),
            std::string::npos);
  json features = json::parse(run_sh(runc() + " features"));
  EXPECT_EQ(features["ociVersionMin"], "1.0.0");
  EXPECT_NE(features["linux"]["namespaces"].dump().find("user"), std::string::npos);
  EXPECT_EQ(run_sh(runc() + " --root " + root + " list --format json"), "[]\n");
  // A failed call: exit 1, the message on stderr and, as containerd reads
  // it, in --log as JSON.
  std::string log = work.path() + "/log.json";
  std::string out = run_sh(runc() + " --root " + root + " --log " + log +
                           " --log-format json state nope 2>&1; echo status=$?");
  EXPECT_NE(out.find("container nope does not exist\nstatus=1"), std::string::npos) << out;
  json line = json::parse(read_file(log));
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["msg"], "container nope does not exist");
  // runc's other commands parse and say they are not here yet; systemd
  // cgroups are refused with the setting to change.
  out = run_sh(runc() + " --root " + root + " create --bundle " + bundle + " c1 2>&1; echo $?");
  EXPECT_NE(out.find("'create' is not in coracle-runc yet"), std::string::npos) << out;
  out = run_sh(runc() + " --systemd-cgroup --root " + root + " list 2>&1; echo $?");
  EXPECT_NE(out.find("cgroup_manager = \"cgroupfs\""), std::string::npos) << out;
  // Called as coracle, the same binary is coracle's own command line.
  EXPECT_EQ(coracle({"--version"}).exit_code, 0);
}

}  // namespace
}  // namespace coracle::test

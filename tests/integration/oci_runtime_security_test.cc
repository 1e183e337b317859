// coracle-runc against a hostile neighbour or caller: a state root another
// user made, a cgroupsPath naming someone else's cgroup, fds the caller
// leaks into exec, a process.json asking for more than the container has.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"
#include "oci_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

// A container of another user's making, in a state root it made: its
// state names a bundle whose poststop hook leaves a mark when run.
void plant_container(const std::string& root, const std::string& mark) {
  std::string bundle = root + "/../planted-bundle";
  mkdir_p(bundle + "/rootfs");
  json config = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", "rootfs"}}},
      {"process", {{"args", {"true"}}, {"cwd", "/"}}},
      {"hooks", {{"poststop", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "touch " + mark}}}}}}}};
  write_file_atomic(bundle + "/config.json", config.dump());
  mkdir_p(root + "/planted");
  json state = {{"id", "planted"},
                {"bundle", bundle},
                {"rootfs", bundle + "/rootfs"},
                {"pid", 1},
                {"pid_start_time", 1},
                {"started", true},
                {"created", "now"},
                {"owner", 65534},
                {"cgroup", ""},
                {"annotations", json::object()}};
  write_file_atomic(root + "/planted/state.json", state.dump());
}

TEST(OciRuntimeSecurity, AStateRootOthersOwnOrCanWriteIsNeverUsed) {
  TempDir work;
  std::string root = work.path() + "/shared-state", mark = work.path() + "/hook-ran";
  plant_container(root, mark);
  // Another user made it first, open to all (as they would in /tmp).
  run_sh("chown -R nobody " + root + " && chmod 0777 " + root);
  std::string r = runc() + " --root " + root;
  std::string out = run_sh(r + " list -q 2>&1; echo status=$?");
  EXPECT_EQ(out.find("planted\n"), std::string::npos) << out;
  EXPECT_NE(out.find("belongs to uid 65534"), std::string::npos) << out;
  EXPECT_NE(out.find("status=1"), std::string::npos) << out;
  out = run_sh(r + " delete planted 2>&1; echo status=$?");
  EXPECT_NE(out.find("status=1"), std::string::npos) << out;
  EXPECT_FALSE(path_exists(mark)) << "a planted poststop hook ran as the caller";
  // The caller's own, but writable by others: the same.
  run_sh("chown -R root " + root);
  out = run_sh(r + " list -q 2>&1; echo status=$?");
  EXPECT_NE(out.find("can be written by others (mode 0777)"), std::string::npos) << out;
  // The caller's alone, in a parent others can change (no sticky bit):
  // they could swap it for another.
  run_sh("chmod 0700 " + root + " && chmod 0777 " + work.path());
  out = run_sh(r + " list -q 2>&1; echo status=$?");
  EXPECT_NE(out.find("which others can change"), std::string::npos) << out;
  // With the sticky bit (as /tmp), and the root the caller's alone: used.
  run_sh("chmod 1777 " + work.path());
  EXPECT_EQ(run_sh(r + " list -q"), "planted\n");
  run_sh("chmod 0700 " + work.path());
}

TEST(OciRuntimeSecurity, AFailedCreateLeavesACgroupItDidNotMakeAlone) {
  TempDir work;
  std::string bundle = work.path() + "/bundle";
  json config = make_bundle(bundle, "sh sleep");
  // Someone else's cgroup, with a process of the host in it.
  std::string name = "coracle-victim-" + std::to_string(getpid());
  bool unified = path_exists("/sys/fs/cgroup/cgroup.controllers");
  std::string dir = std::string("/sys/fs/cgroup/") + (unified ? "" : "memory/") + name;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
  pid_t victim = fork();
  if (victim == 0) {
    execl("/bin/sleep", "sleep", "60", nullptr);
    _exit(127);
  }
  write_file(dir + "/cgroup.procs", std::to_string(victim));
  config["linux"]["cgroupsPath"] = "/" + name;
  config["linux"]["resources"]["memory"] = {{"limit", 64 << 20}};
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string out = run_sh(runc() + " --root " + work.path() + "/state create -b " + bundle +
                           " c1 </dev/null 2>&1; echo status=$?");
  EXPECT_NE(out.find("status=1"), std::string::npos) << out;
  usleep(100000);
  EXPECT_EQ(kill(victim, 0), 0) << "create's cleanup killed a process it did not start";
  EXPECT_TRUE(is_directory(dir)) << "create's cleanup removed a cgroup it did not make";
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  rmdir(dir.c_str());
}

// A container that runs until killed, with only CAP_KILL in every set.
std::string start_kill_only_container(const TempDir& work, const std::string& id) {
  std::string bundle = work.path() + "/bundle", root = work.path() + "/state";
  json config = make_bundle(bundle, "sh sleep ls cat grep");
  config["process"]["args"] = {"sleep", "60"};
  for (const char* set : {"bounding", "effective", "permitted"})
    config["process"]["capabilities"][set] = {"CAP_KILL"};
  config["process"]["capabilities"].erase("inheritable");
  config["process"]["capabilities"].erase("ambient");
  write_file_atomic(bundle + "/config.json", config.dump());
  std::string r = runc() + " --root " + root;
  run_sh(r + " run -d -b " + bundle + " " + id + " </dev/null >/dev/null 2>&1");
  return r;
}

TEST(OciRuntimeSecurity, ExecPassesOnlyTheFdsItIsAskedTo) {
  TempDir work;
  std::string r = start_kill_only_container(work, "fds");
  // fd 7 open on a host folder, inherited (no close-on-exec) by the call:
  // through /proc/self/fd/7 the process would read the host's files.
  std::string out = run_sh(r + " exec fds ls /proc/self/fd 7<" + work.path());
  EXPECT_EQ(out.find("7\n"), std::string::npos) << out;
  EXPECT_EQ(
      run_sh(r + " exec fds sh -c 'ls /proc/self/fd/7/ 2>/dev/null || echo none' 7<" + work.path()),
      "none\n");
  // --preserve-fds N passes 3 .. 3+N-1, and nothing past them.
  write_file_atomic(work.path() + "/passed", "through fd 3\n");
  EXPECT_EQ(run_sh(r +
                   " exec --preserve-fds 1 fds sh -c 'cat <&3; ls /proc/self/fd/7 "
                   "2>/dev/null || echo none' 3<" +
                   work.path() + "/passed 7<" + work.path()),
            "through fd 3\nnone\n");
  run_sh(r + " delete --force fds");
}

TEST(OciRuntimeSecurity, ExecNeverHasMoreCapabilitiesThanItsContainer) {
  TempDir work;
  std::string r = start_kill_only_container(work, "caps");
  // CAP_KILL is bit 5.
  const std::string kill_only = "0000000000000020";
  auto exec_caps = [&](const json& process) {
    write_file_atomic(work.path() + "/process.json", process.dump());
    return run_sh(r + " exec --process " + work.path() + "/process.json caps");
  };
  // A process.json naming no capabilities: the container's, not a default.
  json process = {{"args", {"sh", "-c", "grep -E 'CapBnd|CapEff|CapPrm' /proc/self/status"}},
                  {"cwd", "/"},
                  {"user", {{"uid", 0}, {"gid", 0}}}};
  std::string out = exec_caps(process);
  EXPECT_EQ(out,
            "CapPrm:\t" + kill_only + "\nCapEff:\t" + kill_only + "\nCapBnd:\t" + kill_only + "\n");
  // One naming more than the container has: no more than the container.
  for (const char* set : {"bounding", "effective", "permitted"})
    process["capabilities"][set] = {"CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"};
  EXPECT_EQ(exec_caps(process), out);
  // Fewer is fewer.
  for (const char* set : {"bounding", "effective", "permitted"})
    process["capabilities"][set] = json::array();
  EXPECT_EQ(exec_caps(process),
            "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n");
  run_sh(r + " delete --force caps");
}

}  // namespace
}  // namespace coracle::test

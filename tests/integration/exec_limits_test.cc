// Resource limits through cgroups (v1 on this machine, v2 where unified),
// and the timeout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

std::vector<std::string> with_probe(std::vector<std::string> flags,
                                    std::vector<std::string> probe_args) {
  std::vector<std::string> args = {"exec", "--json", "-v", std::string(probe()) + ":/probe:ro"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.push_back("--");
  args.push_back("/probe");
  args.insert(args.end(), probe_args.begin(), probe_args.end());
  return args;
}

nlohmann::json last_json_line(const std::string& out) {
  auto end = out.find_last_not_of('\n');
  auto start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

TEST(Limits, MemoryLimitGivesAnOomReportAnd137) {
  auto r = coracle(with_probe({"--memory", "64m"}, {"alloc", "512"}));
  EXPECT_EQ(r.exit_code, 137) << r.err;
  auto j = last_json_line(r.out);
  EXPECT_EQ(j["oom_killed"], true);
  EXPECT_EQ(j["signal"], 9);
  EXPECT_LE(j["peak_memory_bytes"].get<uint64_t>(), 64u << 20);
  EXPECT_NE(r.err.find("out of memory"), std::string::npos) << r.err;
}

TEST(Limits, WithinTheMemoryLimitNothingHappens) {
  auto r = coracle(with_probe({"--memory", "128m"}, {"alloc", "16"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("allocated 16 MiB"), std::string::npos);
  auto j = last_json_line(r.out);
  EXPECT_EQ(j["oom_killed"], false);
  EXPECT_GE(j["peak_memory_bytes"].get<uint64_t>(), 16u << 20);
}

TEST(Limits, ForkBombIsHeldByPids) {
  auto r = coracle(with_probe({"--pids", "16"}, {"fork", "1000"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_with(log_output(r.out), "forked ");
  ASSERT_EQ(lines.size(), 1u) << r.out;
  int forked = std::stoi(lines[0].substr(7));
  EXPECT_GT(forked, 0);
  EXPECT_LT(forked, 16);  // init and the probe count too
}

// The cgroup of a running sandbox, as the host sees it.
std::string cgroup_file(pid_t runner, const std::string& controller, const std::string& file) {
  std::string name = "coracle-" + std::to_string(runner) + "-0";
  if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
    return read_file("/sys/fs/cgroup/coracle/" + name + "/" + file);
  for (const auto& line : split(read_file("/proc/self/cgroup"), '\n')) {
    auto parts = split(line, ':');
    if (parts.size() == 3 && parts[1] == controller)
      return read_file("/sys/fs/cgroup/" + controller + (parts[2] == "/" ? "" : parts[2]) + "/" +
                       name + "/" + file);
  }
  return "";
}

TEST(Limits, CpuAndPidsLimitsAreWrittenToTheCgroup) {
  int out;
  pid_t runner = spawn_coracle({"exec", "--cpus", "0.5", "--pids", "77", "--memory", "96m", "--",
                                "/bin/sh", "-c", "echo ready; sleep 30"},
                               &out);
  ASSERT_NE(read_until(out, "ready\n").find("ready"), std::string::npos);
  bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
  if (v2) {
    EXPECT_EQ(cgroup_file(runner, "", "cpu.max"), "50000 100000\n");
    EXPECT_EQ(cgroup_file(runner, "", "pids.max"), "77\n");
    EXPECT_EQ(cgroup_file(runner, "", "memory.max"), std::to_string(96u << 20) + "\n");
  } else {
    EXPECT_EQ(cgroup_file(runner, "cpu", "cpu.cfs_quota_us"), "50000\n");
    EXPECT_EQ(cgroup_file(runner, "cpu", "cpu.cfs_period_us"), "100000\n");
    EXPECT_EQ(cgroup_file(runner, "pids", "pids.max"), "77\n");
    EXPECT_EQ(cgroup_file(runner, "memory", "memory.limit_in_bytes"),
              std::to_string(96u << 20) + "\n");
  }
  kill(runner, SIGTERM);
  EXPECT_EQ(wait_coracle(runner), 143);
  close(out);
  auto r = coracle({"exec", "--cpus", "-1", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
}

TEST(Limits, TimeoutSendsTermThenKill) {
  auto r = coracle({"exec", "--json", "--timeout", "300ms", "--", "/bin/sleep", "30"});
  EXPECT_EQ(r.exit_code, 143) << r.err;
  auto j = last_json_line(r.out);
  EXPECT_EQ(j["timed_out"], true);
  EXPECT_NE(r.err.find("timeout"), std::string::npos) << r.err;
  // A command that ignores SIGTERM is killed after the grace period.
  r = coracle({"exec", "--json", "--timeout", "300ms", "--", "/bin/sh", "-c",
               "trap '' TERM; while :; do sleep 1; done"});
  EXPECT_EQ(r.exit_code, 137) << r.err;
  EXPECT_EQ(last_json_line(r.out)["timed_out"], true);
}

TEST(Limits, Rlimits) {
  auto r = coracle(
      {"exec", "--ulimit", "nofile=100:200", "--", "/bin/sh", "-c", "ulimit -n; ulimit -Hn"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "100\n200\n");
  r = coracle({"exec", "--ulimit", "nofile=300:200", "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
}

}  // namespace
}  // namespace coracle::test

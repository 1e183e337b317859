// Resource limits through cgroups (v1 on this machine, v2 where unified),
// and the timeout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  EXPECT_EQ(j["oom"], true);
  EXPECT_EQ(j["signal"], 9);
  EXPECT_LE(j["peak_memory_bytes"].get<uint64_t>(), 64u << 20);
  EXPECT_NE(r.err.find("out of memory"), std::string::npos) << r.err;
}

TEST(Limits, WithinTheMemoryLimitNothingHappens) {
  auto r = coracle(with_probe({"--memory", "128m"}, {"alloc", "16"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("allocated 16 MiB"), std::string::npos);
  auto j = last_json_line(r.out);
  EXPECT_EQ(j["oom"], false);
  EXPECT_GE(j["peak_memory_bytes"].get<uint64_t>(), 16u << 20);
}

TEST(Limits, ForkBombIsHeldByPids) {
  auto r = coracle(with_probe({"--pids", "16"}, {"fork", "1000"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_with(r.out, "forked ");
  ASSERT_EQ(lines.size(), 1u) << r.out;
  int forked = std::stoi(lines[0].substr(7));
  EXPECT_GT(forked, 0);
  EXPECT_LT(forked, 16);  // init and the probe count too
}

TEST(Limits, CpuQuotaIsAccepted) {
  auto r = coracle({"exec", "--cpus", "0.5", "--", "/bin/sh", "-c", "echo ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  r = coracle({"exec", "--cpus", "-1", "--", "true"});
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

// Signals, cleanup after every run, and after a runner killed with SIGKILL.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

// The places coracle may create cgroups for a run of this process tree.
std::vector<std::string> cgroup_bases() {
  std::vector<std::string> bases = {"/sys/fs/cgroup/coracle"};
  for (const auto& line : split(read_file("/proc/self/cgroup"), '\n')) {
    auto parts = split(line, ':');
    if (parts.size() != 3) continue;
    for (const auto& c : split(parts[1], ','))
      if (c == "memory" || c == "pids" || c == "cpu")
        bases.push_back("/sys/fs/cgroup/" + c + (parts[2] == "/" ? "" : parts[2]));
  }
  return bases;
}

std::vector<std::string> coracle_cgroups(const std::string& prefix = "coracle-") {
  std::vector<std::string> found;
  for (const auto& base : cgroup_bases()) {
    DIR* d = opendir(base.c_str());
    if (!d) continue;
    while (auto* e = readdir(d))
      if (std::string(e->d_name).rfind(prefix, 0) == 0) found.push_back(base + "/" + e->d_name);
    closedir(d);
  }
  return found;
}

struct HostSnapshot {
  size_t mounts = 0, fds = 0, cgroups = 0;
  std::set<std::string> netns;
  std::set<pid_t> sandboxes;  // processes whose name is coracle, but us
  bool operator==(const HostSnapshot& o) const {
    return mounts == o.mounts && fds == o.fds && cgroups == o.cgroups && netns == o.netns &&
           sandboxes == o.sandboxes;
  }
};

HostSnapshot snapshot() {
  HostSnapshot s;
  s.mounts = split(read_file("/proc/self/mountinfo"), '\n').size();
  DIR* d = opendir("/proc/self/fd");
  while (auto* e = readdir(d)) s.fds += e->d_name[0] != '.';
  closedir(d);
  s.cgroups = coracle_cgroups().size();
  d = opendir("/proc");
  while (auto* e = readdir(d)) {
    if (!isdigit(e->d_name[0])) continue;
    std::string proc = std::string("/proc/") + e->d_name;
    char link[128];
    ssize_t n = readlink((proc + "/ns/net").c_str(), link, sizeof link);
    if (n > 0) s.netns.insert(std::string(link, static_cast<size_t>(n)));
    try {
      if (read_file(proc + "/comm") == "coracle\n") s.sandboxes.insert(std::stoi(e->d_name));
    } catch (...) {
    }
  }
  closedir(d);
  return s;
}

bool process_exists(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

// Waits (bounded) for a condition that the kernel makes true asynchronously.
template <typename F>
bool eventually(F condition, int max_wait_ms = 10000) {
  for (int waited = 0; waited < max_wait_ms; waited += 10) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

TEST(Lifecycle, SignalsAreForwardedToTheCommand) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) {
    std::string name = sigabbrev_np(sig);
    int out;
    pid_t pid = spawn_coracle({"exec", "--", "/bin/sh", "-c",
                               "trap 'echo got " + name + "; exit 7' " + name +
                                   "; echo ready; "
                                   "while :; do sleep 0.05; done"},
                              &out);
    std::string seen = read_until(out, "ready\n");
    ASSERT_NE(seen.find("ready"), std::string::npos) << name;
    kill(pid, sig);
    seen += read_until(out, "got");
    EXPECT_EQ(wait_coracle(pid), 7) << name;
    EXPECT_NE(seen.find("got " + name), std::string::npos) << name << ": " << seen;
    close(out);
  }
}

TEST(Lifecycle, ASecondInterruptKillsACommandThatIgnoresTheFirst) {
  int out;
  pid_t pid = spawn_coracle({"exec", "--", "/bin/sh", "-c",
                             "trap 'echo got INT' INT; echo ready; while :; do sleep 0.05; done"},
                            &out);
  std::string seen = read_until(out, "ready\n");
  ASSERT_NE(seen.find("ready"), std::string::npos);
  kill(pid, SIGINT);
  seen += read_until(out, "got INT");
  EXPECT_NE(seen.find("got INT"), std::string::npos) << seen;
  kill(pid, SIGINT);
  EXPECT_EQ(wait_coracle(pid), 128 + SIGKILL);
  close(out);
}

TEST(Lifecycle, ManySequentialRunsLeaveNothingBehind) {
  // Warm up the default image first so it is not counted as a change.
  ASSERT_EQ(coracle({"exec", "--", "true"}).exit_code, 0);
  HostSnapshot before = snapshot();
  for (int i = 0; i < 500; ++i) {
    std::vector<std::string> args = {"exec"};
    if (i % 10 == 0) args.insert(args.end(), {"--memory", "64m", "--pids", "32"});
    if (i % 7 == 0) args.insert(args.end(), {"--net", "host"});
    args.insert(args.end(), {"--", "/bin/sh", "-c", "sleep 0 & exit 0"});
    auto r = coracle(args);
    ASSERT_EQ(r.exit_code, 0) << "run " << i << ": " << r.err;
  }
  // Network namespaces are freed by the kernel asynchronously.
  EXPECT_TRUE(eventually([&] { return snapshot() == before; }));
  HostSnapshot after = snapshot();
  EXPECT_EQ(after.mounts, before.mounts);
  EXPECT_EQ(after.fds, before.fds);
  EXPECT_EQ(after.cgroups, before.cgroups);
  EXPECT_EQ(after.netns, before.netns);
  EXPECT_EQ(after.sandboxes, before.sandboxes);
}

TEST(Lifecycle, RunnerKilledWithSigkillLeavesNothingAfterTheNextStart) {
  int out;
  pid_t runner = spawn_coracle(
      {"exec", "--memory", "64m", "--", "/bin/sh", "-c", "echo ready; sleep 4242 & sleep 4243"},
      &out);
  ASSERT_NE(read_until(out, "ready\n").find("ready"), std::string::npos);
  auto prefix = "coracle-" + std::to_string(runner) + "-";
  ASSERT_FALSE(coracle_cgroups(prefix).empty()) << "the run should have its own cgroup";
  std::string children = read_file("/proc/" + std::to_string(runner) + "/task/" +
                                   std::to_string(runner) + "/children");
  pid_t init = std::stoi(children);

  kill(runner, SIGKILL);
  EXPECT_EQ(wait_coracle(runner), 137);
  close(out);
  // The sandbox dies with its runner: init first (PDEATHSIG), then the kernel
  // kills the rest of the pid namespace.
  EXPECT_TRUE(eventually([&] { return !process_exists(init); }));
  EXPECT_TRUE(eventually([] {
    DIR* d = opendir("/proc");
    bool found = false;
    while (auto* e = readdir(d)) {
      if (!isdigit(e->d_name[0])) continue;
      try {
        auto cmd = read_file(std::string("/proc/") + e->d_name + "/cmdline");
        if (cmd.find("sleep") == 0 &&
            (cmd.find("4242") != std::string::npos || cmd.find("4243") != std::string::npos))
          found = true;
      } catch (...) {
      }
    }
    closedir(d);
    return !found;
  }));
  // The dead runner's cgroup is swept by the next coracle command of any
  // kind, one that makes no cgroup (or no sandbox) too.
  ASSERT_EQ(coracle({"image", "ls"}).exit_code, 0);
  EXPECT_TRUE(coracle_cgroups(prefix).empty());
}

TEST(Lifecycle, AKilledBuildsWorkDirGoesWithTheNextCommand) {
  TempDir context;
  write_file_atomic(context.path() + "/Dockerfile", "FROM default\nRUN echo ready; sleep 4244\n");
  int out;
  pid_t runner = spawn_coracle(
      {"build", "--progress", "plain", "-t", "tests/killed-build", context.path()}, &out);
  std::string tmp = store_root() + "/tmp";
  auto work_dirs = [&] {
    int n = 0;
    DIR* d = opendir(tmp.c_str());
    if (!d) return 0;
    while (auto* e = readdir(d))
      n += std::string(e->d_name).rfind("build-run-" + std::to_string(runner) + "-", 0) == 0;
    closedir(d);
    return n;
  };
  ASSERT_TRUE(eventually([&] { return work_dirs() > 0; }, 20000)) << "the RUN never started";
  kill(runner, SIGKILL);
  EXPECT_EQ(wait_coracle(runner), 137);
  close(out);
  EXPECT_EQ(work_dirs(), 1);
  // Any next command: here one that opens no store.
  TempDir rootfs;
  run_sh("mkdir -p " + rootfs.path() + "/bin && cp /bin/busybox " + rootfs.path() + "/bin/true");
  ASSERT_EQ(coracle({"exec", "--rootfs", rootfs.path(), "--", "/bin/true"}).exit_code, 0);
  EXPECT_EQ(work_dirs(), 0);
}

TEST(Lifecycle, PastaDiesWithAKilledRunner) {
  // pasta holds the sandbox's network namespace open: left behind by a
  // runner killed with SIGKILL, it would live (and keep the namespace) forever.
  int out;
  pid_t runner = spawn_coracle(
      {"exec", "--net", "pasta", "--", "/bin/sh", "-c", "echo ready; sleep 4244"}, &out);
  ASSERT_NE(read_until(out, "ready\n").find("ready"), std::string::npos);
  auto pasta_of_runner = [runner] {
    std::string children = read_file("/proc/" + std::to_string(runner) + "/task/" +
                                     std::to_string(runner) + "/children");
    std::vector<pid_t> pids;
    for (const auto& p : split(children, ' '))
      if (!p.empty()) pids.push_back(std::stoi(p));
    for (pid_t p : pids)
      if (read_file("/proc/" + std::to_string(p) + "/cmdline").find("pasta") != std::string::npos)
        return p;
    return pid_t{-1};
  };
  pid_t pasta = pasta_of_runner();
  ASSERT_GT(pasta, 0) << "pasta should run as the runner's child";
  kill(runner, SIGKILL);
  EXPECT_EQ(wait_coracle(runner), 137);
  close(out);
  EXPECT_TRUE(eventually([&] { return !process_exists(pasta); }));
}

}  // namespace
}  // namespace coracle::test

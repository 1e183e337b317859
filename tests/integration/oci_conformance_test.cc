// opencontainers/runtime-tools' validation suite, run against runc and
// coracle-runc side by side on this host. Every program runc passes must
// pass with coracle-runc too, except the ones tests/conformance/known_gaps
// lists with the reason; a listed one that passes fails this test as well,
// so the list stays true. The suite is built once per build tree (Go, from
// its vendored modules, offline) into test-cache/.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

const std::string kSuite = std::string(CORACLE_TEST_CACHE) + "/runtime-tools";
const std::string kConformance = CORACLE_CONFORMANCE;

void build_suite() {
  if (path_exists(kSuite + "/validation/default/default.t")) return;
  std::string tmp = kSuite + ".tmp";
  run_sh("rm -rf " + tmp + " && mkdir -p " + tmp + " && tar xzf " + kConformance +
         "/runtime-tools-260e151.tar.gz -C " + tmp + " && cd " + tmp +
         " && GOFLAGS=-mod=vendor GOPROXY=off GOCACHE=" + std::string(CORACLE_TEST_CACHE) +
         "/go-cache GOPATH=" + std::string(CORACLE_TEST_CACHE) +
         "/go-path make runtimetest validation-executables >build.log 2>&1 && rm -rf " + kSuite +
         " && mv " + tmp + " " + kSuite);
}

// name → the script's line ("pass NAME" or "fail NAME (why)").
std::map<std::string, std::string> run_suite(const std::string& runtime) {
  std::istringstream lines(
      run_sh(kConformance + "/runtime_tools.sh " + kSuite + " " + runtime + " 2>&1"));
  std::map<std::string, std::string> out;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string verdict, name;
    words >> verdict >> name;
    if (verdict == "pass" || verdict == "fail") out[name] = line;
  }
  return out;
}

// The known gaps: the first word of each line that is not a comment.
std::set<std::string> known_gaps() {
  std::istringstream lines(read_file(kConformance + "/known_gaps"));
  std::set<std::string> gaps;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name;
    if (words >> name && name[0] != '#') gaps.insert(name);
  }
  return gaps;
}

bool passed(const std::map<std::string, std::string>& results, const std::string& name) {
  auto it = results.find(name);
  return it != results.end() && it->second.rfind("pass ", 0) == 0;
}

TEST(RuntimeTools, CoraclePassesWhatRuncPasses) {
  build_suite();
  auto with_runc = run_suite("runc");
  auto with_coracle = run_suite(std::string(CORACLE_BIN) + "-runc");
  ASSERT_GT(with_runc.size(), 50u) << "the suite did not run";
  std::set<std::string> gaps = known_gaps();
  int runc_passes = 0, coracle_passes = 0;
  std::ostringstream table;
  for (const auto& [name, runc_line] : with_runc) {
    bool runc_ok = passed(with_runc, name), coracle_ok = passed(with_coracle, name);
    runc_passes += runc_ok;
    coracle_passes += coracle_ok;
    table << (runc_ok ? "pass" : "fail") << " " << (coracle_ok ? "pass" : "fail") << " " << name
          << "\n";
    if (runc_ok && !coracle_ok && !gaps.count(name))
      ADD_FAILURE() << "runc passes " << name << ", coracle-runc does not: " << with_coracle[name];
    if (gaps.count(name) && coracle_ok)
      ADD_FAILURE() << name << " passes now: take it off tests/conformance/known_gaps";
  }
  // For docs/oci-runtime.md: runc's column, coracle's, the program.
  write_file_atomic(std::string(CORACLE_TEST_CACHE) + "/runtime-tools-results.txt", table.str());
  // The suite's cgroups (/cgrouptest, testdir/cgrouptest/...): the
  // runtimes remove the containers' own, not the parents they made.
  run_sh(
      "find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d \\( -name cgrouptest -o "
      "-name testdir \\) -exec rmdir {} + 2>/dev/null || true");
  std::cout << "runtime-tools: runc passes " << runc_passes << ", coracle-runc " << coracle_passes
            << " of " << with_runc.size() << "\n";
}

}  // namespace
}  // namespace coracle::test

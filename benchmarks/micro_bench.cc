// Micro-benchmarks of the exec path's planning steps (Google Benchmark).
// Run: build/benchmarks/coracle_micro_bench
#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/exec_options.h"
#include "common/userns.h"
#include "sandbox/caps.h"
#include "sandbox/seccomp.h"

namespace coracle::sandbox {
namespace {

// What the default profile would cost if it were compiled on every run.
void BM_SeccompCompileDefaultProfile(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(compile_seccomp(default_seccomp_profile(), default_cap_mask()));
}
BENCHMARK(BM_SeccompCompileDefaultProfile)->Unit(benchmark::kMicrosecond);

// What it costs now: a copy of the program compiled at build time.
void BM_SeccompPrecompiledProgram(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(default_seccomp_program(default_cap_mask()));
}
BENCHMARK(BM_SeccompPrecompiledProgram)->Unit(benchmark::kMicrosecond);

void BM_CapPlan(benchmark::State& state) {
  for (auto _ : state) {
    CapPlan plan(0, {"NET_ADMIN"}, {"CHOWN"});
    benchmark::DoNotOptimize(plan.mask());
  }
}
BENCHMARK(BM_CapPlan)->Unit(benchmark::kMicrosecond);

void BM_IdMappingPlan(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(plan_id_mapping());
}
BENCHMARK(BM_IdMappingPlan)->Unit(benchmark::kMicrosecond);

void BM_SpecFromFlags(benchmark::State& state) {
  cli::ExecFlags flags;
  flags.command = {"/bin/true"};
  flags.env = {"A=1", "B=2"};
  flags.memory = "64m";
  for (auto _ : state) benchmark::DoNotOptimize(cli::spec_from_flags(flags));
}
BENCHMARK(BM_SpecFromFlags)->Unit(benchmark::kMicrosecond);

// An exec's command line: exec's options registered with CLI11 and parsed
// (its ~130 µs were the largest step before sandbox::run, docs/benchmarks.md).
void BM_ExecCommandLine(benchmark::State& state) {
  for (auto _ : state) {
    CLI::App app{"coracle"};
    cli::GlobalOptions global;
    auto run = cli::add_exec_command(app, global);
    std::vector<std::string> args = {"/", "--rootfs", "exec"};  // reversed, as CLI11 wants
    app.parse(args);
    benchmark::DoNotOptimize(run);
  }
}
BENCHMARK(BM_ExecCommandLine)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace coracle::sandbox

BENCHMARK_MAIN();

// Micro-benchmarks of the exec path's planning steps (Google Benchmark).
// Run: build/benchmarks/coracle_micro_bench
#include <benchmark/benchmark.h>

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
  for (auto _ : state) benchmark::DoNotOptimize(cli::make_spec(flags));
}
BENCHMARK(BM_SpecFromFlags)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace coracle::sandbox

BENCHMARK_MAIN();

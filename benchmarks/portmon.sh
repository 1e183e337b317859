#!/usr/bin/env bash
# The port monitor and forwarder beside their peers, in one run:
#   detection latency (listen() returned -> event) of 1,000 opens, with two
#     /proc/net/tcp pollers (100 ms, 1 s) watching the same opens;
#   idle CPU of the runner over 60 s with one forwarded port;
#   throughput both ways and connections per second through -p, against
#     direct loopback in the sandbox's network namespace (medians of
#     alternating rounds).
# Usage (as root, after `make build`): benchmarks/portmon.sh [BUILD_DIR] [IDLE_SECONDS]
set -euo pipefail
build=$(realpath "${1:-build}")
idle=${2:-60}
bench=$build/benchmarks/portmon_bench
args=("$build/coracle" "$build/tests/port_probe")
[ -x "$bench" ] || { echo "portmon.sh: build first (make build)" >&2; exit 1; }
echo "## $(date -u +%Y-%m-%d) $(uname -r), $(nproc) cores"
"$bench" "${args[@]}" detect 1000 10000
echo
"$bench" "${args[@]}" idle "$idle"
echo
"$bench" "${args[@]}" forward 512 2000 7

#!/usr/bin/env bash
# The assistant chain, in one run, on tmpfs:
#   per-step overhead: `coracle run` with one no-op assistant (the default
#     image's own `sh`, stdin empty: it exits at once; an `image` file, so
#     nothing is built) beside `coracle exec --net host` of the same image
#     and command (assistants have the host network);
#     the difference is what a chain step adds to a sandbox run;
#   the hello chain (assistant → builtin:dockerfile → builtin:exec serving
#     a page), cold (a new store each run: the default image stored, the
#     assistant and the app built) and warm (everything cached). The app
#     ends as soon as it serves (examples/hello waits 4 s; this copy 0 s).
# Usage (as root): benchmarks/chain.sh [CORACLE] [RUNS]
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
runs=${2:-20}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /dev/shm/coracle-chain-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CORACLE_ROOT=$work/store

mkdir -p "$work/base" "$work/app" "$work/noop"
echo "FROM default" > "$work/base/Dockerfile"
"$coracle" build -q "$work/base" >/dev/null  # stores the default image
image=$("$coracle" image ls | awk '/coracle\/default/ {print $1}')
echo noop > "$work/noop/name"
echo "$image" > "$work/noop/image"
echo "a file" > "$work/app/main.txt"

cp -r "$here/../examples/hello" "$work/hello"
cp -r "$here/../assistants/hello" "$work/hello-assistant"
sed -i 's/sleep ${SERVE_SECONDS:-4}/true/' "$work/hello-assistant/cmd"
echo "$work/hello-assistant" > "$work/hello/.ayup/first"

echo "## $(date -u +%Y-%m-%d) $(uname -r), $(nproc) cores"
hyperfine -N --style none --runs "$runs" --warmup 3 --export-json "$work/step.json" \
  -n "coracle exec --net host IMAGE -- sh (no chain)" "$coracle exec --net host $image -- sh" \
  -n "coracle run APP --assistant noop (1 step)" \
  "$coracle run $work/app --assistant $work/noop" \
  >/dev/null 2>>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
echo "### one no-op step"
"$here/median_table.py" "$work/step.json"
python3 - "$work/step.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"\nper-step overhead (median difference): {(r[1]['median'] - r[0]['median']) * 1000:.1f} ms")
PY

hyperfine -N --style none --runs 5 --export-json "$work/hello.json" \
  --prepare "rm -rf $work/store" \
  -n "hello chain, cold (new store)" "$coracle run $work/hello" \
  >/dev/null 2>>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
"$coracle" run "$work/hello" >/dev/null 2>&1
hyperfine -N --style none --runs "$runs" --warmup 2 --export-json "$work/hello-warm.json" \
  -n "hello chain, warm" "$coracle run $work/hello" \
  >/dev/null 2>>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
echo "### the hello chain (3 steps)"
"$here/median_table.py" "$work/hello.json"
"$here/median_table.py" "$work/hello-warm.json" | tail -n 1

#!/usr/bin/env bash
# `make run`: examples/hello through the whole chain on the embedded default
# image. builtin:dockerfile builds it, builtin:exec runs it; the port it
# opens is detected and forwarded, fetched here from the host, and the app
# ends by itself. A copy of the example is used, so the tree stays clean.
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
work=$(dirname "$coracle")/run
rm -rf "$work/hello" && mkdir -p "$work" && cp -r "$(dirname "$0")/../examples/hello" "$work/hello"
"$coracle" run "$work/hello" &
pid=$!
page=
for _ in $(seq 1 100); do
  if page=$(curl -fsS --max-time 1 http://127.0.0.1:8000/ 2>/dev/null); then break; fi
  sleep 0.1
done
status=0
wait "$pid" || status=$?
if [ -z "$page" ]; then echo "run-hello: the page was never served on 127.0.0.1:8000" >&2; exit 1; fi
echo "fetched http://127.0.0.1:8000/ from the host:"
echo "$page"
echo "state written to $work/hello/.ayup: $(ls "$work/hello/.ayup" | tr '\n' ' ')"
exit "$status"

#!/usr/bin/env bash
# coracle build beside buildah bud (Debian's, --storage-driver vfs, with
# --layers so that it caches steps too), in one run, both stores on tmpfs:
#   cold:   a 5-step Dockerfile (ENV, COPY, RUN, RUN, CMD) with --no-cache
#   cached: the same build again, every step from the cache
# Both start from the same base: coracle's embedded default image, exported
# as an oci-archive and pulled into buildah's store. buildah needs its own
# mount namespace with /sys/fs/cgroup/unified unmounted on this hybrid
# host; its command pays for that unshare (~2 ms).
# Usage (as root): benchmarks/build.sh [CORACLE] [RUNS]
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
runs=${2:-10}
here=$(dirname "$(realpath "$0")")
command -v buildah >/dev/null || { echo "build.sh: buildah missing (make deps)" >&2; exit 1; }
work=$(mktemp -d /dev/shm/coracle-build-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CORACLE_ROOT=$work/coracle-store
buildah=(buildah --root "$work/buildah-store" --runroot "$work/buildah-run" --storage-driver vfs)
in_ns() { unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; $*"; }

mkdir -p "$work/base" "$work/ctx/app"
echo "FROM default" > "$work/base/Dockerfile"
"$coracle" build -q -o "oci-archive:$work/base.tar" "$work/base" >/dev/null
id=$(in_ns "${buildah[*]} pull -q oci-archive:$work/base.tar")
in_ns "${buildah[*]} tag $id localhost/base:1"
for i in $(seq 1 50); do echo "file $i" > "$work/ctx/app/f$i.txt"; done
steps='ENV APP_DIR=/app
COPY app/ /app/
RUN cd /app && for i in $(seq 1 200); do echo $i > gen$i; done
RUN tar cf /app.tar /app 2>/dev/null && rm -rf /app/gen1*
CMD ["ls", "/app"]'
printf 'FROM default\n%s\n' "$steps" > "$work/ctx/Dockerfile"
printf 'FROM localhost/base:1\n%s\n' "$steps" > "$work/ctx/Dockerfile.buildah"
bud="${buildah[*]} bud --layers -q -f $work/ctx/Dockerfile.buildah -t bench"

echo "## $(date -u +%Y-%m-%d) $(uname -r), $(nproc) cores; buildah $(buildah --version | cut -d' ' -f3)"
hyperfine -N --style none --runs "$runs" --warmup 1 --export-json "$work/cold.json" \
  -n "coracle build --no-cache" "$coracle build -q --no-cache -t bench $work/ctx" \
  -n "buildah bud --layers --no-cache (vfs)" \
  "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; $bud --no-cache $work/ctx'" \
  >/dev/null 2>>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
echo "### cold (5 steps)"
"$here/median_table.py" "$work/cold.json"

hyperfine -N --style none --runs "$((runs * 3))" --warmup 2 --export-json "$work/cached.json" \
  -n "coracle build (all cached)" "$coracle build -q -t bench $work/ctx" \
  -n "buildah bud --layers (all cached, vfs)" \
  "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; $bud $work/ctx'" \
  >/dev/null 2>>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
echo "### cached rebuild"
"$here/median_table.py" "$work/cached.json"

#!/usr/bin/env bash
# The image store side by side with its peers, in one run each, on tmpfs
# (this machine's disk costs ~0.5 ms per created inode, which would drown
# every difference):
#   cold unpack:  coracle's layer cache (exec on an image whose layers are
#                 not unpacked yet: the layers unpack in parallel)
#                 coracle image unpack (one flattened rootfs, like umoci's)
#                 umoci unpack, and tar -xzf of the layers one after another
#   warm start:   coracle exec IMAGE -- /bin/true with the layers cached,
#                 beside coracle exec --rootfs (no image) on a busybox dir
#   pull:         coracle image pull vs skopeo copy to an OCI dir, from a
#                 docker-registry on 127.0.0.1
#   peak RSS:     of coracle's pull and of its cold unpack
# The image: benchmarks/make_bench_image.sh (2 gzip layers of host files).
# Usage: benchmarks/image_store.sh [CORACLE] [RUNS]   (as root)
# CORACLE_BENCH_DIR=DIR puts the work (the store, the unpacked trees) on
# DIR's file system instead of tmpfs: /var/tmp measures the disk, where
# inode creation dominates.
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
runs=${2:-10}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d "${CORACLE_BENCH_DIR:-/dev/shm}/coracle-image-bench.XXXXXX")
df -T "$work" | awk 'NR == 2 { print "work dir on " $2 }'
reg_pid=
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$here/make_bench_image.sh" "$work/img" 2>/dev/null
layout=$work/img/layout
manifest=$(python3 -c "import json,sys; print(json.load(open('$layout/index.json'))['manifests'][0]['digest'][7:])")
mapfile -t layers < <(python3 -c "
import json
m = json.load(open('$layout/blobs/sha256/$manifest'))
for l in m['layers']: print('$layout/blobs/sha256/' + l['digest'][7:])")
store=$work/store
"$coracle" --root "$store" image import "$layout" --tag bench:1 >/dev/null
files=$(for l in "${layers[@]}"; do tar -tzf "$l"; done | wc -l)
bytes=$(for l in "${layers[@]}"; do gzip -dc "$l" | wc -c; done | awk '{s+=$1} END {print s}')
echo "image: ${#layers[@]} layers, $files entries, $((bytes / 1000000)) MB uncompressed, $(du -sm "$layout" | cut -f1) MB compressed"

tar_cmd="mkdir -p $work/tar"
for l in "${layers[@]}"; do tar_cmd+=" && tar -xzf $l -C $work/tar"; done
hyperfine -N --style none --runs "$runs" --warmup 1 --export-json "$work/unpack.json" \
  --prepare "rm -rf $store/layers $work/flat $work/bundle $work/tar" \
  -n "coracle (layer cache, cold exec)" "$coracle --root $store exec bench:1 -- /bin/true" \
  -n "coracle image unpack" "$coracle --root $store image unpack bench:1 $work/flat" \
  -n "umoci unpack" "umoci unpack --image $layout:bench $work/bundle" \
  -n "tar -xzf (sequential)" "sh -c '$tar_cmd'" >/dev/null 2>>"$work/hyperfine.log"
echo "### cold unpack"
"$here/median_table.py" "$work/unpack.json"

# Warm: the layers stay cached; a busybox rootfs for the --rootfs baseline.
"$coracle" --root "$store" exec bench:1 -- /bin/true || true
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/" && ln -s busybox "$work/rootfs/bin/true"
hyperfine -N --style none --runs 300 --warmup 20 --export-json "$work/warm.json" \
  -n "coracle exec IMAGE (2 cached layers)" "$coracle --root $store exec bench:1 -- /bin/true" \
  -n "coracle exec --rootfs DIR" "$coracle --root $store exec --rootfs $work/rootfs -- /bin/true" \
  >/dev/null 2>>"$work/hyperfine.log"
echo "### warm start"
"$here/median_table.py" "$work/warm.json"

# Pull from a registry on loopback (its storage on tmpfs too).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "docker://127.0.0.1:$port/bench:1"
hyperfine -N --style none --runs "$runs" --warmup 1 --export-json "$work/pull.json" \
  --prepare "rm -rf $work/pulled $work/skopeo" \
  -n "coracle image pull" "$coracle --root $work/pulled image pull 127.0.0.1:$port/bench:1" \
  -n "skopeo copy docker:// oci:" \
  "skopeo copy --quiet --src-tls-verify=false docker://127.0.0.1:$port/bench:1 oci:$work/skopeo:t" \
  >/dev/null 2>>"$work/hyperfine.log"
echo "### pull"
"$here/median_table.py" "$work/pull.json"

rm -rf "$work/pulled"
pull_rss=$(/usr/bin/time -f %M "$coracle" --root "$work/pulled" image pull \
  "127.0.0.1:$port/bench:1" 2>&1 >/dev/null | tail -1)
unpack_rss=$(/usr/bin/time -f %M "$coracle" --root "$work/pulled" exec \
  "127.0.0.1:$port/bench:1" -- /bin/true 2>&1 >/dev/null | tail -1)
echo "### peak RSS"
echo "coracle image pull: $((pull_rss / 1024)) MiB; cold exec (unpack of both layers): $((unpack_rss / 1024)) MiB"

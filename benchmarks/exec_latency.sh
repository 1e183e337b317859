#!/usr/bin/env bash
# Whole-process latency of starting /bin/true in a fresh sandbox, coracle
# beside its peers, interleaved: benchmarks/interleave.c (built here) runs
# every command once per round, round after round, so that the machine's
# drift falls on all alike (hyperfine's one-command-after-another order
# alone moved ratios by 10-15% on a 2-core VM). The commands:
#   coracle exec --rootfs R -- /bin/true        (all namespaces, private net)
#   bwrap --unshare-all --bind R / --proc /proc --dev /dev /bin/true
#   crun run (an OCI bundle on the same rootfs)
#   unshare -Umpiunf -r /bin/true               (namespaces only, no rootfs)
#   floor clone: a static C program (benchmarks/floor.c, built here) that
#     clones into all seven namespaces, execs the static true, waits
#   floor exec: the same program only exec'ing it (a process's own start)
#   coracle --version                           (coracle's own start)
#   coracle exec IMAGE -- /bin/true, a cached 2-layer image (warm), beside
#     bwrap on that image's flattened rootfs
# and the runner's peak RSS. Usage: benchmarks/exec_latency.sh [CORACLE] [ROUNDS]
# With CORACLE_BASELINE=PATH (another coracle binary, e.g. a build of the
# previous commit), it runs in the same rounds too, as "coracle-baseline":
# before and after, side by side.
# Needs root (crun as root; bwrap and unshare work either way).
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
runs=${2:-300}
work=$(mktemp -d /tmp/coracle-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The same busybox rootfs for everyone.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,dev,sys,tmp,etc}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh true; do ln -s busybox "$rootfs/bin/$applet"; done

# crun: the default `crun spec` bundle, running /bin/true without a terminal.
mkdir -p "$work/bundle"
(cd "$work/bundle" && crun spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' \
  -e "s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|" "$work/bundle/config.json"

# The floor: namespaces and exec, nothing else; and the interleaving driver.
gcc -O2 -static -o "$work/floor" "$(dirname "$0")/floor.c"
gcc -O2 -static -o "$work/interleave" "$(dirname "$0")/interleave.c"

# A cached 2-layer image (busybox, then a layer with a file) in a store of
# its own, run once so that its layers are unpacked; its flattened rootfs
# for bwrap.
store=$work/store
umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:warm" >/dev/null
umoci unpack --image "$work/layout:warm" "$work/bundle-image" >/dev/null
mkdir -p "$work/bundle-image/rootfs/bin"
cp /bin/busybox "$work/bundle-image/rootfs/bin/busybox"
ln -s busybox "$work/bundle-image/rootfs/bin/true"
umoci repack --image "$work/layout:warm" "$work/bundle-image" >/dev/null
echo second > "$work/bundle-image/rootfs/second"
umoci repack --image "$work/layout:warm" "$work/bundle-image" >/dev/null
"$coracle" --root "$store" image import "$work/layout" --tag bench/warm:1 >/dev/null
"$coracle" --root "$store" exec bench/warm:1 -- /bin/true
"$coracle" --root "$store" image unpack bench/warm:1 "$work/flat" >/dev/null
mkdir -p "$work/flat"/{proc,dev}

names=(
  "coracle exec --rootfs"
  "bwrap"
  "crun"
  "unshare"
  "floor: clone 7 namespaces + exec"
  "floor: exec only"
  "coracle --version"
  "coracle exec IMAGE (warm)"
  "bwrap on IMAGE's rootfs"
)
cmds=(
  "$coracle --root $store exec --rootfs $rootfs -- /bin/true"
  "bwrap --unshare-all --bind $rootfs / --proc /proc --dev /dev /bin/true"
  "crun run --bundle $work/bundle coracle-bench"
  "unshare -Umpiunf -r /bin/true"
  "$work/floor clone $rootfs/bin/true"
  "$work/floor exec $rootfs/bin/true"
  "$coracle --version"
  "$coracle --root $store exec bench/warm:1 -- /bin/true"
  "bwrap --unshare-all --bind $work/flat / --proc /proc --dev /dev /bin/true"
)
if [ -n "${CORACLE_BASELINE:-}" ]; then
  cp "$CORACLE_BASELINE" "$work/coracle-baseline"
  names+=("coracle-baseline exec --rootfs")
  cmds+=("$work/coracle-baseline --root $store-baseline exec --rootfs $rootfs -- /bin/true")
  # A store of its own: two builds sharing one would sweep (or race) each
  # other's work directories.
  cp -a "$store" "$store-baseline"
  names+=("coracle-baseline exec IMAGE (warm)")
  cmds+=("$work/coracle-baseline --root $store-baseline exec bench/warm:1 -- /bin/true")
fi
# Absolute paths: the driver spawns without a PATH search.
bwrap=$(command -v bwrap) crun=$(command -v crun) unshare=$(command -v unshare)
cmds=("${cmds[@]/#bwrap /$bwrap }")
cmds=("${cmds[@]/#crun /$crun }")
cmds=("${cmds[@]/#unshare /$unshare }")
named=()
for i in "${!cmds[@]}"; do named+=("${names[$i]}"$'\t'"${cmds[$i]}"); done
# What the set-up wrote (the images, the store and its copy) is flushed
# first: the kernel's writeback of it during the rounds slowed whatever
# touches the disk (coracle's writable layer, under the store) by up to
# 0.5 ms, an artifact of the set-up, not of the commands.
sync
# crun 1.8 refuses hybrid cgroups (v1 controllers + an empty v2 mount): every
# command runs in a private mount namespace without /sys/fs/cgroup/unified.
unshare -m --propagation private sh -c '
  umount /sys/fs/cgroup/unified 2>/dev/null || true
  exec "$@"
' sh "$work/interleave" "$runs" 20 "${named[@]}" >"$work/result.csv"

# Ratios of medians: to coracle's exec, and to bwrap (the targets are
# ratios to bwrap: the warm image to bwrap on the image's rootfs).
echo "$runs rounds, interleaved"
echo
echo "| command | median ms | mean ms | vs coracle | vs bwrap |"
echo "|---|---|---|---|---|"
awk -F, '
  { name[NR] = $1; median[NR] = $2; mean[NR] = $3 }
  END { base = median[1]; bwrap = median[2]; image_bwrap = median[9];
        for (i = 1; i <= NR; i++) {
          b = name[i] ~ /IMAGE/ ? image_bwrap : bwrap
          printf "| %s | %.2f | %.2f | %.2fx | %.2fx |\n", name[i], median[i], mean[i],
                 median[i] / base, median[i] / b } }' \
  "$work/result.csv"

rss=0
for _ in $(seq 20); do
  kb=$( { /usr/bin/time -f %M "$coracle" exec --net none --rootfs "$rootfs" -- /bin/true; } 2>&1 >/dev/null | tail -1)
  [ "$kb" -gt "$rss" ] && rss=$kb
done
echo
echo "coracle runner peak RSS (max of 20 runs, /usr/bin/time %M): $((rss / 1024)).$(((rss % 1024) * 10 / 1024)) MiB"

#!/usr/bin/env bash
# coracle-runc beside runc and crun as an engine calls them: one OCI bundle
# (a busybox rootfs, /bin/true, runc's default config without a terminal),
# in one hyperfine run on the same machine at the same moment:
#   RUNTIME run --bundle B ID        (create + start + wait + delete: the
#                                     foreground path)
#   RUNTIME create; start; delete    (the engine's path: podman and
#                                     containerd call these three)
# Usage: benchmarks/oci_runtime.sh [CORACLE_RUNC] [RUNS]. Needs root.
set -euo pipefail
# Absolute, but not resolved: the link's name is what makes it coracle-runc.
arg=${1:-build/coracle-runc}
coracle_runc=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")
runs=${2:-200}
work=$(mktemp -d /tmp/coracle-oci-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

rootfs=$work/bundle/rootfs
mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh true; do ln -s busybox "$rootfs/bin/$applet"; done
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PYEOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(path, "w"))
PYEOF

cmds=() names=()
for rt in "$coracle_runc" runc crun; do
  command -v "$rt" >/dev/null || continue
  name=$(basename "$rt")
  state=$work/state-$name
  # crun 1.8 refuses this machine's hybrid cgroup layout: run the script in
  # a mount namespace without /sys/fs/cgroup/unified (docs/benchmarks.md).
  "$rt" --root "$state" run --bundle "$work/bundle" probe >/dev/null 2>&1 || {
    echo "skipping $name: it cannot run the bundle here" >&2
    continue
  }
  cmds+=("$rt --root $state run --bundle $work/bundle c")
  names+=("$name run")
  cmds+=("$rt --root $state create --bundle $work/bundle d </dev/null >/dev/null 2>&1 && $rt --root $state start d && $rt --root $state delete --force d")
  names+=("$name create+start+delete")
done

args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine --warmup 20 --runs "$runs" --export-markdown "$work/table.md" "${args[@]}"
cat "$work/table.md"

#!/usr/bin/env bash
# The micro-VM backend beside its floor and a peer, in one hyperfine run:
#   bare:    qemu (the same microvm machine and kernel coracle uses) booting
#            to an init that only powers off: the VMM + kernel floor
#   coracle: coracle exec --vm -- /bin/true (modules, erofs rootfs, overlay,
#            the agent's channel, the command)
#   runsc:   gVisor's `runsc do /bin/true` (ptrace platform, no network)
# Under TCG here (no usable KVM); KVM where the host has it.
# Usage (as root): benchmarks/vm.sh [CORACLE] [RUNS]
set -euo pipefail
coracle=$(realpath "${1:-build/coracle}")
runs=${2:-10}
work=$(mktemp -d /tmp/coracle-vm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CORACLE_ROOT=$work/store

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1)
tsc=$(awk -F: '/cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
# The floor's init: power off at once.
cat > "$work/init.c" <<'C'
#include <sys/reboot.h>
int main(void) { reboot(RB_POWER_OFF); return 0; }
C
gcc -static -O2 -o "$work/ir-init" "$work/init.c"
mkdir -p "$work/ir/dev"
cp "$work/ir-init" "$work/ir/init"
mknod "$work/ir/dev/console" c 5 1
(cd "$work/ir" && find . | cpio -o -H newc --quiet > "$work/floor.cpio")
bare="qemu-system-x86_64 -M microvm,rtc=on,isa-serial=off -accel tcg -cpu max -m 512M -smp 1 \
-nodefaults -no-user-config -nographic -no-reboot -kernel $kernel -initrd $work/floor.cpio \
-append 'panic=-1 quiet console=none tsc_early_khz=$tsc'"

"$coracle" exec --vm -- /bin/true  # caches the initramfs and the erofs image

cmds=("$bare" "$coracle exec --vm -- /bin/true")
names=(bare coracle)
if command -v runsc >/dev/null; then
  mkdir -p "$work/runsc-root"
  cmds+=("runsc --root $work/runsc-root --platform=ptrace --network=none do /bin/true")
  names+=(runsc)
fi
hyperfine --style none --warmup 1 --runs "$runs" --export-json "$work/result.json" "${cmds[@]}" \
  >"$work/hyperfine.log" 2>&1 || { cat "$work/hyperfine.log" >&2; exit 1; }

python3 - "$work/result.json" "${names[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
names = sys.argv[2:]
base = results[0]["median"]
print("| command | median s | mean s | vs bare (median) |")
print("|---|---|---|---|")
for name, r in zip(names, results):
    print(f"| {name} | {r['median']:.2f} | {r['mean']:.2f} | {r['median'] / base:.2f}x |")
PY

# First port seen: from launch to the port.open event of `httpd -f -p 8000`
# (the guest's sock_diag watcher, relayed as a Port frame), beside the
# namespace backend's monitor. Medians of 5.
python3 - "$coracle" <<'PY'
import statistics, subprocess, sys, time
coracle = sys.argv[1]
def first_port(extra):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        p = subprocess.Popen([coracle, "exec", *extra, "--json", "--watch-ports", "--",
                              "httpd", "-f", "-p", "8000"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        for line in p.stdout:
            if '"port.open"' in line:
                times.append(time.perf_counter() - t)
                break
        p.terminate()
        p.wait()
    return statistics.median(times)
vm, ns = first_port(["--vm"]), first_port([])
print()
print("| first port seen | median s |")
print("|---|---|")
print(f"| coracle exec --vm | {vm:.2f} |")
print(f"| coracle exec (namespaces) | {ns:.3f} |")
PY

#!/usr/bin/env python3
"""Before/after exec latency of several coracle binaries, interleaved: each
round runs every binary once, in turn, so a drift of the machine (other
load, caches, the hour) falls on all of them alike. hyperfine runs one
command's runs after another, and on this VM its order alone moved medians
by 0.3-0.6 ms. Prints the median per binary.

usage: benchmarks/exec_ab.py [--rounds N] [--rootfs DIR] CORACLE [CORACLE ...]
(as root: it runs `exec --rootfs DIR -- /bin/true`; without --rootfs, a
busybox rootfs is made in a temporary directory)"""
import argparse, os, shutil, statistics, subprocess, tempfile, time

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--rootfs")
    p.add_argument("binaries", nargs="+")
    a = p.parse_args()
    work = None
    rootfs = a.rootfs
    if not rootfs:
        work = tempfile.mkdtemp(prefix="coracle-ab.")
        rootfs = os.path.join(work, "rootfs")
        for d in ("bin", "proc", "dev", "sys", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
        for applet in ("sh", "true"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    times = {b: [] for b in a.binaries}
    try:
        for _ in range(20):  # warm-up
            for b in a.binaries:
                subprocess.run([b, "exec", "--rootfs", rootfs, "--", "/bin/true"], check=True)
        for _ in range(a.rounds):
            for b in a.binaries:
                t = time.perf_counter()
                subprocess.run([b, "exec", "--rootfs", rootfs, "--", "/bin/true"], check=True)
                times[b].append(time.perf_counter() - t)
    finally:
        if work:
            shutil.rmtree(work)
    base = statistics.median(times[a.binaries[0]])
    print("| binary | median ms | vs first |")
    print("|:---|---:|---:|")
    for b in a.binaries:
        m = statistics.median(times[b])
        print(f"| {b} | {m * 1000:.2f} | {m / base:.2f}x |")

main()

#!/usr/bin/env bash
# Builds the image-store benchmark fixture with umoci: an OCI layout with a
# 2-layer gzip image made of host files, ~200 MB uncompressed in all
# (shared libraries and busybox in the first layer, /usr/share data in the
# second).
# The selection is sorted and size-capped, so the same host gives the same
# image. Usage: benchmarks/make_bench_image.sh OUT_DIR [MB_PER_LAYER]
set -euo pipefail
out=$1
mb=${2:-120}
rm -rf "$out"
mkdir -p "$out"
bundle=$out/bundle

# Regular files under $1, in path order, until $mb MB.
pick() {
  { find "$1" -xdev -type f -readable -printf '%s\t%p\n' 2>/dev/null || true; } |
    sort -t "$(printf '\t')" -k2 |
    awk -F '\t' -v cap=$((mb * 1024 * 1024)) \
      'total + $1 <= cap { total += $1; print $2 }'
}

umoci init --layout "$out/layout"
umoci new --image "$out/layout:bench"
umoci unpack --image "$out/layout:bench" "$bundle" >/dev/null
# busybox, so that the image can run /bin/true
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/"
ln -s busybox "$bundle/rootfs/bin/true"
pick /usr/lib/x86_64-linux-gnu | tar -cf - --verbatim-files-from --files-from=- 2>/dev/null | tar -xf - -C "$bundle/rootfs"
umoci repack --image "$out/layout:bench" "$bundle"
# repack diffs against the manifest the bundle was unpacked from: unpack
# the new one before making the second layer.
rm -rf "$bundle"
umoci unpack --image "$out/layout:bench" "$bundle" >/dev/null
pick /usr/share | tar -cf - --verbatim-files-from --files-from=- 2>/dev/null | tar -xf - -C "$bundle/rootfs"
umoci repack --image "$out/layout:bench" "$bundle"
umoci config --image "$out/layout:bench" --config.cmd /bin/true
rm -rf "$bundle"
du -sh "$out/layout" >&2

#!/bin/sh
# Builds pasta and passt from the tarball beside this script into OUT_DIR
# (passt, and pasta: the same program under the name it is run by; on
# x86-64 also their AVX2 builds, which passt runs itself when the CPU has
# AVX2). Plain C, no dependency beyond libc.
# usage: build.sh WORK_DIR OUT_DIR [CC]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$1 out=$2 cc=${3:-cc}
tarball=$(cd "$here" && ls passt_*.orig.tar.xz)
(cd "$here" && sha256sum -c --quiet SHA256SUMS)
version=${tarball#passt_}
version=${version%.orig.tar.xz}
rm -rf "$work"
mkdir -p "$work" "$out"
tar -xJf "$here/$tarball" -C "$work" --strip-components=1
targets="passt pasta"
case $("$cc" -dumpmachine) in x86_64*) targets="$targets passt.avx2 pasta.avx2" ;; esac
make -C "$work" -s CC="$cc" VERSION="$version" $targets >/dev/null
for t in $targets; do
  if [ -L "$work/$t" ]; then
    ln -sf "$(readlink "$work/$t")" "$out/$t"
  else
    install -m 0755 "$work/$t" "$out/$t"
  fi
done

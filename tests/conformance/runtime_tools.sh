#!/usr/bin/env bash
# Runs opencontainers/runtime-tools' validation suite against one runtime
# and prints one line per test program: "pass NAME" or "fail NAME (first
# failures)". A program passes when it exits 0 and its TAP output has no
# "not ok" line.
#   runtime_tools.sh SUITE_DIR RUNTIME [NAME...]
# SUITE_DIR is a built tree (make runtimetest validation-executables).
set -uo pipefail
suite=$1 runtime=$2
shift 2
cd "$suite" || exit 2
if [ $# -eq 0 ]; then
  set -- $(cd validation && for d in */; do d=${d%/}; [ -x "$d/$d.t" ] && echo "$d"; done)
fi
for name in "$@"; do
  # Each program in a mount namespace of its own, made private: what a
  # runtime mounts on "the host" (runc does, for a config without a mount
  # namespace: the bundle's /proc, /dev, /sys) stays there and goes with
  # it, instead of piling up in the host's mount table for every later
  # process to copy.
  out=$(RUNTIME=$runtime timeout 120 unshare -m --propagation private \
    "./validation/$name/$name.t" 2>&1)
  rc=$?
  failures=$(printf '%s\n' "$out" | grep -E '^not ok' | head -3 | cut -c1-100 | tr '\n' ';')
  if [ $rc -eq 0 ] && [ -z "$failures" ]; then
    echo "pass $name"
  else
    [ -z "$failures" ] && failures="exit $rc: $(printf '%s\n' "$out" | grep -v '^ok' | tail -2 | cut -c1-100 | tr '\n' ';')"
    echo "fail $name ($failures)"
  fi
done

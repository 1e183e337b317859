#!/usr/bin/env bash
# Two coracle binaries' cold builds, interleaved (A, B, A, B, ...) so that a
# slow minute of this VM hits both alike: benchmarks/build.sh's 5-step
# Dockerfile with --no-cache, each binary with its own store on tmpfs.
# Prints each one's median. Usage (as root):
#   benchmarks/build_ab.sh OLD_CORACLE NEW_CORACLE [ROUNDS]
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); rounds=${3:-12}
w=$(mktemp -d /dev/shm/abb.XXXX); trap 'rm -rf $w' EXIT
mkdir -p $w/ctx/app; for i in $(seq 1 50); do echo "file $i" > $w/ctx/app/f$i.txt; done
cat > $w/ctx/Dockerfile <<'DF'
FROM default
ENV APP_DIR=/app
COPY app/ /app/
RUN cd /app && for i in $(seq 1 200); do echo $i > gen$i; done
RUN tar cf /app.tar /app 2>/dev/null && rm -rf /app/gen1*
CMD ["ls", "/app"]
DF
for x in A B; do bin=${!x}; CORACLE_ROOT=$w/s$x $bin build -q --no-cache -t b $w/ctx >/dev/null; done
ta=(); tb=()
for r in $(seq 1 $rounds); do
  for x in A B; do bin=${!x}
    s=$(date +%s%N); CORACLE_ROOT=$w/s$x $bin build -q --no-cache -t b $w/ctx >/dev/null; e=$(date +%s%N)
    v=$(( (e-s)/100000 )); if [ $x = A ]; then ta+=($v); else tb+=($v); fi
  done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/10}'; }
echo "A ($1): median $(med "${ta[@]}") ms; B ($2): median $(med "${tb[@]}") ms ($rounds rounds)"

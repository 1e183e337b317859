#!/usr/bin/env bash
# Installs the Debian packages coracle needs to build, test and benchmark.
# Only what is missing is installed, so a second `make` costs nothing.
set -euo pipefail
packages=(
  # build
  build-essential cmake ninja-build pkg-config
  libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev
  libarchive-dev libcurl4-openssl-dev libssl-dev
  # static archives of libarchive's decompressors (the binary is static)
  libzstd-dev liblzma-dev libbz2-dev zlib1g-dev
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  # registries.conf (podman's TOML)
  libtomlplusplus-dev
  # the embedded default image is made from this
  busybox-static
  # outbound networking for sandboxes (assistants, build RUN, --net pasta)
  passt
  # the micro-VM backend (exec --vm): the VMM, a guest kernel with virtio
  # modules, erofs images of the layers
  qemu-system-x86 linux-image-cloud-amd64 erofs-utils
  # tests: newuidmap/newgidmap for the rootless user, ip for namespace checks
  uidmap iproute2 passwd util-linux procps
  # tests: real image tools and a real registry
  umoci skopeo docker-registry
  # tests: a real Debian rootfs from the package mirror apt uses
  debootstrap
  # tests: htpasswd and a throw-away CA for the registry fixture
  apache2-utils openssl
  # tests: a stand-in for python:3.12-slim made from the host's python3
  # (tests/fixtures/make_python_rootfs.sh) for the Ayup assistants
  python3 python3-pip python3-setuptools python3-wheel python3-flask
  # tests: the --json streams checked against docs/events.schema.json
  python3-jsonschema
  # tests: reading the chain's change archives (tar.zst)
  zstd
  # tests: coracle-runc under real engines (podman with its network
  # plugins, containerd's runc shim, runc as the baseline) and the runtime
  # conformance suite (opencontainers/runtime-tools, built with Go)
  podman conmon runc containerd containernetworking-plugins iptables golang-go
  # benchmarks: the peers and the timer
  hyperfine bubblewrap crun time python3 buildah runsc
  clang-format
  # tests: the generated zsh completion is read by zsh, the man page by man
  zsh man-db
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "coracle: missing Debian packages: ${missing[*]}; run 'make deps' as root" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

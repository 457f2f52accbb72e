#!/usr/bin/env bash
# Installs every Debian package chainfs needs to build, test and benchmark.
# Idempotent: when every package is present it does nothing (no apt-get call).
# Used by the README commands and by .ci/run; run as root (or with sudo).
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config clang
  # libraries
  libisal-dev libinih-dev liburing-dev liblmdb-dev libpq-dev libfuse3-dev libzstd-dev
  # tests
  libcmocka-dev python3 python3-pytest libclang-rt-14-dev postgresql lmdb-utils
  fuse3 iproute2 procps git
  # benchmarks (machine limits are measured in the same run)
  iperf3 fio
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting system services (the PostgreSQL cluster, iperf3 daemon):
# the tests start their own, in temporary directories, on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod 755 "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && "${sudo_cmd[@]}" rm -f "$policy"' EXIT
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

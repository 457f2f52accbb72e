#!/usr/bin/env bash
# Brings up a local chainfs cluster on this machine: installs what is missing, builds
# the release binary (build/), and runs `chainfs up` with any arguments given
# (default directory /var/tmp/chainfs; --dir DIR to choose). Stop it with
# `build/src/cli/chainfs down`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build -Dbuildtype=release >/dev/null
fi
meson compile -C build >build-compile.log 2>&1 || { tail -40 build-compile.log >&2; exit 1; }
exec build/src/cli/chainfs up "$@"

#!/usr/bin/env bash
# Runs the whole chainfs test suite and ends with one line "N passed, N failed".
#
#   1. installs what is missing (scripts/install-deps.sh)
#   2. builds with AddressSanitizer + UBSan (build-asan/) and the release build (build/)
#   3. starts a throw-away PostgreSQL cluster for the KV conformance suite
#   4. C unit tests and the KV conformance suites (meson test)
#   5. process-level tests (pytest, real processes on loopback)
#   6. every libFuzzer target for CHAINFS_FUZZ_SECONDS (default 20) each
#
# Exit status 0 only when every stage ran and nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh || { echo "test.sh: installing dependencies failed" >&2; exit 1; }

export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
results="$root/build-asan/test-results"
stage_failures=()

build() { # dir, setup arguments...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  meson compile -C "$dir" >"$root/$(basename "$dir")-compile.log" 2>&1 || {
    tail -40 "$root/$(basename "$dir")-compile.log" >&2; return 1; }
}

echo "== build (AddressSanitizer + UBSan)"
if ! build build-asan -Db_sanitize=address,undefined -Dbuildtype=debug; then
  echo "test.sh: the ASan build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
rm -rf "$results"; mkdir -p "$results"

# The optimized build is what scripts/up.sh (the README's first command) runs, and
# -O3 finds warnings (-Werror) that the debug build does not.
echo "== build (release, as scripts/up.sh)"
build build -Dbuildtype=release || stage_failures+=("release-build")

echo "== PostgreSQL for the KV conformance suite"
pg_dir=$(mktemp -d /tmp/chainfs-test-pg-XXXXXX)
stop_postgres() { ./scripts/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1; rm -rf "$pg_dir"; }
trap stop_postgres EXIT
if conninfo=$(./scripts/pg-test-cluster.sh start "$pg_dir"); then
  export CHAINFS_TEST_PG_CONNINFO="$conninfo"
else
  echo "test.sh: PostgreSQL did not start; the PostgreSQL suite will fail" >&2
  stage_failures+=("postgres")
fi

echo "== C unit tests and KV conformance (meson test)"
meson test -C build-asan --print-errorlogs --num-processes 2 || true
cp build-asan/meson-logs/testlog.junit.xml "$results/meson.xml" 2>/dev/null || stage_failures+=("meson")

echo "== process-level tests (pytest)"
CHAINFS_BINARY="$root/build-asan/src/cli/chainfs" /usr/bin/python3 -m pytest -q \
  -p no:cacheprovider --junitxml="$results/pytest.xml" tests/integration
[ -f "$results/pytest.xml" ] || stage_failures+=("pytest")

echo "== fuzzing (${CHAINFS_FUZZ_SECONDS:-20} s per target)"
: >"$results/fuzz.txt"
if CC=clang build build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
     -Db_lundef=false -Dbuildtype=debugoptimized; then
  corpus=$(mktemp -d /tmp/chainfs-fuzz-XXXXXX)
  for target in build-fuzz/tests/fuzz/fuzz_*; do
    [ -f "$target" ] && [ -x "$target" ] || continue
    name=$(basename "$target")
    mkdir -p "$corpus/$name"
    /usr/bin/python3 tests/fuzz/make_seeds.py "$corpus/$name"
    if "$target" -max_total_time="${CHAINFS_FUZZ_SECONDS:-20}" -max_len=65536 -timeout=10 \
         -artifact_prefix="$results/$name-" "$corpus/$name" >"$results/$name.log" 2>&1; then
      echo "$name passed" | tee -a "$results/fuzz.txt"
    else
      echo "$name failed (see $results/$name.log)" | tee -a "$results/fuzz.txt"
      tail -30 "$results/$name.log" >&2
    fi
  done
  rm -rf "$corpus"
else
  echo "fuzz-build failed" >>"$results/fuzz.txt"
fi

/usr/bin/python3 scripts/test_summary.py "$results" "${stage_failures[@]}"

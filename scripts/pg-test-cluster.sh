#!/usr/bin/env bash
# pg-test-cluster.sh - a throwaway PostgreSQL 15 cluster for the KV tests and benchmark.
#
#   scripts/pg-test-cluster.sh start DIR   creates DIR, runs initdb in DIR/data, starts the
#                                          server listening only on a unix socket in DIR, and
#                                          prints a libpq conninfo on stdout
#   scripts/pg-test-cluster.sh stop DIR    stops that server (pg_ctl, which signals the pid in
#                                          postmaster.pid) and removes DIR
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` OS user
# (DIR is chowned to it, so DIR's parent must be traversable by it, e.g. /tmp). Authentication
# is `trust` on the socket only; nothing listens on TCP. fsync stays on: commits are durable,
# as the conformance suite's crash test and the benchmark's figures assume.
#
# PG_LISTEN=ADDRESS additionally listens on TCP at ADDRESS:5432 with `trust` for clients in
# the same subnet (the fault tests run it inside a network namespace, where a partition
# can cut a host off from its KV store).
set -euo pipefail

bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
port=5432 # only names the socket file DIR/.s.PGSQL.5432; no TCP port is opened

usage() {
  echo "usage: $0 start DIR | stop DIR" >&2
  exit 2
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local dir=$1
  if [ -e "$dir/data" ]; then
    echo "pg-test-cluster: $dir/data exists; run '$0 stop $dir' first" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
  fi
  if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-instructions \
      -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
    echo "pg-test-cluster: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  fi
  local listen=''
  if [ -n "${PG_LISTEN:-}" ]; then
    listen=$PG_LISTEN
    echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses='$listen' -k $dir -p $port -c max_connections=200" >/dev/null; then
    echo "pg-test-cluster: server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  echo "host=$dir port=$port user=postgres dbname=postgres"
}

stop() {
  local dir=$1
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "pg-test-cluster: $dir holds no cluster" >&2
    exit 1
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  fi
  rm -rf "$dir"
}

[ $# -eq 2 ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac

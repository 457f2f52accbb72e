/*
 * kv_bench.h - `chainfs bench kv`: transaction rates of the KV backends.
 */
#ifndef CHAINFS_KV_KV_BENCH_H
#define CHAINFS_KV_KV_BENCH_H

/* Runs the benchmark; argv[0] is "kv". Options: --json, --duration SECONDS,
 * --dir DIR, --backends LIST, --pg-conninfo CONNINFO, --pg-start, --pg-script PATH
 * (see kv_bench.c or --help). Returns the process exit status (0 on success). */
int kv_bench_main(int argc, char **argv);

#endif /* CHAINFS_KV_KV_BENCH_H */

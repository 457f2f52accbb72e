/*
 * meta_bench.h - `chainfs bench meta`: metadata operations per second (create, stat,
 * unlink; in private directories and in one shared directory) with N client threads
 * through the meta client against two meta servers sharing one LMDB store, beside the
 * raw KV read-write transaction rate of the same machine measured in the same run.
 */
#ifndef CHAINFS_BENCH_META_BENCH_H
#define CHAINFS_BENCH_META_BENCH_H

/* argv[0] is "meta". Options: --json, --threads N, --files N (per thread),
 * --servers N (meta processes, default 2). */
int meta_bench_main(int argc, char **argv);

#endif /* CHAINFS_BENCH_META_BENCH_H */

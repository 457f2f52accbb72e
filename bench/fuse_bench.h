/*
 * fuse_bench.h - `chainfs bench fuse`: the file system as applications see it, through
 * the FUSE mount of a local 3-replica cluster, beside the same workloads on the local
 * disk measured in the same run: fio 1 MiB sequential write and read of one file,
 * fio 4 KiB random reads (depth 32 x 2 jobs), and create/stat/unlink of N files by a
 * few threads (plain POSIX calls).
 */
#ifndef CHAINFS_BENCH_FUSE_BENCH_H
#define CHAINFS_BENCH_FUSE_BENCH_H

/* argv[0] is "fuse". Options: --json, --size BYTES (sequential file, default 1 GiB),
 * --files N (default 20000), --mountpoint PATH (use a mounted chainfs instead of
 * starting `chainfs up` in a temporary directory under /var/tmp), --keep (leave the
 * started cluster running). Returns the exit code. */
int fuse_bench_main(int argc, char **argv);

#endif /* CHAINFS_BENCH_FUSE_BENCH_H */

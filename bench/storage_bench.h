/*
 * storage_bench.h - `chainfs bench storage`: chunk I/O through the storage client
 * against a local cluster (mgmtd + 3 storage processes, 3-replica and 1-replica chain
 * tables), each figure beside the disk/network/memory limit measured in the same run.
 *
 *   chainfs bench storage [--json] [--seconds S] [--dir DIR] [--sync] [--keep] [--batch-items N] [--chunks-per-thread N]
 */
#ifndef CHAINFS_BENCH_STORAGE_BENCH_H
#define CHAINFS_BENCH_STORAGE_BENCH_H

int storage_bench_main(int argc, char **argv);

#endif /* CHAINFS_BENCH_STORAGE_BENCH_H */

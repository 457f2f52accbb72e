/*
 * rpc_bench.h - `chainfs bench rpc`: small-request round trips and bulk transfer
 * over chainfs RPC, beside raw TCP and iperf3 measured in the same run.
 */
#ifndef CHAINFS_BENCH_RPC_BENCH_H
#define CHAINFS_BENCH_RPC_BENCH_H

/* argv[0] is "rpc". Options: --json, --seconds N, --server HOST:PORT. */
int rpc_bench_main(int argc, char **argv);

#endif /* CHAINFS_BENCH_RPC_BENCH_H */

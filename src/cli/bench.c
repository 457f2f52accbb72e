/*
 * bench.c - `chainfs bench <name>`: every benchmark prints its figures beside the
 * machine limit measured in the same run (--json: one JSON object per figure).
 */
#include <stdio.h>
#include <string.h>

#include "bench/fuse_bench.h"
#include "bench/meta_bench.h"
#include "bench/rpc_bench.h"
#include "bench/storage_bench.h"
#include "kv/kv_bench.h"
#include "cli/commands.h"

struct benchmark {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct benchmark benchmarks[] = {
    {"rpc", rpc_bench_main, "RPC round trips (depth 1/16/64) and 1 MiB bulk vs raw TCP and iperf3"},
    {"meta", meta_bench_main, "creates/stats/unlinks per second against 2 meta servers vs raw KV"},
    {"storage", storage_bench_main, "chunk writes/reads (1 and 3 replicas) vs fio, iperf3 and memcpy"},
    {"fuse", fuse_bench_main, "fio and create/stat/unlink through the FUSE mount vs the local disk"},
    {"kv", kv_bench_main, "KV transactions on LMDB (sync, nosync) and PostgreSQL vs the fsync rate"},
};

int command_bench(int argc, char **argv)
{
    if (argc >= 2)
        for (size_t i = 0; i < sizeof(benchmarks) / sizeof(benchmarks[0]); i++)
            if (strcmp(argv[1], benchmarks[i].name) == 0)
                return benchmarks[i].run(argc - 1, argv + 1);
    fprintf(stderr, "usage: chainfs bench <name> [--json] [options]\n\n");
    for (size_t i = 0; i < sizeof(benchmarks) / sizeof(benchmarks[0]); i++)
        fprintf(stderr, "  %-6s %s\n", benchmarks[i].name, benchmarks[i].summary);
    return 2;
}

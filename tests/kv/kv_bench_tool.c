/*
 * kv_bench_tool.c - runs kv_bench_main outside the chainfs binary, for the KV work's own
 * measurements and the benchmark smoke test. With CHAINFS_TEST_PG_CONNINFO set and no
 * PostgreSQL option given, it measures that server too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_bench.h"

#define MAX_ARGUMENTS 64

int main(int argc, char **argv)
{
    char *arguments[MAX_ARGUMENTS + 3];
    int count = 0;
    arguments[count++] = "kv";
    bool has_postgres = false;
    for (int i = 1; i < argc && count < MAX_ARGUMENTS; i++) {
        has_postgres |= strncmp(argv[i], "--pg-", 5) == 0;
        arguments[count++] = argv[i];
    }
    const char *conninfo = getenv("CHAINFS_TEST_PG_CONNINFO");
    if (!has_postgres && conninfo && conninfo[0]) {
        arguments[count++] = "--pg-conninfo";
        arguments[count++] = (char *)conninfo;
    }
    arguments[count] = NULL;
    return kv_bench_main(count, arguments);
}

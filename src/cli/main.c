/*
 * main.c - `chainfs <subcommand>`: one binary for every service and tool.
 */
#include <stdio.h>
#include <string.h>

#include "chainfs_build_config.h"
#include "cli/commands.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"up", command_up, "start a local cluster in a run directory"},
    {"down", command_down, "stop the local cluster started by `up`"},
    {"status", command_status, "show the processes of the local cluster"},
    {"mount", command_mount, "mount a chainfs file system through FUSE"},
    {"mgmtd", command_mgmtd, "the cluster manager daemon"},
    {"meta", command_meta, "a metadata server (the namespace on the KV store)"},
    {"meta-tool", command_meta_tool, "one metadata operation through the meta client (JSON out)"},
    {"meta-check", command_meta_check, "offline consistency check of a namespace on its KV store"},
    {"storage", command_storage, "a storage node: chunk engines, CRAQ replication, recovery"},
    {"admin", command_admin, "operate a cluster through its primary mgmtd"},
    {"node", command_node, "a bare chainfs daemon: the shared scaffolding with the system service"},
    {"ping", command_ping, "call the health method of a chainfs process (ping HOST:PORT)"},
    {"storage-tool", command_storage_tool, "drive the storage client: write/verify/stress chunks, dump, space"},
    {"bench", command_bench, "benchmarks: bench rpc | bench kv | bench meta (--json for JSON lines)"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "chainfs %s - a distributed file system for AI workloads\n\n"
                 "usage: chainfs <command> [options]   (chainfs <command> --help)\n\n",
            CHAINFS_VERSION);
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("chainfs %s\n", CHAINFS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "chainfs: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}

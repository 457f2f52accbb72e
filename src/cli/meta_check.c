/*
 * meta_check.c - `chainfs meta-check`: the offline consistency check of a namespace
 * (meta_check in meta/namespace.h), straight on its KV store; one JSON line out,
 * exit status 0 only when consistent.
 *
 *   chainfs meta-check --lmdb DIRECTORY
 *   chainfs meta-check --postgres CONNINFO [--table NAME]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "common/log.h"
#include "kv/kv.h"
#include "meta/namespace.h"

static void print_report(const struct meta_check_report *report)
{
    printf("{\"inodes\":%llu,\"entries\":%llu,\"queued\":%llu,\"problem_count\":%llu,\"problems\":[",
           (unsigned long long)report->inodes, (unsigned long long)report->entries,
           (unsigned long long)report->queued, (unsigned long long)report->problem_count);
    for (uint64_t i = 0; i < report->problem_count && i < META_CHECK_PROBLEMS_MAX; i++) {
        printf("%s\"", i ? "," : "");
        for (const char *c = report->problems[i]; *c; c++)
            printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        putchar('"');
    }
    printf("]}\n");
}

int command_meta_check(int argc, char **argv)
{
    static const struct option options[] = {{"lmdb", required_argument, NULL, 'l'},
                                            {"postgres", required_argument, NULL, 'p'},
                                            {"table", required_argument, NULL, 't'},
                                            {NULL, 0, NULL, 0}};
    struct kv_options kv = {.lmdb_map_size = 0, .durability = KV_DURABILITY_NOSYNC,
                            .postgres_table = "chainfs_kv"};
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'l': kv.backend = "lmdb"; kv.lmdb_path = optarg; break;
        case 'p': kv.backend = "postgres"; kv.postgres_conninfo = optarg; break;
        case 't': kv.postgres_table = optarg; break;
        default: kv.backend = NULL; optind = argc + 1; break;
        }
    }
    if (!kv.backend || optind != argc) {
        fprintf(stderr, "usage: chainfs meta-check --lmdb DIRECTORY | --postgres CONNINFO [--table T]\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR);
    struct kv_store *store;
    struct meta_namespace *space = NULL;
    struct meta_check_report report;
    int status = kv_open(&kv, &store);
    if (status == 0) {
        status = meta_namespace_open(store, &space);
        if (status == 0)
            status = meta_check(space, &report);
        meta_namespace_close(space);
        kv_close(store);
    }
    if (status != 0) {
        fprintf(stderr, "chainfs meta-check: %s\n", chainfs_error_message(status));
        return 1;
    }
    print_report(&report);
    return report.problem_count == 0 ? 0 : 1;
}

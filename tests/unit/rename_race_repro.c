/*
 * rename_race_repro.c - reproduces a known namespace bug (not in the test suite: it
 * fails until fixed; then move it into test_meta_sessions.c).
 *
 * Two concurrent renames in one LMDB store: A renames directory t/y over the empty
 * directory t/x (deleting x's inode), B renames directory t/f to t/x/n2. Serially one
 * of them must fail (B after A: x is gone; A after B: x is not empty), and each reads
 * what the other writes (t's inode, x's inode and x's entry range), yet within a few
 * hundred rounds both commit and leave entry x/n2 in a deleted directory
 * (meta_check: "entry X/n2 is in a missing directory"). It happens with the LMDB
 * group commit limited to one transaction per batch too; a plain read-modify-write
 * counter and a range-read/insert pair do conflict correctly in the same store, so
 * the hole is in what these transactions read or in how the KV layer tracks it.
 *
 * Build (from the repository, after ninja -C build-asan):
 *   cc -Isrc -Iinclude -Ibuild-asan tests/unit/rename_race_repro.c \
 *      build-asan/src/meta/libchainfs_meta.a build-asan/src/kv/libchainfs_kv.a \
 *      build-asan/src/common/libchainfs_common.a -fsanitize=address,undefined \
 *      -llmdb -lpq -lisal -lpthread -o /tmp/rename_race && /tmp/rename_race
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kv/kv.h"
#include "meta/namespace.h"

static const struct meta_credentials root = {0, 0, 0, {0}};
static struct meta_namespace *space;
static uint64_t top, x_id;
static pthread_barrier_t barrier;
static int status_a, status_b;

static void *rename_over_empty_directory(void *unused)
{
    pthread_barrier_wait(&barrier);
    status_a = meta_rename(space, &root, top, "y", top, "x", 0);
    return NULL;
}

static void *rename_into_that_directory(void *unused)
{
    pthread_barrier_wait(&barrier);
    status_b = meta_rename(space, &root, top, "f", x_id, "n2", 0);
    return NULL;
}

int main(void)
{
    char directory[] = "/tmp/chainfs-rename-race-XXXXXX";
    if (!mkdtemp(directory))
        return 2;
    struct kv_options options = {.backend = "lmdb", .lmdb_path = directory,
                                 .durability = KV_DURABILITY_NOSYNC};
    struct kv_store *store;
    if (kv_open(&options, &store) != 0 || meta_namespace_open(store, &space) != 0)
        return 2;
    struct file_layout layout = {.table_id = 1, .chunk_size = 1 << 20, .stripe = 1};
    struct inode inode;
    meta_namespace_format(space, &layout);
    meta_mkdir(space, &root, META_ROOT_ID, "t", 0755, &inode);
    top = inode.id;
    int round;
    for (round = 0; round < 2000; round++) {
        meta_mkdir(space, &root, top, "x", 0755, &inode);
        x_id = inode.id;
        meta_mkdir(space, &root, top, "y", 0755, &inode);
        meta_mkdir(space, &root, top, "f", 0755, &inode);
        pthread_barrier_init(&barrier, NULL, 2);
        pthread_t a, b;
        pthread_create(&a, NULL, rename_over_empty_directory, NULL);
        pthread_create(&b, NULL, rename_into_that_directory, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&barrier);
        if (status_a == 0 && status_b == 0)
            break;
        uint64_t removed;
        meta_remove_tree(space, &root, top, "x", &removed);
        meta_remove_tree(space, &root, top, "y", &removed);
        meta_remove_tree(space, &root, top, "f", &removed);
    }
    struct meta_check_report report;
    meta_check(space, &report);
    printf("%s after %d rounds; check: %llu problems%s%s\n",
           round < 2000 ? "both renames committed" : "no race seen", round,
           (unsigned long long)report.problem_count, report.problem_count ? ", first: " : "",
           report.problem_count ? report.problems[0] : "");
    char command[96];
    snprintf(command, sizeof(command), "rm -rf %s", directory);
    if (system(command) != 0)
        return 2;
    return report.problem_count ? 1 : 0;
}

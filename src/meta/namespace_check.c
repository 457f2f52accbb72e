/*
 * namespace_check.c - the offline consistency check of a namespace (fsck): reads
 * every inode, entry and GC queue record in one snapshot and verifies the invariants
 * of README.md. For quiescent namespaces (tests, operators); it holds everything in
 * memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

#define CHECK_DEPTH_MAX 4096

struct checked_inode {
    struct inode inode;
    uint32_t links;          /* entries pointing at it */
    uint32_t subdirectories; /* directories: entries of type directory in it */
    uint64_t linked_from;    /* directories: the parent whose entry points here */
    char linked_name[META_NAME_MAX + 1];
    bool queued;             /* in the GC queue */
};

struct check_state {
    struct checked_inode *inodes;
    size_t count;
    struct meta_check_report *report;
};

static void problem(struct meta_check_report *report, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct meta_check_report *report, const char *format, ...)
{
    if (report->problem_count < META_CHECK_PROBLEMS_MAX) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(report->problems[report->problem_count], sizeof(report->problems[0]), format,
                  arguments);
        va_end(arguments);
    }
    report->problem_count++;
}

static int compare_ids(const void *a, const void *b)
{
    uint64_t left = ((const struct checked_inode *)a)->inode.id;
    uint64_t right = ((const struct checked_inode *)b)->inode.id;
    return left < right ? -1 : left > right;
}

static struct checked_inode *find(struct check_state *state, uint64_t id)
{
    struct checked_inode key = {.inode.id = id};
    return bsearch(&key, state->inodes, state->count, sizeof(key), compare_ids);
}

static int load_inodes(struct kv_transaction *transaction, struct check_state *state)
{
    struct kv_range_options options = {.snapshot = true};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, "INOD", 4, "INOE", 4, &options, &rows);
    if (status != 0)
        return status;
    state->inodes = calloc(rows.count + 1, sizeof(*state->inodes));
    if (!state->inodes)
        return CHAINFS_NO_MEMORY;
    for (size_t i = 0; i < rows.count; i++) {
        struct wire_reader reader;
        wire_reader_init(&reader, rows.rows[i].value, rows.rows[i].value_length);
        struct checked_inode *entry = &state->inodes[state->count];
        if (!inode_decode(&reader, &entry->inode)) {
            problem(state->report, "undecodable inode record %zu", i);
            continue;
        }
        state->count++;
    }
    qsort(state->inodes, state->count, sizeof(*state->inodes), compare_ids);
    state->report->inodes = state->count;
    return 0;
}

static void note_entry(struct check_state *state, uint64_t parent_id, const char *name,
                       const struct directory_entry *entry)
{
    struct checked_inode *parent = find(state, parent_id);
    struct checked_inode *target = find(state, entry->inode_id);
    state->report->entries++;
    if (!parent)
        problem(state->report, "entry %llu/%s is in a missing directory", (unsigned long long)parent_id,
                name);
    else if (parent->inode.type != INODE_DIRECTORY)
        problem(state->report, "entry %llu/%s is in a non-directory (type %u)",
                (unsigned long long)parent_id, name, parent->inode.type);
    if (!target) {
        problem(state->report, "entry %llu/%s points to missing inode %llu",
                (unsigned long long)parent_id, name, (unsigned long long)entry->inode_id);
        return;
    }
    if (target->inode.type != entry->type)
        problem(state->report, "entry %llu/%s has type %u, its inode %u", (unsigned long long)parent_id,
                name, entry->type, target->inode.type);
    target->links++;
    if (target->inode.type == INODE_DIRECTORY) {
        target->linked_from = parent_id;
        snprintf(target->linked_name, sizeof(target->linked_name), "%s", name);
        if (parent)
            parent->subdirectories++;
    }
}

static int load_entries(struct kv_transaction *transaction, struct check_state *state)
{
    struct kv_range_options options = {.snapshot = true};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, "DENT", 4, "DENU", 4, &options, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        const struct kv_row *row = &rows.rows[i];
        struct wire_reader reader;
        struct directory_entry entry;
        wire_reader_init(&reader, row->value, row->value_length);
        if (row->key_length <= 12 || row->key_length > 12 + META_NAME_MAX ||
            !directory_entry_decode(&reader, &entry)) {
            problem(state->report, "undecodable entry record %zu", i);
            continue;
        }
        char name[META_NAME_MAX + 1];
        memcpy(name, row->key + 12, row->key_length - 12);
        name[row->key_length - 12] = '\0';
        note_entry(state, wire_load_u64(row->key + 4), name, &entry);
    }
    return status;
}

static int load_queue(struct kv_transaction *transaction, struct check_state *state)
{
    struct kv_range_options options = {.snapshot = true};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, "GCQU", 4, "GCQV", 4, &options, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        uint64_t id = rows.rows[i].key_length == 12 ? wire_load_u64(rows.rows[i].key + 4) : 0;
        struct checked_inode *queued = find(state, id);
        state->report->queued++;
        if (queued)
            queued->queued = true; /* a queued id without inode: GC finished its chunks */
    }
    return status;
}

/* A directory must reach the root through parent ids, without a cycle. */
static void check_ancestry(struct check_state *state, const struct checked_inode *directory)
{
    uint64_t current = directory->inode.id;
    for (int depth = 0; depth < CHECK_DEPTH_MAX; depth++) {
        if (current == META_ROOT_ID)
            return;
        struct checked_inode *node = find(state, current);
        if (!node || node->inode.type != INODE_DIRECTORY) {
            problem(state->report, "directory %llu does not reach the root",
                    (unsigned long long)directory->inode.id);
            return;
        }
        current = node->inode.parent_id;
    }
    problem(state->report, "directory %llu is in a cycle", (unsigned long long)directory->inode.id);
}

static void check_directory(struct check_state *state, const struct checked_inode *entry)
{
    const struct inode *inode = &entry->inode;
    uint64_t id = inode->id;
    if (id != META_ROOT_ID && entry->links != 1)
        problem(state->report, "directory %llu has %u entries", (unsigned long long)id, entry->links);
    if (id != META_ROOT_ID && entry->links == 1 &&
        (entry->linked_from != inode->parent_id || strcmp(entry->linked_name, inode->name) != 0))
        problem(state->report, "directory %llu says it is %llu/%s but is linked as %llu/%s",
                (unsigned long long)id, (unsigned long long)inode->parent_id, inode->name,
                (unsigned long long)entry->linked_from, entry->linked_name);
    if (inode->nlink != 2 + entry->subdirectories)
        problem(state->report, "directory %llu has nlink %u for %u subdirectories",
                (unsigned long long)id, inode->nlink, entry->subdirectories);
    check_ancestry(state, entry);
}

static void check_inodes(struct check_state *state)
{
    for (size_t i = 0; i < state->count; i++) {
        const struct checked_inode *entry = &state->inodes[i];
        if (entry->inode.type == INODE_DIRECTORY) {
            check_directory(state, entry);
            continue;
        }
        if (entry->inode.nlink != entry->links)
            problem(state->report, "inode %llu has nlink %u but %u entries",
                    (unsigned long long)entry->inode.id, entry->inode.nlink, entry->links);
        if (entry->links == 0 && !entry->queued)
            problem(state->report, "inode %llu is in no directory and not in the GC queue",
                    (unsigned long long)entry->inode.id);
        if (entry->links > 0 && entry->queued)
            problem(state->report, "inode %llu is linked and queued for GC",
                    (unsigned long long)entry->inode.id);
    }
    if (!find(state, META_ROOT_ID))
        problem(state->report, "the root directory is missing");
}

static int check_transaction(struct kv_transaction *transaction, void *argument)
{
    struct check_state *state = argument;
    free(state->inodes);
    state->inodes = NULL;
    state->count = 0;
    memset(state->report, 0, sizeof(*state->report));
    int status = load_inodes(transaction, state);
    if (status == 0)
        status = load_entries(transaction, state);
    if (status == 0)
        status = load_queue(transaction, state);
    if (status == 0)
        check_inodes(state);
    return status;
}

int meta_check(struct meta_namespace *space, struct meta_check_report *report)
{
    struct check_state state = {.report = report};
    int status = kv_run_transaction(space->store, check_transaction, &state, NULL);
    free(state.inodes);
    return status;
}

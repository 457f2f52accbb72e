/*
 * liveness_table.c - open-addressing hash table of member keys to the time they
 * were last heard from (see liveness_table.h for why it is a hash table).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "mgmtd/liveness_table.h"

struct liveness_entry {
    char key[LIVENESS_KEY_MAX]; /* "" marks a free slot: keys are never empty */
    uint64_t time;
};

/* FNV-1a: short keys, no adversary (keys come from authenticated members). */
static uint64_t key_hash(const char *key)
{
    uint64_t hash = 14695981039346656037ull;
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        hash = (hash ^ *c) * 1099511628211ull;
    return hash;
}

/* The slot holding key, or the free slot where it would go. capacity > 0. */
static struct liveness_entry *find_slot(struct liveness_entry *entries, size_t capacity,
                                        const char *key)
{
    size_t mask = capacity - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask)
        if (entries[i].key[0] == '\0' || strcmp(entries[i].key, key) == 0)
            return &entries[i];
}

static int grow(struct liveness_table *table)
{
    size_t capacity = table->capacity ? table->capacity * 2 : 64;
    struct liveness_entry *entries = calloc(capacity, sizeof(*entries));
    if (!entries)
        return CHAINFS_NO_MEMORY;
    for (size_t i = 0; i < table->capacity; i++)
        if (table->entries[i].key[0])
            *find_slot(entries, capacity, table->entries[i].key) = table->entries[i];
    free(table->entries);
    table->entries = entries;
    table->capacity = capacity;
    return 0;
}

void liveness_table_init(struct liveness_table *table)
{
    table->entries = NULL;
    table->capacity = 0;
    table->count = 0;
}

void liveness_table_free(struct liveness_table *table)
{
    free(table->entries);
    liveness_table_init(table);
}

void liveness_table_clear(struct liveness_table *table)
{
    if (table->entries)
        memset(table->entries, 0, table->capacity * sizeof(*table->entries));
    table->count = 0;
}

int liveness_table_note(struct liveness_table *table, const char *key, uint64_t time)
{
    char cut[LIVENESS_KEY_MAX];
    size_t length = strnlen(key, sizeof(cut) - 1);
    if (length == 0)
        return CHAINFS_INVALID_ARGUMENT;
    memcpy(cut, key, length);
    cut[length] = '\0';
    if ((table->count + 1) * 10 > table->capacity * 7 && grow(table) != 0)
        return CHAINFS_NO_MEMORY;
    struct liveness_entry *entry = find_slot(table->entries, table->capacity, cut);
    if (entry->key[0] == '\0') {
        memcpy(entry->key, cut, length + 1);
        table->count++;
    }
    entry->time = time;
    return 0;
}

uint64_t liveness_table_last(const struct liveness_table *table, const char *key)
{
    if (table->capacity == 0 || key[0] == '\0')
        return 0;
    char cut[LIVENESS_KEY_MAX];
    size_t length = strnlen(key, sizeof(cut) - 1);
    memcpy(cut, key, length);
    cut[length] = '\0';
    const struct liveness_entry *entry = find_slot(table->entries, table->capacity, cut);
    return entry->key[0] ? entry->time : 0;
}

/*
 * liveness_table.h - when the primary mgmtd last heard from each member, by key
 * ("n<node id>" for nodes, "c<client id>" for client sessions).
 *
 * Every heartbeat records a time and every failure sweep asks for each node and
 * client session, so with thousands of FUSE clients a list scanned per lookup
 * would cost the square of the cluster size per sweep: this is a hash table (open
 * addressing, linear probing, grown at 70% load) with O(1) lookups. Keys are never
 * removed; the table is cleared when a new primary takes over. Not thread-safe: the
 * caller locks.
 */
#ifndef CHAINFS_MGMTD_LIVENESS_TABLE_H
#define CHAINFS_MGMTD_LIVENESS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LIVENESS_KEY_MAX 80 /* bytes, with the terminating NUL */

struct liveness_entry;

struct liveness_table {
    struct liveness_entry *entries;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
};

void liveness_table_init(struct liveness_table *table);
void liveness_table_free(struct liveness_table *table);

/* Forgets every key (a new primary starts all clocks afresh). */
void liveness_table_clear(struct liveness_table *table);

/* Records time for key (cut to LIVENESS_KEY_MAX - 1 bytes). 0 or CHAINFS_NO_MEMORY
 * (then the key is unchanged: it looks silent until it is recorded again). */
int liveness_table_note(struct liveness_table *table, const char *key, uint64_t time);

/* The time last recorded for key, or 0 when it was never recorded. */
uint64_t liveness_table_last(const struct liveness_table *table, const char *key);

#endif /* CHAINFS_MGMTD_LIVENESS_TABLE_H */

/*
 * update_rules.h - the pure decisions of CRAQ replication at one target (DESIGN §7):
 * what a successor does with a forwarded update given the chunk's versions, and
 * whether a client write is new, a retry or stale (exactly-once).
 *
 * Kept free of I/O so that each rule is table-tested row by row
 * (tests/unit/test_storage_rules.c).
 */
#ifndef CHAINFS_STORAGE_UPDATE_RULES_H
#define CHAINFS_STORAGE_UPDATE_RULES_H

#include <stdbool.h>
#include <stdint.h>

enum update_decision {
    UPDATE_APPLY = 1,       /* version == committed + 1, no pending: prepare it */
    UPDATE_REPLACE_PENDING, /* version == committed + 1 == pending: a re-forward of the
                             * same update (the predecessor lost our answer or changed
                             * successor): drop the pending one and prepare again */
    UPDATE_ALREADY_COMMITTED, /* version <= committed: answer success with the
                               * committed version's length and CRC */
    UPDATE_OUT_OF_ORDER,      /* version > committed + 1: this replica missed updates
                               * (it needs recovery); refuse */
};

/* The decision for a forwarded WRITE or TRUNCATE carrying update_version at a
 * target whose chunk has committed version `committed` (0: no chunk) and pending
 * version `pending` (0: none). */
enum update_decision update_rules_decide(uint64_t committed, uint64_t pending,
                                         uint64_t update_version);

/* What a target remembers of one (client, channel) for exactly-once writes. */
struct client_channel_state {
    uint64_t sequence; /* the newest sequence seen */
    bool in_progress;  /* that write is still running */
    bool has_reply;    /* it succeeded and its reply is stored */
};

enum sequence_decision {
    SEQUENCE_NEW = 1,    /* run the write (and remember it as in progress) */
    SEQUENCE_REPLAY,     /* the same write succeeded: answer the stored reply */
    SEQUENCE_IN_PROGRESS, /* the same write is running: answer BUSY, retry later */
    SEQUENCE_STALE,      /* older than the newest seen: refuse */
};

/* The decision for a write with `sequence` given the channel's state (NULL: the
 * channel was never seen). A write that failed leaves no reply, so its retry with
 * the same sequence runs again (a failed write changed nothing). */
enum sequence_decision update_rules_sequence(const struct client_channel_state *state,
                                             uint64_t sequence);

#endif /* CHAINFS_STORAGE_UPDATE_RULES_H */

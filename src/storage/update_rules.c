/*
 * update_rules.c - version and sequence rules of CRAQ writes (update_rules.h).
 */
#include "storage/update_rules.h"

#include <stddef.h>

enum update_decision update_rules_decide(uint64_t committed, uint64_t pending,
                                         uint64_t update_version)
{
    if (update_version <= committed)
        return UPDATE_ALREADY_COMMITTED;
    if (update_version > committed + 1)
        return UPDATE_OUT_OF_ORDER;
    /* A pending version is always committed + 1 (chunk_metadata.h). */
    return pending == update_version ? UPDATE_REPLACE_PENDING : UPDATE_APPLY;
}

enum sequence_decision update_rules_sequence(const struct client_channel_state *state,
                                             uint64_t sequence)
{
    if (state == NULL || sequence > state->sequence)
        return SEQUENCE_NEW;
    if (sequence < state->sequence)
        return SEQUENCE_STALE;
    if (state->in_progress)
        return SEQUENCE_IN_PROGRESS;
    return state->has_reply ? SEQUENCE_REPLAY : SEQUENCE_NEW;
}

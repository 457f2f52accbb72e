/*
 * chain_update.c - the once-a-second update of one chain: next public states from
 * the state table, the new order, the new version. The rules, and why they are
 * safe, are at the top of chain_update.h; this file only carries them out.
 *
 * Chains have at most CHAIN_MAX_TARGETS targets, so every step works on small
 * arrays on the stack, and stable ordering is done by bucketing indexes by key
 * (clearer than a sort, and obviously stable).
 */
#include "chainfs/error.h"
#include "mgmtd/chain_update.h"

int chain_validate(const struct chain *chain)
{
    if (chain->target_count < 1 || chain->target_count > CHAIN_MAX_TARGETS)
        return CHAINFS_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < chain->target_count; i++) {
        const struct chain_target *target = &chain->targets[i];
        if (!target_local_state_is_valid(target->local_state) ||
            !target_public_state_is_valid(target->public_state))
            return CHAINFS_INVALID_ARGUMENT;
        for (uint32_t earlier = 0; earlier < i; earlier++)
            if (chain->targets[earlier].target_id == target->target_id)
                return CHAINFS_INVALID_ARGUMENT;
    }
    return CHAINFS_OK;
}

/* Writes the indexes 0..count-1 into order, sorted by keys[index] (each key in
 * 0..key_count-1), keeping the index order among equal keys. */
static void stable_order(const int *keys, uint32_t count, int key_count, uint32_t *order)
{
    uint32_t placed = 0;
    for (int key = 0; key < key_count; key++)
        for (uint32_t index = 0; index < count; index++)
            if (keys[index] == key)
                order[placed++] = index;
}

/* The groups of the walk order (chain_update.h, step 1), walked in this order. */
enum walk_group {
    WALK_STAYS_SERVING,
    WALK_HOLDS_DATA_BUT_OFFLINE,
    WALK_OTHERS,
    WALK_GROUP_COUNT,
};

static int walk_group(const struct chain_target *target)
{
    /* In the table, becoming serving never depends on the predecessor, so asking
     * as if the target were the head tells whether it will serve. */
    if (target_public_state_next(target->local_state, target->public_state, false,
                                 TARGET_PUBLIC_OFFLINE) == TARGET_PUBLIC_SERVING)
        return WALK_STAYS_SERVING;
    if (target->public_state == TARGET_PUBLIC_SERVING ||
        target->public_state == TARGET_PUBLIC_LASTSRV)
        return WALK_HOLDS_DATA_BUT_OFFLINE;
    return WALK_OTHERS;
}

/* Steps 1 and 2: walks the chain and stores each target's next public state in
 * next_states (indexed like chain->targets). */
static void decide_public_states(const struct chain *chain, enum target_public_state *next_states)
{
    int groups[CHAIN_MAX_TARGETS];
    uint32_t walk[CHAIN_MAX_TARGETS];
    for (uint32_t i = 0; i < chain->target_count; i++)
        groups[i] = walk_group(&chain->targets[i]);
    stable_order(groups, chain->target_count, WALK_GROUP_COUNT, walk);

    bool has_predecessor = false;
    enum target_public_state predecessor_state = TARGET_PUBLIC_OFFLINE;
    for (uint32_t step = 0; step < chain->target_count; step++) {
        const struct chain_target *target = &chain->targets[walk[step]];
        enum target_public_state state = target_public_state_next(
            target->local_state, target->public_state, has_predecessor, predecessor_state);
        next_states[walk[step]] = state;
        /* Offline targets end up behind all others: they precede no one. */
        if (state != TARGET_PUBLIC_OFFLINE) {
            has_predecessor = true;
            predecessor_state = state;
        }
    }
}

/* Positions in the new chain (chain_update.h, step 3), head first. */
enum chain_position {
    POSITION_SERVING,
    POSITION_LASTSRV,
    POSITION_SYNCING,
    POSITION_WAITING,
    POSITION_ALREADY_OFFLINE,
    POSITION_NEWLY_OFFLINE,
    POSITION_COUNT,
};

static int chain_position(enum target_public_state current_state,
                          enum target_public_state next_state)
{
    switch (next_state) {
    case TARGET_PUBLIC_SERVING:
        return POSITION_SERVING;
    case TARGET_PUBLIC_LASTSRV:
        return POSITION_LASTSRV;
    case TARGET_PUBLIC_SYNCING:
        return POSITION_SYNCING;
    case TARGET_PUBLIC_WAITING:
        return POSITION_WAITING;
    case TARGET_PUBLIC_OFFLINE:
        break;
    }
    return current_state == TARGET_PUBLIC_OFFLINE ? POSITION_ALREADY_OFFLINE
                                                  : POSITION_NEWLY_OFFLINE;
}

/* Step 3: fills next->targets from current's targets and their next states. */
static void place_targets(const struct chain *current, const enum target_public_state *next_states,
                          struct chain *next)
{
    int positions[CHAIN_MAX_TARGETS];
    uint32_t order[CHAIN_MAX_TARGETS];
    for (uint32_t i = 0; i < current->target_count; i++)
        positions[i] = chain_position(current->targets[i].public_state, next_states[i]);
    stable_order(positions, current->target_count, POSITION_COUNT, order);
    for (uint32_t i = 0; i < current->target_count; i++) {
        next->targets[i] = current->targets[order[i]];
        next->targets[i].public_state = next_states[order[i]];
    }
}

/* What clients see of a chain: its order and public states. */
static bool same_order_and_public_states(const struct chain *a, const struct chain *b)
{
    for (uint32_t i = 0; i < a->target_count; i++)
        if (a->targets[i].target_id != b->targets[i].target_id ||
            a->targets[i].public_state != b->targets[i].public_state)
            return false;
    return true;
}

bool chain_update_apply(const struct chain *current, struct chain *next)
{
    if (chain_validate(current) != CHAINFS_OK) {
        if (next != current)
            *next = *current;
        return false;
    }
    enum target_public_state next_states[CHAIN_MAX_TARGETS];
    decide_public_states(current, next_states);

    /* Built aside, so that next may be current. */
    struct chain updated = {.chain_id = current->chain_id,
                            .version = current->version,
                            .target_count = current->target_count};
    place_targets(current, next_states, &updated);
    bool changed = !same_order_and_public_states(current, &updated);
    if (changed)
        updated.version++;
    *next = updated;
    return changed;
}

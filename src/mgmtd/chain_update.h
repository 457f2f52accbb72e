/*
 * chain_update.h - a chain (an ordered list of targets, head first) and the update
 * mgmtd applies to every chain once a second: next public states from the state
 * table (target_state.h), then the new order, then the version.
 *
 * Pure and I/O-free: the caller loads the chain and the local states that heartbeats
 * reported, calls chain_update_apply, and stores the result when it changed.
 *
 * How one update works (chain_update_apply):
 *
 *   1. Walk order. The targets are visited in the current chain order, stably
 *      regrouped into:
 *        a. targets whose next state is serving whatever their predecessor (the
 *           table's "any" rows that lead to serving);
 *        b. targets that hold the chain's data but are locally offline (public
 *           serving or lastsrv, local offline);
 *        c. all the others.
 *   2. Predecessor. A target's predecessor is the nearest target before it in the
 *      walk order whose *next* public state (already decided in this pass) is not
 *      offline; a target with none is the head.
 *   3. New order: targets sorted by next public state - serving, lastsrv, syncing,
 *      waiting, offline - and, among offline ones, those that were offline already
 *      before those that went offline in this update. Ties keep the current chain
 *      order. So a target that goes offline moves to the end of the chain, and a
 *      returning (syncing, waiting) target stands behind every serving one.
 *   4. Version: grows by exactly 1 when the order or any public state changed.
 *
 * Why this is safe. With this walk order, the predecessor of step 2 is, for every
 * target that is not offline afterwards, exactly its predecessor in the published
 * chain (offline targets are moved behind all others, so they are never anyone's
 * predecessor there). Hence:
 *   - a target becomes or stays syncing only when the target in front of it in the
 *     published chain is serving, i.e. there is a full replica right in front of it
 *     to recover it, and it is the last target receiving writes (the tail of the
 *     write path, DESIGN §7). Only one target syncs at a time: the next returning
 *     target has the syncing one, not a serving one, as predecessor and waits.
 *     Deciding on the predecessor's *old* state instead would publish, in the same
 *     version, a syncing target behind a predecessor that has just gone offline or
 *     lastsrv - a target receiving writes with nobody able to recover it.
 *   - group (a) walks first, so "no predecessor" for a serving target that went
 *     offline means exactly "no target of this chain stays serving": it becomes
 *     lastsrv only when it was the last serving one (the one nearest the head, which
 *     in CRAQ has every write the others have), and otherwise it goes offline. Were
 *     the current order walked instead, a failed head would become lastsrv while its
 *     successors keep serving, and later return straight to serving without
 *     recovery, missing the writes it did not see.
 *   - group (b) walks before (c), so in a chain not yet in this order (an uploaded
 *     one) a waiting target ahead of the last serving target cannot take the head's
 *     place and turn that target offline instead of lastsrv. The chain never loses
 *     track of who holds its data: when it had a serving or lastsrv target before an
 *     update, it has one after.
 */
#ifndef CHAINFS_MGMTD_CHAIN_UPDATE_H
#define CHAINFS_MGMTD_CHAIN_UPDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mgmtd/target_state.h"

#define CHAIN_MAX_TARGETS 16

struct chain_target {
    uint64_t target_id;
    enum target_local_state local_state;   /* as last reported by heartbeats */
    enum target_public_state public_state; /* as decided by mgmtd */
};

/* A chain: targets[0] is the head, targets[target_count - 1] the tail. */
struct chain {
    uint32_t chain_id;
    uint64_t version; /* grows by one at every change of order or public state */
    uint32_t target_count;
    struct chain_target targets[CHAIN_MAX_TARGETS];
};

/* Checks a chain definition: 1 to CHAIN_MAX_TARGETS targets, no target id twice,
 * every local and public state a defined one. Returns CHAINFS_OK or
 * CHAINFS_INVALID_ARGUMENT. */
int chain_validate(const struct chain *chain);

/* Computes the chain that follows current as described at the top of this file and
 * stores it in next (which may be the same object as current). Chain id and local
 * states are copied; only public states, order and version change. Returns true
 * when the order or a public state changed (the version then grew by exactly 1),
 * false otherwise (next is then equal to current). A chain that fails
 * chain_validate is copied unchanged and false is returned. */
bool chain_update_apply(const struct chain *current, struct chain *next);

#endif /* CHAINFS_MGMTD_CHAIN_UPDATE_H */

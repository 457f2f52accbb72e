/*
 * target_state.h - the two states of a storage target and the table that turns one
 * into the other (DESIGN §5).
 *
 * A target's *local state* is what its storage service reports in heartbeats:
 *   up-to-date  it holds every committed write of its chain;
 *   online      it runs but may lack writes (restarted, recovery not finished);
 *   offline     it does not run, or its node stopped heartbeating.
 * Its *public state* is what mgmtd decides and publishes in the routing info:
 *   serving     holds the chain's data; serves reads, receives writes;
 *   syncing     receives writes and is being recovered by its predecessor;
 *   waiting     runs, but waits for a serving predecessor to recover it;
 *   lastsrv     was the last serving target when every target went offline, so it is
 *               the one that holds the newest data; the chain waits for it;
 *   offline     out of the chain until it comes back.
 *
 * The numbers of both enums are stable: they are stored in the KV store and travel
 * on the wire. Zero is deliberately no state, so a zeroed record is invalid.
 */
#ifndef CHAINFS_MGMTD_TARGET_STATE_H
#define CHAINFS_MGMTD_TARGET_STATE_H

#include <stdbool.h>

enum target_local_state {
    TARGET_LOCAL_UP_TO_DATE = 1,
    TARGET_LOCAL_ONLINE = 2,
    TARGET_LOCAL_OFFLINE = 3,
};

enum target_public_state {
    TARGET_PUBLIC_SERVING = 1,
    TARGET_PUBLIC_SYNCING = 2,
    TARGET_PUBLIC_WAITING = 3,
    TARGET_PUBLIC_LASTSRV = 4,
    TARGET_PUBLIC_OFFLINE = 5,
};

/* True for the three defined local states (a value read from disk or the wire may
 * be anything). */
bool target_local_state_is_valid(enum target_local_state state);

/* True for the five defined public states. */
bool target_public_state_is_valid(enum target_public_state state);

/* Lower-case name used in CLI output and CSV files: "up-to-date", "online",
 * "offline"; "invalid" for a value that is no local state. */
const char *target_local_state_name(enum target_local_state state);

/* Lower-case name: "serving", "syncing", "waiting", "lastsrv", "offline";
 * "invalid" for a value that is no public state. */
const char *target_public_state_name(enum target_public_state state);

/* Parses a name written by target_local_state_name (exact, lower-case).
 * Returns CHAINFS_OK or CHAINFS_INVALID_ARGUMENT (then *state is untouched). */
int target_local_state_parse(const char *name, enum target_local_state *state);

/* Parses a name written by target_public_state_name (exact, lower-case).
 * Returns CHAINFS_OK or CHAINFS_INVALID_ARGUMENT (then *state is untouched). */
int target_public_state_parse(const char *name, enum target_public_state *state);

/* Whether clients may read from a target in this state: serving only. */
bool target_public_state_serves_reads(enum target_public_state state);

/* Whether writes are forwarded to a target in this state: serving and syncing. */
bool target_public_state_receives_writes(enum target_public_state state);

/*
 * The state table of DESIGN §5: the public state a target gets next from its local
 * state, its current public state and its predecessor's public state.
 * has_predecessor false means the target is the head (predecessor_state is then
 * ignored); no predecessor counts as "not serving". Which target is the predecessor
 * is the caller's decision (chain_update.h explains the one mgmtd makes).
 * For an invalid local or public state the public state is returned unchanged.
 */
enum target_public_state target_public_state_next(enum target_local_state local_state,
                                                  enum target_public_state public_state,
                                                  bool has_predecessor,
                                                  enum target_public_state predecessor_state);

#endif /* CHAINFS_MGMTD_TARGET_STATE_H */

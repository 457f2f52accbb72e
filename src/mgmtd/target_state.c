/*
 * target_state.c - names of the target states and the state table of DESIGN §5.
 *
 * The table is kept as data, row for row as in the design, so that reviewing it
 * against the design is a matter of reading two tables side by side; a lookup
 * function finds the one row that matches.
 */
#include <stddef.h>
#include <string.h>

#include "chainfs/error.h"
#include "mgmtd/target_state.h"

static const char *const local_state_names[] = {
    [TARGET_LOCAL_UP_TO_DATE] = "up-to-date",
    [TARGET_LOCAL_ONLINE] = "online",
    [TARGET_LOCAL_OFFLINE] = "offline",
};

static const char *const public_state_names[] = {
    [TARGET_PUBLIC_SERVING] = "serving",
    [TARGET_PUBLIC_SYNCING] = "syncing",
    [TARGET_PUBLIC_WAITING] = "waiting",
    [TARGET_PUBLIC_LASTSRV] = "lastsrv",
    [TARGET_PUBLIC_OFFLINE] = "offline",
};

#define NAME_COUNT(names) ((int)(sizeof(names) / sizeof(names[0])))

bool target_local_state_is_valid(enum target_local_state state)
{
    return state >= TARGET_LOCAL_UP_TO_DATE && state <= TARGET_LOCAL_OFFLINE;
}

bool target_public_state_is_valid(enum target_public_state state)
{
    return state >= TARGET_PUBLIC_SERVING && state <= TARGET_PUBLIC_OFFLINE;
}

const char *target_local_state_name(enum target_local_state state)
{
    return target_local_state_is_valid(state) ? local_state_names[state] : "invalid";
}

const char *target_public_state_name(enum target_public_state state)
{
    return target_public_state_is_valid(state) ? public_state_names[state] : "invalid";
}

/* Index of name in names[1..count-1] (index 0 is no state), or 0 if absent. */
static int find_name(const char *const *names, int count, const char *name)
{
    for (int state = 1; state < count; state++)
        if (strcmp(names[state], name) == 0)
            return state;
    return 0;
}

int target_local_state_parse(const char *name, enum target_local_state *state)
{
    int found = find_name(local_state_names, NAME_COUNT(local_state_names), name);
    if (!found)
        return CHAINFS_INVALID_ARGUMENT;
    *state = (enum target_local_state)found;
    return CHAINFS_OK;
}

int target_public_state_parse(const char *name, enum target_public_state *state)
{
    int found = find_name(public_state_names, NAME_COUNT(public_state_names), name);
    if (!found)
        return CHAINFS_INVALID_ARGUMENT;
    *state = (enum target_public_state)found;
    return CHAINFS_OK;
}

bool target_public_state_serves_reads(enum target_public_state state)
{
    return state == TARGET_PUBLIC_SERVING;
}

bool target_public_state_receives_writes(enum target_public_state state)
{
    return state == TARGET_PUBLIC_SERVING || state == TARGET_PUBLIC_SYNCING;
}

/* The table's "predecessor's public" column. */
enum predecessor_condition {
    PREDECESSOR_ANY,
    PREDECESSOR_SERVING,
    PREDECESSOR_NOT_SERVING, /* includes having no predecessor */
    PREDECESSOR_NONE,        /* the target is the head */
    PREDECESSOR_EXISTS,      /* in whatever state */
};

struct transition {
    enum target_local_state local_state;
    enum target_public_state public_state;
    enum predecessor_condition predecessor;
    enum target_public_state next;
};

/* DESIGN §5, in the same order. Each input matches exactly one row. */
static const struct transition state_table[] = {
    {TARGET_LOCAL_UP_TO_DATE, TARGET_PUBLIC_SERVING, PREDECESSOR_ANY, TARGET_PUBLIC_SERVING},
    {TARGET_LOCAL_UP_TO_DATE, TARGET_PUBLIC_SYNCING, PREDECESSOR_ANY, TARGET_PUBLIC_SERVING},
    {TARGET_LOCAL_UP_TO_DATE, TARGET_PUBLIC_WAITING, PREDECESSOR_ANY, TARGET_PUBLIC_WAITING},
    {TARGET_LOCAL_UP_TO_DATE, TARGET_PUBLIC_LASTSRV, PREDECESSOR_ANY, TARGET_PUBLIC_SERVING},
    {TARGET_LOCAL_UP_TO_DATE, TARGET_PUBLIC_OFFLINE, PREDECESSOR_ANY, TARGET_PUBLIC_WAITING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_SERVING, PREDECESSOR_ANY, TARGET_PUBLIC_SERVING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_SYNCING, PREDECESSOR_SERVING, TARGET_PUBLIC_SYNCING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_SYNCING, PREDECESSOR_NOT_SERVING, TARGET_PUBLIC_WAITING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_WAITING, PREDECESSOR_SERVING, TARGET_PUBLIC_SYNCING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_WAITING, PREDECESSOR_NOT_SERVING, TARGET_PUBLIC_WAITING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_LASTSRV, PREDECESSOR_ANY, TARGET_PUBLIC_SERVING},
    {TARGET_LOCAL_ONLINE, TARGET_PUBLIC_OFFLINE, PREDECESSOR_ANY, TARGET_PUBLIC_WAITING},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_SERVING, PREDECESSOR_NONE, TARGET_PUBLIC_LASTSRV},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_SERVING, PREDECESSOR_EXISTS, TARGET_PUBLIC_OFFLINE},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_SYNCING, PREDECESSOR_ANY, TARGET_PUBLIC_OFFLINE},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_WAITING, PREDECESSOR_ANY, TARGET_PUBLIC_OFFLINE},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_LASTSRV, PREDECESSOR_ANY, TARGET_PUBLIC_LASTSRV},
    {TARGET_LOCAL_OFFLINE, TARGET_PUBLIC_OFFLINE, PREDECESSOR_ANY, TARGET_PUBLIC_OFFLINE},
};

static bool predecessor_matches(enum predecessor_condition condition, bool has_predecessor,
                                enum target_public_state predecessor_state)
{
    bool predecessor_serving = has_predecessor && predecessor_state == TARGET_PUBLIC_SERVING;
    switch (condition) {
    case PREDECESSOR_ANY:
        return true;
    case PREDECESSOR_SERVING:
        return predecessor_serving;
    case PREDECESSOR_NOT_SERVING:
        return !predecessor_serving;
    case PREDECESSOR_NONE:
        return !has_predecessor;
    case PREDECESSOR_EXISTS:
        return has_predecessor;
    }
    return false;
}

enum target_public_state target_public_state_next(enum target_local_state local_state,
                                                  enum target_public_state public_state,
                                                  bool has_predecessor,
                                                  enum target_public_state predecessor_state)
{
    for (size_t i = 0; i < sizeof(state_table) / sizeof(state_table[0]); i++) {
        const struct transition *row = &state_table[i];
        if (row->local_state == local_state && row->public_state == public_state &&
            predecessor_matches(row->predecessor, has_predecessor, predecessor_state))
            return row->next;
    }
    return public_state; /* invalid input: no row matches */
}

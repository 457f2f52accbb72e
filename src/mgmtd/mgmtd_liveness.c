/*
 * mgmtd_liveness.c - when the primary last heard from each node and client session. Kept in
 * memory only: a new primary starts every clock at its takeover.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

void mgmtd_note_alive(struct mgmtd *mgmtd, const char *key)
{
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&mgmtd->lock);
    /* Out of memory: the member looks silent until its next beat is recorded. */
    (void)liveness_table_note(&mgmtd->liveness, key, now);
    pthread_mutex_unlock(&mgmtd->lock);
}

void mgmtd_node_liveness_key(char key[LIVENESS_KEY_MAX], uint32_t node_id) { snprintf(key, LIVENESS_KEY_MAX, "n%u", node_id); }

void mgmtd_client_liveness_key(char key[LIVENESS_KEY_MAX], const char *client_id) { snprintf(key, LIVENESS_KEY_MAX, "c%s", client_id); }


/* When this primary last heard from key (its takeover time if never). */
uint64_t mgmtd_last_heard(struct mgmtd *mgmtd, const char *key)
{
    pthread_mutex_lock(&mgmtd->lock);
    uint64_t last = liveness_table_last(&mgmtd->liveness, key);
    if (last < mgmtd->primary_since)
        last = mgmtd->primary_since;
    pthread_mutex_unlock(&mgmtd->lock);
    return last;
}

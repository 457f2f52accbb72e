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
    size_t i = 0;
    while (i < mgmtd->liveness_count && strcmp(mgmtd->liveness[i].key, key) != 0)
        i++;
    if (i == mgmtd->liveness_count && mgmtd->liveness_count == mgmtd->liveness_capacity) {
        size_t capacity = mgmtd->liveness_capacity ? mgmtd->liveness_capacity * 2 : 64;
        struct liveness *grown = realloc(mgmtd->liveness, capacity * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&mgmtd->lock);
            return; /* it then looks silent and is re-marked alive at its next beat */
        }
        mgmtd->liveness = grown;
        mgmtd->liveness_capacity = capacity;
    }
    if (i == mgmtd->liveness_count)
        snprintf(mgmtd->liveness[mgmtd->liveness_count++].key, sizeof(mgmtd->liveness[0].key), "%s", key);
    mgmtd->liveness[i].last_heartbeat = now;
    pthread_mutex_unlock(&mgmtd->lock);
}

void mgmtd_node_liveness_key(char key[80], uint32_t node_id) { snprintf(key, 80, "n%u", node_id); }

void mgmtd_client_liveness_key(char key[80], const char *client_id) { snprintf(key, 80, "c%s", client_id); }


/* When this primary last heard from key (its takeover time if never). */
uint64_t mgmtd_last_heard(struct mgmtd *mgmtd, const char *key)
{
    uint64_t last = mgmtd->primary_since;
    pthread_mutex_lock(&mgmtd->lock);
    for (size_t i = 0; i < mgmtd->liveness_count; i++)
        if (strcmp(mgmtd->liveness[i].key, key) == 0 && mgmtd->liveness[i].last_heartbeat > last)
            last = mgmtd->liveness[i].last_heartbeat;
    pthread_mutex_unlock(&mgmtd->lock);
    return last;
}

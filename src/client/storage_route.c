/*
 * storage_route.c - choosing the target of a chain a storage request goes to.
 */
#include "client/storage_route.h"

#include <stdbool.h>
#include <string.h>

#include "chainfs/error.h"
#include "mgmtd/target_state.h"

/* The node of a serving target, when the routing info knows its address. */
static const struct node_record *serving_node(const struct routing_info *info,
                                              const struct target_record *target)
{
    if (!target || !target_public_state_serves_reads(target->public_state))
        return NULL;
    const struct node_record *node = routing_info_node(info, target->node_id);
    if (!node || node->address[0] == '\0')
        return NULL;
    return node;
}

static void fill_route(const struct chain_record *chain, const struct target_record *target,
                       const struct node_record *node, struct storage_route *route)
{
    memset(route, 0, sizeof(*route));
    route->chain_id = chain ? chain->chain_id : target->chain_id;
    route->chain_version = chain ? chain->version : 0;
    route->target_id = target->target_id;
    route->node_id = node->node_id;
    memcpy(route->address, node->address, sizeof(route->address));
    route->address[sizeof(route->address) - 1] = '\0';
}

/* The first serving target of chain_id walking from the head (or from the tail). */
static int first_serving(const struct routing_info *info, uint32_t chain_id, bool from_tail,
                         struct storage_route *route)
{
    const struct chain_record *chain = routing_info_chain(info, chain_id);
    if (!chain)
        return CHAINFS_NOT_FOUND;
    size_t count = chain->target_count < CHAIN_TARGETS_MAX ? chain->target_count : CHAIN_TARGETS_MAX;
    for (size_t step = 0; step < count; step++) {
        size_t i = from_tail ? count - 1 - step : step;
        const struct target_record *target = routing_info_target(info, chain->target_ids[i]);
        const struct node_record *node = serving_node(info, target);
        if (node) {
            fill_route(chain, target, node, route);
            return CHAINFS_OK;
        }
    }
    return CHAINFS_UNAVAILABLE;
}

int storage_route_head(const struct routing_info *info, uint32_t chain_id,
                       struct storage_route *route)
{
    return first_serving(info, chain_id, false, route);
}

int storage_route_tail(const struct routing_info *info, uint32_t chain_id,
                       struct storage_route *route)
{
    return first_serving(info, chain_id, true, route);
}

/* Preference tiers of a reader: lower is better. */
enum reader_tier {
    TIER_USABLE = 0,   /* node alive and enabled, not the target to avoid */
    TIER_AVOIDED = 1,  /* the target that just failed */
    TIER_SUSPECT = 2,  /* its node looks dead or disabled: mgmtd will soon say */
    TIER_COUNT = 3,
};

static enum reader_tier reader_tier_of(const struct target_record *target,
                                       const struct node_record *node, uint64_t avoid_target_id)
{
    if (!node->alive || !node->enabled)
        return TIER_SUSPECT;
    if (avoid_target_id != STORAGE_ROUTE_AVOID_NONE && target->target_id == avoid_target_id)
        return TIER_AVOIDED;
    return TIER_USABLE;
}

int storage_route_reader(const struct routing_info *info, uint32_t chain_id, uint64_t chunk_hash,
                         uint64_t salt, uint64_t avoid_target_id, struct storage_route *route)
{
    const struct chain_record *chain = routing_info_chain(info, chain_id);
    if (!chain)
        return CHAINFS_NOT_FOUND;
    const struct target_record *targets[TIER_COUNT][CHAIN_TARGETS_MAX];
    const struct node_record *nodes[TIER_COUNT][CHAIN_TARGETS_MAX];
    size_t counts[TIER_COUNT] = {0};
    for (size_t i = 0; i < chain->target_count && i < CHAIN_TARGETS_MAX; i++) {
        const struct target_record *target = routing_info_target(info, chain->target_ids[i]);
        const struct node_record *node = serving_node(info, target);
        if (!node)
            continue;
        enum reader_tier tier = reader_tier_of(target, node, avoid_target_id);
        targets[tier][counts[tier]] = target;
        nodes[tier][counts[tier]] = node;
        counts[tier]++;
    }
    for (int tier = 0; tier < TIER_COUNT; tier++) {
        if (counts[tier] == 0)
            continue;
        size_t pick = (size_t)((chunk_hash + salt) % counts[tier]);
        fill_route(chain, targets[tier][pick], nodes[tier][pick], route);
        return CHAINFS_OK;
    }
    return CHAINFS_UNAVAILABLE;
}

int storage_route_target(const struct routing_info *info, uint64_t target_id,
                         struct storage_route *route)
{
    const struct target_record *target = routing_info_target(info, target_id);
    if (!target)
        return CHAINFS_NOT_FOUND;
    const struct node_record *node = routing_info_node(info, target->node_id);
    if (!node || node->address[0] == '\0')
        return CHAINFS_NOT_FOUND;
    const struct chain_record *chain =
        target->chain_id ? routing_info_chain(info, target->chain_id) : NULL;
    fill_route(chain, target, node, route);
    return CHAINFS_OK;
}

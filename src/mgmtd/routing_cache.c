/*
 * routing_cache.c - the shared, refcounted routing info of a process
 * (routing_cache.h).
 *
 * The current snapshot pointer changes under `lock`; readers hold `lock` only long
 * enough to take a reference. Refreshes are numbered: `started` counts fetches
 * begun, `completed` the number of the last one finished. A caller needs a fetch
 * numbered above the `started` it saw, so it never settles for one that began before
 * it asked (which might miss the change that made it ask).
 */
#define LOG_COMPONENT "routing"
#include "mgmtd/routing_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/target_state.h"

struct routing_cache {
    struct routing_cache_options options;
    char *addresses;
    struct mgmtd_client mgmtd; /* used by one refresh at a time */

    pthread_mutex_t lock;
    pthread_cond_t changed; /* CLOCK_MONOTONIC: refresh finished, or stop */
    struct routing_snapshot *current;
    bool refreshing;
    uint64_t started;
    uint64_t completed;
    int last_status;
    bool stopping;
    bool has_thread;
    pthread_t thread;
};

static void snapshot_free(struct routing_snapshot *snapshot)
{
    routing_info_free(&snapshot->info);
    free(snapshot);
}

void routing_snapshot_release(struct routing_snapshot *snapshot)
{
    if (snapshot != NULL && atomic_fetch_sub(&snapshot->references, 1) == 1)
        snapshot_free(snapshot);
}

struct routing_snapshot *routing_cache_acquire(struct routing_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    struct routing_snapshot *snapshot = cache->current;
    if (snapshot != NULL)
        atomic_fetch_add(&snapshot->references, 1);
    pthread_mutex_unlock(&cache->lock);
    return snapshot;
}

uint64_t routing_cache_version(struct routing_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    uint64_t version = cache->current ? cache->current->info.version : 0;
    pthread_mutex_unlock(&cache->lock);
    return version;
}

/* Swaps in info if newer; called with the lock held. Takes info over. */
static void install_locked(struct routing_cache *cache, struct routing_info *info)
{
    if (cache->current != NULL && cache->current->info.version >= info->version) {
        routing_info_free(info);
        return;
    }
    struct routing_snapshot *snapshot = calloc(1, sizeof *snapshot);
    if (snapshot == NULL) {
        routing_info_free(info);
        return;
    }
    snapshot->info = *info;
    memset(info, 0, sizeof *info);
    atomic_init(&snapshot->references, 1); /* the cache's own reference */
    struct routing_snapshot *old = cache->current;
    cache->current = snapshot;
    log_debug("routing info version %llu installed", (unsigned long long)snapshot->info.version);
    routing_snapshot_release(old);
}

void routing_cache_install(struct routing_cache *cache, struct routing_info *info)
{
    pthread_mutex_lock(&cache->lock);
    install_locked(cache, info);
    pthread_mutex_unlock(&cache->lock);
}

/* Runs one fetch as refresh number `number`; called with the lock held, drops it
 * during the call. */
static void fetch_locked(struct routing_cache *cache)
{
    cache->refreshing = true;
    uint64_t number = ++cache->started;
    pthread_mutex_unlock(&cache->lock);
    struct routing_info info;
    memset(&info, 0, sizeof info);
    int status = mgmtd_client_routing_info(&cache->mgmtd, &info);
    pthread_mutex_lock(&cache->lock);
    if (status == 0)
        install_locked(cache, &info);
    cache->completed = number;
    cache->last_status = status;
    cache->refreshing = false;
    pthread_cond_broadcast(&cache->changed);
}

int routing_cache_refresh(struct routing_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    uint64_t wanted = cache->started + 1;
    while (cache->completed < wanted) {
        if (cache->stopping) {
            pthread_mutex_unlock(&cache->lock);
            return CHAINFS_SHUTTING_DOWN;
        }
        if (!cache->refreshing)
            fetch_locked(cache);
        else
            pthread_cond_wait(&cache->changed, &cache->lock);
    }
    int status = cache->last_status;
    pthread_mutex_unlock(&cache->lock);
    return status;
}

int routing_cache_refresh_to(struct routing_cache *cache, uint64_t version)
{
    if (routing_cache_version(cache) >= version)
        return 0;
    return routing_cache_refresh(cache);
}

static void *refresh_thread(void *argument)
{
    struct routing_cache *cache = argument;
    pthread_mutex_lock(&cache->lock);
    while (!cache->stopping) {
        struct timespec when =
            deadline_to_timespec(deadline_after_ns(cache->options.refresh_interval_ns));
        pthread_cond_timedwait(&cache->changed, &cache->lock, &when);
        if (cache->stopping)
            break;
        pthread_mutex_unlock(&cache->lock);
        int status = routing_cache_refresh(cache);
        if (status != 0)
            log_debug("periodic routing refresh failed: %s", chainfs_error_name(status));
        pthread_mutex_lock(&cache->lock);
    }
    pthread_mutex_unlock(&cache->lock);
    return NULL;
}

int routing_cache_create(const struct routing_cache_options *options, struct routing_cache **out)
{
    *out = NULL;
    if (options->rpc == NULL || options->mgmtd_addresses == NULL)
        return CHAINFS_INVALID_ARGUMENT;
    struct routing_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return CHAINFS_NO_MEMORY;
    cache->options = *options;
    uint64_t timeout = options->call_timeout_ns ? options->call_timeout_ns : 5000000000ull;
    int status = mgmtd_client_init(&cache->mgmtd, options->rpc, options->mgmtd_addresses, timeout);
    if (status != 0) {
        free(cache);
        return status;
    }
    pthread_mutex_init(&cache->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&cache->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    cache->last_status = CHAINFS_UNAVAILABLE;
    if (options->refresh_interval_ns != 0) {
        if (pthread_create(&cache->thread, NULL, refresh_thread, cache) != 0) {
            routing_cache_destroy(cache);
            return CHAINFS_NO_MEMORY;
        }
        cache->has_thread = true;
    }
    *out = cache;
    return 0;
}

void routing_cache_stop(struct routing_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    cache->stopping = true;
    pthread_cond_broadcast(&cache->changed);
    while (cache->refreshing)
        pthread_cond_wait(&cache->changed, &cache->lock);
    pthread_mutex_unlock(&cache->lock);
    if (cache->has_thread)
        pthread_join(cache->thread, NULL);
    cache->has_thread = false;
}

void routing_cache_destroy(struct routing_cache *cache)
{
    if (cache == NULL)
        return;
    routing_cache_stop(cache);
    routing_snapshot_release(cache->current);
    pthread_cond_destroy(&cache->changed);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

size_t routing_chain_targets(const struct routing_info *info, uint32_t chain_id,
                             const struct target_record **targets)
{
    const struct chain_record *chain = routing_info_chain(info, chain_id);
    if (chain == NULL)
        return 0;
    size_t count = 0;
    for (size_t i = 0; i < chain->target_count && i < CHAIN_TARGETS_MAX; i++) {
        const struct target_record *target = routing_info_target(info, chain->target_ids[i]);
        if (target != NULL)
            targets[count++] = target;
    }
    return count;
}

const char *routing_target_address(const struct routing_info *info, uint64_t target_id)
{
    const struct target_record *target = routing_info_target(info, target_id);
    if (target == NULL)
        return NULL;
    const struct node_record *node = routing_info_node(info, target->node_id);
    return node != NULL && node->address[0] ? node->address : NULL;
}

static bool receives_writes(const struct target_record *target)
{
    return target_public_state_receives_writes((enum target_public_state)target->public_state);
}

const struct target_record *routing_chain_successor(const struct routing_info *info,
                                                    uint32_t chain_id, uint64_t target_id)
{
    const struct target_record *targets[CHAIN_TARGETS_MAX];
    size_t count = routing_chain_targets(info, chain_id, targets);
    size_t i = 0;
    while (i < count && targets[i]->target_id != target_id)
        i++;
    for (i++; i < count; i++)
        if (receives_writes(targets[i]))
            return targets[i];
    return NULL;
}

const struct target_record *routing_chain_head(const struct routing_info *info, uint32_t chain_id)
{
    const struct target_record *targets[CHAIN_TARGETS_MAX];
    size_t count = routing_chain_targets(info, chain_id, targets);
    for (size_t i = 0; i < count; i++)
        if (receives_writes(targets[i]))
            return targets[i];
    return NULL;
}

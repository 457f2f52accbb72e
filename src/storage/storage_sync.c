/*
 * storage_sync.c - recovery of a returning target by its predecessor (DESIGN §7,
 * issue 8 item 1).
 *
 * mgmtd publishes a returning target as syncing right behind a serving one. From
 * then on the write pipeline forwards every new write to it as a full-chunk replace
 * (storage_write.c), and this pass, run by the maintenance thread of the serving
 * predecessor, brings over the rest:
 *   1. dump the target's chunk metadata (DUMP_CHUNKS, paged) and our own;
 *   2. plan per chunk (recovery_plan.h);
 *   3. for each chunk of the plan, under our chunk lock (so no write of that chunk
 *      is between prepare and commit), re-read our metadata and send the committed
 *      content as a REPLACE, or a REMOVE when we no longer have the chunk;
 *   4. send SYNC_DONE; the target reports up-to-date and mgmtd makes it serving.
 * A pass that fails is retried at the next maintenance tick; one that succeeded is
 * not repeated in the same chain version.
 */
#define LOG_COMPONENT "storage"
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "mgmtd/target_state.h"
#include "storage/recovery_plan.h"
#include "storage/storage_internal.h"

#define SYNC_CALL_TIMEOUT_NS (10 * CLOCK_NS_PER_S)
#define DUMP_PAGE 4096u

/* Who to recover and where: filled from one routing snapshot. */
struct sync_peer {
    uint64_t target_id;
    uint32_t chain_id;
    uint64_t chain_version;
    char address[ADDRESS_TEXT_MAX];
};

static int fetch_remote_dump(struct storage_node *node, const struct sync_peer *peer,
                             struct storage_chunk_record **records, size_t *count)
{
    *records = NULL;
    *count = 0;
    struct storage_dump_request request = {.target_id = peer->target_id, .max_records = DUMP_PAGE};
    for (int page = 0; page < 1000000; page++) {
        struct wire_writer message;
        wire_writer_init(&message);
        storage_dump_request_encode(&message, &request);
        struct rpc_call call;
        int status = storage_call(node, peer->address, STORAGE_METHOD_DUMP_CHUNKS, &message, NULL,
                                  0, SYNC_CALL_TIMEOUT_NS, &call);
        wire_writer_free(&message);
        struct storage_chunk_record *part = NULL;
        size_t part_count = 0;
        bool more = false;
        if (status == 0) {
            struct wire_reader reader;
            wire_reader_init(&reader, call.reply_message, call.reply_message_length);
            if (!storage_dump_reply_decode(&reader, &part, &part_count, &more))
                status = CHAINFS_MALFORMED;
        }
        rpc_call_release(&call);
        if (status == 0 && part_count > 0) {
            struct storage_chunk_record *grown =
                realloc(*records, (*count + part_count) * sizeof **records);
            if (grown == NULL)
                status = CHAINFS_NO_MEMORY;
            else {
                memcpy(grown + *count, part, part_count * sizeof *part);
                *records = grown;
                *count += part_count;
                request.has_after = true;
                request.after = part[part_count - 1].chunk_id;
            }
        }
        free(part);
        if (status != 0) {
            free(*records);
            *records = NULL;
            *count = 0;
            return status;
        }
        if (!more || part_count == 0)
            return 0;
    }
    return CHAINFS_TOO_LARGE;
}

static int local_dump(struct storage_target *target, struct storage_chunk_record **records,
                      size_t *count)
{
    struct chunk_metadata *all = NULL;
    int status = chunk_engine_dump(target->engine, &all, count);
    if (status != 0)
        return status;
    *records = calloc(*count ? *count : 1, sizeof **records);
    if (*records == NULL) {
        free(all);
        return CHAINFS_NO_MEMORY;
    }
    for (size_t i = 0; i < *count; i++)
        storage_chunk_record_from(&all[i], &(*records)[i]);
    free(all);
    return 0;
}

/* Sends one REPLACE or REMOVE; called holding the chunk lock. */
static int send_update(struct storage_node *node, const struct sync_peer *peer,
                       struct storage_update_request *update, const void *data)
{
    update->target_id = peer->target_id;
    update->chain_id = peer->chain_id;
    update->chain_version = peer->chain_version;
    struct wire_writer message;
    wire_writer_init(&message);
    storage_update_request_encode(&message, update);
    struct rpc_call call;
    int status = storage_call(node, peer->address, STORAGE_METHOD_UPDATE, &message, data,
                              data ? update->length : 0, SYNC_CALL_TIMEOUT_NS, &call);
    if (status != 0)
        log_warn("sync of target %llu: %s", (unsigned long long)peer->target_id,
                 call.error_text[0] ? call.error_text : chainfs_error_name(status));
    rpc_call_release(&call);
    wire_writer_free(&message);
    return status;
}

/* Step 3 for one chunk. */
static int sync_chunk(struct storage_node *node, struct storage_target *target,
                      const struct sync_peer *peer, const struct chunk_id *id)
{
    chunk_lock_acquire_wait(target->locks, id);
    struct chunk_metadata metadata;
    int status = chunk_engine_stat(target->engine, id, &metadata);
    struct storage_update_request update = {
        .chunk_id = *id, .kind = STORAGE_UPDATE_REMOVE, .update_version = 1,
        .chunk_size = (uint32_t)node->config->chunk_size_limit};
    void *content = NULL;
    if (status == 0 && metadata.committed.version != 0) {
        const struct chunk_version *committed = &metadata.committed;
        content = malloc(committed->length ? committed->length : 1);
        struct chunk_read_result read;
        status = content ? chunk_engine_read(target->engine, id, 0, committed->length, content, 0,
                                             &read)
                         : CHAINFS_NO_MEMORY;
        update.kind = STORAGE_UPDATE_REPLACE;
        update.length = (uint32_t)committed->length;
        update.update_version = committed->version;
        update.chunk_chain_version = committed->chain_version;
        update.expected_crc = committed->crc;
        update.expected_length = committed->length;
    } else if (status == CHAINFS_NOT_FOUND || status == 0) {
        status = 0; /* gone here (or only pending): remove it there */
    }
    if (status == 0)
        status = send_update(node, peer, &update, content);
    chunk_lock_release(target->locks, id);
    if (status == 0 && update.kind == STORAGE_UPDATE_REPLACE) {
        atomic_fetch_add(&target->sync_chunks_transferred, 1);
        atomic_fetch_add(&target->sync_bytes_transferred, update.length);
    } else if (status == 0) {
        atomic_fetch_add(&target->sync_chunks_removed, 1);
    }
    free(content);
    return status;
}

static int sync_successor(struct storage_node *node, struct storage_target *target,
                          const struct sync_peer *peer)
{
    log_info("target %llu: recovering successor %llu (chain %u version %llu)",
             (unsigned long long)target->target_id, (unsigned long long)peer->target_id,
             peer->chain_id, (unsigned long long)peer->chain_version);
    uint64_t started = clock_now_ns();
    struct storage_chunk_record *remote = NULL, *local = NULL;
    size_t remote_count = 0, local_count = 0, step_count = 0;
    struct recovery_step *steps = NULL;
    int status = fetch_remote_dump(node, peer, &remote, &remote_count);
    if (status == 0)
        status = local_dump(target, &local, &local_count);
    if (status == 0)
        status = recovery_plan_build(local, local_count, remote, remote_count, &steps, &step_count);
    free(remote);
    free(local);
    for (size_t i = 0; status == 0 && i < step_count; i++) {
        status = sync_chunk(node, target, peer, &steps[i].chunk_id);
        if (atomic_load(&node->shutting_down))
            status = CHAINFS_SHUTTING_DOWN;
    }
    free(steps);
    if (status == 0) {
        struct storage_sync_done_request done = {peer->target_id, peer->chain_id,
                                                 peer->chain_version};
        struct wire_writer message;
        wire_writer_init(&message);
        storage_sync_done_request_encode(&message, &done);
        struct rpc_call call;
        status = storage_call(node, peer->address, STORAGE_METHOD_SYNC_DONE, &message, NULL, 0,
                              SYNC_CALL_TIMEOUT_NS, &call);
        rpc_call_release(&call);
        wire_writer_free(&message);
    }
    if (status == 0)
        log_info("target %llu: successor %llu recovered in %.3f s (%zu chunks planned, %llu "
                 "transferred, %llu removed so far)",
                 (unsigned long long)target->target_id, (unsigned long long)peer->target_id,
                 (double)(clock_now_ns() - started) / 1e9, step_count,
                 (unsigned long long)atomic_load(&target->sync_chunks_transferred),
                 (unsigned long long)atomic_load(&target->sync_chunks_removed));
    else
        log_warn("target %llu: recovery of %llu failed: %s (retrying)",
                 (unsigned long long)target->target_id, (unsigned long long)peer->target_id,
                 chainfs_error_name(status));
    return status;
}

/* The syncing successor of target, if it has one it has not recovered yet. */
static bool syncing_successor(struct storage_node *node, struct storage_target *target,
                              struct sync_peer *peer)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(node->routing);
    if (snapshot == NULL)
        return false;
    const struct routing_info *info = &snapshot->info;
    const struct target_record *self = routing_info_target(info, target->target_id);
    bool found = false;
    if (self != NULL && self->chain_id != 0 && self->public_state == TARGET_PUBLIC_SERVING) {
        const struct target_record *next = routing_chain_successor(info, self->chain_id,
                                                                   self->target_id);
        const char *address = next ? routing_target_address(info, next->target_id) : NULL;
        uint64_t version = storage_chain_version(snapshot, self->chain_id);
        if (next && address && next->public_state == TARGET_PUBLIC_SYNCING &&
            atomic_load(&target->synced_chain_version) != version) {
            *peer = (struct sync_peer){next->target_id, self->chain_id, version, ""};
            snprintf(peer->address, sizeof peer->address, "%s", address);
            found = true;
        }
    }
    routing_snapshot_release(snapshot);
    return found;
}

void storage_sync_pass(struct storage_node *node)
{
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count && !atomic_load(&node->shutting_down); i++) {
        struct storage_target *target = node->targets[i];
        struct sync_peer peer;
        if (!syncing_successor(node, target, &peer))
            continue;
        atomic_store(&target->sync_active, true);
        if (sync_successor(node, target, &peer) == 0) {
            atomic_store(&target->synced_chain_version, peer.chain_version);
            atomic_fetch_add(&target->sync_rounds_completed, 1);
        }
        atomic_store(&target->sync_active, false);
    }
}

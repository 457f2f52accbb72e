/*
 * test_storage_client.c - the storage client against three fake storage nodes on
 * loopback (real rpc_server, real routing_cache filled by hand): one chain of three
 * targets over one shared in-memory chunk store, with failures injected on demand.
 *
 * Covered: write/read round trips with per-target batching and spread reads; replies
 * received straight into contiguous caller buffers; holes and short reads; a head that
 * answers ROUTING_STALE (the client refreshes and retries with the new chain version);
 * a lost reply (retried write carries the same channel and sequence and is applied
 * once); more writes than channels; NOT_COMMITTED retried until it clears and bounded
 * by the deadline; a dead replica (reads go elsewhere); bad ios failing alone; truncate,
 * remove range, last chunk, space info and dump.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "client/storage_client.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "mgmtd/target_state.h"
#include "net/rpc_server.h"

#define NODES 3
#define CHAIN 7
#define CHUNK_SIZE (64u << 10)
#define MAX_CHUNKS 512
#define CHANNELS_SEEN 64

/* --- the shared chunk store ------------------------------------------------------- */

struct fake_chunk {
    struct chunk_id id;
    uint8_t data[CHUNK_SIZE];
    uint64_t length;
    uint64_t version;
};

struct fake_node;

struct fake_world {
    pthread_mutex_t lock;
    struct fake_chunk *chunks[MAX_CHUNKS];
    size_t chunk_count;
    uint64_t chain_version;
    uint64_t routing_version;
    struct fake_node *nodes[NODES];
    struct routing_cache *cache;
    /* exactly-once table of the head: per channel the last sequence and its reply */
    uint64_t last_sequence[CHANNELS_SEEN];
    struct storage_commit_reply last_reply[CHANNELS_SEEN];
    int applied_writes;
    int tagged_writes[CHANNELS_SEEN]; /* WRITE requests seen per channel */
    uint64_t highest_sequence[CHANNELS_SEEN];
    bool sequences_in_order;
};

struct fake_node {
    struct fake_world *world;
    struct rpc_server *server;
    struct rpc_service service;
    char address[ADDRESS_TEXT_MAX];
    uint64_t target_id;
    atomic_int batch_reads;
    atomic_int read_items;
    atomic_int stale_writes;     /* answer this many WRITEs with ROUTING_STALE + new routing */
    atomic_int lost_replies;     /* apply this many WRITEs but answer BUSY (reply "lost") */
    atomic_int not_committed;    /* answer this many read items with NOT_COMMITTED */
    atomic_uint_fast64_t last_write_chain_version;
};

static struct fake_chunk *find_chunk(struct fake_world *world, const struct chunk_id *id, bool create)
{
    for (size_t i = 0; i < world->chunk_count; i++)
        if (chunk_id_compare(&world->chunks[i]->id, id) == 0)
            return world->chunks[i];
    if (!create || world->chunk_count == MAX_CHUNKS)
        return NULL;
    struct fake_chunk *chunk = calloc(1, sizeof(*chunk));
    chunk->id = *id;
    world->chunks[world->chunk_count++] = chunk;
    return chunk;
}

static void remove_chunk_at(struct fake_world *world, size_t i)
{
    free(world->chunks[i]);
    world->chunks[i] = world->chunks[--world->chunk_count];
}

/* --- handlers ---------------------------------------------------------------------- */

static void free_payload(void *payload)
{
    free(payload);
}

static void fake_batch_read(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct fake_world *world = node->world;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_read_item *items;
    size_t count;
    if (!storage_batch_read_request_decode(&reader, 64u << 20, &items, &count)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "bad batch");
        return;
    }
    atomic_fetch_add(&node->batch_reads, 1);
    atomic_fetch_add(&node->read_items, (int)count);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += items[i].length;
    /* Garbage where nothing was read: the client must not depend on the server's zeros. */
    uint8_t *payload = malloc(total + 1);
    memset(payload, 0xEE, total + 1);
    struct storage_read_result *results = calloc(count, sizeof(*results));
    uint64_t at = 0;
    pthread_mutex_lock(&world->lock);
    for (size_t i = 0; i < count; i++) {
        const struct storage_read_item *item = &items[i];
        struct fake_chunk *chunk = find_chunk(world, &item->chunk_id, false);
        if (item->target_id != node->target_id) {
            results[i].status = CHAINFS_ROUTING_STALE;
        } else if (atomic_load(&node->not_committed) > 0) {
            atomic_fetch_sub(&node->not_committed, 1);
            results[i].status = CHAINFS_NOT_COMMITTED;
        } else if (!chunk) {
            results[i].status = CHAINFS_NOT_FOUND;
        } else {
            uint64_t end = item->offset + item->length;
            if (end > chunk->length)
                end = chunk->length;
            uint64_t length = item->offset < end ? end - item->offset : 0;
            memcpy(payload + at, chunk->data + item->offset, length);
            results[i] = (struct storage_read_result){CHAINFS_OK, (uint32_t)length, chunk->version,
                                                      chunk->length, crc32c(0, chunk->data, chunk->length)};
        }
        at += item->length;
    }
    pthread_mutex_unlock(&world->lock);
    storage_batch_read_reply_encode(&request->reply, results, count);
    rpc_request_set_reply_payload(request, payload, total, free_payload, payload);
    free(results);
    free(items);
    rpc_request_reply(request, CHAINFS_OK);
}

/* A new routing info where the chain version is one higher (mgmtd changed the chain). */
static void bump_chain_version(struct fake_world *world);

/* Applies a write to the store; the lock is held. */
static struct storage_commit_reply apply_write(struct fake_world *world,
                                               const struct storage_write_request *message,
                                               const void *data)
{
    struct fake_chunk *chunk = find_chunk(world, &message->chunk_id, true);
    memcpy(chunk->data + message->offset, data, message->length);
    if (message->offset + message->length > chunk->length)
        chunk->length = message->offset + message->length;
    chunk->version++;
    world->applied_writes++;
    return (struct storage_commit_reply){chunk->version, chunk->length,
                                         crc32c(0, chunk->data, chunk->length)};
}

/* Records the tag of a write; true when it is a retry of the channel's last write. */
static bool note_tag(struct fake_world *world, const struct storage_client_tag *tag)
{
    uint32_t channel = tag->channel;
    if (channel >= CHANNELS_SEEN)
        return false;
    world->tagged_writes[channel]++;
    if (tag->sequence < world->highest_sequence[channel])
        world->sequences_in_order = false;
    if (tag->sequence > world->highest_sequence[channel])
        world->highest_sequence[channel] = tag->sequence;
    return world->last_sequence[channel] == tag->sequence;
}

static void fake_write(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct fake_world *world = node->world;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_write_request message;
    if (!storage_write_request_decode(&reader, &message) || message.length != request->payload_length ||
        message.chunk_size != CHUNK_SIZE || message.offset + message.length > CHUNK_SIZE) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "bad write");
        return;
    }
    atomic_store(&node->last_write_chain_version, message.chain_version);
    pthread_mutex_lock(&world->lock);
    bool stale = message.chain_version != world->chain_version ||
                 message.target_id != world->nodes[0]->target_id;
    pthread_mutex_unlock(&world->lock);
    if (!stale && atomic_load(&node->stale_writes) > 0) {
        atomic_fetch_sub(&node->stale_writes, 1);
        bump_chain_version(world);
        stale = true;
    }
    if (stale) {
        rpc_request_fail(request, CHAINFS_ROUTING_STALE, "chain version");
        return;
    }
    pthread_mutex_lock(&world->lock);
    bool retry = note_tag(world, &message.tag);
    struct storage_commit_reply reply;
    uint32_t channel = message.tag.channel % CHANNELS_SEEN;
    if (retry) {
        reply = world->last_reply[channel];
    } else {
        reply = apply_write(world, &message, request->payload);
        world->last_sequence[channel] = message.tag.sequence;
        world->last_reply[channel] = reply;
    }
    pthread_mutex_unlock(&world->lock);
    if (atomic_load(&node->lost_replies) > 0) {
        atomic_fetch_sub(&node->lost_replies, 1);
        rpc_request_fail(request, CHAINFS_BUSY, "reply lost on purpose");
        return;
    }
    storage_commit_reply_encode(&request->reply, &reply);
    rpc_request_reply(request, CHAINFS_OK);
}

static void fake_truncate(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_truncate_request message;
    if (!storage_truncate_request_decode(&reader, &message)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "bad truncate");
        return;
    }
    pthread_mutex_lock(&node->world->lock);
    struct fake_chunk *chunk = find_chunk(node->world, &message.chunk_id, true);
    if (message.length > chunk->length)
        memset(chunk->data + chunk->length, 0, message.length - chunk->length);
    chunk->length = message.length;
    chunk->version++;
    struct storage_commit_reply reply = {chunk->version, chunk->length,
                                         crc32c(0, chunk->data, chunk->length)};
    pthread_mutex_unlock(&node->world->lock);
    storage_commit_reply_encode(&request->reply, &reply);
    rpc_request_reply(request, CHAINFS_OK);
}

static void fake_remove(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_remove_chunks_request message;
    if (!storage_remove_chunks_request_decode(&reader, &message)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "bad remove");
        return;
    }
    uint64_t removed = 0;
    pthread_mutex_lock(&node->world->lock);
    for (size_t i = node->world->chunk_count; i-- > 0;) {
        const struct chunk_id *id = &node->world->chunks[i]->id;
        uint64_t index = chunk_id_index(id);
        if (chunk_id_inode(id) == message.inode && index >= message.first_index &&
            index < message.end_index) {
            remove_chunk_at(node->world, i);
            removed++;
        }
    }
    pthread_mutex_unlock(&node->world->lock);
    wire_put_u64(&request->reply, removed);
    rpc_request_reply(request, CHAINFS_OK);
}

static void fake_last_chunk(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_last_chunk_request message;
    if (!storage_last_chunk_request_decode(&reader, &message)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "bad query");
        return;
    }
    struct storage_last_chunk_reply reply = {0};
    pthread_mutex_lock(&node->world->lock);
    for (size_t i = 0; i < node->world->chunk_count; i++) {
        const struct fake_chunk *chunk = node->world->chunks[i];
        if (chunk_id_inode(&chunk->id) != message.inode)
            continue;
        uint64_t index = chunk_id_index(&chunk->id);
        if (!reply.found || index > reply.index)
            reply = (struct storage_last_chunk_reply){true, index, chunk->length, chunk->version, false};
    }
    pthread_mutex_unlock(&node->world->lock);
    storage_last_chunk_reply_encode(&request->reply, &reply);
    rpc_request_reply(request, CHAINFS_OK);
}

static void fake_space_info(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct storage_target_info info = {.target_id = node->target_id, .chain_id = CHAIN,
                                       .local_state = TARGET_LOCAL_UP_TO_DATE,
                                       .public_state = TARGET_PUBLIC_SERVING,
                                       .used_bytes = node->target_id * 10,
                                       .capacity_bytes = 1u << 30};
    storage_space_info_reply_encode(&request->reply, &info, 1);
    rpc_request_reply(request, CHAINFS_OK);
}

static int compare_records(const void *a, const void *b)
{
    return chunk_id_compare(&((const struct storage_chunk_record *)a)->chunk_id,
                            &((const struct storage_chunk_record *)b)->chunk_id);
}

/* Pages of 3 records, so the client has to follow "more". */
static void fake_dump(struct rpc_request *request)
{
    struct fake_node *node = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    struct storage_dump_request message;
    if (!storage_dump_request_decode(&reader, &message) || message.target_id != node->target_id) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "bad dump");
        return;
    }
    pthread_mutex_lock(&node->world->lock);
    size_t count = node->world->chunk_count;
    struct storage_chunk_record *all = calloc(count + 1, sizeof(*all));
    for (size_t i = 0; i < count; i++) {
        const struct fake_chunk *chunk = node->world->chunks[i];
        all[i].chunk_id = chunk->id;
        all[i].committed = (struct storage_chunk_version){chunk->version, 1, chunk->length,
                                                          crc32c(0, chunk->data, chunk->length)};
    }
    pthread_mutex_unlock(&node->world->lock);
    qsort(all, count, sizeof(*all), compare_records);
    size_t first = 0;
    while (message.has_after && first < count && chunk_id_compare(&all[first].chunk_id, &message.after) <= 0)
        first++;
    size_t page = count - first < 3 ? count - first : 3;
    storage_dump_reply_encode(&request->reply, all + first, page, first + page < count);
    free(all);
    rpc_request_reply(request, CHAINFS_OK);
}

static const struct rpc_method fake_methods[] = {
    {STORAGE_METHOD_WRITE, "write", fake_write, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_BATCH_READ, "batch_read", fake_batch_read, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_QUERY_LAST_CHUNK, "last_chunk", fake_last_chunk, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_REMOVE_CHUNKS, "remove", fake_remove, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_TRUNCATE_CHUNK, "truncate", fake_truncate, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_SPACE_INFO, "space", fake_space_info, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_DUMP_CHUNKS, "dump", fake_dump, RPC_DISPATCH_WORKER},
};

/* --- routing --------------------------------------------------------------------- */

/* The routing info of the world: nodes 1..3, targets 101..103, chain 7 in that order. */
static struct routing_info *make_routing(struct fake_world *world)
{
    struct routing_info *info = calloc(1, sizeof(*info));
    info->version = world->routing_version;
    info->nodes = calloc(NODES, sizeof(*info->nodes));
    info->targets = calloc(NODES, sizeof(*info->targets));
    info->chains = calloc(1, sizeof(*info->chains));
    info->node_count = info->target_count = NODES;
    info->chain_count = 1;
    info->chains[0] = (struct chain_record){.chain_id = CHAIN, .version = world->chain_version,
                                            .target_count = NODES};
    for (int i = 0; i < NODES; i++) {
        info->nodes[i] = (struct node_record){.node_id = (uint32_t)(i + 1), .type = NODE_TYPE_STORAGE,
                                              .enabled = true, .alive = true};
        snprintf(info->nodes[i].address, sizeof(info->nodes[i].address), "%s", world->nodes[i]->address);
        info->targets[i] = (struct target_record){.target_id = world->nodes[i]->target_id,
                                                  .node_id = (uint32_t)(i + 1),
                                                  .local_state = TARGET_LOCAL_UP_TO_DATE,
                                                  .public_state = TARGET_PUBLIC_SERVING,
                                                  .chain_id = CHAIN};
        info->chains[0].target_ids[i] = world->nodes[i]->target_id;
    }
    return info;
}

static void install_routing(struct fake_world *world)
{
    struct routing_info *info = make_routing(world);
    routing_cache_install(world->cache, info); /* takes the contents */
    free(info);
}

static void bump_chain_version(struct fake_world *world)
{
    pthread_mutex_lock(&world->lock);
    world->chain_version++;
    world->routing_version++;
    pthread_mutex_unlock(&world->lock);
    install_routing(world);
}

/* --- fixture ----------------------------------------------------------------------- */

struct fixture {
    struct fake_world world;
    struct fake_node nodes[NODES];
    struct rpc_client *rpc;
    struct storage_client *client;
    struct storage_client_options options;
};

static void start_node(struct fake_world *world, struct fake_node *node, uint64_t target_id)
{
    node->world = world;
    node->target_id = target_id;
    node->service = (struct rpc_service){STORAGE_SERVICE_ID, "storage", fake_methods,
                                         sizeof(fake_methods) / sizeof(fake_methods[0]), node};
    struct rpc_server_options options;
    rpc_server_default_options(&options);
    options.name = "fake-storage";
    options.listen_address = "127.0.0.1:0";
    options.io_threads = 1;
    options.worker_threads = 2;
    assert_int_equal(rpc_server_create(&options, &node->server), 0);
    assert_int_equal(rpc_server_register(node->server, &node->service), 0);
    assert_int_equal(rpc_server_start(node->server), 0);
    rpc_server_bound_address(node->server, node->address);
}

static void stop_node(struct fake_node *node)
{
    if (!node->server)
        return;
    rpc_server_stop(node->server, CLOCK_NS_PER_S);
    rpc_server_destroy(node->server);
    node->server = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->world.lock, NULL);
    f->world.chain_version = 1;
    f->world.routing_version = 1;
    f->world.sequences_in_order = true;
    for (int i = 0; i < NODES; i++) {
        start_node(&f->world, &f->nodes[i], (uint64_t)(101 + i));
        f->world.nodes[i] = &f->nodes[i];
    }
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    assert_int_equal(rpc_client_create(&rpc_options, &f->rpc), 0);
    /* No mgmtd: refreshes fail fast; the test installs routing itself. */
    struct routing_cache_options cache_options = {.rpc = f->rpc, .mgmtd_addresses = "127.0.0.1:1",
                                                  .call_timeout_ns = 200 * CLOCK_NS_PER_MS};
    assert_int_equal(routing_cache_create(&cache_options, &f->world.cache), 0);
    install_routing(&f->world);
    storage_client_default_options(&f->options);
    f->options.direct_read_bytes = 32u << 10;
    f->options.backoff_max_ns = 10 * CLOCK_NS_PER_MS;
    assert_int_equal(storage_client_create(&f->options, f->rpc, f->world.cache, &f->client), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    storage_client_destroy(f->client);
    for (int i = 0; i < NODES; i++)
        stop_node(&f->nodes[i]);
    routing_cache_destroy(f->world.cache);
    rpc_client_destroy(f->rpc);
    for (size_t i = 0; i < f->world.chunk_count; i++)
        free(f->world.chunks[i]);
    pthread_mutex_destroy(&f->world.lock);
    free(f);
    return 0;
}

/* --- helpers ----------------------------------------------------------------------- */

static struct storage_io make_io(uint64_t inode, uint64_t index, uint64_t offset, uint32_t length,
                                 void *buffer)
{
    return (struct storage_io){.chain_id = CHAIN, .chunk_id = chunk_id_make(inode, index),
                               .chunk_size = CHUNK_SIZE, .offset = offset, .length = length,
                               .buffer = buffer};
}

static void fill_pattern(uint8_t *buffer, size_t length, uint64_t seed)
{
    for (size_t i = 0; i < length; i++)
        buffer[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 8)) & 0xff);
}

/* Writes `count` chunks of inode with `length` pattern bytes each at offset 0. */
static void write_chunks(struct fixture *f, uint64_t inode, size_t count, uint32_t length)
{
    struct storage_io *ios = calloc(count, sizeof(*ios));
    uint8_t *data = malloc(count * length);
    for (size_t i = 0; i < count; i++) {
        fill_pattern(data + i * length, length, inode * 1000 + i);
        ios[i] = make_io(inode, i, 0, length, data + i * length);
    }
    assert_int_equal(storage_client_write(f->client, ios, count, 0), CHAINFS_OK);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(ios[i].status, CHAINFS_OK);
        assert_int_equal(ios[i].bytes_done, length);
        assert_int_equal(ios[i].chunk_length, length);
        assert_int_equal(ios[i].crc, crc32c(0, data + i * length, length));
    }
    free(data);
    free(ios);
}

/* Reads the chunks back in 4 KiB pieces at offset 4 KiB... and checks them. */
static void read_and_check(struct fixture *f, uint64_t inode, size_t count, uint32_t length)
{
    struct storage_io *ios = calloc(count, sizeof(*ios));
    uint8_t *data = calloc(count, length);
    uint8_t *expected = malloc(length);
    for (size_t i = 0; i < count; i++)
        ios[i] = make_io(inode, i, 0, length, data + i * length);
    assert_int_equal(storage_client_read(f->client, ios, count, 0), CHAINFS_OK);
    for (size_t i = 0; i < count; i++) {
        fill_pattern(expected, length, inode * 1000 + i);
        assert_int_equal(ios[i].status, CHAINFS_OK);
        assert_int_equal(ios[i].bytes_done, length);
        assert_memory_equal(data + i * length, expected, length);
        assert_int_equal(ios[i].crc, crc32c(0, expected, length));
    }
    free(expected);
    free(data);
    free(ios);
}

/* --- tests ------------------------------------------------------------------------- */

static void round_trip_is_batched_per_target_and_spread(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 1, 96, 4096);
    read_and_check(f, 1, 96, 4096);
    struct storage_client_stats stats;
    storage_client_get_stats(f->client, &stats);
    assert_int_equal(stats.write_requests, 96);
    assert_int_equal(stats.read_items, 96);
    assert_true(stats.read_requests <= NODES); /* one batch per target */
    for (int i = 0; i < NODES; i++)
        assert_true(atomic_load(&f->nodes[i].read_items) > 10); /* spread */
    assert_int_equal(stats.retries, 0);
}

static void replies_land_in_contiguous_caller_buffers(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 2, 1, CHUNK_SIZE);
    uint8_t *buffer = aligned_buffer_alloc(CHUNK_SIZE);
    uint8_t *expected = malloc(CHUNK_SIZE);
    fill_pattern(expected, CHUNK_SIZE, 2000);
    /* Four 4 KiB pieces of one chunk into one buffer back to back: one direct batch. */
    struct storage_io ios[4];
    for (int i = 0; i < 4; i++)
        ios[i] = make_io(2, 0, (uint64_t)i * 4096, 4096, buffer + i * 4096);
    struct storage_client_stats before, after;
    storage_client_get_stats(f->client, &before);
    assert_int_equal(storage_client_read(f->client, ios, 4, 0), CHAINFS_OK);
    storage_client_get_stats(f->client, &after);
    assert_int_equal(after.read_requests - before.read_requests, 1);
    assert_int_equal(after.direct_reads - before.direct_reads, 1);
    assert_memory_equal(buffer, expected, 4 * 4096);
    /* The whole chunk: travels alone, directly. */
    struct storage_io whole = make_io(2, 0, 0, CHUNK_SIZE, buffer);
    memset(buffer, 0, CHUNK_SIZE);
    assert_int_equal(storage_client_read(f->client, &whole, 1, 0), CHAINFS_OK);
    assert_memory_equal(buffer, expected, CHUNK_SIZE);
    /* Scattered pieces: staged and copied out, same bytes. */
    struct storage_io scattered[2] = {make_io(2, 0, 8192, 4096, buffer + 40960),
                                      make_io(2, 0, 0, 4096, buffer)};
    storage_client_get_stats(f->client, &before);
    assert_int_equal(storage_client_read(f->client, scattered, 2, 0), CHAINFS_OK);
    storage_client_get_stats(f->client, &after);
    assert_int_equal(after.direct_reads - before.direct_reads, 0);
    assert_memory_equal(buffer + 40960, expected + 8192, 4096);
    assert_memory_equal(buffer, expected, 4096);
    aligned_buffer_free(buffer, CHUNK_SIZE);
    free(expected);
}

static void holes_and_short_reads(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 3, 1, 4096);
    uint8_t buffers[2][8192];
    memset(buffers, 0xAA, sizeof(buffers));
    struct storage_io ios[2] = {make_io(3, 0, 0, 8192, buffers[0]), make_io(3, 5, 0, 8192, buffers[1])};
    assert_int_equal(storage_client_read(f->client, ios, 2, 0), CHAINFS_OK);
    assert_int_equal(ios[0].bytes_done, 4096);
    assert_int_equal(ios[0].chunk_length, 4096);
    for (int i = 4096; i < 8192; i++)
        assert_int_equal(buffers[0][i], 0);
    assert_int_equal(ios[1].status, CHAINFS_OK);
    assert_int_equal(ios[1].bytes_done, 0);
    assert_int_equal(ios[1].version, 0);
    for (int i = 0; i < 8192; i++)
        assert_int_equal(buffers[1][i], 0);
}

static void stale_routing_is_refreshed_and_the_write_retried(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->nodes[0].stale_writes, 2);
    uint8_t data[4096];
    fill_pattern(data, sizeof(data), 4000);
    struct storage_io io = make_io(4, 0, 0, sizeof(data), data);
    assert_int_equal(storage_client_write(f->client, &io, 1, 0), CHAINFS_OK);
    assert_int_equal(atomic_load(&f->nodes[0].last_write_chain_version), 3);
    assert_int_equal(f->world.applied_writes, 1);
    struct storage_client_stats stats;
    storage_client_get_stats(f->client, &stats);
    assert_true(stats.retries >= 2);
    assert_true(stats.routing_refreshes >= 2);
}

static void lost_reply_write_is_applied_once(void **state)
{
    struct fixture *f = *state;
    atomic_store(&f->nodes[0].lost_replies, 2);
    uint8_t data[4096];
    fill_pattern(data, sizeof(data), 5000);
    struct storage_io io = make_io(5, 0, 0, sizeof(data), data);
    assert_int_equal(storage_client_write(f->client, &io, 1, 0), CHAINFS_OK);
    assert_int_equal(f->world.applied_writes, 1);
    assert_int_equal(io.version, 1);
    assert_int_equal(f->world.tagged_writes[0], 3); /* first try + 2 retries, one channel */
    assert_int_equal(f->world.highest_sequence[0], 1);
    /* The channel's next write carries the next sequence and is applied. */
    assert_int_equal(storage_client_write(f->client, &io, 1, 0), CHAINFS_OK);
    assert_int_equal(f->world.applied_writes, 2);
    assert_int_equal(io.version, 2);
    assert_int_equal(f->world.highest_sequence[0], 2);
}

static void more_writes_than_channels(void **state)
{
    struct fixture *f = *state;
    storage_client_destroy(f->client);
    f->options.channel_count = 4;
    assert_int_equal(storage_client_create(&f->options, f->rpc, f->world.cache, &f->client), 0);
    write_chunks(f, 6, 40, 4096);
    read_and_check(f, 6, 40, 4096);
    int channels_used = 0, writes = 0;
    for (int c = 0; c < CHANNELS_SEEN; c++) {
        channels_used += f->world.tagged_writes[c] > 0;
        writes += f->world.tagged_writes[c];
    }
    assert_int_equal(writes, 40);
    assert_true(channels_used <= 4);
    assert_true(f->world.sequences_in_order);
}

static void not_committed_reads_retry_and_respect_the_deadline(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 7, 8, 4096);
    for (int i = 0; i < NODES; i++)
        atomic_store(&f->nodes[i].not_committed, 3);
    read_and_check(f, 7, 8, 4096);
    struct storage_client_stats stats;
    storage_client_get_stats(f->client, &stats);
    assert_true(stats.retries > 0);
    /* Never committed: the read ends at its deadline with NOT_COMMITTED. */
    for (int i = 0; i < NODES; i++)
        atomic_store(&f->nodes[i].not_committed, 1 << 30);
    uint8_t buffer[4096];
    struct storage_io io = make_io(7, 0, 0, sizeof(buffer), buffer);
    uint64_t start = clock_now_ns();
    assert_int_equal(storage_client_read(f->client, &io, 1, deadline_after_ns(150 * CLOCK_NS_PER_MS)),
                     CHAINFS_NOT_COMMITTED);
    uint64_t took = clock_now_ns() - start;
    assert_true(took >= 140 * CLOCK_NS_PER_MS && took < CLOCK_NS_PER_S);
    for (int i = 0; i < NODES; i++)
        atomic_store(&f->nodes[i].not_committed, 0);
}

/* Replicas up the chain always have an update pending; the tail has committed it:
 * reads answered NOT_COMMITTED move to the tail and succeed well before the deadline. */
static void not_committed_reads_move_to_the_tail(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 12, 30, 4096);
    atomic_store(&f->nodes[0].not_committed, 1 << 30);
    atomic_store(&f->nodes[1].not_committed, 1 << 30);
    uint64_t start = clock_now_ns();
    read_and_check(f, 12, 30, 4096);
    assert_true(clock_now_ns() - start < 5 * CLOCK_NS_PER_S);
    assert_true(atomic_load(&f->nodes[2].read_items) >= 30);
    atomic_store(&f->nodes[0].not_committed, 0);
    atomic_store(&f->nodes[1].not_committed, 0);
}

static void reads_skip_a_dead_replica(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 8, 60, 4096);
    stop_node(&f->nodes[1]);
    read_and_check(f, 8, 60, 4096);
    read_and_check(f, 8, 60, 4096);
}

static void bad_ios_fail_alone(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 9, 2, 4096);
    uint8_t buffers[3][4096];
    struct storage_io ios[3] = {make_io(9, 0, 0, 4096, buffers[0]),
                                make_io(9, 1, CHUNK_SIZE - 100, 4096, buffers[1]),
                                make_io(9, 1, 0, 4096, NULL)};
    assert_int_equal(storage_client_read(f->client, ios, 3, 0), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(ios[0].status, CHAINFS_OK);
    assert_int_equal(ios[1].status, CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(ios[2].status, CHAINFS_INVALID_ARGUMENT);
    int applied = f->world.applied_writes;
    assert_int_equal(storage_client_write(f->client, &ios[1], 1, 0), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(f->world.applied_writes, applied);
    /* A chain nobody knows: NOT_FOUND after one refresh. */
    ios[0].chain_id = 99;
    assert_int_equal(storage_client_read(f->client, ios, 1, 0), CHAINFS_NOT_FOUND);
}

static void control_requests(void **state)
{
    struct fixture *f = *state;
    write_chunks(f, 10, 5, 4096);
    struct storage_last_chunk_reply last;
    assert_int_equal(storage_client_query_last_chunk(f->client, CHAIN, 10, 0, &last), CHAINFS_OK);
    assert_true(last.found);
    assert_int_equal(last.index, 4);
    assert_int_equal(last.length, 4096);
    struct chunk_id id = chunk_id_make(10, 4);
    struct storage_commit_reply truncated;
    assert_int_equal(storage_client_truncate_chunk(f->client, CHAIN, &id, 100, CHUNK_SIZE, 0, &truncated),
                     CHAINFS_OK);
    assert_int_equal(truncated.length, 100);
    assert_int_equal(storage_client_truncate_chunk(f->client, CHAIN, &id, CHUNK_SIZE + 1, CHUNK_SIZE, 0,
                                                   NULL),
                     CHAINFS_INVALID_ARGUMENT);
    struct storage_chunk_record *records;
    size_t count;
    assert_int_equal(storage_client_dump_target(f->client, 102, 0, &records, &count), CHAINFS_OK);
    assert_int_equal(count, 5); /* two full pages of 3 and 2 */
    for (size_t i = 1; i < count; i++)
        assert_true(chunk_id_compare(&records[i - 1].chunk_id, &records[i].chunk_id) < 0);
    assert_int_equal(records[4].committed.length, 100);
    free(records);
    uint64_t removed;
    assert_int_equal(storage_client_remove_chunks(f->client, CHAIN, 10, 1, 4, 0, &removed), CHAINFS_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(storage_client_remove_chunks(f->client, CHAIN, 10, 5, 4, 0, &removed),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(storage_client_query_last_chunk(f->client, CHAIN, 11, 0, &last), CHAINFS_OK);
    assert_false(last.found);
    struct storage_target_info *targets;
    size_t unreachable;
    stop_node(&f->nodes[2]);
    assert_int_equal(storage_client_space_info(f->client, 0, &targets, &count, &unreachable), CHAINFS_OK);
    assert_int_equal(count, 2);
    assert_int_equal(unreachable, 1);
    assert_int_equal(targets[0].used_bytes, targets[0].target_id * 10);
    free(targets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_is_batched_per_target_and_spread, setup, teardown),
        cmocka_unit_test_setup_teardown(replies_land_in_contiguous_caller_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(holes_and_short_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_routing_is_refreshed_and_the_write_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_reply_write_is_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(more_writes_than_channels, setup, teardown),
        cmocka_unit_test_setup_teardown(not_committed_reads_retry_and_respect_the_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(not_committed_reads_move_to_the_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_skip_a_dead_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_ios_fail_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(control_requests, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * heartbeat_client.c - one thread that renews the node's lease with the primary mgmtd
 * and decides whether the node may still serve.
 *
 * The right to serve is one atomic deadline, serving_until: the send time of the last
 * successful heartbeat plus half the failure interval. Whoever sees that deadline
 * passed (a caller of heartbeat_client_serving() or the thread) latches it to 0 with
 * a compare-and-swap, and a successful heartbeat extends it with a compare-and-swap
 * too. So a loss that anyone observed is never undone by a reply that raced with it,
 * and only resume_after_loss lets a later heartbeat lift the latch.
 *
 * The send time, not the reply time, counts: mgmtd received the heartbeat after it
 * was sent, so the node's deadline always falls before mgmtd's.
 *
 * Calls are started asynchronously and the thread waits for them on its condition
 * variable (CLOCK_MONOTONIC) with the serving deadline as timeout: the stop-serving
 * callback fires on time even while mgmtd does not answer, and stop wakes the thread
 * in the middle of an interval. Calls are never cancelled (a completed call's session
 * may be gone); each is bounded by the call timeout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#define LOG_COMPONENT "heartbeat"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/heartbeat_client.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"

#define CALL_TIMEOUT_MAX_NS (2 * CLOCK_NS_PER_S)

struct heartbeat_client {
    struct heartbeat_options options; /* node_address points at the copy below */
    char node_address[NODE_ADDRESS_MAX];
    struct mgmtd_client mgmtd; /* configured addresses and the last known primary */
    uint64_t window_ns;        /* half the failure interval */
    uint64_t call_timeout_ns;

    atomic_uint_fast64_t serving_until; /* deadline; 0: serving was lost (latched) */
    atomic_uint_fast64_t routing_version;
    uint64_t config_version; /* newest config version seen (heartbeat thread only) */
    uint64_t incarnation;    /* this process's start (wall clock, ns): mgmtd refuses
                              * heartbeats of older processes of the node */

    /* Heartbeat thread only. */
    uint64_t next_beat;
    bool loss_announced;
    bool failing; /* the last heartbeat failed (logged once per run of failures) */
    struct heartbeat_target_report *targets;
    size_t target_capacity;
    struct wire_writer message;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    bool stopping;       /* under lock, like the two below */
    bool beat_requested;
    bool call_done;
};

void heartbeat_client_default_options(struct heartbeat_options *options)
{
    memset(options, 0, sizeof(*options));
    options->interval_ns = 10 * CLOCK_NS_PER_S;
    options->fail_interval_ns = 60 * CLOCK_NS_PER_S;
}

/* --- the right to serve -------------------------------------------------------------- */

/* True while serving; latches the loss once the deadline has passed. */
static bool serving_check(struct heartbeat_client *client)
{
    uint_fast64_t until = atomic_load(&client->serving_until);
    while (until != 0 && clock_now_ns() >= until)
        if (atomic_compare_exchange_weak(&client->serving_until, &until, 0))
            until = 0;
    return until != 0;
}

/* A heartbeat sent at `sent` succeeded: move the deadline, unless serving was lost and
 * the node may not resume. */
static void serving_extend(struct heartbeat_client *client, uint64_t sent)
{
    uint_fast64_t next = sent + client->window_ns;
    uint_fast64_t until = atomic_load(&client->serving_until);
    do {
        if (until == 0 && (!client->options.resume_after_loss || next <= clock_now_ns()))
            return;
        if (next <= until)
            return;
    } while (!atomic_compare_exchange_weak(&client->serving_until, &until, next));
}

static bool may_beat(struct heartbeat_client *client)
{
    return client->options.resume_after_loss || atomic_load(&client->serving_until) != 0;
}

/* Fires on_stop_serving once per loss. Heartbeat thread only, no lock held. */
static void announce_loss(struct heartbeat_client *client)
{
    if (serving_check(client) || client->loss_announced)
        return;
    client->loss_announced = true;
    log_warn("node %u: no successful heartbeat to mgmtd for %llu ms, it stops serving%s",
             client->options.node_id, (unsigned long long)(client->window_ns / CLOCK_NS_PER_MS),
             client->options.resume_after_loss ? " until mgmtd is back" : " and must restart");
    if (client->options.on_stop_serving)
        client->options.on_stop_serving(client->options.context);
}

/* --- calls --------------------------------------------------------------------------- */

static void call_done(struct rpc_call *call)
{
    struct heartbeat_client *client = call->user_data;
    pthread_mutex_lock(&client->lock);
    client->call_done = true;
    pthread_cond_broadcast(&client->wake);
    pthread_mutex_unlock(&client->lock);
}

/* Waits on wake until deadline at most. Called with the lock held. */
static void wait_until(struct heartbeat_client *client, uint64_t deadline)
{
    struct timespec when = deadline_to_timespec(deadline);
    pthread_cond_timedwait(&client->wake, &client->lock, &when);
}

static uint64_t loss_deadline(struct heartbeat_client *client)
{
    uint64_t until = atomic_load(&client->serving_until);
    return until ? until : DEADLINE_NEVER;
}

/* Runs a call and waits for it, announcing a loss of the right to serve on time if
 * the call outlives the deadline. CANCELLED without a call once stopping. */
static int run_call(struct heartbeat_client *client, const char *address, struct rpc_call *call)
{
    call->timeout_ns = client->call_timeout_ns;
    call->on_complete = call_done;
    call->user_data = client;
    pthread_mutex_lock(&client->lock);
    client->call_done = false;
    bool stopping = client->stopping;
    pthread_mutex_unlock(&client->lock);
    int status = stopping ? CHAINFS_CANCELLED : rpc_call_start(client->options.rpc, address, call);
    if (status != 0)
        return call->status = status;
    for (bool done = false; !done;) {
        announce_loss(client);
        pthread_mutex_lock(&client->lock);
        if (!client->call_done)
            wait_until(client, loss_deadline(client));
        done = client->call_done;
        pthread_mutex_unlock(&client->lock);
    }
    return call->status;
}

/* Asks one mgmtd who the primary is. */
static int ask_primary(struct heartbeat_client *client, const char *address,
                       char primary[ADDRESS_TEXT_MAX])
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_GET_PRIMARY);
    int status = run_call(client, address, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        (void)wire_get_u32(&reader);
        wire_get_string(&reader, primary, ADDRESS_TEXT_MAX);
        uint64_t epoch = wire_get_u64(&reader);
        if (!wire_reader_ok(&reader))
            status = CHAINFS_MALFORMED;
        else if (epoch == 0)
            status = CHAINFS_NOT_PRIMARY; /* nobody holds the lease yet */
    }
    rpc_call_release(&call);
    return status;
}

/* Finds the primary through the configured addresses, in order. */
static int locate_primary(struct heartbeat_client *client)
{
    int status = CHAINFS_UNAVAILABLE;
    for (size_t i = 0; i < client->mgmtd.address_count && status != CHAINFS_CANCELLED; i++) {
        char primary[ADDRESS_TEXT_MAX];
        status = ask_primary(client, client->mgmtd.addresses[i], primary);
        if (status == 0) {
            snprintf(client->mgmtd.primary, sizeof(client->mgmtd.primary), "%s", primary);
            return 0;
        }
    }
    return status;
}

/* Statuses after which another mgmtd may be the primary. */
static bool primary_lost(int status)
{
    return status == CHAINFS_NOT_PRIMARY || status == CHAINFS_CONNECT_FAILED ||
           status == CHAINFS_DISCONNECTED || status == CHAINFS_TIMEOUT ||
           status == CHAINFS_SHUTTING_DOWN;
}

/* The versions a heartbeat reply carries. */
struct heartbeat_reply {
    uint64_t routing_version;
    uint64_t config_version; /* newest config of the node's type, 0: none */
};

static int heartbeat_call(struct heartbeat_client *client, uint64_t *sent,
                          struct heartbeat_reply *reply)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_HEARTBEAT);
    call.message = client->message.data;
    call.message_length = client->message.length;
    *sent = clock_now_ns();
    int status = run_call(client, client->mgmtd.primary, &call);
    if (status == 0) {
        struct wire_reader reader; /* later fields, if any, are for newer clients */
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        reply->routing_version = wire_get_u64(&reader);
        if (wire_reader_remaining(&reader) >= 8) /* mgmtd sends it; older replies lack it */
            reply->config_version = wire_get_u64(&reader);
        if (!wire_reader_ok(&reader))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    return status;
}

/* Sends the encoded heartbeat to the primary, finding it first when unknown, and
 * once more after NOT_PRIMARY or a lost primary. */
static int send_heartbeat(struct heartbeat_client *client, uint64_t *sent,
                          struct heartbeat_reply *reply)
{
    int status = CHAINFS_UNAVAILABLE;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!client->mgmtd.primary[0] && (status = locate_primary(client)) != 0)
            return status;
        status = heartbeat_call(client, sent, reply);
        if (!primary_lost(status))
            return status;
        client->mgmtd.primary[0] = '\0';
    }
    return status;
}

/* --- one heartbeat ------------------------------------------------------------------- */

/* Asks the service for its targets, growing the array until they fit. */
static int collect_targets(struct heartbeat_client *client, size_t *count)
{
    *count = 0;
    if (!client->options.fill_targets)
        return 0;
    while ((*count = client->options.fill_targets(client->options.context, client->targets,
                                                  client->target_capacity)) >
           client->target_capacity) {
        if (*count > HEARTBEAT_CLIENT_TARGETS_MAX)
            return CHAINFS_TOO_LARGE;
        void *grown = realloc(client->targets, *count * sizeof(*client->targets));
        if (!grown)
            return CHAINFS_NO_MEMORY;
        client->targets = grown;
        client->target_capacity = *count;
    }
    return 0;
}

static int encode_heartbeat(struct heartbeat_client *client)
{
    size_t count;
    int status = collect_targets(client, &count);
    if (status != 0)
        return status;
    struct wire_writer *writer = &client->message;
    wire_writer_reset(writer);
    wire_put_u32(writer, client->options.node_id);
    wire_put_u8(writer, client->options.node_type);
    wire_put_string(writer, client->node_address);
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const struct heartbeat_target_report *target = &client->targets[i];
        wire_put_u64(writer, target->target_id);
        wire_put_u32(writer, target->disk_index);
        wire_put_u8(writer, target->local_state);
        wire_put_u64(writer, target->used_bytes);
        wire_put_u64(writer, target->capacity_bytes);
    }
    wire_put_u64(writer, client->incarnation);
    return wire_writer_ok(writer) ? 0 : CHAINFS_NO_MEMORY;
}

static void heartbeat_succeeded(struct heartbeat_client *client, uint64_t sent,
                                const struct heartbeat_reply *reply)
{
    if (client->failing)
        log_info("node %u: heartbeat to mgmtd %s works again", client->options.node_id,
                 client->mgmtd.primary);
    client->failing = false;
    announce_loss(client); /* a loss seen before this reply stays a loss */
    serving_extend(client, sent);
    if (client->loss_announced && serving_check(client)) {
        client->loss_announced = false;
        log_info("node %u: serving again", client->options.node_id);
    }
    uint_fast64_t known = atomic_load(&client->routing_version);
    if (reply->routing_version > known) {
        atomic_store(&client->routing_version, reply->routing_version);
        if (client->options.on_routing_version)
            client->options.on_routing_version(client->options.context, reply->routing_version);
    }
    if (reply->config_version > client->config_version) {
        client->config_version = reply->config_version;
        if (client->options.on_config_version)
            client->options.on_config_version(client->options.context, reply->config_version);
    }
}

static void beat(struct heartbeat_client *client)
{
    client->next_beat = clock_now_ns() + client->options.interval_ns;
    uint64_t sent = 0;
    struct heartbeat_reply reply = {0, 0};
    int status = encode_heartbeat(client);
    if (status == 0)
        status = send_heartbeat(client, &sent, &reply);
    if (status == 0) {
        heartbeat_succeeded(client, sent, &reply);
    } else if (!client->failing && status != CHAINFS_CANCELLED) {
        client->failing = true;
        log_warn("node %u: heartbeat to mgmtd failed: %s", client->options.node_id,
                 chainfs_error_message(status));
    }
}

/* --- the thread ---------------------------------------------------------------------- */

/* Whether a beat is due now; otherwise waits once (until the next beat, the serving
 * deadline, a request or stop). Called with the lock held. */
static bool beat_due_or_wait(struct heartbeat_client *client)
{
    bool allowed = may_beat(client);
    if (allowed && (client->beat_requested || clock_now_ns() >= client->next_beat))
        return true;
    uint64_t deadline = loss_deadline(client);
    if (allowed && client->next_beat < deadline)
        deadline = client->next_beat;
    wait_until(client, deadline);
    return false;
}

static void *heartbeat_thread(void *argument)
{
    struct heartbeat_client *client = argument;
    for (;;) {
        announce_loss(client);
        pthread_mutex_lock(&client->lock);
        bool due = !client->stopping && beat_due_or_wait(client);
        bool stopping = client->stopping;
        if (due)
            client->beat_requested = false;
        pthread_mutex_unlock(&client->lock);
        if (stopping)
            return NULL;
        if (due)
            beat(client);
    }
}

/* --- lifecycle ----------------------------------------------------------------------- */

static int check_options(const struct heartbeat_options *options)
{
    if (!options->rpc || !options->mgmtd_addresses || options->node_id == 0 ||
        !node_type_name(options->node_type) || !options->node_address ||
        strlen(options->node_address) >= NODE_ADDRESS_MAX || options->interval_ns == 0 ||
        options->interval_ns >= options->fail_interval_ns / 2)
        return CHAINFS_INVALID_ARGUMENT;
    return 0;
}

static uint64_t call_timeout(const struct heartbeat_options *options)
{
    if (options->call_timeout_ns)
        return options->call_timeout_ns;
    uint64_t timeout = options->interval_ns;
    if (timeout > options->fail_interval_ns / 8)
        timeout = options->fail_interval_ns / 8;
    return timeout < CALL_TIMEOUT_MAX_NS ? timeout : CALL_TIMEOUT_MAX_NS;
}

static void init_sync(struct heartbeat_client *client)
{
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&client->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&client->lock, NULL);
}

static void free_client(struct heartbeat_client *client)
{
    pthread_cond_destroy(&client->wake);
    pthread_mutex_destroy(&client->lock);
    wire_writer_free(&client->message);
    free(client->targets);
    free(client);
}

int heartbeat_client_start(const struct heartbeat_options *options,
                           struct heartbeat_client **result)
{
    int status = check_options(options);
    if (status != 0)
        return status;
    struct heartbeat_client *client = calloc(1, sizeof(*client));
    if (!client)
        return CHAINFS_NO_MEMORY;
    client->call_timeout_ns = call_timeout(options);
    status = mgmtd_client_init(&client->mgmtd, options->rpc, options->mgmtd_addresses,
                               client->call_timeout_ns);
    if (status != 0) {
        free(client);
        return status;
    }
    client->options = *options;
    client->options.mgmtd_addresses = NULL; /* parsed into mgmtd; not kept */
    snprintf(client->node_address, sizeof(client->node_address), "%s", options->node_address);
    client->options.node_address = client->node_address;
    client->window_ns = options->fail_interval_ns / 2;
    atomic_init(&client->serving_until, clock_now_ns() + client->window_ns);
    struct timespec started;
    clock_gettime(CLOCK_REALTIME, &started);
    client->incarnation = (uint64_t)started.tv_sec * 1000000000u + (uint64_t)started.tv_nsec;
    atomic_init(&client->routing_version, options->routing_version);
    wire_writer_init(&client->message);
    init_sync(client);
    if (pthread_create(&client->thread, NULL, heartbeat_thread, client) != 0) {
        free_client(client);
        return CHAINFS_NO_MEMORY;
    }
    pthread_setname_np(client->thread, "heartbeat");
    *result = client;
    return 0;
}

bool heartbeat_client_serving(struct heartbeat_client *client)
{
    return serving_check(client);
}

void heartbeat_client_beat_now(struct heartbeat_client *client)
{
    pthread_mutex_lock(&client->lock);
    client->beat_requested = true;
    pthread_cond_broadcast(&client->wake);
    pthread_mutex_unlock(&client->lock);
}

uint64_t heartbeat_client_routing_version(struct heartbeat_client *client)
{
    return atomic_load(&client->routing_version);
}

void heartbeat_client_stop(struct heartbeat_client *client)
{
    if (!client)
        return;
    pthread_mutex_lock(&client->lock);
    client->stopping = true;
    pthread_cond_broadcast(&client->wake);
    pthread_mutex_unlock(&client->lock);
    pthread_join(client->thread, NULL);
    free_client(client);
}

/*
 * test_heartbeat_client.c - the node side of heartbeats against a fake mgmtd in the
 * same process (an RPC server answering GET_PRIMARY and HEARTBEAT, checking every
 * heartbeat it decodes): beats keep the node serving, routing versions that grow call
 * back, a lost mgmtd stops the node within half the failure interval exactly once,
 * resuming only where allowed, an unanswered heartbeat does not delay the loss,
 * NOT_PRIMARY answers are followed to the new primary, beat_now() and stop() do not
 * wait for the interval, and bad options are refused.
 *
 * Intervals are short (50 ms beats, 600 ms failure interval) and every wait is
 * bounded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/heartbeat_client.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/target_state.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

#define INTERVAL_NS (50 * CLOCK_NS_PER_MS)
#define FAIL_INTERVAL_NS (600 * CLOCK_NS_PER_MS)
#define WINDOW_NS (FAIL_INTERVAL_NS / 2)
#define SLACK_NS (150 * CLOCK_NS_PER_MS)
#define NODE_ID 7
#define NODE_ADDRESS "127.0.0.1:7777"

/* Polls condition every 2 ms until it holds or timeout_ms passed; assert it after. */
#define WAIT_FOR(condition, timeout_ms)                                                    \
    for (uint64_t wait_deadline_ = deadline_after_ns((timeout_ms) * CLOCK_NS_PER_MS);       \
         !(condition) && !deadline_expired(wait_deadline_);)                               \
        clock_sleep_ns(2 * CLOCK_NS_PER_MS)

/* --- the fake mgmtd ------------------------------------------------------------------ */

struct fake_mgmtd {
    struct rpc_server *server;
    struct rpc_service service;
    char address[ADDRESS_TEXT_MAX];
    pthread_mutex_t lock;
    char primary[ADDRESS_TEXT_MAX]; /* what GET_PRIMARY answers, under lock */
    atomic_bool not_primary;        /* HEARTBEAT answers NOT_PRIMARY */
    bool hang;                      /* HEARTBEAT holds requests unanswered, under lock */
    struct rpc_request *held[8];    /* under lock */
    size_t held_count;
    atomic_uint_fast64_t routing_version;
    uint8_t expected_type;        /* storage nodes report the two targets below */
    atomic_int beats;             /* accepted since the last start */
    atomic_int bad_beats;         /* heartbeats that did not decode as expected */
    atomic_int refused;           /* NOT_PRIMARY answers */
    atomic_uint last_local_state; /* of target 101 */
    atomic_uint_fast64_t last_beat_at;
};

static void fake_get_primary(struct rpc_request *request)
{
    struct fake_mgmtd *fake = request->service_context;
    pthread_mutex_lock(&fake->lock);
    wire_put_u32(&request->reply, 1);
    wire_put_string(&request->reply, fake->primary);
    wire_put_u64(&request->reply, 2);
    pthread_mutex_unlock(&fake->lock);
    rpc_request_reply(request, 0);
}

/* Decodes one reported target; target 101 may change state, 102 never does. */
static bool check_target(struct fake_mgmtd *fake, struct wire_reader *reader, uint64_t id,
                         uint32_t disk)
{
    bool ok = wire_get_u64(reader) == id && wire_get_u32(reader) == disk;
    uint8_t state = wire_get_u8(reader);
    ok = ok && wire_get_u64(reader) == disk * 1000 && wire_get_u64(reader) == 4096;
    if (id == 101)
        atomic_store(&fake->last_local_state, state);
    return ok && target_local_state_is_valid(state) &&
           (id == 101 || state == TARGET_LOCAL_UP_TO_DATE);
}

static bool check_heartbeat(struct fake_mgmtd *fake, const struct rpc_request *request)
{
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    char address[NODE_ADDRESS_MAX];
    bool ok = wire_get_u32(&reader) == NODE_ID && wire_get_u8(&reader) == fake->expected_type;
    ok = ok && wire_get_string(&reader, address, sizeof(address)) &&
         strcmp(address, NODE_ADDRESS) == 0;
    uint32_t count = wire_get_u32(&reader);
    if (fake->expected_type == NODE_TYPE_STORAGE)
        ok = ok && count == 2 && check_target(fake, &reader, 101, 0) &&
             check_target(fake, &reader, 102, 1);
    else
        ok = ok && count == 0;
    uint64_t incarnation = wire_get_u64(&reader); /* the process's start, wall clock */
    ok = ok && incarnation > 1700000000ull * 1000000000ull;
    return ok && wire_reader_done(&reader);
}

/* Holds a heartbeat unanswered while the fake hangs; true if it did. */
static bool fake_hold(struct fake_mgmtd *fake, struct rpc_request *request)
{
    pthread_mutex_lock(&fake->lock);
    bool hold = fake->hang && fake->held_count < 8;
    if (hold)
        fake->held[fake->held_count++] = request;
    pthread_mutex_unlock(&fake->lock);
    return hold;
}

/* Stops hanging and answers the held heartbeats (late, but successfully). */
static void fake_release(struct fake_mgmtd *fake)
{
    pthread_mutex_lock(&fake->lock);
    fake->hang = false;
    for (size_t i = 0; i < fake->held_count; i++) {
        wire_put_u64(&fake->held[i]->reply, atomic_load(&fake->routing_version));
        rpc_request_reply(fake->held[i], 0);
    }
    fake->held_count = 0;
    pthread_mutex_unlock(&fake->lock);
}

static void fake_heartbeat(struct rpc_request *request)
{
    struct fake_mgmtd *fake = request->service_context;
    if (fake_hold(fake, request))
        return;
    if (atomic_load(&fake->not_primary)) {
        atomic_fetch_add(&fake->refused, 1);
        rpc_request_fail(request, CHAINFS_NOT_PRIMARY, "not the primary");
        return;
    }
    if (!check_heartbeat(fake, request)) {
        atomic_fetch_add(&fake->bad_beats, 1);
        rpc_request_fail(request, CHAINFS_MALFORMED, "unexpected heartbeat");
        return;
    }
    atomic_store(&fake->last_beat_at, clock_now_ns());
    atomic_fetch_add(&fake->beats, 1);
    wire_put_u64(&request->reply, atomic_load(&fake->routing_version));
    wire_put_u64(&request->reply, 9); /* a config version: clients skip what follows */
    rpc_request_reply(request, 0);
}

static const struct rpc_method fake_methods[] = {
    {MGMTD_METHOD_GET_PRIMARY, "get_primary", fake_get_primary, RPC_DISPATCH_INLINE},
    {MGMTD_METHOD_HEARTBEAT, "heartbeat", fake_heartbeat, RPC_DISPATCH_INLINE},
};

/* Starts (or restarts) the fake on listen; it names itself primary on first start. */
static void fake_start(struct fake_mgmtd *fake, const char *listen)
{
    char listen_copy[ADDRESS_TEXT_MAX];
    snprintf(listen_copy, sizeof(listen_copy), "%s", listen); /* may be fake->address */
    struct rpc_server_options options;
    rpc_server_default_options(&options);
    options.name = "fake-mgmtd";
    options.listen_address = listen_copy;
    options.io_threads = 1;
    options.worker_threads = 1;
    fake->service = (struct rpc_service){.id = MGMTD_SERVICE_ID,
                                         .name = "mgmtd",
                                         .methods = fake_methods,
                                         .method_count = 2,
                                         .context = fake};
    atomic_store(&fake->beats, 0);
    assert_int_equal(rpc_server_create(&options, &fake->server), 0);
    assert_int_equal(rpc_server_register(fake->server, &fake->service), 0);
    assert_int_equal(rpc_server_start(fake->server), 0);
    rpc_server_bound_address(fake->server, fake->address);
    pthread_mutex_lock(&fake->lock);
    if (!fake->primary[0])
        snprintf(fake->primary, sizeof(fake->primary), "%s", fake->address);
    pthread_mutex_unlock(&fake->lock);
}

static void fake_stop(struct fake_mgmtd *fake)
{
    rpc_server_destroy(fake->server);
    fake->server = NULL;
}

static void fake_set_primary(struct fake_mgmtd *fake, const char *primary)
{
    pthread_mutex_lock(&fake->lock);
    snprintf(fake->primary, sizeof(fake->primary), "%s", primary);
    pthread_mutex_unlock(&fake->lock);
}

/* --- the node ------------------------------------------------------------------------ */

struct fixture {
    struct rpc_client *rpc;
    struct fake_mgmtd fakes[2];
    struct heartbeat_options options;
    struct heartbeat_client *heartbeat;
    atomic_uint local_state; /* of target 101 */
    atomic_int stops;
    atomic_uint_fast64_t stopped_at;
    atomic_int routing_calls;
    atomic_uint_fast64_t routing_seen;
};

static size_t fill_targets(void *context, struct heartbeat_target_report *targets,
                           size_t capacity)
{
    struct fixture *fixture = context;
    if (capacity < 2)
        return 2;
    uint8_t state = (uint8_t)atomic_load(&fixture->local_state);
    targets[0] = (struct heartbeat_target_report){101, 0, state, 0, 4096};
    targets[1] = (struct heartbeat_target_report){102, 1, TARGET_LOCAL_UP_TO_DATE, 1000, 4096};
    return 2;
}

static void on_routing_version(void *context, uint64_t version)
{
    struct fixture *fixture = context;
    atomic_store(&fixture->routing_seen, version);
    atomic_fetch_add(&fixture->routing_calls, 1);
}

static void on_stop_serving(void *context)
{
    struct fixture *fixture = context;
    atomic_store(&fixture->stopped_at, clock_now_ns());
    atomic_fetch_add(&fixture->stops, 1);
}

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_OFF);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    assert_int_equal(rpc_client_create(&rpc_options, &fixture->rpc), 0);
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&fixture->fakes[i].lock, NULL);
        fixture->fakes[i].expected_type = NODE_TYPE_STORAGE;
        fake_start(&fixture->fakes[i], "127.0.0.1:0");
    }
    atomic_store(&fixture->local_state, TARGET_LOCAL_UP_TO_DATE);
    struct heartbeat_options *options = &fixture->options;
    heartbeat_client_default_options(options);
    options->rpc = fixture->rpc;
    options->mgmtd_addresses = fixture->fakes[0].address;
    options->node_id = NODE_ID;
    options->node_type = NODE_TYPE_STORAGE;
    options->node_address = NODE_ADDRESS;
    options->interval_ns = INTERVAL_NS;
    options->fail_interval_ns = FAIL_INTERVAL_NS;
    options->fill_targets = fill_targets;
    options->on_routing_version = on_routing_version;
    options->on_stop_serving = on_stop_serving;
    options->context = fixture;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    for (int i = 0; i < 2; i++)
        fake_release(&fixture->fakes[i]); /* the heartbeat thread may wait for one */
    heartbeat_client_stop(fixture->heartbeat);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&fixture->fakes[i].bad_beats), 0);
        if (fixture->fakes[i].server)
            fake_stop(&fixture->fakes[i]);
        pthread_mutex_destroy(&fixture->fakes[i].lock);
    }
    rpc_client_destroy(fixture->rpc);
    free(fixture);
    return 0;
}

static void start_heartbeat(struct fixture *fixture)
{
    assert_int_equal(heartbeat_client_start(&fixture->options, &fixture->heartbeat), 0);
}

/* --- tests --------------------------------------------------------------------------- */

static void beats_keep_the_node_serving(void **state)
{
    struct fixture *fixture = *state;
    char addresses[2 * ADDRESS_TEXT_MAX];
    snprintf(addresses, sizeof(addresses), "127.0.0.1:1,%s", fixture->fakes[0].address);
    fixture->options.mgmtd_addresses = addresses; /* the first one is down */
    uint64_t started = clock_now_ns();
    start_heartbeat(fixture);
    /* Longer than the serving window: only the beats keep the node serving. */
    uint64_t until = deadline_after_ns(2 * WINDOW_NS);
    while (!deadline_expired(until)) {
        assert_true(heartbeat_client_serving(fixture->heartbeat));
        clock_sleep_ns(5 * CLOCK_NS_PER_MS);
    }
    int beats = atomic_load(&fixture->fakes[0].beats);
    uint64_t elapsed = clock_now_ns() - started;
    assert_true(beats >= 3);
    assert_true((uint64_t)beats <= elapsed / INTERVAL_NS + 2); /* no hammering */
    assert_int_equal(atomic_load(&fixture->fakes[0].last_local_state), TARGET_LOCAL_UP_TO_DATE);
    assert_int_equal(atomic_load(&fixture->stops), 0);
}

static void growing_routing_version_calls_back(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *fake = &fixture->fakes[0];
    atomic_store(&fake->routing_version, 2);
    fixture->options.routing_version = 2; /* the node already has version 2 */
    start_heartbeat(fixture);
    WAIT_FOR(atomic_load(&fake->beats) >= 3, 2000);
    assert_true(atomic_load(&fake->beats) >= 3);
    assert_int_equal(atomic_load(&fixture->routing_calls), 0);

    atomic_store(&fake->routing_version, 5);
    WAIT_FOR(atomic_load(&fixture->routing_calls) >= 1, 2000);
    assert_int_equal(atomic_load(&fixture->routing_calls), 1);
    assert_int_equal(atomic_load(&fixture->routing_seen), 5);

    atomic_store(&fake->routing_version, 4); /* an older answer never calls back */
    int beats = atomic_load(&fake->beats);
    WAIT_FOR(atomic_load(&fake->beats) >= beats + 3, 2000);
    assert_int_equal(atomic_load(&fixture->routing_calls), 1);
    assert_int_equal(heartbeat_client_routing_version(fixture->heartbeat), 5);

    atomic_store(&fake->routing_version, 6);
    WAIT_FOR(atomic_load(&fixture->routing_calls) >= 2, 2000);
    assert_int_equal(atomic_load(&fixture->routing_calls), 2);
    assert_int_equal(atomic_load(&fixture->routing_seen), 6);
}

/* Stops the fake and waits for the node to give up serving; checks when it did. */
static void lose_mgmtd(struct fixture *fixture, int stops_before)
{
    struct fake_mgmtd *fake = &fixture->fakes[0];
    WAIT_FOR(atomic_load(&fake->beats) >= 2, 2000);
    assert_true(atomic_load(&fake->beats) >= 2);
    uint64_t lost_at = clock_now_ns();
    fake_stop(fake);
    uint64_t last_beat = atomic_load(&fake->last_beat_at);
    WAIT_FOR(atomic_load(&fixture->stops) > stops_before, 2000);
    assert_int_equal(atomic_load(&fixture->stops), stops_before + 1);
    assert_false(heartbeat_client_serving(fixture->heartbeat));
    uint64_t stopped_at = atomic_load(&fixture->stopped_at);
    assert_true(stopped_at <= lost_at + WINDOW_NS + SLACK_NS);
    assert_true(stopped_at >= last_beat + WINDOW_NS - INTERVAL_NS - 20 * CLOCK_NS_PER_MS);
}

static void lost_mgmtd_stops_serving_for_good(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *fake = &fixture->fakes[0];
    start_heartbeat(fixture);
    lose_mgmtd(fixture, 0);
    fake_start(fake, fake->address); /* same port */
    clock_sleep_ns(5 * INTERVAL_NS);
    assert_false(heartbeat_client_serving(fixture->heartbeat));
    assert_int_equal(atomic_load(&fixture->stops), 1);
    assert_int_equal(atomic_load(&fake->beats), 0); /* a storage node must restart */
}

static void unanswered_heartbeats_stop_serving_on_time(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *fake = &fixture->fakes[0];
    fixture->options.call_timeout_ns = 3 * CLOCK_NS_PER_S; /* longer than the window */
    start_heartbeat(fixture);
    WAIT_FOR(atomic_load(&fake->beats) >= 2, 2000);
    assert_true(atomic_load(&fake->beats) >= 2);
    pthread_mutex_lock(&fake->lock);
    fake->hang = true;
    pthread_mutex_unlock(&fake->lock);
    uint64_t hung_at = clock_now_ns();
    WAIT_FOR(atomic_load(&fixture->stops) >= 1, 2000);
    assert_int_equal(atomic_load(&fixture->stops), 1);
    assert_true(atomic_load(&fixture->stopped_at) <= hung_at + WINDOW_NS + SLACK_NS);
    assert_false(heartbeat_client_serving(fixture->heartbeat));
    fake_release(fake); /* a late success does not undo the loss */
    clock_sleep_ns(3 * INTERVAL_NS);
    assert_false(heartbeat_client_serving(fixture->heartbeat));
    assert_int_equal(atomic_load(&fixture->stops), 1);
}

static void node_that_may_resume_serves_again(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *fake = &fixture->fakes[0];
    fake->expected_type = NODE_TYPE_META;
    fixture->options.node_type = NODE_TYPE_META;
    fixture->options.fill_targets = NULL;
    fixture->options.resume_after_loss = true;
    start_heartbeat(fixture);
    lose_mgmtd(fixture, 0);
    fake_start(fake, fake->address);
    WAIT_FOR(heartbeat_client_serving(fixture->heartbeat), 2000);
    assert_true(heartbeat_client_serving(fixture->heartbeat));
    assert_true(atomic_load(&fake->beats) >= 1);
    lose_mgmtd(fixture, 1); /* the callback fires once per loss */
}

static void not_primary_answers_are_followed(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *old_primary = &fixture->fakes[0], *new_primary = &fixture->fakes[1];
    start_heartbeat(fixture);
    WAIT_FOR(atomic_load(&old_primary->beats) >= 2, 2000);
    assert_true(atomic_load(&old_primary->beats) >= 2);
    fake_set_primary(old_primary, new_primary->address);
    atomic_store(&old_primary->not_primary, true);
    WAIT_FOR(atomic_load(&new_primary->beats) >= 3, 2000);
    assert_true(atomic_load(&new_primary->beats) >= 3);
    assert_int_equal(atomic_load(&old_primary->refused), 1); /* asked once, then followed */
    assert_true(heartbeat_client_serving(fixture->heartbeat));
    assert_int_equal(atomic_load(&fixture->stops), 0);
}

static void beat_now_and_stop_do_not_wait_for_the_interval(void **state)
{
    struct fixture *fixture = *state;
    struct fake_mgmtd *fake = &fixture->fakes[0];
    fixture->options.interval_ns = 10 * CLOCK_NS_PER_S;
    fixture->options.fail_interval_ns = 60 * CLOCK_NS_PER_S;
    start_heartbeat(fixture);
    WAIT_FOR(atomic_load(&fake->beats) >= 1, 2000); /* the first beat goes at once */
    assert_int_equal(atomic_load(&fake->beats), 1);
    atomic_store(&fixture->local_state, TARGET_LOCAL_ONLINE);
    heartbeat_client_beat_now(fixture->heartbeat);
    WAIT_FOR(atomic_load(&fake->beats) >= 2, 2000);
    assert_int_equal(atomic_load(&fake->beats), 2);
    assert_int_equal(atomic_load(&fake->last_local_state), TARGET_LOCAL_ONLINE);
    uint64_t stopping_at = clock_now_ns();
    heartbeat_client_stop(fixture->heartbeat);
    fixture->heartbeat = NULL;
    assert_true(clock_now_ns() - stopping_at < 200 * CLOCK_NS_PER_MS);
}

static void bad_options_are_refused(void **state)
{
    struct fixture *fixture = *state;
    struct heartbeat_options good = fixture->options, bad;
    struct heartbeat_client *client = NULL;
    bad = good, bad.interval_ns = good.fail_interval_ns / 2; /* no beat before the loss */
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    bad = good, bad.node_id = 0;
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    bad = good, bad.node_type = 99;
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    bad = good, bad.mgmtd_addresses = "";
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    bad = good, bad.rpc = NULL;
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    char long_address[NODE_ADDRESS_MAX + 1];
    memset(long_address, 'a', NODE_ADDRESS_MAX);
    long_address[NODE_ADDRESS_MAX] = '\0'; /* one byte more than a node record holds */
    bad = good, bad.node_address = long_address;
    assert_int_equal(heartbeat_client_start(&bad, &client), CHAINFS_INVALID_ARGUMENT);
    assert_null(client);
    heartbeat_client_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(beats_keep_the_node_serving, setup, teardown),
        cmocka_unit_test_setup_teardown(growing_routing_version_calls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_mgmtd_stops_serving_for_good, setup, teardown),
        cmocka_unit_test_setup_teardown(unanswered_heartbeats_stop_serving_on_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(node_that_may_resume_serves_again, setup, teardown),
        cmocka_unit_test_setup_teardown(not_primary_answers_are_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(beat_now_and_stop_do_not_wait_for_the_interval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_options_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("heartbeat_client", tests, NULL, NULL);
}

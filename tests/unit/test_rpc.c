/*
 * test_rpc.c - RPC server and client in one process over loopback: round trips,
 * payloads in both directions, replies out of order, errors with messages, deadlines,
 * cancellation, the in-flight limit, reconnecting after a server restart, and a
 * graceful stop that finishes requests in flight.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/system_service.h"

struct fixture {
    struct rpc_server *server;
    struct system_service *system;
    struct rpc_client *client;
    char address[ADDRESS_TEXT_MAX];
};

static void start_server(struct fixture *fixture, const char *listen, uint32_t max_in_flight)
{
    struct rpc_server_options options;
    rpc_server_default_options(&options);
    options.name = "test";
    options.listen_address = listen;
    options.worker_threads = 8;
    options.max_in_flight = max_in_flight;
    options.max_payload_length = 8u << 20;
    assert_int_equal(rpc_server_create(&options, &fixture->server), 0);
    assert_int_equal(system_service_create("test", true, &fixture->system), 0);
    assert_int_equal(rpc_server_register(fixture->server, system_service_descriptor(fixture->system)), 0);
    assert_int_equal(rpc_server_register(fixture->server, system_service_descriptor(fixture->system)),
                     CHAINFS_EXISTS);
    assert_int_equal(rpc_server_start(fixture->server), 0);
    rpc_server_bound_address(fixture->server, fixture->address);
}

static void stop_server(struct fixture *fixture)
{
    rpc_server_destroy(fixture->server);
    system_service_destroy(fixture->system);
    fixture->server = NULL;
    fixture->system = NULL;
}

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    start_server(fixture, "127.0.0.1:0", 1024);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    options.default_timeout_ns = 10 * CLOCK_NS_PER_S;
    assert_int_equal(rpc_client_create(&options, &fixture->client), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    rpc_client_destroy(fixture->client);
    if (fixture->server)
        stop_server(fixture);
    free(fixture);
    return 0;
}

static void health_answers(void **state)
{
    struct fixture *fixture = *state;
    struct system_health health;
    assert_int_equal(system_health_query(fixture->client, fixture->address, CLOCK_NS_PER_S, &health), 0);
    assert_string_equal(health.component, "test");
    assert_int_equal(health.pid, (uint32_t)getpid());
}

static void echo_returns_message_and_payload(void **state)
{
    struct fixture *fixture = *state;
    size_t sizes[] = {0, 1, 4095, 4096, 65537, 3u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *payload = malloc(sizes[i] + 1);
        for (size_t k = 0; k < sizes[i]; k++)
            payload[k] = (uint8_t)(k * 7 + i);
        uint8_t *received = malloc(sizes[i] + 1);
        struct rpc_call call;
        rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_ECHO);
        call.message = "message";
        call.message_length = 7;
        call.payload = payload;
        call.payload_length = sizes[i];
        call.payload_crc = i % 2 == 0;
        call.reply_payload_buffer = received;
        call.reply_payload_capacity = sizes[i];
        assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), 0);
        assert_int_equal(call.reply_message_length, 7);
        assert_memory_equal(call.reply_message, "message", 7);
        assert_int_equal(call.reply_payload_length, sizes[i]);
        if (sizes[i]) {
            assert_ptr_equal(call.reply_payload, received); /* straight into our buffer */
            assert_memory_equal(received, payload, sizes[i]);
        }
        rpc_call_release(&call);
        free(payload);
        free(received);
    }
}

static void source_payload_is_allocated_when_no_buffer_given(void **state)
{
    struct fixture *fixture = *state;
    struct wire_writer request;
    wire_writer_init(&request);
    wire_put_u32(&request, 100000);
    struct rpc_call call;
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_SOURCE);
    call.message = request.data;
    call.message_length = request.length;
    assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), 0);
    assert_int_equal(call.reply_payload_length, 100000);
    const uint8_t *bytes = call.reply_payload;
    for (size_t i = 0; i < 100000; i++)
        assert_int_equal(bytes[i], system_source_byte(i));
    rpc_call_release(&call);

    /* A buffer too small for the reply: a clear error, nothing written past it. */
    uint8_t small[16 + 8];
    memset(small, 0xee, sizeof(small));
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_SOURCE);
    call.message = request.data;
    call.message_length = request.length;
    call.reply_payload_buffer = small;
    call.reply_payload_capacity = 16;
    assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), CHAINFS_TOO_LARGE);
    assert_non_null(strstr(call.error_text, "does not fit"));
    for (size_t i = 0; i < sizeof(small); i++)
        assert_int_equal(small[i], 0xee);
    rpc_call_release(&call);
    wire_writer_free(&request);
}

static void errors_carry_status_and_message(void **state)
{
    struct fixture *fixture = *state;
    struct rpc_call call;
    rpc_call_init(&call, 99, 1);
    assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), CHAINFS_UNKNOWN_SERVICE);
    assert_string_equal(call.error_text, "unknown service 99");
    rpc_call_release(&call);
    rpc_call_init(&call, SYSTEM_SERVICE_ID, 77);
    assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), CHAINFS_UNKNOWN_METHOD);
    assert_string_equal(call.error_text, "unknown method 77 of service system");
    rpc_call_release(&call);
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_SOURCE);
    call.message = "xy";
    call.message_length = 2;
    assert_int_equal(rpc_call_sync(fixture->client, fixture->address, &call), CHAINFS_MALFORMED);
    rpc_call_release(&call);
    /* The connection survived all of it. */
    struct system_health health;
    assert_int_equal(system_health_query(fixture->client, fixture->address, CLOCK_NS_PER_S, &health), 0);
    /* Nobody listening. */
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    assert_int_equal(rpc_call_sync(fixture->client, "127.0.0.1:1", &call), CHAINFS_CONNECT_FAILED);
    assert_int_equal(rpc_call_sync(fixture->client, "no-port", &call), CHAINFS_INVALID_ARGUMENT);
}

struct sleeper {
    struct rpc_call call;
    uint8_t message[4];
    int order;
};

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t order_signal = PTHREAD_COND_INITIALIZER;
static int completions;

static void note_completion(struct rpc_call *call)
{
    struct sleeper *sleeper = call->user_data;
    pthread_mutex_lock(&order_lock);
    sleeper->order = completions++;
    pthread_cond_broadcast(&order_signal);
    pthread_mutex_unlock(&order_lock);
}

static void wait_completions(int count)
{
    pthread_mutex_lock(&order_lock);
    while (completions < count)
        pthread_cond_wait(&order_signal, &order_lock);
    pthread_mutex_unlock(&order_lock);
}

static void start_sleep(struct fixture *fixture, struct sleeper *sleeper, uint32_t milliseconds,
                        uint64_t timeout_ns)
{
    wire_store_u32(sleeper->message, milliseconds);
    rpc_call_init(&sleeper->call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_SLEEP);
    sleeper->call.message = sleeper->message;
    sleeper->call.message_length = 4;
    sleeper->call.timeout_ns = timeout_ns;
    sleeper->call.on_complete = note_completion;
    sleeper->call.user_data = sleeper;
    assert_int_equal(rpc_call_start(fixture->client, fixture->address, &sleeper->call), 0);
}

static void replies_come_back_out_of_order(void **state)
{
    struct fixture *fixture = *state;
    completions = 0;
    struct sleeper sleepers[4];
    uint32_t delays[4] = {400, 300, 200, 100};
    for (int i = 0; i < 4; i++)
        start_sleep(fixture, &sleepers[i], delays[i], 0);
    wait_completions(4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sleepers[i].call.status, 0);
        assert_int_equal(sleepers[i].order, 3 - i); /* the shortest sleep answered first */
        rpc_call_release(&sleepers[i].call);
    }
}

static void deadline_and_cancel_end_calls(void **state)
{
    struct fixture *fixture = *state;
    completions = 0;
    struct sleeper slow, cancelled;
    uint64_t started = clock_now_ns();
    start_sleep(fixture, &slow, 1500, 100 * CLOCK_NS_PER_MS);
    start_sleep(fixture, &cancelled, 1500, 0);
    rpc_call_cancel(&cancelled.call);
    wait_completions(2);
    uint64_t elapsed = clock_now_ns() - started;
    assert_int_equal(slow.call.status, CHAINFS_TIMEOUT);
    assert_int_equal(cancelled.call.status, CHAINFS_CANCELLED);
    assert_true(elapsed < 1000 * CLOCK_NS_PER_MS);
    rpc_call_release(&slow.call);
    rpc_call_release(&cancelled.call);
    /* Late replies are dropped; the connection keeps working. */
    clock_sleep_ns(1600 * CLOCK_NS_PER_MS);
    struct system_health health;
    assert_int_equal(system_health_query(fixture->client, fixture->address, CLOCK_NS_PER_S, &health), 0);
}

static void in_flight_limit_bounds_concurrency(void **state)
{
    struct fixture *fixture = *state;
    stop_server(fixture);
    start_server(fixture, "127.0.0.1:0", 2);
    completions = 0;
    struct sleeper sleepers[6];
    uint64_t started = clock_now_ns();
    for (int i = 0; i < 6; i++)
        start_sleep(fixture, &sleepers[i], 300, 0);
    wait_completions(6);
    uint64_t elapsed = clock_now_ns() - started;
    int ok = 0, busy = 0;
    for (int i = 0; i < 6; i++) {
        if (sleepers[i].call.status == 0)
            ok++;
        else if (sleepers[i].call.status == CHAINFS_BUSY)
            busy++;
        rpc_call_release(&sleepers[i].call);
    }
    /* The server stops reading at the limit (back-pressure) and answers what it had
     * already read beyond it with BUSY: never more than 2 sleep at once. */
    assert_int_equal(ok + busy, 6);
    assert_true(ok >= 2);
    assert_true(elapsed >= (uint64_t)((ok + 1) / 2) * 300 * CLOCK_NS_PER_MS);
}

static void client_reconnects_after_server_restart(void **state)
{
    struct fixture *fixture = *state;
    struct system_health health;
    assert_int_equal(system_health_query(fixture->client, fixture->address, CLOCK_NS_PER_S, &health), 0);
    char address[ADDRESS_TEXT_MAX];
    snprintf(address, sizeof(address), "%s", fixture->address);
    stop_server(fixture);
    int status = system_health_query(fixture->client, address, CLOCK_NS_PER_S, &health);
    assert_true(status == CHAINFS_DISCONNECTED || status == CHAINFS_CONNECT_FAILED);
    start_server(fixture, address, 1024); /* same port */
    struct rpc_call call;
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    assert_int_equal(rpc_call_sync_retry(fixture->client, address, &call, 5), 0);
    rpc_call_release(&call);
}

struct stop_argument {
    struct fixture *fixture;
};

static void *stop_in_background(void *argument)
{
    struct fixture *fixture = argument;
    clock_sleep_ns(50 * CLOCK_NS_PER_MS);
    rpc_server_stop(fixture->server, 5 * CLOCK_NS_PER_S);
    return NULL;
}

static void graceful_stop_finishes_requests_in_flight(void **state)
{
    struct fixture *fixture = *state;
    completions = 0;
    struct sleeper sleeper;
    start_sleep(fixture, &sleeper, 300, 0);
    pthread_t stopper;
    pthread_create(&stopper, NULL, stop_in_background, fixture);
    wait_completions(1);
    pthread_join(stopper, NULL);
    assert_int_equal(sleeper.call.status, 0);
    rpc_call_release(&sleeper.call);
    /* After the stop nothing answers. */
    struct system_health health;
    assert_int_not_equal(system_health_query(fixture->client, fixture->address,
                                             200 * CLOCK_NS_PER_MS, &health), 0);
}

struct hammer_argument {
    struct fixture *fixture;
    int thread;
    int failures;
};

static void *hammer(void *argument)
{
    struct hammer_argument *hammer_argument = argument;
    for (int i = 0; i < 300; i++) {
        char message[32];
        int length = snprintf(message, sizeof(message), "t%d-%d", hammer_argument->thread, i);
        struct rpc_call call;
        rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_ECHO);
        call.message = message;
        call.message_length = (size_t)length;
        if (rpc_call_sync(hammer_argument->fixture->client, hammer_argument->fixture->address, &call) != 0 ||
            call.reply_message_length != (size_t)length ||
            memcmp(call.reply_message, message, (size_t)length) != 0)
            hammer_argument->failures++;
        rpc_call_release(&call);
    }
    return NULL;
}

static void many_threads_share_one_connection(void **state)
{
    struct fixture *fixture = *state;
    pthread_t threads[8];
    struct hammer_argument arguments[8];
    for (int i = 0; i < 8; i++) {
        arguments[i] = (struct hammer_argument){fixture, i, 0};
        pthread_create(&threads[i], NULL, hammer, &arguments[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(arguments[i].failures, 0);
    }
}

/* Regression: the timeout scan looked at the first 64 sessions of a loop only, so calls
 * to the 65th peer and beyond never timed out. */
static void calls_to_many_silent_peers_all_time_out(void **state)
{
    struct fixture *fixture = *state;
    enum { PEERS = 80 };
    int listeners[PEERS];
    struct sleeper calls[PEERS];
    completions = 0;
    for (int i = 0; i < PEERS; i++) {
        /* a socket that accepts connections (backlog) but never answers */
        listeners[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t length = sizeof(address);
        assert_int_equal(bind(listeners[i], (struct sockaddr *)&address, sizeof(address)), 0);
        assert_int_equal(listen(listeners[i], 4), 0);
        getsockname(listeners[i], (struct sockaddr *)&address, &length);
        char text[ADDRESS_TEXT_MAX];
        snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(address.sin_port));
        rpc_call_init(&calls[i].call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
        calls[i].call.timeout_ns = 100 * CLOCK_NS_PER_MS;
        calls[i].call.on_complete = note_completion;
        calls[i].call.user_data = &calls[i];
        assert_int_equal(rpc_call_start(fixture->client, text, &calls[i].call), 0);
    }
    uint64_t deadline = deadline_after_ns(3 * CLOCK_NS_PER_S);
    pthread_mutex_lock(&order_lock);
    while (completions < PEERS && !deadline_expired(deadline)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&order_signal, &order_lock, &until);
    }
    int done = completions;
    pthread_mutex_unlock(&order_lock);
    assert_int_equal(done, PEERS);
    for (int i = 0; i < PEERS; i++) {
        assert_int_equal(calls[i].call.status, CHAINFS_TIMEOUT);
        rpc_call_release(&calls[i].call);
        close(listeners[i]);
    }
}

/* A stopping service ends its calls in flight at once instead of waiting out their
 * timeouts against silent peers, and starts no new ones. */
static void shutdown_ends_calls_in_flight_at_once(void **state)
{
    struct fixture *fixture = *state;
    completions = 0;
    int listener = socket(AF_INET, SOCK_STREAM, 0); /* accepts (backlog), never answers */
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(address);
    assert_int_equal(bind(listener, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(listener, 4), 0);
    getsockname(listener, (struct sockaddr *)&address, &length);
    char silent[ADDRESS_TEXT_MAX];
    snprintf(silent, sizeof(silent), "127.0.0.1:%u", ntohs(address.sin_port));
    struct sleeper to_silent, to_server;
    rpc_call_init(&to_silent.call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    to_silent.call.timeout_ns = 20 * CLOCK_NS_PER_S;
    to_silent.call.on_complete = note_completion;
    to_silent.call.user_data = &to_silent;
    assert_int_equal(rpc_call_start(fixture->client, silent, &to_silent.call), 0);
    start_sleep(fixture, &to_server, 5000, 20 * CLOCK_NS_PER_S);
    uint64_t started = clock_now_ns();
    rpc_client_shutdown(fixture->client);
    wait_completions(2);
    assert_true(clock_now_ns() - started < CLOCK_NS_PER_S);
    assert_int_equal(to_silent.call.status, CHAINFS_SHUTTING_DOWN);
    assert_int_equal(to_server.call.status, CHAINFS_SHUTTING_DOWN);
    rpc_call_release(&to_silent.call);
    rpc_call_release(&to_server.call);
    struct rpc_call refused;
    rpc_call_init(&refused, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    refused.on_complete = note_completion;
    assert_int_equal(rpc_call_start(fixture->client, fixture->address, &refused),
                     CHAINFS_SHUTTING_DOWN);
    close(listener);
}

/* A listener whose accept queue is full: the kernel drops further SYNs, so a connect
 * to it hangs like one to a host cut off by a partition. */
static int unreachable_listener(char text[ADDRESS_TEXT_MAX], int fillers[2])
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(address);
    assert_int_equal(bind(listener, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(listener, 0), 0);
    getsockname(listener, (struct sockaddr *)&address, &length);
    for (int i = 0; i < 2; i++) { /* backlog 0 still queues one; fill it */
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&address, sizeof(address));
    }
    usleep(50 * 1000);
    snprintf(text, ADDRESS_TEXT_MAX, "127.0.0.1:%u", ntohs(address.sin_port));
    return listener;
}

struct connector {
    struct rpc_client *client;
    const char *address;
    uint64_t timeout_ns;
    int status;
};

static void *connect_once(void *argument)
{
    struct connector *connector = argument;
    struct rpc_call call;
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    call.timeout_ns = connector->timeout_ns;
    connector->status = rpc_call_sync(connector->client, connector->address, &call);
    rpc_call_release(&call);
    return NULL;
}

/* Regression: a connect to an unreachable peer waited the client's whole connect
 * timeout even for a call with a shorter deadline, and callers queued on the peer's
 * channel each waited a full timeout in turn. */
static void connects_to_unreachable_peers_are_bounded(void **state)
{
    (void)state;
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    options.connect_timeout_ns = 300 * CLOCK_NS_PER_MS;
    struct rpc_client *client;
    assert_int_equal(rpc_client_create(&options, &client), 0);
    char address[ADDRESS_TEXT_MAX];
    int fillers[2];
    int listener = unreachable_listener(address, fillers);

    /* A 50 ms call gives up after 50 ms, not after the 300 ms connect timeout. */
    uint64_t start = clock_now_ns();
    struct connector single = {client, address, 50 * CLOCK_NS_PER_MS, 0};
    connect_once(&single);
    assert_int_equal(single.status, CHAINFS_CONNECT_FAILED);
    assert_true(clock_now_ns() - start < 250 * CLOCK_NS_PER_MS);

    /* Eight callers at once share one attempt instead of 8 x 300 ms in a row. */
    enum { CALLERS = 8 };
    pthread_t threads[CALLERS];
    struct connector connectors[CALLERS];
    start = clock_now_ns();
    for (int i = 0; i < CALLERS; i++) {
        connectors[i] = (struct connector){client, address, 5 * CLOCK_NS_PER_S, 0};
        pthread_create(&threads[i], NULL, connect_once, &connectors[i]);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(connectors[i].status, CHAINFS_CONNECT_FAILED);
    }
    uint64_t elapsed = clock_now_ns() - start;
    assert_true(elapsed < 1200 * CLOCK_NS_PER_MS); /* one or two attempts, not eight */
    rpc_client_destroy(client);
    close(fillers[0]);
    close(fillers[1]);
    close(listener);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(health_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(echo_returns_message_and_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(source_payload_is_allocated_when_no_buffer_given, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_carry_status_and_message, setup, teardown),
        cmocka_unit_test_setup_teardown(replies_come_back_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_and_cancel_end_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(in_flight_limit_bounds_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(client_reconnects_after_server_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(graceful_stop_finishes_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(many_threads_share_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_to_many_silent_peers_all_time_out, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_ends_calls_in_flight_at_once, setup, teardown),
        cmocka_unit_test(connects_to_unreachable_peers_are_bounded),
    };
    return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}

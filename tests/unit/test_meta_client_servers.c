/*
 * test_meta_client_servers.c - which meta server the meta client calls, against
 * three fake meta servers in this process (RPC servers answering STAT with an inode
 * whose id names the server): the calls of every thread of one client go to one
 * server (so that one meta process's group commit can join a create with the close
 * of the previous file); when that server fails, every thread moves on to the same
 * next one and stays there; different clients start at different servers.
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
#include "client/meta_client.h"
#include "common/log.h"
#include "meta/meta_protocol.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

#define SERVERS 3
#define THREADS 8
#define CALLS_PER_THREAD 40

struct fake_meta {
    struct rpc_server *server;
    struct rpc_service service;
    char address[ADDRESS_TEXT_MAX];
    uint64_t id; /* answered as the inode id */
    atomic_int calls;
};

static void fake_stat(struct rpc_request *request)
{
    struct fake_meta *fake = request->service_context;
    atomic_fetch_add(&fake->calls, 1);
    struct inode inode;
    memset(&inode, 0, sizeof(inode));
    inode.id = fake->id;
    inode.type = INODE_FILE;
    inode.mode = 0644;
    inode.nlink = 1;
    meta_reply_encode_inode(&request->reply, &inode);
    rpc_request_reply(request, 0);
}

static const struct rpc_method fake_methods[] = {
    {META_METHOD_STAT, "stat", fake_stat, RPC_DISPATCH_WORKER},
};

static void fake_start(struct fake_meta *fake, uint64_t id)
{
    struct rpc_server_options options;
    rpc_server_default_options(&options);
    options.name = "fake-meta";
    options.listen_address = "127.0.0.1:0";
    options.io_threads = 1;
    options.worker_threads = 2;
    fake->id = id;
    fake->service = (struct rpc_service){.id = META_SERVICE_ID, .name = "meta",
                                         .methods = fake_methods, .method_count = 1,
                                         .context = fake};
    assert_int_equal(rpc_server_create(&options, &fake->server), 0);
    assert_int_equal(rpc_server_register(fake->server, &fake->service), 0);
    assert_int_equal(rpc_server_start(fake->server), 0);
    rpc_server_bound_address(fake->server, fake->address);
}

struct fixture {
    struct rpc_client *rpc;
    struct fake_meta fakes[SERVERS];
    char servers[SERVERS * ADDRESS_TEXT_MAX];
    struct meta_client *client;
};

static struct meta_client *new_client(struct fixture *fixture)
{
    struct meta_client_options options = {.rpc = fixture->rpc, .servers = fixture->servers,
                                          .timeout_ns = 2000000000ULL};
    struct meta_client *client;
    assert_int_equal(meta_client_create(&options, &client), 0);
    return client;
}

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_OFF);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    assert_int_equal(rpc_client_create(&rpc_options, &fixture->rpc), 0);
    size_t used = 0;
    for (int i = 0; i < SERVERS; i++) {
        fake_start(&fixture->fakes[i], 100 + (uint64_t)i);
        used += (size_t)snprintf(fixture->servers + used, sizeof(fixture->servers) - used, "%s%s",
                                 i ? "," : "", fixture->fakes[i].address);
    }
    fixture->client = new_client(fixture);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    meta_client_destroy(fixture->client);
    rpc_client_destroy(fixture->rpc);
    for (int i = 0; i < SERVERS; i++)
        rpc_server_destroy(fixture->fakes[i].server);
    free(fixture);
    return 0;
}

/* Index of the fake that answered one STAT of client. */
static int answering_server(struct meta_client *client)
{
    struct meta_credentials credentials = {0};
    struct inode inode;
    assert_int_equal(meta_client_stat(client, &credentials, 1, &inode), 0);
    assert_true(inode.id >= 100 && inode.id < 100 + SERVERS);
    return (int)(inode.id - 100);
}

static void *call_many(void *argument)
{
    struct meta_client *client = argument;
    for (int i = 0; i < CALLS_PER_THREAD; i++)
        answering_server(client);
    return NULL;
}

/* THREADS threads calling at once, each a thread the client has not seen before. */
static void run_threads(struct meta_client *client)
{
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, call_many, client), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
}

/* Runs the threads and checks that every one of their calls reached server only. */
static void assert_threads_call_only(struct fixture *fixture, int server)
{
    for (int i = 0; i < SERVERS; i++)
        atomic_store(&fixture->fakes[i].calls, 0);
    run_threads(fixture->client);
    for (int i = 0; i < SERVERS; i++)
        assert_int_equal(atomic_load(&fixture->fakes[i].calls),
                         i == server ? THREADS * CALLS_PER_THREAD : 0);
}

static void every_thread_calls_the_same_server(void **state)
{
    struct fixture *fixture = *state;
    int chosen = answering_server(fixture->client);
    assert_threads_call_only(fixture, chosen);
}

static void after_a_failure_every_thread_stays_on_the_next_server(void **state)
{
    struct fixture *fixture = *state;
    int failed = answering_server(fixture->client);
    rpc_server_destroy(fixture->fakes[failed].server);
    fixture->fakes[failed].server = NULL;
    int next = answering_server(fixture->client); /* fails over */
    assert_int_equal(next, (failed + 1) % SERVERS);
    assert_threads_call_only(fixture, next);
}

static void clients_start_at_different_servers(void **state)
{
    struct fixture *fixture = *state;
    bool seen[SERVERS] = {false};
    int distinct = 0;
    for (int i = 0; i < 60 && distinct < 2; i++) {
        struct meta_client *client = new_client(fixture);
        int server = answering_server(client);
        distinct += !seen[server];
        seen[server] = true;
        meta_client_destroy(client);
    }
    assert_int_equal(distinct, 2); /* 60 clients all on one of 3 servers: 3^-59 by chance */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_thread_calls_the_same_server, setup, teardown),
        cmocka_unit_test_setup_teardown(after_a_failure_every_thread_stays_on_the_next_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(clients_start_at_different_servers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

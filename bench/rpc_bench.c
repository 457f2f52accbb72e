/*
 * rpc_bench.c - `chainfs bench rpc`.
 *
 * The server is a separate `chainfs node` process on 127.0.0.1 (as in a cluster), the
 * client this process with one event-loop thread. Figures:
 *   small_rate_depth{1,16,64}, small_p50/p99_depth{1,16,64}: 16-byte echo calls,
 *     beside a raw TCP ping-pong of 64-byte messages at the same depth (no framing,
 *     no multiplexing: what the loopback stack itself allows);
 *   bulk_write_1MiB, bulk_read_1MiB: 1 MiB payloads one way (sink / source, 4 in
 *     flight; reads land straight in the caller's buffers), beside iperf3 single
 *     stream on loopback.
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/machine_limits.h"
#include "bench/rpc_bench.h"
#include "bench/statistics.h"
#include "chainfs/error.h"
#include "common/bench_report.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "daemon/run_dir.h"
#include "net/rpc_client.h"
#include "net/system_service.h"

#define BULK_SIZE (1u << 20)
#define BULK_DEPTH 4
#define MAX_DEPTH 64

enum drive_mode { DRIVE_ECHO, DRIVE_SINK, DRIVE_SOURCE };

struct driver {
    struct rpc_client *client;
    const char *address;
    enum drive_mode mode;
    uint64_t end;
    uint64_t completed;
    int failures;
    int outstanding;
    pthread_mutex_t lock;
    pthread_cond_t finished;
    struct sample_set samples; /* microseconds; touched only on the client's one loop */
    const uint8_t *message;
    size_t message_length;
    const uint8_t *payload;
};

struct slot {
    struct rpc_call call;
    struct driver *driver;
    uint64_t started;
    uint8_t *reply_buffer;
};

static void slot_complete(struct rpc_call *call);

static int slot_start(struct slot *slot)
{
    struct driver *driver = slot->driver;
    static const uint16_t methods[] = {SYSTEM_METHOD_ECHO, SYSTEM_METHOD_SINK, SYSTEM_METHOD_SOURCE};
    rpc_call_init(&slot->call, SYSTEM_SERVICE_ID, methods[driver->mode]);
    slot->call.message = driver->message;
    slot->call.message_length = driver->message_length;
    if (driver->mode == DRIVE_SINK) {
        slot->call.payload = driver->payload;
        slot->call.payload_length = BULK_SIZE;
    }
    slot->call.reply_payload_buffer = slot->reply_buffer;
    slot->call.reply_payload_capacity = slot->reply_buffer ? BULK_SIZE : 0;
    slot->call.on_complete = slot_complete;
    slot->call.user_data = slot;
    slot->started = clock_now_ns();
    return rpc_call_start(driver->client, driver->address, &slot->call);
}

static void driver_finish_one(struct driver *driver)
{
    pthread_mutex_lock(&driver->lock);
    if (--driver->outstanding == 0)
        pthread_cond_signal(&driver->finished);
    pthread_mutex_unlock(&driver->lock);
}

static void slot_complete(struct rpc_call *call)
{
    struct slot *slot = call->user_data;
    struct driver *driver = slot->driver;
    uint64_t now = clock_now_ns();
    if (call->status == 0) {
        driver->completed++;
        sample_set_add(&driver->samples, (double)(now - slot->started) / 1000.0);
    } else {
        driver->failures++;
    }
    rpc_call_release(call);
    if (call->status != 0 || now >= driver->end || slot_start(slot) != 0)
        driver_finish_one(driver);
}

/* Keeps `depth` calls in flight for `seconds`; returns completed calls per second. */
static double drive(struct driver *driver, unsigned depth, double seconds)
{
    struct slot slots[MAX_DEPTH];
    memset(slots, 0, sizeof(slots));
    pthread_mutex_init(&driver->lock, NULL);
    pthread_cond_init(&driver->finished, NULL);
    sample_set_init(&driver->samples, 4 << 20);
    driver->completed = 0;
    driver->failures = 0;
    driver->outstanding = (int)depth;
    uint64_t start = clock_now_ns();
    driver->end = start + (uint64_t)(seconds * CLOCK_NS_PER_S);
    for (unsigned i = 0; i < depth; i++) {
        slots[i].driver = driver;
        if (driver->mode == DRIVE_SOURCE)
            slots[i].reply_buffer = malloc(BULK_SIZE);
        if (slot_start(&slots[i]) != 0)
            driver_finish_one(driver);
    }
    pthread_mutex_lock(&driver->lock);
    while (driver->outstanding > 0)
        pthread_cond_wait(&driver->finished, &driver->lock);
    pthread_mutex_unlock(&driver->lock);
    double elapsed = (double)(clock_now_ns() - start) / CLOCK_NS_PER_S;
    for (unsigned i = 0; i < depth; i++)
        free(slots[i].reply_buffer);
    pthread_cond_destroy(&driver->finished);
    pthread_mutex_destroy(&driver->lock);
    if (driver->failures)
        fprintf(stderr, "bench rpc: %d calls failed\n", driver->failures);
    return (double)driver->completed / elapsed;
}

struct server_process {
    pid_t pid;
    char dir[64];
    char address[ADDRESS_TEXT_MAX * 2];
};

static int start_server(struct rpc_client *client, struct server_process *server)
{
    snprintf(server->dir, sizeof(server->dir), "/tmp/chainfs-bench-XXXXXX");
    if (!mkdtemp(server->dir))
        return CHAINFS_IO;
    char run_setting[128];
    snprintf(run_setting, sizeof(run_setting), "daemon.run_dir=%s", server->dir);
    server->pid = fork();
    if (server->pid == 0) {
        execl("/proc/self/exe", "chainfs", "node", "--set", run_setting, "--set",
              "daemon.name=bench-server", "--set", "log.level=warn", (char *)NULL);
        _exit(127);
    }
    uint64_t deadline = deadline_after_ns(10 * CLOCK_NS_PER_S);
    struct system_health health;
    while (!deadline_expired(deadline)) {
        if (run_dir_read_address(server->dir, "bench-server", server->address,
                                 sizeof(server->address)) == 0 &&
            system_health_query(client, server->address, CLOCK_NS_PER_S, &health) == 0)
            return 0;
        clock_sleep_ns(20 * CLOCK_NS_PER_MS);
    }
    return CHAINFS_TIMEOUT;
}

static void stop_server(struct server_process *server)
{
    if (server->pid > 0) {
        kill(server->pid, SIGTERM);
        waitpid(server->pid, NULL, 0);
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/bench-server.pid", server->dir);
    unlink(path);
    rmdir(server->dir);
}

static void report(const char *figure, double value, const char *unit, const char *limit,
                   double limit_value, bool json)
{
    struct bench_figure line = {"rpc", figure, value, unit, limit, limit_value};
    bench_report_figure(&line, json);
}

/* Small echo calls at one depth, beside raw TCP at the same depth. */
static void measure_small(struct driver *driver, unsigned depth, double seconds, bool json)
{
    struct tcp_pingpong_result raw = {0};
    limit_tcp_pingpong(depth, seconds, &raw);
    driver->mode = DRIVE_ECHO;
    double rate = drive(driver, depth, seconds);
    double p50 = sample_set_percentile(&driver->samples, 50);
    double p99 = sample_set_percentile(&driver->samples, 99);
    sample_set_free(&driver->samples);
    char figure[64], limit[64];
    snprintf(figure, sizeof(figure), "small_rate_depth%u", depth);
    snprintf(limit, sizeof(limit), "raw_tcp_pingpong_depth%u", depth);
    report(figure, rate, "ops/s", limit, raw.round_trips_per_second, json);
    snprintf(figure, sizeof(figure), "small_p50_depth%u", depth);
    snprintf(limit, sizeof(limit), "raw_tcp_batch_p50_depth%u", depth);
    report(figure, p50, "us", limit, raw.median_round_trip_us, json);
    snprintf(figure, sizeof(figure), "small_p99_depth%u", depth);
    report(figure, p99, "us", NULL, 0, json);
}

static void measure_bulk(struct driver *driver, double seconds, double iperf_mib_s, bool json)
{
    uint8_t *payload = malloc(BULK_SIZE);
    for (size_t i = 0; i < BULK_SIZE; i++)
        payload[i] = (uint8_t)i;
    driver->payload = payload;
    driver->mode = DRIVE_SINK;
    driver->message_length = 0;
    double writes = drive(driver, BULK_DEPTH, seconds);
    sample_set_free(&driver->samples);
    report("bulk_write_1MiB", writes * BULK_SIZE / (1 << 20), "MiB/s", "iperf3_loopback_1stream",
           iperf_mib_s, json);

    struct wire_writer request;
    wire_writer_init(&request);
    wire_put_u32(&request, BULK_SIZE);
    driver->mode = DRIVE_SOURCE;
    driver->message = request.data;
    driver->message_length = request.length;
    double reads = drive(driver, BULK_DEPTH, seconds);
    sample_set_free(&driver->samples);
    report("bulk_read_1MiB", reads * BULK_SIZE / (1 << 20), "MiB/s", "iperf3_loopback_1stream",
           iperf_mib_s, json);
    wire_writer_free(&request);
    free(payload);
}

int rpc_bench_main(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"seconds", required_argument, NULL, 's'},
                                            {"server", required_argument, NULL, 'a'},
                                            {"only", required_argument, NULL, 'o'},
                                            {NULL, 0, NULL, 0}};
    bool json = false;
    double seconds = 3;
    const char *external = NULL;
    const char *only = "all";
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'j')
            json = true;
        else if (option == 's')
            seconds = atof(optarg);
        else if (option == 'a')
            external = optarg;
        else if (option == 'o' && (!strcmp(optarg, "small") || !strcmp(optarg, "bulk")))
            only = optarg;
        else {
            fprintf(stderr, "usage: chainfs bench rpc [--json] [--seconds N] [--server HOST:PORT]"
                            " [--only small|bulk]\n");
            return 2;
        }
    }
    if (seconds <= 0 || seconds > 600) {
        fprintf(stderr, "bench rpc: --seconds must be in (0, 600]\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    struct rpc_client_options client_options;
    rpc_client_default_options(&client_options);
    struct rpc_client *client;
    if (rpc_client_create(&client_options, &client) != 0)
        return 1;
    struct server_process server = {0};
    if (external) {
        snprintf(server.address, sizeof(server.address), "%s", external);
    } else if (start_server(client, &server) != 0) {
        fprintf(stderr, "bench rpc: the node server did not start\n");
        stop_server(&server);
        rpc_client_destroy(client);
        return 1;
    }
    static const uint8_t small_message[16] = "chainfs-echo-16b";
    struct driver driver = {.client = client, .address = server.address,
                            .message = small_message, .message_length = sizeof(small_message)};
    static const unsigned depths[] = {1, 16, 64};
    for (size_t i = 0; strcmp(only, "bulk") != 0 && i < 3; i++)
        measure_small(&driver, depths[i], seconds, json);
    if (strcmp(only, "small") != 0) {
        double iperf = limit_iperf3_loopback_mib_s((unsigned)(seconds + 0.999));
        if (iperf == 0)
            fprintf(stderr, "bench rpc: iperf3 gave no figure (is it installed?)\n");
        measure_bulk(&driver, seconds, iperf, json);
    }
    rpc_client_destroy(client);
    if (!external)
        stop_server(&server);
    return 0;
}

/*
 * ping.c - `chainfs ping HOST:PORT`: health of any chainfs process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/rpc_client.h"
#include "net/system_service.h"

int command_ping(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: chainfs ping HOST:PORT\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct rpc_client *client;
    if (rpc_client_create(&options, &client) != 0)
        return 1;
    struct system_health health;
    uint64_t started = clock_now_ns();
    int status = system_health_query(client, argv[1], 3 * CLOCK_NS_PER_S, &health);
    uint64_t elapsed_us = (clock_now_ns() - started) / 1000;
    rpc_client_destroy(client);
    if (status != 0) {
        fprintf(stderr, "chainfs ping %s: %s\n", argv[1], chainfs_error_message(status));
        return 1;
    }
    printf("%s: %s %s, pid %u, up %llu ms, answered in %llu us\n", argv[1], health.component,
           health.version, health.pid, (unsigned long long)health.uptime_ms,
           (unsigned long long)elapsed_us);
    return 0;
}

/*
 * system_service.h - service 0, answered by every chainfs process.
 *
 * health and echo let operators and tests check that a process is alive and that
 * the RPC path works; sink and source move bulk payloads one way for network
 * checks and `chainfs bench rpc`; sleep (only with [rpc] debug_methods = true)
 * holds a worker thread, for tests of deadlines and shutdown.
 */
#ifndef CHAINFS_NET_SYSTEM_SERVICE_H
#define CHAINFS_NET_SYSTEM_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/rpc_server.h"

struct rpc_client;

#define SYSTEM_SERVICE_ID 0

enum system_method {
    SYSTEM_METHOD_HEALTH = 1, /* -> string component, string version, u64 uptime_ms, u32 pid */
    SYSTEM_METHOD_ECHO = 2,   /* message and payload come back unchanged */
    SYSTEM_METHOD_SINK = 3,   /* payload in -> u64 bytes received */
    SYSTEM_METHOD_SOURCE = 4, /* u32 length -> a payload of that length (pattern below) */
    SYSTEM_METHOD_SLEEP = 5,  /* u32 milliseconds (<= 10000) on a worker -> empty */
};

/* Longest payload SOURCE serves. */
#define SYSTEM_SOURCE_MAX (16u << 20)

/* Byte i of every SOURCE payload, so that receivers can verify what arrived. */
static inline uint8_t system_source_byte(size_t index)
{
    return (uint8_t)(index * 131 + 7);
}

struct system_service;

/* component names the process in health replies ("mgmtd", "storage", ...). */
int system_service_create(const char *component, bool debug_methods,
                          struct system_service **service);

/* The table to pass to rpc_server_register. */
const struct rpc_service *system_service_descriptor(const struct system_service *service);

void system_service_destroy(struct system_service *service);

struct system_health {
    char component[32];
    char version[32];
    uint64_t uptime_ms;
    uint32_t pid;
};

/* Calls HEALTH at address; returns 0 or the call's status. */
int system_health_query(struct rpc_client *client, const char *address, uint64_t timeout_ns,
                        struct system_health *health);

#endif /* CHAINFS_NET_SYSTEM_SERVICE_H */

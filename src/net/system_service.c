/*
 * system_service.c - health, echo, sink, source and sleep handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "chainfs_build_config.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/wire.h"
#include "net/rpc_client.h"
#include "net/system_service.h"

#define SLEEP_MAX_MS 10000

struct system_service {
    struct rpc_service descriptor;
    char component[32];
    uint64_t started_ns;
    uint8_t *source_pattern;
};

static void handle_health(struct rpc_request *request)
{
    struct system_service *service = request->service_context;
    if (request->message_length != 0) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "health takes no arguments");
        return;
    }
    wire_put_string(&request->reply, service->component);
    wire_put_string(&request->reply, CHAINFS_VERSION);
    wire_put_u64(&request->reply, (clock_now_ns() - service->started_ns) / CLOCK_NS_PER_MS);
    wire_put_u32(&request->reply, (uint32_t)getpid());
    rpc_request_reply(request, 0);
}

static void handle_echo(struct rpc_request *request)
{
    wire_put_raw(&request->reply, request->message, request->message_length);
    /* The request frees its own payload after the reply has been written. */
    if (request->payload)
        rpc_request_set_reply_payload(request, request->payload, request->payload_length, NULL,
                                      NULL);
    rpc_request_reply(request, 0);
}

static void handle_sink(struct rpc_request *request)
{
    if (request->message_length != 0) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "sink takes only a payload");
        return;
    }
    wire_put_u64(&request->reply, request->payload_length);
    rpc_request_reply(request, 0);
}

static void handle_source(struct rpc_request *request)
{
    struct system_service *service = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    uint32_t length = wire_get_u32(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "source takes one u32 length");
        return;
    }
    if (length > SYSTEM_SOURCE_MAX) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "source length %u exceeds %u",
                         length, SYSTEM_SOURCE_MAX);
        return;
    }
    rpc_request_set_reply_payload(request, service->source_pattern, length, NULL, NULL);
    rpc_request_reply(request, 0);
}

static void handle_sleep(struct rpc_request *request)
{
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    uint32_t milliseconds = wire_get_u32(&reader);
    if (!wire_reader_done(&reader) || milliseconds > SLEEP_MAX_MS) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT,
                         "sleep takes one u32 of at most %d milliseconds", SLEEP_MAX_MS);
        return;
    }
    clock_sleep_ns(milliseconds * CLOCK_NS_PER_MS);
    rpc_request_reply(request, 0);
}

static const struct rpc_method system_methods[] = {
    {SYSTEM_METHOD_HEALTH, "health", handle_health, RPC_DISPATCH_INLINE},
    {SYSTEM_METHOD_ECHO, "echo", handle_echo, RPC_DISPATCH_INLINE},
    {SYSTEM_METHOD_SINK, "sink", handle_sink, RPC_DISPATCH_INLINE},
    {SYSTEM_METHOD_SOURCE, "source", handle_source, RPC_DISPATCH_INLINE},
    {SYSTEM_METHOD_SLEEP, "sleep", handle_sleep, RPC_DISPATCH_WORKER}, /* last: debug only */
};

int system_service_create(const char *component, bool debug_methods,
                          struct system_service **result)
{
    struct system_service *service = calloc(1, sizeof(*service));
    if (!service)
        return CHAINFS_NO_MEMORY;
    service->source_pattern = aligned_buffer_alloc(SYSTEM_SOURCE_MAX);
    if (!service->source_pattern) {
        free(service);
        return CHAINFS_NO_MEMORY;
    }
    for (size_t i = 0; i < SYSTEM_SOURCE_MAX; i++)
        service->source_pattern[i] = system_source_byte(i);
    snprintf(service->component, sizeof(service->component), "%s", component);
    service->started_ns = clock_now_ns();
    size_t method_count = sizeof(system_methods) / sizeof(system_methods[0]);
    service->descriptor = (struct rpc_service){
        .id = SYSTEM_SERVICE_ID,
        .name = "system",
        .methods = system_methods,
        .method_count = debug_methods ? method_count : method_count - 1,
        .context = service,
    };
    *result = service;
    return 0;
}

const struct rpc_service *system_service_descriptor(const struct system_service *service)
{
    return &service->descriptor;
}

void system_service_destroy(struct system_service *service)
{
    if (!service)
        return;
    aligned_buffer_free(service->source_pattern, SYSTEM_SOURCE_MAX);
    free(service);
}

int system_health_query(struct rpc_client *client, const char *address, uint64_t timeout_ns,
                        struct system_health *health)
{
    struct rpc_call call;
    rpc_call_init(&call, SYSTEM_SERVICE_ID, SYSTEM_METHOD_HEALTH);
    call.timeout_ns = timeout_ns;
    int status = rpc_call_sync(client, address, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        wire_get_string(&reader, health->component, sizeof(health->component));
        wire_get_string(&reader, health->version, sizeof(health->version));
        health->uptime_ms = wire_get_u64(&reader);
        health->pid = wire_get_u32(&reader);
        if (!wire_reader_done(&reader))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    return status;
}

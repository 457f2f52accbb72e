/*
 * client_session.c - this client's session with the cluster manager: a thread calls
 * EXTEND_CLIENT_SESSION every session_interval, so mgmtd knows the client is alive;
 * when it stops (the client died), mgmtd marks the session dead and the metadata
 * servers prune its write sessions (DESIGN §6 deletion).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "common/wire.h"
#define LOG_COMPONENT "client"
#include "common/log.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"

struct client_session {
    struct mgmtd_client mgmtd;
    char client_id[64];
    char description[64];
    uint64_t interval_ns;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

static int extend(struct client_session *session)
{
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_string(&message, session->client_id);
    wire_put_string(&message, session->description);
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_EXTEND_CLIENT_SESSION);
    call.message = message.data;
    call.message_length = message.length;
    int status = wire_writer_ok(&message) ? mgmtd_client_call_primary(&session->mgmtd, &call)
                                          : CHAINFS_NO_MEMORY;
    rpc_call_release(&call);
    wire_writer_free(&message);
    return status;
}

static void *session_main(void *argument)
{
    struct client_session *session = argument;
    pthread_mutex_lock(&session->lock);
    while (!session->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + session->interval_ns;
        until.tv_sec += (time_t)(ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        int waited = 0;
        while (!session->stopping && waited != ETIMEDOUT)
            waited = pthread_cond_timedwait(&session->wake, &session->lock, &until);
        if (session->stopping)
            break;
        pthread_mutex_unlock(&session->lock);
        int status = extend(session);
        if (status != 0)
            log_warn("extending the client session failed: %s", chainfs_error_message(status));
        pthread_mutex_lock(&session->lock);
    }
    pthread_mutex_unlock(&session->lock);
    return NULL;
}

int client_session_start(struct chainfs_client *client)
{
    struct client_session *session = calloc(1, sizeof(*session));
    if (!session)
        return CHAINFS_NO_MEMORY;
    int status = mgmtd_client_init(&session->mgmtd, client->rpc, client->options.mgmtd_addresses,
                                   client->options.call_timeout_ns);
    if (status != 0) {
        free(session);
        return status;
    }
    snprintf(session->client_id, sizeof(session->client_id), "%s", client->client_id);
    char host[32] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(session->description, sizeof(session->description), "%s pid %d", host, (int)getpid());
    session->interval_ns = client->options.session_interval_ns;
    status = extend(session); /* the first one at once: a client mgmtd cannot reach fails here */
    if (status != 0) {
        free(session);
        return status;
    }
    pthread_mutex_init(&session->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&session->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (pthread_create(&session->thread, NULL, session_main, session) != 0) {
        pthread_cond_destroy(&session->wake);
        pthread_mutex_destroy(&session->lock);
        free(session);
        return CHAINFS_NO_MEMORY;
    }
    client->session = session;
    return 0;
}

void client_session_stop(struct chainfs_client *client)
{
    struct client_session *session = client->session;
    if (!session)
        return;
    pthread_mutex_lock(&session->lock);
    session->stopping = true;
    pthread_cond_signal(&session->wake);
    pthread_mutex_unlock(&session->lock);
    pthread_join(session->thread, NULL);
    pthread_cond_destroy(&session->wake);
    pthread_mutex_destroy(&session->lock);
    free(session);
    client->session = NULL;
}

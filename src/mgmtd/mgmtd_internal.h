/*
 * mgmtd_internal.h - what the pieces of the cluster manager share (not a public API).
 *
 *   mgmtd_service.c      daemon glue, method table, the primary's background loop
 *   mgmtd_transaction.c  transaction context, fencing, refusals, record helpers
 *   mgmtd_liveness.c     when the primary last heard from nodes and clients
 *   mgmtd_heartbeat.c    HEARTBEAT, client sessions, the failure sweep
 *   mgmtd_chains.c       routing info, chains, chain tables, the chain sweep
 *   mgmtd_operations.c   GET_PRIMARY, INIT_CLUSTER, offline targets, disabled nodes,
 *                        configs
 *
 * Every state change runs in a KV transaction that starts with mgmtd_fence(), so a
 * process that lost the lease cannot commit, whatever its timers say.
 */
#ifndef CHAINFS_MGMTD_MGMTD_INTERNAL_H
#define CHAINFS_MGMTD_MGMTD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmtd/cluster_records.h"
#include "mgmtd/lease.h"
#include "mgmtd/liveness_table.h"
#include "mgmtd/mgmtd_service.h"
#include "mgmtd/routing_info.h"
#include "net/rpc_server.h"

struct kv_store;
struct kv_transaction;


struct mgmtd {
    const struct mgmtd_config *config;
    struct kv_store *store;
    pthread_mutex_t lock; /* lease, primary_since, liveness */
    struct lease lease;
    uint64_t primary_since;
    struct liveness_table liveness; /* when nodes and client sessions were last heard */
    pthread_t thread;
    bool thread_started;
    bool stopping;
    pthread_cond_t wake;
};

/* A transaction body's arguments start with this, so that it can fence and explain a
 * refusal. */
struct transaction_context {
    struct mgmtd *mgmtd;
    struct lease lease; /* copy taken when the request started */
    char error[200];
};

void mgmtd_context_init(struct transaction_context *context, struct mgmtd *mgmtd);

/* Runs a transaction body with mgmtd's retry policy: conflicts between heartbeats and
 * the sweeps are expected, so back off briefly (at most 50 ms) to keep heartbeat
 * latency far below the failure interval. */
int mgmtd_run(struct mgmtd *mgmtd, int (*body)(struct kv_transaction *transaction, void *argument),
              void *argument);
/* Records why a request is refused; returns status. */
int mgmtd_refuse(struct transaction_context *context, int status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* lease_fence() with a message for callers that reached a non-primary. */
int mgmtd_fence(struct kv_transaction *transaction, struct transaction_context *context);
/* Replies with status and, on failure, the recorded reason. */
void mgmtd_reply(struct rpc_request *request, int status, const struct transaction_context *context);

/* Record helpers: 0, CHAINFS_NOT_FOUND, CHAINFS_MALFORMED or a KV status. */
int mgmtd_read_record(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                      struct wire_reader *reader);
/* Stores writer's bytes at key and frees the writer. */
int mgmtd_write_encoded(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                        struct wire_writer *writer);
int mgmtd_read_node(struct kv_transaction *transaction, uint32_t node_id, struct node_record *node);
int mgmtd_write_node(struct kv_transaction *transaction, const struct node_record *node);
int mgmtd_read_target(struct kv_transaction *transaction, uint64_t target_id,
                      struct target_record *target);
int mgmtd_write_target(struct kv_transaction *transaction, const struct target_record *target);
int mgmtd_read_chain(struct kv_transaction *transaction, uint32_t chain_id,
                     struct chain_record *chain);
int mgmtd_write_chain(struct kv_transaction *transaction, const struct chain_record *chain);
/* Newest config of a node type: version (0 if none) and optionally its text. */
int mgmtd_latest_config(struct kv_transaction *transaction, uint8_t node_type, uint64_t *version,
                        const char **text, size_t *text_length);
/* Writes every target of node_id as locally offline. */
int mgmtd_take_node_targets_offline(struct kv_transaction *transaction,
                                    const struct routing_info *info, uint32_t node_id);

void mgmtd_note_alive(struct mgmtd *mgmtd, const char *key);
uint64_t mgmtd_last_heard(struct mgmtd *mgmtd, const char *key);
void mgmtd_node_liveness_key(char key[LIVENESS_KEY_MAX], uint32_t node_id);
void mgmtd_client_liveness_key(char key[LIVENESS_KEY_MAX], const char *client_id);

/* The primary's periodic work; each returns 0 or a status. */
int mgmtd_sweep_failures(struct mgmtd *mgmtd);
int mgmtd_sweep_chains(struct mgmtd *mgmtd);

/* RPC handlers (mgmtd_protocol.h). */
void mgmtd_handle_get_primary(struct rpc_request *request);
void mgmtd_handle_heartbeat(struct rpc_request *request);
void mgmtd_handle_get_routing_info(struct rpc_request *request);
void mgmtd_handle_set_chains(struct rpc_request *request);
void mgmtd_handle_set_chain_table(struct rpc_request *request);
void mgmtd_handle_init_cluster(struct rpc_request *request);
void mgmtd_handle_set_target_offline(struct rpc_request *request);
void mgmtd_handle_set_node_enabled(struct rpc_request *request);
void mgmtd_handle_unregister_node(struct rpc_request *request);
void mgmtd_handle_set_config(struct rpc_request *request);
void mgmtd_handle_get_config(struct rpc_request *request);
void mgmtd_handle_extend_client_session(struct rpc_request *request);
void mgmtd_handle_list_client_sessions(struct rpc_request *request);

#endif /* CHAINFS_MGMTD_MGMTD_INTERNAL_H */

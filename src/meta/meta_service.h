/*
 * meta_service.h - the metadata server daemon (`chainfs meta --config F`).
 *
 * Any number of meta servers run against one KV store ([kv]: LMDB shared by the
 * processes of one machine, or PostgreSQL); each answers every request of the meta
 * protocol (meta_protocol.h) on worker threads (KV transactions block), heartbeats to
 * mgmtd as a meta node (serving again after a lost lease once beats succeed), keeps
 * the routing info for layouts and statfs, and runs GC for its share of the queue.
 */
#ifndef CHAINFS_META_META_SERVICE_H
#define CHAINFS_META_META_SERVICE_H

#include <stdint.h>

#include "daemon/daemon.h"
#include "kv/kv_config.h"
#include "meta/storage_ops.h"

struct meta_config {
    struct daemon_config daemon; /* first: the daemon scaffolding reads it */
    struct kv_config kv;
    int64_t node_id;
    char *mgmtd;                     /* "host:port,..."; "" = standalone */
    int64_t heartbeat_interval;      /* ms */
    int64_t heartbeat_fail_interval; /* ms; mgmtd's setting */
    int64_t default_chunk_size;      /* root layout when meta formats the namespace */
    int64_t default_stripe;
    int64_t default_table_id;
    int64_t gc_interval;             /* ms between background passes */
    int64_t request_record_ttl;      /* ms an idempotency record is kept */
};

/* The `chainfs meta` daemon description for daemon_main(). */
extern const struct daemon_service meta_daemon_service;

/* How a meta server gets at the storage service: create fills ops for a server whose
 * mgmtd is at mgmtd_addresses (meta ignores ops->file_chains: it maps layouts to
 * chains itself from its routing info); destroy releases them at stop. The `chainfs
 * meta` command installs the adapter over src/client/storage_client
 * (meta_storage_adapter.h); this library does not depend on it. */
struct meta_storage_factory {
    int (*create)(const char *mgmtd_addresses, struct meta_storage_ops *ops);
    void (*destroy)(struct meta_storage_ops *ops);
};

/* Installs the factory used by every meta server this process starts afterwards
 * (NULL: none). A standalone server (no mgmtd) and a server without a factory have
 * no storage: sync of lengths answers UNSUPPORTED and removed files stay in the GC
 * queue (their chunks cannot be deleted). */
void meta_service_set_storage_factory(const struct meta_storage_factory *factory);

#endif /* CHAINFS_META_META_SERVICE_H */

/*
 * client_internal.h - what the files of the client library share: the client, the
 * table of inodes open in this client, and open files.
 *
 * Several opens of one inode share one open_inode, so that they agree on the file's
 * length: a write through one handle is visible to reads through another at once
 * (lengths reach meta only with the next report, DESIGN §6).
 */
#ifndef CHAINFS_CLIENT_CLIENT_INTERNAL_H
#define CHAINFS_CLIENT_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "chainfs/client.h"
#include "client/client_backend.h"

#define OPEN_INODE_BUCKETS 256

struct client_session;
struct rpc_client;

/* An inode with at least one chainfs_file open in this client. */
struct open_inode {
    uint64_t inode_id;
    unsigned references; /* chainfs_files (guarded by the table lock) */
    pthread_mutex_t lock; /* everything below */
    struct file_layout layout;
    uint32_t *chain_ids;       /* stripe_width entries: chunk i on chain_ids[i % width] */
    uint32_t stripe_width;     /* chains really used (the table may be shorter) */
    uint64_t length;           /* best known: meta's, or further if written here */
    uint64_t reported_length;  /* highest length meta has from us */
    uint64_t truncate_version; /* meta's, from open or our last truncate */
    unsigned writers;          /* files open for write */
    uint64_t report_session;   /* a writer's session, for periodic reports */
    struct open_inode *next;   /* bucket chain */
};

struct chainfs_file {
    struct chainfs_client *client;
    struct open_inode *inode;
    bool readable;
    bool writable;
    bool append;
    uint64_t session_id;
    struct chainfs_file *previous, *next; /* client->files (under the table lock) */
};

struct chainfs_client {
    struct chainfs_client_options options;
    _Atomic uint64_t next_session_id; /* write sessions, unique per client */
    char client_id[64];
    struct client_backend backend;

    pthread_mutex_t table_lock;
    struct open_inode *buckets[OPEN_INODE_BUCKETS];
    struct chainfs_file *files; /* every file not closed yet */

    /* periodic length reports */
    pthread_t reporter;
    bool reporter_started;
    pthread_mutex_t reporter_lock;
    pthread_cond_t reporter_wake;
    bool stopping;

    struct rpc_client *rpc;         /* cluster only: shared by every call */
    struct client_session *session; /* with mgmtd; NULL when embedded */
};

/* Credentials as the namespace takes them. */
void client_meta_credentials(const struct chainfs_credentials *credentials,
                             struct meta_credentials *meta);

/* Public attributes of an inode record. */
void client_attributes(const struct inode *inode, struct chainfs_attributes *attributes);

/* Finds or adds the open_inode of inode (its layout resolved to chains) and takes a
 * reference; or returns the status. */
int open_inode_acquire(struct chainfs_client *client, const struct inode *inode,
                       struct open_inode **open);
/* Takes meta's facts about the inode (from an open, stat or truncate) into open, whose
 * lock the caller holds. A newer truncate version replaces length; the same version
 * only grows it; an older one is a reply that raced a truncate here and is ignored
 * (taking it would move appends and length reports back to before the truncate). */
void open_inode_learn(struct open_inode *open, const struct inode *inode);
/* Drops a reference; the last one frees it. */
void open_inode_release(struct chainfs_client *client, struct open_inode *open);
/* The open_inode of inode_id with a reference taken, or NULL if not open here. */
struct open_inode *open_inode_find(struct chainfs_client *client, uint64_t inode_id);

/* A fresh write session id (never 0). */
uint64_t client_new_session_id(struct chainfs_client *client);

/* Resolves a layout to its chains (allocated, *width of them). */
int client_resolve_stripe(struct chainfs_client *client, const struct file_layout *layout,
                          uint32_t **chain_ids, uint32_t *width);

/* Cuts inode's chunks at new_length on every chain of its stripe (DESIGN §6 truncate:
 * storage first, then meta). */
int file_cut_chunks(struct chainfs_client *client, const struct inode *inode, uint64_t new_length);

/* Reports open's length to meta if it grew since the last report. */
int file_report_length(struct chainfs_client *client, struct open_inode *open, uint64_t session_id);

/* Starts / stops the thread that reports lengths of files open for write. */
int length_reporter_start(struct chainfs_client *client);
void length_reporter_stop(struct chainfs_client *client);

/* Fills client->backend for the cluster at options.mgmtd_addresses (meta client and
 * storage client over client->rpc). */
int cluster_backend_open(struct chainfs_client *client);

/* The client session with mgmtd (extended periodically so meta can prune the write
 * sessions of clients that died). */
int client_session_start(struct chainfs_client *client);
void client_session_stop(struct chainfs_client *client);

#endif /* CHAINFS_CLIENT_CLIENT_INTERNAL_H */

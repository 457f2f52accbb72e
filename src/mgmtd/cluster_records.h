/*
 * cluster_records.h - the records the cluster manager keeps in the KV store (nodes,
 * targets, chains, chain tables) and their encoding. The same encodings travel in
 * routing info, so clients decode what mgmtd stored.
 */
#ifndef CHAINFS_MGMTD_CLUSTER_RECORDS_H
#define CHAINFS_MGMTD_CLUSTER_RECORDS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/wire.h"

#define NODE_ADDRESS_MAX 64
#define CHAIN_TARGETS_MAX 16
/* A chain table version is one KV value (KV_VALUE_MAX = 100,000 bytes) of 4 bytes
 * per chain: 24,576 chains fit with room to spare. Larger tables need the record
 * split into pages (not yet). */
#define CHAIN_TABLE_CHAINS_MAX 24576

enum node_type {
    NODE_TYPE_MGMTD = 1,
    NODE_TYPE_META = 2,
    NODE_TYPE_STORAGE = 3,
    NODE_TYPE_CLIENT = 4,
};

/* "mgmtd", "meta", "storage", "client"; NULL for an unknown type. */
const char *node_type_name(uint8_t type);

struct node_record {
    uint32_t node_id;
    uint8_t type;
    bool enabled; /* an admin may disable a node */
    bool alive;   /* heartbeats arrive (as judged by the primary) */
    char address[NODE_ADDRESS_MAX];
};

struct target_record {
    uint64_t target_id;
    uint32_t node_id;
    uint32_t disk_index;
    uint8_t local_state;  /* enum target_local_state */
    uint8_t public_state; /* enum target_public_state */
    uint32_t chain_id;    /* 0: in no chain */
    uint64_t used_bytes;
    uint64_t capacity_bytes;
    bool offline_by_admin; /* held offline whatever heartbeats report */
};

#define CLIENT_ID_MAX 64

/* A FUSE client (or other client process) that keeps a session with mgmtd, so that
 * metadata servers can prune the write sessions of clients that died. */
struct client_session_record {
    char client_id[CLIENT_ID_MAX];
    char description[NODE_ADDRESS_MAX]; /* host and pid, for operators */
    bool alive;
};

struct chain_record {
    uint32_t chain_id;
    uint64_t version;
    uint8_t target_count;
    uint64_t target_ids[CHAIN_TARGETS_MAX]; /* head first */
};

struct chain_table_record {
    uint32_t table_id;
    uint32_t version;
    uint32_t chain_count;
    uint32_t *chain_ids; /* owned; chain_table_record_free() */
};

void node_record_encode(struct wire_writer *writer, const struct node_record *record);
bool node_record_decode(struct wire_reader *reader, struct node_record *record);
void target_record_encode(struct wire_writer *writer, const struct target_record *record);
bool target_record_decode(struct wire_reader *reader, struct target_record *record);
void client_session_record_encode(struct wire_writer *writer,
                                  const struct client_session_record *record);
bool client_session_record_decode(struct wire_reader *reader, struct client_session_record *record);
void chain_record_encode(struct wire_writer *writer, const struct chain_record *record);
bool chain_record_decode(struct wire_reader *reader, struct chain_record *record);
void chain_table_record_encode(struct wire_writer *writer, const struct chain_table_record *record);
/* Allocates chain_ids. */
bool chain_table_record_decode(struct wire_reader *reader, struct chain_table_record *record);
void chain_table_record_free(struct chain_table_record *record);

#endif /* CHAINFS_MGMTD_CLUSTER_RECORDS_H */

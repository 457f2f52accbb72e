/*
 * storage_protocol.h - the storage service's RPC methods and their messages
 * (DESIGN §7, issue 5 items 3-4, issue 8 item 1).
 *
 * Every message is encoded with common/wire.h (little-endian, bounds-checked); a
 * decoder accepts a body only when every byte was consumed and every field is in
 * range, so a malformed request is refused before it touches a target. A chunk id
 * travels as its 16 raw bytes (storage/chunk_id.h: inode and index, big-endian).
 *
 * Addressing. Every request that acts on a target names it (target_id) and its chain
 * (chain_id): a node may hold several targets, even two of one chain. Requests that
 * change data also carry the chain version the sender routed by; a target whose
 * routing shows another chain version (after one refresh) answers
 * CHAINFS_ROUTING_STALE, as does a target that is not in that chain or whose public
 * state forbids the operation. The caller refreshes its routing info and retries.
 *
 *   WRITE            storage_write_request, payload = the length bytes to write
 *                    (client -> head) -> storage_commit_reply
 *   UPDATE           storage_update_request, payload = data of a WRITE, the whole
 *                    content of a REPLACE, empty otherwise (target -> successor)
 *                    -> storage_commit_reply
 *   BATCH_READ       u32 count, count x storage_read_item
 *                    -> u32 count, count x storage_read_result; payload = the data:
 *                    item i's bytes start at the sum of the requested lengths of
 *                    items 0..i-1 (so a caller can receive them straight into its
 *                    buffers); bytes an item did not read are zero
 *   QUERY_LAST_CHUNK storage_last_chunk_request -> storage_last_chunk_reply
 *   REMOVE_CHUNKS    storage_remove_chunks_request (client -> head; replicated along
 *                    the chain as REMOVE_LISTED; idempotent) -> u64 chunks removed at
 *                    the head
 *   TRUNCATE_CHUNK   storage_truncate_request (client -> head, replicated)
 *                    -> storage_commit_reply
 *   SPACE_INFO       empty -> u32 count, count x storage_target_info (every target
 *                    of the node, with recovery progress counters)
 *   DUMP_CHUNKS      storage_dump_request -> u32 count, count x storage_chunk_record,
 *                    bool more (paged in chunk id order: ask again after the last id)
 *   CREATE_TARGET    u64 target id, u32 disk index -> bool created (false: it existed
 *                    on that disk already; CHAINFS_EXISTS if it exists on another)
 *   SYNC_DONE        u64 target id, u32 chain id, u64 chain version -> empty (the
 *                    predecessor finished recovering this target)
 *   REMOVE_LISTED    storage_remove_listed_request (target -> successor): the chunks
 *                    of one inode its predecessor removed, holding their chunk locks
 *                    -> u64 chunks removed at the answering target
 *
 * Write replies (storage_commit_reply) name the version the update committed as,
 * the chunk's resulting length and the CRC32C of its whole content.
 */
#ifndef CHAINFS_STORAGE_STORAGE_PROTOCOL_H
#define CHAINFS_STORAGE_STORAGE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "storage/chunk_id.h"

#define STORAGE_SERVICE_ID 2

enum storage_method {
    STORAGE_METHOD_WRITE = 1,
    STORAGE_METHOD_UPDATE = 2,
    STORAGE_METHOD_BATCH_READ = 3,
    STORAGE_METHOD_QUERY_LAST_CHUNK = 4,
    STORAGE_METHOD_REMOVE_CHUNKS = 5,
    STORAGE_METHOD_TRUNCATE_CHUNK = 6,
    STORAGE_METHOD_SPACE_INFO = 7,
    STORAGE_METHOD_DUMP_CHUNKS = 8,
    STORAGE_METHOD_CREATE_TARGET = 9,
    STORAGE_METHOD_SYNC_DONE = 10,
    STORAGE_METHOD_REMOVE_LISTED = 11,
};

/* Limits a decoder enforces. */
#define STORAGE_BATCH_READ_ITEMS_MAX 4096u
#define STORAGE_DUMP_RECORDS_MAX 65536u
#define STORAGE_REMOVE_LISTED_MAX 1024u /* chunk indexes in one REMOVE_LISTED */
#define STORAGE_CLIENT_ID_SIZE 16

/* Exactly-once identity of a client write: per (client, channel) the target keeps
 * the last sequence number and its reply. An all-zero client id means "not
 * tracked" (the write is applied every time it arrives). */
struct storage_client_tag {
    uint8_t client_id[STORAGE_CLIENT_ID_SIZE];
    uint32_t channel;
    uint64_t sequence;
};

/* True when the tag names a client (its id is not all zero). */
bool storage_client_tag_is_set(const struct storage_client_tag *tag);

struct storage_write_request {
    uint64_t target_id; /* the head */
    uint32_t chain_id;
    uint64_t chain_version;
    struct chunk_id chunk_id;
    uint64_t offset;
    uint32_t length;     /* == payload length */
    uint32_t chunk_size; /* the file's chunk size: offset + length must not exceed it */
    struct storage_client_tag tag;
};

enum storage_update_kind {
    STORAGE_UPDATE_WRITE = 1,    /* offset, length, payload: a forwarded WRITE */
    STORAGE_UPDATE_TRUNCATE = 2, /* length: the new chunk length */
    STORAGE_UPDATE_REPLACE = 3,  /* payload = the whole content, installed committed */
    STORAGE_UPDATE_REMOVE = 4,   /* remove the chunk (recovery) */
};

struct storage_update_request {
    uint64_t target_id; /* the successor that receives it */
    uint32_t chain_id;
    uint64_t chain_version;
    struct chunk_id chunk_id;
    uint8_t kind; /* enum storage_update_kind */
    uint64_t offset;
    uint32_t length;
    uint32_t chunk_size;
    uint64_t update_version;       /* the pending version the sender prepared */
    uint64_t chunk_chain_version;  /* chain version to record with it (REPLACE: the
                                    * sender's; else = chain_version) */
    uint32_t expected_crc;         /* CRC32C of the whole chunk after the update */
    uint64_t expected_length;      /* chunk length after the update */
    struct storage_client_tag tag; /* of the client write, for logs */
};

struct storage_commit_reply {
    uint64_t version;
    uint64_t length;
    uint32_t crc;
};

#define STORAGE_READ_RELAXED 1u /* read the pending version if there is one */

struct storage_read_item {
    uint64_t target_id;
    uint32_t chain_id;
    struct chunk_id chunk_id;
    uint64_t offset;
    uint32_t length;
    uint8_t flags; /* STORAGE_READ_* */
};

struct storage_read_result {
    uint32_t status;       /* CHAINFS_*: NOT_FOUND, NOT_COMMITTED, ROUTING_STALE, ... */
    uint32_t length;       /* bytes read */
    uint64_t version;      /* the version read */
    uint64_t chunk_length; /* that version's length */
    uint32_t crc;          /* CRC32C of that version's whole content */
};

struct storage_last_chunk_request {
    uint64_t target_id;
    uint32_t chain_id;
    uint64_t inode;
};

struct storage_last_chunk_reply {
    bool found;
    uint64_t index;   /* of the chunk with the greatest index */
    uint64_t length;  /* its committed length */
    uint64_t version; /* its committed version */
    bool pending;     /* it has an update in flight */
};

struct storage_remove_chunks_request {
    uint64_t target_id;
    uint32_t chain_id;
    uint64_t chain_version;
    uint64_t inode;
    uint64_t first_index; /* removes chunk indexes [first_index, end_index) */
    uint64_t end_index;
};

/* What a predecessor removed: chunks (inode, indexes[i]), indexes strictly ascending
 * (the order in which the receiver takes their locks), 0..REMOVE_LISTED_MAX of them. */
struct storage_remove_listed_request {
    uint64_t target_id; /* the successor that receives it */
    uint32_t chain_id;
    uint64_t chain_version;
    uint64_t inode;
    uint64_t *indexes; /* decoded: malloc'ed (free it), also when count is 0 */
    size_t count;
};

struct storage_truncate_request {
    uint64_t target_id;
    uint32_t chain_id;
    uint64_t chain_version;
    struct chunk_id chunk_id;
    uint64_t length;
    uint32_t chunk_size;
};

struct storage_target_info {
    uint64_t target_id;
    uint32_t disk_index;
    uint32_t chain_id;    /* 0: in no chain (as routing shows) */
    uint8_t local_state;  /* enum target_local_state the node reports */
    uint8_t public_state; /* enum target_public_state routing shows (0: unknown) */
    uint64_t used_bytes;
    uint64_t capacity_bytes;
    uint64_t chunks;
    uint64_t pending_chunks;
    /* Recovery of this target's successor (DESIGN §7), counted since start. */
    bool sync_active;
    uint64_t sync_chunks_transferred;
    uint64_t sync_chunks_removed;
    uint64_t sync_bytes_transferred;
    uint64_t sync_rounds_completed;
};

struct storage_dump_request {
    uint64_t target_id;
    bool has_after;        /* continue after chunk id `after` */
    struct chunk_id after;
    uint32_t max_records;  /* 1..STORAGE_DUMP_RECORDS_MAX */
};

/* One version of a chunk as DUMP_CHUNKS reports it (version 0: absent). */
struct storage_chunk_version {
    uint64_t version;
    uint64_t chain_version;
    uint64_t length;
    uint32_t crc;
};

struct storage_chunk_record {
    struct chunk_id chunk_id;
    struct storage_chunk_version committed;
    struct storage_chunk_version pending;
};

struct storage_create_target_request {
    uint64_t target_id;
    uint32_t disk_index;
};

struct storage_sync_done_request {
    uint64_t target_id;
    uint32_t chain_id;
    uint64_t chain_version;
};

/*
 * Codecs. Each encode appends the message to writer (check wire_writer_ok once at
 * the end). Each decode reads one whole message from the reader and returns true
 * only when it was well-formed, in range and nothing trailed it; on false the output
 * is unspecified (list decoders leave *items NULL).
 */
void storage_write_request_encode(struct wire_writer *writer, const struct storage_write_request *m);
bool storage_write_request_decode(struct wire_reader *reader, struct storage_write_request *m);

void storage_update_request_encode(struct wire_writer *writer, const struct storage_update_request *m);
bool storage_update_request_decode(struct wire_reader *reader, struct storage_update_request *m);

void storage_commit_reply_encode(struct wire_writer *writer, const struct storage_commit_reply *m);
bool storage_commit_reply_decode(struct wire_reader *reader, struct storage_commit_reply *m);

/* BATCH_READ request: u32 count then the items. count must be 1..ITEMS_MAX and the
 * sum of lengths must not exceed max_total_bytes. *items is malloc'ed. */
void storage_batch_read_request_encode(struct wire_writer *writer,
                                       const struct storage_read_item *items, size_t count);
bool storage_batch_read_request_decode(struct wire_reader *reader, uint64_t max_total_bytes,
                                       struct storage_read_item **items, size_t *count);

/* BATCH_READ reply: u32 count then the results. *results is malloc'ed. */
void storage_batch_read_reply_encode(struct wire_writer *writer,
                                     const struct storage_read_result *results, size_t count);
bool storage_batch_read_reply_decode(struct wire_reader *reader,
                                     struct storage_read_result **results, size_t *count);

void storage_last_chunk_request_encode(struct wire_writer *writer,
                                       const struct storage_last_chunk_request *m);
bool storage_last_chunk_request_decode(struct wire_reader *reader,
                                       struct storage_last_chunk_request *m);
void storage_last_chunk_reply_encode(struct wire_writer *writer,
                                     const struct storage_last_chunk_reply *m);
bool storage_last_chunk_reply_decode(struct wire_reader *reader, struct storage_last_chunk_reply *m);

void storage_remove_chunks_request_encode(struct wire_writer *writer,
                                          const struct storage_remove_chunks_request *m);
bool storage_remove_chunks_request_decode(struct wire_reader *reader,
                                          struct storage_remove_chunks_request *m);

/* REMOVE_LISTED: u64 target, u32 chain, u64 chain version, u64 inode, u32 count, count
 * x u64 index. The decoder refuses a count over REMOVE_LISTED_MAX and indexes that
 * are not strictly ascending; on success m->indexes is malloc'ed. */
void storage_remove_listed_request_encode(struct wire_writer *writer,
                                          const struct storage_remove_listed_request *m);
bool storage_remove_listed_request_decode(struct wire_reader *reader,
                                          struct storage_remove_listed_request *m);

void storage_truncate_request_encode(struct wire_writer *writer,
                                     const struct storage_truncate_request *m);
bool storage_truncate_request_decode(struct wire_reader *reader, struct storage_truncate_request *m);

/* SPACE_INFO reply: u32 count then the targets. *targets is malloc'ed. */
void storage_space_info_reply_encode(struct wire_writer *writer,
                                     const struct storage_target_info *targets, size_t count);
bool storage_space_info_reply_decode(struct wire_reader *reader,
                                     struct storage_target_info **targets, size_t *count);

void storage_dump_request_encode(struct wire_writer *writer, const struct storage_dump_request *m);
bool storage_dump_request_decode(struct wire_reader *reader, struct storage_dump_request *m);

/* DUMP_CHUNKS reply: u32 count, the records, bool more. *records is malloc'ed. */
void storage_dump_reply_encode(struct wire_writer *writer, const struct storage_chunk_record *records,
                               size_t count, bool more);
bool storage_dump_reply_decode(struct wire_reader *reader, struct storage_chunk_record **records,
                               size_t *count, bool *more);

void storage_create_target_request_encode(struct wire_writer *writer,
                                          const struct storage_create_target_request *m);
bool storage_create_target_request_decode(struct wire_reader *reader,
                                          struct storage_create_target_request *m);

void storage_sync_done_request_encode(struct wire_writer *writer,
                                      const struct storage_sync_done_request *m);
bool storage_sync_done_request_decode(struct wire_reader *reader,
                                      struct storage_sync_done_request *m);

#endif /* CHAINFS_STORAGE_STORAGE_PROTOCOL_H */

/*
 * namespace_store.c - keys, records, name rules and inode ids of the namespace.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

#define ALLOCATOR_SHARDS 16
#define ALLOCATOR_BLOCK 256

static void put_little_endian(uint8_t *out, uint64_t value) { wire_store_u64(out, value); }

size_t namespace_inode_key(uint8_t out[12], uint64_t id)
{
    memcpy(out, "INOD", 4);
    put_little_endian(out + 4, id);
    return 12;
}

size_t namespace_dentry_key(uint8_t out[DENTRY_KEY_MAX], uint64_t parent_id, const char *name)
{
    size_t length = strlen(name);
    memcpy(out, "DENT", 4);
    put_little_endian(out + 4, parent_id);
    memcpy(out + 12, name, length);
    return 12 + length;
}

int namespace_check_name(const char *name)
{
    size_t length = strlen(name);
    if (length > META_NAME_MAX)
        return CHAINFS_NAME_TOO_LONG;
    if (length == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
        return CHAINFS_INVALID_ARGUMENT;
    return 0;
}

int64_t namespace_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int read_value(struct kv_transaction *transaction, const uint8_t *key, size_t length,
                      struct wire_reader *reader)
{
    const void *value;
    size_t value_length;
    int status = kv_get(transaction, key, length, &value, &value_length);
    if (status == 0)
        wire_reader_init(reader, value, value_length);
    return status;
}

static int write_value(struct kv_transaction *transaction, const uint8_t *key, size_t length,
                       struct wire_writer *writer)
{
    int status = wire_writer_ok(writer) ? kv_set(transaction, key, length, writer->data, writer->length)
                                        : CHAINFS_NO_MEMORY;
    wire_writer_free(writer);
    return status;
}

int namespace_read_inode(struct kv_transaction *transaction, uint64_t id, struct inode *inode)
{
    uint8_t key[12];
    struct wire_reader reader;
    int status = read_value(transaction, key, namespace_inode_key(key, id), &reader);
    if (status == 0 && !inode_decode(&reader, inode))
        status = CHAINFS_MALFORMED;
    return status;
}

int namespace_write_inode(struct kv_transaction *transaction, const struct inode *inode)
{
    uint8_t key[12];
    struct wire_writer writer;
    wire_writer_init(&writer);
    inode_encode(&writer, inode);
    return write_value(transaction, key, namespace_inode_key(key, inode->id), &writer);
}

int namespace_read_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name,
                          struct directory_entry *entry)
{
    uint8_t key[DENTRY_KEY_MAX];
    struct wire_reader reader;
    int status = read_value(transaction, key, namespace_dentry_key(key, parent_id, name), &reader);
    if (status == 0 && !directory_entry_decode(&reader, entry))
        status = CHAINFS_MALFORMED;
    return status;
}

int namespace_write_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name,
                           const struct directory_entry *entry)
{
    uint8_t key[DENTRY_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    directory_entry_encode(&writer, entry);
    return write_value(transaction, key, namespace_dentry_key(key, parent_id, name), &writer);
}

int namespace_clear_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name)
{
    uint8_t key[DENTRY_KEY_MAX];
    return kv_clear(transaction, key, namespace_dentry_key(key, parent_id, name));
}

void namespace_directory_range(uint64_t directory_id, uint8_t begin[12], uint8_t end[12])
{
    memcpy(begin, "DENT", 4);
    put_little_endian(begin + 4, directory_id);
    memcpy(end, begin, 12);
    /* end = the 12-byte prefix plus one (with carry): above every "DENT<id><name>" */
    int i = 11;
    while (i >= 4 && ++end[i] == 0)
        i--;
}

int namespace_check_empty(struct kv_transaction *transaction, uint64_t directory_id)
{
    uint8_t begin[12], end[12];
    namespace_directory_range(directory_id, begin, end);
    struct kv_range_options options = {.limit = 1};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, 12, end, 12, &options, &rows);
    if (status != 0)
        return status;
    return rows.count ? CHAINFS_NOT_EMPTY : 0;
}

int namespace_writable_directory(struct kv_transaction *transaction,
                                 const struct meta_credentials *credentials, uint64_t parent_id,
                                 struct inode *parent)
{
    int status = namespace_read_inode(transaction, parent_id, parent);
    if (status != 0)
        return status;
    if (parent->type != INODE_DIRECTORY)
        return CHAINFS_NOT_DIRECTORY;
    status = credentials_check_access(credentials, parent, META_ACCESS_WRITE | META_ACCESS_EXECUTE);
    if (status == 0 && (parent->flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    return status;
}

int namespace_drop_link(struct kv_transaction *transaction, struct inode *inode, int64_t now_ns)
{
    inode->ctime_ns = now_ns;
    if (--inode->nlink > 0)
        return namespace_write_inode(transaction, inode);
    /* The inode stays until GC deleted its chunks on every chain (DESIGN §6). */
    int status = namespace_write_inode(transaction, inode);
    return status == 0 ? namespace_queue_for_gc(transaction, inode->id) : status;
}

int namespace_queue_for_gc(struct kv_transaction *transaction, uint64_t inode_id)
{
    uint8_t key[12];
    memcpy(key, "GCQU", 4);
    put_little_endian(key + 4, inode_id);
    return kv_set(transaction, key, sizeof(key), "", 0);
}

/* Reserves the next block of a shard's counter in its own transaction. */
static int reserve_block(struct kv_transaction *transaction, void *argument)
{
    struct meta_namespace *space = argument;
    uint8_t key[5] = {'I', 'D', 'A', 'L', (uint8_t)space->shard};
    const void *value;
    size_t length;
    uint64_t next = 1;
    int status = kv_get(transaction, key, sizeof(key), &value, &length);
    if (status == 0 && length == 8)
        next = wire_load_u64(value);
    else if (status == 0)
        return CHAINFS_MALFORMED;
    else if (status != CHAINFS_NOT_FOUND)
        return status;
    uint8_t updated[8];
    wire_store_u64(updated, next + ALLOCATOR_BLOCK);
    status = kv_set(transaction, key, sizeof(key), updated, sizeof(updated));
    /* ids are counter * 16 + shard: unique across shards, never META_ROOT_ID */
    space->next_id = next;
    space->end_id = next + ALLOCATOR_BLOCK;
    return status;
}

int namespace_allocate_id(struct meta_namespace *space, uint64_t *id)
{
    pthread_mutex_lock(&space->allocator_lock);
    int status = 0;
    if (space->next_id == space->end_id) {
        space->shard = (uint32_t)rand() % ALLOCATOR_SHARDS;
        status = kv_run_transaction(space->store, reserve_block, space, NULL);
        if (status != 0)
            space->next_id = space->end_id = 0;
    }
    if (status == 0)
        *id = (space->next_id++ << 4) | space->shard;
    pthread_mutex_unlock(&space->allocator_lock);
    return status;
}

int meta_namespace_open(struct kv_store *store, struct meta_namespace **result)
{
    struct meta_namespace *space = calloc(1, sizeof(*space));
    if (!space)
        return CHAINFS_NO_MEMORY;
    space->store = store;
    pthread_mutex_init(&space->allocator_lock, NULL);
    *result = space;
    return 0;
}

void meta_namespace_set_table_versions(struct meta_namespace *space,
                                       uint32_t (*newest)(void *context, uint32_t table_id),
                                       void *context)
{
    space->newest_table_version = newest;
    space->table_version_context = context;
}

void meta_namespace_close(struct meta_namespace *space)
{
    if (!space)
        return;
    pthread_mutex_destroy(&space->allocator_lock);
    free(space);
}

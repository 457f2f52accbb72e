/*
 * open_inode.c - the table of inodes open in this client (client_internal.h): one
 * entry per inode, shared by every chainfs_file of it, holding its resolved stripe of
 * chains and the length this client knows.
 */
#include <stdlib.h>

#include "client/client_internal.h"
#include "meta/file_layout.h"

static size_t bucket_of(uint64_t inode_id)
{
    return (size_t)((inode_id * 0x9e3779b97f4a7c15ull) >> 56) % OPEN_INODE_BUCKETS;
}

static struct open_inode *find_locked(struct chainfs_client *client, uint64_t inode_id)
{
    for (struct open_inode *open = client->buckets[bucket_of(inode_id)]; open; open = open->next)
        if (open->inode_id == inode_id)
            return open;
    return NULL;
}

struct open_inode *open_inode_find(struct chainfs_client *client, uint64_t inode_id)
{
    pthread_mutex_lock(&client->table_lock);
    struct open_inode *open = find_locked(client, inode_id);
    if (open)
        open->references++;
    pthread_mutex_unlock(&client->table_lock);
    return open;
}

int client_resolve_stripe(struct chainfs_client *client, const struct file_layout *layout,
                          uint32_t **result, uint32_t *width)
{
    if (!file_range_valid_chunk_size(layout->chunk_size) || layout->stripe == 0 ||
        layout->stripe > FILE_LAYOUT_STRIPE_MAX)
        return CHAINFS_MALFORMED;
    uint32_t *chain_ids = calloc(layout->stripe, sizeof(*chain_ids));
    if (!chain_ids)
        return CHAINFS_NO_MEMORY;
    int status = client->backend.storage->resolve_stripe(client->backend.storage_context, layout,
                                                         chain_ids, width);
    if (status == 0 && (*width == 0 || *width > layout->stripe))
        status = CHAINFS_MALFORMED;
    if (status != 0) {
        free(chain_ids);
        return status;
    }
    *result = chain_ids;
    return 0;
}

/* A new entry for inode, its stripe resolved (outside the table lock: it may ask the
 * routing info). */
static int open_inode_create(struct chainfs_client *client, const struct inode *inode,
                             struct open_inode **result)
{
    struct open_inode *open = calloc(1, sizeof(*open));
    if (!open)
        return CHAINFS_NO_MEMORY;
    int status = client_resolve_stripe(client, &inode->layout, &open->chain_ids, &open->stripe_width);
    if (status != 0) {
        free(open);
        return status;
    }
    open->inode_id = inode->id;
    open->references = 1;
    pthread_mutex_init(&open->lock, NULL);
    open->layout = inode->layout;
    open->length = inode->length;
    open->reported_length = inode->length;
    open->truncate_version = inode->truncate_version;
    *result = open;
    return 0;
}

static void open_inode_free(struct open_inode *open)
{
    pthread_mutex_destroy(&open->lock);
    free(open->chain_ids);
    free(open);
}

void open_inode_learn(struct open_inode *open, const struct inode *inode)
{
    /* called with open->lock held */
    if (inode->truncate_version > open->truncate_version) {
        open->truncate_version = inode->truncate_version;
        open->length = inode->length;
        open->reported_length = inode->length;
    } else if (inode->truncate_version == open->truncate_version && inode->length > open->length) {
        open->length = inode->length;
    }
}

static void refresh(struct open_inode *open, const struct inode *inode)
{
    pthread_mutex_lock(&open->lock);
    open_inode_learn(open, inode);
    pthread_mutex_unlock(&open->lock);
}

int open_inode_acquire(struct chainfs_client *client, const struct inode *inode,
                       struct open_inode **result)
{
    struct open_inode *open = open_inode_find(client, inode->id);
    if (open) {
        refresh(open, inode);
        *result = open;
        return 0;
    }
    struct open_inode *created;
    int status = open_inode_create(client, inode, &created);
    if (status != 0)
        return status;
    pthread_mutex_lock(&client->table_lock);
    open = find_locked(client, inode->id); /* another thread may have won */
    if (open) {
        open->references++;
    } else {
        size_t bucket = bucket_of(inode->id);
        created->next = client->buckets[bucket];
        client->buckets[bucket] = created;
    }
    pthread_mutex_unlock(&client->table_lock);
    if (open) {
        open_inode_free(created);
        refresh(open, inode);
    }
    *result = open ? open : created;
    return 0;
}

void open_inode_release(struct chainfs_client *client, struct open_inode *open)
{
    pthread_mutex_lock(&client->table_lock);
    bool last = --open->references == 0;
    if (last) {
        struct open_inode **link = &client->buckets[bucket_of(open->inode_id)];
        while (*link != open)
            link = &(*link)->next;
        *link = open->next;
    }
    pthread_mutex_unlock(&client->table_lock);
    if (last)
        open_inode_free(open);
}

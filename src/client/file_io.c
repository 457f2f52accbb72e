/*
 * file_io.c - open files: open/create/close, pread/pwrite over the file's chunks, and
 * the storage half of truncate.
 *
 * A byte range is cut into one piece per chunk (file_range.h) and all pieces go to the
 * storage layer in one call, which spreads them over the chains' targets in parallel.
 * Reads stop at the length this client knows (meta's, or further where it wrote
 * itself); what storage does not have inside it (holes, chunks shorter than their
 * range) reads as zeros.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

#define STACK_PIECES 16

uint64_t client_new_session_id(struct chainfs_client *client)
{
    uint64_t id;
    do
        id = atomic_fetch_add(&client->next_session_id, 1);
    while (id == 0);
    return id;
}

/* META_OPEN_MODE_* of open(2) flags. */
static unsigned open_mode(int open_flags)
{
    switch (open_flags & O_ACCMODE) {
    case O_WRONLY:
        return META_OPEN_MODE_WRITE;
    case O_RDWR:
        return META_OPEN_MODE_READ | META_OPEN_MODE_WRITE;
    default:
        return META_OPEN_MODE_READ;
    }
}

/* A chainfs_file over an inode meta just opened (session_id if writable). */
static int make_file(struct chainfs_client *client, const struct inode *inode, int open_flags,
                     uint64_t session_id, struct chainfs_file **result)
{
    struct chainfs_file *file = calloc(1, sizeof(*file));
    if (!file)
        return CHAINFS_NO_MEMORY;
    int status = open_inode_acquire(client, inode, &file->inode);
    if (status != 0) {
        free(file);
        return status;
    }
    unsigned mode = open_mode(open_flags);
    file->client = client;
    file->readable = mode & META_OPEN_MODE_READ;
    file->writable = mode & META_OPEN_MODE_WRITE;
    file->append = (open_flags & O_APPEND) != 0;
    file->session_id = session_id;
    if (file->writable) {
        pthread_mutex_lock(&file->inode->lock);
        file->inode->writers++;
        file->inode->report_session = session_id;
        pthread_mutex_unlock(&file->inode->lock);
    }
    pthread_mutex_lock(&client->table_lock);
    file->next = client->files;
    if (client->files)
        client->files->previous = file;
    client->files = file;
    pthread_mutex_unlock(&client->table_lock);
    *result = file;
    return 0;
}

/* O_TRUNC of an open: storage is cut first, then meta's length (DESIGN §6). */
static int truncate_at_open(struct chainfs_client *client, const struct meta_credentials *meta,
                            struct inode *inode)
{
    int status = file_cut_chunks(client, inode, 0);
    struct meta_setattr changes = {.fields = META_SET_SIZE, .size = 0};
    if (status == 0)
        status = client->backend.meta->setattr(client->backend.meta_context, meta, inode->id,
                                               &changes, inode);
    return status;
}

/* Opens an existing inode through meta and wraps it. */
static int open_existing(struct chainfs_client *client, const struct meta_credentials *meta,
                         uint64_t inode_id, int open_flags, struct chainfs_file **file,
                         struct inode *inode)
{
    unsigned mode = open_mode(open_flags);
    bool write = mode & META_OPEN_MODE_WRITE;
    uint64_t session_id = write ? client_new_session_id(client) : 0;
    /* O_TRUNC needs the write permission this open checks; O_RDONLY|O_TRUNC is
     * unspecified by POSIX and ignored here */
    int status = client->backend.meta->open(client->backend.meta_context, meta, inode_id, mode,
                                            session_id, inode);
    if (status == 0 && inode->type != INODE_FILE)
        status = inode->type == INODE_DIRECTORY ? CHAINFS_IS_DIRECTORY : CHAINFS_INVALID_ARGUMENT;
    if (status == 0 && write && (open_flags & O_TRUNC) && inode->length > 0)
        status = truncate_at_open(client, meta, inode);
    if (status == 0)
        status = make_file(client, inode, open_flags, session_id, file);
    if (status != 0 && session_id != 0)
        client->backend.meta->close(client->backend.meta_context, inode_id, session_id, 0,
                                    inode->truncate_version);
    return status;
}

static void opened_attributes(const struct chainfs_file *file, const struct inode *inode,
                              struct chainfs_attributes *attributes)
{
    client_attributes(inode, attributes);
    pthread_mutex_lock(&file->inode->lock);
    attributes->length = file->inode->length;
    pthread_mutex_unlock(&file->inode->lock);
}

int chainfs_open(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                 uint64_t inode_id, int open_flags, struct chainfs_file **file,
                 struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = open_existing(client, &meta, inode_id, open_flags, file, &inode);
    if (status == 0 && attributes)
        opened_attributes(*file, &inode, attributes);
    return status;
}

int chainfs_create(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name, uint32_t mode, int open_flags,
                   struct chainfs_file **file, struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    /* Exclusive first: a file this call creates is opened in the same meta call, as
     * asked whatever its mode says (open(2)); an existing one is opened with checks. */
    bool write = open_mode(open_flags) & META_OPEN_MODE_WRITE;
    uint64_t session_id = write ? client_new_session_id(client) : 0;
    int status = client->backend.meta->create(client->backend.meta_context, &meta, parent_id, name,
                                              mode, META_CREATE_EXCLUSIVE, session_id, &inode);
    if (status == 0) {
        status = make_file(client, &inode, open_flags, session_id, file);
        if (status != 0 && session_id != 0)
            client->backend.meta->close(client->backend.meta_context, inode.id, session_id, 0,
                                        inode.truncate_version);
    } else if (status == CHAINFS_EXISTS && !(open_flags & O_EXCL)) {
        status = client->backend.meta->lookup(client->backend.meta_context, &meta, parent_id, name,
                                              &inode);
        if (status == 0)
            status = open_existing(client, &meta, inode.id, open_flags, file, &inode);
    }
    if (status == 0 && attributes)
        opened_attributes(*file, &inode, attributes);
    return status;
}

uint64_t chainfs_file_inode(const struct chainfs_file *file) { return file->inode->inode_id; }

/* The length reads are cut at; refreshed from meta when a read reaches past it and no
 * writer here knows better (another client may have grown the file). */
static uint64_t readable_length(struct chainfs_file *file, uint64_t end)
{
    struct open_inode *open = file->inode;
    pthread_mutex_lock(&open->lock);
    uint64_t length = open->length;
    bool ask_meta = end > length && open->writers == 0;
    pthread_mutex_unlock(&open->lock);
    if (!ask_meta)
        return length;
    struct inode inode;
    struct chainfs_client *client = file->client;
    if (client->backend.meta->stat(client->backend.meta_context, open->inode_id, &inode) == 0) {
        pthread_mutex_lock(&open->lock);
        open_inode_learn(open, &inode);
        length = open->length;
        pthread_mutex_unlock(&open->lock);
    }
    return length;
}

/* Splits [offset, offset + length) of the file and runs the pieces through read or
 * write, all in one storage call; read pieces are zero-filled past what storage had. */
static int run_range(struct chainfs_file *file, uint8_t *buffer, uint64_t offset, uint64_t length,
                     bool write, bool *short_piece)
{
    struct open_inode *open = file->inode;
    struct file_stripe stripe = {open->inode_id, open->layout.chunk_size, open->stripe_width,
                                 open->chain_ids};
    size_t count = file_range_piece_count(stripe.chunk_size, offset, length);
    if (count == 0)
        return length == 0 ? 0 : CHAINFS_INVALID_ARGUMENT;
    struct chunk_io stack_pieces[STACK_PIECES];
    struct chunk_io *pieces = count <= STACK_PIECES ? stack_pieces : calloc(count, sizeof(*pieces));
    if (!pieces)
        return CHAINFS_NO_MEMORY;
    file_range_split(&stripe, offset, length, buffer, pieces, count);
    const struct client_storage_ops *storage = file->client->backend.storage;
    int status = write ? storage->write(file->client->backend.storage_context, pieces, count)
                       : storage->read(file->client->backend.storage_context, pieces, count);
    for (size_t i = 0; status == 0 && i < count; i++) {
        if (write && pieces[i].done != pieces[i].length)
            status = CHAINFS_IO;
        else if (!write && pieces[i].done < pieces[i].length) { /* a hole or a short chunk */
            memset(pieces[i].buffer + pieces[i].done, 0, pieces[i].length - pieces[i].done);
            *short_piece = true;
        }
    }
    if (pieces != stack_pieces)
        free(pieces);
    return status;
}

/* Read-only opens are not tracked (DESIGN §6), so the chunks of a file removed (or
 * replaced by a rename) while open for reading may be collected under the reader.
 * Where storage had nothing, say so rather than hand out zeros: a file whose last
 * link is gone answers NOT_FOUND (ENOENT), unless a write session of this client keeps
 * it. Only reads that met a hole pay the stat. */
static int check_not_removed(struct chainfs_file *file)
{
    struct inode inode;
    struct chainfs_client *client = file->client;
    pthread_mutex_lock(&file->inode->lock);
    bool kept = file->inode->writers > 0; /* our write session keeps an unlinked file */
    pthread_mutex_unlock(&file->inode->lock);
    if (kept)
        return 0;
    int status = client->backend.meta->stat(client->backend.meta_context, file->inode->inode_id,
                                            &inode);
    if (status == 0 && inode.nlink == 0)
        status = CHAINFS_NOT_FOUND;
    return status;
}

int chainfs_pread(struct chainfs_file *file, void *buffer, size_t length, uint64_t offset,
                  size_t *done)
{
    if (!file->readable)
        return CHAINFS_PERMISSION_DENIED;
    if (offset + length < offset)
        return CHAINFS_INVALID_ARGUMENT;
    uint64_t file_length = readable_length(file, offset + length);
    if (offset >= file_length || length == 0) {
        *done = 0;
        return 0;
    }
    uint64_t wanted = file_length - offset < length ? file_length - offset : length;
    bool short_piece = false;
    int status = run_range(file, buffer, offset, wanted, false, &short_piece);
    if (status == 0 && short_piece)
        status = check_not_removed(file);
    if (status == 0)
        *done = (size_t)wanted;
    return status;
}

/* Records that [.., end) was written. */
static void note_written(struct open_inode *open, uint64_t end)
{
    if (end > open->length)
        open->length = end;
}

int chainfs_pwrite(struct chainfs_file *file, const void *buffer, size_t length, uint64_t offset,
                   uint64_t *written_at)
{
    if (!file->writable)
        return CHAINFS_PERMISSION_DENIED;
    struct open_inode *open = file->inode;
    int status;
    if (file->append) {
        /* appends are serialized here, so each lands after the previous one */
        pthread_mutex_lock(&open->lock);
        offset = open->length;
        status = offset + length < offset ? CHAINFS_INVALID_ARGUMENT
                                          : run_range(file, (uint8_t *)buffer, offset, length,
                                                      true, &(bool){false});
        if (status == 0)
            note_written(open, offset + length);
        pthread_mutex_unlock(&open->lock);
    } else {
        if (offset + length < offset)
            return CHAINFS_INVALID_ARGUMENT;
        status = run_range(file, (uint8_t *)buffer, offset, length, true, &(bool){false});
        pthread_mutex_lock(&open->lock);
        if (status == 0)
            note_written(open, offset + length);
        pthread_mutex_unlock(&open->lock);
    }
    if (status == 0 && written_at)
        *written_at = offset;
    return status;
}

int file_report_length(struct chainfs_client *client, struct open_inode *open, uint64_t session_id)
{
    /* called with open->lock held */
    if (open->length <= open->reported_length)
        return 0;
    int status = client->backend.meta->report_length(client->backend.meta_context, open->inode_id,
                                                     session_id, open->length,
                                                     open->truncate_version);
    if (status == 0)
        open->reported_length = open->length;
    return status;
}

int chainfs_fsync(struct chainfs_file *file)
{
    if (!file->writable)
        return 0;
    pthread_mutex_lock(&file->inode->lock);
    int status = file_report_length(file->client, file->inode, file->session_id);
    pthread_mutex_unlock(&file->inode->lock);
    return status;
}

/* Whether growth more bytes fit in the space statfs reports free. */
static int check_space(struct chainfs_client *client, uint64_t growth)
{
    if (growth == 0)
        return 0;
    struct chainfs_statfs space;
    int status = chainfs_statfs(client, &space);
    if (status == 0 && growth > space.free_bytes)
        status = CHAINFS_NO_SPACE;
    return status;
}

int chainfs_fallocate(struct chainfs_file *file, unsigned mode, uint64_t offset, uint64_t length)
{
    if (!file->writable)
        return CHAINFS_PERMISSION_DENIED;
    if (mode & ~CHAINFS_FALLOCATE_KEEP_SIZE)
        return CHAINFS_UNSUPPORTED;
    if (length == 0 || offset + length < offset || offset + length > (uint64_t)INT64_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    struct open_inode *open = file->inode;
    uint64_t end = offset + length;
    pthread_mutex_lock(&open->lock);
    uint64_t current = open->length;
    pthread_mutex_unlock(&open->lock);
    int status = check_space(file->client, end > current ? end - current : 0);
    if (status != 0 || (mode & CHAINFS_FALLOCATE_KEEP_SIZE))
        return status;
    /* the new length goes to meta before this client reads or appends by it */
    pthread_mutex_lock(&open->lock);
    if (end > open->length) {
        status = file->client->backend.meta->report_length(file->client->backend.meta_context,
                                                           open->inode_id, file->session_id, end,
                                                           open->truncate_version);
        if (status == 0)
            open->length = open->reported_length = end;
    }
    pthread_mutex_unlock(&open->lock);
    return status;
}

int chainfs_close(struct chainfs_file *file)
{
    struct chainfs_client *client = file->client;
    struct open_inode *open = file->inode;
    int status = 0;
    pthread_mutex_lock(&client->table_lock);
    if (file->previous)
        file->previous->next = file->next;
    else
        client->files = file->next;
    if (file->next)
        file->next->previous = file->previous;
    pthread_mutex_unlock(&client->table_lock);
    if (file->writable) {
        pthread_mutex_lock(&open->lock);
        uint64_t length = open->length;
        uint64_t truncate_version = open->truncate_version;
        open->writers--;
        pthread_mutex_unlock(&open->lock);
        /* the final length report travels with the end of the session */
        status = client->backend.meta->close(client->backend.meta_context, open->inode_id,
                                             file->session_id, length, truncate_version);
        pthread_mutex_lock(&open->lock);
        if (status == 0 && length > open->reported_length && truncate_version == open->truncate_version)
            open->reported_length = length;
        pthread_mutex_unlock(&open->lock);
    }
    open_inode_release(client, open);
    free(file);
    return status;
}

int file_cut_chunks(struct chainfs_client *client, const struct inode *inode, uint64_t new_length)
{
    uint32_t *chain_ids, width;
    int status = client_resolve_stripe(client, &inode->layout, &chain_ids, &width);
    if (status != 0)
        return status;
    const struct client_storage_ops *storage = client->backend.storage;
    void *context = client->backend.storage_context;
    struct truncate_plan plan;
    file_range_truncate_plan(inode->layout.chunk_size, new_length, &plan);
    /* every chain of the stripe may hold chunks at or past first_removed */
    for (uint32_t i = 0; status == 0 && i < width; i++)
        status = storage->remove_chunks(context, chain_ids[i], inode->id, plan.first_removed);
    if (status == 0 && plan.partial)
        status = storage->truncate_chunk(context, chain_ids[plan.partial_index % width], inode->id,
                                         plan.partial_index, plan.partial_length,
                                         inode->layout.chunk_size);
    free(chain_ids);
    return status;
}

/*
 * client.c - the chainfs client: connecting, credentials and attributes, and the
 * namespace operations, which go to meta as they are (setattr adds the storage half of
 * truncate).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client_internal.h"
#include "client/embedded_backend.h"
#include "net/rpc_client.h"

#define DEFAULT_CALL_TIMEOUT_NS 10000000000ull
#define DEFAULT_REPORT_INTERVAL_NS 1000000000ull
#define DEFAULT_SESSION_INTERVAL_NS 10000000000ull

void chainfs_client_default_options(struct chainfs_client_options *options)
{
    memset(options, 0, sizeof(*options));
    options->call_timeout_ns = DEFAULT_CALL_TIMEOUT_NS;
    options->length_report_interval_ns = DEFAULT_REPORT_INTERVAL_NS;
    options->session_interval_ns = DEFAULT_SESSION_INTERVAL_NS;
    options->embedded_chunk_size = 1u << 20;
    options->embedded_stripe = 4;
    options->embedded_chains = 8;
}

void chainfs_credentials_of_process(struct chainfs_credentials *credentials)
{
    memset(credentials, 0, sizeof(*credentials));
    credentials->uid = getuid();
    credentials->gid = getgid();
    gid_t groups[CHAINFS_GROUPS_MAX];
    int count = getgroups(CHAINFS_GROUPS_MAX, groups);
    for (int i = 0; i < count; i++)
        credentials->groups[credentials->group_count++] = groups[i];
}

void client_meta_credentials(const struct chainfs_credentials *credentials,
                             struct meta_credentials *meta)
{
    meta->uid = credentials->uid;
    meta->gid = credentials->gid;
    meta->group_count = credentials->group_count < META_GROUPS_MAX ? credentials->group_count
                                                                    : META_GROUPS_MAX;
    memcpy(meta->groups, credentials->groups, meta->group_count * sizeof(meta->groups[0]));
}

void client_attributes(const struct inode *inode, struct chainfs_attributes *attributes)
{
    *attributes = (struct chainfs_attributes){
        .inode_id = inode->id,
        .type = inode->type,
        .mode = inode->mode,
        .uid = inode->uid,
        .gid = inode->gid,
        .nlink = inode->nlink,
        .flags = inode->flags,
        .length = inode->type == INODE_FILE      ? inode->length
                  : inode->type == INODE_SYMLINK ? strlen(inode->symlink_target)
                                                 : 0,
        .atime_ns = inode->atime_ns,
        .mtime_ns = inode->mtime_ns,
        .ctime_ns = inode->ctime_ns,
        .chunk_size = inode->layout.chunk_size,
        .stripe = inode->layout.stripe,
    };
}

static void generate_client_id(char *id, size_t capacity)
{
    char host[32] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned random_part = (unsigned)(now.tv_nsec ^ (now.tv_sec << 12) ^ getpid());
    snprintf(id, capacity, "%s-%d-%08x", host, (int)getpid(), random_part);
}

static int check_options(const struct chainfs_client_options *options)
{
    bool embedded = options->embedded_dir && options->embedded_dir[0];
    bool cluster = options->mgmtd_addresses && options->mgmtd_addresses[0];
    if (embedded == cluster)
        return CHAINFS_INVALID_ARGUMENT; /* exactly one of them */
    if (options->client_id && (options->client_id[0] == '\0' || strlen(options->client_id) > 63))
        return CHAINFS_INVALID_ARGUMENT;
    return 0;
}

static void apply_defaults(struct chainfs_client_options *options)
{
    struct chainfs_client_options defaults;
    chainfs_client_default_options(&defaults);
    if (!options->call_timeout_ns)
        options->call_timeout_ns = defaults.call_timeout_ns;
    if (!options->length_report_interval_ns)
        options->length_report_interval_ns = defaults.length_report_interval_ns;
    if (!options->session_interval_ns)
        options->session_interval_ns = defaults.session_interval_ns;
    if (!options->embedded_chunk_size)
        options->embedded_chunk_size = defaults.embedded_chunk_size;
    if (!options->embedded_stripe)
        options->embedded_stripe = defaults.embedded_stripe;
    if (!options->embedded_chains)
        options->embedded_chains = defaults.embedded_chains;
}

static int open_backend(struct chainfs_client *client)
{
    const struct chainfs_client_options *options = &client->options;
    if (options->embedded_dir && options->embedded_dir[0])
        return embedded_backend_open(options->embedded_dir, options->embedded_chunk_size,
                                     options->embedded_stripe, options->embedded_chains,
                                     &client->backend);
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    rpc_options.name = "client";
    rpc_options.default_timeout_ns = options->call_timeout_ns;
    int status = rpc_client_create(&rpc_options, &client->rpc);
    return status == 0 ? cluster_backend_open(client) : status;
}

int chainfs_client_connect(const struct chainfs_client_options *options,
                           struct chainfs_client **result)
{
    int status = check_options(options);
    if (status != 0)
        return status;
    struct chainfs_client *client = calloc(1, sizeof(*client));
    if (!client)
        return CHAINFS_NO_MEMORY;
    client->options = *options;
    apply_defaults(&client->options);
    if (options->client_id)
        snprintf(client->client_id, sizeof(client->client_id), "%s", options->client_id);
    else
        generate_client_id(client->client_id, sizeof(client->client_id));
    client->options.client_id = client->client_id;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* sessions of a restarted client with the same id must not reuse old numbers */
    atomic_init(&client->next_session_id,
                ((uint64_t)now.tv_sec << 32) ^ ((uint64_t)now.tv_nsec << 8) ^ (uint64_t)getpid());
    pthread_mutex_init(&client->table_lock, NULL);
    pthread_mutex_init(&client->reporter_lock, NULL);
    pthread_cond_init(&client->reporter_wake, NULL);
    status = open_backend(client);
    if (status == 0 && client->options.mgmtd_addresses)
        status = client_session_start(client);
    if (status == 0)
        status = length_reporter_start(client);
    if (status != 0) {
        chainfs_client_disconnect(client);
        return status;
    }
    *result = client;
    return 0;
}

/* Closes what chainfs_close was not called for (a mount ended while programs still
 * had files open): their final lengths are reported and their sessions end. */
static void close_leftover_files(struct chainfs_client *client)
{
    for (;;) {
        pthread_mutex_lock(&client->table_lock);
        struct chainfs_file *file = client->files;
        pthread_mutex_unlock(&client->table_lock);
        if (!file)
            return;
        chainfs_close(file);
    }
}

void chainfs_client_disconnect(struct chainfs_client *client)
{
    if (!client)
        return;
    length_reporter_stop(client);
    if (client->backend.meta)
        close_leftover_files(client); /* which frees every open inode with its last file */
    client_session_stop(client);
    if (client->backend.meta)
        client->backend.meta->destroy(client->backend.meta_context);
    if (client->backend.storage)
        client->backend.storage->destroy(client->backend.storage_context);
    if (client->rpc)
        rpc_client_destroy(client->rpc);
    pthread_cond_destroy(&client->reporter_wake);
    pthread_mutex_destroy(&client->reporter_lock);
    pthread_mutex_destroy(&client->table_lock);
    free(client);
}

const char *chainfs_client_id(const struct chainfs_client *client) { return client->client_id; }

#define META(client) ((client)->backend.meta)
#define META_CONTEXT(client) ((client)->backend.meta_context)

/* Attributes of an inode, with the length this client knows if it has it open. */
static void merged_attributes(struct chainfs_client *client, const struct inode *inode,
                              struct chainfs_attributes *attributes)
{
    client_attributes(inode, attributes);
    if (inode->type != INODE_FILE)
        return;
    struct open_inode *open = open_inode_find(client, inode->id);
    if (!open)
        return;
    pthread_mutex_lock(&open->lock);
    if (open->truncate_version == inode->truncate_version && open->length > attributes->length)
        attributes->length = open->length;
    pthread_mutex_unlock(&open->lock);
    open_inode_release(client, open);
}

int chainfs_stat(struct chainfs_client *client, uint64_t inode_id,
                 struct chainfs_attributes *attributes)
{
    struct inode inode;
    int status = META(client)->stat(META_CONTEXT(client), inode_id, &inode);
    if (status == 0)
        merged_attributes(client, &inode, attributes);
    return status;
}

int chainfs_lookup(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name, struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = META(client)->lookup(META_CONTEXT(client), &meta, parent_id, name, &inode);
    if (status == 0)
        merged_attributes(client, &inode, attributes);
    return status;
}

int chainfs_resolve(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    const char *path, bool follow_last, struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = META(client)->resolve(META_CONTEXT(client), &meta, path, follow_last, &inode);
    if (status == 0)
        merged_attributes(client, &inode, attributes);
    return status;
}

_Static_assert(
                   (unsigned)CHAINFS_SET_MODE == (unsigned)META_SET_MODE &&
                   (unsigned)CHAINFS_SET_UID == (unsigned)META_SET_UID &&
                   (unsigned)CHAINFS_SET_GID == (unsigned)META_SET_GID &&
                   (unsigned)CHAINFS_SET_ATIME == (unsigned)META_SET_ATIME &&
                   (unsigned)CHAINFS_SET_MTIME == (unsigned)META_SET_MTIME &&
                   (unsigned)CHAINFS_SET_ATIME_NOW == (unsigned)META_SET_ATIME_NOW &&
                   (unsigned)CHAINFS_SET_MTIME_NOW == (unsigned)META_SET_MTIME_NOW &&
                   (unsigned)CHAINFS_SET_LENGTH == (unsigned)META_SET_SIZE,
               "public attribute bits are meta's");

static void meta_changes(const struct chainfs_attribute_changes *changes, struct meta_setattr *meta)
{
    /* the CHAINFS_SET_* bits are the META_SET_* bits */
    *meta = (struct meta_setattr){.fields = changes->fields, .mode = changes->mode,
                                  .uid = changes->uid, .gid = changes->gid,
                                  .atime_ns = changes->atime_ns, .mtime_ns = changes->mtime_ns,
                                  .size = changes->length};
}

/* After a truncate: this client's view of the file follows the new length. */
static void adopt_truncate(struct chainfs_client *client, const struct inode *inode)
{
    struct open_inode *open = open_inode_find(client, inode->id);
    if (!open)
        return;
    pthread_mutex_lock(&open->lock);
    open_inode_learn(open, inode);
    pthread_mutex_unlock(&open->lock);
    open_inode_release(client, open);
}

int chainfs_setattr(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t inode_id, const struct chainfs_attribute_changes *changes,
                    struct chainfs_attributes *attributes)
{
    if (changes->fields & ~0xffu)
        return CHAINFS_INVALID_ARGUMENT;
    struct meta_credentials meta;
    struct meta_setattr meta_setattr;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    meta_changes(changes, &meta_setattr);
    int status = 0;
    if (changes->fields & CHAINFS_SET_LENGTH) {
        /* refuse before touching storage what meta would refuse (meta checks again) */
        status = META(client)->stat(META_CONTEXT(client), inode_id, &inode);
        if (status == 0 && (inode.flags & INODE_FLAG_IMMUTABLE))
            status = CHAINFS_NOT_PERMITTED;
        if (status == 0)
            status = credentials_check_access(&meta, &inode, META_ACCESS_WRITE);
        if (status == 0 && inode.type != INODE_FILE)
            status = inode.type == INODE_DIRECTORY ? CHAINFS_IS_DIRECTORY : CHAINFS_INVALID_ARGUMENT;
        if (status == 0)
            status = file_cut_chunks(client, &inode, changes->length);
    }
    if (status == 0)
        status = META(client)->setattr(META_CONTEXT(client), &meta, inode_id, &meta_setattr, &inode);
    if (status != 0)
        return status;
    if (changes->fields & CHAINFS_SET_LENGTH)
        adopt_truncate(client, &inode);
    if (attributes)
        merged_attributes(client, &inode, attributes);
    return 0;
}

int chainfs_mkdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                  uint64_t parent_id, const char *name, uint32_t mode,
                  struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = META(client)->mkdir(META_CONTEXT(client), &meta, parent_id, name, mode, &inode);
    if (status == 0 && attributes)
        client_attributes(&inode, attributes);
    return status;
}

int chainfs_symlink(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t parent_id, const char *name, const char *target,
                    struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = META(client)->symlink(META_CONTEXT(client), &meta, parent_id, name, target, &inode);
    if (status == 0 && attributes)
        client_attributes(&inode, attributes);
    return status;
}

int chainfs_readlink(struct chainfs_client *client, uint64_t inode_id, char *target,
                     size_t capacity)
{
    struct inode inode;
    int status = META(client)->stat(META_CONTEXT(client), inode_id, &inode);
    if (status != 0)
        return status;
    if (inode.type != INODE_SYMLINK)
        return CHAINFS_INVALID_ARGUMENT;
    if (strlen(inode.symlink_target) >= capacity)
        return CHAINFS_NAME_TOO_LONG;
    strcpy(target, inode.symlink_target);
    return 0;
}

int chainfs_link(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                 uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                 struct chainfs_attributes *attributes)
{
    struct meta_credentials meta;
    struct inode inode;
    client_meta_credentials(credentials, &meta);
    int status = META(client)->link(META_CONTEXT(client), &meta, inode_id, new_parent_id, new_name,
                                    &inode);
    if (status == 0 && attributes)
        merged_attributes(client, &inode, attributes);
    return status;
}

int chainfs_unlink(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t parent_id, const char *name)
{
    struct meta_credentials meta;
    client_meta_credentials(credentials, &meta);
    return META(client)->unlink(META_CONTEXT(client), &meta, parent_id, name);
}

int chainfs_rmdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                  uint64_t parent_id, const char *name)
{
    struct meta_credentials meta;
    client_meta_credentials(credentials, &meta);
    return META(client)->rmdir(META_CONTEXT(client), &meta, parent_id, name);
}

int chainfs_remove_recursive(struct chainfs_client *client,
                             const struct chainfs_credentials *credentials, uint64_t parent_id,
                             const char *name)
{
    struct meta_credentials meta;
    client_meta_credentials(credentials, &meta);
    return META(client)->remove_recursive(META_CONTEXT(client), &meta, parent_id, name);
}

int chainfs_rename(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                   uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                   const char *to_name, unsigned flags)
{
    if (flags & ~(unsigned)(CHAINFS_RENAME_NOREPLACE | CHAINFS_RENAME_EXCHANGE) ||
        flags == (CHAINFS_RENAME_NOREPLACE | CHAINFS_RENAME_EXCHANGE))
        return CHAINFS_INVALID_ARGUMENT;
    struct meta_credentials meta;
    client_meta_credentials(credentials, &meta);
    unsigned meta_flags = ((flags & CHAINFS_RENAME_NOREPLACE) ? META_RENAME_NOREPLACE : 0) |
                          ((flags & CHAINFS_RENAME_EXCHANGE) ? META_RENAME_EXCHANGE : 0);
    return META(client)->rename(META_CONTEXT(client), &meta, from_parent_id, from_name,
                                to_parent_id, to_name, meta_flags);
}

int chainfs_readdir(struct chainfs_client *client, const struct chainfs_credentials *credentials,
                    uint64_t directory_id, const char *after,
                    struct chainfs_directory_entry *entries,
                    struct chainfs_attributes *attributes, size_t capacity, size_t *count,
                    bool *more)
{
    struct meta_credentials meta;
    client_meta_credentials(credentials, &meta);
    if (capacity > CHAINFS_READDIR_MAX)
        capacity = CHAINFS_READDIR_MAX;
    struct meta_directory_entry *listed = calloc(capacity ? capacity : 1, sizeof(*listed));
    struct inode *inodes = attributes ? calloc(capacity ? capacity : 1, sizeof(*inodes)) : NULL;
    if (!listed || (attributes && !inodes)) {
        free(listed);
        free(inodes);
        return CHAINFS_NO_MEMORY;
    }
    size_t listed_count = 0;
    int status = META(client)->readdir(META_CONTEXT(client), &meta, directory_id, after, listed,
                                       inodes, capacity, &listed_count, more);
    if (status == 0) {
        for (size_t i = 0; i < listed_count; i++) {
            snprintf(entries[i].name, sizeof(entries[i].name), "%s", listed[i].name);
            entries[i].inode_id = listed[i].inode_id;
            entries[i].type = listed[i].type;
            if (!attributes)
                continue;
            /* removed since it was listed: meta answers no inode (embedded: id 0, the
             * service: the id alone, with no links) */
            if (inodes[i].id == 0 || inodes[i].nlink == 0)
                attributes[i].inode_id = 0;
            else
                merged_attributes(client, &inodes[i], &attributes[i]);
        }
        *count = listed_count;
    }
    free(listed);
    free(inodes);
    return status;
}

int chainfs_statfs(struct chainfs_client *client, struct chainfs_statfs *statfs)
{
    return META(client)->statfs(META_CONTEXT(client), statfs);
}

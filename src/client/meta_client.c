/*
 * meta_client.c - the metadata service's client: server list, failover, request ids
 * and one wrapper per operation (see meta_client.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "client/meta_client.h"
#include "common/clock.h"

#define DEFAULT_TIMEOUT_NS (5 * CLOCK_NS_PER_S)
#define FAILOVER_PAUSE_NS (50 * CLOCK_NS_PER_MS)
#define FAILOVER_PAUSE_MAX_NS (500 * CLOCK_NS_PER_MS)

struct meta_client {
    struct rpc_client *rpc;
    pthread_mutex_t lock; /* the server list */
    char servers[META_CLIENT_SERVERS_MAX][ADDRESS_TEXT_MAX];
    size_t server_count;
    atomic_size_t current; /* index of the server calls go to */
    char client_id[META_CLIENT_ID_MAX + 1];
    atomic_uint_fast64_t next_request_id;
    uint64_t timeout_ns;
    int attempts;
};

/* Parses "a,b,c" into the list; INVALID_ARGUMENT for an empty or overlong one. */
static int parse_servers(const char *text, char out[][ADDRESS_TEXT_MAX], size_t *count)
{
    *count = 0;
    while (*text) {
        size_t length = strcspn(text, ",");
        if (length == 0 || length >= ADDRESS_TEXT_MAX || *count == META_CLIENT_SERVERS_MAX)
            return CHAINFS_INVALID_ARGUMENT;
        memcpy(out[*count], text, length);
        out[(*count)++][length] = '\0';
        text += length + (text[length] == ',');
    }
    return *count ? 0 : CHAINFS_INVALID_ARGUMENT;
}

int meta_client_set_servers(struct meta_client *client, const char *servers)
{
    char parsed[META_CLIENT_SERVERS_MAX][ADDRESS_TEXT_MAX];
    size_t count;
    int status = parse_servers(servers, parsed, &count);
    if (status != 0)
        return status;
    pthread_mutex_lock(&client->lock);
    memcpy(client->servers, parsed, sizeof(parsed));
    client->server_count = count;
    pthread_mutex_unlock(&client->lock);
    return 0;
}

int meta_client_use_routing(struct meta_client *client, const struct routing_info *info)
{
    char list[META_CLIENT_SERVERS_MAX * ADDRESS_TEXT_MAX] = "";
    size_t used = 0, count = 0;
    for (size_t i = 0; i < info->node_count && count < META_CLIENT_SERVERS_MAX; i++) {
        const struct node_record *node = &info->nodes[i];
        if (node->type != NODE_TYPE_META || !node->alive || !node->enabled || !node->address[0])
            continue;
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", count ? "," : "",
                                 node->address);
        count++;
    }
    return count ? meta_client_set_servers(client, list) : CHAINFS_NOT_FOUND;
}

static void make_client_id(char out[META_CLIENT_ID_MAX + 1])
{
    char host[32] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned seed = (unsigned)(now.tv_nsec ^ getpid());
    snprintf(out, META_CLIENT_ID_MAX + 1, "%s-%d-%08x", host, (int)getpid(), (unsigned)rand_r(&seed));
}

int meta_client_create(const struct meta_client_options *options, struct meta_client **result)
{
    if (!options->rpc || (options->client_id && (!options->client_id[0] ||
                                                 strlen(options->client_id) > META_CLIENT_ID_MAX)))
        return CHAINFS_INVALID_ARGUMENT;
    struct meta_client *client = calloc(1, sizeof(*client));
    if (!client)
        return CHAINFS_NO_MEMORY;
    client->rpc = options->rpc;
    pthread_mutex_init(&client->lock, NULL);
    if (options->client_id)
        strcpy(client->client_id, options->client_id);
    else
        make_client_id(client->client_id);
    client->timeout_ns = options->timeout_ns ? options->timeout_ns : DEFAULT_TIMEOUT_NS;
    client->attempts = options->attempts;
    /* request ids start at a time-based value so a restarted client with the same id
     * does not collide with the records of its previous life */
    atomic_init(&client->next_request_id, (uint64_t)clock_now_ns() | 1);
    /* the server this client starts with: different clients start at different ones */
    uint64_t mixed = ((uint64_t)clock_now_ns() ^ (uint64_t)getpid()) * 0x9e3779b97f4a7c15ULL;
    atomic_init(&client->current, (size_t)(mixed >> 32));
    int status = options->servers ? meta_client_set_servers(client, options->servers) : 0;
    if (status != 0) {
        meta_client_destroy(client);
        return status;
    }
    *result = client;
    return 0;
}

void meta_client_destroy(struct meta_client *client)
{
    if (!client)
        return;
    pthread_mutex_destroy(&client->lock);
    free(client);
}

const char *meta_client_id(const struct meta_client *client) { return client->client_id; }

uint64_t meta_client_next_request_id(struct meta_client *client)
{
    return atomic_fetch_add(&client->next_request_id, 1);
}

/* Statuses after which another server (or the same one later) may succeed. */
static bool worth_failover(int status)
{
    return chainfs_error_is_retryable(status) || status == CHAINFS_SHUTTING_DOWN ||
           status == CHAINFS_RETRY_EXHAUSTED;
}

/* Every thread of a client calls the same server until it fails (then all move on
 * together): the calls of one mount then meet in one meta process, whose group commit
 * can write a create and the close of the previous file in one KV transaction and
 * whose commits do not wait on the other processes' commits for the store's writer
 * lock. Different clients start at different places (meta_client_create), so a
 * cluster's clients still spread over its servers. */

/* The server calls go to now, or false if the list is empty. */
static bool pick_server(struct meta_client *client, char address[ADDRESS_TEXT_MAX], size_t *index,
                        size_t *server_count)
{
    pthread_mutex_lock(&client->lock);
    *server_count = client->server_count;
    if (*server_count == 0) {
        pthread_mutex_unlock(&client->lock);
        return false;
    }
    *index = atomic_load(&client->current) % *server_count;
    strcpy(address, client->servers[*index]);
    pthread_mutex_unlock(&client->lock);
    return true;
}

static int call_once(struct meta_client *client, const char *address, uint16_t method,
                     const struct wire_writer *message, struct meta_reply *reply)
{
    struct rpc_call call;
    rpc_call_init(&call, META_SERVICE_ID, method);
    call.message = message->data;
    call.message_length = message->length;
    call.timeout_ns = client->timeout_ns;
    int status = rpc_call_sync(client->rpc, address, &call);
    if (status == 0)
        status = meta_reply_decode(method, call.reply_message, call.reply_message_length, reply);
    rpc_call_release(&call);
    return status;
}

/* The pause after the round-th round over every server: doubling, bounded. */
static uint64_t failover_pause(size_t round)
{
    uint64_t pause = FAILOVER_PAUSE_NS;
    for (size_t i = 0; i < round && pause < FAILOVER_PAUSE_MAX_NS; i++)
        pause *= 2;
    return pause < FAILOVER_PAUSE_MAX_NS ? pause : FAILOVER_PAUSE_MAX_NS;
}

int meta_client_call(struct meta_client *client, struct meta_request *request,
                     struct meta_reply *reply)
{
    if (!meta_method_name(request->method))
        return CHAINFS_INVALID_ARGUMENT;
    if (meta_method_mutates(request->method)) {
        if (!request->client_id[0])
            strcpy(request->client_id, client->client_id);
        if (request->request_id == 0)
            request->request_id = meta_client_next_request_id(client);
    }
    struct wire_writer message;
    wire_writer_init(&message);
    meta_request_encode(&message, request);
    if (!wire_writer_ok(&message)) {
        wire_writer_free(&message);
        return CHAINFS_NO_MEMORY;
    }
    int status = CHAINFS_UNAVAILABLE;
    /* Without a fixed number of attempts, failover goes on for one call timeout: every
     * server may be restarting at once (a rolling restart, two crashes in a row), and
     * an application should see a pause, not ECONNREFUSED. */
    uint64_t give_up_at = deadline_after_ns(client->timeout_ns);
    for (int attempt = 0;; attempt++) {
        char address[ADDRESS_TEXT_MAX];
        size_t index, server_count;
        if (!pick_server(client, address, &index, &server_count))
            break;
        int attempts = client->attempts ? client->attempts
                                        : (int)(2 * server_count > 3 ? 2 * server_count : 3);
        status = call_once(client, address, request->method, &message, reply);
        if (!worth_failover(status))
            break;
        if (attempt + 1 >= attempts && (client->attempts || deadline_expired(give_up_at)))
            break;
        /* move on from this server (unless another thread already moved) */
        size_t expected = atomic_load(&client->current);
        if (expected % server_count == index)
            atomic_compare_exchange_strong(&client->current, &expected, expected + 1);
        if ((size_t)(attempt + 1) % server_count == 0) /* a round over every server */
            clock_sleep_ns(failover_pause((size_t)attempt / server_count));
    }
    wire_writer_free(&message);
    return status;
}

/* --- one wrapper per operation ------------------------------------------------------ */

static void request_init(struct meta_request *request, uint16_t method,
                         const struct meta_credentials *credentials)
{
    memset(request, 0, sizeof(*request));
    request->method = method;
    request->credentials = *credentials;
}

static int copy_name(char *out, const char *name)
{
    if (strlen(name) > META_NAME_MAX)
        return CHAINFS_NAME_TOO_LONG;
    strcpy(out, name);
    return 0;
}

static int copy_path(char *out, const char *path)
{
    if (strlen(path) > META_PATH_MAX)
        return CHAINFS_NAME_TOO_LONG;
    strcpy(out, path);
    return 0;
}

/* Runs request and copies the reply inode out (inode may be NULL). */
static int call_for_inode(struct meta_client *client, struct meta_request *request,
                          struct inode *inode)
{
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    if (!reply)
        return CHAINFS_NO_MEMORY;
    int status = meta_client_call(client, request, reply);
    if (status == 0 && inode)
        *inode = reply->inode;
    free(reply);
    return status;
}

/* Runs request with a heap copy (requests are large) and returns the reply. */
static int run(struct meta_client *client, struct meta_request *request, struct meta_reply *reply)
{
    return meta_client_call(client, request, reply);
}

#define NEW_REQUEST(method)                                                                  \
    struct meta_request *request = malloc(sizeof(*request));                                 \
    if (!request)                                                                            \
        return CHAINFS_NO_MEMORY;                                                            \
    request_init(request, method, credentials)

int meta_client_stat(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_STAT);
    request->inode_id = inode_id;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_stat_path(struct meta_client *client, const struct meta_credentials *credentials,
                          const char *path, bool follow_last, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_STAT_PATH);
    request->flags = follow_last ? META_FOLLOW_LAST : 0;
    int status = copy_path(request->path, path);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_batch_stat(struct meta_client *client, const struct meta_credentials *credentials,
                           const uint64_t *ids, size_t count, int *statuses, struct inode *inodes)
{
    if (count == 0 || count > META_BATCH_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    NEW_REQUEST(META_METHOD_BATCH_STAT);
    request->id_count = (uint32_t)count;
    memcpy(request->ids, ids, count * sizeof(*ids));
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    int status = CHAINFS_NO_MEMORY;
    if (reply) {
        reply->batch_capacity = count;
        reply->batch_statuses = statuses;
        reply->batch_inodes = inodes;
        status = run(client, request, reply);
        if (status == 0 && reply->count != count)
            status = CHAINFS_MALFORMED;
    }
    free(reply);
    free(request);
    return status;
}

int meta_client_lookup(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t parent_id, const char *name, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_LOOKUP);
    request->parent_id = parent_id;
    int status = copy_name(request->name, name);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

/* Runs a request whose reply is a path and copies it into out. */
static int call_for_path(struct meta_client *client, struct meta_request *request, char *out,
                         size_t capacity)
{
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    if (!reply)
        return CHAINFS_NO_MEMORY;
    int status = run(client, request, reply);
    if (status == 0 && strlen(reply->path) >= capacity)
        status = CHAINFS_NAME_TOO_LONG;
    if (status == 0)
        strcpy(out, reply->path);
    free(reply);
    return status;
}

int meta_client_readlink(struct meta_client *client, const struct meta_credentials *credentials,
                         uint64_t inode_id, char *target, size_t capacity)
{
    NEW_REQUEST(META_METHOD_READLINK);
    request->inode_id = inode_id;
    int status = call_for_path(client, request, target, capacity);
    free(request);
    return status;
}

int meta_client_readdir(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t directory_id, const char *after,
                        struct meta_directory_entry *entries, struct inode *attributes,
                        size_t capacity, size_t *count, bool *more)
{
    if (capacity == 0)
        return CHAINFS_INVALID_ARGUMENT;
    NEW_REQUEST(META_METHOD_READDIR);
    request->inode_id = directory_id;
    request->limit = (uint32_t)(capacity < META_BATCH_MAX ? capacity : META_BATCH_MAX);
    request->flags = attributes ? META_READDIR_ATTRIBUTES : 0;
    int status = copy_name(request->path, after);
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    if (!reply)
        status = CHAINFS_NO_MEMORY;
    if (status == 0) {
        reply->entry_capacity = request->limit;
        reply->entries = entries;
        reply->entry_inodes = attributes;
        status = run(client, request, reply);
    }
    if (status == 0) {
        *count = reply->count;
        *more = reply->more;
    }
    free(reply);
    free(request);
    return status;
}

int meta_client_statfs(struct meta_client *client, const struct meta_credentials *credentials,
                       struct meta_statfs *statfs)
{
    NEW_REQUEST(META_METHOD_STATFS);
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    int status = reply ? run(client, request, reply) : CHAINFS_NO_MEMORY;
    if (status == 0)
        *statfs = reply->statfs;
    free(reply);
    free(request);
    return status;
}

int meta_client_realpath(struct meta_client *client, const struct meta_credentials *credentials,
                         const char *path, char *resolved, size_t capacity)
{
    NEW_REQUEST(META_METHOD_REALPATH);
    int status = copy_path(request->path, path);
    if (status == 0)
        status = call_for_path(client, request, resolved, capacity);
    free(request);
    return status;
}

int meta_client_create_file(struct meta_client *client,
                            const struct meta_credentials *credentials, uint64_t parent_id,
                            const char *name, uint32_t mode, unsigned flags,
                            uint64_t session_id, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_CREATE);
    request->parent_id = parent_id;
    request->mode = mode;
    request->flags = flags;
    request->session_id = session_id;
    int status = copy_name(request->name, name);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_open(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, unsigned flags, uint64_t session_id, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_OPEN);
    request->inode_id = inode_id;
    request->flags = flags;
    request->session_id = session_id;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_close(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t inode_id, uint64_t session_id, unsigned flags, uint64_t length,
                      uint64_t truncate_version, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_CLOSE);
    request->inode_id = inode_id;
    request->session_id = session_id;
    request->flags = flags;
    request->length = length;
    request->truncate_version = truncate_version;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_report_length(struct meta_client *client, const struct meta_credentials *credentials,
                              uint64_t inode_id, uint64_t session_id, uint64_t length,
                              uint64_t truncate_version, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_REPORT_LENGTH);
    request->inode_id = inode_id;
    request->session_id = session_id;
    request->length = length;
    request->truncate_version = truncate_version;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_sync_length(struct meta_client *client, const struct meta_credentials *credentials,
                            uint64_t inode_id, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_SYNC_LENGTH);
    request->inode_id = inode_id;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_mkdir(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_MKDIR);
    request->parent_id = parent_id;
    request->mode = mode;
    int status = copy_name(request->name, name);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_mkdirs(struct meta_client *client, const struct meta_credentials *credentials,
                       const char *path, uint32_t mode, struct inode *inode)
{
    NEW_REQUEST(META_METHOD_MKDIRS);
    request->mode = mode;
    int status = copy_path(request->path, path);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_symlink(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t parent_id, const char *name, const char *target,
                        struct inode *inode)
{
    NEW_REQUEST(META_METHOD_SYMLINK);
    request->parent_id = parent_id;
    int status = copy_name(request->name, name);
    if (status == 0)
        status = copy_path(request->path, target);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_link(struct meta_client *client, const struct meta_credentials *credentials,
                     uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                     struct inode *inode)
{
    NEW_REQUEST(META_METHOD_LINK);
    request->inode_id = inode_id;
    request->new_parent_id = new_parent_id;
    int status = copy_name(request->new_name, new_name);
    if (status == 0)
        status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

static int remove_call(struct meta_client *client, const struct meta_credentials *credentials,
                       uint16_t method, uint64_t parent_id, const char *name, uint64_t *removed)
{
    NEW_REQUEST(method);
    request->parent_id = parent_id;
    int status = copy_name(request->name, name);
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    if (!reply)
        status = CHAINFS_NO_MEMORY;
    if (status == 0)
        status = run(client, request, reply);
    if (status == 0 && removed)
        *removed = reply->removed;
    free(reply);
    free(request);
    return status;
}

int meta_client_unlink(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t parent_id, const char *name)
{
    return remove_call(client, credentials, META_METHOD_UNLINK, parent_id, name, NULL);
}

int meta_client_rmdir(struct meta_client *client, const struct meta_credentials *credentials,
                      uint64_t parent_id, const char *name)
{
    return remove_call(client, credentials, META_METHOD_RMDIR, parent_id, name, NULL);
}

int meta_client_remove_tree(struct meta_client *client, const struct meta_credentials *credentials,
                            uint64_t parent_id, const char *name, uint64_t *removed)
{
    return remove_call(client, credentials, META_METHOD_REMOVE_TREE, parent_id, name, removed);
}

int meta_client_rename(struct meta_client *client, const struct meta_credentials *credentials,
                       uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                       const char *to_name, unsigned flags)
{
    NEW_REQUEST(META_METHOD_RENAME);
    request->parent_id = from_parent_id;
    request->new_parent_id = to_parent_id;
    request->flags = flags;
    int status = copy_name(request->name, from_name);
    if (status == 0)
        status = copy_name(request->new_name, to_name);
    if (status == 0)
        status = call_for_inode(client, request, NULL);
    free(request);
    return status;
}

int meta_client_setattr(struct meta_client *client, const struct meta_credentials *credentials,
                        uint64_t inode_id, const struct meta_setattr *changes,
                        struct inode *inode)
{
    NEW_REQUEST(META_METHOD_SETATTR);
    request->inode_id = inode_id;
    request->setattr = *changes;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

int meta_client_set_layout(struct meta_client *client, const struct meta_credentials *credentials,
                           uint64_t directory_id, const struct file_layout *layout,
                           struct inode *inode)
{
    NEW_REQUEST(META_METHOD_SET_LAYOUT);
    request->inode_id = directory_id;
    request->layout = *layout;
    int status = call_for_inode(client, request, inode);
    free(request);
    return status;
}

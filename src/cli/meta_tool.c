/*
 * meta_tool.c - `chainfs meta-tool`: one metadata operation per run through the meta
 * client, printing the result as one JSON line (for operators and process tests).
 *
 *   chainfs meta-tool --servers A[,B] [--uid U] [--gid G] [--groups G1,G2]
 *       [--client-id C] [--request-id N] [--repeat K] OP ARGS...
 *
 * --request-id with --repeat sends the same mutating request K times (what a client
 * does after a lost reply); every answer is printed.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "client/meta_client.h"
#include "common/clock.h"
#include "common/log.h"

struct tool {
    struct meta_client *client;
    struct meta_credentials credentials;
    uint64_t request_id;
    int repeat;
};

static void print_inode(const struct inode *inode)
{
    printf("\"inode\":{\"id\":%llu,\"type\":%u,\"mode\":%u,\"uid\":%u,\"gid\":%u,\"nlink\":%u,"
           "\"length\":%llu,\"truncate_version\":%llu,\"chunk_size\":%u,\"stripe\":%u,"
           "\"table_id\":%u,\"table_version\":%u,\"first_chain\":%u}",
           (unsigned long long)inode->id, inode->type, inode->mode, inode->uid, inode->gid,
           inode->nlink, (unsigned long long)inode->length,
           (unsigned long long)inode->truncate_version, inode->layout.chunk_size,
           inode->layout.stripe, inode->layout.table_id, inode->layout.table_version,
           inode->layout.first_chain_index);
}

/* Prints a JSON string (names are bytes: escape quotes, backslashes, controls). */
static void print_text(const char *text)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

static void print_result(int status, const struct meta_request *request,
                         const struct meta_reply *reply)
{
    printf("{\"status\":%d,\"errno\":%d,\"error\":\"%s\"", status,
           status ? chainfs_error_to_errno(status) : 0, status ? chainfs_error_message(status) : "");
    if (status == 0) {
        switch (meta_method_reply_kind(request->method)) {
        case META_REPLY_INODE:
            putchar(',');
            print_inode(&reply->inode);
            break;
        case META_REPLY_PATH:
            printf(",\"path\":");
            print_text(reply->path);
            break;
        case META_REPLY_COUNT:
            printf(",\"removed\":%llu", (unsigned long long)reply->removed);
            break;
        case META_REPLY_STATFS:
            printf(",\"capacity\":%llu,\"used\":%llu,\"free\":%llu",
                   (unsigned long long)reply->statfs.capacity_bytes,
                   (unsigned long long)reply->statfs.used_bytes,
                   (unsigned long long)reply->statfs.free_bytes);
            break;
        case META_REPLY_DIRECTORY:
            printf(",\"more\":%s,\"entries\":[", reply->more ? "true" : "false");
            for (size_t i = 0; i < reply->count; i++) {
                printf("%s{\"name\":", i ? "," : "");
                print_text(reply->entries[i].name);
                printf(",\"id\":%llu,\"type\":%u}", (unsigned long long)reply->entries[i].inode_id,
                       reply->entries[i].type);
            }
            putchar(']');
            break;
        default:
            break;
        }
    }
    printf("}\n");
    fflush(stdout);
}

/* Splits an absolute path into (parent directory id, last name). */
static int parent_of(struct tool *tool, const char *path, uint64_t *parent_id, char *name)
{
    char directory[META_PATH_MAX + 1];
    snprintf(directory, sizeof(directory), "%s", path);
    char *slash = strrchr(directory, '/');
    if (!slash || path[0] != '/' || strlen(slash + 1) > META_NAME_MAX || !slash[1])
        return CHAINFS_INVALID_ARGUMENT;
    strcpy(name, slash + 1);
    if (slash == directory)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct inode inode;
    int status = meta_client_stat_path(tool->client, &tool->credentials, directory, true, &inode);
    *parent_id = inode.id;
    return status;
}

static int inode_of(struct tool *tool, const char *path, bool follow, uint64_t *id)
{
    struct inode inode;
    int status = meta_client_stat_path(tool->client, &tool->credentials, path, follow, &inode);
    *id = inode.id;
    return status;
}

/* Sends the request (repeat times with one request id) and prints each answer. */
static int send_request(struct tool *tool, struct meta_request *request)
{
    request->credentials = tool->credentials;
    request->request_id = tool->request_id;
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    struct meta_directory_entry *entries = calloc(META_BATCH_MAX, sizeof(*entries));
    int status = CHAINFS_NO_MEMORY;
    for (int i = 0; reply && entries && i < tool->repeat; i++) {
        reply->entries = entries;
        reply->entry_capacity = META_BATCH_MAX;
        status = meta_client_call(tool->client, request, reply);
        print_result(status, request, reply);
    }
    free(entries);
    free(reply);
    return status;
}

static unsigned parse_mode(const char *text) { return (unsigned)strtoul(text, NULL, 8); }

/* Ops on an entry: parent id + name. */
static int entry_op(struct tool *tool, struct meta_request *request, const char *path)
{
    int status = parent_of(tool, path, &request->parent_id, request->name);
    return status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
}

/* Lists every entry of a directory (page by page): one line with all names. */
static int list_directory(struct tool *tool, const char *path)
{
    uint64_t directory;
    int status = inode_of(tool, path, true, &directory);
    struct meta_directory_entry *entries = calloc(META_BATCH_MAX, sizeof(*entries));
    char after[META_NAME_MAX + 1] = "";
    bool more = true;
    size_t total = 0;
    printf("{\"entries\":[");
    while (status == 0 && entries && more) {
        size_t count;
        status = meta_client_readdir(tool->client, &tool->credentials, directory, after, entries,
                                     NULL, META_BATCH_MAX, &count, &more);
        for (size_t i = 0; status == 0 && i < count; i++) {
            printf("%s{\"name\":", total++ ? "," : "");
            print_text(entries[i].name);
            printf(",\"id\":%llu,\"type\":%u}", (unsigned long long)entries[i].inode_id,
                   entries[i].type);
        }
        if (status == 0 && count)
            strcpy(after, entries[count - 1].name);
        more = more && count;
    }
    printf("],\"status\":%d,\"errno\":%d}\n", status, status ? chainfs_error_to_errno(status) : 0);
    free(entries);
    return status;
}

/* Creates count files prefix0..prefixN-1 in directory (concurrency tests): prints
 * one line with how many succeeded and the ids. */
static int create_many(struct tool *tool, const char *directory, const char *prefix, long count)
{
    uint64_t parent;
    int status = inode_of(tool, directory, true, &parent);
    long created = 0;
    printf("{\"ids\":[");
    for (long i = 0; status == 0 && i < count; i++) {
        char name[META_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%s%ld", prefix, i);
        struct inode inode;
        status = meta_client_create_file(tool->client, &tool->credentials, parent, name, 0644,
                                         META_CREATE_EXCLUSIVE, 0, &inode);
        if (status == 0)
            printf("%s%llu", created++ ? "," : "", (unsigned long long)inode.id);
    }
    printf("],\"created\":%ld,\"status\":%d}\n", created, status);
    return status;
}

/* --- stress: random namespace changes from many threads ---------------------------- */

struct stress_thread {
    struct tool *tool;
    const char *directory;
    const char *kinds; /* letters: c create, m mkdir, u unlink, r rmdir, l link,
                          n rename, x exchange */
    uint64_t deadline;
    unsigned seed;
    long operations;
    long succeeded;
    long unexpected;
    int last_unexpected;
};

/* A random path below the directory: one or two of 6 names deep. */
static void random_path(struct stress_thread *thread, char *path, size_t capacity)
{
    int first = rand_r(&thread->seed) % 6, second = rand_r(&thread->seed) % 6;
    if (rand_r(&thread->seed) % 2)
        snprintf(path, capacity, "%s/n%d", thread->directory, first);
    else
        snprintf(path, capacity, "%s/n%d/n%d", thread->directory, first, second);
}

/* What a namespace operation may answer in a race with others: not a failure. */
static bool expected_status(int status)
{
    switch (status) {
    case 0: case CHAINFS_NOT_FOUND: case CHAINFS_EXISTS: case CHAINFS_NOT_EMPTY:
    case CHAINFS_NOT_DIRECTORY: case CHAINFS_IS_DIRECTORY: case CHAINFS_INVALID_ARGUMENT:
    case CHAINFS_NOT_PERMITTED:
        return true;
    default:
        return false;
    }
}

static int stress_once(struct stress_thread *thread)
{
    struct tool *tool = thread->tool;
    char path[512], other[512], name[META_NAME_MAX + 1], other_name[META_NAME_MAX + 1];
    uint64_t parent, other_parent;
    struct inode inode;
    random_path(thread, path, sizeof(path));
    int status = parent_of(tool, path, &parent, name);
    if (status != 0)
        return status;
    char kind = thread->kinds[(size_t)rand_r(&thread->seed) % strlen(thread->kinds)];
    switch (kind) {
    case 'c':
        return meta_client_create_file(tool->client, &tool->credentials, parent, name, 0644, 0, 0,
                                       &inode);
    case 'm':
        return meta_client_mkdir(tool->client, &tool->credentials, parent, name, 0755, &inode);
    case 'u':
        return meta_client_unlink(tool->client, &tool->credentials, parent, name);
    case 'r':
        return meta_client_rmdir(tool->client, &tool->credentials, parent, name);
    case 'l':
        status = meta_client_stat_path(tool->client, &tool->credentials, path, false, &inode);
        random_path(thread, other, sizeof(other));
        if (status == 0)
            status = parent_of(tool, other, &other_parent, other_name);
        return status == 0 ? meta_client_link(tool->client, &tool->credentials, inode.id,
                                              other_parent, other_name, &inode)
                           : status;
    default: {
        random_path(thread, other, sizeof(other));
        status = parent_of(tool, other, &other_parent, other_name);
        unsigned flags = kind == 'x' ? META_RENAME_EXCHANGE : 0;
        return status == 0 ? meta_client_rename(tool->client, &tool->credentials, parent, name,
                                                other_parent, other_name, flags)
                           : status;
    }
    }
}

static void *stress_main(void *argument)
{
    struct stress_thread *thread = argument;
    while (clock_now_ns() < thread->deadline) {
        int status = stress_once(thread);
        thread->operations++;
        thread->succeeded += status == 0;
        if (!expected_status(status)) {
            thread->unexpected++;
            thread->last_unexpected = status;
        }
    }
    return NULL;
}

/* Random namespace changes (operations: letters, see struct stress_thread) in a
 * small tree for seconds. */
static int stress(struct tool *tool, const char *directory, double seconds, int threads,
                  const char *kinds)
{
    if (threads < 1 || threads > 64 || seconds <= 0 || seconds > 600 || !kinds[0] ||
        strspn(kinds, "cmurlnx") != strlen(kinds))
        return CHAINFS_INVALID_ARGUMENT;
    struct stress_thread work[64];
    pthread_t ids[64];
    uint64_t deadline = clock_now_ns() + (uint64_t)(seconds * 1e9);
    int started = 0;
    for (int i = 0; i < threads; i++) {
        work[i] = (struct stress_thread){tool, directory, kinds, deadline,
                                         (unsigned)(clock_now_ns() + i), 0, 0, 0, 0};
        if (pthread_create(&ids[i], NULL, stress_main, &work[i]) == 0)
            started++;
    }
    long operations = 0, succeeded = 0, unexpected = 0;
    int last = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        operations += work[i].operations;
        succeeded += work[i].succeeded;
        unexpected += work[i].unexpected;
        if (work[i].unexpected)
            last = work[i].last_unexpected;
    }
    printf("{\"operations\":%ld,\"succeeded\":%ld,\"unexpected\":%ld,\"last_unexpected\":\"%s\"}\n",
           operations, succeeded, unexpected, last ? chainfs_error_message(last) : "");
    return unexpected ? CHAINFS_INTERNAL : 0;
}

static int run_op(struct tool *tool, int argc, char **argv)
{
    const char *op = argv[0];
    struct meta_request *request = calloc(1, sizeof(*request));
    if (!request)
        return CHAINFS_NO_MEMORY;
    int status = CHAINFS_INVALID_ARGUMENT;
#define OP(text, arguments) (strcmp(op, text) == 0 && argc == (arguments) + 1)
    if (OP("stat", 1) || OP("lstat", 1)) {
        request->method = META_METHOD_STAT_PATH;
        request->flags = op[0] == 's' ? META_FOLLOW_LAST : 0;
        snprintf(request->path, sizeof(request->path), "%s", argv[1]);
        status = send_request(tool, request);
    } else if (OP("stat-id", 1)) {
        request->method = META_METHOD_STAT;
        request->inode_id = strtoull(argv[1], NULL, 10);
        status = send_request(tool, request);
    } else if (OP("open-write", 2)) {
        request->method = META_METHOD_OPEN;
        request->flags = META_OPEN_MODE_WRITE;
        request->session_id = strtoull(argv[2], NULL, 10);
        status = inode_of(tool, argv[1], true, &request->inode_id);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("report", 3)) {
        request->method = META_METHOD_REPORT_LENGTH;
        request->session_id = strtoull(argv[2], NULL, 10);
        request->length = strtoull(argv[3], NULL, 10);
        struct inode inode;
        status = meta_client_stat_path(tool->client, &tool->credentials, argv[1], true, &inode);
        request->inode_id = inode.id;
        request->truncate_version = inode.truncate_version;
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("sync", 1)) {
        request->method = META_METHOD_SYNC_LENGTH;
        status = inode_of(tool, argv[1], true, &request->inode_id);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("create", 2) || OP("create-excl", 2)) {
        request->method = META_METHOD_CREATE;
        request->mode = parse_mode(argv[2]);
        request->flags = op[6] ? META_CREATE_EXCLUSIVE : 0;
        status = entry_op(tool, request, argv[1]);
    } else if (OP("mkdir", 2)) {
        request->method = META_METHOD_MKDIR;
        request->mode = parse_mode(argv[2]);
        status = entry_op(tool, request, argv[1]);
    } else if (OP("mkdirs", 2)) {
        request->method = META_METHOD_MKDIRS;
        request->mode = parse_mode(argv[2]);
        snprintf(request->path, sizeof(request->path), "%s", argv[1]);
        status = send_request(tool, request);
    } else if (OP("symlink", 2)) {
        request->method = META_METHOD_SYMLINK;
        snprintf(request->path, sizeof(request->path), "%s", argv[1]);
        status = entry_op(tool, request, argv[2]);
    } else if (OP("readlink", 1)) {
        request->method = META_METHOD_READLINK;
        status = inode_of(tool, argv[1], false, &request->inode_id);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("unlink", 1) || OP("rmdir", 1) || OP("rmr", 1)) {
        request->method = op[1] == 'n' ? META_METHOD_UNLINK
                          : op[2] == 'd' ? META_METHOD_RMDIR : META_METHOD_REMOVE_TREE;
        status = entry_op(tool, request, argv[1]);
    } else if (OP("rename", 2) || OP("rename-noreplace", 2) || OP("exchange", 2)) {
        request->method = META_METHOD_RENAME;
        request->flags = op[0] == 'e' ? META_RENAME_EXCHANGE : op[6] ? META_RENAME_NOREPLACE : 0;
        status = parent_of(tool, argv[2], &request->new_parent_id, request->new_name);
        status = status == 0 ? entry_op(tool, request, argv[1]) : (print_result(status, request, NULL), status);
    } else if (OP("link", 2)) {
        request->method = META_METHOD_LINK;
        status = inode_of(tool, argv[1], false, &request->inode_id);
        if (status == 0)
            status = parent_of(tool, argv[2], &request->new_parent_id, request->new_name);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("ls", 1)) {
        status = list_directory(tool, argv[1]);
    } else if (OP("chmod", 2) || OP("truncate", 2)) {
        request->method = META_METHOD_SETATTR;
        request->setattr.fields = op[0] == 'c' ? META_SET_MODE : META_SET_SIZE;
        request->setattr.mode = parse_mode(argv[1]);
        request->setattr.size = strtoull(argv[2], NULL, 10);
        status = inode_of(tool, op[0] == 'c' ? argv[2] : argv[1], true, &request->inode_id);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("statfs", 0)) {
        request->method = META_METHOD_STATFS;
        status = send_request(tool, request);
    } else if (OP("realpath", 1)) {
        request->method = META_METHOD_REALPATH;
        snprintf(request->path, sizeof(request->path), "%s", argv[1]);
        status = send_request(tool, request);
    } else if (OP("set-layout", 4)) {
        request->method = META_METHOD_SET_LAYOUT;
        request->layout = (struct file_layout){.chunk_size = (uint32_t)strtoul(argv[2], NULL, 0),
                                               .stripe = (uint32_t)strtoul(argv[3], NULL, 0),
                                               .table_id = (uint32_t)strtoul(argv[4], NULL, 0)};
        status = inode_of(tool, argv[1], true, &request->inode_id);
        status = status == 0 ? send_request(tool, request) : (print_result(status, request, NULL), status);
    } else if (OP("stress", 3) || OP("stress", 4)) {
        status = stress(tool, argv[1], strtod(argv[2], NULL), atoi(argv[3]),
                        argc == 5 ? argv[4] : "cmurlnx");
    } else if (OP("create-many", 3)) {
        status = create_many(tool, argv[1], argv[2], strtol(argv[3], NULL, 10));
    } else {
        fprintf(stderr, "chainfs meta-tool: unknown operation or wrong arguments: %s\n", op);
        free(request);
        return -1;
    }
#undef OP
    free(request);
    return status;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chainfs meta-tool --servers HOST:PORT[,...] [--uid U] [--gid G] [--groups G,..]\n"
            "                         [--client-id C] [--request-id N] [--repeat K] OP ARGS...\n"
            "ops: stat P | lstat P | stat-id ID | open-write P SESSION |\n"
            "     report P SESSION LENGTH | sync P | create P MODE | create-excl P MODE |\n"
            "     mkdir P MODE | mkdirs P MODE | symlink TARGET P | readlink P | link P NEW |\n"
            "     unlink P | rmdir P | rmr P | rename P NEW | rename-noreplace P NEW |\n"
            "     exchange P Q | ls P | chmod MODE P | truncate P SIZE | statfs | realpath P |\n"
            "     set-layout DIR CHUNK_SIZE STRIPE TABLE | create-many DIR PREFIX COUNT |\n"
            "     stress DIR SECONDS THREADS [OPS: letters of cmurlnx]\n");
}

static void parse_groups(struct meta_credentials *credentials, char *text)
{
    credentials->group_count = 0;
    for (char *item = strtok(text, ","); item && credentials->group_count < META_GROUPS_MAX;
         item = strtok(NULL, ","))
        credentials->groups[credentials->group_count++] = (uint32_t)strtoul(item, NULL, 10);
}

int command_meta_tool(int argc, char **argv)
{
    static const struct option options[] = {
        {"servers", required_argument, NULL, 's'}, {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},     {"groups", required_argument, NULL, 'G'},
        {"request-id", required_argument, NULL, 'r'}, {"repeat", required_argument, NULL, 'n'},
        {"client-id", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct tool tool = {.repeat = 1};
    const char *servers = NULL, *client_id = NULL;
    int option;
    while ((option = getopt_long(argc, argv, "+", options, NULL)) != -1) {
        switch (option) {
        case 's': servers = optarg; break;
        case 'u': tool.credentials.uid = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'g': tool.credentials.gid = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'G': parse_groups(&tool.credentials, optarg); break;
        case 'r': tool.request_id = strtoull(optarg, NULL, 10); break;
        case 'n': tool.repeat = atoi(optarg); break;
        case 'c': client_id = optarg; break;
        default: usage(); return option == 'h' ? 0 : 2;
        }
    }
    if (!servers || optind >= argc || tool.repeat < 1) {
        usage();
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    struct rpc_client *rpc;
    if (rpc_client_create(&rpc_options, &rpc) != 0)
        return 1;
    struct meta_client_options client_options = {.rpc = rpc, .servers = servers,
                                                 .client_id = client_id,
                                                 .timeout_ns = 2000000000ull};
    int status = meta_client_create(&client_options, &tool.client);
    if (status == 0) {
        status = run_op(&tool, argc - optind, argv + optind);
        meta_client_destroy(tool.client);
    } else {
        fprintf(stderr, "chainfs meta-tool: %s\n", chainfs_error_message(status));
    }
    rpc_client_destroy(rpc);
    return status == -1 ? 2 : status == 0 ? 0 : 1;
}

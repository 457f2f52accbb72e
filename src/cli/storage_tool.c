/*
 * storage_tool.c - `chainfs storage-tool`: drive the storage client from the command
 * line (tests and operators): write and verify chunks with self-describing content,
 * a concurrent stress run that detects torn and stale reads, and inspection (dump of a
 * target, space info, last chunk, remove a range). Output is JSON, one object a line.
 *
 *   chainfs storage-tool --mgmtd ADDRS <command> [options]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "cli/storage_tool.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/log.h"

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: chainfs storage-tool [--mgmtd HOST:PORT[,...]] <command> [options]\n\n"
            "  write  --chains C,C.. --inode I --chunks N [--chunk-size S] [--length L] [--generation G]\n"
            "  verify (same options): read back and compare\n"
            "  stress (same options) --seconds T --writers W --readers R\n"
            "  dump --target T        chunk metadata of one target\n"
            "  space                  space and state of every target\n"
            "  last-chunk --chains C --inode I\n"
            "  remove --chains C --inode I --first F --end E\n\n"
            "--mgmtd defaults to $CHAINFS_MGMTD; sizes take K and M suffixes.\n");
}

struct storage_io storage_workload_io(const struct storage_workload *workload, uint64_t index,
                                      void *buffer)
{
    return (struct storage_io){.chain_id = workload->chains[index % workload->chain_count],
                               .chunk_id = chunk_id_make(workload->inode, index),
                               .chunk_size = workload->chunk_size,
                               .length = workload->length,
                               .buffer = buffer};
}

/* --- content ---------------------------------------------------------------------- */

static uint64_t mix(uint64_t value)
{
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ull;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBull;
    return value ^ (value >> 31);
}

/* The stream after the header, 8 bytes at a time. */
static void fill_stream(uint8_t *bytes, size_t length, uint64_t seed)
{
    uint64_t state = mix(seed) | 1;
    for (size_t at = 0; at < length; at += 8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        size_t n = length - at < 8 ? length - at : 8;
        memcpy(bytes + at, &state, n);
    }
}

static uint64_t stream_seed(uint64_t inode, uint64_t index, uint64_t generation)
{
    return mix(inode) ^ mix(index + 0x1234567) ^ mix(generation * 0x9E3779B97F4A7C15ull);
}

void storage_pattern_fill(uint8_t *buffer, size_t length, uint64_t inode, uint64_t index,
                          uint64_t generation)
{
    uint8_t header[STORAGE_PATTERN_HEADER];
    wire_store_u64(header, inode);
    wire_store_u64(header + 8, index);
    wire_store_u64(header + 16, generation);
    memcpy(buffer, header, length < sizeof(header) ? length : sizeof(header));
    if (length > sizeof(header))
        fill_stream(buffer + sizeof(header), length - sizeof(header),
                    stream_seed(inode, index, generation));
}

bool storage_pattern_check(const uint8_t *buffer, size_t length, uint64_t inode, uint64_t index,
                           uint64_t *generation)
{
    *generation = 0;
    if (length < STORAGE_PATTERN_HEADER || wire_load_u64(buffer) != inode ||
        wire_load_u64(buffer + 8) != index)
        return false;
    *generation = wire_load_u64(buffer + 16);
    uint8_t *expected = malloc(length);
    if (!expected)
        return false;
    storage_pattern_fill(expected, length, inode, index, *generation);
    bool whole = memcmp(expected, buffer, length) == 0;
    free(expected);
    return whole;
}

/* --- write / verify ------------------------------------------------------------- */

/* One io per chunk of the workload, each over its own slice of one data area. */
struct workload_ios {
    struct storage_io *ios;
    uint8_t *data;
    size_t data_length;
};

static bool workload_ios_create(const struct storage_workload *workload, struct workload_ios *set)
{
    set->data_length = workload->chunks * workload->length;
    set->ios = calloc(workload->chunks, sizeof(*set->ios));
    set->data = aligned_buffer_alloc(set->data_length);
    if (!set->ios || !set->data) {
        free(set->ios);
        aligned_buffer_free(set->data, set->data_length);
        fprintf(stderr, "chainfs storage-tool: out of memory\n");
        return false;
    }
    for (size_t i = 0; i < workload->chunks; i++)
        set->ios[i] = storage_workload_io(workload, i, set->data + i * workload->length);
    return true;
}

static void workload_ios_destroy(struct workload_ios *set)
{
    free(set->ios);
    aligned_buffer_free(set->data, set->data_length);
}

static int write_chunks(struct storage_client_stack *tool, const struct storage_workload *workload)
{
    struct workload_ios set;
    if (!workload_ios_create(workload, &set))
        return 1;
    for (size_t i = 0; i < workload->chunks; i++)
        storage_pattern_fill(set.ios[i].buffer, workload->length, workload->inode, i, workload->generation);
    uint64_t start = clock_now_ns();
    storage_client_write(tool->client, set.ios, workload->chunks, 0);
    double seconds = (double)(clock_now_ns() - start) / 1e9;
    size_t failed = 0;
    int first_error = CHAINFS_OK;
    for (size_t i = 0; i < workload->chunks; i++)
        if (set.ios[i].status != CHAINFS_OK) {
            failed++;
            first_error = first_error ? first_error : set.ios[i].status;
        }
    printf("{\"written\":%zu,\"failed\":%zu,\"first_error\":\"%s\",\"seconds\":%.3f}\n",
           (size_t)workload->chunks - failed, failed, chainfs_error_name(first_error), seconds);
    workload_ios_destroy(&set);
    return failed ? 1 : 0;
}

static int verify_chunks(struct storage_client_stack *tool, const struct storage_workload *workload)
{
    struct workload_ios set;
    if (!workload_ios_create(workload, &set))
        return 1;
    storage_client_read(tool->client, set.ios, workload->chunks, 0);
    size_t verified = 0, mismatched = 0, failed = 0;
    int first_error = CHAINFS_OK;
    for (size_t i = 0; i < workload->chunks; i++) {
        const struct storage_io *io = &set.ios[i];
        uint64_t generation;
        if (io->status != CHAINFS_OK) {
            failed++;
            first_error = first_error ? first_error : io->status;
        } else if (io->bytes_done == workload->length &&
                   storage_pattern_check(io->buffer, workload->length, workload->inode, i, &generation) &&
                   generation == workload->generation) {
            verified++;
        } else {
            mismatched++;
        }
    }
    printf("{\"verified\":%zu,\"mismatched\":%zu,\"failed\":%zu,\"first_error\":\"%s\"}\n", verified,
           mismatched, failed, chainfs_error_name(first_error));
    workload_ios_destroy(&set);
    return verified == workload->chunks ? 0 : 1;
}

/* --- inspection --------------------------------------------------------------------- */

static int dump_target(struct storage_client_stack *tool, uint64_t target_id)
{
    struct storage_chunk_record *records;
    size_t count;
    int status = storage_client_dump_target(tool->client, target_id, 0, &records, &count);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "chainfs storage-tool dump: %s\n", chainfs_error_message(status));
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        const struct storage_chunk_record *r = &records[i];
        printf("{\"inode\":%" PRIu64 ",\"index\":%" PRIu64 ",\"version\":%" PRIu64
               ",\"chain_version\":%" PRIu64 ",\"length\":%" PRIu64 ",\"crc\":%u,\"pending_version\":%" PRIu64
               "}\n",
               chunk_id_inode(&r->chunk_id), chunk_id_index(&r->chunk_id), r->committed.version,
               r->committed.chain_version, r->committed.length, r->committed.crc, r->pending.version);
    }
    free(records);
    return 0;
}

static int space_info(struct storage_client_stack *tool)
{
    struct storage_target_info *targets;
    size_t count, unreachable;
    int status = storage_client_space_info(tool->client, 0, &targets, &count, &unreachable);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "chainfs storage-tool space: %s\n", chainfs_error_message(status));
        return 1;
    }
    for (size_t i = 0; i < count; i++)
        printf("{\"target\":%" PRIu64 ",\"chain\":%u,\"used_bytes\":%" PRIu64
               ",\"capacity_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64 "}\n",
               targets[i].target_id, targets[i].chain_id, targets[i].used_bytes,
               targets[i].capacity_bytes, targets[i].chunks);
    if (unreachable)
        fprintf(stderr, "chainfs storage-tool space: %zu storage node(s) did not answer\n", unreachable);
    free(targets);
    return 0;
}

static int last_chunk(struct storage_client_stack *tool, const struct storage_workload *workload)
{
    struct storage_last_chunk_reply reply;
    int status = storage_client_query_last_chunk(tool->client, workload->chains[0], workload->inode,
                                                 0, &reply);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "chainfs storage-tool last-chunk: %s\n", chainfs_error_message(status));
        return 1;
    }
    printf("{\"found\":%s,\"index\":%" PRIu64 ",\"length\":%" PRIu64 "}\n",
           reply.found ? "true" : "false", reply.index, reply.length);
    return 0;
}

static int remove_range(struct storage_client_stack *tool, const struct storage_workload *workload,
                        uint64_t first, uint64_t end)
{
    uint64_t removed;
    int status = storage_client_remove_chunks(tool->client, workload->chains[0], workload->inode,
                                              first, end, 0, &removed);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "chainfs storage-tool remove: %s\n", chainfs_error_message(status));
        return 1;
    }
    printf("{\"removed\":%" PRIu64 "}\n", removed);
    return 0;
}

/* --- options ---------------------------------------------------------------------- */

/* "64K", "1M", "4096". */
static bool parse_size(const char *text, uint64_t *value)
{
    char *end;
    unsigned long long number = strtoull(text, &end, 10);
    if (end == text)
        return false;
    if (*end == 'K' || *end == 'k')
        number <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        number <<= 20, end++;
    *value = number;
    return *end == '\0';
}

static bool parse_chains(const char *text, struct storage_workload *workload)
{
    workload->chain_count = 0;
    char *copy = strdup(text), *save = NULL;
    bool ok = copy != NULL;
    for (char *part = copy ? strtok_r(copy, ",", &save) : NULL; ok && part;
         part = strtok_r(NULL, ",", &save)) {
        uint64_t chain;
        ok = workload->chain_count < STORAGE_TOOL_MAX_CHAINS && parse_size(part, &chain) &&
             chain > 0 && chain <= UINT32_MAX;
        if (ok)
            workload->chains[workload->chain_count++] = (uint32_t)chain;
    }
    free(copy);
    return ok && workload->chain_count > 0;
}

struct tool_arguments {
    struct storage_workload workload;
    uint64_t target, first, end;
};

/* Parses the options after the command; false (usage printed) on a bad one. */
static bool parse_options(int argc, char **argv, struct tool_arguments *arguments)
{
    static const struct option options[] = {
        {"chains", required_argument, NULL, 'c'}, {"inode", required_argument, NULL, 'i'},
        {"chunks", required_argument, NULL, 'n'}, {"chunk-size", required_argument, NULL, 's'},
        {"length", required_argument, NULL, 'l'}, {"generation", required_argument, NULL, 'g'},
        {"seconds", required_argument, NULL, 'T'}, {"writers", required_argument, NULL, 'w'},
        {"readers", required_argument, NULL, 'r'}, {"target", required_argument, NULL, 't'},
        {"first", required_argument, NULL, 'f'}, {"end", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0}};
    struct storage_workload *w = &arguments->workload;
    *w = (struct storage_workload){.inode = 1, .chunks = 16, .chunk_size = 1u << 20, .seconds = 5,
                                   .writers = 2, .readers = 2, .generation = 1};
    uint64_t length = 0, value;
    int option;
    bool ok = true;
    optind = 1;
    while (ok && (option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        ok = option != '?' && (option == 'c' || option == 'T' || parse_size(optarg, &value));
        switch (option) {
        case 'c': ok = parse_chains(optarg, w); break;
        case 'i': w->inode = value; break;
        case 'n': w->chunks = value; break;
        case 's': w->chunk_size = (uint32_t)value; ok = ok && value > 0 && value <= (64u << 20); break;
        case 'l': length = value; break;
        case 'g': w->generation = value; break;
        case 'T': w->seconds = atof(optarg); ok = w->seconds > 0 && w->seconds <= 3600; break;
        case 'w': w->writers = (unsigned)value; ok = ok && value <= 64; break;
        case 'r': w->readers = (unsigned)value; ok = ok && value <= 64; break;
        case 't': arguments->target = value; break;
        case 'f': arguments->first = value; break;
        case 'e': arguments->end = value; break;
        default: ok = false;
        }
    }
    w->length = (uint32_t)(length ? length : w->chunk_size);
    ok = ok && optind == argc && w->chunks > 0 && w->chunks <= (1u << 20) &&
         w->length >= STORAGE_PATTERN_HEADER && w->length <= w->chunk_size;
    if (!ok)
        print_usage(stderr);
    return ok;
}

static int run_command(struct storage_client_stack *tool, const char *command, struct tool_arguments *arguments)
{
    struct storage_workload *workload = &arguments->workload;
    bool needs_chains = strcmp(command, "dump") != 0 && strcmp(command, "space") != 0;
    if (needs_chains && workload->chain_count == 0) {
        fprintf(stderr, "chainfs storage-tool %s: --chains is required\n", command);
        return 2;
    }
    if (strcmp(command, "write") == 0)
        return write_chunks(tool, workload);
    if (strcmp(command, "verify") == 0)
        return verify_chunks(tool, workload);
    if (strcmp(command, "stress") == 0)
        return storage_tool_stress(tool, workload);
    if (strcmp(command, "dump") == 0)
        return dump_target(tool, arguments->target);
    if (strcmp(command, "space") == 0)
        return space_info(tool);
    if (strcmp(command, "last-chunk") == 0)
        return last_chunk(tool, workload);
    if (strcmp(command, "remove") == 0)
        return remove_range(tool, workload, arguments->first, arguments->end);
    fprintf(stderr, "chainfs storage-tool: unknown command %s\n", command);
    print_usage(stderr);
    return 2;
}

int command_storage_tool(int argc, char **argv)
{
    const char *mgmtd = getenv("CHAINFS_MGMTD");
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--mgmtd") == 0) {
        mgmtd = argv[2];
        first = 3;
    }
    if (argc <= first || !mgmtd || strcmp(argv[first], "--help") == 0) {
        print_usage(argc > first && strcmp(argv[first], "--help") == 0 ? stdout : stderr);
        return argc > first && strcmp(argv[first], "--help") == 0 ? 0 : 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    const char *command = argv[first];
    struct tool_arguments arguments = {0};
    if (!parse_options(argc - first, argv + first, &arguments))
        return 2;
    struct storage_client_stack tool;
    int status = storage_client_stack_open(&tool, mgmtd, NULL);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "chainfs storage-tool: cannot reach the cluster at %s: %s\n", mgmtd,
                chainfs_error_message(status));
        return 1;
    }
    int code = run_command(&tool, command, &arguments);
    storage_client_stack_close(&tool);
    return code;
}

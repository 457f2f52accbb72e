/*
 * admin_csv.c - parsing chain and chain-table CSV files into mgmtd messages.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/admin_csv.h"
#include "mgmtd/cluster_records.h"

#define LINE_MAX_LENGTH 4096
#define CHAINS_MAX 65536

/* Parses a decimal id in [1, max] from text up to a comma or the end. */
static int parse_id(const char **text, uint64_t max, uint64_t *id)
{
    while (**text == ' ')
        (*text)++;
    if (!isdigit((unsigned char)**text))
        return -1;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(*text, &end, 10);
    while (*end == ' ')
        end++;
    if (errno != 0 || value == 0 || value > max || (*end != ',' && *end != '\0'))
        return -1;
    *id = value;
    *text = *end == ',' ? end + 1 : end;
    return 0;
}

/* Calls parse_line for every data line; counts lines for messages. */
static int for_each_line(const char *path, int (*parse_line)(const char *line, void *argument),
                         void *argument)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "chainfs admin: cannot open %s: %s\n", path, strerror(errno));
        return CHAINFS_INVALID_ARGUMENT;
    }
    char line[LINE_MAX_LENGTH];
    int number = 0, status = 0;
    while (status == 0 && fgets(line, sizeof(line), file)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || (number == 1 && !isdigit((unsigned char)line[0])))
            continue; /* blank line or header */
        if (parse_line(line, argument) != 0) {
            fprintf(stderr, "chainfs admin: %s:%d: cannot read '%s'\n", path, number, line);
            status = CHAINFS_INVALID_ARGUMENT;
        }
    }
    fclose(file);
    return status;
}

struct chains_parse {
    struct wire_writer chains;
    uint32_t count;
};

static int parse_chain_line(const char *line, void *argument)
{
    struct chains_parse *parse = argument;
    uint64_t chain_id, targets[CHAIN_TARGETS_MAX + 1];
    if (parse_id(&line, UINT32_MAX, &chain_id) != 0 || parse->count == CHAINS_MAX)
        return -1;
    uint8_t count = 0;
    while (*line) {
        if (count == CHAIN_TARGETS_MAX || parse_id(&line, UINT64_MAX, &targets[count]) != 0)
            return -1;
        count++;
    }
    if (count == 0)
        return -1;
    wire_put_u32(&parse->chains, (uint32_t)chain_id);
    wire_put_u8(&parse->chains, count);
    for (uint8_t i = 0; i < count; i++)
        wire_put_u64(&parse->chains, targets[i]);
    parse->count++;
    return 0;
}

int admin_csv_read_chains(const char *path, struct wire_writer *message)
{
    struct chains_parse parse = {.count = 0};
    wire_writer_init(&parse.chains);
    int status = for_each_line(path, parse_chain_line, &parse);
    if (status == 0 && parse.count == 0) {
        fprintf(stderr, "chainfs admin: %s lists no chains\n", path);
        status = CHAINFS_INVALID_ARGUMENT;
    }
    if (status == 0) {
        wire_put_u32(message, parse.count);
        wire_put_raw(message, parse.chains.data, parse.chains.length);
    }
    wire_writer_free(&parse.chains);
    return status;
}

struct table_parse {
    struct wire_writer chains;
    uint32_t count;
};

static int parse_table_line(const char *line, void *argument)
{
    struct table_parse *parse = argument;
    uint64_t chain_id;
    if (parse_id(&line, UINT32_MAX, &chain_id) != 0 || *line != '\0' || parse->count == CHAINS_MAX)
        return -1;
    wire_put_u32(&parse->chains, (uint32_t)chain_id);
    parse->count++;
    return 0;
}

int admin_csv_read_chain_table(const char *path, uint32_t table_id, struct wire_writer *message)
{
    struct table_parse parse = {.count = 0};
    wire_writer_init(&parse.chains);
    int status = for_each_line(path, parse_table_line, &parse);
    if (status == 0 && parse.count == 0) {
        fprintf(stderr, "chainfs admin: %s lists no chains\n", path);
        status = CHAINFS_INVALID_ARGUMENT;
    }
    if (status == 0) {
        wire_put_u32(message, table_id);
        wire_put_u32(message, parse.count);
        wire_put_raw(message, parse.chains.data, parse.chains.length);
    }
    wire_writer_free(&parse.chains);
    return status;
}

/*
 * disk_limits.c - fio and memcpy as limits of the storage benchmark.
 */
#include "bench/disk_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

/* The number after "key" inside the object that follows "section" in fio's JSON. */
static double fio_field(const char *json, const char *section, const char *key)
{
    char marker[32];
    snprintf(marker, sizeof(marker), "\"%s\" : {", section);
    const char *object = strstr(json, marker);
    const char *field = object ? strstr(object, key) : NULL;
    const char *colon = field ? strchr(field, ':') : NULL;
    return colon ? strtod(colon + 1, NULL) : -1;
}

int fio_run(const char *options, const char *section, struct fio_result *result)
{
    memset(result, 0, sizeof(*result));
    char command[1536];
    snprintf(command, sizeof(command), "fio %s --output-format=json 2>/dev/null", options);
    FILE *output = popen(command, "r");
    if (!output)
        return -1;
    size_t capacity = 1 << 20, length = 0;
    char *json = malloc(capacity);
    while (json && length < capacity - 1) {
        size_t count = fread(json + length, 1, capacity - 1 - length, output);
        if (count == 0)
            break;
        length += count;
    }
    pclose(output);
    if (!json)
        return -1;
    json[length] = '\0';
    double bytes = fio_field(json, section, "\"bw_bytes\"");
    double iops = fio_field(json, section, "\"iops\"");
    double io_bytes = fio_field(json, section, "\"io_bytes\"");
    free(json);
    if (bytes <= 0 || iops <= 0)
        return -1;
    result->mib_per_second = bytes / (1024.0 * 1024.0);
    result->iops = iops;
    result->io_bytes = io_bytes > 0 ? io_bytes : 0;
    return 0;
}

int limit_fio(const char *file, uint64_t size_mib, const char *pattern, unsigned block_bytes,
              unsigned depth, unsigned seconds, struct fio_result *result)
{
    char options[1024];
    snprintf(options, sizeof(options),
             "--name=limit --filename='%s' --size=%lluM --direct=1 --ioengine=io_uring "
             "--rw=%s --bs=%u --iodepth=%u --runtime=%u --time_based",
             file, (unsigned long long)size_mib, pattern, block_bytes, depth, seconds);
    return fio_run(options, strstr(pattern, "read") ? "read" : "write", result);
}

double limit_memcpy_mib_s(unsigned block_bytes, double seconds)
{
    const size_t area = 64u << 20;
    uint8_t *source = malloc(area), *destination = malloc(area);
    if (!source || !destination || block_bytes == 0 || block_bytes > area) {
        free(source);
        free(destination);
        return 0;
    }
    memset(source, 1, area);
    memset(destination, 2, area);
    uint64_t copied = 0, start = clock_now_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    size_t at = 0;
    while (clock_now_ns() < deadline) {
        for (int i = 0; i < 64; i++) {
            memcpy(destination + at, source + at, block_bytes);
            copied += block_bytes;
            at = at + 2 * block_bytes <= area ? at + block_bytes : 0;
        }
    }
    double elapsed = (double)(clock_now_ns() - start) / 1e9;
    volatile uint8_t sink = destination[area / 2];
    (void)sink;
    free(source);
    free(destination);
    return (double)copied / elapsed / (1024.0 * 1024.0);
}

/*
 * disk_limits.h - what the disk and memory of this machine can do, measured in the
 * same run as a storage benchmark: fio on a raw file with O_DIRECT in the benchmark's
 * own directory (so on the disk the targets use), and memcpy bandwidth.
 */
#ifndef CHAINFS_BENCH_DISK_LIMITS_H
#define CHAINFS_BENCH_DISK_LIMITS_H

#include <stdint.h>

struct fio_result {
    double mib_per_second;
    double iops;
    double io_bytes; /* bytes transferred (fio_run only) */
};

/* Runs `fio OPTIONS --output-format=json` (options are shell words, quoted by the
 * caller) and reads bandwidth, IOPS and bytes of the "read" or "write" section of the
 * first job (use --group_reporting with numjobs > 1). Returns 0, or -1 when fio is
 * missing, fails, or its output has no figure. */
int fio_run(const char *options, const char *section, struct fio_result *result);

/* Runs `fio` with O_DIRECT on file (created, size_mib MiB) for `seconds`:
 * pattern "write", "read", "randread" or "randwrite", block bytes, queue depth.
 * Returns 0, or -1 when fio is missing or its output has no figure. */
int limit_fio(const char *file, uint64_t size_mib, const char *pattern, unsigned block_bytes,
              unsigned depth, unsigned seconds, struct fio_result *result);

/* Single-thread memcpy bandwidth with block_bytes blocks (beyond the caches for 1 MiB
 * blocks over 64 MiB), in MiB/s. */
double limit_memcpy_mib_s(unsigned block_bytes, double seconds);

#endif /* CHAINFS_BENCH_DISK_LIMITS_H */

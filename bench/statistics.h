/*
 * statistics.h - latency samples and percentiles for benchmarks.
 */
#ifndef CHAINFS_BENCH_STATISTICS_H
#define CHAINFS_BENCH_STATISTICS_H

#include <stddef.h>

struct sample_set {
    double *values;
    size_t count;
    size_t capacity; /* samples beyond it are dropped (the rate still counts them) */
};

void sample_set_init(struct sample_set *set, size_t capacity);
void sample_set_add(struct sample_set *set, double value);
/* percentile in [0, 100]; sorts the samples. 0 when empty. */
double sample_set_percentile(struct sample_set *set, double percentile);
void sample_set_free(struct sample_set *set);

#endif /* CHAINFS_BENCH_STATISTICS_H */

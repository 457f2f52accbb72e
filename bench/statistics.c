/*
 * statistics.c - percentile of a bounded sample set.
 */
#include <stdlib.h>

#include "bench/statistics.h"

void sample_set_init(struct sample_set *set, size_t capacity)
{
    set->values = malloc(capacity * sizeof(double));
    set->count = 0;
    set->capacity = set->values ? capacity : 0;
}

void sample_set_add(struct sample_set *set, double value)
{
    if (set->count < set->capacity)
        set->values[set->count++] = value;
}

static int compare_doubles(const void *left, const void *right)
{
    double a = *(const double *)left, b = *(const double *)right;
    return (a > b) - (a < b);
}

double sample_set_percentile(struct sample_set *set, double percentile)
{
    if (set->count == 0)
        return 0;
    qsort(set->values, set->count, sizeof(double), compare_doubles);
    size_t index = (size_t)(percentile / 100.0 * (double)(set->count - 1) + 0.5);
    return set->values[index];
}

void sample_set_free(struct sample_set *set)
{
    free(set->values);
    set->values = NULL;
    set->count = set->capacity = 0;
}

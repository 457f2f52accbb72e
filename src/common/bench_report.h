/*
 * bench_report.h - how every `chainfs bench <name>` prints a figure.
 *
 * A figure is always printed beside the machine limit it is measured against in the
 * same run (iperf3, fio, memcpy, fsync rate), with the ratio value / limit_value.
 * With --json each figure is one JSON object per line:
 * {"bench","figure","value","unit","limit","limit_value","ratio"}.
 */
#ifndef CHAINFS_COMMON_BENCH_REPORT_H
#define CHAINFS_COMMON_BENCH_REPORT_H

#include <stdbool.h>

struct bench_figure {
    const char *bench;  /* "rpc" */
    const char *figure; /* "small_rpc_rate_depth64" */
    double value;
    const char *unit;        /* "ops/s", "MiB/s", "us" */
    const char *limit;       /* what it is compared with: "iperf3_loopback_1stream"; NULL if none */
    double limit_value;      /* in the same unit as value */
};

/* Prints one figure as a JSON line (json) or an aligned human-readable line. A figure
 * without a limit prints limit null and ratio null. */
void bench_report_figure(const struct bench_figure *figure, bool json);

#endif /* CHAINFS_COMMON_BENCH_REPORT_H */

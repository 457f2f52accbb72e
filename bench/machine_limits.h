/*
 * machine_limits.h - what this machine can do at best, measured in the same run as a
 * benchmark so that every figure is printed beside its limit.
 */
#ifndef CHAINFS_BENCH_MACHINE_LIMITS_H
#define CHAINFS_BENCH_MACHINE_LIMITS_H

#include <stdint.h>

/* iperf3 single-stream TCP throughput over 127.0.0.1 with 1 MiB writes (the size of
 * the RPC payloads it is compared with), in MiB/s; 0 if iperf3 failed. */
double limit_iperf3_loopback_mib_s(unsigned seconds);

struct tcp_pingpong_result {
    double round_trips_per_second; /* messages answered per second */
    double median_round_trip_us;   /* of one batch */
};

/* Raw TCP over 127.0.0.1 without any framing: a thread echoes 64-byte messages; the
 * caller writes `depth` messages, reads the answers, and repeats for `seconds`. */
int limit_tcp_pingpong(unsigned depth, double seconds, struct tcp_pingpong_result *result);

#endif /* CHAINFS_BENCH_MACHINE_LIMITS_H */

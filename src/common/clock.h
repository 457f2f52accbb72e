/*
 * clock.h - monotonic time and deadlines.
 *
 * Deadlines are absolute CLOCK_MONOTONIC instants in nanoseconds. On the wire a
 * deadline travels as the time remaining, because monotonic clocks of two hosts
 * cannot be compared.
 */
#ifndef CHAINFS_COMMON_CLOCK_H
#define CHAINFS_COMMON_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_US 1000ULL
#define CLOCK_NS_PER_MS 1000000ULL
#define CLOCK_NS_PER_S 1000000000ULL

/* A deadline that never expires. */
#define DEADLINE_NEVER UINT64_MAX

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t clock_now_ns(void);

/* Deadline timeout_ns from now (saturating; DEADLINE_NEVER stays never). */
uint64_t deadline_after_ns(uint64_t timeout_ns);

/* Nanoseconds left until deadline, 0 once it has passed. */
uint64_t deadline_remaining_ns(uint64_t deadline);

bool deadline_expired(uint64_t deadline);

/* The deadline as a CLOCK_MONOTONIC timespec (for pthread_cond_timedwait on a
 * condition variable created with clock_condattr_monotonic()). */
struct timespec deadline_to_timespec(uint64_t deadline);

/* Sleeps for ns nanoseconds (restarting after signals). */
void clock_sleep_ns(uint64_t ns);

#endif /* CHAINFS_COMMON_CLOCK_H */

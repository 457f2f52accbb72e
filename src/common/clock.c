/*
 * clock.c - monotonic clock and deadline arithmetic.
 */
#include <errno.h>

#include "common/clock.h"

uint64_t clock_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * CLOCK_NS_PER_S + (uint64_t)now.tv_nsec;
}

uint64_t deadline_after_ns(uint64_t timeout_ns)
{
    if (timeout_ns == DEADLINE_NEVER)
        return DEADLINE_NEVER;
    uint64_t now = clock_now_ns();
    return timeout_ns > DEADLINE_NEVER - now ? DEADLINE_NEVER : now + timeout_ns;
}

uint64_t deadline_remaining_ns(uint64_t deadline)
{
    if (deadline == DEADLINE_NEVER)
        return DEADLINE_NEVER;
    uint64_t now = clock_now_ns();
    return deadline > now ? deadline - now : 0;
}

bool deadline_expired(uint64_t deadline) { return deadline_remaining_ns(deadline) == 0; }

struct timespec deadline_to_timespec(uint64_t deadline)
{
    /* Far-future deadlines are clamped to a year: timespec arithmetic stays in range. */
    uint64_t year = 365ULL * 24 * 3600 * CLOCK_NS_PER_S;
    uint64_t now = clock_now_ns();
    if (deadline == DEADLINE_NEVER || deadline - now > year)
        deadline = now + year;
    struct timespec when = {.tv_sec = (time_t)(deadline / CLOCK_NS_PER_S),
                            .tv_nsec = (long)(deadline % CLOCK_NS_PER_S)};
    return when;
}

void clock_sleep_ns(uint64_t ns)
{
    struct timespec left = {.tv_sec = (time_t)(ns / CLOCK_NS_PER_S),
                            .tv_nsec = (long)(ns % CLOCK_NS_PER_S)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/*
 * event_loop.c - epoll loop thread with a posted-task queue and a periodic tick.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOG_COMPONENT "event_loop"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/event_loop.h"

#define EVENT_BATCH 128

struct posted_task {
    struct posted_task *next;
    event_task task;
    void *argument;
};

struct event_loop {
    char name[32];
    int epoll_fd;
    struct event_source wakeup; /* eventfd: posted tasks and stop */
    pthread_t thread;
    bool running;
    _Atomic bool stopping;

    pthread_mutex_t tasks_lock;
    struct posted_task *tasks_head;
    struct posted_task *tasks_tail;

    event_task tick;
    void *tick_argument;
    uint64_t tick_interval_ns;
    uint64_t next_tick;
};

static void drain_wakeup(struct event_source *source, uint32_t events)
{
    uint64_t count;
    ssize_t ignored = read(source->fd, &count, sizeof(count));
    (void)ignored; /* EAGAIN just means another drain got there first */
}

int event_loop_create(const char *name, struct event_loop **result)
{
    struct event_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return CHAINFS_NO_MEMORY;
    snprintf(loop->name, sizeof(loop->name), "%s", name);
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakeup.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->wakeup.callback = drain_wakeup;
    pthread_mutex_init(&loop->tasks_lock, NULL);
    if (loop->epoll_fd < 0 || loop->wakeup.fd < 0 ||
        event_loop_add(loop, &loop->wakeup, EPOLLIN) != 0) {
        log_error("%s: cannot create epoll/eventfd: %s", name, strerror(errno));
        event_loop_destroy(loop);
        return CHAINFS_IO;
    }
    *result = loop;
    return 0;
}

static void wake(struct event_loop *loop)
{
    uint64_t one = 1;
    ssize_t ignored = write(loop->wakeup.fd, &one, sizeof(one));
    (void)ignored; /* a full counter already guarantees a wakeup */
}

/* Runs every task posted so far, including ones posted by these tasks. */
static void run_posted_tasks(struct event_loop *loop)
{
    for (;;) {
        pthread_mutex_lock(&loop->tasks_lock);
        struct posted_task *tasks = loop->tasks_head;
        loop->tasks_head = loop->tasks_tail = NULL;
        pthread_mutex_unlock(&loop->tasks_lock);
        if (!tasks)
            return;
        while (tasks) {
            struct posted_task *next = tasks->next;
            tasks->task(tasks->argument);
            free(tasks);
            tasks = next;
        }
    }
}

static int wait_timeout_ms(struct event_loop *loop)
{
    if (loop->tick_interval_ns == 0)
        return -1;
    uint64_t now = clock_now_ns();
    if (now >= loop->next_tick)
        return 0;
    return (int)((loop->next_tick - now + CLOCK_NS_PER_MS - 1) / CLOCK_NS_PER_MS);
}

static void *loop_thread(void *argument)
{
    struct event_loop *loop = argument;
    struct epoll_event events[EVENT_BATCH];
    while (!loop->stopping) {
        int count = epoll_wait(loop->epoll_fd, events, EVENT_BATCH, wait_timeout_ms(loop));
        if (count < 0 && errno != EINTR) {
            log_error("%s: epoll_wait: %s", loop->name, strerror(errno));
            break;
        }
        for (int i = 0; i < count; i++) {
            struct event_source *source = events[i].data.ptr;
            source->callback(source, events[i].events);
        }
        run_posted_tasks(loop);
        if (loop->tick_interval_ns && clock_now_ns() >= loop->next_tick) {
            loop->next_tick = clock_now_ns() + loop->tick_interval_ns;
            loop->tick(loop->tick_argument);
        }
    }
    run_posted_tasks(loop);
    return NULL;
}

int event_loop_start(struct event_loop *loop)
{
    if (pthread_create(&loop->thread, NULL, loop_thread, loop) != 0)
        return CHAINFS_NO_MEMORY;
    char thread_name[16];
    snprintf(thread_name, sizeof(thread_name), "%.15s", loop->name);
    pthread_setname_np(loop->thread, thread_name);
    loop->running = true;
    return 0;
}

void event_loop_stop(struct event_loop *loop)
{
    if (!loop->running)
        return;
    loop->stopping = true;
    wake(loop);
    pthread_join(loop->thread, NULL);
    loop->running = false;
}

void event_loop_destroy(struct event_loop *loop)
{
    if (!loop)
        return;
    event_loop_stop(loop);
    run_posted_tasks(loop);
    if (loop->wakeup.fd >= 0)
        close(loop->wakeup.fd);
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    pthread_mutex_destroy(&loop->tasks_lock);
    free(loop);
}

int event_loop_add(struct event_loop *loop, struct event_source *source, uint32_t events)
{
    struct epoll_event event = {.events = events, .data.ptr = source};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, source->fd, &event) == 0 ? 0 : CHAINFS_IO;
}

int event_loop_modify(struct event_loop *loop, struct event_source *source, uint32_t events)
{
    struct epoll_event event = {.events = events, .data.ptr = source};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, source->fd, &event) == 0 ? 0 : CHAINFS_IO;
}

void event_loop_remove(struct event_loop *loop, struct event_source *source)
{
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
}

int event_loop_post(struct event_loop *loop, event_task task, void *argument)
{
    struct posted_task *entry = malloc(sizeof(*entry));
    if (!entry)
        return CHAINFS_NO_MEMORY;
    entry->next = NULL;
    entry->task = task;
    entry->argument = argument;
    pthread_mutex_lock(&loop->tasks_lock);
    if (loop->tasks_tail)
        loop->tasks_tail->next = entry;
    else
        loop->tasks_head = entry;
    loop->tasks_tail = entry;
    pthread_mutex_unlock(&loop->tasks_lock);
    if (!event_loop_in_thread(loop))
        wake(loop);
    return 0;
}

void event_loop_set_tick(struct event_loop *loop, event_task tick, void *argument,
                         uint64_t interval_ns)
{
    loop->tick = tick;
    loop->tick_argument = argument;
    loop->tick_interval_ns = interval_ns;
    loop->next_tick = clock_now_ns() + interval_ns;
}

bool event_loop_in_thread(const struct event_loop *loop)
{
    return loop->running && pthread_equal(pthread_self(), loop->thread);
}

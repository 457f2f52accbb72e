/*
 * worker_pool.c - threads taking tasks from one mutex-protected FIFO.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "chainfs/error.h"
#include "net/worker_pool.h"

struct queued_task {
    struct queued_task *next;
    worker_task task;
    void *argument;
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_available;
    struct queued_task *head;
    struct queued_task *tail;
    bool stopping;
    size_t thread_count;
    pthread_t threads[];
};

static void *worker_thread(void *argument)
{
    struct worker_pool *pool = argument;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->work_available, &pool->lock);
        struct queued_task *entry = pool->head;
        if (!entry)
            break; /* stopping and drained */
        pool->head = entry->next;
        if (!pool->head)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);
        entry->task(entry->argument);
        free(entry);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int worker_pool_create(const char *name, size_t thread_count, struct worker_pool **result)
{
    struct worker_pool *pool = calloc(1, sizeof(*pool) + thread_count * sizeof(pthread_t));
    if (!pool)
        return CHAINFS_NO_MEMORY;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_available, NULL);
    for (size_t i = 0; i < thread_count; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_thread, pool) != 0) {
            worker_pool_destroy(pool);
            return CHAINFS_NO_MEMORY;
        }
        pool->thread_count++;
        char thread_name[32];
        snprintf(thread_name, sizeof(thread_name), "%.10s-%zu", name, i);
        thread_name[15] = '\0'; /* the kernel keeps 15 characters */
        pthread_setname_np(pool->threads[i], thread_name);
    }
    *result = pool;
    return 0;
}

int worker_pool_submit(struct worker_pool *pool, worker_task task, void *argument)
{
    struct queued_task *entry = malloc(sizeof(*entry));
    if (!entry)
        return CHAINFS_NO_MEMORY;
    entry->next = NULL;
    entry->task = task;
    entry->argument = argument;
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        free(entry);
        return CHAINFS_SHUTTING_DOWN;
    }
    if (pool->tail)
        pool->tail->next = entry;
    else
        pool->head = entry;
    pool->tail = entry;
    pthread_cond_signal(&pool->work_available);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

void worker_pool_destroy(struct worker_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work_available);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->work_available);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/*
 * chunk_lock.c - per-chunk locks with queued waiters (chunk_lock.h).
 *
 * A hash table of held chunks, one mutex for the whole table: it is held only for
 * a lookup and a list operation, never across I/O.
 */
#include "storage/chunk_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"

#define BUCKETS 4096

struct held_chunk {
    struct chunk_id id;
    struct chunk_lock_waiter *first; /* queued waiters, FIFO */
    struct chunk_lock_waiter *last;
    struct held_chunk *next;
};

struct chunk_lock_table {
    struct worker_pool *pool;
    pthread_mutex_t lock;
    size_t held;
    struct held_chunk *buckets[BUCKETS];
};

int chunk_lock_table_create(struct worker_pool *pool, struct chunk_lock_table **out)
{
    struct chunk_lock_table *table = calloc(1, sizeof *table);
    if (table == NULL)
        return CHAINFS_NO_MEMORY;
    table->pool = pool;
    pthread_mutex_init(&table->lock, NULL);
    *out = table;
    return 0;
}

void chunk_lock_table_destroy(struct chunk_lock_table *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (table->buckets[i] != NULL) {
            struct held_chunk *held = table->buckets[i];
            table->buckets[i] = held->next;
            free(held);
        }
    pthread_mutex_destroy(&table->lock);
    free(table);
}

static struct held_chunk **slot_of(struct chunk_lock_table *table, const struct chunk_id *id)
{
    struct held_chunk **slot = &table->buckets[chunk_id_hash(id) % BUCKETS];
    while (*slot != NULL && chunk_id_compare(&(*slot)->id, id) != 0)
        slot = &(*slot)->next;
    return slot;
}

bool chunk_lock_acquire(struct chunk_lock_table *table, const struct chunk_id *id,
                        struct chunk_lock_waiter *waiter)
{
    pthread_mutex_lock(&table->lock);
    struct held_chunk **slot = slot_of(table, id);
    if (*slot == NULL) {
        struct held_chunk *held = calloc(1, sizeof *held);
        if (held == NULL) { /* out of memory: no way to keep writes serialized */
            pthread_mutex_unlock(&table->lock);
            abort();
        }
        held->id = *id;
        *slot = held;
        table->held++;
        pthread_mutex_unlock(&table->lock);
        return true;
    }
    waiter->next = NULL;
    if ((*slot)->last != NULL)
        (*slot)->last->next = waiter;
    else
        (*slot)->first = waiter;
    (*slot)->last = waiter;
    pthread_mutex_unlock(&table->lock);
    return false;
}

void chunk_lock_release(struct chunk_lock_table *table, const struct chunk_id *id)
{
    pthread_mutex_lock(&table->lock);
    struct held_chunk **slot = slot_of(table, id);
    struct held_chunk *held = *slot;
    if (held == NULL) {
        pthread_mutex_unlock(&table->lock);
        abort(); /* releasing a lock nobody holds is a bug */
    }
    struct chunk_lock_waiter *next = held->first;
    if (next == NULL) {
        *slot = held->next;
        table->held--;
        free(held);
    } else {
        held->first = next->next;
        if (held->first == NULL)
            held->last = NULL;
    }
    pthread_mutex_unlock(&table->lock);
    if (next != NULL && worker_pool_submit(table->pool, next->run, next->argument) != 0)
        next->run(next->argument); /* the pool is stopping: run it here */
}

static void sequence_continue(struct chunk_lock_sequence *sequence);

/* A busy lock of the sequence was handed over (on the pool): go on with the next. */
static void sequence_granted(void *argument)
{
    struct chunk_lock_sequence *sequence = argument;
    sequence->held++;
    sequence_continue(sequence);
}

static void sequence_continue(struct chunk_lock_sequence *sequence)
{
    while (sequence->held < sequence->count) {
        sequence->waiter = (struct chunk_lock_waiter){.run = sequence_granted,
                                                      .argument = sequence};
        if (!chunk_lock_acquire(sequence->table, &sequence->ids[sequence->held],
                                &sequence->waiter))
            return; /* queued: sequence_granted goes on (maybe already running) */
        sequence->held++;
    }
    sequence->on_all_held(sequence->argument);
}

void chunk_lock_sequence_start(struct chunk_lock_sequence *sequence,
                               struct chunk_lock_table *table, const struct chunk_id *ids,
                               size_t count, worker_task on_all_held, void *argument)
{
    *sequence = (struct chunk_lock_sequence){.table = table, .ids = ids, .count = count,
                                             .on_all_held = on_all_held, .argument = argument};
    sequence_continue(sequence);
}

void chunk_lock_sequence_release(struct chunk_lock_sequence *sequence)
{
    for (size_t i = sequence->held; i > 0; i--)
        chunk_lock_release(sequence->table, &sequence->ids[i - 1]);
    sequence->held = 0;
}

size_t chunk_lock_held_count(struct chunk_lock_table *table)
{
    pthread_mutex_lock(&table->lock);
    size_t held = table->held;
    pthread_mutex_unlock(&table->lock);
    return held;
}

struct sleeper {
    pthread_mutex_t lock;
    pthread_cond_t woken;
    bool holds;
};

static void wake_sleeper(void *argument)
{
    struct sleeper *sleeper = argument;
    pthread_mutex_lock(&sleeper->lock);
    sleeper->holds = true;
    pthread_cond_signal(&sleeper->woken);
    pthread_mutex_unlock(&sleeper->lock);
}

void chunk_lock_acquire_wait(struct chunk_lock_table *table, const struct chunk_id *id)
{
    struct sleeper sleeper = {.holds = false};
    pthread_mutex_init(&sleeper.lock, NULL);
    pthread_cond_init(&sleeper.woken, NULL);
    struct chunk_lock_waiter waiter = {.run = wake_sleeper, .argument = &sleeper};
    if (!chunk_lock_acquire(table, id, &waiter)) {
        pthread_mutex_lock(&sleeper.lock);
        while (!sleeper.holds)
            pthread_cond_wait(&sleeper.woken, &sleeper.lock);
        pthread_mutex_unlock(&sleeper.lock);
    }
    pthread_cond_destroy(&sleeper.woken);
    pthread_mutex_destroy(&sleeper.lock);
}

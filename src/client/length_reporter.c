/*
 * length_reporter.c - the thread that reports the lengths of files open for write
 * every length_report_interval (DESIGN §6 write sessions): other clients see a file
 * grow while it is written, and a crashed writer loses at most one interval of length
 * (its data is on storage; meta's sync of length from the last chunk recovers it).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "client/client_internal.h"
#define LOG_COMPONENT "client"
#include "common/log.h"

/* Snapshot of the inodes with writers, with a reference held on each. */
static size_t collect_written(struct chainfs_client *client, struct open_inode ***result)
{
    pthread_mutex_lock(&client->table_lock);
    size_t count = 0, capacity = 0;
    struct open_inode **list = NULL;
    for (size_t i = 0; i < OPEN_INODE_BUCKETS; i++) {
        for (struct open_inode *open = client->buckets[i]; open; open = open->next) {
            if (count == capacity) {
                size_t grown = capacity ? capacity * 2 : 16;
                struct open_inode **bigger = realloc(list, grown * sizeof(*list));
                if (!bigger)
                    goto done;
                list = bigger;
                capacity = grown;
            }
            open->references++;
            list[count++] = open;
        }
    }
done:
    pthread_mutex_unlock(&client->table_lock);
    *result = list;
    return count;
}

static void report_all(struct chainfs_client *client)
{
    struct open_inode **list;
    size_t count = collect_written(client, &list);
    for (size_t i = 0; i < count; i++) {
        struct open_inode *open = list[i];
        pthread_mutex_lock(&open->lock);
        int status = open->writers > 0 ? file_report_length(client, open, open->report_session) : 0;
        pthread_mutex_unlock(&open->lock);
        if (status != 0)
            log_warn("length report of inode %llu failed: %s",
                     (unsigned long long)open->inode_id, chainfs_error_message(status));
        open_inode_release(client, open);
    }
    free(list);
}

static void *reporter_main(void *argument)
{
    struct chainfs_client *client = argument;
    pthread_mutex_lock(&client->reporter_lock);
    while (!client->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + client->options.length_report_interval_ns;
        until.tv_sec += (time_t)(ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        int waited = 0;
        while (!client->stopping && waited != ETIMEDOUT)
            waited = pthread_cond_timedwait(&client->reporter_wake, &client->reporter_lock, &until);
        if (client->stopping)
            break;
        pthread_mutex_unlock(&client->reporter_lock);
        report_all(client);
        pthread_mutex_lock(&client->reporter_lock);
    }
    pthread_mutex_unlock(&client->reporter_lock);
    return NULL;
}

int length_reporter_start(struct chainfs_client *client)
{
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_destroy(&client->reporter_wake);
    pthread_cond_init(&client->reporter_wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (pthread_create(&client->reporter, NULL, reporter_main, client) != 0)
        return CHAINFS_NO_MEMORY;
    client->reporter_started = true;
    return 0;
}

void length_reporter_stop(struct chainfs_client *client)
{
    if (!client->reporter_started)
        return;
    pthread_mutex_lock(&client->reporter_lock);
    client->stopping = true;
    pthread_cond_signal(&client->reporter_wake);
    pthread_mutex_unlock(&client->reporter_lock);
    pthread_join(client->reporter, NULL);
    client->reporter_started = false;
}

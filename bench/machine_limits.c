/*
 * machine_limits.c - iperf3 on loopback and a raw TCP ping-pong, as benchmark limits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/machine_limits.h"
#include "bench/statistics.h"
#include "common/clock.h"

#define PINGPONG_MESSAGE 64

static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof(address);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

/* Picks a free loopback port by binding port 0 and closing it again. */
static uint16_t free_port(void)
{
    uint16_t port = 0;
    int fd = listen_loopback(&port);
    if (fd >= 0)
        close(fd);
    return port;
}

static double parse_received_bits(const char *json)
{
    const char *sum = strstr(json, "\"sum_received\"");
    const char *bits = sum ? strstr(sum, "\"bits_per_second\"") : NULL;
    return bits ? strtod(strchr(bits, ':') + 1, NULL) : 0;
}

double limit_iperf3_loopback_mib_s(unsigned seconds)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", free_port());
    pid_t server = fork();
    if (server == 0) {
        int null_fd = open("/dev/null", O_WRONLY);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
        execlp("iperf3", "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", port, (char *)NULL);
        _exit(127);
    }
    if (server < 0)
        return 0;
    char command[128];
    snprintf(command, sizeof(command), "iperf3 -c 127.0.0.1 -p %s -t %u -l 1M -J 2>/dev/null", port, seconds);
    double bits = 0;
    for (int attempt = 0; attempt < 50 && bits == 0; attempt++) {
        clock_sleep_ns(100 * CLOCK_NS_PER_MS); /* until the server listens */
        FILE *output = popen(command, "r");
        if (!output)
            break;
        static char json[1 << 16];
        size_t length = fread(json, 1, sizeof(json) - 1, output);
        json[length] = '\0';
        pclose(output);
        bits = parse_received_bits(json);
        if (strstr(json, "\"error\"") == NULL && bits == 0)
            break;
    }
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    return bits / 8 / (1024.0 * 1024.0);
}

static int read_full(int fd, void *buffer, size_t length)
{
    for (size_t done = 0; done < length;) {
        ssize_t count = read(fd, (char *)buffer + done, length - done);
        if (count <= 0) {
            if (count < 0 && errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)count;
    }
    return 0;
}

static int write_full(int fd, const void *buffer, size_t length)
{
    for (size_t done = 0; done < length;) {
        ssize_t count = write(fd, (const char *)buffer + done, length - done);
        if (count <= 0) {
            if (count < 0 && errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)count;
    }
    return 0;
}

static void *echo_thread(void *argument)
{
    int listener = (int)(intptr_t)argument;
    int fd = accept(listener, NULL, NULL);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char buffer[64 * 1024];
    for (;;) {
        ssize_t count = read(fd, buffer, sizeof(buffer));
        if (count <= 0 || write_full(fd, buffer, (size_t)count) != 0)
            break;
    }
    close(fd);
    return NULL;
}

int limit_tcp_pingpong(unsigned depth, double seconds, struct tcp_pingpong_result *result)
{
    uint16_t port;
    int listener = listen_loopback(&port);
    if (listener < 0)
        return -1;
    pthread_t thread;
    pthread_create(&thread, NULL, echo_thread, (void *)(intptr_t)listener);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int status = connect(fd, (struct sockaddr *)&address, sizeof(address));
    size_t batch = (size_t)depth * PINGPONG_MESSAGE;
    char *buffer = calloc(1, batch);
    struct sample_set samples;
    sample_set_init(&samples, 1 << 20);
    uint64_t start = clock_now_ns(), end = start + (uint64_t)(seconds * CLOCK_NS_PER_S);
    uint64_t messages = 0;
    while (status == 0 && clock_now_ns() < end) {
        uint64_t before = clock_now_ns();
        if (write_full(fd, buffer, batch) != 0 || read_full(fd, buffer, batch) != 0) {
            status = -1;
            break;
        }
        sample_set_add(&samples, (double)(clock_now_ns() - before) / 1000.0);
        messages += depth;
    }
    double elapsed = (double)(clock_now_ns() - start) / CLOCK_NS_PER_S;
    close(fd);
    pthread_join(thread, NULL);
    close(listener);
    result->round_trips_per_second = messages / elapsed;
    result->median_round_trip_us = sample_set_percentile(&samples, 50);
    sample_set_free(&samples);
    free(buffer);
    return status;
}

/*
 * local_cluster_mgmtd.c - the pinned addresses of a local cluster's mgmtd.
 *
 * Every service and the mount of `chainfs up` are given the mgmtd addresses once, on
 * their command line. A mgmtd restarted on another port would be found by nobody:
 * the services stop serving after half the failure interval (storage exits). So the
 * first `up` chooses one port per mgmtd and records them in <dir>/run/mgmtd-addresses
 * (one "127.0.0.1:PORT" a line, mgmtd-1 first); every later `up`, and a mgmtd
 * restarted with its own command line, listens on the same port.
 *
 * Ports are chosen below the kernel's ephemeral range (ip_local_port_range) where
 * there is room: an outgoing connection of any process takes its local port from that
 * range, and could hold a pinned port while the cluster is down. A port that is taken
 * at a later `up` is reported, naming the file; nothing is started.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/local_cluster.h"

#define PINNED_HOST "127.0.0.1"
#define LOWEST_CHOSEN_PORT 20000
#define PORT_ATTEMPTS 200

void local_cluster_mgmtd_file(const struct local_cluster *cluster, char *path, size_t capacity)
{
    snprintf(path, capacity, "%s/mgmtd-addresses", cluster->run);
}

/* A socket bound to 127.0.0.1:port (0: the kernel picks) the way the RPC server
 * binds (SO_REUSEADDR: connections of a stopped mgmtd in TIME_WAIT do not count as
 * taking the port). Returns the socket, or -1 with errno set. */
static int bind_port(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, PINNED_HOST, &address.sin_addr);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

bool local_cluster_port_free(uint16_t port)
{
    int fd = bind_port(port);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* The lowest port of the ephemeral range (32768 where it cannot be read). */
static unsigned ephemeral_low(void)
{
    unsigned low = 32768, high = 60999;
    FILE *file = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        if (fscanf(file, "%u %u", &low, &high) != 2)
            low = 32768;
        fclose(file);
    }
    return low;
}

static bool already_chosen(const uint16_t *ports, unsigned count, uint16_t port)
{
    for (unsigned i = 0; i < count; i++)
        if (ports[i] == port)
            return true;
    return false;
}

/* A free port not in taken[0..count): a random one below the ephemeral range, or one
 * the kernel picks when that range leaves no room. 0 if none was found. */
static uint16_t choose_port(const uint16_t *taken, unsigned count)
{
    unsigned low = ephemeral_low();
    for (int attempt = 0; low > LOWEST_CHOSEN_PORT + 1000 && attempt < PORT_ATTEMPTS; attempt++) {
        uint16_t port = (uint16_t)(LOWEST_CHOSEN_PORT + (unsigned)rand() % (low - LOWEST_CHOSEN_PORT));
        if (!already_chosen(taken, count, port) && local_cluster_port_free(port))
            return port;
    }
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        int fd = bind_port(0);
        if (fd < 0)
            return 0;
        struct sockaddr_in bound;
        socklen_t length = sizeof(bound);
        uint16_t port = getsockname(fd, (struct sockaddr *)&bound, &length) == 0 ? ntohs(bound.sin_port) : 0;
        close(fd);
        if (port != 0 && !already_chosen(taken, count, port))
            return port;
    }
    return 0;
}

/* Reads the recorded ports. Returns how many (0: no file), or -1 after printing what
 * is wrong with the file. */
static int read_pinned(const struct local_cluster *cluster, uint16_t ports[LOCAL_MGMTD_MAX])
{
    char path[PATH_MAX + 32], line[128];
    local_cluster_mgmtd_file(cluster, path, sizeof(path));
    FILE *file = fopen(path, "r");
    if (!file)
        return errno == ENOENT ? 0 : (fprintf(stderr, "chainfs up: cannot read %s: %s\n", path,
                                              strerror(errno)), -1);
    int count = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), file)) {
        unsigned port;
        char end;
        ok = count < LOCAL_MGMTD_MAX && sscanf(line, PINNED_HOST ":%u%c", &port, &end) == 2 &&
             end == '\n' && port > 0 && port <= 65535 && !already_chosen(ports, (unsigned)count, (uint16_t)port);
        if (ok)
            ports[count++] = (uint16_t)port;
    }
    fclose(file);
    if (!ok || count == 0) {
        fprintf(stderr, "chainfs up: %s line %d is not \"" PINNED_HOST ":PORT\" (at most %d distinct "
                        "lines); fix it, or remove it while the cluster is down to choose new ports\n",
                path, count + 1, LOCAL_MGMTD_MAX);
        return -1;
    }
    return count;
}

static int write_pinned(const struct local_cluster *cluster)
{
    char path[PATH_MAX + 32], temporary[PATH_MAX + 48];
    local_cluster_mgmtd_file(cluster, path, sizeof(path));
    snprintf(temporary, sizeof(temporary), "%s.tmp", path);
    FILE *file = fopen(temporary, "w");
    if (!file) {
        fprintf(stderr, "chainfs up: cannot write %s: %s\n", temporary, strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < cluster->mgmtd_count; i++)
        fprintf(file, PINNED_HOST ":%u\n", cluster->mgmtd_ports[i]);
    if (fclose(file) != 0 || rename(temporary, path) != 0) {
        fprintf(stderr, "chainfs up: cannot write %s: %s\n", path, strerror(errno));
        unlink(temporary);
        return -1;
    }
    return 0;
}

static void format_addresses(struct local_cluster *cluster)
{
    size_t used = 0;
    cluster->mgmtd_address[0] = '\0';
    for (unsigned i = 0; i < cluster->mgmtd_count; i++)
        used += (size_t)snprintf(cluster->mgmtd_address + used, sizeof(cluster->mgmtd_address) - used,
                                 "%s" PINNED_HOST ":%u", i ? "," : "", cluster->mgmtd_ports[i]);
}

int local_cluster_pin_mgmtd(struct local_cluster *cluster, bool count_given, bool cluster_running)
{
    uint16_t pinned[LOCAL_MGMTD_MAX];
    int recorded = read_pinned(cluster, pinned);
    if (recorded < 0)
        return 1;
    if (recorded > 0 && !count_given)
        cluster->mgmtd_count = (unsigned)recorded;
    if (recorded > 0 && (unsigned)recorded != cluster->mgmtd_count && cluster_running) {
        fprintf(stderr, "chainfs up: this cluster runs with %d mgmtd; its services know only "
                        "those: `chainfs down --dir %s` first to change to --mgmtd %u\n",
                recorded, cluster->dir, cluster->mgmtd_count);
        return 1;
    }
    unsigned kept = (unsigned)recorded < cluster->mgmtd_count ? (unsigned)recorded : cluster->mgmtd_count;
    memcpy(cluster->mgmtd_ports, pinned, kept * sizeof(pinned[0]));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (unsigned i = kept; i < cluster->mgmtd_count; i++) {
        cluster->mgmtd_ports[i] = choose_port(cluster->mgmtd_ports, i);
        if (cluster->mgmtd_ports[i] == 0) {
            fprintf(stderr, "chainfs up: found no free port on " PINNED_HOST " for mgmtd-%u\n", i + 1);
            return 1;
        }
    }
    format_addresses(cluster);
    if ((unsigned)recorded != cluster->mgmtd_count && write_pinned(cluster) != 0)
        return 1;
    return 0;
}

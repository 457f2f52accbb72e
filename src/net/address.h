/*
 * address.h - "host:port" network addresses (IPv4, or IPv6 in brackets).
 */
#ifndef CHAINFS_NET_ADDRESS_H
#define CHAINFS_NET_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDRESS_TEXT_MAX 64

struct net_address {
    struct sockaddr_storage storage;
    socklen_t length;
};

/* Parses "127.0.0.1:9000", "[::1]:9000" or "localhost:9000" (resolved with
 * getaddrinfo, numeric forms first). Port 0 asks the kernel for a free port when
 * listening. Returns 0 or CHAINFS_INVALID_ARGUMENT. */
int net_address_parse(const char *text, struct net_address *address);

/* Formats as "host:port" (IPv6 in brackets) into out[ADDRESS_TEXT_MAX]. */
void net_address_format(const struct net_address *address, char out[ADDRESS_TEXT_MAX]);

/* The address a connected or bound socket has (getsockname/getpeername). */
int net_address_of_socket(int fd, bool peer, struct net_address *address);

#endif /* CHAINFS_NET_ADDRESS_H */

/*
 * address.c - parsing and formatting of host:port addresses.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "net/address.h"

static bool parse_port(const char *text, unsigned *port)
{
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (end == text || *end != '\0' || value > 65535 || text[0] == '-' || text[0] == '+')
        return false;
    *port = (unsigned)value;
    return true;
}

int net_address_parse(const char *text, struct net_address *address)
{
    char host[256];
    const char *port_text;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return CHAINFS_INVALID_ARGUMENT;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host) ||
            memchr(text, ':', (size_t)(colon - text)) != NULL)
            return CHAINFS_INVALID_ARGUMENT;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    unsigned port;
    if (!parse_port(port_text, &port))
        return CHAINFS_INVALID_ARGUMENT;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, service, &hints, &found) != 0) {
        hints.ai_flags = AI_NUMERICSERV;
        if (getaddrinfo(host, service, &hints, &found) != 0)
            return CHAINFS_INVALID_ARGUMENT;
    }
    memset(address, 0, sizeof(*address));
    memcpy(&address->storage, found->ai_addr, found->ai_addrlen);
    address->length = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

void net_address_format(const struct net_address *address, char out[ADDRESS_TEXT_MAX])
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (address->storage.ss_family == AF_INET) {
        const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)&address->storage;
        inet_ntop(AF_INET, &ipv4->sin_addr, host, sizeof(host));
        port = ntohs(ipv4->sin_port);
        snprintf(out, ADDRESS_TEXT_MAX, "%s:%u", host, port);
    } else if (address->storage.ss_family == AF_INET6) {
        const struct sockaddr_in6 *ipv6 = (const struct sockaddr_in6 *)&address->storage;
        inet_ntop(AF_INET6, &ipv6->sin6_addr, host, sizeof(host));
        port = ntohs(ipv6->sin6_port);
        snprintf(out, ADDRESS_TEXT_MAX, "[%s]:%u", host, port);
    } else {
        snprintf(out, ADDRESS_TEXT_MAX, "unknown");
    }
}

int net_address_of_socket(int fd, bool peer, struct net_address *address)
{
    memset(address, 0, sizeof(*address));
    address->length = sizeof(address->storage);
    int result = peer ? getpeername(fd, (struct sockaddr *)&address->storage, &address->length)
                      : getsockname(fd, (struct sockaddr *)&address->storage, &address->length);
    return result == 0 ? 0 : CHAINFS_IO;
}

/* Loopback helpers the socket tests share (tcp.c, udp.c, tcp_load.c). */
#ifndef KESTREL_INET_H
#define KESTREL_INET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* 127.0.0.1:port. */
static inline struct sockaddr_in lo4(uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* The local port of socket `s` (IPv4 or IPv6), or -1. */
static inline int port_of(int s)
{
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if (getsockname(s, (struct sockaddr *)&a, &l) < 0)
        return -1;
    if (a.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
    return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

#endif

/*
 * udp.c - AF_INET/AF_INET6 SOCK_DGRAM sockets over loopback: sendto/recvfrom,
 * sendmsg/recvmsg with the source address, connected and unconnected
 * sockets, truncation, FIONREAD, timeouts, poll and epoll readiness.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - send on an unconnected UDP socket is EDESTADDRREQ; sendto port 0 is
 *     EINVAL; a payload over 65507 bytes (IPv4) EMSGSIZE; the broadcast
 *     address without SO_BROADCAST EACCES.
 *   - A datagram longer than the buffer is cut: recv returns the part,
 *     MSG_TRUNC in recvmsg's msg_flags; with MSG_TRUNC in the flags recv
 *     returns the full length.
 *   - FIONREAD is the size of the next datagram, not the bytes queued.
 *   - An empty datagram is a datagram: recv returns 0 for it.
 *   - connect(AF_UNSPEC) dissolves the association (getpeername ENOTCONN).
 *   - listen and accept are EOPNOTSUPP; shutdown unconnected ENOTCONN.
 *   - A connected socket whose datagram met a closed port gets ECONNREFUSED
 *     (from the ICMP port unreachable), once.
 */
#define KT_AREA "udp"
#define _GNU_SOURCE /* recvmmsg, struct mmsghdr */
#include "inet.h"
#include "kt.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_S 10

static void h_alarm(int sig)
{
    (void)sig;
}

static void case_begin(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(WATCHDOG_S);
}

static void case_end(void)
{
    alarm(0);
    for (int fd = 3; fd < 256; fd++)
        close(fd);
}

#define RUNS(name)                                                            \
    do {                                                                      \
        case_begin();                                                         \
        RUN(name);                                                            \
        case_end();                                                           \
    } while (0)

/* A UDP socket bound to 127.0.0.1 at an ephemeral port. */
static int bound(int *port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = lo4(0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    *port = port_of(s);
    return s;
}

static short poll_one(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    if (poll(&p, 1, ms) < 0)
        return -1;
    return p.revents;
}

static int sockopt_int(int s, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, level, name, &v, &l) < 0)
        return -1;
    return v;
}

TEST(socket_inet_dgram_reports_type_and_protocol) {
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
    EXPECT_EQ(poll_one(s, POLLIN | POLLOUT, 0), POLLOUT);
}

TEST(sendto_recvfrom_name_the_sender) {
    int pr, ps;
    int r = OK(bound(&pr));
    int s = OK(bound(&ps));
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "ping", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
    char b[16];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    EXPECT_EQ(recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 4);
    CHECK(memcmp(b, "ping", 4) == 0, "wrong bytes");
    EXPECT_EQ(fl, sizeof from);
    EXPECT_EQ(from.sin_family, AF_INET);
    EXPECT_EQ(ntohs(from.sin_port), ps);
    EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

TEST(an_unbound_sender_gets_an_ephemeral_port) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_EQ(port_of(s), 0);
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    int p = port_of(s);
    CHECK(p > 0, "no port after sendto");
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    char b[4];
    EXPECT_EQ(recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 1);
    EXPECT_EQ(ntohs(from.sin_port), p);
}

TEST(datagrams_keep_their_boundaries_and_empty_ones_count) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "ab", 2, 0, (struct sockaddr *)&to, sizeof to), 2);
    EXPECT_EQ(sendto(s, "", 0, 0, (struct sockaddr *)&to, sizeof to), 0);
    EXPECT_EQ(sendto(s, "cde", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
    char b[16];
    EXPECT_EQ(recv(r, b, sizeof b, 0), 2);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 0);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 3);
}

/* MSG_MORE corks: the sends up to the first without it make one datagram */
TEST(msg_more_joins_sends_into_one_datagram) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "ab", 2, MSG_MORE, (struct sockaddr *)&to, sizeof to), 2);
    char b[16];
    EXPECT_ERRNO(recv(r, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    EXPECT_EQ(sendto(s, "cde", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 5);
    CHECK(memcmp(b, "abcde", 5) == 0, "got %.5s", b);
}

TEST(a_long_datagram_is_truncated_with_msg_trunc) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
    EXPECT_EQ(sendto(s, "abcdefghij", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
    char b[4];
    struct iovec iov = {b, sizeof b};
    struct sockaddr_in from;
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    EXPECT_EQ(recvmsg(r, &m, 0), 4);
    EXPECT_EQ(m.msg_flags & MSG_TRUNC, MSG_TRUNC);
    EXPECT_EQ(m.msg_namelen, sizeof from);
    CHECK(memcmp(b, "0123", 4) == 0, "wrong bytes");
    /* the rest is gone; MSG_TRUNC asks for the real length */
    EXPECT_EQ(recv(r, b, sizeof b, MSG_TRUNC), 10);
    CHECK(memcmp(b, "abcd", 4) == 0, "wrong bytes");
}

TEST(msg_peek_leaves_the_datagram_and_fionread_is_its_size) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    int n = -1;
    OK(ioctl(r, FIONREAD, &n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(sendto(s, "12345", 5, 0, (struct sockaddr *)&to, sizeof to), 5);
    EXPECT_EQ(sendto(s, "678", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
    EXPECT_EQ(poll_one(r, POLLIN, 5000) & POLLIN, POLLIN);
    OK(ioctl(r, FIONREAD, &n));
    EXPECT_EQ(n, 5);
    char b[8];
    EXPECT_EQ(recv(r, b, sizeof b, MSG_PEEK), 5);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 5);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 3);
}

TEST(recv_with_nothing_queued_is_eagain_when_nonblocking) {
    int pr;
    int r = OK(bound(&pr));
    char b[4];
    EXPECT_ERRNO(recv(r, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    OK(fcntl(r, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(read(r, b, sizeof b), EAGAIN);
}

TEST(so_rcvtimeo_ends_a_recv_with_eagain) {
    int pr;
    int r = OK(bound(&pr));
    struct timeval tv = {0, 100000};
    OK(setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char b[4];
    EXPECT_ERRNO(recv(r, b, sizeof b, 0), EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 90 && ms < 2000, "waited %ld ms", ms);
}

TEST(a_blocking_recv_wakes_when_a_datagram_arrives) {
    int pr;
    int r = OK(bound(&pr));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = lo4((uint16_t)pr);
        sendto(s, "late", 4, 0, (struct sockaddr *)&to, sizeof to);
        _exit(0);
    }
    char b[8];
    EXPECT_EQ(recv(r, b, sizeof b, 0), 4);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
}

TEST(connected_socket_sends_without_address_and_names_its_peer) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    OK(connect(s, (struct sockaddr *)&to, sizeof to));
    struct sockaddr_in p;
    socklen_t pl = sizeof p;
    OK(getpeername(s, (struct sockaddr *)&p, &pl));
    EXPECT_EQ(ntohs(p.sin_port), pr);
    CHECK(port_of(s) > 0, "connect did not bind");
    EXPECT_EQ(send(s, "hi", 2, 0), 2);
    EXPECT_EQ(write(s, "yo", 2), 2);
    char b[4];
    EXPECT_EQ(recv(r, b, sizeof b, 0), 2);
    EXPECT_EQ(recv(r, b, sizeof b, 0), 2);
    /* AF_UNSPEC dissolves the association */
    struct sockaddr un = {.sa_family = AF_UNSPEC};
    OK(connect(s, &un, sizeof un));
    pl = sizeof p;
    EXPECT_ERRNO(getpeername(s, (struct sockaddr *)&p, &pl), ENOTCONN);
    EXPECT_ERRNO(send(s, "x", 1, 0), EDESTADDRREQ);
}

/* The ICMP port unreachable a datagram to a closed port brings back is
 * reported to a connected socket: POLLERR, then ECONNREFUSED once. */
TEST(a_connected_socket_hears_a_closed_port_as_econnrefused) {
    int p;
    int gone = OK(bound(&p));
    OK(close(gone));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)p);
    OK(connect(s, (struct sockaddr *)&to, sizeof to));
    EXPECT_EQ(send(s, "x", 1, 0), 1);
    short ev = poll_one(s, POLLIN, 5000);
    CHECK(ev & POLLERR, "revents %#x", ev);
    char b[4];
    EXPECT_ERRNO(recv(s, b, sizeof b, 0), ECONNREFUSED);
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_DONTWAIT), EAGAIN);
}

TEST(send_errors_edestaddrreq_einval_emsgsize_eacces) {
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_ERRNO(send(s, "x", 1, 0), EDESTADDRREQ);
    struct sockaddr_in to = lo4(0);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to - 1), EINVAL);
    static char big[65508];
    to = lo4(9);
    EXPECT_ERRNO(sendto(s, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to), EMSGSIZE);
    to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), EACCES);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)0x1000, sizeof to), EFAULT);
}

TEST(listen_accept_are_eopnotsupp_and_shutdown_unconnected_enotconn) {
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_ERRNO(listen(s, 1), EOPNOTSUPP);
    EXPECT_ERRNO(accept(s, NULL, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(shutdown(s, SHUT_RDWR), ENOTCONN);
}

TEST(bind_in_use_is_eaddrinuse_unless_both_reuse) {
    int p;
    int a = OK(bound(&p));
    (void)a;
    int b = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in ad = lo4((uint16_t)p);
    EXPECT_ERRNO(bind(b, (struct sockaddr *)&ad, sizeof ad), EADDRINUSE);
    int one = 1;
    int c = OK(socket(AF_INET, SOCK_DGRAM, 0));
    OK(setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_in z = lo4(0);
    OK(bind(c, (struct sockaddr *)&z, sizeof z));
    int d = OK(socket(AF_INET, SOCK_DGRAM, 0));
    OK(setsockopt(d, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    ad = lo4((uint16_t)port_of(c));
    OK(bind(d, (struct sockaddr *)&ad, sizeof ad));
}

TEST(epoll_reports_a_datagram) {
    int pr;
    int r = OK(bound(&pr));
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = r};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev));
    struct epoll_event out[2];
    EXPECT_EQ(epoll_wait(ep, out, 2, 0), 0);
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    EXPECT_EQ(sendto(s, "e", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    EXPECT_EQ(epoll_wait(ep, out, 2, 5000), 1);
    EXPECT_EQ(out[0].events, EPOLLIN);
}

TEST(ipv6_loopback_datagrams_and_mapped_ipv4_senders) {
    int r = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    OK(bind(r, (struct sockaddr *)&a, sizeof a));
    int port = port_of(r);
    int s = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons((uint16_t)port);
    EXPECT_EQ(sendto(s, "v6", 2, 0, (struct sockaddr *)&a, sizeof a), 2);
    struct sockaddr_in6 from;
    socklen_t fl = sizeof from;
    char b[4];
    EXPECT_EQ(recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 2);
    EXPECT_EQ(fl, sizeof from);
    CHECK(IN6_IS_ADDR_LOOPBACK(&from.sin6_addr), "sender is not ::1");
    int s4 = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to4 = lo4((uint16_t)port);
    EXPECT_EQ(sendto(s4, "v4", 2, 0, (struct sockaddr *)&to4, sizeof to4), 2);
    fl = sizeof from;
    EXPECT_EQ(recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 2);
    CHECK(IN6_IS_ADDR_V4MAPPED(&from.sin6_addr), "IPv4 sender is not mapped");
}

/* A receiver that never reads does not stop a sender: what does not fit in
 * its buffer is dropped, the sender's datagrams all go. */
TEST(a_flood_to_a_receiver_that_does_not_read_is_dropped_not_blocked) {
    int pr;
    int r = OK(bound(&pr));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)pr);
    static char d[1000];
    for (int i = 0; i < 3000; i++)
        EXPECT_EQ(sendto(s, d, sizeof d, 0, (struct sockaddr *)&to, sizeof to), sizeof d);
    EXPECT_EQ(poll_one(r, POLLIN, 5000) & POLLIN, POLLIN);
    int got = 0;
    while (recv(r, d, sizeof d, MSG_DONTWAIT) == (ssize_t)sizeof d)
        got++;
    CHECK(got > 0 && got < 3000, "received %d of 3000", got);
}

/* netdevice(7) on any internet socket: lo is index 1, up, loopback,
 * 127.0.0.1/8, hardware type ARPHRD_LOOPBACK; an unknown name is ENODEV. */
/* IP_RECVERR / IPV6_RECVERR are kept and read back (glibc's resolver sets
 * IP_RECVERR on its UDP socket and gives up when it fails); the IPv4 option on an
 * IPv4 socket, the IPv6 one on an IPv6 socket. */
TEST(ip_recverr_is_kept_for_each_family) {
    int s4 = OK(socket(AF_INET, SOCK_DGRAM, 0));
    int s6 = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    int one = 1, v = -1;
    socklen_t len = sizeof v;
    OK(getsockopt(s4, IPPROTO_IP, IP_RECVERR, &v, &len));
    EXPECT_EQ(v, 0);
    OK(setsockopt(s4, IPPROTO_IP, IP_RECVERR, &one, sizeof one));
    len = sizeof v;
    OK(getsockopt(s4, IPPROTO_IP, IP_RECVERR, &v, &len));
    EXPECT_EQ(v, 1);
    OK(setsockopt(s6, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one));
    len = sizeof v;
    OK(getsockopt(s6, IPPROTO_IPV6, IPV6_RECVERR, &v, &len));
    EXPECT_EQ(v, 1);
    close(s4);
    close(s6);
}

TEST(interface_ioctls_describe_lo) {
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    OK(ioctl(s, SIOCGIFINDEX, &r));
    EXPECT_EQ(r.ifr_ifindex, 1);
    OK(ioctl(s, SIOCGIFFLAGS, &r));
    EXPECT_EQ(r.ifr_flags & (IFF_UP | IFF_LOOPBACK), IFF_UP | IFF_LOOPBACK);
    OK(ioctl(s, SIOCGIFADDR, &r));
    struct sockaddr_in *a = (struct sockaddr_in *)&r.ifr_addr;
    EXPECT_EQ(a->sin_family, AF_INET);
    EXPECT_EQ(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    OK(ioctl(s, SIOCGIFNETMASK, &r));
    EXPECT_EQ(((struct sockaddr_in *)&r.ifr_netmask)->sin_addr.s_addr, htonl(0xff000000));
    OK(ioctl(s, SIOCGIFMTU, &r));
    CHECK(r.ifr_mtu >= 65535, "lo mtu %d", r.ifr_mtu);
    OK(ioctl(s, SIOCGIFHWADDR, &r));
    EXPECT_EQ(r.ifr_hwaddr.sa_family, ARPHRD_LOOPBACK);
    memset(&r, 0, sizeof r);
    r.ifr_ifindex = 1;
    OK(ioctl(s, SIOCGIFNAME, &r));
    CHECK(strcmp(r.ifr_name, "lo") == 0, "index 1 is %s", r.ifr_name);
    strcpy(r.ifr_name, "nosuch0");
    EXPECT_ERRNO(ioctl(s, SIOCGIFFLAGS, &r), ENODEV);
    struct ifreq list[16];
    struct ifconf c = {.ifc_len = sizeof list, .ifc_req = list};
    OK(ioctl(s, SIOCGIFCONF, &c));
    int found = 0;
    for (int i = 0; i < c.ifc_len / (int)sizeof(struct ifreq); i++)
        found |= strcmp(list[i].ifr_name, "lo") == 0;
    CHECK(found, "SIOCGIFCONF does not list lo (%d bytes)", c.ifc_len);
}

static void mtu_child(void *arg)
{
    (void)arg;
    /* A network namespace of its own: the host's lo is left alone. */
    if (unshare(CLONE_NEWNET) != 0)
        _exit(77);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        _exit(10);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    r.ifr_mtu = 1500;
    if (ioctl(s, SIOCSIFMTU, &r) != 0)
        _exit(11);
    r.ifr_mtu = 0;
    if (ioctl(s, SIOCGIFMTU, &r) != 0 || r.ifr_mtu != 1500)
        _exit(12);
    r.ifr_mtu = -1;
    errno = 0;
    if (ioctl(s, SIOCSIFMTU, &r) != -1 || errno != EINVAL)
        _exit(13);
    /* Linux keeps no interface metric to set. */
    r.ifr_metric = 1;
    errno = 0;
    if (ioctl(s, SIOCSIFMETRIC, &r) != -1 || errno != EOPNOTSUPP)
        _exit(14);
    strcpy(r.ifr_name, "nosuch0");
    r.ifr_mtu = 1500;
    errno = 0;
    if (ioctl(s, SIOCSIFMTU, &r) != -1 || errno != ENODEV)
        _exit(15);
    /* Up, a datagram larger than the MTU still arrives whole. */
    strcpy(r.ifr_name, "lo");
    r.ifr_flags = IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &r) != 0)
        _exit(16);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len))
        _exit(17);
    static char buf[4001], got[8000];
    memset(buf, 'm', sizeof buf);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0)
        _exit(18);
    if (send(c, buf, 4000, MSG_MORE) != 4000 || send(c, buf, 1, 0) != 1)
        _exit(19);
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1 || recv(s, got, sizeof got, 0) != 4001)
        _exit(20);
    /* Changing it needs CAP_NET_ADMIN. */
    if (setuid(65534) != 0)
        _exit(21);
    r.ifr_mtu = 1400;
    errno = 0;
    if (ioctl(s, SIOCSIFMTU, &r) != -1 || errno != EPERM)
        _exit(22);
    _exit(0);
}

TEST(siocsifmtu_sets_the_mtu_siocgifmtu_reports)
{
    int st = kt_in_child(mtu_child, NULL);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        SKIP("no network namespaces");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* recvmmsg without MSG_WAITFORONE waits for each of vlen messages (Linux);
 * with it, it returns what is there once it has one. */
TEST(recvmmsg_waits_for_vlen_messages_unless_waitforone) {
    int port;
    int r = OK(bound(&port));
    int w = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    OK(connect(w, (struct sockaddr *)&a, sizeof a));
    char b1[8], b2[8];
    struct iovec v1 = {b1, sizeof b1}, v2 = {b2, sizeof b2};
    struct mmsghdr m[2];
    memset(m, 0, sizeof m);
    m[0].msg_hdr.msg_iov = &v1;
    m[0].msg_hdr.msg_iovlen = 1;
    m[1].msg_hdr.msg_iov = &v2;
    m[1].msg_hdr.msg_iovlen = 1;
    EXPECT_EQ(send(w, "one", 3, 0), 3);
    usleep(20000);
    EXPECT_EQ(recvmmsg(r, m, 2, MSG_WAITFORONE, NULL), 1);
    EXPECT_EQ(send(w, "two", 3, 0), 3);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(150000);
        send(w, "three", 5, 0);
        _exit(0);
    }
    int got = recvmmsg(r, m, 2, 0, NULL);
    waitpid(pid, NULL, 0);
    EXPECT_EQ(got, 2);
    EXPECT_EQ(m[0].msg_len, 3);
    EXPECT_EQ(m[1].msg_len, 5);
    CHECK(memcmp(b2, "three", 5) == 0, "wrong second message");
}

/* Receives one datagram with room for control messages; returns the
 * payload length and leaves the message header for the caller to walk. */
static long recv_with_control(int s, struct msghdr *m, char *ctl, size_t ctl_len)
{
    static char data[64];
    static struct iovec iov;
    iov.iov_base = data;
    iov.iov_len = sizeof data;
    memset(m, 0, sizeof *m);
    m->msg_iov = &iov;
    m->msg_iovlen = 1;
    m->msg_control = ctl;
    m->msg_controllen = ctl_len;
    return recvmsg(s, m, 0);
}

static struct cmsghdr *find_cmsg(struct msghdr *m, int level, int type)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
        if (c->cmsg_level == level && c->cmsg_type == type)
            return c;
    return NULL;
}

/* IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and IP_RECVORIGDSTADDR: the interface
 * and the destination, the TTL the sender set, the TOS byte, the destination
 * port, in that order (ip_cmsg_recv), after SO_TIMESTAMP's timeval. */
TEST(ipv4_control_messages_report_pktinfo_ttl_tos_and_destination) {
    int port;
    int r = OK(bound(&port));
    int one = 1;
    OK(setsockopt(r, IPPROTO_IP, IP_PKTINFO, &one, sizeof one));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVTTL, &one, sizeof one));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVTOS, &one, sizeof one));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVORIGDSTADDR, &one, sizeof one));
    OK(setsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one));
    EXPECT_EQ(sockopt_int(r, IPPROTO_IP, IP_PKTINFO), 1);
    EXPECT_EQ(sockopt_int(r, IPPROTO_IP, IP_RECVTTL), 1);
    EXPECT_EQ(sockopt_int(r, SOL_SOCKET, SO_TIMESTAMP), 1);
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    int ttl = 33;
    OK(setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl));
    struct sockaddr_in to = lo4((uint16_t)port);
    struct timeval before, after;
    gettimeofday(&before, NULL);
    EXPECT_EQ(sendto(s, "ttl", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
    char ctl[512];
    struct msghdr m;
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 3);
    gettimeofday(&after, NULL);
    CHECK(!(m.msg_flags & MSG_CTRUNC), "MSG_CTRUNC with room for everything");
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    CHECK(c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP,
          "the first message is not SCM_TIMESTAMP");
    struct timeval tv;
    memcpy(&tv, CMSG_DATA(c), sizeof tv);
    double t = tv.tv_sec + tv.tv_usec / 1e6;
    CHECK(t >= before.tv_sec + before.tv_usec / 1e6 - 0.001 && t <= after.tv_sec + after.tv_usec / 1e6 + 0.001,
          "the timestamp %.6f is not between the send and the receive", t);
    c = CMSG_NXTHDR(&m, c);
    CHECK(c && c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO, "IP_PKTINFO does not come next");
    struct in_pktinfo pi;
    memcpy(&pi, CMSG_DATA(c), sizeof pi);
    EXPECT_EQ(pi.ipi_ifindex, (int)if_nametoindex("lo"));
    EXPECT_EQ(pi.ipi_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_EQ(pi.ipi_spec_dst.s_addr, htonl(INADDR_LOOPBACK));
    c = find_cmsg(&m, SOL_IP, IP_TTL);
    CHECK(c && c->cmsg_len == CMSG_LEN(sizeof(int)), "no IP_TTL int");
    int got_ttl;
    memcpy(&got_ttl, CMSG_DATA(c), sizeof got_ttl);
    EXPECT_EQ(got_ttl, 33);
    c = find_cmsg(&m, SOL_IP, IP_TOS);
    CHECK(c && c->cmsg_len == CMSG_LEN(1), "no one-byte IP_TOS");
    c = find_cmsg(&m, SOL_IP, IP_ORIGDSTADDR);
    CHECK(c && c->cmsg_len == CMSG_LEN(sizeof(struct sockaddr_in)), "no IP_ORIGDSTADDR");
    struct sockaddr_in dst;
    memcpy(&dst, CMSG_DATA(c), sizeof dst);
    EXPECT_EQ(dst.sin_family, AF_INET);
    EXPECT_EQ(ntohs(dst.sin_port), port);
    EXPECT_EQ(dst.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    /* Too little room: what fits, cut, and MSG_CTRUNC. */
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    EXPECT_EQ(recv_with_control(r, &m, ctl, CMSG_SPACE(sizeof(struct timeval)) + 4), 1);
    CHECK(m.msg_flags & MSG_CTRUNC, "no MSG_CTRUNC with room for one message");
    /* Off again: nothing. */
    int zero = 0;
    OK(setsockopt(r, IPPROTO_IP, IP_PKTINFO, &zero, sizeof zero));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVTTL, &zero, sizeof zero));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVTOS, &zero, sizeof zero));
    OK(setsockopt(r, IPPROTO_IP, IP_RECVORIGDSTADDR, &zero, sizeof zero));
    OK(setsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &zero, sizeof zero));
    EXPECT_EQ(sendto(s, "y", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 1);
    EXPECT_EQ(m.msg_controllen, 0);
    /* IPv6 options are not an IPv4 socket's. */
    EXPECT_ERRNO(setsockopt(r, IPPROTO_IPV6, 49 /* IPV6_RECVPKTINFO */, &one, sizeof one), ENOPROTOOPT);
}

/* SO_TIMESTAMP and SO_TIMESTAMPNS share a switch: setting one turns the
 * other's reading off; SO_TIMESTAMPNS delivers a timespec (SCM_TIMESTAMPNS). */
TEST(so_timestampns_gives_a_timespec_and_replaces_so_timestamp) {
    int port;
    int r = OK(bound(&port));
    int one = 1, zero = 0;
    OK(setsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one));
    OK(setsockopt(r, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one));
    EXPECT_EQ(sockopt_int(r, SOL_SOCKET, SO_TIMESTAMP), 0);
    EXPECT_EQ(sockopt_int(r, SOL_SOCKET, SO_TIMESTAMPNS), 1);
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)port);
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    EXPECT_EQ(sendto(s, "ns", 2, 0, (struct sockaddr *)&to, sizeof to), 2);
    char ctl[128];
    struct msghdr m;
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    CHECK(c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
              c->cmsg_len == CMSG_LEN(sizeof(struct timespec)),
          "no SCM_TIMESTAMPNS timespec");
    struct timespec ts;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    CHECK(ts.tv_sec >= before.tv_sec && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000,
          "timespec %ld.%09ld before the send at %ld", (long)ts.tv_sec, ts.tv_nsec, (long)before.tv_sec);
    OK(setsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &zero, sizeof zero));
    EXPECT_EQ(sockopt_int(r, SOL_SOCKET, SO_TIMESTAMPNS), 0);
}

/* IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT and IPV6_RECVTCLASS on ::1; an IPv4
 * sender's datagram on the same socket gets IPV6_PKTINFO with its v4-mapped
 * destination. */
/* sendmsg with one control message of `level`/`type` carrying `len`
 * bytes of `val`, to `to`. */
static long send_with_cmsg(int s, const void *to, socklen_t tolen, int level, int type,
                           const void *val, size_t len)
{
    char ctl[CMSG_SPACE(64)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = "cm", .iov_len = 2};
    struct msghdr m = {.msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = &iov,
                       .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = CMSG_SPACE(len)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), val, len);
    return sendmsg(s, &m, 0);
}

/* sendmsg's IP_TTL and IP_PKTINFO set one datagram's TTL and source, as
 * ip_cmsg_send reads them; bad values and unknown types are EINVAL, other
 * levels are skipped, SCM_RIGHTS is ignored, a bad buffer is EFAULT */
TEST(ipv4_sendmsg_control_messages_set_ttl_and_source) {
    int port;
    int r = OK(bound(&port));
    int one = 1;
    OK(setsockopt(r, IPPROTO_IP, IP_RECVTTL, &one, sizeof one));
    int s = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = lo4((uint16_t)port);
    int ttl = 3;
    EXPECT_EQ(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl), 2);
    char ctl[256];
    struct msghdr m;
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
    struct cmsghdr *c = find_cmsg(&m, IPPROTO_IP, IP_TTL);
    CHECK(c != NULL, "no IP_TTL message");
    int got = 0;
    if (c)
        memcpy(&got, CMSG_DATA(c), sizeof got);
    EXPECT_EQ(got, 3);
    /* The next one goes with the socket's TTL again */
    EXPECT_EQ(sendto(s, "cm", 2, 0, (struct sockaddr *)&to, sizeof to), 2);
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
    c = find_cmsg(&m, IPPROTO_IP, IP_TTL);
    got = 0;
    if (c)
        memcpy(&got, CMSG_DATA(c), sizeof got);
    EXPECT_EQ(got, 64);
    /* IP_PKTINFO's ipi_spec_dst is the source */
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi_spec_dst.s_addr = htonl(0x7f000002);
    EXPECT_EQ(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi), 2);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    char b[8];
    EXPECT_EQ(recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl), 2);
    EXPECT_EQ(ntohl(from.sin_addr.s_addr), 0x7f000002u);
    /* A source that is not this host's: no route from it (ENETUNREACH);
     * a multicast one EINVAL */
    pi.ipi_spec_dst.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi),
                 ENETUNREACH);
    pi.ipi_spec_dst.s_addr = htonl(0xe0000001); /* 224.0.0.1 */
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi), EINVAL);
    /* Values out of range, wrong lengths, unknown types: EINVAL */
    int bad = 0;
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_TTL, &bad, sizeof bad), EINVAL);
    bad = 256;
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_TTL, &bad, sizeof bad), EINVAL);
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_TTL, &ttl, 2), EINVAL);
    unsigned char tos = 0x10;
    EXPECT_EQ(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, IP_TOS, &tos, 1), 2);
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, IPPROTO_IP, 99, &ttl, sizeof ttl), EINVAL);
    EXPECT_ERRNO(send_with_cmsg(s, &to, sizeof to, SOL_SOCKET, 99, &ttl, sizeof ttl), EINVAL);
    /* Another level is skipped; SCM_RIGHTS means nothing here */
    EXPECT_EQ(send_with_cmsg(s, &to, sizeof to, IPPROTO_IPV6, 99, &ttl, sizeof ttl), 2);
    int fd = 0;
    EXPECT_EQ(send_with_cmsg(s, &to, sizeof to, SOL_SOCKET, SCM_RIGHTS, &fd, sizeof fd), 2);
    /* A message longer than the buffer: EINVAL; an unreadable buffer: EFAULT */
    char ctl2[CMSG_SPACE(sizeof(int))];
    memset(ctl2, 0, sizeof ctl2);
    struct iovec iov = {.iov_base = "cm", .iov_len = 2};
    struct msghdr mh = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov,
                        .msg_iovlen = 1, .msg_control = ctl2, .msg_controllen = sizeof ctl2};
    struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
    h->cmsg_level = IPPROTO_IP;
    h->cmsg_type = IP_TTL;
    h->cmsg_len = sizeof ctl2 + 8;
    EXPECT_ERRNO(sendmsg(s, &mh, 0), EINVAL);
    /* (musl's sendmsg copies the control buffer itself: the system call) */
    mh.msg_control = (void *)-1;
    EXPECT_ERRNO(syscall(SYS_sendmsg, s, &mh, 0), EFAULT);
    /* TCP reads only SOL_SOCKET's: an IP_TTL of 0 is not looked at */
    int l = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in la = lo4(0);
    OK(bind(l, (struct sockaddr *)&la, sizeof la));
    OK(listen(l, 1));
    socklen_t ll = sizeof la;
    OK(getsockname(l, (struct sockaddr *)&la, &ll));
    int c1 = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(connect(c1, (struct sockaddr *)&la, sizeof la));
    EXPECT_EQ(send_with_cmsg(c1, NULL, 0, IPPROTO_IP, IP_TTL, &bad, sizeof bad), 2);
    EXPECT_ERRNO(send_with_cmsg(c1, NULL, 0, SOL_SOCKET, 99, &ttl, sizeof ttl), EINVAL);
}

/* IPV6_HOPLIMIT on sendmsg: one datagram's hop limit (-1: the socket's);
 * IPV6_TCLASS is range-checked */
TEST(ipv6_sendmsg_hop_limit_sets_one_datagrams) {
    int r = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    OK(bind(r, (struct sockaddr *)&a, sizeof a));
    a.sin6_port = htons((uint16_t)port_of(r));
    int one = 1;
    OK(setsockopt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one));
    int s = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    char ctl[256];
    struct msghdr m;
    int cases[][2] = {{2, 2}, {-1, 64}, {0, 0}};
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(send_with_cmsg(s, &a, sizeof a, IPPROTO_IPV6, IPV6_HOPLIMIT, &cases[i][0],
                                 sizeof(int)),
                  2);
        EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
        struct cmsghdr *c = find_cmsg(&m, IPPROTO_IPV6, IPV6_HOPLIMIT);
        int got = -2;
        if (c)
            memcpy(&got, CMSG_DATA(c), sizeof got);
        EXPECT_EQ(got, cases[i][1]);
    }
    int bad = 256;
    EXPECT_ERRNO(send_with_cmsg(s, &a, sizeof a, IPPROTO_IPV6, IPV6_HOPLIMIT, &bad, sizeof bad),
                 EINVAL);
    EXPECT_ERRNO(send_with_cmsg(s, &a, sizeof a, IPPROTO_IPV6, IPV6_TCLASS, &bad, sizeof bad),
                 EINVAL);
    int tc = 0x20;
    EXPECT_EQ(send_with_cmsg(s, &a, sizeof a, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof tc), 2);
    EXPECT_ERRNO(send_with_cmsg(s, &a, sizeof a, IPPROTO_IPV6, 99, &tc, sizeof tc), EINVAL);
    /* IP-level messages are not an IPv6 destination's */
    EXPECT_EQ(send_with_cmsg(s, &a, sizeof a, IPPROTO_IP, 99, &tc, sizeof tc), 2);
}

TEST(ipv6_control_messages_report_pktinfo_hop_limit_and_tclass) {
    int r = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    OK(bind(r, (struct sockaddr *)&a, sizeof a));
    int port = port_of(r);
    int one = 1;
    OK(setsockopt(r, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one));
    OK(setsockopt(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one));
    OK(setsockopt(r, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one));
    EXPECT_EQ(sockopt_int(r, IPPROTO_IPV6, IPV6_RECVHOPLIMIT), 1);
    int s = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    int hops = 7;
    OK(setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops));
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons((uint16_t)port);
    EXPECT_EQ(sendto(s, "v6", 2, 0, (struct sockaddr *)&a, sizeof a), 2);
    char ctl[256];
    struct msghdr m;
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    CHECK(c && c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO, "IPV6_PKTINFO is not first");
    struct in6_pktinfo pi;
    memcpy(&pi, CMSG_DATA(c), sizeof pi);
    CHECK(IN6_IS_ADDR_LOOPBACK(&pi.ipi6_addr), "IPV6_PKTINFO's address is not ::1");
    EXPECT_EQ((int)pi.ipi6_ifindex, (int)if_nametoindex("lo"));
    c = CMSG_NXTHDR(&m, c);
    CHECK(c && c->cmsg_type == IPV6_HOPLIMIT, "IPV6_HOPLIMIT does not come next");
    int v;
    memcpy(&v, CMSG_DATA(c), sizeof v);
    EXPECT_EQ(v, 7);
    c = CMSG_NXTHDR(&m, c);
    CHECK(c && c->cmsg_type == IPV6_TCLASS, "IPV6_TCLASS does not come next");
    memcpy(&v, CMSG_DATA(c), sizeof v);
    EXPECT_EQ(v, 0);
    int s4 = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to4 = lo4((uint16_t)port);
    EXPECT_EQ(sendto(s4, "v4", 2, 0, (struct sockaddr *)&to4, sizeof to4), 2);
    EXPECT_EQ(recv_with_control(r, &m, ctl, sizeof ctl), 2);
    c = find_cmsg(&m, SOL_IPV6, IPV6_PKTINFO);
    CHECK(c != NULL, "no IPV6_PKTINFO for an IPv4 sender");
    memcpy(&pi, CMSG_DATA(c), sizeof pi);
    CHECK(IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr) && pi.ipi6_addr.s6_addr[15] == 1,
          "IPV6_PKTINFO for an IPv4 sender is not ::ffff:127.0.0.1");
    CHECK(find_cmsg(&m, SOL_IPV6, IPV6_HOPLIMIT) == NULL, "IPV6_HOPLIMIT for an IPv4 packet");
}

int main(void)
{
    KT_BEGIN();
    RUNS(socket_inet_dgram_reports_type_and_protocol);
    RUNS(sendto_recvfrom_name_the_sender);
    RUNS(an_unbound_sender_gets_an_ephemeral_port);
    RUNS(datagrams_keep_their_boundaries_and_empty_ones_count);
    RUNS(msg_more_joins_sends_into_one_datagram);
    RUNS(a_long_datagram_is_truncated_with_msg_trunc);
    RUNS(msg_peek_leaves_the_datagram_and_fionread_is_its_size);
    RUNS(recv_with_nothing_queued_is_eagain_when_nonblocking);
    RUNS(so_rcvtimeo_ends_a_recv_with_eagain);
    RUNS(a_blocking_recv_wakes_when_a_datagram_arrives);
    RUNS(ip_recverr_is_kept_for_each_family);
    RUNS(connected_socket_sends_without_address_and_names_its_peer);
    RUNS(a_connected_socket_hears_a_closed_port_as_econnrefused);
    RUNS(send_errors_edestaddrreq_einval_emsgsize_eacces);
    RUNS(listen_accept_are_eopnotsupp_and_shutdown_unconnected_enotconn);
    RUNS(bind_in_use_is_eaddrinuse_unless_both_reuse);
    RUNS(epoll_reports_a_datagram);
    RUNS(ipv6_loopback_datagrams_and_mapped_ipv4_senders);
    RUNS(a_flood_to_a_receiver_that_does_not_read_is_dropped_not_blocked);
    RUNS(interface_ioctls_describe_lo);
    RUNS(siocsifmtu_sets_the_mtu_siocgifmtu_reports);
    RUNS(recvmmsg_waits_for_vlen_messages_unless_waitforone);
    RUNS(ipv4_control_messages_report_pktinfo_ttl_tos_and_destination);
    RUNS(so_timestampns_gives_a_timespec_and_replaces_so_timestamp);
    RUNS(ipv6_control_messages_report_pktinfo_hop_limit_and_tclass);
    RUNS(ipv4_sendmsg_control_messages_set_ttl_and_source);
    RUNS(ipv6_sendmsg_hop_limit_sets_one_datagrams);
    return KT_END();
}

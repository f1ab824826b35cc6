/*
 * packet.c - AF_PACKET sockets (packet(7)) on lo: socket, bind/getsockname
 * with struct sockaddr_ll, raw and cooked sends and receives, the taps'
 * filtering by protocol and direction, the receive queue's bound, readiness,
 * and the SOL_PACKET options' checks (PACKET_VERSION, PACKET_RESERVE,
 * PACKET_RX_RING/PACKET_TX_RING, PACKET_VNET_HDR, PACKET_HDRLEN,
 * PACKET_STATISTICS).
 *
 * The cases run in a network namespace of their own (lo only, brought up
 * here), so nothing else on lo disturbs them; if the namespace cannot be
 * made they run in the caller's and the down-interface case is skipped. The
 * frames carry the local experimental Ethertype 0x88b5.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - socket needs CAP_NET_RAW (EPERM, before the type is looked at);
 *     SOCK_STREAM is ESOCKTNOSUPPORT.
 *   - bind wants a whole sockaddr_ll (EINVAL) of family AF_PACKET (EINVAL);
 *     an unknown ifindex is ENODEV. getsockname gives the length up to the
 *     hardware address: 18 for lo (ARPHRD_LOOPBACK, a 6-byte zero address).
 *   - An ETH_P_ALL socket sees a frame another socket sends on lo twice: as
 *     PACKET_OUTGOING, then received as PACKET_HOST; a socket of one
 *     Ethertype sees it once (PACKET_HOST); a socket of protocol 0 nothing;
 *     the sending socket sees it only coming in.
 *   - SOCK_DGRAM receives the payload without the Ethernet header and
 *     builds the header from sll_addr on send.
 *   - sendto: a sockaddr_ll shorter than 20 bytes is EINVAL, no interface
 *     ENXIO, a down one ENETDOWN, a raw frame past MTU + 14 EMSGSIZE, a raw
 *     frame shorter than an Ethernet header EINVAL.
 *   - recvfrom reports a whole sockaddr_ll (20 bytes), PACKET_HDRLEN the
 *     size of the version's frame header (32, 32, 48).
 *   - PACKET_RESERVE beyond INT_MAX is EINVAL; a ring's frame must hold a
 *     header and the reserve, its block be page-aligned, frame_nr be what
 *     the blocks hold; a V3 block must hold the private area (an overflow of
 *     tp_sizeof_priv is EINVAL); with a ring, PACKET_VERSION and
 *     PACKET_RESERVE are EBUSY, and a ring is torn down with no blocks.
 *   - A classic BPF socket filter (SO_ATTACH_FILTER: a whole sock_fprog,
 *     EINVAL for no instructions or a program that does not end in a
 *     return) keeps the frames it returns non-zero for, cut to that length;
 *     SO_DETACH_FILTER without one is ENOENT.
 *   - A mapped RX ring (mmap at offset 0 of exactly the ring's size, EINVAL
 *     otherwise or with no ring) takes the frames instead of the queue: V2
 *     frames with TP_STATUS_USER, tp_mac 66 and tp_net 80 for SOCK_RAW and
 *     the sockaddr_ll at 32; a full ring drops (PACKET_STATISTICS) until a
 *     frame is given back; V3 blocks with their packets chained by
 *     tp_next_offset, handed over when full or when the block times out.
 */
#define KT_AREA "packet"
#include "kt.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* The ABI, from linux/if_packet.h (musl has none of it). */
#ifndef AF_PACKET
#define AF_PACKET 17
#endif
#ifndef SOL_PACKET
#define SOL_PACKET 263
#endif
struct kt_sockaddr_ll {
    unsigned short sll_family;
    unsigned short sll_protocol;
    int sll_ifindex;
    unsigned short sll_hatype;
    unsigned char sll_pkttype;
    unsigned char sll_halen;
    unsigned char sll_addr[8];
};
struct kt_tpacket_req3 {
    unsigned int tp_block_size, tp_block_nr, tp_frame_size, tp_frame_nr;
    unsigned int tp_retire_blk_tov, tp_sizeof_priv, tp_feature_req_word;
};
#define KT_PACKET_RX_RING 5
#define KT_PACKET_STATISTICS 6
#define KT_PACKET_VERSION 10
#define KT_PACKET_HDRLEN 11
#define KT_PACKET_RESERVE 12
#define KT_PACKET_TX_RING 13
#define KT_PACKET_VNET_HDR 15
#define KT_TPACKET_V1 0
#define KT_TPACKET_V2 1
#define KT_TPACKET_V3 2
#define KT_PACKET_HOST 0
#define KT_PACKET_OUTGOING 4
#define KT_ARPHRD_LOOPBACK 772
#define KT_ETH_P_ALL 0x0003
#define ETHERTYPE_TEST 0x88b5

static int in_own_netns;
static int lo_index;

static int psock(int type, int proto)
{
    return socket(AF_PACKET, type, htons(proto));
}

static struct kt_sockaddr_ll lo_addr(int proto)
{
    struct kt_sockaddr_ll a;
    memset(&a, 0, sizeof a);
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(proto);
    a.sll_ifindex = lo_index;
    a.sll_halen = 6;
    return a;
}

/* A raw frame on lo: zero addresses, the test Ethertype, `n` payload bytes of `fill`. */
static size_t frame(unsigned char *buf, size_t n, unsigned char fill)
{
    memset(buf, 0, 12);
    buf[12] = ETHERTYPE_TEST >> 8;
    buf[13] = ETHERTYPE_TEST & 0xff;
    memset(buf + 14, fill, n);
    return 14 + n;
}

static int set_int(int s, int name, int v)
{
    return setsockopt(s, SOL_PACKET, name, &v, sizeof v);
}

static int set_lo_up(int up)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int s = psock(SOCK_DGRAM, 0);
    if (s < 0)
        return -1;
    ifr.ifr_flags = up ? (IFF_UP | IFF_LOOPBACK | IFF_RUNNING) : 0;
    int r = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return r;
}

TEST(socket_types_and_errors) {
    int s = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    int v = 0;
    socklen_t l = sizeof v;
    OK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l));
    EXPECT_EQ(v, AF_PACKET);
    l = sizeof v;
    OK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    EXPECT_EQ(v, SOCK_RAW);
    close(s);
    s = OK(psock(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    EXPECT_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(s);
    EXPECT_ERRNO(psock(SOCK_STREAM, KT_ETH_P_ALL), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(psock(SOCK_RAW | 0x40000000, KT_ETH_P_ALL), EINVAL);
    EXPECT_ERRNO(psock(SOCK_RAW, KT_ETH_P_ALL) >= 0 ? socketpair(AF_PACKET, SOCK_RAW, 0, (int[2]){0, 0}) : -1,
                 EOPNOTSUPP);
}

TEST(socket_needs_cap_net_raw) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        errno = 0;
        int r = socket(AF_PACKET, SOCK_RAW, htons(KT_ETH_P_ALL));
        int r2 = socket(AF_PACKET, SOCK_STREAM, 0);
        _exit(r == -1 && errno == EPERM && r2 == -1 ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(bind_checks_and_getsockname) {
    int s = OK(psock(SOCK_RAW, 0));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a - 1), EINVAL);
    a.sll_family = AF_INET;
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EINVAL);
    a.sll_family = AF_PACKET;
    a.sll_ifindex = 99999;
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), ENODEV);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)8, sizeof a), EFAULT);
    a.sll_ifindex = lo_index;
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    struct kt_sockaddr_ll g;
    memset(&g, 0xee, sizeof g);
    socklen_t l = sizeof g;
    OK(getsockname(s, (struct sockaddr *)&g, &l));
    EXPECT_EQ(l, 18);
    EXPECT_EQ(g.sll_family, AF_PACKET);
    EXPECT_EQ(g.sll_protocol, htons(ETHERTYPE_TEST));
    EXPECT_EQ(g.sll_ifindex, lo_index);
    EXPECT_EQ(g.sll_hatype, KT_ARPHRD_LOOPBACK);
    EXPECT_EQ(g.sll_halen, 6);
    EXPECT_EQ(g.sll_addr[0] | g.sll_addr[5], 0);
    /* Rebinding to all interfaces with protocol 0 keeps the protocol. */
    memset(&a, 0, sizeof a);
    a.sll_family = AF_PACKET;
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    l = sizeof g;
    OK(getsockname(s, (struct sockaddr *)&g, &l));
    EXPECT_EQ(l, 12);
    EXPECT_EQ(g.sll_ifindex, 0);
    EXPECT_EQ(g.sll_protocol, htons(ETHERTYPE_TEST));
    EXPECT_ERRNO(getpeername(s, (struct sockaddr *)&g, &l), EOPNOTSUPP);
    EXPECT_ERRNO(listen(s, 1), EOPNOTSUPP);
    close(s);
}

TEST(ifreq_ioctls_work_on_packet_sockets) {
    int s = OK(psock(SOCK_DGRAM, 0));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    OK(ioctl(s, SIOCGIFINDEX, &ifr));
    EXPECT_EQ(ifr.ifr_ifindex, lo_index);
    OK(ioctl(s, SIOCGIFFLAGS, &ifr));
    CHECK(ifr.ifr_flags & IFF_UP, "lo is up");
    close(s);
}

/* Receives a frame of the test Ethertype on `s`, skipping others (ETH_P_ALL
 * sockets in the caller's namespace may see other traffic). */
static ssize_t recv_test(int s, unsigned char *buf, size_t n, struct kt_sockaddr_ll *from, int raw)
{
    for (int i = 0; i < 1000; i++) {
        socklen_t l = sizeof *from;
        ssize_t r = recvfrom(s, buf, n, MSG_DONTWAIT, (struct sockaddr *)from, &l);
        if (r < 0)
            return r;
        if (!raw || (r >= 14 && buf[12] == (ETHERTYPE_TEST >> 8) && buf[13] == (ETHERTYPE_TEST & 0xff)))
            return r;
    }
    errno = EAGAIN;
    return -1;
}

TEST(raw_frames_on_lo_reach_the_taps) {
    int all = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    int one = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    int other = OK(psock(SOCK_RAW, 0x88b6));
    int none = OK(psock(SOCK_RAW, 0));
    int tx = OK(psock(SOCK_RAW, 0));
    struct kt_sockaddr_ll a = lo_addr(KT_ETH_P_ALL);
    OK(bind(all, (struct sockaddr *)&a, sizeof a));
    a.sll_protocol = htons(ETHERTYPE_TEST);
    OK(bind(one, (struct sockaddr *)&a, sizeof a));
    unsigned char buf[256], got[256];
    size_t n = frame(buf, 50, 0x5a);
    a = lo_addr(0);
    EXPECT_EQ(sendto(tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(20000);
    struct kt_sockaddr_ll from;
    ssize_t r = recv_test(all, got, sizeof got, &from, 1);
    EXPECT_EQ(r, (long)n);
    CHECK(memcmp(got, buf, n) == 0, "frame bytes");
    EXPECT_EQ(from.sll_pkttype, KT_PACKET_OUTGOING);
    EXPECT_EQ(from.sll_ifindex, lo_index);
    EXPECT_EQ(from.sll_protocol, htons(ETHERTYPE_TEST));
    EXPECT_EQ(from.sll_hatype, KT_ARPHRD_LOOPBACK);
    r = recv_test(all, got, sizeof got, &from, 1);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(from.sll_pkttype, KT_PACKET_HOST);
    socklen_t l = sizeof from;
    memset(&from, 0xee, sizeof from);
    r = recvfrom(one, got, 20, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &l);
    EXPECT_EQ(r, (long)n);
    /* At least a whole sockaddr_ll, zero past sll_halen. */
    EXPECT_EQ(l, 20);
    EXPECT_EQ(from.sll_pkttype, KT_PACKET_HOST);
    EXPECT_EQ(from.sll_halen, 6);
    EXPECT_ERRNO(recv(one, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(recv(other, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(recv(none, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(recv(tx, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(recv(one, got, sizeof got, MSG_OOB), EINVAL);
    /* A sender does not see its own frame go out; on lo it sees it come in. */
    a = lo_addr(KT_ETH_P_ALL);
    OK(bind(all, (struct sockaddr *)&a, sizeof a));
    while (recv(all, got, sizeof got, MSG_DONTWAIT) >= 0)
        ;
    a = lo_addr(0);
    EXPECT_EQ(sendto(all, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(20000);
    r = recv_test(all, got, sizeof got, &from, 1);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(from.sll_pkttype, KT_PACKET_HOST);
    EXPECT_ERRNO(recv_test(all, got, sizeof got, &from, 1), EAGAIN);
    close(all);
    close(one);
    close(other);
    close(none);
    close(tx);
}

TEST(ip_traffic_on_lo_is_seen_behind_a_zero_ethernet_header) {
    int tap = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    struct kt_sockaddr_ll a = lo_addr(KT_ETH_P_ALL);
    OK(bind(tap, (struct sockaddr *)&a, sizeof a));
    int u = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(47999)};
    d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    OK(bind(u, (struct sockaddr *)&d, sizeof d));
    EXPECT_EQ(sendto(u, "ping", 4, 0, (struct sockaddr *)&d, sizeof d), 4);
    char tmp[8];
    EXPECT_EQ(recv(u, tmp, sizeof tmp, 0), 4);
    int out = 0, in = 0;
    unsigned char got[256];
    for (int i = 0; i < 64 && !(out && in); i++) {
        struct kt_sockaddr_ll from;
        socklen_t l = sizeof from;
        ssize_t r = recvfrom(tap, got, sizeof got, MSG_DONTWAIT, (struct sockaddr *)&from, &l);
        if (r < 0)
            break;
        /* 14 + 20 (IPv4) + 8 (UDP) + 4: the datagram to port 47999. */
        if (r != 46 || got[12] != 0x08 || got[13] != 0x00 || got[14 + 20 + 2] != (47999 >> 8))
            continue;
        CHECK(memcmp(got, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) == 0, "zero addresses");
        EXPECT_EQ(from.sll_protocol, htons(0x0800));
        if (from.sll_pkttype == KT_PACKET_OUTGOING)
            out++;
        else if (from.sll_pkttype == KT_PACKET_HOST)
            in++;
    }
    EXPECT_EQ(out, 1);
    EXPECT_EQ(in, 1);
    close(u);
    close(tap);
}

TEST(dgram_sockets_build_and_strip_the_header) {
    int raw = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    int dg = OK(psock(SOCK_DGRAM, ETHERTYPE_TEST));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(raw, (struct sockaddr *)&a, sizeof a));
    OK(bind(dg, (struct sockaddr *)&a, sizeof a));
    unsigned char payload[40], got[256];
    memset(payload, 0x77, sizeof payload);
    memcpy(a.sll_addr, "\x02\x11\x22\x33\x44\x55", 6);
    EXPECT_EQ(sendto(dg, payload, sizeof payload, 0, (struct sockaddr *)&a, sizeof a), (long)sizeof payload);
    usleep(20000);
    struct kt_sockaddr_ll from;
    ssize_t r = recv_test(raw, got, sizeof got, &from, 1);
    /* lo pads nothing: header + payload. */
    EXPECT_EQ(r, 14 + (long)sizeof payload);
    CHECK(memcmp(got, "\x02\x11\x22\x33\x44\x55", 6) == 0, "destination from sll_addr");
    CHECK(memcmp(got + 14, payload, sizeof payload) == 0, "payload");
    r = recv_test(dg, got, sizeof got, &from, 0);
    EXPECT_EQ(r, (long)sizeof payload);
    CHECK(memcmp(got, payload, sizeof payload) == 0, "payload only");
    EXPECT_EQ(from.sll_protocol, htons(ETHERTYPE_TEST));
    close(raw);
    close(dg);
}

struct kt_sock_filter {
    unsigned short code;
    unsigned char jt, jf;
    unsigned int k;
};
struct kt_sock_fprog {
    unsigned short len;
    struct kt_sock_filter *filter;
};

TEST(socket_filters_select_and_cut_frames) {
    int rx = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(rx, (struct sockaddr *)&a, sizeof a));
    /* ldb [14]; jeq #0x5a, keep 64 bytes, else drop. */
    struct kt_sock_filter code[] = {
        {0x30, 0, 0, 14}, {0x15, 0, 1, 0x5a}, {0x06, 0, 0, 64}, {0x06, 0, 0, 0},
    };
    struct kt_sock_fprog prog = {4, code};
    EXPECT_ERRNO(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog - 1), EINVAL);
    prog.len = 0;
    EXPECT_ERRNO(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), EINVAL);
    prog.len = 3; /* no return at the end */
    EXPECT_ERRNO(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), EINVAL);
    prog.len = 4;
    prog.filter = (void *)8;
    EXPECT_ERRNO(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), EFAULT);
    EXPECT_ERRNO(setsockopt(rx, SOL_SOCKET, SO_DETACH_FILTER, &prog, sizeof prog), ENOENT);
    prog.filter = code;
    OK(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog));
    int tx = OK(psock(SOCK_RAW, 0));
    unsigned char buf[200], got[256];
    a = lo_addr(0);
    size_t n = frame(buf, 100, 0x11);
    EXPECT_EQ(sendto(tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    n = frame(buf, 100, 0x5a);
    EXPECT_EQ(sendto(tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(20000);
    EXPECT_EQ(recv(rx, got, sizeof got, MSG_DONTWAIT), 64);
    EXPECT_EQ(got[14], 0x5a);
    EXPECT_ERRNO(recv(rx, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    OK(setsockopt(rx, SOL_SOCKET, SO_DETACH_FILTER, &prog, sizeof prog));
    EXPECT_EQ(sendto(tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(20000);
    EXPECT_EQ(recv(rx, got, sizeof got, MSG_DONTWAIT), (long)n);
    close(tx);
    close(rx);
}

TEST(send_errors) {
    int s = OK(psock(SOCK_RAW, 0));
    unsigned char buf[128];
    size_t n = frame(buf, 50, 1);
    struct kt_sockaddr_ll a = lo_addr(0);
    EXPECT_ERRNO(sendto(s, buf, n, 0, (struct sockaddr *)&a, sizeof a - 1), EINVAL);
    a.sll_ifindex = 99999;
    EXPECT_ERRNO(sendto(s, buf, n, 0, (struct sockaddr *)&a, sizeof a), ENXIO);
    /* Unbound, no address: no interface. */
    EXPECT_ERRNO(send(s, buf, n, 0), ENXIO);
    a.sll_ifindex = lo_index;
    EXPECT_ERRNO(sendto(s, buf, 10, 0, (struct sockaddr *)&a, sizeof a), EINVAL);
    EXPECT_ERRNO(sendto(s, (void *)8, n, 0, (struct sockaddr *)&a, sizeof a), EFAULT);
    size_t big = 70000;
    unsigned char *huge = calloc(1, big);
    CHECK(huge, "calloc");
    frame(huge, big - 14, 0);
    errno = 0;
    long r = sendto(s, huge, big, 0, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    free(huge);
    CHECK(r == -1 && e == EMSGSIZE, "70000-byte frame on lo: %ld %s", r, kt_errstr(e));
    close(s);
}

TEST(send_on_a_down_interface_is_enetdown) {
    if (!in_own_netns)
        SKIP("no network namespace of our own: lo stays up");
    int s = OK(psock(SOCK_RAW, 0));
    unsigned char buf[128];
    size_t n = frame(buf, 50, 1);
    struct kt_sockaddr_ll a = lo_addr(0);
    OK(set_lo_up(0));
    errno = 0;
    long r = sendto(s, buf, n, 0, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    OK(set_lo_up(1));
    CHECK(r == -1 && e == ENETDOWN, "sendto on down lo: %ld %s", r, kt_errstr(e));
    close(s);
}

TEST(blocking_receive_and_readiness) {
    int rx = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(rx, (struct sockaddr *)&a, sizeof a));
    struct pollfd p = {.fd = rx, .events = POLLIN | POLLOUT};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLOUT);
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = rx};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, rx, &ev));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        usleep(100000);
        int tx = psock(SOCK_RAW, 0);
        unsigned char buf[64];
        size_t n = frame(buf, 30, 3);
        struct kt_sockaddr_ll b = lo_addr(0);
        _exit(sendto(tx, buf, n, 0, (struct sockaddr *)&b, sizeof b) == (long)n ? 0 : 1);
    }
    unsigned char got[128];
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
    EXPECT_EQ(p.revents = 0, 0);
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN | POLLOUT);
    int v = -1;
    OK(ioctl(rx, FIONREAD, &v));
    EXPECT_EQ(v, 44);
    EXPECT_EQ(read(rx, got, sizeof got), 44);
    int st;
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    /* Nothing more: a blocking read waits, until SO_RCVTIMEO. */
    struct timeval tv = {0, 100000};
    OK(setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    EXPECT_ERRNO(recv(rx, got, sizeof got, 0), EAGAIN);
    close(ep);
    close(rx);
}

TEST(receive_queue_is_bounded_by_rcvbuf) {
    int rx = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    int small = 4096;
    OK(setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(rx, (struct sockaddr *)&a, sizeof a));
    unsigned int stats[3];
    socklen_t l = sizeof stats;
    OK(getsockopt(rx, SOL_PACKET, KT_PACKET_STATISTICS, stats, &l));
    int tx = OK(psock(SOCK_RAW, 0));
    static unsigned char buf[1100];
    size_t n = frame(buf, 1000, 9);
    a = lo_addr(0);
    for (int i = 0; i < 64; i++)
        EXPECT_EQ(sendto(tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(50000);
    int got = 0;
    unsigned char r[1200];
    while (recv(rx, r, sizeof r, MSG_DONTWAIT) == (long)n)
        got++;
    CHECK(got > 0 && got < 64, "%d of 64 frames queued with an 8K buffer", got);
    l = sizeof stats;
    OK(getsockopt(rx, SOL_PACKET, KT_PACKET_STATISTICS, stats, &l));
    EXPECT_EQ(l, 8);
    EXPECT_EQ(stats[0], 64);
    EXPECT_EQ(stats[1], 64 - got);
    l = sizeof stats;
    OK(getsockopt(rx, SOL_PACKET, KT_PACKET_STATISTICS, stats, &l));
    EXPECT_EQ(stats[0], 0);
    close(rx);
    close(tx);
}

TEST(version_reserve_and_vnet_hdr_options) {
    int s = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    int v = -1;
    socklen_t l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_VERSION, &v, &l));
    EXPECT_EQ(v, KT_TPACKET_V1);
    EXPECT_ERRNO(set_int(s, KT_PACKET_VERSION, 3), EINVAL);
    EXPECT_ERRNO(setsockopt(s, SOL_PACKET, KT_PACKET_VERSION, &v, 2), EINVAL);
    EXPECT_ERRNO(setsockopt(s, SOL_PACKET, KT_PACKET_VERSION, (void *)8, 4), EFAULT);
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V2));
    l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_VERSION, &v, &l));
    EXPECT_EQ(v, KT_TPACKET_V2);
    EXPECT_ERRNO(set_int(s, KT_PACKET_RESERVE, -52), EINVAL);
    OK(set_int(s, KT_PACKET_RESERVE, 128));
    l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_RESERVE, &v, &l));
    EXPECT_EQ(v, 128);
    v = KT_TPACKET_V3;
    l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_HDRLEN, &v, &l));
    EXPECT_EQ(v, 48);
    v = KT_TPACKET_V2;
    l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_HDRLEN, &v, &l));
    EXPECT_EQ(v, 32);
    v = 7;
    l = sizeof v;
    EXPECT_ERRNO(getsockopt(s, SOL_PACKET, KT_PACKET_HDRLEN, &v, &l), EINVAL);
    OK(set_int(s, KT_PACKET_VNET_HDR, 1));
    EXPECT_ERRNO(set_int(s, 999, 1), ENOPROTOOPT);
    EXPECT_ERRNO(setsockopt(s, SOL_IP, 1, &v, sizeof v), ENOPROTOOPT);
    close(s);
    s = OK(psock(SOCK_DGRAM, KT_ETH_P_ALL));
    EXPECT_ERRNO(set_int(s, KT_PACKET_VNET_HDR, 1), EINVAL);
    close(s);
}

static int ring(int s, int tx, unsigned bs, unsigned bn, unsigned fs, unsigned fn, unsigned priv)
{
    struct kt_tpacket_req3 r = {bs, bn, fs, fn, 0, priv, 0};
    if (!tx)
        r.tp_retire_blk_tov = 0;
    return setsockopt(s, SOL_PACKET, tx ? KT_PACKET_TX_RING : KT_PACKET_RX_RING, &r, sizeof r);
}

TEST(ring_setup_checks) {
    long pg = sysconf(_SC_PAGESIZE);
    int s = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V2));
    /* A tpacket_req is 16 bytes for V1/V2. */
    struct kt_tpacket_req3 r = {pg, 1, pg, 1, 0, 0, 0};
    EXPECT_ERRNO(setsockopt(s, SOL_PACKET, KT_PACKET_RX_RING, &r, 15), EINVAL);
    /* A fault reading the request is EINVAL (copy_from_sockptr() ? -EINVAL). */
    EXPECT_ERRNO(setsockopt(s, SOL_PACKET, KT_PACKET_RX_RING, (void *)8, 16), EINVAL);
    EXPECT_ERRNO(ring(s, 0, pg + 16, 1, 64, 0, 0), EINVAL);      /* block not page-aligned */
    EXPECT_ERRNO(ring(s, 0, 0x80000000u, 1, 64, 0, 0), EINVAL);  /* negative block size */
    EXPECT_ERRNO(ring(s, 0, pg, 1, 16, pg / 16, 0), EINVAL);      /* frame < header */
    EXPECT_ERRNO(ring(s, 0, pg, 1, 72, pg / 72, 0), EINVAL);      /* frame not 16-aligned */
    EXPECT_ERRNO(ring(s, 0, pg, 1, 64, pg / 64 - 1, 0), EINVAL);  /* frame_nr mismatch */
    EXPECT_ERRNO(ring(s, 0, pg, 0, 64, 1, 0), EINVAL);            /* no blocks, frames */
    OK(set_int(s, KT_PACKET_RESERVE, 1 << 30));
    EXPECT_ERRNO(ring(s, 0, pg, 1, pg, 1, 0), EINVAL);            /* reserve too big */
    OK(set_int(s, KT_PACKET_RESERVE, 0));
    OK(ring(s, 0, pg, 2, pg / 2, 4, 0));
    EXPECT_ERRNO(ring(s, 0, pg, 2, pg / 2, 4, 0), EBUSY);
    EXPECT_ERRNO(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V3), EBUSY);
    EXPECT_ERRNO(set_int(s, KT_PACKET_RESERVE, 1 << 30), EBUSY);
    int v = -1;
    socklen_t l = sizeof v;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_RESERVE, &v, &l));
    EXPECT_EQ(v, 0);
    OK(ring(s, 0, 0, 0, 0, 0, 0));
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V3));
    close(s);

    s = OK(psock(SOCK_RAW, KT_ETH_P_ALL));
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V3));
    /* V3 reads a whole tpacket_req3. */
    EXPECT_ERRNO(setsockopt(s, SOL_PACKET, KT_PACKET_RX_RING, &r, 16), EINVAL);
    EXPECT_ERRNO(ring(s, 0, pg, 2, pg, 2, 3u << 30), EINVAL);     /* priv overflows */
    EXPECT_ERRNO(ring(s, 0, pg, 2, pg, 2, pg), EINVAL);           /* priv fills the block */
    OK(ring(s, 0, pg, 2, pg, 2, 512));
    /* The TX ring is separate; a V3 one takes no block timeout or priv. */
    EXPECT_ERRNO(ring(s, 1, pg, 2, pg, 2, 512), EINVAL);
    close(s);
}

/* Sends `count` test frames of `n` payload bytes on lo. */
static int send_frames(int count, size_t n)
{
    int tx = psock(SOCK_RAW, 0);
    if (tx < 0)
        return -1;
    static unsigned char buf[2048];
    size_t len = frame(buf, n, 0x33);
    struct kt_sockaddr_ll a = lo_addr(0);
    for (int i = 0; i < count; i++)
        if (sendto(tx, buf, len, 0, (struct sockaddr *)&a, sizeof a) != (long)len)
            return -1;
    close(tx);
    return 0;
}

/* The errno of a failed mmap of `len` bytes of `s`, 0 if it succeeded. */
static int mmap_fails(int s, size_t len)
{
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
    if (m != MAP_FAILED) {
        munmap(m, len);
        return 0;
    }
    return errno;
}

TEST(v2_rx_ring_is_mapped_and_filled) {
    long pg = sysconf(_SC_PAGESIZE);
    int s = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    CHECK(mmap_fails(s, pg) == EINVAL, "mmap with no ring");
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V2));
    unsigned fs = 2048, nframes = 2 * pg / fs;
    OK(ring(s, 0, pg, 2, fs, nframes, 0));
    CHECK(mmap_fails(s, pg) == EINVAL, "mmap of half the ring");
    unsigned char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
    CHECK(m != MAP_FAILED, "mmap of the ring: %s", kt_errstr(errno));
    struct pollfd p = {.fd = s, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    CHECK(send_frames(1, 100) == 0, "send");
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    volatile unsigned int *h = (volatile unsigned int *)m;
    EXPECT_EQ(h[0] & 1, 1);           /* TP_STATUS_USER */
    EXPECT_EQ(h[1], 114);             /* tp_len */
    EXPECT_EQ(h[2], 114);             /* tp_snaplen */
    unsigned short mac = h[3] & 0xffff, net = h[3] >> 16;
    EXPECT_EQ(mac, 66);
    EXPECT_EQ(net, 80);
    CHECK(h[4] > 0, "tp_sec set");
    EXPECT_EQ(m[mac + 12], ETHERTYPE_TEST >> 8);
    EXPECT_EQ(m[mac + 14], 0x33);
    struct kt_sockaddr_ll *sll = (struct kt_sockaddr_ll *)(m + 32);
    EXPECT_EQ(sll->sll_family, AF_PACKET);
    EXPECT_EQ(sll->sll_ifindex, lo_index);
    EXPECT_EQ(sll->sll_pkttype, KT_PACKET_HOST);
    /* The ring takes the frames: nothing to recv. */
    EXPECT_ERRNO(recv(s, m + 4096, 0, MSG_DONTWAIT), EAGAIN);
    /* Fill it: one frame per slot, the rest dropped until slots come back. */
    CHECK(send_frames(nframes + 3, 100) == 0, "send");
    usleep(50000);
    unsigned int stats[2];
    socklen_t l = sizeof stats;
    OK(getsockopt(s, SOL_PACKET, KT_PACKET_STATISTICS, stats, &l));
    EXPECT_EQ(stats[0], nframes + 4);
    EXPECT_EQ(stats[1], 4);
    h[0] = 0;
    CHECK(send_frames(1, 100) == 0, "send");
    usleep(50000);
    EXPECT_EQ(h[0] & 1, 1);
    EXPECT_ERRNO(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V3), EBUSY);
    munmap(m, 2 * pg);
    close(s);
}

TEST(v3_rx_ring_hands_over_blocks) {
    long pg = sysconf(_SC_PAGESIZE);
    int s = OK(psock(SOCK_RAW, ETHERTYPE_TEST));
    struct kt_sockaddr_ll a = lo_addr(ETHERTYPE_TEST);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    OK(set_int(s, KT_PACKET_VERSION, KT_TPACKET_V3));
    struct kt_tpacket_req3 r = {pg, 4, 2048, 4 * pg / 2048, 10, 0, 0};
    OK(setsockopt(s, SOL_PACKET, KT_PACKET_RX_RING, &r, sizeof r));
    unsigned char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
    CHECK(m != MAP_FAILED, "mmap of the ring: %s", kt_errstr(errno));
    CHECK(send_frames(3, 100) == 0, "send");
    struct pollfd p = {.fd = s, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    volatile unsigned int *b = (volatile unsigned int *)m;
    EXPECT_EQ(b[2] & 1, 1);            /* block_status: TP_STATUS_USER */
    unsigned int npkts = b[3], first = b[4];
    CHECK(npkts >= 1 && npkts <= 3, "num_pkts %u", npkts);
    EXPECT_EQ(first, 48);
    unsigned char *pkt = m + first;
    unsigned int total = 0;
    for (unsigned int i = 0; i < npkts; i++) {
        volatile unsigned int *h = (volatile unsigned int *)pkt;
        EXPECT_EQ(h[3], 114);          /* tp_snaplen */
        EXPECT_EQ(h[4], 114);          /* tp_len */
        unsigned short mac = h[6] & 0xffff;
        EXPECT_EQ(pkt[mac + 14], 0x33);
        struct kt_sockaddr_ll *sll = (struct kt_sockaddr_ll *)(pkt + 48);
        EXPECT_EQ(sll->sll_ifindex, lo_index);
        total++;
        if (h[0] == 0)
            break;
        pkt += h[0];
    }
    EXPECT_EQ(total, npkts);
    close(s);
    munmap(m, 4 * pg);
}

/* An Ethernet interface of the caller's namespace (eth0 on Kestrel with
 * --net user), with two packet sockets made there before the test leaves it:
 * a tap bound to it and a sender. */
static int eth_index = -1, eth_tap = -1, eth_tx = -1, eth_mtu;
static unsigned char eth_mac[6];

static void find_ethernet(void)
{
    struct if_nameindex *ifs = if_nameindex();
    int s = psock(SOCK_DGRAM, 0);
    if (!ifs || s < 0)
        return;
    for (struct if_nameindex *i = ifs; i->if_index; i++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", i->if_name);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0 || !(ifr.ifr_flags & IFF_UP) ||
            (ifr.ifr_flags & IFF_LOOPBACK))
            continue;
        if (ioctl(s, SIOCGIFHWADDR, &ifr) != 0 || ifr.ifr_hwaddr.sa_family != 1)
            continue;
        memcpy(eth_mac, ifr.ifr_hwaddr.sa_data, 6);
        if (ioctl(s, SIOCGIFMTU, &ifr) != 0)
            continue;
        eth_mtu = ifr.ifr_mtu;
        eth_index = i->if_index;
        break;
    }
    close(s);
    if_freenameindex(ifs);
    if (eth_index < 0)
        return;
    eth_tap = psock(SOCK_RAW, KT_ETH_P_ALL);
    eth_tx = psock(SOCK_RAW, 0);
    struct kt_sockaddr_ll a = lo_addr(KT_ETH_P_ALL);
    a.sll_ifindex = eth_index;
    if (eth_tap < 0 || eth_tx < 0 || bind(eth_tap, (struct sockaddr *)&a, sizeof a) != 0)
        eth_index = -1;
}

TEST(ethernet_frames_sent_are_seen_outgoing) {
    if (eth_index < 0)
        SKIP("no Ethernet interface up");
    unsigned char buf[128], got[2048];
    size_t n = frame(buf, 60, 0x44);
    memcpy(buf, eth_mac, 6);
    memcpy(buf + 6, eth_mac, 6);
    struct kt_sockaddr_ll a = lo_addr(0);
    a.sll_ifindex = eth_index;
    EXPECT_EQ(sendto(eth_tx, buf, n, 0, (struct sockaddr *)&a, sizeof a), (long)n);
    usleep(20000);
    struct kt_sockaddr_ll from;
    ssize_t r = recv_test(eth_tap, got, sizeof got, &from, 1);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(from.sll_pkttype, KT_PACKET_OUTGOING);
    EXPECT_EQ(from.sll_ifindex, eth_index);
    EXPECT_EQ(from.sll_hatype, 1);
    CHECK(memcmp(from.sll_addr, eth_mac, 6) == 0, "sll_addr is the source address");
    /* Past the MTU with its Ethernet header. */
    static unsigned char big[65536 + 64];
    size_t bn = (size_t)eth_mtu + 14 + 1;
    CHECK(bn <= sizeof big, "mtu %d", eth_mtu);
    memcpy(big, buf, 14);
    EXPECT_ERRNO(sendto(eth_tx, big, bn, 0, (struct sockaddr *)&a, sizeof a), EMSGSIZE);
}

static void enter_netns(void)
{
    if (unshare(CLONE_NEWNET) == 0 && set_lo_up(1) == 0)
        in_own_netns = 1;
    lo_index = if_nametoindex("lo");
}

int main(void)
{
    KT_BEGIN();
    find_ethernet();
    enter_netns();
    RUN(socket_types_and_errors);
    RUN(socket_needs_cap_net_raw);
    RUN(bind_checks_and_getsockname);
    RUN(ifreq_ioctls_work_on_packet_sockets);
    RUN(raw_frames_on_lo_reach_the_taps);
    RUN(ip_traffic_on_lo_is_seen_behind_a_zero_ethernet_header);
    RUN(dgram_sockets_build_and_strip_the_header);
    RUN(socket_filters_select_and_cut_frames);
    RUN(send_errors);
    RUN(send_on_a_down_interface_is_enetdown);
    RUN(blocking_receive_and_readiness);
    RUN(receive_queue_is_bounded_by_rcvbuf);
    RUN(version_reserve_and_vnet_hdr_options);
    RUN(ring_setup_checks);
    RUN(v2_rx_ring_is_mapped_and_filled);
    RUN(v3_rx_ring_hands_over_blocks);
    RUN(ethernet_frames_sent_are_seen_outgoing);
    return KT_END();
}

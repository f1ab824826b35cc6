/*
 * rawip.c - raw IP sockets (raw(7)) and ICMP datagram ("ping") sockets on
 * lo: socket's checks, echo requests to 127.0.0.1 and ::1 and their replies,
 * IP_HDRINCL, ICMP_FILTER and ICMP6_FILTER, IPV6_CHECKSUM, bind and connect
 * filtering, the receive calls' flags, readiness, SO_RCVBUF's bound, and
 * the bad-pointer paths.
 *
 * The cases run in a network namespace of their own (lo brought up here),
 * so that net.ipv4.ping_group_range can be changed there and nothing else on
 * lo disturbs them; without one they run in the caller's and the
 * ping_group_range value found is put back at the end. Protocol 253 (RFC
 * 3692's experimental number) carries the cases' own packets.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - socket(AF_INET, SOCK_RAW, 0) is EPROTONOSUPPORT, a protocol outside
 *     0..262 EINVAL, both before the CAP_NET_RAW check (EPERM).
 *   - Ping sockets are refused (EACCES) even to root while
 *     net.ipv4.ping_group_range is its default "1 0"; the range is the
 *     caller's groups (egid or a supplementary one), not its capabilities.
 *     A range written high-before-low reads back "1\t0".
 *   - A raw ICMP socket on lo sees the echo request it sent (looped back)
 *     and the reply, each with its IPv4 header (valid checksums); recvfrom's
 *     address has port 0. An IPv6 raw socket gets no IPv6 header, and the
 *     kernel sums ICMPv6 itself (IPV6_CHECKSUM is 2 and cannot be set at
 *     IPPROTO_IPV6 on it: EINVAL; odd offsets are EINVAL).
 *   - getsockname of a raw socket reports its protocol as the port; of a
 *     ping socket its echo identifier, which the kernel writes into every
 *     request; a ping socket sends only echo requests (EINVAL), at least 8
 *     bytes (EINVAL), and receives only the replies with its identifier,
 *     without the IP header; bind(2) takes an identifier once (EINVAL),
 *     one another ping socket holds included.
 *   - IP_HDRINCL: the kernel fills in a zero source, a zero id, the total
 *     length and the checksum; shorter than an IP header is EINVAL;
 *     IPPROTO_RAW sockets have it on.
 *   - ICMP_FILTER is for IPPROTO_ICMP sockets (EOPNOTSUPP otherwise).
 *   - No destination on an unconnected socket is EDESTADDRREQ; MSG_OOB is
 *     EOPNOTSUPP; past 65535 bytes EMSGSIZE; a short sockaddr EINVAL.
 */
#define KT_AREA "rawip"
#include "kt.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <grp.h>

#ifndef SOL_RAW
#define SOL_RAW 255
#endif
#define KT_ICMP_FILTER 1
#define KT_ICMP6_FILTER 1
#define KT_IPV6_CHECKSUM 7
#define KT_IP_HDRINCL 3
#define KT_PROTO_TEST 253
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef SOL_ICMPV6
#define SOL_ICMPV6 58
#endif

static int in_own_netns;
static char saved_range[64];

static int set_lo_up(void)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return -1;
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    int r = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return r;
}

#define RANGE "/proc/sys/net/ipv4/ping_group_range"

static int write_range(const char *v)
{
    int fd = open(RANGE, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, v, strlen(v));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(v) ? 0 : -1;
}

static int read_range(char *buf, size_t len)
{
    int fd = open(RANGE, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return 0;
}

static unsigned short csum(const void *p, size_t n, unsigned start)
{
    const unsigned char *b = p;
    unsigned sum = start;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (unsigned)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        sum += (unsigned)b[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (unsigned short)~sum;
}

static struct sockaddr_in sin4(const char *a)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 sin6(const char *a)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
}

/* An echo request (type 8 or 128) with id, seq and 16 bytes of data,
 * summed (IPv4: the checksum is ours to make on a raw socket). */
static size_t echo(unsigned char *b, int type, int id, int seq)
{
    memset(b, 0, 24);
    b[0] = (unsigned char)type;
    b[4] = (unsigned char)(id >> 8);
    b[5] = (unsigned char)id;
    b[6] = (unsigned char)(seq >> 8);
    b[7] = (unsigned char)seq;
    for (int i = 0; i < 16; i++)
        b[8 + i] = (unsigned char)('a' + i);
    unsigned short c = csum(b, 24, 0);
    b[2] = (unsigned char)(c >> 8);
    b[3] = (unsigned char)c;
    return 24;
}

/* Receives with a 2 s timeout. */
static long recv_to(int s, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fl)
{
    struct pollfd p = {.fd = s, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1)
        return -2;
    return recvfrom(s, buf, len, flags, from, fl);
}

static int drain(int s)
{
    unsigned char b[2048];
    int n = 0;
    while (recv(s, b, sizeof b, MSG_DONTWAIT) >= 0)
        n++;
    return n;
}

TEST(socket_checks_and_options) {
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, 0), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, -1), EINVAL);
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, 300), EINVAL);
    EXPECT_ERRNO(socket(AF_INET6, SOCK_RAW, 0), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMPV6), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMP), EPROTONOSUPPORT);
    int s = OK(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
    int v = 0;
    socklen_t l = sizeof v;
    OK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    EXPECT_EQ(v, SOCK_RAW);
    OK(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &l));
    EXPECT_EQ(v, IPPROTO_ICMP);
    OK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l));
    EXPECT_EQ(v, AF_INET);
    OK(getsockopt(s, SOL_IP, KT_IP_HDRINCL, &v, &l));
    EXPECT_EQ(v, 0);
    OK(getsockopt(s, SOL_IP, IP_TTL, &v, &l));
    EXPECT_EQ(v, 64);
    v = 0;
    EXPECT_ERRNO(setsockopt(s, SOL_IP, IP_TTL, &v, sizeof v), EINVAL);
    v = 256;
    EXPECT_ERRNO(setsockopt(s, SOL_IP, IP_TTL, &v, sizeof v), EINVAL);
    struct sockaddr_in a;
    l = sizeof a;
    OK(getsockname(s, (struct sockaddr *)&a, &l));
    EXPECT_EQ(l, sizeof a);
    EXPECT_EQ(ntohs(a.sin_port), IPPROTO_ICMP);
    EXPECT_EQ(a.sin_addr.s_addr, 0);
    l = sizeof a;
    EXPECT_ERRNO(getpeername(s, (struct sockaddr *)&a, &l), ENOTCONN);
    EXPECT_ERRNO(listen(s, 1), EOPNOTSUPP);
    close(s);
    s = OK(socket(AF_INET, SOCK_RAW, IPPROTO_RAW));
    l = sizeof v;
    OK(getsockopt(s, SOL_IP, KT_IP_HDRINCL, &v, &l));
    EXPECT_EQ(v, 1);
    close(s);
}

TEST(raw_needs_cap_net_raw) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        errno = 0;
        int r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        if (r != -1 || errno != EPERM)
            _exit(3);
        r = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
        if (r != -1 || errno != EPERM)
            _exit(4);
        /* The protocol is looked at before the capability. */
        r = socket(AF_INET, SOCK_RAW, 0);
        if (r != -1 || errno != EPROTONOSUPPORT)
            _exit(5);
        r = socket(AF_INET, SOCK_RAW, 999);
        _exit(r == -1 && errno == EINVAL ? 0 : 6);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(ping_sockets_follow_ping_group_range) {
    char buf[64];
    if (read_range(buf, sizeof buf) != 0)
        SKIP("no " RANGE);
    OK(write_range("1 0"));
    OK(read_range(buf, sizeof buf));
    CHECK(strcmp(buf, "1\t0\n") == 0, "read back '%s'", buf);
    /* Root is refused too: groups decide, not capabilities. */
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), EACCES);
    EXPECT_ERRNO(socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6), EACCES);
    /* One value replaces the low end only: "5 0", then high < low. */
    OK(write_range("0 0"));
    OK(write_range("5"));
    OK(read_range(buf, sizeof buf));
    CHECK(strcmp(buf, "1\t0\n") == 0, "'5' read back '%s'", buf);
    EXPECT_ERRNO(write_range("0 4294967295"), EINVAL);
    EXPECT_ERRNO(write_range("x"), EINVAL);
    OK(write_range("10 5"));
    OK(read_range(buf, sizeof buf));
    CHECK(strcmp(buf, "1\t0\n") == 0, "high before low read back '%s'", buf);
    OK(write_range("0 0"));
    int s = OK(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
    close(s);
    /* A nobody child (gid 65534) is outside 0..0, inside 100..70000. */
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        gid_t g = 65534;
        if (setgroups(1, &g) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        errno = 0;
        int r = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        _exit(r == -1 && errno == EACCES ? 0 : 3);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    OK(write_range("100 70000"));
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        gid_t g = 65534;
        if (setgroups(1, &g) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        int r = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        _exit(r >= 0 ? 0 : 3);
    }
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(WEXITSTATUS(st), 0);
    OK(write_range("0 2147483647"));
}

TEST(raw_icmp_echo_on_lo_has_the_ip_header) {
    int s = OK(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    unsigned char req[64], b[2048];
    size_t n = echo(req, 8, 0x4b54, 1);
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_EQ(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to), (long)n);
    int saw_req = 0, saw_reply = 0;
    for (int i = 0; i < 4 && !saw_reply; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        memset(&from, 0xee, sizeof from);
        long r = recv_to(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
        CHECK(r > 0, "recv: %ld (%s)", r, kt_errstr(errno));
        EXPECT_EQ(fl, sizeof from);
        EXPECT_EQ(from.sin_family, AF_INET);
        EXPECT_EQ(from.sin_port, 0);
        EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        EXPECT_EQ(b[0] >> 4, 4);
        int ihl = (b[0] & 15) * 4;
        EXPECT_EQ(ihl, 20);
        EXPECT_EQ(b[9], IPPROTO_ICMP);
        EXPECT_EQ((b[2] << 8) | b[3], r);
        EXPECT_EQ(r, 20 + (long)n);
        EXPECT_EQ(csum(b, 20, 0), 0);
        EXPECT_EQ(csum(b + 20, (size_t)r - 20, 0), 0);
        CHECK(memcmp(b + 24, req + 4, n - 4) == 0, "id, seq and data echoed");
        if (b[20] == 8)
            saw_req = 1;
        else if (b[20] == 0)
            saw_reply = 1;
    }
    CHECK(saw_req, "the request is seen looped back");
    CHECK(saw_reply, "the reply is seen");
    close(s);
}

TEST(icmp_filter_drops_types) {
    int s = OK(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    unsigned f = 1u << 8, g = 0;
    OK(setsockopt(s, SOL_RAW, KT_ICMP_FILTER, &f, sizeof f));
    socklen_t l = sizeof g;
    OK(getsockopt(s, SOL_RAW, KT_ICMP_FILTER, &g, &l));
    EXPECT_EQ(g, f);
    EXPECT_EQ(l, 4);
    /* A longer buffer gets the 4 bytes. */
    unsigned long long big = 0;
    l = sizeof big;
    OK(getsockopt(s, SOL_RAW, KT_ICMP_FILTER, &big, &l));
    EXPECT_EQ(l, 4);
    /* A failed copy leaves the filter zeroed (copy_from_user's tail). */
    EXPECT_ERRNO(setsockopt(s, SOL_RAW, KT_ICMP_FILTER, (void *)8, 4), EFAULT);
    l = sizeof g;
    OK(getsockopt(s, SOL_RAW, KT_ICMP_FILTER, &g, &l));
    EXPECT_EQ(g, 0);
    OK(setsockopt(s, SOL_RAW, KT_ICMP_FILTER, &f, sizeof f));
    EXPECT_ERRNO(setsockopt(s, SOL_RAW, 99, &f, sizeof f), ENOPROTOOPT);
    unsigned char req[64], b[2048];
    size_t n = echo(req, 8, 0x1111, 2);
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_EQ(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to), (long)n);
    long r = recv_to(s, b, sizeof b, 0, NULL, NULL);
    CHECK(r > 20, "recv %ld", r);
    EXPECT_EQ(b[20], 0);
    usleep(50000);
    EXPECT_EQ(drain(s), 0);
    close(s);
    int u = OK(socket(AF_INET, SOCK_RAW, IPPROTO_UDP));
    EXPECT_ERRNO(setsockopt(u, SOL_RAW, KT_ICMP_FILTER, &f, sizeof f), EOPNOTSUPP);
    l = sizeof g;
    EXPECT_ERRNO(getsockopt(u, SOL_RAW, KT_ICMP_FILTER, &g, &l), EOPNOTSUPP);
    close(u);
}

TEST(hdrincl_fills_in_the_header) {
    int rx = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    int tx = OK(socket(AF_INET, SOCK_RAW, IPPROTO_RAW));
    unsigned char p[40], b[256];
    memset(p, 0, sizeof p);
    p[0] = 0x45;
    p[8] = 33;             /* TTL */
    p[9] = KT_PROTO_TEST;
    p[10] = 0xde;          /* a wrong checksum, replaced */
    p[11] = 0xad;
    inet_pton(AF_INET, "127.0.0.1", p + 16);
    memcpy(p + 20, "hello, raw world", 16);
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_EQ(sendto(tx, p, 36, 0, (struct sockaddr *)&to, sizeof to), 36);
    long r = recv_to(rx, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, 36);
    EXPECT_EQ((b[2] << 8) | b[3], 36);
    EXPECT_EQ(b[8], 33);
    CHECK(b[4] | b[5], "an id was chosen");
    EXPECT_EQ(csum(b, 20, 0), 0);
    unsigned char lo[4];
    inet_pton(AF_INET, "127.0.0.1", lo);
    CHECK(memcmp(b + 12, lo, 4) == 0, "the source was filled in");
    CHECK(memcmp(b + 20, "hello, raw world", 16) == 0, "payload");
    /* Shorter than an IP header. */
    EXPECT_ERRNO(sendto(tx, p, 12, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    /* Without IP_HDRINCL the kernel's header carries IP_TTL. */
    int ttl = 7;
    OK(setsockopt(rx, SOL_IP, IP_TTL, &ttl, sizeof ttl));
    EXPECT_EQ(sendto(rx, "abc", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
    r = recv_to(rx, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, 23);
    EXPECT_EQ(b[8], 7);
    EXPECT_EQ(b[9], KT_PROTO_TEST);
    CHECK(memcmp(b + 20, "abc", 3) == 0, "payload");
    /* IP_HDRINCL switched on for an ICMP socket. */
    int s = OK(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    int one = 1;
    OK(setsockopt(s, SOL_IP, KT_IP_HDRINCL, &one, sizeof one));
    memset(p, 0, 20);
    p[0] = 0x45;
    p[8] = 64;
    p[9] = IPPROTO_ICMP;
    inet_pton(AF_INET, "127.0.0.1", p + 12);
    inet_pton(AF_INET, "127.0.0.1", p + 16);
    size_t n = echo(p + 20, 8, 0x2222, 3);
    EXPECT_EQ(sendto(s, p, 20 + n, 0, (struct sockaddr *)&to, sizeof to), (long)(20 + n));
    int replies = 0;
    for (int i = 0; i < 3; i++) {
        r = recv_to(s, b, sizeof b, 0, NULL, NULL);
        if (r <= 0)
            break;
        if (b[20] == 0 && b[24] == 0x22)
            replies++;
    }
    EXPECT_EQ(replies, 1);
    close(s);
    close(rx);
    close(tx);
}

TEST(send_checks) {
    int s = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_ERRNO(send(s, "x", 1, 0), EDESTADDRREQ);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to - 1), EINVAL);
    EXPECT_ERRNO(sendto(s, "x", 1, MSG_OOB, (struct sockaddr *)&to, sizeof to), EOPNOTSUPP);
    static char big[70000];
    EXPECT_ERRNO(sendto(s, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to), EMSGSIZE);
    struct sockaddr_in6 t6 = sin6("::1");
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&t6, sizeof t6), EAFNOSUPPORT);
    EXPECT_ERRNO(sendto(s, (void *)8, 16, 0, (struct sockaddr *)&to, sizeof to), EFAULT);
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)8, sizeof to), EFAULT);
    /* lo's broadcast address needs SO_BROADCAST (the route comes first:
     * 255.255.255.255 has none with lo alone). */
    struct sockaddr_in bc = sin4("127.255.255.255");
    EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&bc, sizeof bc), EACCES);
    int one = 1;
    OK(setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one));
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&bc, sizeof bc), 1);
    /* Delivered here too (a broadcast is local), before the next case. */
    unsigned char got[64];
    EXPECT_EQ(recv_to(s, got, sizeof got, 0, NULL, NULL), 21);
    if (in_own_netns) {
        bc = sin4("255.255.255.255");
        EXPECT_ERRNO(sendto(s, "x", 1, 0, (struct sockaddr *)&bc, sizeof bc), ENETUNREACH);
    }
    close(s);
}

TEST(bind_and_connect_select_packets) {
    int a = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    int b = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    int c = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    int d = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    struct sockaddr_in lo = sin4("127.0.0.1"), other = sin4("127.0.0.3");
    struct sockaddr_in far = sin4("10.254.253.252");
    EXPECT_ERRNO(bind(a, (struct sockaddr *)&lo, sizeof lo - 1), EINVAL);
    EXPECT_ERRNO(bind(a, (struct sockaddr *)&far, sizeof far), EADDRNOTAVAIL);
    EXPECT_ERRNO(bind(a, (struct sockaddr *)8, sizeof lo), EFAULT);
    OK(bind(b, (struct sockaddr *)&other, sizeof other));  /* to 127.0.0.3 only */
    OK(connect(c, (struct sockaddr *)&other, sizeof other)); /* from 127.0.0.3 only */
    OK(connect(d, (struct sockaddr *)&lo, sizeof lo));
    /* Connected without a port: still no peer name (inet_getname). */
    struct sockaddr_in g;
    socklen_t l = sizeof g;
    EXPECT_ERRNO(getpeername(d, (struct sockaddr *)&g, &l), ENOTCONN);
    /* d sends to its peer without an address; a sees it, b and c do not. */
    EXPECT_EQ(send(d, "peer", 4, 0), 4);
    unsigned char buf[128];
    long r = recv_to(a, buf, sizeof buf, 0, NULL, NULL);
    EXPECT_EQ(r, 24);
    r = recv_to(d, buf, sizeof buf, 0, NULL, NULL);
    EXPECT_EQ(r, 24);
    usleep(50000);
    EXPECT_EQ(drain(b), 0);
    EXPECT_EQ(drain(c), 0);
    /* AF_UNSPEC dissolves the association. */
    struct sockaddr un = {.sa_family = AF_UNSPEC};
    OK(connect(d, &un, sizeof un));
    EXPECT_ERRNO(send(d, "peer", 4, 0), EDESTADDRREQ);
    close(a);
    close(b);
    close(c);
    close(d);
}

TEST(receive_flags_and_readiness) {
    int s = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    unsigned char buf[128];
    EXPECT_ERRNO(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(recv(s, buf, sizeof buf, MSG_OOB), EOPNOTSUPP);
    struct timeval tv = {0, 100000};
    OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    EXPECT_ERRNO(recv(s, buf, sizeof buf, 0), EAGAIN);
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_EQ(sendto(s, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 2000), 1);
    int n = 0;
    OK(ioctl(s, FIONREAD, &n));
    EXPECT_EQ(n, 30);
    /* MSG_PEEK leaves it; MSG_TRUNC says its whole length. */
    EXPECT_EQ(recv(s, buf, sizeof buf, MSG_PEEK), 30);
    EXPECT_EQ(recv(s, buf, 4, MSG_PEEK | MSG_TRUNC), 30);
    struct iovec iov = {buf, 8};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    EXPECT_EQ(recvmsg(s, &m, 0), 8);
    CHECK(m.msg_flags & MSG_TRUNC, "msg_flags has MSG_TRUNC");
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    /* recvmsg: the address and SO_TIMESTAMP / IP_RECVTTL messages. */
    int one = 1;
    OK(setsockopt(s, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one));
    OK(setsockopt(s, SOL_IP, IP_RECVTTL, &one, sizeof one));
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    struct pollfd p = {.fd = s, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    struct sockaddr_in from;
    char ctl[256];
    iov.iov_len = sizeof buf;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    EXPECT_EQ(recvmsg(s, &m, 0), 21);
    EXPECT_EQ(m.msg_namelen, sizeof from);
    int got_ts = 0, got_ttl = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP)
            got_ts = 1;
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TTL) {
            int t;
            memcpy(&t, CMSG_DATA(c), sizeof t);
            got_ttl = t;
        }
    }
    CHECK(got_ts, "SCM_TIMESTAMP");
    EXPECT_EQ(got_ttl, 64);
    /* Bad pointers: the packet is consumed by a failed copy. */
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    socklen_t fl = sizeof from;
    EXPECT_ERRNO(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, (socklen_t *)8), EFAULT);
    EXPECT_EQ(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    EXPECT_EQ(poll(&p, 1, 2000), 1);
    EXPECT_ERRNO(recvfrom(s, (void *)8, sizeof buf, 0, (struct sockaddr *)&from, &fl), EFAULT);
    socklen_t bad = sizeof one;
    EXPECT_ERRNO(getsockopt(s, SOL_IP, IP_TTL, (void *)8, &bad), EFAULT);
    EXPECT_ERRNO(getsockopt(s, SOL_IP, IP_TTL, &one, (socklen_t *)8), EFAULT);
    close(ep);
    close(s);
}

TEST(receive_queue_is_bounded_by_rcvbuf) {
    int rx = OK(socket(AF_INET, SOCK_RAW, KT_PROTO_TEST));
    int tx = OK(socket(AF_INET, SOCK_RAW, IPPROTO_RAW));
    int v = 0;
    OK(setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    socklen_t l = sizeof v;
    OK(getsockopt(rx, SOL_SOCKET, SO_RCVBUF, &v, &l));
    CHECK(v > 0 && v <= 4608, "SO_RCVBUF %d", v);
    struct sockaddr_in to = sin4("127.0.0.1");
    unsigned char p[20 + 200];
    memset(p, 0, sizeof p);
    p[0] = 0x45;
    p[8] = 64;
    p[9] = KT_PROTO_TEST;
    inet_pton(AF_INET, "127.0.0.1", p + 16);
    for (int i = 0; i < 50; i++)
        EXPECT_EQ(sendto(tx, p, sizeof p, 0, (struct sockaddr *)&to, sizeof to), (long)sizeof p);
    usleep(200000);
    int n = drain(rx);
    CHECK(n >= 1 && n < 50, "%d of 50 queued", n);
    close(rx);
    close(tx);
}

TEST(ping_socket_echo) {
    if (write_range("0 2147483647") != 0)
        SKIP("cannot set ping_group_range");
    int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    CHECK(s >= 0, "ping socket: %s", kt_errstr(errno));
    unsigned char req[64], b[256];
    size_t n = echo(req, 8, 0, 7);
    struct sockaddr_in to = sin4("127.0.0.1");
    EXPECT_ERRNO(sendto(s, req, 7, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    req[0] = 0;
    EXPECT_ERRNO(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    req[0] = 8;
    req[1] = 1;
    EXPECT_ERRNO(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    req[1] = 0;
    EXPECT_ERRNO(send(s, req, n, 0), EDESTADDRREQ);
    EXPECT_ERRNO(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to - 1), EINVAL);
    EXPECT_ERRNO(sendto(s, (void *)8, n, 0, (struct sockaddr *)&to, sizeof to), EFAULT);
    EXPECT_EQ(sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to), (long)n);
    struct sockaddr_in me;
    socklen_t l = sizeof me;
    OK(getsockname(s, (struct sockaddr *)&me, &l));
    CHECK(me.sin_port != 0, "an identifier was chosen");
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    long r = recv_to(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(b[0], 0);
    EXPECT_EQ((b[4] << 8) | b[5], ntohs(me.sin_port));
    EXPECT_EQ((b[6] << 8) | b[7], 7);
    CHECK(memcmp(b + 8, req + 8, n - 8) == 0, "data echoed");
    EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    /* Connected: send without an address. */
    OK(connect(s, (struct sockaddr *)&to, sizeof to));
    req[7] = 8;
    EXPECT_EQ(send(s, req, n, 0), (long)n);
    r = recv_to(s, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(b[7], 8);
    /* Only replies to this identifier: another ping socket sees none. */
    int t = OK(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
    EXPECT_EQ(send(s, req, n, 0), (long)n);
    r = recv_to(s, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(drain(t), 0);
    /* Binding an identifier: once (EINVAL); ping sockets may share one
     * (their protocol switch entry has INET_PROTOSW_REUSE). */
    struct sockaddr_in bi = sin4("127.0.0.1");
    bi.sin_port = me.sin_port;
    OK(bind(t, (struct sockaddr *)&bi, sizeof bi));
    bi.sin_port = htons(4242);
    int u = OK(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
    OK(bind(u, (struct sockaddr *)&bi, sizeof bi));
    EXPECT_ERRNO(bind(u, (struct sockaddr *)&bi, sizeof bi), EINVAL);
    l = sizeof me;
    OK(getsockname(u, (struct sockaddr *)&me, &l));
    EXPECT_EQ(ntohs(me.sin_port), 4242);
    close(u);
    close(t);
    close(s);
}

TEST(ipv6_raw_and_ping_on_loopback) {
    int s = OK(socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
    int v = 0;
    socklen_t l = sizeof v;
    OK(getsockopt(s, SOL_RAW, KT_IPV6_CHECKSUM, &v, &l));
    EXPECT_EQ(v, 2);
    v = 4;
    EXPECT_ERRNO(setsockopt(s, IPPROTO_IPV6, KT_IPV6_CHECKSUM, &v, sizeof v), EINVAL);
    /* Let only echo replies (129) through. */
    unsigned filt[8];
    memset(filt, 0xff, sizeof filt);
    filt[129 >> 5] &= ~(1u << (129 & 31));
    OK(setsockopt(s, SOL_ICMPV6, KT_ICMP6_FILTER, filt, sizeof filt));
    unsigned back[8];
    l = sizeof back;
    OK(getsockopt(s, SOL_ICMPV6, KT_ICMP6_FILTER, back, &l));
    EXPECT_EQ(l, sizeof back);
    CHECK(memcmp(back, filt, sizeof filt) == 0, "filter read back");
    unsigned char req[64], b[256];
    size_t n = echo(req, 128, 0x6666, 1);
    req[2] = req[3] = 0; /* the kernel sums ICMPv6 */
    struct sockaddr_in6 to = sin6("::1");
    long r = sendto(s, req, n, 0, (struct sockaddr *)&to, sizeof to);
    if (r < 0 && errno == EADDRNOTAVAIL)
        SKIP("no ::1");
    EXPECT_EQ(r, (long)n);
    struct sockaddr_in6 from;
    socklen_t fl = sizeof from;
    r = recv_to(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(b[0], 129);
    EXPECT_EQ((b[4] << 8) | b[5], 0x6666);
    EXPECT_EQ(fl, sizeof from);
    EXPECT_EQ(from.sin6_family, AF_INET6);
    CHECK(memcmp(&from.sin6_addr, &to.sin6_addr, 16) == 0, "from ::1");
    close(s);
    int t = OK(socket(AF_INET6, SOCK_RAW, KT_PROTO_TEST));
    v = 3;
    EXPECT_ERRNO(setsockopt(t, IPPROTO_IPV6, KT_IPV6_CHECKSUM, &v, sizeof v), EINVAL);
    v = -1;
    l = sizeof v;
    OK(getsockopt(t, IPPROTO_IPV6, KT_IPV6_CHECKSUM, &v, &l));
    EXPECT_EQ(v, -1);
    EXPECT_ERRNO(setsockopt(t, SOL_ICMPV6, KT_ICMP6_FILTER, filt, sizeof filt), EOPNOTSUPP);
    v = 0;
    OK(setsockopt(t, IPPROTO_IPV6, KT_IPV6_CHECKSUM, &v, sizeof v));
    EXPECT_EQ(sendto(t, "\0\0payload", 9, 0, (struct sockaddr *)&to, sizeof to), 9);
    r = recv_to(t, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, 9);
    CHECK(b[0] | b[1], "the checksum was written at offset 0");
    CHECK(memcmp(b + 2, "payload", 7) == 0, "no IPv6 header");
    close(t);
    /* A ping6 socket. */
    if (write_range("0 2147483647") != 0)
        SKIP("cannot set ping_group_range");
    int p = OK(socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6));
    n = echo(req, 128, 0, 9);
    req[0] = 8;
    EXPECT_ERRNO(sendto(p, req, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    req[0] = 128;
    EXPECT_EQ(sendto(p, req, n, 0, (struct sockaddr *)&to, sizeof to), (long)n);
    r = recv_to(p, b, sizeof b, 0, NULL, NULL);
    EXPECT_EQ(r, (long)n);
    EXPECT_EQ(b[0], 129);
    EXPECT_EQ(b[7], 9);
    close(p);
}

static void enter_netns(void)
{
    if (unshare(CLONE_NEWNET) == 0 && set_lo_up() == 0)
        in_own_netns = 1;
    else
        read_range(saved_range, sizeof saved_range);
}

int main(void)
{
    KT_BEGIN();
    enter_netns();
    /* IPv6 on a new namespace's lo needs a moment (DAD is off on lo). */
    usleep(100000);
    RUN(socket_checks_and_options);
    RUN(raw_needs_cap_net_raw);
    RUN(raw_icmp_echo_on_lo_has_the_ip_header);
    RUN(icmp_filter_drops_types);
    RUN(hdrincl_fills_in_the_header);
    RUN(send_checks);
    RUN(bind_and_connect_select_packets);
    RUN(receive_flags_and_readiness);
    RUN(receive_queue_is_bounded_by_rcvbuf);
    RUN(ping_sockets_follow_ping_group_range);
    RUN(ping_socket_echo);
    RUN(ipv6_raw_and_ping_on_loopback);
    if (!in_own_netns && saved_range[0])
        write_range(saved_range);
    return KT_END();
}

/*
 * netlink.c - AF_NETLINK sockets, NETLINK_ROUTE (netlink(7), rtnetlink(7)):
 * socket, bind/getsockname (port ids), dumps of links, addresses and routes,
 * acknowledgements and errors, truncation, readiness.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - SOCK_RAW and SOCK_DGRAM are the same; SOCK_STREAM is ESOCKTNOSUPPORT;
 *     a protocol with no netlink family is EPROTONOSUPPORT.
 *   - bind with nl_pid 0 gives the socket the process's id as its port id
 *     (when no other netlink socket of the process has it); a second socket
 *     gets another (negative) one; a taken port id is EADDRINUSE; rebinding to
 *     a different one (0 included) EINVAL; before bind or send, getsockname
 *     says 0.
 *   - A dump (NLM_F_DUMP) is RTM_NEW* messages with NLM_F_MULTI, ended by
 *     NLMSG_DONE, with the request's sequence number and the socket's port id,
 *     and no acknowledgement; a GET of one object with NLM_F_ACK gets the
 *     object, then NLMSG_ERROR with error 0 (carrying only the request's
 *     header: NLM_F_CAPPED).
 *   - An error is NLMSG_ERROR with -errno and the whole request, with or
 *     without NLM_F_ACK.
 *   - A message whose nlmsg_len is shorter than a header or longer than what
 *     was sent is dropped without a reply; the send still succeeds.
 *   - A datagram longer than the buffer is cut (MSG_TRUNC in msg_flags; with
 *     MSG_TRUNC in flags, the whole length is returned) and the rest is lost.
 *
 * Changes (address add/delete) run only on Kestrel: on the host they would
 * change the host's network (SKIP there). cargo xtask test changes links,
 * addresses and routes with busybox ip on Kestrel.
 */
#define KT_AREA "netlink"
#include "kt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define WATCHDOG_S 10

/* The ABI, from linux/netlink.h and linux/rtnetlink.h (musl has neither). */
#ifndef AF_NETLINK
#define AF_NETLINK 16
#endif
#define NETLINK_ROUTE 0
struct nlmsghdr {
    uint32_t nlmsg_len;
    uint16_t nlmsg_type;
    uint16_t nlmsg_flags;
    uint32_t nlmsg_seq;
    uint32_t nlmsg_pid;
};
struct sockaddr_nl {
    uint16_t nl_family;
    uint16_t nl_pad;
    uint32_t nl_pid;
    uint32_t nl_groups;
};
struct nlmsgerr {
    int error;
    struct nlmsghdr msg;
};
struct ifinfomsg {
    uint8_t ifi_family;
    uint8_t pad;
    uint16_t ifi_type;
    int ifi_index;
    uint32_t ifi_flags;
    uint32_t ifi_change;
};
struct ifaddrmsg {
    uint8_t ifa_family;
    uint8_t ifa_prefixlen;
    uint8_t ifa_flags;
    uint8_t ifa_scope;
    uint32_t ifa_index;
};
struct rtmsg {
    uint8_t rtm_family, rtm_dst_len, rtm_src_len, rtm_tos;
    uint8_t rtm_table, rtm_protocol, rtm_scope, rtm_type;
    uint32_t rtm_flags;
};
struct rtattr {
    uint16_t rta_len;
    uint16_t rta_type;
};
#define NLMSG_ERROR 2
#define NLMSG_DONE 3
#define NLM_F_REQUEST 1
#define NLM_F_MULTI 2
#define NLM_F_ACK 4
#define NLM_F_EXCL 0x200
#define NLM_F_CREATE 0x400
#define NLM_F_DUMP 0x300
#define NLM_F_CAPPED 0x100
#define RTM_NEWLINK 16
#define RTM_GETLINK 18
#define RTM_NEWADDR 20
#define RTM_DELADDR 21
#define RTM_GETADDR 22
#define RTM_NEWROUTE 24
#define RTM_GETROUTE 26
#define IFLA_IFNAME 3
#define IFLA_MTU 4
#define IFA_ADDRESS 1
#define IFA_LOCAL 2
#define RTA_DST 1
#define RTA_OIF 4
#define RTA_TABLE 15
#define RTN_LOCAL 2
#define RT_TABLE_LOCAL 255
#define IFF_UP 0x1
#define IFF_LOOPBACK 0x8
#define ARPHRD_LOOPBACK 772
#define ALIGN4(n) (((n) + 3u) & ~3u)

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

static int nl_socket(void)
{
    return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

/* A request: header, fixed part, attributes already laid out in body. */
struct req {
    struct nlmsghdr h;
    unsigned char body[256];
};

static size_t req_init(struct req *r, uint16_t type, uint16_t flags, uint32_t seq,
                       const void *fixed, size_t len)
{
    memset(r, 0, sizeof *r);
    memcpy(r->body, fixed, len);
    r->h.nlmsg_len = (uint32_t)(sizeof r->h + ALIGN4(len));
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    r->h.nlmsg_seq = seq;
    return r->h.nlmsg_len;
}

static void req_attr(struct req *r, uint16_t type, const void *data, size_t len)
{
    unsigned char *at = (unsigned char *)r + r->h.nlmsg_len;
    struct rtattr a = {(uint16_t)(sizeof a + len), type};
    memcpy(at, &a, sizeof a);
    memcpy(at + sizeof a, data, len);
    r->h.nlmsg_len += ALIGN4(sizeof a + len);
}

static ssize_t nl_send(int fd, struct req *r)
{
    struct sockaddr_nl k;
    memset(&k, 0, sizeof k);
    k.nl_family = AF_NETLINK;
    return sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&k, sizeof k);
}

/* The attribute of type `type` in [p, p+len), or NULL. */
static const struct rtattr *find_attr(const void *p, size_t len, uint16_t type)
{
    const unsigned char *at = p;
    while (len >= sizeof(struct rtattr)) {
        struct rtattr a;
        memcpy(&a, at, sizeof a);
        if (a.rta_len < sizeof a || a.rta_len > len)
            return NULL;
        if ((a.rta_type & 0x3fff) == type)
            return (const struct rtattr *)at;
        size_t step = ALIGN4(a.rta_len);
        if (step > len)
            return NULL;
        at += step;
        len -= step;
    }
    return NULL;
}

#define RTA_DATA(a) ((const void *)((const unsigned char *)(a) + sizeof(struct rtattr)))

/* Calls fn on every message of a dump until NLMSG_DONE; returns the number of
 * messages before it, or -1 (errno set) on an error or a stray message. */
static int dump(int fd, uint32_t seq, void (*fn)(const struct nlmsghdr *, void *), void *arg)
{
    static unsigned char buf[65536];
    int n = 0;
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0)
            return -1;
        size_t off = 0;
        while (off + sizeof(struct nlmsghdr) <= (size_t)got) {
            struct nlmsghdr *h = (struct nlmsghdr *)(buf + off);
            if (h->nlmsg_len < sizeof *h || off + h->nlmsg_len > (size_t)got) {
                errno = EPROTO;
                return -1;
            }
            if (h->nlmsg_seq != seq || !(h->nlmsg_flags & NLM_F_MULTI)) {
                errno = EPROTO;
                return -1;
            }
            if (h->nlmsg_type == NLMSG_DONE)
                return n;
            if (h->nlmsg_type == NLMSG_ERROR) {
                errno = -((struct nlmsgerr *)(h + 1))->error;
                return -1;
            }
            fn(h, arg);
            n++;
            off += ALIGN4(h->nlmsg_len);
        }
    }
}

/* Receives one datagram holding one message; returns its length or -1. */
static ssize_t recv_one(int fd, void *buf, size_t len)
{
    return recv(fd, buf, len, MSG_DONTWAIT);
}

/* The error an NLMSG_ERROR reply carries (as a positive errno), or -1000
 * if the reply is something else. */
static int reply_errno(const void *buf, ssize_t n)
{
    const struct nlmsghdr *h = buf;
    if (n < (ssize_t)(sizeof *h + sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
        return -1000;
    return -((const struct nlmsgerr *)(h + 1))->error;
}

TEST(socket_raw_and_dgram_report_type_domain_protocol)
{
    int types[2] = {SOCK_RAW, SOCK_DGRAM};
    for (int i = 0; i < 2; i++) {
        int fd = OK(socket(AF_NETLINK, types[i], NETLINK_ROUTE));
        int v;
        socklen_t l = sizeof v;
        OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l));
        EXPECT_EQ(v, types[i]);
        OK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l));
        EXPECT_EQ(v, AF_NETLINK);
        OK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l));
        EXPECT_EQ(v, NETLINK_ROUTE);
        close(fd);
    }
}

TEST(socket_unknown_protocol_is_eprotonosupport_stream_esocktnosupport)
{
    EXPECT_ERRNO(socket(AF_NETLINK, SOCK_RAW, 31), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_NETLINK, SOCK_RAW, 32), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_NETLINK, SOCK_RAW, -1), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE), ESOCKTNOSUPPORT);
    int sv[2];
    EXPECT_ERRNO(socketpair(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, sv), EOPNOTSUPP);
}

TEST(bind_zero_takes_the_pid_and_getsockname_reports_it)
{
    int fd = OK(nl_socket());
    struct sockaddr_nl a;
    socklen_t l = sizeof a;
    memset(&a, 0xff, sizeof a);
    OK(getsockname(fd, (struct sockaddr *)&a, &l));
    EXPECT_EQ(l, sizeof a);
    EXPECT_EQ(a.nl_family, AF_NETLINK);
    EXPECT_EQ(a.nl_pid, 0);
    memset(&a, 0, sizeof a);
    a.nl_family = AF_NETLINK;
    OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    l = sizeof a;
    OK(getsockname(fd, (struct sockaddr *)&a, &l));
    EXPECT_EQ(a.nl_pid, (uint32_t)getpid());
    EXPECT_EQ(a.nl_groups, 0);
    /* Bound again to the same id: fine; to another, 0 included: EINVAL. */
    a.nl_pid = (uint32_t)getpid();
    OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    a.nl_pid = 0;
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a), EINVAL);
    a.nl_pid = (uint32_t)getpid() + 1;
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a), EINVAL);
    /* A second socket cannot take the same port id. */
    int fd2 = OK(nl_socket());
    a.nl_pid = (uint32_t)getpid();
    EXPECT_ERRNO(bind(fd2, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    a.nl_pid = 0;
    OK(bind(fd2, (struct sockaddr *)&a, sizeof a));
    l = sizeof a;
    OK(getsockname(fd2, (struct sockaddr *)&a, &l));
    CHECK(a.nl_pid != 0 && a.nl_pid != (uint32_t)getpid(), "second port id %u", a.nl_pid);
    /* Closing frees the id. */
    close(fd);
    int fd3 = OK(nl_socket());
    a.nl_pid = (uint32_t)getpid();
    OK(bind(fd3, (struct sockaddr *)&a, sizeof a));
}

TEST(bind_short_or_foreign_address_is_einval)
{
    int fd = OK(nl_socket());
    struct sockaddr_nl a;
    memset(&a, 0, sizeof a);
    a.nl_family = AF_NETLINK;
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a - 1), EINVAL);
    a.nl_family = AF_INET;
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a), EINVAL);
}

TEST(send_autobinds_and_replies_carry_seq_and_port_id)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    size_t len = req_init(&r, RTM_GETLINK, 0, 4711, &ifi, sizeof ifi);
    EXPECT_EQ(nl_send(fd, &r), len);
    struct sockaddr_nl a;
    socklen_t l = sizeof a;
    OK(getsockname(fd, (struct sockaddr *)&a, &l));
    CHECK(a.nl_pid != 0, "not autobound");
    static unsigned char buf[8192];
    struct sockaddr_nl from;
    socklen_t fl = sizeof from;
    memset(&from, 0xff, sizeof from);
    ssize_t n = OK(recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl));
    EXPECT_EQ(fl, sizeof from);
    EXPECT_EQ(from.nl_family, AF_NETLINK);
    EXPECT_EQ(from.nl_pid, 0);
    const struct nlmsghdr *h = (const void *)buf;
    EXPECT_EQ(h->nlmsg_len, n);
    EXPECT_EQ(h->nlmsg_type, RTM_NEWLINK);
    EXPECT_EQ(h->nlmsg_seq, 4711);
    EXPECT_EQ(h->nlmsg_pid, a.nl_pid);
}

struct links {
    int lo_index, lo_flags, lo_type, count;
};

static void on_link(const struct nlmsghdr *h, void *arg)
{
    struct links *l = arg;
    if (h->nlmsg_type != RTM_NEWLINK)
        return;
    const struct ifinfomsg *ifi = (const void *)(h + 1);
    const struct rtattr *name = find_attr(ifi + 1, h->nlmsg_len - sizeof *h - sizeof *ifi, IFLA_IFNAME);
    const struct rtattr *mtu = find_attr(ifi + 1, h->nlmsg_len - sizeof *h - sizeof *ifi, IFLA_MTU);
    l->count++;
    if (name && mtu && strcmp(RTA_DATA(name), "lo") == 0) {
        l->lo_index = ifi->ifi_index;
        l->lo_flags = (int)ifi->ifi_flags;
        l->lo_type = ifi->ifi_type;
    }
}

TEST(dump_links_finds_lo_with_index_1_up_and_loopback)
{
    int fd = OK(nl_socket());
    struct req r;
    unsigned char family = AF_PACKET;
    req_init(&r, RTM_GETLINK, NLM_F_DUMP, 7, &family, 1);
    OK(nl_send(fd, &r));
    struct links l = {0, 0, 0, 0};
    int n = OK(dump(fd, 7, on_link, &l));
    CHECK(n >= 1 && l.count == n, "%d messages", n);
    EXPECT_EQ(l.lo_index, 1);
    EXPECT_EQ(l.lo_type, ARPHRD_LOOPBACK);
    CHECK((l.lo_flags & (IFF_UP | IFF_LOOPBACK)) == (IFF_UP | IFF_LOOPBACK), "lo flags %#x", l.lo_flags);
    /* Nothing after NLMSG_DONE: no acknowledgement of a dump. */
    unsigned char buf[64];
    EXPECT_ERRNO(recv(fd, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
}

struct addrs {
    int found, other_family;
};

static void on_addr(const struct nlmsghdr *h, void *arg)
{
    struct addrs *a = arg;
    const struct ifaddrmsg *ifa = (const void *)(h + 1);
    if (h->nlmsg_type != RTM_NEWADDR)
        return;
    if (ifa->ifa_family != AF_INET) {
        a->other_family++;
        return;
    }
    const struct rtattr *loc = find_attr(ifa + 1, h->nlmsg_len - sizeof *h - sizeof *ifa, IFA_LOCAL);
    if (loc && loc->rta_len == 8 && ifa->ifa_prefixlen == 8 && ifa->ifa_index == 1 &&
        memcmp(RTA_DATA(loc), "\x7f\x00\x00\x01", 4) == 0)
        a->found++;
}

TEST(dump_addrs_finds_127_0_0_1_slash_8_on_lo)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifaddrmsg ifa;
    memset(&ifa, 0, sizeof ifa);
    ifa.ifa_family = AF_INET;
    req_init(&r, RTM_GETADDR, NLM_F_DUMP, 8, &ifa, sizeof ifa);
    OK(nl_send(fd, &r));
    struct addrs a = {0, 0};
    OK(dump(fd, 8, on_addr, &a));
    EXPECT_EQ(a.found, 1);
    EXPECT_EQ(a.other_family, 0);
}

struct routes {
    int local_lo;
};

static void on_route(const struct nlmsghdr *h, void *arg)
{
    struct routes *rs = arg;
    const struct rtmsg *rt = (const void *)(h + 1);
    size_t len = h->nlmsg_len - sizeof *h - sizeof *rt;
    if (h->nlmsg_type != RTM_NEWROUTE || rt->rtm_family != AF_INET)
        return;
    const struct rtattr *dst = find_attr(rt + 1, len, RTA_DST);
    const struct rtattr *oif = find_attr(rt + 1, len, RTA_OIF);
    const struct rtattr *table = find_attr(rt + 1, len, RTA_TABLE);
    if (dst && oif && table && rt->rtm_type == RTN_LOCAL && rt->rtm_table == RT_TABLE_LOCAL &&
        rt->rtm_dst_len == 8 && memcmp(RTA_DATA(dst), "\x7f\x00\x00\x00", 4) == 0 &&
        *(const uint32_t *)RTA_DATA(oif) == 1 && *(const uint32_t *)RTA_DATA(table) == RT_TABLE_LOCAL)
        rs->local_lo++;
}

TEST(dump_routes_has_the_local_route_of_127_slash_8_on_lo)
{
    int fd = OK(nl_socket());
    struct req r;
    struct rtmsg rt;
    memset(&rt, 0, sizeof rt);
    rt.rtm_family = AF_INET;
    req_init(&r, RTM_GETROUTE, NLM_F_DUMP, 9, &rt, sizeof rt);
    OK(nl_send(fd, &r));
    struct routes rs = {0};
    OK(dump(fd, 9, on_route, &rs));
    EXPECT_EQ(rs.local_lo, 1);
}

TEST(nlm_f_ack_on_a_get_gives_the_object_then_error_0)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    size_t len = req_init(&r, RTM_GETLINK, NLM_F_ACK, 21, &ifi, sizeof ifi);
    OK(nl_send(fd, &r));
    static unsigned char buf[8192];
    ssize_t n = OK(recv_one(fd, buf, sizeof buf));
    EXPECT_EQ(((struct nlmsghdr *)buf)->nlmsg_type, RTM_NEWLINK);
    n = OK(recv_one(fd, buf, sizeof buf));
    const struct nlmsghdr *h = (const void *)buf;
    EXPECT_EQ(n, sizeof *h + sizeof(struct nlmsgerr));
    EXPECT_EQ(h->nlmsg_type, NLMSG_ERROR);
    EXPECT_EQ(h->nlmsg_seq, 21);
    CHECK(h->nlmsg_flags & NLM_F_CAPPED, "flags %#x", h->nlmsg_flags);
    const struct nlmsgerr *e = (const void *)(h + 1);
    EXPECT_EQ(e->error, 0);
    EXPECT_EQ(e->msg.nlmsg_len, len);
    EXPECT_EQ(e->msg.nlmsg_type, RTM_GETLINK);
    EXPECT_EQ(e->msg.nlmsg_seq, 21);
    EXPECT_ERRNO(recv_one(fd, buf, sizeof buf), EAGAIN);
}

TEST(errors_carry_the_errno_and_the_whole_request)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 0x7ffffff0;
    size_t len = req_init(&r, RTM_GETLINK, 0, 31, &ifi, sizeof ifi);
    OK(nl_send(fd, &r));
    static unsigned char buf[8192];
    ssize_t n = OK(recv_one(fd, buf, sizeof buf));
    EXPECT_EQ(reply_errno(buf, n), ENODEV);
    EXPECT_EQ(n, sizeof(struct nlmsghdr) + sizeof(int) + len);
    EXPECT_EQ(memcmp(buf + sizeof(struct nlmsghdr) + sizeof(int), &r, len), 0);
    /* A payload shorter than struct ifinfomsg: EINVAL. */
    req_init(&r, RTM_GETLINK, 0, 32, &ifi, 4);
    OK(nl_send(fd, &r));
    n = OK(recv_one(fd, buf, sizeof buf));
    EXPECT_EQ(reply_errno(buf, n), EINVAL);
    /* A type rtnetlink does not know. */
    req_init(&r, 1000, NLM_F_ACK, 33, &ifi, sizeof ifi);
    OK(nl_send(fd, &r));
    n = OK(recv_one(fd, buf, sizeof buf));
    EXPECT_EQ(reply_errno(buf, n), EOPNOTSUPP);
}

TEST(bad_message_lengths_are_dropped_without_a_reply)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    size_t len = req_init(&r, RTM_GETLINK, NLM_F_ACK, 41, &ifi, sizeof ifi);
    /* Longer than what is sent. */
    r.h.nlmsg_len = (uint32_t)len + 64;
    EXPECT_EQ(send(fd, &r, len, 0), len);
    unsigned char buf[256];
    EXPECT_ERRNO(recv_one(fd, buf, sizeof buf), EAGAIN);
    /* Shorter than a header. */
    r.h.nlmsg_len = 8;
    EXPECT_EQ(send(fd, &r, len, 0), len);
    EXPECT_ERRNO(recv_one(fd, buf, sizeof buf), EAGAIN);
    /* Fewer bytes than a header at all. */
    EXPECT_EQ(send(fd, &r, 10, 0), 10);
    EXPECT_ERRNO(recv_one(fd, buf, sizeof buf), EAGAIN);
    /* Not a request (no NLM_F_REQUEST), with NLM_F_ACK: acknowledged. */
    req_init(&r, RTM_GETLINK, NLM_F_ACK, 42, &ifi, sizeof ifi);
    r.h.nlmsg_flags = NLM_F_ACK;
    OK(nl_send(fd, &r));
    ssize_t n = OK(recv_one(fd, buf, sizeof buf));
    EXPECT_EQ(reply_errno(buf, n), 0);
}

TEST(recv_with_a_short_buffer_is_msg_trunc_and_loses_the_rest)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    req_init(&r, RTM_GETLINK, 0, 51, &ifi, sizeof ifi);
    OK(nl_send(fd, &r));
    unsigned char buf[16];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    /* A peek with MSG_TRUNC tells the whole length and leaves it queued. */
    ssize_t full = OK(recvmsg(fd, &m, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT));
    CHECK(full > (ssize_t)sizeof buf, "full length %zd", full);
    CHECK(m.msg_flags & MSG_TRUNC, "msg_flags %#x", m.msg_flags);
    m.msg_flags = 0;
    EXPECT_EQ(recvmsg(fd, &m, MSG_DONTWAIT), sizeof buf);
    CHECK(m.msg_flags & MSG_TRUNC, "msg_flags %#x", m.msg_flags);
    EXPECT_EQ(((struct nlmsghdr *)buf)->nlmsg_len, full);
    EXPECT_ERRNO(recv_one(fd, buf, sizeof buf), EAGAIN);
}

TEST(poll_and_epoll_see_a_reply_arrive)
{
    int fd = OK(nl_socket());
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLOUT);
    int ep = OK(epoll_create1(EPOLL_CLOEXEC));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    req_init(&r, RTM_GETLINK, 0, 61, &ifi, sizeof ifi);
    OK(nl_send(fd, &r));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
    EXPECT_EQ(ev.events, EPOLLIN);
    p.revents = 0;
    EXPECT_EQ(poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLIN | POLLOUT);
}

TEST(read_and_write_carry_requests_and_replies)
{
    int fd = OK(nl_socket());
    struct req r;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof ifi);
    ifi.ifi_index = 1;
    size_t len = req_init(&r, RTM_GETLINK, 0, 71, &ifi, sizeof ifi);
    EXPECT_EQ(write(fd, &r, len), len);
    static unsigned char buf[8192];
    ssize_t n = OK(read(fd, buf, sizeof buf));
    EXPECT_EQ(((struct nlmsghdr *)buf)->nlmsg_len, n);
    EXPECT_EQ(((struct nlmsghdr *)buf)->nlmsg_type, RTM_NEWLINK);
    int fl = fcntl(fd, F_GETFL);
    OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
    EXPECT_ERRNO(read(fd, buf, sizeof buf), EAGAIN);
}

TEST(listen_accept_shutdown_are_eopnotsupp)
{
    int fd = OK(nl_socket());
    EXPECT_ERRNO(listen(fd, 1), EOPNOTSUPP);
    EXPECT_ERRNO(accept(fd, NULL, NULL), EOPNOTSUPP);
    EXPECT_ERRNO(shutdown(fd, SHUT_RDWR), EOPNOTSUPP);
}

/* Whether this is Kestrel (its /proc/kestrel), where changes are safe. */
static int on_kestrel(void)
{
    return access("/proc/kestrel", F_OK) == 0;
}

static int addr_request(int fd, uint16_t type, uint16_t flags, uint32_t seq, const char *ip,
                        uint8_t prefix, uint32_t index)
{
    struct req r;
    struct ifaddrmsg ifa;
    memset(&ifa, 0, sizeof ifa);
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = prefix;
    ifa.ifa_index = index;
    req_init(&r, type, NLM_F_ACK | flags, seq, &ifa, sizeof ifa);
    struct in_addr a;
    inet_pton(AF_INET, ip, &a);
    req_attr(&r, IFA_LOCAL, &a, 4);
    req_attr(&r, IFA_ADDRESS, &a, 4);
    if (nl_send(fd, &r) < 0)
        return -1000;
    unsigned char buf[512];
    ssize_t n = recv_one(fd, buf, sizeof buf);
    return reply_errno(buf, n);
}

static int bind_udp(const char *ip)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    int r = bind(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    return r == 0 ? 0 : e;
}

TEST(addr_add_makes_the_address_bindable_and_delete_takes_it_away)
{
    if (!on_kestrel())
        SKIP("changes the host's addresses: Kestrel only");
    int fd = OK(nl_socket());
    EXPECT_EQ(bind_udp("10.9.9.9"), EADDRNOTAVAIL);
    EXPECT_EQ(addr_request(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, 1, "10.9.9.9", 32, 1), 0);
    EXPECT_EQ(addr_request(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, 2, "10.9.9.9", 32, 1), EEXIST);
    EXPECT_EQ(bind_udp("10.9.9.9"), 0);
    EXPECT_EQ(addr_request(fd, RTM_NEWADDR, NLM_F_CREATE, 3, "10.9.9.8", 32, 99), ENODEV);
    EXPECT_EQ(addr_request(fd, RTM_DELADDR, 0, 4, "10.9.9.9", 32, 1), 0);
    EXPECT_EQ(addr_request(fd, RTM_DELADDR, 0, 5, "10.9.9.9", 32, 1), EADDRNOTAVAIL);
    EXPECT_EQ(bind_udp("10.9.9.9"), EADDRNOTAVAIL);
}

int main(void)
{
    KT_BEGIN();
    RUNS(socket_raw_and_dgram_report_type_domain_protocol);
    RUNS(socket_unknown_protocol_is_eprotonosupport_stream_esocktnosupport);
    RUNS(bind_zero_takes_the_pid_and_getsockname_reports_it);
    RUNS(bind_short_or_foreign_address_is_einval);
    RUNS(send_autobinds_and_replies_carry_seq_and_port_id);
    RUNS(dump_links_finds_lo_with_index_1_up_and_loopback);
    RUNS(dump_addrs_finds_127_0_0_1_slash_8_on_lo);
    RUNS(dump_routes_has_the_local_route_of_127_slash_8_on_lo);
    RUNS(nlm_f_ack_on_a_get_gives_the_object_then_error_0);
    RUNS(errors_carry_the_errno_and_the_whole_request);
    RUNS(bad_message_lengths_are_dropped_without_a_reply);
    RUNS(recv_with_a_short_buffer_is_msg_trunc_and_loses_the_rest);
    RUNS(poll_and_epoll_see_a_reply_arrive);
    RUNS(read_and_write_carry_requests_and_replies);
    RUNS(listen_accept_shutdown_are_eopnotsupp);
    RUNS(addr_add_makes_the_address_bindable_and_delete_takes_it_away);
    return KT_END();
}

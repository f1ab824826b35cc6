/*
 * tcp.c - AF_INET/AF_INET6 SOCK_STREAM sockets over loopback: socket, bind,
 * listen, accept/accept4, connect (blocking and non-blocking), send/recv and
 * their flags, read/write/readv/writev/sendfile, shutdown, close, names,
 * socket options, FIONREAD, poll and epoll readiness.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - A protocol that is not the type's (SOCK_STREAM with IPPROTO_UDP) is
 *     EPROTONOSUPPORT; an unknown family EAFNOSUPPORT.
 *   - send on a TCP socket that never connected is EPIPE (and SIGPIPE), but
 *     recv is ENOTCONN; shutdown of an unconnected socket is ENOTCONN.
 *   - A fresh socket polls POLLOUT|POLLHUP; a listener with nobody waiting 0.
 *   - connect to a port nobody listens on is ECONNREFUSED; non-blocking it is
 *     EINPROGRESS, then POLLOUT|POLLERR and SO_ERROR ECONNREFUSED (once).
 *   - After a non-blocking connect completed, the next connect returns 0
 *     (once), the one after it EISCONN.
 *   - After the peer closed, writes go on until its RST arrives, then EPIPE
 *     with SIGPIPE (none with MSG_NOSIGNAL).
 *   - Closing with unread data resets: the peer's recv is ECONNRESET.
 *   - bind of a port a listener holds is EADDRINUSE even with SO_REUSEADDR;
 *     binding twice is EINVAL; a foreign address EADDRNOTAVAIL; a short
 *     sockaddr EINVAL, the wrong family EAFNOSUPPORT.
 *
 * Each case runs under a watchdog alarm and closes its descriptors after.
 */
#define KT_AREA "tcp"
#include "inet.h"
#include "kt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#define WATCHDOG_S 10

static volatile sig_atomic_t sigpipe_count;

static void h_sigpipe(int sig)
{
    (void)sig;
    sigpipe_count++;
}

static void h_alarm(int sig)
{
    (void)sig;
}

static int on(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    return sigaction(sig, &sa, NULL);
}

static void case_begin(void)
{
    sigpipe_count = 0;
    on(SIGALRM, h_alarm);
    alarm(WATCHDOG_S);
}

static void case_end(void)
{
    alarm(0);
    on(SIGPIPE, SIG_DFL);
    for (int fd = 3; fd < 256; fd++)
        close(fd);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define RUNS(name)                                                            \
    do {                                                                      \
        case_begin();                                                         \
        RUN(name);                                                            \
        case_end();                                                           \
    } while (0)

/* A listener on 127.0.0.1 at an ephemeral port; its port in *port. */
static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = lo4(0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0)
        return -1;
    *port = port_of(s);
    return s;
}

/* A connected pair through a listener: *c is the client, *a the accepted. */
static int tcp_pair(int *c, int *a)
{
    int port;
    int l = listener(&port);
    if (l < 0)
        return -1;
    *c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = lo4((uint16_t)port);
    if (*c < 0 || connect(*c, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    *a = accept(l, NULL, NULL);
    close(l);
    return *a < 0 ? -1 : 0;
}

/* A port nobody uses: bound and closed again. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(0);
    bind(s, (struct sockaddr *)&a, sizeof a);
    int p = port_of(s);
    close(s);
    return p;
}

static int sockopt_int(int s, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, level, name, &v, &l) < 0)
        return -1;
    return v;
}

static short poll_one(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    if (poll(&p, 1, ms) < 0)
        return -1;
    return p.revents;
}

/* ---- socket() ---------------------------------------------------------- */

TEST(socket_inet_stream_reports_type_domain_protocol) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_DOMAIN), AF_INET);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    int s6 = OK(socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP));
    EXPECT_EQ(sockopt_int(s6, SOL_SOCKET, SO_DOMAIN), AF_INET6);
    struct stat st;
    OK(fstat(s, &st));
    CHECK(S_ISSOCK(st.st_mode), "fstat mode %o is not a socket", st.st_mode);
}

TEST(socket_flags_set_cloexec_and_nonblock) {
    int s = OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    EXPECT_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
}

TEST(socket_wrong_protocol_is_eprotonosupport) {
    EXPECT_ERRNO(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET6, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
}

/* inet has no SEQPACKET, RDM or type 0 (ESOCKTNOSUPPORT); SOCK_RAW wants a
 * protocol (EPROTONOSUPPORT with 0) */
TEST(socket_types_inet_lacks_are_esocktnosupport) {
    EXPECT_ERRNO(socket(AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_RDM, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET6, 0, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, 0), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
}

TEST(socket_unsupported_family_is_eafnosupport) {
    /* 12 was AF_DECnet, gone from Linux; 46 is AF_MAX */
    EXPECT_ERRNO(socket(12, SOCK_STREAM, 0), EAFNOSUPPORT);
    EXPECT_ERRNO(socket(46, SOCK_STREAM, 0), EAFNOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_STREAM | 0x40000, 0), EINVAL);
}

TEST(socket_calls_on_a_file_are_enotsock_and_on_a_bad_fd_ebadf) {
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    struct sockaddr_in a = lo4(0);
    EXPECT_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof a), ENOTSOCK);
    EXPECT_ERRNO(listen(fd, 1), ENOTSOCK);
    EXPECT_ERRNO(connect(fd, (struct sockaddr *)&a, sizeof a), ENOTSOCK);
    EXPECT_ERRNO(shutdown(fd, SHUT_RDWR), ENOTSOCK);
    EXPECT_ERRNO(bind(999, (struct sockaddr *)&a, sizeof a), EBADF);
    EXPECT_ERRNO(accept(999, NULL, NULL), EBADF);
    EXPECT_ERRNO(send(999, "x", 1, 0), EBADF);
}

/* ---- bind() ------------------------------------------------------------ */

TEST(bind_port_zero_picks_an_ephemeral_port) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(0);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in got;
    socklen_t l = sizeof got;
    OK(getsockname(s, (struct sockaddr *)&got, &l));
    EXPECT_EQ(l, sizeof got);
    EXPECT_EQ(got.sin_family, AF_INET);
    CHECK(ntohs(got.sin_port) != 0, "no port");
    EXPECT_EQ(got.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

TEST(bind_twice_is_einval) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(0);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EINVAL);
}

TEST(bind_a_listening_port_is_eaddrinuse_even_with_reuseaddr) {
    int port;
    int l = OK(listener(&port));
    (void)l;
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    int one = 1;
    OK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
}

/* A closed listener's port is free when close returns, even to a socket
 * without SO_REUSEADDR: nothing of a listener lingers. */
TEST(closing_a_listener_frees_its_port_at_once) {
    for (int i = 0; i < 3; i++) {
        int port;
        int l = OK(listener(&port));
        OK(close(l));
        int s = OK(socket(AF_INET, SOCK_STREAM, 0));
        struct sockaddr_in a = lo4((uint16_t)port);
        EXPECT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
        EXPECT_EQ(listen(s, 4), 0);
        close(s);
    }
}

/* A server that closes its connections and its SO_REUSEADDR listener binds the
 * port again at once with SO_REUSEADDR (iperf3's server does this after every
 * test); its connections, lingering in TIME-WAIT and FIN states, do not stop
 * it. Without SO_REUSEADDR they do: EADDRINUSE. */
TEST(a_server_rebinds_with_reuseaddr_while_its_closed_connections_linger) {
    int one = 1;
    int l = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_in a = lo4(0);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    OK(bind(l, (struct sockaddr *)&a, sizeof a));
    OK(listen(l, 4));
    int port = port_of(l);
    struct sockaddr_in to = lo4((uint16_t)port);
    int c1 = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(connect(c1, (struct sockaddr *)&to, sizeof to));
    int c2 = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(connect(c2, (struct sockaddr *)&to, sizeof to));
    int s1 = OK(accept(l, NULL, NULL));
    int s2 = OK(accept(l, NULL, NULL));
    OK(write(s1, "x", 1));
    char b;
    EXPECT_EQ(read(c1, &b, 1), 1);
    /* The server closes first (its side goes to TIME-WAIT), the client then. */
    OK(close(s1));
    EXPECT_EQ(read(c1, &b, 1), 0);
    OK(close(c1));
    /* The other connection: the client closes first, the server last. */
    OK(close(c2));
    OK(close(s2));
    OK(close(l));
    a.sin_port = htons((uint16_t)port);
    int plain = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_ERRNO(bind(plain, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    int again = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(setsockopt(again, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    EXPECT_EQ(bind(again, (struct sockaddr *)&a, sizeof a), 0);
    EXPECT_EQ(listen(again, 4), 0);
}

TEST(bind_bad_addresses_are_einval_eafnosupport_eaddrnotavail) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(0);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a - 1), EINVAL);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a6, sizeof a6), EAFNOSUPPORT);
    a.sin_addr.s_addr = inet_addr("192.0.2.1"); /* TEST-NET-1: not ours */
    EXPECT_ERRNO(bind(s, (struct sockaddr *)&a, sizeof a), EADDRNOTAVAIL);
    EXPECT_ERRNO(bind(s, (struct sockaddr *)0x1000, sizeof a), EFAULT);
}

/* ---- connect / accept --------------------------------------------------- */

TEST(connect_to_a_closed_port_is_econnrefused) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4((uint16_t)free_port());
    EXPECT_ERRNO(connect(s, (struct sockaddr *)&a, sizeof a), ECONNREFUSED);
}

TEST(connect_accept_carry_bytes_both_ways_and_name_the_ends) {
    int port;
    int l = OK(listener(&port));
    int c = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    OK(connect(c, (struct sockaddr *)&a, sizeof a));
    EXPECT_ERRNO(connect(c, (struct sockaddr *)&a, sizeof a), EISCONN);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int s = OK(accept4(l, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC));
    EXPECT_EQ(pl, sizeof peer);
    EXPECT_EQ(ntohs(peer.sin_port), port_of(c));
    EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_EQ(fcntl(s, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(port_of(s), port);
    struct sockaddr_in cp;
    socklen_t cl = sizeof cp;
    OK(getpeername(c, (struct sockaddr *)&cp, &cl));
    EXPECT_EQ(ntohs(cp.sin_port), port);
    EXPECT_EQ(write(c, "hello", 5), 5);
    char b[16];
    EXPECT_EQ(read(s, b, sizeof b), 5);
    CHECK(memcmp(b, "hello", 5) == 0, "wrong bytes");
    EXPECT_EQ(send(s, "world!", 6, 0), 6);
    EXPECT_EQ(recv(c, b, sizeof b, 0), 6);
    CHECK(memcmp(b, "world!", 6) == 0, "wrong bytes");
    EXPECT_EQ(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
    EXPECT_EQ(sockopt_int(c, SOL_SOCKET, SO_ACCEPTCONN), 0);
}

/* Ports below 1024 need CAP_NET_BIND_SERVICE: EACCES for another user; an
 * ephemeral port (0) is fine. */
static void child_bind_low_port(void *arg)
{
    (void)arg;
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        _exit(10);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(1023);
    errno = 0;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != -1 || errno != EACCES)
        _exit(11);
    a = lo4(0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0)
        _exit(12);
    _exit(0);
}

TEST(bind_privileged_port_without_capability_is_eacces) {
    if (geteuid() != 0)
        SKIP("needs root to become another user");
    int st = kt_in_child(child_bind_low_port, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(1023);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
}

/* TCP names no sender: recvfrom writes no address (not even through a bad
 * pointer) and sets the length to 0; a negative length is still EINVAL. */
TEST(recvfrom_on_tcp_writes_no_address_and_a_zero_length) {
    int c, a;
    OK(tcp_pair(&c, &a));
    EXPECT_EQ(write(a, "abc", 3), 3);
    char b[8];
    struct sockaddr_in from;
    memset(&from, 0x5a, sizeof from);
    socklen_t fl = sizeof from;
    EXPECT_EQ(recvfrom(c, b, 1, 0, (struct sockaddr *)&from, &fl), 1);
    EXPECT_EQ(fl, 0);
    CHECK(((unsigned char *)&from)[0] == 0x5a, "address written");
    fl = sizeof from;
    EXPECT_EQ(recvfrom(c, b, 1, 0, (struct sockaddr *)-1, &fl), 1);
    EXPECT_EQ(fl, 0);
    socklen_t bad = (socklen_t)-1;
    EXPECT_ERRNO(recvfrom(c, b, 1, 0, (struct sockaddr *)&from, &bad), EINVAL);
}

/* socketpair checks the type's flag bits before the family: unknown bits are
 * EINVAL even for a family that has no pairs (EOPNOTSUPP). */
TEST(socketpair_inet_is_eopnotsupp_but_bad_type_bits_einval) {
    int sv[2];
    EXPECT_ERRNO(socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    EXPECT_ERRNO(socketpair(AF_INET, 75, 0, sv), EINVAL);
    EXPECT_ERRNO(socketpair(AF_INET, 12, 0, sv), EINVAL);
    /* the socket is made first: its protocol errors come before EOPNOTSUPP */
    EXPECT_ERRNO(socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP, sv), EPROTONOSUPPORT);
    EXPECT_ERRNO(socketpair(AF_INET, SOCK_STREAM, IPPROTO_ICMP, sv), EPROTONOSUPPORT);
    EXPECT_ERRNO(socketpair(AF_INET, SOCK_DGRAM, IPPROTO_UDP, sv), EOPNOTSUPP);
}

TEST(nonblocking_connect_is_einprogress_then_writable_with_so_error_zero) {
    int port;
    int l = OK(listener(&port));
    int c = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    CHECK(r == 0 || errno == EINPROGRESS, "connect: %d %s", r, kt_errstr(errno));
    short ev = poll_one(c, POLLOUT, 5000);
    CHECK(ev & POLLOUT, "revents %#x", ev);
    EXPECT_EQ(sockopt_int(c, SOL_SOCKET, SO_ERROR), 0);
    /* the connect that finds it done reports success once, then EISCONN */
    if (r == -1)
        OK(connect(c, (struct sockaddr *)&a, sizeof a));
    EXPECT_ERRNO(connect(c, (struct sockaddr *)&a, sizeof a), EISCONN);
    int s = OK(accept(l, NULL, NULL));
    (void)s;
}

TEST(nonblocking_connect_to_a_closed_port_reports_econnrefused_in_so_error) {
    int c = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in a = lo4((uint16_t)free_port());
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    if (r == -1 && errno == ECONNREFUSED)
        return; /* refused before the call returned: also Linux */
    CHECK(r == -1 && errno == EINPROGRESS, "connect: %d %s", r, kt_errstr(errno));
    short ev = poll_one(c, POLLOUT, 5000);
    CHECK((ev & (POLLOUT | POLLERR)) == (POLLOUT | POLLERR), "revents %#x", ev);
    EXPECT_EQ(sockopt_int(c, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    EXPECT_EQ(sockopt_int(c, SOL_SOCKET, SO_ERROR), 0);
}

TEST(accept_without_connections_is_eagain_when_nonblocking) {
    int port;
    int l = OK(listener(&port));
    OK(fcntl(l, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(accept(l, NULL, NULL), EAGAIN);
    EXPECT_ERRNO(syscall(SYS_accept4, l, NULL, NULL, 1), EINVAL);
}

TEST(accept_on_a_socket_not_listening_is_einval) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_ERRNO(accept(s, NULL, NULL), EINVAL);
}

TEST(listen_without_bind_takes_an_ephemeral_port) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(listen(s, 4));
    CHECK(port_of(s) > 0, "no port");
    EXPECT_EQ(poll_one(s, POLLIN | POLLOUT, 0), 0);
}

/* ---- send / recv -------------------------------------------------------- */

TEST(recv_on_an_unconnected_socket_is_enotconn_send_is_epipe) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    char b[4];
    EXPECT_ERRNO(recv(s, b, sizeof b, 0), ENOTCONN);
    on(SIGPIPE, h_sigpipe);
    EXPECT_ERRNO(send(s, "x", 1, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    EXPECT_ERRNO(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    EXPECT_EQ(poll_one(s, POLLIN | POLLOUT, 0), POLLOUT | POLLHUP);
}

TEST(recv_with_nothing_queued_is_eagain_when_nonblocking) {
    int c, s;
    OK(tcp_pair(&c, &s));
    char b[4];
    EXPECT_ERRNO(recv(c, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    OK(fcntl(c, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(read(c, b, sizeof b), EAGAIN);
}

TEST(msg_peek_leaves_bytes_and_msg_waitall_waits_for_all) {
    int c, s;
    OK(tcp_pair(&c, &s));
    EXPECT_EQ(send(c, "abcd", 4, 0), 4);
    char b[8];
    EXPECT_EQ(poll_one(s, POLLIN, 5000) & POLLIN, POLLIN);
    EXPECT_EQ(recv(s, b, 2, MSG_PEEK), 2);
    CHECK(memcmp(b, "ab", 2) == 0, "peek got %.2s", b);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        send(c, "efgh", 4, 0);
        _exit(0);
    }
    EXPECT_EQ(recv(s, b, 8, MSG_WAITALL), 8);
    CHECK(memcmp(b, "abcdefgh", 8) == 0, "got %.8s", b);
}

TEST(fionread_counts_the_bytes_queued) {
    int c, s;
    OK(tcp_pair(&c, &s));
    int n = -1;
    OK(ioctl(s, FIONREAD, &n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(send(c, "12345", 5, 0), 5);
    EXPECT_EQ(poll_one(s, POLLIN, 5000) & POLLIN, POLLIN);
    OK(ioctl(s, FIONREAD, &n));
    EXPECT_EQ(n, 5);
}

/* sockatmark(3): a fresh TCP socket is not at an urgent mark; a bad
 * buffer is EFAULT; UDP has no such ioctl (ENOTTY) */
TEST(siocatmark_is_zero_and_efault_on_a_bad_buffer) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    int v = -1;
    OK(ioctl(s, SIOCATMARK, &v));
    EXPECT_EQ(v, 0);
    EXPECT_ERRNO(ioctl(s, SIOCATMARK, (void *)-1), EFAULT);
    int u = OK(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_ERRNO(ioctl(u, SIOCATMARK, &v), ENOTTY);
}

/* Waits until the urgent byte has arrived (POLLPRI), 5 s at most. */
static int wait_urgent(int s)
{
    return (poll_one(s, POLLPRI, 5000) & POLLPRI) ? 0 : -1;
}

/* send(MSG_OOB): the last byte is urgent. The reader sees POLLPRI and an
 * exceptional condition in select, recv(MSG_OOB) takes that byte (once:
 * then EINVAL), and the stream reads around it: a read stops at the mark,
 * the urgent byte is not in the stream */
TEST(msg_oob_sends_one_urgent_byte_the_stream_reads_around) {
    int c, s;
    OK(tcp_pair(&c, &s));
    EXPECT_EQ(send(c, "12", 2, 0), 2);
    EXPECT_EQ(send(c, "abX", 3, MSG_OOB), 3);
    EXPECT_EQ(send(c, "34", 2, 0), 2);
    OK(wait_urgent(s));
    EXPECT_EQ(poll_one(s, POLLPRI | POLLIN, 5000) & (POLLPRI | POLLIN), POLLPRI | POLLIN);
    /* FIONREAD counts only the bytes before the mark */
    int q = -1;
    OK(ioctl(s, FIONREAD, &q));
    EXPECT_EQ(q, 4);
    fd_set ex;
    FD_ZERO(&ex);
    FD_SET(s, &ex);
    struct timeval tv = {1, 0};
    EXPECT_EQ(select(s + 1, NULL, NULL, &ex, &tv), 1);
    CHECK(FD_ISSET(s, &ex), "FD_ISSET(s, &ex)");
    char b[16] = {0};
    /* MSG_PEEK leaves it; recvmsg says MSG_OOB */
    EXPECT_EQ(recv(s, b, sizeof b, MSG_OOB | MSG_PEEK), 1);
    EXPECT_EQ(b[0], 'X');
    struct iovec iov = {.iov_base = b, .iov_len = sizeof b};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    b[0] = 0;
    EXPECT_EQ(recvmsg(s, &m, MSG_OOB), 1);
    EXPECT_EQ(b[0], 'X');
    CHECK(m.msg_flags & MSG_OOB, "m.msg_flags & MSG_OOB");
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_OOB), EINVAL);
    EXPECT_EQ(poll_one(s, POLLPRI, 0) & POLLPRI, 0);
    /* The stream: up to the mark, then the rest without the urgent byte */
    int at = -1;
    OK(ioctl(s, SIOCATMARK, &at));
    EXPECT_EQ(at, 0);
    memset(b, 0, sizeof b);
    EXPECT_EQ(recv(s, b, sizeof b, 0), 4);
    CHECK(memcmp(b, "12ab", 4) == 0, "memcmp(b, \"12ab\", 4) == 0");
    OK(ioctl(s, SIOCATMARK, &at));
    EXPECT_EQ(at, 1);
    memset(b, 0, sizeof b);
    EXPECT_EQ(recv(s, b, 2, MSG_WAITALL), 2);
    CHECK(memcmp(b, "34", 2) == 0, "memcmp(b, \"34\", 2) == 0");
    OK(ioctl(s, SIOCATMARK, &at));
    EXPECT_EQ(at, 0);
}

/* The urgent byte at the front: a read skips it even before recv(MSG_OOB)
 * took it, which is then still there to take */
TEST(msg_oob_byte_is_skipped_by_reads_and_still_taken_after) {
    int c, s;
    OK(tcp_pair(&c, &s));
    EXPECT_EQ(send(c, "U", 1, MSG_OOB), 1);
    EXPECT_EQ(send(c, "rest", 4, 0), 4);
    OK(wait_urgent(s));
    int at = -1;
    OK(ioctl(s, SIOCATMARK, &at));
    EXPECT_EQ(at, 1);
    char b[16] = {0};
    EXPECT_EQ(recv(s, b, 4, MSG_WAITALL), 4);
    CHECK(memcmp(b, "rest", 4) == 0, "memcmp(b, \"rest\", 4) == 0");
    /* Past the mark: the urgent data is gone with it */
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_OOB), EINVAL);
}

/* SO_OOBINLINE: the urgent byte stays in the stream; recv(MSG_OOB) is
 * EINVAL, a read still stops at the mark */
TEST(so_oobinline_keeps_the_urgent_byte_in_the_stream) {
    int c, s;
    OK(tcp_pair(&c, &s));
    int one = 1;
    OK(setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_OOBINLINE), 1);
    EXPECT_EQ(send(c, "abc", 3, MSG_OOB), 3);
    EXPECT_EQ(send(c, "d", 1, 0), 1);
    OK(wait_urgent(s));
    char b[16] = {0};
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_OOB), EINVAL);
    EXPECT_EQ(recv(s, b, sizeof b, 0), 2);
    CHECK(memcmp(b, "ab", 2) == 0, "memcmp(b, \"ab\", 2) == 0");
    int at = -1;
    OK(ioctl(s, SIOCATMARK, &at));
    EXPECT_EQ(at, 1);
    memset(b, 0, sizeof b);
    EXPECT_EQ(recv(s, b, 2, MSG_WAITALL), 2);
    CHECK(memcmp(b, "cd", 2) == 0, "memcmp(b, \"cd\", 2) == 0");
}

static volatile sig_atomic_t sigurg_count;
static void h_sigurg(int sig)
{
    (void)sig;
    sigurg_count++;
}

/* SIGURG goes to the socket's owner (F_SETOWN) when urgent data is
 * announced, with or without O_ASYNC */
TEST(urgent_data_sends_sigurg_to_the_owner) {
    int c, s;
    OK(tcp_pair(&c, &s));
    sigurg_count = 0;
    OK(on(SIGURG, h_sigurg));
    OK(fcntl(s, F_SETOWN, getpid()));
    EXPECT_EQ(send(c, "u", 1, MSG_OOB), 1);
    EXPECT_EQ(poll_one(s, POLLPRI, 5000) & POLLPRI, POLLPRI);
    for (int i = 0; i < 100 && sigurg_count == 0; i++)
        usleep(10000);
    CHECK(sigurg_count >= 1, "no SIGURG");
    on(SIGURG, SIG_DFL);
}

/* Without urgent data recv(MSG_OOB) is EINVAL (ENOTCONN on a listener);
 * UDP has no urgent data: sending it is EOPNOTSUPP */
TEST(msg_oob_errors) {
    int c, s;
    OK(tcp_pair(&c, &s));
    char b[4];
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_OOB), EINVAL);
    EXPECT_ERRNO(recv(s, b, sizeof b, MSG_OOB | MSG_DONTWAIT), EINVAL);
    int port;
    int l = OK(listener(&port));
    EXPECT_ERRNO(recv(l, b, sizeof b, MSG_OOB), ENOTCONN);
    int u = OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    EXPECT_ERRNO(sendto(u, "x", 1, MSG_OOB, (struct sockaddr *)&a, sizeof a), EOPNOTSUPP);
    /* ... but a receive ignores the flag (udp_recvmsg) */
    EXPECT_ERRNO(recv(u, b, sizeof b, MSG_OOB | MSG_DONTWAIT), EAGAIN);
    /* A bad buffer for the urgent byte is EFAULT */
    EXPECT_EQ(send(c, "Z", 1, MSG_OOB), 1);
    OK(wait_urgent(s));
    EXPECT_ERRNO(recv(s, (void *)-1, 1, MSG_OOB), EFAULT);
}

TEST(so_rcvtimeo_ends_a_recv_with_eagain) {
    int c, s;
    OK(tcp_pair(&c, &s));
    struct timeval tv = {0, 100000};
    OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval got;
    socklen_t l = sizeof got;
    OK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &l));
    EXPECT_EQ(got.tv_usec, 100000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char b[4];
    EXPECT_ERRNO(recv(s, b, sizeof b, 0), EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 90 && ms < 2000, "waited %ld ms", ms);
}

TEST(write_after_the_peer_closed_is_epipe_with_sigpipe) {
    int c, s;
    OK(tcp_pair(&c, &s));
    OK(close(s));
    on(SIGPIPE, h_sigpipe);
    /* the first writes may still go: the peer's RST ends them */
    int err = 0;
    for (int i = 0; i < 200; i++) {
        if (send(c, "x", 1, 0) < 0) {
            err = errno;
            break;
        }
        usleep(5000);
    }
    EXPECT_EQ(err, EPIPE);
    CHECK(sigpipe_count >= 1, "no SIGPIPE");
    int before = sigpipe_count;
    EXPECT_ERRNO(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
    EXPECT_EQ(sigpipe_count, before);
}

TEST(peer_close_is_eof_and_pollin_pollrdhup) {
    int c, s;
    OK(tcp_pair(&c, &s));
    EXPECT_EQ(send(s, "bye", 3, 0), 3);
    OK(close(s));
    char b[8];
    EXPECT_EQ(recv(c, b, sizeof b, 0), 3);
    EXPECT_EQ(recv(c, b, sizeof b, 0), 0);
    short ev = poll_one(c, POLLIN | POLLRDHUP, 1000);
    CHECK((ev & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP), "revents %#x", ev);
}

TEST(close_with_unread_data_resets_the_peer) {
    int c, s;
    OK(tcp_pair(&c, &s));
    EXPECT_EQ(send(c, "unread", 6, 0), 6);
    EXPECT_EQ(poll_one(s, POLLIN, 5000) & POLLIN, POLLIN);
    OK(close(s));
    short ev = poll_one(c, POLLIN, 5000);
    CHECK(ev & POLLERR, "revents %#x", ev);
    char b[8];
    EXPECT_ERRNO(recv(c, b, sizeof b, 0), ECONNRESET);
    EXPECT_EQ(recv(c, b, sizeof b, 0), 0);
}

TEST(shutdown_wr_gives_the_peer_eof_and_keeps_the_other_direction) {
    int c, s;
    OK(tcp_pair(&c, &s));
    OK(shutdown(c, SHUT_WR));
    char b[8];
    EXPECT_EQ(recv(s, b, sizeof b, 0), 0);
    EXPECT_EQ(send(s, "back", 4, 0), 4);
    EXPECT_EQ(recv(c, b, sizeof b, 0), 4);
    EXPECT_ERRNO(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
}

TEST(shutdown_unconnected_is_enotconn_and_bad_how_einval) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_ERRNO(shutdown(s, SHUT_RDWR), ENOTCONN);
    int c, a;
    OK(tcp_pair(&c, &a));
    EXPECT_ERRNO(shutdown(c, 7), EINVAL);
}

TEST(readv_writev_and_sendfile_move_bytes) {
    int c, s;
    OK(tcp_pair(&c, &s));
    struct iovec w[2] = {{"ab", 2}, {"cde", 3}};
    EXPECT_EQ(writev(c, w, 2), 5);
    char x[2], y[8];
    struct iovec r[2] = {{x, 2}, {y, 3}};
    EXPECT_EQ(poll_one(s, POLLIN, 5000) & POLLIN, POLLIN);
    EXPECT_EQ(readv(s, r, 2), 5);
    CHECK(memcmp(x, "ab", 2) == 0 && memcmp(y, "cde", 3) == 0, "wrong bytes");
    const char *dir = kt_tmpdir();
    const char *path = kt_path(dir, "f");
    OK(kt_write_file(path, "sendfile!", 9));
    int fd = OK(open(path, O_RDONLY));
    EXPECT_EQ(sendfile(c, fd, NULL, 100), 9);
    char b[16];
    size_t got = 0;
    while (got < 9) {
        ssize_t n = recv(s, b + got, sizeof b - got, 0);
        CHECK(n > 0, "recv %zd", n);
        got += (size_t)n;
    }
    CHECK(memcmp(b, "sendfile!", 9) == 0, "wrong bytes");
}

TEST(a_mebibyte_goes_through_intact) {
    int c, s;
    OK(tcp_pair(&c, &s));
    enum { TOTAL = 1 << 20 };
    pid_t pid = fork();
    if (pid == 0) {
        static unsigned char buf[TOTAL];
        for (int i = 0; i < TOTAL; i++)
            buf[i] = (unsigned char)(i * 7 + (i >> 8));
        size_t done = 0;
        while (done < TOTAL) {
            ssize_t n = write(c, buf + done, TOTAL - done);
            if (n <= 0)
                _exit(1);
            done += (size_t)n;
        }
        _exit(0);
    }
    close(c);
    static unsigned char got[TOTAL];
    size_t n = 0;
    while (n < TOTAL) {
        ssize_t r = read(s, got + n, TOTAL - n);
        CHECK(r > 0, "read %zd after %zu", r, n);
        n += (size_t)r;
    }
    for (int i = 0; i < TOTAL; i++)
        CHECK(got[i] == (unsigned char)(i * 7 + (i >> 8)), "byte %d differs", i);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %s", kt_status(st));
    char b[1];
    EXPECT_EQ(read(s, b, 1), 0);
}

TEST(a_hundred_connections_at_once_each_carry_their_own_bytes) {
    enum { N = 100 };
    int port;
    int l = OK(listener(&port));
    OK(listen(l, 128));
    int c[N], a[N];
    struct sockaddr_in sa = lo4((uint16_t)port);
    for (int i = 0; i < N; i++) {
        c[i] = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
        errno = 0;
        int r = connect(c[i], (struct sockaddr *)&sa, sizeof sa);
        CHECK(r == 0 || errno == EINPROGRESS, "connect %d: %s", i, kt_errstr(errno));
    }
    for (int i = 0; i < N; i++)
        a[i] = OK(accept(l, NULL, NULL));
    for (int i = 0; i < N; i++) {
        CHECK(poll_one(c[i], POLLOUT, 5000) & POLLOUT, "client %d not writable", i);
        unsigned char b = (unsigned char)i;
        EXPECT_EQ(send(c[i], &b, 1, 0), 1);
    }
    /* accept order is arrival order, not necessarily connect order: match by port */
    int seen = 0;
    for (int i = 0; i < N; i++) {
        unsigned char b;
        EXPECT_EQ(recv(a[i], &b, 1, 0), 1);
        struct sockaddr_in p;
        socklen_t pl = sizeof p;
        OK(getpeername(a[i], (struct sockaddr *)&p, &pl));
        CHECK(b < N && port_of(c[b]) == ntohs(p.sin_port), "byte %u on the wrong connection", b);
        seen++;
    }
    EXPECT_EQ(seen, N);
}

/* ---- options ------------------------------------------------------------ */

/* The st column of /proc/net/tcp for the IPv4 connection from local port lp
 * to remote port rp, -1 if there is none. */
static int proc_tcp_state(int lp, int rp)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[256];
    int st = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned la, lport, ra, rport, state;
        if (sscanf(line, " %*d: %8X:%4X %8X:%4X %2X", &la, &lport, &ra, &rport, &state) == 5 &&
            (int)lport == lp && (int)rport == rp)
            st = (int)state;
    }
    fclose(f);
    return st;
}

static int tcpi_state(int s)
{
    struct tcp_info ti;
    socklen_t l = sizeof ti;
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
        return -1;
    return ti.tcpi_state;
}

/* Waits up to a second for f() to give want (the stack answers an ACK or a
 * FIN a moment after the call that sent it). */
#define SETTLES_TO(expr, want)                                                \
    ({                                                                        \
        int kt_v_ = (expr);                                                   \
        for (int kt_i_ = 0; kt_i_ < 100 && kt_v_ != (want); kt_i_++) {        \
            usleep(10000);                                                    \
            kt_v_ = (expr);                                                   \
        }                                                                     \
        kt_v_;                                                                \
    })

/* The states ss and netstat show come from the connection itself: after our
 * SHUT_WR is acknowledged we are in FIN_WAIT2 (5) and the peer in CLOSE_WAIT
 * (8); once the peer closes too, /proc/net/tcp shows the side that closed
 * first in TIME_WAIT (6), before and after its descriptor is closed, and the
 * other side is gone. */
TEST(connection_states_follow_the_close_handshake) {
    int c, a;
    OK(tcp_pair(&c, &a));
    int cport = port_of(c), sport = port_of(a);
    EXPECT_EQ(tcpi_state(c), 1); /* ESTABLISHED */
    EXPECT_EQ(proc_tcp_state(cport, sport), 1);
    OK(shutdown(c, SHUT_WR));
    EXPECT_EQ(SETTLES_TO(tcpi_state(c), 5), 5);   /* FIN_WAIT2 */
    EXPECT_EQ(SETTLES_TO(tcpi_state(a), 8), 8);   /* CLOSE_WAIT */
    EXPECT_EQ(proc_tcp_state(sport, cport), 8);
    OK(close(a));
    /* The connection goes to TIME_WAIT; the socket still open on it is
     * done with (CLOSE, 7), as Linux hands the connection to a timewait
     * entry. */
    EXPECT_EQ(SETTLES_TO(proc_tcp_state(cport, sport), 6), 6);
    EXPECT_EQ(tcpi_state(c), 7);
    EXPECT_EQ(proc_tcp_state(sport, cport), -1);
    OK(close(c));
    EXPECT_EQ(proc_tcp_state(cport, sport), 6);
}

TEST(socket_options_round_trip) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    OK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    EXPECT_EQ(sockopt_int(s, IPPROTO_TCP, TCP_NODELAY), 1);
    OK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
    OK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_REUSEADDR), 1);
    int v = 8192;
    OK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_RCVBUF), 16384);
    struct linger lg = {1, 5};
    OK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    struct linger got;
    socklen_t l = sizeof got;
    OK(getsockopt(s, SOL_SOCKET, SO_LINGER, &got, &l));
    EXPECT_EQ(got.l_onoff, 1);
    EXPECT_EQ(got.l_linger, 5);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ERROR), 0);
    struct tcp_info ti;
    l = sizeof ti;
    OK(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l));
    EXPECT_EQ(ti.tcpi_state, 7); /* TCP_CLOSE */
}

TEST(bad_socket_options_are_enoprotoopt_or_einval) {
    int s = OK(socket(AF_INET, SOCK_STREAM, 0));
    int v = 0;
    socklen_t l = sizeof v;
    EXPECT_ERRNO(getsockopt(s, SOL_SOCKET, 9999, &v, &l), ENOPROTOOPT);
    EXPECT_ERRNO(setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v), ENOPROTOOPT);
    EXPECT_ERRNO(setsockopt(s, IPPROTO_TCP, 9999, &v, sizeof v), ENOPROTOOPT);
    EXPECT_ERRNO(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, 2), EINVAL);
    l = (socklen_t)-1;
    EXPECT_ERRNO(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l), EINVAL);
    v = 0;
    EXPECT_ERRNO(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v), EINVAL);
    /* an unknown level: ip_getsockopt says EOPNOTSUPP, ip_setsockopt ENOPROTOOPT */
    l = sizeof v;
    EXPECT_ERRNO(getsockopt(s, 9999, 1, &v, &l), EOPNOTSUPP);
    EXPECT_ERRNO(setsockopt(s, 9999, 1, &v, sizeof v), ENOPROTOOPT);
}

/* nothing is ever on the error queue */
TEST(recv_from_the_error_queue_is_eagain) {
    int c, s;
    OK(tcp_pair(&c, &s));
    char b[4];
    EXPECT_ERRNO(recv(c, b, sizeof b, MSG_ERRQUEUE), EAGAIN);
}

/* ---- readiness ---------------------------------------------------------- */

TEST(epoll_edge_triggered_reports_each_arrival_once) {
    int c, s;
    OK(tcp_pair(&c, &s));
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    struct epoll_event out[2];
    EXPECT_EQ(epoll_wait(ep, out, 2, 0), 0);
    EXPECT_EQ(send(c, "1", 1, 0), 1);
    EXPECT_EQ(epoll_wait(ep, out, 2, 5000), 1);
    EXPECT_EQ(out[0].events & EPOLLIN, EPOLLIN);
    /* not drained, but no new arrival: no new edge */
    EXPECT_EQ(epoll_wait(ep, out, 2, 50), 0);
    EXPECT_EQ(send(c, "2", 1, 0), 1);
    EXPECT_EQ(epoll_wait(ep, out, 2, 5000), 1);
    char b[4];
    EXPECT_EQ(recv(s, b, sizeof b, 0), 2);
}

TEST(epoll_level_triggered_listener_and_writable_connection) {
    int port;
    int l = OK(listener(&port));
    int ep = OK(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev));
    int c = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4((uint16_t)port);
    OK(connect(c, (struct sockaddr *)&a, sizeof a));
    struct epoll_event out[2];
    EXPECT_EQ(epoll_wait(ep, out, 2, 5000), 1);
    EXPECT_EQ(out[0].data.fd, l);
    ev.events = EPOLLOUT;
    ev.data.fd = c;
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
    EXPECT_EQ(epoll_wait(ep, out, 2, 5000), 2);
}

/* ---- IPv6 --------------------------------------------------------------- */

TEST(ipv6_loopback_connects_and_ipv4_peers_look_mapped) {
    int l = OK(socket(AF_INET6, SOCK_STREAM, 0));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    OK(bind(l, (struct sockaddr *)&a, sizeof a));
    OK(listen(l, 4));
    int port = port_of(l);
    int c = OK(socket(AF_INET6, SOCK_STREAM, 0));
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons((uint16_t)port);
    OK(connect(c, (struct sockaddr *)&a, sizeof a));
    int s = OK(accept(l, NULL, NULL));
    EXPECT_EQ(send(c, "six", 3, 0), 3);
    char b[4];
    EXPECT_EQ(recv(s, b, sizeof b, 0), 3);
    /* an IPv4 client of the dual-stack listener */
    int c4 = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a4 = lo4((uint16_t)port);
    OK(connect(c4, (struct sockaddr *)&a4, sizeof a4));
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int s4 = OK(accept(l, (struct sockaddr *)&peer, &pl));
    (void)s4;
    EXPECT_EQ(peer.sin6_family, AF_INET6);
    CHECK(IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr), "peer is not v4-mapped");
    EXPECT_EQ(sockopt_int(l, IPPROTO_IPV6, IPV6_V6ONLY), 0);
}

TEST(ipv6_v6only_listener_refuses_ipv4) {
    int l = OK(socket(AF_INET6, SOCK_STREAM, 0));
    int one = 1;
    OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    OK(bind(l, (struct sockaddr *)&a, sizeof a));
    OK(listen(l, 4));
    EXPECT_ERRNO(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), EINVAL);
    int c4 = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a4 = lo4((uint16_t)port_of(l));
    EXPECT_ERRNO(connect(c4, (struct sockaddr *)&a4, sizeof a4), ECONNREFUSED);
}

#ifndef IPV6_ADDRFORM
#define IPV6_ADDRFORM 1
#endif

/* A dual-stack AF_INET6 listener on :: at an ephemeral port. */
static int listener6(int *port)
{
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0)
        return -1;
    *port = port_of(l);
    return l;
}

/* Whether this kernel has IPV6_ADDRFORM (Linux 6.1 has; some later kernels
 * answer ENOPROTOOPT for it): an unconnected socket says ENOTCONN. */
static int have_addrform(void)
{
    int u = socket(AF_INET6, SOCK_STREAM, 0);
    int v = AF_INET;
    errno = 0;
    int r = setsockopt(u, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v);
    int e = errno;
    close(u);
    return !(r == -1 && e == ENOPROTOOPT);
}

static int family_of(int s, int peer)
{
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    if ((peer ? getpeername : getsockname)(s, (struct sockaddr *)&a, &l) < 0)
        return -1;
    return a.ss_family;
}

TEST(ipv6_addrform_turns_a_mapped_connection_into_af_inet) {
    if (!have_addrform())
        SKIP("no IPV6_ADDRFORM in this kernel (ENOPROTOOPT)");
    int port;
    int l = OK(listener6(&port));
    int c = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a4 = lo4((uint16_t)port);
    OK(connect(c, (struct sockaddr *)&a4, sizeof a4));
    int s = OK(accept(l, NULL, NULL));
    EXPECT_EQ(family_of(s, 0), AF_INET6);
    int v = AF_INET;
    OK(setsockopt(s, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v));
    EXPECT_EQ(family_of(s, 0), AF_INET);
    EXPECT_EQ(family_of(s, 1), AF_INET);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    OK(getsockname(s, (struct sockaddr *)&me, &ml));
    EXPECT_EQ(ml, sizeof me);
    EXPECT_EQ(me.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_EQ(ntohs(me.sin_port), port);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_DOMAIN), AF_INET);
    /* The connection goes on. */
    EXPECT_EQ(send(c, "four", 4, 0), 4);
    char b[8];
    EXPECT_EQ(recv(s, b, sizeof b, 0), 4);
    /* An AF_INET socket has no IPv6 options any more. */
    EXPECT_ERRNO(setsockopt(s, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), ENOPROTOOPT);
}

TEST(ipv6_addrform_errors) {
    if (!have_addrform())
        SKIP("no IPV6_ADDRFORM in this kernel (ENOPROTOOPT)");
    int v = AF_INET;
    /* Unconnected. */
    int u = OK(socket(AF_INET6, SOCK_STREAM, 0));
    EXPECT_ERRNO(setsockopt(u, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), ENOTCONN);
    /* Only AF_INET, as an int. */
    int v6 = AF_INET6;
    EXPECT_ERRNO(setsockopt(u, IPPROTO_IPV6, IPV6_ADDRFORM, &v6, sizeof v6), EINVAL);
    EXPECT_ERRNO(setsockopt(u, IPPROTO_IPV6, IPV6_ADDRFORM, &v, 2), EINVAL);
    /* An IPv6 peer. */
    int port;
    int l = OK(listener6(&port));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons((uint16_t)port);
    OK(connect(u, (struct sockaddr *)&a, sizeof a));
    int s = OK(accept(l, NULL, NULL));
    EXPECT_ERRNO(setsockopt(s, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), EADDRNOTAVAIL);
    EXPECT_ERRNO(setsockopt(u, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), EADDRNOTAVAIL);
    /* An AF_INET socket has no IPv6 level. */
    int s4 = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_ERRNO(setsockopt(s4, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), ENOPROTOOPT);
    /* UDP: unconnected, then connected to a v4-mapped address. */
    int d = OK(socket(AF_INET6, SOCK_DGRAM, 0));
    EXPECT_ERRNO(setsockopt(d, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v), ENOTCONN);
    struct sockaddr_in6 m;
    memset(&m, 0, sizeof m);
    m.sin6_family = AF_INET6;
    m.sin6_port = htons(9);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
    OK(connect(d, (struct sockaddr *)&m, sizeof m));
    OK(setsockopt(d, IPPROTO_IPV6, IPV6_ADDRFORM, &v, sizeof v));
    EXPECT_EQ(family_of(d, 0), AF_INET);
    EXPECT_EQ(family_of(d, 1), AF_INET);
}

TEST(connect_af_unspec_resets_a_connection_and_the_socket_connects_again) {
    int port;
    int l = OK(listener(&port));
    int c = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a4 = lo4((uint16_t)port);
    OK(connect(c, (struct sockaddr *)&a4, sizeof a4));
    int s = OK(accept(l, NULL, NULL));
    struct sockaddr un;
    memset(&un, 0, sizeof un);
    un.sa_family = AF_UNSPEC;
    OK(connect(s, &un, sizeof un));
    /* Unconnected; the peer was reset. */
    struct sockaddr_in p;
    socklen_t pl = sizeof p;
    EXPECT_ERRNO(getpeername(s, (struct sockaddr *)&p, &pl), ENOTCONN);
    struct pollfd pf = {.fd = c, .events = POLLIN};
    EXPECT_EQ(poll(&pf, 1, 5000), 1);
    char b[4];
    EXPECT_ERRNO(recv(c, b, sizeof b, 0), ECONNRESET);
    /* Its port was the listener's: it binds anew and connects again. */
    struct sockaddr_in any = lo4(0);
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    OK(bind(s, (struct sockaddr *)&any, sizeof any));
    int port1 = port_of(s);
    CHECK(port1 > 0 && port1 != port, "new port %d (listener's %d)", port1, port);
    int port2;
    int l2 = OK(listener(&port2));
    struct sockaddr_in a2 = lo4((uint16_t)port2);
    OK(connect(s, (struct sockaddr *)&a2, sizeof a2));
    int s2 = OK(accept(l2, NULL, NULL));
    EXPECT_EQ(send(s, "ok", 2, 0), 2);
    EXPECT_EQ(recv(s2, b, sizeof b, 0), 2);
    EXPECT_EQ(port_of(s), port1);
    /* connect(AF_UNSPEC) stops a listener; a socket that never connected
     * keeps its binding. */
    OK(connect(l2, &un, sizeof un));
    int c3 = OK(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_ERRNO(connect(c3, (struct sockaddr *)&a2, sizeof a2), ECONNREFUSED);
    int f = OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in fa = lo4(0);
    OK(bind(f, (struct sockaddr *)&fa, sizeof fa));
    int fp = port_of(f);
    OK(connect(f, &un, sizeof un));
    EXPECT_EQ(port_of(f), fp);
}

/* A reader with a small SO_RCVBUF that starts late gets every byte before
 * end of file: the sender's FIN comes after its data, even when most of it
 * still waits below the socket's receive queue (it was lost, the reader saw
 * end of file with bytes still to come). */
TEST(a_slow_reader_gets_every_byte_before_the_senders_fin) {
    int c, a;
    OK(tcp_pair(&c, &a));
    int rb = 4096;
    OK(setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb));
    enum { TOTAL = 256 * 1024 };
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(a);
        static char data[8192];
        long sent = 0;
        while (sent < TOTAL) {
            long n = send(c, data, sizeof data, MSG_NOSIGNAL);
            if (n <= 0)
                _exit(1);
            sent += n;
        }
        close(c);
        _exit(0);
    }
    close(c);
    usleep(300000);
    long got = 0, n;
    char buf[8192];
    while ((n = recv(a, buf, sizeof buf, 0)) > 0)
        got += n;
    int st;
    waitpid(pid, &st, 0);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(got, TOTAL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the sender failed");
    close(a);
}

int main(void)
{
    KT_BEGIN();
    RUNS(socket_inet_stream_reports_type_domain_protocol);
    RUNS(socket_flags_set_cloexec_and_nonblock);
    RUNS(socket_wrong_protocol_is_eprotonosupport);
    RUNS(socket_types_inet_lacks_are_esocktnosupport);
    RUNS(socket_unsupported_family_is_eafnosupport);
    RUNS(socket_calls_on_a_file_are_enotsock_and_on_a_bad_fd_ebadf);
    RUNS(bind_port_zero_picks_an_ephemeral_port);
    RUNS(bind_twice_is_einval);
    RUNS(bind_a_listening_port_is_eaddrinuse_even_with_reuseaddr);
    RUNS(closing_a_listener_frees_its_port_at_once);
    RUNS(a_server_rebinds_with_reuseaddr_while_its_closed_connections_linger);
    RUNS(bind_bad_addresses_are_einval_eafnosupport_eaddrnotavail);
    RUNS(connect_to_a_closed_port_is_econnrefused);
    RUNS(connect_accept_carry_bytes_both_ways_and_name_the_ends);
    RUNS(recvfrom_on_tcp_writes_no_address_and_a_zero_length);
    RUNS(bind_privileged_port_without_capability_is_eacces);
    RUNS(socketpair_inet_is_eopnotsupp_but_bad_type_bits_einval);
    RUNS(nonblocking_connect_is_einprogress_then_writable_with_so_error_zero);
    RUNS(nonblocking_connect_to_a_closed_port_reports_econnrefused_in_so_error);
    RUNS(accept_without_connections_is_eagain_when_nonblocking);
    RUNS(accept_on_a_socket_not_listening_is_einval);
    RUNS(listen_without_bind_takes_an_ephemeral_port);
    RUNS(recv_on_an_unconnected_socket_is_enotconn_send_is_epipe);
    RUNS(recv_with_nothing_queued_is_eagain_when_nonblocking);
    RUNS(msg_peek_leaves_bytes_and_msg_waitall_waits_for_all);
    RUNS(fionread_counts_the_bytes_queued);
    RUNS(siocatmark_is_zero_and_efault_on_a_bad_buffer);
    RUNS(msg_oob_sends_one_urgent_byte_the_stream_reads_around);
    RUNS(msg_oob_byte_is_skipped_by_reads_and_still_taken_after);
    RUNS(so_oobinline_keeps_the_urgent_byte_in_the_stream);
    RUNS(urgent_data_sends_sigurg_to_the_owner);
    RUNS(msg_oob_errors);
    RUNS(so_rcvtimeo_ends_a_recv_with_eagain);
    RUNS(write_after_the_peer_closed_is_epipe_with_sigpipe);
    RUNS(peer_close_is_eof_and_pollin_pollrdhup);
    RUNS(close_with_unread_data_resets_the_peer);
    RUNS(shutdown_wr_gives_the_peer_eof_and_keeps_the_other_direction);
    RUNS(a_slow_reader_gets_every_byte_before_the_senders_fin);
    RUNS(shutdown_unconnected_is_enotconn_and_bad_how_einval);
    RUNS(readv_writev_and_sendfile_move_bytes);
    RUNS(a_mebibyte_goes_through_intact);
    RUNS(a_hundred_connections_at_once_each_carry_their_own_bytes);
    RUNS(connection_states_follow_the_close_handshake);
    RUNS(socket_options_round_trip);
    RUNS(bad_socket_options_are_enoprotoopt_or_einval);
    RUNS(recv_from_the_error_queue_is_eagain);
    RUNS(epoll_edge_triggered_reports_each_arrival_once);
    RUNS(epoll_level_triggered_listener_and_writable_connection);
    RUNS(ipv6_loopback_connects_and_ipv4_peers_look_mapped);
    RUNS(ipv6_v6only_listener_refuses_ipv4);
    RUNS(ipv6_addrform_turns_a_mapped_connection_into_af_inet);
    RUNS(ipv6_addrform_errors);
    RUNS(connect_af_unspec_resets_a_connection_and_the_socket_connects_again);
    return KT_END();
}

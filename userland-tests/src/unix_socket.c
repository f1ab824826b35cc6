/*
 * unix_socket.c - AF_UNIX sockets: socket, socketpair, bind, listen, accept,
 * accept4, connect, send/recv, sendto/recvfrom, sendmsg/recvmsg (SCM_RIGHTS,
 * SCM_CREDENTIALS), shutdown, getsockname/getpeername, getsockopt/setsockopt,
 * and poll/epoll readiness of unix sockets.
 *
 * Linux behaviours asserted here that are easy to get wrong:
 *   - socket(AF_UNIX, SOCK_RAW) succeeds and makes a SOCK_DGRAM socket
 *     (SO_TYPE says SOCK_DGRAM). A type below SOCK_MAX (11) that unix does not
 *     know (0, SOCK_RDM, SOCK_DCCP, SOCK_PACKET) is ESOCKTNOSUPPORT; a type
 *     >= 11, negative, or with unknown flag bits is EINVAL. A protocol other
 *     than 0 or PF_UNIX is EPROTONOSUPPORT. An unknown domain is EAFNOSUPPORT.
 *   - listen() on an unbound STREAM socket is EINVAL: there is no autobind on
 *     listen. Autobind happens on bind() with addrlen == sizeof(sa_family_t)
 *     and gives an abstract name of exactly 5 lowercase hex digits
 *     (addrlen 8), and on connect/sendmsg from a socket with SO_PASSCRED.
 *   - shutdown() of an unconnected unix socket succeeds (no ENOTCONN, unlike
 *     TCP); only a bad `how` is EINVAL.
 *   - Closing a STREAM socket that still has unread data makes the peer's
 *     next recv fail with ECONNRESET (then 0) and poll report POLLERR.
 *   - After the peer closes: poll gives POLLIN|POLLOUT|POLLHUP|POLLRDHUP (a
 *     socket whose peer is gone stays "writable"; the write is EPIPE). An
 *     unconnected STREAM socket polls POLLOUT|POLLHUP; a listening one 0.
 *   - A DGRAM socket whose connected peer closed: the first send is
 *     ECONNREFUSED (and disconnects it), later sends ENOTCONN.
 *   - A connected DGRAM socket refuses datagrams from anyone but its peer:
 *     the stranger's sendto is EPERM.
 *   - recv on an unconnected STREAM socket is EINVAL, send is ENOTCONN, and
 *     sendto with an address on a STREAM socket is EOPNOTSUPP.
 *   - connect to a regular file or to a bound socket that is not listening is
 *     ECONNREFUSED; connect STREAM -> DGRAM path is EPROTOTYPE.
 *   - Closing a bound socket leaves its file: bind to it again is EADDRINUSE
 *     until it is unlinked; connect to it is ECONNREFUSED.
 *   - A sun_path of exactly 108 bytes with no NUL is accepted (addrlen 110).
 *   - getsockopt: a level other than SOL_SOCKET is EOPNOTSUPP (unix sockets
 *     have no protocol options); an unknown SOL_SOCKET optname ENOPROTOOPT;
 *     a negative optlen EINVAL, but a too-small positive optlen truncates the
 *     value and succeeds. setsockopt with optlen < sizeof(int) is EINVAL.
 *   - SO_PEERCRED on a socket with no peer gives pid 0, uid/gid -1.
 *   - A datagram bigger than the send buffer is EMSGSIZE.
 *
 * Each case starts with only fds 0-2 open (see RUNS), runs under a watchdog
 * alarm (a blocking call that never returns fails with EINTR instead of
 * hanging), and afterwards SIGPIPE/SIGALRM dispositions, the signal mask, fds
 * and any children are put back. Helper threads block every signal.
 */
#define KT_AREA "unix_socket"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>

#define KSIGSET 8
#define WATCHDOG_S 10
#define MS 1000000LL
#define SUN_OFF ((socklen_t)offsetof(struct sockaddr_un, sun_path))

/* ---- syscall wrappers (the call really reaches the kernel) ------------- */

static long x_socket(int d, int t, int p) { return syscall(SYS_socket, d, t, p); }
static long x_socketpair(int d, int t, int p, int *sv) { return syscall(SYS_socketpair, d, t, p, sv); }
static long x_bind(int s, const void *a, socklen_t l) { return syscall(SYS_bind, s, a, l); }
static long x_listen(int s, int b) { return syscall(SYS_listen, s, b); }
static long x_connect(int s, const void *a, socklen_t l) { return syscall(SYS_connect, s, a, l); }
static long x_accept(int s, void *a, socklen_t *l) { return syscall(SYS_accept, s, a, l); }
static long x_accept4(int s, void *a, socklen_t *l, int f) { return syscall(SYS_accept4, s, a, l, f); }
static long x_send(int s, const void *b, size_t n, int f) { return syscall(SYS_sendto, s, b, n, f, NULL, 0); }
static long x_recv(int s, void *b, size_t n, int f) { return syscall(SYS_recvfrom, s, b, n, f, NULL, NULL); }
static long x_sendto(int s, const void *b, size_t n, int f, const void *a, socklen_t l)
{
    return syscall(SYS_sendto, s, b, n, f, a, l);
}
static long x_recvfrom(int s, void *b, size_t n, int f, void *a, socklen_t *l)
{
    return syscall(SYS_recvfrom, s, b, n, f, a, l);
}
static long x_sendmsg(int s, const struct msghdr *m, int f) { return syscall(SYS_sendmsg, s, m, f); }
static long x_recvmsg(int s, struct msghdr *m, int f) { return syscall(SYS_recvmsg, s, m, f); }
static long x_shutdown(int s, int how) { return syscall(SYS_shutdown, s, how); }
static long x_getsockname(int s, void *a, socklen_t *l) { return syscall(SYS_getsockname, s, a, l); }
static long x_getpeername(int s, void *a, socklen_t *l) { return syscall(SYS_getpeername, s, a, l); }
static long x_getsockopt(int s, int lv, int o, void *v, socklen_t *l)
{
    return syscall(SYS_getsockopt, s, lv, o, v, l);
}
static long x_setsockopt(int s, int lv, int o, const void *v, socklen_t l)
{
    return syscall(SYS_setsockopt, s, lv, o, v, l);
}
static long x_read(int fd, void *b, size_t n) { return syscall(SYS_read, fd, b, n); }
static long x_write(int fd, const void *b, size_t n) { return syscall(SYS_write, fd, b, n); }

/* ---- small helpers ---------------------------------------------------- */

/* A filesystem address; returns the addrlen Linux reports for it. */
static socklen_t mkaddr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
    return SUN_OFF + (socklen_t)strlen(a->sun_path) + 1;
}

/* An abstract address "\0kt-unix-<pid>-<tag>" (unique to this process). */
static socklen_t mkabstract(struct sockaddr_un *a, const char *tag)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "kt-unix-%d-%s", (int)getpid(), tag);
    return SUN_OFF + 1 + (socklen_t)n;
}

static int sockopt_int(int s, int level, int opt)
{
    int v = -12345;
    socklen_t l = sizeof v;
    if (x_getsockopt(s, level, opt, &v, &l) != 0 || l != sizeof v)
        return -12345;
    return v;
}

static int fd_flags(int fd) { return fcntl(fd, F_GETFD); }
static int fl_flags(int fd) { return fcntl(fd, F_GETFL); }

static short poll1(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    long r = syscall(SYS_poll, &p, 1, 0);
    return r < 0 ? (short)-1 : p.revents;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
    }
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* Server listening on a path in dir; returns the fd or -1. */
static int listener_at(const char *path, int type, int backlog)
{
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, path);
    int s = (int)x_socket(AF_UNIX, type, 0);
    if (s < 0)
        return -1;
    if (x_bind(s, &a, l) != 0 || x_listen(s, backlog) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static int connect_to(const char *path, int type)
{
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, path);
    int s = (int)x_socket(AF_UNIX, type, 0);
    if (s < 0)
        return -1;
    if (x_connect(s, &a, l) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* sendmsg one data string with n fds as SCM_RIGHTS. */
static long send_fds(int sock, const int *fds, int n, const char *data)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m;
    memset(&u, 0, sizeof u);
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return x_sendmsg(sock, &m, 0);
}

/* recvmsg with a control buffer of ctl_len bytes; fills out the fds found
 * in SCM_RIGHTS messages (at most max) and the msg_flags. Returns the recvmsg
 * result; *nfds = number of fds received. */
static long recv_fds(int sock, char *data, size_t dlen, size_t ctl_len, int rflags, int *fds,
                     int max, int *nfds, int *msg_flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {data, dlen};
    struct msghdr m;
    memset(&u, 0, sizeof u);
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl_len ? u.buf : NULL;
    m.msg_controllen = ctl_len;
    *nfds = 0;
    long r = x_recvmsg(sock, &m, rflags);
    if (r < 0)
        return r;
    *msg_flags = m.msg_flags;
    if (m.msg_controllen == 0)
        return r;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k && *nfds < max; i++)
            memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    return r;
}

/* ---- signals, children and the per-case reset ------------------------- */

static uint64_t initial_mask;
static volatile sig_atomic_t sigpipe_count, watchdog_fired;

static void h_sigpipe(int sig)
{
    (void)sig;
    sigpipe_count++;
}

static void h_watchdog(int sig)
{
    (void)sig;
    watchdog_fired = 1;
}

static int on(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    return sigaction(sig, &sa, NULL);
}

static const char *wd(void)
{
    return watchdog_fired ? " (the watchdog fired: the call never returned)" : "";
}

#define MAXKIDS 8
static pid_t kids[MAXKIDS];
static int nkids;

/* fork; the child runs fn(arg) under its own alarm and _exits with its
 * return value. Returns the child's pid (or -1). */
static pid_t spawn(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        on(SIGALRM, SIG_DFL);
        alarm(WATCHDOG_S);
        _exit(fn(arg));
    }
    if (nkids < MAXKIDS)
        kids[nkids++] = pid;
    return pid;
}

/* Wait for a spawned child (EINTR from the watchdog gives -1). */
static int reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    for (int i = 0; i < nkids; i++)
        if (kids[i] == pid)
            kids[i] = 0;
    return st;
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static void case_begin(void)
{
    sigpipe_count = 0;
    watchdog_fired = 0;
    nkids = 0;
    on(SIGALRM, h_watchdog);
    alarm(WATCHDOG_S);
}

static void case_end(void)
{
    alarm(0);
    on(SIGALRM, SIG_DFL);
    on(SIGPIPE, SIG_DFL);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &initial_mask, NULL, KSIGSET);
    for (int fd = 3; fd < 256; fd++)
        close(fd);
    for (int i = 0; i < nkids; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    }
    nkids = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define RUNS(name)                                                                            \
    do {                                                                                      \
        case_begin();                                                                         \
        RUN(name);                                                                            \
        case_end();                                                                           \
    } while (0)

/* ---- helper thread: writes pieces to an fd with delays ----------------- */

struct writer {
    pthread_t pt;
    int fd;
    long delay_ms;
    const char *parts[4];
    int close_after;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 4 && w->parts[i]; i++) {
        sleep_ms(w->delay_ms);
        if (x_send(w->fd, w->parts[i], strlen(w->parts[i]), MSG_NOSIGNAL) < 0)
            break;
    }
    if (w->close_after)
        close(w->fd);
    return NULL;
}

static int writer_start(struct writer *w)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&w->pt, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : -1;
}

/* ===================================================================== */
/* ---- socket() --------------------------------------------------------- */

TEST(socket_stream_dgram_seqpacket_succeed) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        int s = OK(x_socket(AF_UNIX, types[i], 0));
        EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), types[i]);
        EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_DOMAIN), AF_UNIX);
        OK(close(s));
    }
    /* AF_LOCAL is the same family; PF_UNIX (1) is accepted as protocol */
    int s = OK(x_socket(AF_LOCAL, SOCK_STREAM, PF_UNIX));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL), 0);
}

/* "Believe it or not BSD has AF_UNIX, SOCK_RAW though nothing uses it":
 * Linux turns SOCK_RAW into SOCK_DGRAM. */
TEST(socket_raw_becomes_dgram) {
    int s = OK(x_socket(AF_UNIX, SOCK_RAW, 0));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_RAW, 0, sv));
    EXPECT_EQ(sockopt_int(sv[0], SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    OK(x_send(sv[0], "ab", 2, 0));
    OK(x_send(sv[0], "c", 1, 0));
    char b[8];
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 2); /* boundaries kept: it is a DGRAM */
}

TEST(socket_unknown_type_is_esocktnosupport_or_einval) {
    /* below SOCK_MAX (11): the family rejects it */
    EXPECT_ERRNO(x_socket(AF_UNIX, 0, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_RDM, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_DCCP, 0), ESOCKTNOSUPPORT);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_PACKET, 0), ESOCKTNOSUPPORT);
    /* out of range or with unknown flag bits: the socket layer says EINVAL */
    EXPECT_ERRNO(x_socket(AF_UNIX, 11, 0), EINVAL);
    EXPECT_ERRNO(x_socket(AF_UNIX, 15, 0), EINVAL);
    EXPECT_ERRNO(x_socket(AF_UNIX, -1, 0), EINVAL);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_STREAM | 0x10, 0), EINVAL);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_STREAM | 0x40000000, 0), EINVAL);
    EXPECT_ERRNO(x_socketpair(AF_UNIX, 11, 0, (int[2]){-1, -1}), EINVAL);
    EXPECT_ERRNO(x_socketpair(AF_UNIX, SOCK_RDM, 0, (int[2]){-1, -1}), ESOCKTNOSUPPORT);
}

TEST(socket_unknown_domain_is_eafnosupport) {
    EXPECT_ERRNO(x_socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
    EXPECT_ERRNO(x_socket(-1, SOCK_STREAM, 0), EAFNOSUPPORT);
    EXPECT_ERRNO(x_socket(AF_MAX, SOCK_STREAM, 0), EAFNOSUPPORT);
}

TEST(socket_bad_protocol_is_eprotonosupport) {
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_STREAM, 2), EPROTONOSUPPORT);
    EXPECT_ERRNO(x_socket(AF_UNIX, SOCK_DGRAM, 17), EPROTONOSUPPORT);
    EXPECT_ERRNO(x_socketpair(AF_UNIX, SOCK_STREAM, 2, (int[2]){-1, -1}), EPROTONOSUPPORT);
}

TEST(socket_cloexec_and_nonblock_flags_are_honoured) {
    int a = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(fd_flags(a), 0);
    EXPECT_EQ(fl_flags(a) & O_NONBLOCK, 0);
    EXPECT_EQ(fl_flags(a) & O_ACCMODE, O_RDWR);
    int b = OK(x_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(fd_flags(b), FD_CLOEXEC);
    EXPECT_EQ(fl_flags(b) & O_NONBLOCK, 0);
    int c = OK(x_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0));
    EXPECT_EQ(fd_flags(c), 0);
    EXPECT_EQ(fl_flags(c) & O_NONBLOCK, O_NONBLOCK);
    int d = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    EXPECT_EQ(fd_flags(d), FD_CLOEXEC);
    EXPECT_EQ(fl_flags(d) & O_NONBLOCK, O_NONBLOCK);
    EXPECT_EQ(sockopt_int(d, SOL_SOCKET, SO_TYPE), SOCK_STREAM); /* flags are not part of the type */
}

TEST(socket_fstat_is_ifsock_and_proc_link_names_the_inode) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    struct stat st;
    OK(fstat(s, &st));
    CHECK(S_ISSOCK(st.st_mode), "st_mode %o is not S_IFSOCK", (unsigned)st.st_mode);
    EXPECT_EQ(st.st_size, 0);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    struct stat s0, s1;
    OK(fstat(sv[0], &s0));
    OK(fstat(sv[1], &s1));
    CHECK(S_ISSOCK(s0.st_mode) && S_ISSOCK(s1.st_mode), "socketpair ends are not S_IFSOCK");
    CHECK(s0.st_ino != s1.st_ino && s0.st_ino != st.st_ino, "sockets share an inode number");
    char name[64], link[64], want[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", s);
    long n = OK(readlink(name, link, sizeof link - 1));
    link[n] = 0;
    snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)st.st_ino);
    CHECK(!strcmp(link, want), "readlink gave \"%s\", expected \"%s\"", link, want);
}

/* ---- socketpair() ----------------------------------------------------- */

TEST(socketpair_stream_bytes_flow_both_ways) {
    int sv[2];
    EXPECT_EQ(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK(sv[0] == 3 && sv[1] == 4, "got fds %d %d, expected the lowest free (3, 4)", sv[0], sv[1]);
    char b[16];
    EXPECT_EQ(x_send(sv[0], "hello", 5, 0), 5);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 5);
    CHECK(!memcmp(b, "hello", 5), "wrong data");
    EXPECT_EQ(x_send(sv[1], "back", 4, 0), 4);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 4);
    CHECK(!memcmp(b, "back", 4), "wrong data");
    /* plain read/write work too */
    EXPECT_EQ(x_write(sv[0], "rw", 2), 2);
    EXPECT_EQ(x_read(sv[1], b, sizeof b), 2);
    CHECK(!memcmp(b, "rw", 2), "wrong data");
    EXPECT_EQ(x_write(sv[1], "wr!", 3), 3);
    EXPECT_EQ(x_read(sv[0], b, sizeof b), 3);
    CHECK(!memcmp(b, "wr!", 3), "wrong data");
    /* a STREAM merges writes: two sends, one recv */
    OK(x_send(sv[0], "ab", 2, 0));
    OK(x_send(sv[0], "cd", 2, 0));
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 4);
    CHECK(!memcmp(b, "abcd", 4), "wrong data");
    /* and a short buffer leaves the rest queued */
    OK(x_send(sv[0], "12345", 5, 0));
    EXPECT_EQ(x_recv(sv[1], b, 2, 0), 2);
    EXPECT_EQ(x_recv(sv[1], b + 2, sizeof b, 0), 3);
    CHECK(!memcmp(b, "12345", 5), "wrong data");
}

TEST(socketpair_flags_cloexec_and_nonblock) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv));
    for (int i = 0; i < 2; i++) {
        EXPECT_EQ(fd_flags(sv[i]), FD_CLOEXEC);
        EXPECT_EQ(fl_flags(sv[i]) & O_NONBLOCK, O_NONBLOCK);
    }
    char b;
    EXPECT_ERRNO(x_recv(sv[0], &b, 1, 0), EAGAIN);
    int t[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, t));
    EXPECT_EQ(fd_flags(t[0]), 0);
    EXPECT_EQ(fl_flags(t[1]) & O_NONBLOCK, 0);
}

TEST(socketpair_stream_peer_close_gives_eof_then_epipe_and_sigpipe) {
    on(SIGPIPE, h_sigpipe);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[1], "xy", 2, 0));
    OK(close(sv[1]));
    char b[8];
    /* queued data is still delivered, then EOF, repeatedly */
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 2);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_EQ(x_read(sv[0], b, sizeof b), 0);
    EXPECT_EQ(sigpipe_count, 0);
    EXPECT_ERRNO(x_send(sv[0], "z", 1, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    EXPECT_ERRNO(x_write(sv[0], "z", 1), EPIPE);
    EXPECT_EQ(sigpipe_count, 2);
    /* SIGPIPE with the default action kills the writer */
    int s2[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, s2));
    OK(close(s2[1]));
    on(SIGPIPE, SIG_DFL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        x_write(s2[0], "z", 1);
        _exit(0);
    }
    OK(pid);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "writer %s, expected killed by SIGPIPE",
          kt_status(st));
}

TEST(msg_nosignal_suppresses_sigpipe_and_only_stream_raises_it) {
    on(SIGPIPE, h_sigpipe);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(close(sv[1]));
    EXPECT_ERRNO(x_send(sv[0], "z", 1, MSG_NOSIGNAL), EPIPE);
    struct iovec iov = {"z", 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_ERRNO(x_sendmsg(sv[0], &m, MSG_NOSIGNAL), EPIPE);
    EXPECT_EQ(sigpipe_count, 0);
    EXPECT_ERRNO(x_sendmsg(sv[0], &m, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    /* SEQPACKET and DGRAM sends go through the datagram path, which
     * returns EPIPE but never raises SIGPIPE */
    OK(x_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    OK(close(sv[1]));
    EXPECT_ERRNO(x_send(sv[0], "z", 1, MSG_NOSIGNAL), EPIPE);
    EXPECT_ERRNO(x_send(sv[0], "z", 1, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    OK(x_shutdown(g[0], SHUT_WR));
    EXPECT_ERRNO(x_send(g[0], "z", 1, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 1);
    /* STREAM after shutdown(SHUT_WR) does raise it */
    int t[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, t));
    OK(x_shutdown(t[0], SHUT_WR));
    EXPECT_ERRNO(x_send(t[0], "z", 1, 0), EPIPE);
    EXPECT_EQ(sigpipe_count, 2);
}

/* Linux: closing a STREAM socket with unread data in its receive queue sets
 * ECONNRESET on the peer. The peer's next recv reports it once, then EOF. */
TEST(close_with_unread_data_gives_peer_econnreset) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[0], "unread", 6, 0));
    OK(close(sv[1]));
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP),
              POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP);
    char b[8];
    EXPECT_ERRNO(x_recv(sv[0], b, sizeof b, 0), ECONNRESET);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
    EXPECT_ERRNO(x_send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    /* SO_ERROR reads and clears the pending error */
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[0], "unread", 6, 0));
    OK(close(sv[1]));
    EXPECT_EQ(sockopt_int(sv[0], SOL_SOCKET, SO_ERROR), ECONNRESET);
    EXPECT_EQ(sockopt_int(sv[0], SOL_SOCKET, SO_ERROR), 0);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
}

TEST(socketpair_dgram_keeps_message_boundaries) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    EXPECT_EQ(x_send(sv[0], "first", 5, 0), 5);
    EXPECT_EQ(x_send(sv[0], "second!", 7, 0), 7);
    EXPECT_EQ(x_write(sv[0], "3", 1), 1);
    char b[32];
    memset(b, 0, sizeof b);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 5);
    CHECK(!memcmp(b, "first", 5), "wrong data");
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 7);
    CHECK(!memcmp(b, "second!", 7), "wrong data");
    EXPECT_EQ(x_read(sv[1], b, sizeof b), 1);
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    /* the other direction works too */
    EXPECT_EQ(x_send(sv[1], "r", 1, 0), 1);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 1);
}

TEST(socketpair_dgram_short_buffer_truncates) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    char b[16];
    /* plain recv: returns the buffer size, the rest of the datagram is lost */
    OK(x_send(sv[0], "0123456789", 10, 0));
    OK(x_send(sv[0], "next", 4, 0));
    EXPECT_EQ(x_recv(sv[1], b, 4, 0), 4);
    CHECK(!memcmp(b, "0123", 4), "wrong data");
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 4);
    CHECK(!memcmp(b, "next", 4), "the truncated rest was not discarded");
    /* recvmsg sets MSG_TRUNC in msg_flags */
    OK(x_send(sv[0], "0123456789", 10, 0));
    struct iovec iov = {b, 3};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(x_recvmsg(sv[1], &m, 0), 3);
    CHECK(m.msg_flags & MSG_TRUNC, "msg_flags 0x%x lacks MSG_TRUNC", m.msg_flags);
    /* a datagram that fits: no MSG_TRUNC */
    OK(x_send(sv[0], "ab", 2, 0));
    iov.iov_len = sizeof b;
    m.msg_flags = -1;
    EXPECT_EQ(x_recvmsg(sv[1], &m, 0), 2);
    EXPECT_EQ(m.msg_flags, 0);
    /* with MSG_TRUNC in the flags recv returns the real length */
    OK(x_send(sv[0], "0123456789", 10, 0));
    EXPECT_EQ(x_recv(sv[1], b, 4, MSG_TRUNC), 10);
    CHECK(!memcmp(b, "0123", 4), "wrong data");
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    /* MSG_TRUNC|MSG_PEEK gives the size of the next datagram and keeps it */
    OK(x_send(sv[0], "0123456789", 10, 0));
    EXPECT_EQ(x_recv(sv[1], NULL, 0, MSG_TRUNC | MSG_PEEK), 10);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 10);
}

TEST(socketpair_dgram_zero_length_message) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    EXPECT_EQ(poll1(sv[1], POLLIN), 0);
    EXPECT_EQ(x_send(sv[0], "", 0, 0), 0);
    EXPECT_EQ(poll1(sv[1], POLLIN), POLLIN);
    char b[4];
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), 0); /* a message, not EOF */
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
}

TEST(dgram_send_after_peer_close_is_econnrefused_then_enotconn) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    OK(close(sv[1]));
    /* no EOF and no HUP for datagrams: just writable */
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLOUT);
    char b[4];
    EXPECT_ERRNO(x_recv(sv[0], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    EXPECT_ERRNO(x_send(sv[0], "x", 1, 0), ECONNREFUSED);
    EXPECT_ERRNO(x_send(sv[0], "x", 1, 0), ENOTCONN);
    socklen_t l = sizeof(struct sockaddr_un);
    struct sockaddr_un a;
    EXPECT_ERRNO(x_getpeername(sv[0], &a, &l), ENOTCONN);
}

TEST(dgram_bigger_than_send_buffer_is_emsgsize) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int sndbuf = sockopt_int(sv[0], SOL_SOCKET, SO_SNDBUF);
    CHECK(sndbuf > 0, "SO_SNDBUF %d", sndbuf);
    size_t big = (size_t)sndbuf + 4096;
    char *p = malloc(big);
    CHECK(p, "malloc");
    memset(p, 'q', big);
    errno = 0;
    long r = x_send(sv[0], p, big, MSG_DONTWAIT);
    int e = errno;
    free(p);
    CHECK(r == -1 && e == EMSGSIZE, "send of %zu bytes: %ld %s, expected EMSGSIZE", big, r,
          kt_errstr(e));
    /* a moderately large one goes through whole */
    static char mid[16384];
    static char got[16384 + 1];
    memset(mid, 'm', sizeof mid);
    EXPECT_EQ(x_send(sv[0], mid, sizeof mid, 0), (long)sizeof mid);
    EXPECT_EQ(x_recv(sv[1], got, sizeof got, 0), (long)sizeof mid);
}

TEST(socketpair_seqpacket_keeps_boundaries_and_reports_eof) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    EXPECT_EQ(sockopt_int(sv[0], SOL_SOCKET, SO_TYPE), SOCK_SEQPACKET);
    OK(x_send(sv[0], "one", 3, 0));
    OK(x_send(sv[0], "three", 5, 0));
    OK(x_send(sv[0], "0123456789", 10, 0));
    char b[16];
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 3);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 5);
    CHECK(!memcmp(b, "three", 5), "wrong data");
    /* short buffer: truncated, rest discarded, MSG_TRUNC reported */
    struct iovec iov = {b, 4};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(x_recvmsg(sv[1], &m, 0), 4);
    CHECK(m.msg_flags & MSG_TRUNC, "msg_flags 0x%x lacks MSG_TRUNC", m.msg_flags);
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    /* back the other way, then EOF after close */
    OK(x_send(sv[1], "r", 1, 0));
    OK(close(sv[1]));
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 1);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
    EXPECT_ERRNO(x_send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
}

/* Note: Linux stores the two reserved fd numbers into sv before it creates
 * the sockets, so sv is overwritten even when the call fails. Not asserted;
 * only that no fd stays open. */
TEST(socketpair_af_inet_is_eopnotsupp) {
    int sv[2] = {-1, -1};
    EXPECT_ERRNO(x_socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    EXPECT_ERRNO(x_socketpair(AF_INET, SOCK_DGRAM, 0, sv), EOPNOTSUPP);
    EXPECT_ERRNO(x_socketpair(12345, SOCK_STREAM, 0, sv), EAFNOSUPPORT);
    int fd = OK(dup(0));
    EXPECT_EQ(fd, 3);
    EXPECT_EQ(is_open(4), 0);
}

TEST(socketpair_bad_sv_pointer_is_efault_without_leaking_fds) {
    EXPECT_ERRNO(x_socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)1), EFAULT);
    EXPECT_ERRNO(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, NULL), EFAULT);
    /* the two fds it made were released */
    int fd = OK(dup(0));
    EXPECT_EQ(fd, 3);
    EXPECT_EQ(is_open(4), 0);
}

/* ---- non-blocking and poll -------------------------------------------- */

TEST(recv_on_empty_socket_nonblocking_is_eagain) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    char b[4];
    EXPECT_ERRNO(x_recv(sv[0], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    OK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(x_recv(sv[0], b, sizeof b, 0), EAGAIN);
    EXPECT_ERRNO(x_read(sv[0], b, sizeof b), EAGAIN);
    struct iovec iov = {b, sizeof b};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_ERRNO(x_recvmsg(sv[0], &m, 0), EAGAIN);
    int d[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, d));
    EXPECT_ERRNO(x_recv(d[0], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    int q[2];
    OK(x_socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, q));
    EXPECT_ERRNO(x_recv(q[0], b, sizeof b, 0), EAGAIN);
    /* data present: MSG_DONTWAIT just reads it */
    OK(x_send(sv[1], "d", 1, 0));
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, MSG_DONTWAIT), 1);
}

TEST(stream_fills_up_then_eagain_and_drains) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    static char chunk[4096];
    memset(chunk, 'f', sizeof chunk);
    long total = 0, r;
    int loops = 0;
    EXPECT_EQ(poll1(sv[0], POLLOUT), POLLOUT);
    for (;;) {
        errno = 0;
        r = x_send(sv[0], chunk, sizeof chunk, 0);
        if (r < 0)
            break;
        total += r;
        CHECK(++loops < 100000, "wrote %ld bytes without EAGAIN", total);
    }
    CHECK(errno == EAGAIN, "send failed with %s, expected EAGAIN", kt_errstr(errno));
    CHECK(total > 0, "nothing could be written");
    EXPECT_ERRNO(x_send(sv[0], chunk, 1, 0), EAGAIN);
    EXPECT_ERRNO(x_write(sv[0], chunk, 1), EAGAIN);
    EXPECT_EQ(poll1(sv[0], POLLOUT), 0);
    EXPECT_EQ(poll1(sv[1], POLLIN | POLLOUT), POLLIN | POLLOUT);
    /* drain everything */
    static char buf[65536];
    long got = 0;
    for (;;) {
        r = x_recv(sv[1], buf, sizeof buf, 0);
        if (r <= 0)
            break;
        got += r;
    }
    CHECK(r == -1 && errno == EAGAIN, "drain ended with %ld %s", r, kt_errstr(errno));
    EXPECT_EQ(got, total);
    EXPECT_EQ(poll1(sv[0], POLLOUT), POLLOUT);
    EXPECT_EQ(x_send(sv[0], chunk, sizeof chunk, 0), (long)sizeof chunk);
}

TEST(poll_reports_pollin_and_pollout) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLOUT);
    EXPECT_EQ(poll1(sv[0], POLLIN), 0);
    OK(x_send(sv[1], "x", 1, 0));
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT);
    char b;
    OK(x_recv(sv[0], &b, 1, 0));
    EXPECT_EQ(poll1(sv[0], POLLIN), 0);
    /* poll blocks until data arrives from a thread */
    struct writer w = {.fd = sv[1], .delay_ms = 30, .parts = {"late"}};
    OK(writer_start(&w));
    struct pollfd p = {sv[0], POLLIN, 0};
    long r = syscall(SYS_poll, &p, 1, 5000);
    int e = errno;
    pthread_join(w.pt, NULL);
    CHECK(r == 1 && p.revents == POLLIN, "poll gave %ld %s revents 0x%x%s", r, kt_errstr(e),
          p.revents, wd());
}

TEST(poll_after_peer_shutdown_and_close) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_shutdown(sv[1], SHUT_WR));
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT | POLLRDHUP);
    EXPECT_EQ(poll1(sv[0], POLLOUT), POLLOUT); /* RDHUP only when asked for */
    /* the side that shut down writing is not itself hung up */
    EXPECT_EQ(poll1(sv[1], POLLIN | POLLOUT | POLLRDHUP), POLLOUT);
    OK(close(sv[1]));
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLOUT | POLLRDHUP), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
    /* POLLHUP is reported even when not requested */
    EXPECT_EQ(poll1(sv[0], 0), POLLHUP);
}

TEST(poll_unconnected_and_listening_stream_sockets) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    /* an unconnected STREAM socket is "hung up" (and writable) */
    EXPECT_EQ(poll1(s, POLLIN | POLLOUT | POLLRDHUP), POLLOUT | POLLHUP);
    int l = listener_at(kt_path(d, "l"), SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    EXPECT_EQ(poll1(l, POLLIN | POLLOUT | POLLRDHUP), 0);
    int c = connect_to(kt_path(d, "l"), SOCK_STREAM);
    CHECK(c >= 0, "connect: %s", kt_errstr(errno));
    EXPECT_EQ(poll1(l, POLLIN | POLLOUT | POLLRDHUP), POLLIN);
    /* an unconnected DGRAM socket is just writable */
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(poll1(g, POLLIN | POLLOUT | POLLRDHUP), POLLOUT);
}

/* ---- shutdown() ------------------------------------------------------- */

TEST(shutdown_wr_peer_reads_eof_but_can_still_send_back) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[0], "bye", 3, 0));
    EXPECT_EQ(x_shutdown(sv[0], SHUT_WR), 0);
    char b[8];
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 3);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 0);
    EXPECT_EQ(x_read(sv[1], b, sizeof b), 0);
    /* the peer can still talk back */
    EXPECT_EQ(x_send(sv[1], "still", 5, 0), 5);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 5);
    CHECK(!memcmp(b, "still", 5), "wrong data");
    /* but the shut-down side cannot write any more */
    EXPECT_ERRNO(x_send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    /* shutting down twice is fine */
    EXPECT_EQ(x_shutdown(sv[0], SHUT_WR), 0);
    /* SHUT_RDWR after SHUT_WR: both directions end */
    EXPECT_EQ(x_shutdown(sv[0], SHUT_RDWR), 0);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_ERRNO(x_send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
}

/* On unix sockets, shutdown(SHUT_RD) on one end is also SHUT_WR for the
 * peer: the peer's writes fail with EPIPE. */
TEST(shutdown_rd_gives_eof_and_peer_write_is_epipe) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[1], "queued", 6, 0));
    EXPECT_EQ(x_shutdown(sv[0], SHUT_RD), 0);
    char b[8];
    /* data queued before the shutdown is still delivered, then EOF */
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 6);
    EXPECT_EQ(x_recv(sv[0], b, sizeof b, 0), 0);
    EXPECT_EQ(poll1(sv[0], POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
    EXPECT_ERRNO(x_send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
    /* sv[0] can still write */
    EXPECT_EQ(x_send(sv[0], "w", 1, 0), 1);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 1);
}

TEST(shutdown_bad_how_is_einval) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_ERRNO(x_shutdown(sv[0], 3), EINVAL);
    EXPECT_ERRNO(x_shutdown(sv[0], -1), EINVAL);
    EXPECT_ERRNO(x_shutdown(sv[0], 100), EINVAL);
    /* nothing was shut down */
    EXPECT_EQ(x_send(sv[0], "x", 1, 0), 1);
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(x_shutdown(fd, SHUT_RD), ENOTSOCK);
    EXPECT_ERRNO(x_shutdown(99, SHUT_RD), EBADF);
}

/* Unlike TCP (ENOTCONN), an unconnected unix socket accepts shutdown. */
TEST(shutdown_unconnected_socket_succeeds) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_shutdown(s, SHUT_WR), 0);
    EXPECT_EQ(x_shutdown(s, SHUT_RDWR), 0);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_shutdown(g, SHUT_RD), 0);
}

/* ---- bind() and names in the filesystem ------------------------------- */

TEST(bind_creates_socket_file_with_umask_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    umask(022);
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    socklen_t l = mkaddr(&a, kt_path(d, "s1"));
    EXPECT_EQ(x_bind(s, &a, l), 0);
    struct stat st;
    OK(lstat(kt_path(d, "s1"), &st));
    CHECK(S_ISSOCK(st.st_mode), "st_mode %o is not S_IFSOCK", (unsigned)st.st_mode);
    EXPECT_EQ(st.st_mode & 07777, 0755);
    EXPECT_EQ(st.st_size, 0);
    umask(077);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    l = mkaddr(&a, kt_path(d, "s2"));
    OK(x_bind(g, &a, l));
    OK(lstat(kt_path(d, "s2"), &st));
    CHECK(S_ISSOCK(st.st_mode), "st_mode %o is not S_IFSOCK", (unsigned)st.st_mode);
    EXPECT_EQ(st.st_mode & 07777, 0700);
    /* the bound name is what getsockname reports: the path plus its NUL */
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    memset(&got, 0x55, sizeof got);
    OK(x_getsockname(g, &got, &gl));
    EXPECT_EQ(gl, l);
    EXPECT_EQ(got.sun_family, AF_UNIX);
    CHECK(!strcmp(got.sun_path, kt_path(d, "s2")), "getsockname gave \"%s\"", got.sun_path);
    /* a relative path is resolved against the cwd */
    OK(chdir(d));
    int r = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    l = mkaddr(&a, "rel");
    OK(x_bind(r, &a, l));
    OK(lstat(kt_path(d, "rel"), &st));
    CHECK(S_ISSOCK(st.st_mode), "relative bind did not create %s/rel", d);
}

TEST(bind_same_path_twice_is_eaddrinuse) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "s"));
    int s1 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int s2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int s3 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(s1, &a, l));
    EXPECT_ERRNO(x_bind(s2, &a, l), EADDRINUSE);
    EXPECT_ERRNO(x_bind(s3, &a, l), EADDRINUSE);
    /* any existing file is in the way, not only sockets */
    OK(kt_write_file(kt_path(d, "file"), "x", 1));
    l = mkaddr(&a, kt_path(d, "file"));
    EXPECT_ERRNO(x_bind(s2, &a, l), EADDRINUSE);
    l = mkaddr(&a, d);
    EXPECT_ERRNO(x_bind(s2, &a, l), EADDRINUSE);
    /* the failed binds left s2 unbound: it can still bind elsewhere */
    l = mkaddr(&a, kt_path(d, "other"));
    EXPECT_EQ(x_bind(s2, &a, l), 0);
}

TEST(bind_already_bound_socket_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    socklen_t l = mkaddr(&a, kt_path(d, "one"));
    OK(x_bind(s, &a, l));
    l = mkaddr(&a, kt_path(d, "two"));
    EXPECT_ERRNO(x_bind(s, &a, l), EINVAL);
    /* Linux made the file first and removed it again */
    EXPECT_ERRNO(access(kt_path(d, "two"), F_OK), ENOENT);
    l = mkabstract(&a, "rebind");
    EXPECT_ERRNO(x_bind(s, &a, l), EINVAL);
    /* its own path again: the file exists, and that is checked first */
    l = mkaddr(&a, kt_path(d, "one"));
    EXPECT_ERRNO(x_bind(s, &a, l), EADDRINUSE);
    /* a socketpair end has no name, but can bind once */
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    l = mkaddr(&a, kt_path(d, "pair"));
    EXPECT_EQ(x_bind(sv[0], &a, l), 0);
    l = mkaddr(&a, kt_path(d, "pair2"));
    EXPECT_ERRNO(x_bind(sv[0], &a, l), EINVAL);
    /* and an abstract-bound socket cannot bind a path either */
    int ab = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    l = mkabstract(&a, "then-path");
    OK(x_bind(ab, &a, l));
    l = mkaddr(&a, kt_path(d, "three"));
    EXPECT_ERRNO(x_bind(ab, &a, l), EINVAL);
    EXPECT_ERRNO(access(kt_path(d, "three"), F_OK), ENOENT);
}

TEST(bind_path_too_long_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    /* addrlen > sizeof(struct sockaddr_un) */
    char buf[sizeof(struct sockaddr_un) + 16];
    memset(buf, 0, sizeof buf);
    ((struct sockaddr_un *)buf)->sun_family = AF_UNIX;
    memset(buf + SUN_OFF, 'a', sizeof buf - SUN_OFF - 1);
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_bind(s, buf, sizeof(struct sockaddr_un) + 1), EINVAL);
    EXPECT_ERRNO(x_connect(s, buf, sizeof(struct sockaddr_un) + 1), EINVAL);
    /* addrlen too short to hold even the family */
    EXPECT_ERRNO(x_bind(s, buf, 1), EINVAL);
    EXPECT_ERRNO(x_bind(s, buf, 0), EINVAL);
    EXPECT_ERRNO(x_connect(s, buf, 2), EINVAL);
    /* The whole 108-byte sun_path with no NUL is accepted (Linux adds the
     * NUL itself). Make a path of exactly 108 bytes inside d. */
    char path[sizeof(struct sockaddr_un)];
    size_t dl = strlen(d);
    CHECK(dl + 2 < 108, "tmpdir path too long");
    memcpy(path, d, dl);
    path[dl] = '/';
    memset(path + dl + 1, 'p', 108 - dl - 1);
    path[108] = 0;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, 108);
    EXPECT_EQ(x_bind(s, &a, sizeof a), 0);
    struct stat st;
    OK(lstat(path, &st));
    CHECK(S_ISSOCK(st.st_mode), "the 108-byte path is not a socket");
    /* getsockname counts the NUL Linux added: 2 + 108 + 1 = 111 bytes, one
     * more than sizeof(struct sockaddr_un) */
    char got[sizeof(struct sockaddr_un) + 8];
    socklen_t gl = sizeof got;
    memset(got, 0x55, sizeof got);
    OK(x_getsockname(s, got, &gl));
    EXPECT_EQ(gl, sizeof(struct sockaddr_un) + 1);
    CHECK(!memcmp(got + SUN_OFF, path, 108), "getsockname gave another path");
    EXPECT_EQ(got[SUN_OFF + 108], 0);
    /* it can be connected to with the same 110-byte address */
    OK(x_listen(s, 1));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_connect(c, &a, sizeof a), 0);
}

TEST(bind_in_missing_directory_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    socklen_t l = mkaddr(&a, kt_path(d, "nodir/s"));
    EXPECT_ERRNO(x_bind(s, &a, l), ENOENT);
    OK(kt_write_file(kt_path(d, "f"), "x", 1));
    l = mkaddr(&a, kt_path(d, "f/s"));
    EXPECT_ERRNO(x_bind(s, &a, l), ENOTDIR);
    /* a path through a dangling symlink */
    OK(symlink(kt_path(d, "gone"), kt_path(d, "dangling")));
    l = mkaddr(&a, kt_path(d, "dangling/s"));
    EXPECT_ERRNO(x_bind(s, &a, l), ENOENT);
    /* still unbound after the failures */
    l = mkaddr(&a, kt_path(d, "ok"));
    EXPECT_EQ(x_bind(s, &a, l), 0);
}

TEST(bind_wrong_family_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "s"));
    a.sun_family = AF_INET;
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_bind(s, &a, l), EINVAL);
    EXPECT_ERRNO(access(kt_path(d, "s"), F_OK), ENOENT);
    EXPECT_ERRNO(x_bind(s, (void *)1, l), EFAULT);
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    a.sun_family = AF_UNIX;
    EXPECT_ERRNO(x_bind(fd, &a, l), ENOTSOCK);
}

TEST(bind_family_only_autobinds_abstract_name) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_bind(s, &a, sizeof(sa_family_t)), 0);
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    memset(&got, 0x55, sizeof got);
    OK(x_getsockname(s, &got, &gl));
    /* "\0" + 5 hex digits */
    EXPECT_EQ(gl, SUN_OFF + 6);
    EXPECT_EQ(got.sun_family, AF_UNIX);
    EXPECT_EQ(got.sun_path[0], 0);
    for (int i = 1; i < 6; i++) {
        char ch = got.sun_path[i];
        CHECK((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'),
              "autobind name byte %d is 0x%02x, expected a lowercase hex digit", i,
              (unsigned char)ch);
    }
    /* the autobound name is a real address: another socket can send to it */
    int c = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_sendto(c, "hi", 2, 0, &got, gl), 2);
    char b[4];
    EXPECT_EQ(x_recv(s, b, sizeof b, MSG_DONTWAIT), 2);
    /* a second autobind gets a different name */
    int s2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(s2, &a, sizeof(sa_family_t)));
    struct sockaddr_un got2;
    socklen_t gl2 = sizeof got2;
    OK(x_getsockname(s2, &got2, &gl2));
    EXPECT_EQ(gl2, SUN_OFF + 6);
    CHECK(memcmp(got.sun_path, got2.sun_path, 6) != 0, "two autobinds gave the same name");
    /* autobind on a socket that already has a name is a no-op that succeeds */
    EXPECT_EQ(x_bind(s2, &a, sizeof(sa_family_t)), 0);
    struct sockaddr_un got3;
    socklen_t gl3 = sizeof got3;
    OK(x_getsockname(s2, &got3, &gl3));
    EXPECT_EQ(gl3, gl2);
    CHECK(!memcmp(got2.sun_path, got3.sun_path, 6), "the name changed");
    /* but a real name on an autobound socket is EINVAL */
    struct sockaddr_un ab;
    socklen_t abl = mkabstract(&ab, "after-autobind");
    EXPECT_ERRNO(x_bind(s2, &ab, abl), EINVAL);
}

/* A socket with SO_PASSCRED is autobound when it connects or sends. */
TEST(so_passcred_autobinds_on_connect) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int l = listener_at(kt_path(d, "l"), SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int one = 1;
    OK(x_setsockopt(c, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "l"));
    OK(x_connect(c, &a, al));
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    OK(x_getsockname(c, &got, &gl));
    EXPECT_EQ(gl, SUN_OFF + 6);
    EXPECT_EQ(got.sun_path[0], 0);
    int s = OK(x_accept(l, NULL, NULL));
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    OK(x_getpeername(s, &peer, &pl));
    EXPECT_EQ(pl, gl);
    CHECK(!memcmp(peer.sun_path, got.sun_path, 6), "peer name differs from the autobound name");
}

TEST(listen_on_unbound_stream_socket_is_einval) {
    /* no autobind on listen: Linux refuses */
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_listen(s, 5), EINVAL);
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    OK(x_getsockname(s, &got, &gl));
    EXPECT_EQ(gl, sizeof(sa_family_t));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 0);
    int q = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    EXPECT_ERRNO(x_listen(q, 5), EINVAL);
    /* after an autobind it can listen */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    OK(x_bind(s, &a, sizeof(sa_family_t)));
    EXPECT_EQ(x_listen(s, 5), 0);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 1);
    /* listening twice is fine (it only updates the backlog) */
    EXPECT_EQ(x_listen(s, 10), 0);
}

TEST(listen_on_dgram_is_eopnotsupp) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_listen(g, 5), EOPNOTSUPP);
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "g"));
    OK(x_bind(g, &a, l));
    EXPECT_ERRNO(x_listen(g, 5), EOPNOTSUPP);
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(x_listen(fd, 5), ENOTSOCK);
    EXPECT_ERRNO(x_listen(99, 5), EBADF);
}

TEST(connect_to_missing_path_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "nothing"));
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(s, &a, l), ENOENT);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_connect(g, &a, l), ENOENT);
    l = mkaddr(&a, kt_path(d, "nodir/x"));
    EXPECT_ERRNO(x_connect(s, &a, l), ENOENT);
    /* an abstract name nobody bound */
    l = mkabstract(&a, "nobody");
    EXPECT_ERRNO(x_connect(s, &a, l), ECONNREFUSED);
    EXPECT_ERRNO(x_connect(g, &a, l), ECONNREFUSED);
}

TEST(connect_to_regular_file_is_econnrefused) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "file"), "x", 1));
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "file"));
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(s, &a, l), ECONNREFUSED);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_connect(g, &a, l), ECONNREFUSED);
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, l), ECONNREFUSED);
    l = mkaddr(&a, d); /* a directory too */
    EXPECT_ERRNO(x_connect(s, &a, l), ECONNREFUSED);
}

TEST(connect_to_socket_not_listening_is_econnrefused) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t l = mkaddr(&a, kt_path(d, "bound"));
    int srv = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(srv, &a, l));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(c, &a, l), ECONNREFUSED);
    /* the failed connect leaves c usable: listen and connect again */
    OK(x_listen(srv, 1));
    EXPECT_EQ(x_connect(c, &a, l), 0);
}

TEST(connect_type_mismatch_is_eprototype) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t gl = mkaddr(&a, kt_path(d, "dgram"));
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(g, &a, gl));
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(s, &a, gl), EPROTOTYPE);
    int l = listener_at(kt_path(d, "stream"), SOCK_STREAM, 2);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    struct sockaddr_un b;
    socklen_t bl = mkaddr(&b, kt_path(d, "stream"));
    int q = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    EXPECT_ERRNO(x_connect(q, &b, bl), EPROTOTYPE);
    int g2 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_connect(g2, &b, bl), EPROTOTYPE);
    EXPECT_ERRNO(x_sendto(g2, "x", 1, 0, &b, bl), EPROTOTYPE);
}

TEST(stream_connect_accept_addresses) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *path = kt_path(d, "srv");
    int l = listener_at(path, SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    EXPECT_EQ(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
    struct sockaddr_un sa;
    socklen_t sl = mkaddr(&sa, path);
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_connect(c, &sa, sl), 0);
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    memset(&peer, 0x55, sizeof peer);
    int s = OK(x_accept(l, &peer, &pl));
    /* the client is unnamed: only the family */
    EXPECT_EQ(pl, sizeof(sa_family_t));
    EXPECT_EQ(peer.sun_family, AF_UNIX);
    /* the accepted socket: its name is the server path, its peer unnamed */
    struct sockaddr_un n;
    socklen_t nl = sizeof n;
    OK(x_getsockname(s, &n, &nl));
    EXPECT_EQ(nl, sl);
    CHECK(!strcmp(n.sun_path, path), "accepted getsockname \"%s\"", n.sun_path);
    nl = sizeof n;
    OK(x_getpeername(s, &n, &nl));
    EXPECT_EQ(nl, sizeof(sa_family_t));
    /* the client: unnamed itself, its peer is the server path */
    nl = sizeof n;
    OK(x_getsockname(c, &n, &nl));
    EXPECT_EQ(nl, sizeof(sa_family_t));
    nl = sizeof n;
    memset(&n, 0, sizeof n);
    OK(x_getpeername(c, &n, &nl));
    EXPECT_EQ(nl, sl);
    CHECK(!strcmp(n.sun_path, path), "client getpeername \"%s\"", n.sun_path);
    /* a short addrlen truncates but reports the full length */
    char small[4];
    nl = sizeof small;
    memset(small, 0x55, sizeof small);
    OK(x_getpeername(c, small, &nl));
    EXPECT_EQ(nl, sl);
    CHECK(small[2] == path[0] && small[3] == path[1], "truncated name is wrong");
    /* the accepted socket is a fresh STREAM socket, not listening, blocking */
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 0);
    EXPECT_EQ(fd_flags(s), 0);
    EXPECT_EQ(fl_flags(s) & O_NONBLOCK, 0);
    /* and data flows */
    char b[8];
    OK(x_send(c, "ping", 4, 0));
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 4);
    OK(x_send(s, "pong", 4, 0));
    EXPECT_EQ(x_recv(c, b, sizeof b, 0), 4);
    CHECK(!memcmp(b, "pong", 4), "wrong data");
    /* a named client shows up with its name */
    int c2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un ca;
    socklen_t cal = mkaddr(&ca, kt_path(d, "cli"));
    OK(x_bind(c2, &ca, cal));
    OK(x_connect(c2, &sa, sl));
    pl = sizeof peer;
    int s2 = OK(x_accept(l, &peer, &pl));
    EXPECT_EQ(pl, cal);
    CHECK(!strcmp(peer.sun_path, ca.sun_path), "accept gave peer \"%s\"", peer.sun_path);
    (void)s2;
}

TEST(connect_twice_is_eisconn) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int l = listener_at(kt_path(d, "s"), SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "s"));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_connect(c, &a, al));
    EXPECT_ERRNO(x_connect(c, &a, al), EISCONN);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_ERRNO(x_connect(sv[0], &a, al), EISCONN);
    /* a listening socket cannot connect */
    EXPECT_ERRNO(x_connect(l, &a, al), EINVAL);
    /* sendto with an address on a connected STREAM socket */
    EXPECT_ERRNO(x_sendto(c, "x", 1, 0, &a, al), EISCONN);
}

/* A unix STREAM connect completes at once, even non-blocking; once the
 * backlog is full a non-blocking connect is EAGAIN (not EINPROGRESS).
 * Linux lets backlog + 1 connections wait: with backlog 0, one. */
TEST(nonblocking_connect_completes_immediately_and_full_backlog_is_eagain) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int l = listener_at(kt_path(d, "s"), SOCK_STREAM, 0);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "s"));
    int c1 = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    EXPECT_EQ(x_connect(c1, &a, al), 0);
    EXPECT_EQ(x_send(c1, "early", 5, 0), 5); /* even before accept */
    int c2 = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    EXPECT_ERRNO(x_connect(c2, &a, al), EAGAIN);
    int s = OK(x_accept(l, NULL, NULL));
    char b[8];
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 5);
    /* accepting made room: the same socket can try again */
    EXPECT_EQ(x_connect(c2, &a, al), 0);
    /* backlog 2: three wait, the fourth is EAGAIN */
    OK(x_listen(l, 2)); /* listen again only changes the backlog */
    int c3 = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    int c4 = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    int c5 = OK(x_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    EXPECT_EQ(x_connect(c3, &a, al), 0);
    EXPECT_EQ(x_connect(c4, &a, al), 0);
    EXPECT_ERRNO(x_connect(c5, &a, al), EAGAIN);
}

TEST(accept4_flags) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int l = listener_at(kt_path(d, "s"), SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    int c1 = connect_to(kt_path(d, "s"), SOCK_STREAM);
    int c2 = connect_to(kt_path(d, "s"), SOCK_STREAM);
    int c3 = connect_to(kt_path(d, "s"), SOCK_STREAM);
    CHECK(c1 >= 0 && c2 >= 0 && c3 >= 0, "connect: %s", kt_errstr(errno));
    int s1 = OK(x_accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
    EXPECT_EQ(fd_flags(s1), FD_CLOEXEC);
    EXPECT_EQ(fl_flags(s1) & O_NONBLOCK, O_NONBLOCK);
    char b;
    EXPECT_ERRNO(x_recv(s1, &b, 1, 0), EAGAIN);
    int s2 = OK(x_accept4(l, NULL, NULL, 0));
    EXPECT_EQ(fd_flags(s2), 0);
    EXPECT_EQ(fl_flags(s2) & O_NONBLOCK, 0);
    EXPECT_ERRNO(x_accept4(l, NULL, NULL, 0x10), EINVAL);
    EXPECT_ERRNO(x_accept4(l, NULL, NULL, O_APPEND), EINVAL);
    /* the failed accept4 calls did not consume the third connection */
    int s3 = OK(x_accept4(l, NULL, NULL, SOCK_CLOEXEC));
    EXPECT_EQ(fd_flags(s3), FD_CLOEXEC);
    /* the listener's own O_NONBLOCK is not inherited by accept */
    OK(fcntl(l, F_SETFL, O_NONBLOCK));
    int c4 = connect_to(kt_path(d, "s"), SOCK_STREAM);
    CHECK(c4 >= 0, "connect: %s", kt_errstr(errno));
    int s4 = OK(x_accept(l, NULL, NULL));
    EXPECT_EQ(fl_flags(s4) & O_NONBLOCK, 0);
}

TEST(accept_on_non_listening_socket_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_accept(s, NULL, NULL), EINVAL);
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "s"));
    OK(x_bind(s, &a, al));
    EXPECT_ERRNO(x_accept(s, NULL, NULL), EINVAL);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_ERRNO(x_accept(sv[0], NULL, NULL), EINVAL);
    /* a DGRAM socket does not accept at all */
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_accept(g, NULL, NULL), EOPNOTSUPP);
}

TEST(nonblocking_accept_without_pending_connection_is_eagain) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int l = listener_at(kt_path(d, "s"), SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    OK(fcntl(l, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(x_accept(l, NULL, NULL), EAGAIN);
    EXPECT_ERRNO(x_accept4(l, NULL, NULL, SOCK_CLOEXEC), EAGAIN);
    int c = connect_to(kt_path(d, "s"), SOCK_STREAM);
    CHECK(c >= 0, "connect: %s", kt_errstr(errno));
    OK(x_accept(l, NULL, NULL));
    EXPECT_ERRNO(x_accept(l, NULL, NULL), EAGAIN);
    /* SOCK_NONBLOCK at socket() time works the same */
    int l2 = OK(x_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0));
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "q"));
    OK(x_bind(l2, &a, al));
    OK(x_listen(l2, 4));
    EXPECT_ERRNO(x_accept(l2, NULL, NULL), EAGAIN);
}

TEST(accept_on_non_socket_is_enotsock) {
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(x_accept(fd, NULL, NULL), ENOTSOCK);
    EXPECT_ERRNO(x_accept4(fd, NULL, NULL, 0), ENOTSOCK);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(x_accept(p[0], NULL, NULL), ENOTSOCK);
    EXPECT_ERRNO(x_accept(99, NULL, NULL), EBADF);
    EXPECT_ERRNO(x_accept(-1, NULL, NULL), EBADF);
}

/* The socket calls look a descriptor up as Linux's fdget does, which skips
 * O_PATH descriptors: EBADF before any ENOTSOCK, even when the path names a
 * socket. */
TEST(socket_calls_on_o_path_descriptor_are_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int s = OK(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", kt_path(d, "sock"));
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    OK(listen(s, 1));
    int paths[2];
    paths[0] = OK(open("/", O_PATH | O_DIRECTORY));
    paths[1] = OK(open(a.sun_path, O_PATH));
    for (int i = 0; i < 2; i++) {
        int fd = paths[i];
        struct sockaddr_un out;
        socklen_t len = sizeof out;
        int v;
        socklen_t vl = sizeof v;
        EXPECT_ERRNO(syscall(SYS_accept, fd, &out, &len), EBADF);
        EXPECT_ERRNO(syscall(SYS_accept4, fd, &out, &len, 0), EBADF);
        EXPECT_ERRNO(syscall(SYS_listen, fd, 1), EBADF);
        EXPECT_ERRNO(syscall(SYS_bind, fd, &a, sizeof a), EBADF);
        EXPECT_ERRNO(syscall(SYS_connect, fd, &a, sizeof a), EBADF);
        EXPECT_ERRNO(syscall(SYS_getsockname, fd, &out, &len), EBADF);
        EXPECT_ERRNO(syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &v, &vl), EBADF);
        EXPECT_ERRNO(syscall(SYS_shutdown, fd, SHUT_RDWR), EBADF);
        EXPECT_ERRNO(syscall(SYS_sendto, fd, "x", 1, 0, NULL, 0), EBADF);
        close(fd);
    }
    close(s);
}

static const char *child_path;

static int child_connect_and_send(void *arg)
{
    (void)arg;
    sleep_ms(50);
    int c = connect_to(child_path, SOCK_STREAM);
    if (c < 0)
        return 2;
    if (x_send(c, "kid", 3, 0) != 3)
        return 3;
    char b;
    x_recv(c, &b, 1, 0); /* wait until the parent is done */
    return 0;
}

TEST(blocking_accept_is_woken_by_connect_from_another_process) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    child_path = kt_path(d, "s");
    int l = listener_at(child_path, SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    pid_t pid = spawn(child_connect_and_send, NULL);
    CHECK(pid > 0, "fork failed");
    long long t0 = now_ns();
    errno = 0;
    int s = (int)x_accept(l, NULL, NULL);
    CHECK(s >= 0, "accept: %s%s", kt_errstr(errno), wd());
    CHECK(now_ns() - t0 >= 40 * MS, "accept returned before the child connected");
    char b[8];
    EXPECT_EQ(x_recv(s, b, 3, MSG_WAITALL), 3);
    CHECK(!memcmp(b, "kid", 3), "wrong data");
    /* SO_PEERCRED names the child */
    struct ucred uc;
    socklen_t ul = sizeof uc;
    OK(x_getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul));
    EXPECT_EQ(uc.pid, pid);
    OK(close(s));
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
}

TEST(unlinking_socket_path_keeps_established_connections) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *path = kt_path(d, "s");
    int l = listener_at(path, SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    int c = connect_to(path, SOCK_STREAM);
    CHECK(c >= 0, "connect: %s", kt_errstr(errno));
    int s = OK(x_accept(l, NULL, NULL));
    OK(unlink(path));
    char b[8];
    OK(x_send(c, "after", 5, 0));
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 5);
    OK(x_send(s, "back", 4, 0));
    EXPECT_EQ(x_recv(c, b, sizeof b, 0), 4);
    /* new connections cannot find it */
    int nc = connect_to(path, SOCK_STREAM);
    int e = errno;
    CHECK(nc == -1 && e == ENOENT, "connect after unlink: %d %s, expected ENOENT", nc,
          kt_errstr(e));
    /* the listener still reports its (now dangling) name */
    struct sockaddr_un n;
    socklen_t nl = sizeof n;
    OK(x_getsockname(l, &n, &nl));
    CHECK(!strcmp(n.sun_path, path), "getsockname \"%s\"", n.sun_path);
    /* a new socket can bind the freed path; connects now reach it */
    int l2 = listener_at(path, SOCK_STREAM, 4);
    CHECK(l2 >= 0, "rebind after unlink: %s", kt_errstr(errno));
    int c2 = connect_to(path, SOCK_STREAM);
    CHECK(c2 >= 0, "connect: %s", kt_errstr(errno));
    OK(fcntl(l, F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(x_accept(l, NULL, NULL), EAGAIN);
    OK(x_accept(l2, NULL, NULL));
}

TEST(connect_after_listener_closed_is_econnrefused) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *path = kt_path(d, "s");
    int l = listener_at(path, SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    int c = connect_to(path, SOCK_STREAM);
    CHECK(c >= 0, "connect: %s", kt_errstr(errno));
    /* closing the listener with a pending, never accepted connection */
    OK(close(l));
    struct stat st;
    OK(lstat(path, &st)); /* the file stays */
    CHECK(S_ISSOCK(st.st_mode), "the socket file changed type");
    int nc = connect_to(path, SOCK_STREAM);
    int e = errno;
    CHECK(nc == -1 && e == ECONNREFUSED, "connect after close: %d %s, expected ECONNREFUSED", nc,
          kt_errstr(e));
    /* the pending client sees its connection reset once, then EOF */
    char b[4];
    EXPECT_ERRNO(x_recv(c, b, sizeof b, MSG_DONTWAIT), ECONNRESET);
    EXPECT_EQ(x_recv(c, b, sizeof b, MSG_DONTWAIT), 0);
    EXPECT_ERRNO(x_send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
    /* binding the path again is EADDRINUSE until it is unlinked */
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, path);
    int n = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_bind(n, &a, al), EADDRINUSE);
    OK(unlink(path));
    EXPECT_EQ(x_bind(n, &a, al), 0);
}

TEST(getsockname_and_getpeername_of_unbound_socket) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    memset(&a, 0x55, sizeof a);
    OK(x_getsockname(s, &a, &l));
    EXPECT_EQ(l, sizeof(sa_family_t));
    EXPECT_EQ(a.sun_family, AF_UNIX);
    l = sizeof a;
    EXPECT_ERRNO(x_getpeername(s, &a, &l), ENOTCONN);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    l = sizeof a;
    OK(x_getpeername(sv[0], &a, &l));
    EXPECT_EQ(l, sizeof(sa_family_t));
    l = sizeof a;
    EXPECT_ERRNO(x_getsockname(s, (void *)1, &l), EFAULT);
    l = (socklen_t)-1;
    EXPECT_ERRNO(x_getsockname(s, &a, &l), EINVAL);
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    l = sizeof a;
    EXPECT_ERRNO(x_getsockname(fd, &a, &l), ENOTSOCK);
    EXPECT_ERRNO(x_getpeername(fd, &a, &l), ENOTSOCK);
}

TEST(stream_io_on_unconnected_socket) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    char b[4];
    EXPECT_ERRNO(x_recv(s, b, sizeof b, MSG_DONTWAIT), EINVAL);
    EXPECT_ERRNO(x_read(s, b, sizeof b), EINVAL);
    EXPECT_ERRNO(x_send(s, "x", 1, MSG_NOSIGNAL), ENOTCONN);
    EXPECT_ERRNO(x_write(s, "x", 1), ENOTCONN);
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "whatever"));
    EXPECT_ERRNO(x_sendto(s, "x", 1, MSG_NOSIGNAL, &a, al), EOPNOTSUPP);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_send(g, "x", 1, 0), ENOTCONN);
    int q = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    EXPECT_ERRNO(x_send(q, "x", 1, MSG_NOSIGNAL), ENOTCONN);
}

/* ---- abstract namespace ----------------------------------------------- */

TEST(abstract_bind_and_connect_without_a_file) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "basic");
    int l = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_bind(l, &a, al), 0);
    OK(x_listen(l, 4));
    /* nothing appeared on disk under the name without its NUL */
    EXPECT_ERRNO(access(a.sun_path + 1, F_OK), ENOENT);
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_connect(c, &a, al), 0);
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    int s = OK(x_accept(l, &got, &gl));
    EXPECT_EQ(gl, sizeof(sa_family_t));
    /* getsockname reports exactly the bytes bound, no NUL added */
    gl = sizeof got;
    memset(&got, 0x55, sizeof got);
    OK(x_getsockname(l, &got, &gl));
    EXPECT_EQ(gl, al);
    CHECK(!memcmp(got.sun_path, a.sun_path, al - SUN_OFF), "wrong abstract name");
    gl = sizeof got;
    OK(x_getpeername(c, &got, &gl));
    EXPECT_EQ(gl, al);
    char b[4];
    OK(x_send(c, "abs", 3, 0));
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 3);
    /* the length is part of the name: a prefix or an extra NUL is another name */
    int c2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(c2, &a, al - 1), ECONNREFUSED);
    EXPECT_ERRNO(x_connect(c2, &a, al + 1), ECONNREFUSED);
}

/* Linux keys abstract names by (name, socket type): the same name can be
 * bound once per type, and connect/sendto finds the socket of its own type. */
TEST(abstract_same_name_twice_is_eaddrinuse) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "twice");
    int s1 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int s2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(s1, &a, al));
    EXPECT_ERRNO(x_bind(s2, &a, al), EADDRINUSE);
    int g1 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int g2 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_bind(g1, &a, al), 0); /* another type: another namespace */
    EXPECT_ERRNO(x_bind(g2, &a, al), EADDRINUSE);
    int q1 = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    EXPECT_EQ(x_bind(q1, &a, al), 0);
    /* each type reaches its own socket */
    OK(x_listen(s1, 1));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_connect(c, &a, al), 0);
    int u = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_sendto(u, "dg", 2, 0, &a, al), 2);
    char b[4];
    EXPECT_EQ(x_recv(g1, b, sizeof b, MSG_DONTWAIT), 2);
    int cq = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    EXPECT_ERRNO(x_connect(cq, &a, al), ECONNREFUSED); /* q1 is not listening */
    /* a different length is a different name */
    EXPECT_EQ(x_bind(s2, &a, al - 1), 0);
}

TEST(abstract_name_is_released_when_the_socket_closes) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "release");
    int s1 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(s1, &a, al));
    OK(x_listen(s1, 1));
    int s2 = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_bind(s2, &a, al), EADDRINUSE);
    OK(close(s1));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_ERRNO(x_connect(c, &a, al), ECONNREFUSED);
    EXPECT_EQ(x_bind(s2, &a, al), 0);
    /* a dup keeps the socket (and its name) alive */
    int s3 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    struct sockaddr_un b;
    socklen_t bl = mkabstract(&b, "dup");
    OK(x_bind(s3, &b, bl));
    int s3d = OK(dup(s3));
    OK(close(s3));
    int s4 = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_bind(s4, &b, bl), EADDRINUSE);
    OK(close(s3d));
    EXPECT_EQ(x_bind(s4, &b, bl), 0);
}

TEST(seqpacket_listen_accept_keeps_boundaries) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "seq");
    int l = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    OK(x_bind(l, &a, al));
    OK(x_listen(l, 4));
    EXPECT_EQ(sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
    int c = OK(x_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    OK(x_connect(c, &a, al));
    int s = OK(x_accept(l, NULL, NULL));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), SOCK_SEQPACKET);
    OK(x_send(c, "ab", 2, 0));
    OK(x_send(c, "cde", 3, 0));
    char b[8];
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 2);
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 3);
    OK(close(c));
    EXPECT_EQ(x_recv(s, b, sizeof b, 0), 0);
}

/* ---- DGRAM with addresses --------------------------------------------- */

TEST(dgram_sendto_path_and_recvfrom_reports_the_sender) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un srv;
    socklen_t sl = mkaddr(&srv, kt_path(d, "srv"));
    int r = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(r, &srv, sl));
    /* from an unnamed sender: unlike accept/getpeername (which give the
     * bare family, length 2), recvfrom reports length 0 and writes nothing */
    int u = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(x_sendto(u, "anon", 4, 0, &srv, sl), 4);
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    memset(&from, 0x55, sizeof from);
    char b[16];
    EXPECT_EQ(x_recvfrom(r, b, sizeof b, 0, &from, &fl), 4);
    EXPECT_EQ(fl, 0);
    EXPECT_EQ(from.sun_family, 0x5555);
    /* from a named sender */
    struct sockaddr_un cli;
    socklen_t cl = mkaddr(&cli, kt_path(d, "cli"));
    int n = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(n, &cli, cl));
    EXPECT_EQ(x_sendto(n, "named", 5, 0, &srv, sl), 5);
    fl = sizeof from;
    EXPECT_EQ(x_recvfrom(r, b, sizeof b, 0, &from, &fl), 5);
    EXPECT_EQ(fl, cl);
    CHECK(!strcmp(from.sun_path, cli.sun_path), "recvfrom gave \"%s\"", from.sun_path);
    /* reply to the reported address */
    EXPECT_EQ(x_sendto(r, "reply", 5, 0, &from, fl), 5);
    EXPECT_EQ(x_recv(n, b, sizeof b, 0), 5);
    /* recvmsg fills msg_name the same way */
    OK(x_sendto(n, "m", 1, 0, &srv, sl));
    struct iovec iov = {b, sizeof b};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(&from, 0, sizeof from);
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(x_recvmsg(r, &m, 0), 1);
    EXPECT_EQ(m.msg_namelen, cl);
    CHECK(!strcmp(from.sun_path, cli.sun_path), "recvmsg gave \"%s\"", from.sun_path);
    /* sendmsg with msg_name to an abstract receiver */
    struct sockaddr_un ab;
    socklen_t abl = mkabstract(&ab, "dgram");
    int ra = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(ra, &ab, abl));
    iov.iov_base = "to-abs";
    iov.iov_len = 6;
    memset(&m, 0, sizeof m);
    m.msg_name = &ab;
    m.msg_namelen = abl;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    EXPECT_EQ(x_sendmsg(u, &m, 0), 6);
    EXPECT_EQ(x_recv(ra, b, sizeof b, 0), 6);
}

TEST(dgram_sendto_missing_path_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "none"));
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, al), ENOENT);
    /* a socket file whose socket is closed */
    int t = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    al = mkaddr(&a, kt_path(d, "gone"));
    OK(x_bind(t, &a, al));
    OK(close(t));
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, al), ECONNREFUSED);
    /* a bad address length */
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, 1), EINVAL);
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, sizeof a + 1), EINVAL);
}

TEST(connected_dgram_sends_without_address_and_rejects_strangers) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un pa, pb;
    socklen_t pal = mkaddr(&pa, kt_path(d, "a"));
    socklen_t pbl = mkaddr(&pb, kt_path(d, "b"));
    int a = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int b = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int c = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(a, &pa, pal));
    OK(x_bind(b, &pb, pbl));
    EXPECT_EQ(x_connect(a, &pb, pbl), 0);
    struct sockaddr_un n;
    socklen_t nl = sizeof n;
    OK(x_getpeername(a, &n, &nl));
    EXPECT_EQ(nl, pbl);
    /* a sends without an address */
    EXPECT_EQ(x_send(a, "to-b", 4, 0), 4);
    char buf[8];
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    EXPECT_EQ(x_recvfrom(b, buf, sizeof buf, 0, &from, &fl), 4);
    EXPECT_EQ(fl, pal);
    /* its peer b (not connected back) can send to it */
    EXPECT_EQ(x_sendto(b, "to-a", 4, 0, &pa, pal), 4);
    EXPECT_EQ(x_recv(a, buf, sizeof buf, 0), 4);
    /* a stranger cannot */
    EXPECT_ERRNO(x_sendto(c, "x", 1, 0, &pa, pal), EPERM);
    EXPECT_ERRNO(x_recv(a, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    /* sendto with an explicit address still works on a connected DGRAM socket */
    struct sockaddr_un pc;
    socklen_t pcl = mkaddr(&pc, kt_path(d, "c"));
    OK(x_bind(c, &pc, pcl));
    EXPECT_EQ(x_sendto(a, "to-c", 4, 0, &pc, pcl), 4);
    EXPECT_EQ(x_recv(c, buf, sizeof buf, 0), 4);
    /* connect to AF_UNSPEC dissolves the association */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    EXPECT_EQ(x_connect(a, &unspec, sizeof unspec), 0);
    nl = sizeof n;
    EXPECT_ERRNO(x_getpeername(a, &n, &nl), ENOTCONN);
    EXPECT_ERRNO(x_send(a, "x", 1, 0), ENOTCONN);
    EXPECT_EQ(x_sendto(c, "now", 3, 0, &pa, pal), 3);
    EXPECT_EQ(x_recv(a, buf, sizeof buf, 0), 3);
}

/* ---- SCM_RIGHTS ------------------------------------------------------- */

TEST(scm_rights_passes_a_pipe_read_end) {
    int sv[2], p[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(pipe(p));
    EXPECT_EQ(send_fds(sv[0], &p[0], 1, "F"), 1);
    char data[4];
    int fds[4], n = 0, mf = 0;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int)), 0, fds, 4, &n, &mf), 1);
    EXPECT_EQ(data[0], 'F');
    EXPECT_EQ(n, 1);
    EXPECT_EQ(mf, 0);
    CHECK(fds[0] != p[0] && fds[0] != p[1] && fds[0] != sv[0] && fds[0] != sv[1],
          "received fd %d is not a new fd", fds[0]);
    EXPECT_EQ(fd_flags(fds[0]), 0);
    /* it is the same pipe */
    struct stat a, b;
    OK(fstat(p[0], &a));
    OK(fstat(fds[0], &b));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "received fd is another file");
    OK(close(p[0]));
    EXPECT_EQ(x_write(p[1], "via-pipe", 8), 8);
    char r[16];
    EXPECT_EQ(x_read(fds[0], r, sizeof r), 8);
    CHECK(!memcmp(r, "via-pipe", 8), "wrong data");
    /* the same over a DGRAM pair, and passing a socket itself */
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    EXPECT_EQ(send_fds(g[0], &sv[0], 1, "S"), 1);
    EXPECT_EQ(recv_fds(g[1], data, sizeof data, CMSG_SPACE(sizeof(int)), 0, fds, 4, &n, &mf), 1);
    EXPECT_EQ(n, 1);
    OK(x_send(fds[0], "sock", 4, 0));
    EXPECT_EQ(x_recv(sv[1], r, sizeof r, 0), 4);
    CHECK(!memcmp(r, "sock", 4), "wrong data");
}

TEST(scm_rights_several_fds_in_one_message) {
    int sv[2], p[3][2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    for (int i = 0; i < 3; i++)
        OK(pipe(p[i]));
    int out[3] = {p[0][0], p[1][0], p[2][0]};
    EXPECT_EQ(send_fds(sv[0], out, 3, "three"), 5);
    for (int i = 0; i < 3; i++)
        OK(close(p[i][0]));
    char data[8];
    int fds[8], n = 0, mf = 0;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int) * 3), 0, fds, 8, &n, &mf),
              5);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(mf, 0);
    /* in order: fds[i] reads what p[i][1] writes */
    for (int i = 0; i < 3; i++) {
        char c = (char)('A' + i), got = 0;
        EXPECT_EQ(x_write(p[i][1], &c, 1), 1);
        EXPECT_EQ(x_read(fds[i], &got, 1), 1);
        CHECK(got == c, "fd %d (index %d) read '%c', expected '%c'", fds[i], i, got, c);
    }
    /* the same fd twice gives two fds for the same file */
    int twice[2] = {p[0][1], p[0][1]};
    EXPECT_EQ(send_fds(sv[0], twice, 2, "2"), 1);
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int) * 2), 0, fds, 8, &n, &mf),
              1);
    EXPECT_EQ(n, 2);
    CHECK(fds[0] != fds[1], "both copies got fd %d", fds[0]);
}

TEST(scm_rights_msg_cmsg_cloexec) {
    int sv[2], p[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(pipe(p));
    /* the sender's FD_CLOEXEC does not travel */
    OK(fcntl(p[1], F_SETFD, FD_CLOEXEC));
    int two[2] = {p[0], p[1]};
    OK(send_fds(sv[0], two, 2, "c"));
    char data[4];
    int fds[4], n = 0, mf = 0;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int) * 2), MSG_CMSG_CLOEXEC,
                       fds, 4, &n, &mf),
              1);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(fd_flags(fds[0]), FD_CLOEXEC);
    EXPECT_EQ(fd_flags(fds[1]), FD_CLOEXEC);
    OK(send_fds(sv[0], two, 2, "n"));
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int) * 2), 0, fds, 4, &n, &mf),
              1);
    EXPECT_EQ(n, 2);
    EXPECT_EQ(fd_flags(fds[0]), 0);
    EXPECT_EQ(fd_flags(fds[1]), 0);
    /* file status flags (O_NONBLOCK) belong to the open file and do travel */
    OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    EXPECT_EQ(fl_flags(fds[0]) & O_NONBLOCK, O_NONBLOCK);
}

TEST(scm_rights_short_control_buffer_sets_ctrunc_and_closes_the_rest) {
    on(SIGPIPE, SIG_IGN);
    int sv[2], p[3][2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    for (int i = 0; i < 3; i++)
        OK(pipe(p[i]));
    int out[3] = {p[0][0], p[1][0], p[2][0]};
    OK(send_fds(sv[0], out, 3, "x"));
    for (int i = 0; i < 3; i++)
        OK(close(p[i][0]));
    /* room for one fd only (CMSG_LEN, not CMSG_SPACE: the padding of
     * CMSG_SPACE(4) on x86-64 would fit a second fd) */
    char data[4];
    int fds[8], n = 0, mf = 0;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_LEN(sizeof(int)), 0, fds, 8, &n, &mf), 1);
    CHECK(mf & MSG_CTRUNC, "msg_flags 0x%x lacks MSG_CTRUNC", mf);
    EXPECT_EQ(n, 1);
    /* the delivered one is pipe 0's read end; pipes 1 and 2 have no reader
     * left: the fds that did not fit were closed, not leaked */
    EXPECT_EQ(x_write(p[0][1], "k", 1), 1);
    EXPECT_ERRNO(x_write(p[1][1], "k", 1), EPIPE);
    EXPECT_ERRNO(x_write(p[2][1], "k", 1), EPIPE);
    char c;
    EXPECT_EQ(x_read(fds[0], &c, 1), 1);
    /* no control buffer at all: every fd is closed */
    int q[2];
    OK(pipe(q));
    OK(send_fds(sv[0], &q[0], 1, "y"));
    OK(close(q[0]));
    int before = OK(dup(0));
    OK(close(before));
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, 0, 0, fds, 8, &n, &mf), 1);
    CHECK(mf & MSG_CTRUNC, "msg_flags 0x%x lacks MSG_CTRUNC", mf);
    EXPECT_EQ(n, 0);
    EXPECT_ERRNO(x_write(q[1], "k", 1), EPIPE);
    int after = OK(dup(0));
    EXPECT_EQ(after, before); /* no new fd was installed */
}

TEST(scm_rights_bad_fd_is_ebadf) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int bad[2] = {0, 99};
    EXPECT_ERRNO(send_fds(sv[0], bad, 2, "x"), EBADF);
    int neg = -1;
    EXPECT_ERRNO(send_fds(sv[0], &neg, 1, "x"), EBADF);
    /* nothing was sent */
    char b[4];
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
}

/* ---- credentials ------------------------------------------------------ */

static int cred_sock;

static int child_send_one(void *arg)
{
    (void)arg;
    return x_send(cred_sock, "c", 1, 0) == 1 ? 0 : 2;
}

TEST(so_passcred_recvmsg_gets_the_senders_ucred) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    EXPECT_EQ(sockopt_int(sv[1], SOL_SOCKET, SO_PASSCRED), 0);
    int one = 1;
    OK(x_setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    EXPECT_EQ(sockopt_int(sv[1], SOL_SOCKET, SO_PASSCRED), 1);
    cred_sock = sv[0];
    pid_t pid = spawn(child_send_one, NULL);
    CHECK(pid > 0, "fork failed");
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    char data[4];
    struct iovec iov = {data, sizeof data};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(&u, 0, sizeof u);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    EXPECT_EQ(x_recvmsg(sv[1], &m, 0), 1);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    CHECK(c, "no control message");
    EXPECT_EQ(c->cmsg_level, SOL_SOCKET);
    EXPECT_EQ(c->cmsg_type, SCM_CREDENTIALS);
    EXPECT_EQ(c->cmsg_len, CMSG_LEN(sizeof(struct ucred)));
    struct ucred uc;
    memcpy(&uc, CMSG_DATA(c), sizeof uc);
    EXPECT_EQ(uc.pid, pid);
    EXPECT_EQ(uc.uid, getuid());
    EXPECT_EQ(uc.gid, getgid());
    /* without SO_PASSCRED there is no control message */
    OK(x_send(sv[1], "p", 1, 0));
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    EXPECT_EQ(x_recvmsg(sv[0], &m, 0), 1);
    EXPECT_EQ(m.msg_controllen, 0);
    /* the sender may state its own credentials explicitly */
    struct ucred me = {getpid(), getuid(), getgid()};
    memset(&u, 0, sizeof u);
    memset(&m, 0, sizeof m);
    iov.iov_base = "e";
    iov.iov_len = 1;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = CMSG_SPACE(sizeof me);
    c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof me);
    memcpy(CMSG_DATA(c), &me, sizeof me);
    EXPECT_EQ(x_sendmsg(sv[0], &m, 0), 1);
    memset(&u, 0, sizeof u);
    memset(&m, 0, sizeof m);
    iov.iov_base = data;
    iov.iov_len = sizeof data;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    EXPECT_EQ(x_recvmsg(sv[1], &m, 0), 1);
    c = CMSG_FIRSTHDR(&m);
    CHECK(c && c->cmsg_type == SCM_CREDENTIALS, "no SCM_CREDENTIALS");
    memcpy(&uc, CMSG_DATA(c), sizeof uc);
    EXPECT_EQ(uc.pid, getpid());
}

TEST(so_peercred_on_socketpair_names_the_creator) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct ucred uc;
    socklen_t l = sizeof uc;
    memset(&uc, 0x55, sizeof uc);
    OK(x_getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &l));
    EXPECT_EQ(l, sizeof uc);
    EXPECT_EQ(uc.pid, getpid());
    EXPECT_EQ(uc.uid, getuid());
    EXPECT_EQ(uc.gid, getgid());
    l = sizeof uc;
    OK(x_getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &uc, &l));
    EXPECT_EQ(uc.pid, getpid());
    /* no peer: pid 0, uid and gid -1 */
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    l = sizeof uc;
    OK(x_getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &l));
    EXPECT_EQ(l, sizeof uc);
    EXPECT_EQ(uc.pid, 0);
    EXPECT_EQ(uc.uid, (uid_t)-1);
    EXPECT_EQ(uc.gid, (gid_t)-1);
}

static int peercred_check_parent(void *arg)
{
    (void)arg;
    int c = connect_to(child_path, SOCK_STREAM);
    if (c < 0)
        return 2;
    struct ucred uc;
    socklen_t l = sizeof uc;
    if (x_getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &l) != 0)
        return 3;
    if (uc.pid != getppid() || uc.uid != getuid() || uc.gid != getgid())
        return 4; /* the client sees the creds of whoever called listen() */
    char b;
    x_recv(c, &b, 1, 0); /* stay alive until the parent has looked */
    return 0;
}

TEST(so_peercred_on_connected_stream_names_both_ends) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    child_path = kt_path(d, "s");
    int l = listener_at(child_path, SOCK_STREAM, 4);
    CHECK(l >= 0, "listener: %s", kt_errstr(errno));
    pid_t pid = spawn(peercred_check_parent, NULL);
    CHECK(pid > 0, "fork failed");
    errno = 0;
    int s = (int)x_accept(l, NULL, NULL);
    CHECK(s >= 0, "accept: %s%s", kt_errstr(errno), wd());
    struct ucred uc;
    socklen_t ul = sizeof uc;
    OK(x_getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul));
    EXPECT_EQ(uc.pid, pid);
    EXPECT_EQ(uc.uid, getuid());
    EXPECT_EQ(uc.gid, getgid());
    OK(x_send(s, "k", 1, 0));
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s (3 = getsockopt failed, 4 = wrong peer creds)",
          kt_status(st));
}

/* ---- getsockopt / setsockopt ------------------------------------------ */

TEST(getsockopt_type_domain_protocol) {
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        int s = OK(x_socket(AF_UNIX, types[i] | SOCK_NONBLOCK, 0));
        EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_TYPE), types[i]);
        EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_DOMAIN), AF_UNIX);
        EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_PROTOCOL), 0);
    }
    /* read-only options cannot be set */
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int v = SOCK_DGRAM;
    EXPECT_ERRNO(x_setsockopt(s, SOL_SOCKET, SO_TYPE, &v, sizeof v), ENOPROTOOPT);
}

TEST(getsockopt_acceptconn_and_error) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 0);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ERROR), 0);
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "s"));
    OK(x_bind(s, &a, al));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 0);
    OK(x_listen(s, 1));
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ACCEPTCONN), 1);
    EXPECT_EQ(sockopt_int(s, SOL_SOCKET, SO_ERROR), 0);
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    EXPECT_EQ(sockopt_int(g, SOL_SOCKET, SO_ACCEPTCONN), 0);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_EQ(sockopt_int(sv[0], SOL_SOCKET, SO_ERROR), 0);
}

TEST(sndbuf_and_rcvbuf_are_positive_and_settable) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int snd = sockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    int rcv = sockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    CHECK(snd > 0 && rcv > 0, "SO_SNDBUF %d SO_RCVBUF %d", snd, rcv);
    int v = 65536;
    OK(x_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    OK(x_setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    /* Linux stores double the value (for bookkeeping overhead) */
    int snd2 = sockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    int rcv2 = sockopt_int(s, SOL_SOCKET, SO_RCVBUF);
    CHECK(snd2 >= v, "SO_SNDBUF %d after setting %d", snd2, v);
    CHECK(rcv2 >= v, "SO_RCVBUF %d after setting %d", rcv2, v);
    v = 131072;
    OK(x_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    int snd3 = sockopt_int(s, SOL_SOCKET, SO_SNDBUF);
    CHECK(snd3 >= v && snd3 > snd2, "SO_SNDBUF %d after setting %d (was %d)", snd3, v, snd2);
    /* a tiny value is raised to a minimum, never 0 */
    v = 1;
    OK(x_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    CHECK(sockopt_int(s, SOL_SOCKET, SO_SNDBUF) > 1, "SO_SNDBUF not clamped to a minimum");
}

/* Run as an unprivileged user: SO_SNDBUFFORCE/SO_RCVBUFFORCE read their int
 * first (EINVAL for a short length, EFAULT for a bad pointer) and only then
 * refuse with EPERM, for every family; the plain options still work. */
static int bufforce_unprivileged(void *arg)
{
    (void)arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 1;
    static const int fam[][2] = {{AF_UNIX, SOCK_STREAM}, {AF_INET, SOCK_DGRAM},
                                 {AF_INET6, SOCK_STREAM}, {AF_NETLINK, SOCK_RAW}};
    for (unsigned i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        int s = socket(fam[i][0], fam[i][1], 0);
        if (s < 0)
            return 2;
        int v = 65536;
        for (int name = SO_SNDBUFFORCE; name <= SO_RCVBUFFORCE; name++) {
            if (setsockopt(s, SOL_SOCKET, name, &v, 2) != -1 || errno != EINVAL)
                return 10 + i;
            if (setsockopt(s, SOL_SOCKET, name, (void *)8, sizeof v) != -1 || errno != EFAULT)
                return 20 + i;
            if (setsockopt(s, SOL_SOCKET, name, &v, sizeof v) != -1 || errno != EPERM)
                return 30 + i;
        }
        if (setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) != 0)
            return 40 + i;
        close(s);
    }
    return 0;
}

TEST(bufforce_needs_cap_net_admin_after_reading_the_value) {
    if (geteuid() != 0)
        SKIP("needs root to drop to an unprivileged user");
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int v = 32768;
    OK(x_setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v));
    CHECK(sockopt_int(s, SOL_SOCKET, SO_RCVBUF) >= v, "SO_RCVBUF after FORCE as root");
    close(s);
    pid_t pid = spawn(bufforce_unprivileged, NULL);
    CHECK(pid > 0, "fork");
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged child: status %#x (exit %d)", st,
          WEXITSTATUS(st));
}

TEST(so_rcvtimeo_makes_blocking_recv_time_out) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct timeval tv = {0, 100000};
    OK(x_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval got = {7, 7};
    socklen_t l = sizeof got;
    OK(x_getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &got, &l));
    EXPECT_EQ(l, sizeof got);
    CHECK(got.tv_sec == 0 && got.tv_usec >= 99000 && got.tv_usec <= 101000,
          "SO_RCVTIMEO reads back %ld.%06ld", (long)got.tv_sec, (long)got.tv_usec);
    char b;
    long long t0 = now_ns();
    EXPECT_ERRNO(x_recv(sv[0], &b, 1, 0), EAGAIN);
    long long dt = now_ns() - t0;
    CHECK(dt >= 90 * MS, "recv timed out after %lld ms, expected >= 90 ms", dt / MS);
    /* accept on a listener honours it too */
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "rcvtimeo");
    int lsn = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(lsn, &a, al));
    OK(x_listen(lsn, 1));
    OK(x_setsockopt(lsn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    t0 = now_ns();
    EXPECT_ERRNO(x_accept(lsn, NULL, NULL), EAGAIN);
    dt = now_ns() - t0;
    CHECK(dt >= 90 * MS, "accept timed out after %lld ms, expected >= 90 ms", dt / MS);
    /* a bad timeval is EDOM */
    struct timeval bad = {0, 1000000};
    EXPECT_ERRNO(x_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof bad), EDOM);
}

TEST(getsockopt_bad_level_or_optname) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int v;
    socklen_t l = sizeof v;
    EXPECT_ERRNO(x_getsockopt(s, SOL_SOCKET, 9999, &v, &l), ENOPROTOOPT);
    EXPECT_ERRNO(x_setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v), ENOPROTOOPT);
    /* unix sockets have no protocol-level options at all */
    l = sizeof v;
    EXPECT_ERRNO(x_getsockopt(s, 0 /* SOL_IP */, 1, &v, &l), EOPNOTSUPP);
    EXPECT_ERRNO(x_getsockopt(s, 6 /* SOL_TCP */, 1, &v, &l), EOPNOTSUPP);
    EXPECT_ERRNO(x_getsockopt(s, 12345, 1, &v, &l), EOPNOTSUPP);
    EXPECT_ERRNO(x_setsockopt(s, 6, 1, &v, sizeof v), EOPNOTSUPP);
}

TEST(getsockopt_and_setsockopt_optlen_rules) {
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    int v = 0;
    socklen_t l = (socklen_t)-1;
    EXPECT_ERRNO(x_getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l), EINVAL);
    /* a too-small optlen is not an error: the value is truncated */
    v = 0x7f7f7f7f;
    l = 1;
    EXPECT_EQ(x_getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l), 0);
    EXPECT_EQ(l, 1);
    EXPECT_EQ(v, 0x7f7f7f00 | SOCK_STREAM);
    /* a larger optlen is cut down to sizeof(int) */
    char big[16];
    l = sizeof big;
    OK(x_getsockopt(s, SOL_SOCKET, SO_TYPE, big, &l));
    EXPECT_EQ(l, sizeof(int));
    /* setsockopt needs at least an int */
    v = 4096;
    EXPECT_ERRNO(x_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, 2), EINVAL);
    EXPECT_ERRNO(x_setsockopt(s, SOL_SOCKET, SO_PASSCRED, &v, 0), EINVAL);
    /* bad pointers */
    l = sizeof v;
    EXPECT_ERRNO(x_getsockopt(s, SOL_SOCKET, SO_TYPE, (void *)1, &l), EFAULT);
    EXPECT_ERRNO(x_getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (void *)1), EFAULT);
    EXPECT_ERRNO(x_setsockopt(s, SOL_SOCKET, SO_SNDBUF, (void *)1, sizeof v), EFAULT);
}

TEST(getsockopt_on_non_socket_is_enotsock) {
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    int v;
    socklen_t l = sizeof v;
    EXPECT_ERRNO(x_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l), ENOTSOCK);
    EXPECT_ERRNO(x_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v), ENOTSOCK);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(x_getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &l), ENOTSOCK);
    EXPECT_ERRNO(x_getsockopt(99, SOL_SOCKET, SO_TYPE, &v, &l), EBADF);
    EXPECT_ERRNO(x_send(fd, "x", 1, 0), ENOTSOCK);
    EXPECT_ERRNO(x_recv(fd, &v, 1, MSG_DONTWAIT), ENOTSOCK);
}

/* ---- data path details ------------------------------------------------ */

TEST(msg_peek_leaves_the_data) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[0], "peekaboo", 8, 0));
    char b[16];
    EXPECT_EQ(x_recv(sv[1], b, 4, MSG_PEEK), 4);
    CHECK(!memcmp(b, "peek", 4), "wrong data");
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, MSG_PEEK), 8);
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 8);
    CHECK(!memcmp(b, "peekaboo", 8), "wrong data");
    EXPECT_ERRNO(x_recv(sv[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    /* DGRAM: peeking does not consume the datagram either */
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    OK(x_send(g[0], "one", 3, 0));
    OK(x_send(g[0], "two", 3, 0));
    EXPECT_EQ(x_recv(g[1], b, sizeof b, MSG_PEEK), 3);
    CHECK(!memcmp(b, "one", 3), "wrong data");
    EXPECT_EQ(x_recv(g[1], b, sizeof b, MSG_PEEK), 3);
    CHECK(!memcmp(b, "one", 3), "second peek saw another datagram");
    EXPECT_EQ(x_recv(g[1], b, sizeof b, 0), 3);
    CHECK(!memcmp(b, "one", 3), "wrong data");
    EXPECT_EQ(x_recv(g[1], b, sizeof b, 0), 3);
    CHECK(!memcmp(b, "two", 3), "wrong data");
}

TEST(msg_waitall_waits_for_the_full_amount) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct writer w = {.fd = sv[1], .delay_ms = 30, .parts = {"abc", "def"}};
    long long t0 = now_ns();
    OK(writer_start(&w));
    char b[8];
    memset(b, 0, sizeof b);
    errno = 0;
    long r = x_recv(sv[0], b, 6, MSG_WAITALL);
    int e = errno;
    long long dt = now_ns() - t0;
    pthread_join(w.pt, NULL);
    CHECK(r == 6, "recv(MSG_WAITALL) gave %ld %s%s", r, kt_errstr(e), wd());
    CHECK(!memcmp(b, "abcdef", 6), "got \"%s\"", b);
    CHECK(dt >= 50 * MS, "returned after %lld ms, before the second part was sent", dt / MS);
}

TEST(msg_waitall_returns_short_at_eof) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(x_send(sv[1], "abc", 3, 0));
    OK(x_shutdown(sv[1], SHUT_WR));
    char b[8];
    EXPECT_EQ(x_recv(sv[0], b, 6, MSG_WAITALL), 3);
    EXPECT_EQ(x_recv(sv[0], b, 6, MSG_WAITALL), 0);
    /* with MSG_DONTWAIT it returns what is there */
    int t[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, t));
    OK(x_send(t[1], "ab", 2, 0));
    EXPECT_EQ(x_recv(t[0], b, 6, MSG_WAITALL | MSG_DONTWAIT), 2);
}

TEST(readv_writev_and_sendmsg_iovecs_gather_and_scatter) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct iovec w[3] = {{"Hel", 3}, {"", 0}, {"lo, world", 9}};
    EXPECT_EQ(syscall(SYS_writev, sv[0], w, 3), 12);
    char a[5], b[3], c[10];
    memset(c, 0, sizeof c);
    struct iovec r[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    EXPECT_EQ(syscall(SYS_readv, sv[1], r, 3), 12);
    CHECK(!memcmp(a, "Hello", 5) && !memcmp(b, ", w", 3) && !memcmp(c, "orld", 4),
          "scatter went wrong");
    /* sendmsg gathers, a DGRAM keeps it as one message */
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    struct iovec s3[3] = {{"one-", 4}, {"two-", 4}, {"three", 5}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = s3;
    m.msg_iovlen = 3;
    EXPECT_EQ(x_sendmsg(g[0], &m, 0), 13);
    char x[4], y[4], z[8];
    memset(z, 0, sizeof z);
    struct iovec r3[3] = {{x, sizeof x}, {y, sizeof y}, {z, sizeof z}};
    memset(&m, 0, sizeof m);
    m.msg_iov = r3;
    m.msg_iovlen = 3;
    EXPECT_EQ(x_recvmsg(g[1], &m, 0), 13);
    CHECK(!memcmp(x, "one-", 4) && !memcmp(y, "two-", 4) && !memcmp(z, "three", 5),
          "recvmsg scatter went wrong");
    EXPECT_EQ(m.msg_flags, 0);
    /* writev on a DGRAM socket is also one datagram */
    EXPECT_EQ(syscall(SYS_writev, g[0], s3, 3), 13);
    char all[32];
    EXPECT_EQ(x_recv(g[1], all, sizeof all, 0), 13);
    CHECK(!memcmp(all, "one-two-three", 13), "wrong data");
    /* too many iovecs */
    EXPECT_ERRNO(syscall(SYS_writev, g[0], s3, 1025), EINVAL);
    m.msg_iovlen = 1025;
    EXPECT_ERRNO(x_sendmsg(g[0], &m, 0), EMSGSIZE);
}

TEST(epoll_on_listening_socket_reports_pending_connection) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "epoll-l");
    int l = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(l, &a, al));
    OK(x_listen(l, 4));
    int ep = OK(syscall(SYS_epoll_create1, EPOLL_CLOEXEC));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = 7};
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, l, &ev));
    struct epoll_event out[2];
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 0);
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_connect(c, &a, al));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN);
    EXPECT_EQ(out[0].data.u64, 7);
    OK(x_accept(l, NULL, NULL));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 0);
}

TEST(epoll_on_connected_socket_reports_epollin_and_epollrdhup) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int ep = OK(syscall(SYS_epoll_create1, 0));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = 1};
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, sv[0], &ev));
    struct epoll_event out[2];
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 0);
    OK(x_send(sv[1], "d", 1, 0));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN);
    char b;
    OK(x_recv(sv[0], &b, 1, 0));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 0);
    OK(x_shutdown(sv[1], SHUT_WR));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN | EPOLLRDHUP);
    OK(close(sv[1]));
    EXPECT_EQ(syscall(SYS_epoll_wait, ep, out, 2, 0), 1);
    EXPECT_EQ(out[0].events, EPOLLIN | EPOLLRDHUP | EPOLLHUP);
    /* a blocking epoll_wait is woken by data from a thread */
    int t[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, t));
    struct epoll_event ev2 = {.events = EPOLLIN, .data.u64 = 2};
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, sv[0], NULL));
    OK(syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, t[0], &ev2));
    struct writer w = {.fd = t[1], .delay_ms = 30, .parts = {"wake"}};
    OK(writer_start(&w));
    errno = 0;
    long r = syscall(SYS_epoll_wait, ep, out, 2, 5000);
    int e = errno;
    pthread_join(w.pt, NULL);
    CHECK(r == 1 && out[0].data.u64 == 2 && out[0].events == EPOLLIN,
          "epoll_wait gave %ld %s%s", r, kt_errstr(e), wd());
}

static int child_sleep_then_exit(void *arg)
{
    (void)arg;
    sleep_ms(50);
    return 0;
}

TEST(close_of_peer_wakes_a_blocked_recv_with_eof) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    /* the child holds the only other reference to sv[1] and exits */
    pid_t pid = spawn(child_sleep_then_exit, NULL);
    CHECK(pid > 0, "fork failed");
    OK(close(sv[1]));
    char b[4];
    long long t0 = now_ns();
    errno = 0;
    long r = x_recv(sv[0], b, sizeof b, 0);
    int e = errno;
    CHECK(r == 0, "recv gave %ld %s, expected 0 (EOF)%s", r, kt_errstr(e), wd());
    CHECK(now_ns() - t0 >= 40 * MS, "recv returned before the peer closed");
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    /* the same with a thread closing the peer (SEQPACKET this time) */
    int q[2];
    OK(x_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q));
    struct writer w = {.fd = q[1], .delay_ms = 30, .close_after = 1};
    OK(writer_start(&w));
    errno = 0;
    r = x_recv(q[0], b, sizeof b, 0);
    e = errno;
    pthread_join(w.pt, NULL);
    CHECK(r == 0, "SEQPACKET recv gave %ld %s, expected 0 (EOF)%s", r, kt_errstr(e), wd());
}

static int child_shutdown_after(void *arg)
{
    int fd = *(int *)arg;
    sleep_ms(50);
    return x_shutdown(fd, SHUT_WR) == 0 ? 0 : 2;
}

TEST(peer_shutdown_wakes_a_blocked_recv_with_eof) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    /* the child shuts down writing on its copy of sv[1]; the parent's copy
     * stays open, so only the shutdown can end the wait */
    pid_t pid = spawn(child_shutdown_after, &sv[1]);
    CHECK(pid > 0, "fork failed");
    char b[4];
    long long t0 = now_ns();
    errno = 0;
    long r = x_recv(sv[0], b, sizeof b, 0);
    int e = errno;
    CHECK(r == 0, "recv gave %ld %s, expected 0 (EOF)%s", r, kt_errstr(e), wd());
    CHECK(now_ns() - t0 >= 40 * MS, "recv returned before the shutdown");
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    /* sv[1] (shared open file) can still receive */
    OK(x_send(sv[0], "ok", 2, 0));
    EXPECT_EQ(x_recv(sv[1], b, sizeof b, 0), 2);
}

/* ---- more of what Linux does (cases added with the Kestrel fixes) ------ */

/* Linux sends a stream write in skbs while the sender's queued memory is
 * under SO_SNDBUF: a non-blocking write that fills the buffer midway returns
 * what it sent, the next one is EAGAIN. */
TEST(nonblocking_stream_send_returns_what_fit_when_the_buffer_fills) {
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    static char big[200000];
    long total = 0, r;
    int calls = 0, short_writes = 0;
    errno = 0;
    while ((r = x_send(sv[0], big, sizeof big, 0)) > 0) {
        total += r;
        short_writes += r < (long)sizeof big;
        CHECK(++calls < 100, "wrote %ld bytes without EAGAIN", total);
    }
    CHECK(r == -1 && errno == EAGAIN, "send ended with %ld %s%s", r, kt_errstr(errno), wd());
    CHECK(short_writes == 1, "%d short writes before EAGAIN, expected one", short_writes);
    static char sink[65536];
    long got = 0;
    while ((r = x_recv(sv[1], sink, sizeof sink, MSG_DONTWAIT)) > 0)
        got += r;
    EXPECT_EQ(got, total);
}

/* read and write on a socket are recv and send without flags
 * (sock_read_iter, sock_write_iter). */
TEST(read_and_write_on_a_socket_are_recv_and_send) {
    on(SIGPIPE, h_sigpipe);
    char b[8];
    /* reading nothing returns 0 before the socket is asked */
    int s = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    EXPECT_EQ(x_read(s, b, 0), 0);
    EXPECT_ERRNO(x_read(s, b, 1), EINVAL);
    EXPECT_EQ(syscall(SYS_readv, s, NULL, 0), 0);
    /* a datagram written is one datagram, however long; an empty write is an
     * empty datagram, an empty writev nothing at all */
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    static char big[150000];
    EXPECT_EQ(x_write(g[0], big, sizeof big), (long)sizeof big);
    EXPECT_EQ(x_recv(g[1], big, sizeof big, MSG_DONTWAIT), (long)sizeof big);
    EXPECT_EQ(x_write(g[0], b, 0), 0);
    EXPECT_EQ(x_recv(g[1], b, sizeof b, MSG_DONTWAIT), 0);
    struct iovec none = {b, 0};
    EXPECT_EQ(syscall(SYS_writev, g[0], &none, 1), 0);
    EXPECT_ERRNO(x_recv(g[1], b, sizeof b, MSG_DONTWAIT), EAGAIN);
    /* a seqpacket write to a closed peer: EPIPE without SIGPIPE */
    int q[2];
    OK(x_socketpair(AF_UNIX, SOCK_SEQPACKET, 0, q));
    OK(close(q[1]));
    EXPECT_ERRNO(x_write(q[0], "x", 1), EPIPE);
    EXPECT_EQ(sigpipe_count, 0);
    /* read honours SO_RCVTIMEO */
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct timeval tv = {0, 50000};
    OK(x_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    long long t0 = now_ns();
    EXPECT_ERRNO(x_read(sv[0], b, 1), EAGAIN);
    CHECK(now_ns() - t0 >= 40 * MS, "read timed out after %lld ms", (now_ns() - t0) / MS);
}

/* net.unix.max_dgram_qlen (10): a receiver holds more than 10 datagrams from a
 * socket it is not connected back to; poll of a sender connected to it then
 * says not writable until it drains. A socketpair has no such limit. */
TEST(dgram_receiver_takes_eleven_from_strangers_and_poll_waits_for_room) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "qlen");
    int r = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(r, &a, al));
    int x = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_connect(x, &a, al));
    EXPECT_EQ(poll1(x, POLLOUT), POLLOUT);
    int n = 0;
    while (x_send(x, "m", 1, MSG_DONTWAIT) == 1)
        CHECK(++n < 1000, "no limit");
    int e = errno;
    CHECK(e == EAGAIN, "send ended with %s", kt_errstr(e));
    EXPECT_EQ(n, 11);
    EXPECT_EQ(poll1(x, POLLOUT), 0);
    char b[4];
    OK(x_recv(r, b, sizeof b, 0));
    EXPECT_EQ(poll1(x, POLLOUT), POLLOUT);
    EXPECT_EQ(x_send(x, "m", 1, MSG_DONTWAIT), 1);
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    for (int i = 0; i < 50; i++)
        CHECK(x_send(sv[0], "p", 1, MSG_DONTWAIT) == 1, "socketpair datagram %d: %s", i,
              kt_errstr(errno));
}

/* unix_dgram_disconnected: a datagram socket that leaves its peer drops what
 * it had received; a peer connected back to it gets ECONNRESET, once. */
TEST(dgram_disconnect_drops_the_queue_and_resets_a_peer_connected_back) {
    struct sockaddr_un a, b;
    socklen_t al = mkabstract(&a, "dc-x"), bl = mkabstract(&b, "dc-y");
    int x = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int y = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(x, &a, al));
    OK(x_bind(y, &b, bl));
    OK(x_connect(x, &b, bl));
    OK(x_connect(y, &a, al));
    OK(x_send(y, "1", 1, 0));
    OK(x_send(x, "2", 1, 0));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    OK(x_connect(x, &unspec, sizeof unspec));
    char buf[4];
    EXPECT_ERRNO(x_recv(x, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    EXPECT_EQ(poll1(y, POLLIN | POLLOUT), POLLIN | POLLOUT | POLLERR);
    EXPECT_ERRNO(x_recv(y, buf, sizeof buf, MSG_DONTWAIT), ECONNRESET);
    EXPECT_EQ(x_recv(y, buf, sizeof buf, MSG_DONTWAIT), 1);
    EXPECT_EQ(x_send(y, "3", 1, 0), 1);
}

/* unix_may_send: a datagram socket connected to another takes nothing from
 * strangers, even after its peer closed, until it notices (its own send). */
TEST(dgram_connected_to_a_closed_peer_refuses_strangers_until_it_notices) {
    struct sockaddr_un a, b;
    socklen_t al = mkabstract(&a, "cp-x"), bl = mkabstract(&b, "cp-y");
    int x = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int y = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int z = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    OK(x_bind(x, &a, al));
    OK(x_bind(y, &b, bl));
    OK(x_connect(x, &b, bl));
    EXPECT_ERRNO(x_connect(z, &a, al), EPERM);
    OK(close(y));
    EXPECT_ERRNO(x_sendto(z, "z", 1, 0, &a, al), EPERM);
    EXPECT_ERRNO(x_send(x, "q", 1, 0), ECONNREFUSED);
    EXPECT_EQ(x_sendto(z, "z", 1, 0, &a, al), 1);
}

/* Linux reserves accept's descriptor before it takes a connection: at
 * RLIMIT_NOFILE accept is EMFILE and the connection stays queued. The order:
 * EBADF, unknown flags (EINVAL), EMFILE, ENOTSOCK, EOPNOTSUPP. */
TEST(accept_with_no_free_descriptor_is_emfile_and_keeps_the_connection) {
    struct sockaddr_un a;
    socklen_t al = mkabstract(&a, "emfile");
    int l = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_bind(l, &a, al));
    OK(x_listen(l, 4));
    int c = OK(x_socket(AF_UNIX, SOCK_STREAM, 0));
    OK(x_connect(c, &a, al));
    OK(x_send(c, "hi", 2, 0));
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    struct rlimit old, low;
    OK(getrlimit(RLIMIT_NOFILE, &old));
    low = old;
    low.rlim_cur = (rlim_t)g + 1;
    OK(setrlimit(RLIMIT_NOFILE, &low));
    long r1 = x_accept(l, NULL, NULL);
    int e1 = errno;
    long r2 = x_accept(g, NULL, NULL);
    int e2 = errno;
    long r3 = x_accept4(l, NULL, NULL, 0x10);
    int e3 = errno;
    long r4 = x_accept(99, NULL, NULL);
    int e4 = errno;
    OK(setrlimit(RLIMIT_NOFILE, &old));
    CHECK(r1 == -1 && e1 == EMFILE, "accept at the limit: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EMFILE, "accept on a datagram socket at the limit: %ld %s", r2,
          kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EINVAL, "accept4 with bad flags at the limit: %ld %s", r3,
          kt_errstr(e3));
    CHECK(r4 == -1 && e4 == EBADF, "accept of a bad descriptor at the limit: %ld %s", r4,
          kt_errstr(e4));
    int s = OK(x_accept(l, NULL, NULL));
    char b[4];
    EXPECT_EQ(x_recv(s, b, sizeof b, MSG_DONTWAIT), 2);
}

/* unix_dgram_sendmsg checks the message (size, shutdown) before it looks up
 * the address. */
TEST(dgram_send_reports_size_and_shutdown_before_a_missing_address) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct sockaddr_un a;
    socklen_t al = mkaddr(&a, kt_path(d, "none"));
    int g = OK(x_socket(AF_UNIX, SOCK_DGRAM, 0));
    int sndbuf = sockopt_int(g, SOL_SOCKET, SO_SNDBUF);
    static char big[1 << 20];
    CHECK(sndbuf > 0 && sndbuf < (int)sizeof big, "SO_SNDBUF %d", sndbuf);
    EXPECT_ERRNO(x_sendto(g, big, (size_t)sndbuf, 0, &a, al), EMSGSIZE);
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, al), ENOENT);
    OK(x_shutdown(g, SHUT_WR));
    EXPECT_ERRNO(x_sendto(g, "x", 1, 0, &a, al), EPIPE);
}

/* unix_stream_read_generic copies write by write: into a buffer whose end is
 * unmapped, a read takes the writes that fit and stops before the next
 * (EFAULT if none fits, the data staying queued). A datagram that cannot be
 * copied out is lost with EFAULT. An unwritable buffer and nothing queued is
 * just EAGAIN. */
TEST(recv_into_a_partly_unmapped_buffer_takes_whole_writes) {
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    OK(munmap(m + 4096, 4096));
    int sv[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    EXPECT_ERRNO(x_recv(sv[1], m + 4096, 16, MSG_DONTWAIT), EAGAIN);
    OK(x_send(sv[0], "abc", 3, 0));
    OK(x_send(sv[0], "defgh", 5, 0));
    EXPECT_ERRNO(x_recv(sv[1], m + 4094, 16, MSG_DONTWAIT), EFAULT);
    EXPECT_EQ(x_recv(sv[1], m + 4093, 16, MSG_DONTWAIT), 3);
    CHECK(!memcmp(m + 4093, "abc", 3), "wrong data");
    EXPECT_ERRNO(x_recv(sv[1], m + 4093, 16, MSG_DONTWAIT), EFAULT);
    EXPECT_EQ(x_recv(sv[1], m, 16, MSG_DONTWAIT), 5);
    int g[2];
    OK(x_socketpair(AF_UNIX, SOCK_DGRAM, 0, g));
    OK(x_send(g[0], "datagram", 8, 0));
    EXPECT_ERRNO(x_recv(g[1], m + 4093, 16, MSG_DONTWAIT), EFAULT);
    EXPECT_ERRNO(x_recv(g[1], m, 16, MSG_DONTWAIT), EAGAIN);
    munmap(m, 4096);
}

/* A stream read glues writes together (writers too, unless the reader has
 * SO_PASSCRED) and ends after a write carrying descriptors; MSG_PEEK hands
 * out duplicates of them. */
TEST(stream_reads_glue_writes_and_end_after_descriptors) {
    int sv[2], p[2];
    OK(x_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(pipe(p));
    OK(x_send(sv[0], "ab", 2, 0));
    OK(send_fds(sv[0], &p[0], 1, "F"));
    OK(x_send(sv[0], "cd", 2, 0));
    char data[8];
    int fds[4], n = 0, mf = 0;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int)), MSG_PEEK, fds, 4, &n,
                       &mf),
              3);
    EXPECT_EQ(n, 1);
    int peeked = n ? fds[0] : -1;
    EXPECT_EQ(recv_fds(sv[1], data, sizeof data, CMSG_SPACE(sizeof(int)), 0, fds, 4, &n, &mf), 3);
    CHECK(!memcmp(data, "abF", 3), "got \"%.3s\"", data);
    EXPECT_EQ(n, 1);
    CHECK(n && fds[0] != peeked && is_open(peeked), "the peek did not give its own descriptor");
    EXPECT_EQ(x_recv(sv[1], data, sizeof data, 0), 2);
    /* another process's write is glued on, unless the reader asks for creds */
    for (int passcred = 0; passcred < 2; passcred++) {
        OK(x_setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &passcred, sizeof passcred));
        OK(x_send(sv[0], "p1", 2, 0));
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            _exit(x_send(sv[0], "c1", 2, 0) == 2 ? 0 : 1);
        OK(pid);
        int st;
        EXPECT_EQ(waitpid(pid, &st, 0), pid);
        EXPECT_EQ(x_recv(sv[1], data, sizeof data, MSG_DONTWAIT), passcred ? 2 : 4);
        if (passcred)
            EXPECT_EQ(x_recv(sv[1], data, sizeof data, MSG_DONTWAIT), 2);
    }
}

int main(void)
{
    KT_BEGIN();
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &initial_mask, KSIGSET);
    /* socket() */
    RUNS(socket_stream_dgram_seqpacket_succeed);
    RUNS(socket_raw_becomes_dgram);
    RUNS(socket_unknown_type_is_esocktnosupport_or_einval);
    RUNS(socket_unknown_domain_is_eafnosupport);
    RUNS(socket_bad_protocol_is_eprotonosupport);
    RUNS(socket_cloexec_and_nonblock_flags_are_honoured);
    RUNS(socket_fstat_is_ifsock_and_proc_link_names_the_inode);
    /* socketpair() */
    RUNS(socketpair_stream_bytes_flow_both_ways);
    RUNS(socketpair_flags_cloexec_and_nonblock);
    RUNS(socketpair_stream_peer_close_gives_eof_then_epipe_and_sigpipe);
    RUNS(msg_nosignal_suppresses_sigpipe_and_only_stream_raises_it);
    RUNS(close_with_unread_data_gives_peer_econnreset);
    RUNS(socketpair_dgram_keeps_message_boundaries);
    RUNS(socketpair_dgram_short_buffer_truncates);
    RUNS(socketpair_dgram_zero_length_message);
    RUNS(dgram_send_after_peer_close_is_econnrefused_then_enotconn);
    RUNS(dgram_bigger_than_send_buffer_is_emsgsize);
    RUNS(socketpair_seqpacket_keeps_boundaries_and_reports_eof);
    RUNS(socketpair_af_inet_is_eopnotsupp);
    RUNS(socketpair_bad_sv_pointer_is_efault_without_leaking_fds);
    /* non-blocking and poll */
    RUNS(recv_on_empty_socket_nonblocking_is_eagain);
    RUNS(stream_fills_up_then_eagain_and_drains);
    RUNS(poll_reports_pollin_and_pollout);
    RUNS(poll_after_peer_shutdown_and_close);
    RUNS(poll_unconnected_and_listening_stream_sockets);
    /* shutdown() */
    RUNS(shutdown_wr_peer_reads_eof_but_can_still_send_back);
    RUNS(shutdown_rd_gives_eof_and_peer_write_is_epipe);
    RUNS(shutdown_bad_how_is_einval);
    RUNS(shutdown_unconnected_socket_succeeds);
    /* bind, listen, connect, accept with filesystem names */
    RUNS(bind_creates_socket_file_with_umask_mode);
    RUNS(bind_same_path_twice_is_eaddrinuse);
    RUNS(bind_already_bound_socket_is_einval);
    RUNS(bind_path_too_long_is_einval);
    RUNS(bind_in_missing_directory_is_enoent);
    RUNS(bind_wrong_family_is_einval);
    RUNS(bind_family_only_autobinds_abstract_name);
    RUNS(so_passcred_autobinds_on_connect);
    RUNS(listen_on_unbound_stream_socket_is_einval);
    RUNS(listen_on_dgram_is_eopnotsupp);
    RUNS(connect_to_missing_path_is_enoent);
    RUNS(connect_to_regular_file_is_econnrefused);
    RUNS(connect_to_socket_not_listening_is_econnrefused);
    RUNS(connect_type_mismatch_is_eprototype);
    RUNS(stream_connect_accept_addresses);
    RUNS(connect_twice_is_eisconn);
    RUNS(nonblocking_connect_completes_immediately_and_full_backlog_is_eagain);
    RUNS(accept4_flags);
    RUNS(accept_on_non_listening_socket_is_einval);
    RUNS(nonblocking_accept_without_pending_connection_is_eagain);
    RUNS(accept_on_non_socket_is_enotsock);
    RUNS(socket_calls_on_o_path_descriptor_are_ebadf);
    RUNS(blocking_accept_is_woken_by_connect_from_another_process);
    RUNS(unlinking_socket_path_keeps_established_connections);
    RUNS(connect_after_listener_closed_is_econnrefused);
    RUNS(getsockname_and_getpeername_of_unbound_socket);
    RUNS(stream_io_on_unconnected_socket);
    /* abstract namespace */
    RUNS(abstract_bind_and_connect_without_a_file);
    RUNS(abstract_same_name_twice_is_eaddrinuse);
    RUNS(abstract_name_is_released_when_the_socket_closes);
    RUNS(seqpacket_listen_accept_keeps_boundaries);
    /* DGRAM with addresses */
    RUNS(dgram_sendto_path_and_recvfrom_reports_the_sender);
    RUNS(dgram_sendto_missing_path_is_enoent);
    RUNS(connected_dgram_sends_without_address_and_rejects_strangers);
    /* SCM_RIGHTS */
    RUNS(scm_rights_passes_a_pipe_read_end);
    RUNS(scm_rights_several_fds_in_one_message);
    RUNS(scm_rights_msg_cmsg_cloexec);
    RUNS(scm_rights_short_control_buffer_sets_ctrunc_and_closes_the_rest);
    RUNS(scm_rights_bad_fd_is_ebadf);
    /* credentials */
    RUNS(so_passcred_recvmsg_gets_the_senders_ucred);
    RUNS(so_peercred_on_socketpair_names_the_creator);
    RUNS(so_peercred_on_connected_stream_names_both_ends);
    /* socket options */
    RUNS(getsockopt_type_domain_protocol);
    RUNS(getsockopt_acceptconn_and_error);
    RUNS(sndbuf_and_rcvbuf_are_positive_and_settable);
    RUNS(bufforce_needs_cap_net_admin_after_reading_the_value);
    RUNS(so_rcvtimeo_makes_blocking_recv_time_out);
    RUNS(getsockopt_bad_level_or_optname);
    RUNS(getsockopt_and_setsockopt_optlen_rules);
    RUNS(getsockopt_on_non_socket_is_enotsock);
    /* data path */
    RUNS(msg_peek_leaves_the_data);
    RUNS(msg_waitall_waits_for_the_full_amount);
    RUNS(msg_waitall_returns_short_at_eof);
    RUNS(readv_writev_and_sendmsg_iovecs_gather_and_scatter);
    RUNS(epoll_on_listening_socket_reports_pending_connection);
    RUNS(epoll_on_connected_socket_reports_epollin_and_epollrdhup);
    RUNS(close_of_peer_wakes_a_blocked_recv_with_eof);
    RUNS(peer_shutdown_wakes_a_blocked_recv_with_eof);
    /* more of what Linux does */
    RUNS(nonblocking_stream_send_returns_what_fit_when_the_buffer_fills);
    RUNS(read_and_write_on_a_socket_are_recv_and_send);
    RUNS(dgram_receiver_takes_eleven_from_strangers_and_poll_waits_for_room);
    RUNS(dgram_disconnect_drops_the_queue_and_resets_a_peer_connected_back);
    RUNS(dgram_connected_to_a_closed_peer_refuses_strangers_until_it_notices);
    RUNS(accept_with_no_free_descriptor_is_emfile_and_keeps_the_connection);
    RUNS(dgram_send_reports_size_and_shutdown_before_a_missing_address);
    RUNS(recv_into_a_partly_unmapped_buffer_takes_whole_writes);
    RUNS(stream_reads_glue_writes_and_end_after_descriptors);
    return KT_END();
}

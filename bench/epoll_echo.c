/*
 * epoll_echo - many TCP connections on 127.0.0.1, an epoll server, an epoll client.
 *
 *   epoll_echo echo N SECONDS NAME    N connections, each with one small request in
 *                                     flight, for SECONDS after a warm-up; prints
 *                                     BENCH NAME_rate (round trips/s), NAME_p50 and
 *                                     NAME_p99 (us)
 *   epoll_echo idle N NAME            N idle connections: prints BENCH NAME, the
 *                                     kernel memory per socket (sysinfo freeram
 *                                     before and after, over 2N sockets)
 *
 * The server is a child process: one epoll instance, level-triggered, that accepts
 * (non-blocking) and echoes what it reads. The client opens the N connections in
 * waves of WAVE non-blocking connects, each once the server has accepted the one
 * before (so that no connect meets a full accept queue and waits for a
 * retransmission), then keeps one MSG-byte request in flight on each and
 * times every round trip with CLOCK_MONOTONIC. RLIMIT_NOFILE is raised to 2N+64
 * first (the guest runs as root). kbench runs it for its tcp_epoll_* and
 * tcp_idle_* rows; it runs on any Linux too.
 *
 * With EPOLL_ECHO_DEBUG set, the server says on stderr what it did (and which
 * connections it never read from), and the client, if replies went missing,
 * where the first one's bytes are (FIONREAD, SIOCOUTQ). EPOLL_ECHO_BACKLOG=B
 * listens with backlog B instead of N, to try a full accept queue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define WAVE 256
#define MAX_CONNS 20000
#define MAX_SAMPLES (4 * 1000 * 1000)
#define WARM_S 0.5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double free_bytes(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return -1;
    return (double)si.freeram * (double)si.mem_unit;
}

static const char *name = "epoll_echo";

static void unsupported(const char *suffix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unsupported(const char *suffix, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("BENCH %s%s unsupported -\n", name, suffix);
    printf("BENCHNOTE %s%s %s\n", name, suffix, why);
}

static void result(const char *suffix, double value, const char *unit)
{
    const char *fmt = value >= 100 ? "BENCH %s%s %.0f %s\n"
                    : value >= 10  ? "BENCH %s%s %.1f %s\n"
                                   : "BENCH %s%s %.2f %s\n";
    printf(fmt, name, suffix, value, unit);
}

/* ---- the server ------------------------------------------------------------ */

static char is_conn[2 * MAX_CONNS + 64];
static long reads_of[2 * MAX_CONNS + 64];

/* Accepts and echoes until the client closes `ctl`; writes one byte to `ctl`
 * for every WAVE connections it has accepted (and added to its epoll set), and
 * one when it has `report_at` in all. */
static void serve(int l, int ctl, int report_at)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        _exit(1);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    ev.data.fd = ctl;
    epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev);
    static struct epoll_event evs[512];
    static char buf[4096];
    int accepted = 0;
    long reads = 0, echoes = 0, closed = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _exit(2);
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ctl) {
                /* The client is done (or gone). */
                if (getenv("EPOLL_ECHO_DEBUG")) {
                    fprintf(stderr, "epoll_echo server: %d accepted, %ld reads, %ld echoes, %ld closed\n",
                            accepted, reads, echoes, closed);
                    int idle = 0, shown = 0;
                    for (int f = 0; f < 2 * MAX_CONNS + 64; f++) {
                        if (!is_conn[f] || reads_of[f])
                            continue;
                        idle++;
                        if (shown++ < 3) {
                            int q = -1, o = -1;
                            ioctl(f, FIONREAD, &q);
                            ioctl(f, TIOCOUTQ, &o);
                            struct sockaddr_in p;
                            socklen_t pl = sizeof p;
                            getpeername(f, (struct sockaddr *)&p, &pl);
                            fprintf(stderr, "  fd %d (peer port %d): never read; FIONREAD %d, SIOCOUTQ %d\n", f,
                                    ntohs(p.sin_port), q, o);
                        }
                    }
                    fprintf(stderr, "epoll_echo server: %d connections never read\n", idle);
                }
                _exit(0);
            }
            if (fd == l) {
                for (;;) {
                    int c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break;
                    if (c < 2 * MAX_CONNS + 64)
                        is_conn[c] = 1;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) != 0)
                        _exit(3);
                    ++accepted;
                    if (accepted % WAVE == 0 || accepted == report_at) {
                        char b = 'a';
                        if (write(ctl, &b, 1) != 1)
                            _exit(4);
                    }
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            reads++;
            if (r > 0 && fd < 2 * MAX_CONNS + 64)
                reads_of[fd]++;
            if (r > 0) {
                if (write(fd, buf, (size_t)r) != r)
                    _exit(5); /* a few bytes never fill a send buffer */
                echoes++;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                closed++;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
}

/* ---- the client ------------------------------------------------------------ */

struct conn {
    int fd;
    int got;        /* bytes of the reply so far */
    int rounds;     /* round trips done */
    double sent_at; /* when the request went */
};

static struct conn *conns;
static int nconns; /* entries of conns */
static uint32_t *samples; /* round trips in us, inside the window */
static size_t nsamples;

/* Opens `n` connections to `addr` in waves of non-blocking connects, each wave
 * once the server (told by `ctl`) has accepted the one before: the accept queue
 * never holds more than a wave, so that no kernel drops a SYN or a handshake's
 * last ACK for a full queue (Linux then retransmits for seconds). Returns how
 * many are established and accepted, with errno set by the first failure. */
static int connect_all(const struct sockaddr_in *addr, int n, int ep, int ctl)
{
    int done = 0;
    static struct epoll_event evs[WAVE];
    while (done < n) {
        int wave = n - done < WAVE ? n - done : WAVE;
        int pending = 0;
        for (int i = done; i < done + wave; i++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0)
                return i;
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            conns[i].fd = fd;
            if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 && errno != EINPROGRESS) {
                int e = errno;
                close(fd);
                errno = e;
                return i;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
                return i;
            pending++;
        }
        double limit = now_s() + 30;
        while (pending > 0) {
            int k = epoll_wait(ep, evs, WAVE, 1000);
            if (k < 0 && errno != EINTR)
                return done;
            if (now_s() > limit) {
                errno = ETIMEDOUT;
                return done;
            }
            for (int j = 0; j < k; j++) {
                int i = (int)evs[j].data.u32;
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    errno = err;
                    return done;
                }
                /* Established: from now on the client waits for replies. */
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
                pending--;
            }
        }
        struct pollfd pc = {.fd = ctl, .events = POLLIN};
        char b;
        if (poll(&pc, 1, 30000) != 1 || read(ctl, &b, 1) != 1) {
            errno = ETIMEDOUT;
            return done;
        }
        done += wave;
    }
    return done;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int raise_nofile(int n)
{
    struct rlimit rl = {(rlim_t)(2 * n + 64), (rlim_t)(2 * n + 64)};
    struct rlimit old;
    if (getrlimit(RLIMIT_NOFILE, &old) == 0 && old.rlim_cur >= rl.rlim_cur)
        return 0;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        return 0;
    /* Not allowed above the hard limit (no CAP_SYS_RESOURCE): each process
     * needs N and a few, which the hard limit may still give. */
    if (errno == EPERM && old.rlim_max >= (rlim_t)n + 64) {
        old.rlim_cur = old.rlim_max;
        return setrlimit(RLIMIT_NOFILE, &old);
    }
    return -1;
}

/* A listener on 127.0.0.1 and an ephemeral port, with the server forked on it;
 * `ctl` is the client's end of the control socket pair. */
static pid_t start_server(int n, struct sockaddr_in *addr, int *ctl)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l < 0)
        return -1;
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *addr;
    /* Linux caps the backlog at net.core.somaxconn (4096). */
    if (bind(l, (struct sockaddr *)addr, len) != 0 || getsockname(l, (struct sockaddr *)addr, &len) != 0 ||
        listen(l, getenv("EPOLL_ECHO_BACKLOG") ? atoi(getenv("EPOLL_ECHO_BACKLOG")) : n) != 0)
        return -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        serve(l, sv[1], n);
        _exit(0);
    }
    close(l);
    close(sv[1]);
    *ctl = sv[0];
    return pid;
}

/* Closes the client's connections with a reset (SO_LINGER 0), so that neither
 * kernel has 2N sockets to take through FIN and TIME-WAIT while the next
 * benchmark runs; then stops the server. */
static void stop_server(pid_t pid, int ctl)
{
    struct linger lg = {1, 0};
    for (int i = 0; conns && i < nconns; i++)
        if (conns[i].fd > 0) {
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(conns[i].fd);
            conns[i].fd = 0;
        }
    close(ctl);
    for (int i = 0; i < 5000; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int echo(int n, double secs)
{
    conns = calloc((size_t)n, sizeof *conns);
    nconns = conns ? n : 0;
    samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!conns || !samples) {
        unsupported("_rate", "out of memory for %d connections", n);
        return 1;
    }
    struct sockaddr_in addr;
    int ctl;
    pid_t srv = start_server(n, &addr, &ctl);
    if (srv < 0) {
        unsupported("_rate", "listener on 127.0.0.1: %s", strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    double t0 = now_s();
    int made = connect_all(&addr, n, ep, ctl);
    double connect_s = now_s() - t0;
    if (made < n) {
        unsupported("_rate", "only %d of %d connections: %s", made, n, strerror(errno));
        stop_server(srv, ctl);
        return 1;
    }
    static char msg[MSG];
    memset(msg, 'x', sizeof msg);
    static struct epoll_event evs[1024];
    static char buf[MSG];
    double start = now_s();
    for (int i = 0; i < n; i++) {
        conns[i].sent_at = now_s();
        if (write(conns[i].fd, msg, MSG) != MSG) {
            unsupported("_rate", "write: %s", strerror(errno));
            stop_server(srv, ctl);
            return 1;
        }
    }
    /* The window opens once every connection has had a reply (and WARM_S has
     * passed): the first requests all went at once, their replies are no steady
     * state. */
    double w0 = 1e300, w1 = 1e300;
    long first_round = n;
    uint64_t in_window = 0;
    double t;
    while ((t = now_s()) < w1) {
        if (first_round > 0 && t - start > 60) {
            unsupported("_rate", "%ld of %d first replies missing after 60 s", first_round, n);
            if (getenv("EPOLL_ECHO_DEBUG")) {
                int partial = 0, first_missing = -1;
                for (int i = 0; i < n; i++) {
                    partial += conns[i].got > 0;
                    if (conns[i].rounds == 0 && first_missing < 0)
                        first_missing = i;
                }
                struct sockaddr_in me;
                socklen_t ml = sizeof me;
                if (first_missing >= 0)
                    getsockname(conns[first_missing].fd, (struct sockaddr *)&me, &ml);
                fprintf(stderr, "epoll_echo client: %d partial replies, first missing: connection %d (port %d)\n",
                        partial, first_missing, first_missing >= 0 ? ntohs(me.sin_port) : 0);
                if (first_missing >= 0) {
                    int q = -1, o = -1;
                    ioctl(conns[first_missing].fd, FIONREAD, &q);
                    ioctl(conns[first_missing].fd, TIOCOUTQ, &o);
                    fprintf(stderr, "  client: FIONREAD %d, SIOCOUTQ %d\n", q, o);
                }
            }
            stop_server(srv, ctl);
            return 1;
        }
        int k = epoll_wait(ep, evs, 1024, 100);
        if (k < 0 && errno != EINTR)
            break;
        for (int j = 0; j < k; j++) {
            struct conn *c = &conns[evs[j].data.u32];
            ssize_t r = read(c->fd, buf, (size_t)(MSG - c->got));
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                unsupported("_rate", "read: %s", r == 0 ? "end of file" : strerror(errno));
                stop_server(srv, ctl);
                return 1;
            }
            c->got += (int)r;
            if (c->got < MSG)
                continue;
            double now = now_s();
            /* The rate counts the replies that come in the window; the
             * latencies, those of requests sent in it (the connections move
             * in step at 10,000, so counting only the requests sent in the
             * window would count whole rounds). */
            if (now >= w0 && now <= w1)
                in_window++;
            if (c->sent_at >= w0 && now <= w1 && nsamples < MAX_SAMPLES)
                samples[nsamples++] = (uint32_t)((now - c->sent_at) * 1e6);
            if (c->rounds++ == 0 && --first_round == 0) {
                w0 = now > start + WARM_S ? now : start + WARM_S;
                w1 = w0 + secs;
            }
            c->got = 0;
            c->sent_at = now;
            if (write(c->fd, msg, MSG) != MSG) {
                unsupported("_rate", "write: %s", strerror(errno));
                stop_server(srv, ctl);
                return 1;
            }
        }
    }
    double window = (t < w1 ? t : w1) - w0;
    stop_server(srv, ctl);
    if (nsamples == 0) {
        unsupported("_rate", "no round trip completed in the %.1f s window", secs);
        return 1;
    }
    qsort(samples, nsamples, sizeof *samples, cmp_u32);
    result("_rate", (double)in_window / window, "roundtrips/s");
    result("_p50", samples[nsamples / 2], "us");
    result("_p99", samples[nsamples * 99 / 100], "us");
    printf("BENCHNOTE %s_rate %d connections opened in %.2f s, first replies after %.2f s; %llu replies "
           "of %d bytes in %.2f s\n",
           name, n, connect_s, w0 - start, (unsigned long long)in_window, MSG, window);
    return 0;
}

static int idle(int n)
{
    conns = calloc((size_t)n, sizeof *conns);
    nconns = conns ? n : 0;
    if (!conns) {
        printf("BENCH %s unsupported -\nBENCHNOTE %s out of memory\n", name, name);
        return 1;
    }
    memset(conns, 0, (size_t)n * sizeof *conns);
    struct sockaddr_in addr;
    int ctl;
    pid_t srv = start_server(n, &addr, &ctl);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (srv < 0 || ep < 0) {
        printf("BENCH %s unsupported -\nBENCHNOTE %s listener on 127.0.0.1: %s\n", name, name,
               strerror(errno));
        return 1;
    }
    sleep_ms(200);
    double before = free_bytes();
    /* Once it returns, the server has them all (accepted and in its epoll set). */
    int made = connect_all(&addr, n, ep, ctl);
    if (made < n) {
        printf("BENCH %s unsupported -\nBENCHNOTE %s only %d of %d connections: %s\n", name, name, made,
               n, strerror(errno));
        stop_server(srv, ctl);
        return 1;
    }
    sleep_ms(200);
    double after = free_bytes();
    stop_server(srv, ctl);
    printf("BENCH %s %.0f bytes\n", name, (before - after) / (2.0 * n));
    printf("BENCHNOTE %s %d connections (%d sockets); free memory %.1f MiB before, %.1f MiB after\n", name,
           n, 2 * n, before / 1048576, after / 1048576);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (argc < 4 || n < 1 || n > MAX_CONNS) {
        fprintf(stderr, "usage: epoll_echo echo N SECONDS NAME | epoll_echo idle N NAME (N up to %d)\n",
                MAX_CONNS);
        return 2;
    }
    int is_echo = strcmp(argv[1], "echo") == 0;
    if (is_echo && argc < 5)
        return 2;
    name = argv[is_echo ? 4 : 3];
    if (raise_nofile(n) != 0) {
        const char *s = is_echo ? "_rate" : "";
        printf("BENCH %s%s unsupported -\nBENCHNOTE %s%s setrlimit(RLIMIT_NOFILE, %d): %s\n", name, s, name, s,
               2 * n + 64, strerror(errno));
        return 1;
    }
    if (is_echo)
        return echo(n, atof(argv[3]));
    if (strcmp(argv[1], "idle") == 0)
        return idle(n);
    return 2;
}

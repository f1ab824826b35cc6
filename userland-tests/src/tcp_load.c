/*
 * tcp_load.c - TCP on 127.0.0.1 under load: many connections at once, a long
 * stream through one connection, a listener whose backlog is full.
 *
 * tcp.c has the calls and their errnos (and a hundred connections, a mebibyte);
 * these are the cases that fill queues and buffers.
 *
 * Linux behaviours asserted here:
 *   - A listener takes backlog+1 connections into its accept queue
 *     (sk_acceptq_is_full is "more than backlog"); a SYN beyond that is
 *     dropped, so the client stays connecting (not refused) and its SYN
 *     retransmission gets in once accept made room. None is lost.
 *   - A thousand non-blocking connects to one listener with a backlog of
 *     1024 all complete, are all accepted, and each carries its own bytes.
 *   - 64 MiB written through one connection arrive whole and in order.
 *
 * Each case runs under a watchdog alarm and closes its descriptors after.
 */
#define KT_AREA "tcp_load"
#include "inet.h"
#include "kt.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define WATCHDOG_S 60

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
    struct rlimit rl;
    int top = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 ? (int)rl.rlim_cur : 4096;
    for (int fd = 3; fd < top; fd++)
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

/* A listener on 127.0.0.1 at an ephemeral port with `backlog`. */
static int listener(int backlog, struct sockaddr_in *addr)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    *addr = lo4(0);
    if (bind(s, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(s, backlog) < 0)
        return -1;
    *addr = lo4((uint16_t)port_of(s));
    return s;
}

static short poll_one(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    if (poll(&p, 1, ms) < 0)
        return -1;
    return p.revents;
}

/* At least `n` descriptors, if the hard limit allows. */
static int want_fds(int n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur >= (rlim_t)n)
        return 0;
    rl.rlim_cur = (rlim_t)n;
    if (rl.rlim_max < rl.rlim_cur)
        rl.rlim_max = rl.rlim_cur; /* root only */
    return setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- many connections ---------------------------------------------------- */

TEST(a_thousand_simultaneous_connects_are_all_accepted_and_echoed) {
    enum { N = 1000 };
    if (want_fds(2 * N + 64) != 0) {
        SKIP("RLIMIT_NOFILE cannot reach %d: %s", 2 * N + 64, kt_errstr(errno));
        return;
    }
    struct sockaddr_in sa;
    int l = OK(listener(1024, &sa));
    static int c[N], a[N];
    for (int i = 0; i < N; i++) {
        c[i] = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
        errno = 0;
        int r = connect(c[i], (struct sockaddr *)&sa, sizeof sa);
        CHECK(r == 0 || errno == EINPROGRESS, "connect %d: %s", i, kt_errstr(errno));
    }
    for (int i = 0; i < N; i++) {
        a[i] = accept(l, NULL, NULL);
        CHECK(a[i] >= 0, "accept %d of %d: %s", i, N, kt_errstr(errno));
        if (a[i] < 0)
            return;
    }
    /* Every client says which it is; every accepted connection echoes it. */
    for (int i = 0; i < N; i++) {
        CHECK(poll_one(c[i], POLLOUT, 10000) & POLLOUT, "client %d not writable", i);
        uint32_t v = (uint32_t)i;
        EXPECT_EQ(send(c[i], &v, sizeof v, 0), (ssize_t)sizeof v);
    }
    static char seen[N];
    for (int i = 0; i < N; i++) {
        uint32_t v = UINT32_MAX;
        EXPECT_EQ(recv(a[i], &v, sizeof v, MSG_WAITALL), (ssize_t)sizeof v);
        CHECK(v < N && !seen[v], "connection %d carried %u", i, v);
        if (v < N)
            seen[v] = 1;
        EXPECT_EQ(send(a[i], &v, sizeof v, 0), (ssize_t)sizeof v);
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        uint32_t v = UINT32_MAX;
        CHECK(poll_one(c[i], POLLIN, 10000) & POLLIN, "client %d got no echo", i);
        if (recv(c[i], &v, sizeof v, MSG_WAITALL) != (ssize_t)sizeof v || v != (uint32_t)i)
            bad++;
    }
    EXPECT_EQ(bad, 0);
}

/* ---- one long stream ------------------------------------------------------ */

/* The stream's bytes: xorshift64 from a seed, so that the reader can tell a
 * byte dropped, repeated or reordered. */
static uint64_t next_word(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

TEST(sixty_four_mebibytes_through_one_connection_arrive_in_order) {
    enum { TOTAL = 64 << 20, CHUNK = 64 << 10 };
    struct sockaddr_in sa;
    int l = OK(listener(4, &sa));
    int c = OK(socket(AF_INET, SOCK_STREAM, 0));
    OK(connect(c, (struct sockaddr *)&sa, sizeof sa));
    int s = OK(accept(l, NULL, NULL));
    pid_t pid = fork();
    if (pid == 0) {
        static uint64_t buf[CHUNK / 8];
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (size_t sent = 0; sent < TOTAL; sent += CHUNK) {
            for (size_t i = 0; i < CHUNK / 8; i++)
                buf[i] = next_word(&x);
            const char *p = (const char *)buf;
            size_t done = 0;
            while (done < CHUNK) {
                ssize_t n = write(c, p + done, CHUNK - done);
                if (n <= 0)
                    _exit(1);
                done += (size_t)n;
            }
        }
        _exit(0);
    }
    close(c);
    /* Compare word by word against the same sequence, across read boundaries. */
    static unsigned char buf[CHUNK + 8];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t got = 0, have = 0, first_bad = SIZE_MAX;
    for (;;) {
        ssize_t r = read(s, buf + have, CHUNK);
        if (r <= 0) {
            CHECK(r == 0, "read after %zu bytes: %s", got, kt_errstr(errno));
            break;
        }
        have += (size_t)r;
        size_t words = have / 8;
        for (size_t i = 0; i < words; i++) {
            uint64_t w;
            memcpy(&w, buf + 8 * i, 8);
            if (w != next_word(&x) && first_bad == SIZE_MAX)
                first_bad = got + 8 * i;
        }
        got += 8 * words;
        memmove(buf, buf + 8 * words, have - 8 * words);
        have -= 8 * words;
    }
    EXPECT_EQ(got + have, (size_t)TOTAL);
    CHECK(first_bad == SIZE_MAX, "the stream differs from byte %zu on", first_bad);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %s", kt_status(st));
}

/* ---- a full backlog -------------------------------------------------------- */

TEST(a_full_backlog_leaves_connects_waiting_and_loses_none) {
    enum { N = 4, BACKLOG = 1 };
    struct sockaddr_in sa;
    int l = OK(listener(BACKLOG, &sa));
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
        errno = 0;
        int r = connect(c[i], (struct sockaddr *)&sa, sizeof sa);
        CHECK(r == 0 || errno == EINPROGRESS, "connect %d: %s", i, kt_errstr(errno));
    }
    /* backlog+1 handshakes complete; the other SYNs were dropped, and their
     * clients are still connecting: not writable, no error. */
    int done = 0;
    for (int i = 0; i < N; i++) {
        short ev = poll_one(c[i], POLLOUT, i < BACKLOG + 1 ? 2000 : 200);
        CHECK(!(ev & POLLERR), "client %d: revents %#x", i, ev);
        if (ev & POLLOUT)
            done++;
    }
    EXPECT_EQ(done, BACKLOG + 1);
    for (int i = 0; i < N; i++) {
        int err = -1;
        socklen_t len = sizeof err;
        OK(getsockopt(c[i], SOL_SOCKET, SO_ERROR, &err, &len));
        EXPECT_EQ(err, 0);
    }
    /* Accepting makes room: the retransmitted SYNs get in, every one. */
    int a[N];
    for (int i = 0; i < N; i++) {
        CHECK(poll_one(l, POLLIN, 20000) & POLLIN, "connection %d never queued", i);
        a[i] = OK(accept(l, NULL, NULL));
    }
    for (int i = 0; i < N; i++) {
        CHECK(poll_one(c[i], POLLOUT, 5000) & POLLOUT, "client %d not connected", i);
        unsigned char b = (unsigned char)i;
        EXPECT_EQ(send(c[i], &b, 1, 0), 1);
    }
    unsigned seen = 0;
    for (int i = 0; i < N; i++) {
        unsigned char b = 0xff;
        EXPECT_EQ(recv(a[i], &b, 1, 0), 1);
        if (b < N)
            seen |= 1u << b;
    }
    EXPECT_EQ(seen, (1u << N) - 1);
    /* Nothing else is waiting. */
    int fl = fcntl(l, F_GETFL);
    fcntl(l, F_SETFL, fl | O_NONBLOCK);
    EXPECT_ERRNO(accept(l, NULL, NULL), EAGAIN);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    KT_BEGIN();
    RUNS(a_full_backlog_leaves_connects_waiting_and_loses_none);
    RUNS(a_thousand_simultaneous_connects_are_all_accepted_and_echoed);
    RUNS(sixty_four_mebibytes_through_one_connection_arrive_in_order);
    return KT_END();
}

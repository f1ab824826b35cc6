/*
 * hotload: the load `cargo xtask hot-text` watches to find the kernel's hot code.
 *
 * Not a benchmark (it prints no BENCH lines and times nothing): each workload runs a
 * fixed number of iterations, and each iteration begins with a call to the
 * workload's own marker function, `mark_<workload>`. xtask boots Kestrel under
 * QEMU's `-d exec,nochain` (a line for every translated block executed), finds the
 * markers' addresses in this program's symbols, and splits the log at them: the
 * kernel code one iteration runs is what one system call, or one round trip
 * between two threads or two processes, needs. The workloads are those of
 * docs/hot-paths.md's rows: a null system call, clock_gettime as a system call,
 * small reads and writes, stat, poll and select of 100 idle pipes, and a byte
 * handed back and forth through a futex between threads and through a pipe and a
 * Unix socket between processes.
 *
 *   hotload [-n ITERATIONS] [WORKLOAD...]    (default: all, 2,000 iterations each)
 *   hotload --list                           the workloads, one a line
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define NFDS 100

/*
 * One marker per workload, each with code of its own (a counter of its own), so
 * that the compiler can neither inline nor merge them: xtask needs a distinct
 * address for each, entered once per iteration.
 */
static volatile long marks[16];
#define MARKER(i, name)                                                                \
    __attribute__((noinline, used)) void mark_##name(void) { marks[i]++; }
MARKER(0, end)
MARKER(1, getppid)
MARKER(2, clock_gettime)
MARKER(3, read_devzero)
MARKER(4, write_devnull)
MARKER(5, stat)
MARKER(6, poll)
MARKER(7, select)
MARKER(8, futex)
MARKER(9, pipe)
MARKER(10, unix)

static void die(const char *what)
{
    printf("hotload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void w_getppid(long n)
{
    for (long i = 0; i < n; i++) {
        mark_getppid();
        syscall(SYS_getppid);
    }
}

static void w_clock_gettime(long n)
{
    struct timespec ts;
    for (long i = 0; i < n; i++) {
        mark_clock_gettime();
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    }
}

static void w_read_devzero(long n)
{
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/zero");
    char c;
    for (long i = 0; i < n; i++) {
        mark_read_devzero();
        if (read(fd, &c, 1) != 1)
            die("read /dev/zero");
    }
    close(fd);
}

static void w_write_devnull(long n)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/null");
    char c = 'x';
    for (long i = 0; i < n; i++) {
        mark_write_devnull();
        if (write(fd, &c, 1) != 1)
            die("write /dev/null");
    }
    close(fd);
}

static void w_stat(long n)
{
    char dir[] = "/tmp/hotload.XXXXXX", path[64];
    mkdir("/tmp", 01777);
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(path, sizeof path, "%s/stat-me", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create");
    close(fd);
    struct stat st;
    for (long i = 0; i < n; i++) {
        mark_stat();
        if (stat(path, &st))
            die("stat");
    }
    unlink(path);
    rmdir(dir);
}

/* poll or select of 100 idle pipe read and write ends for input, timeout 0. */
static void w_fds(long n, int use_select)
{
    int fds[NFDS], maxfd = 0;
    for (int i = 0; i < NFDS; i += 2) {
        if (pipe2(&fds[i], O_CLOEXEC))
            die("pipe");
        maxfd = fds[i] > maxfd ? fds[i] : maxfd;
        maxfd = fds[i + 1] > maxfd ? fds[i + 1] : maxfd;
    }
    for (long i = 0; i < n; i++) {
        if (use_select) {
            mark_select();
            fd_set r;
            FD_ZERO(&r);
            for (int j = 0; j < NFDS; j++)
                FD_SET(fds[j], &r);
            struct timeval tv = {0, 0};
            if (select(maxfd + 1, &r, NULL, NULL, &tv) < 0)
                die("select");
        } else {
            mark_poll();
            struct pollfd p[NFDS];
            for (int j = 0; j < NFDS; j++)
                p[j] = (struct pollfd){.fd = fds[j], .events = POLLIN};
            if (poll(p, NFDS, 0) < 0)
                die("poll");
        }
    }
    for (int i = 0; i < NFDS; i++)
        close(fds[i]);
}

static atomic_int turn; /* 0: main's move, 1: the partner's */
static atomic_int stop;

static void *partner(void *arg)
{
    (void)arg;
    for (;;) {
        while (atomic_load(&turn) != 1)
            syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        if (atomic_load(&stop))
            return NULL;
        atomic_store(&turn, 0);
        syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

static void w_futex(long n)
{
    pthread_t t;
    atomic_store(&stop, 0);
    atomic_store(&turn, 0);
    if ((errno = pthread_create(&t, NULL, partner, NULL)))
        die("pthread_create");
    for (long i = 0; i < n; i++) {
        mark_futex();
        atomic_store(&turn, 1);
        syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        while (atomic_load(&turn) != 0)
            syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    }
    atomic_store(&stop, 1);
    atomic_store(&turn, 1);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_join(t, NULL);
}

/* A byte from the parent to a child and back: through two pipes, or one socket pair. */
static void w_ipc(long n, int unix_socket)
{
    int a[2], b[2], out, in, child_in, child_out;
    if (unix_socket) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a))
            die("socketpair");
        out = in = a[0];
        child_in = child_out = a[1];
    } else {
        if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC))
            die("pipe");
        out = a[1], child_in = a[0], child_out = b[1], in = b[0];
    }
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* Without the parent's ends, which would keep the child from seeing EOF. */
        close(out);
        if (in != out)
            close(in);
        char c;
        while (read(child_in, &c, 1) == 1)
            if (write(child_out, &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(child_in);
    if (child_out != child_in)
        close(child_out);
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (unix_socket)
            mark_unix();
        else
            mark_pipe();
        if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
            die("round trip");
    }
    close(out);
    if (in != out)
        close(in);
    waitpid(pid, NULL, 0);
}

static void w_poll(long n) { w_fds(n, 0); }
static void w_select(long n) { w_fds(n, 1); }
static void w_pipe(long n) { w_ipc(n, 0); }
static void w_unix(long n) { w_ipc(n, 1); }

static const struct {
    const char *name;
    void (*run)(long n);
} workloads[] = {
    {"getppid", w_getppid},     {"clock_gettime", w_clock_gettime},
    {"read_devzero", w_read_devzero}, {"write_devnull", w_write_devnull},
    {"stat", w_stat},           {"poll", w_poll},
    {"select", w_select},       {"futex", w_futex},
    {"pipe", w_pipe},           {"unix", w_unix},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    long n = 2000;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NWORKLOADS; i++)
            printf("%s\n", workloads[i].name);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        n = atol(argv[2]);
        first = 3;
    }
    for (size_t i = 0; i < NWORKLOADS; i++) {
        int chosen = first >= argc;
        for (int a = first; a < argc; a++)
            chosen |= strcmp(argv[a], workloads[i].name) == 0;
        if (!chosen)
            continue;
        printf("HOTLOAD %s %ld\n", workloads[i].name, n);
        workloads[i].run(n);
        mark_end();
    }
    printf("HOTLOAD done\n");
    return 0;
}

/*
 * runner DIR - runs every regular executable file in DIR, in sorted order.
 *
 * For each file: prints "== <file>", forks, and in the child points stdout
 * and stderr at a pipe and execve()s the file (argv[0] = full path, the
 * runner's environment, stdin inherited). Every line the child writes is
 * echoed unchanged; lines starting with "PASS ", "FAIL " and "SKIP " are
 * counted. A child that exits non-zero without printing a FAIL line, or that
 * is killed by a signal, counts as one more failure. The last line is
 * "N passed, N failed, N skipped"; the exit status is 0 iff nothing failed.
 *
 * A test that is still running TEST_TIMEOUT seconds after it started is
 * killed with SIGKILL and counted as a failure, so one hang cannot stop the
 * suite.
 *
 * Deliberately uses only: fork, execve, pipe, dup2, close, read, write,
 * wait4, open, getdents64, stat, poll, kill, clock_gettime (no stdio, no
 * malloc, no signal handlers), so that it runs on a young kernel. (musl's own
 * start-up code still makes its usual arch_prctl and set_tid_address calls.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_FILES 1024
#define NAMES_SPACE (64 * 1024)
#define LINE_MAX_LEN 4096

static char names_space[NAMES_SPACE];
static size_t names_used;
static char *names[MAX_FILES];
static int nnames;

static long passed, failed, skipped;

/* ---- output without stdio --------------------------------------------- */

static void out(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

__attribute__((format(printf, 1, 2)))
static void outf(const char *fmt, ...)
{
    char buf[LINE_MAX_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    out(buf, (size_t)n);
}

/* ---- collecting the test files ---------------------------------------- */

struct dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void join(char *dst, size_t size, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    snprintf(dst, size, "%.*s/%s", (int)dl, dir, name);
}

/* Returns 0 on success, -1 (with a message printed) on error. */
static int collect(const char *dir, const struct stat *self)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        outf("runner: cannot open %s: errno %d\n", dir, errno);
        return -1;
    }
    static char buf[8192] __attribute__((aligned(8)));
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *e = (struct dirent64 *)(buf + off);
            off += e->d_reclen;
            if (e->d_name[0] == '.' &&
                (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
                continue;
            char path[4096];
            struct stat st;
            join(path, sizeof path, dir, e->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                continue;
            if (self && st.st_dev == self->st_dev && st.st_ino == self->st_ino)
                continue; /* never run ourselves */
            size_t len = strlen(e->d_name) + 1;
            if (nnames == MAX_FILES || names_used + len > NAMES_SPACE) {
                outf("runner: too many files in %s\n", dir);
                close(fd);
                return -1;
            }
            names[nnames++] = memcpy(names_space + names_used, e->d_name, len);
            names_used += len;
        }
    }
    int err = errno;
    close(fd);
    if (n < 0) {
        outf("runner: getdents64 on %s failed: errno %d\n", dir, err);
        return -1;
    }
    qsort(names, (size_t)nnames, sizeof names[0], cmp_names);
    return 0;
}

/* ---- running one test ------------------------------------------------- */

struct counts {
    long pass, fail, skip;
};

static void emit_line(const char *line, size_t len, struct counts *c)
{
    out(line, len);
    out("\n", 1);
    if (len >= 5) {
        if (!memcmp(line, "PASS ", 5))
            c->pass++;
        else if (!memcmp(line, "FAIL ", 5))
            c->fail++;
        else if (!memcmp(line, "SKIP ", 5))
            c->skip++;
    }
}

/* Seconds a test program may run (generous: the guest may be emulated). */
#define TEST_TIMEOUT 240

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_one(const char *dir, const char *name)
{
    char path[4096];
    join(path, sizeof path, dir, name);
    outf("== %s\n", name);

    int p[2];
    if (pipe(p) != 0) {
        outf("FAIL %s: pipe failed: errno %d\n", name, errno);
        failed++;
        return;
    }
    /* raw fork: musl's fork() also masks signals around the call */
    pid_t pid = (pid_t)syscall(SYS_fork);
    if (pid < 0) {
        outf("FAIL %s: fork failed: errno %d\n", name, errno);
        failed++;
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        if (p[1] > 2)
            close(p[1]);
        char *argv[] = {path, NULL};
        execve(path, argv, environ);
        char msg[4200];
        int n = snprintf(msg, sizeof msg, "runner: execve %s failed: errno %d\n", path, errno);
        if (n > 0)
            write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        _exit(127);
    }
    close(p[1]);

    struct counts c = {0, 0, 0};
    static char line[LINE_MAX_LEN];
    size_t len = 0;
    char buf[4096];
    long deadline = now_ms() + TEST_TIMEOUT * 1000L;
    int timed_out = 0;
    for (;;) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        long left = deadline - now_ms();
        int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                emit_line(line, len, &c);
                len = 0;
            } else {
                if (len == sizeof line) { /* overlong line: pass it on in pieces */
                    emit_line(line, len, &c);
                    len = 0;
                }
                line[len++] = buf[i];
            }
        }
    }
    if (len > 0)
        emit_line(line, len, &c);
    close(p[0]);

    int st = 0;
    pid_t w;
    do
        w = (pid_t)syscall(SYS_wait4, pid, &st, 0, NULL);
    while (w < 0 && errno == EINTR);

    if (w != pid) {
        outf("FAIL %s: wait4 failed: errno %d\n", name, errno);
        c.fail++;
    } else if (timed_out) {
        outf("FAIL %s: still running after %d s, killed\n", name, TEST_TIMEOUT);
        c.fail++;
    } else if (WIFSIGNALED(st)) {
        outf("FAIL %s: killed by signal %d\n", name, WTERMSIG(st));
        c.fail++;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && c.fail == 0) {
        outf("FAIL %s: exited with status %d\n", name, WEXITSTATUS(st));
        c.fail++;
    }
    passed += c.pass;
    failed += c.fail;
    skipped += c.skip;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        outf("usage: %s DIR\n", argc > 0 ? argv[0] : "runner");
        return 2;
    }
    struct stat self, *selfp = NULL;
    if (argv[0] && strchr(argv[0], '/') && stat(argv[0], &self) == 0)
        selfp = &self;
    if (collect(argv[1], selfp) != 0) {
        failed++;
    } else {
        for (int i = 0; i < nnames; i++)
            run_one(argv[1], names[i]);
    }
    outf("%ld passed, %ld failed, %ld skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

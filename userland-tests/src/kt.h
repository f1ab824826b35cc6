/*
 * kt.h - tiny test harness for the Kestrel userland tests.
 *
 * Usage:
 *   #define KT_AREA "fs_file"
 *   #include "kt.h"
 *
 *   TEST(open_missing_path_is_enoent) {
 *       EXPECT_ERRNO(syscall(SYS_open, "/nonexistent", O_RDONLY), ENOENT);
 *   }
 *
 *   int main(void) {
 *       KT_BEGIN();
 *       RUN(open_missing_path_is_enoent);
 *       return KT_END();
 *   }
 *
 * Each TEST is a function; RUN() calls it and prints exactly one line:
 *   PASS <area>.<case>            if nothing failed or skipped
 *   FAIL <area>.<case>: <why>     from the first failing CHECK, EXPECT_* or OK
 *   SKIP <area>.<case>: <why>     from SKIP()
 * A failing check returns from the test function immediately.  After each
 * case RUN() removes the temp dirs the case made with kt_tmpdir(), goes back
 * to "/" and restores the umask, so a failed case cannot disturb the next.
 */
#ifndef KT_H
#define KT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KT_AREA
#error "define KT_AREA before including kt.h"
#endif

/* ---- result reporting ------------------------------------------------- */

#define KT_HELPER static __attribute__((unused))

static int kt_nfail;          /* number of FAIL lines printed */
static int kt_reported;       /* current case already printed a line */
static mode_t kt_saved_umask;

KT_HELPER const char *kt_errname(int e)
{
    switch (e) {
#define KT_E(x) case x: return #x;
    KT_E(EPERM) KT_E(ENOENT) KT_E(ESRCH) KT_E(EINTR) KT_E(EIO) KT_E(ENXIO)
    KT_E(E2BIG) KT_E(ENOEXEC) KT_E(EBADF) KT_E(ECHILD) KT_E(EAGAIN)
    KT_E(ENOMEM) KT_E(EACCES) KT_E(EFAULT) KT_E(EBUSY) KT_E(EEXIST)
    KT_E(EXDEV) KT_E(ENODEV) KT_E(ENOTDIR) KT_E(EISDIR) KT_E(EINVAL)
    KT_E(ENFILE) KT_E(EMFILE) KT_E(ENOTTY) KT_E(ETXTBSY) KT_E(EFBIG)
    KT_E(ENOSPC) KT_E(ESPIPE) KT_E(EROFS) KT_E(EMLINK) KT_E(EPIPE)
    KT_E(ERANGE) KT_E(ENAMETOOLONG) KT_E(ENOSYS) KT_E(ENOTEMPTY)
    KT_E(ELOOP) KT_E(EOPNOTSUPP) KT_E(EOVERFLOW) KT_E(ETIMEDOUT)
    KT_E(ENODATA) KT_E(EDEADLK) KT_E(ECONNREFUSED) KT_E(ENOTSOCK) KT_E(EADDRINUSE)
#undef KT_E
    case 0: return "0";
    default: return "E?";
    }
}

/* "ENOENT(2)" - uses a small rotating buffer so it can appear twice in one printf */
KT_HELPER const char *kt_errstr(int e)
{
    static char buf[4][32];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, sizeof buf[0], "%s(%d)", kt_errname(e), e);
    return b;
}

KT_HELPER void kt_line(const char *kind, const char *name, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    printf("%s %s.%s: %s\n", kind, KT_AREA, name, msg);
    fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
KT_HELPER void kt_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    if (kt_reported)
        return;
    va_start(ap, fmt);
    kt_line("FAIL", name, fmt, ap);
    va_end(ap);
    kt_reported = 1;
    kt_nfail++;
}

__attribute__((format(printf, 2, 3)))
KT_HELPER void kt_skip(const char *name, const char *fmt, ...)
{
    va_list ap;
    if (kt_reported)
        return;
    va_start(ap, fmt);
    kt_line("SKIP", name, fmt, ap);
    va_end(ap);
    kt_reported = 1;
}

/* ---- assertions (only usable inside a TEST body) ---------------------- */

#define TEST(name) static void name(const char *kt_case)

/* Fail the case (and return from it) unless cond holds. */
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            kt_fail(kt_case, __VA_ARGS__);                                    \
            return;                                                           \
        }                                                                     \
    } while (0)

#define SKIP(...)                                                             \
    do {                                                                      \
        kt_skip(kt_case, __VA_ARGS__);                                        \
        return;                                                               \
    } while (0)

/* expr must return -1 with errno == err. */
#define EXPECT_ERRNO(expr, err)                                               \
    do {                                                                      \
        errno = 0;                                                            \
        long kt_r_ = (long)(expr);                                            \
        int kt_e_ = errno;                                                    \
        if (kt_r_ != -1 || kt_e_ != (err)) {                                  \
            kt_fail(kt_case, "%s: got %ld errno %s, expected -1 errno %s",    \
                    #expr, kt_r_, kt_errstr(kt_e_), kt_errstr(err));          \
            return;                                                           \
        }                                                                     \
    } while (0)

/* expr must succeed (not -1 / not MAP_FAILED); evaluates to its result. */
#define OK(expr)                                                              \
    ({                                                                        \
        errno = 0;                                                            \
        long kt_r_ = (long)(expr);                                            \
        if (kt_r_ == -1) {                                                    \
            kt_fail(kt_case, "%s failed: errno %s", #expr,                    \
                    kt_errstr(errno));                                        \
            return;                                                           \
        }                                                                     \
        kt_r_;                                                                \
    })

/* a == b for integers, with both values (and errno if a is -1) in the message. */
#define EXPECT_EQ(a, b)                                                       \
    do {                                                                      \
        errno = 0;                                                            \
        long long kt_a_ = (long long)(a);                                     \
        int kt_e_ = errno;                                                    \
        long long kt_b_ = (long long)(b);                                     \
        if (kt_a_ != kt_b_) {                                                 \
            kt_fail(kt_case, "%s = %lld%s%s, expected %s = %lld", #a, kt_a_,  \
                    kt_a_ == -1 ? " errno " : "",                             \
                    kt_a_ == -1 ? kt_errstr(kt_e_) : "", #b, kt_b_);          \
            return;                                                           \
        }                                                                     \
    } while (0)

/* ---- temp dirs -------------------------------------------------------- */

#define KT_MAXTMP 8
static char kt_tmpdirs[KT_MAXTMP][256];
static int kt_ntmp;

/* Fresh directory /tmp/kt-<area>-XXXXXX, removed after the case. NULL on error.
 * With KT_TMPDIR set in the environment, it is made there instead of /tmp (the
 * file-system tests run a second time on a disk file system that way). */
KT_HELPER const char *kt_tmpdir(void)
{
    if (kt_ntmp == KT_MAXTMP)
        return NULL;
    char *d = kt_tmpdirs[kt_ntmp];
    const char *base = getenv("KT_TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(d, sizeof kt_tmpdirs[0], "%s/kt-%s-XXXXXX", base, KT_AREA);
    if (!mkdtemp(d))
        return NULL;
    kt_ntmp++;
    return d;
}

/* rm -rf: returns 0 on success. Does not follow symlinks. */
KT_HELPER int kt_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    chmod(path, 0700);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    char sub[PATH_MAX];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        kt_rmtree(sub);
    }
    closedir(d);
    return rmdir(path);
}

/* Writes a whole file (mode 0644 unless it exists). Returns 0 on success. */
KT_HELPER int kt_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* path = dir + "/" + name, in a rotating static buffer. */
KT_HELPER const char *kt_path(const char *dir, const char *name)
{
    static char buf[4][PATH_MAX];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

/* ---- this program ----------------------------------------------------- */

/* Puts the path of this test's own program (/proc/self/exe) in buf: 0, or -1
 * if it cannot be read or is not executable (the cases that re-execute the
 * test then SKIP). */
KT_HELPER int kt_find_self(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return access(buf, X_OK);
}

/* ---- child processes -------------------------------------------------- */

/* fork with stdout flushed first; the child dumps no core (deliberate
 * crashes stay fast). Returns what fork returns. */
KT_HELPER pid_t kt_fork(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
    }
    return pid;
}

/*
 * Runs fn(arg) in a forked child (which then _exit(0)s) and returns the raw
 * wait status, or -1 if fork/wait failed. Core dumps are disabled in the child
 * so that deliberate crashes stay fast.
 */
KT_HELPER int kt_in_child(void (*fn)(void *), void *arg)
{
    pid_t pid = kt_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

/* Human-readable wait status, in a static buffer. */
KT_HELPER const char *kt_status(int st)
{
    static char buf[64];
    if (st == -1)
        snprintf(buf, sizeof buf, "fork/wait failed");
    else if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "status 0x%x", st);
    return buf;
}

/* ---- running cases ---------------------------------------------------- */

KT_HELPER void kt_after_case(void)
{
    while (kt_ntmp > 0)
        kt_rmtree(kt_tmpdirs[--kt_ntmp]);
    if (chdir("/") != 0) { /* nothing sensible to do */ }
    umask(kt_saved_umask);
}

#define RUN(name)                                                             \
    do {                                                                      \
        kt_reported = 0;                                                      \
        name(#name);                                                          \
        if (!kt_reported) {                                                   \
            printf("PASS %s.%s\n", KT_AREA, #name);                           \
            fflush(stdout);                                                   \
        }                                                                     \
        kt_after_case();                                                      \
    } while (0)

#define KT_BEGIN()                                                            \
    do {                                                                      \
        setvbuf(stdout, NULL, _IONBF, 0);                                     \
        kt_saved_umask = umask(022);                                          \
        umask(kt_saved_umask);                                                \
    } while (0)

#define KT_END() (kt_nfail ? 1 : 0)

#endif

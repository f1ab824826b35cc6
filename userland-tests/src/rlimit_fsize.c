/*
 * rlimit_fsize.c - RLIMIT_FSIZE: a write that would take a regular file past
 * the soft limit writes up to it; one that starts at or past it fails with
 * EFBIG and sends SIGXFSZ (Linux's generic_write_check_limits). Growing a file
 * past it with truncate or fallocate is EFBIG and SIGXFSZ too (inode_newsize_ok).
 *
 * Each case runs with a soft limit of LIMIT bytes and a SIGXFSZ handler that
 * counts; both are restored after it.
 */
#define KT_AREA "rlimit_fsize"
#include "kt.h"

#include <signal.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#define LIMIT 10

static volatile sig_atomic_t xfsz;

static void on_xfsz(int sig)
{
    (void)sig;
    xfsz++;
}

static const char data26[] = "abcdefghijklmnopqrstuvwxyz";

/* A file in a fresh directory, open read-write; -1 on failure. */
static int new_file(const char **path)
{
    const char *dir = kt_tmpdir();
    if (!dir)
        return -1;
    *path = kt_path(dir, "f");
    return open(*path, O_CREAT | O_RDWR, 0644);
}

static long file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_size : -1;
}

/* A case run with the soft limit at LIMIT and SIGXFSZ counted in xfsz. */
#define FTEST(name)                                                           \
    static void name##_body(const char *kt_case);                             \
    TEST(name)                                                                \
    {                                                                         \
        struct rlimit old, rl;                                                \
        struct sigaction sa = {0}, olds;                                      \
        OK(getrlimit(RLIMIT_FSIZE, &old));                                    \
        sa.sa_handler = on_xfsz;                                              \
        OK(sigaction(SIGXFSZ, &sa, &olds));                                   \
        rl = old;                                                             \
        rl.rlim_cur = LIMIT;                                                  \
        OK(setrlimit(RLIMIT_FSIZE, &rl));                                     \
        xfsz = 0;                                                             \
        name##_body(kt_case);                                                 \
        setrlimit(RLIMIT_FSIZE, &old);                                        \
        sigaction(SIGXFSZ, &olds, NULL);                                      \
    }                                                                         \
    static void name##_body(const char *kt_case)

FTEST(write_across_the_limit_is_short_then_efbig_with_sigxfsz) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    long n = write(fd, data26, 26);
    int sigs = xfsz;
    errno = 0;
    long n2 = write(fd, "x", 1);
    int e2 = errno, sigs2 = xfsz;
    long size = file_size(fd);
    close(fd);
    EXPECT_EQ(n, LIMIT);
    CHECK(sigs == 0, "the short write raised SIGXFSZ %d times", sigs);
    CHECK(n2 == -1 && e2 == EFBIG, "write at the limit: %ld %s, expected EFBIG", n2, kt_errstr(e2));
    CHECK(sigs2 == 1, "write at the limit raised SIGXFSZ %d times, expected once", sigs2);
    EXPECT_EQ(size, LIMIT);
}

FTEST(empty_write_past_the_limit_is_zero_without_a_signal) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    off_t at = lseek(fd, 100, SEEK_SET);
    long n = write(fd, "", 0);
    close(fd);
    EXPECT_EQ(at, 100);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(xfsz, 0);
}

FTEST(pwrite_from_past_the_limit_is_efbig_and_across_it_is_short) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    errno = 0;
    long n = pwrite(fd, "abc", 3, 20);
    int e = errno, sigs = xfsz;
    long n2 = pwrite(fd, data26, 8, 5);
    int sigs2 = xfsz;
    long size = file_size(fd);
    close(fd);
    CHECK(n == -1 && e == EFBIG, "pwrite at 20: %ld %s, expected EFBIG", n, kt_errstr(e));
    CHECK(sigs == 1, "SIGXFSZ raised %d times, expected once", sigs);
    EXPECT_EQ(n2, 5);
    CHECK(sigs2 == 1, "the short pwrite raised SIGXFSZ (%d in all)", sigs2);
    EXPECT_EQ(size, LIMIT);
}

FTEST(writev_across_the_limit_is_short) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    struct iovec iov[2] = {{(void *)data26, 6}, {(void *)(data26 + 6), 10}};
    long n = writev(fd, iov, 2);
    char buf[32] = {0};
    long r = pread(fd, buf, sizeof buf, 0);
    close(fd);
    EXPECT_EQ(n, LIMIT);
    EXPECT_EQ(r, LIMIT);
    CHECK(!memcmp(buf, data26, LIMIT), "file holds \"%s\"", buf);
    EXPECT_EQ(xfsz, 0);
}

FTEST(append_counts_from_the_end_of_the_file) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    long n = write(fd, data26, 8);
    close(fd);
    EXPECT_EQ(n, 8);
    fd = OK(open(path, O_WRONLY | O_APPEND));
    /* pwrite on an O_APPEND file writes at the end too (pwrite(2) BUGS). */
    long n1 = pwrite(fd, data26, 1, 0);
    EXPECT_EQ(n1, 1);
    long n2 = write(fd, data26, 5);
    errno = 0;
    long n3 = write(fd, data26, 1);
    int e3 = errno;
    long size = file_size(fd);
    close(fd);
    EXPECT_EQ(n2, 1);
    CHECK(n3 == -1 && e3 == EFBIG, "append at the limit: %ld %s", n3, kt_errstr(e3));
    EXPECT_EQ(xfsz, 1);
    EXPECT_EQ(size, LIMIT);
}

FTEST(truncate_growing_past_the_limit_is_efbig_and_shrinking_is_not) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    errno = 0;
    int r = ftruncate(fd, LIMIT + 1);
    int e = errno, sigs = xfsz;
    int r2 = ftruncate(fd, LIMIT);
    errno = 0;
    int r3 = truncate(path, 4096);
    int e3 = errno, sigs3 = xfsz;
    long size = file_size(fd);
    close(fd);
    CHECK(r == -1 && e == EFBIG, "ftruncate past the limit: %d %s", r, kt_errstr(e));
    EXPECT_EQ(sigs, 1);
    EXPECT_EQ(r2, 0);
    CHECK(r3 == -1 && e3 == EFBIG, "truncate past the limit: %d %s", r3, kt_errstr(e3));
    EXPECT_EQ(sigs3, 2);
    EXPECT_EQ(size, LIMIT);
}

/* A file bigger than the limit (made before it was set) may still shrink. */
TEST(shrinking_a_file_bigger_than_the_limit_is_allowed) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    const char *path = kt_path(dir, "f");
    int fd = OK(open(path, O_CREAT | O_RDWR, 0644));
    EXPECT_EQ(write(fd, data26, 26), 26);
    struct rlimit old, rl;
    OK(getrlimit(RLIMIT_FSIZE, &old));
    rl = old;
    rl.rlim_cur = LIMIT;
    OK(setrlimit(RLIMIT_FSIZE, &rl));
    int r = ftruncate(fd, 20);
    int e = errno;
    long size = file_size(fd);
    setrlimit(RLIMIT_FSIZE, &old);
    close(fd);
    CHECK(r == 0, "ftruncate 26 -> 20 under a limit of 10: %s", kt_errstr(e));
    EXPECT_EQ(size, 20);
}

FTEST(fallocate_past_the_limit_is_efbig_unless_keep_size) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    errno = 0;
    int r = fallocate(fd, 0, 0, 4096);
    int e = errno, sigs = xfsz;
    int r2 = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096);
    int e2 = errno;
    int r3 = fallocate(fd, 0, 0, LIMIT);
    long size = file_size(fd);
    close(fd);
    if (r == -1 && e == EOPNOTSUPP)
        SKIP("fallocate is not supported here");
    CHECK(r == -1 && e == EFBIG, "fallocate past the limit: %d %s", r, kt_errstr(e));
    EXPECT_EQ(sigs, 1);
    CHECK(r2 == 0, "fallocate with FALLOC_FL_KEEP_SIZE: %s", kt_errstr(e2));
    EXPECT_EQ(r3, 0);
    EXPECT_EQ(size, LIMIT);
    EXPECT_EQ(xfsz, 1);
}

FTEST(copy_file_range_and_sendfile_stop_at_the_limit) {
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    int in = OK(open(kt_path(dir, "in"), O_CREAT | O_RDWR, 0644));
    /* The source may be longer than the limit: only the destination counts. */
    struct rlimit rl;
    OK(getrlimit(RLIMIT_FSIZE, &rl));
    rl.rlim_cur = RLIM_INFINITY;
    OK(setrlimit(RLIMIT_FSIZE, &rl));
    long w = write(in, data26, 26);
    rl.rlim_cur = LIMIT;
    OK(setrlimit(RLIMIT_FSIZE, &rl));
    EXPECT_EQ(w, 26);
    int a = OK(open(kt_path(dir, "a"), O_CREAT | O_RDWR, 0644));
    int b = OK(open(kt_path(dir, "b"), O_CREAT | O_RDWR, 0644));
    loff_t ip = 0, op = 0;
    long n = syscall(SYS_copy_file_range, in, &ip, a, &op, 26, 0);
    int ce = errno;
    errno = 0;
    long n2 = syscall(SYS_copy_file_range, in, &ip, a, &op, 5, 0);
    int e2 = errno, sigs = xfsz;
    off_t off = 0;
    long n3 = sendfile(b, in, &off, 26);
    errno = 0;
    long n4 = sendfile(b, in, &off, 5);
    int e4 = errno, sigs4 = xfsz;
    long sa = file_size(a), sb = file_size(b);
    close(in);
    close(a);
    close(b);
    CHECK(n == LIMIT, "copy_file_range across the limit: %ld (%s), expected %d", n, kt_errstr(ce),
          LIMIT);
    CHECK(n2 == -1 && e2 == EFBIG, "copy_file_range at the limit: %ld %s", n2, kt_errstr(e2));
    EXPECT_EQ(sigs, 1);
    EXPECT_EQ(n3, LIMIT);
    CHECK(n4 == -1 && e4 == EFBIG, "sendfile at the limit: %ld %s", n4, kt_errstr(e4));
    /* sendfile across the limit had more input to write: that raised one too. */
    EXPECT_EQ(sigs4, 3);
    EXPECT_EQ(sa, LIMIT);
    EXPECT_EQ(sb, LIMIT);
}

FTEST(pipes_are_not_limited) {
    int p[2];
    OK(pipe(p));
    long n = write(p[1], data26, 26);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(n, 26);
    EXPECT_EQ(xfsz, 0);
}

static void write_past_limit_child(void *arg)
{
    (void)arg;
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = LIMIT;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        _exit(2);
    const char *path;
    int fd = new_file(&path);
    if (fd < 0)
        _exit(3);
    unlink(path);
    if (pwrite(fd, "x", 1, LIMIT) != -1)
        _exit(4);
    _exit(5); /* SIGXFSZ did not kill */
}

TEST(sigxfsz_by_default_kills_the_writer) {
    int st = kt_in_child(write_past_limit_child, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "child %s, expected killed by SIGXFSZ (%d)",
          kt_status(st), SIGXFSZ);
}

FTEST(blocked_sigxfsz_stays_pending) {
    const char *path;
    int fd = new_file(&path);
    CHECK(fd >= 0, "cannot make a file: %s", kt_errstr(errno));
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGXFSZ);
    OK(sigprocmask(SIG_BLOCK, &set, &old));
    errno = 0;
    long n = pwrite(fd, "x", 1, LIMIT);
    int e = errno;
    sigset_t pend;
    sigpending(&pend);
    int pending = sigismember(&pend, SIGXFSZ);
    int got = sigtimedwait(&set, NULL, &(struct timespec){0, 0});
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fd);
    CHECK(n == -1 && e == EFBIG, "pwrite at the limit: %ld %s", n, kt_errstr(e));
    CHECK(pending == 1, "SIGXFSZ not pending while blocked");
    EXPECT_EQ(got, SIGXFSZ);
}

int main(void)
{
    KT_BEGIN();
    RUN(write_across_the_limit_is_short_then_efbig_with_sigxfsz);
    RUN(empty_write_past_the_limit_is_zero_without_a_signal);
    RUN(pwrite_from_past_the_limit_is_efbig_and_across_it_is_short);
    RUN(writev_across_the_limit_is_short);
    RUN(append_counts_from_the_end_of_the_file);
    RUN(truncate_growing_past_the_limit_is_efbig_and_shrinking_is_not);
    RUN(shrinking_a_file_bigger_than_the_limit_is_allowed);
    RUN(fallocate_past_the_limit_is_efbig_unless_keep_size);
    RUN(copy_file_range_and_sendfile_stop_at_the_limit);
    RUN(pipes_are_not_limited);
    RUN(sigxfsz_by_default_kills_the_writer);
    RUN(blocked_sigxfsz_stays_pending);
    return KT_END();
}

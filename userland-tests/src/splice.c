/* splice, tee and vmsplice: moving data between a pipe and a file (or another
 * pipe) in the kernel, duplicating a pipe's data, and a pipe's data to and from
 * user memory; with the errors Linux gives for each wrong kind of descriptor. */
#define _GNU_SOURCE
#define KT_AREA "splice"
#include "kt.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define BADPTR ((void *)1)

static long splice_(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned f)
{
    return syscall(SYS_splice, in, off_in, out, off_out, len, f);
}

static long tee_(int in, int out, size_t len, unsigned f)
{
    return syscall(SYS_tee, in, out, len, f);
}

static long vmsplice_(int fd, const struct iovec *iov, unsigned long n, unsigned f)
{
    return syscall(SYS_vmsplice, fd, iov, n, f);
}

/* A file in a fresh directory holding `content`, opened with `flags`. */
static int file_with(const char *content, int flags)
{
    const char *d = kt_tmpdir();
    if (!d)
        return -1;
    const char *p = kt_path(d, "f");
    if (kt_write_file(p, content, strlen(content)) != 0)
        return -1;
    return open(p, flags);
}

static long read_all(int fd, char *buf, size_t size)
{
    memset(buf, 0, size);
    return read(fd, buf, size - 1);
}

TEST(file_to_pipe_moves_bytes_and_advances_the_file_position) {
    int f = OK(file_with("hello world", O_RDONLY));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(splice_(f, NULL, p[1], NULL, 5, 0), 5);
    EXPECT_EQ(lseek(f, 0, SEEK_CUR), 5);
    char buf[32];
    EXPECT_EQ(read_all(p[0], buf, sizeof buf), 5);
    CHECK(strcmp(buf, "hello") == 0, "pipe holds \"%s\"", buf);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(file_to_pipe_with_an_offset_updates_it_and_not_the_position) {
    int f = OK(file_with("hello world", O_RDONLY));
    int p[2];
    OK(pipe(p));
    loff_t off = 6;
    EXPECT_EQ(splice_(f, &off, p[1], NULL, 100, 0), 5);
    EXPECT_EQ(off, 11);
    EXPECT_EQ(lseek(f, 0, SEEK_CUR), 0);
    char buf[32];
    EXPECT_EQ(read_all(p[0], buf, sizeof buf), 5);
    CHECK(strcmp(buf, "world") == 0, "pipe holds \"%s\"", buf);
    /* At the end of the file: 0. */
    EXPECT_EQ(splice_(f, &off, p[1], NULL, 100, 0), 0);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(pipe_to_file_writes_at_the_offset_or_position) {
    int f = OK(file_with("..........", O_RDWR));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "abcdef", 6), 6);
    loff_t off = 2;
    EXPECT_EQ(splice_(p[0], NULL, f, &off, 3, 0), 3);
    EXPECT_EQ(off, 5);
    EXPECT_EQ(lseek(f, 0, SEEK_CUR), 0);
    EXPECT_EQ(splice_(p[0], NULL, f, NULL, 100, 0), 3);
    EXPECT_EQ(lseek(f, 0, SEEK_CUR), 3);
    char buf[32];
    EXPECT_EQ(pread(f, buf, 10, 0), 10);
    buf[10] = 0;
    CHECK(strcmp(buf, "defbc.....") == 0, "file holds \"%s\"", buf);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(pipe_to_pipe_moves_what_is_there) {
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    EXPECT_EQ(write(a[1], "xyz", 3), 3);
    EXPECT_EQ(splice_(a[0], NULL, b[1], NULL, 100, 0), 3);
    char buf[8];
    EXPECT_EQ(read_all(b[0], buf, sizeof buf), 3);
    CHECK(strcmp(buf, "xyz") == 0, "second pipe holds \"%s\"", buf);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

TEST(empty_pipe_without_writers_gives_zero) {
    int f = OK(file_with("", O_RDWR));
    int p[2];
    OK(pipe(p));
    close(p[1]);
    EXPECT_EQ(splice_(p[0], NULL, f, NULL, 10, 0), 0);
    close(p[0]);
    close(f);
}

TEST(empty_pipe_nonblocking_is_eagain) {
    int f = OK(file_with("", O_RDWR));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(splice_(p[0], NULL, f, NULL, 10, SPLICE_F_NONBLOCK), EAGAIN);
    OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    EXPECT_ERRNO(splice_(p[0], NULL, f, NULL, 10, 0), EAGAIN);
    close(p[0]);
    close(p[1]);
    close(f);
}

static void on_alarm(int sig)
{
    (void)sig;
}

TEST(empty_pipe_waits_until_a_signal_is_eintr) {
    int f = OK(file_with("", O_RDWR));
    int p[2];
    OK(pipe(p));
    struct sigaction sa = {.sa_handler = on_alarm};
    OK(sigaction(SIGALRM, &sa, NULL));
    ualarm(50000, 0);
    EXPECT_ERRNO(splice_(p[0], NULL, f, NULL, 10, 0), EINTR);
    signal(SIGALRM, SIG_DFL);
    close(p[0]);
    close(p[1]);
    close(f);
}

TEST(neither_end_a_pipe_is_einval) {
    int f = OK(file_with("abc", O_RDONLY));
    int g = OK(file_with("", O_WRONLY));
    EXPECT_ERRNO(splice_(f, NULL, g, NULL, 3, 0), EINVAL);
    close(f);
    close(g);
}

TEST(an_offset_for_a_pipe_is_espipe) {
    int f = OK(file_with("abc", O_RDWR));
    int p[2];
    OK(pipe(p));
    loff_t off = 0;
    EXPECT_ERRNO(splice_(f, NULL, p[1], &off, 3, 0), ESPIPE);
    EXPECT_EQ(write(p[1], "q", 1), 1);
    EXPECT_ERRNO(splice_(p[0], &off, f, NULL, 1, 0), ESPIPE);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(bad_descriptors_and_wrong_modes_are_ebadf) {
    int p[2];
    OK(pipe(p));
    int f = OK(file_with("abc", O_RDONLY));
    EXPECT_ERRNO(splice_(-1, NULL, p[1], NULL, 3, 0), EBADF);
    EXPECT_ERRNO(splice_(p[0], NULL, -1, NULL, 3, 0), EBADF);
    /* Into a file opened read-only. */
    EXPECT_EQ(write(p[1], "q", 1), 1);
    EXPECT_ERRNO(splice_(p[0], NULL, f, NULL, 1, 0), EBADF);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(append_output_is_einval) {
    int f = OK(file_with("", O_WRONLY | O_APPEND));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "q", 1), 1);
    EXPECT_ERRNO(splice_(p[0], NULL, f, NULL, 1, 0), EINVAL);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(negative_offset_is_einval_and_bad_offset_pointer_is_efault) {
    int f = OK(file_with("abc", O_RDONLY));
    int p[2];
    OK(pipe(p));
    loff_t off = -1;
    EXPECT_ERRNO(splice_(f, &off, p[1], NULL, 3, 0), EINVAL);
    EXPECT_ERRNO(splice_(f, BADPTR, p[1], NULL, 3, 0), EFAULT);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(zero_length_is_zero) {
    int f = OK(file_with("abc", O_RDONLY));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(splice_(f, NULL, p[1], NULL, 0, 0), 0);
    close(f);
    close(p[0]);
    close(p[1]);
}

TEST(pipe_to_socket_and_back) {
    int s[2], p[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "ping", 4), 4);
    EXPECT_EQ(splice_(p[0], NULL, s[0], NULL, 4, 0), 4);
    char buf[8];
    EXPECT_EQ(read_all(s[1], buf, sizeof buf), 4);
    CHECK(strcmp(buf, "ping") == 0, "socket got \"%s\"", buf);
    EXPECT_EQ(write(s[1], "pong", 4), 4);
    EXPECT_EQ(splice_(s[0], NULL, p[1], NULL, 4, 0), 4);
    EXPECT_EQ(read_all(p[0], buf, sizeof buf), 4);
    CHECK(strcmp(buf, "pong") == 0, "pipe got \"%s\"", buf);
    for (int i = 0; i < 2; i++) {
        close(s[i]);
        close(p[i]);
    }
}

/* ---- tee ------------------------------------------------------------------ */

TEST(tee_copies_without_consuming) {
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    EXPECT_EQ(write(a[1], "hello", 5), 5);
    EXPECT_EQ(tee_(a[0], b[1], 3, 0), 3);
    char buf[8];
    EXPECT_EQ(read_all(b[0], buf, sizeof buf), 3);
    CHECK(strcmp(buf, "hel") == 0, "copy holds \"%s\"", buf);
    EXPECT_EQ(read_all(a[0], buf, sizeof buf), 5);
    CHECK(strcmp(buf, "hello") == 0, "source holds \"%s\"", buf);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

TEST(tee_errors_as_linux) {
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    int f = OK(file_with("abc", O_RDWR));
    EXPECT_ERRNO(tee_(f, b[1], 3, 0), EINVAL);
    EXPECT_ERRNO(tee_(a[0], f, 3, 0), EINVAL);
    EXPECT_ERRNO(tee_(a[0], a[1], 3, 0), EINVAL);
    EXPECT_ERRNO(tee_(-1, b[1], 3, 0), EBADF);
    EXPECT_ERRNO(tee_(a[0], b[1], 3, SPLICE_F_NONBLOCK), EAGAIN);
    close(a[1]);
    EXPECT_EQ(tee_(a[0], b[1], 3, 0), 0);
    close(f);
    close(a[0]);
    close(b[0]);
    close(b[1]);
}

/* ---- vmsplice -------------------------------------------------------------- */

TEST(vmsplice_into_a_pipe_and_out_of_it) {
    int p[2];
    OK(pipe(p));
    struct iovec in[2] = {{"ab", 2}, {"cde", 3}};
    EXPECT_EQ(vmsplice_(p[1], in, 2, 0), 5);
    char x[3] = {0}, y[8] = {0};
    struct iovec out[2] = {{x, 2}, {y, 7}};
    EXPECT_EQ(vmsplice_(p[0], out, 2, 0), 5);
    CHECK(strcmp(x, "ab") == 0 && strcmp(y, "cde") == 0, "read \"%s\" \"%s\"", x, y);
    close(p[0]);
    close(p[1]);
}

TEST(vmsplice_larger_than_the_pipe_fills_it_and_returns_the_count) {
    /* Linux's vmsplice_to_pipe adds what the pipe has room for and returns;
     * unlike write(), it does not wait to place the rest (vmsplice01). */
    int p[2];
    OK(pipe(p));
    static char big[1 << 17];
    memset(big, 'v', sizeof big);
    struct iovec in = {big, sizeof big};
    long n = vmsplice_(p[1], &in, 1, 0);
    CHECK(n > 0 && n < (long)sizeof big, "vmsplice of 128 KiB into an empty pipe gave %ld", n);
    /* Full: SPLICE_F_NONBLOCK is EAGAIN (O_NONBLOCK on the pipe is not
     * looked at: Linux's vmsplice would wait). */
    EXPECT_ERRNO(vmsplice_(p[1], &in, 1, SPLICE_F_NONBLOCK), EAGAIN);
    close(p[0]);
    close(p[1]);
}

TEST(vmsplice_errors_as_linux) {
    int p[2];
    OK(pipe(p));
    int f = OK(file_with("abc", O_RDWR));
    struct iovec in = {"ab", 2};
    EXPECT_ERRNO(vmsplice_(f, &in, 1, 0), EBADF);
    EXPECT_ERRNO(vmsplice_(-1, &in, 1, 0), EBADF);
    EXPECT_ERRNO(vmsplice_(p[1], BADPTR, 1, 0), EFAULT);
    EXPECT_ERRNO(vmsplice_(p[1], &in, 1025, 0), EINVAL);
    EXPECT_EQ(vmsplice_(p[1], &in, 0, 0), 0);
    close(f);
    close(p[0]);
    close(p[1]);
}

/* ---- /proc/sys files and pipe-max-size ---------------------------------- */

static int sys_write(const char *path, const char *v)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, v, strlen(v));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(v) ? 0 : -1;
}

static int sys_read(const char *path, char *buf, size_t size)
{
    memset(buf, 0, size);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    return (int)n;
}

#define PIPE_MAX "/proc/sys/fs/pipe-max-size"
#define DOMAINNAME "/proc/sys/kernel/domainname"

TEST(pipe_max_size_is_writable_and_rounded_to_a_pipe_size) {
    char saved[32], buf[32];
    CHECK(sys_read(PIPE_MAX, saved, sizeof saved) > 0, "cannot read %s", PIPE_MAX);
    OK(sys_write(PIPE_MAX, "5000\n"));
    sys_read(PIPE_MAX, buf, sizeof buf);
    CHECK(strcmp(buf, "8192\n") == 0, "5000 reads back as %s", buf);
    OK(sys_write(PIPE_MAX, "100\n"));
    sys_read(PIPE_MAX, buf, sizeof buf);
    CHECK(strcmp(buf, "4096\n") == 0, "100 reads back as %s", buf);
    int bad1 = sys_write(PIPE_MAX, "-1\n") == -1 && errno == EINVAL;
    int bad2 = sys_write(PIPE_MAX, "2147483649\n") == -1 && errno == EINVAL; /* > 2^31 */
    sys_read(PIPE_MAX, buf, sizeof buf);
    OK(sys_write(PIPE_MAX, saved));
    CHECK(bad1 && bad2, "out-of-range values accepted");
    CHECK(strcmp(buf, "4096\n") == 0, "a refused value changed it to %s", buf);
}

static void child_setpipe_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534) != 0)
        _exit(10);
    int p[2];
    if (pipe(p) != 0)
        _exit(11);
    /* Above pipe-max-size (65536 here): EPERM without CAP_SYS_RESOURCE. */
    errno = 0;
    if (fcntl(p[0], F_SETPIPE_SZ, 131072) != -1 || errno != EPERM)
        _exit(12);
    if (fcntl(p[0], F_SETPIPE_SZ, 65536) != 65536)
        _exit(13);
    _exit(0);
}

TEST(unprivileged_setpipe_sz_above_pipe_max_size_is_eperm) {
    char saved[32];
    CHECK(sys_read(PIPE_MAX, saved, sizeof saved) > 0, "cannot read %s", PIPE_MAX);
    OK(sys_write(PIPE_MAX, "65536\n"));
    int st = kt_in_child(child_setpipe_unprivileged, NULL);
    sys_write(PIPE_MAX, saved);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(splice_moves_proc_sys_files_both_ways) {
    char saved[128], buf[128];
    CHECK(sys_read(DOMAINNAME, saved, sizeof saved) > 0, "cannot read %s", DOMAINNAME);
    /* From the file into a pipe. */
    int fd = OK(open(DOMAINNAME, O_RDONLY));
    int p[2];
    OK(pipe(p));
    long n = OK(splice(fd, NULL, p[1], NULL, sizeof buf, 0));
    EXPECT_EQ(n, (long)strlen(saved));
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(read(p[0], buf, sizeof buf), n);
    CHECK(strcmp(buf, saved) == 0, "spliced %s, file has %s", buf, saved);
    close(fd);
    /* From a pipe into the file. */
    fd = OK(open(DOMAINNAME, O_WRONLY));
    OK(write(p[1], "kt-spliced", 10));
    n = splice(p[0], NULL, fd, NULL, 64, 0);
    int e = errno;
    close(fd);
    sys_read(DOMAINNAME, buf, sizeof buf);
    sys_write(DOMAINNAME, saved);
    close(p[0]);
    close(p[1]);
    CHECK(n == 10, "splice into %s = %ld (%s)", DOMAINNAME, n, kt_errstr(e));
    CHECK(strcmp(buf, "kt-spliced\n") == 0, "reads back %s", buf);
}

int main(void)
{
    KT_BEGIN();
    RUN(file_to_pipe_moves_bytes_and_advances_the_file_position);
    RUN(pipe_max_size_is_writable_and_rounded_to_a_pipe_size);
    RUN(unprivileged_setpipe_sz_above_pipe_max_size_is_eperm);
    RUN(splice_moves_proc_sys_files_both_ways);
    RUN(file_to_pipe_with_an_offset_updates_it_and_not_the_position);
    RUN(pipe_to_file_writes_at_the_offset_or_position);
    RUN(pipe_to_pipe_moves_what_is_there);
    RUN(empty_pipe_without_writers_gives_zero);
    RUN(empty_pipe_nonblocking_is_eagain);
    RUN(empty_pipe_waits_until_a_signal_is_eintr);
    RUN(neither_end_a_pipe_is_einval);
    RUN(an_offset_for_a_pipe_is_espipe);
    RUN(bad_descriptors_and_wrong_modes_are_ebadf);
    RUN(append_output_is_einval);
    RUN(negative_offset_is_einval_and_bad_offset_pointer_is_efault);
    RUN(zero_length_is_zero);
    RUN(pipe_to_socket_and_back);
    RUN(tee_copies_without_consuming);
    RUN(tee_errors_as_linux);
    RUN(vmsplice_into_a_pipe_and_out_of_it);
    RUN(vmsplice_larger_than_the_pipe_fills_it_and_returns_the_count);
    RUN(vmsplice_errors_as_linux);
    return KT_END();
}

/* In-kernel copies and file system queries: sendfile, copy_file_range,
 * statfs/fstatfs and posix_fadvise (the raw fadvise64 syscall). */
#define KT_AREA "fs_copy"
#include "kt.h"

#include <sys/ioctl.h>

#include <sys/socket.h>

#include <signal.h>
#include <sys/statfs.h>
#include <time.h>

#define BADPTR ((void *)1)
#define DATA "0123456789"
#define PIPEFS_MAGIC_ 0x50495045

static long sendfile_(int out, int in, off_t *off, size_t count)
{
    return syscall(SYS_sendfile, out, in, off, count);
}

static long cfr(int in, off_t *off_in, int out, off_t *off_out, size_t len, unsigned flags)
{
    return syscall(SYS_copy_file_range, in, off_in, out, off_out, len, flags);
}

static long fadvise(int fd, long off, long len, int advice)
{
    return syscall(SYS_fadvise64, fd, off, len, advice);
}

/* Writes content to dir/name and opens it with flags; -1 on error. */
static int make_file(const char *dir, const char *name, const char *content, int flags)
{
    const char *p = kt_path(dir, name);
    if (kt_write_file(p, content, strlen(content)) != 0)
        return -1;
    return open(p, flags);
}

/* The whole file at path as a string (up to 127 bytes); NUL bytes stay. Returns length. */
static long slurp(const char *path, char *buf, size_t size)
{
    memset(buf, 0, size);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, size - 1);
    close(fd);
    return n;
}

static long pos(int fd)
{
    return lseek(fd, 0, SEEK_CUR);
}

/* ---- sendfile --------------------------------------------------------- */

TEST(sendfile_to_pipe_without_offset_advances_input_position) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int p[2];
    OK(pipe(p));
    OK(lseek(in, 2, SEEK_SET));
    EXPECT_EQ(sendfile_(p[1], in, NULL, 5), 5);
    EXPECT_EQ(pos(in), 7);
    char buf[16] = {0};
    EXPECT_EQ(read(p[0], buf, sizeof buf), 5);
    CHECK(!memcmp(buf, "23456", 5), "pipe got '%.5s', expected '23456'", buf);
    EXPECT_EQ(sendfile_(p[1], in, NULL, 2), 2);
    EXPECT_EQ(pos(in), 9);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 2);
    CHECK(!memcmp(buf, "78", 2), "pipe got '%.2s', expected '78'", buf);
    close(in);
    close(p[0]);
    close(p[1]);
}

TEST(sendfile_to_pipe_with_offset_keeps_input_position) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int p[2];
    OK(pipe(p));
    OK(lseek(in, 1, SEEK_SET));
    off_t off = 3;
    EXPECT_EQ(sendfile_(p[1], in, &off, 4), 4);
    EXPECT_EQ(off, 7);
    EXPECT_EQ(pos(in), 1);
    char buf[16] = {0};
    EXPECT_EQ(read(p[0], buf, sizeof buf), 4);
    CHECK(!memcmp(buf, "3456", 4), "pipe got '%.4s', expected '3456'", buf);
    close(in);
    close(p[0]);
    close(p[1]);
}

TEST(sendfile_file_to_file_without_offset_advances_both_positions) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "abcdef", O_WRONLY));
    OK(lseek(in, 4, SEEK_SET));
    OK(lseek(out, 2, SEEK_SET));
    EXPECT_EQ(sendfile_(out, in, NULL, 3), 3);
    EXPECT_EQ(pos(in), 7);
    EXPECT_EQ(pos(out), 5);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 6);
    CHECK(!memcmp(buf, "ab456f", 6), "out is '%.6s', expected 'ab456f'", buf);
}

TEST(sendfile_file_to_file_with_offset_keeps_input_position) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    off_t off = 5;
    EXPECT_EQ(sendfile_(out, in, &off, 3), 3);
    EXPECT_EQ(off, 8);
    EXPECT_EQ(pos(in), 0);
    EXPECT_EQ(pos(out), 3); /* the output always writes at (and advances) its position */
    off = 0;
    EXPECT_EQ(sendfile_(out, in, &off, 2), 2);
    EXPECT_EQ(off, 2);
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 5);
    CHECK(!memcmp(buf, "56701", 5), "out is '%.5s', expected '56701'", buf);
}

TEST(sendfile_count_past_eof_stops_at_eof) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    off_t off = 6;
    EXPECT_EQ(sendfile_(out, in, &off, 100), 4);
    EXPECT_EQ(off, 10);
    EXPECT_EQ(sendfile_(out, in, &off, 100), 0); /* at EOF */
    EXPECT_EQ(off, 10);
    off = 50;
    EXPECT_EQ(sendfile_(out, in, &off, 100), 0); /* past EOF */
    EXPECT_EQ(off, 50);
    OK(lseek(in, 8, SEEK_SET));
    EXPECT_EQ(sendfile_(out, in, NULL, 1000), 2);
    EXPECT_EQ(pos(in), 10);
    EXPECT_EQ(sendfile_(out, in, NULL, 1000), 0);
    EXPECT_EQ(pos(in), 10);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 6);
    CHECK(!memcmp(buf, "678989", 6), "out is '%.6s', expected '678989'", buf);
}

TEST(sendfile_count_zero_returns_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int p[2];
    OK(pipe(p));
    off_t off = 3;
    EXPECT_EQ(sendfile_(out, in, NULL, 0), 0);
    EXPECT_EQ(sendfile_(out, in, &off, 0), 0);
    EXPECT_EQ(sendfile_(p[1], in, NULL, 0), 0);
    EXPECT_EQ(sendfile_(p[1], in, &off, 0), 0);
    EXPECT_EQ(off, 3);
    EXPECT_EQ(pos(in), 0);
    EXPECT_EQ(pos(out), 0);
    struct stat st;
    OK(fstat(out, &st));
    EXPECT_EQ(st.st_size, 0);
    close(in);
    close(out);
    close(p[0]);
    close(p[1]);
}

TEST(sendfile_to_append_output_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "xy", O_WRONLY | O_APPEND));
    off_t off = 0;
    EXPECT_ERRNO(sendfile_(out, in, NULL, 4), EINVAL);
    EXPECT_ERRNO(sendfile_(out, in, &off, 4), EINVAL);
    EXPECT_EQ(off, 0);
    EXPECT_EQ(pos(in), 0);
    struct stat st;
    OK(fstat(out, &st));
    EXPECT_EQ(st.st_size, 2);
    close(in);
    close(out);
}

TEST(sendfile_wrong_mode_or_bad_fds_are_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int wo = OK(make_file(d, "wo", DATA, O_WRONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int ro = OK(make_file(d, "ro", "", O_RDONLY));
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(sendfile_(out, wo, NULL, 4), EBADF);   /* in_fd not readable */
    EXPECT_ERRNO(sendfile_(ro, in, NULL, 4), EBADF);    /* out_fd not writable */
    EXPECT_ERRNO(sendfile_(p[0], in, NULL, 4), EBADF);  /* read end of a pipe */
    EXPECT_ERRNO(sendfile_(out, 9999, NULL, 4), EBADF);
    EXPECT_ERRNO(sendfile_(9999, in, NULL, 4), EBADF);
    EXPECT_ERRNO(sendfile_(-1, in, NULL, 4), EBADF);
    EXPECT_ERRNO(sendfile_(out, -1, NULL, 4), EBADF);
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(wo);
    close(out);
    close(ro);
    close(p[0]);
    close(p[1]);
}

TEST(sendfile_offset_with_pipe_input_is_espipe) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "abc", 3), 3);
    off_t off = 0;
    EXPECT_ERRNO(sendfile_(out, p[0], &off, 3), ESPIPE);
    char buf[8];
    EXPECT_EQ(read(p[0], buf, sizeof buf), 3); /* nothing was consumed */
    close(out);
    close(p[0]);
    close(p[1]);
}

/* Linux reads sendfile's input with splice_read, which streams lack. */
TEST(sendfile_from_a_pipe_or_socket_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int p[2], s[2];
    OK(pipe(p));
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
    EXPECT_EQ(write(p[1], "abc", 3), 3);
    EXPECT_EQ(write(s[1], "abc", 3), 3);
    EXPECT_ERRNO(sendfile_(out, p[0], NULL, 3), EINVAL);
    EXPECT_ERRNO(sendfile_(out, s[0], NULL, 3), EINVAL);
    char buf[8];
    EXPECT_EQ(read(p[0], buf, sizeof buf), 3); /* nothing was consumed */
    close(out);
    close(p[0]);
    close(p[1]);
    close(s[0]);
    close(s[1]);
}

TEST(sendfile_bad_offset_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    EXPECT_ERRNO(sendfile_(out, in, BADPTR, 4), EFAULT);
    EXPECT_EQ(pos(in), 0);
    EXPECT_EQ(pos(out), 0);
    close(in);
    close(out);
}

TEST(sendfile_to_pipe_without_reader_is_epipe_and_raises_sigpipe) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int p[2];
    OK(pipe(p));
    close(p[0]);
    /* SIGPIPE is blocked for the call, then taken back with sigtimedwait */
    sigset_t pipeset, old, pend;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    OK(sigprocmask(SIG_BLOCK, &pipeset, &old));
    errno = 0;
    long r = sendfile_(p[1], in, NULL, 4);
    int e = errno;
    sigemptyset(&pend);
    sigpending(&pend);
    int pending = sigismember(&pend, SIGPIPE);
    struct timespec zero = {0, 0};
    if (pending)
        sigtimedwait(&pipeset, NULL, &zero);
    sigprocmask(SIG_SETMASK, &old, NULL);
    long inpos = pos(in);
    close(in);
    close(p[1]);
    CHECK(r == -1 && e == EPIPE, "sendfile: %ld %s, expected EPIPE", r, kt_errstr(e));
    CHECK(pending == 1, "SIGPIPE not pending after EPIPE");
    EXPECT_EQ(inpos, 0);
}

/* ---- copy_file_range -------------------------------------------------- */

TEST(copy_file_range_without_offsets_advances_positions) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    OK(lseek(in, 2, SEEK_SET));
    EXPECT_EQ(cfr(in, NULL, out, NULL, 5, 0), 5);
    EXPECT_EQ(pos(in), 7);
    EXPECT_EQ(pos(out), 5);
    EXPECT_EQ(cfr(in, NULL, out, NULL, 2, 0), 2);
    EXPECT_EQ(pos(in), 9);
    EXPECT_EQ(pos(out), 7);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 7);
    CHECK(!memcmp(buf, "2345678", 7), "out is '%.7s', expected '2345678'", buf);
}

TEST(copy_file_range_with_offsets_keeps_positions) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    OK(lseek(in, 8, SEEK_SET));
    off_t oin = 1, oout = 3;
    EXPECT_EQ(cfr(in, &oin, out, &oout, 4, 0), 4);
    EXPECT_EQ(oin, 5);
    EXPECT_EQ(oout, 7);
    EXPECT_EQ(pos(in), 8);
    EXPECT_EQ(pos(out), 0);
    /* one offset given, the other fd's position is used and advanced */
    oin = 0;
    EXPECT_EQ(cfr(in, &oin, out, NULL, 2, 0), 2);
    EXPECT_EQ(oin, 2);
    EXPECT_EQ(pos(in), 8);
    EXPECT_EQ(pos(out), 2);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 7);
    /* byte 2 is a hole that reads as zero */
    CHECK(!memcmp(buf, "01\0" "1234", 7), "out is wrong: %02x %02x %02x %02x %02x %02x %02x",
          buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]);
}

TEST(copy_file_range_nonzero_flags_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    EXPECT_ERRNO(cfr(in, NULL, out, NULL, 4, 1), EINVAL);
    EXPECT_ERRNO(cfr(in, NULL, out, NULL, 4, 0x80000000u), EINVAL);
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(out);
}

TEST(copy_file_range_directory_is_eisdir) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int dir = OK(open(d, O_RDONLY | O_DIRECTORY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    EXPECT_ERRNO(cfr(dir, NULL, out, NULL, 4, 0), EISDIR);
    /* The kind of file is looked at before the open mode: a directory (open
     * read-only) as the output is EISDIR too, a pipe's read end EINVAL. */
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    EXPECT_ERRNO(cfr(in, NULL, dir, NULL, 4, 0), EISDIR);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(cfr(in, NULL, p[0], NULL, 4, 0), EINVAL);
    close(p[0]);
    close(p[1]);
    close(in);
    close(dir);
    close(out);
}

TEST(copy_file_range_length_that_wraps_the_offset_is_eoverflow) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    off_t at = 10;
    EXPECT_ERRNO(cfr(in, NULL, out, &at, (size_t)-1, 0), EOVERFLOW);
    EXPECT_ERRNO(cfr(in, &at, out, NULL, (size_t)-1, 0), EOVERFLOW);
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(out);
}

TEST(copy_file_range_pipe_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "abc", 3), 3);
    /* only regular files: a pipe on either side is EINVAL (not ESPIPE) */
    EXPECT_ERRNO(cfr(p[0], NULL, out, NULL, 3, 0), EINVAL);
    EXPECT_ERRNO(cfr(in, NULL, p[1], NULL, 3, 0), EINVAL);
    off_t off = 0;
    EXPECT_ERRNO(cfr(p[0], &off, out, NULL, 3, 0), EINVAL);
    char buf[8];
    EXPECT_EQ(read(p[0], buf, sizeof buf), 3); /* nothing was consumed */
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(out);
    close(p[0]);
    close(p[1]);
}

TEST(copy_file_range_append_output_or_wrong_modes_are_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int app = OK(make_file(d, "app", "", O_WRONLY | O_APPEND));
    int wo = OK(make_file(d, "wo", DATA, O_WRONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    EXPECT_ERRNO(cfr(in, NULL, app, NULL, 4, 0), EBADF);
    off_t oout = 0;
    EXPECT_ERRNO(cfr(in, NULL, app, &oout, 4, 0), EBADF);
    EXPECT_ERRNO(cfr(wo, NULL, out, NULL, 4, 0), EBADF); /* in not readable */
    EXPECT_ERRNO(cfr(in, NULL, in, NULL, 4, 0), EBADF);  /* out not writable */
    EXPECT_ERRNO(cfr(9999, NULL, out, NULL, 4, 0), EBADF);
    EXPECT_ERRNO(cfr(in, NULL, 9999, NULL, 4, 0), EBADF);
    EXPECT_EQ(pos(in), 0);
    struct stat st;
    OK(fstat(app, &st));
    EXPECT_EQ(st.st_size, 0);
    close(in);
    close(app);
    close(wo);
    close(out);
}

TEST(copy_file_range_bad_offset_pointer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    off_t ok = 0;
    EXPECT_ERRNO(cfr(in, BADPTR, out, NULL, 4, 0), EFAULT);
    EXPECT_ERRNO(cfr(in, &ok, out, BADPTR, 4, 0), EFAULT);
    EXPECT_EQ(pos(in), 0);
    close(in);
    close(out);
}

TEST(copy_file_range_same_file_overlapping_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA DATA, O_RDWR));
    off_t oin = 0, oout = 5;
    EXPECT_ERRNO(cfr(fd, &oin, fd, &oout, 10, 0), EINVAL);
    oin = 6, oout = 2;
    EXPECT_ERRNO(cfr(fd, &oin, fd, &oout, 8, 0), EINVAL);
    oin = 3, oout = 3;
    EXPECT_ERRNO(cfr(fd, &oin, fd, &oout, 1, 0), EINVAL);
    EXPECT_EQ(oin, 3);
    EXPECT_EQ(oout, 3);
    close(fd);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "f"), buf, sizeof buf), 20);
    CHECK(!memcmp(buf, DATA DATA, 20), "file changed: '%.20s'", buf);
}

TEST(copy_file_range_same_file_disjoint_ranges_works) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA DATA, O_RDWR));
    off_t oin = 0, oout = 12;
    EXPECT_EQ(cfr(fd, &oin, fd, &oout, 4, 0), 4);
    EXPECT_EQ(oin, 4);
    EXPECT_EQ(oout, 16);
    /* adjacent ranges do not overlap; copying past the old end grows the file */
    oin = 10, oout = 20;
    EXPECT_EQ(cfr(fd, &oin, fd, &oout, 10, 0), 10);
    EXPECT_EQ(pos(fd), 0);
    close(fd);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "f"), buf, sizeof buf), 30);
    CHECK(!memcmp(buf, "012345678901012367890101236789", 30), "file is '%.30s'", buf);
}

TEST(copy_file_range_past_eof_copies_rest_then_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    off_t oin = 7;
    EXPECT_EQ(cfr(in, &oin, out, NULL, 100, 0), 3);
    EXPECT_EQ(oin, 10);
    EXPECT_EQ(cfr(in, &oin, out, NULL, 100, 0), 0);
    oin = 1000;
    EXPECT_EQ(cfr(in, &oin, out, NULL, 100, 0), 0);
    EXPECT_EQ(oin, 1000);
    OK(lseek(in, 9, SEEK_SET));
    EXPECT_EQ(cfr(in, NULL, out, NULL, 100, 0), 1);
    EXPECT_EQ(pos(in), 10);
    EXPECT_EQ(cfr(in, NULL, out, NULL, 100, 0), 0);
    EXPECT_EQ(cfr(in, NULL, out, NULL, 0, 0), 0);
    EXPECT_EQ(pos(out), 4);
    close(in);
    close(out);
    char buf[128];
    EXPECT_EQ(slurp(kt_path(d, "out"), buf, sizeof buf), 4);
    CHECK(!memcmp(buf, "7899", 4), "out is '%.4s', expected '7899'", buf);
}

/* ---- statfs / fstatfs ------------------------------------------------- */

TEST(statfs_and_fstatfs_agree_on_dir_and_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA, O_RDONLY));
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct statfs s[4];
    memset(s, 0, sizeof s);
    long r0 = syscall(SYS_statfs, d, &s[0]);
    long r1 = syscall(SYS_statfs, kt_path(d, "f"), &s[1]);
    long r2 = syscall(SYS_fstatfs, fd, &s[2]);
    long r3 = syscall(SYS_fstatfs, dfd, &s[3]);
    close(fd);
    close(dfd);
    EXPECT_EQ(r0, 0);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    EXPECT_EQ(r3, 0);
    for (int i = 0; i < 4; i++) {
        CHECK(s[i].f_bsize > 0, "call %d: f_bsize %ld", i, (long)s[i].f_bsize);
        CHECK(s[i].f_namelen == 255, "call %d: f_namelen %ld, expected 255", i,
              (long)s[i].f_namelen);
        CHECK(s[i].f_type == s[0].f_type, "call %d: f_type 0x%lx, statfs(dir) said 0x%lx", i,
              (unsigned long)s[i].f_type, (unsigned long)s[0].f_type);
        CHECK(s[i].f_bsize == s[0].f_bsize, "call %d: f_bsize %ld, statfs(dir) said %ld", i,
              (long)s[i].f_bsize, (long)s[0].f_bsize);
    }
}

TEST(fstatfs_on_opath_fd_succeeds) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(open(d, O_PATH));
    struct statfs a, b;
    long r = syscall(SYS_fstatfs, fd, &a);
    close(fd);
    EXPECT_EQ(r, 0);
    OK(syscall(SYS_statfs, d, &b));
    EXPECT_EQ(a.f_type, b.f_type);
}

TEST(statfs_missing_path_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    struct statfs s;
    EXPECT_ERRNO(syscall(SYS_statfs, kt_path(d, "missing"), &s), ENOENT);
    EXPECT_ERRNO(syscall(SYS_statfs, "", &s), ENOENT);
}

TEST(statfs_bad_pointers_are_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    struct statfs s;
    EXPECT_ERRNO(syscall(SYS_statfs, d, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_statfs, BADPTR, &s), EFAULT);
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = syscall(SYS_fstatfs, fd, BADPTR);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EFAULT, "fstatfs into a bad buffer: %ld %s", r, kt_errstr(e));
}

TEST(fstatfs_bad_fd_is_ebadf) {
    struct statfs s;
    EXPECT_ERRNO(syscall(SYS_fstatfs, 9999, &s), EBADF);
    EXPECT_ERRNO(syscall(SYS_fstatfs, -1, &s), EBADF);
}

TEST(fstatfs_on_pipe_reports_pipefs_magic) {
    int p[2];
    OK(pipe(p));
    struct statfs a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    long r0 = syscall(SYS_fstatfs, p[0], &a);
    long r1 = syscall(SYS_fstatfs, p[1], &b);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(r0, 0);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(a.f_type, PIPEFS_MAGIC_);
    EXPECT_EQ(b.f_type, PIPEFS_MAGIC_);
    CHECK(a.f_bsize > 0, "f_bsize %ld", (long)a.f_bsize);
}

/* ---- posix_fadvise ---------------------------------------------------- */

TEST(fadvise_each_advice_on_regular_file_is_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA, O_RDONLY));
    /* NORMAL RANDOM SEQUENTIAL WILLNEED DONTNEED NOREUSE */
    for (int adv = 0; adv <= 5; adv++) {
        errno = 0;
        long r = fadvise(fd, 0, 0, adv);
        CHECK(r == 0, "advice %d, len 0: %ld %s", adv, r, kt_errstr(errno));
        r = fadvise(fd, 2, 5, adv);
        CHECK(r == 0, "advice %d, offset 2 len 5: %ld %s", adv, r, kt_errstr(errno));
        r = fadvise(fd, 1000000, 4096, adv);
        CHECK(r == 0, "advice %d past EOF: %ld %s", adv, r, kt_errstr(errno));
    }
    /* advice does not move the file position or change the data */
    EXPECT_EQ(pos(fd), 0);
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf), 10);
    close(fd);
    CHECK(!memcmp(buf, DATA, 10), "data changed: '%.10s'", buf);
}

TEST(fadvise_unknown_advice_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA, O_RDONLY));
    errno = 0;
    long r1 = fadvise(fd, 0, 0, 99);
    int e1 = errno;
    errno = 0;
    long r2 = fadvise(fd, 0, 0, -1);
    int e2 = errno;
    errno = 0;
    long r3 = fadvise(fd, 0, 0, 6);
    int e3 = errno;
    close(fd);
    CHECK(r1 == -1 && e1 == EINVAL, "advice 99: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "advice -1: %ld %s", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EINVAL, "advice 6: %ld %s", r3, kt_errstr(e3));
}

TEST(fadvise_negative_len_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int fd = OK(make_file(d, "f", DATA, O_RDONLY));
    errno = 0;
    long r1 = fadvise(fd, 0, -1L, 0);
    int e1 = errno;
    errno = 0;
    long r2 = fadvise(fd, 4, -4096L, 4);
    int e2 = errno;
    close(fd);
    CHECK(r1 == -1 && e1 == EINVAL, "len -1: %ld %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "len -4096: %ld %s", r2, kt_errstr(e2));
}

TEST(fadvise_pipe_is_espipe) {
    int p[2];
    OK(pipe(p));
    errno = 0;
    long r0 = fadvise(p[0], 0, 0, 0);
    int e0 = errno;
    errno = 0;
    long r1 = fadvise(p[1], 0, 0, 4);
    int e1 = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r0 == -1 && e0 == ESPIPE, "read end: %ld %s", r0, kt_errstr(e0));
    CHECK(r1 == -1 && e1 == ESPIPE, "write end: %ld %s", r1, kt_errstr(e1));
}

TEST(fadvise_bad_fd_is_ebadf) {
    EXPECT_ERRNO(fadvise(9999, 0, 0, 0), EBADF);
    EXPECT_ERRNO(fadvise(-1, 0, 0, 0), EBADF);
}

/* FICLONE (reflink): a file system that cannot share blocks says EOPNOTSUPP,
 * after Linux's checks of the descriptors. */
TEST(ficlone_checks_the_files_then_is_eopnotsupp_without_reflinks) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed: %s", kt_errstr(errno));
    int in = OK(make_file(d, "in", DATA, O_RDONLY));
    int out = OK(make_file(d, "out", "", O_WRONLY));
    int dir = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = ioctl(out, 0x40049409 /* FICLONE */, in);
    int e = errno;
    if (r == 0) {
        close(in);
        close(out);
        close(dir);
        SKIP("this file system shares blocks (reflinks)");
    }
    errno = 0;
    long bad = ioctl(out, 0x40049409, 9999);
    int e_bad = errno;
    errno = 0;
    long isdir = ioctl(out, 0x40049409, dir);
    int e_dir = errno;
    errno = 0;
    long wrong_way = ioctl(in, 0x40049409, out);
    int e_way = errno;
    close(in);
    close(out);
    close(dir);
    CHECK(r == -1 && e == EOPNOTSUPP, "FICLONE: %ld %s", r, kt_errstr(e));
    CHECK(bad == -1 && e_bad == EBADF, "source 9999: %ld %s", bad, kt_errstr(e_bad));
    CHECK(isdir == -1 && e_dir == EISDIR, "source a directory: %ld %s", isdir, kt_errstr(e_dir));
    CHECK(wrong_way == -1 && e_way == EBADF, "into a read-only file: %ld %s", wrong_way,
          kt_errstr(e_way));
}

int main(void)
{
    KT_BEGIN();
    RUN(sendfile_to_pipe_without_offset_advances_input_position);
    RUN(sendfile_to_pipe_with_offset_keeps_input_position);
    RUN(sendfile_file_to_file_without_offset_advances_both_positions);
    RUN(sendfile_file_to_file_with_offset_keeps_input_position);
    RUN(sendfile_count_past_eof_stops_at_eof);
    RUN(sendfile_count_zero_returns_zero);
    RUN(sendfile_to_append_output_is_einval);
    RUN(sendfile_wrong_mode_or_bad_fds_are_ebadf);
    RUN(sendfile_offset_with_pipe_input_is_espipe);
    RUN(sendfile_from_a_pipe_or_socket_is_einval);
    RUN(sendfile_bad_offset_pointer_is_efault);
    RUN(sendfile_to_pipe_without_reader_is_epipe_and_raises_sigpipe);
    RUN(copy_file_range_without_offsets_advances_positions);
    RUN(copy_file_range_with_offsets_keeps_positions);
    RUN(copy_file_range_nonzero_flags_is_einval);
    RUN(copy_file_range_directory_is_eisdir);
    RUN(ficlone_checks_the_files_then_is_eopnotsupp_without_reflinks);
    RUN(copy_file_range_length_that_wraps_the_offset_is_eoverflow);
    RUN(copy_file_range_pipe_is_einval);
    RUN(copy_file_range_append_output_or_wrong_modes_are_ebadf);
    RUN(copy_file_range_bad_offset_pointer_is_efault);
    RUN(copy_file_range_same_file_overlapping_is_einval);
    RUN(copy_file_range_same_file_disjoint_ranges_works);
    RUN(copy_file_range_past_eof_copies_rest_then_zero);
    RUN(statfs_and_fstatfs_agree_on_dir_and_file);
    RUN(fstatfs_on_opath_fd_succeeds);
    RUN(statfs_missing_path_is_enoent);
    RUN(statfs_bad_pointers_are_efault);
    RUN(fstatfs_bad_fd_is_ebadf);
    RUN(fstatfs_on_pipe_reports_pipefs_magic);
    RUN(fadvise_each_advice_on_regular_file_is_zero);
    RUN(fadvise_unknown_advice_is_einval);
    RUN(fadvise_negative_len_is_einval);
    RUN(fadvise_pipe_is_espipe);
    RUN(fadvise_bad_fd_is_ebadf);
    return KT_END();
}

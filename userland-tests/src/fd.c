/* dup/dup2/dup3/fcntl (with F_SETOWN/F_GETOWN)/pipe/pipe2 (+ FIONBIO on a pipe) */
#define KT_AREA "fd"
#include "kt.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>

#define BADPTR ((void *)1)

/* A scratch file open O_RDWR in a fresh temp dir. */
static int scratch_fd(void)
{
    const char *d = kt_tmpdir();
    if (!d)
        return -1;
    return open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- dup -------------------------------------------------------------- */

TEST(dup_returns_lowest_free_fd) {
    int a = OK(scratch_fd());
    int b = OK(dup(a));
    int c = OK(dup(a));
    OK(close(b));
    int n = OK(syscall(SYS_dup, a));
    close(a);
    close(c);
    close(n);
    EXPECT_EQ(n, b);
}

TEST(dup_shares_file_offset) {
    int a = OK(scratch_fd());
    int b = OK(syscall(SYS_dup, a));
    EXPECT_EQ(write(a, "abcdef", 6), 6);
    long pos_b = lseek(b, 0, SEEK_CUR);
    OK(lseek(b, 2, SEEK_SET));
    long pos_a = lseek(a, 0, SEEK_CUR);
    close(a);
    close(b);
    EXPECT_EQ(pos_b, 6);
    EXPECT_EQ(pos_a, 2);
}

TEST(dup_clears_cloexec_on_the_copy) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int a = OK(open(d, O_RDONLY | O_CLOEXEC));
    int b = OK(syscall(SYS_dup, a));
    int fl = fcntl(b, F_GETFD);
    close(a);
    close(b);
    EXPECT_EQ(fl, 0);
}

TEST(dup_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_dup, 9999), EBADF);
    EXPECT_ERRNO(syscall(SYS_dup, -1), EBADF);
}

TEST(closing_dup_keeps_original_open) {
    int a = OK(scratch_fd());
    int b = OK(dup(a));
    OK(close(b));
    EXPECT_EQ(write(a, "x", 1), 1);
    close(a);
}

/* ---- dup2 / dup3 ------------------------------------------------------ */

TEST(dup2_to_chosen_fd) {
    int a = OK(scratch_fd());
    long r = syscall(SYS_dup2, a, 77);
    EXPECT_EQ(r, 77);
    EXPECT_EQ(write(77, "hi", 2), 2);
    long pos = lseek(a, 0, SEEK_CUR);
    close(77);
    close(a);
    EXPECT_EQ(pos, 2);
}

TEST(dup2_silently_closes_target) {
    int a = OK(scratch_fd());
    int b = OK(scratch_fd());
    OK(write(b, "zzz", 3));
    OK(syscall(SYS_dup2, a, b));
    /* b now refers to a's file, at offset 0 */
    long pos = lseek(b, 0, SEEK_CUR);
    struct stat sa, sb;
    OK(fstat(a, &sa));
    OK(fstat(b, &sb));
    close(a);
    close(b);
    EXPECT_EQ(pos, 0);
    EXPECT_EQ(sa.st_ino, sb.st_ino);
}

TEST(dup2_same_fd_returns_it) {
    int a = OK(scratch_fd());
    long r = syscall(SYS_dup2, a, a);
    int still = fd_is_open(a);
    close(a);
    EXPECT_EQ(r, a);
    CHECK(still, "fd closed by dup2(fd, fd)");
}

TEST(dup2_same_invalid_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_dup2, 9999, 9999), EBADF);
}

TEST(dup2_bad_oldfd_is_ebadf_and_keeps_newfd) {
    int a = OK(scratch_fd());
    errno = 0;
    long r = syscall(SYS_dup2, 9999, a);
    int e = errno;
    int still = fd_is_open(a);
    close(a);
    CHECK(r == -1 && e == EBADF, "got %ld %s, expected EBADF", r, kt_errstr(e));
    CHECK(still, "newfd closed although dup2 failed");
}

TEST(dup2_newfd_beyond_rlimit_is_ebadf) {
    struct rlimit rl;
    OK(getrlimit(RLIMIT_NOFILE, &rl));
    EXPECT_ERRNO(syscall(SYS_dup2, 1, (long)rl.rlim_cur), EBADF);
    EXPECT_ERRNO(syscall(SYS_dup2, 1, -1L), EBADF);
}

TEST(dup2_clears_cloexec_on_newfd) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int a = OK(open(d, O_RDONLY | O_CLOEXEC));
    OK(syscall(SYS_dup2, a, 78));
    int fl = fcntl(78, F_GETFD);
    close(78);
    close(a);
    EXPECT_EQ(fl, 0);
}

TEST(dup3_equal_fds_is_einval) {
    int a = OK(scratch_fd());
    errno = 0;
    long r = syscall(SYS_dup3, a, a, 0);
    int e = errno;
    close(a);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(dup3_cloexec_sets_flag) {
    int a = OK(scratch_fd());
    long r = syscall(SYS_dup3, a, 79, O_CLOEXEC);
    int fl = fcntl(79, F_GETFD);
    close(79);
    close(a);
    EXPECT_EQ(r, 79);
    EXPECT_EQ(fl, FD_CLOEXEC);
}

TEST(dup3_bad_flags_is_einval) {
    int a = OK(scratch_fd());
    errno = 0;
    long r = syscall(SYS_dup3, a, 80, O_NONBLOCK);
    int e = errno;
    int leaked = fd_is_open(80);
    close(a);
    close(80);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
    CHECK(!leaked, "fd 80 was opened despite EINVAL");
}

TEST(dup3_bad_oldfd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_dup3, 9999, 81, 0), EBADF);
}

/* ---- fcntl ------------------------------------------------------------ */

TEST(fcntl_dupfd_returns_lowest_at_or_above_arg) {
    int a = OK(scratch_fd());
    int b = OK(fcntl(a, F_DUPFD, 100));
    int c = OK(fcntl(a, F_DUPFD, 100));
    int fl = fcntl(b, F_GETFD);
    close(a);
    close(b);
    close(c);
    EXPECT_EQ(b, 100);
    EXPECT_EQ(c, 101);
    EXPECT_EQ(fl, 0);
}

TEST(fcntl_dupfd_cloexec_sets_flag) {
    int a = OK(scratch_fd());
    int b = OK(syscall(SYS_fcntl, a, F_DUPFD_CLOEXEC, 110));
    int fl = fcntl(b, F_GETFD);
    close(a);
    close(b);
    EXPECT_EQ(b, 110);
    EXPECT_EQ(fl, FD_CLOEXEC);
}

TEST(fcntl_dupfd_bad_arg_is_einval) {
    int a = OK(scratch_fd());
    struct rlimit rl;
    OK(getrlimit(RLIMIT_NOFILE, &rl));
    errno = 0;
    long r1 = syscall(SYS_fcntl, a, F_DUPFD, -1L);
    int e1 = errno;
    long r2 = syscall(SYS_fcntl, a, F_DUPFD, (long)rl.rlim_cur);
    int e2 = errno;
    close(a);
    CHECK(r1 == -1 && e1 == EINVAL, "arg -1: got %ld %s, expected EINVAL", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "arg RLIMIT_NOFILE: got %ld %s, expected EINVAL", r2,
          kt_errstr(e2));
}

TEST(fcntl_getfd_setfd_roundtrip) {
    int a = OK(scratch_fd());
    long f0 = syscall(SYS_fcntl, a, F_GETFD);
    long s1 = syscall(SYS_fcntl, a, F_SETFD, FD_CLOEXEC);
    long f1 = syscall(SYS_fcntl, a, F_GETFD);
    long s2 = syscall(SYS_fcntl, a, F_SETFD, 0);
    long f2 = syscall(SYS_fcntl, a, F_GETFD);
    close(a);
    EXPECT_EQ(f0, 0);
    EXPECT_EQ(s1, 0);
    EXPECT_EQ(f1, FD_CLOEXEC);
    EXPECT_EQ(s2, 0);
    EXPECT_EQ(f2, 0);
}

TEST(fcntl_cloexec_is_per_descriptor) {
    int a = OK(scratch_fd());
    int b = OK(dup(a));
    OK(fcntl(a, F_SETFD, FD_CLOEXEC));
    int fb = fcntl(b, F_GETFD);
    close(a);
    close(b);
    EXPECT_EQ(fb, 0);
}

TEST(fcntl_getfl_reports_access_mode_and_flags) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int r = OK(open(kt_path(d, "f"), O_CREAT | O_RDONLY, 0644));
    int w = OK(open(kt_path(d, "f"), O_WRONLY | O_APPEND));
    int rw = OK(open(kt_path(d, "f"), O_RDWR | O_NONBLOCK));
    long fr = syscall(SYS_fcntl, r, F_GETFL);
    long fw = syscall(SYS_fcntl, w, F_GETFL);
    long frw = syscall(SYS_fcntl, rw, F_GETFL);
    close(r);
    close(w);
    close(rw);
    EXPECT_EQ(fr & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fw & O_ACCMODE, O_WRONLY);
    EXPECT_EQ(frw & O_ACCMODE, O_RDWR);
    CHECK(fw & O_APPEND, "F_GETFL 0%lo lacks O_APPEND", fw);
    CHECK(frw & O_NONBLOCK, "F_GETFL 0%lo lacks O_NONBLOCK", frw);
    CHECK(!(fr & (O_APPEND | O_NONBLOCK | O_CREAT)), "F_GETFL 0%lo has unexpected flags", fr);
}

TEST(fcntl_getfl_on_opath_fd_reports_o_path) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_PATH));
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    close(fd);
    CHECK(fl != -1 && (fl & O_PATH), "F_GETFL = 0%lo, expected O_PATH set", fl);
}

TEST(fcntl_setfl_append_makes_writes_append) {
    int fd = OK(scratch_fd());
    EXPECT_EQ(write(fd, "abc", 3), 3);
    OK(syscall(SYS_fcntl, fd, F_SETFL, O_APPEND));
    OK(lseek(fd, 0, SEEK_SET));
    EXPECT_EQ(write(fd, "Z", 1), 1);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 4);
    long fl = fcntl(fd, F_GETFL);
    OK(syscall(SYS_fcntl, fd, F_SETFL, 0));
    long fl2 = fcntl(fd, F_GETFL);
    close(fd);
    CHECK(!memcmp(buf, "abcZ", 4), "file is '%.4s', expected 'abcZ'", buf);
    CHECK(fl & O_APPEND, "F_GETFL 0%lo lacks O_APPEND after F_SETFL", fl);
    CHECK(!(fl2 & O_APPEND), "F_GETFL 0%lo still has O_APPEND after clearing", fl2);
}

TEST(fcntl_setfl_cannot_change_access_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDONLY, 0644));
    OK(syscall(SYS_fcntl, fd, F_SETFL, O_RDWR));
    long fl = fcntl(fd, F_GETFL);
    errno = 0;
    long w = write(fd, "x", 1);
    int e = errno;
    close(fd);
    EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
    CHECK(w == -1 && e == EBADF, "write got %ld %s, expected EBADF", w, kt_errstr(e));
}

TEST(fcntl_setfl_nonblock_makes_empty_pipe_read_eagain) {
    int fds[2];
    OK(pipe(fds));
    OK(syscall(SYS_fcntl, fds[0], F_SETFL, O_NONBLOCK));
    long fl = fcntl(fds[0], F_GETFL);
    char c;
    errno = 0;
    long r = read(fds[0], &c, 1);
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(fl & O_NONBLOCK, "F_GETFL 0%lo lacks O_NONBLOCK", fl);
    CHECK(r == -1 && e == EAGAIN, "read got %ld %s, expected EAGAIN", r, kt_errstr(e));
}

TEST(fcntl_status_flags_are_shared_by_dups) {
    int fds[2];
    OK(pipe(fds));
    int d = OK(dup(fds[0]));
    OK(fcntl(fds[0], F_SETFL, O_NONBLOCK));
    long fl = fcntl(d, F_GETFL);
    close(d);
    close(fds[0]);
    close(fds[1]);
    CHECK(fl & O_NONBLOCK, "dup's F_GETFL 0%lo lacks O_NONBLOCK", fl);
}

TEST(fcntl_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fcntl, 9999, F_GETFD), EBADF);
    EXPECT_ERRNO(syscall(SYS_fcntl, 9999, F_GETFL), EBADF);
    EXPECT_ERRNO(syscall(SYS_fcntl, 9999, F_DUPFD, 0), EBADF);
}

TEST(fcntl_unknown_cmd_is_einval) {
    int fd = OK(scratch_fd());
    errno = 0;
    long r = syscall(SYS_fcntl, fd, 9999, 0);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

/* ---- F_SETOWN / F_GETOWN (nginx sets the owner of its channel sockets) ---- */

#ifndef F_OWNER_TID
#define F_OWNER_TID 0
#define F_OWNER_PID 1
#define F_OWNER_PGRP 2
#endif

TEST(fcntl_getown_is_zero_until_set) {
    int fds[2];
    OK(pipe(fds));
    long r = fcntl(fds[0], F_GETOWN);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(r, 0);
}

TEST(fcntl_setown_pid_then_getown_returns_it) {
    int fds[2];
    OK(pipe(fds));
    long set = fcntl(fds[0], F_SETOWN, getpid());
    long got = fcntl(fds[0], F_GETOWN);
    long other = fcntl(fds[1], F_GETOWN);
    long clear = fcntl(fds[0], F_SETOWN, 0);
    long after = fcntl(fds[0], F_GETOWN);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(got, getpid());
    EXPECT_EQ(other, 0);
    EXPECT_EQ(clear, 0);
    EXPECT_EQ(after, 0);
}

TEST(fcntl_setown_negative_names_a_process_group) {
    int fds[2];
    OK(pipe(fds));
    long set = fcntl(fds[0], F_SETOWN, -getpgrp());
    long got = fcntl(fds[0], F_GETOWN);
    struct f_owner_ex ex = {-1, -1};
    long gx = fcntl(fds[0], F_GETOWN_EX, &ex);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(got, -getpgrp());
    EXPECT_EQ(gx, 0);
    EXPECT_EQ(ex.type, F_OWNER_PGRP);
    EXPECT_EQ(ex.pid, getpgrp());
}

TEST(fcntl_setown_is_shared_by_dups) {
    int fd = OK(scratch_fd());
    int d = OK(dup(fd));
    long set = fcntl(fd, F_SETOWN, getpid());
    long got = fcntl(d, F_GETOWN);
    close(fd);
    close(d);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(got, getpid());
}

TEST(fcntl_setown_on_a_socket_works) {
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int on = 1;
    long as = ioctl(sv[0], FIOASYNC, &on);
    long set = fcntl(sv[0], F_SETOWN, getpid());
    long got = fcntl(sv[0], F_GETOWN);
    close(sv[0]);
    close(sv[1]);
    EXPECT_EQ(as, 0);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(got, getpid());
}

TEST(fcntl_setown_to_a_missing_process_is_esrch) {
    int fds[2];
    OK(pipe(fds));
    /* pid_max is at most 4194304: this pid cannot exist. */
    errno = 0;
    long r = fcntl(fds[0], F_SETOWN, 4194305);
    int e = errno;
    errno = 0;
    long r2 = fcntl(fds[0], F_SETOWN, -4194305);
    int e2 = errno;
    errno = 0;
    long r3 = fcntl(fds[0], F_SETOWN, INT_MIN);
    int e3 = errno;
    long got = fcntl(fds[0], F_GETOWN);
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == ESRCH, "pid 4194305: got %ld %s, expected ESRCH", r, kt_errstr(e));
    CHECK(r2 == -1 && e2 == ESRCH, "pgrp 4194305: got %ld %s, expected ESRCH", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EINVAL, "INT_MIN: got %ld %s, expected EINVAL", r3, kt_errstr(e3));
    EXPECT_EQ(got, 0);
}

TEST(fcntl_setown_ex_getown_ex_round_trip_each_type) {
    int fds[2];
    OK(pipe(fds));
    struct { int type; pid_t pid; } cases[] = {
        {F_OWNER_TID, (pid_t)syscall(SYS_gettid)},
        {F_OWNER_PID, getpid()},
        {F_OWNER_PGRP, getpgrp()},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct f_owner_ex set = {cases[i].type, cases[i].pid};
        struct f_owner_ex got = {-1, -1};
        long rs = fcntl(fds[0], F_SETOWN_EX, &set);
        long rg = fcntl(fds[0], F_GETOWN_EX, &got);
        long own = fcntl(fds[0], F_GETOWN);
        if (rs != 0 || rg != 0 || (int)got.type != cases[i].type || got.pid != cases[i].pid ||
            own != (cases[i].type == F_OWNER_PGRP ? -cases[i].pid : cases[i].pid)) {
            close(fds[0]);
            close(fds[1]);
            CHECK(0, "type %d: set %ld get %ld -> type %d pid %d, F_GETOWN %ld", cases[i].type,
                  rs, rg, (int)got.type, (int)got.pid, own);
        }
    }
    close(fds[0]);
    close(fds[1]);
}

TEST(fcntl_setown_ex_bad_type_is_einval_and_bad_pointer_efault) {
    int fds[2];
    OK(pipe(fds));
    struct f_owner_ex bad = {7, getpid()};
    errno = 0;
    long r = fcntl(fds[0], F_SETOWN_EX, &bad);
    int e = errno;
    errno = 0;
    long r2 = syscall(SYS_fcntl, fds[0], F_SETOWN_EX, BADPTR);
    int e2 = errno;
    errno = 0;
    long r3 = syscall(SYS_fcntl, fds[0], F_GETOWN_EX, BADPTR);
    int e3 = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == EINVAL, "type 7: got %ld %s, expected EINVAL", r, kt_errstr(e));
    CHECK(r2 == -1 && e2 == EFAULT, "set bad ptr: got %ld %s, expected EFAULT", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EFAULT, "get bad ptr: got %ld %s, expected EFAULT", r3, kt_errstr(e3));
}

/* O_ASYNC with an owner: SIGIO when the file becomes readable. SIGIO is
 * blocked and taken with sigtimedwait, so nothing depends on a handler. */
static int sigio_within(int ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(&set, NULL, &ts) == SIGIO;
}

static int async_owned(int fd, int async)
{
    if (fcntl(fd, F_SETOWN, getpid()) != 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    return fcntl(fd, F_SETFL, async ? fl | O_ASYNC : fl & ~O_ASYNC);
}

static void block_sigio(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    sigprocmask(SIG_BLOCK, &set, old);
    while (sigio_within(0)) {
    }
}

/* Restores the mask after the files are closed. A SIGIO still pending (a
 * second one for the same data: "SIGIO may come when there is nothing new",
 * fcntl(2)) is taken first, so that it cannot kill the test. */
static void unblock_sigio(const sigset_t *old)
{
    while (sigio_within(0)) {
    }
    sigprocmask(SIG_SETMASK, old, NULL);
}

TEST(o_async_pipe_sends_sigio_to_the_owner_when_data_arrives) {
    sigset_t old;
    block_sigio(&old);
    int fds[2];
    OK(pipe(fds));
    OK(async_owned(fds[0], 1));
    int early = sigio_within(50);
    long w = write(fds[1], "x", 1);
    int got = sigio_within(2000);
    close(fds[0]);
    close(fds[1]);
    unblock_sigio(&old);
    EXPECT_EQ(w, 1);
    CHECK(!early, "SIGIO before anything was written");
    CHECK(got, "no SIGIO within 2 s of a write");
}

TEST(o_async_socket_sends_sigio_and_without_o_async_none) {
    sigset_t old;
    block_sigio(&old);
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(async_owned(sv[0], 0));
    long w1 = write(sv[1], "a", 1);
    int without = sigio_within(200);
    char c;
    long r1 = read(sv[0], &c, 1);
    OK(async_owned(sv[0], 1));
    long w2 = write(sv[1], "b", 1);
    int with = sigio_within(2000);
    close(sv[0]);
    close(sv[1]);
    unblock_sigio(&old);
    EXPECT_EQ(w1, 1);
    EXPECT_EQ(r1, 1);
    EXPECT_EQ(w2, 1);
    CHECK(!without, "SIGIO with an owner but without O_ASYNC");
    CHECK(with, "no SIGIO within 2 s of data with O_ASYNC");
}

/* A closed file signals no one: closing the other end of a socketpair hangs
 * up the watched end, but that end has already closed. Many rounds, since a
 * watcher polled on another CPU as the file closes is a race. */
TEST(o_async_closed_socket_sends_no_sigio_when_its_peer_closes) {
    sigset_t old;
    block_sigio(&old);
    int late = 0, bad = 0;
    for (int i = 0; i < 500 && !late && !bad; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || async_owned(sv[0], 1) != 0) {
            bad = 1;
            break;
        }
        close(sv[0]);
        close(sv[1]);
        late = sigio_within(0);
    }
    unblock_sigio(&old);
    CHECK(!bad, "socketpair or O_ASYNC failed: %s", kt_errstr(errno));
    CHECK(!late, "SIGIO after the watched file closed");
}

TEST(fcntl_setown_bad_fd_is_ebadf) {
    EXPECT_ERRNO(fcntl(9999, F_SETOWN, getpid()), EBADF);
    EXPECT_ERRNO(fcntl(9999, F_GETOWN), EBADF);
}

/* ---- pipe / pipe2 ----------------------------------------------------- */

TEST(pipe_write_then_read) {
    int fds[2] = {-1, -1};
    OK(syscall(SYS_pipe, fds));
    CHECK(fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1], "fds %d %d", fds[0], fds[1]);
    EXPECT_EQ(write(fds[1], "hello", 5), 5);
    char buf[16] = {0};
    long n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(n, 5);
    CHECK(!memcmp(buf, "hello", 5), "read '%s'", buf);
}

TEST(pipe_preserves_order_across_writes) {
    int fds[2];
    OK(pipe(fds));
    EXPECT_EQ(write(fds[1], "ab", 2), 2);
    EXPECT_EQ(write(fds[1], "cd", 2), 2);
    char buf[8] = {0};
    long n1 = read(fds[0], buf, 3);
    long n2 = read(fds[0], buf + 3, 3);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(n1, 3);
    EXPECT_EQ(n2, 1);
    CHECK(!memcmp(buf, "abcd", 4), "read '%s'", buf);
}

TEST(pipe_read_returns_eof_after_writer_closes) {
    int fds[2];
    OK(pipe(fds));
    EXPECT_EQ(write(fds[1], "x", 1), 1);
    OK(close(fds[1]));
    char buf[4];
    long n1 = read(fds[0], buf, sizeof buf);
    long n2 = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    EXPECT_EQ(n1, 1);
    EXPECT_EQ(n2, 0);
}

TEST(pipe_wrong_direction_is_ebadf) {
    int fds[2];
    OK(pipe(fds));
    char c;
    errno = 0;
    long w = syscall(SYS_write, fds[0], "x", 1);
    int ew = errno;
    errno = 0;
    long r = syscall(SYS_read, fds[1], &c, 1);
    int er = errno;
    close(fds[0]);
    close(fds[1]);
    CHECK(w == -1 && ew == EBADF, "write to read end: %ld %s, expected EBADF", w, kt_errstr(ew));
    CHECK(r == -1 && er == EBADF, "read from write end: %ld %s, expected EBADF", r, kt_errstr(er));
}

TEST(pipe_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_pipe, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_pipe2, BADPTR, 0), EFAULT);
}

TEST(pipe_fds_are_not_cloexec_by_default) {
    int fds[2];
    OK(syscall(SYS_pipe, fds));
    int f0 = fcntl(fds[0], F_GETFD), f1 = fcntl(fds[1], F_GETFD);
    long fl = fcntl(fds[0], F_GETFL);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(f0, 0);
    EXPECT_EQ(f1, 0);
    CHECK(!(fl & O_NONBLOCK), "read end is O_NONBLOCK");
}

TEST(pipe2_cloexec_sets_flag_on_both_ends) {
    int fds[2];
    OK(syscall(SYS_pipe2, fds, O_CLOEXEC));
    int f0 = fcntl(fds[0], F_GETFD), f1 = fcntl(fds[1], F_GETFD);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(f0, FD_CLOEXEC);
    EXPECT_EQ(f1, FD_CLOEXEC);
}

TEST(pipe2_nonblock_empty_read_is_eagain) {
    int fds[2];
    OK(syscall(SYS_pipe2, fds, O_NONBLOCK));
    char c;
    errno = 0;
    long r = syscall(SYS_read, fds[0], &c, 1);
    int e = errno;
    long fl = fcntl(fds[1], F_GETFL);
    close(fds[0]);
    close(fds[1]);
    CHECK(r == -1 && e == EAGAIN, "got %ld %s, expected EAGAIN", r, kt_errstr(e));
    CHECK(fl & O_NONBLOCK, "write end F_GETFL 0%lo lacks O_NONBLOCK", fl);
}

TEST(pipe2_nonblock_read_with_data_returns_it) {
    int fds[2];
    OK(syscall(SYS_pipe2, fds, O_NONBLOCK));
    EXPECT_EQ(write(fds[1], "ok", 2), 2);
    char buf[8];
    long r = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(r, 2);
}

TEST(pipe2_nonblock_full_pipe_write_is_eagain) {
    int fds[2];
    OK(syscall(SYS_pipe2, fds, O_NONBLOCK));
    static char chunk[4096];
    long total = 0, r;
    int e = 0;
    while (total < (16L << 20)) {
        r = write(fds[1], chunk, sizeof chunk);
        if (r < 0) {
            e = errno;
            break;
        }
        total += r;
    }
    /* after draining some bytes, writing works again */
    char buf[4096];
    long got = read(fds[0], buf, sizeof buf);
    long again = write(fds[1], "x", 1);
    close(fds[0]);
    close(fds[1]);
    CHECK(e == EAGAIN, "filling the pipe ended with %s after %ld bytes, expected EAGAIN",
          kt_errstr(e), total);
    CHECK(total >= 4096, "pipe capacity only %ld bytes", total);
    EXPECT_EQ(got, 4096);
    EXPECT_EQ(again, 1);
}

TEST(pipe2_bad_flags_is_einval) {
    int fds[2];
    EXPECT_ERRNO(syscall(SYS_pipe2, fds, O_APPEND), EINVAL);
}

TEST(pipe_with_nonblocking_reader_after_writer_closed_returns_eof) {
    int fds[2];
    OK(pipe2(fds, O_NONBLOCK));
    close(fds[1]);
    char c;
    long r = read(fds[0], &c, 1);
    close(fds[0]);
    EXPECT_EQ(r, 0);
}

TEST(pipe_carries_data_from_child_to_parent) {
    int fds[2];
    OK(pipe(fds));
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(fds[0]);
        _exit(write(fds[1], "from child", 10) == 10 ? 0 : 1);
    }
    close(fds[1]);
    char buf[32] = {0};
    long got = 0, r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += r;
    close(fds[0]);
    int st;
    OK(waitpid(pid, &st, 0));
    EXPECT_EQ(got, 10);
    CHECK(!strcmp(buf, "from child"), "read '%s'", buf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
}

TEST(ioctl_fionbio_toggles_nonblocking) {
    int fds[2];
    OK(pipe(fds));
    int on = 1, off = 0;
    long r1 = syscall(SYS_ioctl, fds[0], FIONBIO, &on);
    long fl1 = fcntl(fds[0], F_GETFL);
    char c;
    errno = 0;
    long rd = read(fds[0], &c, 1);
    int e = errno;
    long r2 = syscall(SYS_ioctl, fds[0], FIONBIO, &off);
    long fl2 = fcntl(fds[0], F_GETFL);
    close(fds[0]);
    close(fds[1]);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    CHECK(fl1 & O_NONBLOCK, "F_GETFL 0%lo lacks O_NONBLOCK after FIONBIO(1)", fl1);
    CHECK(rd == -1 && e == EAGAIN, "read got %ld %s, expected EAGAIN", rd, kt_errstr(e));
    CHECK(!(fl2 & O_NONBLOCK), "F_GETFL 0%lo has O_NONBLOCK after FIONBIO(0)", fl2);
}

/* ---- fs.nr_open --------------------------------------------------------- */

#define NR_OPEN_PATH "/proc/sys/fs/nr_open"

static int nr_open_write(const char *v)
{
    int fd = open(NR_OPEN_PATH, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, v, strlen(v));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(v) ? 0 : -1;
}

static long nr_open_read(void)
{
    char buf[32] = {0};
    int fd = open(NR_OPEN_PATH, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atol(buf) : -1;
}

TEST(nr_open_is_writable_by_root_within_linux_bounds) {
    long old = nr_open_read();
    CHECK(old >= 64, "nr_open reads %ld", old);
    char saved[32];
    snprintf(saved, sizeof saved, "%ld\n", old);
    EXPECT_ERRNO(nr_open_write("63\n"), EINVAL);
    EXPECT_ERRNO(nr_open_write("2147483585\n"), EINVAL);
    EXPECT_ERRNO(nr_open_write("-1\n"), EINVAL);
    EXPECT_ERRNO(nr_open_write("many\n"), EINVAL);
    EXPECT_EQ(nr_open_read(), old);
    OK(nr_open_write("2000000\n"));
    EXPECT_EQ(nr_open_read(), 2000000);
    OK(nr_open_write(saved));
    EXPECT_EQ(nr_open_read(), old);
}

/* In a child: nr_open is set to 64 only between two calls, then put back. */
static void child_nr_open_limits(void *arg)
{
    const char *saved = arg;
    int code = 0;
    /* A descriptor past 64 in a table shared with the parent (CLONE_FILES). */
    if (dup2(2, 65) != 65)
        _exit(10);
    long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        int r = nr_open_write("64\n");
        int u = r == 0 ? syscall(SYS_unshare, CLONE_FILES) : 0;
        int e = errno;
        nr_open_write(saved);
        _exit(r != 0 ? 20 : (u == -1 && e == EMFILE) ? 0 : 21);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        _exit(11);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 12);
    /* fork copies the table: EMFILE too. */
    if (nr_open_write("64\n") != 0)
        _exit(13);
    pid_t f = fork();
    int fe = errno;
    if (f == 0)
        _exit(0);
    /* dup2 below RLIMIT_NOFILE that would grow the table past nr_open: the
     * table cannot grow, and dup2 says EBADF for that (ksys_dup3). */
    int d = dup2(0, 1000);
    int de = errno;
    struct rlimit big = {1024, 4096};
    int sr = setrlimit(RLIMIT_NOFILE, &big);
    int se = errno;
    nr_open_write(saved);
    if (f > 0) {
        waitpid(f, NULL, 0);
        code = 14;
    } else if (fe != EMFILE) {
        code = 15;
    } else if (d != -1 || de != EBADF) {
        code = 16;
    } else if (sr != -1 || se != EPERM) {
        code = 17;
    }
    _exit(code);
}

TEST(nr_open_bounds_descriptor_tables_and_rlimit_nofile) {
    long old = nr_open_read();
    CHECK(old >= 64, "nr_open reads %ld", old);
    static char saved[32];
    snprintf(saved, sizeof saved, "%ld\n", old);
    int st = kt_in_child(child_nr_open_limits, saved);
    nr_open_write(saved);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    EXPECT_EQ(nr_open_read(), old);
    /* The limit's ceiling is nr_open itself. */
    struct rlimit r;
    OK(getrlimit(RLIMIT_NOFILE, &r));
    struct rlimit over = {r.rlim_cur, (rlim_t)old + 1};
    EXPECT_ERRNO(setrlimit(RLIMIT_NOFILE, &over), EPERM);
}

/* Small reads (a byte of /dev/zero, a few bytes of a pipe) take a short path
 * through the kernel; it keeps the checks of the general one. */
TEST(small_read_of_dev_zero_fills_the_buffer) {
    int fd = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char b[8];
    memset(b, 'x', sizeof b);
    EXPECT_EQ(read(fd, b, 1), 1);
    EXPECT_EQ(b[0], 0);
    EXPECT_EQ(b[1], 'x');
    EXPECT_EQ(read(fd, b, sizeof b), (long)sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        EXPECT_EQ(b[i], 0);
    close(fd);
}

TEST(small_read_of_dev_zero_into_read_only_page_is_efault) {
    int fd = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    EXPECT_ERRNO(syscall(SYS_read, fd, p, 1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_read, fd, BADPTR, 1), EFAULT);
    munmap(p, 4096);
    close(fd);
}

/* /dev/zero fills up to the hole and returns the short count. */
TEST(small_read_of_dev_zero_running_into_unmapped_page_is_short) {
    int fd = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    OK(munmap(p + 4096, 4096));
    memset(p + 4092, 'x', 4);
    EXPECT_EQ(syscall(SYS_read, fd, p + 4092, 16), 4);
    EXPECT_EQ(p[4092], 0);
    EXPECT_EQ(p[4095], 0);
    munmap(p, 4096);
    close(fd);
}

/* A copy-on-write page (private, written before fork) is written through a
 * small read as through a store. */
TEST(small_read_into_copy_on_write_page_writes_the_callers_copy) {
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    p[0] = 'a';
    int fds[2];
    OK(pipe(fds));
    pid_t child = fork();
    if (child == 0) {
        /* Child: waits for the parent's read, then checks its own copy. */
        char c;
        _exit(read(fds[0], &c, 1) == 1 && p[0] == 'a' ? 0 : 1);
    }
    int fd = OK(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(read(fd, p, 1), 1);
    EXPECT_EQ(p[0], 0);
    EXPECT_EQ(write(fds[1], "g", 1), 1);
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw its copy change (status %#x)", st);
    close(fd);
    close(fds[0]);
    close(fds[1]);
    munmap(p, 4096);
}

/* A pipe read that cannot deliver fails before it takes anything. */
TEST(small_pipe_read_into_read_only_page_is_efault_and_keeps_the_data) {
    int fds[2];
    OK(pipe(fds));
    EXPECT_EQ(write(fds[1], "abc", 3), 3);
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    EXPECT_ERRNO(syscall(SYS_read, fds[0], p, 3), EFAULT);
    char b[4] = {0};
    EXPECT_EQ(read(fds[0], b, sizeof b), 3);
    EXPECT_EQ(memcmp(b, "abc", 3), 0);
    munmap(p, 4096);
    close(fds[0]);
    close(fds[1]);
}

TEST(small_nonblocking_read_of_empty_pipe_is_eagain) {
    int fds[2];
    OK(pipe2(fds, O_NONBLOCK));
    char b[4];
    EXPECT_ERRNO(read(fds[0], b, sizeof b), EAGAIN);
    close(fds[0]);
    close(fds[1]);
}

/* select and poll with a zero timeout answer from one look at each file. */
TEST(select_zero_timeout_reports_only_ready_descriptors) {
    int a[2], b[2];
    OK(pipe(a));
    OK(pipe(b));
    EXPECT_EQ(write(b[1], "x", 1), 1);
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(a[0], &r);
    FD_SET(b[0], &r);
    FD_SET(a[1], &w);
    int max = a[0] > b[0] ? a[0] : b[0];
    if (a[1] > max)
        max = a[1];
    struct timeval tv = {0, 0};
    EXPECT_EQ(select(max + 1, &r, &w, NULL, &tv), 2);
    EXPECT_EQ(!!FD_ISSET(a[0], &r), 0);
    EXPECT_EQ(!!FD_ISSET(b[0], &r), 1);
    EXPECT_EQ(!!FD_ISSET(a[1], &w), 1);
    /* Nothing ready: every set comes back empty. */
    FD_ZERO(&r);
    FD_SET(a[0], &r);
    tv = (struct timeval){0, 0};
    EXPECT_EQ(select(a[0] + 1, &r, NULL, NULL, &tv), 0);
    EXPECT_EQ(!!FD_ISSET(a[0], &r), 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

TEST(select_on_closed_descriptor_is_ebadf) {
    int p[2];
    OK(pipe(p));
    int closed = p[1];
    close(p[1]);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    FD_SET(closed, &r);
    struct timeval tv = {0, 0};
    int max = p[0] > closed ? p[0] : closed;
    EXPECT_ERRNO(select(max + 1, &r, NULL, NULL, &tv), EBADF);
    /* Also when the wait would block. */
    tv = (struct timeval){0, 10000};
    FD_ZERO(&r);
    FD_SET(closed, &r);
    EXPECT_ERRNO(select(closed + 1, &r, NULL, NULL, &tv), EBADF);
    close(p[0]);
}

/* select walks its sets a word at a time: descriptors past the first word,
 * one descriptor in two sets (counted twice), and bits at or past nfds in the
 * last word (not looked at, even for a closed descriptor, and 0 in the answer). */
TEST(select_sets_spanning_words_and_bits_past_nfds) {
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    /* Read end at 70, write end at 130; 131 and 140 stay closed. */
    EXPECT_EQ(dup2(p[0], 70), 70);
    EXPECT_EQ(dup2(p[1], 130), 130);
    close(131);
    close(140);
    fd_set r, w, x;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&x);
    FD_SET(70, &r);
    FD_SET(70, &x);
    FD_SET(130, &r);
    FD_SET(130, &w);
    FD_SET(140, &r);
    FD_SET(131, &w);
    struct timeval tv = {0, 0};
    /* nfds 131: 131 and 140 are past it. */
    EXPECT_EQ(select(131, &r, &w, &x, &tv), 2);
    EXPECT_EQ(!!FD_ISSET(70, &r), 1);
    EXPECT_EQ(!!FD_ISSET(70, &x), 0);
    EXPECT_EQ(!!FD_ISSET(130, &r), 0);
    EXPECT_EQ(!!FD_ISSET(130, &w), 1);
    EXPECT_EQ(!!FD_ISSET(140, &r), 0);
    EXPECT_EQ(!!FD_ISSET(131, &w), 0);
    /* A descriptor ready for writing only: in the write set, not the read set. */
    FD_ZERO(&r);
    FD_ZERO(&w);
    EXPECT_EQ(dup2(p[0], 64), 64);
    FD_SET(64, &r);
    FD_SET(130, &w);
    FD_SET(130, &r);
    EXPECT_EQ(write(130, "y", 1), 1);
    tv = (struct timeval){0, 0};
    EXPECT_EQ(select(131, &r, &w, NULL, &tv), 2);
    EXPECT_EQ(!!FD_ISSET(64, &r), 1);
    EXPECT_EQ(!!FD_ISSET(130, &w), 1);
    EXPECT_EQ(!!FD_ISSET(130, &r), 0);
    /* Then the closed one, now below nfds: EBADF, sets untouched. */
    FD_ZERO(&r);
    FD_SET(70, &r);
    FD_SET(140, &r);
    tv = (struct timeval){0, 0};
    EXPECT_ERRNO(select(141, &r, NULL, NULL, &tv), EBADF);
    EXPECT_EQ(!!FD_ISSET(140, &r), 1);
    close(64);
    close(70);
    close(130);
    close(p[0]);
    close(p[1]);
}

/* Sets past FD_SETSIZE (nfds up to RLIMIT_NOFILE) take the allocated path. */
TEST(select_past_fd_setsize_with_a_raised_nofile_limit) {
    struct rlimit old, rl;
    OK(getrlimit(RLIMIT_NOFILE, &old));
    if (old.rlim_max < 2048)
        SKIP("RLIMIT_NOFILE hard limit %lu", (unsigned long)old.rlim_max);
    rl = (struct rlimit){2048, old.rlim_max};
    OK(setrlimit(RLIMIT_NOFILE, &rl));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(dup2(p[0], 1500), 1500);
    EXPECT_EQ(dup2(p[1], 1600), 1600);
    unsigned long r[2048 / 64] = {0}, w[2048 / 64] = {0};
    r[1500 / 64] |= 1UL << (1500 % 64);
    w[1600 / 64] |= 1UL << (1600 % 64);
    struct timeval tv = {0, 0};
    EXPECT_EQ(syscall(SYS_select, 1601, r, w, NULL, &tv), 1);
    EXPECT_EQ(!!(r[1500 / 64] & (1UL << (1500 % 64))), 0);
    EXPECT_EQ(!!(w[1600 / 64] & (1UL << (1600 % 64))), 1);
    /* Data to read: ready at once, with a timeout too. */
    EXPECT_EQ(write(1600, "x", 1), 1);
    memset(w, 0, sizeof w);
    r[1500 / 64] |= 1UL << (1500 % 64);
    tv = (struct timeval){1, 0};
    EXPECT_EQ(syscall(SYS_select, 1601, r, NULL, NULL, &tv), 1);
    EXPECT_EQ(!!(r[1500 / 64] & (1UL << (1500 % 64))), 1);
    close(1500);
    close(1600);
    close(p[0]);
    close(p[1]);
    OK(setrlimit(RLIMIT_NOFILE, &old));
}

/* An nfds past what the descriptor table can hold is not EINVAL: Linux caps
 * it at the table's size (max_fds) and neither reads nor writes the bits past
 * it. (The set is large enough for any table this process has had.) */
TEST(select_caps_a_huge_nfds) {
    struct rlimit old, rl;
    OK(getrlimit(RLIMIT_NOFILE, &old));
    rl = (struct rlimit){old.rlim_cur < 1024 ? old.rlim_cur : 1024, old.rlim_max};
    OK(setrlimit(RLIMIT_NOFILE, &rl));
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    static unsigned long r[65536 / 64];
    memset(r, 0, sizeof r);
    r[p[0] / 64] |= 1UL << (p[0] % 64);
    struct timeval tv = {0, 0};
    EXPECT_EQ(syscall(SYS_select, INT_MAX, r, NULL, NULL, &tv), 1);
    EXPECT_EQ(!!(r[p[0] / 64] & (1UL << (p[0] % 64))), 1);
    EXPECT_ERRNO(syscall(SYS_select, -1, r, NULL, NULL, &tv), EINVAL);
    close(p[0]);
    close(p[1]);
    OK(setrlimit(RLIMIT_NOFILE, &old));
}

TEST(select_waits_then_reports_data_written_later) {
    int p[2];
    OK(pipe(p));
    pid_t child = fork();
    if (child == 0) {
        usleep(20000);
        _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    }
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {5, 0};
    EXPECT_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 1);
    EXPECT_EQ(!!FD_ISSET(p[0], &r), 1);
    int st;
    EXPECT_EQ(waitpid(child, &st, 0), child);
    close(p[0]);
    close(p[1]);
}

TEST(poll_zero_timeout_marks_closed_descriptor_pollnval_and_skips_negative) {
    int a[2];
    OK(pipe(a));
    int closed = dup(a[0]);
    close(closed);
    EXPECT_EQ(write(a[1], "x", 1), 1);
    struct pollfd p[4] = {
        {.fd = a[0], .events = POLLIN},
        {.fd = closed, .events = POLLIN},
        {.fd = -1, .events = POLLIN},
        {.fd = a[1], .events = POLLIN},
    };
    EXPECT_EQ(poll(p, 4, 0), 2);
    EXPECT_EQ(p[0].revents, POLLIN);
    EXPECT_EQ(p[1].revents, POLLNVAL);
    EXPECT_EQ(p[2].revents, 0);
    EXPECT_EQ(p[3].revents, 0);
    close(a[0]);
    close(a[1]);
}

/* A new pipe of a creator without CAP_SYS_RESOURCE holds no more than
 * /proc/sys/fs/pipe-max-size (Linux's alloc_pipe_info). */
static void child_small_pipe(void *arg)
{
    (void)arg;
    if (setresuid(65534, 65534, 65534) != 0)
        _exit(10);
    int p[2];
    if (pipe(p) != 0)
        _exit(11);
    if (fcntl(p[1], F_GETPIPE_SZ) != 4096)
        _exit(12);
    _exit(0);
}

TEST(new_pipe_of_an_unprivileged_user_is_capped_by_pipe_max_size) {
    if (geteuid() != 0)
        SKIP("needs root");
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    CHECK(f, "pipe-max-size: %s", kt_errstr(errno));
    long old = 0;
    int got = fscanf(f, "%ld", &old);
    fclose(f);
    CHECK(got == 1, "pipe-max-size unreadable");
    f = fopen("/proc/sys/fs/pipe-max-size", "w");
    CHECK(f, "pipe-max-size: %s", kt_errstr(errno));
    fprintf(f, "4096\n");
    fclose(f);
    int st = kt_in_child(child_small_pipe, NULL);
    f = fopen("/proc/sys/fs/pipe-max-size", "w");
    if (f) {
        fprintf(f, "%ld\n", old);
        fclose(f);
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* Past /proc/sys/fs/pipe-user-pages-soft a user without CAP_SYS_RESOURCE gets
 * two-page pipes and may not grow them (EPERM); past pipe-user-pages-hard no
 * pipe at all. */
static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", v);
    return fclose(f);
}

static void child_soft_limited_pipes(void *arg)
{
    (void)arg;
    if (setresuid(65533, 65533, 65533) != 0)
        _exit(10);
    int a[2], b[2];
    if (pipe(a) != 0) /* 16 pages: the user is at the soft limit (16) */
        _exit(11);
    if (fcntl(a[1], F_GETPIPE_SZ) != 65536)
        _exit(12);
    if (pipe(b) != 0) /* past it: two pages */
        _exit(13);
    if (fcntl(b[1], F_GETPIPE_SZ) != 8192)
        _exit(14);
    errno = 0;
    if (fcntl(b[1], F_SETPIPE_SZ, 65536) != -1 || errno != EPERM)
        _exit(15);
    _exit(0);
}

TEST(pipe_user_pages_soft_limits_an_unprivileged_users_pipes) {
    if (geteuid() != 0)
        SKIP("needs root");
    const char *soft = "/proc/sys/fs/pipe-user-pages-soft";
    long old = read_long(soft);
    CHECK(old >= 0, "%s unreadable", soft);
    CHECK(read_long("/proc/sys/fs/pipe-user-pages-hard") >= 0, "pipe-user-pages-hard unreadable");
    OK(write_long(soft, 16));
    int st = kt_in_child(child_soft_limited_pipes, NULL);
    write_long(soft, old);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* Leases: a read lease needs no description open for writing (its own
 * included), a write lease no other open description; F_GETLEASE reports it;
 * F_UNLCK with none is EAGAIN; not a regular file or a bad type is EINVAL. */
TEST(fcntl_setlease_checks_and_getlease) {
    const char *d = kt_tmpdir();
    const char *f = kt_path(d, "f");
    int rw = OK(open(f, O_CREAT | O_RDWR, 0644));
    EXPECT_ERRNO(fcntl(rw, F_SETLEASE, F_RDLCK), EAGAIN);
    int ro = OK(open(f, O_RDONLY));
    EXPECT_ERRNO(fcntl(ro, F_SETLEASE, F_RDLCK), EAGAIN); /* rw is open */
    close(rw);
    OK(fcntl(ro, F_SETLEASE, F_RDLCK));
    EXPECT_EQ(fcntl(ro, F_GETLEASE), F_RDLCK);
    int ro2 = OK(open(f, O_RDONLY)); /* a reader does not break a read lease */
    EXPECT_ERRNO(fcntl(ro2, F_SETLEASE, F_WRLCK), EAGAIN);
    close(ro2);
    OK(fcntl(ro, F_SETLEASE, F_UNLCK));
    EXPECT_EQ(fcntl(ro, F_GETLEASE), F_UNLCK);
    EXPECT_ERRNO(fcntl(ro, F_SETLEASE, F_UNLCK), EAGAIN);
    EXPECT_ERRNO(fcntl(ro, F_SETLEASE, 7), EINVAL);
    int p[2];
    OK(pipe(p));
    EXPECT_ERRNO(fcntl(p[0], F_SETLEASE, F_RDLCK), EINVAL);
    close(p[0]);
    close(p[1]);
    close(ro);
}

/* Breaking a lease: an open for writing signals the holder (its F_SETSIG
 * signal, si_fd the descriptor) and waits until the holder lets go; with
 * O_NONBLOCK it is EWOULDBLOCK at once. Meanwhile F_GETLEASE says F_UNLCK. */
static const char *lease_path;
static int lease_ctl[2];

static void child_lease_breaker(void *arg)
{
    (void)arg;
    errno = 0;
    int r = open(lease_path, O_WRONLY | O_NONBLOCK);
    char c = (r == -1 && errno == EWOULDBLOCK) ? 'y' : 'n';
    if (write(lease_ctl[1], &c, 1) != 1)
        _exit(10);
    int fd = open(lease_path, O_WRONLY); /* waits for the holder */
    if (fd < 0)
        _exit(11);
    _exit(c == 'y' ? 0 : 12);
}

TEST(opening_for_write_breaks_a_read_lease) {
    const char *d = kt_tmpdir();
    lease_path = kt_path(d, "leased");
    int w = OK(open(lease_path, O_CREAT | O_WRONLY, 0644));
    close(w);
    int sig = SIGRTMIN + 3;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigaddset(&set, SIGIO);
    OK(sigprocmask(SIG_BLOCK, &set, &old));
    int ro = OK(open(lease_path, O_RDONLY));
    OK(fcntl(ro, F_SETSIG, sig));
    OK(fcntl(ro, F_SETLEASE, F_RDLCK));
    OK(pipe(lease_ctl));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child_lease_breaker(NULL);
        _exit(13);
    }
    char c = 0;
    int n = read(lease_ctl[0], &c, 1);
    siginfo_t si;
    struct timespec ts = {5, 0};
    int got = sigtimedwait(&set, &si, &ts);
    int during = fcntl(ro, F_GETLEASE);
    usleep(100000);
    int st = -1;
    pid_t early = waitpid(pid, &st, WNOHANG); /* still waiting for us */
    OK(fcntl(ro, F_SETLEASE, F_UNLCK));
    waitpid(pid, &st, 0);
    signal(sig, SIG_IGN);
    signal(SIGIO, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(sig, SIG_DFL);
    signal(SIGIO, SIG_DFL);
    close(ro);
    close(lease_ctl[0]);
    close(lease_ctl[1]);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, 'y');
    EXPECT_EQ(got, sig);
    EXPECT_EQ(si.si_fd, ro);
    EXPECT_EQ(during, F_UNLCK);
    EXPECT_EQ(early, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* F_SETSIG: O_ASYNC events send that signal instead of SIGIO, with si_code
 * POLL_IN, si_band and si_fd (the descriptor O_ASYNC was set through);
 * F_GETSIG reads it back; a number past the last signal is EINVAL. */
TEST(fcntl_setsig_sends_that_signal_with_si_fd_and_band) {
    int p[2];
    OK(pipe(p));
    int sig = SIGRTMIN + 1;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigaddset(&set, SIGIO);
    OK(sigprocmask(SIG_BLOCK, &set, &old));
    EXPECT_EQ(fcntl(p[0], F_GETSIG), 0);
    EXPECT_ERRNO(fcntl(p[0], F_SETSIG, 65), EINVAL);
    OK(fcntl(p[0], F_SETSIG, sig));
    EXPECT_EQ(fcntl(p[0], F_GETSIG), sig);
    OK(fcntl(p[0], F_SETOWN, getpid()));
    OK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_ASYNC));
    EXPECT_EQ(write(p[1], "x", 1), 1);
    siginfo_t si;
    struct timespec ts = {2, 0};
    int got = sigtimedwait(&set, &si, &ts);
    /* Drop anything still pending (a wake-up may repeat the signal) before
     * unblocking. */
    signal(sig, SIG_IGN);
    signal(SIGIO, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(sig, SIG_DFL);
    signal(SIGIO, SIG_DFL);
    EXPECT_EQ(got, sig);
    EXPECT_EQ(si.si_code, POLL_IN);
    EXPECT_EQ(si.si_fd, p[0]);
    CHECK(si.si_band & POLLIN, "si_band 0x%lx has no POLLIN", (long)si.si_band);
    close(p[0]);
    close(p[1]);
}

/* dnotify: F_NOTIFY on a directory signals its owner (the caller) when an
 * entry changes: with F_SETSIG, that signal with si_fd the directory's
 * descriptor and si_code POLL_MSG. Without DN_MULTISHOT only once. A rename
 * within the directory is DN_RENAME. Not a directory: ENOTDIR. */
static int wait_sig(int sig, int ms, siginfo_t *si)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(&set, si, &ts);
}

TEST(fcntl_notify_signals_directory_changes) {
    const char *d = kt_tmpdir();
    int sig = SIGRTMIN + 2;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigaddset(&set, SIGIO);
    OK(sigprocmask(SIG_BLOCK, &set, &old));
    int f = OK(open(kt_path(d, "a"), O_CREAT | O_RDWR, 0600));
    int e0 = fcntl(f, F_NOTIFY, DN_CREATE) == -1 ? errno : 0;
    int d1 = OK(open(d, O_RDONLY | O_DIRECTORY));
    int d2 = OK(open(d, O_RDONLY | O_DIRECTORY));
    int d3 = OK(open(d, O_RDONLY | O_DIRECTORY));
    OK(fcntl(d1, F_SETSIG, sig));
    OK(fcntl(d2, F_SETSIG, sig));
    OK(fcntl(d3, F_SETSIG, sig));
    OK(fcntl(d1, F_NOTIFY, DN_CREATE | DN_MULTISHOT));
    OK(fcntl(d2, F_NOTIFY, DN_DELETE));
    pid_t owner = fcntl(d1, F_GETOWN);
    siginfo_t si;
    int r1 = wait_sig(sig, 0, &si);
    OK(mkdir(kt_path(d, "b"), 0700));
    int r2 = wait_sig(sig, 2000, &si);
    int fd2 = si.si_fd, code2 = si.si_code;
    OK(mkdir(kt_path(d, "c"), 0700));
    int r3 = wait_sig(sig, 2000, &si);
    int fd3 = si.si_fd;
    OK(close(d1)); /* its watch ends */
    OK(rmdir(kt_path(d, "b")));
    int r4 = wait_sig(sig, 2000, &si);
    int fd4 = si.si_fd;
    OK(rmdir(kt_path(d, "c"))); /* d2's watch was one-shot: gone */
    OK(mkdir(kt_path(d, "e"), 0700)); /* d1's watch was closed */
    int r5 = wait_sig(sig, 100, &si);
    OK(fcntl(d3, F_NOTIFY, DN_RENAME | DN_MULTISHOT));
    OK(rename(kt_path(d, "a"), kt_path(d, "z")));
    int r6 = wait_sig(sig, 2000, &si);
    int fd6 = si.si_fd;
    /* Drop anything still pending before unblocking. */
    signal(sig, SIG_IGN);
    signal(SIGIO, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(sig, SIG_DFL);
    signal(SIGIO, SIG_DFL);
    EXPECT_EQ(e0, ENOTDIR);
    EXPECT_EQ(owner, getpid());
    EXPECT_EQ(r1, -1);
    EXPECT_EQ(r2, sig);
    EXPECT_EQ(fd2, d1);
    EXPECT_EQ(code2, POLL_MSG);
    EXPECT_EQ(r3, sig);
    EXPECT_EQ(fd3, d1);
    EXPECT_EQ(r4, sig);
    EXPECT_EQ(fd4, d2);
    EXPECT_EQ(r5, -1);
    EXPECT_EQ(r6, sig);
    EXPECT_EQ(fd6, d3);
    close(f);
    close(d2);
    close(d3);
}

int main(void)
{
    KT_BEGIN();
    RUN(dup_returns_lowest_free_fd);
    RUN(dup_shares_file_offset);
    RUN(dup_clears_cloexec_on_the_copy);
    RUN(dup_bad_fd_is_ebadf);
    RUN(closing_dup_keeps_original_open);
    RUN(dup2_to_chosen_fd);
    RUN(dup2_silently_closes_target);
    RUN(dup2_same_fd_returns_it);
    RUN(dup2_same_invalid_fd_is_ebadf);
    RUN(dup2_bad_oldfd_is_ebadf_and_keeps_newfd);
    RUN(dup2_newfd_beyond_rlimit_is_ebadf);
    RUN(dup2_clears_cloexec_on_newfd);
    RUN(dup3_equal_fds_is_einval);
    RUN(dup3_cloexec_sets_flag);
    RUN(dup3_bad_flags_is_einval);
    RUN(dup3_bad_oldfd_is_ebadf);
    RUN(fcntl_dupfd_returns_lowest_at_or_above_arg);
    RUN(fcntl_dupfd_cloexec_sets_flag);
    RUN(fcntl_dupfd_bad_arg_is_einval);
    RUN(fcntl_getfd_setfd_roundtrip);
    RUN(fcntl_cloexec_is_per_descriptor);
    RUN(fcntl_getfl_reports_access_mode_and_flags);
    RUN(fcntl_getfl_on_opath_fd_reports_o_path);
    RUN(fcntl_setfl_append_makes_writes_append);
    RUN(fcntl_setfl_cannot_change_access_mode);
    RUN(fcntl_setfl_nonblock_makes_empty_pipe_read_eagain);
    RUN(fcntl_status_flags_are_shared_by_dups);
    RUN(fcntl_bad_fd_is_ebadf);
    RUN(fcntl_unknown_cmd_is_einval);
    RUN(fcntl_getown_is_zero_until_set);
    RUN(fcntl_setown_pid_then_getown_returns_it);
    RUN(fcntl_setown_negative_names_a_process_group);
    RUN(fcntl_setown_is_shared_by_dups);
    RUN(fcntl_setown_on_a_socket_works);
    RUN(fcntl_setown_to_a_missing_process_is_esrch);
    RUN(fcntl_setown_ex_getown_ex_round_trip_each_type);
    RUN(fcntl_setown_ex_bad_type_is_einval_and_bad_pointer_efault);
    RUN(o_async_closed_socket_sends_no_sigio_when_its_peer_closes);
    RUN(fcntl_setown_bad_fd_is_ebadf);
    RUN(o_async_pipe_sends_sigio_to_the_owner_when_data_arrives);
    RUN(o_async_socket_sends_sigio_and_without_o_async_none);
    RUN(pipe_write_then_read);
    RUN(pipe_preserves_order_across_writes);
    RUN(pipe_read_returns_eof_after_writer_closes);
    RUN(pipe_wrong_direction_is_ebadf);
    RUN(pipe_bad_pointer_is_efault);
    RUN(pipe_fds_are_not_cloexec_by_default);
    RUN(pipe2_cloexec_sets_flag_on_both_ends);
    RUN(pipe2_nonblock_empty_read_is_eagain);
    RUN(pipe2_nonblock_read_with_data_returns_it);
    RUN(pipe2_nonblock_full_pipe_write_is_eagain);
    RUN(pipe2_bad_flags_is_einval);
    RUN(pipe_with_nonblocking_reader_after_writer_closed_returns_eof);
    RUN(pipe_carries_data_from_child_to_parent);
    RUN(ioctl_fionbio_toggles_nonblocking);
    RUN(nr_open_is_writable_by_root_within_linux_bounds);
    RUN(nr_open_bounds_descriptor_tables_and_rlimit_nofile);
    RUN(small_read_of_dev_zero_fills_the_buffer);
    RUN(small_read_of_dev_zero_into_read_only_page_is_efault);
    RUN(small_read_of_dev_zero_running_into_unmapped_page_is_short);
    RUN(small_read_into_copy_on_write_page_writes_the_callers_copy);
    RUN(small_pipe_read_into_read_only_page_is_efault_and_keeps_the_data);
    RUN(small_nonblocking_read_of_empty_pipe_is_eagain);
    RUN(select_zero_timeout_reports_only_ready_descriptors);
    RUN(select_on_closed_descriptor_is_ebadf);
    RUN(select_sets_spanning_words_and_bits_past_nfds);
    RUN(select_past_fd_setsize_with_a_raised_nofile_limit);
    RUN(select_caps_a_huge_nfds);
    RUN(select_waits_then_reports_data_written_later);
    RUN(poll_zero_timeout_marks_closed_descriptor_pollnval_and_skips_negative);
    RUN(new_pipe_of_an_unprivileged_user_is_capped_by_pipe_max_size);
    RUN(pipe_user_pages_soft_limits_an_unprivileged_users_pipes);
    RUN(fcntl_setlease_checks_and_getlease);
    RUN(opening_for_write_breaks_a_read_lease);
    RUN(fcntl_setsig_sends_that_signal_with_si_fd_and_band);
    RUN(fcntl_notify_signals_directory_changes);
    return KT_END();
}

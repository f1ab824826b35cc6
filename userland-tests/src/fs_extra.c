/* The rest of the file calls: flock; fsync, fdatasync, syncfs, sync,
 * sync_file_range and readahead; preadv/pwritev and their v2 forms;
 * fallocate; memfd_create with seals; close_range; openat2; chroot; the old
 * getdents; utime, utimes and futimesat.
 *
 * The files live on a tmpfs, the file system Kestrel's ramfs mimics: main()
 * mounts one on /tmp in a private mount namespace when /tmp is something
 * else (an ext4 /tmp answers fallocate differently). */
#define KT_AREA "fs_extra"
#include "kt.h"

#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#define BADPTR ((void *)1)
#define DATA "0123456789"

#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6

#ifndef SYS_pwritev2
#define SYS_pwritev2 328
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC 4
#endif
#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif
#ifndef SYNC_FILE_RANGE_WAIT_BEFORE
#define SYNC_FILE_RANGE_WAIT_BEFORE 1
#define SYNC_FILE_RANGE_WRITE 2
#define SYNC_FILE_RANGE_WAIT_AFTER 4
#endif

#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#define RESOLVE_CACHED 0x20

/* ---- helpers ------------------------------------------------------------ */

/* Writes content to dir/name; returns the path (rotating buffer) or NULL. */
static const char *mkfile(const char *dir, const char *name, const char *content)
{
    const char *p = kt_path(dir, name);
    return kt_write_file(p, content, strlen(content)) == 0 ? p : NULL;
}

/* A fresh temp dir holding "f" with DATA, opened with flags; -1 on error. */
static int data_fd(int flags)
{
    const char *d = kt_tmpdir();
    if (!d)
        return -1;
    const char *p = mkfile(d, "f", DATA);
    return p ? open(p, flags) : -1;
}

static long pos(int fd)
{
    return lseek(fd, 0, SEEK_CUR);
}

static long fsize(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_size : -1;
}

/* Reads size bytes at off into buf (NUL-terminated); returns the count. */
static long pread_str(int fd, char *buf, size_t size, long off)
{
    memset(buf, 0, size);
    return pread(fd, buf, size - 1, off);
}

static long flock_(int fd, int op)
{
    return syscall(SYS_flock, fd, (long)op);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Waits up to secs seconds for pid, then SIGKILLs it. Returns the wait
 * status, -1 if waiting failed, -2 on a timeout. */
static int wait_child(pid_t pid, int secs)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= secs) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -2;
        }
        sleep_ms(5);
    }
}

/* Runs fn(arg) in a forked child (which then _exit(0)s); see wait_child. */
static int run_child(void (*fn)(void *), void *arg, int secs)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    return wait_child(pid, secs);
}

static const char *child_status(int st)
{
    return st == -2 ? "still running after the timeout (blocked for good?)" : kt_status(st);
}

/* A child's exit code as an errno name when it is one. */
static const char *exit_code(int st)
{
    static char buf[96];
    if (st >= 0 && WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d (%s)", WEXITSTATUS(st), kt_errstr(WEXITSTATUS(st)));
    else
        snprintf(buf, sizeof buf, "%s", child_status(st));
    return buf;
}

static int on(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    return sigaction(sig, &sa, NULL);
}

static void arm_timer_ms(long ms)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- flock ---------------------------------------------------------------- */

/* Two open file descriptions of one file, in *a and *b. */
static int two_opens(int *a, int *b, int flags_a, int flags_b)
{
    const char *d = kt_tmpdir();
    if (!d)
        return -1;
    const char *p = mkfile(d, "lock", "");
    if (!p)
        return -1;
    *a = open(p, flags_a);
    *b = open(p, flags_b);
    return *a >= 0 && *b >= 0 ? 0 : -1;
}

TEST(flock_ex_conflicts_with_ex_of_another_description) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDONLY, O_WRONLY) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    EXPECT_ERRNO(flock_(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    EXPECT_ERRNO(flock_(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

TEST(flock_sh_locks_share_but_block_ex) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_SH), 0);
    EXPECT_EQ(flock_(b, LOCK_SH | LOCK_NB), 0);
    EXPECT_ERRNO(flock_(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

TEST(flock_same_lock_again_is_a_noop) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    EXPECT_EQ(flock_(a, LOCK_EX | LOCK_NB), 0);
    EXPECT_ERRNO(flock_(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

TEST(flock_converts_sh_to_ex_when_alone) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_SH), 0);
    EXPECT_EQ(flock_(a, LOCK_EX | LOCK_NB), 0);
    EXPECT_ERRNO(flock_(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

TEST(flock_converts_ex_to_sh_letting_others_share) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    EXPECT_EQ(flock_(a, LOCK_SH), 0);
    EXPECT_EQ(flock_(b, LOCK_SH | LOCK_NB), 0);
    EXPECT_ERRNO(flock_(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

/* flock(2): a conversion is not atomic; Linux removes the old lock before
 * trying the new one, so a conversion refused with LOCK_NB leaves no lock. */
TEST(flock_failed_nb_conversion_drops_the_old_lock) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_SH), 0);
    EXPECT_EQ(flock_(b, LOCK_SH), 0);
    EXPECT_ERRNO(flock_(a, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    /* a holds nothing now: b can take the file for itself. */
    EXPECT_EQ(flock_(b, LOCK_EX | LOCK_NB), 0);
    close(a);
    close(b);
}

TEST(flock_un_releases_the_lock) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    EXPECT_EQ(flock_(a, LOCK_UN), 0);
    EXPECT_EQ(flock_(b, LOCK_EX | LOCK_NB), 0);
    /* Unlocking what is not locked is fine, with or without LOCK_NB. */
    EXPECT_EQ(flock_(a, LOCK_UN), 0);
    EXPECT_EQ(flock_(a, LOCK_UN | LOCK_NB), 0);
    EXPECT_ERRNO(flock_(a, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
}

TEST(flock_close_releases_the_lock) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    close(a);
    EXPECT_EQ(flock_(b, LOCK_EX | LOCK_NB), 0);
    close(b);
}

TEST(flock_dup_fds_share_one_lock) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    int c = OK(dup(a));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    /* The same open file description: no conflict with itself. */
    EXPECT_EQ(flock_(c, LOCK_EX | LOCK_NB), 0);
    /* Unlocking through the dup unlocks the description. */
    EXPECT_EQ(flock_(c, LOCK_UN), 0);
    EXPECT_EQ(flock_(b, LOCK_EX | LOCK_NB), 0);
    close(a);
    close(b);
    close(c);
}

TEST(flock_released_only_when_the_last_dup_closes) {
    int a, b;
    CHECK(two_opens(&a, &b, O_RDWR, O_RDWR) == 0, "open: %s", kt_errstr(errno));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    int c = OK(dup(a));
    int e = OK(fcntl(a, F_DUPFD_CLOEXEC, 50));
    close(a);
    EXPECT_ERRNO(flock_(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    close(c);
    EXPECT_ERRNO(flock_(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    close(e);
    EXPECT_EQ(flock_(b, LOCK_EX | LOCK_NB), 0);
    close(b);
}

struct lockargs {
    const char *path;
    int fd;
};

/* Child: its own open of the parent's EX-locked file conflicts; the inherited
 * fd is the parent's description and may take any lock. */
static void child_own_open_conflicts(void *arg)
{
    struct lockargs *la = arg;
    int own = open(la->path, O_RDWR);
    if (own < 0)
        _exit(100);
    if (flock_(own, LOCK_SH | LOCK_NB) != -1 || errno != EWOULDBLOCK)
        _exit(101);
    if (flock_(own, LOCK_EX | LOCK_NB) != -1 || errno != EWOULDBLOCK)
        _exit(102);
    if (flock_(la->fd, LOCK_EX | LOCK_NB) != 0)
        _exit(103);
    _exit(0);
}

TEST(flock_conflicts_between_parent_and_child) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int a = OK(open(p, O_RDWR));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    struct lockargs la = {p, a};
    int st = run_child(child_own_open_conflicts, &la, 10);
    close(a);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: %s (100 open failed, 101 SH|NB not EWOULDBLOCK, 102 EX|NB not EWOULDBLOCK, "
          "103 inherited fd could not lock)", child_status(st));
}

TEST(flock_held_through_inherited_fd_until_child_exits) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int a = OK(open(p, O_RDWR));
    int b = OK(open(p, O_RDWR));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    int go[2];
    OK(pipe(go));
    pid_t pid = OK(fork());
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) { /* the parent closed: exit */ }
        _exit(0);
    }
    close(go[0]);
    close(a); /* the child's copy still holds the description */
    errno = 0;
    long r1 = flock_(b, LOCK_EX | LOCK_NB);
    int e1 = errno;
    close(go[1]);
    int st = wait_child(pid, 10);
    long r2 = flock_(b, LOCK_EX | LOCK_NB);
    close(b);
    CHECK(r1 == -1 && e1 == EWOULDBLOCK, "while the child lives: got %ld %s, expected EWOULDBLOCK",
          r1, kt_errstr(e1));
    CHECK(st >= 0 && WIFEXITED(st), "child: %s", child_status(st));
    EXPECT_EQ(r2, 0);
}

/* Child: tells the parent it is about to block, then takes LOCK_EX. */
static void child_blocking_ex(void *arg)
{
    struct lockargs *la = arg;
    int own = open(la->path, O_RDWR);
    if (own < 0)
        _exit(100);
    if (write(la->fd, "x", 1) != 1)
        _exit(101);
    _exit(flock_(own, LOCK_EX) == 0 ? 0 : errno);
}

TEST(flock_blocked_ex_is_woken_by_release) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int a = OK(open(p, O_RDWR));
    EXPECT_EQ(flock_(a, LOCK_SH), 0);
    int ready[2];
    OK(pipe(ready));
    struct lockargs la = {p, ready[1]};
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(ready[0]);
        child_blocking_ex(&la);
    }
    close(ready[1]);
    char c;
    long n = read(ready[0], &c, 1);
    close(ready[0]);
    sleep_ms(100);
    int early = 0;
    pid_t w = waitpid(pid, &early, WNOHANG);
    flock_(a, LOCK_UN);
    int st = w == pid ? early : wait_child(pid, 10);
    close(a);
    CHECK(n == 1, "child did not start: %s", exit_code(st));
    CHECK(w == 0, "child finished while the lock was held: %s", exit_code(st));
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child after LOCK_UN: %s", exit_code(st));
}

static volatile sig_atomic_t handled;
static int unlock_in_handler = -1;

static void h_alarm(int sig)
{
    (void)sig;
    handled = 1;
    if (unlock_in_handler >= 0)
        flock_(unlock_in_handler, LOCK_UN);
}

/* Child: holds EX through a, blocks for EX through b until SIGALRM. Exits with
 * flock's errno (EINTR expected), 200 if flock succeeded. */
static void child_flock_eintr(void *arg)
{
    const char *p = arg;
    int a = open(p, O_RDWR), b = open(p, O_RDWR);
    if (a < 0 || b < 0 || flock_(a, LOCK_EX) != 0)
        _exit(100);
    on(SIGALRM, h_alarm, 0);
    arm_timer_ms(50);
    long r = flock_(b, LOCK_EX);
    _exit(r == 0 ? 200 : handled ? errno : 201);
}

TEST(flock_blocked_is_eintr_after_a_handler_without_sa_restart) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int st = run_child(child_flock_eintr, (void *)p, 10);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == EINTR,
          "child: %s, expected exit EINTR (200 flock succeeded, 201 no handler ran)", exit_code(st));
}

/* Child: as above with SA_RESTART; the handler drops the blocking lock, so
 * the restarted flock succeeds. */
static void child_flock_restart(void *arg)
{
    const char *p = arg;
    int a = open(p, O_RDWR), b = open(p, O_RDWR);
    if (a < 0 || b < 0 || flock_(a, LOCK_EX) != 0)
        _exit(100);
    unlock_in_handler = a;
    on(SIGALRM, h_alarm, SA_RESTART);
    arm_timer_ms(50);
    long r = flock_(b, LOCK_EX);
    _exit(r == 0 ? (handled ? 0 : 201) : errno);
}

TEST(flock_blocked_restarts_after_a_sa_restart_handler) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int st = run_child(child_flock_restart, (void *)p, 10);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: %s, expected exit 0 (201 no handler ran)", exit_code(st));
}

TEST(flock_bad_fd_is_ebadf) {
    EXPECT_ERRNO(flock_(-1, LOCK_EX), EBADF);
    EXPECT_ERRNO(flock_(9999, LOCK_SH | LOCK_NB), EBADF);
    EXPECT_ERRNO(flock_(9999, LOCK_UN), EBADF);
    /* Linux checks the operation before it looks the fd up. */
    EXPECT_ERRNO(flock_(9999, 0), EINVAL);
}

TEST(flock_o_path_fd_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = mkfile(d, "lock", "");
    CHECK(p, "create failed");
    int fd = OK(open(p, O_PATH));
    errno = 0;
    long r = flock_(fd, LOCK_EX);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EBADF, "flock(O_PATH fd) = %ld %s, expected EBADF", r, kt_errstr(e));
}

TEST(flock_bad_operation_is_einval) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(flock_(fd, 0), EINVAL);
    EXPECT_ERRNO(flock_(fd, LOCK_NB), EINVAL);
    EXPECT_ERRNO(flock_(fd, LOCK_SH | LOCK_EX), EINVAL);
    EXPECT_ERRNO(flock_(fd, LOCK_UN | LOCK_EX), EINVAL);
    EXPECT_ERRNO(flock_(fd, 16), EINVAL);
    close(fd);
}

TEST(flock_on_directory_and_pipe_works) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int a = OK(open(d, O_RDONLY | O_DIRECTORY));
    int b = OK(open(d, O_RDONLY | O_DIRECTORY));
    EXPECT_EQ(flock_(a, LOCK_EX), 0);
    EXPECT_ERRNO(flock_(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
    close(a);
    close(b);
    int p[2];
    OK(pipe(p));
    long r1 = flock_(p[0], LOCK_EX | LOCK_NB);
    long r2 = flock_(p[1], LOCK_EX | LOCK_NB);
    int e2 = errno;
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(r1, 0);
    /* Both ends are one inode but two descriptions. */
    CHECK(r2 == -1 && e2 == EWOULDBLOCK, "second pipe end: %ld %s, expected EWOULDBLOCK", r2,
          kt_errstr(e2));
}

/* ---- fsync and friends ------------------------------------------------------ */

static long sfr(int fd, long off, long n, unsigned flags)
{
    return syscall(SYS_sync_file_range, fd, off, n, (long)flags);
}

TEST(fsync_regular_file_and_directory_succeed) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_EQ(syscall(SYS_fsync, fd), 0);
    EXPECT_EQ(syscall(SYS_fdatasync, fd), 0);
    close(fd);
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    EXPECT_EQ(syscall(SYS_fsync, dfd), 0);
    EXPECT_EQ(syscall(SYS_fdatasync, dfd), 0);
    close(dfd);
}

TEST(fsync_bad_fd_is_ebadf) {
    EXPECT_ERRNO(syscall(SYS_fsync, -1), EBADF);
    EXPECT_ERRNO(syscall(SYS_fsync, 9999), EBADF);
    EXPECT_ERRNO(syscall(SYS_fdatasync, 9999), EBADF);
    EXPECT_ERRNO(syscall(SYS_syncfs, 9999), EBADF);
    EXPECT_ERRNO(syscall(SYS_syncfs, -1), EBADF);
}

TEST(fsync_on_pipe_is_einval) {
    int p[2];
    OK(pipe(p));
    long r[4];
    int e[4];
    errno = 0; r[0] = syscall(SYS_fsync, p[0]); e[0] = errno;
    errno = 0; r[1] = syscall(SYS_fsync, p[1]); e[1] = errno;
    errno = 0; r[2] = syscall(SYS_fdatasync, p[0]); e[2] = errno;
    errno = 0; r[3] = syscall(SYS_fdatasync, p[1]); e[3] = errno;
    close(p[0]);
    close(p[1]);
    for (int i = 0; i < 4; i++)
        CHECK(r[i] == -1 && e[i] == EINVAL, "call %d (fsync r, fsync w, fdatasync r, fdatasync w) = %ld %s, expected EINVAL",
              i, r[i], kt_errstr(e[i]));
}

TEST(fsync_on_socket_is_einval) {
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    errno = 0;
    long r1 = syscall(SYS_fsync, sv[0]);
    int e1 = errno;
    errno = 0;
    long r2 = syscall(SYS_fdatasync, sv[1]);
    int e2 = errno;
    close(sv[0]);
    close(sv[1]);
    CHECK(r1 == -1 && e1 == EINVAL, "fsync = %ld %s, expected EINVAL", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "fdatasync = %ld %s, expected EINVAL", r2, kt_errstr(e2));
}

TEST(sync_succeeds) {
    EXPECT_EQ(syscall(SYS_sync), 0);
}

TEST(syncfs_succeeds_on_files_pipes_and_directories) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_EQ(syscall(SYS_syncfs, fd), 0);
    close(fd);
    int dfd = OK(open("/", O_RDONLY | O_DIRECTORY));
    EXPECT_EQ(syscall(SYS_syncfs, dfd), 0);
    close(dfd);
    int p[2];
    OK(pipe(p));
    long r = syscall(SYS_syncfs, p[0]);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(r, 0);
}

TEST(sync_file_range_on_file_succeeds) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_EQ(sfr(fd, 0, 0, 0), 0);
    EXPECT_EQ(sfr(fd, 2, 100, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER), 0);
    /* Past the end of the file is fine. */
    EXPECT_EQ(sfr(fd, 1L << 40, 4096, SYNC_FILE_RANGE_WRITE), 0);
    close(fd);
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    EXPECT_EQ(sfr(dfd, 0, 0, SYNC_FILE_RANGE_WRITE), 0);
    close(dfd);
}

TEST(sync_file_range_on_pipe_is_espipe) {
    int p[2];
    OK(pipe(p));
    errno = 0;
    long r1 = sfr(p[0], 0, 0, SYNC_FILE_RANGE_WRITE);
    int e1 = errno;
    errno = 0;
    long r2 = sfr(p[1], 0, 0, 0);
    int e2 = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r1 == -1 && e1 == ESPIPE, "read end: %ld %s, expected ESPIPE", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == ESPIPE, "write end: %ld %s, expected ESPIPE", r2, kt_errstr(e2));
}

TEST(sync_file_range_on_socket_is_espipe) {
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    errno = 0;
    long r = sfr(sv[0], 0, 0, SYNC_FILE_RANGE_WRITE);
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    CHECK(r == -1 && e == ESPIPE, "got %ld %s, expected ESPIPE", r, kt_errstr(e));
}

TEST(sync_file_range_bad_flags_is_einval) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_ERRNO(sfr(fd, 0, 0, 8), EINVAL);
    EXPECT_ERRNO(sfr(fd, 0, 0, 0x80000000u), EINVAL);
    close(fd);
}

TEST(sync_file_range_negative_or_overflowing_range_is_einval) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_ERRNO(sfr(fd, -1L, 0, 0), EINVAL);
    EXPECT_ERRNO(sfr(fd, 0, -1L, 0), EINVAL);
    EXPECT_ERRNO(sfr(fd, LONG_MAX, 2, 0), EINVAL);
    close(fd);
}

TEST(sync_file_range_bad_fd_is_ebadf_before_einval) {
    EXPECT_ERRNO(sfr(9999, 0, 0, 0), EBADF);
    /* Linux looks the fd up before it checks the flags and the range. */
    EXPECT_ERRNO(sfr(9999, 0, 0, 8), EBADF);
    EXPECT_ERRNO(sfr(-1, -1L, 0, 0), EBADF);
}

/* ---- readahead ---------------------------------------------------------------- */

static long readahead_(int fd, long off, long count)
{
    return syscall(SYS_readahead, fd, off, count);
}

TEST(readahead_regular_file_succeeds) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_EQ(readahead_(fd, 0, 4096), 0);
    EXPECT_EQ(readahead_(fd, 1L << 30, 4096), 0);
    EXPECT_EQ(pos(fd), 0);
    close(fd);
}

TEST(readahead_bad_fd_is_ebadf) {
    EXPECT_ERRNO(readahead_(-1, 0, 10), EBADF);
    EXPECT_ERRNO(readahead_(9999, 0, 10), EBADF);
}

TEST(readahead_write_only_fd_is_ebadf) {
    int fd = OK(data_fd(O_WRONLY));
    EXPECT_ERRNO(readahead_(fd, 0, 10), EBADF);
    close(fd);
}

TEST(readahead_on_pipe_is_einval) {
    int p[2];
    OK(pipe(p));
    errno = 0;
    long r = readahead_(p[0], 0, 10);
    int e = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(readahead_on_directory_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = readahead_(fd, 0, 10);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

/* ---- preadv / pwritev ----------------------------------------------------------- */

static long preadv_(int fd, const struct iovec *iov, long cnt, long off)
{
    return syscall(SYS_preadv, fd, iov, cnt, off, 0L);
}

static long pwritev_(int fd, const struct iovec *iov, long cnt, long off)
{
    return syscall(SYS_pwritev, fd, iov, cnt, off, 0L);
}

static long preadv2_(int fd, const struct iovec *iov, long cnt, long off, long flags)
{
    return syscall(SYS_preadv2, fd, iov, cnt, off, 0L, flags);
}

static long pwritev2_(int fd, const struct iovec *iov, long cnt, long off, long flags)
{
    return syscall(SYS_pwritev2, fd, iov, cnt, off, 0L, flags);
}

TEST(preadv_gathers_at_offset_without_moving_position) {
    int fd = OK(data_fd(O_RDONLY));
    OK(lseek(fd, 1, SEEK_SET));
    char a[4] = {0}, b[5] = {0};
    struct iovec iov[3] = {{a, 3}, {NULL, 0}, {b, 4}};
    EXPECT_EQ(preadv_(fd, iov, 3, 2), 7);
    EXPECT_EQ(pos(fd), 1);
    CHECK(!strcmp(a, "234") && !strcmp(b, "5678"), "got \"%s\" \"%s\", expected \"234\" \"5678\"", a, b);
    /* A short read at the end of the file. */
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    EXPECT_EQ(preadv_(fd, iov, 3, 8), 2);
    CHECK(!strcmp(a, "89") && b[0] == 0, "at 8: got \"%s\" \"%s\", expected \"89\" \"\"", a, b);
    EXPECT_EQ(preadv_(fd, iov, 3, 10), 0);
    EXPECT_EQ(preadv_(fd, iov, 3, 1L << 40), 0);
    EXPECT_EQ(pos(fd), 1);
    close(fd);
}

TEST(pwritev_scatters_at_offset_without_moving_position) {
    int fd = OK(data_fd(O_RDWR));
    OK(lseek(fd, 3, SEEK_SET));
    struct iovec iov[2] = {{"AB", 2}, {"CDE", 3}};
    EXPECT_EQ(pwritev_(fd, iov, 2, 4), 5);
    EXPECT_EQ(pos(fd), 3);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, "0123ABCDE9"), "file \"%s\", expected \"0123ABCDE9\"", buf);
    close(fd);
}

TEST(pwritev_past_eof_leaves_a_zero_gap) {
    int fd = OK(data_fd(O_RDWR));
    struct iovec iov[1] = {{"xy", 2}};
    EXPECT_EQ(pwritev_(fd, iov, 1, 12), 2);
    EXPECT_EQ(fsize(fd), 14);
    char buf[16];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 14);
    CHECK(buf[10] == 0 && buf[11] == 0 && buf[12] == 'x', "gap not zero");
    close(fd);
}

TEST(preadv2_pwritev2_with_offset_act_like_preadv_pwritev) {
    int fd = OK(data_fd(O_RDWR));
    char a[4] = {0};
    struct iovec r[1] = {{a, 3}};
    struct iovec w[1] = {{"Z", 1}};
    EXPECT_EQ(preadv2_(fd, r, 1, 5, 0), 3);
    EXPECT_EQ(pwritev2_(fd, w, 1, 0, 0), 1);
    EXPECT_EQ(pos(fd), 0);
    CHECK(!strcmp(a, "567"), "read \"%s\", expected \"567\"", a);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, "Z123456789"), "file \"%s\"", buf);
    close(fd);
}

TEST(preadv2_offset_minus_one_uses_and_moves_position) {
    int fd = OK(data_fd(O_RDONLY));
    OK(lseek(fd, 4, SEEK_SET));
    char a[3] = {0}, b[3] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 2}};
    EXPECT_EQ(preadv2_(fd, iov, 2, -1L, 0), 4);
    EXPECT_EQ(pos(fd), 8);
    CHECK(!strcmp(a, "45") && !strcmp(b, "67"), "got \"%s\" \"%s\"", a, b);
    close(fd);
}

TEST(pwritev2_offset_minus_one_uses_and_moves_position) {
    int fd = OK(data_fd(O_RDWR));
    OK(lseek(fd, 2, SEEK_SET));
    struct iovec iov[2] = {{"ab", 2}, {"c", 1}};
    EXPECT_EQ(pwritev2_(fd, iov, 2, -1L, 0), 3);
    EXPECT_EQ(pos(fd), 5);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, "01abc56789"), "file \"%s\"", buf);
    close(fd);
}

TEST(preadv2_offset_minus_one_on_pipe_reads_like_readv) {
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "hello", 5), 5);
    char a[6] = {0};
    struct iovec iov[1] = {{a, 5}};
    long r = preadv2_(p[0], iov, 1, -1L, 0);
    struct iovec w[1] = {{"!", 1}};
    long rw = pwritev2_(p[1], w, 1, -1L, 0);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(r, 5);
    EXPECT_EQ(rw, 1);
    CHECK(!strcmp(a, "hello"), "read \"%s\"", a);
}

/* preadv and pwritev have no "current position" form: -1 is just negative. */
TEST(preadv_negative_offset_is_einval) {
    int fd = OK(data_fd(O_RDWR));
    char a[4];
    struct iovec iov[1] = {{a, 3}};
    EXPECT_ERRNO(preadv_(fd, iov, 1, -1L), EINVAL);
    EXPECT_ERRNO(preadv_(fd, iov, 1, -2L), EINVAL);
    EXPECT_ERRNO(pwritev_(fd, iov, 1, -1L), EINVAL);
    EXPECT_ERRNO(pwritev_(fd, iov, 1, LONG_MIN), EINVAL);
    EXPECT_ERRNO(preadv2_(fd, iov, 1, -2L, 0), EINVAL);
    EXPECT_ERRNO(pwritev2_(fd, iov, 1, -2L, 0), EINVAL);
    EXPECT_EQ(pos(fd), 0);
    close(fd);
}

TEST(preadv_on_pipe_is_espipe) {
    int p[2];
    OK(pipe(p));
    EXPECT_EQ(write(p[1], "abc", 3), 3);
    char a[4];
    struct iovec iov[1] = {{a, 3}};
    long r[4];
    int e[4];
    errno = 0; r[0] = preadv_(p[0], iov, 1, 0); e[0] = errno;
    errno = 0; r[1] = pwritev_(p[1], iov, 1, 0); e[1] = errno;
    errno = 0; r[2] = preadv2_(p[0], iov, 1, 0, 0); e[2] = errno;
    errno = 0; r[3] = pwritev2_(p[1], iov, 1, 0, 0); e[3] = errno;
    close(p[0]);
    close(p[1]);
    for (int i = 0; i < 4; i++)
        CHECK(r[i] == -1 && e[i] == ESPIPE, "call %d (preadv, pwritev, preadv2, pwritev2) = %ld %s, expected ESPIPE",
              i, r[i], kt_errstr(e[i]));
}

TEST(preadv_wrong_mode_is_ebadf) {
    int w = OK(data_fd(O_WRONLY));
    char a[4];
    struct iovec iov[1] = {{a, 3}};
    EXPECT_ERRNO(preadv_(w, iov, 1, 0), EBADF);
    EXPECT_ERRNO(preadv2_(w, iov, 1, 0, 0), EBADF);
    EXPECT_ERRNO(preadv2_(w, iov, 1, -1L, 0), EBADF);
    close(w);
    int r = OK(data_fd(O_RDONLY));
    EXPECT_ERRNO(pwritev_(r, iov, 1, 0), EBADF);
    EXPECT_ERRNO(pwritev2_(r, iov, 1, 0, 0), EBADF);
    EXPECT_ERRNO(pwritev2_(r, iov, 1, -1L, 0), EBADF);
    close(r);
}

TEST(preadv_bad_fd_is_ebadf) {
    char a[4];
    struct iovec iov[1] = {{a, 3}};
    EXPECT_ERRNO(preadv_(9999, iov, 1, 0), EBADF);
    EXPECT_ERRNO(pwritev_(-1, iov, 1, 0), EBADF);
    EXPECT_ERRNO(preadv2_(9999, iov, 1, 0, 0), EBADF);
    EXPECT_ERRNO(pwritev2_(9999, iov, 1, -1L, 0), EBADF);
}

TEST(preadv2_unknown_flag_is_eopnotsupp) {
    int fd = OK(data_fd(O_RDWR));
    char a[4];
    struct iovec iov[1] = {{a, 3}};
    EXPECT_ERRNO(preadv2_(fd, iov, 1, 0, 1L << 30), EOPNOTSUPP);
    EXPECT_ERRNO(preadv2_(fd, iov, 1, -1L, 1L << 30), EOPNOTSUPP);
    EXPECT_ERRNO(pwritev2_(fd, iov, 1, 0, 1L << 30), EOPNOTSUPP);
    EXPECT_ERRNO(pwritev2_(fd, iov, 1, -1L, 1L << 30), EOPNOTSUPP);
    EXPECT_EQ(pos(fd), 0);
    EXPECT_EQ(fsize(fd), 10);
    close(fd);
}

TEST(preadv_iovcnt_over_iov_max_is_einval) {
    int fd = OK(data_fd(O_RDWR));
    static struct iovec iov[1025];
    static char byte[1025];
    for (int i = 0; i < 1025; i++) {
        iov[i].iov_base = &byte[i];
        iov[i].iov_len = 1;
    }
    EXPECT_ERRNO(preadv_(fd, iov, 1025, 0), EINVAL);
    EXPECT_ERRNO(pwritev_(fd, iov, 1025, 0), EINVAL);
    EXPECT_ERRNO(preadv2_(fd, iov, 1025, -1L, 0), EINVAL);
    EXPECT_ERRNO(pwritev2_(fd, iov, 1025, 0, 0), EINVAL);
    EXPECT_ERRNO(preadv_(fd, iov, -1L, 0), EINVAL);
    /* IOV_MAX itself is fine. */
    EXPECT_EQ(preadv_(fd, iov, 1024, 0), 10);
    close(fd);
}

TEST(preadv_zero_iovcnt_returns_zero) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(preadv_(fd, NULL, 0, 0), 0);
    EXPECT_EQ(pwritev_(fd, NULL, 0, 0), 0);
    EXPECT_EQ(preadv2_(fd, NULL, 0, -1L, 0), 0);
    close(fd);
}

TEST(preadv_bad_iovec_pointer_is_efault) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(preadv_(fd, BADPTR, 1, 0), EFAULT);
    EXPECT_ERRNO(pwritev_(fd, BADPTR, 1, 0), EFAULT);
    EXPECT_ERRNO(preadv2_(fd, BADPTR, 1, -1L, 0), EFAULT);
    EXPECT_ERRNO(pwritev2_(fd, BADPTR, 2, 0, 0), EFAULT);
    EXPECT_EQ(fsize(fd), 10);
    close(fd);
}

TEST(preadv_into_bad_buffer_is_efault) {
    int fd = OK(data_fd(O_RDWR));
    struct iovec iov[1] = {{BADPTR, 4}};
    EXPECT_ERRNO(preadv_(fd, iov, 1, 0), EFAULT);
    EXPECT_ERRNO(pwritev_(fd, iov, 1, 0), EFAULT);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, DATA), "file changed to \"%s\"", buf);
    close(fd);
}

/* pwrite(2), BUGS: on Linux an O_APPEND fd appends whatever the offset. */
TEST(pwritev_on_append_fd_appends) {
    int fd = OK(data_fd(O_RDWR | O_APPEND));
    struct iovec iov[1] = {{"AB", 2}};
    EXPECT_EQ(pwritev_(fd, iov, 1, 0), 2);
    EXPECT_EQ(pos(fd), 0);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, DATA "AB"), "file \"%s\", expected \"" DATA "AB\"", buf);
    close(fd);
}

TEST(pwritev2_rwf_noappend_writes_at_offset_on_append_fd) {
    int fd = OK(data_fd(O_RDWR | O_APPEND));
    struct iovec iov[1] = {{"AB", 2}};
    EXPECT_EQ(pwritev2_(fd, iov, 1, 0, RWF_NOAPPEND), 2);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, "AB23456789"), "file \"%s\", expected \"AB23456789\"", buf);
    close(fd);
}

TEST(pwritev2_rwf_append_writes_at_end) {
    int fd = OK(data_fd(O_RDWR));
    struct iovec iov[1] = {{"AB", 2}};
    EXPECT_EQ(pwritev2_(fd, iov, 1, 0, RWF_APPEND), 2);
    EXPECT_EQ(pos(fd), 0);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, DATA "AB"), "file \"%s\", expected \"" DATA "AB\"", buf);
    close(fd);
}

/* ---- fallocate -------------------------------------------------------------------- */

static long falloc(int fd, int mode, long off, long len)
{
    return syscall(SYS_fallocate, fd, (long)mode, off, len);
}

TEST(fallocate_extends_size_with_zeros) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(falloc(fd, 0, 8, 8192), 0);
    EXPECT_EQ(fsize(fd), 8200);
    EXPECT_EQ(pos(fd), 0);
    char buf[16];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 16);
    CHECK(!memcmp(buf, DATA, 10) && buf[10] == 0 && buf[15] == 0, "data changed or gap not zero");
    struct stat st;
    OK(fstat(fd, &st));
    CHECK(st.st_blocks * 512 >= 8192, "st_blocks %ld for 8200 allocated bytes", (long)st.st_blocks);
    close(fd);
}

TEST(fallocate_inside_the_file_changes_nothing_visible) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(falloc(fd, 0, 2, 4), 0);
    EXPECT_EQ(fsize(fd), 10);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, DATA), "file \"%s\"", buf);
    close(fd);
}

TEST(fallocate_keep_size_does_not_extend) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(falloc(fd, FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
    EXPECT_EQ(fsize(fd), 10);
    char buf[32];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 10);
    close(fd);
}

/* tmpfs really allocates the pages past the end of the file. */
TEST(fallocate_keep_size_still_allocates_blocks) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(falloc(fd, FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
    struct stat st;
    OK(fstat(fd, &st));
    CHECK(st.st_blocks >= 128, "st_blocks %ld, expected >= 128 for 64 KiB", (long)st.st_blocks);
    close(fd);
}

TEST(fallocate_punch_hole_keep_size_zeroes_the_range) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_EQ(falloc(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3, 4), 0);
    EXPECT_EQ(fsize(fd), 10);
    char buf[16];
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 10);
    static const char want[10] = {'0', '1', '2', 0, 0, 0, 0, '7', '8', '9'};
    CHECK(!memcmp(buf, want, 10), "file is \"%.10s\" (NULs shown as end)", buf);
    /* Punching past the end keeps the size too. */
    EXPECT_EQ(falloc(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8, 100), 0);
    EXPECT_EQ(fsize(fd), 10);
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 10);
    CHECK(buf[7] == '7' && buf[8] == 0 && buf[9] == 0, "tail not punched");
    close(fd);
}

TEST(fallocate_punch_hole_without_keep_size_is_eopnotsupp) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_PUNCH_HOLE, 0, 4), EOPNOTSUPP);
    EXPECT_EQ(fsize(fd), 10);
    close(fd);
}

/* tmpfs implements only plain allocation and punching holes. */
TEST(fallocate_other_modes_on_tmpfs_are_eopnotsupp) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_ZERO_RANGE, 0, 4), EOPNOTSUPP);
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4), EOPNOTSUPP);
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP);
    char buf[32];
    pread_str(fd, buf, sizeof buf, 0);
    CHECK(!strcmp(buf, DATA), "file \"%s\"", buf);
    close(fd);
}

TEST(fallocate_unknown_mode_is_eopnotsupp) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(falloc(fd, 0x1000, 0, 4), EOPNOTSUPP);
    EXPECT_ERRNO(falloc(fd, 0x1000 | FALLOC_FL_KEEP_SIZE, 0, 4), EOPNOTSUPP);
    close(fd);
}

TEST(fallocate_bad_length_or_offset_is_einval) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(falloc(fd, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(falloc(fd, 0, 0, -1L), EINVAL);
    EXPECT_ERRNO(falloc(fd, 0, -1L, 10), EINVAL);
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_KEEP_SIZE, 5, 0), EINVAL);
    /* The range is checked before the mode. */
    EXPECT_ERRNO(falloc(fd, 0x1000, 0, 0), EINVAL);
    close(fd);
}

TEST(fallocate_overflowing_range_is_efbig) {
    int fd = OK(data_fd(O_RDWR));
    EXPECT_ERRNO(falloc(fd, 0, LONG_MAX, 2), EFBIG);
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_KEEP_SIZE, 2, LONG_MAX), EFBIG);
    EXPECT_EQ(fsize(fd), 10);
    close(fd);
}

TEST(fallocate_read_only_fd_is_ebadf) {
    int fd = OK(data_fd(O_RDONLY));
    EXPECT_ERRNO(falloc(fd, 0, 0, 100), EBADF);
    EXPECT_ERRNO(falloc(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4), EBADF);
    EXPECT_EQ(fsize(fd), 10);
    close(fd);
    EXPECT_ERRNO(falloc(9999, 0, 0, 100), EBADF);
}

TEST(fallocate_on_pipe_is_espipe) {
    int p[2];
    OK(pipe(p));
    errno = 0;
    long r = falloc(p[1], 0, 0, 100);
    int e = errno;
    /* The read end is not open for writing. */
    errno = 0;
    long r2 = falloc(p[0], 0, 0, 100);
    int e2 = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == ESPIPE, "write end: %ld %s, expected ESPIPE", r, kt_errstr(e));
    CHECK(r2 == -1 && e2 == EBADF, "read end: %ld %s, expected EBADF", r2, kt_errstr(e2));
}

/* A directory cannot be opened for writing, so Linux stops at the mode check. */
TEST(fallocate_on_directory_is_ebadf) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = falloc(fd, 0, 0, 100);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EBADF, "got %ld %s, expected EBADF", r, kt_errstr(e));
}

TEST(fallocate_on_socket_is_enodev) {
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    errno = 0;
    long r = falloc(sv[0], 0, 0, 100);
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    CHECK(r == -1 && e == ENODEV, "got %ld %s, expected ENODEV", r, kt_errstr(e));
}

/* ---- memfd_create ------------------------------------------------------------------ */

static int memfd(const char *name, unsigned flags)
{
    return syscall(SYS_memfd_create, name, (long)flags);
}

static long seals(int fd)
{
    return fcntl(fd, F_GET_SEALS);
}

TEST(memfd_proc_link_shows_memfd_name_deleted) {
    int fd = OK(memfd("kt-name", 0));
    char link[64], buf[128];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    memset(buf, 0, sizeof buf);
    long n = readlink(link, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "readlink: %s", kt_errstr(errno));
    CHECK(!strcmp(buf, "/memfd:kt-name (deleted)"), "link is \"%s\"", buf);
}

TEST(memfd_is_an_empty_read_write_regular_file) {
    int fd = OK(memfd("x", 0));
    struct stat st;
    OK(fstat(fd, &st));
    CHECK(S_ISREG(st.st_mode), "mode 0%o", st.st_mode);
    EXPECT_EQ(st.st_size, 0);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    EXPECT_EQ(write(fd, "abc", 3), 3);
    char buf[8] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 3);
    CHECK(!strcmp(buf, "abc"), "read \"%s\"", buf);
    OK(ftruncate(fd, 4096));
    EXPECT_EQ(fsize(fd), 4096);
    close(fd);
}

TEST(memfd_default_seal_is_f_seal_seal) {
    int fd = OK(memfd("x", 0));
    EXPECT_EQ(seals(fd), F_SEAL_SEAL);
    EXPECT_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    EXPECT_ERRNO(fcntl(fd, F_ADD_SEALS, 0), EPERM);
    close(fd);
}

TEST(memfd_allow_sealing_starts_unsealed) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    EXPECT_EQ(seals(fd), 0);
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, 0), 0);
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
    EXPECT_EQ(seals(fd), F_SEAL_SHRINK | F_SEAL_GROW);
    close(fd);
}

TEST(memfd_seal_write_makes_writes_eperm) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    EXPECT_EQ(write(fd, DATA, 10), 10);
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
    EXPECT_ERRNO(write(fd, "a", 1), EPERM);
    EXPECT_ERRNO(pwrite(fd, "a", 1, 0), EPERM);
    struct iovec iov[1] = {{"a", 1}};
    EXPECT_ERRNO(pwritev_(fd, iov, 1, 0), EPERM);
    /* Reading still works and the data is intact. */
    char buf[16];
    EXPECT_EQ(pread_str(fd, buf, sizeof buf, 0), 10);
    CHECK(!strcmp(buf, DATA), "data \"%s\"", buf);
    close(fd);
}

TEST(memfd_seal_write_refuses_shared_writable_mappings) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    OK(ftruncate(fd, 4096));
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
    EXPECT_ERRNO(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EPERM);
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(ro != MAP_FAILED, "read-only shared mmap: %s", kt_errstr(errno));
    munmap(ro, 4096);
    /* A private mapping may be written: it does not reach the file. */
    void *pv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(pv != MAP_FAILED, "private mmap: %s", kt_errstr(errno));
    munmap(pv, 4096);
    close(fd);
}

TEST(memfd_seal_write_with_writable_mapping_is_ebusy) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    OK(ftruncate(fd, 4096));
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    errno = 0;
    long r = fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE);
    int e = errno;
    munmap(m, 4096);
    long s = seals(fd);
    long r2 = fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE);
    close(fd);
    CHECK(r == -1 && e == EBUSY, "with the mapping: %ld %s, expected EBUSY", r, kt_errstr(e));
    EXPECT_EQ(s, 0);
    EXPECT_EQ(r2, 0);
}

TEST(memfd_seal_shrink_refuses_shrinking) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    OK(ftruncate(fd, 100));
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    EXPECT_ERRNO(ftruncate(fd, 50), EPERM);
    EXPECT_ERRNO(ftruncate(fd, 0), EPERM);
    EXPECT_EQ(ftruncate(fd, 100), 0);
    EXPECT_EQ(ftruncate(fd, 200), 0);
    EXPECT_EQ(fsize(fd), 200);
    close(fd);
}

TEST(memfd_seal_grow_refuses_growing) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    OK(ftruncate(fd, 10));
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
    EXPECT_ERRNO(ftruncate(fd, 11), EPERM);
    EXPECT_ERRNO(pwrite(fd, "abc", 3, 9), EPERM);
    EXPECT_ERRNO(falloc(fd, 0, 0, 100), EPERM);
    EXPECT_EQ(pwrite(fd, "abc", 3, 7), 3);
    EXPECT_EQ(ftruncate(fd, 5), 0);
    EXPECT_EQ(fsize(fd), 5);
    close(fd);
}

TEST(memfd_seal_seal_stops_further_sealing) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL), 0);
    EXPECT_EQ(seals(fd), F_SEAL_SHRINK | F_SEAL_SEAL);
    EXPECT_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), EPERM);
    EXPECT_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), EPERM);
    EXPECT_EQ(seals(fd), F_SEAL_SHRINK | F_SEAL_SEAL);
    close(fd);
}

TEST(memfd_unknown_seal_is_einval) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    EXPECT_ERRNO(fcntl(fd, F_ADD_SEALS, 0x4000), EINVAL);
    EXPECT_EQ(seals(fd), 0);
    close(fd);
}

/* Sealing needs the file open for writing. */
TEST(memfd_add_seals_through_read_only_fd_is_eperm) {
    int fd = OK(memfd("x", MFD_ALLOW_SEALING));
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int ro = open(link, O_RDONLY);
    CHECK(ro >= 0, "reopen %s: %s", link, kt_errstr(errno));
    errno = 0;
    long r = fcntl(ro, F_ADD_SEALS, F_SEAL_SHRINK);
    int e = errno;
    long s = seals(ro);
    close(ro);
    close(fd);
    CHECK(r == -1 && e == EPERM, "got %ld %s, expected EPERM", r, kt_errstr(e));
    EXPECT_EQ(s, 0);
}

TEST(get_seals_on_pipe_is_einval) {
    int p[2];
    OK(pipe(p));
    errno = 0;
    long r = seals(p[0]);
    int e = errno;
    close(p[0]);
    close(p[1]);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(memfd_bad_flags_is_einval) {
    EXPECT_ERRNO(memfd("x", 0x100), EINVAL);
    EXPECT_ERRNO(memfd("x", 0x80000000u), EINVAL);
    EXPECT_ERRNO(memfd("x", MFD_EXEC | MFD_NOEXEC_SEAL), EINVAL);
}

TEST(memfd_name_limit_is_249_bytes) {
    char name[251];
    memset(name, 'n', 249);
    name[249] = 0;
    int fd = OK(memfd(name, 0));
    close(fd);
    memset(name, 'n', 250);
    name[250] = 0;
    EXPECT_ERRNO(memfd(name, 0), EINVAL);
}

TEST(memfd_bad_name_pointer_is_efault) {
    EXPECT_ERRNO(memfd(BADPTR, 0), EFAULT);
    EXPECT_ERRNO(memfd(NULL, MFD_CLOEXEC), EFAULT);
}

TEST(memfd_cloexec_sets_fd_cloexec) {
    int a = OK(memfd("x", MFD_CLOEXEC));
    int b = OK(memfd("x", 0));
    long fa = fcntl(a, F_GETFD), fb = fcntl(b, F_GETFD);
    close(a);
    close(b);
    EXPECT_EQ(fa, FD_CLOEXEC);
    EXPECT_EQ(fb, 0);
}

/* ---- close_range -------------------------------------------------------------------- */

static long close_range_(unsigned first, unsigned last, unsigned flags)
{
    return syscall(SYS_close_range, (long)first, (long)last, (long)flags);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* dup2s fd 0's description onto [lo, hi]. */
static int fill(int lo, int hi)
{
    for (int fd = lo; fd <= hi; fd++)
        if (dup2(0, fd) != fd)
            return -1;
    return 0;
}

static void unfill(int lo, int hi)
{
    for (int fd = lo; fd <= hi; fd++)
        close(fd);
}

TEST(close_range_closes_the_range) {
    CHECK(fill(100, 105) == 0, "dup2: %s", kt_errstr(errno));
    long r = close_range_(101, 103, 0);
    int open_[6];
    for (int i = 0; i < 6; i++)
        open_[i] = fd_is_open(100 + i);
    unfill(100, 105);
    EXPECT_EQ(r, 0);
    CHECK(open_[0] && !open_[1] && !open_[2] && !open_[3] && open_[4] && open_[5],
          "open after close_range(101, 103): %d%d%d%d%d%d, expected 100001", open_[0], open_[1],
          open_[2], open_[3], open_[4], open_[5]);
}

TEST(close_range_cloexec_marks_instead_of_closing) {
    CHECK(fill(100, 103) == 0, "dup2: %s", kt_errstr(errno));
    long r = close_range_(101, 102, CLOSE_RANGE_CLOEXEC);
    long f[4];
    for (int i = 0; i < 4; i++)
        f[i] = fcntl(100 + i, F_GETFD);
    unfill(100, 103);
    EXPECT_EQ(r, 0);
    CHECK(f[0] == 0 && f[1] == FD_CLOEXEC && f[2] == FD_CLOEXEC && f[3] == 0,
          "F_GETFD: %ld %ld %ld %ld, expected 0 1 1 0", f[0], f[1], f[2], f[3]);
}

TEST(close_range_to_uint_max_closes_everything_above) {
    CHECK(fill(200, 202) == 0 && fill(400, 400) == 0, "dup2: %s", kt_errstr(errno));
    long r = close_range_(201, ~0U, 0);
    int o200 = fd_is_open(200), o201 = fd_is_open(201), o400 = fd_is_open(400);
    unfill(200, 202);
    unfill(400, 400);
    EXPECT_EQ(r, 0);
    CHECK(o200 && !o201 && !o400, "open: 200 %d, 201 %d, 400 %d", o200, o201, o400);
}

TEST(close_range_past_the_table_is_fine) {
    EXPECT_EQ(close_range_(1000000, 2000000, 0), 0);
    EXPECT_EQ(close_range_(~0U, ~0U, 0), 0);
    EXPECT_EQ(close_range_(1000000, ~0U, CLOSE_RANGE_CLOEXEC), 0);
    CHECK(fd_is_open(0) || fd_is_open(1), "std fds closed");
}

TEST(close_range_unshare_closes_too) {
    CHECK(fill(100, 101) == 0, "dup2: %s", kt_errstr(errno));
    long r = close_range_(100, 100, CLOSE_RANGE_UNSHARE);
    int o100 = fd_is_open(100), o101 = fd_is_open(101);
    unfill(100, 101);
    EXPECT_EQ(r, 0);
    CHECK(!o100 && o101, "open: 100 %d, 101 %d", o100, o101);
}

TEST(close_range_first_above_last_is_einval) {
    CHECK(fill(100, 101) == 0, "dup2: %s", kt_errstr(errno));
    errno = 0;
    long r = close_range_(101, 100, 0);
    int e = errno;
    int o = fd_is_open(100) && fd_is_open(101);
    unfill(100, 101);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
    CHECK(o, "fds closed anyway");
}

TEST(close_range_unknown_flags_is_einval) {
    CHECK(fill(100, 100) == 0, "dup2: %s", kt_errstr(errno));
    errno = 0;
    long r = close_range_(100, 100, 1);
    int e1 = errno;
    errno = 0;
    long r2 = close_range_(100, 100, 8 | CLOSE_RANGE_CLOEXEC);
    int e2 = errno;
    int o = fd_is_open(100);
    unfill(100, 100);
    CHECK(r == -1 && e1 == EINVAL, "flags 1: %ld %s, expected EINVAL", r, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "flags 12: %ld %s, expected EINVAL", r2, kt_errstr(e2));
    CHECK(o, "fd closed anyway");
}

/* ---- openat2 -------------------------------------------------------------------------- */

struct open_how_ {
    uint64_t flags, mode, resolve;
};

static long openat2_(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how_ h = {flags, mode, resolve};
    return syscall(SYS_openat2, dfd, path, &h, sizeof h);
}

static long openat2_sized(int dfd, const char *path, const void *how, size_t size)
{
    return syscall(SYS_openat2, dfd, path, how, size);
}

/* A tmp dir with file "f" (DATA), dir "sub" (with "g"), and symlinks
 * "abs" -> "/f", "up" -> "../../../f", "rel" -> "sub/g", "esc" -> "..". */
static const char *tree(void)
{
    const char *d = kt_tmpdir();
    if (!d || !mkfile(d, "f", DATA) || mkdir(kt_path(d, "sub"), 0755) ||
        !mkfile(kt_path(d, "sub"), "g", "g") || symlink("/f", kt_path(d, "abs")) ||
        symlink("../../../f", kt_path(d, "up")) || symlink("sub/g", kt_path(d, "rel")) ||
        symlink("..", kt_path(d, "esc")))
        return NULL;
    return d;
}

static long ino_of_fd(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_ino : -1;
}

static long ino_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_ino : -2;
}

TEST(openat2_opens_like_openat) {
    const char *d = tree();
    CHECK(d, "setup failed: %s", kt_errstr(errno));
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    int fd = OK(openat2_(dfd, "f", O_RDONLY | O_CLOEXEC, 0, 0));
    char buf[16];
    long n = pread_str(fd, buf, sizeof buf, 0);
    long fdfl = fcntl(fd, F_GETFD);
    close(fd);
    close(dfd);
    EXPECT_EQ(n, 10);
    EXPECT_EQ(fdfl, FD_CLOEXEC);
}

TEST(openat2_creates_with_mode) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    umask(022);
    int fd = OK(openat2_(AT_FDCWD, kt_path(d, "new"), O_CREAT | O_EXCL | O_WRONLY, 0666, 0));
    close(fd);
    struct stat st;
    OK(stat(kt_path(d, "new"), &st));
    EXPECT_EQ(st.st_mode & 07777, 0644);
    EXPECT_ERRNO(openat2_(AT_FDCWD, kt_path(d, "new"), O_CREAT | O_EXCL | O_WRONLY, 0644, 0), EEXIST);
}

TEST(openat2_size_below_24_is_einval) {
    struct open_how_ h = {O_RDONLY, 0, 0};
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", &h, 0), EINVAL);
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", &h, 16), EINVAL);
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", &h, 23), EINVAL);
}

TEST(openat2_size_above_page_is_e2big) {
    static char big[8192];
    memset(big, 0, sizeof big);
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", big, 4097), E2BIG);
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", big, 8192), E2BIG);
}

TEST(openat2_larger_size_with_zero_tail_is_accepted) {
    static char big[4096];
    memset(big, 0, sizeof big);
    int a = OK(openat2_sized(AT_FDCWD, "/", big, 32));
    int b = OK(openat2_sized(AT_FDCWD, "/", big, 4096));
    close(a);
    close(b);
}

TEST(openat2_nonzero_tail_is_e2big) {
    static char big[4096];
    memset(big, 0, sizeof big);
    big[24] = 1;
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", big, 32), E2BIG);
    big[24] = 0;
    big[4095] = 1;
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", big, 4096), E2BIG);
    /* A tail not covered by size is not looked at. */
    int fd = OK(openat2_sized(AT_FDCWD, "/", big, 4095));
    close(fd);
}

TEST(openat2_bad_pointers_are_efault) {
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, "/", BADPTR, 24), EFAULT);
    struct open_how_ h = {O_RDONLY, 0, 0};
    EXPECT_ERRNO(openat2_sized(AT_FDCWD, BADPTR, &h, sizeof h), EFAULT);
}

TEST(openat2_unknown_flags_or_resolve_is_einval) {
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY | (1ULL << 32), 0, 0), EINVAL);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY | (1ULL << 63), 0, 0), EINVAL);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY, 0, 0x40), EINVAL);
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY, 0, 1ULL << 40), EINVAL);
}

TEST(openat2_mode_without_create_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY, 0644, 0), EINVAL);
    EXPECT_ERRNO(openat2_(AT_FDCWD, kt_path(d, "x"), O_CREAT | O_WRONLY, 010000, 0), EINVAL);
    EXPECT_ERRNO(openat2_(AT_FDCWD, kt_path(d, "x"), O_CREAT | O_WRONLY, 1ULL << 32, 0), EINVAL);
    EXPECT_ERRNO(access(kt_path(d, "x"), F_OK), ENOENT);
}

TEST(openat2_beneath_with_in_root_is_einval) {
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT), EINVAL);
}

TEST(openat2_resolve_cached_refuses_create_and_truncate) {
    const char *d = tree();
    CHECK(d, "setup failed");
    EXPECT_ERRNO(openat2_(AT_FDCWD, kt_path(d, "f"), O_CREAT | O_RDWR, 0600, RESOLVE_CACHED), EAGAIN);
    EXPECT_ERRNO(openat2_(AT_FDCWD, kt_path(d, "f"), O_TRUNC | O_RDWR, 0, RESOLVE_CACHED), EAGAIN);
    EXPECT_EQ(ino_of(kt_path(d, "f")) > 0, 1);
}

TEST(openat2_beneath_refuses_dotdot_escape) {
    const char *d = tree();
    CHECK(d, "setup failed");
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    errno = 0;
    long r1 = openat2_(dfd, "../x", O_RDONLY, 0, RESOLVE_BENEATH);
    int e1 = errno;
    errno = 0;
    long r2 = openat2_(dfd, "sub/../..", O_RDONLY, 0, RESOLVE_BENEATH);
    int e2 = errno;
    /* ".." that stays inside is fine. */
    long r3 = openat2_(dfd, "sub/../f", O_RDONLY, 0, RESOLVE_BENEATH);
    long i3 = r3 >= 0 ? ino_of_fd(r3) : -1;
    if (r3 >= 0)
        close(r3);
    close(dfd);
    CHECK(r1 == -1 && e1 == EXDEV, "../x: %ld %s, expected EXDEV", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EXDEV, "sub/../..: %ld %s, expected EXDEV", r2, kt_errstr(e2));
    CHECK(r3 >= 0, "sub/../f: %s", kt_errstr(errno));
    EXPECT_EQ(i3, ino_of(kt_path(d, "f")));
}

TEST(openat2_beneath_refuses_absolute_paths_and_symlinks) {
    const char *d = tree();
    CHECK(d, "setup failed");
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    long r[4];
    int e[4];
    const char *paths[4] = {"/", "abs", "up", "esc"};
    for (int i = 0; i < 4; i++) {
        errno = 0;
        r[i] = openat2_(dfd, paths[i], O_RDONLY, 0, RESOLVE_BENEATH);
        e[i] = errno;
        if (r[i] >= 0)
            close(r[i]);
    }
    /* A relative symlink that stays inside is followed. */
    long rel = openat2_(dfd, "rel", O_RDONLY, 0, RESOLVE_BENEATH);
    int erel = errno;
    if (rel >= 0)
        close(rel);
    close(dfd);
    for (int i = 0; i < 4; i++)
        CHECK(r[i] == -1 && e[i] == EXDEV, "\"%s\": %ld %s, expected EXDEV", paths[i], r[i], kt_errstr(e[i]));
    CHECK(rel >= 0, "rel -> sub/g: %s", kt_errstr(erel));
}

TEST(openat2_no_symlinks_refuses_every_symlink) {
    const char *d = tree();
    CHECK(d, "setup failed");
    OK(symlink("sub", kt_path(d, "subl")));
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    errno = 0;
    long r1 = openat2_(dfd, "rel", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
    int e1 = errno;
    errno = 0;
    long r2 = openat2_(dfd, "subl/g", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
    int e2 = errno;
    long ok = openat2_(dfd, "sub/g", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
    if (ok >= 0)
        close(ok);
    /* Not following the last one is allowed: O_PATH|O_NOFOLLOW opens the link. */
    long lnk = openat2_(dfd, "rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
    int elnk = errno;
    struct stat st;
    int islnk = lnk >= 0 && fstat(lnk, &st) == 0 && S_ISLNK(st.st_mode);
    if (lnk >= 0)
        close(lnk);
    close(dfd);
    CHECK(r1 == -1 && e1 == ELOOP, "last component: %ld %s, expected ELOOP", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == ELOOP, "middle component: %ld %s, expected ELOOP", r2, kt_errstr(e2));
    CHECK(ok >= 0, "sub/g without symlinks failed");
    CHECK(lnk >= 0, "O_PATH|O_NOFOLLOW of a symlink: %s", kt_errstr(elnk));
    CHECK(islnk, "O_PATH|O_NOFOLLOW did not open the link itself");
}

TEST(openat2_in_root_treats_slash_and_dotdot_as_the_dirfd) {
    const char *d = tree();
    CHECK(d, "setup failed");
    long want = ino_of(kt_path(d, "f"));
    long root = ino_of(d);
    int dfd = OK(open(d, O_PATH | O_DIRECTORY));
    const char *paths[5] = {"/f", "../../../f", "abs", "up", "sub/../../f"};
    long got[5];
    int e[5];
    for (int i = 0; i < 5; i++) {
        errno = 0;
        long fd = openat2_(dfd, paths[i], O_RDONLY, 0, RESOLVE_IN_ROOT);
        e[i] = errno;
        got[i] = fd >= 0 ? ino_of_fd(fd) : -1;
        if (fd >= 0)
            close(fd);
    }
    long r = openat2_(dfd, "/..", O_RDONLY | O_DIRECTORY, 0, RESOLVE_IN_ROOT);
    long groot = r >= 0 ? ino_of_fd(r) : -1;
    if (r >= 0)
        close(r);
    close(dfd);
    for (int i = 0; i < 5; i++)
        CHECK(got[i] == want, "\"%s\": inode %ld (%s), expected %ld", paths[i], got[i], kt_errstr(e[i]), want);
    EXPECT_EQ(groot, root);
}

TEST(openat2_no_magiclinks_refuses_proc_fd_links) {
    const char *d = tree();
    CHECK(d, "setup failed");
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    errno = 0;
    long r = openat2_(AT_FDCWD, link, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    int e = errno;
    long plain = openat2_(AT_FDCWD, link, O_RDONLY, 0, 0);
    int ep = errno;
    long pi = plain >= 0 ? ino_of_fd(plain) : -1;
    if (plain >= 0)
        close(plain);
    if (r >= 0)
        close(r);
    /* /proc/self itself is an ordinary symlink. */
    long self = openat2_(AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    int es = errno;
    if (self >= 0)
        close(self);
    long want = ino_of_fd(fd);
    close(fd);
    CHECK(r == -1 && e == ELOOP, "with RESOLVE_NO_MAGICLINKS: %ld %s, expected ELOOP", r, kt_errstr(e));
    CHECK(plain >= 0, "without: %s", kt_errstr(ep));
    EXPECT_EQ(pi, want);
    CHECK(self >= 0, "/proc/self/status with RESOLVE_NO_MAGICLINKS: %s", kt_errstr(es));
}

TEST(openat2_no_xdev_refuses_crossing_a_mount) {
    int root = OK(open("/", O_PATH | O_DIRECTORY));
    errno = 0;
    long r = openat2_(root, "proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV);
    int e = errno;
    if (r >= 0)
        close(r);
    long ok = openat2_(root, "proc", O_PATH, 0, 0);
    if (ok >= 0)
        close(ok);
    close(root);
    CHECK(r == -1 && e == EXDEV, "/proc from /: %ld %s, expected EXDEV", r, kt_errstr(e));
    CHECK(ok >= 0, "without RESOLVE_NO_XDEV failed");
}

/* ---- chroot ------------------------------------------------------------------------ */

/* Child: chroot into arg (holding only "marker"), check what "/" shows.
 * Exit codes: 1 chroot failed, 2 /marker missing, 3 wrong listing,
 * 4 "/.." is not "/", 5 /../../marker missing, 6 old paths still visible. */
static void child_chroot(void *arg)
{
    const char *d = arg;
    struct stat marker, root, dotdot;
    if (stat(kt_path(d, "marker"), &marker) != 0)
        _exit(7);
    if (syscall(SYS_chroot, d) != 0)
        _exit(1);
    if (chdir("/") != 0)
        _exit(1);
    struct stat st;
    if (stat("/marker", &st) != 0 || st.st_ino != marker.st_ino)
        _exit(2);
    DIR *dir = opendir("/");
    if (!dir)
        _exit(3);
    int n = 0, seen = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        n++;
        if (!strcmp(e->d_name, "marker"))
            seen = 1;
    }
    closedir(dir);
    if (n != 3 || !seen)
        _exit(3);
    if (stat("/", &root) != 0 || stat("/..", &dotdot) != 0 || root.st_ino != dotdot.st_ino ||
        root.st_dev != dotdot.st_dev)
        _exit(4);
    if (stat("/../../marker", &st) != 0 || stat("../marker", &st) != 0)
        _exit(5);
    if (stat(d, &st) == 0 || stat("/proc/self", &st) == 0)
        _exit(6);
    _exit(0);
}

TEST(chroot_child_sees_only_the_new_root) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(mkfile(d, "marker", "m"), "create failed");
    int st = kt_in_child(child_chroot, (void *)d);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: %s (1 chroot failed, 2 /marker, 3 listing, 4 /.. is not /, 5 /../../marker, "
          "6 old paths visible)", kt_status(st));
}

/* getcwd after chroot: the path below the new root; a working directory
 * left outside it is "(unreachable)" and the path from the old root, which
 * libc's getcwd reports as ENOENT (realpath(".") too). */
static void child_chroot_getcwd(void *arg)
{
    const char *d = arg;
    char buf[PATH_MAX];
    if (chdir(d) != 0)
        _exit(7);
    if (syscall(SYS_chroot, kt_path(d, "sub")) != 0)
        _exit(1);
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n <= 0 || strncmp(buf, "(unreachable)/", 14) != 0)
        _exit(2);
    errno = 0;
    if (getcwd(buf, sizeof buf) != NULL || errno != ENOENT)
        _exit(3);
    if (chdir("/in") != 0 || !getcwd(buf, sizeof buf) || strcmp(buf, "/in") != 0)
        _exit(4);
    if (chdir("/") != 0 || !getcwd(buf, sizeof buf) || strcmp(buf, "/") != 0)
        _exit(5);
    _exit(0);
}

TEST(getcwd_after_chroot_is_relative_to_the_new_root) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(mkdir(kt_path(d, "sub"), 0755));
    OK(mkdir(kt_path(d, "sub/in"), 0755));
    int st = kt_in_child(child_chroot_getcwd, (void *)d);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void child_chroot_errors(void *arg)
{
    const char *d = arg;
    errno = 0;
    if (syscall(SYS_chroot, kt_path(d, "marker")) != -1 || errno != ENOTDIR)
        _exit(1);
    if (syscall(SYS_chroot, kt_path(d, "missing")) != -1 || errno != ENOENT)
        _exit(2);
    if (syscall(SYS_chroot, kt_path(d, "marker/x")) != -1 || errno != ENOTDIR)
        _exit(3);
    if (syscall(SYS_chroot, BADPTR) != -1 || errno != EFAULT)
        _exit(4);
    if (syscall(SYS_chroot, "") != -1 || errno != ENOENT)
        _exit(5);
    _exit(0);
}

TEST(chroot_errors) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(mkfile(d, "marker", "m"), "create failed");
    int st = kt_in_child(child_chroot_errors, (void *)d);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: %s (1 file not ENOTDIR, 2 missing not ENOENT, 3 file/x not ENOTDIR, "
          "4 bad pointer not EFAULT, 5 \"\" not ENOENT)", kt_status(st));
}

/* ---- getdents (the old one) ------------------------------------------------------ */

static long getdents_(int fd, void *buf, long size)
{
    return syscall(SYS_getdents, fd, buf, size);
}

struct ent {
    unsigned long ino;
    long off;
    unsigned reclen;
    char name[64];
    unsigned char type;
};

/* Parses record at p; returns 0 if sane. */
static int parse(const char *p, long left, struct ent *e)
{
    unsigned short reclen;
    memcpy(&e->ino, p, 8);
    memcpy(&e->off, p + 8, 8);
    memcpy(&reclen, p + 16, 2);
    e->reclen = reclen;
    if (reclen < 20 || reclen > left)
        return -1;
    size_t n = strnlen(p + 18, reclen - 18);
    if (n >= sizeof e->name || 18 + n + 1 >= reclen)
        return -1;
    memcpy(e->name, p + 18, n);
    e->name[n] = 0;
    e->type = (unsigned char)p[reclen - 1];
    return 0;
}

TEST(getdents_record_layout) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(mkfile(d, "a", "") && mkfile(d, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", ""), "create failed");
    OK(mkdir(kt_path(d, "dir"), 0755));
    OK(symlink("a", kt_path(d, "lnk")));
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[4096] __attribute__((aligned(8)));
    long n = getdents_(fd, buf, sizeof buf);
    close(fd);
    CHECK(n > 0, "getdents = %ld %s", n, kt_errstr(errno));
    int count = 0, found = 0;
    for (long at = 0; at < n;) {
        struct ent e;
        CHECK(parse(buf + at, n - at, &e) == 0, "bad record at %ld", at);
        /* d_reclen = offsetof(d_name) (18) + name + NUL + d_type, 8-aligned. */
        EXPECT_EQ(e.reclen, (18 + strlen(e.name) + 2 + 7) & ~7UL);
        CHECK(e.off != 0, "d_off 0 for \"%s\"", e.name);
        unsigned char want;
        if (!strcmp(e.name, ".") || !strcmp(e.name, "..") || !strcmp(e.name, "dir"))
            want = DT_DIR;
        else if (!strcmp(e.name, "lnk"))
            want = DT_LNK;
        else
            want = DT_REG;
        CHECK(e.type == want, "\"%s\": d_type %u, expected %u", e.name, e.type, want);
        if (strcmp(e.name, "..")) {
            struct stat st;
            OK(lstat(strcmp(e.name, ".") ? kt_path(d, e.name) : d, &st));
            CHECK(e.ino == st.st_ino, "\"%s\": d_ino %lu, stat %lu", e.name, e.ino, (unsigned long)st.st_ino);
            found++;
        }
        count++;
        at += e.reclen;
    }
    EXPECT_EQ(count, 6);
    EXPECT_EQ(found, 5);
}

TEST(getdents_resumes_at_d_off_and_ends_with_zero) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(mkfile(d, "a", "") && mkfile(d, "b", "") && mkfile(d, "c", ""), "create failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[4096] __attribute__((aligned(8)));
    long n = getdents_(fd, buf, sizeof buf);
    CHECK(n > 0, "getdents = %ld %s", n, kt_errstr(errno));
    struct ent first, second;
    CHECK(parse(buf, n, &first) == 0 && parse(buf + first.reclen, n - first.reclen, &second) == 0,
          "bad records");
    EXPECT_EQ(getdents_(fd, buf, sizeof buf), 0);
    /* Seeking to the first record's d_off yields the second record next. */
    OK(lseek(fd, first.off, SEEK_SET));
    long m = getdents_(fd, buf, sizeof buf);
    struct ent again;
    CHECK(m > 0 && parse(buf, m, &again) == 0, "after lseek: %ld %s", m, kt_errstr(errno));
    close(fd);
    CHECK(!strcmp(again.name, second.name), "after lseek to d_off: \"%s\", expected \"%s\"",
          again.name, second.name);
    EXPECT_EQ(m, n - first.reclen);
}

TEST(getdents_small_buffer_returns_whole_records_or_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    char buf[64] __attribute__((aligned(8)));
    EXPECT_ERRNO(getdents_(fd, buf, 10), EINVAL);
    EXPECT_ERRNO(getdents_(fd, buf, 0), EINVAL);
    /* "." needs 24 bytes: exactly one record fits in 24..47. */
    EXPECT_EQ(getdents_(fd, buf, 24), 24);
    EXPECT_EQ(getdents_(fd, buf, 24), 24);
    EXPECT_EQ(getdents_(fd, buf, 24), 0);
    close(fd);
}

TEST(getdents_on_file_is_enotdir) {
    int fd = OK(data_fd(O_RDONLY));
    char buf[256];
    EXPECT_ERRNO(getdents_(fd, buf, sizeof buf), ENOTDIR);
    close(fd);
}

TEST(getdents_bad_fd_is_ebadf) {
    char buf[256];
    EXPECT_ERRNO(getdents_(-1, buf, sizeof buf), EBADF);
    EXPECT_ERRNO(getdents_(9999, buf, sizeof buf), EBADF);
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_PATH | O_DIRECTORY));
    errno = 0;
    long r = getdents_(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EBADF, "O_PATH fd: %ld %s, expected EBADF", r, kt_errstr(e));
}

TEST(getdents_bad_buffer_is_efault) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(getdents_(fd, BADPTR, 4096), EFAULT);
    close(fd);
}

/* ---- utime, utimes, futimesat -------------------------------------------------------- */

struct utimbuf_ {
    long actime, modtime;
};

static int times_of(const char *p, struct stat *st)
{
    return stat(p, st);
}

static const char *stamp_file(void)
{
    const char *d = kt_tmpdir();
    return d ? mkfile(d, "f", "x") : NULL;
}

TEST(utime_sets_both_times) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    struct utimbuf_ u = {1000000000, 1200000000};
    EXPECT_EQ(syscall(SYS_utime, p, &u), 0);
    struct stat st;
    OK(times_of(p, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 0);
}

/* NULL times means "now" for all three calls. */
static void check_now(const char *kt_case, const char *p, int which)
{
    struct timeval old[2] = {{1000, 0}, {1000, 0}};
    CHECK(syscall(SYS_utimes, p, old) == 0, "utimes: %s", kt_errstr(errno));
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    long r;
    if (which == 0)
        r = syscall(SYS_utime, p, NULL);
    else if (which == 1)
        r = syscall(SYS_utimes, p, NULL);
    else
        r = syscall(SYS_futimesat, AT_FDCWD, p, NULL);
    clock_gettime(CLOCK_REALTIME, &t1);
    CHECK(r == 0, "call %d with NULL: %s", which, kt_errstr(errno));
    struct stat st;
    CHECK(stat(p, &st) == 0, "stat");
    CHECK(st.st_mtim.tv_sec >= t0.tv_sec - 1 && st.st_mtim.tv_sec <= t1.tv_sec + 1 &&
              st.st_atim.tv_sec >= t0.tv_sec - 1 && st.st_atim.tv_sec <= t1.tv_sec + 1,
          "call %d: atime %ld mtime %ld, now %ld..%ld", which, (long)st.st_atim.tv_sec,
          (long)st.st_mtim.tv_sec, (long)t0.tv_sec, (long)t1.tv_sec);
}

TEST(utime_null_means_now) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    check_now(kt_case, p, 0);
}

TEST(utimes_null_means_now) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    check_now(kt_case, p, 1);
}

TEST(futimesat_null_means_now) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    check_now(kt_case, p, 2);
}

TEST(utimes_sets_times_with_microseconds) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    struct timeval tv[2] = {{1100000000, 123456}, {1300000000, 999999}};
    EXPECT_EQ(syscall(SYS_utimes, p, tv), 0);
    struct stat st;
    OK(times_of(p, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1100000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 123456000);
    EXPECT_EQ(st.st_mtim.tv_sec, 1300000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 999999000);
}

TEST(futimesat_is_relative_to_dirfd) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    const char *d = kt_tmpdirs[0];
    int dfd = OK(open(d, O_RDONLY | O_DIRECTORY));
    struct timeval tv[2] = {{1000000001, 5}, {1000000002, 6}};
    long r = syscall(SYS_futimesat, dfd, "f", tv);
    close(dfd);
    EXPECT_EQ(r, 0);
    struct stat st;
    OK(times_of(p, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000000001);
    EXPECT_EQ(st.st_atim.tv_nsec, 5000);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000002);
    EXPECT_EQ(st.st_mtim.tv_nsec, 6000);
}

TEST(futimesat_null_path_sets_the_fd_itself) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    int fd = OK(open(p, O_RDONLY));
    struct timeval tv[2] = {{1000000003, 0}, {1000000004, 0}};
    long r = syscall(SYS_futimesat, fd, NULL, tv);
    close(fd);
    EXPECT_EQ(r, 0);
    struct stat st;
    OK(times_of(p, &st));
    EXPECT_EQ(st.st_atim.tv_sec, 1000000003);
    EXPECT_EQ(st.st_mtim.tv_sec, 1000000004);
}

TEST(futimesat_null_path_with_at_fdcwd_is_efault) {
    struct timeval tv[2] = {{1, 0}, {1, 0}};
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, NULL, tv), EFAULT);
}

TEST(futimesat_relative_path_with_bad_dirfd) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    EXPECT_ERRNO(syscall(SYS_futimesat, 9999, "f", NULL), EBADF);
    int fd = OK(open(p, O_RDONLY));
    errno = 0;
    long r = syscall(SYS_futimesat, fd, "f", NULL);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENOTDIR, "file as dirfd: %ld %s, expected ENOTDIR", r, kt_errstr(e));
}

TEST(utimes_bad_microseconds_is_einval) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    struct timeval big[2] = {{5, 0}, {5, 1000000}};
    struct timeval neg[2] = {{5, -1}, {5, 0}};
    EXPECT_ERRNO(syscall(SYS_utimes, p, big), EINVAL);
    EXPECT_ERRNO(syscall(SYS_utimes, p, neg), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, p, big), EINVAL);
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, p, neg), EINVAL);
    struct stat st;
    OK(times_of(p, &st));
    CHECK(st.st_mtim.tv_sec != 5 && st.st_atim.tv_sec != 5, "times changed anyway");
}

TEST(utime_missing_file_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *p = kt_path(d, "missing");
    EXPECT_ERRNO(syscall(SYS_utime, p, NULL), ENOENT);
    EXPECT_ERRNO(syscall(SYS_utimes, p, NULL), ENOENT);
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, p, NULL), ENOENT);
    EXPECT_ERRNO(syscall(SYS_utime, "", NULL), ENOENT);
    EXPECT_ERRNO(syscall(SYS_utimes, "", NULL), ENOENT);
}

TEST(utime_bad_pointers_are_efault) {
    const char *p = stamp_file();
    CHECK(p, "setup failed");
    EXPECT_ERRNO(syscall(SYS_utime, p, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_utimes, p, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, p, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_utime, BADPTR, NULL), EFAULT);
    EXPECT_ERRNO(syscall(SYS_utimes, BADPTR, NULL), EFAULT);
    EXPECT_ERRNO(syscall(SYS_futimesat, AT_FDCWD, BADPTR, NULL), EFAULT);
}

/* ---- main ------------------------------------------------------------------------------ */

/* Puts a tmpfs on /tmp, in a mount namespace of this process only, unless
 * /tmp already is one (or Kestrel's ramfs). */
static void tmp_on_tmpfs(void)
{
    struct statfs s;
    if (statfs("/tmp", &s) == 0 && ((unsigned long)s.f_type == TMPFS_MAGIC_ ||
                                    (unsigned long)s.f_type == RAMFS_MAGIC_))
        return;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") != 0)
        fprintf(stderr, "fs_extra: could not mount a tmpfs on /tmp (%s); fallocate cases may differ\n",
                kt_errstr(errno));
}

/* ---- AIO (io_setup, io_submit, io_getevents, io_destroy) ------------- */

struct kt_iocb {
    uint64_t data;
    uint32_t key, rw_flags;
    uint16_t opcode;
    int16_t reqprio;
    uint32_t fildes;
    uint64_t buf, nbytes;
    int64_t offset;
    uint64_t reserved2;
    uint32_t flags, resfd;
};

struct kt_io_event {
    uint64_t data, obj;
    int64_t res, res2;
};

TEST(aio_setup_checks_its_arguments)
{
    uint64_t ctx = 0;
    EXPECT_ERRNO(syscall(SYS_io_setup, 1, NULL), EFAULT);
    ctx = 0x0101010101010101ULL;
    EXPECT_ERRNO(syscall(SYS_io_setup, 1, &ctx), EINVAL);
    ctx = 0;
    EXPECT_ERRNO(syscall(SYS_io_setup, 0, &ctx), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_setup, -1, &ctx), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_destroy, (uint64_t)-1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_getevents, 0, 0, 0, NULL, NULL), EINVAL);
    OK(syscall(SYS_io_setup, 4, &ctx));
    CHECK(ctx != 0, "no context id");
    OK(syscall(SYS_io_destroy, ctx));
    EXPECT_ERRNO(syscall(SYS_io_destroy, ctx), EINVAL);
}

TEST(aio_write_then_read_complete_through_getevents)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 8, &ctx));
    char out[] = "hello aio", in[16] = {0};
    struct kt_iocb w = {0}, r = {0};
    w.data = 11, w.opcode = 1 /* PWRITE */, w.fildes = fd, w.buf = (uintptr_t)out,
    w.nbytes = 9, w.offset = 100;
    struct kt_iocb *list[1] = {&w};
    EXPECT_EQ(syscall(SYS_io_submit, ctx, 1, list), 1);
    struct kt_io_event ev[2];
    struct timespec ts = {1, 0};
    EXPECT_EQ(syscall(SYS_io_getevents, ctx, 1, 2, ev, &ts), 1);
    EXPECT_EQ(ev[0].data, 11);
    EXPECT_EQ(ev[0].obj, (uintptr_t)&w);
    EXPECT_EQ(ev[0].res, 9);
    r.data = 22, r.opcode = 0 /* PREAD */, r.fildes = fd, r.buf = (uintptr_t)in,
    r.nbytes = 9, r.offset = 100;
    list[0] = &r;
    EXPECT_EQ(syscall(SYS_io_submit, ctx, 1, list), 1);
    EXPECT_EQ(syscall(SYS_io_getevents, ctx, 1, 2, ev, &ts), 1);
    EXPECT_EQ(ev[0].res, 9);
    CHECK(memcmp(in, out, 9) == 0, "read back %s", in);
    /* Nothing left: a zero timeout returns at once with none. */
    struct timespec zero = {0, 0};
    EXPECT_EQ(syscall(SYS_io_getevents, ctx, 1, 2, ev, &zero), 0);
    EXPECT_EQ(syscall(SYS_io_submit, ctx, 0, NULL), 0);
    OK(syscall(SYS_io_destroy, ctx));
    close(fd);
}

TEST(aio_submit_errors_are_reported_by_the_call)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int ro = OK(open(kt_path(d, "ro"), O_RDONLY | O_CREAT, 0644));
    int wo = OK(open(kt_path(d, "wo"), O_WRONLY | O_CREAT, 0644));
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 1, &ctx));
    char buf[16];
    struct kt_iocb cb = {0};
    struct kt_iocb *list[1] = {&cb}, *nulls[1] = {NULL};
    cb.buf = (uintptr_t)buf, cb.nbytes = sizeof buf;
    EXPECT_ERRNO(syscall(SYS_io_submit, 0, 1, list), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, (long)-1, list), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, (void *)-1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, nulls), EFAULT);
    cb.fildes = (uint32_t)-1;
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, list), EBADF);
    cb.fildes = ro, cb.opcode = 1 /* PWRITE */;
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, list), EBADF);
    cb.fildes = wo, cb.opcode = 0 /* PREAD */;
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, list), EBADF);
    cb.fildes = ro, cb.opcode = 99;
    EXPECT_ERRNO(syscall(SYS_io_submit, ctx, 1, list), EINVAL);
    OK(syscall(SYS_io_destroy, ctx));
    close(ro);
    close(wo);
}

/* struct __aio_sigset: io_pgetevents' signal mask and its size. */
struct kt_aio_sigset {
    const sigset_t *sigmask;
    size_t sigsetsize;
};

static volatile sig_atomic_t aio_alarms;

static void aio_on_alarm(int sig)
{
    (void)sig;
    aio_alarms++;
}

/* One SIGALRM `ms` from now. */
static void aio_alarm_in(long ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

TEST(aio_pgetevents_checks_its_arguments_before_the_context)
{
    uint64_t mask = 0;
    struct kt_aio_sigset bad_size = {(const sigset_t *)&mask, 4};
    struct timespec ts = {0, 0};
    /* Linux reads the timeout and the sigset struct before it looks the
     * context up, so these fail on a context that does not exist too. */
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, 0, 0, 1, NULL, (void *)8, NULL), EFAULT);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, 0, 0, 1, NULL, &ts, (void *)8), EFAULT);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, 0, 0, 1, NULL, &ts, &bad_size), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, 0, 0, 1, NULL, &ts, NULL), EINVAL);
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 4, &ctx));
    struct kt_aio_sigset bad_ptr = {(const sigset_t *)8, 8};
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, ctx, 0, 1, NULL, &ts, &bad_ptr), EFAULT);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, ctx, 0, 1, NULL, &ts, &bad_size), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, ctx, 2, 1, NULL, &ts, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_io_pgetevents, ctx, -1, 1, NULL, &ts, NULL), EINVAL);
    /* A null sigmask in the struct leaves the mask alone. */
    struct kt_aio_sigset none = {NULL, 0};
    EXPECT_EQ(syscall(SYS_io_pgetevents, ctx, 0, 1, NULL, &ts, &none), 0);
    OK(syscall(SYS_io_destroy, ctx));
}

TEST(aio_pgetevents_collects_completions)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 8, &ctx));
    char out[] = "pgetevents";
    struct kt_iocb w = {0};
    w.data = 7, w.opcode = 1 /* PWRITE */, w.fildes = fd, w.buf = (uintptr_t)out,
    w.nbytes = 10;
    struct kt_iocb *list[1] = {&w};
    EXPECT_EQ(syscall(SYS_io_submit, ctx, 1, list), 1);
    sigset_t all;
    sigfillset(&all);
    struct kt_aio_sigset ss = {&all, 8};
    struct kt_io_event ev[2];
    struct timespec ts = {1, 0};
    EXPECT_EQ(syscall(SYS_io_pgetevents, ctx, 1, 2, ev, &ts, &ss), 1);
    EXPECT_EQ(ev[0].data, 7);
    EXPECT_EQ(ev[0].res, 10);
    /* The caller's mask is back once the call returns. */
    sigset_t now;
    OK(sigprocmask(SIG_BLOCK, NULL, &now));
    CHECK(!sigismember(&now, SIGUSR1), "the wait's mask stayed");
    OK(syscall(SYS_io_destroy, ctx));
    close(fd);
}

TEST(aio_pgetevents_mask_lets_a_blocked_signal_interrupt_the_wait)
{
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 1, &ctx));
    struct sigaction sa = {0}, old;
    sa.sa_handler = aio_on_alarm;
    OK(sigaction(SIGALRM, &sa, &old));
    sigset_t alrm, saved, open_mask;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    OK(sigprocmask(SIG_BLOCK, &alrm, &saved));
    OK(sigprocmask(SIG_BLOCK, NULL, &open_mask));
    sigdelset(&open_mask, SIGALRM);
    struct kt_aio_sigset ss = {&open_mask, 8};
    struct kt_io_event ev[1];
    struct timespec ts = {5, 0};
    aio_alarms = 0;
    aio_alarm_in(50);
    errno = 0;
    long r = syscall(SYS_io_pgetevents, ctx, 1, 1, ev, &ts, &ss);
    int e = errno;
    sigset_t after;
    sigprocmask(SIG_BLOCK, NULL, &after);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    sigaction(SIGALRM, &old, NULL);
    syscall(SYS_io_destroy, ctx);
    CHECK(r == -1 && e == EINTR, "io_pgetevents gave %ld (%s), want EINTR", r, kt_errname(e));
    EXPECT_EQ(aio_alarms, 1);
    /* The handler ran under the wait's mask; the caller's is back after it. */
    CHECK(sigismember(&after, SIGALRM), "SIGALRM unblocked after the call");
}

TEST(aio_pgetevents_mask_holds_a_signal_off_until_the_call_returns)
{
    uint64_t ctx = 0;
    OK(syscall(SYS_io_setup, 1, &ctx));
    struct sigaction sa = {0}, old;
    sa.sa_handler = aio_on_alarm;
    OK(sigaction(SIGALRM, &sa, &old));
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    struct kt_aio_sigset ss = {&alrm, 8};
    struct kt_io_event ev[1];
    struct timespec ts = {0, 300 * 1000 * 1000};
    aio_alarms = 0;
    aio_alarm_in(50);
    long r = syscall(SYS_io_pgetevents, ctx, 1, 1, ev, &ts, &ss);
    int during = aio_alarms;
    /* Delivered once the mask is the caller's again (at the latest by the
     * next system call). */
    getppid();
    int later = aio_alarms;
    sigaction(SIGALRM, &old, NULL);
    syscall(SYS_io_destroy, ctx);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(during, 1);
    EXPECT_EQ(later, 1);
}

TEST(pwritev2_on_a_pipe_read_end_is_espipe)
{
    int p[2];
    OK(pipe(p));
    char c = 'x';
    struct iovec v = {&c, 1};
    EXPECT_ERRNO(syscall(SYS_pwritev2, p[0], &v, 1, 0, 0, 0), ESPIPE);
    EXPECT_ERRNO(syscall(SYS_preadv2, p[1], &v, 1, 0, 0, 0), ESPIPE);
    close(p[0]);
    close(p[1]);
}

TEST(new_nodes_in_a_setgid_directory_take_its_group)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/g", d);
    OK(mkdir(dir, 0777));
    OK(chown(dir, 0, 5));
    OK(chmod(dir, 02777));
    char sub[600], file[600];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(file, sizeof file, "%s/file", dir);
    OK(mkdir(sub, 0755));
    struct stat st;
    OK(stat(sub, &st));
    EXPECT_EQ(st.st_gid, 5);
    CHECK(st.st_mode & S_ISGID, "new directory mode %o lacks S_ISGID", st.st_mode);
    int fd = OK(open(file, O_CREAT | O_WRONLY, 0644));
    close(fd);
    OK(stat(file, &st));
    EXPECT_EQ(st.st_gid, 5);
    CHECK(!(st.st_mode & S_ISGID), "new file mode %o has S_ISGID", st.st_mode);
}

/* A group-executable set-group-ID file asked for by a creator outside the
 * setgid directory's group loses the bit, decided before the umask: a umask
 * that takes the group's execute bit away does not save it (Linux's
 * vfs_prepare_mode). Run as a user outside group 5 in a child. */
static void sgid_child(void *arg)
{
    const char *dir = arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(2);
    umask(S_IXGRP);
    char file[600];
    snprintf(file, sizeof file, "%s/sgid-umask", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 02755);
    if (fd < 0)
        _exit(3);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    _exit(st.st_mode & S_ISGID ? 1 : 0);
}

TEST(setgid_is_stripped_before_the_umask_for_a_non_member)
{
    if (geteuid() != 0)
        SKIP("needs root");
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/g2", d);
    OK(mkdir(dir, 0777));
    OK(chmod(d, 0755));
    OK(chown(dir, 0, 5));
    OK(chmod(dir, 02777));
    int st = kt_in_child(sgid_child, dir);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s (1: the file kept S_ISGID)",
          kt_status(st));
}

TEST(openat2_creat_refuses_magic_links_and_symlinks_as_asked)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int dfd = OK(open(d, O_DIRECTORY | O_RDONLY));
    OK(symlinkat("/proc/version", dfd, "link"));
    EXPECT_ERRNO(openat2_(AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CREAT, 0600, 0x02), ELOOP);
    EXPECT_ERRNO(openat2_(dfd, "link", O_RDONLY | O_CREAT, 0600, 0x04), ELOOP);
    EXPECT_ERRNO(openat2_(dfd, "/proc/version", O_RDONLY | O_CREAT, 0600, 0x08), EXDEV);
    EXPECT_ERRNO(openat2_(dfd, "/proc/version", O_RDONLY | O_CREAT, 0600, 0x10), ENOENT);
    int fd = OK(openat2_(AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CREAT, 0600, 0));
    close(fd);
    close(dfd);
}

/* ---- inotify ------------------------------------------------------------ */

/* Reads the queued events of `fd` (non-blocking) into `ev`, at most `max`. */
static int ino_events(int fd, struct inotify_event **ev, int max, char *buf, size_t cap)
{
    long n = read(fd, buf, cap);
    int k = 0;
    for (long off = 0; n > 0 && off < n && k < max;) {
        ev[k] = (struct inotify_event *)(buf + off);
        off += sizeof(struct inotify_event) + ev[k]->len;
        k++;
    }
    return k;
}

TEST(inotify_reports_create_modify_attrib_delete_with_names)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int in = OK(inotify_init1(IN_NONBLOCK));
    int wd = OK(inotify_add_watch(in, d, IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_DELETE));
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0644));
    OK(write(fd, "x", 1));
    close(fd);
    OK(chmod(kt_path(d, "f"), 0600));
    OK(unlink(kt_path(d, "f")));
    static char buf[4096] __attribute__((aligned(8)));
    struct inotify_event *ev[8];
    int k = ino_events(in, ev, 8, buf, sizeof buf);
    EXPECT_EQ(k, 4);
    uint32_t want[4] = {IN_CREATE, IN_MODIFY, IN_ATTRIB, IN_DELETE};
    for (int i = 0; i < 4; i++) {
        CHECK(ev[i]->wd == wd && ev[i]->mask == want[i] && strcmp(ev[i]->name, "f") == 0,
              "event %d: wd %d mask %x name %s", i, ev[i]->wd, ev[i]->mask,
              ev[i]->len ? ev[i]->name : "");
    }
    EXPECT_ERRNO(read(in, buf, sizeof buf), EAGAIN);
    close(in);
}

TEST(inotify_oneshot_and_rm_watch_end_with_in_ignored)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "f");
    OK(kt_write_file(f, "a", 1));
    int in = OK(inotify_init1(IN_NONBLOCK));
    int wd = OK(inotify_add_watch(in, f, IN_ATTRIB | IN_ONESHOT));
    OK(chmod(f, 0600));
    OK(chmod(f, 0644));
    static char buf[4096] __attribute__((aligned(8)));
    struct inotify_event *ev[8];
    int k = ino_events(in, ev, 8, buf, sizeof buf);
    EXPECT_EQ(k, 2);
    EXPECT_EQ(ev[0]->mask, IN_ATTRIB);
    EXPECT_EQ(ev[1]->mask, IN_IGNORED);
    EXPECT_EQ(ev[1]->wd, wd);
    EXPECT_ERRNO(inotify_rm_watch(in, wd), EINVAL);
    int wd2 = OK(inotify_add_watch(in, f, IN_OPEN));
    OK(inotify_rm_watch(in, wd2));
    k = ino_events(in, ev, 8, buf, sizeof buf);
    EXPECT_EQ(k, 1);
    EXPECT_EQ(ev[0]->mask, IN_IGNORED);
    close(in);
}

TEST(inotify_errors)
{
    EXPECT_ERRNO(inotify_init1(0x1234), EINVAL);
    int in = OK(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    CHECK(fcntl(in, F_GETFD) & FD_CLOEXEC, "IN_CLOEXEC not set");
    EXPECT_ERRNO(inotify_add_watch(in, "/", 0), EINVAL);
    EXPECT_ERRNO(inotify_add_watch(in, "/nonexistent-kt", IN_OPEN), ENOENT);
    EXPECT_ERRNO(inotify_add_watch(in, "/proc/self/status", IN_OPEN | IN_ONLYDIR), ENOTDIR);
    int null = OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(inotify_add_watch(null, "/", IN_OPEN), EINVAL);
    close(null);
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    OK(inotify_add_watch(in, d, IN_CREATE));
    OK(kt_write_file(kt_path(d, "a-long-file-name"), "", 0));
    char small[16];
    EXPECT_ERRNO(read(in, small, sizeof small), EINVAL);
    close(in);
}

int main(void)
{
    KT_BEGIN();
    tmp_on_tmpfs();

    RUN(flock_ex_conflicts_with_ex_of_another_description);
    RUN(flock_sh_locks_share_but_block_ex);
    RUN(flock_same_lock_again_is_a_noop);
    RUN(flock_converts_sh_to_ex_when_alone);
    RUN(flock_converts_ex_to_sh_letting_others_share);
    RUN(flock_failed_nb_conversion_drops_the_old_lock);
    RUN(flock_un_releases_the_lock);
    RUN(flock_close_releases_the_lock);
    RUN(flock_dup_fds_share_one_lock);
    RUN(flock_released_only_when_the_last_dup_closes);
    RUN(flock_conflicts_between_parent_and_child);
    RUN(flock_held_through_inherited_fd_until_child_exits);
    RUN(flock_blocked_ex_is_woken_by_release);
    RUN(flock_blocked_is_eintr_after_a_handler_without_sa_restart);
    RUN(flock_blocked_restarts_after_a_sa_restart_handler);
    RUN(flock_bad_fd_is_ebadf);
    RUN(flock_o_path_fd_is_ebadf);
    RUN(flock_bad_operation_is_einval);
    RUN(flock_on_directory_and_pipe_works);

    RUN(fsync_regular_file_and_directory_succeed);
    RUN(fsync_bad_fd_is_ebadf);
    RUN(fsync_on_pipe_is_einval);
    RUN(fsync_on_socket_is_einval);
    RUN(sync_succeeds);
    RUN(syncfs_succeeds_on_files_pipes_and_directories);
    RUN(sync_file_range_on_file_succeeds);
    RUN(sync_file_range_on_pipe_is_espipe);
    RUN(sync_file_range_on_socket_is_espipe);
    RUN(sync_file_range_bad_flags_is_einval);
    RUN(sync_file_range_negative_or_overflowing_range_is_einval);
    RUN(sync_file_range_bad_fd_is_ebadf_before_einval);
    RUN(readahead_regular_file_succeeds);
    RUN(readahead_bad_fd_is_ebadf);
    RUN(readahead_write_only_fd_is_ebadf);
    RUN(readahead_on_pipe_is_einval);
    RUN(readahead_on_directory_is_einval);

    RUN(preadv_gathers_at_offset_without_moving_position);
    RUN(pwritev_scatters_at_offset_without_moving_position);
    RUN(pwritev_past_eof_leaves_a_zero_gap);
    RUN(preadv2_pwritev2_with_offset_act_like_preadv_pwritev);
    RUN(preadv2_offset_minus_one_uses_and_moves_position);
    RUN(pwritev2_offset_minus_one_uses_and_moves_position);
    RUN(preadv2_offset_minus_one_on_pipe_reads_like_readv);
    RUN(preadv_negative_offset_is_einval);
    RUN(preadv_on_pipe_is_espipe);
    RUN(preadv_wrong_mode_is_ebadf);
    RUN(preadv_bad_fd_is_ebadf);
    RUN(preadv2_unknown_flag_is_eopnotsupp);
    RUN(preadv_iovcnt_over_iov_max_is_einval);
    RUN(preadv_zero_iovcnt_returns_zero);
    RUN(preadv_bad_iovec_pointer_is_efault);
    RUN(preadv_into_bad_buffer_is_efault);
    RUN(pwritev_on_append_fd_appends);
    RUN(pwritev2_rwf_noappend_writes_at_offset_on_append_fd);
    RUN(pwritev2_rwf_append_writes_at_end);

    RUN(fallocate_extends_size_with_zeros);
    RUN(fallocate_inside_the_file_changes_nothing_visible);
    RUN(fallocate_keep_size_does_not_extend);
    RUN(fallocate_keep_size_still_allocates_blocks);
    RUN(fallocate_punch_hole_keep_size_zeroes_the_range);
    RUN(fallocate_punch_hole_without_keep_size_is_eopnotsupp);
    RUN(fallocate_other_modes_on_tmpfs_are_eopnotsupp);
    RUN(fallocate_unknown_mode_is_eopnotsupp);
    RUN(fallocate_bad_length_or_offset_is_einval);
    RUN(fallocate_overflowing_range_is_efbig);
    RUN(fallocate_read_only_fd_is_ebadf);
    RUN(fallocate_on_pipe_is_espipe);
    RUN(fallocate_on_directory_is_ebadf);
    RUN(fallocate_on_socket_is_enodev);

    RUN(memfd_proc_link_shows_memfd_name_deleted);
    RUN(memfd_is_an_empty_read_write_regular_file);
    RUN(memfd_default_seal_is_f_seal_seal);
    RUN(memfd_allow_sealing_starts_unsealed);
    RUN(memfd_seal_write_makes_writes_eperm);
    RUN(memfd_seal_write_refuses_shared_writable_mappings);
    RUN(memfd_seal_write_with_writable_mapping_is_ebusy);
    RUN(memfd_seal_shrink_refuses_shrinking);
    RUN(memfd_seal_grow_refuses_growing);
    RUN(memfd_seal_seal_stops_further_sealing);
    RUN(memfd_unknown_seal_is_einval);
    RUN(memfd_add_seals_through_read_only_fd_is_eperm);
    RUN(get_seals_on_pipe_is_einval);
    RUN(memfd_bad_flags_is_einval);
    RUN(memfd_name_limit_is_249_bytes);
    RUN(memfd_bad_name_pointer_is_efault);
    RUN(memfd_cloexec_sets_fd_cloexec);

    RUN(close_range_closes_the_range);
    RUN(close_range_cloexec_marks_instead_of_closing);
    RUN(close_range_to_uint_max_closes_everything_above);
    RUN(close_range_past_the_table_is_fine);
    RUN(close_range_unshare_closes_too);
    RUN(close_range_first_above_last_is_einval);
    RUN(close_range_unknown_flags_is_einval);

    RUN(openat2_opens_like_openat);
    RUN(openat2_creates_with_mode);
    RUN(openat2_size_below_24_is_einval);
    RUN(openat2_size_above_page_is_e2big);
    RUN(openat2_larger_size_with_zero_tail_is_accepted);
    RUN(openat2_nonzero_tail_is_e2big);
    RUN(openat2_bad_pointers_are_efault);
    RUN(openat2_unknown_flags_or_resolve_is_einval);
    RUN(openat2_mode_without_create_is_einval);
    RUN(openat2_beneath_with_in_root_is_einval);
    RUN(openat2_resolve_cached_refuses_create_and_truncate);
    RUN(openat2_beneath_refuses_dotdot_escape);
    RUN(openat2_beneath_refuses_absolute_paths_and_symlinks);
    RUN(openat2_no_symlinks_refuses_every_symlink);
    RUN(openat2_in_root_treats_slash_and_dotdot_as_the_dirfd);
    RUN(openat2_no_magiclinks_refuses_proc_fd_links);
    RUN(openat2_no_xdev_refuses_crossing_a_mount);

    RUN(chroot_child_sees_only_the_new_root);
    RUN(chroot_errors);
    RUN(getcwd_after_chroot_is_relative_to_the_new_root);

    RUN(getdents_record_layout);
    RUN(getdents_resumes_at_d_off_and_ends_with_zero);
    RUN(getdents_small_buffer_returns_whole_records_or_einval);
    RUN(getdents_on_file_is_enotdir);
    RUN(getdents_bad_fd_is_ebadf);
    RUN(getdents_bad_buffer_is_efault);

    RUN(utime_sets_both_times);
    RUN(utime_null_means_now);
    RUN(utimes_null_means_now);
    RUN(futimesat_null_means_now);
    RUN(utimes_sets_times_with_microseconds);
    RUN(futimesat_is_relative_to_dirfd);
    RUN(futimesat_null_path_sets_the_fd_itself);
    RUN(futimesat_null_path_with_at_fdcwd_is_efault);
    RUN(futimesat_relative_path_with_bad_dirfd);
    RUN(utimes_bad_microseconds_is_einval);
    RUN(utime_missing_file_is_enoent);
    RUN(utime_bad_pointers_are_efault);
    RUN(aio_setup_checks_its_arguments);
    RUN(aio_write_then_read_complete_through_getevents);
    RUN(aio_submit_errors_are_reported_by_the_call);
    RUN(aio_pgetevents_checks_its_arguments_before_the_context);
    RUN(aio_pgetevents_collects_completions);
    RUN(aio_pgetevents_mask_lets_a_blocked_signal_interrupt_the_wait);
    RUN(aio_pgetevents_mask_holds_a_signal_off_until_the_call_returns);
    RUN(pwritev2_on_a_pipe_read_end_is_espipe);
    RUN(new_nodes_in_a_setgid_directory_take_its_group);
    RUN(setgid_is_stripped_before_the_umask_for_a_non_member);
    RUN(openat2_creat_refuses_magic_links_and_symlinks_as_asked);
    RUN(inotify_reports_create_modify_attrib_delete_with_names);
    RUN(inotify_oneshot_and_rm_watch_end_with_in_ignored);
    RUN(inotify_errors);
    return KT_END();
}

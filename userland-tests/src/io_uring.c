/*
 * io_uring.c - io_uring_setup(2), io_uring_enter(2), io_uring_register(2),
 * through raw system calls (no liburing), the rings mapped by hand.
 *
 * As asserted here:
 *   - setup: entries 0 is EINVAL, more than 32768 EINVAL unless
 *     IORING_SETUP_CLAMP (then 32768); entries are rounded up to a power of
 *     two and the CQ ring is twice the SQ ring; IORING_SETUP_CQSIZE smaller
 *     than the SQ ring is EINVAL; nonzero resv, unknown flags and SQ_AFF
 *     without SQPOLL are EINVAL; a bad params pointer EFAULT. The fd is
 *     O_RDWR and close-on-exec.
 *   - enter/register on a file that is not a ring: EOPNOTSUPP; on a bad fd
 *     EBADF; unknown enter flags EINVAL.
 *   - mmap: the three offsets map (what other offsets and lengths past an
 *     area give differs between 6.1 and 6.18: not asserted).
 *   - requests: NOP; READ/WRITE at offsets and at -1 (the file position);
 *     READV/WRITEV; READ_FIXED inside a registered buffer and EFAULT outside
 *     it; FSYNC; OPENAT and CLOSE (and CLOSE of a ring is EBADF); POLL_ADD
 *     completes when a pipe becomes readable; TIMEOUT expires with ETIME or
 *     completes with 0 after `off` completions; ASYNC_CANCEL and POLL_REMOVE
 *     cancel (ECANCELED for the target, ENOENT when nothing matches); an
 *     unknown opcode completes with EINVAL; in an IO_LINK chain a failure
 *     cancels the rest with ECANCELED.
 *   - a blocked request does not block io_uring_enter: submission returns at
 *     once, GETEVENTS waits, and a signal interrupts it (EINTR).
 *   - register: BUFFERS twice is EBUSY, 0 buffers EINVAL, a NULL buffer
 *     EFAULT, UNREGISTER with none ENXIO; an eventfd registered is signalled
 *     on completions; PROBE reports NOP and READ as supported.
 *   - SQPOLL: entries are consumed without io_uring_enter; after the idle
 *     time the SQ flags say IORING_SQ_NEED_WAKEUP, and IORING_ENTER_SQ_WAKEUP
 *     brings the poller back.
 *
 * Each case runs under a 10 s watchdog alarm with a handler and no
 * SA_RESTART, so a wait that never ends fails with EINTR instead of hanging.
 */
#define KT_AREA "io_uring"
#include "kt.h"

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#define SYS_io_uring_enter 426
#define SYS_io_uring_register 427
#endif

struct sq_off {
    uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
    uint64_t user_addr;
};
struct cq_off {
    uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
    uint64_t user_addr;
};
struct params {
    uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd,
        resv[3];
    struct sq_off sq_off;
    struct cq_off cq_off;
};
struct sqe {
    uint8_t opcode, flags;
    uint16_t ioprio;
    int32_t fd;
    uint64_t off, addr;
    uint32_t len, op_flags;
    uint64_t user_data;
    uint16_t buf_index, personality;
    int32_t splice_fd_in;
    uint64_t addr3, pad;
};
struct cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};
_Static_assert(sizeof(struct params) == 120, "io_uring_params is 120 bytes");
_Static_assert(sizeof(struct sqe) == 64, "io_uring_sqe is 64 bytes");
_Static_assert(sizeof(struct cqe) == 16, "io_uring_cqe is 16 bytes");

#define OFF_SQ_RING 0ULL
#define OFF_CQ_RING 0x8000000ULL
#define OFF_SQES 0x10000000ULL

#define SETUP_SQPOLL (1U << 1)
#define SETUP_SQ_AFF (1U << 2)
#define SETUP_CQSIZE (1U << 3)
#define SETUP_CLAMP (1U << 4)
#define ENTER_GETEVENTS 1U
#define ENTER_SQ_WAKEUP 2U
#define SQ_NEED_WAKEUP 1U
#define FEAT_SINGLE_MMAP 1U

#define OP_NOP 0
#define OP_READV 1
#define OP_WRITEV 2
#define OP_FSYNC 3
#define OP_READ_FIXED 4
#define OP_POLL_ADD 6
#define OP_POLL_REMOVE 7
#define OP_TIMEOUT 11
#define OP_ASYNC_CANCEL 14
#define OP_OPENAT 18
#define OP_CLOSE 19
#define OP_READ 22
#define OP_WRITE 23
#define SQE_IO_LINK 4

#define REG_BUFFERS 0
#define UNREG_BUFFERS 1
#define REG_EVENTFD 4
#define REG_PROBE 8

#define WATCHDOG_S 10

struct ring {
    int fd;
    struct params p;
    unsigned char *sq, *cq;
    struct sqe *sqes;
    size_t sq_len, cq_len, sqes_len;
};

static int setup(unsigned entries, struct params *p)
{
    return (int)syscall(SYS_io_uring_setup, entries, p);
}

static int enter(int fd, unsigned submit, unsigned min, unsigned flags)
{
    return (int)syscall(SYS_io_uring_enter, fd, submit, min, flags, NULL, 8);
}

static int reg(int fd, unsigned op, void *arg, unsigned n)
{
    return (int)syscall(SYS_io_uring_register, fd, op, arg, n);
}

static uint32_t *u32at(unsigned char *base, uint32_t off)
{
    return (uint32_t *)(base + off);
}

/* Sets up a ring of `entries` and maps it; 0 on success. */
static int ring_init(struct ring *r, unsigned entries, unsigned flags, unsigned idle_ms)
{
    memset(r, 0, sizeof *r);
    r->p.flags = flags;
    r->p.sq_thread_idle = idle_ms;
    r->fd = setup(entries, &r->p);
    if (r->fd < 0)
        return -1;
    r->sq_len = r->p.sq_off.array + r->p.sq_entries * 4;
    r->cq_len = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct cqe);
    r->sqes_len = r->p.sq_entries * sizeof(struct sqe);
    r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                 OFF_SQ_RING);
    r->cq = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                 OFF_CQ_RING);
    r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                   OFF_SQES);
    if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == (void *)MAP_FAILED)
        return -1;
    return 0;
}

static void ring_exit(struct ring *r)
{
    if (r->sq && r->sq != MAP_FAILED)
        munmap(r->sq, r->sq_len);
    if (r->cq && r->cq != MAP_FAILED)
        munmap(r->cq, r->cq_len);
    if (r->sqes && r->sqes != (void *)MAP_FAILED)
        munmap(r->sqes, r->sqes_len);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Queues one entry (not yet submitted); returns it for the caller to fill. */
static struct sqe *queue(struct ring *r, uint8_t opcode, int fd, uint64_t addr, uint32_t len,
                         uint64_t off, uint64_t user_data)
{
    uint32_t tail = *u32at(r->sq, r->p.sq_off.tail);
    uint32_t idx = tail & *u32at(r->sq, r->p.sq_off.ring_mask);
    struct sqe *s = &r->sqes[idx];
    memset(s, 0, sizeof *s);
    s->opcode = opcode;
    s->fd = fd;
    s->addr = addr;
    s->len = len;
    s->off = off;
    s->user_data = user_data;
    u32at(r->sq, r->p.sq_off.array)[idx] = idx;
    __atomic_store_n(u32at(r->sq, r->p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);
    return s;
}

/* Takes the next completion; 0 if there is one. */
static int reap(struct ring *r, struct cqe *out)
{
    uint32_t head = *u32at(r->cq, r->p.cq_off.head);
    uint32_t tail = __atomic_load_n(u32at(r->cq, r->p.cq_off.tail), __ATOMIC_ACQUIRE);
    if (head == tail)
        return -1;
    struct cqe *c = (struct cqe *)(r->cq + r->p.cq_off.cqes);
    *out = c[head & *u32at(r->cq, r->p.cq_off.ring_mask)];
    __atomic_store_n(u32at(r->cq, r->p.cq_off.head), head + 1, __ATOMIC_RELEASE);
    return 0;
}

static unsigned cq_ready(struct ring *r)
{
    return __atomic_load_n(u32at(r->cq, r->p.cq_off.tail), __ATOMIC_ACQUIRE) -
           *u32at(r->cq, r->p.cq_off.head);
}

/* Submits what is queued and waits for one completion, which it returns. */
#define SUBMIT_WAIT(r, n, c)                                                  \
    do {                                                                      \
        EXPECT_EQ(enter((r)->fd, (n), 1, ENTER_GETEVENTS), (n));              \
        CHECK(reap((r), (c)) == 0, "no completion after GETEVENTS");          \
    } while (0)

#define RING(r, entries)                                                      \
    struct ring r;                                                            \
    CHECK(ring_init(&r, (entries), 0, 0) == 0, "ring setup: %s",              \
          kt_errstr(errno))

static void on_alarm(int sig)
{
    (void)sig;
}

static void arm_watchdog(unsigned s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: a stuck wait fails with EINTR */
    sigaction(SIGALRM, &sa, NULL);
    alarm(s);
}

TEST(setup_zero_entries_is_einval)
{
    struct params p;
    memset(&p, 0, sizeof p);
    EXPECT_ERRNO(setup(0, &p), EINVAL);
}

TEST(setup_bad_params_pointer_is_efault)
{
    EXPECT_ERRNO(setup(4, NULL), EFAULT);
    EXPECT_ERRNO(setup(4, (void *)1), EFAULT);
}

TEST(setup_more_than_32768_entries_is_einval_unless_clamped)
{
    struct params p;
    memset(&p, 0, sizeof p);
    EXPECT_ERRNO(setup(32769, &p), EINVAL);
    memset(&p, 0, sizeof p);
    p.flags = SETUP_CLAMP;
    int fd = OK(setup(100000, &p));
    EXPECT_EQ(p.sq_entries, 32768);
    EXPECT_EQ(p.cq_entries, 65536);
    close(fd);
}

TEST(setup_rounds_up_to_a_power_of_two_and_doubles_the_cq_ring)
{
    struct params p;
    memset(&p, 0, sizeof p);
    int fd = OK(setup(3, &p));
    EXPECT_EQ(p.sq_entries, 4);
    EXPECT_EQ(p.cq_entries, 8);
    CHECK(p.features & FEAT_SINGLE_MMAP, "features %#x lack IORING_FEAT_SINGLE_MMAP", p.features);
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    close(fd);
}

TEST(setup_cqsize_is_checked_against_the_sq_ring)
{
    struct params p;
    memset(&p, 0, sizeof p);
    p.flags = SETUP_CQSIZE;
    p.cq_entries = 2;
    EXPECT_ERRNO(setup(8, &p), EINVAL);
    memset(&p, 0, sizeof p);
    p.flags = SETUP_CQSIZE;
    EXPECT_ERRNO(setup(8, &p), EINVAL);
    memset(&p, 0, sizeof p);
    p.flags = SETUP_CQSIZE;
    p.cq_entries = 20;
    int fd = OK(setup(8, &p));
    EXPECT_EQ(p.cq_entries, 32);
    close(fd);
}

TEST(setup_reserved_fields_and_unknown_flags_are_einval)
{
    struct params p;
    memset(&p, 0, sizeof p);
    p.resv[1] = 1;
    EXPECT_ERRNO(setup(4, &p), EINVAL);
    memset(&p, 0, sizeof p);
    p.flags = 1U << 31;
    EXPECT_ERRNO(setup(4, &p), EINVAL);
    memset(&p, 0, sizeof p);
    p.flags = SETUP_SQ_AFF;
    EXPECT_ERRNO(setup(4, &p), EINVAL);
}

TEST(enter_and_register_on_other_files_are_eopnotsupp_or_ebadf)
{
    int fd = OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(enter(fd, 0, 0, 0), EOPNOTSUPP);
    EXPECT_ERRNO(reg(fd, UNREG_BUFFERS, NULL, 0), EOPNOTSUPP);
    close(fd);
    EXPECT_ERRNO(enter(fd, 0, 0, 0), EBADF);
    EXPECT_ERRNO(reg(fd, UNREG_BUFFERS, NULL, 0), EBADF);
}

TEST(enter_unknown_flags_is_einval)
{
    RING(r, 2);
    EXPECT_ERRNO(enter(r.fd, 0, 0, 1U << 30), EINVAL);
    ring_exit(&r);
}

TEST(nop_completes_with_its_user_data)
{
    RING(r, 4);
    queue(&r, OP_NOP, -1, 0, 0, 0, 0x1234);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.user_data, 0x1234);
    EXPECT_EQ(c.res, 0);
    EXPECT_EQ(*u32at(r.sq, r.p.sq_off.head), 1);
    ring_exit(&r);
}

TEST(unknown_opcode_completes_with_einval)
{
    RING(r, 4);
    queue(&r, 250, -1, 0, 0, 0, 7);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.user_data, 7);
    EXPECT_EQ(c.res, -EINVAL);
    ring_exit(&r);
}

TEST(write_and_read_at_offsets)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    RING(r, 4);
    char out[64] = "hello io_uring", in[64] = {0};
    struct cqe c;
    queue(&r, OP_WRITE, fd, (uint64_t)out, 14, 100, 1);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 14);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0); /* an offset leaves the position alone */
    queue(&r, OP_READ, fd, (uint64_t)in, sizeof in, 100, 2);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.user_data, 2);
    EXPECT_EQ(c.res, 14);
    CHECK(memcmp(in, out, 14) == 0, "read back %.14s", in);
    queue(&r, OP_READ, fd, (uint64_t)in, sizeof in, 200, 3);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 0); /* past the end */
    ring_exit(&r);
    close(fd);
}

TEST(offset_minus_one_uses_and_moves_the_file_position)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    RING(r, 4);
    char a[] = "abcdef";
    struct iovec iov[2] = {{a, 3}, {a + 3, 3}};
    struct cqe c;
    queue(&r, OP_WRITEV, fd, (uint64_t)iov, 2, (uint64_t)-1, 1);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 6);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 6);
    OK(lseek(fd, 2, SEEK_SET));
    char b[8] = {0};
    struct iovec riov[1] = {{b, sizeof b}};
    queue(&r, OP_READV, fd, (uint64_t)riov, 1, (uint64_t)-1, 2);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 4);
    CHECK(memcmp(b, "cdef", 4) == 0, "readv got %.4s", b);
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 6);
    ring_exit(&r);
    close(fd);
}

TEST(read_on_a_bad_fd_completes_with_ebadf)
{
    RING(r, 4);
    char b[4];
    queue(&r, OP_READ, 999, (uint64_t)b, 4, 0, 9);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EBADF);
    ring_exit(&r);
}

TEST(read_fixed_uses_registered_buffers_and_checks_bounds)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    CHECK(kt_write_file(kt_path(d, "f"), "0123456789", 10) == 0, "write file");
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    RING(r, 4);
    static char buf[4096];
    struct iovec iov = {buf, sizeof buf};
    EXPECT_EQ(reg(r.fd, REG_BUFFERS, &iov, 1), 0);
    EXPECT_ERRNO(reg(r.fd, REG_BUFFERS, &iov, 1), EBUSY);
    struct cqe c;
    struct sqe *s = queue(&r, OP_READ_FIXED, fd, (uint64_t)buf + 100, 10, 0, 1);
    s->buf_index = 0;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 10);
    CHECK(memcmp(buf + 100, "0123456789", 10) == 0, "fixed read wrong");
    queue(&r, OP_READ_FIXED, fd, (uint64_t)buf + 4090, 10, 0, 2);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EFAULT);
    s = queue(&r, OP_READ_FIXED, fd, (uint64_t)buf, 10, 0, 3);
    s->buf_index = 1;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EFAULT);
    EXPECT_EQ(reg(r.fd, UNREG_BUFFERS, NULL, 0), 0);
    EXPECT_ERRNO(reg(r.fd, UNREG_BUFFERS, NULL, 0), ENXIO);
    ring_exit(&r);
    close(fd);
}

TEST(register_buffers_checks_count_and_addresses)
{
    RING(r, 4);
    static char buf[64];
    struct iovec iov = {buf, sizeof buf};
    EXPECT_ERRNO(reg(r.fd, REG_BUFFERS, &iov, 0), EINVAL);
    EXPECT_ERRNO(reg(r.fd, REG_BUFFERS, &iov, 100000), EINVAL);
    struct iovec bad = {NULL, 4096};
    EXPECT_ERRNO(reg(r.fd, REG_BUFFERS, &bad, 1), EFAULT);
    EXPECT_ERRNO(reg(r.fd, REG_BUFFERS, (void *)8, 1), EFAULT);
    ring_exit(&r);
}

TEST(fsync_completes)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    RING(r, 4);
    queue(&r, OP_FSYNC, fd, 0, 0, 0, 5);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 0);
    queue(&r, OP_FSYNC, fd, 0, 0, 0, 6)->op_flags = 2;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EINVAL);
    ring_exit(&r);
    close(fd);
}

TEST(openat_and_close_run_as_the_calls)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    RING(r, 4);
    struct cqe c;
    const char *path = kt_path(d, "new");
    queue(&r, OP_OPENAT, AT_FDCWD, (uint64_t)path, 0600, 0, 1)->op_flags = O_CREAT | O_RDWR;
    SUBMIT_WAIT(&r, 1, &c);
    CHECK(c.res >= 0, "openat: %s", kt_errstr(-c.res));
    int fd = c.res;
    struct stat st;
    OK(fstat(fd, &st));
    EXPECT_EQ(st.st_mode & 0777, 0600);
    queue(&r, OP_CLOSE, fd, 0, 0, 0, 2);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, 0);
    EXPECT_ERRNO(fcntl(fd, F_GETFD), EBADF);
    queue(&r, OP_CLOSE, r.fd, 0, 0, 0, 3);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EBADF);
    queue(&r, OP_OPENAT, AT_FDCWD, (uint64_t)kt_path(d, "missing"), 0, 0, 4);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -ENOENT);
    ring_exit(&r);
}

TEST(poll_add_completes_when_the_pipe_becomes_readable)
{
    int p[2];
    OK(pipe(p));
    RING(r, 4);
    queue(&r, OP_POLL_ADD, p[0], 0, 0, 0, 11)->op_flags = POLLIN;
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1); /* submission does not wait */
    usleep(20000);
    EXPECT_EQ(cq_ready(&r), 0);
    OK(write(p[1], "x", 1));
    struct cqe c;
    EXPECT_EQ(enter(r.fd, 0, 1, ENTER_GETEVENTS), 0);
    CHECK(reap(&r, &c) == 0, "no completion");
    EXPECT_EQ(c.user_data, 11);
    EXPECT_EQ(c.res & POLLIN, POLLIN);
    ring_exit(&r);
    close(p[0]);
    close(p[1]);
}

TEST(a_blocked_read_waits_in_the_ring_not_in_enter)
{
    int p[2];
    OK(pipe(p));
    RING(r, 4);
    char b[8];
    queue(&r, OP_READ, p[0], (uint64_t)b, sizeof b, 0, 1);
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1);
    OK(write(p[1], "abc", 3));
    struct cqe c;
    EXPECT_EQ(enter(r.fd, 0, 1, ENTER_GETEVENTS), 0);
    CHECK(reap(&r, &c) == 0, "no completion");
    EXPECT_EQ(c.res, 3);
    ring_exit(&r);
    close(p[0]);
    close(p[1]);
}

TEST(getevents_is_interrupted_by_a_signal)
{
    int p[2];
    OK(pipe(p));
    RING(r, 4);
    queue(&r, OP_POLL_ADD, p[0], 0, 0, 0, 1)->op_flags = POLLIN;
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    EXPECT_ERRNO(enter(r.fd, 0, 1, ENTER_GETEVENTS), EINTR);
    ring_exit(&r);
    close(p[0]);
    close(p[1]);
}

TEST(timeout_expires_with_etime)
{
    RING(r, 4);
    struct timespec ts = {0, 20 * 1000 * 1000};
    queue(&r, OP_TIMEOUT, -1, (uint64_t)&ts, 1, 0, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    EXPECT_EQ(c.res, -ETIME);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 19, "timed out after %ld ms", ms);
    queue(&r, OP_TIMEOUT, -1, (uint64_t)&ts, 2, 0, 2);
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -EINVAL);
    ring_exit(&r);
}

TEST(timeout_with_a_count_completes_after_that_many_completions)
{
    RING(r, 4);
    struct timespec ts = {5, 0};
    queue(&r, OP_TIMEOUT, -1, (uint64_t)&ts, 1, 1, 1);
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1);
    queue(&r, OP_NOP, -1, 0, 0, 0, 2);
    EXPECT_EQ(enter(r.fd, 1, 2, ENTER_GETEVENTS), 1);
    struct cqe a, b;
    CHECK(reap(&r, &a) == 0 && reap(&r, &b) == 0, "two completions");
    struct cqe *t = a.user_data == 1 ? &a : &b;
    EXPECT_EQ(t->user_data, 1);
    EXPECT_EQ(t->res, 0);
    ring_exit(&r);
}

TEST(async_cancel_ends_a_pending_poll)
{
    int p[2];
    OK(pipe(p));
    RING(r, 4);
    queue(&r, OP_POLL_ADD, p[0], 0, 0, 0, 77)->op_flags = POLLIN;
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1);
    queue(&r, OP_ASYNC_CANCEL, -1, 77, 0, 0, 78);
    EXPECT_EQ(enter(r.fd, 1, 2, ENTER_GETEVENTS), 1);
    struct cqe a, b;
    CHECK(reap(&r, &a) == 0 && reap(&r, &b) == 0, "two completions");
    struct cqe *target = a.user_data == 77 ? &a : &b, *cancel = a.user_data == 77 ? &b : &a;
    EXPECT_EQ(target->res, -ECANCELED);
    EXPECT_EQ(cancel->user_data, 78);
    EXPECT_EQ(cancel->res, 0);
    queue(&r, OP_ASYNC_CANCEL, -1, 12345, 0, 0, 79);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    EXPECT_EQ(c.res, -ENOENT);
    ring_exit(&r);
    close(p[0]);
    close(p[1]);
}

TEST(poll_remove_ends_a_pending_poll)
{
    int p[2];
    OK(pipe(p));
    RING(r, 4);
    queue(&r, OP_POLL_ADD, p[0], 0, 0, 0, 5)->op_flags = POLLIN;
    EXPECT_EQ(enter(r.fd, 1, 0, 0), 1);
    queue(&r, OP_POLL_REMOVE, -1, 5, 0, 0, 6);
    EXPECT_EQ(enter(r.fd, 1, 2, ENTER_GETEVENTS), 1);
    struct cqe a, b;
    CHECK(reap(&r, &a) == 0 && reap(&r, &b) == 0, "two completions");
    struct cqe *target = a.user_data == 5 ? &a : &b, *rm = a.user_data == 5 ? &b : &a;
    EXPECT_EQ(target->res, -ECANCELED);
    EXPECT_EQ(rm->res, 0);
    ring_exit(&r);
    close(p[0]);
    close(p[1]);
}

TEST(a_failed_link_cancels_the_rest_of_the_chain)
{
    RING(r, 4);
    char b[4];
    queue(&r, OP_READ, 999, (uint64_t)b, 4, 0, 1)->flags = SQE_IO_LINK;
    queue(&r, OP_NOP, -1, 0, 0, 0, 2);
    EXPECT_EQ(enter(r.fd, 2, 2, ENTER_GETEVENTS), 2);
    struct cqe a, c;
    CHECK(reap(&r, &a) == 0 && reap(&r, &c) == 0, "two completions");
    EXPECT_EQ(a.user_data, 1);
    EXPECT_EQ(a.res, -EBADF);
    EXPECT_EQ(c.user_data, 2);
    EXPECT_EQ(c.res, -ECANCELED);
    ring_exit(&r);
}

TEST(a_registered_eventfd_is_signalled_on_completion)
{
    RING(r, 4);
    int efd = OK(eventfd(0, EFD_NONBLOCK));
    EXPECT_EQ(reg(r.fd, REG_EVENTFD, &efd, 1), 0);
    EXPECT_ERRNO(reg(r.fd, REG_EVENTFD, &efd, 1), EBUSY);
    queue(&r, OP_NOP, -1, 0, 0, 0, 1);
    struct cqe c;
    SUBMIT_WAIT(&r, 1, &c);
    uint64_t v = 0;
    EXPECT_EQ(read(efd, &v, 8), 8);
    EXPECT_EQ(v, 1);
    ring_exit(&r);
    close(efd);
}

TEST(probe_reports_supported_opcodes)
{
    RING(r, 4);
    static unsigned char probe[16 + 256 * 8];
    memset(probe, 0, sizeof probe);
    EXPECT_EQ(reg(r.fd, REG_PROBE, probe, 256), 0);
    CHECK(probe[0] >= OP_WRITE, "last_op %u", probe[0]);
    CHECK(probe[1] > OP_WRITE, "ops_len %u", probe[1]);
    uint16_t nop_flags, read_flags;
    memcpy(&nop_flags, probe + 16 + OP_NOP * 8 + 2, 2);
    memcpy(&read_flags, probe + 16 + OP_READ * 8 + 2, 2);
    EXPECT_EQ(nop_flags & 1, 1);
    EXPECT_EQ(read_flags & 1, 1);
    EXPECT_EQ(probe[16 + OP_READ * 8], OP_READ);
    probe[5] = 1;
    EXPECT_ERRNO(reg(r.fd, REG_PROBE, probe, 4), EINVAL);
    ring_exit(&r);
}

TEST(sqpoll_submits_without_enter_and_sleeps_when_idle)
{
    struct ring r;
    CHECK(ring_init(&r, 4, SETUP_SQPOLL, 20) == 0, "sqpoll ring: %s", kt_errstr(errno));
    struct cqe c;
    uint32_t *flags = u32at(r.sq, r.p.sq_off.flags);
    queue(&r, OP_NOP, -1, 0, 0, 0, 1);
    /* As an application must: a poller that went idle meanwhile (a loaded
     * machine) needs the wakeup. */
    if (__atomic_load_n(flags, __ATOMIC_ACQUIRE) & SQ_NEED_WAKEUP)
        OK(enter(r.fd, 0, 0, ENTER_SQ_WAKEUP));
    int i;
    for (i = 0; i < 2000 && cq_ready(&r) == 0; i++)
        usleep(1000);
    CHECK(reap(&r, &c) == 0, "the poller did not submit in 2 s");
    EXPECT_EQ(c.user_data, 1);
    for (i = 0; i < 2000 && !(__atomic_load_n(flags, __ATOMIC_ACQUIRE) & SQ_NEED_WAKEUP); i++)
        usleep(1000);
    CHECK(*flags & SQ_NEED_WAKEUP, "no IORING_SQ_NEED_WAKEUP after idling");
    queue(&r, OP_NOP, -1, 0, 0, 0, 2);
    EXPECT_EQ(enter(r.fd, 1, 1, ENTER_GETEVENTS | ENTER_SQ_WAKEUP), 1);
    CHECK(reap(&r, &c) == 0, "no completion after wakeup");
    EXPECT_EQ(c.user_data, 2);
    ring_exit(&r);
}

/* RUN with a watchdog around the case. */
#define CASE(name)                                                            \
    do {                                                                      \
        arm_watchdog(WATCHDOG_S);                                             \
        RUN(name);                                                            \
        alarm(0);                                                             \
    } while (0)

int main(void)
{
    KT_BEGIN();
    struct params p;
    memset(&p, 0, sizeof p);
    int fd = setup(1, &p);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        printf("SKIP io_uring.all: io_uring_setup is %s here\n", kt_errstr(errno));
        return KT_END();
    }
    close(fd);
    CASE(setup_zero_entries_is_einval);
    CASE(setup_bad_params_pointer_is_efault);
    CASE(setup_more_than_32768_entries_is_einval_unless_clamped);
    CASE(setup_rounds_up_to_a_power_of_two_and_doubles_the_cq_ring);
    CASE(setup_cqsize_is_checked_against_the_sq_ring);
    CASE(setup_reserved_fields_and_unknown_flags_are_einval);
    CASE(enter_and_register_on_other_files_are_eopnotsupp_or_ebadf);
    CASE(enter_unknown_flags_is_einval);
    CASE(nop_completes_with_its_user_data);
    CASE(unknown_opcode_completes_with_einval);
    CASE(write_and_read_at_offsets);
    CASE(offset_minus_one_uses_and_moves_the_file_position);
    CASE(read_on_a_bad_fd_completes_with_ebadf);
    CASE(read_fixed_uses_registered_buffers_and_checks_bounds);
    CASE(register_buffers_checks_count_and_addresses);
    CASE(fsync_completes);
    CASE(openat_and_close_run_as_the_calls);
    CASE(poll_add_completes_when_the_pipe_becomes_readable);
    CASE(a_blocked_read_waits_in_the_ring_not_in_enter);
    CASE(getevents_is_interrupted_by_a_signal);
    CASE(timeout_expires_with_etime);
    CASE(timeout_with_a_count_completes_after_that_many_completions);
    CASE(async_cancel_ends_a_pending_poll);
    CASE(poll_remove_ends_a_pending_poll);
    CASE(a_failed_link_cancels_the_rest_of_the_chain);
    CASE(a_registered_eventfd_is_signalled_on_completion);
    CASE(probe_reports_supported_opcodes);
    CASE(sqpoll_submits_without_enter_and_sleeps_when_idle);
    return KT_END();
}

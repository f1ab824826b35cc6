/*
 * userfaultfd.c - userfaultfd(2), /dev/userfaultfd and its ioctls.
 *
 * As asserted here (each passes on Linux 6.x as root; a case whose feature
 * the host kernel lacks skips):
 *   - userfaultfd with an unknown flag is EINVAL; /dev/userfaultfd's
 *     USERFAULTFD_IOC_NEW makes one (unknown flags EINVAL, other requests
 *     EINVAL); vm.unprivileged_userfaultfd is 0 or 1 (2 is EINVAL), and
 *     without CAP_SYS_PTRACE (and the sysctl 0) only UFFD_USER_MODE_ONLY is
 *     allowed (EPERM).
 *   - Before UFFDIO_API every other ioctl and read are EINVAL and poll says
 *     POLLERR (after it too for a blocking userfaultfd); UFFDIO_API with a wrong api or an unknown feature is EINVAL
 *     (the struct zeroed), a second UFFDIO_API is EINVAL.
 *   - UFFDIO_REGISTER: mode 0 or unknown EINVAL, unaligned or empty ranges
 *     EINVAL, a range with no mapping EINVAL (Linux since the maple tree), a
 *     file mapping EINVAL, a range another userfaultfd has EBUSY; the ioctls
 *     it returns include COPY and not CONTINUE for MISSING. UFFDIO_UNREGISTER
 *     of a hole is EINVAL, of a range with a hole in it fine, and after it a
 *     fault is an ordinary one.
 *   - A missing-page fault queues a UFFD_EVENT_PAGEFAULT message (page address,
 *     WRITE for a write, the thread id with UFFD_FEATURE_THREAD_ID), poll and
 *     epoll say POLLIN, and the faulting thread waits until UFFDIO_COPY (or
 *     ZEROPAGE, or MOVE) fills the page; read of an empty non-blocking
 *     userfaultfd is EAGAIN, with a buffer under 32 bytes EINVAL.
 *   - UFFDIO_COPY with DONTWAKE fills the page but leaves the faulting thread
 *     waiting until UFFDIO_WAKE (whose range is checked: EINVAL unaligned).
 *   - UFFDIO_COPY onto a mapped page is EEXIST (copy = -EEXIST), outside a
 *     registered range ENOENT, with an unknown mode EINVAL.
 *   - Write protection: a write to a page UFFDIO_WRITEPROTECT protected
 *     waits with WP|WRITE until the protection is cleared, and the write is not
 *     visible meanwhile; WP with DONTWAKE is EINVAL; a range not registered
 *     for WP is ENOENT.
 *   - UFFDIO_POISON: an access to the poisoned page gets SIGBUS (si_code
 *     BUS_ADRERR, or BUS_MCEERR_AR with CONFIG_MEMORY_FAILURE), si_addr the
 *     address.
 *   - MINOR on shared memory: a page the object has but the mapping has not
 *     mapped faults with MINOR; UFFDIO_CONTINUE maps it.
 *   - Closing the userfaultfd lets a waiting thread go on (a zero page).
 *   - A system call's copy into a registered page (read(2)) waits for the
 *     handler and succeeds; with UFFD_USER_MODE_ONLY it is EFAULT.
 *   - A thread waiting for a handler that never answers dies of SIGKILL (in
 *     a user access or in a system call's copy); a child of fork does not
 *     inherit the registration; a signal handler runs while a fault waits, and
 *     the access completes once the page is filled; with UFFD_FEATURE_SIGBUS a
 *     fault there is SIGBUS.
 *   - Events: madvise(MADV_DONTNEED) sends UFFD_EVENT_REMOVE (start, end),
 *     mremap UFFD_EVENT_REMAP (from, to, len) and the moved area stays
 *     registered, munmap and mmap MAP_FIXED UFFD_EVENT_UNMAP (start, end) (a
 *     moving mremap one for its old range after REMAP); each call waits until
 *     its event is read. fork sends UFFD_EVENT_FORK with a new userfaultfd
 *     (same flags) through which the child's faults are handled.
 *   - Four threads faulting on the same 64 pages, one handler reading up to
 *     eight messages a read: every page is filled once (a second message for
 *     a page answers EEXIST) and every thread sees the handler's data.
 */
#define KT_AREA "userfaultfd"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef SYS_userfaultfd
#define SYS_userfaultfd 323
#endif
#define UFFD_USER_MODE_ONLY 1
#define UFFD_API 0xaaULL
#define USERFAULTFD_IOC_NEW 0xaa00
#define UFFDIO_API 0xc018aa3fUL
#define UFFDIO_REGISTER 0xc020aa00UL
#define UFFDIO_UNREGISTER 0x8010aa01UL
#define UFFDIO_WAKE 0x8010aa02UL
#define UFFDIO_COPY 0xc028aa03UL
#define UFFDIO_ZEROPAGE 0xc020aa04UL
#define UFFDIO_MOVE 0xc028aa05UL
#define UFFDIO_WRITEPROTECT 0xc018aa06UL
#define UFFDIO_CONTINUE 0xc020aa07UL
#define UFFDIO_POISON 0xc020aa08UL
#define MODE_MISSING 1ULL
#define MODE_WP 2ULL
#define MODE_MINOR 4ULL
#define FLAG_WRITE 1ULL
#define FLAG_WP 2ULL
#define FLAG_MINOR 4ULL
#define FEAT_WP (1ULL << 0)
#define FEAT_THREAD_ID (1ULL << 8)
#define FEAT_MINOR_SHMEM (1ULL << 10)
#define FEAT_POISON (1ULL << 14)
#define FEAT_MOVE (1ULL << 16)
#define EVENT_PAGEFAULT 0x12

struct api { uint64_t api, features, ioctls; };
struct range { uint64_t start, len; };
struct reg { struct range range; uint64_t mode, ioctls; };
struct copy { uint64_t dst, src, len, mode; int64_t copy; };
struct fill { struct range range; uint64_t mode; int64_t result; };
struct wp { struct range range; uint64_t mode; };
struct move { uint64_t dst, src, len, mode; int64_t move; };
struct msg {
    uint8_t event, r1;
    uint16_t r2;
    uint32_t r3;
    uint64_t flags, address;
    uint32_t ptid, pad;
};

static long PG;

static int uffd_new(int flags)
{
    return (int)syscall(SYS_userfaultfd, flags);
}

/* A userfaultfd after UFFDIO_API with `features`; -1 (errno) if refused. */
static int uffd_open(int flags, uint64_t features)
{
    int fd = uffd_new(flags);
    if (fd < 0)
        return -1;
    struct api a = {UFFD_API, features, 0};
    if (ioctl(fd, UFFDIO_API, &a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Whether the kernel offers `features`. */
static int has_features(uint64_t features)
{
    int fd = uffd_new(O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct api a = {UFFD_API, 0, 0};
    int ok = ioctl(fd, UFFDIO_API, &a) == 0 && (a.features & features) == features;
    close(fd);
    return ok;
}

static int do_register(int fd, void *p, size_t len, uint64_t mode)
{
    struct reg r = {{(uintptr_t)p, len}, mode, 0};
    return ioctl(fd, UFFDIO_REGISTER, &r);
}

static char *anon(size_t pages)
{
    char *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ---- a handler thread ---------------------------------------------------- */

enum op { OP_COPY, OP_ZERO, OP_MOVE, OP_UNWP, OP_POISON, OP_CONTINUE, OP_CLOSE };

struct handler {
    int uffd;
    enum op op;
    char fill;
    char *src;              /* OP_COPY and OP_MOVE: the source page */
    struct msg msg;         /* what it read */
    int err;                /* 0, or an errno of its own steps */
    int seen_before;        /* OP_UNWP: the byte at the address when it read */
    pthread_t thread;
};

static void *handle(void *arg)
{
    struct handler *h = arg;
    /* A blocking userfaultfd is read directly (Linux's poll says POLLERR
     * for one: a fault may be woken before it is read). */
    struct pollfd pfd = {h->uffd, POLLIN, 0};
    if ((fcntl(h->uffd, F_GETFL) & O_NONBLOCK) &&
        (poll(&pfd, 1, 5000) != 1 || !(pfd.revents & POLLIN))) {
        h->err = ETIMEDOUT;
        close(h->uffd);
        h->uffd = -1;
        return NULL;
    }
    if (read(h->uffd, &h->msg, sizeof h->msg) != sizeof h->msg) {
        h->err = errno;
        return NULL;
    }
    uint64_t page = h->msg.address & ~(uint64_t)(PG - 1);
    int r = 0;
    switch (h->op) {
    case OP_COPY: {
        memset(h->src, h->fill, PG);
        struct copy c = {page, (uintptr_t)h->src, PG, 0, 0};
        r = ioctl(h->uffd, UFFDIO_COPY, &c);
        break;
    }
    case OP_ZERO: {
        struct fill z = {{page, PG}, 0, 0};
        r = ioctl(h->uffd, UFFDIO_ZEROPAGE, &z);
        break;
    }
    case OP_MOVE: {
        memset(h->src, h->fill, PG);
        struct move m = {page, (uintptr_t)h->src, PG, 0, 0};
        r = ioctl(h->uffd, UFFDIO_MOVE, &m);
        break;
    }
    case OP_UNWP: {
        h->seen_before = *(volatile char *)page;
        struct wp w = {{page, PG}, 0};
        r = ioctl(h->uffd, UFFDIO_WRITEPROTECT, &w);
        break;
    }
    case OP_POISON: {
        struct fill p = {{page, PG}, 0, 0};
        r = ioctl(h->uffd, UFFDIO_POISON, &p);
        break;
    }
    case OP_CONTINUE: {
        struct fill c = {{page, PG}, 0, 0};
        r = ioctl(h->uffd, UFFDIO_CONTINUE, &c);
        break;
    }
    case OP_CLOSE:
        r = close(h->uffd);
        h->uffd = -1;
        break;
    }
    if (r != 0) {
        /* Let the faulting thread go on (it would wait for ever). */
        h->err = errno;
        close(h->uffd);
        h->uffd = -1;
    }
    return NULL;
}

static int start(struct handler *h)
{
    return pthread_create(&h->thread, NULL, handle, h);
}

static void finish(struct handler *h)
{
    pthread_join(h->thread, NULL);
}

/* ---- cases --------------------------------------------------------------- */

TEST(create_flags)
{
    EXPECT_ERRNO(uffd_new(0x4), EINVAL);
    EXPECT_ERRNO(uffd_new(O_RDWR), EINVAL);
    int fd = OK(uffd_new(O_CLOEXEC | O_NONBLOCK));
    CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC not set");
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "O_NONBLOCK not set");
    close(fd);
    fd = OK(uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY));
    close(fd);
}

TEST(dev_userfaultfd)
{
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0 && errno == ENOENT)
        SKIP("no /dev/userfaultfd");
    CHECK(dev >= 0, "open /dev/userfaultfd: %s", strerror(errno));
    EXPECT_ERRNO(ioctl(dev, USERFAULTFD_IOC_NEW, 0x4), EINVAL);
    EXPECT_ERRNO(ioctl(dev, UFFDIO_API, 0), EINVAL);
    int fd = OK(ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC));
    close(dev);
    struct api a = {UFFD_API, 0, 0};
    OK(ioctl(fd, UFFDIO_API, &a));
    close(fd);
}

TEST(sysctl_and_privilege)
{
    char buf[16] = {0};
    int fd = OK(open("/proc/sys/vm/unprivileged_userfaultfd", O_RDWR));
    CHECK(read(fd, buf, sizeof buf - 1) > 0, "read the sysctl");
    int v = atoi(buf);
    CHECK(v == 0 || v == 1, "unprivileged_userfaultfd = %s", buf);
    EXPECT_ERRNO(pwrite(fd, "2\n", 2, 0), EINVAL);
    close(fd);
    if (v != 0)
        SKIP("vm.unprivileged_userfaultfd is 1 here");
    pid_t pid = OK(fork());
    if (pid == 0) {
        /* Drop CAP_SYS_PTRACE (19) from the effective set. */
        struct { uint32_t version; int pid; } hdr = {0x20080522, 0};
        struct { uint32_t eff, perm, inh; } data[2];
        if (syscall(SYS_capget, &hdr, data) != 0)
            _exit(10);
        data[0].eff &= ~(1u << 19);
        if (syscall(SYS_capset, &hdr, data) != 0)
            _exit(11);
        if (uffd_new(O_CLOEXEC) != -1 || errno != EPERM)
            _exit(12);
        if (uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY) < 0)
            _exit(13);
        _exit(0);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

TEST(api_handshake)
{
    int fd = OK(uffd_new(O_CLOEXEC | O_NONBLOCK));
    char *p = anon(1);
    CHECK(p, "mmap");
    struct msg m;
    /* Nothing works before UFFDIO_API. */
    EXPECT_ERRNO(do_register(fd, p, PG, MODE_MISSING), EINVAL);
    EXPECT_ERRNO(read(fd, &m, sizeof m), EINVAL);
    struct pollfd pfd = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 0), 1);
    CHECK(pfd.revents & POLLERR, "revents %#x before UFFDIO_API", pfd.revents);
    struct api a = {0x55, 0, 0};
    EXPECT_ERRNO(ioctl(fd, UFFDIO_API, &a), EINVAL);
    EXPECT_EQ(a.api, 0);
    a = (struct api){UFFD_API, 1ULL << 62, 0};
    EXPECT_ERRNO(ioctl(fd, UFFDIO_API, &a), EINVAL);
    EXPECT_EQ(a.features, 0);
    a = (struct api){UFFD_API, 0, 0};
    OK(ioctl(fd, UFFDIO_API, &a));
    EXPECT_EQ(a.api, UFFD_API);
    CHECK((a.ioctls & 3) == 3 && (a.ioctls >> 63), "ioctls %#llx",
          (unsigned long long)a.ioctls);
    a = (struct api){UFFD_API, 0, 0};
    EXPECT_ERRNO(ioctl(fd, UFFDIO_API, &a), EINVAL);
    /* Now a read of nothing would block. */
    EXPECT_ERRNO(read(fd, &m, sizeof m), EAGAIN);
    EXPECT_ERRNO(read(fd, &m, 16), EINVAL);
    EXPECT_EQ(poll(&pfd, 1, 0), 0);
    close(fd);
    /* A blocking userfaultfd: poll says POLLERR (a read may block anyway). */
    fd = OK(uffd_open(O_CLOEXEC, 0));
    pfd = (struct pollfd){fd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 0), 1);
    CHECK(pfd.revents == POLLERR, "revents %#x of a blocking one", pfd.revents);
    close(fd);
    munmap(p, PG);
}

TEST(register_errors)
{
    int fd = OK(uffd_open(O_CLOEXEC, 0));
    char *p = anon(4);
    CHECK(p, "mmap");
    EXPECT_ERRNO(do_register(fd, p, PG, 0), EINVAL);
    EXPECT_ERRNO(do_register(fd, p, PG, 8), EINVAL);
    EXPECT_ERRNO(do_register(fd, p + 1, PG, MODE_MISSING), EINVAL);
    EXPECT_ERRNO(do_register(fd, p, PG - 1, MODE_MISSING), EINVAL);
    EXPECT_ERRNO(do_register(fd, p, 0, MODE_MISSING), EINVAL);
    /* A hole: no mapping in the range at all. */
    OK(munmap(p + 2 * PG, 2 * PG));
    EXPECT_ERRNO(do_register(fd, p + 2 * PG, 2 * PG, MODE_MISSING), EINVAL);
    /* MINOR needs shared memory. */
    EXPECT_ERRNO(do_register(fd, p, PG, MODE_MINOR), EINVAL);
    /* A private file mapping. */
    const char *dir = kt_tmpdir();
    const char *path = kt_path(dir, "f");
    char page[4096] = {0};
    CHECK(kt_write_file(path, page, sizeof page) == 0, "write %s", path);
    int file = OK(open(path, O_RDONLY));
    char *f = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, file, 0);
    CHECK(f != MAP_FAILED, "mmap file");
    EXPECT_ERRNO(do_register(fd, f, PG, MODE_MISSING), EINVAL);
    munmap(f, PG);
    close(file);
    /* The ioctls a MISSING range takes. */
    struct reg r = {{(uintptr_t)p, 2 * PG}, MODE_MISSING, 0};
    OK(ioctl(fd, UFFDIO_REGISTER, &r));
    CHECK(r.ioctls & (1ULL << 3), "no COPY in %#llx", (unsigned long long)r.ioctls);
    CHECK(!(r.ioctls & (1ULL << 7)), "CONTINUE in %#llx", (unsigned long long)r.ioctls);
    /* Registering again with the same userfaultfd is fine; another is EBUSY. */
    OK(do_register(fd, p, PG, MODE_MISSING));
    int other = OK(uffd_open(O_CLOEXEC, 0));
    EXPECT_ERRNO(do_register(other, p, PG, MODE_MISSING), EBUSY);
    close(other);
    /* Unregistering: a hole is EINVAL; a range with a hole in it is fine;
     * afterwards faults are ordinary. */
    struct range hole = {(uintptr_t)p + 2 * PG, 2 * PG};
    EXPECT_ERRNO(ioctl(fd, UFFDIO_UNREGISTER, &hole), EINVAL);
    struct range all = {(uintptr_t)p, 4 * PG};
    OK(ioctl(fd, UFFDIO_UNREGISTER, &all));
    EXPECT_EQ(p[5], 0);
    close(fd);
    munmap(p, 2 * PG);
}

TEST(missing_copy)
{
    if (!has_features(FEAT_THREAD_ID))
        SKIP("no UFFD_FEATURE_THREAD_ID");
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC | O_NONBLOCK, FEAT_THREAD_ID));
    char *p = anon(2);
    h.src = anon(1);
    CHECK(p && h.src, "mmap");
    OK(do_register(h.uffd, p, 2 * PG, MODE_MISSING));
    int ep = OK(epoll_create1(EPOLL_CLOEXEC));
    struct epoll_event ev = {.events = EPOLLIN};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, h.uffd, &ev));
    EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
    h.op = OP_COPY;
    h.fill = 'X';
    CHECK(start(&h) == 0, "pthread_create");
    p[PG + 17] = 'y';   /* waits until the handler copies the page in */
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    EXPECT_EQ(h.msg.event, EVENT_PAGEFAULT);
    EXPECT_EQ(h.msg.address, (uintptr_t)p + PG);
    CHECK(h.msg.flags & FLAG_WRITE, "flags %#llx", (unsigned long long)h.msg.flags);
    EXPECT_EQ(h.msg.ptid, syscall(SYS_gettid));
    EXPECT_EQ(p[PG + 17], 'y');
    EXPECT_EQ(p[PG + 18], 'X');
    /* COPY's errors: a mapped page, outside the range, a bad mode. */
    struct copy c = {(uintptr_t)p + PG, (uintptr_t)h.src, PG, 0, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_COPY, &c), EEXIST);
    EXPECT_EQ(c.copy, -EEXIST);
    c = (struct copy){(uintptr_t)h.src, (uintptr_t)p, PG, 0, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_COPY, &c), ENOENT);
    c = (struct copy){(uintptr_t)p, (uintptr_t)h.src, PG, 1ULL << 5, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_COPY, &c), EINVAL);
    c = (struct copy){(uintptr_t)p + 1, (uintptr_t)h.src, PG, 0, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_COPY, &c), EINVAL);
    /* A COPY with nobody waiting fills the page all the same. */
    c = (struct copy){(uintptr_t)p, (uintptr_t)h.src, PG, 0, 0};
    OK(ioctl(h.uffd, UFFDIO_COPY, &c));
    EXPECT_EQ(c.copy, PG);
    EXPECT_EQ(p[0], 'X');
    close(ep);
    close(h.uffd);
    munmap(p, 2 * PG);
    munmap(h.src, PG);
}

TEST(missing_zeropage)
{
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC | O_NONBLOCK, 0));
    char *p = anon(1);
    CHECK(p, "mmap");
    OK(do_register(h.uffd, p, PG, MODE_MISSING));
    h.op = OP_ZERO;
    CHECK(start(&h) == 0, "pthread_create");
    char c = *(volatile char *)(p + 100);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    EXPECT_EQ(c, 0);
    CHECK(!(h.msg.flags & FLAG_WRITE), "a read fault with WRITE");
    struct fill z = {{(uintptr_t)p, PG}, 1ULL << 4, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_ZEROPAGE, &z), EINVAL);
    z.mode = 0;
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_ZEROPAGE, &z), EEXIST);
    close(h.uffd);
    munmap(p, PG);
}

TEST(missing_move)
{
    if (!has_features(FEAT_MOVE))
        SKIP("no UFFD_FEATURE_MOVE (Linux 6.8)");
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, FEAT_MOVE));
    char *p = anon(1);
    h.src = anon(1);
    CHECK(p && h.src, "mmap");
    OK(do_register(h.uffd, p, PG, MODE_MISSING));
    h.op = OP_MOVE;
    h.fill = 'M';
    CHECK(start(&h) == 0, "pthread_create");
    char c = *(volatile char *)(p + 1);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    EXPECT_EQ(c, 'M');
    /* The source is a hole now: ENOENT, or skipped with ALLOW_SRC_HOLES. */
    char *q = anon(1);
    CHECK(q, "mmap");
    OK(do_register(h.uffd, q, PG, MODE_MISSING));
    struct move m = {(uintptr_t)q, (uintptr_t)h.src, PG, 0, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_MOVE, &m), ENOENT);
    m.mode = 2;
    OK(ioctl(h.uffd, UFFDIO_MOVE, &m));
    EXPECT_EQ(m.move, PG);
    /* Onto a mapped page: EEXIST. */
    h.src[0] = 1;
    m = (struct move){(uintptr_t)p, (uintptr_t)h.src, PG, 0, 0};
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_MOVE, &m), EEXIST);
    close(h.uffd);
    munmap(p, PG);
    munmap(q, PG);
    munmap(h.src, PG);
}

TEST(write_protect)
{
    if (!has_features(FEAT_WP))
        SKIP("no UFFD_FEATURE_PAGEFAULT_FLAG_WP");
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, FEAT_WP));
    char *p = anon(2);
    CHECK(p, "mmap");
    memset(p, 0, 2 * PG);
    /* Not registered for WP yet: ENOENT. */
    struct wp w = {{(uintptr_t)p, PG}, 1};
    OK(do_register(h.uffd, p + PG, PG, MODE_MISSING));
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_WRITEPROTECT, &w), ENOENT);
    OK(do_register(h.uffd, p, PG, MODE_WP));
    w.mode = 3;
    EXPECT_ERRNO(ioctl(h.uffd, UFFDIO_WRITEPROTECT, &w), EINVAL);
    w.mode = 1;
    OK(ioctl(h.uffd, UFFDIO_WRITEPROTECT, &w));
    EXPECT_EQ(p[7], 0);  /* reads go on */
    h.op = OP_UNWP;
    CHECK(start(&h) == 0, "pthread_create");
    p[7] = 'W';
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    CHECK((h.msg.flags & (FLAG_WP | FLAG_WRITE)) == (FLAG_WP | FLAG_WRITE),
          "flags %#llx", (unsigned long long)h.msg.flags);
    EXPECT_EQ(h.seen_before, 0);
    EXPECT_EQ(p[7], 'W');
    close(h.uffd);
    munmap(p, 2 * PG);
}

static sigjmp_buf poison_jmp;
static volatile int bus_code;
static void *volatile bus_addr;
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    bus_code = si->si_code;
    bus_addr = si->si_addr;
    siglongjmp(poison_jmp, 1);
}

TEST(poison)
{
    if (!has_features(FEAT_POISON))
        SKIP("no UFFD_FEATURE_POISON (Linux 6.6)");
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, FEAT_POISON));
    char *p = anon(1);
    CHECK(p, "mmap");
    OK(do_register(h.uffd, p, PG, MODE_MISSING));
    h.op = OP_POISON;
    CHECK(start(&h) == 0, "pthread_create");
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old);
    volatile int got = 0;
    if (sigsetjmp(poison_jmp, 1) == 0)
        (void)*(volatile char *)p;
    else
        got = 1;
    sigaction(SIGBUS, &old, NULL);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    CHECK(got, "no SIGBUS from the poisoned page");
    /* BUS_MCEERR_AR where the kernel has CONFIG_MEMORY_FAILURE, else
     * BUS_ADRERR (Kestrel, as it refuses MADV_HWPOISON). */
    CHECK(bus_code == 4 || bus_code == BUS_ADRERR, "si_code %d", bus_code);
    CHECK(bus_addr == p, "si_addr %p, expected %p", bus_addr, (void *)p);
    close(h.uffd);
    munmap(p, PG);
}

TEST(minor_continue)
{
    if (!has_features(FEAT_MINOR_SHMEM))
        SKIP("no UFFD_FEATURE_MINOR_SHMEM");
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, FEAT_MINOR_SHMEM));
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap");
    p[3] = 'm';
    /* The page stays in the object; this mapping forgets it. */
    OK(madvise(p, PG, MADV_DONTNEED));
    struct reg r = {{(uintptr_t)p, PG}, MODE_MINOR, 0};
    OK(ioctl(h.uffd, UFFDIO_REGISTER, &r));
    CHECK(r.ioctls & (1ULL << 7), "no CONTINUE in %#llx", (unsigned long long)r.ioctls);
    h.op = OP_CONTINUE;
    CHECK(start(&h) == 0, "pthread_create");
    char c = *(volatile char *)(p + 3);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    CHECK(h.msg.flags & FLAG_MINOR, "flags %#llx", (unsigned long long)h.msg.flags);
    EXPECT_EQ(c, 'm');
    close(h.uffd);
    munmap(p, PG);
}

TEST(close_wakes)
{
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, 0));
    char *p = anon(1);
    CHECK(p, "mmap");
    OK(do_register(h.uffd, p, PG, MODE_MISSING));
    h.op = OP_CLOSE;
    CHECK(start(&h) == 0, "pthread_create");
    char c = *(volatile char *)(p + 9);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    EXPECT_EQ(c, 0);
    munmap(p, PG);
}

TEST(kernel_copy)
{
    struct handler h = {0};
    h.uffd = OK(uffd_open(O_CLOEXEC, 0));
    char *p = anon(1);
    h.src = anon(1);
    CHECK(p && h.src, "mmap");
    OK(do_register(h.uffd, p, PG, MODE_MISSING));
    int fds[2];
    OK(pipe(fds));
    OK(write(fds[1], "hello", 5));
    h.op = OP_COPY;
    h.fill = 'k';
    CHECK(start(&h) == 0, "pthread_create");
    /* read(2) copies into the registered page: it waits for the handler. */
    EXPECT_EQ(read(fds[0], p + 10, 5), 5);
    finish(&h);
    CHECK(h.err == 0, "handler: %s", strerror(h.err));
    CHECK(memcmp(p + 10, "hello", 5) == 0, "read data not there");
    EXPECT_EQ(p[0], 'k');
    close(h.uffd);
    /* With UFFD_USER_MODE_ONLY the kernel's copy fails at once. */
    int u = OK(uffd_open(O_CLOEXEC | UFFD_USER_MODE_ONLY, 0));
    char *q = anon(1);
    CHECK(q, "mmap");
    OK(do_register(u, q, PG, MODE_MISSING));
    OK(write(fds[1], "again", 5));
    EXPECT_ERRNO(read(fds[0], q, 5), EFAULT);
    close(u);
    close(fds[0]);
    close(fds[1]);
    munmap(p, PG);
    munmap(q, PG);
    munmap(h.src, PG);
}

TEST(sigkill_and_fork)
{
    pid_t pid = OK(fork());
    if (pid == 0) {
        int u = uffd_open(O_CLOEXEC, 0);
        char *p = anon(1);
        if (u < 0 || !p || do_register(u, p, PG, MODE_MISSING) != 0)
            _exit(2);
        /* A fork of this process does not inherit the registration. */
        pid_t c = fork();
        if (c == 0)
            _exit(p[0] == 0 ? 0 : 3);
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
            _exit(4);
        (void)*(volatile char *)p;  /* nobody answers */
        _exit(5);
    }
    usleep(200 * 1000);
    int st;
    EXPECT_EQ(waitpid(pid, &st, WNOHANG), 0);
    OK(kill(pid, SIGKILL));
    OK(waitpid(pid, &st, 0));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
}

static volatile int usr1_seen;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen++;
}

struct later { pthread_t target; int uffd; char *page; char *src; int err; };

/* Signals the faulting thread, waits until its handler ran, then resolves. */
static void *signal_then_copy(void *arg)
{
    struct later *l = arg;
    struct msg m;
    if (read(l->uffd, &m, sizeof m) != sizeof m) {
        l->err = errno;
        close(l->uffd);
        return NULL;
    }
    pthread_kill(l->target, SIGUSR1);
    for (int i = 0; i < 500 && !usr1_seen; i++)
        usleep(1000);
    memset(l->src, 's', PG);
    struct copy c = {(uintptr_t)l->page, (uintptr_t)l->src, PG, 0, 0};
    if (ioctl(l->uffd, UFFDIO_COPY, &c) != 0)
        l->err = errno;
    return NULL;
}

TEST(signal_during_wait)
{
    struct later l = {0};
    l.uffd = OK(uffd_open(O_CLOEXEC, 0));
    l.page = anon(1);
    l.src = anon(1);
    CHECK(l.page && l.src, "mmap");
    OK(do_register(l.uffd, l.page, PG, MODE_MISSING));
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, &old);
    usr1_seen = 0;
    l.target = pthread_self();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, signal_then_copy, &l) == 0, "pthread_create");
    /* The handler runs while the fault waits; the access then completes. */
    char c = *(volatile char *)(l.page + 5);
    pthread_join(t, NULL);
    sigaction(SIGUSR1, &old, NULL);
    CHECK(l.err == 0, "handler: %s", strerror(l.err));
    EXPECT_EQ(usr1_seen, 1);
    EXPECT_EQ(c, 's');
    close(l.uffd);
    munmap(l.page, PG);
    munmap(l.src, PG);
}

TEST(feature_sigbus_and_killed_copy)
{
    if (!has_features(1ULL << 7))
        SKIP("no UFFD_FEATURE_SIGBUS");
    pid_t pid = OK(fork());
    if (pid == 0) {
        int u = uffd_open(O_CLOEXEC, 1ULL << 7);
        char *p = anon(1);
        if (u < 0 || !p || do_register(u, p, PG, MODE_MISSING) != 0)
            _exit(2);
        (void)*(volatile char *)p;
        _exit(3);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status %#x", st);
    /* A system call waiting in its copy for a handler dies of SIGKILL too. */
    pid = OK(fork());
    if (pid == 0) {
        int u = uffd_open(O_CLOEXEC, 0);
        char *p = anon(1);
        int fds[2];
        if (u < 0 || !p || do_register(u, p, PG, MODE_MISSING) != 0 || pipe(fds))
            _exit(2);
        if (write(fds[1], "x", 1) != 1)
            _exit(3);
        (void)!read(fds[0], p, 1);
        _exit(4);
    }
    usleep(200 * 1000);
    EXPECT_EQ(waitpid(pid, &st, WNOHANG), 0);
    OK(kill(pid, SIGKILL));
    OK(waitpid(pid, &st, 0));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
}

#define FEAT_EVENT_FORK (1ULL << 1)
#define FEAT_EVENT_REMAP (1ULL << 2)
#define FEAT_EVENT_REMOVE (1ULL << 3)
#define FEAT_EVENT_UNMAP (1ULL << 6)

struct evop { int what; char *a; char *b; size_t len; void *ret; pid_t child; };

/* Runs the operation that sends an event (it waits until the event is read). */
static void *event_op(void *arg)
{
    struct evop *o = arg;
    switch (o->what) {
    case 0:
        o->ret = (void *)(long)madvise(o->a, o->len, MADV_DONTNEED);
        break;
    case 1:
        o->ret = mremap(o->a, o->len, o->len, MREMAP_MAYMOVE | MREMAP_FIXED, o->b);
        break;
    case 2:
        o->ret = (void *)(long)munmap(o->a, o->len);
        break;
    case 4:
        o->ret = mmap(o->a, o->len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        break;
    case 3:
        o->child = fork();
        if (o->child == 0) {
            /* The child's page faults to its own userfaultfd. */
            _exit(*(volatile char *)o->a == 'F' ? 0 : 1);
        }
        break;
    }
    return NULL;
}

/* Starts `o` in a thread and reads the one message it sends into `m`. */
static int event_of(int uffd, struct evop *o, struct msg *m, pthread_t *t)
{
    if (pthread_create(t, NULL, event_op, o) != 0)
        return -1;
    struct pollfd pfd = {uffd, POLLIN, 0};
    if (poll(&pfd, 1, 5000) != 1)
        return -1;
    return read(uffd, m, sizeof *m) == sizeof *m ? 0 : -1;
}

TEST(events)
{
    uint64_t want = FEAT_EVENT_REMAP | FEAT_EVENT_REMOVE | FEAT_EVENT_UNMAP;
    if (!has_features(want))
        SKIP("no userfaultfd events");
    int u = OK(uffd_open(O_CLOEXEC | O_NONBLOCK, want));
    char *p = anon(4);
    CHECK(p, "mmap");
    memset(p, 1, 4 * PG);
    OK(do_register(u, p, 3 * PG, MODE_MISSING));
    struct msg m;
    pthread_t t;
    uint64_t *w = (uint64_t *)&m + 1;

    /* A length that wraps fails before any event. */
    CHECK(madvise(p, (size_t)-PG, MADV_DONTNEED) == -1, "madvise of a huge length");
    struct evop o = {0, p, NULL, PG, NULL, 0};
    CHECK(event_of(u, &o, &m, &t) == 0, "REMOVE: %s", strerror(errno));
    pthread_join(t, NULL);
    EXPECT_EQ(m.event, 0x15);
    EXPECT_EQ(w[0], (uintptr_t)p);
    EXPECT_EQ(w[1], (uintptr_t)p + PG);
    EXPECT_EQ((long)o.ret, 0);

    /* Moved with EVENT_REMAP, the area stays registered at its new place. */
    o = (struct evop){1, p + PG, p + 3 * PG, PG, NULL, 0};
    CHECK(event_of(u, &o, &m, &t) == 0, "REMAP: %s", strerror(errno));
    EXPECT_EQ(m.event, 0x14);
    EXPECT_EQ(w[0], (uintptr_t)p + PG);
    EXPECT_EQ(w[1], (uintptr_t)p + 3 * PG);
    EXPECT_EQ(w[2], PG);
    /* The old range's unmapping follows (UNMAP is enabled too). */
    struct pollfd pfd = {u, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 5000), 1);
    EXPECT_EQ(read(u, &m, sizeof m), sizeof m);
    pthread_join(t, NULL);
    EXPECT_EQ(m.event, 0x16);
    EXPECT_EQ(w[0], (uintptr_t)p + PG);
    EXPECT_EQ(w[1], (uintptr_t)p + 2 * PG);
    CHECK(o.ret == p + 3 * PG, "mremap gave %p", o.ret);
    struct fill z = {{(uintptr_t)p + PG, PG}, 0, 0};
    EXPECT_ERRNO(ioctl(u, UFFDIO_ZEROPAGE, &z), ENOENT);  /* a hole now */
    int other = OK(uffd_open(O_CLOEXEC, 0));
    EXPECT_ERRNO(do_register(other, p + 3 * PG, PG, MODE_MISSING), EBUSY);
    close(other);

    o = (struct evop){2, p + 2 * PG, NULL, PG, NULL, 0};
    CHECK(event_of(u, &o, &m, &t) == 0, "UNMAP: %s", strerror(errno));
    pthread_join(t, NULL);
    EXPECT_EQ(m.event, 0x16);
    EXPECT_EQ(w[0], (uintptr_t)p + 2 * PG);
    EXPECT_EQ(w[1], (uintptr_t)p + 3 * PG);
    EXPECT_EQ((long)o.ret, 0);

    /* mmap MAP_FIXED over a registered range unmaps it too. */
    o = (struct evop){4, p + 3 * PG, NULL, PG, NULL, 0};
    CHECK(event_of(u, &o, &m, &t) == 0, "MAP_FIXED: %s", strerror(errno));
    pthread_join(t, NULL);
    EXPECT_EQ(m.event, 0x16);
    EXPECT_EQ(w[0], (uintptr_t)p + 3 * PG);
    EXPECT_EQ(w[1], (uintptr_t)p + 4 * PG);
    CHECK(o.ret == p + 3 * PG, "mmap gave %p", o.ret);
    close(u);
    munmap(p, 4 * PG);
}

TEST(event_fork)
{
    if (!has_features(FEAT_EVENT_FORK))
        SKIP("no UFFD_FEATURE_EVENT_FORK");
    int u = OK(uffd_open(O_CLOEXEC | O_NONBLOCK, FEAT_EVENT_FORK));
    char *p = anon(1);
    char *src = anon(1);
    CHECK(p && src, "mmap");
    OK(do_register(u, p, PG, MODE_MISSING));
    struct msg m;
    pthread_t t;
    struct evop o = {3, p, NULL, PG, NULL, 0};
    CHECK(event_of(u, &o, &m, &t) == 0, "FORK: %s", strerror(errno));
    pthread_join(t, NULL);
    CHECK(o.child > 0, "fork failed");
    EXPECT_EQ(m.event, 0x13);
    int cu = (int)*(uint32_t *)((char *)&m + 8);
    CHECK(fcntl(cu, F_GETFD) == FD_CLOEXEC, "the child's userfaultfd: %s", strerror(errno));
    /* The child faults on its copy of the area: its userfaultfd hears it. */
    struct pollfd pfd = {cu, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 5000), 1);
    EXPECT_EQ(read(cu, &m, sizeof m), sizeof m);
    EXPECT_EQ(m.event, EVENT_PAGEFAULT);
    EXPECT_EQ(m.address, (uintptr_t)p);
    memset(src, 'F', PG);
    struct copy c = {(uintptr_t)p, (uintptr_t)src, PG, 0, 0};
    OK(ioctl(cu, UFFDIO_COPY, &c));
    int st;
    OK(waitpid(o.child, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    close(cu);
    close(u);
    munmap(p, PG);
    munmap(src, PG);
}

#define MANY_PAGES 64
#define MANY_THREADS 4

struct many { int uffd; char *p; char *src; int copies; int eexist; int err; };

static void *many_toucher(void *arg)
{
    char **a = arg;
    char *p = a[0];
    long k = (long)a[1];
    /* Each thread walks every page from its own start: pages are shared. */
    for (int i = 0; i < MANY_PAGES; i++) {
        int page = (i * 7 + (int)k * 16) % MANY_PAGES;
        if (p[page * PG + 1] != (char)(page + 1))
            return (void *)1;
    }
    return NULL;
}

static void *many_handler(void *arg)
{
    struct many *m = arg;
    struct msg msgs[8];
    while (m->copies < MANY_PAGES) {
        ssize_t n = read(m->uffd, msgs, sizeof msgs);
        if (n <= 0 || n % sizeof msgs[0]) {
            m->err = n < 0 ? errno : EIO;
            return NULL;
        }
        for (size_t i = 0; i < n / sizeof msgs[0]; i++) {
            uint64_t page = msgs[i].address & ~(uint64_t)(PG - 1);
            int idx = (int)((page - (uintptr_t)m->p) / PG);
            memset(m->src, idx + 1, PG);
            struct copy c = {page, (uintptr_t)m->src, PG, 0, 0};
            if (ioctl(m->uffd, UFFDIO_COPY, &c) == 0)
                m->copies++;
            else if (errno == EEXIST)
                m->eexist++;  /* two threads faulted on one page */
            else {
                m->err = errno;
                return NULL;
            }
        }
    }
    return NULL;
}

TEST(many_faults)
{
    struct many m = {0};
    m.uffd = OK(uffd_open(O_CLOEXEC, 0));
    m.p = anon(MANY_PAGES);
    m.src = anon(1);
    CHECK(m.p && m.src, "mmap");
    OK(do_register(m.uffd, m.p, MANY_PAGES * PG, MODE_MISSING));
    pthread_t h, t[MANY_THREADS];
    char *args[MANY_THREADS][2];
    CHECK(pthread_create(&h, NULL, many_handler, &m) == 0, "pthread_create");
    for (long k = 0; k < MANY_THREADS; k++) {
        args[k][0] = m.p;
        args[k][1] = (char *)k;
        CHECK(pthread_create(&t[k], NULL, many_toucher, args[k]) == 0, "pthread_create");
    }
    int bad = 0;
    for (int k = 0; k < MANY_THREADS; k++) {
        void *r;
        pthread_join(t[k], &r);
        bad += r != NULL;
    }
    pthread_join(h, NULL);
    CHECK(m.err == 0, "handler: %s", strerror(m.err));
    EXPECT_EQ(m.copies, MANY_PAGES);
    EXPECT_EQ(bad, 0);
    close(m.uffd);
    munmap(m.p, MANY_PAGES * PG);
    munmap(m.src, PG);
}

struct waker { char *p; volatile int done; };

static void *touch_page(void *arg)
{
    struct waker *w = arg;
    (void)*(volatile char *)w->p;
    w->done = 1;
    return NULL;
}

TEST(dontwake_then_wake)
{
    int u = OK(uffd_open(O_CLOEXEC | O_NONBLOCK, 0));
    struct waker w = {anon(1), 0};
    char *src = anon(1);
    CHECK(w.p && src, "mmap");
    OK(do_register(u, w.p, PG, MODE_MISSING));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, touch_page, &w) == 0, "pthread_create");
    struct pollfd pfd = {u, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 5000), 1);
    struct msg m;
    EXPECT_EQ(read(u, &m, sizeof m), sizeof m);
    memset(src, 'd', PG);
    struct copy c = {(uintptr_t)w.p, (uintptr_t)src, PG, 1 /* DONTWAKE */, 0};
    OK(ioctl(u, UFFDIO_COPY, &c));
    usleep(100 * 1000);
    int still = !w.done;
    /* WAKE checks its range as the others do. */
    struct range bad = {(uintptr_t)w.p + 1, PG};
    EXPECT_ERRNO(ioctl(u, UFFDIO_WAKE, &bad), EINVAL);
    struct range r = {(uintptr_t)w.p, PG};
    OK(ioctl(u, UFFDIO_WAKE, &r));
    pthread_join(t, NULL);
    CHECK(still, "the thread went on before UFFDIO_WAKE");
    EXPECT_EQ(w.p[0], 'd');
    close(u);
    munmap(w.p, PG);
    munmap(src, PG);
}

int main(void)
{
    PG = sysconf(_SC_PAGESIZE);
    KT_BEGIN();
    RUN(create_flags);
    RUN(dev_userfaultfd);
    RUN(sysctl_and_privilege);
    RUN(api_handshake);
    RUN(register_errors);
    RUN(missing_copy);
    RUN(missing_zeropage);
    RUN(missing_move);
    RUN(write_protect);
    RUN(poison);
    RUN(minor_continue);
    RUN(close_wakes);
    RUN(kernel_copy);
    RUN(sigkill_and_fork);
    RUN(signal_during_wait);
    RUN(feature_sigbus_and_killed_copy);
    RUN(events);
    RUN(event_fork);
    RUN(many_faults);
    RUN(dontwake_then_wake);
    return KT_END();
}

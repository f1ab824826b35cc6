/* fsx: a file-system exerciser. One file, a seeded pseudo-random sequence of
 * operations on it (write, read, truncate, fallocate, MAP_SHARED stores and
 * loads, MAP_PRIVATE loads, fsync, close and reopen), and an in-memory model of
 * what the file must hold. Every read is compared with the model, and so is the
 * file's size after every operation; the first difference prints the last
 * operations and the first differing offset, and the program exits 1.
 *
 *   fsx [-n OPS] [-s SEED] [-m MAXSIZE] [-o MAXOPLEN] [-v] FILE
 *
 * A MAP_SHARED mapping of the whole range stays in place across the other
 * operations (pmapwrite, pmapread; -P leaves it out).
 *
 * SEED 0 (the default) picks one from the clock and prints it; the same seed,
 * op count and sizes replay the same operations. Written for Kestrel's suite,
 * in the spirit of the Linux Test Project's fsx-linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

enum op {
    OP_WRITE,
    OP_READ,
    OP_TRUNCATE,
    OP_FALLOC,
    OP_FALLOC_KEEP,
    OP_PUNCH,
    OP_MAPWRITE,
    OP_MAPREAD,
    OP_PRIVREAD,
    OP_PRIVWRITE,
    OP_FSYNC,
    OP_REOPEN,
    OP_CHECKALL,
    OP_PMAPWRITE,
    OP_PMAPREAD,
    OP_REMAP,
    OP_COUNT,
};

static const char *op_names[OP_COUNT] = {
    "write", "read", "truncate", "fallocate", "falloc_keep", "punch_hole", "mapwrite",
    "mapread", "privread", "privwrite", "fsync", "reopen", "checkall", "pmapwrite",
    "pmapread", "remap",
};

/* How often each operation is picked (out of the sum). */
static const int op_weight[OP_COUNT] = {
    [OP_WRITE] = 20, [OP_READ] = 14, [OP_TRUNCATE] = 6, [OP_FALLOC] = 3,
    [OP_FALLOC_KEEP] = 3, [OP_PUNCH] = 5, [OP_MAPWRITE] = 12, [OP_MAPREAD] = 8,
    [OP_PRIVREAD] = 4, [OP_PRIVWRITE] = 2, [OP_FSYNC] = 3, [OP_REOPEN] = 3,
    [OP_CHECKALL] = 2, [OP_PMAPWRITE] = 8, [OP_PMAPREAD] = 6, [OP_REMAP] = 1,
};

struct logent {
    unsigned long n;
    int op;
    long off, len, size_before, extra;
};

#define LOGN 24
static struct logent oplog[LOGN];
static unsigned long opno;

static const char *path;
static int fd = -1;
static uint64_t rng;
static unsigned long long seed;
static long maxsize = 1 << 20, maxoplen = 64 << 10, pagesz;
static long size; /* what the model says the file's size is */
static unsigned char *good, *buf;
static int verbose;
static int falloc_ok = 1, keep_ok = 1, punch_ok = 1; /* 0 after ENOSYS */
static unsigned long counts[OP_COUNT], skipped[OP_COUNT];
/* A MAP_SHARED mapping of [0, maxsize) that stays while the other operations
 * (write, truncate, punch, reopen) change the file under it; only the part
 * below the end of file is touched. */
static unsigned char *pmap;
static int use_pmap = 1;

static uint64_t next(void)
{
    /* splitmix64: small, seedable, and the same on every libc */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static long below(long n)
{
    return n <= 0 ? 0 : (long)(next() % (uint64_t)n);
}

static void dumplog(void)
{
    fprintf(stderr, "fsx: seed %llu, last operations (op#: what off len, size before):\n",
            seed);
    unsigned long first = opno >= LOGN ? opno - LOGN + 1 : 1;
    for (unsigned long n = first; n <= opno; n++) {
        struct logent *e = &oplog[n % LOGN];
        if (e->n != n)
            continue;
        fprintf(stderr, "  %6lu: %-11s off %#8lx len %#7lx size %#8lx", e->n, op_names[e->op],
                e->off, e->len, e->size_before);
        if (e->op == OP_TRUNCATE)
            fprintf(stderr, " -> %#lx", e->extra);
        if ((e->op == OP_MAPWRITE || e->op == OP_PMAPWRITE) && e->extra)
            fprintf(stderr, " msync");
        fprintf(stderr, "\n");
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fsx: FAILED at op %lu: ", opno);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    dumplog();
    fprintf(stderr, "fsx: replay with: fsx -n %lu -s %llu -m %ld -o %ld%s FILE\n", opno, seed,
            maxsize, maxoplen, use_pmap ? "" : " -P");
    exit(1);
}

static void syserr(const char *what)
{
    fail("%s: %s (errno %d)", what, strerror(errno), errno);
}

/* A SIGBUS or SIGSEGV (a mapping's page the kernel could not give) is a
 * failure like any other: the log says which operation met it. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    unsigned char *a = si->si_addr;
    long at = pmap && a >= pmap && a < pmap + maxsize ? a - pmap : -1;
    fail("signal %d (%s) at address %p (offset %#lx of the kept mapping, -1: not in it)", sig,
         sig == SIGBUS ? "SIGBUS" : "SIGSEGV", si->si_addr, at);
}

/* Compares `n` bytes the file gave at `off` with the model. */
static void compare(const unsigned char *got, long off, long n, const char *how)
{
    for (long i = 0; i < n; i++) {
        if (got[i] != good[off + i]) {
            long j = i;
            while (j < n && got[j] != good[off + j])
                j++;
            fprintf(stderr, "fsx: %s at %#lx: expected %02x, got %02x; %ld bytes differ from"
                    " there (to %#lx)\n", how, off + i, good[off + i], got[i], j - i, off + j);
            fprintf(stderr, "fsx: expected:");
            for (long k = i; k < n && k < i + 16; k++)
                fprintf(stderr, " %02x", good[off + k]);
            fprintf(stderr, "\nfsx: got:     ");
            for (long k = i; k < n && k < i + 16; k++)
                fprintf(stderr, " %02x", got[k]);
            fprintf(stderr, "\n");
            fail("%s mismatch, first differing offset %#lx (%ld)", how, off + i, off + i);
        }
    }
}

static void reopen(void)
{
    if (fd >= 0 && close(fd) != 0)
        syserr("close");
    fd = open(path, O_RDWR);
    if (fd < 0)
        syserr("open");
}

/* An offset and length for an operation: often near the end of the file or on
 * page and block boundaries, where file systems keep their corner cases. */
static void pick(long *offp, long *lenp, long limit)
{
    long off, len;
    switch (below(6)) {
    case 0: /* around the end of file */
        off = size - below(2 * pagesz) + below(2 * pagesz);
        break;
    case 1: /* a page or block boundary, give or take a little */
        off = below(maxsize / 1024 + 1) * 1024 + below(3) - 1;
        break;
    default:
        off = below(maxsize);
    }
    switch (below(4)) {
    case 0:
        len = 1 + below(64);
        break;
    case 1:
        len = pagesz * (1 + below(4));
        break;
    default:
        len = 1 + below(maxoplen);
    }
    if (off < 0)
        off = 0;
    if (off >= limit)
        off = limit ? below(limit) : 0;
    if (off + len > limit)
        len = limit - off;
    *offp = off;
    *lenp = len;
    oplog[opno % LOGN].off = off;
    oplog[opno % LOGN].len = len;
}

static void fill(long off, long len)
{
    /* bytes that name the operation that wrote them and their offset */
    for (long i = 0; i < len; i++)
        buf[i] = (unsigned char)((opno * 131) ^ ((off + i) * 7) ^ ((off + i) >> 8));
}

static void set_size(long n)
{
    if (n < size)
        memset(good + n, 0, (size_t)(size - n));
    size = n;
}

static void *map(int prot, int flags, long off, long len, long *pgoff, size_t *maplen)
{
    *pgoff = off & ~(pagesz - 1);
    *maplen = (size_t)(off - *pgoff + len);
    void *p = mmap(NULL, *maplen, prot, flags, fd, *pgoff);
    if (p == MAP_FAILED)
        syserr("mmap");
    return p;
}

/* The part of the last page past the end of file reads as zeros in a mapping
 * (as long as nothing stored there, which fsx never does). */
static void check_eof_page(void)
{
    if (size == 0 || (size & (pagesz - 1)) == 0)
        return;
    long pg = size & ~(pagesz - 1);
    unsigned char *p = mmap(NULL, (size_t)pagesz, PROT_READ, MAP_SHARED, fd, pg);
    if (p == MAP_FAILED)
        syserr("mmap of the last page");
    for (long i = size - pg; i < pagesz; i++)
        if (p[i] != 0)
            fail("mapped last page: byte at %#lx past the end of file (%#lx) is %02x, not 0",
                 pg + i, size, p[i]);
    munmap(p, (size_t)pagesz);
}

static void doop(int op)
{
    long off = 0, len = 0;
    struct logent *e = &oplog[opno % LOGN];
    e->n = opno;
    e->op = op;
    e->size_before = size;
    e->extra = 0;
    e->off = e->len = 0;
    switch (op) {
    case OP_WRITE:
        pick(&off, &len, maxsize);
        if (len <= 0)
            break;
        fill(off, len);
        if (pwrite(fd, buf, (size_t)len, off) != len)
            syserr("pwrite");
        memcpy(good + off, buf, (size_t)len);
        if (off + len > size)
            size = off + len;
        break;
    case OP_READ:
        if (size == 0)
            break;
        pick(&off, &len, size);
        if (len <= 0)
            break;
        memset(buf, 0xa5, (size_t)len);
        if (pread(fd, buf, (size_t)len, off) != len)
            syserr("pread (or short)");
        compare(buf, off, len, "read");
        break;
    case OP_TRUNCATE: {
        long n = below(4) == 0 ? size + below(pagesz) - pagesz / 2 : below(maxsize + 1);
        if (n < 0)
            n = 0;
        if (n > maxsize)
            n = maxsize;
        e->extra = n;
        if (ftruncate(fd, n) != 0)
            syserr("ftruncate");
        set_size(n);
        break;
    }
    case OP_FALLOC:
    case OP_FALLOC_KEEP:
    case OP_PUNCH: {
        int *ok = op == OP_FALLOC ? &falloc_ok : op == OP_FALLOC_KEEP ? &keep_ok : &punch_ok;
        int mode = op == OP_FALLOC ? 0 : op == OP_FALLOC_KEEP ? FALLOC_FL_KEEP_SIZE
                                                               : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        if (!*ok) {
            skipped[op]++;
            return;
        }
        pick(&off, &len, op != OP_FALLOC && below(2) ? size : maxsize);
        if (len <= 0)
            break;
        if (fallocate(fd, mode, off, len) != 0) {
            if (errno == ENOSYS) {
                *ok = 0;
                skipped[op]++;
                return;
            }
            if (errno == EOPNOTSUPP) {
                /* Not on this file system, or (Kestrel's ext2, which cannot hold
                 * blocks past the end) not for this range: the file must be as it was. */
                skipped[op]++;
                break;
            }
            syserr(op_names[op]);
        }
        if (op == OP_PUNCH) {
            long end = off + len < size ? off + len : size;
            if (end > off)
                memset(good + off, 0, (size_t)(end - off));
        } else if (op == OP_FALLOC && off + len > size) {
            size = off + len;
        }
        break;
    }
    case OP_MAPWRITE: {
        pick(&off, &len, maxsize);
        if (len <= 0)
            break;
        if (off + len > size) {
            /* stores past the end of file are lost (or SIGBUS): grow it first */
            if (ftruncate(fd, off + len) != 0)
                syserr("ftruncate before mapwrite");
            size = off + len;
        }
        long pgoff;
        size_t ml;
        unsigned char *p = map(PROT_READ | PROT_WRITE, MAP_SHARED, off, len, &pgoff, &ml);
        fill(off, len);
        memcpy(p + (off - pgoff), buf, (size_t)len);
        memcpy(good + off, buf, (size_t)len);
        if (below(2)) {
            e->extra = 1;
            if (msync(p, ml, MS_SYNC) != 0)
                syserr("msync");
        }
        if (munmap(p, ml) != 0)
            syserr("munmap");
        break;
    }
    case OP_MAPREAD:
    case OP_PRIVREAD:
    case OP_PRIVWRITE: {
        if (size == 0)
            break;
        pick(&off, &len, size);
        if (len <= 0)
            break;
        long pgoff;
        size_t ml;
        int flags = op == OP_MAPREAD ? MAP_SHARED : MAP_PRIVATE;
        int prot = op == OP_PRIVWRITE ? PROT_READ | PROT_WRITE : PROT_READ;
        unsigned char *p = map(prot, flags, off, len, &pgoff, &ml);
        compare(p + (off - pgoff), off, len, op_names[op]);
        if (op == OP_PRIVWRITE) {
            /* a private copy: the file must not see this */
            memset(p + (off - pgoff), 0x5a, (size_t)len);
            if (pread(fd, buf, (size_t)len, off) != len)
                syserr("pread after privwrite");
            compare(buf, off, len, "read after a MAP_PRIVATE store");
        }
        if (munmap(p, ml) != 0)
            syserr("munmap");
        if (op == OP_MAPREAD)
            check_eof_page();
        break;
    }
    case OP_FSYNC:
        if ((below(2) ? fsync(fd) : fdatasync(fd)) != 0)
            syserr("fsync");
        break;
    case OP_REOPEN:
        reopen();
        break;
    case OP_PMAPWRITE:
        if (!pmap) {
            skipped[op]++;
            return;
        }
        pick(&off, &len, maxsize);
        if (len <= 0)
            break;
        if (off + len > size) {
            if (ftruncate(fd, off + len) != 0)
                syserr("ftruncate before pmapwrite");
            size = off + len;
        }
        fill(off, len);
        memcpy(pmap + off, buf, (size_t)len);
        memcpy(good + off, buf, (size_t)len);
        if (below(4) == 0) {
            long pg = off & ~(pagesz - 1);
            e->extra = 1;
            if (msync(pmap + pg, (size_t)(off + len - pg), MS_SYNC) != 0)
                syserr("msync");
        }
        break;
    case OP_PMAPREAD:
        if (!pmap) {
            skipped[op]++;
            return;
        }
        if (size == 0)
            break;
        pick(&off, &len, size);
        if (len <= 0)
            break;
        compare(pmap + off, off, len, "pmapread");
        break;
    case OP_REMAP:
        if (!pmap) {
            skipped[op]++;
            return;
        }
        if (munmap(pmap, (size_t)maxsize) != 0)
            syserr("munmap");
        pmap = mmap(NULL, (size_t)maxsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (pmap == MAP_FAILED)
            syserr("mmap of the whole file");
        break;
    case OP_CHECKALL:
        if (size == 0)
            break;
        len = e->len = size;
        if (pread(fd, buf, (size_t)len, 0) != len)
            syserr("pread of the whole file (or short)");
        compare(buf, 0, len, "whole-file read");
        break;
    }
    counts[op]++;
    if (verbose)
        printf("%lu %s %#lx %#lx size %#lx\n", opno, op_names[op], off, len, size);
    struct stat st;
    if (fstat(fd, &st) != 0)
        syserr("fstat");
    if (st.st_size != size)
        fail("after %s the size is %#lx, expected %#lx", op_names[op], (long)st.st_size, size);
}

int main(int argc, char **argv)
{
    unsigned long nops = 10000;
    int c;
    while ((c = getopt(argc, argv, "n:s:m:o:vP")) != -1) {
        switch (c) {
        case 'n':
            nops = strtoul(optarg, NULL, 0);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'm':
            maxsize = strtol(optarg, NULL, 0);
            break;
        case 'o':
            maxoplen = strtol(optarg, NULL, 0);
            break;
        case 'v':
            verbose = 1;
            break;
        case 'P':
            use_pmap = 0;
            break;
        default:
            goto usage;
        }
    }
    if (optind + 1 != argc || maxsize <= 0 || maxsize > (64L << 20) || maxoplen <= 0) {
    usage:
        fprintf(stderr, "usage: fsx [-n OPS] [-s SEED] [-m MAXSIZE<=64M] [-o MAXOPLEN] [-P] [-v] FILE\n");
        return 2;
    }
    path = argv[optind];
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    pagesz = sysconf(_SC_PAGESIZE);
    if (maxoplen > maxsize)
        maxoplen = maxsize;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((unsigned long long)ts.tv_sec * 1000003ULL) ^ (unsigned long long)ts.tv_nsec ^
               ((unsigned long long)getpid() << 16);
        if (seed == 0)
            seed = 1;
    }
    rng = seed;
    good = calloc(1, (size_t)maxsize);
    buf = malloc((size_t)maxsize);
    if (!good || !buf) {
        fprintf(stderr, "fsx: out of memory\n");
        return 1;
    }
    printf("fsx: seed %llu, %lu ops, max size %ld, max op length %ld, file %s\n", seed, nops,
           maxsize, maxoplen, path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        syserr("open");
    if (use_pmap) {
        pmap = mmap(NULL, (size_t)maxsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (pmap == MAP_FAILED)
            syserr("mmap of the whole file");
    }

    int total = 0;
    for (int i = 0; i < OP_COUNT; i++)
        total += op_weight[i];
    for (opno = 1; opno <= nops; opno++) {
        int r = (int)below(total), op = 0;
        while (r >= op_weight[op])
            r -= op_weight[op++];
        doop(op);
    }
    opno = nops;
    if (pmap) {
        if (size > 0)
            compare(pmap, 0, size, "final pmapread");
        if (munmap(pmap, (size_t)maxsize) != 0)
            syserr("munmap");
    }
    /* last, the whole file through a fresh descriptor */
    reopen();
    if (size > 0) {
        if (pread(fd, buf, (size_t)size, 0) != size)
            syserr("final pread");
        compare(buf, 0, size, "final read");
    }
    if (close(fd) != 0)
        syserr("close");
    printf("fsx: passed, seed %llu, %lu ops, final size %ld;", seed, nops, size);
    for (int i = 0; i < OP_COUNT; i++) {
        printf(" %s %lu", op_names[i], counts[i]);
        if (skipped[i])
            printf(" (%lu %s)", skipped[i], i >= OP_PMAPWRITE ? "skipped: -P" : "EOPNOTSUPP or ENOSYS");
    }
    printf("\n");
    return 0;
}

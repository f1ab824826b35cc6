/* fsstress: several processes doing random namespace and content operations in
 * one directory tree at once (create, mkdir, unlink, rmdir, rename, link,
 * symlink, write, read, truncate, readdir, stat, chmod, fsync, stores through a
 * MAP_SHARED mapping). Names come from
 * a small set, so the processes race on the same files and directories: errors
 * such races give (ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL for a
 * directory renamed into itself, EPERM for a hard link to a directory, ELOOP,
 * SIGBUS for a store into a mapped page another process truncated away) are
 * expected and counted; any other error (EIO, EUCLEAN, ENOSPC...) or a
 * process killed by a signal is a failure.
 *
 *   fsstress [-p PROCS] [-n OPS] [-s SEED] [-c] [-v] DIR
 *
 * Process i uses seed SEED + i; SEED 0 (the default) picks one from the clock
 * and prints it. -c removes the tree at the end (more unlink and rmdir).
 * Written for Kestrel's suite, in the spirit of the Linux Test Project's
 * fsstress. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum op {
    OP_CREAT,
    OP_MKDIR,
    OP_UNLINK,
    OP_RMDIR,
    OP_RENAME,
    OP_LINK,
    OP_SYMLINK,
    OP_WRITE,
    OP_READ,
    OP_TRUNCATE,
    OP_READDIR,
    OP_STAT,
    OP_CHMOD,
    OP_FSYNC,
    OP_MMAP,
    OP_COUNT,
};

static const char *op_names[OP_COUNT] = {
    "creat", "mkdir", "unlink", "rmdir", "rename", "link", "symlink",
    "write", "read", "truncate", "readdir", "stat", "chmod", "fsync", "mmap",
};

static const int op_weight[OP_COUNT] = {
    [OP_CREAT] = 10, [OP_MKDIR] = 6, [OP_UNLINK] = 8, [OP_RMDIR] = 4, [OP_RENAME] = 8,
    [OP_LINK] = 4, [OP_SYMLINK] = 4, [OP_WRITE] = 12, [OP_READ] = 6, [OP_TRUNCATE] = 5,
    [OP_READDIR] = 5, [OP_STAT] = 8, [OP_CHMOD] = 3, [OP_FSYNC] = 3,
    [OP_MMAP] = 5,
};

static uint64_t rng;
static int verbose, me;
static unsigned long done[OP_COUNT], expected_err[OP_COUNT], failures;
static char buf[64 << 10];

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static long below(long n)
{
    return n <= 0 ? 0 : (long)(next() % (uint64_t)n);
}

/* A path of up to three components from a small set of names, so that the
 * processes meet: directories are d0..d4, the last component is `kind` (f for
 * files, d, l for symlinks) followed by 0..4, or any of them for kind 0. */
static void name(char *out, size_t cap, char kind)
{
    static const char kinds[] = "fdl";
    long r = below(20);
    int depth = r < 10 ? 1 : r < 17 ? 2 : 3;
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        char k = i + 1 < depth ? 'd' : kind ? kind : kinds[below(3)];
        n += (size_t)snprintf(out + n, cap - n, "%s%c%ld", i ? "/" : "", k, below(5));
    }
}

static int expected(int op, int e)
{
    switch (e) {
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
        return 1;
    case EINVAL: /* a directory renamed into its own subtree */
        return op == OP_RENAME;
    case EPERM: /* link() to a directory */
        return op == OP_LINK;
    case EBUSY: /* rename or rmdir of the working directory's root: not expected */
    default:
        return 0;
    }
}

static void result(int op, int r, const char *a, const char *b)
{
    if (r >= 0) {
        done[op]++;
        return;
    }
    int e = errno;
    if (expected(op, e)) {
        expected_err[op]++;
        return;
    }
    failures++;
    printf("fsstress[%d]: FAIL %s %s%s%s: %s (errno %d)\n", me, op_names[op], a, b ? " " : "",
           b ? b : "", strerror(e), e);
}

static sigjmp_buf bus_jmp;

static void on_bus(int sig)
{
    (void)sig;
    siglongjmp(bus_jmp, 1);
}

/* Stores through a MAP_SHARED mapping of the file `a` (another process may
 * truncate it meanwhile: SIGBUS is a race, not a failure). */
static int mapstore(const char *a)
{
    int fd = open(a, O_RDWR);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return 0;
    }
    size_t len = st.st_size < (64 << 10) ? (size_t)st.st_size : (64 << 10);
    char *volatile m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int r = 0;
    if (sigsetjmp(bus_jmp, 1) == 0) {
        for (int i = 0; i < 16; i++)
            m[below((long)len)] = (char)next();
        if (below(2) && msync(m, len, MS_SYNC) != 0)
            r = -1;
    } else {
        expected_err[OP_MMAP]++;
        r = 1;
    }
    int e = errno;
    munmap(m, len);
    close(fd);
    errno = e;
    return r;
}

static void fill(long n)
{
    for (long i = 0; i < n; i++)
        buf[i] = (char)(next() >> 56);
}

static void doop(int op)
{
    char a[64], b[64];
    static const char kind_a[OP_COUNT] = {[OP_CREAT] = 'f', [OP_MKDIR] = 'd', [OP_RMDIR] = 'd',
                                          [OP_WRITE] = 'f', [OP_TRUNCATE] = 'f'};
    static const char kind_b[OP_COUNT] = {[OP_SYMLINK] = 'l', [OP_LINK] = 'f'};
    name(a, sizeof a, kind_a[op]);
    name(b, sizeof b, op == OP_RENAME ? a[strlen(a) - 2] : kind_b[op]);
    int r = 0, fd;
    const char *bb = NULL;
    if (verbose)
        printf("fsstress[%d]: %s %s\n", me, op_names[op], a);
    switch (op) {
    case OP_CREAT:
        fd = r = open(a, O_CREAT | O_WRONLY | (below(2) ? O_EXCL : 0), 0644);
        if (fd >= 0) {
            long n = below(3) ? below(8192) : below(sizeof buf);
            fill(n);
            if (write(fd, buf, (size_t)n) != n)
                r = -1;
            if (close(fd) != 0)
                r = -1;
        }
        break;
    case OP_MKDIR:
        r = mkdir(a, 0755);
        break;
    case OP_UNLINK:
        r = unlink(a);
        break;
    case OP_RMDIR:
        r = rmdir(a);
        break;
    case OP_RENAME:
        r = rename(a, b);
        bb = b;
        break;
    case OP_LINK:
        r = link(a, b);
        bb = b;
        break;
    case OP_SYMLINK:
        /* relative targets, which may dangle or loop */
        r = symlink(below(2) ? a : "../d0", b);
        bb = b;
        break;
    case OP_WRITE:
        fd = r = open(a, O_WRONLY | (below(4) ? 0 : O_APPEND));
        if (fd >= 0) {
            long n = 1 + below(16384);
            fill(n);
            if (pwrite(fd, buf, (size_t)n, below(256 << 10)) != n)
                r = -1;
            if (close(fd) != 0 && r >= 0)
                r = -1;
        }
        break;
    case OP_READ:
        fd = r = open(a, O_RDONLY);
        if (fd >= 0) {
            ssize_t k;
            while ((k = read(fd, buf, sizeof buf)) > 0)
                ;
            if (k < 0)
                r = -1;
            close(fd);
        }
        break;
    case OP_TRUNCATE:
        r = truncate(a, below(3) ? below(8192) : below(300 << 10));
        break;
    case OP_READDIR: {
        DIR *d = opendir(below(4) ? a : ".");
        if (!d) {
            r = -1;
            break;
        }
        errno = 0;
        while (readdir(d) != NULL)
            ;
        if (errno != 0)
            r = -1;
        closedir(d);
        break;
    }
    case OP_STAT: {
        struct stat st;
        r = below(2) ? stat(a, &st) : lstat(a, &st);
        break;
    }
    case OP_CHMOD: {
        static const mode_t modes[] = {0755, 0700, 0777, 0750, 0711};
        r = chmod(a, modes[below(5)]);
        break;
    }
    case OP_MMAP:
        r = mapstore(a);
        if (r == 1)
            return; /* SIGBUS, counted */
        break;
    case OP_FSYNC:
        fd = r = open(a, O_RDONLY);
        if (fd >= 0) {
            if ((below(2) ? fsync(fd) : fdatasync(fd)) != 0)
                r = -1;
            close(fd);
        }
        break;
    }
    result(op, r, a, bb);
}

/* Walks the tree, lstat-ing every name and reading every directory; removes
 * it too with `remove`. */
static int walk(const char *p, int remove)
{
    struct stat st;
    if (lstat(p, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return remove ? unlink(p) : 0;
    DIR *d = opendir(p);
    if (!d)
        return -1;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char q[512];
        snprintf(q, sizeof q, "%s/%s", p, de->d_name);
        if (walk(q, remove) != 0) {
            printf("fsstress: FAIL %s %s: %s\n", remove ? "removing" : "walking", q,
                   strerror(errno));
            r = -1;
        }
    }
    closedir(d);
    if (remove && r == 0 && strcmp(p, ".") != 0)
        r = rmdir(p);
    return r;
}

int main(int argc, char **argv)
{
    int procs = 4, c, clean = 0;
    unsigned long nops = 1000;
    unsigned long long seed = 0;
    while ((c = getopt(argc, argv, "p:n:s:cv")) != -1) {
        switch (c) {
        case 'p':
            procs = atoi(optarg);
            break;
        case 'n':
            nops = strtoul(optarg, NULL, 0);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'c':
            clean = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        default:
            goto usage;
        }
    }
    if (optind + 1 != argc || procs < 1 || procs > 64) {
    usage:
        fprintf(stderr, "usage: fsstress [-p PROCS<=64] [-n OPS] [-s SEED] [-c] [-v] DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((unsigned long long)ts.tv_sec * 1000003ULL) ^ (unsigned long long)ts.tv_nsec ^
               ((unsigned long long)getpid() << 16);
        if (seed == 0)
            seed = 1;
    }
    const char *dir = argv[optind];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        printf("fsstress: FAIL mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (chdir(dir) != 0) {
        printf("fsstress: FAIL chdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("fsstress: seed %llu, %d processes x %lu ops in %s\n", seed, procs, nops, dir);

    /* Each child reports its counts through a pipe: done, expected errors,
     * failures. */
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("pipe");
        return 1;
    }
    int total = 0;
    for (int i = 0; i < OP_COUNT; i++)
        total += op_weight[i];
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            close(pfd[0]);
            me = p;
            rng = seed + (unsigned long long)p;
            signal(SIGBUS, on_bus);
            for (unsigned long n = 0; n < nops; n++) {
                int r = (int)below(total), op = 0;
                while (r >= op_weight[op])
                    r -= op_weight[op++];
                doop(op);
            }
            unsigned long rep[2 * OP_COUNT + 1];
            memcpy(rep, done, sizeof done);
            memcpy(rep + OP_COUNT, expected_err, sizeof expected_err);
            rep[2 * OP_COUNT] = failures;
            if (write(pfd[1], rep, sizeof rep) != (ssize_t)sizeof rep)
                _exit(3);
            _exit(failures ? 1 : 0);
        }
    }
    close(pfd[1]);
    unsigned long sum[2 * OP_COUNT + 1] = {0}, rep[2 * OP_COUNT + 1];
    int reports = 0;
    while (read(pfd[0], rep, sizeof rep) == (ssize_t)sizeof rep) {
        reports++;
        for (int i = 0; i < 2 * OP_COUNT + 1; i++)
            sum[i] += rep[i];
    }
    int bad = 0, st;
    for (int p = 0; p < procs; p++) {
        pid_t w = wait(&st);
        if (w < 0) {
            perror("wait");
            bad = 1;
            break;
        }
        if (WIFSIGNALED(st)) {
            printf("fsstress: FAIL process %d killed by signal %d\n", (int)w, WTERMSIG(st));
            bad = 1;
        } else if (WEXITSTATUS(st) != 0) {
            bad = 1;
        }
    }
    if (reports != procs) {
        printf("fsstress: FAIL %d of %d processes reported\n", reports, procs);
        bad = 1;
    }
    unsigned long ok = 0, exp = 0;
    printf("fsstress: done/expected errors:");
    for (int i = 0; i < OP_COUNT; i++) {
        printf(" %s %lu/%lu", op_names[i], sum[i], sum[OP_COUNT + i]);
        ok += sum[i];
        exp += sum[OP_COUNT + i];
    }
    printf("\n");
    /* The tree as the processes left it must be whole: every name stats, every
     * directory reads. */
    if (walk(".", clean) != 0)
        bad = 1;
    if (sum[2 * OP_COUNT] || bad) {
        printf("fsstress: FAILED, seed %llu: %lu failed operations\n", seed, sum[2 * OP_COUNT]);
        return 1;
    }
    printf("fsstress: passed, seed %llu: %lu operations succeeded, %lu expected errors%s\n",
           seed, ok, exp, clean ? ", tree removed" : "");
    return 0;
}

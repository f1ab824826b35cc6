/*
 * namecache.c - the answers of lookups stay those of the directories while
 * names come and go: two processes create, unlink, rename (plain,
 * RENAME_NOREPLACE, RENAME_EXCHANGE, across directories, over files and empty
 * directories), link, mkdir, rmdir and symlink the same names, and every stat
 * and open is checked against what the names must be. On ext2 this exercises
 * Kestrel's name cache (positive and negative entries, directories known
 * complete); on tmpfs and on Linux it holds as well.
 *
 * renameat2's flags are used only where the file system takes them (EINVAL
 * otherwise, as on an old host kernel's file system: those steps are skipped).
 */
#define KT_AREA "namecache"
#include "kt.h"

#include <sys/file.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif

#define NDIRS 2
#define NNAMES 6

enum { NONE, FILE_, DIR_, LINK_ };

/* What a name must be: absent (NONE) or that inode of that kind. */
struct slot {
    ino_t ino;
    int kind;
};

struct state {
    struct slot s[NDIRS][NNAMES];
};

static char why[512];
static int have_flags; /* renameat2 with flags works here */

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return -1;
}

static unsigned rnd(unsigned *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static long renameat2_(const char *a, const char *b, unsigned flags)
{
    return syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags);
}

static void path_of(char *buf, size_t len, const char *base, int d, const char *prefix, int n)
{
    snprintf(buf, len, "%s/d%d/%s%d", base, d, prefix, n);
}

/* Every name of `st` answers as it must: lstat (and open of files, and
 * readlink of symlinks) agree; a name never made is ENOENT. */
static int verify(const char *base, const char *prefix, const struct state *st)
{
    char p[300];
    for (int d = 0; d < NDIRS; d++) {
        for (int n = 0; n < NNAMES; n++) {
            const struct slot *s = &st->s[d][n];
            path_of(p, sizeof p, base, d, prefix, n);
            struct stat sb;
            errno = 0;
            int r = lstat(p, &sb);
            if (s->kind == NONE) {
                if (r == 0)
                    return fail("lstat %s: found inode %lu, expected ENOENT", p,
                                (unsigned long)sb.st_ino);
                if (errno != ENOENT)
                    return fail("lstat %s: %s, expected ENOENT", p, strerror(errno));
                if (open(p, O_RDONLY) >= 0 || errno != ENOENT)
                    return fail("open %s: expected ENOENT, got %s", p, strerror(errno));
                continue;
            }
            if (r != 0)
                return fail("lstat %s: %s, expected inode %lu", p, strerror(errno),
                            (unsigned long)s->ino);
            if (sb.st_ino != s->ino)
                return fail("lstat %s: inode %lu, expected %lu", p, (unsigned long)sb.st_ino,
                            (unsigned long)s->ino);
            int want = s->kind == FILE_ ? S_IFREG : s->kind == DIR_ ? S_IFDIR : S_IFLNK;
            if ((int)(sb.st_mode & S_IFMT) != want)
                return fail("lstat %s: mode %o, expected type %o", p, sb.st_mode, want);
            if (s->kind == FILE_) {
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return fail("open %s: %s", p, strerror(errno));
                struct stat fb;
                int fr = fstat(fd, &fb);
                close(fd);
                if (fr != 0 || fb.st_ino != s->ino)
                    return fail("open %s: another inode", p);
            } else if (s->kind == LINK_) {
                char t[64];
                ssize_t k = readlink(p, t, sizeof t);
                if (k != 6 || memcmp(t, "target", 6) != 0)
                    return fail("readlink %s: %zd", p, k);
            }
        }
        snprintf(p, sizeof p, "%s/d%d/%snever", base, d, prefix);
        if (access(p, F_OK) == 0 || errno != ENOENT)
            return fail("access %s: expected ENOENT", p);
    }
    return 0;
}

/* The result `r` (errno `e`) of an operation must be success (want 0) or that
 * errno. */
static int expect(const char *what, const char *a, long r, int e, int want)
{
    if (want == 0 && r < 0)
        return fail("%s %s: %s, expected success", what, a, strerror(e));
    if (want != 0 && (r >= 0 || e != want))
        return fail("%s %s: %s, expected %s", what, a, r >= 0 ? "success" : strerror(e),
                    strerror(want));
    return 0;
}

static int ino_of(const char *p, ino_t *ino)
{
    struct stat sb;
    if (lstat(p, &sb) != 0)
        return fail("lstat %s after making it: %s", p, strerror(errno));
    *ino = sb.st_ino;
    return 0;
}

/* One random operation on the names of `st`, checked against it and applied to
 * it; then every name is checked. */
static int step(const char *base, const char *prefix, struct state *st, unsigned *x)
{
    int d = rnd(x) % NDIRS, n = rnd(x) % NNAMES;
    int d2 = rnd(x) % NDIRS, n2 = rnd(x) % NNAMES;
    struct slot *a = &st->s[d][n], *b = &st->s[d2][n2];
    char pa[300], pb[300];
    path_of(pa, sizeof pa, base, d, prefix, n);
    path_of(pb, sizeof pb, base, d2, prefix, n2);
    long r;
    int e, want;
    switch (rnd(x) % 10) {
    case 0:
    case 1: { /* create */
        errno = 0;
        r = open(pa, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        e = errno;
        if (expect("create", pa, r, e, a->kind ? EEXIST : 0))
            return -1;
        if (r >= 0) {
            struct stat sb;
            fstat((int)r, &sb);
            close((int)r);
            *a = (struct slot){sb.st_ino, FILE_};
        }
        break;
    }
    case 2: /* unlink */
        errno = 0;
        r = unlink(pa);
        e = errno;
        want = a->kind == NONE ? ENOENT : a->kind == DIR_ ? EISDIR : 0;
        if (expect("unlink", pa, r, e, want))
            return -1;
        if (r == 0)
            a->kind = NONE;
        break;
    case 3: /* rename */
        errno = 0;
        r = rename(pa, pb);
        e = errno;
        if (a->kind == NONE)
            want = ENOENT;
        else if (a == b || (b->kind != NONE && b->ino == a->ino))
            want = 0; /* the same file: nothing changes */
        else if (a->kind == DIR_ && b->kind != NONE && b->kind != DIR_)
            want = ENOTDIR;
        else if (a->kind != DIR_ && b->kind == DIR_)
            want = EISDIR;
        else
            want = 0;
        if (expect("rename to", pa, r, e, want))
            return -1;
        if (r == 0 && a != b && !(b->kind != NONE && b->ino == a->ino)) {
            *b = *a;
            a->kind = NONE;
        }
        break;
    case 4: /* RENAME_NOREPLACE */
        if (!have_flags)
            break;
        errno = 0;
        r = renameat2_(pa, pb, RENAME_NOREPLACE);
        e = errno;
        want = a->kind == NONE ? ENOENT : b->kind != NONE ? EEXIST : 0;
        if (expect("rename noreplace", pa, r, e, want))
            return -1;
        if (r == 0) {
            *b = *a;
            a->kind = NONE;
        }
        break;
    case 5: /* RENAME_EXCHANGE */
        if (!have_flags)
            break;
        errno = 0;
        r = renameat2_(pa, pb, RENAME_EXCHANGE);
        e = errno;
        want = a->kind == NONE || b->kind == NONE ? ENOENT : 0;
        if (expect("rename exchange", pa, r, e, want))
            return -1;
        if (r == 0) {
            struct slot t = *a;
            *a = *b;
            *b = t;
        }
        break;
    case 6: /* link */
        errno = 0;
        r = link(pa, pb);
        e = errno;
        want = a->kind == NONE ? ENOENT : b->kind != NONE ? EEXIST : a->kind == DIR_ ? EPERM : 0;
        if (expect("link", pa, r, e, want))
            return -1;
        if (r == 0)
            *b = *a;
        break;
    case 7: /* mkdir */
        errno = 0;
        r = mkdir(pa, 0755);
        e = errno;
        if (expect("mkdir", pa, r, e, a->kind ? EEXIST : 0))
            return -1;
        if (r == 0) {
            if (ino_of(pa, &a->ino))
                return -1;
            a->kind = DIR_;
            /* A new directory: names in it are absent, and come and go. */
            char q[320];
            snprintf(q, sizeof q, "%s/in", pa);
            if (access(q, F_OK) == 0 || errno != ENOENT)
                return fail("access %s in a new directory: expected ENOENT", q);
            int fd = open(q, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                return fail("create %s: %s", q, strerror(errno));
            close(fd);
            if (access(q, F_OK) != 0)
                return fail("access %s after creating it: %s", q, strerror(errno));
            if (rmdir(pa) == 0 || errno != ENOTEMPTY)
                return fail("rmdir %s holding a file: expected ENOTEMPTY", pa);
            if (unlink(q) != 0)
                return fail("unlink %s: %s", q, strerror(errno));
            if (access(q, F_OK) == 0 || errno != ENOENT)
                return fail("access %s after unlinking it: expected ENOENT", q);
        }
        break;
    case 8: /* rmdir */
        errno = 0;
        r = rmdir(pa);
        e = errno;
        want = a->kind == NONE ? ENOENT : a->kind != DIR_ ? ENOTDIR : 0;
        if (expect("rmdir", pa, r, e, want))
            return -1;
        if (r == 0)
            a->kind = NONE;
        break;
    default: /* symlink */
        errno = 0;
        r = symlink("target", pa);
        e = errno;
        if (expect("symlink", pa, r, e, a->kind ? EEXIST : 0))
            return -1;
        if (r == 0) {
            if (ino_of(pa, &a->ino))
                return -1;
            a->kind = LINK_;
        }
        break;
    }
    return verify(base, prefix, st);
}

static int make_dirs(const char *base)
{
    char p[300];
    for (int d = 0; d < NDIRS; d++) {
        snprintf(p, sizeof p, "%s/d%d", base, d);
        if (mkdir(p, 0755) != 0)
            return -1;
    }
    /* Whether renameat2's flags work on this file system. */
    snprintf(p, sizeof p, "%s/probe", base);
    char q[300];
    snprintf(q, sizeof q, "%s/probe2", base);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    have_flags = renameat2_(p, q, RENAME_NOREPLACE) == 0;
    unlink(p);
    unlink(q);
    return 0;
}

/* Runs `steps` steps in a child with seed `seed`, on the names with `prefix`;
 * with `lockfd` >= 0 each step under flock with the state in `st` shared. The
 * child exits 0, or prints why and exits 1. */
static pid_t worker(const char *base, const char *prefix, struct state *st, int lockfd,
                    unsigned seed, int steps)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    unsigned x = seed;
    for (int i = 0; i < steps; i++) {
        if (lockfd >= 0 && flock(lockfd, LOCK_EX) != 0)
            _exit(2);
        int r = step(base, prefix, st, &x);
        if (lockfd >= 0)
            flock(lockfd, LOCK_UN);
        if (r) {
            printf("# %s step %d: %s\n", prefix, i, why);
            fflush(stdout);
            _exit(1);
        }
    }
    _exit(0);
}

static int wait_both(pid_t a, pid_t b)
{
    int sa = -1, sb = -1;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    return WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) && WEXITSTATUS(sb) == 0;
}

TEST(two_processes_taking_turns_on_the_same_names_agree)
{
    const char *base = kt_tmpdir();
    CHECK(base, "tmpdir");
    CHECK(make_dirs(base) == 0, "mkdir: %s", strerror(errno));
    struct state *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(st != MAP_FAILED, "mmap");
    memset(st, 0, sizeof *st);
    char lock[300];
    snprintf(lock, sizeof lock, "%s/lock", base);
    int fa = OK(open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    /* Each process opens the lock file itself: flock locks belong to an open. */
    int fb = OK(open(lock, O_RDWR | O_CLOEXEC));
    pid_t a = worker(base, "n", st, fa, 0x1234567u, 700);
    pid_t b = worker(base, "n", st, fb, 0x89abcdeu, 700);
    int ok = wait_both(a, b);
    close(fa);
    close(fb);
    CHECK(ok, "a worker found a wrong answer (the # line above)");
    CHECK(verify(base, "n", st) == 0, "%s", why);
    munmap(st, sizeof *st);
}

TEST(two_processes_changing_one_directory_at_once_agree)
{
    const char *base = kt_tmpdir();
    CHECK(base, "tmpdir");
    CHECK(make_dirs(base) == 0, "mkdir: %s", strerror(errno));
    static struct state s0, s1;
    memset(&s0, 0, sizeof s0);
    memset(&s1, 0, sizeof s1);
    pid_t a = worker(base, "a", &s0, -1, 0x2468aceu, 700);
    pid_t b = worker(base, "b", &s1, -1, 0x13579bdu, 700);
    CHECK(wait_both(a, b), "a worker found a wrong answer (the # line above)");
    /* Every name left is one of theirs, and each answers. */
    for (int d = 0; d < NDIRS; d++) {
        char p[300];
        snprintf(p, sizeof p, "%s/d%d", base, d);
        DIR *dir = opendir(p);
        CHECK(dir, "opendir %s", p);
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char q[600];
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            struct stat sb;
            int r = lstat(q, &sb);
            int mine = e->d_name[0] == 'a' || e->d_name[0] == 'b';
            if (r != 0 || sb.st_ino != e->d_ino || !mine) {
                int err = errno;
                unsigned long listed = (unsigned long)e->d_ino;
                closedir(dir);
                CHECK(0, "%s: listed as inode %lu, lstat %d (%s) inode %lu", q, listed, r,
                      r ? strerror(err) : "ok", r ? 0ul : (unsigned long)sb.st_ino);
            }
        }
        closedir(dir);
    }
}

/* A name that never goes away is never missing: one process swaps two names
 * (RENAME_EXCHANGE) and links and unlinks a third; the other looks them up. */
TEST(a_name_that_stays_is_always_found_while_others_change)
{
    const char *base = kt_tmpdir();
    CHECK(base, "tmpdir");
    CHECK(make_dirs(base) == 0, "mkdir: %s", strerror(errno));
    char x[300], y[300], z[300];
    snprintf(x, sizeof x, "%s/d0/x", base);
    snprintf(y, sizeof y, "%s/d1/y", base);
    snprintf(z, sizeof z, "%s/d1/z", base);
    close(OK(open(x, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)));
    close(OK(open(y, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)));
    struct stat sx, sy;
    OK(stat(x, &sx));
    OK(stat(y, &sy));
    int pfd[2];
    OK(pipe(pfd));
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(pfd[1]);
        char c;
        for (int i = 0; i < 3000; i++) {
            if (have_flags && renameat2_(x, y, RENAME_EXCHANGE) != 0)
                _exit(3);
            if (link(x, z) != 0)
                _exit(4);
            if (unlink(z) != 0)
                _exit(5);
            /* Stop once the reader is done. */
            if (i % 64 == 0 && read(pfd[0], &c, 1) == 0)
                break;
        }
        _exit(0);
    }
    close(pfd[0]);
    const char *bad = NULL;
    char badbuf[400];
    for (int i = 0; i < 3000 && !bad; i++) {
        struct stat sb;
        const char *names[] = {x, y};
        for (int k = 0; k < 2 && !bad; k++) {
            if (lstat(names[k], &sb) != 0) {
                snprintf(badbuf, sizeof badbuf, "lstat %s: %s", names[k], strerror(errno));
                bad = badbuf;
            } else if (sb.st_ino != sx.st_ino && sb.st_ino != sy.st_ino) {
                snprintf(badbuf, sizeof badbuf, "lstat %s: inode %lu", names[k],
                         (unsigned long)sb.st_ino);
                bad = badbuf;
            }
        }
        if (bad)
            break;
        int fd = open(x, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(badbuf, sizeof badbuf, "open %s: %s", x, strerror(errno));
            bad = badbuf;
            break;
        }
        close(fd);
        if (lstat(z, &sb) == 0) {
            if (sb.st_ino != sx.st_ino && sb.st_ino != sy.st_ino) {
                snprintf(badbuf, sizeof badbuf, "lstat %s: inode %lu", z,
                         (unsigned long)sb.st_ino);
                bad = badbuf;
            }
        } else if (errno != ENOENT) {
            snprintf(badbuf, sizeof badbuf, "lstat %s: %s", z, strerror(errno));
            bad = badbuf;
        }
    }
    close(pfd[1]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(!bad, "%s", bad);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer: %s", kt_status(status));
    struct stat sb;
    EXPECT_ERRNO(lstat(z, &sb), ENOENT);
    OK(lstat(x, &sb));
    OK(lstat(y, &sb));
}

/* A directory removed and made again under the same name (often with the same
 * inode number) knows none of the old one's names; lookups in a removed
 * directory find nothing and creates there fail. */
TEST(a_directory_made_again_knows_nothing_of_the_old_one)
{
    const char *base = kt_tmpdir();
    CHECK(base, "tmpdir");
    char d[300], f[320], g[320];
    snprintf(d, sizeof d, "%s/sub", base);
    snprintf(f, sizeof f, "%s/sub/f", base);
    snprintf(g, sizeof g, "%s/sub/g", base);
    for (int round = 0; round < 20; round++) {
        OK(mkdir(d, 0755));
        struct stat sb;
        EXPECT_ERRNO(lstat(f, &sb), ENOENT);
        EXPECT_ERRNO(lstat(g, &sb), ENOENT);
        if (round % 2)
            close(OK(open(f, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)));
        OK(lstat(d, &sb));
        if (round % 2) {
            OK(lstat(f, &sb));
            OK(unlink(f));
        }
        EXPECT_ERRNO(lstat(f, &sb), ENOENT);
        OK(rmdir(d));
        EXPECT_ERRNO(lstat(d, &sb), ENOENT);
        EXPECT_ERRNO(lstat(f, &sb), ENOENT);
    }
    /* Inside a directory removed while it is the working directory. */
    OK(mkdir(d, 0755));
    close(OK(open(f, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)));
    OK(chdir(d));
    OK(unlink("f"));
    OK(rmdir(d));
    struct stat sb;
    EXPECT_ERRNO(lstat("f", &sb), ENOENT);
    EXPECT_ERRNO(open("g", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), ENOENT);
    EXPECT_ERRNO(mkdir("h", 0755), ENOENT);
    OK(chdir("/"));
    OK(mkdir(d, 0755));
    EXPECT_ERRNO(lstat(f, &sb), ENOENT);
    EXPECT_ERRNO(lstat(g, &sb), ENOENT);
    OK(rmdir(d));
}

int main(void)
{
    KT_BEGIN();
    RUN(two_processes_taking_turns_on_the_same_names_agree);
    RUN(two_processes_changing_one_directory_at_once_agree);
    RUN(a_name_that_stays_is_always_found_while_others_change);
    RUN(a_directory_made_again_knows_nothing_of_the_old_one);
    return KT_END();
}

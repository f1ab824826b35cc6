/* Virtual memory as Linux has it: copy-on-write after fork, shared anonymous
 * and file mappings, munmap/mprotect/mremap/madvise/msync/mincore, MAP_FIXED
 * variants, mmap argument errors, brk, and a large anonymous mapping. */
#define KT_AREA "vm"
#include "kt.h"

#include <signal.h>
#include <sys/uio.h>

#define PG 4096UL

/* MREMAP_* are in <sys/mman.h> with _GNU_SOURCE; these may be missing */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static int reap(pid_t pid)
{
    int st;
    if (syscall(SYS_wait4, pid, &st, 0, NULL) != pid)
        return -1;
    return st;
}

static int exited_with(int st, int code)
{
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int segfaulted(int st)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

static void *map_anon(size_t len, int flags)
{
    return mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
}

/* A file of len bytes filled with byte c, opened O_RDWR. */
static int make_file(const char *path, size_t len, int c)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    char buf[4096];
    memset(buf, c, sizeof buf);
    for (size_t off = 0; off < len;) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            return -1;
        }
        off += n;
    }
    return fd;
}

/* ---- copy-on-write ---------------------------------------------------- */

static char cow_data[3 * 4096] = "data";

TEST(cow_child_write_does_not_reach_parent) {
    char *heap = map_anon(4 * PG, MAP_PRIVATE);
    CHECK(heap != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(heap, 'p', 4 * PG);
    strcpy(cow_data, "parent");
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        memset(heap, 'c', 4 * PG);
        strcpy(cow_data, "child");
        /* the child sees its own writes */
        int ok = heap[0] == 'c' && heap[4 * PG - 1] == 'c' && !strcmp(cow_data, "child");
        _exit(ok ? 0 : 1);
    }
    int st = reap(pid);
    int intact = 1;
    for (size_t i = 0; i < 4 * PG; i++)
        if (heap[i] != 'p')
            intact = 0;
    munmap(heap, 4 * PG);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    CHECK(intact, "parent's private mapping changed by the child");
    CHECK(!strcmp(cow_data, "parent"), "parent's .data changed: \"%s\"", cow_data);
}

TEST(cow_parent_write_after_fork_does_not_reach_child) {
    char *heap = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(heap != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(heap, 'a', 2 * PG);
    int go[2];
    OK(pipe(go));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(go[1]);
        char b;
        if (read(go[0], &b, 1) != 1) /* wait until the parent has written */
            _exit(2);
        _exit(heap[0] == 'a' && heap[2 * PG - 1] == 'a' ? 0 : 1);
    }
    close(go[0]);
    memset(heap, 'b', 2 * PG);
    ssize_t w = write(go[1], "x", 1);
    close(go[1]);
    int st = reap(pid);
    int mine = heap[0] == 'b';
    munmap(heap, 2 * PG);
    EXPECT_EQ(w, 1);
    CHECK(exited_with(st, 0), "child %s (1 = child saw the parent's write)", kt_status(st));
    CHECK(mine, "parent lost its own write");
}

/* ---- MAP_SHARED anonymous across fork --------------------------------- */

TEST(shared_anonymous_mapping_visible_across_fork_both_ways) {
    /* page 0 is touched before the fork; pages 1-3 are first touched after it */
    volatile char *m = map_anon(4 * PG, MAP_SHARED);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[0] = 'A';
    int to_child[2], to_parent[2];
    OK(pipe(to_child));
    OK(pipe(to_parent));
    fflush(stdout);
    pid_t pid = OK(fork());
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        int ok = m[0] == 'A';
        m[0] = 'B';       /* existing page */
        m[2 * PG] = 'C';  /* page nobody touched yet */
        if (write(to_parent[1], "x", 1) != 1)
            _exit(3);
        char b;
        if (read(to_child[0], &b, 1) != 1)
            _exit(4);
        ok = ok && m[PG] == 'D' && m[3 * PG] == 'E' && m[2 * PG] == 'F';
        _exit(ok ? 0 : 1);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char b;
    ssize_t r = read(to_parent[0], &b, 1);
    char p0 = m[0], p2 = m[2 * PG];
    m[PG] = 'D';       /* first touched by the parent, after the fork */
    m[3 * PG] = 'E';
    m[2 * PG] = 'F';   /* first touched by the child */
    ssize_t w = write(to_child[1], "x", 1);
    close(to_child[1]);
    close(to_parent[0]);
    int st = reap(pid);
    munmap((void *)m, 4 * PG);
    EXPECT_EQ(r, 1);
    EXPECT_EQ(w, 1);
    EXPECT_EQ(p0, 'B');
    EXPECT_EQ(p2, 'C');
    CHECK(exited_with(st, 0), "child %s (1 = parent's writes not seen)", kt_status(st));
}

/* ---- MAP_SHARED / MAP_PRIVATE file mappings --------------------------- */

TEST(shared_file_mapping_write_is_visible_to_read) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 2 * PG, 'x'));
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    memcpy(m + 10, "hello", 5);
    memcpy(m + PG + 1, "world", 5);
    char buf[8] = {0}, buf2[8] = {0};
    ssize_t n1 = pread(fd, buf, 5, 10);
    ssize_t n2 = pread(fd, buf2, 5, PG + 1);
    munmap(m, 2 * PG);
    close(fd);
    EXPECT_EQ(n1, 5);
    EXPECT_EQ(n2, 5);
    CHECK(!memcmp(buf, "hello", 5), "read() saw \"%s\"", buf);
    CHECK(!memcmp(buf2, "world", 5), "read() saw \"%s\"", buf2);
}

TEST(shared_file_mapping_sees_later_write_syscall) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), PG, 'x'));
    volatile char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    char before = m[100];
    ssize_t n = pwrite(fd, "QRS", 3, 100);
    int ok = m[100] == 'Q' && m[101] == 'R' && m[102] == 'S';
    munmap((void *)m, PG);
    close(fd);
    EXPECT_EQ(before, 'x');
    EXPECT_EQ(n, 3);
    CHECK(ok, "the mapping did not see pwrite()'s data");
}

/* Stores through a shared mapping are the file's content even once the mapping
 * and the last open file are gone (on a disk file system the kernel must keep
 * the pages until they are written back). */
TEST(shared_file_mapping_stores_outlive_unmap_and_close) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *path = kt_path(d, "f");
    int fd = OK(make_file(path, 2 * PG, 'x'));
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    memcpy(m + 5, "first", 5);
    memcpy(m + PG + 7, "second", 6);
    OK(munmap(m, 2 * PG));
    OK(close(fd));
    fd = OK(open(path, O_RDONLY));
    char a[8] = {0}, b[8] = {0};
    ssize_t n1 = pread(fd, a, 5, 5);
    ssize_t n2 = pread(fd, b, 6, PG + 7);
    struct stat st;
    OK(fstat(fd, &st));
    close(fd);
    EXPECT_EQ(n1, 5);
    EXPECT_EQ(n2, 6);
    CHECK(!memcmp(a, "first", 5) && !memcmp(b, "second", 6), "file has \"%s\" \"%s\"", a, b);
    EXPECT_EQ(st.st_size, 2 * PG);
}

/* A page stored into and then cut off by ftruncate is not written back: the
 * file keeps its new size through fsync. */
TEST(shared_file_mapping_store_past_truncate_does_not_regrow_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 2 * PG, 'x'));
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    m[0] = 'A';
    m[PG + 1] = 'B';
    OK(ftruncate(fd, PG));
    OK(munmap(m, 2 * PG));
    OK(fsync(fd));
    struct stat st;
    OK(fstat(fd, &st));
    char c = 0;
    ssize_t n = pread(fd, &c, 1, 0);
    close(fd);
    EXPECT_EQ(st.st_size, PG);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, 'A');
}

/* A shared mapping made while the file was empty, longer than it: once the
 * file grows (ftruncate, a write past the end leaving a hole), the new pages
 * are the file's, both ways. */
TEST(shared_file_mapping_made_before_the_file_grew_maps_the_new_pages) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    volatile char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    ssize_t w = pwrite(fd, "W", 1, 2 * PG + 5); /* page 1 is a hole now */
    char hole = m[PG + 9], seen = m[2 * PG + 5];
    m[PG + 3] = 'M';
    int t = ftruncate(fd, 4 * PG);
    m[3 * PG + 7] = 'T';
    char a = 0, b = 0;
    ssize_t ra = pread(fd, &a, 1, PG + 3), rb = pread(fd, &b, 1, 3 * PG + 7);
    munmap((void *)m, 4 * PG);
    close(fd);
    EXPECT_EQ(w, 1);
    EXPECT_EQ(t, 0);
    EXPECT_EQ(hole, 0);
    EXPECT_EQ(seen, 'W');
    EXPECT_EQ(ra, 1);
    EXPECT_EQ(a, 'M');
    EXPECT_EQ(rb, 1);
    EXPECT_EQ(b, 'T');
}

/* Truncated below a mapped page and grown again, the file has a hole there:
 * the mapping reads zeros, and its stores are the file's again. */
TEST(shared_file_mapping_after_truncate_down_and_up_reads_zeros_and_stores_reach_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 2 * PG, 'x'));
    volatile char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    char before = m[PG + 1];
    int t1 = ftruncate(fd, 10), t2 = ftruncate(fd, 2 * PG);
    char tail = m[10], zero = m[PG + 1], head = m[9];
    m[PG + 2] = 'S';
    char c = 0;
    ssize_t n = pread(fd, &c, 1, PG + 2);
    munmap((void *)m, 2 * PG);
    fsync(fd);
    char after = 0;
    ssize_t n2 = pread(fd, &after, 1, PG + 2);
    close(fd);
    EXPECT_EQ(before, 'x');
    EXPECT_EQ(t1, 0);
    EXPECT_EQ(t2, 0);
    EXPECT_EQ(head, 'x');
    EXPECT_EQ(tail, 0);
    EXPECT_EQ(zero, 0);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, 'S');
    EXPECT_EQ(n2, 1);
    EXPECT_EQ(after, 'S');
}

/* MAP_PRIVATE mappings see write()s to pages they have not copied yet. */
TEST(private_file_mapping_sees_write_to_untouched_page) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), PG, 'x'));
    volatile char *m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    ssize_t n = pwrite(fd, "Z", 1, 7);
    char c = m[7];
    munmap((void *)m, PG);
    close(fd);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, 'Z');
}

TEST(shared_file_mapping_shared_with_forked_child) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), PG, '.'));
    volatile char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    m[0] = 'P';
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = m[0] == 'P';
        m[1] = 'C'; /* through the inherited mapping */
        /* and a fresh, independent mapping of the same file sees both */
        volatile char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
        ok = ok && m2 != MAP_FAILED && m2[0] == 'P' && m2[1] == 'C';
        _exit(ok ? 0 : 1);
    }
    int st = pid > 0 ? reap(pid) : -1;
    char c = m[1];
    char f[2] = {0, 0};
    ssize_t n = pread(fd, f, 2, 0);
    munmap((void *)m, PG);
    close(fd);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(c, 'C');
    EXPECT_EQ(n, 2);
    CHECK(f[0] == 'P' && f[1] == 'C', "file has \"%.2s\"", f);
}

TEST(private_file_mapping_write_does_not_change_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), PG, 'o'));
    char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    memset(m, 'w', PG);
    char b1 = 0, b2 = 0;
    ssize_t n1 = pread(fd, &b1, 1, 0);
    /* and a write() after the copy does not show through either */
    ssize_t w = pwrite(fd, "N", 1, 5);
    char mc = m[5];
    munmap(m, PG);
    ssize_t n2 = pread(fd, &b2, 1, PG - 1);
    close(fd);
    EXPECT_EQ(n1, 1);
    EXPECT_EQ(b1, 'o');
    EXPECT_EQ(w, 1);
    EXPECT_EQ(mc, 'w');
    EXPECT_EQ(n2, 1);
    EXPECT_EQ(b2, 'o');
}

/* Reading past the end of the file inside the last page gives zeros; a whole
 * page beyond EOF raises SIGBUS. */
static void touch_page1(void *arg)
{
    volatile char *m = arg;
    (void)m[PG];
}

TEST(file_mapping_beyond_eof_is_sigbus) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 100, 'e'));
    volatile char *m = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    char in = m[99], tail = m[100], last = m[PG - 1];
    int st = kt_in_child(touch_page1, (void *)m);
    munmap((void *)m, 2 * PG);
    EXPECT_EQ(in, 'e');
    EXPECT_EQ(tail, 0);
    EXPECT_EQ(last, 0);
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
          "child %s, expected killed by signal %d (SIGBUS)", kt_status(st), SIGBUS);
}

/* ---- munmap / mprotect ------------------------------------------------ */

static void touch(void *arg)
{
    *(volatile char *)arg = 1;
}

static void peek(void *arg)
{
    (void)*(volatile char *)arg;
}

TEST(munmap_middle_page_leaves_outer_pages_usable) {
    char *m = map_anon(3 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[0] = 'a';
    m[PG] = 'b';
    m[2 * PG] = 'c';
    OK(munmap(m + PG, PG));
    int st = kt_in_child(peek, m + PG);
    int ok = m[0] == 'a' && m[2 * PG] == 'c';
    m[0] = 'x';
    m[2 * PG + PG - 1] = 'y';
    munmap(m, PG);
    munmap(m + 2 * PG, PG);
    CHECK(ok, "outer pages lost their contents");
    CHECK(segfaulted(st), "reading the unmapped middle page: child %s, expected SIGSEGV",
          kt_status(st));
}

TEST(mprotect_none_and_back_keeps_contents) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    for (size_t i = 0; i < 2 * PG; i++)
        m[i] = (char)(i * 7);
    OK(mprotect(m, 2 * PG, PROT_NONE));
    int st = kt_in_child(peek, m + PG);
    OK(mprotect(m, 2 * PG, PROT_READ | PROT_WRITE));
    int ok = 1;
    for (size_t i = 0; i < 2 * PG; i++)
        if (m[i] != (char)(i * 7))
            ok = 0;
    m[5] = 1; /* writable again */
    munmap(m, 2 * PG);
    CHECK(segfaulted(st), "reading a PROT_NONE page: child %s, expected SIGSEGV", kt_status(st));
    CHECK(ok, "contents changed across PROT_NONE");
}

TEST(mprotect_read_only_makes_writes_fault) {
    char *m = map_anon(PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[0] = 'r';
    OK(mprotect(m, PG, PROT_READ));
    int st = kt_in_child(touch, m);
    char c = m[0];
    munmap(m, PG);
    CHECK(segfaulted(st), "writing a read-only page: child %s, expected SIGSEGV", kt_status(st));
    EXPECT_EQ(c, 'r');
}

/* ---- MAP_FIXED and friends -------------------------------------------- */

TEST(map_fixed_replaces_existing_mapping) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(m, 'q', 2 * PG);
    char *r = mmap(m, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    int zero = r == m && m[0] == 0 && m[PG - 1] == 0;
    int kept = m[PG] == 'q';
    munmap(m, 2 * PG);
    CHECK(r == m, "MAP_FIXED returned %p, expected %p (errno %s)", (void *)r, (void *)m,
          kt_errstr(errno));
    CHECK(zero, "replaced page not zero-filled");
    CHECK(kept, "the neighbouring page was disturbed");
}

TEST(map_fixed_noreplace_over_existing_is_eexist) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[PG] = 's';
    errno = 0;
    void *r = mmap(m + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    int e = errno;
    char c = m[PG];
    if (r != MAP_FAILED && r != m + PG)
        munmap(r, PG);
    munmap(m, 2 * PG);
    CHECK(r == MAP_FAILED && e == EEXIST, "got %p errno %s, expected EEXIST", r, kt_errstr(e));
    EXPECT_EQ(c, 's');
}

TEST(map_fixed_noreplace_at_free_address_succeeds) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    OK(munmap(m + PG, PG));
    void *r = mmap(m + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0);
    int e = errno;
    munmap(m, 2 * PG);
    CHECK(r == m + PG, "got %p errno %s, expected %p", r, kt_errstr(e), (void *)(m + PG));
}

static int resident(const unsigned char *vec, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += vec[i] & 1;
    return c;
}

TEST(map_populate_makes_pages_resident) {
    enum { NP = 8 };
    char *m = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    unsigned char vec[NP];
    long r = syscall(SYS_mincore, m, NP * PG, vec);
    int e = errno;
    int zero = m[0] == 0 && m[NP * PG - 1] == 0;
    munmap(m, NP * PG);
    CHECK(r == 0, "mincore failed: %s", kt_errstr(e));
    EXPECT_EQ(resident(vec, NP), NP);
    CHECK(zero, "populated pages not zero");
}

TEST(map_growsdown_stack_is_accepted) {
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_STACK, -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[4 * PG - 1] = 1; /* the top, where a stack starts */
    m[0] = 2;
    int ok = m[4 * PG - 1] == 1 && m[0] == 2;
    munmap(m, 4 * PG);
    CHECK(ok, "could not use the mapping");
}

/* ---- mmap errors ------------------------------------------------------ */

#define MMAP(addr, len, prot, flags, fd, off)                                                 \
    syscall(SYS_mmap, (void *)(addr), (size_t)(len), (long)(prot), (long)(flags), (long)(fd),   \
            (long)(off))

TEST(mmap_zero_length_is_einval) {
    EXPECT_ERRNO(MMAP(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL);
}

TEST(mmap_unaligned_offset_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 2 * PG, 'x'));
    errno = 0;
    long r = MMAP(0, PG, PROT_READ, MAP_PRIVATE, fd, 100);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EINVAL, "got %ld errno %s, expected EINVAL", r, kt_errstr(e));
}

TEST(mmap_without_shared_or_private_is_einval) {
    EXPECT_ERRNO(MMAP(0, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
}

TEST(mmap_huge_length_is_enomem) {
    EXPECT_ERRNO(MMAP(0, SIZE_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM);
    EXPECT_ERRNO(MMAP(0, SIZE_MAX - PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM);
}

TEST(mmap_bad_fd_is_ebadf) {
    EXPECT_ERRNO(MMAP(0, PG, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
    EXPECT_ERRNO(MMAP(0, PG, PROT_READ, MAP_SHARED, 999, 0), EBADF);
}

TEST(mmap_shared_writable_on_read_only_fd_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int w = OK(make_file(kt_path(d, "f"), PG, 'x'));
    close(w);
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    errno = 0;
    long r = MMAP(0, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    /* a private writable mapping of the same fd is fine */
    long p = MMAP(0, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p != -1)
        munmap((void *)p, PG);
    CHECK(r == -1 && e == EACCES, "got %ld errno %s, expected EACCES", r, kt_errstr(e));
    CHECK(p != -1, "MAP_PRIVATE PROT_WRITE of an O_RDONLY fd failed");
}

TEST(mmap_directory_is_enodev) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    errno = 0;
    long r = MMAP(0, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == ENODEV, "got %ld errno %s, expected ENODEV", r, kt_errstr(e));
}

TEST(munmap_unaligned_address_is_einval) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    errno = 0;
    long r = syscall(SYS_munmap, m + 1, PG);
    int e = errno;
    m[0] = 1; /* still mapped */
    munmap(m, 2 * PG);
    CHECK(r == -1 && e == EINVAL, "got %ld errno %s, expected EINVAL", r, kt_errstr(e));
}

/* ---- mremap ----------------------------------------------------------- */

TEST(mremap_grows_in_place_when_there_is_room) {
    /* reserve 4 pages, give back the top 2, then grow into them */
    char *m = map_anon(4 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    OK(munmap(m + 2 * PG, 2 * PG));
    memset(m, 'g', 2 * PG);
    void *r = mremap(m, 2 * PG, 4 * PG, 0);
    int e = errno;
    if (r == MAP_FAILED) {
        munmap(m, 2 * PG);
        CHECK(0, "mremap failed: %s", kt_errstr(e));
    }
    int kept = m[0] == 'g' && m[2 * PG - 1] == 'g';
    int zero = m[2 * PG] == 0 && m[4 * PG - 1] == 0;
    m[4 * PG - 1] = 1; /* the new pages are writable */
    munmap(r, 4 * PG);
    CHECK(r == m, "grew to %p, expected in place at %p", r, (void *)m);
    CHECK(kept, "old contents lost");
    CHECK(zero, "new pages not zero");
}

/* Returns a 2-page mapping followed by a 1-page blocker: no room to grow. */
static char *blocked_pair(void)
{
    char *m = map_anon(3 * PG, MAP_PRIVATE);
    if (m == MAP_FAILED)
        return NULL;
    /* a different protection keeps the kernel from merging the blocker */
    if (mprotect(m + 2 * PG, PG, PROT_READ) != 0) {
        munmap(m, 3 * PG);
        return NULL;
    }
    return m;
}

TEST(mremap_without_maymove_when_blocked_is_enomem) {
    char *m = blocked_pair();
    CHECK(m, "setup failed: %s", kt_errstr(errno));
    m[0] = 'k';
    errno = 0;
    void *r = mremap(m, 2 * PG, 4 * PG, 0);
    int e = errno;
    char c = m[0];
    munmap(m, 3 * PG);
    CHECK(r == MAP_FAILED && e == ENOMEM, "got %p errno %s, expected ENOMEM", r, kt_errstr(e));
    EXPECT_EQ(c, 'k');
}

TEST(mremap_maymove_moves_and_keeps_contents) {
    char *m = blocked_pair();
    CHECK(m, "setup failed: %s", kt_errstr(errno));
    for (size_t i = 0; i < 2 * PG; i++)
        m[i] = (char)(i % 251);
    char *r = mremap(m, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
    int e = errno;
    if (r == MAP_FAILED) {
        munmap(m, 3 * PG);
        CHECK(0, "mremap failed: %s", kt_errstr(e));
    }
    int kept = 1;
    for (size_t i = 0; i < 2 * PG; i++)
        if (r[i] != (char)(i % 251))
            kept = 0;
    int zero = r[2 * PG] == 0 && r[8 * PG - 1] == 0;
    r[8 * PG - 1] = 1;
    /* the old range is gone */
    unsigned char vec[2];
    errno = 0;
    long mc = syscall(SYS_mincore, m, 2 * PG, vec);
    int mce = errno;
    munmap(r, 8 * PG);
    munmap(m + 2 * PG, PG);
    CHECK(r != m, "mremap did not move");
    CHECK(kept, "contents not carried over");
    CHECK(zero, "new pages not zero");
    CHECK(mc == -1 && mce == ENOMEM, "old range still mapped (mincore %ld errno %s)", mc,
          kt_errstr(mce));
}

TEST(mremap_shrink_unmaps_the_tail) {
    char *m = map_anon(4 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(m, 's', 4 * PG);
    void *r = mremap(m, 4 * PG, PG, 0);
    int e = errno;
    int kept = r == m && m[0] == 's' && m[PG - 1] == 's';
    unsigned char vec[3];
    errno = 0;
    long mc = syscall(SYS_mincore, m + PG, 3 * PG, vec);
    int mce = errno;
    munmap(m, 4 * PG);
    CHECK(r == m, "shrink returned %p errno %s, expected %p", r, kt_errstr(e), (void *)m);
    CHECK(kept, "contents lost");
    CHECK(mc == -1 && mce == ENOMEM, "tail still mapped (mincore %ld errno %s)", mc,
          kt_errstr(mce));
}

TEST(mremap_unaligned_or_zero_size_is_einval) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    errno = 0;
    long r1 = syscall(SYS_mremap, m + 1, PG, 2 * PG, 0L, NULL);
    int e1 = errno;
    errno = 0;
    long r2 = syscall(SYS_mremap, m, 2 * PG, 0L, 0L, NULL);
    int e2 = errno;
    errno = 0;
    long r3 = syscall(SYS_mremap, m, 2 * PG, PG, 0x100L, NULL); /* unknown flag */
    int e3 = errno;
    munmap(m, 2 * PG);
    CHECK(r1 == -1 && e1 == EINVAL, "unaligned: %ld errno %s", r1, kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "zero new size: %ld errno %s", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EINVAL, "bad flags: %ld errno %s", r3, kt_errstr(e3));
}

TEST(mremap_unmapped_range_is_efault) {
    char *m = map_anon(PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    munmap(m, PG);
    EXPECT_ERRNO(syscall(SYS_mremap, m, PG, 2 * PG, (long)MREMAP_MAYMOVE, NULL), EFAULT);
}

/* ---- madvise ---------------------------------------------------------- */

TEST(madvise_dontneed_zeroes_private_anonymous_memory) {
    char *m = map_anon(4 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(m, 0x5a, 4 * PG);
    long r = syscall(SYS_madvise, m + PG, 2 * PG, MADV_DONTNEED);
    int e = errno;
    int zero = 1;
    for (size_t i = PG; i < 3 * PG; i++)
        if (m[i] != 0)
            zero = 0;
    int kept = m[0] == 0x5a && m[4 * PG - 1] == 0x5a;
    munmap(m, 4 * PG);
    CHECK(r == 0, "madvise failed: %s", kt_errstr(e));
    CHECK(zero, "MADV_DONTNEED pages did not read back as zero");
    CHECK(kept, "pages outside the range were dropped");
}

/* On a private file mapping, dropped (copied) pages come back from the file. */
TEST(madvise_dontneed_private_file_mapping_rereads_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), PG, 'F'));
    char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[0] = 'x';
    long r = syscall(SYS_madvise, m, PG, MADV_DONTNEED);
    int e = errno;
    char c = m[0];
    munmap(m, PG);
    CHECK(r == 0, "madvise failed: %s", kt_errstr(e));
    EXPECT_EQ(c, 'F');
}

TEST(madvise_willneed_free_normal_are_accepted) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[0] = 1;
    long r1 = syscall(SYS_madvise, m, 2 * PG, MADV_WILLNEED);
    int e1 = errno;
    long r2 = syscall(SYS_madvise, m, 2 * PG, MADV_FREE);
    int e2 = errno;
    long r3 = syscall(SYS_madvise, m, 2 * PG, MADV_NORMAL);
    int e3 = errno;
    long r4 = syscall(SYS_madvise, m, 2 * PG, MADV_SEQUENTIAL);
    int e4 = errno;
    m[PG] = 2; /* still usable */
    munmap(m, 2 * PG);
    CHECK(r1 == 0, "MADV_WILLNEED: %s", kt_errstr(e1));
    CHECK(r2 == 0, "MADV_FREE: %s", kt_errstr(e2));
    CHECK(r3 == 0, "MADV_NORMAL: %s", kt_errstr(e3));
    CHECK(r4 == 0, "MADV_SEQUENTIAL: %s", kt_errstr(e4));
}

TEST(madvise_errors) {
    char *m = map_anon(PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    errno = 0;
    long r1 = syscall(SYS_madvise, m, PG, 12345);
    int e1 = errno;
    errno = 0;
    long r2 = syscall(SYS_madvise, m + 1, PG, MADV_NORMAL);
    int e2 = errno;
    munmap(m, PG);
    errno = 0;
    long r3 = syscall(SYS_madvise, m, PG, MADV_WILLNEED);
    int e3 = errno;
    CHECK(r1 == -1 && e1 == EINVAL, "unknown advice: %ld errno %s, expected EINVAL", r1,
          kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EINVAL, "unaligned: %ld errno %s, expected EINVAL", r2,
          kt_errstr(e2));
    CHECK(r3 == -1 && e3 == ENOMEM, "unmapped: %ld errno %s, expected ENOMEM", r3,
          kt_errstr(e3));
}

/* ---- msync ------------------------------------------------------------ */

TEST(msync_shared_file_mapping) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(make_file(kt_path(d, "f"), 2 * PG, 0));
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        CHECK(0, "mmap failed: %s", kt_errstr(errno));
    }
    strcpy(m + PG, "synced");
    long r1 = syscall(SYS_msync, m, 2 * PG, MS_SYNC);
    int e1 = errno;
    long r2 = syscall(SYS_msync, m, 2 * PG, MS_ASYNC | MS_INVALIDATE);
    int e2 = errno;
    errno = 0;
    long r3 = syscall(SYS_msync, m, 2 * PG, MS_ASYNC | MS_SYNC);
    int e3 = errno;
    errno = 0;
    long r4 = syscall(SYS_msync, m + 8, PG, MS_SYNC);
    int e4 = errno;
    errno = 0;
    long r5 = syscall(SYS_msync, m, PG, 0x100);
    int e5 = errno;
    munmap(m, 2 * PG);
    errno = 0;
    long r6 = syscall(SYS_msync, m, PG, MS_SYNC);
    int e6 = errno;
    char buf[8] = {0};
    ssize_t n = pread(fd, buf, 6, PG);
    close(fd);
    CHECK(r1 == 0, "MS_SYNC: %s", kt_errstr(e1));
    CHECK(r2 == 0, "MS_ASYNC|MS_INVALIDATE: %s", kt_errstr(e2));
    CHECK(r3 == -1 && e3 == EINVAL, "MS_ASYNC|MS_SYNC: %ld errno %s, expected EINVAL", r3,
          kt_errstr(e3));
    CHECK(r4 == -1 && e4 == EINVAL, "unaligned: %ld errno %s, expected EINVAL", r4,
          kt_errstr(e4));
    CHECK(r5 == -1 && e5 == EINVAL, "bad flags: %ld errno %s, expected EINVAL", r5,
          kt_errstr(e5));
    CHECK(r6 == -1 && e6 == ENOMEM, "unmapped: %ld errno %s, expected ENOMEM", r6,
          kt_errstr(e6));
    EXPECT_EQ(n, 6);
    CHECK(!strcmp(buf, "synced"), "file has \"%s\"", buf);
}

/* ---- mincore ---------------------------------------------------------- */

TEST(mincore_reports_touched_page_resident) {
    char *m = map_anon(4 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    m[2 * PG + 5] = 1;
    unsigned char vec[4] = {0xff, 0xff, 0xff, 0xff};
    long r = syscall(SYS_mincore, m, 4 * PG, vec);
    int e = errno;
    /* the length need not be page aligned: it is rounded up */
    unsigned char one = 0;
    long r2 = syscall(SYS_mincore, m + 2 * PG, 1UL, &one);
    int e2 = errno;
    munmap(m, 4 * PG);
    CHECK(r == 0, "mincore failed: %s", kt_errstr(e));
    CHECK(vec[2] & 1, "touched page reported not resident (vec %02x %02x %02x %02x)", vec[0],
          vec[1], vec[2], vec[3]);
    for (int i = 0; i < 4; i++)
        CHECK((vec[i] & ~1) == 0, "vec[%d] = 0x%02x: only bit 0 may be set", i, vec[i]);
    CHECK(r2 == 0, "mincore of 1 byte failed: %s", kt_errstr(e2));
    EXPECT_EQ(one & 1, 1);
}

TEST(mincore_errors) {
    char *m = map_anon(2 * PG, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    unsigned char vec[4];
    errno = 0;
    long r1 = syscall(SYS_mincore, m + 1, PG, vec);
    int e1 = errno;
    errno = 0;
    long r2 = syscall(SYS_mincore, m, PG, (void *)1);
    int e2 = errno;
    munmap(m + PG, PG);
    errno = 0;
    long r3 = syscall(SYS_mincore, m, 2 * PG, vec); /* runs into the hole */
    int e3 = errno;
    munmap(m, PG);
    CHECK(r1 == -1 && e1 == EINVAL, "unaligned: %ld errno %s, expected EINVAL", r1,
          kt_errstr(e1));
    CHECK(r2 == -1 && e2 == EFAULT, "bad vec: %ld errno %s, expected EFAULT", r2, kt_errstr(e2));
    CHECK(r3 == -1 && e3 == ENOMEM, "partly unmapped: %ld errno %s, expected ENOMEM", r3,
          kt_errstr(e3));
}

/* ---- brk and a big mapping -------------------------------------------- */

TEST(brk_grows_and_shrinks) {
    long cur = syscall(SYS_brk, 0L);
    CHECK(cur > 0, "brk(0) = %ld", cur);
    long want = cur + 64 * 1024;
    long got = syscall(SYS_brk, want);
    CHECK(got == want, "brk grow to %#lx returned %#lx", want, got);
    volatile char *p = (char *)cur;
    p[0] = 1;
    p[64 * 1024 - 1] = 2;
    int ok = p[0] == 1 && p[64 * 1024 - 1] == 2;
    long back = syscall(SYS_brk, cur);
    long now = syscall(SYS_brk, 0L);
    CHECK(ok, "grown break memory not usable");
    EXPECT_EQ(back, cur);
    EXPECT_EQ(now, cur);
}

TEST(anonymous_64mib_mapping_fully_touched_and_unmapped) {
    size_t len = 64UL << 20;
    unsigned char *m = map_anon(len, MAP_PRIVATE);
    CHECK(m != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    for (size_t off = 0; off < len; off += PG)
        m[off] = (unsigned char)(off / PG);
    unsigned long sum = 0, want = 0;
    for (size_t off = 0; off < len; off += PG) {
        sum += m[off];
        want += (unsigned char)(off / PG);
    }
    long r = syscall(SYS_munmap, m, len);
    int e = errno;
    EXPECT_EQ(sum, want);
    CHECK(r == 0, "munmap failed: %s", kt_errstr(e));
    unsigned char v;
    EXPECT_ERRNO(syscall(SYS_mincore, m + len / 2, PG, &v), ENOMEM);
}

/* ---- process_vm_readv, process_vm_writev ----------------------------- */

TEST(process_vm_readv_and_writev_copy_between_processes)
{
    int *shared = (int *)OK(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    static char remote[64] = "remote data";
    int p[2];
    OK(pipe(p));
    pid_t c = OK(fork());
    if (c == 0) {
        char x;
        close(p[1]);
        /* Wait for the parent to be done, then report what it wrote here. */
        if (read(p[0], &x, 1) != 1)
            _exit(2);
        *shared = memcmp(remote, "written", 7) == 0;
        _exit(0);
    }
    close(p[0]);
    char local[64] = {0};
    struct iovec l[2] = {{local, 6}, {local + 6, 58}}, r = {remote, 11};
    long n = syscall(SYS_process_vm_readv, c, l, 2, &r, 1, 0);
    char w[] = "written";
    struct iovec lw = {w, 7}, rw = {remote, 7};
    long m = syscall(SYS_process_vm_writev, c, &lw, 1, &rw, 1, 0);
    OK(write(p[1], "x", 1));
    close(p[1]);
    int st;
    OK(waitpid(c, &st, 0));
    EXPECT_EQ(n, 11);
    CHECK(memcmp(local, "remote data", 11) == 0, "read %s", local);
    EXPECT_EQ(m, 7);
    EXPECT_EQ(*shared, 1);
    munmap(shared, PG);
}

TEST(process_vm_readv_errors)
{
    char a[16], b[16] = "x";
    struct iovec l = {a, sizeof a}, r = {b, sizeof b};
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, -1, &l, 1, &r, 1, 0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), (void *)-1, 1, &r, 1, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &l, 1, (void *)-1, 1, 0), EFAULT);
    struct iovec bad = {(void *)-1, 16};
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &l, 1, &bad, 1, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &bad, 1, &r, 1, 0), EFAULT);
    struct iovec huge = {a, (size_t)-1};
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &huge, 1, &huge, 1, 0), EINVAL);
    void *none = (void *)OK(mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    struct iovec prot = {none, 16};
    EXPECT_ERRNO(syscall(SYS_process_vm_readv, getpid(), &l, 1, &prot, 1, 0), EFAULT);
    munmap(none, PG);
    EXPECT_EQ(syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0), 0);
}

static void vm_read_parent_unprivileged(void *arg)
{
    (void)arg;
    char a[8];
    static char b[8];
    struct iovec l = {a, 8}, r = {b, 8};
    pid_t parent = getppid();
    if (setuid(65534))
        _exit(10);
    errno = 0;
    if (syscall(SYS_process_vm_readv, parent, &l, 1, &r, 1, 0) != -1 || errno != EPERM)
        _exit(11);
    _exit(0);
}

TEST(process_vm_readv_of_another_users_process_is_eperm)
{
    int st = kt_in_child(vm_read_parent_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static long max_map_count(void)
{
    char buf[32] = {0};
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int set_max_map_count(long v)
{
    char buf[32];
    int fd = open("/proc/sys/vm/max_map_count", O_WRONLY);
    if (fd < 0)
        return errno;
    int n = snprintf(buf, sizeof buf, "%ld\n", v);
    int r = write(fd, buf, n) == n ? 0 : errno;
    close(fd);
    return r;
}

/* /proc/sys/vm/drop_caches takes 1, 2 or 3 (and 4) from root; 0 is EINVAL
 * (Linux 6.1 refuses 5 too; newer kernels take more bits). The file's data
 * reads back the same after a drop. */
TEST(drop_caches_takes_one_to_four)
{
    if (geteuid() != 0)
        SKIP("needs root");
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    char path[256];
    snprintf(path, sizeof path, "%s/kept", d);
    OK(kt_write_file(path, "kept data", 9));
    sync();
    long r[5];
    int e[5];
    for (int v = 0; v <= 4; v++) {
        int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
        CHECK(fd >= 0, "open drop_caches: %s", kt_errstr(errno));
        char c = (char)('0' + v);
        errno = 0;
        r[v] = write(fd, &c, 1);
        e[v] = errno;
        close(fd);
    }
    char buf[16] = {0};
    int fd = OK(open(path, O_RDONLY));
    long n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(r[0] == -1 && e[0] == EINVAL, "0: %ld %s", r[0], kt_errstr(e[0]));
    for (int v = 1; v <= 4; v++)
        CHECK(r[v] == 1, "%d: %ld %s", v, r[v], kt_errstr(e[v]));
    EXPECT_EQ(n, 9);
    CHECK(!memcmp(buf, "kept data", 9), "read back '%s'", buf);
}

TEST(max_map_count_is_writable_and_reads_back)
{
    long old = max_map_count();
    CHECK(old > 0, "no /proc/sys/vm/max_map_count");
    int e = set_max_map_count(old + 1);
    if (e == EROFS || e == EACCES || e == EPERM)
        SKIP("max_map_count not writable here: %s", kt_errstr(e));
    CHECK(e == 0, "write: %s", kt_errstr(e));
    long now = max_map_count();
    set_max_map_count(old);
    EXPECT_EQ(now, old + 1);
    EXPECT_EQ(max_map_count(), old);
}

TEST(remap_file_pages_shows_other_file_pages_in_a_shared_mapping)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    int fd = OK(open(kt_path(d, "f"), O_RDWR | O_CREAT, 0644));
    char page[PG];
    for (int i = 0; i < 4; i++) {
        memset(page, 'a' + i, sizeof page);
        OK(write(fd, page, sizeof page));
    }
    char *m = (char *)OK(mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    /* The first page now shows the file's fourth. */
    OK(syscall(SYS_remap_file_pages, m, PG, 0, 3, 0));
    EXPECT_EQ(m[0], 'd');
    EXPECT_EQ(m[PG], 'b');
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m, PG, 1, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, m + 3 * PG, 2 * PG, 0, 0, 0), EINVAL);
    char *priv = (char *)OK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0));
    EXPECT_ERRNO(syscall(SYS_remap_file_pages, priv, PG, 0, 1, 0), EINVAL);
    munmap(priv, PG);
    munmap(m, 4 * PG);
    close(fd);
}

TEST(pagemap_marks_present_pages)
{
    char *m = (char *)OK(mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    m[0] = 1; /* only the first page is touched */
    int fd = OK(open("/proc/self/pagemap", O_RDONLY));
    uint64_t e[2];
    EXPECT_EQ(pread(fd, e, sizeof e, (off_t)((uintptr_t)m / PG) * 8), 16);
    close(fd);
    munmap(m, 2 * PG);
    CHECK(e[0] >> 63, "touched page not present: %llx", (unsigned long long)e[0]);
    CHECK(!(e[1] >> 63), "untouched page present: %llx", (unsigned long long)e[1]);
}

static void touch_below(void *arg)
{
    volatile char *p = arg;
    p[-1] = 1; /* the byte below a MAP_GROWSDOWN area grows it */
    _exit(0);
}

TEST(growsdown_area_keeps_a_guard_gap_above_the_area_below)
{
    /* Room: 512 pages, the growsdown page at the top. */
    char *base = (char *)OK(mmap(NULL, 512 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(munmap(base, 512 * PG));
    char *top = base + 511 * PG;
    OK(mmap(top, PG, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0));
    int st = kt_in_child(touch_below, top);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "growing with nothing below: %s", kt_status(st));
    /* An accessible page 8 pages below: growing into its guard gap faults. */
    OK(mmap(top - 8 * PG, PG, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    st = kt_in_child(touch_below, top);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "growing into the gap: %s", kt_status(st));
    munmap(top - 8 * PG, 9 * PG);
}

TEST(mremap_dontunmap_moves_pages_and_leaves_the_old_range_empty) {
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    memset(m, 'a', PG);
    memset(m + PG, 'b', PG);
    char *r = mremap(m, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    int e = errno;
    if (r == MAP_FAILED) {
        munmap(m, 2 * PG);
        CHECK(0, "mremap failed: %s", kt_errstr(e));
    }
    int moved = r != m && r[0] == 'a' && r[2 * PG - 1] == 'b';
    /* The old range is still mapped, but its pages are gone: fresh zero pages. */
    unsigned char vec[2] = {1, 1};
    long mc = syscall(SYS_mincore, m, 2 * PG, vec);
    int empty = mc == 0 && !(vec[0] & 1) && !(vec[1] & 1);
    int zero = m[0] == 0 && m[2 * PG - 1] == 0;
    m[0] = 'c';
    int apart = r[0] == 'a';
    munmap(r, 2 * PG);
    munmap(m, 2 * PG);
    CHECK(moved, "contents not moved (r=%p m=%p)", (void *)r, (void *)m);
    CHECK(empty, "old range not mapped and empty (mincore %ld, %d %d)", mc, vec[0], vec[1]);
    CHECK(zero, "old range not zero");
    CHECK(apart, "old and new ranges share a page");
}

TEST(mremap_dontunmap_of_a_shared_mapping_sees_the_same_pages_at_both) {
    char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    strcpy(m, "shared");
    char *r = mremap(m, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    int e = errno;
    if (r == MAP_FAILED) {
        munmap(m, PG);
        CHECK(0, "mremap failed: %s", kt_errstr(e));
    }
    int same = strcmp(m, "shared") == 0;
    r[0] = 'S';
    int seen = m[0] == 'S';
    munmap(r, PG);
    munmap(m, PG);
    CHECK(same, "old range does not show the shared pages");
    CHECK(seen, "a write at the new address is not seen at the old");
}

TEST(mremap_dontunmap_with_fixed_moves_there) {
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    m[0] = 'x';
    char *to = m + 2 * PG;
    char *r = mremap(m, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to);
    int e = errno;
    int ok = r == to && to[0] == 'x' && m[0] == 0;
    munmap(m, 4 * PG);
    CHECK(r != MAP_FAILED, "mremap failed: %s", kt_errstr(e));
    CHECK(ok, "not moved to the fixed address (r=%p to=%p)", (void *)r, (void *)to);
}

TEST(mremap_dontunmap_needs_maymove_and_the_same_length) {
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    errno = 0;
    void *a = mremap(m, PG, PG, MREMAP_DONTUNMAP);
    int ea = errno;
    errno = 0;
    void *b = mremap(m, PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    int eb = errno;
    errno = 0;
    void *c = mremap(m + 1, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    int ec = errno;
    munmap(m, 2 * PG);
    errno = 0;
    void *d = mremap(m, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    int ed = errno;
    CHECK(a == MAP_FAILED && ea == EINVAL, "without MAYMOVE: %s", kt_errstr(ea));
    CHECK(b == MAP_FAILED && eb == EINVAL, "longer: %s", kt_errstr(eb));
    CHECK(c == MAP_FAILED && ec == EINVAL, "unaligned: %s", kt_errstr(ec));
    CHECK(d == MAP_FAILED && ed == EFAULT, "unmapped: %s", kt_errstr(ed));
}

TEST(adjacent_anonymous_mappings_are_one_area_in_maps) {
    /* Two mmaps side by side with the same attributes are one area (as Linux
     * merges them); a different protection keeps them apart. */
    char *m = mmap(NULL, 3 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    char *a = mmap(m, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    char *b = mmap(m + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(a == m && b == m + PG, "fixed mmaps failed");
    /* The area holding both pages ends where the PROT_NONE page starts (it may
     * begin lower, merged with an older neighbour). */
    static char buf[65536];
    int fd = open("/proc/self/maps", O_RDONLY);
    CHECK(fd >= 0, "maps: %s", kt_errstr(errno));
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    buf[n] = 0;
    int found = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= (unsigned long)m &&
            hi == (unsigned long)(m + 2 * PG) && strcmp(perms, "rw-p") == 0)
            found = 1;
    }
    /* Still separable: unmapping the first page leaves the second. */
    munmap(m, PG);
    b[0] = 1;
    munmap(m, 3 * PG);
    CHECK(found, "no one rw-p area over both pages in /proc/self/maps");
}

int main(void)
{
    KT_BEGIN();
    RUN(cow_child_write_does_not_reach_parent);
    RUN(cow_parent_write_after_fork_does_not_reach_child);
    RUN(shared_anonymous_mapping_visible_across_fork_both_ways);
    RUN(shared_file_mapping_write_is_visible_to_read);
    RUN(shared_file_mapping_sees_later_write_syscall);
    RUN(shared_file_mapping_stores_outlive_unmap_and_close);
    RUN(shared_file_mapping_store_past_truncate_does_not_regrow_the_file);
    RUN(shared_file_mapping_made_before_the_file_grew_maps_the_new_pages);
    RUN(shared_file_mapping_after_truncate_down_and_up_reads_zeros_and_stores_reach_the_file);
    RUN(private_file_mapping_sees_write_to_untouched_page);
    RUN(shared_file_mapping_shared_with_forked_child);
    RUN(private_file_mapping_write_does_not_change_the_file);
    RUN(file_mapping_beyond_eof_is_sigbus);
    RUN(munmap_middle_page_leaves_outer_pages_usable);
    RUN(mprotect_none_and_back_keeps_contents);
    RUN(mprotect_read_only_makes_writes_fault);
    RUN(map_fixed_replaces_existing_mapping);
    RUN(map_fixed_noreplace_over_existing_is_eexist);
    RUN(map_fixed_noreplace_at_free_address_succeeds);
    RUN(map_populate_makes_pages_resident);
    RUN(map_growsdown_stack_is_accepted);
    RUN(mmap_zero_length_is_einval);
    RUN(mmap_unaligned_offset_is_einval);
    RUN(mmap_without_shared_or_private_is_einval);
    RUN(mmap_huge_length_is_enomem);
    RUN(mmap_bad_fd_is_ebadf);
    RUN(mmap_shared_writable_on_read_only_fd_is_eacces);
    RUN(mmap_directory_is_enodev);
    RUN(munmap_unaligned_address_is_einval);
    RUN(mremap_grows_in_place_when_there_is_room);
    RUN(mremap_without_maymove_when_blocked_is_enomem);
    RUN(mremap_maymove_moves_and_keeps_contents);
    RUN(mremap_shrink_unmaps_the_tail);
    RUN(mremap_unaligned_or_zero_size_is_einval);
    RUN(mremap_unmapped_range_is_efault);
    RUN(madvise_dontneed_zeroes_private_anonymous_memory);
    RUN(madvise_dontneed_private_file_mapping_rereads_the_file);
    RUN(madvise_willneed_free_normal_are_accepted);
    RUN(madvise_errors);
    RUN(msync_shared_file_mapping);
    RUN(mincore_reports_touched_page_resident);
    RUN(mincore_errors);
    RUN(brk_grows_and_shrinks);
    RUN(anonymous_64mib_mapping_fully_touched_and_unmapped);
    RUN(process_vm_readv_and_writev_copy_between_processes);
    RUN(process_vm_readv_errors);
    RUN(process_vm_readv_of_another_users_process_is_eperm);
    RUN(drop_caches_takes_one_to_four);
    RUN(max_map_count_is_writable_and_reads_back);
    RUN(remap_file_pages_shows_other_file_pages_in_a_shared_mapping);
    RUN(pagemap_marks_present_pages);
    RUN(growsdown_area_keeps_a_guard_gap_above_the_area_below);
    RUN(mremap_dontunmap_moves_pages_and_leaves_the_old_range_empty);
    RUN(mremap_dontunmap_of_a_shared_mapping_sees_the_same_pages_at_both);
    RUN(mremap_dontunmap_with_fixed_moves_there);
    RUN(mremap_dontunmap_needs_maymove_and_the_same_length);
    RUN(adjacent_anonymous_mappings_are_one_area_in_maps);
    return KT_END();
}

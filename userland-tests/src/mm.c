/* brk/mmap/munmap/mprotect */
#define KT_AREA "mm"
#include "kt.h"

#include <signal.h>

#define PAGE 4096UL

static long sys_brk(unsigned long addr)
{
    return syscall(SYS_brk, addr);
}

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static void *anon(size_t len, int prot)
{
    return sys_mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* Child bodies for "this access must crash" checks. */
static void touch_write(void *p)
{
    *(volatile char *)p = 1;
}

static void touch_read(void *p)
{
    volatile char c = *(volatile char *)p;
    (void)c;
}

static int died_of_sigsegv(int st)
{
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

/* ---- brk -------------------------------------------------------------- */

TEST(brk_query_returns_current_break) {
    long a = sys_brk(0);
    long b = sys_brk(0);
    CHECK(a > 0, "brk(0) = %ld", a);
    EXPECT_EQ(a, b);
}

TEST(brk_grow_write_shrink) {
    unsigned long cur = sys_brk(0);
    unsigned long want = cur + 64 * 1024;
    long got = sys_brk(want);
    CHECK((unsigned long)got == want, "brk(+64K) = 0x%lx, expected 0x%lx", got, want);
    /* the new memory is zeroed and writable */
    char *p = (char *)cur;
    for (unsigned long i = 0; i < 64 * 1024; i += 512)
        CHECK(p[i] == 0, "new heap byte at +%lu is %d, expected 0", i, p[i]);
    memset(p, 0x5a, 64 * 1024);
    CHECK(p[64 * 1024 - 1] == 0x5a, "write to the new heap did not stick");
    long back = sys_brk(cur);
    CHECK((unsigned long)back == cur, "brk(shrink) = 0x%lx, expected 0x%lx", back, cur);
    EXPECT_EQ(sys_brk(0), cur);
}

TEST(brk_shrunk_memory_is_unmapped) {
    unsigned long cur = sys_brk(0);
    unsigned long want = cur + 16 * PAGE;
    CHECK((unsigned long)sys_brk(want) == want, "brk grow failed");
    char *probe = (char *)((cur + PAGE - 1) / PAGE * PAGE + 4 * PAGE);
    *probe = 1;
    CHECK((unsigned long)sys_brk(cur) == cur, "brk shrink failed");
    int st = kt_in_child(touch_read, probe);
    CHECK(died_of_sigsegv(st), "reading released heap: child %s, expected SIGSEGV",
          kt_status(st));
}

TEST(brk_regrow_after_shrink_is_zeroed) {
    unsigned long cur = sys_brk(0);
    unsigned long base = (cur + PAGE - 1) / PAGE * PAGE;
    unsigned long want = base + 4 * PAGE;
    CHECK((unsigned long)sys_brk(want) == want, "brk grow failed");
    memset((char *)base, 0x77, 4 * PAGE);
    CHECK((unsigned long)sys_brk(cur) == cur, "brk shrink failed");
    CHECK((unsigned long)sys_brk(want) == want, "brk regrow failed");
    char c = ((char *)base)[PAGE];
    sys_brk(cur);
    EXPECT_EQ(c, 0);
}

TEST(brk_below_start_fails_returning_old_break) {
    long cur = sys_brk(0);
    long r = sys_brk(1);
    EXPECT_EQ(r, cur);
    EXPECT_EQ(sys_brk(0), cur);
}

TEST(brk_into_kernel_half_fails_returning_old_break) {
    long cur = sys_brk(0);
    long r = sys_brk(0xffff800000000000UL);
    EXPECT_EQ(r, cur);
    EXPECT_EQ(sys_brk(0), cur);
}

/* ---- mmap ------------------------------------------------------------- */

TEST(mmap_anonymous_private_is_zeroed_and_writable) {
    size_t len = 8 * PAGE;
    unsigned char *p = anon(len, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    CHECK(((unsigned long)p & (PAGE - 1)) == 0, "mapping %p is not page aligned", (void *)p);
    for (size_t i = 0; i < len; i++)
        CHECK(p[i] == 0, "byte %zu is %d, expected 0", i, p[i]);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)i;
    for (size_t i = 0; i < len; i++)
        CHECK(p[i] == (unsigned char)i, "byte %zu did not keep its value", i);
    OK(syscall(SYS_munmap, p, len));
}

TEST(mmap_length_is_rounded_up_to_pages) {
    char *p = anon(100, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    p[PAGE - 1] = 1; /* the rest of the page is usable */
    OK(syscall(SYS_munmap, p, 100));
}

TEST(mmap_large_sparse_anonymous_mapping) {
    size_t len = 16UL << 20;
    char *p = anon(len, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap 16MiB failed: %s", kt_errstr(errno));
    for (size_t off = 0; off < len; off += 1 << 20)
        p[off] = 1;
    p[len - 1] = 2;
    int ok = p[0] == 1 && p[len - 1] == 2 && p[PAGE] == 0;
    OK(syscall(SYS_munmap, p, len));
    CHECK(ok, "values in the large mapping are wrong");
}

TEST(mmap_private_file_mapping_sees_contents) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    static char data[2 * 4096 + 100];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    OK(kt_write_file(kt_path(d, "f"), data, sizeof data));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char *p = sys_mmap(NULL, sizeof data, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping outlives the fd */
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(e));
    int same = !memcmp(p, data, sizeof data);
    /* the tail of the last page past EOF reads as zeros */
    char tail = p[sizeof data + 10];
    char last = p[3 * PAGE - 1];
    syscall(SYS_munmap, p, sizeof data);
    CHECK(same, "mapping does not match the file");
    EXPECT_EQ(tail, 0);
    EXPECT_EQ(last, 0);
}

TEST(mmap_private_file_mapping_at_offset) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    static char data[3 * 4096];
    memset(data, 'A', PAGE);
    memset(data + PAGE, 'B', PAGE);
    memset(data + 2 * PAGE, 'C', PAGE);
    OK(kt_write_file(kt_path(d, "f"), data, sizeof data));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char *p = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    int e = errno;
    close(fd);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(e));
    char first = p[0], lastc = p[PAGE - 1];
    syscall(SYS_munmap, p, PAGE);
    EXPECT_EQ(first, 'B');
    EXPECT_EQ(lastc, 'B');
}

TEST(mmap_private_file_writes_do_not_reach_the_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "f"), "original", 8));
    int fd = OK(open(kt_path(d, "f"), O_RDWR));
    char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memcpy(p, "CHANGED!", 8);
    char buf[9] = {0};
    long n = pread(fd, buf, 8, 0);
    int mapped_ok = !memcmp(p, "CHANGED!", 8);
    syscall(SYS_munmap, p, PAGE);
    close(fd);
    CHECK(mapped_ok, "private mapping lost its own write");
    EXPECT_EQ(n, 8);
    CHECK(!memcmp(buf, "original", 8), "file now contains '%s'", buf);
}

/* Linux maps a file's own (page-cache) page into a private mapping until the
 * mapping writes it: a write(2) to the file shows through until then, and not
 * after the mapping's own write made it a private copy. */
TEST(mmap_private_file_page_follows_the_file_until_written) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    static char data[PAGE];
    memset(data, 'A', sizeof data);
    OK(kt_write_file(kt_path(d, "f"), data, sizeof data));
    int fd = OK(open(kt_path(d, "f"), O_RDWR));
    char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    char before = p[0];
    OK(pwrite(fd, "B", 1, 0));
    char through = p[0];
    p[1] = 'C';
    OK(pwrite(fd, "DD", 2, 0));
    char after = p[0], own = p[1];
    char file[2] = {0};
    OK(pread(fd, file, 2, 0));
    syscall(SYS_munmap, p, PAGE);
    close(fd);
    EXPECT_EQ(before, 'A');
    EXPECT_EQ(through, 'B');
    EXPECT_EQ(after, 'B'); /* the copy made at the write keeps the file as it was */
    EXPECT_EQ(own, 'C');
    CHECK(file[0] == 'D' && file[1] == 'D', "file reads %.2s", file);
}

TEST(mmap_private_file_write_in_a_child_stays_in_the_child) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "f"), "parent", 6));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    char seen = p[0]; /* mapped, not yet written, before the fork */
    pid_t pid = OK(fork());
    if (pid == 0) {
        memcpy(p, "child!", 6);
        _exit(memcmp(p, "child!", 6) == 0 ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    int parent_same = !memcmp(p, "parent", 6);
    char file[7] = {0};
    OK(pread(fd, file, 6, 0));
    syscall(SYS_munmap, p, PAGE);
    close(fd);
    EXPECT_EQ(seen, 'p');
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
    CHECK(parent_same, "the parent sees the child's write");
    CHECK(!strcmp(file, "parent"), "file reads %s", file);
}

TEST(mmap_anonymous_private_is_copy_on_write_across_fork) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    p[0] = 'P';
    pid_t pid = OK(fork());
    if (pid == 0) {
        p[0] = 'C';
        _exit(p[0] == 'C' ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    char v = p[0];
    syscall(SYS_munmap, p, PAGE);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", kt_status(st));
    EXPECT_EQ(v, 'P');
}

TEST(mmap_fixed_replaces_existing_mapping) {
    char *p = anon(3 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed: %s", kt_errstr(errno));
    memset(p, 'A', 3 * PAGE);
    char *q = sys_mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    int e = errno;
    char a = p[0], mid = p[PAGE], mid_end = p[2 * PAGE - 1], c = p[2 * PAGE];
    syscall(SYS_munmap, p, 3 * PAGE);
    CHECK(q == p + PAGE, "MAP_FIXED returned %p (%s), expected %p", (void *)q, kt_errstr(e),
          (void *)(p + PAGE));
    EXPECT_EQ(a, 'A');
    EXPECT_EQ(mid, 0);
    EXPECT_EQ(mid_end, 0);
    EXPECT_EQ(c, 'A');
}

TEST(mmap_fixed_at_free_address_uses_it) {
    char *p = anon(2 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    syscall(SYS_munmap, p, 2 * PAGE);
    char *q = sys_mmap(p, 2 * PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(q == p, "MAP_FIXED returned %p, expected %p", (void *)q, (void *)p);
    q[2 * PAGE - 1] = 1;
    syscall(SYS_munmap, q, 2 * PAGE);
}

TEST(mmap_fixed_noreplace_over_existing_is_eexist) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    p[0] = 'k';
    void *q = sys_mmap(p, PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    int e = errno;
    char v = p[0];
    syscall(SYS_munmap, p, PAGE);
    CHECK(q == MAP_FAILED && e == EEXIST, "got %p %s, expected MAP_FAILED EEXIST", q,
          kt_errstr(e));
    EXPECT_EQ(v, 'k');
}

TEST(mmap_zero_length_is_einval) {
    EXPECT_ERRNO(sys_mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL);
}

TEST(mmap_fixed_unaligned_address_is_einval) {
    char *p = anon(2 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    void *q = sys_mmap(p + 1, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    int e = errno;
    syscall(SYS_munmap, p, 2 * PAGE);
    CHECK(q == MAP_FAILED && e == EINVAL, "got %p %s, expected EINVAL", q, kt_errstr(e));
}

TEST(mmap_unaligned_offset_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "f"), "abc", 3));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    void *q = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 1);
    int e = errno;
    close(fd);
    CHECK(q == MAP_FAILED && e == EINVAL, "got %p %s, expected EINVAL", q, kt_errstr(e));
}

TEST(mmap_without_private_or_shared_is_einval) {
    EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
}

TEST(mmap_bad_fd_is_ebadf) {
    EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
    EXPECT_ERRNO(sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 9999, 0), EBADF);
}

TEST(mmap_write_only_fd_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0644));
    OK(ftruncate(fd, PAGE));
    void *q = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    CHECK(q == MAP_FAILED && e == EACCES, "got %p %s, expected EACCES", q, kt_errstr(e));
}

TEST(mmap_shared_writable_on_read_only_fd_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(kt_write_file(kt_path(d, "f"), "abc", 3));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    void *q = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    CHECK(q == MAP_FAILED && e == EACCES, "got %p %s, expected EACCES", q, kt_errstr(e));
}

TEST(mmap_directory_is_enodev) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY));
    void *q = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    CHECK(q == MAP_FAILED && e == ENODEV, "got %p %s, expected ENODEV", q, kt_errstr(e));
}

/* procfs files read like regular files but have no content to map: Linux says
 * ENODEV for per-process and sysctl files, shared or private. */
TEST(mmap_of_proc_files_is_enodev) {
    const char *files[] = {"/proc/self/stat", "/proc/sys/kernel/pid_max"};
    for (unsigned i = 0; i < sizeof files / sizeof files[0]; i++) {
        int fd = open(files[i], O_RDONLY);
        if (fd < 0)
            SKIP("%s: %s", files[i], kt_errstr(errno));
        void *q = sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
        int e = errno;
        void *r = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
        int e2 = errno;
        close(fd);
        CHECK(q == MAP_FAILED && e == ENODEV, "%s shared: got %p %s, expected ENODEV",
              files[i], q, kt_errstr(e));
        CHECK(r == MAP_FAILED && e2 == ENODEV, "%s private: got %p %s, expected ENODEV",
              files[i], r, kt_errstr(e2));
    }
}

/* ---- munmap ----------------------------------------------------------- */

TEST(munmap_then_access_segfaults) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    p[0] = 1;
    OK(syscall(SYS_munmap, p, PAGE));
    int st = kt_in_child(touch_read, p);
    CHECK(died_of_sigsegv(st), "child %s, expected SIGSEGV", kt_status(st));
}

TEST(munmap_middle_page_leaves_neighbours) {
    char *p = anon(3 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    memset(p, 'n', 3 * PAGE);
    OK(syscall(SYS_munmap, p + PAGE, PAGE));
    char a = p[PAGE - 1], c = p[2 * PAGE];
    int st = kt_in_child(touch_write, p + PAGE);
    syscall(SYS_munmap, p, 3 * PAGE);
    EXPECT_EQ(a, 'n');
    EXPECT_EQ(c, 'n');
    CHECK(died_of_sigsegv(st), "touching the hole: child %s, expected SIGSEGV", kt_status(st));
}

TEST(munmap_unaligned_is_einval) {
    char *p = anon(2 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    errno = 0;
    long r = syscall(SYS_munmap, p + 1, PAGE);
    int e = errno;
    syscall(SYS_munmap, p, 2 * PAGE);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(munmap_zero_length_is_einval) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    errno = 0;
    long r = syscall(SYS_munmap, p, 0);
    int e = errno;
    syscall(SYS_munmap, p, PAGE);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(munmap_of_unmapped_range_succeeds) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    OK(syscall(SYS_munmap, p, PAGE));
    OK(syscall(SYS_munmap, p, PAGE));
}

/* ---- mprotect --------------------------------------------------------- */

TEST(mprotect_read_only_then_write_segfaults) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    p[0] = 'r';
    OK(syscall(SYS_mprotect, p, PAGE, PROT_READ));
    char v = p[0]; /* still readable */
    int st = kt_in_child(touch_write, p);
    syscall(SYS_munmap, p, PAGE);
    EXPECT_EQ(v, 'r');
    CHECK(died_of_sigsegv(st), "child %s, expected SIGSEGV", kt_status(st));
}

TEST(mprotect_back_to_read_write_allows_writes) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    OK(syscall(SYS_mprotect, p, PAGE, PROT_READ));
    OK(syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_WRITE));
    p[0] = 'w';
    char v = p[0];
    syscall(SYS_munmap, p, PAGE);
    EXPECT_EQ(v, 'w');
}

TEST(mprotect_none_then_read_segfaults) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    OK(syscall(SYS_mprotect, p, PAGE, PROT_NONE));
    int st = kt_in_child(touch_read, p);
    syscall(SYS_munmap, p, PAGE);
    CHECK(died_of_sigsegv(st), "child %s, expected SIGSEGV", kt_status(st));
}

static int split_pipe[2];

static void write_second_then_first(void *p)
{
    char *c = p;
    c[PAGE] = 1; /* still writable */
    write(split_pipe[1], "1", 1);
    c[0] = 1; /* read-only: must fault */
    write(split_pipe[1], "2", 1);
}

TEST(mprotect_part_of_mapping_splits_it) {
    char *p = anon(2 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    OK(pipe(split_pipe));
    OK(syscall(SYS_mprotect, p, PAGE, PROT_READ));
    int st = kt_in_child(write_second_then_first, p);
    close(split_pipe[1]);
    char buf[4] = {0};
    long n = read(split_pipe[0], buf, sizeof buf);
    close(split_pipe[0]);
    syscall(SYS_munmap, p, 2 * PAGE);
    CHECK(n == 1 && buf[0] == '1', "child wrote '%.*s' to the pipe, expected '1'",
          n > 0 ? (int)n : 0, buf);
    CHECK(died_of_sigsegv(st), "child %s, expected SIGSEGV", kt_status(st));
}

TEST(mprotect_unaligned_is_einval) {
    char *p = anon(2 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    errno = 0;
    long r = syscall(SYS_mprotect, p + 1, PAGE, PROT_READ);
    int e = errno;
    syscall(SYS_munmap, p, 2 * PAGE);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

TEST(mprotect_unmapped_range_is_enomem) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    syscall(SYS_munmap, p, PAGE);
    EXPECT_ERRNO(syscall(SYS_mprotect, p, PAGE, PROT_READ), ENOMEM);
}

TEST(mprotect_bad_prot_bits_is_einval) {
    char *p = anon(PAGE, PROT_READ | PROT_WRITE);
    CHECK(p != MAP_FAILED, "mmap failed");
    errno = 0;
    long r = syscall(SYS_mprotect, p, PAGE, 0x10);
    int e = errno;
    syscall(SYS_munmap, p, PAGE);
    CHECK(r == -1 && e == EINVAL, "got %ld %s, expected EINVAL", r, kt_errstr(e));
}

/* A shared mapping of a file opened read-only can never write the file: asking
 * for PROT_WRITE later is EACCES (Linux clears VM_MAYWRITE), and the file is
 * unchanged. A private mapping of the same descriptor may become writable. */
TEST(mprotect_write_on_shared_mapping_of_readonly_fd_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char data[PAGE];
    memset(data, 'r', sizeof data);
    OK(kt_write_file(kt_path(d, "f"), data, sizeof data));
    int fd = OK(open(kt_path(d, "f"), O_RDONLY));
    char *s = sys_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(s != MAP_FAILED, "mmap shared: %s", kt_errstr(errno));
    errno = 0;
    long r = syscall(SYS_mprotect, s, PAGE, PROT_READ | PROT_WRITE);
    int e = errno;
    char *p = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap private: %s", kt_errstr(errno));
    long r2 = syscall(SYS_mprotect, p, PAGE, PROT_READ | PROT_WRITE);
    if (r2 == 0)
        p[0] = 'w';
    char back = 0;
    OK(pread(fd, &back, 1, 0));
    syscall(SYS_munmap, s, PAGE);
    syscall(SYS_munmap, p, PAGE);
    close(fd);
    CHECK(r == -1 && e == EACCES, "shared: got %ld %s, expected EACCES", r, kt_errstr(e));
    CHECK(r2 == 0, "private: mprotect failed: %s", kt_errstr(errno));
    CHECK(back == 'r', "the file changed to %c", back);
}

/* ---- mlock, MAP_LOCKED, madvise fork modes --------------------------- */

/* The "<field>:  N kB" value of /proc/self/status, or -1. */
static long status_kb(const char *field)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strstr(buf, field);
    if (!p)
        return -1;
    return strtol(p + strlen(field) + 1, NULL, 10);
}

TEST(mlock_counts_in_vmlck_and_munlock_uncounts)
{
    char *p = (char *)OK(mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    long before = status_kb("VmLck:");
    OK(mlock(p, 16 * PAGE));
    EXPECT_EQ(status_kb("VmLck:"), before + 64);
    OK(munlock(p, 16 * PAGE));
    EXPECT_EQ(status_kb("VmLck:"), before);
    munmap(p, 16 * PAGE);
}

TEST(mlock_unaligned_start_locks_whole_pages)
{
    char *p = (char *)OK(mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    long before = status_kb("VmLck:");
    OK(mlock(p + 100, PAGE));
    EXPECT_EQ(status_kb("VmLck:"), before + 8);
    OK(munlock(p, 2 * PAGE));
    munmap(p, 2 * PAGE);
}

TEST(mlock_unmapped_range_is_enomem)
{
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(munmap(p, PAGE));
    EXPECT_ERRNO(mlock(p, PAGE), ENOMEM);
    EXPECT_ERRNO(munlock(p, PAGE), ENOMEM);
}

static void unprivileged_mlock_limits(void *arg)
{
    (void)arg;
    struct rlimit rl = {PAGE, PAGE};
    char *p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || setrlimit(RLIMIT_MEMLOCK, &rl) || setuid(65534))
        _exit(10);
    /* Over the limit: ENOMEM; within it: fine; mlockall of everything: ENOMEM. */
    if (mlock(p, 2 * PAGE) != -1 || errno != ENOMEM)
        _exit(11);
    if (mlock(p, PAGE) != 0)
        _exit(12);
    if (mlockall(MCL_CURRENT) != -1 || errno != ENOMEM)
        _exit(13);
    _exit(0);
}

TEST(mlock_past_rlimit_memlock_unprivileged_is_enomem)
{
    int st = kt_in_child(unprivileged_mlock_limits, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void unprivileged_mlock_zero_limit(void *arg)
{
    (void)arg;
    struct rlimit rl = {0, 0};
    char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || setrlimit(RLIMIT_MEMLOCK, &rl) || setuid(65534))
        _exit(10);
    if (mlock(p, PAGE) != -1 || errno != EPERM)
        _exit(11);
    if (mlockall(MCL_CURRENT) != -1 || errno != EPERM)
        _exit(12);
    _exit(0);
}

TEST(mlock_with_zero_rlimit_unprivileged_is_eperm)
{
    int st = kt_in_child(unprivileged_mlock_zero_limit, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(mlockall_bad_flags_are_einval)
{
    EXPECT_ERRNO(mlockall(0), EINVAL);
    EXPECT_ERRNO(mlockall(~(MCL_CURRENT | MCL_FUTURE)), EINVAL);
    EXPECT_ERRNO(mlockall(4 /* MCL_ONFAULT alone */), EINVAL);
    EXPECT_ERRNO(syscall(SYS_mlock2, NULL, PAGE, 2), EINVAL);
}

/* mlock2(MLOCK_ONFAULT) locks the range (VmLck counts it) but makes present
 * only the pages touched: mincore shows the others absent. */
TEST(mlock2_onfault_locks_without_faulting_pages_in)
{
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    p[0] = 1;
    long before = status_kb("VmLck:");
    OK(syscall(SYS_mlock2, p, 4 * PAGE, 1 /* MLOCK_ONFAULT */));
    EXPECT_EQ(status_kb("VmLck:") - before, 16);
    unsigned char v[4];
    OK(mincore(p, 4 * PAGE, v));
    EXPECT_EQ(v[0] & 1, 1);
    EXPECT_EQ(v[1] & 1, 0);
    EXPECT_EQ(v[3] & 1, 0);
    OK(munlock(p, 4 * PAGE));
    OK(syscall(SYS_mlock2, p, 4 * PAGE, 0));
    OK(mincore(p, 4 * PAGE, v));
    EXPECT_EQ(v[3] & 1, 1);
    munmap(p, 4 * PAGE);
}

/* Locked pages cannot be dropped: msync(MS_INVALIDATE) on them is EBUSY. */
TEST(msync_invalidate_of_locked_pages_is_ebusy)
{
    char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errstr(errno));
    EXPECT_ERRNO(msync(p, PAGE, MS_INVALIDATE), EBUSY);
    OK(msync(p, PAGE, MS_SYNC));
    OK(munlock(p, 2 * PAGE));
    OK(msync(p, PAGE, MS_INVALIDATE));
    munmap(p, 2 * PAGE);
}

static void mlockall_future_child(void *arg)
{
    (void)arg;
    if (mlockall(MCL_FUTURE))
        _exit(10);
    long before = status_kb("VmLck:");
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        _exit(11);
    if (status_kb("VmLck:") != before + 16)
        _exit(12);
    if (munlockall() || status_kb("VmLck:") != 0)
        _exit(13);
    _exit(0);
}

TEST(mlockall_future_locks_new_mappings)
{
    int st = kt_in_child(mlockall_future_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(mmap_locked_counts_in_vmlck)
{
    long before = status_kb("VmLck:");
    char *p = (char *)OK(mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0));
    EXPECT_EQ(status_kb("VmLck:"), before + 32);
    OK(munmap(p, 8 * PAGE));
    EXPECT_EQ(status_kb("VmLck:"), before);
}

static void fork_child_reads(void *arg)
{
    _exit(*(volatile char *)arg);
}

TEST(madvise_wipeonfork_gives_child_zeroes)
{
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    p[0] = 7;
    OK(madvise(p, PAGE, 18 /* MADV_WIPEONFORK */));
    int st = kt_in_child(fork_child_reads, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw %s", kt_status(st));
    EXPECT_EQ(p[0], 7);
    OK(madvise(p, PAGE, 19 /* MADV_KEEPONFORK */));
    st = kt_in_child(fork_child_reads, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child saw %s", kt_status(st));
    munmap(p, PAGE);
}

TEST(madvise_dontfork_leaves_child_without_the_mapping)
{
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    p[0] = 7;
    OK(madvise(p, PAGE, 10 /* MADV_DONTFORK */));
    int st = kt_in_child(fork_child_reads, p);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
    OK(madvise(p, PAGE, 11 /* MADV_DOFORK */));
    st = kt_in_child(fork_child_reads, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child: %s", kt_status(st));
    munmap(p, PAGE);
}

TEST(madvise_wipeonfork_on_shared_mapping_is_einval)
{
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    EXPECT_ERRNO(madvise(p, PAGE, 18), EINVAL);
    munmap(p, PAGE);
}

TEST(mmap_closed_fd_with_zero_length_is_ebadf)
{
    int fd = OK(open("/dev/null", O_RDONLY));
    close(fd);
    EXPECT_ERRNO((long)mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0), EBADF);
    EXPECT_ERRNO((long)mmap(NULL, 0, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0), EINVAL);
}

TEST(mprotect_write_on_shared_dev_zero_read_only_is_eacces)
{
    int fd = OK(open("/dev/zero", O_RDONLY));
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0));
    close(fd);
    EXPECT_ERRNO(mprotect(p, PAGE, PROT_WRITE), EACCES);
    munmap(p, PAGE);
}

TEST(smaps_shows_rss_and_locked_of_a_locked_area)
{
    char *p = (char *)OK(mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(mlock(p, 8 * PAGE));
    static char buf[1 << 16];
    int fd = OK(open("/proc/self/smaps", O_RDONLY));
    long n = 0, r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    char head[32];
    snprintf(head, sizeof head, "%lx-", (unsigned long)p);
    char *at = strstr(buf, head);
    CHECK(at, "no smaps entry for %s", head);
    char *rss = strstr(at, "\nRss:"), *locked = strstr(at, "\nLocked:");
    CHECK(rss && locked, "no Rss or Locked line");
    EXPECT_EQ(strtol(rss + 5, NULL, 10), 32);
    EXPECT_EQ(strtol(locked + 8, NULL, 10), 32);
    munlock(p, 8 * PAGE);
    munmap(p, 8 * PAGE);
}

TEST(madvise_free_of_shared_memory_and_dontneed_of_locked_memory_are_einval)
{
    char *s = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    EXPECT_ERRNO(madvise(s, PAGE, 8 /* MADV_FREE */), EINVAL);
    munmap(s, PAGE);
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(mlock(p, PAGE));
    EXPECT_ERRNO(madvise(p, PAGE, MADV_DONTNEED), EINVAL);
    OK(munlock(p, PAGE));
    OK(madvise(p, PAGE, MADV_DONTNEED));
    munmap(p, PAGE);
}

/* madvise checks the advice first, then the address's alignment, then a
 * length that wraps once rounded up to pages (EINVAL), and only then does
 * nothing for a length of 0 (Linux's do_madvise). */
TEST(madvise_checks_advice_alignment_and_wrapping_length_in_linux_order)
{
    char *p = (char *)OK(mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_ERRNO(madvise(p, 0, 999), EINVAL);
    EXPECT_ERRNO(madvise(p + 1, 0, 999), EINVAL);
    EXPECT_ERRNO(madvise(p + 1, 0, MADV_NORMAL), EINVAL);
    OK(madvise(p, 0, MADV_NORMAL));
    EXPECT_ERRNO(madvise(p, (size_t)-1, MADV_NORMAL), EINVAL);
    EXPECT_ERRNO(madvise(p, (size_t)-PAGE, MADV_NORMAL), EINVAL);
    EXPECT_ERRNO(madvise(p, 4 * PAGE, 5), EINVAL);
    munmap(p, 4 * PAGE);
}

/* MADV_POPULATE_READ (22) and MADV_POPULATE_WRITE (23) fault the pages in
 * now; a range with a hole is ENOMEM, a PROT_NONE range EINVAL, and a
 * read-only one EINVAL for a write. A write populate of a private file mapping
 * breaks copy-on-write: the file is unchanged. */
TEST(madvise_populate_read_and_write_fault_pages_in)
{
    char *p = (char *)OK(mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    unsigned char v[4];
    OK(mincore(p, 4 * PAGE, v));
    CHECK(!(v[0] & 1) && !(v[3] & 1), "fresh anonymous pages already resident");
    OK(madvise(p, 4 * PAGE, 23));
    OK(mincore(p, 4 * PAGE, v));
    CHECK((v[0] & 1) && (v[1] & 1) && (v[2] & 1) && (v[3] & 1), "not resident after POPULATE_WRITE");
    char *ro = (char *)OK(mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(madvise(ro, 2 * PAGE, 22));
    EXPECT_ERRNO(madvise(ro, 2 * PAGE, 23), EINVAL);
    char *no = (char *)OK(mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_ERRNO(madvise(no, 2 * PAGE, 22), EINVAL);
    EXPECT_ERRNO(madvise(no, 2 * PAGE, 23), EINVAL);
    OK(munmap(p + PAGE, PAGE));
    EXPECT_ERRNO(madvise(p, 4 * PAGE, 22), ENOMEM);
    munmap(p, 4 * PAGE);
    munmap(ro, 2 * PAGE);
    munmap(no, 2 * PAGE);

    const char *path = kt_path(kt_tmpdir(), "populate");
    OK(kt_write_file(path, "abcd", 4));
    int fd = OK(open(path, O_RDONLY));
    char *f = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
    OK(madvise(f, PAGE, 23));
    f[0] = 'X';
    char buf[4] = {0};
    EXPECT_EQ(pread(fd, buf, 4, 0), 4);
    CHECK(!memcmp(buf, "abcd", 4), "the file changed: \"%.4s\"", buf);
    /* Past the end of the file a populate is EFAULT (it would be SIGBUS). */
    char *g = (char *)OK(mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0));
    EXPECT_ERRNO(madvise(g, 2 * PAGE, 22), EFAULT);
    munmap(f, PAGE);
    munmap(g, 2 * PAGE);
    close(fd);
}

/* MADV_DONTNEED_LOCKED (24) drops locked pages, where MADV_DONTNEED is EINVAL. */
TEST(madvise_dontneed_locked_drops_locked_pages)
{
    char *p = (char *)OK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    OK(mlock(p, PAGE));
    p[0] = 7;
    EXPECT_ERRNO(madvise(p, PAGE, MADV_DONTNEED), EINVAL);
    OK(madvise(p, PAGE, 24));
    EXPECT_EQ(p[0], 0);
    munlock(p, PAGE);
    munmap(p, PAGE);
}

int main(void)
{
    KT_BEGIN();
    RUN(brk_query_returns_current_break);
    RUN(brk_grow_write_shrink);
    RUN(brk_shrunk_memory_is_unmapped);
    RUN(brk_regrow_after_shrink_is_zeroed);
    RUN(brk_below_start_fails_returning_old_break);
    RUN(brk_into_kernel_half_fails_returning_old_break);
    RUN(mmap_anonymous_private_is_zeroed_and_writable);
    RUN(mmap_length_is_rounded_up_to_pages);
    RUN(mmap_large_sparse_anonymous_mapping);
    RUN(mmap_private_file_mapping_sees_contents);
    RUN(mmap_private_file_mapping_at_offset);
    RUN(mmap_private_file_writes_do_not_reach_the_file);
    RUN(mmap_private_file_page_follows_the_file_until_written);
    RUN(mmap_private_file_write_in_a_child_stays_in_the_child);
    RUN(mmap_anonymous_private_is_copy_on_write_across_fork);
    RUN(mmap_fixed_replaces_existing_mapping);
    RUN(mmap_fixed_at_free_address_uses_it);
    RUN(mmap_fixed_noreplace_over_existing_is_eexist);
    RUN(mmap_zero_length_is_einval);
    RUN(mmap_fixed_unaligned_address_is_einval);
    RUN(mmap_unaligned_offset_is_einval);
    RUN(mmap_without_private_or_shared_is_einval);
    RUN(mmap_bad_fd_is_ebadf);
    RUN(mmap_write_only_fd_is_eacces);
    RUN(mmap_shared_writable_on_read_only_fd_is_eacces);
    RUN(mmap_directory_is_enodev);
    RUN(mmap_of_proc_files_is_enodev);
    RUN(munmap_then_access_segfaults);
    RUN(munmap_middle_page_leaves_neighbours);
    RUN(munmap_unaligned_is_einval);
    RUN(munmap_zero_length_is_einval);
    RUN(munmap_of_unmapped_range_succeeds);
    RUN(mprotect_read_only_then_write_segfaults);
    RUN(mprotect_back_to_read_write_allows_writes);
    RUN(mprotect_none_then_read_segfaults);
    RUN(mprotect_part_of_mapping_splits_it);
    RUN(mprotect_unaligned_is_einval);
    RUN(mprotect_unmapped_range_is_enomem);
    RUN(mprotect_bad_prot_bits_is_einval);
    RUN(mprotect_write_on_shared_mapping_of_readonly_fd_is_eacces);
    RUN(mlock_counts_in_vmlck_and_munlock_uncounts);
    RUN(mlock_unaligned_start_locks_whole_pages);
    RUN(mlock_unmapped_range_is_enomem);
    RUN(mlock_past_rlimit_memlock_unprivileged_is_enomem);
    RUN(mlock_with_zero_rlimit_unprivileged_is_eperm);
    RUN(mlockall_bad_flags_are_einval);
    RUN(mlockall_future_locks_new_mappings);
    RUN(mmap_locked_counts_in_vmlck);
    RUN(madvise_wipeonfork_gives_child_zeroes);
    RUN(madvise_checks_advice_alignment_and_wrapping_length_in_linux_order);
    RUN(madvise_populate_read_and_write_fault_pages_in);
    RUN(madvise_dontneed_locked_drops_locked_pages);
    RUN(madvise_dontfork_leaves_child_without_the_mapping);
    RUN(madvise_wipeonfork_on_shared_mapping_is_einval);
    RUN(mmap_closed_fd_with_zero_length_is_ebadf);
    RUN(mprotect_write_on_shared_dev_zero_read_only_is_eacces);
    RUN(smaps_shows_rss_and_locked_of_a_locked_area);
    RUN(madvise_free_of_shared_memory_and_dontneed_of_locked_memory_are_einval);
    RUN(mlock2_onfault_locks_without_faulting_pages_in);
    RUN(msync_invalidate_of_locked_pages_is_ebusy);
    return KT_END();
}

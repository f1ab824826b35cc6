/* uname/sysinfo/getrlimit/setrlimit/prlimit64/getrandom/arch_prctl/
 * set_tid_address and unknown syscall numbers */
#define KT_AREA "misc"
#include "kt.h"

#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/random.h>
#include <sys/sysinfo.h>
#include <time.h>

#define BADPTR ((void *)1)

#define KT_ARCH_SET_GS 0x1001
#define KT_ARCH_SET_FS 0x1002
#define KT_ARCH_GET_FS 0x1003
#define KT_ARCH_GET_GS 0x1004

struct kt_rlimit64 {
    uint64_t cur, max;
};

/* ---- unknown syscalls ------------------------------------------------- */

TEST(unknown_syscall_1000_is_enosys) {
    EXPECT_ERRNO(syscall(1000, 0, 0, 0), ENOSYS);
}

TEST(unknown_syscall_5000_is_enosys) {
    EXPECT_ERRNO(syscall(5000, 0, 0, 0), ENOSYS);
}

TEST(unassigned_syscall_in_gap_is_enosys) {
    EXPECT_ERRNO(syscall(400, 0, 0, 0), ENOSYS); /* 335..423 are unassigned on x86-64 */
}

/* ---- uname ------------------------------------------------------------ */

static int field_ok(const char *f, size_t size)
{
    return f[0] != 0 && memchr(f, 0, size) != NULL;
}

TEST(uname_fields_nonempty_and_nul_terminated) {
    struct utsname u;
    memset(&u, 'X', sizeof u);
    OK(syscall(SYS_uname, &u));
    CHECK(field_ok(u.sysname, sizeof u.sysname), "sysname empty or unterminated");
    CHECK(field_ok(u.nodename, sizeof u.nodename), "nodename empty or unterminated");
    CHECK(field_ok(u.release, sizeof u.release), "release empty or unterminated");
    CHECK(field_ok(u.version, sizeof u.version), "version empty or unterminated");
    CHECK(field_ok(u.machine, sizeof u.machine), "machine empty or unterminated");
    CHECK(field_ok(u.domainname, sizeof u.domainname), "domainname empty or unterminated");
}

TEST(uname_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_uname, BADPTR), EFAULT);
}

/* ---- sysinfo ---------------------------------------------------------- */

TEST(sysinfo_fields_are_sane) {
    struct sysinfo si;
    memset(&si, 0, sizeof si);
    OK(syscall(SYS_sysinfo, &si));
    CHECK((unsigned long)si.uptime < 100UL * 365 * 86400, "uptime %lu is not sane", (unsigned long)si.uptime);
    CHECK(si.mem_unit >= 1, "mem_unit %u", si.mem_unit);
    CHECK(si.totalram > 0, "totalram 0");
    CHECK(si.freeram <= si.totalram, "freeram %lu > totalram %lu", (unsigned long)si.freeram,
          (unsigned long)si.totalram);
    CHECK(si.procs >= 1, "procs %u", si.procs);
}

/* A /proc/meminfo value in kB, -1 if the line is missing. */
static long meminfo_kb(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    if (!p)
        return -1;
    return strtol(p + strlen(key), NULL, 10);
}

TEST(proc_meminfo_totals_are_consistent) {
    char buf[8192];
    int fd = open("/proc/meminfo", O_RDONLY);
    OK(fd);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/meminfo: %zd", n);
    buf[n] = 0;
    long total = strncmp(buf, "MemTotal:", 9) == 0 ? strtol(buf + 9, NULL, 10) : -1;
    long free_kb = meminfo_kb(buf, "\nMemFree:");
    long avail = meminfo_kb(buf, "\nMemAvailable:");
    long slab = meminfo_kb(buf, "\nSlab:");
    long sunr = meminfo_kb(buf, "\nSUnreclaim:");
    long srec = meminfo_kb(buf, "\nSReclaimable:");
    long limit = meminfo_kb(buf, "\nCommitLimit:");
    long swap = meminfo_kb(buf, "\nSwapTotal:");
    CHECK(total > 0 && free_kb >= 0 && avail >= 0, "MemTotal %ld MemFree %ld MemAvailable %ld", total,
          free_kb, avail);
    CHECK(free_kb <= total, "MemFree %ld > MemTotal %ld", free_kb, total);
    CHECK(avail <= total, "MemAvailable %ld > MemTotal %ld", avail, total);
    /* The kernel's own allocations are never nothing; Slab is their sum. */
    CHECK(slab > 0, "Slab %ld", slab);
    CHECK(slab == sunr + srec, "Slab %ld != SUnreclaim %ld + SReclaimable %ld", slab, sunr, srec);
    /* overcommit_ratio 50: half of memory plus swap, give or take huge pages. */
    CHECK(limit > 0 && limit <= total / 2 + swap + 1, "CommitLimit %ld (MemTotal %ld, SwapTotal %ld)",
          limit, total, swap);
}

TEST(sysinfo_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_sysinfo, BADPTR), EFAULT);
}

/* ---- getrlimit / setrlimit / prlimit64 -------------------------------- */

TEST(getrlimit_soft_not_above_hard) {
    static const int res[] = {RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_DATA, RLIMIT_AS};
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
        struct rlimit rl;
        OK(syscall(SYS_getrlimit, res[i], &rl));
        CHECK(rl.rlim_cur <= rl.rlim_max, "resource %d: soft %lu > hard %lu", res[i],
              (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    }
    struct rlimit nofile;
    OK(syscall(SYS_getrlimit, RLIMIT_NOFILE, &nofile));
    CHECK(nofile.rlim_cur >= 3, "RLIMIT_NOFILE soft limit %lu", (unsigned long)nofile.rlim_cur);
}

TEST(getrlimit_bad_resource_is_einval) {
    struct rlimit rl;
    EXPECT_ERRNO(syscall(SYS_getrlimit, 100, &rl), EINVAL);
}

TEST(getrlimit_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getrlimit, RLIMIT_NOFILE, BADPTR), EFAULT);
}

TEST(setrlimit_lower_soft_limit_reads_back) {
    struct rlimit orig, rl, back;
    OK(syscall(SYS_getrlimit, RLIMIT_CORE, &orig));
    rl = orig;
    rl.rlim_cur = orig.rlim_max == 0 ? 0 : 4096;
    if (rl.rlim_cur > orig.rlim_max)
        rl.rlim_cur = orig.rlim_max;
    long r = syscall(SYS_setrlimit, RLIMIT_CORE, &rl);
    int e = errno;
    long g = syscall(SYS_getrlimit, RLIMIT_CORE, &back);
    syscall(SYS_setrlimit, RLIMIT_CORE, &orig);
    CHECK(r == 0, "setrlimit failed: %s", kt_errstr(e));
    CHECK(g == 0, "getrlimit failed");
    EXPECT_EQ(back.rlim_cur, rl.rlim_cur);
    EXPECT_EQ(back.rlim_max, orig.rlim_max);
}

TEST(setrlimit_soft_above_hard_is_einval) {
    struct rlimit rl = {200, 100};
    EXPECT_ERRNO(syscall(SYS_setrlimit, RLIMIT_NOFILE, &rl), EINVAL);
}

TEST(setrlimit_bad_resource_is_einval) {
    struct rlimit rl = {1, 1};
    EXPECT_ERRNO(syscall(SYS_setrlimit, 100, &rl), EINVAL);
}

TEST(setrlimit_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_setrlimit, RLIMIT_NOFILE, BADPTR), EFAULT);
}

static void nofile_limit_child(void *arg)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(2);
    rl.rlim_cur = 10;
    if (syscall(SYS_setrlimit, RLIMIT_NOFILE, &rl) != 0)
        _exit(3);
    int base = open("/", O_RDONLY);
    if (base < 0)
        _exit(2);
    int last = base, fd;
    while ((fd = dup(base)) >= 0)
        last = fd;
    if (errno != EMFILE)
        _exit(4);
    _exit(last == 9 ? 0 : 5);
}

TEST(setrlimit_nofile_limits_new_fds_with_emfile) {
    int st = kt_in_child(nofile_limit_child, NULL);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (2 = setup failed, 3 = setrlimit failed, 4 = dup did not fail with EMFILE, 5 = highest fd "
          "was not 9)", kt_status(st));
}

TEST(prlimit64_get_matches_getrlimit) {
    struct rlimit rl;
    struct kt_rlimit64 a, b;
    OK(syscall(SYS_getrlimit, RLIMIT_NOFILE, &rl));
    OK(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &a));
    OK(syscall(SYS_prlimit64, (long)getpid(), RLIMIT_NOFILE, NULL, &b));
    EXPECT_EQ(a.cur, rl.rlim_cur);
    EXPECT_EQ(a.max, rl.rlim_max);
    EXPECT_EQ(b.cur, a.cur);
    EXPECT_EQ(b.max, a.max);
}

TEST(prlimit64_set_returns_old_limit) {
    struct kt_rlimit64 orig, nw, old, back;
    OK(syscall(SYS_prlimit64, 0, RLIMIT_CORE, NULL, &orig));
    nw = orig;
    nw.cur = orig.max < 8192 ? orig.max : 8192;
    long r = syscall(SYS_prlimit64, 0, RLIMIT_CORE, &nw, &old);
    int e = errno;
    long g = syscall(SYS_prlimit64, 0, RLIMIT_CORE, NULL, &back);
    syscall(SYS_prlimit64, 0, RLIMIT_CORE, &orig, NULL);
    CHECK(r == 0, "prlimit64 set failed: %s", kt_errstr(e));
    CHECK(g == 0, "prlimit64 get failed");
    EXPECT_EQ(old.cur, orig.cur);
    EXPECT_EQ(old.max, orig.max);
    EXPECT_EQ(back.cur, nw.cur);
}

TEST(prlimit64_nonexistent_pid_is_esrch) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    CHECK(pid > 0, "fork failed");
    waitpid(pid, NULL, 0);
    struct kt_rlimit64 rl;
    EXPECT_ERRNO(syscall(SYS_prlimit64, (long)pid, RLIMIT_NOFILE, NULL, &rl), ESRCH);
}

TEST(prlimit64_bad_resource_is_einval) {
    struct kt_rlimit64 rl;
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0, 100, NULL, &rl), EINVAL);
}

TEST(prlimit64_soft_above_hard_is_einval) {
    struct kt_rlimit64 rl = {200, 100};
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL), EINVAL);
}

/* ---- getrandom -------------------------------------------------------- */

TEST(getrandom_fills_the_buffer) {
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    EXPECT_EQ(syscall(SYS_getrandom, a, sizeof a, 0), 64);
    EXPECT_EQ(syscall(SYS_getrandom, b, sizeof b, 0), 64);
    CHECK(memcmp(a, b, sizeof a) != 0, "two getrandom calls returned identical bytes");
    int zeros = 0;
    for (size_t i = 0; i < sizeof a; i++)
        zeros += a[i] == 0;
    CHECK(zeros < 16, "%d of 64 random bytes are zero", zeros);
}

TEST(getrandom_nonblock_returns_bytes) {
    unsigned char a[32];
    long r = syscall(SYS_getrandom, a, sizeof a, GRND_NONBLOCK);
    CHECK(r == 32 || (r == -1 && errno == EAGAIN), "got %ld %s, expected 32 (or EAGAIN before "
          "the pool is ready)", r, kt_errstr(errno));
}

TEST(getrandom_zero_length_returns_zero) {
    unsigned char a[1];
    EXPECT_EQ(syscall(SYS_getrandom, a, 0, 0), 0);
}

TEST(getrandom_bad_flags_is_einval) {
    unsigned char a[8];
    EXPECT_ERRNO(syscall(SYS_getrandom, a, sizeof a, 0x80), EINVAL);
    EXPECT_ERRNO(syscall(SYS_getrandom, a, sizeof a, GRND_RANDOM | GRND_INSECURE), EINVAL);
}

TEST(getrandom_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_getrandom, BADPTR, 16, 0), EFAULT);
}

/* ---- arch_prctl ------------------------------------------------------- */

/* A syscall that touches nothing but registers: safe while %fs is bogus
 * (musl's syscall() could write errno, which lives in TLS). */
static inline long raw_syscall2(long n, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static inline unsigned long read_fs0(void)
{
    unsigned long v;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(v));
    return v;
}

TEST(arch_prctl_get_fs_returns_thread_pointer) {
    unsigned long fs = 0;
    OK(syscall(SYS_arch_prctl, KT_ARCH_GET_FS, &fs));
    CHECK(fs != 0, "ARCH_GET_FS returned 0");
    /* on x86-64 the TLS block starts with a pointer to itself */
    unsigned long self = read_fs0();
    CHECK(self == fs, "%%fs:0 = 0x%lx, ARCH_GET_FS = 0x%lx", self, fs);
}

TEST(arch_prctl_set_fs_roundtrip) {
    unsigned long orig = 0, got = 0;
    OK(syscall(SYS_arch_prctl, KT_ARCH_GET_FS, &orig));
    static unsigned long scratch[4] = {0x1122334455667788UL, 0, 0, 0};
    /* From here until the restore nothing may use TLS (no errno, no libc). */
    long r1 = raw_syscall2(SYS_arch_prctl, KT_ARCH_SET_FS, (long)scratch);
    long r2 = raw_syscall2(SYS_arch_prctl, KT_ARCH_GET_FS, (long)&got);
    unsigned long seen = read_fs0();
    long r3 = raw_syscall2(SYS_arch_prctl, KT_ARCH_SET_FS, (long)orig);
    CHECK(r3 == 0, "restoring FS failed: %ld", r3);
    CHECK(r1 == 0, "ARCH_SET_FS returned %ld", r1);
    CHECK(r2 == 0, "ARCH_GET_FS returned %ld", r2);
    CHECK(got == (unsigned long)scratch, "ARCH_GET_FS gave 0x%lx, set 0x%lx", got,
          (unsigned long)scratch);
    CHECK(seen == scratch[0], "%%fs:0 read 0x%lx, expected 0x%lx", seen, scratch[0]);
    unsigned long now = 0;
    OK(syscall(SYS_arch_prctl, KT_ARCH_GET_FS, &now));
    EXPECT_EQ(now, orig);
}

TEST(arch_prctl_gs_roundtrip) {
    unsigned long orig = 0, got = 0;
    OK(syscall(SYS_arch_prctl, KT_ARCH_GET_GS, &orig));
    static unsigned long scratch[2];
    long r1 = syscall(SYS_arch_prctl, KT_ARCH_SET_GS, (unsigned long)scratch);
    long r2 = syscall(SYS_arch_prctl, KT_ARCH_GET_GS, &got);
    syscall(SYS_arch_prctl, KT_ARCH_SET_GS, orig);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    EXPECT_EQ(got, (unsigned long)scratch);
}

TEST(arch_prctl_bad_code_is_einval) {
    unsigned long v;
    EXPECT_ERRNO(syscall(SYS_arch_prctl, 0x9999, &v), EINVAL);
}

TEST(arch_prctl_get_fs_bad_pointer_is_efault) {
    EXPECT_ERRNO(syscall(SYS_arch_prctl, KT_ARCH_GET_FS, BADPTR), EFAULT);
}

static void set_fs_noncanonical(void *arg)
{
    (void)arg;
    long r = raw_syscall2(SYS_arch_prctl, KT_ARCH_SET_FS, (long)0x8000000000000000UL);
    /* if it wrongly succeeded, %fs is now garbage: leave without touching TLS */
    raw_syscall2(SYS_exit_group, r == -EPERM ? 0 : 1, 0);
}

TEST(arch_prctl_set_fs_kernel_address_is_eperm) {
    int st = kt_in_child(set_fs_noncanonical, NULL);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (1 = ARCH_SET_FS did not fail with EPERM)", kt_status(st));
}

/* ---- set_tid_address -------------------------------------------------- */

static int tid_word;

static void set_tid_child(void *arg)
{
    (void)arg;
    long r = syscall(SYS_set_tid_address, &tid_word);
    _exit(r == syscall(SYS_gettid) && r == syscall(SYS_getpid) ? 0 : 1);
}

TEST(set_tid_address_returns_caller_tid) {
    int st = kt_in_child(set_tid_child, NULL);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child %s (1 = return value is not the tid)", kt_status(st));
}

/* ---- personality ------------------------------------------------------ */

TEST(personality_keeps_addr_no_randomize_for_children) {
    long old = OK(syscall(SYS_personality, 0xffffffffUL));
    EXPECT_EQ(old & 0xff, 0); /* PER_LINUX */
    OK(syscall(SYS_personality, (unsigned long)(old | 0x0040000))); /* ADDR_NO_RANDOMIZE */
    pid_t pid = fork();
    if (pid == 0)
        _exit(syscall(SYS_personality, 0xffffffffUL) & 0x0040000 ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    long now = syscall(SYS_personality, (unsigned long)old);
    EXPECT_EQ(now, old | 0x0040000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- sysfs, ustat, reboot, kcmp, personality, prctl ------------------ */

TEST(sysfs_maps_names_and_indexes_both_ways)
{
    long n = OK(syscall(SYS_sysfs, 3));
    CHECK(n > 0, "sysfs(3) = %ld", n);
    long i = OK(syscall(SYS_sysfs, 1, "proc"));
    char name[64] = {0};
    OK(syscall(SYS_sysfs, 2, i, name));
    CHECK(strcmp(name, "proc") == 0, "index %ld is %s", i, name);
    EXPECT_ERRNO(syscall(SYS_sysfs, 1, "ext0"), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sysfs, 2, n, name), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sysfs, 1, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sysfs, 4), EINVAL);
}

TEST(ustat_of_the_root_device_works_and_bad_ones_fail)
{
    struct stat st;
    OK(stat("/", &st));
    char buf[32];
    OK(syscall(SYS_ustat, (unsigned)st.st_dev, buf));
    EXPECT_ERRNO(syscall(SYS_ustat, (unsigned)-1, buf), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ustat, (unsigned)st.st_dev, (void *)-1), EFAULT);
}

#define KT_REBOOT_MAGIC1 0xfee1deadU
#define KT_REBOOT_MAGIC2 672274793U
#define KT_REBOOT_CAD_ON 0x89abcdefU

static void reboot_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534))
        _exit(10);
    errno = 0;
    if (syscall(SYS_reboot, KT_REBOOT_MAGIC1, KT_REBOOT_MAGIC2, KT_REBOOT_CAD_ON, 0) != -1 ||
        errno != EPERM)
        _exit(11);
    _exit(0);
}

TEST(reboot_checks_magic_command_and_privilege)
{
    EXPECT_ERRNO(syscall(SYS_reboot, 1, KT_REBOOT_MAGIC2, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_reboot, KT_REBOOT_MAGIC1, 1, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_reboot, KT_REBOOT_MAGIC1, KT_REBOOT_MAGIC2, 100, 0), EINVAL);
    /* Ctrl-Alt-Del off, then on again: the default Linux boots with. */
    OK(syscall(SYS_reboot, KT_REBOOT_MAGIC1, KT_REBOOT_MAGIC2, 0, 0));
    OK(syscall(SYS_reboot, KT_REBOOT_MAGIC1, KT_REBOOT_MAGIC2, KT_REBOOT_CAD_ON, 0));
    int st = kt_in_child(reboot_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

#define KT_KCMP_FILE 0
#define KT_KCMP_VM 1

static void kcmp_child(void *arg)
{
    int fd = *(int *)arg;
    int other = open("/dev/null", O_RDONLY);
    pid_t me = getpid(), parent = getppid();
    /* The same open file, through fork and dup: 0; another open file: not 0. */
    if (syscall(SYS_kcmp, me, parent, KT_KCMP_FILE, fd, fd) != 0)
        _exit(10);
    int d = dup(fd);
    if (syscall(SYS_kcmp, parent, me, KT_KCMP_FILE, fd, d) != 0)
        _exit(11);
    long r = syscall(SYS_kcmp, me, me, KT_KCMP_FILE, fd, other);
    if (r != 1 && r != 2)
        _exit(12);
    /* fork: separate address spaces. */
    r = syscall(SYS_kcmp, me, parent, KT_KCMP_VM, 0, 0);
    if (r != 1 && r != 2)
        _exit(13);
    _exit(0);
}

TEST(kcmp_compares_files_and_address_spaces)
{
    int fd = OK(open("/dev/null", O_RDONLY));
    int st = kt_in_child(kcmp_child, &fd);
    close(fd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    EXPECT_EQ(syscall(SYS_kcmp, getpid(), getpid(), KT_KCMP_VM, 0, 0), 0);
}

TEST(kcmp_errors)
{
    int fd = OK(open("/dev/null", O_RDONLY));
    EXPECT_ERRNO(syscall(SYS_kcmp, getpid(), getpid(), 8 /* KCMP_TYPES */, fd, fd), EINVAL);
    EXPECT_ERRNO(syscall(SYS_kcmp, getpid(), getpid(), -1, fd, fd), EINVAL);
    EXPECT_ERRNO(syscall(SYS_kcmp, getpid(), getpid(), KT_KCMP_FILE, fd, -1), EBADF);
    EXPECT_ERRNO(syscall(SYS_kcmp, getpid(), 0x3fffffff, KT_KCMP_FILE, fd, fd), ESRCH);
    close(fd);
}

static void personality_domain_child(void *arg)
{
    (void)arg;
    /* PER_SVR4 with STICKY_TIMEOUTS and MMAP_PAGE_ZERO, as LTP sets it. */
    if (syscall(SYS_personality, 0x4100001) == -1)
        _exit(10);
    if (syscall(SYS_personality, 0xffffffff) != 0x4100001)
        _exit(11);
    _exit(0);
}

TEST(personality_keeps_any_execution_domain)
{
    int st = kt_in_child(personality_domain_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void nnp_child(void *arg)
{
    (void)arg;
    if (syscall(SYS_prctl, 39 /* PR_GET_NO_NEW_PRIVS */, 0, 0, 0, 0) != 0)
        _exit(10);
    if (syscall(SYS_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0) != 0)
        _exit(11);
    if (syscall(SYS_prctl, 39, 0, 0, 0, 0) != 1)
        _exit(12);
    errno = 0;
    if (syscall(SYS_prctl, 39, 1, 0, 0, 0) != -1 || errno != EINVAL)
        _exit(13);
    pid_t c = fork();
    if (c == 0)
        _exit(syscall(SYS_prctl, 39, 0, 0, 0, 0) == 1 ? 0 : 1);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(14);
    _exit(0);
}

TEST(prctl_no_new_privs_is_kept_and_inherited)
{
    int st = kt_in_child(nnp_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void timerslack_child(void *arg)
{
    (void)arg;
    long def = syscall(SYS_prctl, 30 /* PR_GET_TIMERSLACK */, 0, 0, 0, 0);
    if (syscall(SYS_prctl, 29 /* PR_SET_TIMERSLACK */, 70000, 0, 0, 0) != 0)
        _exit(10);
    if (syscall(SYS_prctl, 30, 0, 0, 0, 0) != 70000)
        _exit(11);
    pid_t c = fork();
    if (c == 0) {
        /* The child starts with its parent's slack, and 0 restores that. */
        if (syscall(SYS_prctl, 30, 0, 0, 0, 0) != 70000)
            _exit(1);
        syscall(SYS_prctl, 29, 1, 0, 0, 0);
        syscall(SYS_prctl, 29, 0, 0, 0, 0);
        _exit(syscall(SYS_prctl, 30, 0, 0, 0, 0) == 70000 ? 0 : 2);
    }
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(12);
    if (syscall(SYS_prctl, 29, 0, 0, 0, 0) != 0 || syscall(SYS_prctl, 30, 0, 0, 0, 0) != def)
        _exit(13);
    _exit(0);
}

TEST(prctl_timerslack_is_kept_and_inherited)
{
    int st = kt_in_child(timerslack_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void setpcap_child(void *arg)
{
    (void)arg;
    if (setuid(65534))
        _exit(10);
    errno = 0;
    if (syscall(SYS_prctl, 24 /* PR_CAPBSET_DROP */, 1, 0, 0, 0) != -1 || errno != EPERM)
        _exit(11);
    errno = 0;
    if (syscall(SYS_prctl, 28 /* PR_SET_SECUREBITS */, 0, 0, 0, 0) != -1 || errno != EPERM)
        _exit(12);
    _exit(0);
}

TEST(prctl_capbset_drop_and_securebits_without_cap_setpcap_are_eperm)
{
    int st = kt_in_child(setpcap_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* The bounding set: root drops CAP_KILL (5) from it; it reads back as gone,
 * /proc/self/status shows it, capset may not put it in the inheritable set,
 * and the parent's set is untouched. */
static void capbset_child(void *arg)
{
    (void)arg;
    if (syscall(SYS_prctl, 23 /* PR_CAPBSET_READ */, 5, 0, 0, 0) != 1)
        _exit(10);
    if (syscall(SYS_prctl, 24 /* PR_CAPBSET_DROP */, 5, 0, 0, 0) != 0)
        _exit(11);
    if (syscall(SYS_prctl, 23, 5, 0, 0, 0) != 0)
        _exit(12);
    errno = 0;
    if (syscall(SYS_prctl, 24, 99, 0, 0, 0) != -1 || errno != EINVAL)
        _exit(13);
    errno = 0;
    if (syscall(SYS_prctl, 23, 99, 0, 0, 0) != -1 || errno != EINVAL)
        _exit(14);
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0) {
        buf[n] = 0;
        char *b = strstr(buf, "CapBnd:");
        unsigned long long bnd = b ? strtoull(b + 7, NULL, 16) : 0;
        if (!b || (bnd & (1ULL << 5)) || !(bnd & 1))
            _exit(15);
    }
    /* capset: an inheritable set past the bounding set and the old
     * inheritable set is EPERM, even with CAP_SETPCAP. */
    unsigned hdr[2] = {0x20080522, 0};
    unsigned data[6];
    if (syscall(SYS_capget, hdr, data) != 0)
        _exit(16);
    data[2] = 1u << 5; /* inheritable: CAP_KILL */
    errno = 0;
    if (syscall(SYS_capset, hdr, data) != -1 || errno != EPERM)
        _exit(17);
    _exit(0);
}

TEST(prctl_capbset_drop_takes_a_capability_out_of_the_bounding_set)
{
    int st = kt_in_child(capbset_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    EXPECT_EQ(syscall(SYS_prctl, 23, 5, 0, 0, 0), 1);
}

TEST(capget_negative_pid_is_einval)
{
    unsigned hdr[2] = {0x20080522, (unsigned)-1};
    unsigned data[6];
    EXPECT_ERRNO(syscall(SYS_capget, hdr, data), EINVAL);
    hdr[1] = 0x3fffffff;
    EXPECT_ERRNO(syscall(SYS_capget, hdr, data), ESRCH);
}

TEST(sched_priority_range_of_deadline_is_zero)
{
    EXPECT_EQ(syscall(SYS_sched_get_priority_max, 6 /* SCHED_DEADLINE */), 0);
    EXPECT_EQ(syscall(SYS_sched_get_priority_min, 6), 0);
}

static void syslog_unprivileged(void *arg)
{
    (void)arg;
    char buf[64];
    if (setuid(65534))
        _exit(10);
    errno = 0;
    if (syscall(SYS_syslog, 2, buf, (int)sizeof buf) != -1 || errno != EPERM)
        _exit(11);
    /* Reading all of it and its size are open to everyone (dmesg_restrict 0);
     * some systems restrict them. */
    _exit(0);
}

TEST(syslog_actions_and_their_errors)
{
    char buf[256];
    EXPECT_ERRNO(syscall(SYS_syslog, 100, buf, (int)sizeof buf), EINVAL);
    EXPECT_ERRNO(syscall(SYS_syslog, 2, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_syslog, 3, buf, -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_syslog, 8, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_syslog, 8, NULL, 9), EINVAL);
    EXPECT_EQ(syscall(SYS_syslog, 2, buf, 0), 0);
    long size = OK(syscall(SYS_syslog, 10, NULL, 0));
    CHECK(size > 0, "SIZE_BUFFER = %ld", size);
    long n = OK(syscall(SYS_syslog, 3, buf, (int)sizeof buf));
    CHECK(n >= 0 && n <= (long)sizeof buf, "READ_ALL = %ld", n);
    int st = kt_in_child(syslog_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void kcmp_io_sysvsem_child(void *arg)
{
    (void)arg;
    /* Neither has an I/O context or a SEM_UNDO list of its own: equal. */
    if (syscall(SYS_kcmp, getpid(), getppid(), 5 /* KCMP_IO */, 0, 0) != 0)
        _exit(10);
    if (syscall(SYS_kcmp, getpid(), getppid(), 6 /* KCMP_SYSVSEM */, 0, 0) != 0)
        _exit(11);
    _exit(0);
}

TEST(kcmp_io_and_sysvsem_of_processes_without_either_are_equal)
{
    int st = kt_in_child(kcmp_io_sysvsem_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* delete_module of a module that is not loaded: ENOENT (an empty or long
 * name too); a bad name pointer EFAULT; without CAP_SYS_MODULE EPERM. */
static void child_delete_module_unprivileged(void *arg)
{
    (void)arg;
    if (setresuid(65534, 65534, 65534) != 0)
        _exit(10);
    errno = 0;
    if (syscall(SYS_delete_module, "kt_no_such_module", 0) != -1 || errno != EPERM)
        _exit(11);
    _exit(0);
}

TEST(delete_module_of_a_module_not_loaded_is_enoent) {
    if (geteuid() != 0)
        SKIP("needs root");
    char longname[100];
    memset(longname, 'm', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    if (syscall(SYS_delete_module, "kt_no_such_module", 0) == -1 && errno == ENOSYS)
        SKIP("a kernel built without module support");
    EXPECT_ERRNO(syscall(SYS_delete_module, "kt_no_such_module", 0), ENOENT);
    EXPECT_ERRNO(syscall(SYS_delete_module, "", 0), ENOENT);
    EXPECT_ERRNO(syscall(SYS_delete_module, longname, 0), ENOENT);
    EXPECT_ERRNO(syscall(SYS_delete_module, (void *)8, 0), EFAULT);
    int st = kt_in_child(child_delete_module_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* RNDGETENTCNT on the random devices reports the pool's entropy in bits: a
 * seeded pool (Linux 5.18+: 256, its POOL_READY_BITS). */
TEST(urandom_rndgetentcnt_reports_a_full_pool) {
    int fd = OK(open("/dev/urandom", O_RDONLY));
    int n = -1;
    OK(ioctl(fd, 0x80045200 /* RNDGETENTCNT */, &n));
    CHECK(n >= 256, "entropy count %d", n);
    EXPECT_ERRNO(ioctl(fd, 0x80045200, (void *)8), EFAULT);
    close(fd);
    /* /proc/sys/kernel/random/entropy_avail says the same */
    FILE *f = fopen("/proc/sys/kernel/random/entropy_avail", "r");
    CHECK(f, "entropy_avail: %s", kt_errstr(errno));
    int avail = -1;
    int got = fscanf(f, "%d", &avail);
    fclose(f);
    EXPECT_EQ(got, 1);
    EXPECT_EQ(avail, n);
}

TEST(dev_null_and_zero_take_writes_without_reading_the_buffer) {
    /* Linux's write_null returns the count after access_ok alone: memory that
     * cannot be read is still "written"; an address outside user space is
     * EFAULT; /dev/full is ENOSPC. */
    size_t len = 64 * 1024;
    char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    int null = OK(open("/dev/null", O_WRONLY));
    int zero = OK(open("/dev/zero", O_WRONLY));
    int full = OK(open("/dev/full", O_WRONLY));
    EXPECT_EQ(write(null, p, len), (ssize_t)len);
    EXPECT_EQ(write(zero, p, len), (ssize_t)len);
    EXPECT_ERRNO(write(null, (void *)0xffff880000000000ul, 16), EFAULT);
    char c = 'x';
    EXPECT_ERRNO(write(full, &c, 1), ENOSPC);
    close(null);
    close(zero);
    close(full);
    munmap(p, len);
}

/* ---- prctl(PR_SET_TSC) ------------------------------------------------ */

#define KT_PR_GET_TSC 25
#define KT_PR_SET_TSC 26

static uint64_t kt_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t kt_rdtscp(void)
{
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    return (uint64_t)hi << 32 | lo;
}

static void tsc_rdtsc_child(void *arg)
{
    (void)arg;
    kt_rdtsc();
    _exit(0);
}

static void tsc_rdtscp_child(void *arg)
{
    (void)arg;
    kt_rdtscp();
    _exit(0);
}

static void tsc_sigsegv_child(void *arg)
{
    (void)arg;
    int mode = -1;
    if (syscall(SYS_prctl, KT_PR_GET_TSC, &mode, 0, 0, 0) != 0 || mode != 1 /* ENABLE */)
        _exit(10);
    if (syscall(SYS_prctl, KT_PR_SET_TSC, 2 /* PR_TSC_SIGSEGV */, 0, 0, 0) != 0)
        _exit(11);
    if (syscall(SYS_prctl, KT_PR_GET_TSC, &mode, 0, 0, 0) != 0 || mode != 2)
        _exit(12);
    /* A child of fork inherits the mode: its RDTSC and RDTSCP fault. */
    int st = kt_in_child(tsc_rdtsc_child, NULL);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
        _exit(13);
    st = kt_in_child(tsc_rdtscp_child, NULL);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
        _exit(14);
    /* Enabled again, it reads. */
    if (syscall(SYS_prctl, KT_PR_SET_TSC, 1 /* PR_TSC_ENABLE */, 0, 0, 0) != 0)
        _exit(15);
    uint64_t a = kt_rdtsc(), b = kt_rdtsc();
    if (b <= a)
        _exit(16);
    if (syscall(SYS_prctl, KT_PR_SET_TSC, 2, 0, 0, 0) != 0)
        _exit(17);
    kt_rdtsc();
    _exit(18); /* not reached: SIGSEGV */
}

TEST(prctl_tsc_sigsegv_makes_rdtsc_fault_and_is_inherited)
{
    int st = kt_in_child(tsc_sigsegv_child, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
    /* The parent's mode did not change. */
    int mode = 0;
    OK(syscall(SYS_prctl, KT_PR_GET_TSC, &mode, 0, 0, 0));
    EXPECT_EQ(mode, 1);
    CHECK(kt_rdtsc() != 0, "rdtsc read 0");
}

TEST(prctl_tsc_bad_mode_is_einval_and_bad_pointer_is_efault)
{
    EXPECT_ERRNO(syscall(SYS_prctl, KT_PR_SET_TSC, 0, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_prctl, KT_PR_SET_TSC, 3, 0, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_prctl, KT_PR_GET_TSC, BADPTR, 0, 0, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_prctl, KT_PR_GET_TSC, NULL, 0, 0, 0), EFAULT);
}

/* ---- scheduling policies ---------------------------------------------- */

#define KT_SCHED_OTHER 0
#define KT_SCHED_FIFO 1
#define KT_SCHED_RR 2
#define KT_SCHED_DEADLINE 6
#define KT_RESET_ON_FORK 0x40000000

struct kt_sched_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

static long kt_setsched(int pid, int policy, int prio)
{
    return syscall(SYS_sched_setscheduler, pid, policy, &prio);
}

static long kt_getprio(int pid)
{
    int prio = -1;
    if (syscall(SYS_sched_getparam, pid, &prio) != 0)
        return -1;
    return prio;
}

/* Fields 18 (priority), 19 (nice), 40 (rt_priority) and 41 (policy) of
 * /proc/self/stat. */
static int kt_stat_sched(long *prio, long *nice, long *rtprio, long *policy)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3 */
    long f[64];
    int i = 3;
    while (*p && i < 42) {
        char *end;
        if (i == 3) {
            p += 2;
            i++;
            continue;
        }
        f[i] = strtol(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
        while (*p == ' ')
            p++;
        i++;
    }
    if (i < 42)
        return -1;
    *prio = f[18];
    *nice = f[19];
    *rtprio = f[40];
    *policy = f[41];
    return 0;
}

static void sched_fifo_child(void *arg)
{
    (void)arg;
    if (kt_setsched(0, KT_SCHED_FIFO, 10) != 0)
        _exit(10);
    if (syscall(SYS_sched_getscheduler, 0) != KT_SCHED_FIFO || kt_getprio(0) != 10)
        _exit(11);
    if (syscall(SYS_sched_getscheduler, getpid()) != KT_SCHED_FIFO)
        _exit(12);
    long prio, nice, rtprio, policy;
    if (kt_stat_sched(&prio, &nice, &rtprio, &policy) != 0)
        _exit(13);
    if (prio != -11 || rtprio != 10 || policy != KT_SCHED_FIFO)
        _exit(14);
    struct timespec ts = {1, 1};
    if (syscall(SYS_sched_rr_get_interval, 0, &ts) != 0 || ts.tv_sec != 0 || ts.tv_nsec != 0)
        _exit(15); /* SCHED_FIFO has no quantum */
    /* sched_setparam changes the priority within the policy. */
    int p = 20;
    if (syscall(SYS_sched_setparam, 0, &p) != 0 || kt_getprio(0) != 20)
        _exit(16);
    if (kt_setsched(0, KT_SCHED_RR, 5) != 0 || syscall(SYS_sched_getscheduler, 0) != KT_SCHED_RR)
        _exit(17);
    if (syscall(SYS_sched_rr_get_interval, 0, &ts) != 0 || (ts.tv_sec == 0 && ts.tv_nsec == 0) ||
        ts.tv_sec > 1)
        _exit(18);
    /* The quantum is sched_rr_timeslice_ms. */
    int tfd = open("/proc/sys/kernel/sched_rr_timeslice_ms", O_RDONLY);
    char tb[32] = {0};
    if (tfd < 0 || read(tfd, tb, sizeof tb - 1) <= 0 ||
        atol(tb) != ts.tv_sec * 1000 + ts.tv_nsec / 1000000)
        _exit(22);
    close(tfd);
    /* A child of fork inherits policy and priority. */
    pid_t c = fork();
    if (c == 0)
        _exit(syscall(SYS_sched_getscheduler, 0) == KT_SCHED_RR && kt_getprio(0) == 5 ? 0 : 1);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(19);
    if (kt_setsched(0, KT_SCHED_OTHER, 0) != 0 || syscall(SYS_sched_getscheduler, 0) != 0 ||
        kt_getprio(0) != 0)
        _exit(20);
    if (kt_stat_sched(&prio, &nice, &rtprio, &policy) != 0 || prio != 20 + nice || rtprio != 0 ||
        policy != 0)
        _exit(21);
    _exit(0);
}

TEST(sched_setscheduler_rt_policy_as_root_is_kept_reported_and_inherited)
{
    int st = kt_in_child(sched_fifo_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void sched_reset_child(void *arg)
{
    (void)arg;
    if (kt_setsched(0, KT_SCHED_FIFO | KT_RESET_ON_FORK, 30) != 0)
        _exit(10);
    if (syscall(SYS_sched_getscheduler, 0) != (KT_SCHED_FIFO | KT_RESET_ON_FORK))
        _exit(11);
    /* The child starts as SCHED_OTHER, priority 0, without the flag. */
    pid_t c = fork();
    if (c == 0)
        _exit(syscall(SYS_sched_getscheduler, 0) == KT_SCHED_OTHER && kt_getprio(0) == 0 ? 0 : 1);
    int st;
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(12);
    /* sched_setparam keeps the flag. */
    int p = 31;
    if (syscall(SYS_sched_setparam, 0, &p) != 0 ||
        syscall(SYS_sched_getscheduler, 0) != (KT_SCHED_FIFO | KT_RESET_ON_FORK))
        _exit(13);
    /* A negative nice is reset to 0 as well. */
    if (kt_setsched(0, KT_SCHED_OTHER | KT_RESET_ON_FORK, 0) != 0 || setpriority(PRIO_PROCESS, 0, -5))
        _exit(14);
    c = fork();
    if (c == 0)
        _exit(getpriority(PRIO_PROCESS, 0) == 0 ? 0 : 1);
    if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        _exit(15);
    _exit(0);
}

TEST(sched_reset_on_fork_gives_the_child_sched_other)
{
    int st = kt_in_child(sched_reset_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(sched_setscheduler_bad_arguments)
{
    int prio = 1;
    EXPECT_ERRNO(kt_setsched(0, -1, 1), EINVAL);
    EXPECT_ERRNO(kt_setsched(0, 7, 0), EINVAL);
    EXPECT_ERRNO(kt_setsched(0, KT_SCHED_FIFO, 0), EINVAL);
    EXPECT_ERRNO(kt_setsched(0, KT_SCHED_FIFO, 100), EINVAL);
    EXPECT_ERRNO(kt_setsched(0, KT_SCHED_RR, -1), EINVAL);
    EXPECT_ERRNO(kt_setsched(0, KT_SCHED_OTHER, 1), EINVAL);
    /* SCHED_DEADLINE needs sched_setattr's parameters. */
    EXPECT_ERRNO(kt_setsched(0, KT_SCHED_DEADLINE, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, 0, KT_SCHED_FIFO, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, -1, KT_SCHED_FIFO, &prio), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, 0, KT_SCHED_FIFO, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, 0x3fffffff, KT_SCHED_FIFO, &prio), ESRCH);
    EXPECT_ERRNO(syscall(SYS_sched_setparam, 0, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setparam, 0, &prio), EINVAL); /* SCHED_OTHER: 0 only */
    EXPECT_ERRNO(syscall(SYS_sched_getparam, 0, NULL), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getparam, -1, &prio), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getparam, 0, BADPTR), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sched_getscheduler, -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getscheduler, 0x3fffffff), ESRCH);
    struct timespec ts;
    EXPECT_ERRNO(syscall(SYS_sched_rr_get_interval, -1, &ts), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_rr_get_interval, 0x3fffffff, &ts), ESRCH);
    EXPECT_ERRNO(syscall(SYS_sched_rr_get_interval, 0, BADPTR), EFAULT);
}

static void sched_unprivileged_child(void *arg)
{
    (void)arg;
    struct rlimit rl = {20, 20};
    if (setrlimit(RLIMIT_RTPRIO, &rl) != 0)
        _exit(errno == EPERM ? 77 : 9); /* raising a hard limit needs CAP_SYS_RESOURCE */
    if (setuid(65534) != 0)
        _exit(10);
    /* Within RLIMIT_RTPRIO an unprivileged process may choose a real-time policy... */
    if (kt_setsched(0, KT_SCHED_FIFO, 10) != 0)
        _exit(11);
    /* ...but not a priority above it, */
    errno = 0;
    if (kt_setsched(0, KT_SCHED_FIFO, 30) != -1 || errno != EPERM)
        _exit(12);
    /* nor clear SCHED_RESET_ON_FORK once set, */
    if (kt_setsched(0, KT_SCHED_RR | KT_RESET_ON_FORK, 10) != 0)
        _exit(13);
    errno = 0;
    if (kt_setsched(0, KT_SCHED_RR, 10) != -1 || errno != EPERM)
        _exit(14);
    /* nor change another user's process. */
    errno = 0;
    if (kt_setsched(1, KT_SCHED_OTHER, 0) != -1 || errno != EPERM)
        _exit(15);
    rl.rlim_cur = 0;
    if (setrlimit(RLIMIT_RTPRIO, &rl) != 0 || kt_setsched(0, KT_SCHED_OTHER | KT_RESET_ON_FORK, 0))
        _exit(16);
    /* Without RLIMIT_RTPRIO no real-time policy at all. */
    errno = 0;
    if (kt_setsched(0, KT_SCHED_FIFO | KT_RESET_ON_FORK, 1) != -1 || errno != EPERM)
        _exit(17);
    _exit(0);
}

static void sched_no_rtprio_child(void *arg)
{
    (void)arg;
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_RTPRIO, &rl) != 0 || setuid(65534) != 0)
        _exit(10);
    errno = 0;
    if (kt_setsched(0, KT_SCHED_FIFO, 1) != -1 || errno != EPERM)
        _exit(11);
    errno = 0;
    if (kt_setsched(0, KT_SCHED_RR, 1) != -1 || errno != EPERM)
        _exit(12);
    errno = 0;
    if (kt_setsched(1, KT_SCHED_OTHER, 0) != -1 || errno != EPERM)
        _exit(13);
    /* The policies without priorities need no privilege. */
    if (kt_setsched(0, 3 /* SCHED_BATCH */, 0) != 0 || syscall(SYS_sched_getscheduler, 0) != 3)
        _exit(14);
    if (kt_setsched(0, KT_SCHED_OTHER, 0) != 0)
        _exit(15);
    _exit(0);
}

TEST(sched_rt_policy_unprivileged_without_rlimit_rtprio_is_eperm)
{
    int st = kt_in_child(sched_no_rtprio_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(sched_rt_policy_unprivileged_is_limited_by_rlimit_rtprio)
{
    int st = kt_in_child(sched_unprivileged_child, NULL);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        SKIP("cannot raise RLIMIT_RTPRIO (no CAP_SYS_RESOURCE)");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void sched_attr_child(void *arg)
{
    (void)arg;
    struct kt_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = KT_SCHED_RR;
    a.priority = 7;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0)
        _exit(10);
    memset(&a, 0xff, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0)
        _exit(11);
    if (a.size != 56 || a.policy != KT_SCHED_RR || a.priority != 7 || a.flags != 0)
        _exit(12);
    if (syscall(SYS_sched_getscheduler, 0) != KT_SCHED_RR || kt_getprio(0) != 7)
        _exit(13);
    /* SCHED_OTHER with a nice value sets the nice value; size 0 is the first version. */
    memset(&a, 0, sizeof a);
    a.policy = KT_SCHED_OTHER;
    a.nice = 5;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0 || getpriority(PRIO_PROCESS, 0) != 5)
        _exit(14);
    memset(&a, 0xff, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, 48, 0) != 0 || a.size != 48 || a.policy != 0 ||
        a.nice != 5 || a.priority != 0 || a.util_min != 0xffffffffu)
        _exit(15);
    /* SCHED_FLAG_KEEP_POLICY: only the parameters change. */
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.flags = 0x08;
    a.nice = 7;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0 || getpriority(PRIO_PROCESS, 0) != 7 ||
        syscall(SYS_sched_getscheduler, 0) != 0)
        _exit(16);
    _exit(0);
}

TEST(sched_setattr_and_getattr_round_trip)
{
    int st = kt_in_child(sched_attr_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(sched_setattr_and_getattr_bad_arguments)
{
    struct kt_sched_attr a;
    unsigned char big[128];
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setattr, -1, &a, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, &a, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, BADPTR, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0x3fffffff, &a, 0), ESRCH);
    /* Too small: E2BIG, and the size the kernel knows written back. */
    a.size = 40;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, &a, 0), E2BIG);
    EXPECT_EQ(a.size, 56);
    /* Larger than the kernel knows, with nonzero bytes past its end: E2BIG. */
    memset(big, 0, sizeof big);
    memcpy(big, &a, sizeof a);
    ((struct kt_sched_attr *)big)->size = sizeof big;
    big[100] = 1;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, big, 0), E2BIG);
    big[100] = 0;
    OK(syscall(SYS_sched_setattr, 0, big, 0));
    a.size = sizeof a;
    a.policy = 9;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, &a, 0), EINVAL);
    a.policy = KT_SCHED_OTHER;
    a.flags = 0x1000;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, &a, 0), EINVAL);
    /* SCHED_DEADLINE with a runtime longer than its deadline. */
    a.flags = 0;
    a.policy = KT_SCHED_DEADLINE;
    a.runtime = 20000000;
    a.deadline = 10000000;
    a.period = 30000000;
    EXPECT_ERRNO(syscall(SYS_sched_setattr, 0, &a, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, 0, &a, 40, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, 0, &a, sizeof a, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, 0, NULL, sizeof a, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, -1, &a, sizeof a, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, 0x3fffffff, &a, sizeof a, 0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_sched_getattr, 0, BADPTR, sizeof a, 0), EFAULT);
}

static void sched_deadline_child(void *arg)
{
    (void)arg;
    struct kt_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = KT_SCHED_DEADLINE;
    a.runtime = 10000000;
    a.deadline = 30000000;
    a.period = 30000000;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0)
        _exit(errno == EBUSY || errno == EPERM ? 77 : 10);
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0 || a.policy != KT_SCHED_DEADLINE ||
        a.runtime != 10000000 || a.deadline != 30000000 || a.period != 30000000 || a.priority != 0)
        _exit(11);
    if (syscall(SYS_sched_getscheduler, 0) != KT_SCHED_DEADLINE || kt_getprio(0) != 0)
        _exit(12);
    struct timespec ts = {1, 1};
    if (syscall(SYS_sched_rr_get_interval, 0, &ts) != 0 || ts.tv_sec != 0 || ts.tv_nsec != 0)
        _exit(13);
    /* A deadline task cannot fork... */
    errno = 0;
    if (fork() != -1 || errno != EAGAIN)
        _exit(14);
    /* A period beyond sched_deadline_period_max_us (4.19 s) is EINVAL. */
    a.runtime = 1000000;
    a.deadline = a.period = 5000000000ULL;
    errno = 0;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != -1 || errno != EINVAL)
        _exit(15);
    /* Back to SCHED_OTHER. */
    if (kt_setsched(0, KT_SCHED_OTHER, 0) != 0 || syscall(SYS_sched_getscheduler, 0) != 0)
        _exit(16);
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    int st;
    if (c < 0 || waitpid(c, &st, 0) != c)
        _exit(17);
    _exit(0);
}

TEST(sched_deadline_is_admitted_reported_and_cannot_fork)
{
    int st = kt_in_child(sched_deadline_child, NULL);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        SKIP("this system admits no SCHED_DEADLINE task");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* acct(2): BSD process accounting. Each process that ends appends a 64-byte
 * struct acct_v3 to the file; the record is there once wait returns. */
struct kt_acct_v3 {
    char ac_flag, ac_version;
    uint16_t ac_tty;
    uint32_t ac_exitcode, ac_uid, ac_gid, ac_pid, ac_ppid, ac_btime;
    float ac_etime;
    uint16_t ac_utime, ac_stime, ac_mem, ac_io, ac_rw, ac_minflt, ac_majflt, ac_swaps;
    char ac_comm[16];
};

TEST(acct_appends_a_v3_record_for_each_process_that_ends)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    const char *f = kt_path(d, "pacct");
    int fd = OK(open(f, O_RDWR | O_CREAT | O_TRUNC, 0600));
    if (syscall(SYS_acct, f) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOSYS)
            SKIP("no process accounting in this kernel");
        CHECK(0, "acct(%s): errno %d", f, e);
        return;
    }
    time_t t0 = time(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    OK(pid);
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    OK(syscall(SYS_acct, NULL));
    struct kt_acct_v3 r;
    int found = 0;
    while (read(fd, &r, sizeof r) == (ssize_t)sizeof r) {
        if (r.ac_pid != (uint32_t)pid)
            continue;
        found = 1;
        EXPECT_EQ(r.ac_version & 0x7f, 3);
        EXPECT_EQ(r.ac_exitcode, (uint32_t)st);
        EXPECT_EQ(r.ac_ppid, (uint32_t)getpid());
        EXPECT_EQ(r.ac_uid, getuid());
        EXPECT_EQ(r.ac_gid, getgid());
        CHECK(r.ac_flag & 0x01, "a child that did not exec lacks AFORK (flags %#x)", r.ac_flag);
        CHECK(!(r.ac_flag & 0x10), "an exit is no signal (flags %#x)", r.ac_flag);
        CHECK(r.ac_btime + 5 >= (uint32_t)t0 && r.ac_btime <= (uint32_t)time(NULL) + 1,
              "ac_btime %u, started near %ld", r.ac_btime, (long)t0);
        char comm[17] = {0};
        memcpy(comm, r.ac_comm, 16);
        char self[32] = {0};
        int cf = open("/proc/self/comm", O_RDONLY);
        if (cf >= 0) {
            ssize_t n = read(cf, self, sizeof self - 1);
            close(cf);
            if (n > 0 && self[n - 1] == '\n')
                self[n - 1] = 0;
            CHECK(!strcmp(comm, self), "ac_comm %s, expected %s", comm, self);
        }
    }
    close(fd);
    CHECK(found, "no record for the child %d", pid);
    /* After acct(NULL) nothing more is written. */
    struct stat before, after;
    OK(stat(f, &before));
    pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    OK(stat(f, &after));
    EXPECT_EQ(after.st_size, before.st_size);
}

TEST(acct_errors)
{
    const char *d = kt_tmpdir();
    CHECK(d, "tmpdir");
    if (syscall(SYS_acct, d) == -1 && errno == ENOSYS)
        SKIP("no process accounting in this kernel");
    EXPECT_ERRNO(syscall(SYS_acct, d), EISDIR);
    EXPECT_ERRNO(syscall(SYS_acct, "/dev/null"), EACCES);
    EXPECT_ERRNO(syscall(SYS_acct, kt_path(d, "missing")), ENOENT);
    EXPECT_ERRNO(syscall(SYS_acct, (char *)1), EFAULT);
    /* Without CAP_SYS_PACCT, EPERM before anything else (even for NULL). */
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534) != 0)
            _exit(3);
        _exit(syscall(SYS_acct, NULL) == -1 && errno == EPERM ? 0 : 4);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "an unprivileged acct: status %#x", st);
}

int main(void)
{
    KT_BEGIN();
    RUN(unknown_syscall_1000_is_enosys);
    RUN(unknown_syscall_5000_is_enosys);
    RUN(unassigned_syscall_in_gap_is_enosys);
    RUN(uname_fields_nonempty_and_nul_terminated);
    RUN(uname_bad_pointer_is_efault);
    RUN(sysinfo_fields_are_sane);
    RUN(proc_meminfo_totals_are_consistent);
    RUN(sysinfo_bad_pointer_is_efault);
    RUN(getrlimit_soft_not_above_hard);
    RUN(getrlimit_bad_resource_is_einval);
    RUN(getrlimit_bad_pointer_is_efault);
    RUN(setrlimit_lower_soft_limit_reads_back);
    RUN(setrlimit_soft_above_hard_is_einval);
    RUN(setrlimit_bad_resource_is_einval);
    RUN(setrlimit_bad_pointer_is_efault);
    RUN(setrlimit_nofile_limits_new_fds_with_emfile);
    RUN(prlimit64_get_matches_getrlimit);
    RUN(prlimit64_set_returns_old_limit);
    RUN(prlimit64_nonexistent_pid_is_esrch);
    RUN(prlimit64_bad_resource_is_einval);
    RUN(prlimit64_soft_above_hard_is_einval);
    RUN(getrandom_fills_the_buffer);
    RUN(getrandom_nonblock_returns_bytes);
    RUN(getrandom_zero_length_returns_zero);
    RUN(getrandom_bad_flags_is_einval);
    RUN(getrandom_bad_pointer_is_efault);
    RUN(arch_prctl_get_fs_returns_thread_pointer);
    RUN(arch_prctl_set_fs_roundtrip);
    RUN(arch_prctl_gs_roundtrip);
    RUN(arch_prctl_bad_code_is_einval);
    RUN(arch_prctl_get_fs_bad_pointer_is_efault);
    RUN(arch_prctl_set_fs_kernel_address_is_eperm);
    RUN(set_tid_address_returns_caller_tid);
    RUN(personality_keeps_addr_no_randomize_for_children);
    RUN(sysfs_maps_names_and_indexes_both_ways);
    RUN(ustat_of_the_root_device_works_and_bad_ones_fail);
    RUN(reboot_checks_magic_command_and_privilege);
    RUN(kcmp_compares_files_and_address_spaces);
    RUN(kcmp_errors);
    RUN(personality_keeps_any_execution_domain);
    RUN(prctl_no_new_privs_is_kept_and_inherited);
    RUN(prctl_timerslack_is_kept_and_inherited);
    RUN(prctl_capbset_drop_and_securebits_without_cap_setpcap_are_eperm);
    RUN(prctl_capbset_drop_takes_a_capability_out_of_the_bounding_set);
    RUN(capget_negative_pid_is_einval);
    RUN(prctl_tsc_sigsegv_makes_rdtsc_fault_and_is_inherited);
    RUN(prctl_tsc_bad_mode_is_einval_and_bad_pointer_is_efault);
    RUN(sched_priority_range_of_deadline_is_zero);
    RUN(sched_setscheduler_rt_policy_as_root_is_kept_reported_and_inherited);
    RUN(sched_reset_on_fork_gives_the_child_sched_other);
    RUN(sched_setscheduler_bad_arguments);
    RUN(sched_rt_policy_unprivileged_without_rlimit_rtprio_is_eperm);
    RUN(sched_rt_policy_unprivileged_is_limited_by_rlimit_rtprio);
    RUN(sched_setattr_and_getattr_round_trip);
    RUN(sched_setattr_and_getattr_bad_arguments);
    RUN(sched_deadline_is_admitted_reported_and_cannot_fork);
    RUN(syslog_actions_and_their_errors);
    RUN(kcmp_io_and_sysvsem_of_processes_without_either_are_equal);
    RUN(dev_null_and_zero_take_writes_without_reading_the_buffer);
    RUN(urandom_rndgetentcnt_reports_a_full_pool);
    RUN(delete_module_of_a_module_not_loaded_is_enoent);
    RUN(acct_appends_a_v3_record_for_each_process_that_ends);
    RUN(acct_errors);
    return KT_END();
}

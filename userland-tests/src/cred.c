/* Credentials, capabilities, resource limits, prctl and scheduling knobs:
 * set*id/get*id as root and (in forked children) as an unprivileged user,
 * capget/capset, prlimit64, PR_SET_NAME/PDEATHSIG/CHILD_SUBREAPER/DUMPABLE,
 * affinity, getcpu, nice values and scheduling policies. */
#define KT_AREA "cred"
#include "kt.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

/* All of these go straight to the kernel: musl applies set*id to every thread
 * through signals and stubs out the sched_*scheduler calls. Children that
 * change ids are single-threaded, so the raw calls are right there. */

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

/* Runs fn in a child; fn returns 0 on success or a small code naming the
 * first failed step. Returns the raw wait status. */
static int in_child(int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    return reap(pid);
}

#define CHILD_OK(fn)                                                                          \
    do {                                                                                      \
        int st_ = in_child(fn);                                                               \
        CHECK(exited_with(st_, 0), "child %s (the code is the failed step in " #fn ")",      \
              kt_status(st_));                                                                \
    } while (0)

static int resuid_is(uid_t r, uid_t e, uid_t s)
{
    uid_t a, b, c;
    return syscall(SYS_getresuid, &a, &b, &c) == 0 && a == r && b == e && c == s;
}

static int resgid_is(gid_t r, gid_t e, gid_t s)
{
    gid_t a, b, c;
    return syscall(SYS_getresgid, &a, &b, &c) == 0 && a == r && b == e && c == s;
}

static int fails_with(long r, int e)
{
    return r == -1 && errno == e;
}

/* ---- ids as root ------------------------------------------------------ */

TEST(root_has_all_ids_zero) {
    uid_t r = 1, e = 1, s = 1;
    gid_t gr = 1, ge = 1, gs = 1;
    OK(syscall(SYS_getresuid, &r, &e, &s));
    OK(syscall(SYS_getresgid, &gr, &ge, &gs));
    EXPECT_EQ(r, 0);
    EXPECT_EQ(e, 0);
    EXPECT_EQ(s, 0);
    EXPECT_EQ(syscall(SYS_getuid), 0);
    EXPECT_EQ(syscall(SYS_geteuid), 0);
    EXPECT_EQ(syscall(SYS_getgid), gr);
    EXPECT_EQ(syscall(SYS_getegid), ge);
}

TEST(getresuid_bad_pointer_is_efault) {
    uid_t a, b;
    EXPECT_ERRNO(syscall(SYS_getresuid, &a, &b, (void *)1), EFAULT);
    EXPECT_ERRNO(syscall(SYS_getresgid, (void *)1, &a, &b), EFAULT);
}

TEST(root_setuid_to_self_is_allowed) {
    EXPECT_EQ(syscall(SYS_setuid, 0), 0);
    EXPECT_EQ(syscall(SYS_setgid, syscall(SYS_getgid)), 0);
    EXPECT_EQ(syscall(SYS_setreuid, -1, -1), 0);
    EXPECT_EQ(syscall(SYS_setresuid, -1, -1, -1), 0);
    CHECK(resuid_is(0, 0, 0), "ids changed");
}

/* root setuid(x) sets real, effective and saved; then there is no way back */
static int root_setuid_drops_everything(void)
{
    if (syscall(SYS_setuid, 1000) != 0)
        return 1;
    if (!resuid_is(1000, 1000, 1000))
        return 2;
    if (!fails_with(syscall(SYS_setuid, 0), EPERM))
        return 3;
    if (!fails_with(syscall(SYS_setresuid, -1, 0, -1), EPERM))
        return 4;
    if (!fails_with(syscall(SYS_setreuid, 0, -1), EPERM))
        return 5;
    if (syscall(SYS_setuid, 1000) != 0) /* to its own id is fine */
        return 6;
    return 0;
}

TEST(root_setuid_sets_real_effective_and_saved) {
    CHILD_OK(root_setuid_drops_everything);
}

static int setresuid_then_unprivileged_rules(void)
{
    if (syscall(SYS_setresuid, 1000, 1001, 1002) != 0)
        return 1;
    if (!resuid_is(1000, 1001, 1002))
        return 2;
    /* unprivileged: each id may become any of the current real/effective/saved */
    if (syscall(SYS_setresuid, 1002, -1, -1) != 0)
        return 3;
    if (!resuid_is(1002, 1001, 1002))
        return 4;
    if (!fails_with(syscall(SYS_setresuid, 5, -1, -1), EPERM))
        return 5;
    if (!fails_with(syscall(SYS_setresuid, -1, 0, -1), EPERM))
        return 6;
    if (syscall(SYS_setresuid, 1001, 1002, 1001) != 0)
        return 7;
    if (!resuid_is(1001, 1002, 1001))
        return 8;
    return 0;
}

TEST(setresuid_as_root_then_unprivileged_permutations) {
    CHILD_OK(setresuid_then_unprivileged_rules);
}

/* Unprivileged setuid only changes the effective id, and only to real or saved. */
static int unprivileged_setuid_changes_euid(void)
{
    if (syscall(SYS_setresuid, 1000, 1001, 1002) != 0)
        return 1;
    if (syscall(SYS_setuid, 1002) != 0)
        return 2;
    if (!resuid_is(1000, 1002, 1002))
        return 3;
    if (syscall(SYS_setuid, 1000) != 0)
        return 4;
    if (!resuid_is(1000, 1000, 1002))
        return 5;
    if (!fails_with(syscall(SYS_setuid, 1001), EPERM)) /* no longer any of the three */
        return 6;
    return 0;
}

TEST(unprivileged_setuid_changes_only_effective_id) {
    CHILD_OK(unprivileged_setuid_changes_euid);
}

/* setreuid: setting the real id (or an effective id different from the old
 * real id) also sets saved = new effective. Unprivileged, the real id may only
 * become the current real or effective id - not the saved one. */
static int setreuid_rules(void)
{
    if (syscall(SYS_setreuid, 1000, 1001) != 0)
        return 1;
    if (!resuid_is(1000, 1001, 1001))
        return 2;
    if (syscall(SYS_setreuid, -1, 1000) != 0) /* euid back to the real id */
        return 3;
    if (!resuid_is(1000, 1000, 1001)) /* saved untouched */
        return 4;
    if (!fails_with(syscall(SYS_setreuid, 1001, -1), EPERM)) /* real := saved: no */
        return 5;
    if (syscall(SYS_setreuid, -1, 1001) != 0) /* effective := saved: yes */
        return 6;
    if (!resuid_is(1000, 1001, 1001))
        return 7;
    if (syscall(SYS_setreuid, 1001, -1) != 0) /* real := effective: yes */
        return 8;
    if (!resuid_is(1001, 1001, 1001))
        return 9;
    if (!fails_with(syscall(SYS_setreuid, 7, -1), EPERM))
        return 10;
    if (!fails_with(syscall(SYS_setreuid, -1, 0), EPERM))
        return 11;
    return 0;
}

TEST(setreuid_as_root_and_unprivileged) {
    CHILD_OK(setreuid_rules);
}

static int gid_rules(void)
{
    if (syscall(SYS_setresgid, 100, 101, 102) != 0)
        return 1;
    if (!resgid_is(100, 101, 102))
        return 2;
    if (syscall(SYS_setregid, 200, 201) != 0)
        return 3;
    if (!resgid_is(200, 201, 201))
        return 4;
    if (syscall(SYS_setgid, 300) != 0) /* root: all three */
        return 5;
    if (!resgid_is(300, 300, 300))
        return 6;
    if (syscall(SYS_setresgid, 300, 301, 302) != 0)
        return 7;
    /* drop root: gid changes are then limited to the current three */
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 8;
    if (syscall(SYS_setgid, 302) != 0) /* to saved: effective only */
        return 9;
    if (!resgid_is(300, 302, 302))
        return 10;
    if (!fails_with(syscall(SYS_setgid, 0), EPERM))
        return 11;
    if (!fails_with(syscall(SYS_setregid, 0, -1), EPERM))
        return 12;
    if (!fails_with(syscall(SYS_setresgid, -1, -1, 5), EPERM))
        return 13;
    if (syscall(SYS_setresgid, 302, 300, 300) != 0)
        return 14;
    if (!resgid_is(302, 300, 300))
        return 15;
    return 0;
}

TEST(setgid_setregid_setresgid_as_root_and_unprivileged) {
    CHILD_OK(gid_rules);
}

/* setfsuid always returns the previous fsuid; an invalid or unpermitted value
 * changes nothing. (uid_t)-1 is the classic query. */
static int fsuid_rules(void)
{
    if (syscall(SYS_setfsuid, 1234) != 0) /* previous was root's 0 */
        return 1;
    if (syscall(SYS_setfsuid, -1) != 1234)
        return 2;
    if (syscall(SYS_setfsgid, 4321) != (long)getegid())
        return 3;
    if (syscall(SYS_setfsgid, -1) != 4321)
        return 4;
    /* setresuid resets fsuid to the new effective id */
    if (syscall(SYS_setresgid, 500, 500, 500) != 0 || syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 5;
    if (syscall(SYS_setfsuid, -1) != 1000)
        return 6;
    if (syscall(SYS_setfsgid, -1) != 500)
        return 7;
    /* unprivileged: fsuid 0 is refused silently, the result is still the old value */
    if (syscall(SYS_setfsuid, 0) != 1000)
        return 8;
    if (syscall(SYS_setfsuid, -1) != 1000)
        return 9;
    if (syscall(SYS_setfsgid, 0) != 500)
        return 10;
    if (syscall(SYS_setfsgid, -1) != 500)
        return 11;
    return 0;
}

TEST(setfsuid_setfsgid_return_previous_value) {
    CHILD_OK(fsuid_rules);
}

/* ---- supplementary groups --------------------------------------------- */

TEST(getgroups_count_and_short_buffer) {
    long n = OK(syscall(SYS_getgroups, 0, NULL));
    CHECK(n >= 0 && n <= 65536, "getgroups(0) = %ld", n);
    gid_t buf[256];
    if (n <= 256) {
        EXPECT_EQ(syscall(SYS_getgroups, 256, buf), n);
    }
    if (n > 0) {
        EXPECT_ERRNO(syscall(SYS_getgroups, n - 1, buf), EINVAL);
    }
    EXPECT_ERRNO(syscall(SYS_getgroups, -1, buf), EINVAL);
}

static int groups_rules(void)
{
    gid_t set[3] = {10, 20, 30}, got[8];
    if (syscall(SYS_setgroups, 3, set) != 0)
        return 1;
    if (syscall(SYS_getgroups, 8, got) != 3)
        return 2;
    /* Linux keeps the list sorted; these already are */
    if (got[0] != 10 || got[1] != 20 || got[2] != 30)
        return 3;
    if (syscall(SYS_getgroups, 0, NULL) != 3)
        return 4;
    if (!fails_with(syscall(SYS_getgroups, 2, got), EINVAL))
        return 5;
    if (!fails_with(syscall(SYS_setgroups, 65537, set), EINVAL))
        return 6;
    if (!fails_with(syscall(SYS_setgroups, 1, (void *)1), EFAULT))
        return 7;
    if (syscall(SYS_setgroups, 0, NULL) != 0)
        return 8;
    if (syscall(SYS_getgroups, 0, NULL) != 0)
        return 9;
    if (syscall(SYS_setgroups, 1, set) != 0)
        return 10;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 11;
    if (!fails_with(syscall(SYS_setgroups, 3, set), EPERM))
        return 12;
    if (syscall(SYS_getgroups, 8, got) != 1 || got[0] != 10) /* reading is fine */
        return 13;
    return 0;
}

TEST(setgroups_getgroups_roundtrip_and_eperm_unprivileged) {
    CHILD_OK(groups_rules);
}

/* ---- capabilities ----------------------------------------------------- */

#define CAP_V3 0x20080522
#define CAP_CHOWN_BIT 0
#define CAP_SETUID_BIT 7

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

TEST(capget_root_has_setuid_capability) {
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    OK(syscall(SYS_capget, &h, d));
    CHECK(d[0].effective & (1u << CAP_SETUID_BIT), "CAP_SETUID not effective (0x%x)",
          d[0].effective);
    CHECK(d[0].permitted & (1u << CAP_SETUID_BIT), "CAP_SETUID not permitted (0x%x)",
          d[0].permitted);
    CHECK(d[0].effective & (1u << CAP_CHOWN_BIT), "CAP_CHOWN not effective");
    /* effective is always a subset of permitted */
    CHECK((d[0].effective & ~d[0].permitted) == 0 && (d[1].effective & ~d[1].permitted) == 0,
          "effective not a subset of permitted");
    /* the same for our own pid */
    struct cap_header h2 = {CAP_V3, getpid()};
    struct cap_data d2[2];
    OK(syscall(SYS_capget, &h2, d2));
    EXPECT_EQ(d2[0].effective, d[0].effective);
}

/* An unknown version is EINVAL, and the kernel writes its preferred version
 * into the header. With a NULL data pointer that probe even returns 0. */
TEST(capget_bad_version_is_einval_and_reports_preferred_version) {
    struct cap_header h = {0x12345678, 0};
    struct cap_data d[2];
    EXPECT_ERRNO(syscall(SYS_capget, &h, d), EINVAL);
    EXPECT_EQ(h.version, CAP_V3);
    struct cap_header probe = {0, 0};
    EXPECT_EQ(syscall(SYS_capget, &probe, NULL), 0);
    EXPECT_EQ(probe.version, CAP_V3);
}

TEST(capget_missing_pid_is_esrch) {
    struct cap_header h = {CAP_V3, 0x3ffffff0};
    struct cap_data d[2];
    EXPECT_ERRNO(syscall(SYS_capget, &h, d), ESRCH);
}

static int capset_rules(void)
{
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2], now[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return 1;
    /* drop CAP_SETUID from the effective set only */
    struct cap_data e[2];
    memcpy(e, d, sizeof e);
    e[0].effective &= ~(1u << CAP_SETUID_BIT);
    if (syscall(SYS_capset, &h, e) != 0)
        return 2;
    if (syscall(SYS_capget, &h, now) != 0 || (now[0].effective & (1u << CAP_SETUID_BIT)))
        return 3;
    if (!fails_with(syscall(SYS_setuid, 1000), EPERM)) /* uid 0 but no CAP_SETUID */
        return 4;
    /* it is still permitted, so it can be raised again */
    if (syscall(SYS_capset, &h, d) != 0)
        return 5;
    /* drop it from permitted too: then it cannot come back */
    e[0].permitted &= ~(1u << CAP_SETUID_BIT);
    if (syscall(SYS_capset, &h, e) != 0)
        return 6;
    if (!fails_with(syscall(SYS_capset, &h, d), EPERM))
        return 7;
    /* effective beyond permitted is EPERM as well */
    struct cap_data bad[2];
    memcpy(bad, e, sizeof bad);
    bad[0].effective |= 1u << CAP_SETUID_BIT;
    if (!fails_with(syscall(SYS_capset, &h, bad), EPERM))
        return 8;
    /* capset on another process is EPERM */
    struct cap_header other = {CAP_V3, getppid()};
    if (!fails_with(syscall(SYS_capset, &other, e), EPERM))
        return 9;
    return 0;
}

TEST(capset_drop_and_raise_effective_within_permitted) {
    CHILD_OK(capset_rules);
}

static int caps_gone_after_dropping_root(void)
{
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 1;
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return 2;
    if (d[0].effective || d[1].effective || d[0].permitted || d[1].permitted)
        return 3;
    return 0;
}

TEST(capabilities_cleared_when_all_uids_leave_root) {
    CHILD_OK(caps_gone_after_dropping_root);
}

/* ---- resource limits -------------------------------------------------- */

static long prlimit_raw(int res, const struct rlimit *nw, struct rlimit *old)
{
    return syscall(SYS_prlimit64, 0, res, nw, old);
}

static int nofile_rules(void)
{
    struct rlimit rl = {16, 16};
    if (prlimit_raw(RLIMIT_NOFILE, &rl, NULL) != 0)
        return 1;
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fd >= 16)
        return 2;
    int last = fd, n;
    while ((n = dup(fd)) >= 0) {
        if (n >= 16)
            return 3;
        last = n;
    }
    if (errno != EMFILE)
        return 4;
    if (last != 15) /* every slot below the limit was usable */
        return 5;
    if (!fails_with(open("/", O_RDONLY), EMFILE))
        return 6;
    if (!fails_with(dup2(fd, 16), EBADF))
        return 7;
    if (!fails_with(fcntl(fd, F_DUPFD, 16), EINVAL))
        return 8;
    if (dup2(fd, 15) != 15) /* replacing an fd below the limit is fine */
        return 9;
    close(15);
    if (dup(fd) != 15)
        return 10;
    return 0;
}

TEST(rlimit_nofile_is_enforced) {
    CHILD_OK(nofile_rules);
}

TEST(prlimit64_stack_reads_back) {
    struct rlimit old, viaget, now;
    OK(prlimit_raw(RLIMIT_STACK, NULL, &old));
    OK(getrlimit(RLIMIT_STACK, &viaget));
    EXPECT_EQ(old.rlim_cur, viaget.rlim_cur);
    EXPECT_EQ(old.rlim_max, viaget.rlim_max);
    struct rlimit nw = {1 << 20, old.rlim_max};
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < nw.rlim_cur)
        nw.rlim_cur = old.rlim_max;
    struct rlimit prev;
    OK(prlimit_raw(RLIMIT_STACK, &nw, &prev));
    long r = prlimit_raw(RLIMIT_STACK, NULL, &now);
    prlimit_raw(RLIMIT_STACK, &old, NULL);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(prev.rlim_cur, old.rlim_cur);
    EXPECT_EQ(now.rlim_cur, nw.rlim_cur);
    EXPECT_EQ(now.rlim_max, old.rlim_max);
}

/* The pid is looked up before the resource is checked: a negative or
 * unused pid is ESRCH even with a bad resource; a thread id names its
 * process (Linux's find_task_by_vpid). */
static void *park_thread(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

TEST(prlimit64_bad_pid_is_esrch_before_a_bad_resource) {
    struct rlimit r;
    EXPECT_ERRNO(syscall(SYS_prlimit64, -1, RLIMIT_AS, NULL, &r), ESRCH);
    EXPECT_ERRNO(syscall(SYS_prlimit64, -1, 9999, NULL, &r), ESRCH);
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0, 9999, NULL, &r), EINVAL);
    EXPECT_ERRNO(syscall(SYS_prlimit64, 0x3ffffff0, RLIMIT_AS, NULL, &r), ESRCH);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, park_thread, NULL) == 0, "pthread_create failed");
    /* The new thread's id: the largest task id in /proc/self/task. */
    long tid = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        if (atol(e->d_name) > tid)
            tid = atol(e->d_name);
    if (d)
        closedir(d);
    struct rlimit mine, via_tid;
    OK(getrlimit(RLIMIT_NOFILE, &mine));
    long rc = syscall(SYS_prlimit64, tid, RLIMIT_NOFILE, NULL, &via_tid);
    pthread_cancel(th);
    pthread_join(th, NULL);
    CHECK(tid != getpid(), "no second task in /proc/self/task");
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(via_tid.rlim_cur, mine.rlim_cur);
}

TEST(prlimit64_soft_above_hard_is_einval) {
    struct rlimit old;
    OK(prlimit_raw(RLIMIT_NOFILE, NULL, &old));
    struct rlimit bad = {64, 32};
    EXPECT_ERRNO(prlimit_raw(RLIMIT_NOFILE, &bad, NULL), EINVAL);
    struct rlimit now;
    OK(prlimit_raw(RLIMIT_NOFILE, NULL, &now));
    EXPECT_EQ(now.rlim_cur, old.rlim_cur);
    EXPECT_EQ(now.rlim_max, old.rlim_max);
}

static int hard_limit_rules(void)
{
    struct rlimit rl = {32, 64};
    if (prlimit_raw(RLIMIT_NOFILE, &rl, NULL) != 0)
        return 1;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 2;
    struct rlimit up = {32, 128};
    if (!fails_with(prlimit_raw(RLIMIT_NOFILE, &up, NULL), EPERM))
        return 3;
    if (!fails_with(setrlimit(RLIMIT_NOFILE, &up), EPERM))
        return 4;
    struct rlimit soft = {64, 64}; /* soft up to hard is fine */
    if (prlimit_raw(RLIMIT_NOFILE, &soft, NULL) != 0)
        return 5;
    struct rlimit down = {40, 48}; /* lowering the hard limit is fine... */
    if (prlimit_raw(RLIMIT_NOFILE, &down, NULL) != 0)
        return 6;
    struct rlimit back = {40, 64}; /* ...and irreversible */
    if (!fails_with(prlimit_raw(RLIMIT_NOFILE, &back, NULL), EPERM))
        return 7;
    /* another user's process is off limits */
    struct rlimit tmp;
    if (!fails_with(syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, NULL, &tmp), EPERM))
        return 8;
    return 0;
}

TEST(raising_hard_limit_as_unprivileged_is_eperm) {
    CHILD_OK(hard_limit_rules);
}

/* ---- prctl ------------------------------------------------------------ */

TEST(pr_set_name_truncates_to_15_bytes) {
    char old[32] = {0}, got[32];
    OK(prctl(PR_GET_NAME, old));
    OK(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz"));
    memset(got, 'X', sizeof got);
    long r = prctl(PR_GET_NAME, got);
    char short_got[32];
    prctl(PR_SET_NAME, "kt");
    memset(short_got, 'X', sizeof short_got);
    prctl(PR_GET_NAME, short_got);
    prctl(PR_SET_NAME, old);
    EXPECT_EQ(r, 0);
    CHECK(!memcmp(got, "abcdefghijklmno", 16), "PR_GET_NAME gave \"%.16s\"", got);
    CHECK(!strcmp(short_got, "kt"), "PR_GET_NAME gave \"%.16s\"", short_got);
}

static char thread_name[32];

static void *namer(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "kt-thread");
    prctl(PR_GET_NAME, thread_name);
    return NULL;
}

/* The name belongs to the thread: a thread renaming itself leaves main alone. */
TEST(pr_set_name_is_per_thread) {
    char old[32] = {0}, after[32] = {0};
    OK(prctl(PR_GET_NAME, old));
    memset(thread_name, 0, sizeof thread_name);
    pthread_t t;
    int err = pthread_create(&t, NULL, namer, NULL);
    CHECK(err == 0, "pthread_create: %s", kt_errstr(err));
    pthread_join(t, NULL);
    OK(prctl(PR_GET_NAME, after));
    CHECK(!strcmp(thread_name, "kt-thread"), "thread read back \"%s\"", thread_name);
    CHECK(!strcmp(after, old), "main thread's name changed to \"%s\"", after);
}

TEST(pr_set_pdeathsig_reads_back_and_is_cleared_on_fork) {
    int old = 0, got = -1;
    OK(prctl(PR_GET_PDEATHSIG, &old));
    OK(prctl(PR_SET_PDEATHSIG, SIGUSR1));
    OK(prctl(PR_GET_PDEATHSIG, &got));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = -1;
        prctl(PR_GET_PDEATHSIG, &c);
        _exit(c == 0 ? 0 : 1);
    }
    errno = 0;
    long bad = prctl(PR_SET_PDEATHSIG, 100);
    int e = errno;
    prctl(PR_SET_PDEATHSIG, old);
    int st = pid > 0 ? reap(pid) : -1;
    EXPECT_EQ(got, SIGUSR1);
    CHECK(exited_with(st, 0), "child %s (1 = inherited the death signal)", kt_status(st));
    CHECK(bad == -1 && e == EINVAL, "PR_SET_PDEATHSIG 100: %ld errno %s", bad, kt_errstr(e));
}

/* A is our child, B is A's child with PR_SET_PDEATHSIG(SIGKILL). When A exits,
 * B is reparented to us (we are a child subreaper) and killed. */
TEST(pdeathsig_kills_child_when_parent_process_exits) {
    int was = 0;
    OK(prctl(PR_GET_CHILD_SUBREAPER, &was));
    OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
    int hold[2], ready[2], report[2];
    OK(pipe(hold));
    OK(pipe(ready));
    OK(pipe(report));
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        close(hold[1]);
        close(report[0]);
        pid_t apid = getpid();
        pid_t b = fork();
        if (b == 0) {
            close(ready[0]);
            close(report[1]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != apid)
                _exit(9);
            if (write(ready[1], "r", 1) != 1)
                _exit(8);
            close(ready[1]);
            char c;
            while (read(hold[0], &c, 1) > 0) {
            }
            _exit(0); /* only if the signal never came */
        }
        close(ready[1]);
        char c;
        if (b < 0 || read(ready[0], &c, 1) != 1)
            _exit(2);
        if (write(report[1], &b, sizeof b) != sizeof b)
            _exit(3);
        _exit(0);
    }
    close(hold[0]);
    close(ready[0]);
    close(ready[1]);
    close(report[1]);
    pid_t b = -1;
    ssize_t n = a > 0 ? read(report[0], &b, sizeof b) : -1;
    close(report[0]);
    int ast = a > 0 ? reap(a) : -1;
    close(hold[1]); /* if B was not killed, it now exits 0 */
    int bst = n == sizeof b ? reap(b) : -1;
    prctl(PR_SET_CHILD_SUBREAPER, was);
    CHECK(exited_with(ast, 0), "A %s", kt_status(ast));
    CHECK(bst != -1 && WIFSIGNALED(bst) && WTERMSIG(bst) == SIGKILL,
          "B %s, expected killed by SIGKILL (exit 0 = no death signal)", kt_status(bst));
}

/* The death signal follows the parent *thread*: B is forked by a secondary
 * thread of A, and is killed when that thread exits although A lives on. */
static int pdeath_ready[2], pdeath_hold[2];
static pid_t pdeath_b;

static void *fork_b(void *arg)
{
    (void)arg;
    pid_t me = getpid();
    pid_t b = fork();
    if (b == 0) {
        close(pdeath_hold[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != me)
            _exit(9);
        if (write(pdeath_ready[1], "r", 1) != 1)
            _exit(8);
        char c;
        while (read(pdeath_hold[0], &c, 1) > 0) {
        }
        _exit(0);
    }
    pdeath_b = b;
    char c;
    if (b > 0 && read(pdeath_ready[0], &c, 1) != 1)
        pdeath_b = -1;
    return NULL; /* this thread exits: B's death signal fires */
}

static int pdeath_thread_child(void)
{
    if (pipe(pdeath_ready) || pipe(pdeath_hold))
        return 1;
    pthread_t t;
    if (pthread_create(&t, NULL, fork_b, NULL))
        return 2;
    pthread_join(t, NULL);
    if (pdeath_b <= 0)
        return 3;
    /* The signal is sent while the thread finishes exiting, which may be just
     * after pthread_join returned: poll for B, patiently. */
    int st = 0;
    long r = 0;
    for (int i = 0; i < 5000 && r == 0; i++) {
        r = syscall(SYS_wait4, pdeath_b, &st, WNOHANG, NULL);
        if (r == 0) {
            if (i % 10 == 9) {
                struct timespec ts = {0, 1000 * 1000};
                nanosleep(&ts, NULL);
            } else {
                sched_yield();
            }
        }
    }
    if (r == 0) {
        close(pdeath_hold[1]); /* not killed: let it finish */
        syscall(SYS_wait4, pdeath_b, &st, 0, NULL);
        return 4;
    }
    if (r != pdeath_b)
        return 5;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 6;
}

TEST(pdeathsig_fires_when_the_parent_thread_exits) {
    int st = in_child(pdeath_thread_child);
    CHECK(exited_with(st, 0),
          "child %s (4 = B not killed after the creating thread exited, 6 = B died otherwise)",
          kt_status(st));
}

TEST(pr_child_subreaper_set_and_get) {
    int was = -1, got = -1, off = -1;
    OK(prctl(PR_GET_CHILD_SUBREAPER, &was));
    OK(prctl(PR_SET_CHILD_SUBREAPER, 1));
    long r = prctl(PR_GET_CHILD_SUBREAPER, &got);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    prctl(PR_GET_CHILD_SUBREAPER, &off);
    prctl(PR_SET_CHILD_SUBREAPER, was);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(got, 1);
    EXPECT_EQ(off, 0);
}

TEST(pr_dumpable_set_and_get) {
    long was = OK(prctl(PR_GET_DUMPABLE));
    OK(prctl(PR_SET_DUMPABLE, 0));
    long zero = prctl(PR_GET_DUMPABLE);
    errno = 0;
    long bad = prctl(PR_SET_DUMPABLE, 2); /* only 0 and 1 may be set */
    int e = errno;
    OK(prctl(PR_SET_DUMPABLE, 1));
    long one = prctl(PR_GET_DUMPABLE);
    prctl(PR_SET_DUMPABLE, was);
    EXPECT_EQ(was, 1);
    EXPECT_EQ(zero, 0);
    EXPECT_EQ(one, 1);
    CHECK(bad == -1 && e == EINVAL, "PR_SET_DUMPABLE 2: %ld errno %s", bad, kt_errstr(e));
}

TEST(prctl_unknown_option_is_einval) {
    EXPECT_ERRNO(syscall(SYS_prctl, 9999, 0L, 0L, 0L, 0L), EINVAL);
    EXPECT_ERRNO(syscall(SYS_prctl, -1L, 0L, 0L, 0L, 0L), EINVAL);
}

/* ---- scheduling ------------------------------------------------------- */

TEST(sched_yield_returns_zero) {
    EXPECT_EQ(syscall(SYS_sched_yield), 0);
}

TEST(sched_getaffinity_returns_mask_size_and_a_cpu) {
    unsigned long mask[16];
    memset(mask, 0, sizeof mask);
    long n = OK(syscall(SYS_sched_getaffinity, 0, sizeof mask, mask));
    /* the raw call returns the kernel's mask size in bytes, not 0 */
    CHECK(n > 0 && n <= (long)sizeof mask && n % sizeof(long) == 0, "returned %ld", n);
    int any = 0;
    for (size_t i = 0; i < sizeof mask / sizeof mask[0]; i++)
        any |= mask[i] != 0;
    CHECK(any, "no CPU in the affinity mask");
    /* a buffer smaller than the kernel's mask, or not a multiple of long: EINVAL */
    EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, (size_t)4, mask), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0, (size_t)n + 1, mask), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getaffinity, 0x3ffffff0, sizeof mask, mask), ESRCH);
}

TEST(sched_setaffinity_to_cpu0_then_getcpu_reports_it) {
    unsigned long old[16], one[16];
    memset(old, 0, sizeof old);
    long n = OK(syscall(SYS_sched_getaffinity, 0, sizeof old, old));
    if (!(old[0] & 1))
        SKIP("CPU 0 is not in this process's affinity mask");
    memset(one, 0, sizeof one);
    one[0] = 1;
    long r = syscall(SYS_sched_setaffinity, 0, (size_t)n, one);
    int e = errno;
    unsigned cpu = 999, node = 999;
    long g = syscall(SYS_getcpu, &cpu, &node, NULL);
    unsigned long now[16];
    memset(now, 0, sizeof now);
    long n2 = syscall(SYS_sched_getaffinity, 0, sizeof now, now);
    syscall(SYS_sched_setaffinity, 0, (size_t)n, old);
    CHECK(r == 0, "sched_setaffinity failed: %s", kt_errstr(e));
    EXPECT_EQ(g, 0);
    EXPECT_EQ(cpu, 0); /* pinned: sched_setaffinity migrates before returning */
    CHECK(node < 1024, "node %u", node);
    EXPECT_EQ(n2, n);
    EXPECT_EQ(now[0], 1);
}

TEST(sched_setaffinity_empty_mask_is_einval) {
    unsigned long empty[16];
    memset(empty, 0, sizeof empty);
    EXPECT_ERRNO(syscall(SYS_sched_setaffinity, 0, sizeof empty, empty), EINVAL);
}

TEST(getcpu_returns_a_cpu_in_the_affinity_mask) {
    unsigned long mask[16];
    memset(mask, 0, sizeof mask);
    OK(syscall(SYS_sched_getaffinity, 0, sizeof mask, mask));
    unsigned cpu = 99999;
    OK(syscall(SYS_getcpu, &cpu, NULL, NULL));
    CHECK(cpu < 1024, "cpu %u", cpu);
    /* (we may migrate between the two calls, but only within the mask) */
    CHECK(mask[cpu / 64] & (1UL << (cpu % 64)), "cpu %u is not in the affinity mask", cpu);
}

/* The raw getpriority syscall returns 20 - nice (1..40), never negative;
 * libc turns it back into a nice value. */
static long raw_getprio(void)
{
    return syscall(SYS_getpriority, PRIO_PROCESS, 0);
}

static int priority_rules(void)
{
    if (raw_getprio() != 20 - getpriority(PRIO_PROCESS, 0))
        return 1;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, 5) != 0)
        return 2;
    if (raw_getprio() != 15)
        return 3;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, -5) != 0) /* root may lower it */
        return 4;
    if (raw_getprio() != 25)
        return 5;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, 100) != 0) /* clamped to 19 */
        return 6;
    if (raw_getprio() != 1)
        return 7;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, -100) != 0) /* clamped to -20 */
        return 8;
    if (raw_getprio() != 40)
        return 9;
    /* unprivileged: nice can go up but never down */
    struct rlimit nonice = {0, 0};
    if (setrlimit(RLIMIT_NICE, &nonice) != 0)
        return 10;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, 0) != 0)
        return 11;
    if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        return 12;
    if (syscall(SYS_setpriority, PRIO_PROCESS, 0, 10) != 0)
        return 13;
    if (raw_getprio() != 10)
        return 14;
    if (!fails_with(syscall(SYS_setpriority, PRIO_PROCESS, 0, 5), EACCES))
        return 15;
    if (!fails_with(syscall(SYS_setpriority, PRIO_PROCESS, 0, -1), EACCES))
        return 16;
    if (raw_getprio() != 10)
        return 17;
    /* a process of another user: EPERM */
    if (!fails_with(syscall(SYS_setpriority, PRIO_PROCESS, getppid(), 10), EPERM))
        return 18;
    return 0;
}

TEST(setpriority_nice_rules_for_root_and_unprivileged) {
    CHILD_OK(priority_rules);
}

TEST(getpriority_errors) {
    EXPECT_ERRNO(syscall(SYS_getpriority, 42, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_getpriority, PRIO_PROCESS, 0x3ffffff0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_setpriority, 42, 0, 0), EINVAL);
}

TEST(sched_policy_is_sched_other_with_priority_0) {
    EXPECT_EQ(syscall(SYS_sched_getscheduler, 0), SCHED_OTHER);
    struct sched_param sp = {.sched_priority = 99};
    OK(syscall(SYS_sched_getparam, 0, &sp));
    EXPECT_EQ(sp.sched_priority, 0);
    struct sched_param zero = {.sched_priority = 0};
    EXPECT_EQ(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &zero), 0);
    struct sched_param one = {.sched_priority = 1};
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &one), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_setscheduler, 0, 12345, &zero), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_getscheduler, 0x3ffffff0), ESRCH);
    EXPECT_ERRNO(syscall(SYS_sched_getscheduler, -1), EINVAL);
}

TEST(sched_priority_ranges) {
    EXPECT_EQ(syscall(SYS_sched_get_priority_max, SCHED_OTHER), 0);
    EXPECT_EQ(syscall(SYS_sched_get_priority_min, SCHED_OTHER), 0);
    EXPECT_EQ(syscall(SYS_sched_get_priority_max, SCHED_FIFO), 99);
    EXPECT_EQ(syscall(SYS_sched_get_priority_min, SCHED_FIFO), 1);
    EXPECT_EQ(syscall(SYS_sched_get_priority_max, SCHED_RR), 99);
    EXPECT_ERRNO(syscall(SYS_sched_get_priority_max, 12345), EINVAL);
    EXPECT_ERRNO(syscall(SYS_sched_get_priority_min, -1), EINVAL);
}

int main(void)
{
    KT_BEGIN();
    RUN(root_has_all_ids_zero);
    RUN(getresuid_bad_pointer_is_efault);
    RUN(root_setuid_to_self_is_allowed);
    RUN(root_setuid_sets_real_effective_and_saved);
    RUN(setresuid_as_root_then_unprivileged_permutations);
    RUN(unprivileged_setuid_changes_only_effective_id);
    RUN(setreuid_as_root_and_unprivileged);
    RUN(setgid_setregid_setresgid_as_root_and_unprivileged);
    RUN(setfsuid_setfsgid_return_previous_value);
    RUN(getgroups_count_and_short_buffer);
    RUN(setgroups_getgroups_roundtrip_and_eperm_unprivileged);
    RUN(capget_root_has_setuid_capability);
    RUN(capget_bad_version_is_einval_and_reports_preferred_version);
    RUN(capget_missing_pid_is_esrch);
    RUN(capset_drop_and_raise_effective_within_permitted);
    RUN(capabilities_cleared_when_all_uids_leave_root);
    RUN(rlimit_nofile_is_enforced);
    RUN(prlimit64_stack_reads_back);
    RUN(prlimit64_bad_pid_is_esrch_before_a_bad_resource);
    RUN(prlimit64_soft_above_hard_is_einval);
    RUN(raising_hard_limit_as_unprivileged_is_eperm);
    RUN(pr_set_name_truncates_to_15_bytes);
    RUN(pr_set_name_is_per_thread);
    RUN(pr_set_pdeathsig_reads_back_and_is_cleared_on_fork);
    RUN(pdeathsig_kills_child_when_parent_process_exits);
    RUN(pdeathsig_fires_when_the_parent_thread_exits);
    RUN(pr_child_subreaper_set_and_get);
    RUN(pr_dumpable_set_and_get);
    RUN(prctl_unknown_option_is_einval);
    RUN(sched_yield_returns_zero);
    RUN(sched_getaffinity_returns_mask_size_and_a_cpu);
    RUN(sched_setaffinity_to_cpu0_then_getcpu_reports_it);
    RUN(sched_setaffinity_empty_mask_is_einval);
    RUN(getcpu_returns_a_cpu_in_the_affinity_mask);
    RUN(setpriority_nice_rules_for_root_and_unprivileged);
    RUN(getpriority_errors);
    RUN(sched_policy_is_sched_other_with_priority_0);
    RUN(sched_priority_ranges);
    return KT_END();
}

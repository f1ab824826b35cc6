/* cgroup v2 (Documentation/admin-guide/cgroup-v2.rst): the cgroup2 file
 * system, mkdir/rmdir of cgroups, cgroup.procs and its permission rules,
 * cgroup.threads' domain rule, cgroup.events, cgroup.kill, the hierarchy
 * limits, cgroup.subtree_control's parsing, /proc/PID/cgroup and cgroup
 * namespaces, fork inheritance and clone3's CLONE_INTO_CGROUP, and (where
 * the controllers are on the unified hierarchy) pids.max and the memory and
 * cpu knobs. Needs root. Uses the mounted cgroup2 hierarchy, or mounts one
 * on a temporary directory; skips if neither can be had (a host whose
 * controllers are all on v1 skips the controller cases). */
#define KT_AREA "cgroup"
#include "kt.h"

#include <poll.h>
#include <sched.h>
#include <sys/inotify.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

static char mnt[256];       /* where cgroup2 is mounted */
static char base[512];      /* our own cgroup's directory */
static char base_rel[256];  /* its path in the hierarchy ("/" or "/x/y") */
static int have_cg;
static char skip_why[128];

/* Reads up to n-1 bytes of a file; -1 with errno on failure. */
static long slurp(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long r = read(fd, buf, n - 1);
    int e = errno;
    close(fd);
    errno = e;
    if (r >= 0)
        buf[r] = 0;
    return r;
}

/* Writes a string to a file in one write(2); the result, -1 with errno. */
static long put(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long r = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

static long putf(const char *dir, const char *file, const char *s)
{
    char p[768];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return put(p, s);
}

static long getf(const char *dir, const char *file, char *buf, size_t n)
{
    char p[768];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return slurp(p, buf, n);
}

/* Moves process pid (0: the caller) into dir. */
static long move_to(const char *dir, pid_t pid)
{
    char s[32];
    snprintf(s, sizeof s, "%d", (int)pid);
    return putf(dir, "cgroup.procs", s);
}

static void setup(void)
{
    if (geteuid() != 0) {
        snprintf(skip_why, sizeof skip_why, "needs root");
        return;
    }
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char root[256], point[256], fstype[64];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*d %*d %*s %255s %255s", root, point) != 2 ||
            sscanf(dash + 3, "%63s", fstype) != 1)
            continue;
        if (!strcmp(fstype, "cgroup2") && !strcmp(root, "/")) {
            snprintf(mnt, sizeof mnt, "%s", point);
            break;
        }
    }
    if (f)
        fclose(f);
    if (!mnt[0]) {
        snprintf(mnt, sizeof mnt, "/tmp/kt-cgroup-mnt-%d", getpid());
        mkdir(mnt, 0755);
        if (mount("none", mnt, "cgroup2", 0, NULL) != 0) {
            snprintf(skip_why, sizeof skip_why, "cannot mount cgroup2: %s", strerror(errno));
            rmdir(mnt);
            mnt[0] = 0;
            return;
        }
    }
    char buf[512];
    if (slurp("/proc/self/cgroup", buf, sizeof buf) < 0) {
        snprintf(skip_why, sizeof skip_why, "no /proc/self/cgroup");
        return;
    }
    char *v2 = strstr(buf, "0::");
    if (!v2) {
        snprintf(skip_why, sizeof skip_why, "no unified hierarchy line");
        return;
    }
    v2 += 3;
    v2[strcspn(v2, "\n")] = 0;
    snprintf(base_rel, sizeof base_rel, "%s", v2);
    snprintf(base, sizeof base, "%s%s", mnt, strcmp(v2, "/") ? v2 : "");
    have_cg = 1;
}

#define NEED_CG()                                                             \
    do {                                                                      \
        if (!have_cg)                                                         \
            SKIP("%s", skip_why);                                             \
    } while (0)

/* A fresh cgroup under ours for one case, removed by done_cg. */
static char cg[600];
static char cg_rel[600];

static int make_cg(const char *name)
{
    snprintf(cg, sizeof cg, "%s/kt-%s-%d", base, name, getpid());
    snprintf(cg_rel, sizeof cg_rel, "%s/kt-%s-%d", strcmp(base_rel, "/") ? base_rel : "", name,
             getpid());
    return mkdir(cg, 0755);
}

/* Removes dir and the cgroups under it (depth-first), moving any process
 * left there back to our cgroup. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_type != DT_DIR || e->d_name[0] == '.')
                continue;
            char sub[768];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
    }
    char pids[4096];
    if (getf(dir, "cgroup.procs", pids, sizeof pids) > 0) {
        for (char *t = strtok(pids, "\n"); t; t = strtok(NULL, "\n"))
            putf(base, "cgroup.procs", t);
    }
    rmdir(dir);
}

/* A child that waits until killed (or its pipe closes). */
static pid_t sleeper(int *fd_out)
{
    int p[2];
    if (pipe(p))
        return -1;
    pid_t c = fork();
    if (c == 0) {
        close(p[1]);
        char x;
        while (read(p[0], &x, 1) > 0)
            ;
        _exit(0);
    }
    close(p[0]);
    *fd_out = p[1];
    return c;
}

TEST(proc_filesystems_lists_cgroup2)
{
    char buf[4096];
    OK(slurp("/proc/filesystems", buf, sizeof buf));
    CHECK(strstr(buf, "nodev\tcgroup2\n"), "no cgroup2 in /proc/filesystems:\n%s", buf);
}

TEST(mkdir_makes_a_cgroup_with_its_files)
{
    NEED_CG();
    char buf[256], q[800];
    OK(make_cg("mk"));
    EXPECT_ERRNO(mkdir(cg, 0755), EEXIST);
    struct stat st;
    OK(stat(cg, &st));
    CHECK(S_ISDIR(st.st_mode), "mode %o", st.st_mode);
    char p[768];
    snprintf(p, sizeof p, "%s/cgroup.procs", cg);
    OK(stat(p, &st));
    CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644 && st.st_size == 0,
          "cgroup.procs mode %o size %ld", st.st_mode, (long)st.st_size);
    OK(getf(cg, "cgroup.type", buf, sizeof buf));
    CHECK(!strcmp(buf, "domain\n"), "cgroup.type '%s'", buf);
    OK(getf(cg, "cgroup.events", buf, sizeof buf));
    CHECK(!strncmp(buf, "populated 0\n", 12), "cgroup.events '%s'", buf);
    OK(getf(cg, "cgroup.procs", buf, sizeof buf));
    CHECK(buf[0] == 0, "cgroup.procs of a new cgroup: '%s'", buf);
    OK(getf(cg, "cgroup.max.descendants", buf, sizeof buf));
    CHECK(!strcmp(buf, "max\n"), "max.descendants '%s'", buf);
    OK(getf(cg, "cgroup.stat", buf, sizeof buf));
    CHECK(!strncmp(buf, "nr_descendants 0\n", 17), "cgroup.stat '%s'", buf);
    OK(getf(cg, "cpu.stat", buf, sizeof buf));
    CHECK(!strncmp(buf, "usage_usec ", 11), "cpu.stat '%s'", buf);
    /* What cannot be made or removed here. */
    EXPECT_ERRNO(mkdir(p, 0755), EEXIST);
    EXPECT_ERRNO(unlink(p), EPERM);
    EXPECT_ERRNO(rmdir(p), ENOTDIR);
    EXPECT_ERRNO(unlink(cg), EISDIR);
    snprintf(p, sizeof p, "%s/newfile", cg);
    EXPECT_ERRNO(open(p, O_CREAT | O_WRONLY, 0644), EACCES);
    EXPECT_ERRNO(mknod(p, S_IFIFO | 0644, 0), EPERM);
    EXPECT_ERRNO(symlink("x", p), EPERM);
    /* No rename in cgroup2, of a cgroup or a file. */
    snprintf(q, sizeof q, "%s-renamed", cg);
    EXPECT_ERRNO(rename(cg, q), EPERM);
    snprintf(p, sizeof p, "%s/cgroup.procs", cg);
    snprintf(q, sizeof q, "%s/procs2", cg);
    EXPECT_ERRNO(rename(p, q), EPERM);
    /* A child shows in the parent's count; rmdir of a parent is EBUSY. */
    snprintf(p, sizeof p, "%s/child", cg);
    OK(mkdir(p, 0755));
    OK(getf(cg, "cgroup.stat", buf, sizeof buf));
    CHECK(!strncmp(buf, "nr_descendants 1\n", 17), "cgroup.stat '%s'", buf);
    EXPECT_ERRNO(rmdir(cg), EBUSY);
    OK(rmdir(p));
    EXPECT_ERRNO(rmdir(p), ENOENT);
    OK(rmdir(cg));
    EXPECT_ERRNO(stat(cg, &st), ENOENT);
}

TEST(procs_moves_a_process_and_proc_pid_cgroup_follows)
{
    NEED_CG();
    char buf[512], want[700], p[64];
    OK(make_cg("procs"));
    int fd;
    pid_t c = OK(sleeper(&fd));
    OK(move_to(cg, c));
    OK(getf(cg, "cgroup.procs", buf, sizeof buf));
    snprintf(want, sizeof want, "%d\n", c);
    CHECK(!strcmp(buf, want), "cgroup.procs '%s', expected '%s'", buf, want);
    snprintf(p, sizeof p, "/proc/%d/cgroup", c);
    OK(slurp(p, buf, sizeof buf));
    snprintf(want, sizeof want, "0::%s\n", cg_rel);
    CHECK(strstr(buf, want), "%s: '%s', expected '%s'", p, buf, want);
    OK(getf(cg, "cgroup.events", buf, sizeof buf));
    CHECK(!strncmp(buf, "populated 1\n", 12), "cgroup.events '%s'", buf);
    EXPECT_ERRNO(rmdir(cg), EBUSY);
    /* Errors: not a number, negative, nobody. */
    EXPECT_ERRNO(putf(cg, "cgroup.procs", "abc"), EINVAL);
    EXPECT_ERRNO(putf(cg, "cgroup.procs", "-1"), EINVAL);
    EXPECT_ERRNO(putf(cg, "cgroup.procs", "99999999"), ESRCH);
    /* One thread of a process may not leave its domain cgroup. */
    snprintf(buf, sizeof buf, "%d", c);
    EXPECT_ERRNO(putf(base, "cgroup.threads", buf), EOPNOTSUPP);
    close(fd);
    int st;
    OK(waitpid(c, &st, 0));
    OK(getf(cg, "cgroup.events", buf, sizeof buf));
    CHECK(!strncmp(buf, "populated 0\n", 12), "after the exit: '%s'", buf);
    OK(rmdir(cg));
}

TEST(a_child_is_born_in_its_parents_cgroup)
{
    NEED_CG();
    OK(make_cg("fork"));
    /* We move ourselves ("0" is the writer), fork, and go back. */
    OK(move_to(cg, 0));
    int pfd[2];
    OK(pipe(pfd));
    pid_t k = fork();
    if (k == 0) {
        char buf[512];
        long n = slurp("/proc/self/cgroup", buf, sizeof buf);
        if (n < 0)
            n = 0;
        if (write(pfd[1], buf, strlen(buf)) < 0)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    char got[512] = {0}, want[700];
    long n = read(pfd[0], got, sizeof got - 1);
    close(pfd[0]);
    waitpid(k, NULL, 0);
    OK(move_to(base, 0));
    CHECK(n > 0, "nothing from the child");
    got[n] = 0;
    snprintf(want, sizeof want, "0::%s\n", cg_rel);
    CHECK(strstr(got, want), "child's cgroup '%s', expected '%s'", got, want);
    OK(rmdir(cg));
}

static long clone3_into(int cgfd, uint64_t extra)
{
    struct clone_args_v2 a;
    memset(&a, 0, sizeof a);
    a.flags = CLONE_INTO_CGROUP | extra;
    a.exit_signal = extra & CLONE_THREAD ? 0 : SIGCHLD;
    a.cgroup = (uint64_t)cgfd;
    return syscall(SYS_clone3, &a, sizeof a);
}

TEST(clone3_into_cgroup)
{
    NEED_CG();
    OK(make_cg("clone3"));
    int dfd = OK(open(cg, O_PATH | O_DIRECTORY));
    long c = clone3_into(dfd, 0);
    if (c == 0) {
        char buf[512], want[700];
        slurp("/proc/self/cgroup", buf, sizeof buf);
        snprintf(want, sizeof want, "0::%s\n", cg_rel);
        _exit(strstr(buf, want) ? 0 : 1);
    }
    CHECK(c > 0, "clone3(CLONE_INTO_CGROUP): errno %s", kt_errstr(errno));
    int st;
    OK(waitpid(c, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child was not in the cgroup (%#x)", st);
    /* Not a cgroup directory, a cgroup file, no descriptor: EBADF. */
    int tmp = OK(open("/", O_RDONLY | O_DIRECTORY));
    EXPECT_ERRNO(clone3_into(tmp, 0), EBADF);
    close(tmp);
    char p[768];
    snprintf(p, sizeof p, "%s/cgroup.procs", cg);
    int ffd = OK(open(p, O_RDONLY));
    EXPECT_ERRNO(clone3_into(ffd, 0), EBADF);
    close(ffd);
    EXPECT_ERRNO(clone3_into(999, 0), EBADF);
    /* A thread into another cgroup than its process's: EOPNOTSUPP. */
    EXPECT_ERRNO(clone3_into(dfd, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM), EOPNOTSUPP);
    close(dfd);
    OK(rmdir(cg));
}

TEST(cgroup_kill_kills_every_process_below)
{
    NEED_CG();
    char buf[64], p[768];
    OK(make_cg("kill"));
    snprintf(p, sizeof p, "%s/sub", cg);
    OK(mkdir(p, 0755));
    int fd1, fd2;
    pid_t a = OK(sleeper(&fd1));
    pid_t b = OK(sleeper(&fd2));
    OK(move_to(cg, a));
    OK(move_to(p, b));
    EXPECT_ERRNO(putf(cg, "cgroup.kill", "2"), ERANGE);
    EXPECT_ERRNO(putf(cg, "cgroup.kill", "0"), ERANGE);
    EXPECT_ERRNO(getf(cg, "cgroup.kill", buf, sizeof buf), EINVAL);
    OK(putf(cg, "cgroup.kill", "1"));
    int st;
    OK(waitpid(a, &st, 0));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "a: %#x", st);
    OK(waitpid(b, &st, 0));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "b: %#x", st);
    close(fd1);
    close(fd2);
    OK(rmdir(p));
    OK(rmdir(cg));
}

/* Waits up to a second for cgroup.events to say "frozen want". */
static int wait_frozen(const char *dir, int want)
{
    char buf[128], w[16];
    snprintf(w, sizeof w, "frozen %d\n", want);
    for (int i = 0; i < 100; i++) {
        if (getf(dir, "cgroup.events", buf, sizeof buf) > 0 && strstr(buf, w))
            return 0;
        usleep(10000);
    }
    return -1;
}

TEST(cgroup_freeze_stops_and_thaws)
{
    NEED_CG();
    char buf[64];
    OK(make_cg("freeze"));
    OK(getf(cg, "cgroup.freeze", buf, sizeof buf));
    CHECK(!strcmp(buf, "0\n"), "cgroup.freeze '%s'", buf);
    EXPECT_ERRNO(putf(cg, "cgroup.freeze", "2"), ERANGE);
    volatile unsigned long *count =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(count != MAP_FAILED, "mmap");
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            (*count)++;
    }
    OK(c);
    OK(move_to(cg, c));
    while (*count == 0)
        usleep(1000);
    OK(putf(cg, "cgroup.freeze", "1"));
    int frozen = wait_frozen(cg, 1);
    usleep(50000);
    unsigned long a = *count;
    usleep(200000);
    unsigned long b = *count;
    OK(putf(cg, "cgroup.freeze", "0"));
    int thawed = wait_frozen(cg, 0);
    usleep(200000);
    unsigned long after = *count;
    /* A frozen process still dies of SIGKILL (cgroup.kill). */
    OK(putf(cg, "cgroup.freeze", "1"));
    wait_frozen(cg, 1);
    OK(putf(cg, "cgroup.kill", "1"));
    int st;
    OK(waitpid(c, &st, 0));
    munmap((void *)count, 4096);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "frozen child after cgroup.kill: %#x", st);
    CHECK(frozen == 0, "cgroup.events never said frozen 1");
    CHECK(a == b, "the frozen child ran on: %lu then %lu", a, b);
    CHECK(thawed == 0 && after > b, "the thawed child did not run again (%lu, %lu)", b, after);
    OK(rmdir(cg));
}

TEST(cgroup_events_changes_are_inotify_and_poll_events)
{
    NEED_CG();
    char p[768];
    OK(make_cg("notify"));
    snprintf(p, sizeof p, "%s/cgroup.events", cg);
    int in = OK(inotify_init1(IN_NONBLOCK));
    OK(inotify_add_watch(in, p, IN_MODIFY));
    int fd;
    pid_t c = OK(sleeper(&fd));
    /* poll: POLLPRI (and POLLERR) once the content changed since it was read. */
    int ev_fd = OK(open(p, O_RDONLY));
    char tmp[128];
    OK(read(ev_fd, tmp, sizeof tmp));
    struct pollfd pp = {.fd = ev_fd, .events = POLLPRI};
    EXPECT_EQ(poll(&pp, 1, 0), 0);
    OK(move_to(cg, c));
    int pr = poll(&pp, 1, 2000);
    short rev = pp.revents;
    close(ev_fd);
    struct pollfd pf = {.fd = in, .events = POLLIN};
    int n = poll(&pf, 1, 2000);
    char ev[256];
    long got = n > 0 ? read(in, ev, sizeof ev) : -1;
    close(fd);
    waitpid(c, NULL, 0);
    close(in);
    CHECK(got >= (long)sizeof(struct inotify_event) &&
              (((struct inotify_event *)ev)->mask & IN_MODIFY),
          "no IN_MODIFY on cgroup.events when it became populated (poll %d)", n);
    CHECK(pr == 1 && (rev & POLLPRI), "poll on cgroup.events: %d, revents %#x", pr, rev);
    OK(rmdir(cg));
}

TEST(hierarchy_limits)
{
    NEED_CG();
    char p[768], q[800];
    OK(make_cg("limits"));
    EXPECT_ERRNO(putf(cg, "cgroup.max.descendants", "-1"), ERANGE);
    EXPECT_ERRNO(putf(cg, "cgroup.max.descendants", "x"), EINVAL);
    OK(putf(cg, "cgroup.max.descendants", "1"));
    snprintf(p, sizeof p, "%s/a", cg);
    OK(mkdir(p, 0755));
    snprintf(q, sizeof q, "%s/b", cg);
    EXPECT_ERRNO(mkdir(q, 0755), EAGAIN);
    OK(putf(cg, "cgroup.max.descendants", "max"));
    OK(putf(cg, "cgroup.max.depth", "1"));
    snprintf(q, sizeof q, "%s/a/deeper", cg);
    EXPECT_ERRNO(mkdir(q, 0755), EAGAIN);
    snprintf(q, sizeof q, "%s/b", cg);
    OK(mkdir(q, 0755));
    OK(rmdir(q));
    OK(rmdir(p));
    OK(rmdir(cg));
}

TEST(subtree_control_and_type_parsing)
{
    NEED_CG();
    char buf[256];
    OK(make_cg("ctl"));
    EXPECT_ERRNO(putf(cg, "cgroup.subtree_control", "memory"), EINVAL);
    EXPECT_ERRNO(putf(cg, "cgroup.subtree_control", "+nope"), EINVAL);
    EXPECT_EQ(putf(cg, "cgroup.subtree_control", " "), 1);
    OK(getf(cg, "cgroup.subtree_control", buf, sizeof buf));
    CHECK(!strcmp(buf, ""), "subtree_control '%s'", buf);
    /* A controller the cgroup does not have: ENOENT. */
    OK(getf(cg, "cgroup.controllers", buf, sizeof buf));
    if (!strstr(buf, "pids"))
        EXPECT_ERRNO(putf(cg, "cgroup.subtree_control", "+pids"), ENOENT);
    EXPECT_ERRNO(putf(cg, "cgroup.type", "domain"), EINVAL);
    EXPECT_ERRNO(putf(cg, "cgroup.events", "1"), EINVAL);
    OK(rmdir(cg));
}

/* Controllers this program enabled (given back at the end). */
static char enabled[128];

/* Enables `ctrl` for our cgroup's children if it can be (0), else -1. */
static int enable(const char *ctrl)
{
    char buf[256], plus[32];
    if (getf(base, "cgroup.controllers", buf, sizeof buf) < 0 || !strstr(buf, ctrl))
        return -1;
    if (getf(base, "cgroup.subtree_control", buf, sizeof buf) >= 0 && strstr(buf, ctrl))
        return 0;
    snprintf(plus, sizeof plus, "+%s", ctrl);
    if (putf(base, "cgroup.subtree_control", plus) < 0)
        return -1;
    snprintf(enabled + strlen(enabled), sizeof enabled - strlen(enabled), " -%s", ctrl);
    return 0;
}

TEST(pids_max_refuses_forks_past_it)
{
    NEED_CG();
    if (enable("pids"))
        SKIP("no pids controller on the unified hierarchy here");
    char buf[128];
    OK(make_cg("pids"));
    OK(getf(cg, "pids.max", buf, sizeof buf));
    CHECK(!strcmp(buf, "max\n"), "pids.max '%s'", buf);
    EXPECT_ERRNO(putf(cg, "pids.max", "-1"), EINVAL);
    EXPECT_ERRNO(putf(cg, "pids.max", "abc"), EINVAL);
    OK(putf(cg, "pids.max", "2"));
    int pfd[2];
    OK(pipe(pfd));
    pid_t c = fork();
    if (c == 0) {
        /* In a cgroup of 2 tasks at most: one fork works, the next is EAGAIN. */
        if (move_to(cg, 0) < 0)
            _exit(10);
        int g1[2];
        if (pipe(g1))
            _exit(11);
        pid_t k = fork();
        if (k == 0) {
            char x;
            close(g1[1]);
            while (read(g1[0], &x, 1) > 0)
                ;
            _exit(0);
        }
        if (k < 0)
            _exit(12);
        pid_t k2 = fork();
        if (k2 == 0)
            _exit(0);
        int e = k2 < 0 ? errno : 0;
        char s[64];
        getf(cg, "pids.current", s, sizeof s);
        int r = e == EAGAIN && !strcmp(s, "2\n") ? 0 : 13;
        close(g1[1]);
        waitpid(k, NULL, 0);
        _exit(r);
    }
    close(pfd[0]);
    close(pfd[1]);
    int st;
    OK(waitpid(c, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    OK(getf(cg, "pids.events", buf, sizeof buf));
    CHECK(!strcmp(buf, "max 1\n"), "pids.events '%s'", buf);
    OK(getf(cg, "pids.current", buf, sizeof buf));
    CHECK(!strcmp(buf, "0\n"), "pids.current after '%s'", buf);
    OK(rmdir(cg));
}

TEST(memory_and_cpu_knobs)
{
    NEED_CG();
    if (enable("memory") || enable("cpu"))
        SKIP("no memory or cpu controller on the unified hierarchy here");
    char buf[128];
    OK(make_cg("mem"));
    OK(getf(cg, "memory.max", buf, sizeof buf));
    CHECK(!strcmp(buf, "max\n"), "memory.max '%s'", buf);
    OK(putf(cg, "memory.max", "1M"));
    OK(getf(cg, "memory.max", buf, sizeof buf));
    CHECK(!strcmp(buf, "1048576\n"), "memory.max '%s'", buf);
    OK(putf(cg, "memory.max", "5000"));
    OK(getf(cg, "memory.max", buf, sizeof buf));
    CHECK(!strcmp(buf, "4096\n"), "memory.max rounds to pages: '%s'", buf);
    EXPECT_ERRNO(putf(cg, "memory.max", "1MB"), EINVAL);
    OK(putf(cg, "memory.max", "max"));
    OK(putf(cg, "memory.high", "64M"));
    EXPECT_ERRNO(putf(cg, "memory.oom.group", "2"), EINVAL);
    OK(getf(cg, "cpu.weight", buf, sizeof buf));
    CHECK(!strcmp(buf, "100\n"), "cpu.weight '%s'", buf);
    EXPECT_ERRNO(putf(cg, "cpu.weight", "0"), ERANGE);
    EXPECT_ERRNO(putf(cg, "cpu.weight", "10001"), ERANGE);
    OK(putf(cg, "cpu.max", "50000 100000"));
    OK(getf(cg, "cpu.max", buf, sizeof buf));
    CHECK(!strcmp(buf, "50000 100000\n"), "cpu.max '%s'", buf);
    EXPECT_ERRNO(putf(cg, "cpu.max", "10"), EINVAL);
    /* memory.current counts a member's pages. */
    int fd;
    pid_t c = OK(sleeper(&fd));
    OK(move_to(cg, c));
    OK(getf(cg, "memory.current", buf, sizeof buf));
    long cur = atol(buf);
    close(fd);
    waitpid(c, NULL, 0);
    CHECK(cur > 0, "memory.current '%s' with a process inside", buf);
    /* No internal processes: a cgroup enabling memory below it takes none. */
    OK(putf(cg, "cgroup.subtree_control", "+memory"));
    EXPECT_ERRNO(move_to(cg, 0), EBUSY);
    OK(putf(cg, "cgroup.subtree_control", "-memory"));
    OK(rmdir(cg));
}

TEST(cgroup_namespace_paths_are_relative)
{
    NEED_CG();
    OK(make_cg("ns"));
    int pfd[2];
    OK(pipe(pfd));
    pid_t c = fork();
    if (c == 0) {
        char buf[512] = {0};
        if (move_to(cg, 0) < 0 || unshare(CLONE_NEWCGROUP) < 0)
            _exit(1);
        slurp("/proc/self/cgroup", buf, sizeof buf);
        if (write(pfd[1], buf, strlen(buf)) < 0)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    char got[512] = {0};
    long n = read(pfd[0], got, sizeof got - 1);
    close(pfd[0]);
    int st;
    OK(waitpid(c, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    CHECK(n > 0 && strstr(got, "0::/\n"), "in its own namespace: '%s'", got);
    OK(rmdir(cg));
}

TEST(delegation_by_ownership)
{
    NEED_CG();
    char a[768], b[768], pa[800], pb[800];
    OK(make_cg("deleg"));
    snprintf(a, sizeof a, "%s/a", cg);
    snprintf(b, sizeof b, "%s/b", cg);
    OK(mkdir(a, 0755));
    OK(mkdir(b, 0755));
    snprintf(pa, sizeof pa, "%s/cgroup.procs", a);
    snprintf(pb, sizeof pb, "%s/cgroup.procs", b);
    int pfd[2];
    OK(pipe(pfd));
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(pfd[1]);
        if (move_to(a, 0) < 0 || setgid(1000) || setuid(1000))
            _exit(1);
        /* Not delegated yet: the file's mode refuses the open. */
        if (put(pb, "0") != -1 || errno != EACCES)
            _exit(2);
        /* Wait for the parent to chown b's cgroup.procs and the cgroup. */
        if (read(pfd[0], &x, 1) != 1)
            _exit(3);
        /* b's file is ours now, but the common ancestor's is not: EACCES. */
        if (put(pb, "0") != -1 || errno != EACCES)
            _exit(4);
        if (read(pfd[0], &x, 1) != 1)
            _exit(5);
        if (put(pb, "0") < 0)
            _exit(6);
        _exit(0);
    }
    close(pfd[0]);
    OK(chown(pb, 1000, 1000));
    OK(write(pfd[1], "x", 1));
    usleep(100000);
    char cp[800];
    snprintf(cp, sizeof cp, "%s/cgroup.procs", cg);
    OK(chown(cp, 1000, 1000));
    OK(write(pfd[1], "x", 1));
    int st;
    OK(waitpid(c, &st, 0));
    close(pfd[1]);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    OK(rmdir(a));
    OK(rmdir(b));
    OK(rmdir(cg));
}

int main(void)
{
    KT_BEGIN();
    setup();
    RUN(proc_filesystems_lists_cgroup2);
    RUN(mkdir_makes_a_cgroup_with_its_files);
    RUN(procs_moves_a_process_and_proc_pid_cgroup_follows);
    RUN(a_child_is_born_in_its_parents_cgroup);
    RUN(clone3_into_cgroup);
    RUN(cgroup_kill_kills_every_process_below);
    RUN(cgroup_freeze_stops_and_thaws);
    RUN(cgroup_events_changes_are_inotify_and_poll_events);
    RUN(hierarchy_limits);
    RUN(subtree_control_and_type_parsing);
    RUN(pids_max_refuses_forks_past_it);
    RUN(memory_and_cpu_knobs);
    RUN(cgroup_namespace_paths_are_relative);
    RUN(delegation_by_ownership);
    /* Whatever a failed case left behind. */
    if (have_cg) {
        DIR *d = opendir(base);
        struct dirent *e;
        char mine[64], p[768];
        snprintf(mine, sizeof mine, "-%d", getpid());
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name), m = strlen(mine);
            if (!strncmp(e->d_name, "kt-", 3) && l > m && !strcmp(e->d_name + l - m, mine)) {
                snprintf(p, sizeof p, "%s/%s", base, e->d_name);
                remove_tree(p);
            }
        }
        if (d)
            closedir(d);
        if (enabled[0])
            putf(base, "cgroup.subtree_control", enabled);
    }
    if (strstr(mnt, "/tmp/kt-cgroup-mnt-")) {
        umount(mnt);
        rmdir(mnt);
    }
    return KT_END();
}

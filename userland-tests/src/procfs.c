/* /proc: the parts that real programs rely on. glibc and musl (/proc/self/exe,
 * /proc/self/fd, /proc/self/maps, /proc/self/task/TID/comm), LTP's library
 * (/proc/meminfo, /proc/sys/kernel/pid_max, /proc/self/oom_score_adj, mounts),
 * busybox ps/top/free and procps (/proc/PID/stat, status, cmdline, /proc/stat,
 * /proc/loadavg, /proc/uptime) and coreutils (mountinfo, cpuinfo).
 *
 * Only what Linux guarantees is asserted. Linux prints many more fields and
 * lines than are checked here; extra ones are always tolerated. Nothing that
 * depends on the kernel version (the release string, the number of fields in
 * /proc/PID/stat beyond 44, the set of status lines) is compared against a
 * fixed value.
 *
 * Every case SKIPs if /proc/self does not exist (/proc not mounted).
 *
 * The binary re-executes itself for some cases: argv[1] == "--procfs-child"
 * exits 42, and the environment variable KT_PROCFS_MODE selects a child mode
 * that checks something from inside the new program (see main()).
 *
 * Linux behaviours worth knowing (asserted below):
 * - Nothing can be created in /proc: open(O_CREAT) and mkdir of a new name are
 *   ENOENT (procfs lookups fail with ENOENT rather than returning a negative
 *   dentry, so the VFS never reaches the "no create method" EACCES).
 * - unlink and rmdir of an existing /proc entry are EPERM.
 * - Root can open a 0444 file such as /proc/self/stat for writing (the mode
 *   bits do not stop root); write() then fails with EINVAL because the file
 *   has no write method. A non-root process gets EACCES from open().
 * - A /proc/PID/stat fd opened before the process was reaped reads ESRCH
 *   afterwards.
 * - Writing /proc/self/comm keeps the bytes as written (up to 15), including
 *   a trailing newline, and write() returns the full count.
 * - execve sets comm from the basename of the path passed to execve (a
 *   symlink's own name, "exe" for /proc/self/exe), not from argv[0] or the
 *   target file.
 */
#define KT_AREA "procfs"
#include "kt.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>

#define PROC_SUPER_MAGIC 0x9fa0
#define PAGE 4096UL
#define MODE_ENV "KT_PROCFS_MODE"

static int have_proc;          /* /proc/self exists */
static char self_exe[PATH_MAX]; /* readlink("/proc/self/exe") at start-up */
static int main_argc;
static char **main_argv;
static int start_dir = AT_FDCWD; /* the directory we were started in */

/* A case that SKIPs when /proc is not mounted. */
#define PTEST(name)                                                           \
    static void name##_body(const char *kt_case);                             \
    TEST(name)                                                                \
    {                                                                         \
        if (!have_proc)                                                       \
            SKIP("/proc is not mounted (/proc/self does not exist)");         \
        name##_body(kt_case);                                                 \
    }                                                                         \
    static void name##_body(const char *kt_case)

/* ---- small helpers ---------------------------------------------------- */

/* Reads a whole file with read() until EOF into buf (NUL-terminated).
 * Returns the length, or -1 with errno set. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            close(fd);
            errno = EFBIG;
            return -1;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    close(fd);
    return (long)n;
}

/* The line of buf that starts with prefix, or NULL. */
static const char *find_line(const char *buf, const char *prefix)
{
    size_t l = strlen(prefix);
    const char *p = buf;
    while (p && *p) {
        if (!strncmp(p, prefix, l))
            return p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

/* Copies the line at p (without its newline) into out. */
static const char *line_str(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    while (p[n] && p[n] != '\n' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* The rest of the line after prefix (at most one line, no newline) into out;
 * NULL if no line starts with prefix. */
static const char *line_after(const char *buf, const char *prefix, char *out, size_t cap)
{
    const char *p = find_line(buf, prefix);
    if (!p)
        return NULL;
    return line_str(p + strlen(prefix), out, cap);
}

/* s is a decimal number (digits only) followed by exactly "\n". */
static int is_number_line(const char *s, unsigned long long *v)
{
    if (!isdigit((unsigned char)*s))
        return 0;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno == 0 && end[0] == '\n' && end[1] == 0;
}

/* Skips "D+.D+"; returns the position after it or NULL. */
static const char *eat_decimal(const char *p, double *v)
{
    const char *s = p;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != '.' || !isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        p++;
    if (v)
        *v = strtod(s, NULL);
    return p;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static ssize_t readlink_str(const char *path, char *buf, size_t cap)
{
    ssize_t n = readlink(path, buf, cap - 1);
    buf[n >= 0 ? n : 0] = 0;
    return n;
}

/* ---- /proc/PID/stat --------------------------------------------------- */

struct pstat {
    long pid;
    char comm[64];
    char state;
    int nf;              /* number of fields, counting pid and comm */
    char raw[2048];
    const char *f[80];   /* f[i] is field i (1-based), for i >= 3 */
};

/* Parses a stat line; comm runs from the first '(' to the LAST ')'.
 * Returns 0, or -1 if the text is malformed (every field after the state must
 * be a decimal integer). */
static int parse_stat(const char *text, struct pstat *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->raw, sizeof s->raw, "%s", text);
    char *lp = strchr(s->raw, '('), *rp = strrchr(s->raw, ')');
    if (!lp || !rp || rp < lp || lp == s->raw || lp[-1] != ' ' || rp[1] != ' ')
        return -1;
    lp[-1] = 0;
    char *end;
    s->pid = strtol(s->raw, &end, 10);
    if (end == s->raw || *end)
        return -1;
    *rp = 0;
    snprintf(s->comm, sizeof s->comm, "%s", lp + 1);
    s->nf = 2;
    char *save, *tok = strtok_r(rp + 2, " \n", &save);
    while (tok && s->nf + 1 < (int)(sizeof s->f / sizeof s->f[0])) {
        s->f[++s->nf] = tok;
        tok = strtok_r(NULL, " \n", &save);
    }
    if (s->nf < 3 || strlen(s->f[3]) != 1)
        return -1;
    s->state = s->f[3][0];
    for (int i = 4; i <= s->nf; i++) {
        const char *t = s->f[i];
        if (*t == '-')
            t++;
        if (!*t)
            return -1;
        for (; *t; t++)
            if (!isdigit((unsigned char)*t))
                return -1;
    }
    return 0;
}

static long long fnum(const struct pstat *s, int i)
{
    return i <= s->nf ? strtoll(s->f[i], NULL, 10) : -12345;
}

/* 0, -1 (errno) if unreadable, -2 if malformed. */
static int read_stat(const char *path, struct pstat *s)
{
    char buf[2048];
    if (slurp(path, buf, sizeof buf) < 0)
        return -1;
    return parse_stat(buf, s) == 0 ? 0 : -2;
}

static int read_pid_stat(pid_t pid, struct pstat *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return read_stat(path, s);
}

/* Polls /proc/PID/stat until its state is want, for up to 5 s. Returns the
 * last state seen ('?' if unreadable). */
static char wait_state(pid_t pid, char want)
{
    double end = mono_now() + 5;
    char last = '?';
    struct pstat s;
    do {
        if (read_pid_stat(pid, &s) == 0) {
            last = s.state;
            if (last == want)
                return last;
        }
        sleep_ms(2);
    } while (mono_now() < end);
    return last;
}

/* Number of threads in /proc/self/stat (field 20), -1 if unreadable. */
static long long self_num_threads(void)
{
    struct pstat s;
    if (read_stat("/proc/self/stat", &s) != 0)
        return -1;
    return fnum(&s, 20);
}

/* ---- a helper thread ---------------------------------------------------- */

/* The worker reports its tid, then serves one-byte commands until EOF:
 *   't': readlink("/proc/thread-self")     'n': prctl(PR_GET_NAME)
 * Each reply is exactly REPLY bytes. */
#define REPLY 256

struct worker {
    pthread_t th;
    int up[2], down[2];
    pid_t tid;
};

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pid_t tid = gettid_();
    if (write(w->up[1], &tid, sizeof tid) != sizeof tid)
        return NULL;
    char c;
    while (read(w->down[0], &c, 1) == 1) {
        char reply[REPLY] = {0};
        if (c == 't')
            readlink_str("/proc/thread-self", reply, sizeof reply);
        else if (c == 'n')
            prctl(PR_GET_NAME, reply, 0, 0, 0);
        if (write(w->up[1], reply, sizeof reply) != sizeof reply)
            break;
    }
    return NULL;
}

static int worker_start(struct worker *w)
{
    memset(w, 0, sizeof *w);
    if (pipe2(w->up, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(w->down, O_CLOEXEC) != 0) {
        close(w->up[0]);
        close(w->up[1]);
        return -1;
    }
    if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
        close(w->up[0]); close(w->up[1]);
        close(w->down[0]); close(w->down[1]);
        return -1;
    }
    if (read_full(w->up[0], &w->tid, sizeof w->tid) != 0)
        w->tid = -1;
    return 0;
}

static int worker_ask(struct worker *w, char cmd, char *out)
{
    if (write(w->down[1], &cmd, 1) != 1)
        return -1;
    if (read_full(w->up[0], out, REPLY) != 0)
        return -1;
    out[REPLY - 1] = 0;
    return 0;
}

/* Ends the worker and waits (up to 2 s) until /proc shows one thread again:
 * the kernel clears the tid that pthread_join waits for slightly before the
 * thread leaves the thread group. */
static void worker_stop(struct worker *w)
{
    close(w->down[1]);
    pthread_join(w->th, NULL);
    close(w->down[0]);
    close(w->up[0]);
    close(w->up[1]);
    double end = mono_now() + 2;
    while (self_num_threads() > 1 && mono_now() < end)
        sleep_ms(1);
}

/* ---- child processes ---------------------------------------------------- */

/* Forks; the child execs path with its stdout on a pipe. The output (up to
 * cap-1 bytes) goes to out. Returns the wait status, -1 on error. */
static int run_exec(const char *path, char *const argv[], char *const envp[],
                    char *out, size_t cap)
{
    int p[2];
    out[0] = 0;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        syscall(SYS_execve, path, argv, envp);
        dprintf(1, "execve(%s) failed: %s", path, kt_errstr(errno));
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    for (;;) {
        char tmp[256];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && n + 1 < cap; i++)
            out[n++] = tmp[i];
    }
    out[n] = 0;
    close(p[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

/* A forked child blocked in read() on a pipe; closing *wfd lets it exit 0. */
static pid_t spawn_blocked(int *wfd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) > 0)
            ;
        _exit(0);
    }
    close(p[0]);
    *wfd = p[1];
    return pid;
}

static void reap_blocked(pid_t pid, int wfd)
{
    close(wfd);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ======================================================================= */
/* /proc/self, /proc/thread-self                                           */
/* ======================================================================= */

PTEST(self_is_symlink_to_own_pid_directory) {
    struct stat lst, st, pst;
    OK(lstat("/proc/self", &lst));
    CHECK(S_ISLNK(lst.st_mode), "lstat(/proc/self) mode 0%o, expected a symlink", lst.st_mode);
    char buf[64], want[64];
    snprintf(want, sizeof want, "%d", (int)getpid());
    EXPECT_EQ(readlink_str("/proc/self", buf, sizeof buf), (long)strlen(want));
    CHECK(!strcmp(buf, want), "readlink(/proc/self) = \"%s\", expected \"%s\"", buf, want);
    OK(stat("/proc/self", &st));
    CHECK(S_ISDIR(st.st_mode), "stat(/proc/self) mode 0%o, expected a directory", st.st_mode);
    OK(stat(kt_path("/proc", want), &pst));
    CHECK(st.st_ino == pst.st_ino && st.st_dev == pst.st_dev,
          "/proc/self and /proc/%s are different directories", want);
    /* a relative walk through the link works too */
    OK(stat("/proc/self/.", &st));
    OK(stat("/proc/self/stat", &st));
    CHECK(S_ISREG(st.st_mode), "/proc/self/stat mode 0%o, expected a regular file", st.st_mode);
}

static void child_checks_self(void *arg)
{
    pid_t parent = *(pid_t *)arg;
    char buf[64], want[64];
    snprintf(want, sizeof want, "%d", (int)getpid());
    if (readlink_str("/proc/self", buf, sizeof buf) < 0)
        _exit(1);
    if (strcmp(buf, want))
        _exit(2);
    if (atoi(buf) == parent)
        _exit(3);
    struct pstat s;
    if (read_stat("/proc/self/stat", &s) != 0)
        _exit(4);
    if (s.pid != getpid() || fnum(&s, 4) != parent)
        _exit(5);
    _exit(0);
}

PTEST(self_in_forked_child_is_the_child) {
    pid_t me = getpid();
    int st = kt_in_child(child_checks_self, &me);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: %s (1 readlink failed, 2 wrong pid, 3 parent's pid, 4 stat unreadable, "
          "5 stat pid/ppid wrong)", kt_status(st));
}

static void thread_self_inner(const char *kt_case, struct worker *w)
{
    char buf[REPLY], want[128];
    snprintf(want, sizeof want, "%d/task/%d", (int)getpid(), (int)gettid_());
    OK(readlink_str("/proc/thread-self", buf, sizeof buf));
    CHECK(!strcmp(buf, want), "main thread: /proc/thread-self -> \"%s\", expected \"%s\"", buf, want);
    CHECK(w->tid > 0 && w->tid != getpid(), "worker tid %d", (int)w->tid);
    CHECK(worker_ask(w, 't', buf) == 0, "worker did not answer");
    snprintf(want, sizeof want, "%d/task/%d", (int)getpid(), (int)w->tid);
    CHECK(!strcmp(buf, want), "worker: /proc/thread-self -> \"%s\", expected \"%s\"", buf, want);
}

PTEST(thread_self_is_pid_task_tid) {
    struct worker w;
    CHECK(worker_start(&w) == 0, "pthread_create failed");
    thread_self_inner(kt_case, &w);
    worker_stop(&w);
}

PTEST(proc_root_lists_own_pid_and_self) {
    int wfd;
    pid_t child = spawn_blocked(&wfd);
    CHECK(child > 0, "fork failed");
    char me[32], ch[32];
    snprintf(me, sizeof me, "%d", (int)getpid());
    snprintf(ch, sizeof ch, "%d", (int)child);
    int seen_me = 0, seen_child = 0, seen_self = 0, seen_meminfo = 0, bad_type = 0;
    DIR *d = opendir("/proc");
    if (!d) {
        reap_blocked(child, wfd);
        CHECK(0, "opendir(/proc): %s", kt_errstr(errno));
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, me)) {
            seen_me = 1;
            bad_type |= e->d_type != DT_DIR && e->d_type != DT_UNKNOWN;
        }
        if (!strcmp(e->d_name, ch))
            seen_child = 1;
        if (!strcmp(e->d_name, "self")) {
            seen_self = 1;
            bad_type |= e->d_type != DT_LNK && e->d_type != DT_UNKNOWN;
        }
        if (!strcmp(e->d_name, "meminfo"))
            seen_meminfo = 1;
    }
    closedir(d);
    reap_blocked(child, wfd);
    CHECK(seen_me, "own pid %s not listed in /proc", me);
    CHECK(seen_child, "child pid %s not listed in /proc", ch);
    CHECK(seen_self, "\"self\" not listed in /proc");
    CHECK(seen_meminfo, "\"meminfo\" not listed in /proc");
    CHECK(!bad_type, "d_type of the pid directory or of \"self\" is wrong");
}

/* ======================================================================= */
/* /proc/self/exe, cwd, root                                               */
/* ======================================================================= */

PTEST(exe_is_absolute_path_of_this_binary) {
    char buf[PATH_MAX];
    struct stat lst, st_path, st_fd, st_follow;
    OK(lstat("/proc/self/exe", &lst));
    CHECK(S_ISLNK(lst.st_mode), "lstat(/proc/self/exe) mode 0%o, expected a symlink", lst.st_mode);
    OK(readlink_str("/proc/self/exe", buf, sizeof buf));
    CHECK(buf[0] == '/', "readlink(/proc/self/exe) = \"%s\" is not absolute", buf);
    OK(stat(buf, &st_path));
    int fd = OK(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    int r = fstat(fd, &st_fd);
    close(fd);
    CHECK(r == 0, "fstat failed");
    CHECK(S_ISREG(st_fd.st_mode), "opened /proc/self/exe is mode 0%o", st_fd.st_mode);
    CHECK(st_fd.st_ino == st_path.st_ino && st_fd.st_dev == st_path.st_dev,
          "open(/proc/self/exe) is ino %lu dev %lx, but \"%s\" is ino %lu dev %lx",
          (unsigned long)st_fd.st_ino, (unsigned long)st_fd.st_dev, buf,
          (unsigned long)st_path.st_ino, (unsigned long)st_path.st_dev);
    OK(stat("/proc/self/exe", &st_follow));
    CHECK(st_follow.st_ino == st_path.st_ino && st_follow.st_dev == st_path.st_dev,
          "stat(/proc/self/exe) is not the binary");
    /* the runner starts us by path: argv[0] names the same file */
    if (main_argv[0] && strchr(main_argv[0], '/')) {
        struct stat st_arg;
        /* relative to where we were started: each case runs from "/" */
        OK(fstatat(start_dir, main_argv[0], &st_arg, 0));
        CHECK(st_arg.st_ino == st_path.st_ino && st_arg.st_dev == st_path.st_dev,
              "argv[0] \"%s\" is not the file /proc/self/exe names (\"%s\")", main_argv[0], buf);
    }
}

PTEST(execve_of_proc_self_exe_runs_this_program) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    char out[512];
    char *argv[] = {"procfs", "--procfs-child", self_exe, NULL};
    char *envp[] = {NULL};
    int st = run_exec("/proc/self/exe", argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
          "execve(/proc/self/exe): %s, expected exit 42 (43: the new program's "
          "/proc/self/exe is not \"%s\") %s", kt_status(st), self_exe, out);
}

/* comm is the basename of the path given to execve: a symlink's own name,
 * "exe" for /proc/self/exe; argv[0] plays no part. */
PTEST(execve_sets_comm_to_basename_of_path) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *link = kt_path(d, "kt-linkname");
    OK(symlink(self_exe, link));
    char out[512];
    char *argv[] = {"argv-zero", NULL};
    char *envp[] = {MODE_ENV "=comm", NULL};
    int st = run_exec(link, argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %s", kt_status(st), out);
    CHECK(!strcmp(out, "kt-linkname\n"), "comm after execve of a symlink is \"%s\", "
          "expected \"kt-linkname\\n\"", out);
    st = run_exec("/proc/self/exe", argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s %s", kt_status(st), out);
    CHECK(!strcmp(out, "exe\n"), "comm after execve(/proc/self/exe) is \"%s\", expected \"exe\\n\"", out);
}

PTEST(cwd_follows_chdir) {
    char link[PATH_MAX], cwd[PATH_MAX];
    OK(readlink_str("/proc/self/cwd", link, sizeof link));
    CHECK(!strcmp(link, "/"), "cwd link is \"%s\" in /, expected \"/\"", link);
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    OK(chdir(d));
    CHECK(getcwd(cwd, sizeof cwd), "getcwd failed");
    OK(readlink_str("/proc/self/cwd", link, sizeof link));
    CHECK(!strcmp(link, cwd), "cwd link is \"%s\", getcwd is \"%s\"", link, cwd);
    OK(mkdir("sub", 0755));
    OK(chdir("sub"));
    OK(readlink_str("/proc/self/cwd", link, sizeof link));
    CHECK(!strcmp(link, kt_path(cwd, "sub")), "after chdir(sub): cwd link is \"%s\"", link);
    /* fchdir too; and stat through the link reaches the directory */
    int fd = OK(open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int r = fchdir(fd);
    close(fd);
    CHECK(r == 0, "fchdir failed: %s", kt_errstr(errno));
    OK(readlink_str("/proc/self/cwd", link, sizeof link));
    CHECK(!strcmp(link, cwd), "after fchdir: cwd link is \"%s\", expected \"%s\"", link, cwd);
    struct stat a, b;
    OK(stat("/proc/self/cwd", &a));
    OK(stat(".", &b));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "stat(/proc/self/cwd) is not \".\"");
    OK(chdir("/"));
}

PTEST(root_is_slash) {
    char link[PATH_MAX];
    struct stat lst, a, b;
    OK(lstat("/proc/self/root", &lst));
    CHECK(S_ISLNK(lst.st_mode), "lstat(/proc/self/root) mode 0%o, expected a symlink", lst.st_mode);
    OK(readlink_str("/proc/self/root", link, sizeof link));
    CHECK(!strcmp(link, "/"), "readlink(/proc/self/root) = \"%s\", expected \"/\"", link);
    OK(stat("/proc/self/root", &a));
    OK(stat("/", &b));
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "stat(/proc/self/root) is not \"/\"");
}

/* ======================================================================= */
/* /proc/self/fd, /proc/self/fdinfo                                         */
/* ======================================================================= */

PTEST(fd_dir_lists_exactly_the_open_fds) {
    int extra = OK(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    static unsigned char listed[1024];
    memset(listed, 0, sizeof listed);
    int dots = 0, bad = 0, bad_type = 0;
    char badname[NAME_MAX + 1] = "";
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        close(extra);
        CHECK(0, "opendir(/proc/self/fd): %s", kt_errstr(errno));
    }
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
            dots++;
            continue;
        }
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || n < 0 || n >= 1024) {
            bad = 1;
            snprintf(badname, sizeof badname, "%s", e->d_name);
            continue;
        }
        listed[n] = 1;
        if (e->d_type != DT_LNK && e->d_type != DT_UNKNOWN)
            bad_type = 1;
    }
    /* compare while the directory's own fd is still open */
    int mismatch = -1;
    for (int fd = 0; fd < 1024; fd++) {
        int open_now = fcntl(fd, F_GETFD) != -1;
        if (open_now != listed[fd]) {
            mismatch = fd;
            break;
        }
    }
    closedir(d);
    close(extra);
    CHECK(!bad, "unexpected entry \"%s\" in /proc/self/fd", badname);
    CHECK(dots == 2, "%d of \".\" and \"..\" listed, expected 2", dots);
    CHECK(listed[0] && listed[1] && listed[2], "fds 0, 1, 2 are not all listed (%d %d %d)",
          listed[0], listed[1], listed[2]);
    CHECK(listed[extra], "freshly opened fd %d is not listed", extra);
    CHECK(listed[dfd], "the directory's own fd %d is not listed", dfd);
    CHECK(mismatch < 0, "fd %d is %s but %s listed", mismatch,
          listed[mismatch] ? "closed" : "open", listed[mismatch] ? "is" : "is not");
    CHECK(!bad_type, "an entry's d_type is neither DT_LNK nor DT_UNKNOWN");
}

static void fd_link_inner(const char *kt_case, int fd, const char *want)
{
    char link[PATH_MAX], fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    struct stat lst, st, fst;
    OK(lstat(fdpath, &lst));
    CHECK(S_ISLNK(lst.st_mode), "lstat(%s) mode 0%o, expected a symlink", fdpath, lst.st_mode);
    OK(readlink_str(fdpath, link, sizeof link));
    CHECK(!strcmp(link, want), "readlink(%s) = \"%s\", expected \"%s\"", fdpath, link, want);
    OK(fstat(fd, &fst));
    OK(stat(fdpath, &st));
    CHECK(st.st_ino == fst.st_ino && st.st_dev == fst.st_dev, "stat(%s) does not reach the open file",
          fdpath);
    /* after unlink the link says "(deleted)" and still reaches the file */
    OK(unlink(want));
    OK(readlink_str(fdpath, link, sizeof link));
    char want_del[PATH_MAX + 16];
    snprintf(want_del, sizeof want_del, "%s (deleted)", want);
    CHECK(!strcmp(link, want_del), "after unlink: readlink = \"%s\", expected \"%s\"", link, want_del);
    int fd2 = OK(open(fdpath, O_RDONLY | O_CLOEXEC));
    char buf[16] = {0};
    long r = read(fd2, buf, sizeof buf);
    int sr = fstat(fd2, &st);
    close(fd2);
    CHECK(r == 7 && !memcmp(buf, "content", 7), "reading the reopened unlinked file gave %ld bytes", r);
    CHECK(sr == 0 && st.st_ino == fst.st_ino && st.st_nlink == 0, "reopened file: ino %lu nlink %lu",
          (unsigned long)st.st_ino, (unsigned long)st.st_nlink);
}

PTEST(fd_link_of_file_is_absolute_path) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char dir[PATH_MAX], want[PATH_MAX];
    OK(chdir(d));
    CHECK(getcwd(dir, sizeof dir), "getcwd failed");
    OK(chdir("/"));
    snprintf(want, sizeof want, "%.3000s/f", dir);
    CHECK(kt_write_file(want, "content", 7) == 0, "cannot create %s", want);
    int fd = OK(open(want, O_RDONLY | O_CLOEXEC));
    fd_link_inner(kt_case, fd, want);
    close(fd);
}

PTEST(fd_link_of_pipe_is_pipe_inode) {
    int p[2];
    OK(pipe2(p, O_CLOEXEC));
    struct stat st0, st1, via;
    char want[64], path[64];
    int ok = fstat(p[0], &st0) == 0 && fstat(p[1], &st1) == 0;
    snprintf(want, sizeof want, "pipe:[%lu]", (unsigned long)st0.st_ino);
    char got0[128] = "", got1[128] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    readlink_str(path, got0, sizeof got0);
    int sr = stat(path, &via);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    readlink_str(path, got1, sizeof got1);
    close(p[0]);
    close(p[1]);
    CHECK(ok, "fstat failed");
    CHECK(S_ISFIFO(st0.st_mode), "fstat of a pipe gives mode 0%o", st0.st_mode);
    CHECK(st0.st_ino == st1.st_ino, "the two ends have inodes %lu and %lu",
          (unsigned long)st0.st_ino, (unsigned long)st1.st_ino);
    CHECK(!strcmp(got0, want), "read end: readlink = \"%s\", expected \"%s\"", got0, want);
    CHECK(!strcmp(got1, want), "write end: readlink = \"%s\", expected \"%s\"", got1, want);
    CHECK(sr == 0 && S_ISFIFO(via.st_mode) && via.st_ino == st0.st_ino,
          "stat through the link: r=%d mode 0%o ino %lu", sr, via.st_mode, (unsigned long)via.st_ino);
}

static void reopen_inner(const char *kt_case, int fd, const char *file)
{
    char path[64], buf[16] = {0};
    OK(lseek(fd, 6, SEEK_SET));
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int fd2 = OK(open(path, O_RDONLY | O_CLOEXEC));
    struct stat a, b;
    int r1 = fstat(fd, &a), r2 = fstat(fd2, &b);
    long pos2 = lseek(fd2, 0, SEEK_CUR);
    long n = read(fd2, buf, 5);
    long pos1 = lseek(fd, 0, SEEK_CUR);
    int fl = fcntl(fd2, F_GETFL);
    errno = 0;
    long w = write(fd2, "x", 1);
    int we = errno;
    close(fd2);
    CHECK(fd2 != fd, "same fd number");
    CHECK(r1 == 0 && r2 == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
          "the reopened fd is a different file than %s", file);
    CHECK(pos2 == 0, "new description starts at offset %ld, expected 0 (offset is shared?)", pos2);
    CHECK(n == 5 && !memcmp(buf, "hello", 5), "read from the new fd gave %ld bytes \"%.5s\"", n, buf);
    CHECK(pos1 == 6, "original fd's offset moved to %ld, expected 6", pos1);
    CHECK(fl != -1 && (fl & O_ACCMODE) == O_RDONLY, "new fd's flags 0%o, expected O_RDONLY", fl);
    CHECK(w == -1 && we == EBADF, "write to the O_RDONLY reopened fd: %ld %s, expected EBADF",
          w, kt_errstr(we));
}

PTEST(fd_open_makes_new_description_of_same_file) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    CHECK(kt_write_file(f, "hello world", 11) == 0, "cannot create the file");
    int fd = OK(open(f, O_RDWR | O_CLOEXEC));
    reopen_inner(kt_case, fd, f);
    close(fd);
}

/* Opening /proc/self/fd/N of a pipe opens that pipe (bash's /dev/fd, /dev/stdin). */
PTEST(fd_open_of_pipe_reaches_same_pipe) {
    int p[2];
    OK(pipe2(p, O_CLOEXEC));
    char path[64], buf[8] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    long w = write(p[1], "ab", 2);
    long n = r >= 0 ? read(r, buf, sizeof buf) : -1;
    if (r >= 0)
        close(r);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int wfd = open(path, O_WRONLY | O_CLOEXEC);   /* a write end from the read end's link */
    long w2 = wfd >= 0 ? write(wfd, "cd", 2) : -1;
    long n2 = read(p[0], buf + 2, 2);
    if (wfd >= 0)
        close(wfd);
    close(p[0]);
    close(p[1]);
    CHECK(r >= 0, "open(O_RDONLY) of the pipe's link: %s", kt_errstr(e));
    CHECK(w == 2 && n == 2 && !memcmp(buf, "ab", 2), "data written to the pipe was not read through "
          "the reopened fd (write %ld, read %ld)", w, n);
    CHECK(wfd >= 0, "open(O_WRONLY) of the read end's link failed");
    CHECK(w2 == 2 && n2 == 2 && !memcmp(buf + 2, "cd", 2), "writing through the reopened end: "
          "write %ld, read %ld", w2, n2);
}

PTEST(closed_fd_is_enoent) {
    int fd = OK(open("/", O_RDONLY | O_CLOEXEC));
    OK(close(fd));
    char path[64], buf[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    EXPECT_ERRNO(readlink(path, buf, sizeof buf), ENOENT);
    EXPECT_ERRNO(lstat(path, &st), ENOENT);
    EXPECT_ERRNO(syscall(SYS_open, path, O_RDONLY), ENOENT);
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    EXPECT_ERRNO(syscall(SYS_open, path, O_RDONLY), ENOENT);
    EXPECT_ERRNO(lstat("/proc/self/fd/abc", &st), ENOENT);
}

PTEST(fdinfo_shows_pos_and_flags) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "f");
    CHECK(kt_write_file(f, "0123456789", 10) == 0, "cannot create the file");
    int fd = OK(open(f, O_RDWR | O_APPEND | O_CLOEXEC));
    char path[64], buf[1024], v[64] = "";
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    lseek(fd, 3, SEEK_SET);
    long n1 = slurp(path, buf, sizeof buf);
    int e1 = errno;
    char pos1[64] = "?", flags1[64] = "?";
    if (n1 >= 0) {
        if (line_after(buf, "pos:\t", v, sizeof v))
            snprintf(pos1, sizeof pos1, "%s", v);
        if (line_after(buf, "flags:\t", v, sizeof v))
            snprintf(flags1, sizeof flags1, "%s", v);
    }
    fcntl(fd, F_SETFD, 0);
    long n2 = slurp(path, buf, sizeof buf);
    char flags2[64] = "?";
    if (n2 >= 0 && line_after(buf, "flags:\t", v, sizeof v))
        snprintf(flags2, sizeof flags2, "%s", v);
    close(fd);
    CHECK(n1 >= 0 && n2 >= 0, "reading %s: %s", path, kt_errstr(e1));
    CHECK(!strcmp(pos1, "3"), "pos: \"%s\", expected \"3\"", pos1);
    char *end;
    unsigned long fl1 = strtoul(flags1, &end, 8);
    CHECK(flags1[0] == '0' && !*end, "flags: \"%s\" is not an octal number with a leading 0", flags1);
    CHECK((fl1 & O_ACCMODE) == O_RDWR && (fl1 & O_APPEND) && (fl1 & O_CLOEXEC),
          "flags 0%lo lack O_RDWR|O_APPEND|O_CLOEXEC", fl1);
    unsigned long fl2 = strtoul(flags2, &end, 8);
    CHECK(!*end && (fl2 & O_APPEND) && !(fl2 & O_CLOEXEC),
          "after clearing FD_CLOEXEC flags are \"%s\", expected O_APPEND without O_CLOEXEC", flags2);
}

/* ======================================================================= */
/* /proc/self/stat                                                         */
/* ======================================================================= */

PTEST(stat_identifies_the_process) {
    struct pstat s;
    char buf[2048];
    OK(slurp("/proc/self/stat", buf, sizeof buf));
    CHECK(parse_stat(buf, &s) == 0, "malformed /proc/self/stat: %s", buf);
    CHECK(buf[strlen(buf) - 1] == '\n', "/proc/self/stat does not end with a newline");
    char name[17] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    EXPECT_EQ(s.pid, getpid());
    CHECK(!strcmp(s.comm, name), "comm \"%s\", PR_GET_NAME \"%s\"", s.comm, name);
    CHECK(s.state == 'R', "state '%c', expected 'R' for the reading process itself", s.state);
    CHECK(s.nf >= 44, "only %d fields", s.nf);
    EXPECT_EQ(fnum(&s, 4), getppid());
    EXPECT_EQ(fnum(&s, 5), getpgrp());
    EXPECT_EQ(fnum(&s, 6), getsid(0));
    EXPECT_EQ(fnum(&s, 19), getpriority(PRIO_PROCESS, 0));   /* nice */
    EXPECT_EQ(fnum(&s, 20), 1);                               /* num_threads */
    CHECK(fnum(&s, 23) > 0, "vsize %lld", fnum(&s, 23));
    CHECK(fnum(&s, 24) > 0, "rss %lld pages", fnum(&s, 24));
    /* /proc/PID/stat is the same process */
    struct pstat t;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)getpid());
    CHECK(read_stat(path, &t) == 0, "cannot read %s", path);
    CHECK(t.pid == s.pid && !strcmp(t.comm, s.comm) && fnum(&t, 4) == fnum(&s, 4),
          "%s differs from /proc/self/stat", path);
}

static void stat_comm_inner(const char *kt_case)
{
    const char *odd = "kt) 1 2 (3)";   /* a space and a ')' */
    OK(prctl(PR_SET_NAME, odd, 0, 0, 0));
    struct pstat s;
    CHECK(read_stat("/proc/self/stat", &s) == 0, "malformed /proc/self/stat after PR_SET_NAME(\"%s\")", odd);
    CHECK(!strcmp(s.comm, odd), "comm \"%s\", expected \"%s\"", s.comm, odd);
    CHECK(s.state == 'R', "state '%c' after the last ')'", s.state);
    EXPECT_EQ(fnum(&s, 4), getppid());
    char buf[64];
    OK(slurp("/proc/self/comm", buf, sizeof buf));
    CHECK(!strcmp(buf, "kt) 1 2 (3)\n"), "/proc/self/comm = \"%s\"", buf);
}

PTEST(stat_comm_with_paren_and_space_parses_from_last_paren) {
    char old[17] = {0};
    OK(prctl(PR_GET_NAME, old, 0, 0, 0));
    stat_comm_inner(kt_case);
    prctl(PR_SET_NAME, old, 0, 0, 0);
}

static void num_threads_inner(const char *kt_case, struct worker *w)
{
    CHECK(w->tid > 0, "worker did not report its tid");
    EXPECT_EQ(self_num_threads(), 2);
    char buf[4096], v[64] = "";
    OK(slurp("/proc/self/status", buf, sizeof buf));
    CHECK(line_after(buf, "Threads:\t", v, sizeof v), "no \"Threads:\\t\" line");
    CHECK(!strcmp(v, "2"), "Threads: \"%s\", expected 2", v);
}

PTEST(stat_num_threads_follows_pthreads) {
    EXPECT_EQ(self_num_threads(), 1);
    struct worker w;
    CHECK(worker_start(&w) == 0, "pthread_create failed");
    num_threads_inner(kt_case, &w);
    worker_stop(&w);
    EXPECT_EQ(self_num_threads(), 1);
}

static void starttime_inner(const char *kt_case, pid_t child)
{
    long hz = sysconf(_SC_CLK_TCK);
    CHECK(hz > 0, "_SC_CLK_TCK = %ld", hz);
    struct pstat me, ch;
    CHECK(read_stat("/proc/self/stat", &me) == 0, "cannot read /proc/self/stat");
    CHECK(read_pid_stat(child, &ch) == 0, "cannot read /proc/%d/stat", (int)child);
    char buf[4096];
    OK(slurp("/proc/uptime", buf, sizeof buf));
    double up = strtod(buf, NULL);
    long long st_me = fnum(&me, 22), st_ch = fnum(&ch, 22);
    CHECK(st_me >= 0 && st_ch >= st_me, "starttime: mine %lld, child's %lld (forked later)", st_me, st_ch);
    CHECK(st_ch <= (long long)((up + 1) * hz), "child's starttime %lld ticks is after uptime %.2f s",
          st_ch, up);
    /* ps computes the start time as btime + starttime / CLK_TCK */
    OK(slurp("/proc/stat", buf, sizeof buf));
    char v[64] = "";
    CHECK(line_after(buf, "btime ", v, sizeof v), "no btime line in /proc/stat");
    long long btime = atoll(v);
    long long started = btime + st_ch / hz, now = time(NULL);
    CHECK(llabs(now - started) <= 5, "btime %lld + starttime %lld/%ld = %lld, but now is %lld",
          btime, st_ch, hz, started, now);
}

PTEST(stat_starttime_is_ticks_since_boot) {
    int wfd;
    pid_t child = spawn_blocked(&wfd);
    CHECK(child > 0, "fork failed");
    starttime_inner(kt_case, child);
    reap_blocked(child, wfd);
}

/* ======================================================================= */
/* /proc/self/status                                                       */
/* ======================================================================= */

PTEST(status_has_names_ids_and_memory) {
    static char buf[8192];
    char v[256] = "", name[17] = {0};
    struct stat st;
    OK(stat("/proc/self/status", &st));
    EXPECT_EQ(st.st_size, 0);
    OK(slurp("/proc/self/status", buf, sizeof buf));
    prctl(PR_GET_NAME, name, 0, 0, 0);
    CHECK(!strncmp(buf, "Name:\t", 6), "status does not start with \"Name:\\t\"");
    line_after(buf, "Name:\t", v, sizeof v);
    CHECK(!strcmp(v, name), "Name: \"%s\", expected \"%s\"", v, name);
    CHECK(line_after(buf, "State:\t", v, sizeof v), "no \"State:\\t\" line");
    CHECK(v[0] == 'R', "State: \"%s\", expected R for the reading process", v);
    CHECK(line_after(buf, "Tgid:\t", v, sizeof v), "no \"Tgid:\\t\" line");
    EXPECT_EQ(atol(v), getpid());
    CHECK(line_after(buf, "Pid:\t", v, sizeof v), "no \"Pid:\\t\" line");
    EXPECT_EQ(atol(v), getpid());
    CHECK(line_after(buf, "PPid:\t", v, sizeof v), "no \"PPid:\\t\" line");
    EXPECT_EQ(atol(v), getppid());
    CHECK(line_after(buf, "Threads:\t", v, sizeof v), "no \"Threads:\\t\" line");
    CHECK(!strcmp(v, "1"), "Threads: \"%s\", expected 1", v);

    uid_t r, e, s;
    gid_t gr, ge, gs;
    OK(getresuid(&r, &e, &s));
    OK(getresgid(&gr, &ge, &gs));
    uid_t fsu = setfsuid((uid_t)-1);
    gid_t fsg = setfsgid((gid_t)-1);
    unsigned a[4];
    char want[128];
    CHECK(line_after(buf, "Uid:\t", v, sizeof v), "no \"Uid:\\t\" line");
    snprintf(want, sizeof want, "%u\t%u\t%u\t%u", r, e, s, fsu);
    CHECK(!strcmp(v, want), "Uid: \"%s\", expected \"%s\" (real, effective, saved, fs)", v, want);
    CHECK(sscanf(v, "%u %u %u %u", &a[0], &a[1], &a[2], &a[3]) == 4, "Uid: not 4 numbers");
    CHECK(line_after(buf, "Gid:\t", v, sizeof v), "no \"Gid:\\t\" line");
    snprintf(want, sizeof want, "%u\t%u\t%u\t%u", gr, ge, gs, fsg);
    CHECK(!strcmp(v, want), "Gid: \"%s\", expected \"%s\"", v, want);

    CHECK(line_after(buf, "VmRSS:", v, sizeof v), "no \"VmRSS:\" line");
    unsigned long kb;
    char unit[8] = "";
    CHECK(sscanf(v, " %lu %7s", &kb, unit) == 2 && !strcmp(unit, "kB") && kb > 0,
          "VmRSS:%s is not \"<n> kB\" with n > 0", v);
    CHECK(line_after(buf, "SigBlk:\t", v, sizeof v), "no \"SigBlk:\\t\" line");
    CHECK(buf[strlen(buf) - 1] == '\n', "status does not end with a newline");
}

/* The value of a 16-hex-digit signal mask line, or ~0 if absent/malformed. */
static unsigned long long mask_line(const char *buf, const char *key, char *v, size_t cap)
{
    v[0] = 0;
    if (!line_after(buf, key, v, cap) || strlen(v) != 16)
        return ~0ULL;
    for (int i = 0; i < 16; i++)
        if (!isxdigit((unsigned char)v[i]))
            return ~0ULL;
    return strtoull(v, NULL, 16);
}

static void usr2_handler(int sig)
{
    (void)sig;
}

static void sigmask_inner(const char *kt_case)
{
    static char buf[8192];
    char v[64] = "";
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGUSR1);
    OK(sigprocmask(SIG_SETMASK, &only, NULL));
    OK(slurp("/proc/self/status", buf, sizeof buf));
    unsigned long long m = mask_line(buf, "SigBlk:\t", v, sizeof v);
    CHECK(m == 0x200 && !strcmp(v, "0000000000000200"), "SigBlk: \"%s\" with only SIGUSR1 "
          "blocked, expected 0000000000000200", v);

    /* a process-directed pending signal shows in ShdPnd, a thread-directed one in SigPnd */
    OK(kill(getpid(), SIGUSR1));
    OK(slurp("/proc/self/status", buf, sizeof buf));
    m = mask_line(buf, "ShdPnd:\t", v, sizeof v);
    CHECK(m != ~0ULL && (m & 0x200), "ShdPnd: \"%s\" after kill(getpid(), SIGUSR1)", v);
    struct timespec zero = {0, 0};
    CHECK(sigtimedwait(&only, NULL, &zero) == SIGUSR1, "SIGUSR1 was not pending");
    OK(syscall(SYS_tgkill, getpid(), gettid_(), SIGUSR1));
    OK(slurp("/proc/self/status", buf, sizeof buf));
    m = mask_line(buf, "SigPnd:\t", v, sizeof v);
    CHECK(m != ~0ULL && (m & 0x200), "SigPnd: \"%s\" after tgkill(SIGUSR1)", v);
    CHECK(sigtimedwait(&only, NULL, &zero) == SIGUSR1, "SIGUSR1 was not pending");

    /* ignored and caught */
    OK(signal(SIGUSR2, SIG_IGN) == SIG_ERR ? -1 : 0);
    OK(slurp("/proc/self/status", buf, sizeof buf));
    m = mask_line(buf, "SigIgn:\t", v, sizeof v);
    CHECK(m != ~0ULL && (m & 0x800), "SigIgn: \"%s\" with SIGUSR2 ignored (bit 0x800)", v);
    OK(signal(SIGUSR2, usr2_handler) == SIG_ERR ? -1 : 0);
    OK(slurp("/proc/self/status", buf, sizeof buf));
    m = mask_line(buf, "SigCgt:\t", v, sizeof v);
    CHECK(m != ~0ULL && (m & 0x800), "SigCgt: \"%s\" with a SIGUSR2 handler (bit 0x800)", v);
    m = mask_line(buf, "SigIgn:\t", v, sizeof v);
    CHECK(m != ~0ULL && !(m & 0x800), "SigIgn: \"%s\" still has SIGUSR2 after installing a handler", v);
}

PTEST(status_signal_masks_are_hex_bitmaps) {
    sigset_t old;
    struct sigaction oldact;
    OK(sigprocmask(SIG_SETMASK, NULL, &old));
    OK(sigaction(SIGUSR2, NULL, &oldact));
    sigmask_inner(kt_case);
    sigaction(SIGUSR2, &oldact, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Reads fd in 7-byte chunks from offset 0 into out. */
static long read_chunks(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (n + 8 >= cap)
            return -1;
        ssize_t r = read(fd, out + n, 7);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (r > 7)
            return -1;
        n += (size_t)r;
    }
    out[n] = 0;
    return (long)n;
}

/* st_size is 0, yet a loop of small reads returns the same bytes as a single
 * big read(). Contents such as context-switch counters may change between two
 * snapshots, so each comparison is retried a few times. */
PTEST(size_is_zero_and_small_reads_see_everything) {
    static const char *files[] = {"/proc/self/status", "/proc/self/stat",
                                  "/proc/self/maps", "/proc/self/cmdline"};
    static char big[65536], small[65536];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *f = files[i];
        struct stat st;
        OK(stat(f, &st));
        CHECK(st.st_size == 0, "%s: st_size %ld, expected 0", f, (long)st.st_size);
        int same = 0;
        long nb = -1, ns = -1;
        for (int attempt = 0; attempt < 50 && !same; attempt++) {
            int fd = OK(open(f, O_RDONLY | O_CLOEXEC));
            nb = read(fd, big, sizeof big - 1);
            int e = errno;
            long eof = nb > 0 ? read(fd, small, 16) : -1;
            close(fd);
            CHECK(nb > 0, "%s: single read gave %ld (%s)", f, nb, kt_errstr(e));
            CHECK(eof == 0, "%s: read after a single big read gave %ld, expected EOF", f, eof);
            big[nb] = 0;
            fd = OK(open(f, O_RDONLY | O_CLOEXEC));
            ns = read_chunks(fd, small, sizeof small);
            /* lseek back to 0 and read again */
            char again[16] = {0};
            long back = lseek(fd, 0, SEEK_SET);
            long na = read(fd, again, 4);
            close(fd);
            CHECK(ns > 0, "%s: 7-byte read loop failed", f);
            CHECK(back == 0 && na == 4 && !memcmp(again, small, 4),
                  "%s: after lseek(0) read %ld bytes \"%.4s\"", f, na, again);
            same = ns == nb && !memcmp(big, small, (size_t)nb);
        }
        CHECK(same, "%s: 7-byte reads gave %ld bytes, a single read %ld bytes (different content "
              "in 50 attempts)", f, ns, nb);
    }
}

/* ======================================================================= */
/* cmdline, comm, environ                                                  */
/* ======================================================================= */

PTEST(cmdline_is_nul_separated_argv) {
    /* our own */
    static char buf[65536], want[65536];
    long n = OK(slurp("/proc/self/cmdline", buf, sizeof buf));
    size_t wn = 0;
    for (int i = 0; i < main_argc; i++) {
        size_t l = strlen(main_argv[i]) + 1;
        memcpy(want + wn, main_argv[i], l);
        wn += l;
    }
    CHECK((size_t)n == wn && !memcmp(buf, want, wn), "own cmdline is %ld bytes, argv is %zu bytes", n, wn);
    /* a new program with an argument containing a space and an empty one */
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    char out[512];
    char *argv[] = {"procfs", "a b", "", "c", NULL};
    char *envp[] = {MODE_ENV "=cmdline", NULL};
    int st = run_exec(self_exe, argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s: %s", kt_status(st), out);
}

PTEST(cmdline_follows_a_title_written_over_argv) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    char out[512];
    char *argv[] = {"procfs", "ab", NULL};
    char *envp[] = {MODE_ENV "=title", "PAD=0123456789", NULL};
    int st = run_exec(self_exe, argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s: %s", kt_status(st), out);
}

static void other_cmdline_inner(const char *kt_case, pid_t pid)
{
    static const char want[] = "procfs-wait\0x y\0";
    char path[64], buf[256], comm[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    long n = -1;
    double end = mono_now() + 5;
    do {
        n = slurp(path, buf, sizeof buf);
        if (n == (long)sizeof want - 1 && !memcmp(buf, want, sizeof want - 1))
            break;
        sleep_ms(2);
    } while (mono_now() < end);
    CHECK(n == (long)sizeof want - 1 && !memcmp(buf, want, sizeof want - 1),
          "%s is %ld bytes, never \"procfs-wait\\0x y\\0\"", path, n);
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    const char *base = strrchr(self_exe, '/') + 1;
    char wantcomm[32];
    snprintf(wantcomm, sizeof wantcomm, "%.15s\n", base);
    OK(slurp(path, comm, sizeof comm));
    CHECK(!strcmp(comm, wantcomm), "%s = \"%s\", expected \"%s\"", path, comm, wantcomm);
}

/* ps reads /proc/PID/cmdline of other processes. */
PTEST(cmdline_of_other_process_after_exec) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    int p[2];
    OK(pipe2(p, O_CLOEXEC));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        CHECK(0, "fork failed");
    }
    if (pid == 0) {
        char *argv[] = {"procfs-wait", "x y", NULL};
        char *envp[] = {MODE_ENV "=wait", NULL};
        dup2(p[0], 0);
        syscall(SYS_execve, self_exe, argv, envp);
        _exit(127);
    }
    close(p[0]);
    other_cmdline_inner(kt_case, pid);
    close(p[1]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "waiting child: %s", kt_status(st));
}

PTEST(comm_is_name_and_newline) {
    char name[17] = {0}, buf[64], want[32], path[64];
    OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    snprintf(want, sizeof want, "%s\n", name);
    OK(slurp("/proc/self/comm", buf, sizeof buf));
    CHECK(!strcmp(buf, want), "/proc/self/comm = \"%s\", expected \"%s\"", buf, want);
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)gettid_());
    OK(slurp(path, buf, sizeof buf));
    CHECK(!strcmp(buf, want), "%s = \"%s\", expected \"%s\"", path, buf, want);
}

static void comm_write_inner(const char *kt_case)
{
    char name[17] = {0}, buf[64];
    int fd = OK(open("/proc/self/comm", O_WRONLY | O_CLOEXEC));
    long w = write(fd, "kt-renamed", 10);
    close(fd);
    EXPECT_EQ(w, 10);
    OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK(!strcmp(name, "kt-renamed"), "PR_GET_NAME after writing comm: \"%s\"", name);
    OK(slurp("/proc/self/comm", buf, sizeof buf));
    CHECK(!strcmp(buf, "kt-renamed\n"), "/proc/self/comm = \"%s\"", buf);
    struct pstat s;
    CHECK(read_stat("/proc/self/stat", &s) == 0 && !strcmp(s.comm, "kt-renamed"),
          "stat comm \"%s\"", s.comm);
    /* longer names are cut to 15 bytes; write() still reports the full count */
    fd = OK(open("/proc/self/comm", O_WRONLY | O_CLOEXEC));
    w = write(fd, "abcdefghijklmnopqrstuvwxyz", 26);
    close(fd);
    EXPECT_EQ(w, 26);
    OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK(!strcmp(name, "abcdefghijklmno"), "PR_GET_NAME after a long write: \"%s\"", name);
}

PTEST(comm_write_renames_process) {
    char old[17] = {0};
    OK(prctl(PR_GET_NAME, old, 0, 0, 0));
    comm_write_inner(kt_case);
    prctl(PR_SET_NAME, old, 0, 0, 0);
}

static void task_comm_inner(const char *kt_case, struct worker *w)
{
    char path[64], reply[REPLY], mine[17] = {0}, before[17] = {0};
    CHECK(w->tid > 0, "worker did not report its tid");
    prctl(PR_GET_NAME, before, 0, 0, 0);
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)w->tid);
    int fd = OK(open(path, O_WRONLY | O_CLOEXEC));
    long n = write(fd, "kt-worker", 9);
    close(fd);
    EXPECT_EQ(n, 9);
    CHECK(worker_ask(w, 'n', reply) == 0, "worker did not answer");
    CHECK(!strcmp(reply, "kt-worker"), "worker's PR_GET_NAME is \"%s\", expected \"kt-worker\"", reply);
    prctl(PR_GET_NAME, mine, 0, 0, 0);
    CHECK(!strcmp(mine, before), "the main thread's name changed to \"%s\"", mine);
    char buf[64];
    OK(slurp(path, buf, sizeof buf));
    CHECK(!strcmp(buf, "kt-worker\n"), "%s = \"%s\"", path, buf);
}

/* musl's and glibc's pthread_setname_np write /proc/self/task/TID/comm. */
PTEST(task_comm_write_renames_that_thread) {
    struct worker w;
    CHECK(worker_start(&w) == 0, "pthread_create failed");
    task_comm_inner(kt_case, &w);
    worker_stop(&w);
}

PTEST(environ_is_initial_environment) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    char out[512];
    char *argv[] = {"procfs", NULL};
    char *envp[] = {MODE_ENV "=environ", "KT_PROCFS_MARK=hello world", "EMPTY=", NULL};
    int st = run_exec(self_exe, argv, envp, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s: %s", kt_status(st), out);
}

/* ======================================================================= */
/* /proc/self/maps                                                         */
/* ======================================================================= */

struct mapline {
    unsigned long start, end, off, ino;
    unsigned maj, min;
    char perms[8];
    char path[512];
};

#define MAXMAPS 1024
static struct mapline maps[MAXMAPS];
static int nmaps;
static char maps_bad[256];

/* Reads /proc/self/maps into maps[]. 0 on success, -1 on a read error,
 * -2 on a malformed line (copied into maps_bad). */
static int maps_load(void)
{
    static char buf[1 << 18];
    nmaps = 0;
    if (slurp("/proc/self/maps", buf, sizeof buf) < 0)
        return -1;
    for (char *p = buf; *p && nmaps < MAXMAPS;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            return snprintf(maps_bad, sizeof maps_bad, "%.200s (no newline)", p), -2;
        *nl = 0;
        struct mapline *m = &maps[nmaps];
        int pos = 0;
        if (sscanf(p, "%lx-%lx %7s %lx %x:%x %lu%n", &m->start, &m->end, m->perms, &m->off,
                   &m->maj, &m->min, &m->ino, &pos) != 7 || strlen(m->perms) != 4 ||
            (p[pos] != 0 && p[pos] != ' '))
            return snprintf(maps_bad, sizeof maps_bad, "%.200s", p), -2;
        const char *q = p + pos;
        while (*q == ' ')
            q++;
        snprintf(m->path, sizeof m->path, "%s", q);
        nmaps++;
        p = nl + 1;
    }
    return 0;
}

static struct mapline *map_at(unsigned long addr)
{
    for (int i = 0; i < nmaps; i++)
        if (maps[i].start <= addr && addr < maps[i].end)
            return &maps[i];
    return NULL;
}

static struct mapline *map_exact(unsigned long start, unsigned long end)
{
    for (int i = 0; i < nmaps; i++)
        if (maps[i].start == start && maps[i].end == end)
            return &maps[i];
    return NULL;
}

#define LOAD_MAPS()                                                           \
    do {                                                                      \
        int kt_m_ = maps_load();                                              \
        CHECK(kt_m_ != -1, "reading /proc/self/maps: %s", kt_errstr(errno));  \
        CHECK(kt_m_ != -2, "malformed maps line: \"%s\"", maps_bad);          \
    } while (0)

PTEST(maps_lines_are_sorted_and_well_formed) {
    LOAD_MAPS();
    CHECK(nmaps >= 3, "only %d lines", nmaps);
    for (int i = 0; i < nmaps; i++) {
        struct mapline *m = &maps[i];
        CHECK(m->start < m->end && m->start % PAGE == 0 && m->end % PAGE == 0,
              "line %d: range %lx-%lx", i, m->start, m->end);
        CHECK(i == 0 || maps[i - 1].end <= m->start, "line %d (%lx) overlaps or precedes line %d (%lx-%lx)",
              i, m->start, i - 1, maps[i - 1].start, maps[i - 1].end);
        const char *p = m->perms;
        CHECK((p[0] == 'r' || p[0] == '-') && (p[1] == 'w' || p[1] == '-') &&
              (p[2] == 'x' || p[2] == '-') && (p[3] == 'p' || p[3] == 's'),
              "line %d: perms \"%s\"", i, p);
        CHECK(m->off % PAGE == 0, "line %d: offset %lx", i, m->off);
    }
}

static void __attribute__((noinline)) text_probe(void)
{
    __asm__ volatile("");
}

PTEST(maps_text_is_executable_mapping_of_this_binary) {
    CHECK(self_exe[0] == '/', "readlink(/proc/self/exe) failed at start-up");
    LOAD_MAPS();
    void (*volatile fp)(void) = text_probe;
    unsigned long addr = (unsigned long)fp;
    struct mapline *m = map_at(addr);
    CHECK(m, "no line contains the function at %lx", addr);
    CHECK(m->perms[0] == 'r' && m->perms[1] == '-' && m->perms[2] == 'x' && m->perms[3] == 'p',
          "text line has perms \"%s\", expected r-xp", m->perms);
    CHECK(!strcmp(m->path, self_exe), "text line names \"%s\", expected \"%s\"", m->path, self_exe);
    struct stat st;
    OK(stat(self_exe, &st));
    CHECK(m->ino == st.st_ino, "text line inode %lu, binary's inode %lu", m->ino, (unsigned long)st.st_ino);
    CHECK(m->maj == major(st.st_dev) && m->min == minor(st.st_dev),
          "text line device %02x:%02x, binary's device %02x:%02x", m->maj, m->min,
          major(st.st_dev), minor(st.st_dev));
}

PTEST(maps_main_stack_is_labelled) {
    volatile char local = 1;
    LOAD_MAPS();
    unsigned long addr = (unsigned long)&local;
    struct mapline *m = map_at(addr);
    CHECK(m, "no line contains the stack address %lx", addr);
    CHECK(!strcmp(m->path, "[stack]"), "the stack line is labelled \"%s\", expected \"[stack]\"", m->path);
    CHECK(!strcmp(m->perms, "rw-p"), "the stack line has perms \"%s\", expected rw-p", m->perms);
    CHECK(m->ino == 0 && m->maj == 0 && m->min == 0, "the stack line has a device or inode");
    (void)local;
}

PTEST(maps_vdso_is_labelled) {
    unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
    if (!vdso)
        SKIP("no vDSO (AT_SYSINFO_EHDR is 0)");
    LOAD_MAPS();
    struct mapline *m = map_at(vdso);
    CHECK(m, "no line contains the vDSO at %lx", vdso);
    CHECK(!strcmp(m->path, "[vdso]"), "the vDSO line is labelled \"%s\"", m->path);
    CHECK(!strcmp(m->perms, "r-xp"), "the vDSO line has perms \"%s\", expected r-xp", m->perms);
}

/* An anonymous mapping between two PROT_NONE guard pages (so that Linux
 * cannot merge it with a neighbour). */
static char *guarded_anon(void)
{
    char *g = mmap(NULL, 5 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED)
        return NULL;
    char *p = mmap(g + PAGE, 3 * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
        munmap(g, 5 * PAGE);
        return NULL;
    }
    return p;
}

static void anon_inner(const char *kt_case, char *p)
{
    unsigned long a = (unsigned long)p;
    p[0] = 1;
    LOAD_MAPS();
    struct mapline *m = map_exact(a, a + 3 * PAGE);
    CHECK(m, "no line %lx-%lx for the 3-page mapping (line at it: %lx-%lx)", a, a + 3 * PAGE,
          map_at(a) ? map_at(a)->start : 0, map_at(a) ? map_at(a)->end : 0);
    CHECK(!strcmp(m->perms, "rw-p"), "perms \"%s\", expected rw-p", m->perms);
    CHECK(m->off == 0 && m->maj == 0 && m->min == 0 && m->ino == 0,
          "anonymous line has offset %lx dev %x:%x inode %lu", m->off, m->maj, m->min, m->ino);
    CHECK(m->path[0] == 0, "anonymous line has a name \"%s\"", m->path);
    m = map_exact(a - PAGE, a);
    CHECK(m && !strcmp(m->perms, "---p"), "the PROT_NONE guard below is not a ---p line");
}

PTEST(maps_anonymous_mapping_has_exact_range) {
    char *p = guarded_anon();
    CHECK(p, "mmap failed: %s", kt_errstr(errno));
    anon_inner(kt_case, p);
    munmap(p - PAGE, 5 * PAGE);
}

static void mprotect_inner(const char *kt_case, char *p)
{
    unsigned long a = (unsigned long)p;
    OK(mprotect(p + PAGE, PAGE, PROT_READ));
    LOAD_MAPS();
    struct mapline *l = map_exact(a, a + PAGE), *mid = map_exact(a + PAGE, a + 2 * PAGE),
                   *r = map_exact(a + 2 * PAGE, a + 3 * PAGE);
    CHECK(l && mid && r, "after mprotect of the middle page the lines are not split in three "
          "(%s %s %s)", l ? "left" : "-", mid ? "middle" : "-", r ? "right" : "-");
    CHECK(!strcmp(l->perms, "rw-p") && !strcmp(mid->perms, "r--p") && !strcmp(r->perms, "rw-p"),
          "perms %s %s %s, expected rw-p r--p rw-p", l->perms, mid->perms, r->perms);
}

PTEST(maps_mprotect_splits_mapping) {
    char *p = guarded_anon();
    CHECK(p, "mmap failed: %s", kt_errstr(errno));
    mprotect_inner(kt_case, p);
    munmap(p - PAGE, 5 * PAGE);
}

static void file_map_inner(const char *kt_case, const char *path, int fd, char *priv, char *shared)
{
    struct stat st;
    OK(fstat(fd, &st));
    LOAD_MAPS();
    struct mapline *m = map_exact((unsigned long)priv, (unsigned long)priv + PAGE);
    CHECK(m, "no line for the private file mapping at %p", (void *)priv);
    CHECK(!strcmp(m->perms, "r--p"), "private mapping perms \"%s\", expected r--p", m->perms);
    CHECK(m->off == PAGE, "private mapping offset %lx, expected 1000", m->off);
    CHECK(m->ino == st.st_ino, "inode %lu, file's inode %lu", m->ino, (unsigned long)st.st_ino);
    CHECK(m->maj == major(st.st_dev) && m->min == minor(st.st_dev),
          "device %02x:%02x, file's device %02x:%02x", m->maj, m->min, major(st.st_dev), minor(st.st_dev));
    CHECK(!strcmp(m->path, path), "path \"%s\", expected \"%s\"", m->path, path);
    m = map_exact((unsigned long)shared, (unsigned long)shared + PAGE);
    CHECK(m, "no line for the shared file mapping at %p", (void *)shared);
    CHECK(!strcmp(m->perms, "rw-s"), "shared mapping perms \"%s\", expected rw-s", m->perms);
    CHECK(m->off == 2 * PAGE, "shared mapping offset %lx, expected 2000", m->off);
    CHECK(m->ino == st.st_ino && !strcmp(m->path, path), "shared mapping names \"%s\" inode %lu",
          m->path, m->ino);
}

PTEST(maps_file_mapping_shows_path_inode_and_offset) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char dir[PATH_MAX], path[PATH_MAX];
    OK(chdir(d));
    CHECK(getcwd(dir, sizeof dir), "getcwd failed");
    OK(chdir("/"));
    snprintf(path, sizeof path, "%.3000s/mapped file", dir);   /* a space in the name */
    static char data[3 * PAGE];
    memset(data, 'z', sizeof data);
    CHECK(kt_write_file(path, data, sizeof data) == 0, "cannot create %s", path);
    int fd = OK(open(path, O_RDWR | O_CLOEXEC));
    char *priv = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PAGE);
    if (priv != MAP_FAILED && shared != MAP_FAILED)
        file_map_inner(kt_case, path, fd, priv, shared);
    else
        kt_fail(kt_case, "mmap of the file failed: %s", kt_errstr(errno));
    if (priv != MAP_FAILED)
        munmap(priv, PAGE);
    if (shared != MAP_FAILED)
        munmap(shared, PAGE);
    close(fd);
}

/* ======================================================================= */
/* /proc/self/task                                                         */
/* ======================================================================= */

static void task_inner(const char *kt_case, struct worker *w)
{
    CHECK(w->tid > 0, "worker did not report its tid");
    DIR *d = opendir("/proc/self/task");
    CHECK(d, "opendir(/proc/self/task): %s", kt_errstr(errno));
    int n = 0, seen_main = 0, seen_worker = 0;
    char other[NAME_MAX + 1] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        long t = atol(e->d_name);
        if (t == getpid())
            seen_main = 1;
        else if (t == w->tid)
            seen_worker = 1;
        else
            snprintf(other, sizeof other, "%s", e->d_name);
    }
    closedir(d);
    CHECK(seen_main, "main thread %d not listed", (int)getpid());
    CHECK(seen_worker, "worker thread %d not listed", (int)w->tid);
    CHECK(n == 2, "%d entries in /proc/self/task (other: \"%s\"), expected 2", n, other);

    char path[64], buf[4096], v[64] = "";
    struct pstat s;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)w->tid);
    CHECK(read_stat(path, &s) == 0, "cannot read or parse %s", path);
    EXPECT_EQ(s.pid, w->tid);
    EXPECT_EQ(fnum(&s, 4), getppid());
    CHECK(s.state == 'S', "worker blocked in read() has state '%c', expected 'S'", s.state);
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)w->tid);
    OK(slurp(path, buf, sizeof buf));
    CHECK(line_after(buf, "Tgid:\t", v, sizeof v) && atol(v) == getpid(), "%s: Tgid \"%s\"", path, v);
    CHECK(line_after(buf, "Pid:\t", v, sizeof v) && atol(v) == w->tid, "%s: Pid \"%s\"", path, v);
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    CHECK(read_stat(path, &s) == 0, "cannot read or parse %s", path);
    EXPECT_EQ(s.pid, getpid());
}

PTEST(task_lists_every_thread) {
    struct worker w;
    CHECK(worker_start(&w) == 0, "pthread_create failed");
    /* let the worker block in read() */
    char path[64];
    struct pstat s;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)w.tid);
    double end = mono_now() + 5;
    while (mono_now() < end && !(read_stat(path, &s) == 0 && s.state == 'S'))
        sleep_ms(1);
    task_inner(kt_case, &w);
    worker_stop(&w);
}

/* ======================================================================= */
/* other processes                                                         */
/* ======================================================================= */

static void zombie_inner(const char *kt_case, pid_t pid, int *reaped)
{
    char path[64], buf[256];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char s = wait_state(pid, 'Z');
    CHECK(s == 'Z', "child that exited shows state '%c', expected 'Z' within 5 s", s);
    struct pstat ps;
    CHECK(read_pid_stat(pid, &ps) == 0, "cannot read %s", path);
    EXPECT_EQ(fnum(&ps, 4), getpid());
    int fd = OK(open(path, O_RDONLY | O_CLOEXEC));
    int w = waitpid(pid, NULL, 0);
    *reaped = 1;
    errno = 0;
    long n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    EXPECT_EQ(w, pid);
    EXPECT_ERRNO(syscall(SYS_open, path, O_RDONLY), ENOENT);
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    EXPECT_ERRNO(stat(path, &st), ENOENT);
    CHECK(n == -1 && e == ESRCH, "read of a stat fd opened before the reap: %ld %s, expected ESRCH",
          n, kt_errstr(e));
}

PTEST(zombie_child_is_z_then_gone_after_reap) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0)
        _exit(0);
    int reaped = 0;
    zombie_inner(kt_case, pid, &reaped);
    if (!reaped)
        waitpid(pid, NULL, 0);
}

static void states_inner(const char *kt_case, pid_t pid)
{
    char path[64], buf[4096], v[64] = "";
    char s = wait_state(pid, 'S');
    CHECK(s == 'S', "child blocked in read() shows state '%c', expected 'S'", s);
    OK(kill(pid, SIGSTOP));
    s = wait_state(pid, 'T');
    CHECK(s == 'T', "stopped child shows state '%c', expected 'T'", s);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    OK(slurp(path, buf, sizeof buf));
    CHECK(line_after(buf, "State:\t", v, sizeof v) && v[0] == 'T', "%s: State \"%s\"", path, v);
    OK(kill(pid, SIGCONT));
    s = wait_state(pid, 'S');
    CHECK(s == 'S', "continued child shows state '%c', expected 'S'", s);
}

PTEST(child_states_sleeping_and_stopped) {
    int wfd;
    pid_t pid = spawn_blocked(&wfd);
    CHECK(pid > 0, "fork failed");
    states_inner(kt_case, pid);
    reap_blocked(pid, wfd);
}

/* Reads /proc/PID/stat n times, 1 ms apart: how many reads showed state want
 * (-1 if one was unreadable). */
static int count_state(const char *path, char want, int n)
{
    int hits = 0;
    struct pstat s;
    for (int i = 0; i < n; i++) {
        if (read_stat(path, &s) != 0)
            return -1;
        hits += s.state == want;
        sleep_ms(1);
    }
    return hits;
}

static void spin_forever(void *arg)
{
    (void)arg;
    for (volatile unsigned long i = 0;; i++)
        ;
}

static void spinning_inner(const char *kt_case, pid_t pid)
{
    char path[64], buf[4096], v[64] = "";
    char s = wait_state(pid, 'R');
    CHECK(s == 'R', "child spinning in user mode shows state '%c', expected 'R'", s);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int hits = count_state(path, 'R', 20);
    CHECK(hits == 20, "spinning child read 'R' in %d of 20 reads", hits);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    OK(slurp(path, buf, sizeof buf));
    CHECK(line_after(buf, "State:\t", v, sizeof v) && !strcmp(v, "R (running)"),
          "%s: State \"%s\", expected \"R (running)\"", path, v);
}

PTEST(spinning_child_is_r_running) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0)
        spin_forever(NULL);
    spinning_inner(kt_case, pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void paused_inner(const char *kt_case, pid_t pid)
{
    char path[64], buf[4096], v[64] = "";
    char s = wait_state(pid, 'S');
    CHECK(s == 'S', "child in pause() shows state '%c', expected 'S'", s);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int hits = count_state(path, 'S', 20);
    CHECK(hits == 20, "child in pause() read 'S' in %d of 20 reads", hits);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    OK(slurp(path, buf, sizeof buf));
    CHECK(line_after(buf, "State:\t", v, sizeof v) && !strcmp(v, "S (sleeping)"),
          "%s: State \"%s\", expected \"S (sleeping)\"", path, v);
}

PTEST(paused_child_is_s_sleeping) {
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        for (;;)
            pause();
    }
    paused_inner(kt_case, pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void *spin_thread(void *arg)
{
    int fd = *(int *)arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (write(fd, &tid, sizeof tid) != sizeof tid)
        _exit(2);
    spin_forever(NULL);
    return NULL;
}

static void mixed_inner(const char *kt_case, pid_t pid, pid_t tid)
{
    char path[64];
    /* The process shows its main thread, which sleeps in pause(). */
    char s = wait_state(pid, 'S');
    CHECK(s == 'S', "process whose main thread is in pause() shows '%c', expected 'S'", s);
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    int hits = count_state(path, 'R', 10);
    CHECK(hits == 10, "%s: spinning thread read 'R' in %d of 10 reads", path, hits);
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
    hits = count_state(path, 'S', 10);
    CHECK(hits == 10, "%s: main thread in pause() read 'S' in %d of 10 reads", path, hits);
}

PTEST(process_state_is_main_thread_state) {
    int p[2];
    OK(pipe2(p, O_CLOEXEC));
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        pthread_t th;
        close(p[0]);
        if (pthread_create(&th, NULL, spin_thread, &p[1]) != 0)
            _exit(3);
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t tid = 0;
    long n = read(p[0], &tid, sizeof tid);
    close(p[0]);
    if (n == sizeof tid)
        mixed_inner(kt_case, pid, tid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(n == sizeof tid, "no thread id from the child (read %ld)", n);
}

/* ======================================================================= */
/* system-wide files                                                       */
/* ======================================================================= */

/* "Key:   <n> kB\n": the number, or -1 if the line is missing or malformed. */
static long long meminfo_kb(const char *buf, const char *key)
{
    char pfx[64], line[256];
    snprintf(pfx, sizeof pfx, "%s:", key);
    if (!line_after(buf, pfx, line, sizeof line))
        return -1;
    const char *p = line;
    if (*p != ' ' && *p != '\t')
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    char *end;
    long long v = strtoll(p, &end, 10);
    return strcmp(end, " kB") ? -1 : v;
}

PTEST(meminfo_has_totals_in_kb) {
    static char buf[16384];
    OK(slurp("/proc/meminfo", buf, sizeof buf));
    CHECK(!strncmp(buf, "MemTotal:", 9), "/proc/meminfo does not start with MemTotal:");
    static const char *keys[] = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached",
                                 "SwapTotal", "SwapFree"};
    long long v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = meminfo_kb(buf, keys[i]);
        CHECK(v[i] >= 0, "no well-formed \"%s: <n> kB\" line", keys[i]);
    }
    CHECK(v[0] > v[1] && v[1] > 0, "MemTotal %lld kB, MemFree %lld kB", v[0], v[1]);
    CHECK(v[2] <= v[0], "MemAvailable %lld kB > MemTotal %lld kB", v[2], v[0]);
    CHECK(v[6] <= v[5], "SwapFree %lld kB > SwapTotal %lld kB", v[6], v[5]);
    struct sysinfo si;
    OK(sysinfo(&si));
    long long total = (long long)si.totalram * si.mem_unit / 1024;
    CHECK(total == v[0], "MemTotal %lld kB, sysinfo() totalram %lld kB", v[0], total);
}

PTEST(uptime_is_two_non_negative_decimals) {
    char buf[128];
    OK(slurp("/proc/uptime", buf, sizeof buf));
    double up, idle;
    const char *p = eat_decimal(buf, &up);
    CHECK(p && *p == ' ', "/proc/uptime = \"%s\"", buf);
    p = eat_decimal(p + 1, &idle);
    CHECK(p && p[0] == '\n' && p[1] == 0, "/proc/uptime = \"%s\"", buf);
    struct timespec ts;
    OK(clock_gettime(CLOCK_BOOTTIME, &ts));
    double bt = ts.tv_sec + ts.tv_nsec / 1e9;
    CHECK(up >= 0 && idle >= 0, "negative values in \"%s\"", buf);
    CHECK(up <= bt + 1 && up >= bt - 2, "uptime %.2f s, CLOCK_BOOTTIME %.2f s", up, bt);
}

PTEST(loadavg_has_three_averages_counts_and_pid) {
    char buf[256];
    OK(slurp("/proc/loadavg", buf, sizeof buf));
    const char *p = buf;
    for (int i = 0; i < 3; i++) {
        p = eat_decimal(p, NULL);
        CHECK(p && *p == ' ', "/proc/loadavg = \"%s\": average %d", buf, i + 1);
        p++;
    }
    char *end;
    long running = strtol(p, &end, 10);
    CHECK(end != p && *end == '/', "/proc/loadavg = \"%s\": no running/total", buf);
    p = end + 1;
    long total = strtol(p, &end, 10);
    CHECK(end != p && *end == ' ', "/proc/loadavg = \"%s\": no total", buf);
    p = end + 1;
    long last = strtol(p, &end, 10);
    CHECK(end != p && end[0] == '\n' && end[1] == 0, "/proc/loadavg = \"%s\": no last pid", buf);
    CHECK(running >= 1 && running <= total, "running %ld, total %ld (the reader is running)", running, total);
    CHECK(last > 0, "last pid %ld", last);
}

/* The number after `key` at the start of a /proc/stat line; -1 if absent. */
static long stat_value(const char *key)
{
    static char buf[1 << 16];
    char v[64];
    if (slurp("/proc/stat", buf, sizeof buf) < 0 || !line_after(buf, key, v, sizeof v))
        return -1;
    return atol(v);
}

/* Busy children show as running in /proc/stat and /proc/loadavg at once, and
 * after one sample (every 5 s) the 1-minute average is above zero; sysinfo's
 * loads are the same averages with 16 bits of fraction. */
PTEST(busy_children_raise_procs_running_and_the_load_average) {
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            for (;;)
                ;
        CHECK(kids[i] > 0, "fork: %s", kt_errstr(errno));
    }
    usleep(100000);
    long running = stat_value("procs_running ");
    char buf[256];
    long r = slurp("/proc/loadavg", buf, sizeof buf);
    char *slash = r > 0 ? strchr(buf, '/') : NULL;
    long lr = -1;
    if (slash) {
        const char *q = slash;
        while (q > buf && q[-1] != ' ')
            q--;
        lr = strtol(q, NULL, 10);
    }
    long ctxt0 = stat_value("ctxt "), intr0 = stat_value("intr ");
    usleep(5200000);
    double load1 = -1;
    if (slurp("/proc/loadavg", buf, sizeof buf) > 0)
        load1 = strtod(buf, NULL);
    struct sysinfo si;
    int sr = sysinfo(&si);
    long ctxt1 = stat_value("ctxt "), intr1 = stat_value("intr ");
    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    CHECK(running >= 3, "procs_running %ld with the reader and two busy children", running);
    CHECK(lr >= 3, "/proc/loadavg's running count %ld with two busy children", lr);
    CHECK(load1 > 0.05, "the 1-minute load after 5.2 s of two busy children: %.2f", load1);
    CHECK(sr == 0 && si.loads[0] > 0, "sysinfo loads[0] %lu", sr == 0 ? si.loads[0] : 0);
    CHECK(ctxt1 > ctxt0 && ctxt0 > 0, "ctxt %ld then %ld", ctxt0, ctxt1);
    CHECK(intr1 > intr0 && intr0 > 0, "intr %ld then %ld", intr0, intr1);
}

PTEST(version_names_the_release) {
    char buf[1024];
    struct utsname u;
    OK(uname(&u));
    OK(slurp("/proc/version", buf, sizeof buf));
    char want[512];
    snprintf(want, sizeof want, "Linux version %s ", u.release);
    CHECK(!strncmp(buf, want, strlen(want)), "/proc/version = \"%.100s\", expected it to start with "
          "\"%s\"", buf, want);
    CHECK(buf[strlen(buf) - 1] == '\n', "/proc/version does not end with a newline");
}

/* Number of "processor\t: N" lines, -1 if the numbers do not increase (they
 * are the online CPUs' numbers: 0, 1, 2, ... unless some CPU is offline). */
static int cpuinfo_processors(const char *buf)
{
    int n = 0, last = -1;
    for (const char *p = buf; p && *p;) {
        if (!strncmp(p, "processor\t: ", 12)) {
            if (!isdigit((unsigned char)p[12]) || atoi(p + 12) <= last)
                return -1;
            last = atoi(p + 12);
            n++;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

PTEST(proc_stat_has_cpu_lines_and_btime) {
    static char buf[1 << 16], cpuinfo[1 << 18];
    OK(slurp("/proc/stat", buf, sizeof buf));
    CHECK(!strncmp(buf, "cpu ", 4), "/proc/stat does not start with a \"cpu \" line");
    char line[1024];
    line_str(buf, line, sizeof line);
    int nums = 0;
    char *save;
    for (char *t = strtok_r(line + 4, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *end;
        strtoull(t, &end, 10);
        CHECK(!*end && end != t, "\"cpu \" line has a non-number \"%s\"", t);
        nums++;
    }
    CHECK(nums >= 8, "\"cpu \" line has %d numbers, expected at least 8", nums);
    int ncpu = 0, last = -1;
    for (const char *p = buf; p && *p;) {
        if (!strncmp(p, "cpu", 3) && isdigit((unsigned char)p[3])) {
            CHECK(atoi(p + 3) > last, "per-cpu lines are not in increasing order (cpu%d after cpu%d)",
                  atoi(p + 3), last);
            last = atoi(p + 3);
            ncpu++;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    OK(slurp("/proc/cpuinfo", cpuinfo, sizeof cpuinfo));
    int nproc = cpuinfo_processors(cpuinfo);
    CHECK(ncpu >= 1 && ncpu == nproc, "%d cpuN lines in /proc/stat, %d processors in /proc/cpuinfo",
          ncpu, nproc);
    static const char *keys[] = {"intr ", "ctxt ", "btime ", "processes ", "procs_running ",
                                 "procs_blocked "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *l = find_line(buf, keys[i]);
        CHECK(l, "no \"%s\" line", keys[i]);
        CHECK(isdigit((unsigned char)l[strlen(keys[i])]), "\"%s\" line is not followed by a number",
              keys[i]);
    }
    char v[64] = "";
    line_after(buf, "btime ", v, sizeof v);
    long long btime = atoll(v);
    CHECK(btime > 0 && btime <= (long long)time(NULL), "btime %lld, now %lld", btime, (long long)time(NULL));
    line_after(buf, "procs_running ", v, sizeof v);
    CHECK(atol(v) >= 1, "procs_running %s, but the reader is running", v);
}

PTEST(cpuinfo_lists_processors_and_flags) {
    static char buf[1 << 18];
    OK(slurp("/proc/cpuinfo", buf, sizeof buf));
    CHECK(find_line(buf, "processor\t: 0\n") == buf, "/proc/cpuinfo does not start with "
          "\"processor\\t: 0\"");
    int n = cpuinfo_processors(buf);
    CHECK(n >= 1, "processor numbers do not increase");
    int nflags = 0, has_vendor = 0, has_model = 0;
    for (const char *p = buf; p && *p;) {
        char line[8192];
        line_str(p, line, sizeof line);
        if (!strncmp(line, "flags", 5) && strspn(line + 5, " \t") > 0) {
            const char *c = line + 5 + strspn(line + 5, " \t");
            CHECK(*c == ':', "malformed flags line");
            char words[8192];
            snprintf(words, sizeof words, "%s ", c + 1);
            CHECK(strstr(words, " fpu ") && strstr(words, " sse2 "),
                  "flags line lacks fpu or sse2 (x86-64 always has both)");
            nflags++;
        }
        has_vendor |= !strncmp(line, "vendor_id\t: ", 12);
        has_model |= !strncmp(line, "model name\t: ", 13);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    CHECK(nflags == n, "%d flags lines for %d processors", nflags, n);
    CHECK(has_vendor && has_model, "no \"vendor_id\" or no \"model name\" line");
}

PTEST(filesystems_lists_proc) {
    char buf[8192];
    OK(slurp("/proc/filesystems", buf, sizeof buf));
    const char *p = buf;
    int found = 0;
    while (p && *p) {
        if (!strncmp(p, "nodev\tproc\n", 11))
            found = 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    CHECK(found, "no \"nodev\\tproc\" line in /proc/filesystems");
}

/* A /proc/mounts-format file has a line "<src> /proc proc <opts> 0 0" and one for "/". */
static int check_mounts(const char *file, char *why, size_t cap)
{
    static char buf[1 << 16];
    if (slurp(file, buf, sizeof buf) < 0)
        return snprintf(why, cap, "reading %s: %s", file, kt_errstr(errno)), -1;
    int proc = 0, root = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            return snprintf(why, cap, "%s: last line has no newline", file), -1;
        *nl = 0;
        char src[256], dir[256], type[64], opts[512];
        int a, b;
        if (sscanf(p, "%255s %255s %63s %511s %d %d", src, dir, type, opts, &a, &b) != 6)
            return snprintf(why, cap, "%s: malformed line \"%.200s\"", file, p), -1;
        proc |= !strcmp(dir, "/proc") && !strcmp(type, "proc");
        root |= !strcmp(dir, "/");
        p = nl + 1;
    }
    if (!proc)
        return snprintf(why, cap, "%s: no \"/proc\" line of type proc", file), -1;
    if (!root)
        return snprintf(why, cap, "%s: no line for \"/\"", file), -1;
    return 0;
}

PTEST(mounts_list_proc) {
    char why[512];
    CHECK(check_mounts("/proc/mounts", why, sizeof why) == 0, "%s", why);
    CHECK(check_mounts("/proc/self/mounts", why, sizeof why) == 0, "%s", why);
    /* mountinfo: "id parent maj:min root mountpoint opts [optional...] - type source superopts" */
    static char buf[1 << 16];
    OK(slurp("/proc/self/mountinfo", buf, sizeof buf));
    int found = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        CHECK(nl, "mountinfo: last line has no newline");
        *nl = 0;
        int id, parent;
        unsigned maj, min;
        char root[256], mp[256];
        CHECK(sscanf(p, "%d %d %u:%u %255s %255s", &id, &parent, &maj, &min, root, mp) == 6,
              "malformed mountinfo line \"%s\"", p);
        char *sep = strstr(p, " - ");
        CHECK(sep, "mountinfo line without \" - \": \"%s\"", p);
        char type[64];
        CHECK(sscanf(sep + 3, "%63s", type) == 1, "mountinfo line without a type: \"%s\"", p);
        found |= !strcmp(mp, "/proc") && !strcmp(type, "proc");
        p = nl + 1;
    }
    CHECK(found, "no mountinfo line for /proc of type proc");
}

PTEST(kernel_cmdline_is_one_line) {
    char buf[8192];
    long n = OK(slurp("/proc/cmdline", buf, sizeof buf));
    CHECK(n >= 1 && buf[n - 1] == '\n' && strchr(buf, '\n') == buf + n - 1,
          "/proc/cmdline is not exactly one line: \"%s\"", buf);
}

/* ======================================================================= */
/* /proc/sys                                                               */
/* ======================================================================= */

PTEST(sys_kernel_pid_max_is_above_pids) {
    char buf[64];
    unsigned long long v;
    OK(slurp("/proc/sys/kernel/pid_max", buf, sizeof buf));
    CHECK(is_number_line(buf, &v), "pid_max = \"%s\"", buf);
    CHECK(v > (unsigned long long)getpid(), "pid_max %llu is not above our pid %d", v, (int)getpid());
}

PTEST(sys_kernel_ostype_osrelease_hostname) {
    char buf[512], want[512];
    struct utsname u;
    OK(uname(&u));
    OK(slurp("/proc/sys/kernel/ostype", buf, sizeof buf));
    CHECK(!strcmp(buf, "Linux\n"), "ostype = \"%s\"", buf);
    CHECK(!strcmp(u.sysname, "Linux"), "uname().sysname = \"%s\"", u.sysname);
    OK(slurp("/proc/sys/kernel/osrelease", buf, sizeof buf));
    snprintf(want, sizeof want, "%s\n", u.release);
    CHECK(!strcmp(buf, want), "osrelease = \"%s\", uname().release = \"%s\"", buf, u.release);
    OK(slurp("/proc/sys/kernel/hostname", buf, sizeof buf));
    snprintf(want, sizeof want, "%s\n", u.nodename);
    CHECK(!strcmp(buf, want), "hostname = \"%s\", uname().nodename = \"%s\"", buf, u.nodename);
}

PTEST(sys_fs_pipe_max_size_bounds_pipes) {
    char buf[64];
    unsigned long long v;
    OK(slurp("/proc/sys/fs/pipe-max-size", buf, sizeof buf));
    CHECK(is_number_line(buf, &v), "pipe-max-size = \"%s\"", buf);
    CHECK(v >= PAGE, "pipe-max-size %llu is below one page", v);
    int p[2];
    OK(pipe2(p, O_CLOEXEC));
    int sz = fcntl(p[0], F_GETPIPE_SZ);
    close(p[0]);
    close(p[1]);
    CHECK(sz > 0 && (unsigned long long)sz <= v, "a new pipe holds %d bytes, pipe-max-size %llu", sz, v);
}

static void oom_inner(const char *kt_case)
{
    char buf[64];
    int fd = OK(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    long w = write(fd, "500", 3);
    close(fd);
    EXPECT_EQ(w, 3);
    OK(slurp("/proc/self/oom_score_adj", buf, sizeof buf));
    CHECK(!strcmp(buf, "500\n"), "oom_score_adj = \"%s\" after writing 500", buf);
    fd = OK(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    errno = 0;
    w = write(fd, "2000", 4);
    int e = errno;
    close(fd);
    CHECK(w == -1 && e == EINVAL, "writing 2000 (out of range): %ld %s, expected EINVAL", w, kt_errstr(e));
}

/* LTP's library adjusts /proc/self/oom_score_adj. */
PTEST(oom_score_adj_round_trips) {
    char old[64];
    unsigned long long dummy;
    OK(slurp("/proc/self/oom_score_adj", old, sizeof old));
    long ov = atol(old);
    CHECK((old[0] == '-' ? is_number_line(old + 1, &dummy) : is_number_line(old, &dummy)) &&
          ov >= -1000 && ov <= 1000, "oom_score_adj = \"%s\"", old);
    oom_inner(kt_case);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, old, strlen(old)) < 0) { /* best effort */ }
        close(fd);
    }
}

/* ======================================================================= */
/* error paths                                                             */
/* ======================================================================= */

/* Lookups of missing names in /proc fail with ENOENT before the VFS asks for
 * a create method, so O_CREAT and mkdir are ENOENT, not EACCES. */
PTEST(create_in_proc_is_enoent) {
    EXPECT_ERRNO(syscall(SYS_open, "/proc/kt_new", O_CREAT | O_WRONLY, 0644), ENOENT);
    EXPECT_ERRNO(syscall(SYS_open, "/proc/kt_new", O_CREAT | O_EXCL | O_WRONLY, 0644), ENOENT);
    EXPECT_ERRNO(syscall(SYS_open, "/proc/self/kt_new", O_CREAT | O_WRONLY, 0644), ENOENT);
    EXPECT_ERRNO(syscall(SYS_mkdir, "/proc/kt_dir", 0755), ENOENT);
    EXPECT_ERRNO(syscall(SYS_mkdir, "/proc/self/kt_dir", 0755), ENOENT);
    struct stat st;
    EXPECT_ERRNO(stat("/proc/kt_new", &st), ENOENT);
}

PTEST(unlink_and_rmdir_in_proc_are_eperm) {
    EXPECT_ERRNO(syscall(SYS_unlink, "/proc/self/status"), EPERM);
    EXPECT_ERRNO(syscall(SYS_unlink, "/proc/meminfo"), EPERM);
    EXPECT_ERRNO(syscall(SYS_rmdir, "/proc/self/task"), EPERM);
    struct stat st;
    OK(stat("/proc/self/status", &st));
    OK(stat("/proc/meminfo", &st));
}

static void nonroot_open_stat(void *arg)
{
    (void)arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(10);
    errno = 0;
    long fd = syscall(SYS_open, "/proc/self/stat", O_WRONLY);
    _exit(fd >= 0 ? 11 : errno == EACCES ? 0 : 12);
}

/* /proc/self/stat is 0444 and has no write method: root may open it for
 * writing (DAC override), but write() fails with EINVAL; anyone else gets
 * EACCES from open(). */
PTEST(stat_file_is_read_only) {
    struct stat st;
    OK(stat("/proc/self/stat", &st));
    EXPECT_EQ(st.st_mode & 0777, 0444);
    if (geteuid() == 0) {
        int fd = OK(syscall(SYS_open, "/proc/self/stat", O_WRONLY | O_CLOEXEC));
        errno = 0;
        long w = write(fd, "1", 1);
        int e = errno;
        close(fd);
        CHECK(w == -1 && e == EINVAL, "write to /proc/self/stat: %ld %s, expected EINVAL", w, kt_errstr(e));
    }
    int s = kt_in_child(nonroot_open_stat, NULL);
    CHECK(WIFEXITED(s) && WEXITSTATUS(s) != 10, "child could not drop to uid 65534 (%s)", kt_status(s));
    CHECK(WIFEXITED(s) && WEXITSTATUS(s) == 0, "uid 65534: open(/proc/self/stat, O_WRONLY) %s, expected EACCES",
          WEXITSTATUS(s) == 11 ? "succeeded" : "failed with another errno");
}

/* /proc/diskstats: one line per block device, `major minor name` and the 17
 * counters of Linux 5.5+ (reads, merges, sectors, ms; writes...; in flight, io
 * ms, weighted ms; discards...; flushes, flush ms), every one a number. */
PTEST(diskstats_lines_have_major_minor_name_and_17_counters) {
    static char buf[65536];
    long n = slurp("/proc/diskstats", buf, sizeof buf);
    CHECK(n >= 0, "read /proc/diskstats: %s", kt_errstr(errno));
    int lines = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        unsigned long long v[17];
        unsigned maj, min;
        int got = sscanf(line,
                         "%u %u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                         "%llu %llu %llu %llu",
                         &maj, &min, name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                         &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]);
        CHECK(got == 20, "line %d has %d fields: \"%s\"", lines, got, line);
        lines++;
    }
}

PTEST(missing_pid_is_enoent) {
    struct stat st;
    EXPECT_ERRNO(stat("/proc/99999999", &st), ENOENT);
    EXPECT_ERRNO(syscall(SYS_open, "/proc/99999999/stat", O_RDONLY), ENOENT);
    EXPECT_ERRNO(stat("/proc/0", &st), ENOENT);
    EXPECT_ERRNO(stat("/proc/self/no-such-file", &st), ENOENT);
}

/* kernel.pid_max: root may set it within 301..4194304 (EINVAL outside);
 * it reads back as written. The old value is put back. */
PTEST(pid_max_is_writable_within_linux_bounds) {
    char buf[64];
    OK(slurp("/proc/sys/kernel/pid_max", buf, sizeof buf));
    long old = atol(buf);
    CHECK(old >= 301, "pid_max is %s", buf);
    int fd = OK(open("/proc/sys/kernel/pid_max", O_WRONLY));
    EXPECT_ERRNO(write(fd, "300", 3), EINVAL);
    EXPECT_ERRNO(write(fd, "4194305", 7), EINVAL);
    EXPECT_ERRNO(write(fd, "-1", 2), EINVAL);
    char v[32];
    int n = snprintf(v, sizeof v, "%ld", old + 1000);
    EXPECT_EQ(write(fd, v, n), n);
    close(fd);
    OK(slurp("/proc/sys/kernel/pid_max", buf, sizeof buf));
    EXPECT_EQ(atol(buf), old + 1000);
    fd = OK(open("/proc/sys/kernel/pid_max", O_WRONLY));
    n = snprintf(v, sizeof v, "%ld", old);
    EXPECT_EQ(write(fd, v, n), n);
    close(fd);
}

/* kernel.ns_last_pid: the id given out last; root may set it, and the next
 * fork gets the id after it (checkpoint/restore tools rely on that). */
PTEST(ns_last_pid_sets_the_next_pid) {
    char buf[64];
    OK(slurp("/proc/sys/kernel/ns_last_pid", buf, sizeof buf));
    long last = atol(buf);
    CHECK(last > 0, "ns_last_pid is %s", buf);
    /* A free id some way past (or low down, when that passes pid_max): the
     * next fork takes want. */
    char mx[64];
    OK(slurp("/proc/sys/kernel/pid_max", mx, sizeof mx));
    long want = last + 500 + 5 * 37 < atol(mx) ? last + 500 : 1000;
    pid_t pid = -1;
    for (int tries = 0; tries < 5; tries++, want += 37) {
        int fd = OK(open("/proc/sys/kernel/ns_last_pid", O_WRONLY));
        char v[32];
        int n = snprintf(v, sizeof v, "%ld", want - 1);
        EXPECT_EQ(write(fd, v, n), n);
        close(fd);
        pid = fork();
        if (pid == 0)
            _exit(0);
        OK(pid);
        waitpid(pid, NULL, 0);
        if (pid == want)
            break;
    }
    EXPECT_EQ(pid, want);
    int fd = OK(open("/proc/sys/kernel/ns_last_pid", O_WRONLY));
    EXPECT_ERRNO(write(fd, "-5", 2), EINVAL);
    EXPECT_ERRNO(write(fd, "x", 1), EINVAL);
    close(fd);
    /* An unprivileged writer is refused. */
    pid = fork();
    if (pid == 0) {
        if (setuid(65534) != 0)
            _exit(3);
        int f = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
        if (f < 0)
            _exit(errno == EACCES ? 0 : 4);
        _exit(write(f, "400", 3) == -1 && errno == EPERM ? 0 : 5);
    }
    int st;
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "an unprivileged write: status %#x", st);
}

/* A child blocked on a pipe until the parent closes its end (-1 on error). */
static pid_t held_child(int *wfd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        (void)!read(p[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return -1;
    }
    *wfd = p[1];
    return pid;
}

/* /proc/PID's inode numbers belong to the process, not to its pid: a new
 * process given the same pid (through ns_last_pid) has different ones, as on
 * Linux (LTP's pidfd_send_signal03 compares them across a reuse). */
PTEST(pid_dir_inode_is_fresh_after_pid_reuse) {
    int w;
    pid_t a = OK(held_child(&w));
    char path[64], sub[80];
    struct stat d1, s1, d2, s2;
    snprintf(path, sizeof path, "/proc/%d", (int)a);
    snprintf(sub, sizeof sub, "/proc/%d/status", (int)a);
    int r1 = stat(path, &d1), r2 = stat(sub, &s1);
    close(w);
    EXPECT_EQ(waitpid(a, NULL, 0), a);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    /* Give the same pid to a new child (another process may take it first:
     * then try again). */
    pid_t b = -1;
    for (int tries = 0; tries < 5 && b != a; tries++) {
        int fd = OK(open("/proc/sys/kernel/ns_last_pid", O_WRONLY));
        char v[32];
        int n = snprintf(v, sizeof v, "%d", (int)a - 1);
        EXPECT_EQ(write(fd, v, n), n);
        close(fd);
        b = OK(held_child(&w));
        if (b != a) {
            close(w);
            waitpid(b, NULL, 0);
        }
    }
    CHECK(b == a, "pid %d was not given out again (got %d)", (int)a, (int)b);
    r1 = stat(path, &d2);
    r2 = stat(sub, &s2);
    close(w);
    EXPECT_EQ(waitpid(b, NULL, 0), b);
    EXPECT_EQ(r1, 0);
    EXPECT_EQ(r2, 0);
    CHECK(d1.st_ino != d2.st_ino, "/proc/%d has inode %llu before and after the pid's reuse",
          (int)a, (unsigned long long)d1.st_ino);
    CHECK(s1.st_ino != s2.st_ino, "/proc/%d/status has inode %llu before and after the reuse",
          (int)a, (unsigned long long)s1.st_ino);
    CHECK(d1.st_ino != s1.st_ino, "/proc/%d and its status share inode %llu", (int)a,
          (unsigned long long)d1.st_ino);
}

/* Each listed entry's d_ino is what stat says of it ("." and ".." too), in
 * /proc (our own pid), /proc/PID, its fd/, ns/ and task/, and a thread's
 * directory. Returns 0, or -1 with a message in err. */
static int dir_inos_match(const char *dir, char *err, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, len, "opendir(%.64s): %s", dir, kt_errstr(errno));
        return -1;
    }
    char me[16];
    snprintf(me, sizeof me, "%d", (int)getpid());
    int checked = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* In /proc itself, "." and our own directory (others come and go;
         * ".." is the mount point's parent to stat). */
        if (strcmp(dir, "/proc") == 0 && strcmp(e->d_name, me) != 0 &&
            strcmp(e->d_name, ".") != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            /* The fd of an opendir since closed, say. */
            continue;
        }
        checked++;
        if (st.st_ino != e->d_ino) {
            snprintf(err, len, "%.64s/%.64s: d_ino %llu, st_ino %llu", dir, e->d_name,
                     (unsigned long long)e->d_ino, (unsigned long long)st.st_ino);
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (rc == 0 && checked < 2) {
        snprintf(err, len, "%.64s: only %d entries", dir, checked);
        rc = -1;
    }
    return rc;
}

PTEST(readdir_d_ino_is_st_ino) {
    char err[256], dir[96];
    const char *dirs[] = {"/proc", "/proc/self", "/proc/self/fd", "/proc/self/fdinfo",
                          "/proc/self/ns", "/proc/self/task"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        CHECK(dir_inos_match(dirs[i], err, sizeof err) == 0, "%s", err);
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)getpid());
    CHECK(dir_inos_match(dir, err, sizeof err) == 0, "%s", err);
    snprintf(dir, sizeof dir, "/proc/self/task/%d/fd", (int)getpid());
    CHECK(dir_inos_match(dir, err, sizeof err) == 0, "%s", err);
}

PTEST(statfs_reports_proc_super_magic) {
    struct statfs sf;
    OK(statfs("/proc", &sf));
    EXPECT_EQ(sf.f_type, PROC_SUPER_MAGIC);
    OK(statfs("/proc/self/status", &sf));
    EXPECT_EQ(sf.f_type, PROC_SUPER_MAGIC);
    int fd = OK(open("/proc/meminfo", O_RDONLY | O_CLOEXEC));
    int r = fstatfs(fd, &sf);
    close(fd);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(sf.f_type, PROC_SUPER_MAGIC);
}

/* ======================================================================= */
/* child modes (this binary, re-executed)                                  */
/* ======================================================================= */

/* /proc/self/cmdline must be argv, NUL-separated, and exactly what the
 * parent passed: "procfs" "a b" "" "c". */
static int child_cmdline(int argc, char **argv)
{
    static char buf[4096], want[4096];
    long n = slurp("/proc/self/cmdline", buf, sizeof buf);
    if (n < 0) {
        printf("cannot read /proc/self/cmdline: %s", kt_errstr(errno));
        return 1;
    }
    size_t wn = 0;
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(want + wn, argv[i], l);
        wn += l;
    }
    static const char fixed[] = "procfs\0a b\0\0c\0";
    if (wn != sizeof fixed - 1 || memcmp(want, fixed, wn)) {
        printf("argv itself is not {\"procfs\", \"a b\", \"\", \"c\"} (argc %d)", argc);
        return 2;
    }
    if ((size_t)n != wn || memcmp(buf, want, wn)) {
        printf("/proc/self/cmdline is %ld bytes \"", n);
        for (long i = 0; i < n && i < 64; i++)
            printf(buf[i] ? "%c" : "\\0", buf[i]);
        printf("\", expected 13 bytes \"procfs\\0a b\\0\\0c\\0\"");
        return 3;
    }
    return 0;
}

/* setproctitle as nginx and postgres do it: a program that writes over its
 * argv strings changes /proc/self/cmdline. While the last byte of the argv
 * area is still a NUL, cmdline is that area as it now is; once the title runs
 * over it into the environment strings that follow, cmdline is the string at
 * argv[0] up to its NUL. Run as {"procfs", "ab"}. */
static void show_bytes(const char *what, const char *b, long n)
{
    printf("%s is %ld bytes \"", what, n);
    for (long i = 0; i < n && i < 64; i++)
        printf(b[i] ? "%c" : "\\0", b[i]);
    printf("\"");
}

static int child_title(int argc, char **argv)
{
    static char buf[4096];
    if (argc != 2 || strcmp(argv[0], "procfs") || strcmp(argv[1], "ab")) {
        printf("argv is not {\"procfs\", \"ab\"}");
        return 2;
    }
    char *arg_end = argv[1] + 3;
    if (environ[0] != arg_end) {
        printf("the environment strings do not follow the argv strings");
        return 2;
    }
    argv[1][0] = 'X';
    long n = slurp("/proc/self/cmdline", buf, sizeof buf);
    if (n != 10 || memcmp(buf, "procfs\0Xb\0", 10)) {
        show_bytes("after argv[1][0] = 'X', cmdline", buf, n);
        return 3;
    }
    static const char title[] = "procfs: a longer title";
    memcpy(argv[0], title, sizeof title);
    n = slurp("/proc/self/cmdline", buf, sizeof buf);
    if (n != (long)sizeof title || memcmp(buf, title, sizeof title)) {
        show_bytes("after a title over the argv area, cmdline", buf, n);
        return 4;
    }
    return 0;
}

/* /proc/self/environ is the initial environment block, exactly. */
static int child_environ(void)
{
    static char buf[65536], want[65536];
    long n = slurp("/proc/self/environ", buf, sizeof buf);
    if (n < 0) {
        printf("cannot read /proc/self/environ: %s", kt_errstr(errno));
        return 1;
    }
    size_t wn = 0;
    for (char **e = environ; *e; e++) {
        size_t l = strlen(*e) + 1;
        memcpy(want + wn, *e, l);
        wn += l;
    }
    static const char mark[] = "KT_PROCFS_MARK=hello world";
    int found = 0;
    for (long i = 0; i < n; i += (long)strlen(buf + i) + 1)
        found |= !strcmp(buf + i, mark);
    if (!found) {
        printf("\"%s\" not in /proc/self/environ (%ld bytes)", mark, n);
        return 2;
    }
    if ((size_t)n != wn || memcmp(buf, want, wn)) {
        printf("/proc/self/environ is %ld bytes, the environment %zu bytes", n, wn);
        return 3;
    }
    return 0;
}

/* ioctl(PROCMAP_QUERY) on /proc/self/maps (Linux 6.11): struct procmap_query. */
struct kt_procmap_query {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size,
        vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define KT_PROCMAP_QUERY 0xc0686611u

TEST(procmap_query_finds_areas_as_maps_lists_them) {
    _Static_assert(sizeof(struct kt_procmap_query) == 104, "procmap_query is 104 bytes");
    int fd = OK(open("/proc/self/maps", O_RDONLY));
    struct kt_procmap_query q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_addr = 0;
    errno = 0;
    if (ioctl(fd, KT_PROCMAP_QUERY, &q) == -1 && errno == ENOTTY) {
        close(fd);
        SKIP("no PROCMAP_QUERY (Linux before 6.11)");
    }
    /* The first maps line: where the executable starts. */
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f && fgets(line, sizeof line, f), "read maps");
    fclose(f);
    unsigned long start, end, off;
    unsigned maj, min;
    unsigned long ino;
    char perms[8];
    CHECK(sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &off, &maj, &min, &ino) == 7,
          "parse %s", line);
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_addr = start;
    OK(ioctl(fd, KT_PROCMAP_QUERY, &q));
    EXPECT_EQ(q.vma_start, start);
    EXPECT_EQ(q.vma_end, end);
    EXPECT_EQ(q.vma_offset, off);
    EXPECT_EQ(q.inode, ino);
    EXPECT_EQ(q.dev_major, maj);
    EXPECT_EQ(q.dev_minor, min);
    EXPECT_EQ(q.vma_page_size, 4096);
    EXPECT_EQ(q.vma_flags & 1, perms[0] == 'r');
    EXPECT_EQ(!!(q.vma_flags & 4), perms[2] == 'x');
    /* Below the first area: nothing covers it; the next one with the flag. */
    q.query_addr = start - 1;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), ENOENT);
    q.query_flags = 0x10;
    OK(ioctl(fd, KT_PROCMAP_QUERY, &q));
    EXPECT_EQ(q.vma_start, start);
    /* A stack variable's area, writable, named [stack]; its name asked for. */
    char name[64];
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_addr = (uint64_t)(uintptr_t)&q;
    q.query_flags = 3; /* readable and writable */
    q.vma_name_addr = (uint64_t)(uintptr_t)name;
    q.vma_name_size = sizeof name;
    OK(ioctl(fd, KT_PROCMAP_QUERY, &q));
    CHECK(q.vma_start <= (uint64_t)(uintptr_t)&q && (uint64_t)(uintptr_t)&q < q.vma_end, "covering area");
    EXPECT_EQ(q.vma_name_size, sizeof "[stack]");
    CHECK(strcmp(name, "[stack]") == 0, "name %s", name);
    /* Too small a name buffer; executable required of the stack. */
    q.vma_name_size = 4;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), ENAMETOOLONG);
    q.vma_name_size = sizeof name;
    q.query_flags = 4;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), ENOENT);
    /* Bad arguments. */
    q.query_flags = 0x40;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), EINVAL);
    q.query_flags = 0;
    q.vma_name_addr = 0;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), EINVAL);
    q.vma_name_size = 0;
    q.size = 16;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, &q), EINVAL);
    static char big[200];
    struct kt_procmap_query *b = (struct kt_procmap_query *)big;
    memset(big, 0, sizeof big);
    b->size = sizeof big;
    b->query_addr = start;
    big[150] = 1;
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, big), E2BIG);
    big[150] = 0;
    OK(ioctl(fd, KT_PROCMAP_QUERY, big));
    EXPECT_ERRNO(ioctl(fd, KT_PROCMAP_QUERY, (void *)8), EFAULT);
    EXPECT_ERRNO(ioctl(fd, 0x6601, 0), ENOTTY);
    close(fd);
}

int main(int argc, char **argv)
{
    main_argc = argc;
    main_argv = argv;
    start_dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    have_proc = lstat("/proc/self", &st) == 0;
    if (have_proc && readlink_str("/proc/self/exe", self_exe, sizeof self_exe) <= 0)
        self_exe[0] = 0;

    if (argc >= 2 && !strcmp(argv[1], "--procfs-child")) {
        /* argv[2], if given, is what /proc/self/exe must name */
        if (argc >= 3 && strcmp(self_exe, argv[2]))
            return 43;
        return 42;
    }
    const char *mode = getenv(MODE_ENV);
    if (mode && !strcmp(mode, "cmdline"))
        return child_cmdline(argc, argv);
    if (mode && !strcmp(mode, "environ"))
        return child_environ();
    if (mode && !strcmp(mode, "title"))
        return child_title(argc, argv);
    if (mode && !strcmp(mode, "comm")) {
        char buf[64];
        if (slurp("/proc/self/comm", buf, sizeof buf) < 0)
            return 1;
        printf("%s", buf);
        return 0;
    }
    if (mode && !strcmp(mode, "wait")) {
        char c;
        while (read(0, &c, 1) > 0)
            ;
        return 0;
    }

    KT_BEGIN();
    RUN(procmap_query_finds_areas_as_maps_lists_them);
    RUN(self_is_symlink_to_own_pid_directory);
    RUN(self_in_forked_child_is_the_child);
    RUN(thread_self_is_pid_task_tid);
    RUN(proc_root_lists_own_pid_and_self);

    RUN(exe_is_absolute_path_of_this_binary);
    RUN(execve_of_proc_self_exe_runs_this_program);
    RUN(execve_sets_comm_to_basename_of_path);
    RUN(cwd_follows_chdir);
    RUN(root_is_slash);

    RUN(fd_dir_lists_exactly_the_open_fds);
    RUN(fd_link_of_file_is_absolute_path);
    RUN(fd_link_of_pipe_is_pipe_inode);
    RUN(fd_open_makes_new_description_of_same_file);
    RUN(fd_open_of_pipe_reaches_same_pipe);
    RUN(closed_fd_is_enoent);
    RUN(fdinfo_shows_pos_and_flags);

    RUN(stat_identifies_the_process);
    RUN(stat_comm_with_paren_and_space_parses_from_last_paren);
    RUN(stat_num_threads_follows_pthreads);
    RUN(stat_starttime_is_ticks_since_boot);

    RUN(status_has_names_ids_and_memory);
    RUN(status_signal_masks_are_hex_bitmaps);
    RUN(size_is_zero_and_small_reads_see_everything);

    RUN(cmdline_is_nul_separated_argv);
    RUN(cmdline_follows_a_title_written_over_argv);
    RUN(cmdline_of_other_process_after_exec);
    RUN(comm_is_name_and_newline);
    RUN(comm_write_renames_process);
    RUN(task_comm_write_renames_that_thread);
    RUN(environ_is_initial_environment);

    RUN(maps_lines_are_sorted_and_well_formed);
    RUN(maps_text_is_executable_mapping_of_this_binary);
    RUN(maps_main_stack_is_labelled);
    RUN(maps_vdso_is_labelled);
    RUN(maps_anonymous_mapping_has_exact_range);
    RUN(maps_mprotect_splits_mapping);
    RUN(maps_file_mapping_shows_path_inode_and_offset);

    RUN(task_lists_every_thread);
    RUN(zombie_child_is_z_then_gone_after_reap);
    RUN(child_states_sleeping_and_stopped);
    RUN(spinning_child_is_r_running);
    RUN(paused_child_is_s_sleeping);
    RUN(process_state_is_main_thread_state);

    RUN(meminfo_has_totals_in_kb);
    RUN(uptime_is_two_non_negative_decimals);
    RUN(loadavg_has_three_averages_counts_and_pid);
    RUN(busy_children_raise_procs_running_and_the_load_average);
    RUN(version_names_the_release);
    RUN(proc_stat_has_cpu_lines_and_btime);
    RUN(cpuinfo_lists_processors_and_flags);
    RUN(filesystems_lists_proc);
    RUN(mounts_list_proc);
    RUN(kernel_cmdline_is_one_line);

    RUN(sys_kernel_pid_max_is_above_pids);
    RUN(sys_kernel_ostype_osrelease_hostname);
    RUN(sys_fs_pipe_max_size_bounds_pipes);
    RUN(oom_score_adj_round_trips);

    RUN(create_in_proc_is_enoent);
    RUN(unlink_and_rmdir_in_proc_are_eperm);
    RUN(stat_file_is_read_only);
    RUN(missing_pid_is_enoent);
    RUN(diskstats_lines_have_major_minor_name_and_17_counters);
    RUN(statfs_reports_proc_super_magic);
    RUN(ns_last_pid_sets_the_next_pid);
    RUN(pid_max_is_writable_within_linux_bounds);
    RUN(pid_dir_inode_is_fresh_after_pid_reuse);
    RUN(readdir_d_ino_is_st_ino);
    return KT_END();
}

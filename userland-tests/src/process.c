/* fork/vfork/clone/execve/exit/exit_group/wait4, process ids, process groups
 * and sessions, and a crashing child. */
#define KT_AREA "process"
#include "kt.h"

#include <signal.h>
#include <sched.h>
#include <sys/resource.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#define BADPTR ((void *)1)

extern char **environ;

/* Waits for pid and returns its raw status, or -1. */
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

/* ---- fork ------------------------------------------------------------- */

TEST(fork_returns_child_pid_and_zero_in_child) {
    int fds[2];
    OK(pipe(fds));
    long pid = OK(syscall(SYS_fork));
    if (pid == 0) {
        pid_t me = syscall(SYS_getpid);
        write(fds[1], &me, sizeof me);
        _exit(0);
    }
    pid_t reported = 0;
    long n = read(fds[0], &reported, sizeof reported);
    close(fds[0]);
    close(fds[1]);
    int st = reap(pid);
    CHECK(pid > 0, "fork returned %ld", pid);
    EXPECT_EQ(n, sizeof reported);
    EXPECT_EQ(reported, pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
}

TEST(fork_child_sees_parent_as_ppid) {
    pid_t parent = getpid();
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        _exit(syscall(SYS_getppid) == parent ? 0 : 1);
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child's getppid != parent's getpid (%s)", kt_status(st));
}

static volatile int shared_var;

TEST(fork_child_memory_is_a_copy) {
    shared_var = 1;
    char *heap = malloc(64);
    CHECK(heap, "malloc failed");
    strcpy(heap, "parent");
    long pid = OK(syscall(SYS_fork));
    if (pid == 0) {
        shared_var = 2;
        strcpy(heap, "child");
        _exit(shared_var == 2 && !strcmp(heap, "child") ? 0 : 1);
    }
    int st = reap(pid);
    int v = shared_var;
    int same = !strcmp(heap, "parent");
    free(heap);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(v, 1);
    CHECK(same, "parent's heap changed by the child");
}

TEST(fork_child_shares_open_file_offset) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0644));
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        _exit(write(fd, "child", 5) == 5 ? 0 : 1);
    int st = reap(pid);
    long pos = lseek(fd, 0, SEEK_CUR);
    close(fd);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(pos, 5);
}

TEST(fork_many_children_all_reaped) {
    enum { N = 8 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = OK(fork());
        if (pids[i] == 0)
            _exit(10 + i);
    }
    for (int i = 0; i < N; i++) {
        int st = reap(pids[i]);
        CHECK(exited_with(st, 10 + i), "child %d: %s, expected exit %d", i, kt_status(st), 10 + i);
    }
}

/* ---- crashing children ------------------------------------------------ */

/* The pointer goes through a volatile variable so the compiler cannot see it is
 * NULL (gcc would otherwise replace the store by a trap instruction: SIGILL). */
static int *volatile null_ptr = 0;

static void write_null(void *arg)
{
    (void)arg;
    *null_ptr = 42;
}

TEST(child_writing_through_null_dies_with_sigsegv) {
    int st = kt_in_child(write_null, NULL);
    CHECK(st != -1, "fork/wait failed");
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s, expected killed by signal %d",
          kt_status(st), SIGSEGV);
    /* and the parent is still fine */
    EXPECT_EQ(getpid(), syscall(SYS_getpid));
}

static void read_null(void *arg)
{
    (void)arg;
    volatile int x = null_ptr[2];
    (void)x;
}

TEST(child_reading_near_null_dies_with_sigsegv) {
    int st = kt_in_child(read_null, NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child %s, expected killed by signal %d",
          kt_status(st), SIGSEGV);
}

/* ---- vfork ------------------------------------------------------------ */

static volatile int vfork_flag;

TEST(vfork_child_exit_status_seen_by_parent) {
    pid_t pid = vfork();
    if (pid == 0)
        _exit(7);
    CHECK(pid > 0, "vfork failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 7), "child %s, expected exit 7", kt_status(st));
}

/* On Linux the vfork child borrows the parent's memory and the parent is
 * suspended until the child exits or execs. */
TEST(vfork_child_shares_memory_and_parent_waits) {
    vfork_flag = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        vfork_flag = 1234;
        _exit(0);
    }
    int seen = vfork_flag; /* read before reaping: the child has already exited */
    CHECK(pid > 0, "vfork failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(seen, 1234);
}

TEST(vfork_then_execve) {
    char *argv[] = {"sh", "-c", "exit 6", NULL};
    pid_t pid = vfork();
    if (pid == 0) {
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    CHECK(pid > 0, "vfork failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 6), "child %s, expected exit 6", kt_status(st));
}

/* ---- clone ------------------------------------------------------------ */

TEST(clone_plain_process_with_sigchld) {
    long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, NULL, NULL, 0L);
    if (pid == 0)
        _exit(5);
    CHECK(pid > 0, "clone failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 5), "child %s, expected exit 5", kt_status(st));
}

TEST(clone_child_memory_is_a_copy) {
    shared_var = 1;
    long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, NULL, NULL, 0L);
    if (pid == 0) {
        shared_var = 99;
        _exit(0);
    }
    CHECK(pid > 0, "clone failed: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child %s", kt_status(st));
    EXPECT_EQ(shared_var, 1);
}

TEST(clone_sighand_without_vm_is_einval) {
    EXPECT_ERRNO(syscall(SYS_clone, (long)(CLONE_SIGHAND | SIGCHLD), 0L, NULL, NULL, 0L), EINVAL);
}

TEST(clone_thread_without_sighand_is_einval) {
    EXPECT_ERRNO(syscall(SYS_clone, (long)(CLONE_THREAD | CLONE_VM | SIGCHLD), 0L, NULL, NULL, 0L),
                 EINVAL);
}

/* ---- execve ----------------------------------------------------------- */

/* fork + execve(path, argv, envp); returns the raw wait status. */
static int run(const char *path, char *const argv[], char *const envp[])
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        syscall(SYS_execve, path, argv, envp);
        _exit(127);
    }
    return reap(pid);
}

TEST(execve_sh_exit_code) {
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    int st = run("/bin/sh", argv, environ);
    CHECK(exited_with(st, 3), "sh -c 'exit 3' %s (127 = execve failed)", kt_status(st));
}

TEST(execve_passes_argv_and_envp) {
    char *argv[] = {"/bin/sh", "-c",
                    "test \"$0\" = kt0 && test \"$1\" = foo && test \"$KT_VAR\" = 'b a r'",
                    "kt0", "foo", NULL};
    char *envp[] = {"KT_VAR=b a r", NULL};
    int st = run("/bin/sh", argv, envp);
    CHECK(exited_with(st, 0), "shell %s (1 = argv/env not as passed)", kt_status(st));
}

TEST(execve_shebang_script) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *s = kt_path(d, "script.sh");
    char body[512];
    snprintf(body, sizeof body,
             "#!/bin/sh\n"
             "test \"$0\" = \"%s\" || exit 10\n"
             "test \"$1\" = arg1 || exit 11\n"
             "exit 4\n", s);
    OK(kt_write_file(s, body, strlen(body)));
    OK(chmod(s, 0755));
    char *argv[] = {(char *)s, "arg1", NULL};
    int st = run(s, argv, environ);
    CHECK(exited_with(st, 4), "script %s, expected exit 4 (10 = bad $0, 11 = bad $1)",
          kt_status(st));
}

TEST(execve_shebang_with_interpreter_argument) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *s = kt_path(d, "script.sh");
    /* "sh -e": the false makes the script stop with status 1 before exit 9 */
    const char *body = "#!/bin/sh -e\nfalse\nexit 9\n";
    OK(kt_write_file(s, body, strlen(body)));
    OK(chmod(s, 0755));
    char *argv[] = {(char *)s, NULL};
    int st = run(s, argv, environ);
    CHECK(exited_with(st, 1), "script %s, expected exit 1 from 'sh -e'", kt_status(st));
}

TEST(execve_missing_file_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char *argv[] = {"x", NULL};
    EXPECT_ERRNO(syscall(SYS_execve, kt_path(d, "missing"), argv, environ), ENOENT);
}

TEST(execve_shebang_with_missing_interpreter_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *s = kt_path(d, "s");
    const char *body = "#!/no/such/interpreter\n";
    OK(kt_write_file(s, body, strlen(body)));
    OK(chmod(s, 0755));
    char *argv[] = {(char *)s, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, s, argv, environ), ENOENT);
}

TEST(execve_garbage_file_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "garbage");
    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    junk[0] = 0xde; /* certainly neither "#!" nor "\177ELF" */
    junk[1] = 0xad;
    OK(kt_write_file(f, junk, sizeof junk));
    OK(chmod(f, 0755));
    char *argv[] = {(char *)f, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, f, argv, environ), ENOEXEC);
}

TEST(execve_empty_file_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "empty");
    OK(kt_write_file(f, "", 0));
    OK(chmod(f, 0755));
    char *argv[] = {(char *)f, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, f, argv, environ), ENOEXEC);
}

/* No execute bit at all: EACCES, even for root. */
TEST(execve_non_executable_file_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *f = kt_path(d, "noexec");
    const char *body = "#!/bin/sh\nexit 0\n";
    OK(kt_write_file(f, body, strlen(body)));
    OK(chmod(f, 0644));
    char *argv[] = {(char *)f, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, f, argv, environ), EACCES);
}

TEST(execve_directory_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    char *argv[] = {(char *)d, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, d, argv, environ), EACCES);
}

TEST(execve_bad_pointers_are_efault) {
    char *argv[] = {"sh", NULL};
    EXPECT_ERRNO(syscall(SYS_execve, BADPTR, argv, environ), EFAULT);
    EXPECT_ERRNO(syscall(SYS_execve, "/bin/sh", BADPTR, environ), EFAULT);
    char *bad_argv[] = {"sh", BADPTR, NULL};
    EXPECT_ERRNO(syscall(SYS_execve, "/bin/sh", bad_argv, environ), EFAULT);
}

static int exec_probe_fd(int fd, const char *errfile)
{
    char script[64];
    snprintf(script, sizeof script, ": >&%d", fd);
    char *argv[] = {"sh", "-c", script, NULL};
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* keep the shell's "bad fd" complaint out of the test output */
        int e = open(errfile, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (e >= 0)
            dup2(e, 2);
        syscall(SYS_execve, "/bin/sh", argv, environ);
        _exit(127);
    }
    return reap(pid);
}

TEST(execve_closes_cloexec_fds_and_keeps_others) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    int fd = OK(open(kt_path(d, "f"), O_CREAT | O_WRONLY, 0644));
    OK(dup2(fd, 8));
    OK(dup3(fd, 9, O_CLOEXEC));
    close(fd);
    int keep = exec_probe_fd(8, kt_path(d, "err"));
    int gone = exec_probe_fd(9, kt_path(d, "err"));
    close(8);
    close(9);
    CHECK(exited_with(keep, 0), "fd 8 (no cloexec) not usable after exec: %s", kt_status(keep));
    CHECK(gone != -1 && WIFEXITED(gone) && WEXITSTATUS(gone) != 0 && WEXITSTATUS(gone) != 127,
          "fd 9 (cloexec) still open after exec: %s", kt_status(gone));
}

/* ---- exit / exit_group ------------------------------------------------ */

TEST(exit_group_status_seen_by_parent) {
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        syscall(SYS_exit_group, 9);
    int st = reap(pid);
    CHECK(exited_with(st, 9), "child %s, expected exit 9", kt_status(st));
}

TEST(exit_in_single_threaded_process_ends_it) {
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        syscall(SYS_exit, 11);
    int st = reap(pid);
    CHECK(exited_with(st, 11), "child %s, expected exit 11", kt_status(st));
}

TEST(exit_status_keeps_low_8_bits) {
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        syscall(SYS_exit_group, 0x1ff);
    int st = reap(pid);
    CHECK(exited_with(st, 255), "child %s, expected exit 255", kt_status(st));
}

/* ---- wait4 ------------------------------------------------------------ */

TEST(wait4_wnohang_with_running_child_returns_zero) {
    int fds[2];
    OK(pipe(fds));
    long pid = OK(syscall(SYS_fork));
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1); /* blocks until the parent closes the pipe */
        _exit(8);
    }
    close(fds[0]);
    int st = 0;
    long r = syscall(SYS_wait4, pid, &st, WNOHANG, NULL);
    long r_any = syscall(SYS_wait4, -1, &st, WNOHANG, NULL);
    close(fds[1]);
    int st2 = reap(pid);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(r_any, 0);
    CHECK(exited_with(st2, 8), "child %s, expected exit 8", kt_status(st2));
}

static void wait_without_children(void *arg)
{
    (void)arg;
    int st;
    errno = 0;
    long r = syscall(SYS_wait4, -1, &st, 0, NULL);
    int e = errno;
    long r2 = syscall(SYS_wait4, -1, &st, WNOHANG, NULL);
    int e2 = errno;
    _exit(r == -1 && e == ECHILD && r2 == -1 && e2 == ECHILD ? 0 : 1);
}

TEST(wait4_without_children_is_echild) {
    int st = kt_in_child(wait_without_children, NULL);
    CHECK(exited_with(st, 0), "child %s (1 = wait4 did not fail with ECHILD)", kt_status(st));
}

TEST(wait4_for_non_child_is_echild) {
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, (long)getppid(), &st, WNOHANG, NULL), ECHILD);
}

TEST(wait4_any_reaps_each_child_once) {
    enum { N = 3 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = OK(fork());
        if (pids[i] == 0)
            _exit(20 + i);
    }
    int seen[N] = {0};
    for (int k = 0; k < N; k++) {
        int st;
        long r = OK(syscall(SYS_wait4, -1, &st, 0, NULL));
        int found = 0;
        for (int i = 0; i < N; i++) {
            if (r == pids[i]) {
                seen[i]++;
                found = 1;
                CHECK(exited_with(st, 20 + i), "pid %ld %s, expected exit %d", r, kt_status(st),
                      20 + i);
            }
        }
        CHECK(found, "wait4 returned unknown pid %ld", r);
    }
    for (int i = 0; i < N; i++)
        EXPECT_EQ(seen[i], 1);
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, -1, &st, WNOHANG, NULL), ECHILD);
}

TEST(wait4_fills_rusage_and_allows_null_status) {
    long pid = OK(syscall(SYS_fork));
    if (pid == 0)
        _exit(0);
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    long r = syscall(SYS_wait4, pid, NULL, 0, &ru);
    EXPECT_EQ(r, pid);
    CHECK(ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000,
          "ru_utime.tv_usec = %ld", (long)ru.ru_utime.tv_usec);
}

TEST(wait4_negative_pid_waits_for_that_group) {
    int fds[2];
    OK(pipe(fds));
    long pid = OK(syscall(SYS_fork));
    if (pid == 0) {
        char c;
        close(fds[1]);
        setpgid(0, 0);
        read(fds[0], &c, 1);
        _exit(6);
    }
    close(fds[0]);
    setpgid(pid, pid); /* also from the parent, so there is no race */
    close(fds[1]);
    int st;
    long r = syscall(SYS_wait4, -pid, &st, 0, NULL);
    if (r != pid)
        reap(pid);
    EXPECT_EQ(r, pid);
    CHECK(exited_with(st, 6), "child %s, expected exit 6", kt_status(st));
}

TEST(wait4_bad_options_is_einval) {
    int st;
    EXPECT_ERRNO(syscall(SYS_wait4, -1, &st, 0x00010000, NULL), EINVAL);
}

/* ---- ids -------------------------------------------------------------- */

TEST(getpid_is_stable_and_positive) {
    long a = syscall(SYS_getpid), b = syscall(SYS_getpid);
    CHECK(a > 0, "getpid = %ld", a);
    EXPECT_EQ(a, b);
    CHECK(syscall(SYS_getppid) > 0, "getppid = %ld", syscall(SYS_getppid));
    CHECK(syscall(SYS_getppid) != a, "getppid == getpid");
}

TEST(gettid_equals_getpid_in_single_threaded_process) {
    EXPECT_EQ(syscall(SYS_gettid), syscall(SYS_getpid));
    long pid = OK(fork());
    if (pid == 0)
        _exit(syscall(SYS_gettid) == syscall(SYS_getpid) ? 0 : 1);
    int st = reap(pid);
    CHECK(exited_with(st, 0), "in child gettid != getpid (%s)", kt_status(st));
}

TEST(uid_gid_real_equal_effective_and_inherited) {
    long uid = syscall(SYS_getuid), euid = syscall(SYS_geteuid);
    long gid = syscall(SYS_getgid), egid = syscall(SYS_getegid);
    EXPECT_EQ(uid, euid);
    EXPECT_EQ(gid, egid);
    CHECK(uid >= 0 && gid >= 0, "uid %ld gid %ld", uid, gid);
    long pid = OK(fork());
    if (pid == 0)
        _exit(syscall(SYS_getuid) == uid && syscall(SYS_geteuid) == euid &&
              syscall(SYS_getgid) == gid && syscall(SYS_getegid) == egid ? 0 : 1);
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child saw different ids (%s)", kt_status(st));
}

/* ---- process groups --------------------------------------------------- */

/* ioprio_set/ioprio_get: a thread's I/O class and level (class << 13 |
 * level), kept, read back and inherited over fork; their checks. */
#define KT_IOPRIO(class, level) (((class) << 13) | (level))

static void child_ioprio(void *arg)
{
    long want = *(long *)arg;
    if (syscall(SYS_ioprio_get, 1, 0) != want)
        _exit(10);
    /* another user may not take the real-time class */
    if (setresuid(65534, 65534, 65534) != 0)
        _exit(11);
    errno = 0;
    if (syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(1, 3)) != -1 || errno != EPERM)
        _exit(12);
    if (syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(2, 6)) != 0)
        _exit(13);
    _exit(0);
}

TEST(ioprio_set_get_roundtrip_inherit_and_errors) {
    long saved = OK(syscall(SYS_ioprio_get, 1, 0));
    OK(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(2, 4)));
    EXPECT_EQ(syscall(SYS_ioprio_get, 1, 0), KT_IOPRIO(2, 4));
    EXPECT_EQ(syscall(SYS_ioprio_get, 1, getpid()), KT_IOPRIO(2, 4));
    OK(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(3, 7)));
    EXPECT_EQ(syscall(SYS_ioprio_get, 1, 0), KT_IOPRIO(3, 7));
    EXPECT_ERRNO(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(0, 4)), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(4, 0)), EINVAL);
    EXPECT_EQ(syscall(SYS_ioprio_get, 1, 0), KT_IOPRIO(3, 7));
    EXPECT_ERRNO(syscall(SYS_ioprio_get, 4, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioprio_set, 0, 0, KT_IOPRIO(2, 4)), EINVAL);
    EXPECT_ERRNO(syscall(SYS_ioprio_get, 1, 0x3ffffff0), ESRCH);
    OK(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(1, 2)));
    long want = KT_IOPRIO(1, 2);
    int st = kt_in_child(child_ioprio, &want);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    OK(syscall(SYS_ioprio_set, 1, 0, KT_IOPRIO(0, 0)));
    EXPECT_EQ(syscall(SYS_ioprio_get, 1, 0), 0);
    syscall(SYS_ioprio_set, 1, 0, saved);
}

/* A negative pid names no process: getpgid and getsid are ESRCH. */
TEST(getpgid_and_getsid_of_a_negative_pid_are_esrch) {
    EXPECT_ERRNO(syscall(SYS_getpgid, -99), ESRCH);
    EXPECT_ERRNO(syscall(SYS_getsid, -1), ESRCH);
}

TEST(getpgrp_equals_getpgid_zero_and_self) {
    long a = syscall(SYS_getpgrp);
    long b = syscall(SYS_getpgid, 0);
    long c = syscall(SYS_getpgid, (long)getpid());
    CHECK(a > 0, "getpgrp = %ld", a);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
}

TEST(child_inherits_process_group) {
    long mine = getpgrp();
    long pid = OK(fork());
    if (pid == 0)
        _exit(getpgrp() == mine ? 0 : 1);
    int st = reap(pid);
    CHECK(exited_with(st, 0), "child is in a different group (%s)", kt_status(st));
}

static void become_group_leader(void *arg)
{
    (void)arg;
    if (syscall(SYS_setpgid, 0, 0) != 0)
        _exit(2);
    _exit(syscall(SYS_getpgrp) == syscall(SYS_getpid) &&
          syscall(SYS_getpgid, 0) == syscall(SYS_getpid) ? 0 : 1);
}

TEST(setpgid_zero_zero_makes_caller_group_leader) {
    int st = kt_in_child(become_group_leader, NULL);
    CHECK(exited_with(st, 0), "child %s (1 = pgrp != pid, 2 = setpgid failed)", kt_status(st));
}

TEST(setpgid_parent_moves_child_into_new_group) {
    int fds[2];
    OK(pipe(fds));
    long pid = OK(fork());
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        _exit(getpgrp() == getpid() ? 0 : 1);
    }
    close(fds[0]);
    long r = syscall(SYS_setpgid, pid, pid);
    int e = errno;
    long g = syscall(SYS_getpgid, pid);
    close(fds[1]);
    int st = reap(pid);
    CHECK(r == 0, "setpgid(child, child) failed: %s", kt_errstr(e));
    EXPECT_EQ(g, pid);
    CHECK(exited_with(st, 0), "child does not see itself as leader (%s)", kt_status(st));
}

TEST(setpgid_negative_pgid_is_einval) {
    EXPECT_ERRNO(syscall(SYS_setpgid, 0, -1L), EINVAL);
}

TEST(setpgid_on_non_child_is_esrch) {
    EXPECT_ERRNO(syscall(SYS_setpgid, (long)getppid(), (long)getppid()), ESRCH);
}

static void join_missing_group(void *arg)
{
    long gone = (long)(intptr_t)arg;
    errno = 0;
    long r = syscall(SYS_setpgid, 0, gone);
    _exit(r == -1 && errno == EPERM ? 0 : 1);
}

/* pid of a child that has exited and been reaped */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        reap(pid);
    return pid;
}

TEST(setpgid_to_nonexistent_group_is_eperm) {
    pid_t gone = dead_pid();
    CHECK(gone > 0, "fork failed");
    int st = kt_in_child(join_missing_group, (void *)(intptr_t)gone);
    CHECK(exited_with(st, 0), "child %s (1 = setpgid did not fail with EPERM)", kt_status(st));
}

TEST(getpgid_of_nonexistent_pid_is_esrch) {
    pid_t gone = dead_pid();
    CHECK(gone > 0, "fork failed");
    EXPECT_ERRNO(syscall(SYS_getpgid, (long)gone), ESRCH);
}

/* ---- sessions --------------------------------------------------------- */

static void new_session(void *arg)
{
    (void)arg;
    long old = syscall(SYS_getsid, 0);
    long sid = syscall(SYS_setsid);
    long pid = syscall(SYS_getpid);
    if (sid != pid)
        _exit(1);
    if (syscall(SYS_getsid, 0) != pid || syscall(SYS_getpgrp) != pid)
        _exit(2);
    if (old == pid)
        _exit(3);
    /* now a session (and group) leader: a second setsid fails */
    errno = 0;
    if (syscall(SYS_setsid) != -1 || errno != EPERM)
        _exit(4);
    _exit(0);
}

TEST(setsid_creates_new_session_and_group) {
    int st = kt_in_child(new_session, NULL);
    CHECK(exited_with(st, 0),
          "child %s (1 = setsid != pid, 2 = getsid/getpgrp wrong, 3 = old sid was pid, "
          "4 = second setsid not EPERM)", kt_status(st));
}

static void setsid_as_group_leader(void *arg)
{
    (void)arg;
    if (setpgid(0, 0) != 0)
        _exit(2);
    errno = 0;
    long r = syscall(SYS_setsid);
    _exit(r == -1 && errno == EPERM ? 0 : 1);
}

TEST(setsid_as_group_leader_is_eperm) {
    int st = kt_in_child(setsid_as_group_leader, NULL);
    CHECK(exited_with(st, 0), "child %s (1 = setsid did not fail with EPERM)", kt_status(st));
}

TEST(getsid_of_self_and_child_match) {
    long mine = OK(syscall(SYS_getsid, 0));
    EXPECT_EQ(syscall(SYS_getsid, (long)getpid()), mine);
    int fds[2];
    OK(pipe(fds));
    long pid = OK(fork());
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        _exit(0);
    }
    close(fds[0]);
    long child = syscall(SYS_getsid, pid);
    close(fds[1]);
    reap(pid);
    EXPECT_EQ(child, mine);
}

TEST(getsid_of_nonexistent_pid_is_esrch) {
    pid_t gone = dead_pid();
    CHECK(gone > 0, "fork failed");
    EXPECT_ERRNO(syscall(SYS_getsid, (long)gone), ESRCH);
}

/* ---- execveat ---------------------------------------------------------- */

/* fork + execveat(dirfd, path, argv, environ, flags); the raw wait status. */
static int run_at(int dirfd, const char *path, char *const argv[], int flags)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        syscall(SYS_execveat, dirfd, path, argv, environ, flags);
        _exit(100 + errno);
    }
    return reap(pid);
}

TEST(execveat_runs_a_script_relative_to_a_directory_fd_or_the_fd_itself)
{
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *s = kt_path(d, "s.sh");
    const char *body = "#!/bin/sh\nexit 6\n";
    OK(kt_write_file(s, body, strlen(body)));
    OK(chmod(s, 0755));
    char *argv[] = {"s.sh", NULL};
    int dfd = OK(open(d, O_DIRECTORY | O_RDONLY));
    int st = run_at(dfd, "s.sh", argv, 0);
    CHECK(exited_with(st, 6), "relative to dirfd: %s", kt_status(st));
    st = run_at(-1, s, argv, 0);
    CHECK(exited_with(st, 6), "absolute with a bad dirfd: %s", kt_status(st));
    char *shargv[] = {"sh", "-c", "exit 8", NULL};
    int fd = OK(open("/bin/sh", O_PATH));
    st = run_at(fd, "", shargv, AT_EMPTY_PATH);
    CHECK(exited_with(st, 8), "AT_EMPTY_PATH: %s", kt_status(st));
    close(fd);
    close(dfd);
}

TEST(execveat_errors)
{
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    const char *s = kt_path(d, "s.sh");
    OK(kt_write_file(s, "#!/bin/sh\nexit 6\n", 17));
    OK(chmod(s, 0755));
    char link[600];
    snprintf(link, sizeof link, "%s/link", d);
    OK(symlink(s, link));
    int fd = OK(open(s, O_PATH));
    char *argv[] = {"s.sh", NULL};
    EXPECT_ERRNO(syscall(SYS_execveat, -1, "", argv, environ, AT_EMPTY_PATH), EBADF);
    EXPECT_ERRNO(syscall(SYS_execveat, fd, s, argv, environ, -1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_execveat, fd, link, argv, environ, AT_SYMLINK_NOFOLLOW), ELOOP);
    EXPECT_ERRNO(syscall(SYS_execveat, fd, "s.sh", argv, environ, 0), ENOTDIR);
    close(fd);
}

TEST(waitpid_int_min_is_esrch)
{
    EXPECT_ERRNO(waitpid(INT_MIN, NULL, WNOHANG), ESRCH);
}

static void newpid_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534))
        _exit(10);
    errno = 0;
    long r = syscall(SYS_clone, 0x20000000 /* CLONE_NEWPID */ | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    _exit(r == -1 && errno == EPERM ? 0 : 11);
}

TEST(clone_newpid_without_cap_sys_admin_is_eperm)
{
    int st = kt_in_child(newpid_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void touch_32mb(void *arg)
{
    (void)arg;
    size_t len = 32 << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        _exit(10);
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    _exit(0);
}

TEST(getrusage_maxrss_of_self_and_of_a_waited_child)
{
    struct rusage ru;
    OK(getrusage(RUSAGE_SELF, &ru));
    /* Some sandboxed hosts (this project's build machines) report 0 for every
     * process; Linux proper and Kestrel report the peak. */
    if (ru.ru_maxrss == 0 && access("/proc/kestrel", F_OK) != 0)
        SKIP("this host's kernel reports no maxrss");
    CHECK(ru.ru_maxrss > 0, "self maxrss %ld", ru.ru_maxrss);
    OK(getrusage(RUSAGE_CHILDREN, &ru));
    long before = ru.ru_maxrss;
    int st = kt_in_child(touch_32mb, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    OK(getrusage(RUSAGE_CHILDREN, &ru));
    CHECK(ru.ru_maxrss >= 32 * 1024, "children maxrss %ld KiB after a 32 MiB child (before %ld)",
          ru.ru_maxrss, before);
}

#define SLEEPS 20

/* Each 1 ms sleep blocks: a voluntary context switch (Linux counts one per
 * schedule() of a task that is not runnable). */
static void sleep_n_times(int n)
{
    for (int i = 0; i < n; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void sleeping_child(void *arg)
{
    (void)arg;
    sleep_n_times(SLEEPS);
    _exit(0);
}

static void *sleeping_thread(void *arg)
{
    struct rusage *ru = arg;
    sleep_n_times(SLEEPS);
    if (getrusage(RUSAGE_THREAD, ru))
        ru->ru_nvcsw = -1;
    return NULL;
}

TEST(getrusage_counts_a_voluntary_switch_per_sleep)
{
    struct rusage before, after;
    OK(getrusage(RUSAGE_SELF, &before));
    sleep_n_times(SLEEPS);
    OK(getrusage(RUSAGE_SELF, &after));
    CHECK(after.ru_nvcsw - before.ru_nvcsw >= SLEEPS, "ru_nvcsw %ld -> %ld after %d sleeps",
          before.ru_nvcsw, after.ru_nvcsw, SLEEPS);
    CHECK(after.ru_nivcsw >= before.ru_nivcsw, "ru_nivcsw went back: %ld -> %ld",
          before.ru_nivcsw, after.ru_nivcsw);
}

TEST(getrusage_thread_counts_its_own_switches_and_self_adds_them)
{
    struct rusage self_before, self_after, thread_ru, mine;
    OK(getrusage(RUSAGE_SELF, &self_before));
    OK(getrusage(RUSAGE_THREAD, &mine));
    pthread_t t;
    memset(&thread_ru, 0, sizeof thread_ru);
    CHECK(pthread_create(&t, NULL, sleeping_thread, &thread_ru) == 0, "pthread_create");
    pthread_join(t, NULL);
    CHECK(thread_ru.ru_nvcsw >= SLEEPS, "the sleeping thread's own ru_nvcsw is %ld",
          thread_ru.ru_nvcsw);
    OK(getrusage(RUSAGE_SELF, &self_after));
    /* The process's count keeps the exited thread's switches. */
    CHECK(self_after.ru_nvcsw - self_before.ru_nvcsw >= SLEEPS,
          "RUSAGE_SELF ru_nvcsw %ld -> %ld after a thread slept %d times",
          self_before.ru_nvcsw, self_after.ru_nvcsw, SLEEPS);
    struct rusage mine_after;
    OK(getrusage(RUSAGE_THREAD, &mine_after));
    /* This thread only waited for the join: far fewer than the sleeper's. */
    CHECK(mine_after.ru_nvcsw - mine.ru_nvcsw < SLEEPS,
          "the joining thread's ru_nvcsw grew by %ld", mine_after.ru_nvcsw - mine.ru_nvcsw);
}

TEST(getrusage_children_and_wait4_report_a_waited_childs_switches)
{
    struct rusage before, after, child_ru;
    OK(getrusage(RUSAGE_CHILDREN, &before));
    pid_t pid = fork();
    if (pid == 0)
        sleeping_child(NULL);
    CHECK(pid > 0, "fork: %s", strerror(errno));
    int st;
    CHECK(wait4(pid, &st, 0, &child_ru) == pid, "wait4: %s", strerror(errno));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    CHECK(child_ru.ru_nvcsw >= SLEEPS, "wait4's ru_nvcsw %ld", child_ru.ru_nvcsw);
    OK(getrusage(RUSAGE_CHILDREN, &after));
    CHECK(after.ru_nvcsw - before.ru_nvcsw >= SLEEPS, "RUSAGE_CHILDREN ru_nvcsw %ld -> %ld",
          before.ru_nvcsw, after.ru_nvcsw);
}

TEST(proc_status_shows_the_threads_context_switches)
{
    sleep_n_times(SLEEPS);
    FILE *f = fopen("/proc/thread-self/status", "r");
    CHECK(f, "open /proc/thread-self/status: %s", strerror(errno));
    char line[256];
    long vol = -1, invol = -1;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "voluntary_ctxt_switches: %ld", &vol);
        sscanf(line, "nonvoluntary_ctxt_switches: %ld", &invol);
    }
    fclose(f);
    CHECK(vol >= SLEEPS, "voluntary_ctxt_switches %ld after %d sleeps", vol, SLEEPS);
    CHECK(invol >= 0, "no nonvoluntary_ctxt_switches line");
}

static void unshare_files_child(void *arg)
{
    (void)arg;
    /* Nothing is shared here: each unshare succeeds and changes nothing else. */
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || unshare(CLONE_FILES) || close(fd))
        _exit(10);
    if (unshare(CLONE_FS) || unshare(CLONE_SYSVSEM))
        _exit(11);
    errno = 0;
    if (unshare(-1) != -1 || errno != EINVAL)
        _exit(12);
    if (setuid(65534))
        _exit(13);
    errno = 0;
    if (unshare(CLONE_NEWNS) != -1 || errno != EPERM)
        _exit(14);
    _exit(0);
}

TEST(unshare_files_and_fs_and_its_errors)
{
    int st = kt_in_child(unshare_files_child, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

int main(void)
{
    KT_BEGIN();
    RUN(fork_returns_child_pid_and_zero_in_child);
    RUN(fork_child_sees_parent_as_ppid);
    RUN(fork_child_memory_is_a_copy);
    RUN(fork_child_shares_open_file_offset);
    RUN(fork_many_children_all_reaped);
    RUN(child_writing_through_null_dies_with_sigsegv);
    RUN(child_reading_near_null_dies_with_sigsegv);
    RUN(vfork_child_exit_status_seen_by_parent);
    RUN(vfork_child_shares_memory_and_parent_waits);
    RUN(vfork_then_execve);
    RUN(clone_plain_process_with_sigchld);
    RUN(clone_child_memory_is_a_copy);
    RUN(clone_sighand_without_vm_is_einval);
    RUN(clone_thread_without_sighand_is_einval);
    RUN(execve_sh_exit_code);
    RUN(execve_passes_argv_and_envp);
    RUN(execve_shebang_script);
    RUN(execve_shebang_with_interpreter_argument);
    RUN(execve_missing_file_is_enoent);
    RUN(execve_shebang_with_missing_interpreter_is_enoent);
    RUN(execve_garbage_file_is_enoexec);
    RUN(execve_empty_file_is_enoexec);
    RUN(execve_non_executable_file_is_eacces);
    RUN(execve_directory_is_eacces);
    RUN(execve_bad_pointers_are_efault);
    RUN(execve_closes_cloexec_fds_and_keeps_others);
    RUN(exit_group_status_seen_by_parent);
    RUN(exit_in_single_threaded_process_ends_it);
    RUN(exit_status_keeps_low_8_bits);
    RUN(wait4_wnohang_with_running_child_returns_zero);
    RUN(wait4_without_children_is_echild);
    RUN(wait4_for_non_child_is_echild);
    RUN(wait4_any_reaps_each_child_once);
    RUN(wait4_fills_rusage_and_allows_null_status);
    RUN(wait4_negative_pid_waits_for_that_group);
    RUN(wait4_bad_options_is_einval);
    RUN(getpid_is_stable_and_positive);
    RUN(gettid_equals_getpid_in_single_threaded_process);
    RUN(uid_gid_real_equal_effective_and_inherited);
    RUN(getpgrp_equals_getpgid_zero_and_self);
    RUN(child_inherits_process_group);
    RUN(setpgid_zero_zero_makes_caller_group_leader);
    RUN(setpgid_parent_moves_child_into_new_group);
    RUN(setpgid_negative_pgid_is_einval);
    RUN(setpgid_on_non_child_is_esrch);
    RUN(setpgid_to_nonexistent_group_is_eperm);
    RUN(getpgid_of_nonexistent_pid_is_esrch);
    RUN(setsid_creates_new_session_and_group);
    RUN(setsid_as_group_leader_is_eperm);
    RUN(getsid_of_self_and_child_match);
    RUN(getsid_of_nonexistent_pid_is_esrch);
    RUN(execveat_runs_a_script_relative_to_a_directory_fd_or_the_fd_itself);
    RUN(execveat_errors);
    RUN(waitpid_int_min_is_esrch);
    RUN(clone_newpid_without_cap_sys_admin_is_eperm);
    RUN(getrusage_maxrss_of_self_and_of_a_waited_child);
    RUN(getrusage_counts_a_voluntary_switch_per_sleep);
    RUN(getrusage_thread_counts_its_own_switches_and_self_adds_them);
    RUN(getrusage_children_and_wait4_report_a_waited_childs_switches);
    RUN(proc_status_shows_the_threads_context_switches);
    RUN(unshare_files_and_fs_and_its_errors);
    RUN(getpgid_and_getsid_of_a_negative_pid_are_esrch);
    RUN(ioprio_set_get_roundtrip_inherit_and_errors);
    return KT_END();
}

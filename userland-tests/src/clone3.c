/* clone3(2)'s checks and extensions (CLONE_PIDFD, set_tid, CLONE_INTO_CGROUP,
 * CLONE_CLEAR_SIGHAND), and the pidfds it returns: pidfd_open(2),
 * pidfd_send_signal(2), poll on a pidfd. */
#define KT_AREA "clone3"
#include "kt.h"

#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define KT_CLONE_PIDFD 0x1000ULL
#define KT_CLONE_NEWNS 0x20000ULL
#define KT_CLONE_CLEAR_SIGHAND 0x100000000ULL
#define KT_CLONE_INTO_CGROUP 0x200000000ULL

struct kt_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

#define VER0 64
#define VER2 88

static long clone3_(struct kt_clone_args *a, size_t size)
{
    return syscall(SYS_clone3, a, size);
}

/* A page whose last `size` bytes hold the args, the next page unmapped. */
static void *args_at_page_end(size_t size, void **base)
{
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    munmap(p + 4096, 4096);
    *base = p;
    return p + 4096 - size;
}

/* Forks with clone3 and `a`; the child exits with `code`. Returns the pid. */
static long fork3(struct kt_clone_args *a, size_t size, int code)
{
    long pid = clone3_(a, size);
    if (pid == 0)
        _exit(code);
    return pid;
}

static int reap(long pid)
{
    int st = -1;
    waitpid(pid, &st, __WALL);
    return st;
}

TEST(clone3_size_checks) {
    struct kt_clone_args a = {.exit_signal = SIGCHLD};
    EXPECT_ERRNO(clone3_(&a, 0), EINVAL);
    EXPECT_ERRNO(clone3_(&a, VER0 - 1), EINVAL);
    EXPECT_ERRNO(clone3_(&a, 4097), E2BIG);
    /* A larger struct is fine while its extra bytes are zero. */
    char big[128] = {0};
    memcpy(big, &a, sizeof a);
    long pid = OK(fork3((void *)big, sizeof big, 7));
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "child: %s", kt_status(st));
    big[100] = 1;
    EXPECT_ERRNO(clone3_((void *)big, sizeof big), E2BIG);
}

TEST(clone3_unreadable_args_are_efault) {
    EXPECT_ERRNO(clone3_((void *)1, VER0), EFAULT);
    void *base;
    struct kt_clone_args *a = args_at_page_end(sizeof *a, &base);
    CHECK(a, "mmap failed");
    memset(a, 0, sizeof *a);
    a->exit_signal = SIGCHLD;
    /* One byte more than is mapped. */
    EXPECT_ERRNO(clone3_(a, sizeof *a + 1), EFAULT);
    munmap(base, 4096);
}

TEST(clone3_exit_signal_and_flag_checks) {
    struct kt_clone_args a = {.exit_signal = 65};
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.exit_signal = (1ULL << 32) | SIGCHLD;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.exit_signal = SIGCHLD;
    a.flags = SIGCHLD; /* CSIGNAL is not clone3's */
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = CLONE_DETACHED;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = 1ULL << 40; /* unknown */
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = CLONE_SIGHAND;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = CLONE_THREAD;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = CLONE_FS | KT_CLONE_NEWNS;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    /* A thread (or a CLONE_PARENT child) has no exit signal of its own. */
    a.flags = CLONE_PARENT;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.flags = KT_CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM;
    a.exit_signal = 0;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
}

TEST(clone3_stack_needs_both_address_and_size) {
    static char stack[4096];
    struct kt_clone_args a = {.exit_signal = SIGCHLD, .stack = (uint64_t)stack};
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.stack = 0;
    a.stack_size = 4096;
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
}

TEST(clone3_pidfd_is_cloexec_and_polls_readable_at_exit) {
    int pidfd = -1;
    struct kt_clone_args a = {.flags = KT_CLONE_PIDFD, .pidfd = (uint64_t)&pidfd,
                              .exit_signal = SIGCHLD};
    long pid = clone3_(&a, VER0);
    if (pid == 0) {
        usleep(50000);
        _exit(3);
    }
    CHECK(pid > 0, "clone3: %s", kt_errstr(errno));
    CHECK(pidfd >= 0, "no pidfd written");
    int fdflags = fcntl(pidfd, F_GETFD);
    CHECK(fdflags >= 0 && (fdflags & FD_CLOEXEC), "pidfd not close-on-exec");
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    EXPECT_EQ(poll(&p, 1, 10000), 1);
    CHECK(p.revents & POLLIN, "revents %#x", p.revents);
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "child: %s", kt_status(st));
    char c;
    EXPECT_ERRNO(read(pidfd, &c, 1), EINVAL);
    close(pidfd);
}

TEST(clone3_pidfd_bad_pointer_is_efault_and_makes_no_child) {
    struct kt_clone_args a = {.flags = KT_CLONE_PIDFD, .pidfd = 1, .exit_signal = SIGCHLD};
    long pid = clone3_(&a, VER0);
    if (pid == 0)
        _exit(0);
    CHECK(pid == -1 && errno == EFAULT, "clone3 = %ld (%s), want EFAULT", pid, kt_errstr(errno));
    EXPECT_ERRNO(waitpid(-1, NULL, WNOHANG), ECHILD);
}

TEST(clone3_set_tid_checks) {
    pid_t tids[40] = {0};
    struct kt_clone_args a = {.exit_signal = SIGCHLD};
    a.set_tid_size = 1; /* no array */
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    a.set_tid = (uint64_t)tids;
    a.set_tid_size = 0;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    a.set_tid_size = 33;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    a.set_tid = 1;
    a.set_tid_size = 1;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EFAULT);
    a.set_tid = (uint64_t)tids;
    /* More pids than there are pid namespace levels. */
    tids[0] = tids[1] = 30000;
    a.set_tid_size = 2;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    a.set_tid_size = 1;
    tids[0] = 0;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    tids[0] = -5;
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EINVAL);
    tids[0] = getpid();
    EXPECT_ERRNO(clone3_(&a, VER0 + 16), EEXIST);
}

TEST(clone3_set_tid_gives_the_child_that_pid) {
    pid_t want = 0;
    for (pid_t t = 20000 + getpid() % 1000; t < 30000; t += 7) {
        if (kill(t, 0) == -1 && errno == ESRCH) {
            want = t;
            break;
        }
    }
    CHECK(want, "no free pid found");
    struct kt_clone_args a = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)&want,
                              .set_tid_size = 1};
    long pid = clone3_(&a, VER0 + 16);
    if (pid == 0)
        _exit(getpid() == want ? 0 : 1);
    CHECK(pid == want, "clone3 = %ld (%s), want %d", pid, kt_errstr(errno), want);
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void child_set_tid_unprivileged(void *arg)
{
    (void)arg;
    if (setuid(65534) != 0)
        _exit(10);
    pid_t want = 29999;
    struct kt_clone_args a = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)&want,
                              .set_tid_size = 1};
    long pid = clone3_(&a, VER0 + 16);
    if (pid == 0)
        _exit(0);
    _exit(pid == -1 && errno == EPERM ? 0 : 11);
}

TEST(clone3_set_tid_needs_privilege) {
    int st = kt_in_child(child_set_tid_unprivileged, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(clone3_into_cgroup_checks) {
    struct kt_clone_args a = {.flags = KT_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
                              .cgroup = 999};
    /* The cgroup field needs the version-2 size. */
    EXPECT_ERRNO(clone3_(&a, VER0), EINVAL);
    a.cgroup = 1ULL << 32;
    EXPECT_ERRNO(clone3_(&a, VER2), EINVAL);
    a.cgroup = 999;
    EXPECT_ERRNO(clone3_(&a, VER2), EBADF);
    /* Not a cgroup2 directory. */
    int fd = OK(open("/", O_RDONLY | O_DIRECTORY));
    a.cgroup = fd;
    long pid = clone3_(&a, VER2);
    if (pid == 0)
        _exit(0);
    CHECK(pid == -1 && errno == EBADF, "clone3 = %ld (%s)", pid, kt_errstr(errno));
    close(fd);
}

static void on_usr1(int sig)
{
    (void)sig;
}

TEST(clone3_clear_sighand_resets_handlers_but_not_ignores) {
    struct sigaction sa = {0}, old1, old2;
    sa.sa_handler = on_usr1;
    OK(sigaction(SIGUSR1, &sa, &old1));
    sa.sa_handler = SIG_IGN;
    OK(sigaction(SIGUSR2, &sa, &old2));
    struct kt_clone_args a = {.flags = KT_CLONE_CLEAR_SIGHAND, .exit_signal = SIGCHLD};
    long pid = clone3_(&a, VER0);
    if (pid == 0) {
        struct sigaction c1, c2;
        sigaction(SIGUSR1, NULL, &c1);
        sigaction(SIGUSR2, NULL, &c2);
        _exit(c1.sa_handler == SIG_DFL && c2.sa_handler == SIG_IGN ? 0 : 1);
    }
    sigaction(SIGUSR1, &old1, NULL);
    sigaction(SIGUSR2, &old2, NULL);
    CHECK(pid > 0, "clone3: %s", kt_errstr(errno));
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

static void *sleeper(void *arg)
{
    *(volatile pid_t *)arg = gettid();
    pause();
    return NULL;
}

TEST(pidfd_open_checks) {
    EXPECT_ERRNO(syscall(SYS_pidfd_open, getpid(), 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pidfd_open, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pidfd_open, -1, 0), EINVAL);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    reap(gone);
    EXPECT_ERRNO(syscall(SYS_pidfd_open, gone, 0), ESRCH);
    int fd = OK(syscall(SYS_pidfd_open, getpid(), O_NONBLOCK));
    int fl = fcntl(fd, F_GETFD);
    CHECK(fl >= 0 && (fl & FD_CLOEXEC), "pidfd_open's descriptor is not close-on-exec");
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK, "PIDFD_NONBLOCK not set");
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 0), 0);
    close(fd);
    /* A thread that leads no process. */
    volatile pid_t tid = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sleeper, (void *)&tid) == 0, "pthread_create");
    while (!tid)
        usleep(1000);
    /* EINVAL as Linux 6.1 has it; ENOENT since 6.9 (PIDFD_THREAD came). */
    errno = 0;
    long r = syscall(SYS_pidfd_open, tid, 0);
    CHECK(r == -1 && (errno == EINVAL || errno == ENOENT), "pidfd_open(thread) = %ld (%s)", r,
          kt_errstr(errno));
    pthread_cancel(th);
    pthread_join(th, NULL);
}

static volatile int got_value;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    got_value = si->si_value.sival_int;
}

TEST(pidfd_send_signal_checks_and_delivers) {
    int pipefd[2];
    OK(pipe(pipefd));
    pid_t pid = fork();
    if (pid == 0) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_rt;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGUSR1, &sa, NULL);
        if (write(pipefd[1], "r", 1) != 1)
            _exit(9);
        while (!got_value)
            pause();
        _exit(got_value == 1234 ? 0 : 1);
    }
    char c;
    CHECK(read(pipefd[0], &c, 1) == 1, "child not ready");
    int fd = OK(syscall(SYS_pidfd_open, pid, 0));
    /* No such flag (Linux 6.9 added bits 0-2, PIDFD_SIGNAL_*). */
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, fd, SIGUSR1, NULL, 0x100), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, pipefd[0], SIGUSR1, NULL, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, 999, SIGUSR1, NULL, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, fd, 65, NULL, 0), EINVAL);
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0), 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2; /* not the signal sent */
    si.si_code = SI_QUEUE;
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, fd, SIGUSR1, &si, 0), EINVAL);
    si.si_signo = SIGUSR1;
    si.si_code = SI_USER; /* only to oneself */
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, fd, SIGUSR1, &si, 0), EPERM);
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = 1234;
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, fd, SIGUSR1, &si, 0), 0);
    int st = reap(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
    /* Reaped: the pidfd names no process any more. */
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, fd, SIGUSR1, NULL, 0), ESRCH);
    close(fd);
    close(pipefd[0]);
    close(pipefd[1]);
}

TEST(pidfd_send_signal_kills_and_zombie_takes_signals) {
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    int fd = OK(syscall(SYS_pidfd_open, pid, 0));
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0), 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_EQ(poll(&p, 1, 10000), 1);
    /* A zombie still takes signals (nothing happens). */
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0), 0);
    int st = reap(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child: %s", kt_status(st));
    close(fd);
}

/* waitid(P_PIDFD) waits for the child a pidfd names; with a PIDFD_NONBLOCK
 * pidfd "not yet" is EAGAIN (0 with WNOHANG); a file that is no pidfd is
 * EBADF, a negative descriptor EINVAL, another process's child ECHILD. */
TEST(waitid_p_pidfd_waits_for_that_child) {
    int ctl[2];
    OK(pipe(ctl));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(ctl[1]);
        read(ctl[0], &c, 1);
        _exit(7);
    }
    close(ctl[0]);
    int nb = OK(syscall(SYS_pidfd_open, pid, O_NONBLOCK));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_ERRNO(waitid((idtype_t)3 /* P_PIDFD */, nb, &si, WEXITED), EAGAIN);
    si.si_pid = 99;
    OK(waitid((idtype_t)3, nb, &si, WEXITED | WNOHANG));
    EXPECT_EQ(si.si_pid, 0);
    EXPECT_ERRNO(waitid((idtype_t)3, ctl[1], &si, WEXITED), EBADF);
    EXPECT_ERRNO(waitid((idtype_t)3, -1, &si, WEXITED), EINVAL);
    int self = OK(syscall(SYS_pidfd_open, getpid(), 0));
    EXPECT_ERRNO(waitid((idtype_t)3, self, &si, WEXITED | WNOHANG), ECHILD);
    int fd = OK(syscall(SYS_pidfd_open, pid, 0));
    close(ctl[1]);
    OK(waitid((idtype_t)3, fd, &si, WEXITED));
    EXPECT_EQ(si.si_pid, pid);
    EXPECT_EQ(si.si_code, CLD_EXITED);
    EXPECT_EQ(si.si_status, 7);
    close(fd);
    close(nb);
    close(self);
}

/* pidfd_send_signal takes a /proc/PID directory as the process it names. */
TEST(pidfd_send_signal_through_a_proc_pid_directory) {
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", pid);
    int d = OK(open(path, O_DIRECTORY | O_CLOEXEC));
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, d, 0, NULL, 0), 0);
    EXPECT_EQ(syscall(SYS_pidfd_send_signal, d, SIGKILL, NULL, 0), 0);
    int st = reap(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child: %s", kt_status(st));
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, d, SIGKILL, NULL, 0), ESRCH);
    /* A new process with the same pid (clone3's set_tid) is not the one the
     * directory names. */
    pid_t same = pid;
    struct kt_clone_args a = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)&same,
                              .set_tid_size = 1};
    long again = clone3_(&a, VER0 + 16);
    if (again == 0) {
        pause();
        _exit(0);
    }
    CHECK(again == pid, "clone3 set_tid = %ld (%s)", again, kt_errstr(errno));
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, d, 0, NULL, 0), ESRCH);
    kill(again, SIGKILL);
    reap(again);
    close(d);
    int other = OK(open("/proc/self/fd", O_DIRECTORY | O_CLOEXEC));
    EXPECT_ERRNO(syscall(SYS_pidfd_send_signal, other, 0, NULL, 0), EBADF);
    close(other);
}

/* pidfd_getfd duplicates another process's descriptor: the same open file
 * (shared offset), close-on-exec; its errors. */
TEST(pidfd_getfd_duplicates_a_childs_descriptor) {
    int p[2];
    OK(pipe(p));
    int ctl[2];
    OK(pipe(ctl));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(ctl[1]);
        read(ctl[0], &c, 1);
        _exit(0);
    }
    close(ctl[0]);
    int fd = OK(syscall(SYS_pidfd_open, pid, 0));
    int dup = OK(syscall(SYS_pidfd_getfd, fd, p[1], 0));
    CHECK(fcntl(dup, F_GETFD) & FD_CLOEXEC, "not close-on-exec");
    EXPECT_EQ(write(dup, "z", 1), 1);
    char c = 0;
    EXPECT_EQ(read(p[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_ERRNO(syscall(SYS_pidfd_getfd, fd, p[1], 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_pidfd_getfd, fd, -1, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_pidfd_getfd, fd, 999, 0), EBADF);
    EXPECT_ERRNO(syscall(SYS_pidfd_getfd, p[0], 0, 0), EBADF);
    close(ctl[1]);
    reap(pid);
    EXPECT_ERRNO(syscall(SYS_pidfd_getfd, fd, p[1], 0), ESRCH);
    close(dup);
    close(fd);
    close(p[0]);
    close(p[1]);
}

/* PIDFD_GET_INFO (Linux 6.13; PIDFD_INFO_EXIT from 6.15): struct pidfd_info. */
struct kt_pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
    uint32_t coredump_mask, spare;
};
#define KT_PIDFD_GET_INFO 0xc048ff0bu /* _IOWR(0xff, 11, 72 bytes) */
#define KT_PIDFD_GET_INFO_SHORT 0xc004ff0bu
#define KT_PIDFD_INFO_PID 1ULL
#define KT_PIDFD_INFO_CREDS 2ULL
#define KT_PIDFD_INFO_EXIT 8ULL

TEST(pidfd_get_info_gives_ids_then_the_exit_status) {
    int ctl[2];
    OK(pipe(ctl));
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(ctl[1]);
        read(ctl[0], &c, 1);
        _exit(7);
    }
    close(ctl[0]);
    int fd = OK(syscall(SYS_pidfd_open, pid, 0));
    struct kt_pidfd_info info;
    memset(&info, 0xff, sizeof info);
    info.mask = KT_PIDFD_INFO_EXIT;
    if (ioctl(fd, KT_PIDFD_GET_INFO, &info) != 0 && (errno == ENOTTY || errno == EINVAL)) {
        close(ctl[1]);
        reap(pid);
        close(fd);
        SKIP("no PIDFD_GET_INFO (Linux before 6.13)");
    }
    /* Alive: ids and credentials, no exit status yet. */
    EXPECT_EQ(info.mask & (KT_PIDFD_INFO_PID | KT_PIDFD_INFO_CREDS),
              KT_PIDFD_INFO_PID | KT_PIDFD_INFO_CREDS);
    EXPECT_EQ(info.mask & KT_PIDFD_INFO_EXIT, 0);
    EXPECT_EQ(info.pid, (uint32_t)pid);
    EXPECT_EQ(info.tgid, (uint32_t)pid);
    EXPECT_EQ(info.ppid, (uint32_t)getpid());
    EXPECT_EQ(info.euid, geteuid());
    EXPECT_EQ(info.fsgid, getegid());
    /* Bad arguments; a pipe is no pidfd. */
    EXPECT_ERRNO(ioctl(fd, KT_PIDFD_GET_INFO, NULL), EINVAL);
    long r = ioctl(fd, KT_PIDFD_GET_INFO_SHORT, &info);
    CHECK(r == -1 && (errno == EINVAL || errno == ENOTTY), "a 4-byte struct: %ld errno %d", r, errno);
    EXPECT_ERRNO(ioctl(fd, KT_PIDFD_GET_INFO, (void *)1), EFAULT);
    EXPECT_ERRNO(ioctl(ctl[1], KT_PIDFD_GET_INFO, &info), ENOTTY);
    close(ctl[1]);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    /* Reaped: only the exit status, and only when asked for. */
    memset(&info, 0, sizeof info);
    info.mask = KT_PIDFD_INFO_EXIT;
    OK(ioctl(fd, KT_PIDFD_GET_INFO, &info));
    EXPECT_EQ(info.mask & KT_PIDFD_INFO_EXIT, KT_PIDFD_INFO_EXIT);
    EXPECT_EQ(info.exit_code, status);
    EXPECT_EQ(WEXITSTATUS(info.exit_code), 7);
    info.mask = 0;
    EXPECT_ERRNO(ioctl(fd, KT_PIDFD_GET_INFO, &info), ESRCH);
    close(fd);
}

/* pidfs (Linux 6.9): pidfds of one process share an inode number, those of
 * another process have another; /proc/self/fd shows anon_inode:[pidfd]. */
TEST(pidfds_of_one_process_share_an_inode_number) {
    int a = OK(syscall(SYS_pidfd_open, getpid(), 0));
    int b = OK(syscall(SYS_pidfd_open, getpid(), 0));
    int c = OK(syscall(SYS_pidfd_open, getppid() > 0 ? getppid() : 1, 0));
    struct stat sa, sb, sc;
    OK(fstat(a, &sa));
    OK(fstat(b, &sb));
    OK(fstat(c, &sc));
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    CHECK(sa.st_ino != sc.st_ino, "two processes' pidfds share inode %lu", (unsigned long)sa.st_ino);
    char path[64], link[64] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", a);
    if (readlink(path, link, sizeof link - 1) > 0)
        CHECK(!strcmp(link, "anon_inode:[pidfd]"), "the link reads %s", link);
    close(a);
    close(b);
    close(c);
}

int main(void)
{
    KT_BEGIN();
    RUN(clone3_size_checks);
    RUN(clone3_unreadable_args_are_efault);
    RUN(clone3_exit_signal_and_flag_checks);
    RUN(clone3_stack_needs_both_address_and_size);
    RUN(clone3_pidfd_is_cloexec_and_polls_readable_at_exit);
    RUN(clone3_pidfd_bad_pointer_is_efault_and_makes_no_child);
    RUN(clone3_set_tid_checks);
    RUN(clone3_set_tid_gives_the_child_that_pid);
    RUN(clone3_set_tid_needs_privilege);
    RUN(clone3_into_cgroup_checks);
    RUN(clone3_clear_sighand_resets_handlers_but_not_ignores);
    RUN(pidfd_open_checks);
    RUN(pidfd_send_signal_checks_and_delivers);
    RUN(pidfd_send_signal_kills_and_zombie_takes_signals);
    RUN(waitid_p_pidfd_waits_for_that_child);
    RUN(pidfd_send_signal_through_a_proc_pid_directory);
    RUN(pidfd_getfd_duplicates_a_childs_descriptor);
    RUN(pidfd_get_info_gives_ids_then_the_exit_status);
    RUN(pidfds_of_one_process_share_an_inode_number);
    return KT_END();
}

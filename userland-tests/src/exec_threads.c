/* execve in a multi-threaded process (Linux's de_thread): the other threads
 * are killed and gone before the new program runs, and a thread other than
 * the leader that execs takes the leader's identity (its id becomes the
 * process's; the old leader is gone).
 *
 * Each case runs in a forked child that execs this test binary itself (found
 * through /proc/self/exe) in a "check" mode selected by the environment; the
 * new image checks what it finds and exits with a code the parent expects
 * from waitpid (the new image's status, not the old one's). The parent waits
 * with a timeout, so a deadlock fails the case instead of hanging the suite.
 */
#define KT_AREA "exec_threads"
#include "kt.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <time.h>

#define CHILD_MODE "KT_EXEC_THREADS_CHILD"
#define CHECK_EXIT 42

extern char **environ;

static char self[PATH_MAX];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* waitpid for `pid` for up to `secs` seconds; on timeout the child is killed
 * and -2 returned. */
static int wait_timeout(pid_t pid, int secs)
{
    for (int i = 0; i < secs * 100; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, __WALL);
    return -2;
}

static int task_entries(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ---- the new image's checks (check mode) ------------------------------- */

/* argv: self, expected pid, expected ppid, memfd of the spinners' counters
 * (-1: none), number of counters. Exits CHECK_EXIT when all holds, else a
 * small number naming what failed. */
static int child_check(int argc, char **argv)
{
    if (argc != 5)
        return 1;
    pid_t pid = (pid_t)atoi(argv[1]);
    pid_t ppid = (pid_t)atoi(argv[2]);
    int fd = atoi(argv[3]);
    int n = atoi(argv[4]);
    if (getpid() != pid)
        return 2;
    if (syscall(SYS_gettid) != pid)
        return 3;
    if (getppid() != ppid)
        return 4;
    if (task_entries() != 1)
        return 5;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)pid);
    if (access(path, F_OK) != 0)
        return 6;
    if (fd >= 0) {
        /* The old image's spinners counted in this shared memory until
         * they were killed: no count may change once the new image runs. */
        volatile unsigned long *c =
            mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (c == MAP_FAILED)
            return 7;
        unsigned long before[16];
        for (int i = 0; i < n && i < 16; i++)
            before[i] = c[i];
        sleep_ms(100);
        for (int i = 0; i < n && i < 16; i++) {
            if (c[i] != before[i])
                return 8;
            if (c[i] == 0)
                return 9; /* never ran: the case proved nothing */
        }
    }
    return CHECK_EXIT;
}

/* ---- the old image ------------------------------------------------------ */

struct plan {
    pid_t pid, ppid;
    int memfd;
    int counters;
};

static void exec_check(const struct plan *p)
{
    char a1[16], a2[16], a3[16], a4[16];
    snprintf(a1, sizeof a1, "%d", (int)p->pid);
    snprintf(a2, sizeof a2, "%d", (int)p->ppid);
    snprintf(a3, sizeof a3, "%d", p->memfd);
    snprintf(a4, sizeof a4, "%d", p->counters);
    char *argv[] = {self, a1, a2, a3, a4, NULL};
    char *envp[] = {CHILD_MODE "=check", NULL};
    execve(self, argv, envp);
    _exit(100 + errno % 100);
}

static void *exec_thread(void *arg)
{
    exec_check(arg);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static volatile unsigned long *spin_counters;
static volatile int spinners_started;

static void *spinner(void *arg)
{
    volatile unsigned long *c = spin_counters + (long)arg;
    __atomic_add_fetch(&spinners_started, 1, __ATOMIC_SEQ_CST);
    for (;;)
        (*c)++;
    return NULL;
}

/* Runs `fn` in a forked child and returns its wait status (-2: it did not
 * end within 10 s and was killed). */
static int run_child(void (*fn)(void))
{
    pid_t pid = kt_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn();
        _exit(99);
    }
    return wait_timeout(pid, 10);
}

static struct plan plan_here(int memfd, int counters)
{
    struct plan p = {getpid(), getppid(), memfd, counters};
    return p;
}

#define EXPECT_CHECKED(st)                                                    \
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == CHECK_EXIT,                     \
          "child: %s (%d is the new image's success)", kt_status(st),         \
          CHECK_EXIT)

static void non_leader_execs(void)
{
    static struct plan p;
    p = plan_here(-1, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, exec_thread, &p) != 0)
        _exit(98);
    for (;;)
        pause();
}

TEST(exec_from_non_leader_keeps_pid_and_takes_leaders_id) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    int st = run_child(non_leader_execs);
    EXPECT_CHECKED(st);
}

static void non_leader_execs_after_leader_exited(void)
{
    static struct plan p;
    p = plan_here(-1, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0)
        _exit(98);
    /* A second thread execs once the leader is gone: the new image still
     * runs under the process's id. */
    struct plan *q = &p;
    pthread_t e;
    if (pthread_create(&e, NULL, exec_thread, q) != 0)
        _exit(98);
    syscall(SYS_exit, 0);
}

TEST(exec_from_non_leader_after_leader_exited) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    int st = run_child(non_leader_execs_after_leader_exited);
    EXPECT_CHECKED(st);
}

static void leader_execs(void)
{
    struct plan p = plan_here(-1, 0);
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleeper, NULL) != 0)
            _exit(98);
    }
    exec_check(&p);
}

TEST(exec_from_leader_with_threads_alive) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    int st = run_child(leader_execs);
    EXPECT_CHECKED(st);
}

#define SPINNERS 3

static void spinners_then_exec(int from_leader)
{
    int fd = (int)syscall(SYS_memfd_create, "kt-spin", 0);
    if (fd < 0 || ftruncate(fd, 4096) != 0)
        _exit(97);
    spin_counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (spin_counters == MAP_FAILED)
        _exit(97);
    for (long i = 0; i < SPINNERS; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, spinner, (void *)i) != 0)
            _exit(98);
    }
    while (__atomic_load_n(&spinners_started, __ATOMIC_SEQ_CST) < SPINNERS)
        sched_yield();
    sleep_ms(20);
    static struct plan p;
    p = plan_here(fd, SPINNERS);
    if (from_leader)
        exec_check(&p);
    pthread_t e;
    if (pthread_create(&e, NULL, exec_thread, &p) != 0)
        _exit(98);
    for (;;)
        pause();
}

static void spinners_leader_execs(void) { spinners_then_exec(1); }
static void spinners_non_leader_execs(void) { spinners_then_exec(0); }

TEST(threads_spinning_in_user_mode_stop_before_the_new_image_runs) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    int st = run_child(spinners_leader_execs);
    CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 8),
          "a spinner of the old image ran after the new image started");
    EXPECT_CHECKED(st);
    st = run_child(spinners_non_leader_execs);
    CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 8),
          "a spinner of the old image ran after the new image started (non-leader exec)");
    EXPECT_CHECKED(st);
}

static pthread_barrier_t race_barrier;

static void *racing_exec(void *arg)
{
    pthread_barrier_wait(&race_barrier);
    exec_check(arg);
    return NULL;
}

static void two_threads_exec(void)
{
    static struct plan p;
    p = plan_here(-1, 0);
    pthread_barrier_init(&race_barrier, NULL, 3);
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, racing_exec, &p) != 0)
            _exit(98);
    }
    pthread_barrier_wait(&race_barrier);
    for (;;)
        pause();
}

TEST(concurrent_execs_one_wins) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    for (int i = 0; i < 20; i++) {
        int st = run_child(two_threads_exec);
        CHECK(st != -2, "round %d: two concurrent execs did not end in 10 s", i);
        EXPECT_CHECKED(st);
    }
}

static void exec_while_killed(void)
{
    /* A thread execs while the leader kills the process (SIGKILL): either
     * the exec finished first (the new image exits CHECK_EXIT) or the
     * process dies of SIGKILL; nothing hangs. */
    static struct plan p;
    p = plan_here(-1, 0);
    pthread_t s;
    if (pthread_create(&s, NULL, sleeper, NULL) != 0)
        _exit(98);
    pthread_t t;
    if (pthread_create(&t, NULL, exec_thread, &p) != 0)
        _exit(98);
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

TEST(fatal_signal_during_exec_ends_the_process) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    for (int i = 0; i < 10; i++) {
        int st = run_child(exec_while_killed);
        CHECK(st != -2, "round %d: exec racing SIGKILL did not end in 10 s", i);
        CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                  (WIFEXITED(st) && WEXITSTATUS(st) == CHECK_EXIT),
              "round %d: %s", i, kt_status(st));
    }
}

/* ---- ptrace: PTRACE_EVENT_EXEC's message is the former thread id ------- */

static int go_pipe[2];

static void traced_non_leader_execs(void)
{
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        _exit(96);
    non_leader_execs();
}

TEST(ptrace_exec_event_reports_the_former_tid) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    OK(pipe(go_pipe));
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", kt_errstr(errno));
    if (pid == 0) {
        close(go_pipe[1]);
        traced_non_leader_execs();
        _exit(99);
    }
    close(go_pipe[0]);
    long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SEIZE, pid, 0, opts) != 0) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(go_pipe[1]);
        SKIP("PTRACE_SEIZE: %s", kt_errstr(e));
    }
    OK(write(go_pipe[1], "g", 1));
    close(go_pipe[1]);
    long clone_tid = 0, exec_msg = 0;
    pid_t exec_pid = 0;
    int final = -1;
    for (int steps = 0; steps < 200; steps++) {
        int st;
        pid_t w = -1;
        for (int i = 0; i < 1000; i++) {
            w = waitpid(-1, &st, WNOHANG | __WALL);
            if (w != 0)
                break;
            sleep_ms(10);
        }
        if (w <= 0)
            break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (w == pid) {
                final = st;
                break;
            }
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        int event = st >> 16;
        int sig = 0;
        if (event == PTRACE_EVENT_CLONE) {
            unsigned long msg = 0;
            ptrace(PTRACE_GETEVENTMSG, w, 0, &msg);
            clone_tid = (long)msg;
        } else if (event == PTRACE_EVENT_EXEC) {
            unsigned long msg = 0;
            ptrace(PTRACE_GETEVENTMSG, w, 0, &msg);
            exec_msg = (long)msg;
            exec_pid = w;
        } else if (event == 0 && WSTOPSIG(st) != SIGTRAP) {
            sig = WSTOPSIG(st); /* a signal-delivery stop */
        }
        ptrace(PTRACE_CONT, w, 0, sig);
    }
    if (final == -1) {
        kill(pid, SIGKILL);
        while (waitpid(-1, NULL, __WALL) > 0) {
        }
        CHECK(0, "the traced child did not finish");
    }
    CHECK(WIFEXITED(final) && WEXITSTATUS(final) == CHECK_EXIT, "child: %s",
          kt_status(final));
    CHECK(clone_tid > 0 && clone_tid != pid, "no PTRACE_EVENT_CLONE seen (%ld)", clone_tid);
    CHECK(exec_pid == pid, "PTRACE_EVENT_EXEC reported by %d, expected the pid %d",
          (int)exec_pid, (int)pid);
    CHECK(exec_msg == clone_tid, "PTRACE_EVENT_EXEC message %ld, expected the former tid %ld",
          exec_msg, clone_tid);
}

int main(int argc, char **argv)
{
    const char *mode = getenv(CHILD_MODE);
    if (mode && !strcmp(mode, "check"))
        return child_check(argc, argv);

    KT_BEGIN();
    RUN(exec_from_non_leader_keeps_pid_and_takes_leaders_id);
    RUN(exec_from_non_leader_after_leader_exited);
    RUN(exec_from_leader_with_threads_alive);
    RUN(threads_spinning_in_user_mode_stop_before_the_new_image_runs);
    RUN(concurrent_execs_one_wins);
    RUN(fatal_signal_during_exec_ends_the_process);
    RUN(ptrace_exec_event_reports_the_former_tid);
    return KT_END();
}

/* ptrace: stops and wait statuses, registers, memory, syscall stops, events,
 * single-step and breakpoints, /proc/PID/mem, and the error paths. */
#define KT_AREA "ptrace"
#include "kt.h"

#include <elf.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef TRAP_TRACE
#define TRAP_TRACE 2
#endif
#ifndef TRAP_HWBKPT
#define TRAP_HWBKPT 4
#endif
#define DR_OFF(n) (offsetof(struct user, u_debugreg) + 8 * (n))
#ifndef __WALL
#define __WALL 0x40000000
#endif

static const char *self_exe = "/proc/self/exe";

/* The raw call: PEEK requests store the word at *data. */
static long pt(long req, pid_t pid, unsigned long addr, unsigned long data)
{
    return syscall(SYS_ptrace, req, pid, addr, data);
}

/* Children of the current case, killed and reaped after it whatever happened. */
static pid_t kids[4];

static void track(pid_t p)
{
    for (int i = 0; i < 4; i++)
        if (!kids[i]) {
            kids[i] = p;
            return;
        }
}

static void reap_kids(void)
{
    for (int i = 0; i < 4; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, __WALL);
            kids[i] = 0;
        }
}

#define RUN_P(name)                                                           \
    do {                                                                      \
        RUN(name);                                                            \
        reap_kids();                                                          \
    } while (0)

/* waitpid with __WALL that gives up after ~2 s (returns 0 then). */
static pid_t wait_for(pid_t pid, int *st)
{
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(pid, st, __WALL | WNOHANG);
        if (r != 0)
            return r;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

volatile long shared_word = 0x1234;
static volatile int got_usr2;

static void on_usr2(int sig)
{
    (void)sig;
    got_usr2 = 1;
}

/* What traced children do after they stopped themselves. */
enum job {
    JOB_EXIT7,
    JOB_RAISE_USR1,
    JOB_CHECK_WORD,
    JOB_GETPID,
    JOB_EXEC,
    JOB_FORK,
    JOB_INT3,
    JOB_BREAKPOINT,
    JOB_MXCSR,
    JOB_SLEEP,
    JOB_IGNORED_USR1,
    JOB_STEP_SYSCALL,
    JOB_WRITE_WATCHED,
    JOB_MOV_SS_INT3,
    JOB_MOV_SS_SYSCALL,
};

/* What the data watchpoint cases watch. */
volatile long watched_word;
static short watched_ss;

__attribute__((noinline)) int bp_target(int x)
{
    __asm__ volatile("" ::: "memory");
    return x * 3 + 1;
}

static void child_job(enum job job)
{
    switch (job) {
    case JOB_EXIT7:
        _exit(7);
    case JOB_RAISE_USR1:
        signal(SIGUSR2, on_usr2);
        raise(SIGUSR1);
        _exit(got_usr2 ? 42 : 0);
    case JOB_CHECK_WORD:
        _exit(shared_word == 0x5678 ? 0 : 1);
    case JOB_GETPID: {
        long r = syscall(SYS_getpid);
        if (r == -1)
            _exit(errno == ENOSYS ? 50 : 51);
        if (r == 777)
            _exit(52);
        _exit(r == getppid() ? 53 : 54);
    }
    case JOB_EXEC: {
        char *argv[] = {"ptrace", "--exit7", NULL};
        execve(self_exe, argv, NULL);
        _exit(99);
    }
    case JOB_FORK: {
        pid_t g = fork();
        if (g == 0)
            _exit(3);
        int st;
        if (waitpid(g, &st, 0) != g)
            _exit(98);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 97);
    }
    case JOB_INT3:
        __asm__ volatile("int3\n\tnop\n\tnop\n\tnop\n\t" ::: "memory");
        _exit(9);
    case JOB_BREAKPOINT:
        _exit(bp_target(4)); /* 13 */
    case JOB_MXCSR: {
        unsigned int m = 0x7f80;
        __asm__ volatile("ldmxcsr %0" ::"m"(m));
        raise(SIGSTOP);
        _exit(0);
    }
    case JOB_SLEEP:
        for (;;)
            pause();
    case JOB_STEP_SYSCALL: {
        long r;
        __asm__ volatile("int3\n\tmov $39, %%eax\n\tsyscall\n\tnop\n\t"
                         : "=a"(r)
                         :
                         : "rcx", "r11", "memory");
        _exit(r == getpid() ? 0 : 1);
    }
    case JOB_IGNORED_USR1:
        signal(SIGUSR1, SIG_IGN);
        raise(SIGUSR1);
        _exit(5);
    case JOB_WRITE_WATCHED:
        watched_word = 99;
        _exit(watched_word == 99 ? 21 : 22);
    case JOB_MOV_SS_INT3:
        /* CVE-2018-8897: the watchpoint's #DB is held back past `mov ss` and
         * arrives on the first instruction of the kernel's int3 entry. */
        __asm__ volatile("mov %%ss, %0\n\tmov %0, %%ss\n\tint3\n\t" : "+m"(watched_ss));
        _exit(23);
    case JOB_MOV_SS_SYSCALL: {
        /* The same before `syscall`: the #DB arrives on the kernel's first
         * instruction, still on the user's stack pointer. */
        long r;
        __asm__ volatile("mov %%ss, %1\n\tmov %1, %%ss\n\tmov $39, %%eax\n\tsyscall\n\t"
                         : "=a"(r), "+m"(watched_ss)
                         :
                         : "rcx", "r11", "memory");
        _exit(r == getpid() ? 24 : 25);
    }
    }
    _exit(100);
}

/* A child that asks to be traced, stops itself with SIGSTOP, then does `job`.
 * Returns its pid once the SIGSTOP stop has been collected, or -1. */
static pid_t traced_child(enum job job)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (pt(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(101);
        if (job != JOB_MXCSR)
            raise(SIGSTOP);
        child_job(job);
    }
    track(pid);
    int st;
    if (wait_for(pid, &st) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
        return -1;
    return pid;
}

/* A child that is not traced: sleeps until killed. */
static pid_t sleeping_child(void)
{
    pid_t pid = fork();
    if (pid == 0)
        child_job(JOB_SLEEP);
    track(pid);
    return pid;
}

/* Resumes with `req` and collects the next state change. */
static int resume_wait(pid_t pid, long req, int sig)
{
    if (pt(req, pid, 0, sig) != 0)
        return -1;
    int st;
    if (wait_for(pid, &st) != pid)
        return -1;
    return st;
}

/* Steps through system call stops until the entry of `nr`; -1 if not found. */
static int run_to_syscall_entry(pid_t pid, long nr)
{
    for (int i = 0; i < 40; i++) {
        int st = resume_wait(pid, PTRACE_SYSCALL, 0);
        if (st == -1 || !WIFSTOPPED(st))
            return -1;
        if (WSTOPSIG(st) != (SIGTRAP | 0x80))
            continue;
        struct user_regs_struct r;
        if (pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r) != 0)
            return -1;
        if ((long)r.orig_rax == nr && (long)r.rax == -ENOSYS)
            return 0;
    }
    return -1;
}

/* ---- stops and wait statuses ----------------------------------------- */

TEST(traceme_child_sigstop_is_seen_without_wuntraced) {
    pid_t pid = traced_child(JOB_EXIT7);
    CHECK(pid > 0, "no SIGSTOP stop reported by waitpid(pid, 0)");
}

TEST(cont_lets_the_tracee_run_to_its_exit) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "got %s", kt_status(st));
}

TEST(signal_delivery_stop_reports_the_signal_and_cont_0_suppresses_it) {
    pid_t pid = OK(traced_child(JOB_RAISE_USR1));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "got %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "got %s", kt_status(st));
}

TEST(an_ignored_signal_still_stops_a_tracee) {
    pid_t pid = OK(traced_child(JOB_IGNORED_USR1));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "got %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, SIGUSR1); /* delivered: ignored */
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5, "got %s", kt_status(st));
}

TEST(cont_with_another_signal_delivers_that_one) {
    pid_t pid = OK(traced_child(JOB_RAISE_USR1));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "got %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, SIGUSR2);
    /* SIGUSR2's handler runs (a stop for SIGUSR2 is not repeated). */
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "got %s", kt_status(st));
}

TEST(cont_with_the_same_signal_delivers_it) {
    pid_t pid = OK(traced_child(JOB_RAISE_USR1));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "got %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, SIGUSR1);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "got %s", kt_status(st));
}

TEST(getsiginfo_at_a_signal_stop_names_the_signal_and_sender) {
    pid_t pid = OK(traced_child(JOB_RAISE_USR1));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGUSR1, "got %s", kt_status(st));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_signo, SIGUSR1);
    EXPECT_EQ(si.si_pid, pid);
}

TEST(kill_request_kills_a_stopped_tracee) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    OK(pt(PTRACE_KILL, pid, 0, 0));
    int st;
    CHECK(wait_for(pid, &st) == pid, "no exit");
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "got %s", kt_status(st));
}

TEST(detach_with_a_signal_delivers_it) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    OK(pt(PTRACE_DETACH, pid, 0, SIGUSR1));
    int st;
    CHECK(wait_for(pid, &st) == pid, "no exit");
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1, "got %s", kt_status(st));
}

TEST(group_stop_is_reported_and_getsiginfo_says_einval) {
    pid_t pid = OK(traced_child(JOB_SLEEP));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    (void)st;
    OK(kill(pid, SIGSTOP));
    CHECK(wait_for(pid, &st) == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
          "signal stop: %s", kt_status(st));
    siginfo_t si;
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si)); /* signal-delivery-stop */
    st = resume_wait(pid, PTRACE_CONT, SIGSTOP);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "group stop: %s", kt_status(st));
    EXPECT_ERRNO(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si), EINVAL);
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return '?';
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

TEST(proc_stat_shows_t_for_a_tracee_in_a_ptrace_stop) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_EQ(proc_state(pid), 't');
}

TEST(proc_status_names_the_tracer) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    int fd = OK(open(path, O_RDONLY));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "empty status");
    buf[n] = 0;
    char *p = strstr(buf, "TracerPid:\t");
    CHECK(p, "no TracerPid line");
    EXPECT_EQ(atoi(p + 11), getpid());
}

/* ---- memory ----------------------------------------------------------- */

TEST(peekdata_reads_and_pokedata_writes_tracee_memory) {
    pid_t pid = OK(traced_child(JOB_CHECK_WORD));
    long word = 0;
    OK(pt(PTRACE_PEEKDATA, pid, (unsigned long)&shared_word, (unsigned long)&word));
    EXPECT_EQ(word, 0x1234);
    OK(pt(PTRACE_POKEDATA, pid, (unsigned long)&shared_word, 0x5678));
    EXPECT_EQ(shared_word, 0x1234); /* ours is untouched */
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tracee saw no change: %s", kt_status(st));
}

TEST(peekdata_of_unmapped_address_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    long word;
    EXPECT_ERRNO(pt(PTRACE_PEEKDATA, pid, 8, (unsigned long)&word), EIO);
}

TEST(pokedata_to_unmapped_address_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(PTRACE_POKEDATA, pid, 8, 1), EIO);
}

TEST(peekdata_into_a_bad_tracer_buffer_is_efault) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(PTRACE_PEEKDATA, pid, (unsigned long)&shared_word, 8), EFAULT);
}

TEST(poketext_writes_read_only_code_privately) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    unsigned long at = (unsigned long)&bp_target;
    long orig = 0, now = 0;
    OK(pt(PTRACE_PEEKTEXT, pid, at, (unsigned long)&orig));
    OK(pt(PTRACE_POKETEXT, pid, at, orig ^ 0xff));
    OK(pt(PTRACE_PEEKTEXT, pid, at, (unsigned long)&now));
    EXPECT_EQ(now, orig ^ 0xff);
    EXPECT_EQ(*(volatile long *)at, orig); /* the tracer's copy is its own */
}

TEST(proc_pid_mem_reads_and_writes_the_tracee) {
    pid_t pid = OK(traced_child(JOB_CHECK_WORD));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int fd = OK(open(path, O_RDWR));
    long word = 0, v = 0x5678;
    EXPECT_EQ(pread(fd, &word, 8, (off_t)(unsigned long)&shared_word), 8);
    EXPECT_EQ(word, 0x1234);
    EXPECT_EQ(pwrite(fd, &v, 8, (off_t)(unsigned long)&shared_word), 8);
    errno = 0;
    long r = pread(fd, &word, 8, 4096);
    int e = errno;
    close(fd);
    CHECK(r == -1 && e == EIO, "pread of page 1: %ld errno %s", r, kt_errstr(e));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tracee saw no change: %s", kt_status(st));
}

/* ---- registers ---------------------------------------------------------- */

TEST(getregs_at_a_signal_stop_after_a_syscall_shows_it_in_orig_rax) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    /* raise() stopped itself with tkill or tgkill, which returned 0. */
    CHECK(r.orig_rax == SYS_tkill || r.orig_rax == SYS_tgkill, "orig_rax %lu", (unsigned long)r.orig_rax);
    EXPECT_EQ(r.rax, 0);
    EXPECT_EQ(r.cs & 3, 3);
}

TEST(peekuser_reads_registers_at_their_struct_user_offsets) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    unsigned long v = 0;
    OK(pt(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, rip), (unsigned long)&v));
    EXPECT_EQ(v, r.rip);
    OK(pt(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, rsp), (unsigned long)&v));
    EXPECT_EQ(v, r.rsp);
    OK(pt(PTRACE_PEEKUSER, pid, offsetof(struct user, u_debugreg[7]), (unsigned long)&v));
}

TEST(peekuser_unaligned_or_past_struct_user_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    unsigned long v;
    EXPECT_ERRNO(pt(PTRACE_PEEKUSER, pid, 3, (unsigned long)&v), EIO);
    /* The kernel's struct user is 928 bytes (libc's stops at 912). */
    OK(pt(PTRACE_PEEKUSER, pid, 920, (unsigned long)&v));
    EXPECT_ERRNO(pt(PTRACE_PEEKUSER, pid, 928, (unsigned long)&v), EIO);
}

TEST(getregset_prstatus_matches_getregs_and_sets_iov_len) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    struct user_regs_struct a, b;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&a));
    struct iovec iov = {&b, sizeof b + 64};
    OK(pt(PTRACE_GETREGSET, pid, NT_PRSTATUS, (unsigned long)&iov));
    EXPECT_EQ(iov.iov_len, sizeof b);
    EXPECT_EQ(memcmp(&a, &b, sizeof a), 0);
}

TEST(getregset_unknown_note_is_einval) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    char buf[64];
    struct iovec iov = {buf, sizeof buf};
    EXPECT_ERRNO(pt(PTRACE_GETREGSET, pid, 0x999, (unsigned long)&iov), EINVAL);
}

TEST(fp_registers_read_through_getfpregs_and_regsets) {
    pid_t pid = fork();
    if (pid == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        child_job(JOB_MXCSR);
    }
    track(pid);
    int st;
    CHECK(wait_for(pid, &st) == pid && WIFSTOPPED(st), "no stop: %s", kt_status(st));
    struct user_fpregs_struct fp;
    OK(pt(PTRACE_GETFPREGS, pid, 0, (unsigned long)&fp));
    EXPECT_EQ(fp.mxcsr, 0x7f80);
    struct user_fpregs_struct fp2;
    struct iovec iov = {&fp2, sizeof fp2};
    OK(pt(PTRACE_GETREGSET, pid, NT_PRFPREG, (unsigned long)&iov));
    EXPECT_EQ(iov.iov_len, 512);
    EXPECT_EQ(fp2.mxcsr, 0x7f80);
    static unsigned char xs[8192];
    struct iovec xiov = {xs, sizeof xs};
    if (pt(PTRACE_GETREGSET, pid, NT_X86_XSTATE, (unsigned long)&xiov) != 0)
        SKIP("no XSAVE");
    CHECK(xiov.iov_len >= 576, "xstate of %zu bytes", xiov.iov_len);
    unsigned long xcr0;
    memcpy(&xcr0, xs + 464, 8);
    /* XCR0 itself in the first software word (x87 and SSE at least). */
    EXPECT_EQ(xcr0 & 3, 3);
    EXPECT_EQ(xcr0 >> 32, 0);
    unsigned int mx;
    memcpy(&mx, xs + 24, 4);
    EXPECT_EQ(mx, 0x7f80);
}

TEST(setfpregs_changes_the_tracee_fpu) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    struct user_fpregs_struct fp;
    OK(pt(PTRACE_GETFPREGS, pid, 0, (unsigned long)&fp));
    fp.mxcsr = 0x3f80;
    OK(pt(PTRACE_SETFPREGS, pid, 0, (unsigned long)&fp));
    memset(&fp, 0, sizeof fp);
    OK(pt(PTRACE_GETFPREGS, pid, 0, (unsigned long)&fp));
    EXPECT_EQ(fp.mxcsr, 0x3f80);
}

/* ---- system call stops ---------------------------------------------------- */

TEST(syscall_stops_show_enosys_at_entry_and_the_result_at_exit) {
    pid_t pid = OK(traced_child(JOB_GETPID));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    CHECK(run_to_syscall_entry(pid, SYS_getpid) == 0, "no getpid entry stop");
    siginfo_t si;
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_signo, SIGTRAP);
    EXPECT_EQ(si.si_code, SIGTRAP | 0x80);
    int st = resume_wait(pid, PTRACE_SYSCALL, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80), "exit stop: %s", kt_status(st));
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    EXPECT_EQ(r.orig_rax, SYS_getpid);
    EXPECT_EQ(r.rax, pid);
}

TEST(syscall_stops_without_tracesysgood_are_plain_sigtrap) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    int st = resume_wait(pid, PTRACE_SYSCALL, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "got %s", kt_status(st));
}

TEST(changing_orig_rax_at_entry_runs_another_call) {
    pid_t pid = OK(traced_child(JOB_GETPID));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    CHECK(run_to_syscall_entry(pid, SYS_getpid) == 0, "no getpid entry stop");
    OK(pt(PTRACE_POKEUSER, pid, offsetof(struct user_regs_struct, orig_rax), SYS_getppid));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 53, "got %s", kt_status(st));
}

TEST(orig_rax_minus_one_skips_the_call_with_enosys) {
    pid_t pid = OK(traced_child(JOB_GETPID));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    CHECK(run_to_syscall_entry(pid, SYS_getpid) == 0, "no getpid entry stop");
    OK(pt(PTRACE_POKEUSER, pid, offsetof(struct user_regs_struct, orig_rax), -1UL));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 50, "got %s", kt_status(st));
}

TEST(changing_rax_at_exit_changes_the_result) {
    pid_t pid = OK(traced_child(JOB_GETPID));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    CHECK(run_to_syscall_entry(pid, SYS_getpid) == 0, "no getpid entry stop");
    int st = resume_wait(pid, PTRACE_SYSCALL, 0);
    CHECK(WIFSTOPPED(st), "exit stop: %s", kt_status(st));
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    r.rax = 777;
    OK(pt(PTRACE_SETREGS, pid, 0, (unsigned long)&r));
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 52, "got %s", kt_status(st));
}

struct sc_info {
    unsigned char op;
    unsigned char pad[3];
    unsigned int arch;
    unsigned long ip, sp;
    unsigned long data[7];
};

TEST(get_syscall_info_describes_entry_and_exit) {
    pid_t pid = OK(traced_child(JOB_GETPID));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    CHECK(run_to_syscall_entry(pid, SYS_getpid) == 0, "no getpid entry stop");
    struct sc_info in;
    memset(&in, 0, sizeof in);
    long n = OK(pt(PTRACE_GET_SYSCALL_INFO, pid, sizeof in, (unsigned long)&in));
    EXPECT_EQ(n, 80);
    EXPECT_EQ(in.op, 1);
    EXPECT_EQ(in.arch, 0xc000003e);
    EXPECT_EQ(in.data[0], SYS_getpid);
    int st = resume_wait(pid, PTRACE_SYSCALL, 0);
    CHECK(WIFSTOPPED(st), "exit stop: %s", kt_status(st));
    n = OK(pt(PTRACE_GET_SYSCALL_INFO, pid, sizeof in, (unsigned long)&in));
    EXPECT_EQ(n, 33);
    EXPECT_EQ(in.op, 2);
    EXPECT_EQ(in.data[0], pid);
    EXPECT_EQ(in.data[1] & 0xff, 0);
}

/* ---- events --------------------------------------------------------------- */

TEST(exec_without_traceexec_stops_with_sigtrap) {
    pid_t pid = OK(traced_child(JOB_EXEC));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "got %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "got %s", kt_status(st));
}

TEST(traceexec_reports_an_exec_event_with_the_pid) {
    pid_t pid = OK(traced_child(JOB_EXEC));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXEC));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && st >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8), "got %s",
          kt_status(st));
    unsigned long msg = 0;
    OK(pt(PTRACE_GETEVENTMSG, pid, 0, (unsigned long)&msg));
    EXPECT_EQ(msg, pid);
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "got %s", kt_status(st));
}

TEST(tracefork_attaches_the_new_child_and_reports_its_pid) {
    pid_t pid = OK(traced_child(JOB_FORK));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEFORK));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && st >> 8 == (SIGTRAP | PTRACE_EVENT_FORK << 8), "got %s",
          kt_status(st));
    unsigned long g = 0;
    OK(pt(PTRACE_GETEVENTMSG, pid, 0, (unsigned long)&g));
    CHECK(g > 0, "no pid in the event message");
    /* Inside the call: rax is -ENOSYS, the number is in orig_rax. */
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    EXPECT_EQ((long)r.rax, -ENOSYS);
    CHECK(r.orig_rax == SYS_fork || r.orig_rax == SYS_clone, "orig_rax %lu",
          (unsigned long)r.orig_rax);
    track((pid_t)g);
    CHECK(wait_for((pid_t)g, &st) == (pid_t)g, "grandchild not reported");
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "grandchild: %s", kt_status(st));
    /* The tracer sees the grandchild's exit, the parent reaps it too. */
    st = resume_wait((pid_t)g, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "grandchild: %s", kt_status(st));
    /* The child stops once more for the SIGCHLD of the grandchild's exit. */
    int sig = 0;
    for (int i = 0; i < 5; i++) {
        st = resume_wait(pid, PTRACE_CONT, sig);
        if (!WIFSTOPPED(st))
            break;
        sig = WSTOPSIG(st) == SIGCHLD ? SIGCHLD : 0;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "child: %s", kt_status(st));
}

TEST(traceexit_stops_before_exit_with_the_status) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    OK(pt(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXIT));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && st >> 8 == (SIGTRAP | PTRACE_EVENT_EXIT << 8), "got %s",
          kt_status(st));
    unsigned long msg = 0;
    OK(pt(PTRACE_GETEVENTMSG, pid, 0, (unsigned long)&msg));
    EXPECT_EQ(msg, 7 << 8);
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "got %s", kt_status(st));
}

TEST(setoptions_with_an_unknown_bit_is_einval) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(PTRACE_SETOPTIONS, pid, 0, 0x800000), EINVAL);
}

/* ---- single step and breakpoints ----------------------------------------- */

TEST(int3_stops_with_sigtrap_after_it_and_singlestep_moves_one_insn) {
    pid_t pid = OK(traced_child(JOB_INT3));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "int3: %s", kt_status(st));
    siginfo_t si;
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_code, SI_KERNEL);
    struct user_regs_struct r0, r1;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r0));
    unsigned long insn = 0;
    OK(pt(PTRACE_PEEKTEXT, pid, r0.rip - 1, (unsigned long)&insn));
    EXPECT_EQ(insn & 0xffffffff, 0x909090cc); /* int3; nop; nop; nop */
    st = resume_wait(pid, PTRACE_SINGLESTEP, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "step: %s", kt_status(st));
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_code, TRAP_TRACE);
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r1));
    EXPECT_EQ(r1.rip, r0.rip + 1);
    EXPECT_EQ(r1.eflags & 0x100, 0); /* the trap flag is the kernel's, not shown */
    st = resume_wait(pid, PTRACE_SINGLESTEP, 0);
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r1));
    EXPECT_EQ(r1.rip, r0.rip + 2);
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 9, "got %s", kt_status(st));
}

TEST(singlestep_over_a_syscall_stops_after_it_with_the_result) {
    pid_t pid = OK(traced_child(JOB_STEP_SYSCALL));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "int3: %s", kt_status(st));
    struct user_regs_struct r0, r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r0));
    st = resume_wait(pid, PTRACE_SINGLESTEP, 0); /* mov $39, %eax (5 bytes) */
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "step 1: %s", kt_status(st));
    st = resume_wait(pid, PTRACE_SINGLESTEP, 0); /* syscall (2 bytes) */
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "step 2: %s", kt_status(st));
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    EXPECT_EQ(r.rip, r0.rip + 7);
    EXPECT_EQ(r.rax, pid);
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "got %s", kt_status(st));
}

TEST(breakpoint_poked_into_code_traps_and_resumes_after_restore) {
    pid_t pid = OK(traced_child(JOB_BREAKPOINT));
    unsigned long at = (unsigned long)&bp_target;
    long orig = 0;
    OK(pt(PTRACE_PEEKTEXT, pid, at, (unsigned long)&orig));
    OK(pt(PTRACE_POKETEXT, pid, at, (orig & ~0xffL) | 0xcc));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "got %s", kt_status(st));
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    EXPECT_EQ(r.rip, at + 1);
    OK(pt(PTRACE_POKETEXT, pid, at, orig));
    r.rip = at;
    OK(pt(PTRACE_SETREGS, pid, 0, (unsigned long)&r));
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 13, "got %s", kt_status(st));
}

TEST(hardware_breakpoint_on_code_traps_before_the_instruction) {
    pid_t pid = OK(traced_child(JOB_BREAKPOINT));
    unsigned long at = (unsigned long)&bp_target;
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), at));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 1)); /* L0: execute, one byte */
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "got %s", kt_status(st));
    siginfo_t si;
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_code, TRAP_HWBKPT);
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    EXPECT_EQ(r.rip, at);
    unsigned long dr6 = 0;
    OK(pt(PTRACE_PEEKUSER, pid, DR_OFF(6), (unsigned long)&dr6));
    EXPECT_EQ(dr6 & 0xf, 1);
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0));
    /* DR6 tells only of the last #DB: a step now says BS, not B0 too. */
    st = resume_wait(pid, PTRACE_SINGLESTEP, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "step: %s", kt_status(st));
    OK(pt(PTRACE_PEEKUSER, pid, DR_OFF(6), (unsigned long)&dr6));
    EXPECT_EQ(dr6 & 0x400f, 0x4000);
    st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 13, "got %s", kt_status(st));
}

TEST(debug_register_with_a_kernel_address_is_einval) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), 1));
    EXPECT_ERRNO(pt(PTRACE_POKEUSER, pid, DR_OFF(0), 0xffff800000000000UL), EINVAL);
    unsigned long v = 0;
    OK(pt(PTRACE_PEEKUSER, pid, DR_OFF(0), (unsigned long)&v));
    EXPECT_EQ(v, 1);
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), 2));
    OK(pt(PTRACE_PEEKUSER, pid, DR_OFF(0), (unsigned long)&v));
    EXPECT_EQ(v, 2);
}

/* Continues `pid` through any SIGTRAP stops until it exits; its status. */
static int cont_to_exit(pid_t pid)
{
    for (int i = 0; i < 10; i++) {
        int st = resume_wait(pid, PTRACE_CONT, 0);
        if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP)
            return st;
    }
    return -1;
}

TEST(data_watchpoint_on_write_traps_after_the_store) {
    pid_t pid = OK(traced_child(JOB_WRITE_WATCHED));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), (unsigned long)&watched_word));
    /* L0, R/W0 = 01 (data writes), LEN0 = 10 (8 bytes). */
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x1 | (1UL << 16) | (2UL << 18)));
    int st = resume_wait(pid, PTRACE_CONT, 0);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP, "got %s", kt_status(st));
    siginfo_t si;
    OK(pt(PTRACE_GETSIGINFO, pid, 0, (unsigned long)&si));
    EXPECT_EQ(si.si_code, TRAP_HWBKPT);
    unsigned long dr6 = 0;
    OK(pt(PTRACE_PEEKUSER, pid, DR_OFF(6), (unsigned long)&dr6));
    EXPECT_EQ(dr6 & 0xf, 1);
    /* A trap: the store is done when the tracee stops. */
    long v = 0;
    OK(pt(PTRACE_PEEKDATA, pid, (unsigned long)&watched_word, (unsigned long)&v));
    EXPECT_EQ(v, 99);
    st = cont_to_exit(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 21, "got %s", kt_status(st));
}

TEST(data_watchpoint_checks_its_type_length_and_alignment) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), (unsigned long)&watched_word + 1));
    /* A 4-byte watchpoint on an odd address. */
    EXPECT_ERRNO(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x1 | (3UL << 16) | (3UL << 18)), EINVAL);
    /* I/O breakpoints (R/W = 10) do not exist here. */
    EXPECT_ERRNO(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x1 | (2UL << 16)), EINVAL);
    /* One byte fits any address. */
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x1 | (3UL << 16)));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0));
    int st = cont_to_exit(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "got %s", kt_status(st));
}

TEST(mov_ss_on_a_watchpoint_then_int3_is_survived) {
    pid_t pid = OK(traced_child(JOB_MOV_SS_INT3));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), (unsigned long)&watched_ss));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x30001)); /* read/write, 1 byte */
    int st = cont_to_exit(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 23, "got %s", kt_status(st));
}

TEST(mov_ss_on_a_watchpoint_then_syscall_is_survived) {
    pid_t pid = OK(traced_child(JOB_MOV_SS_SYSCALL));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(0), (unsigned long)&watched_ss));
    OK(pt(PTRACE_POKEUSER, pid, DR_OFF(7), 0x30001));
    int st = cont_to_exit(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 24, "got %s", kt_status(st));
}

/* ---- attach, seize, interrupt ---------------------------------------------- */

TEST(attach_stops_the_target_with_sigstop) {
    pid_t pid = sleeping_child();
    OK(pt(PTRACE_ATTACH, pid, 0, 0));
    int st;
    CHECK(wait_for(pid, &st) == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "got %s",
          kt_status(st));
    OK(pt(PTRACE_DETACH, pid, 0, 0));
}

TEST(attach_to_a_stopped_process_is_usable_at_once) {
    pid_t pid = sleeping_child();
    OK(kill(pid, SIGSTOP));
    int st;
    CHECK(waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st), "not stopped: %s",
          kt_status(st));
    OK(pt(PTRACE_ATTACH, pid, 0, 0));
    /* No wait in between: attach returns with the tracee in a ptrace stop. */
    struct user_regs_struct r;
    OK(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r));
    CHECK(wait_for(pid, &st) == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "got %s",
          kt_status(st));
    OK(pt(PTRACE_DETACH, pid, 0, 0));
}

TEST(seize_does_not_stop_and_interrupt_gives_an_event_stop) {
    pid_t pid = sleeping_child();
    OK(pt(PTRACE_SEIZE, pid, 0, 0));
    int st;
    EXPECT_EQ(waitpid(pid, &st, __WALL | WNOHANG), 0);
    OK(pt(PTRACE_INTERRUPT, pid, 0, 0));
    CHECK(wait_for(pid, &st) == pid, "no stop");
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP && st >> 16 == PTRACE_EVENT_STOP, "got %s",
          kt_status(st));
    EXPECT_EQ(proc_state(pid), 't');
    OK(pt(PTRACE_CONT, pid, 0, 0));
}

TEST(seized_group_stop_is_an_event_stop_and_listen_works) {
    pid_t pid = sleeping_child();
    OK(pt(PTRACE_SEIZE, pid, 0, 0));
    OK(kill(pid, SIGSTOP));
    int st;
    CHECK(wait_for(pid, &st) == pid && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && st >> 16 == 0,
          "signal stop: %s", kt_status(st));
    st = resume_wait(pid, PTRACE_CONT, SIGSTOP);
    CHECK(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP && st >> 16 == PTRACE_EVENT_STOP,
          "group stop: %s", kt_status(st));
    OK(pt(PTRACE_LISTEN, pid, 0, 0));
}

TEST(attach_to_self_is_eperm) {
    EXPECT_ERRNO(pt(PTRACE_ATTACH, getpid(), 0, 0), EPERM);
}

TEST(attach_twice_is_eperm) {
    pid_t pid = sleeping_child();
    OK(pt(PTRACE_SEIZE, pid, 0, 0));
    EXPECT_ERRNO(pt(PTRACE_ATTACH, pid, 0, 0), EPERM);
    EXPECT_ERRNO(pt(PTRACE_SEIZE, pid, 0, 0), EPERM);
}

TEST(traceme_twice_is_eperm) {
    pid_t pid = fork();
    if (pid == 0) {
        pt(PTRACE_TRACEME, 0, 0, 0);
        _exit(pt(PTRACE_TRACEME, 0, 0, 0) == -1 && errno == EPERM ? 0 : 1);
    }
    track(pid);
    int st;
    CHECK(wait_for(pid, &st) == pid, "no exit");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "got %s", kt_status(st));
}

TEST(attach_to_missing_pid_is_esrch) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    EXPECT_ERRNO(pt(PTRACE_ATTACH, pid, 0, 0), ESRCH);
}

TEST(request_on_an_untraced_process_is_esrch) {
    pid_t pid = sleeping_child();
    EXPECT_ERRNO(pt(PTRACE_CONT, pid, 0, 0), ESRCH);
    long w;
    EXPECT_ERRNO(pt(PTRACE_PEEKDATA, pid, (unsigned long)&shared_word, (unsigned long)&w),
                 ESRCH);
}

TEST(request_on_a_running_tracee_is_esrch) {
    pid_t pid = sleeping_child();
    OK(pt(PTRACE_SEIZE, pid, 0, 0));
    EXPECT_ERRNO(pt(PTRACE_CONT, pid, 0, 0), ESRCH);
    struct user_regs_struct r;
    EXPECT_ERRNO(pt(PTRACE_GETREGS, pid, 0, (unsigned long)&r), ESRCH);
}

TEST(seize_with_an_address_or_bad_options_is_eio) {
    pid_t pid = sleeping_child();
    EXPECT_ERRNO(pt(PTRACE_SEIZE, pid, 1, 0), EIO);
    EXPECT_ERRNO(pt(PTRACE_SEIZE, pid, 0, 0x800000), EIO);
}

TEST(interrupt_of_an_attached_tracee_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(PTRACE_INTERRUPT, pid, 0, 0), EIO);
}

TEST(unknown_request_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(0x4321, pid, 0, 0), EIO);
}

TEST(cont_with_an_invalid_signal_is_eio) {
    pid_t pid = OK(traced_child(JOB_EXIT7));
    EXPECT_ERRNO(pt(PTRACE_CONT, pid, 0, 65), EIO);
}

/* ---- the tracer going away -------------------------------------------------- */

TEST(exitkill_kills_the_tracee_when_the_tracer_exits) {
    pid_t pid = sleeping_child();
    pid_t tracer = fork();
    if (tracer == 0)
        _exit(pt(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL) == 0 ? 0 : 1);
    track(tracer);
    int st;
    CHECK(wait_for(tracer, &st) == tracer && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "tracer: %s", kt_status(st));
    CHECK(wait_for(pid, &st) == pid, "tracee still alive");
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "got %s", kt_status(st));
}

TEST(a_tracee_stopped_by_an_exiting_tracer_goes_on) {
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        _exit(4);
    }
    track(pid);
    pid_t tracer = fork();
    if (tracer == 0) {
        if (pt(PTRACE_SEIZE, pid, 0, 0) != 0 || pt(PTRACE_INTERRUPT, pid, 0, 0) != 0)
            _exit(1);
        int s;
        if (wait_for(pid, &s) != pid || !WIFSTOPPED(s))
            _exit(2);
        _exit(0); /* without resuming it */
    }
    track(tracer);
    int st;
    CHECK(wait_for(tracer, &st) == tracer && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "tracer: %s", kt_status(st));
    CHECK(wait_for(pid, &st) == pid, "tracee never finished");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 4, "got %s", kt_status(st));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--exit7"))
        _exit(7);
    KT_BEGIN();
    RUN_P(traceme_child_sigstop_is_seen_without_wuntraced);
    RUN_P(cont_lets_the_tracee_run_to_its_exit);
    RUN_P(signal_delivery_stop_reports_the_signal_and_cont_0_suppresses_it);
    RUN_P(an_ignored_signal_still_stops_a_tracee);
    RUN_P(cont_with_another_signal_delivers_that_one);
    RUN_P(cont_with_the_same_signal_delivers_it);
    RUN_P(getsiginfo_at_a_signal_stop_names_the_signal_and_sender);
    RUN_P(kill_request_kills_a_stopped_tracee);
    RUN_P(detach_with_a_signal_delivers_it);
    RUN_P(group_stop_is_reported_and_getsiginfo_says_einval);
    RUN_P(proc_stat_shows_t_for_a_tracee_in_a_ptrace_stop);
    RUN_P(proc_status_names_the_tracer);
    RUN_P(peekdata_reads_and_pokedata_writes_tracee_memory);
    RUN_P(peekdata_of_unmapped_address_is_eio);
    RUN_P(pokedata_to_unmapped_address_is_eio);
    RUN_P(peekdata_into_a_bad_tracer_buffer_is_efault);
    RUN_P(poketext_writes_read_only_code_privately);
    RUN_P(proc_pid_mem_reads_and_writes_the_tracee);
    RUN_P(getregs_at_a_signal_stop_after_a_syscall_shows_it_in_orig_rax);
    RUN_P(peekuser_reads_registers_at_their_struct_user_offsets);
    RUN_P(peekuser_unaligned_or_past_struct_user_is_eio);
    RUN_P(getregset_prstatus_matches_getregs_and_sets_iov_len);
    RUN_P(getregset_unknown_note_is_einval);
    RUN_P(fp_registers_read_through_getfpregs_and_regsets);
    RUN_P(setfpregs_changes_the_tracee_fpu);
    RUN_P(syscall_stops_show_enosys_at_entry_and_the_result_at_exit);
    RUN_P(syscall_stops_without_tracesysgood_are_plain_sigtrap);
    RUN_P(changing_orig_rax_at_entry_runs_another_call);
    RUN_P(orig_rax_minus_one_skips_the_call_with_enosys);
    RUN_P(changing_rax_at_exit_changes_the_result);
    RUN_P(get_syscall_info_describes_entry_and_exit);
    RUN_P(exec_without_traceexec_stops_with_sigtrap);
    RUN_P(traceexec_reports_an_exec_event_with_the_pid);
    RUN_P(tracefork_attaches_the_new_child_and_reports_its_pid);
    RUN_P(traceexit_stops_before_exit_with_the_status);
    RUN_P(setoptions_with_an_unknown_bit_is_einval);
    RUN_P(int3_stops_with_sigtrap_after_it_and_singlestep_moves_one_insn);
    RUN_P(singlestep_over_a_syscall_stops_after_it_with_the_result);
    RUN_P(breakpoint_poked_into_code_traps_and_resumes_after_restore);
    RUN_P(hardware_breakpoint_on_code_traps_before_the_instruction);
    RUN_P(debug_register_with_a_kernel_address_is_einval);
    RUN_P(data_watchpoint_on_write_traps_after_the_store);
    RUN_P(data_watchpoint_checks_its_type_length_and_alignment);
    RUN_P(mov_ss_on_a_watchpoint_then_int3_is_survived);
    RUN_P(mov_ss_on_a_watchpoint_then_syscall_is_survived);
    RUN_P(attach_stops_the_target_with_sigstop);
    RUN_P(attach_to_a_stopped_process_is_usable_at_once);
    RUN_P(seize_does_not_stop_and_interrupt_gives_an_event_stop);
    RUN_P(seized_group_stop_is_an_event_stop_and_listen_works);
    RUN_P(attach_to_self_is_eperm);
    RUN_P(attach_twice_is_eperm);
    RUN_P(traceme_twice_is_eperm);
    RUN_P(attach_to_missing_pid_is_esrch);
    RUN_P(request_on_an_untraced_process_is_esrch);
    RUN_P(request_on_a_running_tracee_is_esrch);
    RUN_P(seize_with_an_address_or_bad_options_is_eio);
    RUN_P(interrupt_of_an_attached_tracee_is_eio);
    RUN_P(unknown_request_is_eio);
    RUN_P(cont_with_an_invalid_signal_is_eio);
    RUN_P(exitkill_kills_the_tracee_when_the_tracer_exits);
    RUN_P(a_tracee_stopped_by_an_exiting_tracer_goes_on);
    return KT_END();
}

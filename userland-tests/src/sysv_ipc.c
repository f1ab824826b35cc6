/* System V IPC through the raw syscalls: message queues (msgget, msgsnd,
 * msgrcv, msgctl), semaphore sets (semget, semop, semtimedop, semctl) and
 * shared memory (shmget, shmat, shmdt, shmctl): keys and IPC_CREAT/IPC_EXCL,
 * type selection, limits, blocking and its wake-ups (a sender, IPC_RMID, a
 * signal), permissions, SEM_UNDO at exit, attach counts through fork and exit,
 * IPC_RMID deferred until the last detach.
 * Every object a case makes is removed after it, pass or fail. */
#define KT_AREA "sysv_ipc"
#include "kt.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

/* ---- cleanup ------------------------------------------------------------ */

static int made_msq[16], n_msq;
static int made_sem[16], n_sem;
static int made_shm[16], n_shm;

static int track_msq(int id)
{
    if (id >= 0 && n_msq < 16)
        made_msq[n_msq++] = id;
    return id;
}

static int track_sem(int id)
{
    if (id >= 0 && n_sem < 16)
        made_sem[n_sem++] = id;
    return id;
}

static int track_shm(int id)
{
    if (id >= 0 && n_shm < 16)
        made_shm[n_shm++] = id;
    return id;
}

static void cleanup(void)
{
    for (int i = 0; i < n_shm; i++)
        syscall(SYS_shmctl, made_shm[i], IPC_RMID, 0);
    for (int i = 0; i < n_msq; i++)
        syscall(SYS_msgctl, made_msq[i], IPC_RMID, 0);
    for (int i = 0; i < n_sem; i++)
        syscall(SYS_semctl, made_sem[i], 0, IPC_RMID, 0);
    n_msq = n_sem = n_shm = 0;
}

#define RUN_IPC(name)                                                         \
    do {                                                                      \
        RUN(name);                                                            \
        cleanup();                                                            \
    } while (0)

/* A key no other test run uses: this process's pid in the high bits. */
static key_t test_key(int n)
{
    return (key_t)(0x4b000000 | ((getpid() & 0xffff) << 8) | n);
}

static int new_queue(void)
{
    return track_msq((int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
}

static int new_sems(int n)
{
    return track_sem((int)syscall(SYS_semget, IPC_PRIVATE, n, IPC_CREAT | 0600));
}

struct msg {
    long mtype;
    char text[8192];
};

static long snd(int q, long type, const char *text, size_t n, int flags)
{
    static struct msg m;
    m.mtype = type;
    memcpy(m.text, text, n);
    return syscall(SYS_msgsnd, q, &m, n, flags);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

/* A SIGALRM handler (with SA_RESTART, which System V IPC ignores) and a timer
 * firing once after `ms`. */
static void alarm_in(int ms)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    got_signal = 0;
    struct itimerval it = {{0, 0}, {0, ms * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void alarm_off(void)
{
    struct itimerval it = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    signal(SIGALRM, SIG_DFL);
}

static void *unmapped_page(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p, 4096);
    return p;
}

static int reap(pid_t pid)
{
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Becomes an unprivileged user (no CAP_IPC_OWNER, no CAP_SYS_ADMIN): children only. */
static void drop_to_user(void)
{
    if (syscall(SYS_setresgid, 1000, 1000, 1000) != 0 || syscall(SYS_setgroups, 0, NULL) != 0 ||
        syscall(SYS_setresuid, 1000, 1000, 1000) != 0)
        _exit(100);
}

/* ---- msgget --------------------------------------------------------------- */

TEST(msgget_private_makes_a_new_queue_each_time) {
    int a = OK(new_queue());
    int b = OK(new_queue());
    CHECK(a != b, "same id %d twice", a);
}

TEST(msgget_missing_key_without_creat_is_enoent) {
    EXPECT_ERRNO(syscall(SYS_msgget, test_key(1), 0600), ENOENT);
}

TEST(msgget_existing_key_finds_it_and_excl_is_eexist) {
    key_t k = test_key(2);
    int q = OK(track_msq((int)syscall(SYS_msgget, k, IPC_CREAT | IPC_EXCL | 0600)));
    EXPECT_EQ(syscall(SYS_msgget, k, 0), q);
    EXPECT_EQ(syscall(SYS_msgget, k, IPC_CREAT | 0600), q);
    EXPECT_ERRNO(syscall(SYS_msgget, k, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    struct msqid_ds ds;
    OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_perm.__ipc_perm_key, k);
    EXPECT_EQ(ds.msg_perm.mode & 0777, 0600);
    EXPECT_EQ(ds.msg_perm.uid, geteuid());
    EXPECT_EQ(ds.msg_perm.cuid, geteuid());
    EXPECT_EQ(ds.msg_qbytes, 16384);
    EXPECT_EQ(ds.msg_qnum, 0);
}

/* ---- msgsnd and msgrcv ---------------------------------------------------- */

TEST(msgsnd_then_msgrcv_moves_type_and_text) {
    int q = OK(new_queue());
    OK(snd(q, 7, "hello", 5, 0));
    struct msg m = {0};
    EXPECT_EQ(syscall(SYS_msgrcv, q, &m, sizeof m.text, 0L, 0), 5);
    EXPECT_EQ(m.mtype, 7);
    CHECK(memcmp(m.text, "hello", 5) == 0, "text %.5s", m.text);
    struct msqid_ds ds;
    OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_lspid, getpid());
    EXPECT_EQ(ds.msg_lrpid, getpid());
    EXPECT_EQ(ds.msg_qnum, 0);
}

TEST(msgrcv_type_selects_first_exact_or_lowest) {
    int q = OK(new_queue());
    OK(snd(q, 3, "a", 1, 0));
    OK(snd(q, 1, "b", 1, 0));
    OK(snd(q, 2, "c", 1, 0));
    OK(snd(q, 1, "d", 1, 0));
    struct msg m;
    struct msqid_ds ds;
    OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_qnum, 4);
    EXPECT_EQ(ds.msg_cbytes, 4);
    /* > 0: the first of that type. */
    OK(syscall(SYS_msgrcv, q, &m, 10L, 2L, 0));
    EXPECT_EQ(m.text[0], 'c');
    /* MSG_EXCEPT: the first of another type. */
    OK(syscall(SYS_msgrcv, q, &m, 10L, 1L, MSG_EXCEPT));
    EXPECT_EQ(m.text[0], 'a');
    /* < 0: the first of the lowest type at most |msgtyp|. */
    OK(syscall(SYS_msgrcv, q, &m, 10L, -5L, 0));
    EXPECT_EQ(m.text[0], 'b');
    /* 0: the first. */
    OK(syscall(SYS_msgrcv, q, &m, 10L, 0L, 0));
    EXPECT_EQ(m.text[0], 'd');
}

TEST(msgrcv_nothing_matching_with_nowait_is_enomsg) {
    int q = OK(new_queue());
    struct msg m;
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, 0L, IPC_NOWAIT), ENOMSG);
    OK(snd(q, 5, "x", 1, 0));
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, 4L, IPC_NOWAIT), ENOMSG);
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, -4L, IPC_NOWAIT), ENOMSG);
}

TEST(msgrcv_buffer_too_small_is_e2big_and_msg_noerror_truncates) {
    int q = OK(new_queue());
    OK(snd(q, 1, "0123456789", 10, 0));
    struct msg m;
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 4L, 0L, IPC_NOWAIT), E2BIG);
    /* The message stayed; MSG_NOERROR takes it, cut. */
    EXPECT_EQ(syscall(SYS_msgrcv, q, &m, 4L, 0L, IPC_NOWAIT | MSG_NOERROR), 4);
    CHECK(memcmp(m.text, "0123", 4) == 0, "text");
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, 0L, IPC_NOWAIT), ENOMSG);
}

TEST(msgsnd_bad_type_or_size_is_einval) {
    int q = OK(new_queue());
    EXPECT_ERRNO(snd(q, 0, "x", 1, 0), EINVAL);
    EXPECT_ERRNO(snd(q, -3, "x", 1, 0), EINVAL);
    /* msgmax is 8192. */
    EXPECT_ERRNO(snd(q, 1, "x", 8193, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgsnd, -1, "\1\0\0\0\0\0\0\0x", 1L, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgrcv, -1, &(struct msg){0}, 1L, 0L, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &(struct msg){0}, -1L, 0L, 0), EINVAL);
    OK(snd(q, 1, "x", 8192, 0));
    OK(snd(q, 1, "", 0, 0));
}

TEST(msgsnd_and_msgrcv_bad_pointers_are_efault) {
    int q = OK(new_queue());
    void *bad = unmapped_page();
    EXPECT_ERRNO(syscall(SYS_msgsnd, q, bad, 1L, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_msgsnd, q, (void *)1, 1L, 0), EFAULT);
    OK(snd(q, 1, "x", 1, 0));
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, bad, 10L, 0L, IPC_NOWAIT), EFAULT);
}

TEST(msgsnd_to_a_full_queue_with_nowait_is_eagain) {
    int q = OK(new_queue());
    static char big[8192];
    OK(snd(q, 1, big, 8192, 0));
    OK(snd(q, 1, big, 8192, 0));
    EXPECT_ERRNO(snd(q, 1, big, 1, IPC_NOWAIT), EAGAIN);
    /* A smaller msg_qbytes (IPC_SET) counts messages too: empty ones fill it. */
    int r = OK(new_queue());
    struct msqid_ds ds;
    OK(syscall(SYS_msgctl, r, IPC_STAT, &ds));
    ds.msg_qbytes = 2;
    OK(syscall(SYS_msgctl, r, IPC_SET, &ds));
    OK(snd(r, 1, "", 0, 0));
    OK(snd(r, 1, "", 0, 0));
    EXPECT_ERRNO(snd(r, 1, "", 0, IPC_NOWAIT), EAGAIN);
}

TEST(msgrcv_blocked_wakes_when_a_child_sends) {
    int q = OK(new_queue());
    pid_t pid = fork();
    if (pid == 0) {
        usleep(30000);
        _exit(snd(q, 9, "late", 4, 0) == 0 ? 0 : 1);
    }
    struct msg m;
    EXPECT_EQ(syscall(SYS_msgrcv, q, &m, 10L, 9L, 0), 4);
    EXPECT_EQ(reap(pid), 0);
}

TEST(msgsnd_blocked_on_a_full_queue_wakes_when_a_child_receives) {
    int q = OK(new_queue());
    static char big[8192];
    OK(snd(q, 1, big, 8192, 0));
    OK(snd(q, 1, big, 8192, 0));
    pid_t pid = fork();
    if (pid == 0) {
        static struct msg m;
        usleep(30000);
        _exit(syscall(SYS_msgrcv, q, &m, 8192L, 0L, 0) == 8192 ? 0 : 1);
    }
    OK(snd(q, 2, "y", 1, 0));
    EXPECT_EQ(reap(pid), 0);
}

TEST(msgrcv_blocked_when_the_queue_is_removed_is_eidrm) {
    int q = OK(new_queue());
    pid_t pid = fork();
    if (pid == 0) {
        usleep(30000);
        _exit(syscall(SYS_msgctl, q, IPC_RMID, 0) == 0 ? 0 : 1);
    }
    struct msg m;
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, 0L, 0), EIDRM);
    EXPECT_EQ(reap(pid), 0);
    EXPECT_ERRNO(syscall(SYS_msgrcv, q, &m, 10L, 0L, IPC_NOWAIT), EINVAL);
}

TEST(msgrcv_blocked_interrupted_by_a_handler_is_eintr_even_with_sa_restart) {
    int q = OK(new_queue());
    struct msg m;
    alarm_in(30);
    errno = 0;
    long r = syscall(SYS_msgrcv, q, &m, 10L, 0L, 0);
    int e = errno;
    alarm_off();
    EXPECT_EQ(r, -1);
    EXPECT_EQ(e, EINTR);
    EXPECT_EQ(got_signal, 1);
}

/* ---- msgctl --------------------------------------------------------------- */

TEST(msgctl_ipc_set_changes_mode_and_rmid_frees_the_id) {
    int q = OK(new_queue());
    struct msqid_ds ds;
    OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
    ds.msg_perm.mode = 0640;
    ds.msg_qbytes = 100;
    OK(syscall(SYS_msgctl, q, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    OK(syscall(SYS_msgctl, q, IPC_STAT, &ds));
    EXPECT_EQ(ds.msg_perm.mode & 0777, 0640);
    EXPECT_EQ(ds.msg_qbytes, 100);
    OK(syscall(SYS_msgctl, q, IPC_RMID, 0));
    EXPECT_ERRNO(syscall(SYS_msgctl, q, IPC_STAT, &ds), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgctl, q, IPC_RMID, 0), EINVAL);
}

TEST(msgctl_bad_command_id_or_buffer_is_einval_or_efault) {
    int q = OK(new_queue());
    EXPECT_ERRNO(syscall(SYS_msgctl, q, 99, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgctl, -1, IPC_STAT, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_msgctl, q, IPC_STAT, unmapped_page()), EFAULT);
    EXPECT_ERRNO(syscall(SYS_msgctl, q, IPC_SET, unmapped_page()), EFAULT);
}

TEST(msgctl_ipc_info_gives_linux_limits) {
    OK(new_queue());
    struct msginfo mi;
    long r = OK(syscall(SYS_msgctl, 0, IPC_INFO, &mi));
    CHECK(r >= 0, "IPC_INFO returned %ld", r);
    EXPECT_EQ(mi.msgmax, 8192);
    EXPECT_EQ(mi.msgmnb, 16384);
    EXPECT_EQ(mi.msgssz, 16);
    OK(syscall(SYS_msgctl, 0, MSG_INFO, &mi));
    CHECK(mi.msgpool >= 1, "MSG_INFO msgpool %d", mi.msgpool);
}

static void user_msg_access(void *arg)
{
    int q = ((int *)arg)[0];
    key_t k = ((int *)arg)[1];
    drop_to_user();
    struct msqid_ds ds;
    if (snd(q, 1, "x", 1, IPC_NOWAIT) != -1 || errno != EACCES)
        _exit(1);
    if (syscall(SYS_msgrcv, q, &(struct msg){0}, 1L, 0L, IPC_NOWAIT) != -1 || errno != EACCES)
        _exit(2);
    if (syscall(SYS_msgctl, q, IPC_STAT, &ds) != -1 || errno != EACCES)
        _exit(3);
    if (syscall(SYS_msgctl, q, IPC_RMID, 0) != -1 || errno != EPERM)
        _exit(4);
    if (syscall(SYS_msgget, k, 0400) != -1 || errno != EACCES)
        _exit(5);
    /* Asking for no permission bits finds it. */
    if (syscall(SYS_msgget, k, 0) != q)
        _exit(6);
    _exit(0);
}

TEST(msg_queue_of_another_user_is_eacces_and_eperm) {
    int arg[2] = {0, test_key(3)};
    int q = OK(track_msq((int)syscall(SYS_msgget, arg[1], IPC_CREAT | 0600)));
    arg[0] = q;
    int st = kt_in_child(user_msg_access, arg);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* Whether a line of /proc/sysvipc/NAME has `id` in its second column. */
static int proc_lists(const char *name, int id)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        int key, got;
        if (sscanf(line, "%d %d", &key, &got) == 2 && got == id)
            found = 1;
    }
    fclose(f);
    return found;
}

TEST(proc_sysvipc_lists_objects_and_sysctls_show_limits) {
    int q = OK(new_queue());
    int s = OK(track_sem((int)syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0600)));
    int m = OK(track_shm((int)syscall(SYS_shmget, IPC_PRIVATE, 4096L, IPC_CREAT | 0600)));
    EXPECT_EQ(proc_lists("msg", q), 1);
    EXPECT_EQ(proc_lists("sem", s), 1);
    EXPECT_EQ(proc_lists("shm", m), 1);
    OK(syscall(SYS_msgctl, q, IPC_RMID, 0));
    EXPECT_EQ(proc_lists("msg", q), 0);
    FILE *f = fopen("/proc/sys/kernel/msgmax", "r");
    CHECK(f, "/proc/sys/kernel/msgmax: %s", kt_errstr(errno));
    long v = 0;
    int n = fscanf(f, "%ld", &v);
    fclose(f);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(v, 8192);
}

/* ---- semaphores ---------------------------------------------------------- */

TEST(semget_counts_are_checked) {
    EXPECT_ERRNO(syscall(SYS_semget, IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
    EXPECT_ERRNO(syscall(SYS_semget, IPC_PRIVATE, -1, IPC_CREAT | 0600), EINVAL);
    EXPECT_ERRNO(syscall(SYS_semget, IPC_PRIVATE, 40000, IPC_CREAT | 0600), EINVAL);
    key_t k = test_key(4);
    int s = OK(track_sem((int)syscall(SYS_semget, k, 2, IPC_CREAT | IPC_EXCL | 0600)));
    EXPECT_EQ(syscall(SYS_semget, k, 0, 0), s);
    EXPECT_EQ(syscall(SYS_semget, k, 2, 0), s);
    EXPECT_ERRNO(syscall(SYS_semget, k, 3, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_semget, test_key(5), 1, 0), ENOENT);
    struct semid_ds ds;
    OK(syscall(SYS_semctl, s, 0, IPC_STAT, &ds));
    EXPECT_EQ(ds.sem_nsems, 2);
    EXPECT_EQ(ds.sem_perm.mode & 0777, 0600);
}

TEST(semop_changes_values_and_setval_getall_agree) {
    int s = OK(new_sems(3));
    struct sembuf ops[2] = {{0, 2, 0}, {2, 5, 0}};
    OK(syscall(SYS_semop, s, ops, 2));
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETVAL, 0), 2);
    EXPECT_EQ(syscall(SYS_semctl, s, 2, GETVAL, 0), 5);
    EXPECT_EQ(syscall(SYS_semctl, s, 2, GETPID, 0), getpid());
    OK(syscall(SYS_semctl, s, 1, SETVAL, 7L));
    unsigned short v[3];
    OK(syscall(SYS_semctl, s, 0, GETALL, v));
    CHECK(v[0] == 2 && v[1] == 7 && v[2] == 5, "GETALL %u %u %u", v[0], v[1], v[2]);
    unsigned short w[3] = {1, 0, 4};
    OK(syscall(SYS_semctl, s, 0, SETALL, w));
    EXPECT_EQ(syscall(SYS_semctl, s, 2, GETVAL, 0), 4);
    EXPECT_ERRNO(syscall(SYS_semctl, s, 3, GETVAL, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_semctl, s, 0, SETVAL, 40000L), ERANGE);
    EXPECT_ERRNO(syscall(SYS_semctl, s, 0, GETALL, unmapped_page()), EFAULT);
    EXPECT_ERRNO(syscall(SYS_semctl, s, 0, 99, 0), EINVAL);
}

TEST(semop_would_block_with_nowait_is_eagain_and_changes_nothing) {
    int s = OK(new_sems(2));
    struct sembuf ops[2] = {{0, 1, 0}, {1, -1, IPC_NOWAIT}};
    EXPECT_ERRNO(syscall(SYS_semop, s, ops, 2), EAGAIN);
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETVAL, 0), 0);
    OK(syscall(SYS_semctl, s, 0, SETVAL, 1L));
    struct sembuf z = {0, 0, IPC_NOWAIT};
    EXPECT_ERRNO(syscall(SYS_semop, s, &z, 1), EAGAIN);
}

TEST(semop_argument_errors) {
    int s = OK(new_sems(1));
    struct sembuf op = {0, 1, 0};
    EXPECT_ERRNO(syscall(SYS_semop, s, &op, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_semop, -1, &op, 1), EINVAL);
    static struct sembuf many[501];
    EXPECT_ERRNO(syscall(SYS_semop, s, many, 501), E2BIG);
    struct sembuf far = {1, 1, 0};
    EXPECT_ERRNO(syscall(SYS_semop, s, &far, 1), EFBIG);
    EXPECT_ERRNO(syscall(SYS_semop, s, unmapped_page(), 1), EFAULT);
    struct sembuf over = {0, 32767, 0};
    OK(syscall(SYS_semop, s, &op, 1));
    EXPECT_ERRNO(syscall(SYS_semop, s, &over, 1), ERANGE);
}

TEST(semtimedop_timeout_is_eagain) {
    int s = OK(new_sems(1));
    struct sembuf op = {0, -1, 0};
    struct timespec ts = {0, 20 * 1000 * 1000};
    EXPECT_ERRNO(syscall(SYS_semtimedop, s, &op, 1, &ts), EAGAIN);
    struct timespec bad = {0, 2000000000L};
    EXPECT_ERRNO(syscall(SYS_semtimedop, s, &op, 1, &bad), EINVAL);
}

TEST(semop_blocked_wakes_on_increment_and_counts_in_getncnt) {
    int s = OK(new_sems(1));
    pid_t pid = fork();
    if (pid == 0) {
        struct sembuf op = {0, -2, 0};
        _exit(syscall(SYS_semop, s, &op, 1) == 0 ? 0 : 1);
    }
    int n = 0;
    for (int i = 0; i < 200 && n == 0; i++) {
        usleep(5000);
        n = (int)syscall(SYS_semctl, s, 0, GETNCNT, 0);
    }
    EXPECT_EQ(n, 1);
    struct sembuf one = {0, 1, 0};
    OK(syscall(SYS_semop, s, &one, 1));
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETNCNT, 0), 1);
    OK(syscall(SYS_semop, s, &one, 1));
    EXPECT_EQ(reap(pid), 0);
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETVAL, 0), 0);
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETNCNT, 0), 0);
}

TEST(semop_wait_for_zero_counts_in_getzcnt) {
    int s = OK(new_sems(1));
    OK(syscall(SYS_semctl, s, 0, SETVAL, 1L));
    pid_t pid = fork();
    if (pid == 0) {
        struct sembuf op = {0, 0, 0};
        _exit(syscall(SYS_semop, s, &op, 1) == 0 ? 0 : 1);
    }
    int n = 0;
    for (int i = 0; i < 200 && n == 0; i++) {
        usleep(5000);
        n = (int)syscall(SYS_semctl, s, 0, GETZCNT, 0);
    }
    EXPECT_EQ(n, 1);
    OK(syscall(SYS_semctl, s, 0, SETVAL, 0L));
    EXPECT_EQ(reap(pid), 0);
}

TEST(sem_undo_is_applied_when_the_process_exits) {
    int s = OK(new_sems(1));
    pid_t pid = fork();
    if (pid == 0) {
        struct sembuf op = {0, 3, SEM_UNDO};
        struct sembuf plain = {0, 1, 0};
        _exit(syscall(SYS_semop, s, &op, 1) == 0 && syscall(SYS_semop, s, &plain, 1) == 0 ? 0 : 1);
    }
    EXPECT_EQ(reap(pid), 0);
    EXPECT_EQ(syscall(SYS_semctl, s, 0, GETVAL, 0), 1);
}

TEST(semop_blocked_when_the_set_is_removed_is_eidrm) {
    int s = OK(new_sems(1));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(30000);
        _exit(syscall(SYS_semctl, s, 0, IPC_RMID, 0) == 0 ? 0 : 1);
    }
    struct sembuf op = {0, -1, 0};
    EXPECT_ERRNO(syscall(SYS_semop, s, &op, 1), EIDRM);
    EXPECT_EQ(reap(pid), 0);
    EXPECT_ERRNO(syscall(SYS_semctl, s, 0, GETVAL, 0), EINVAL);
}

TEST(semop_blocked_interrupted_by_a_handler_is_eintr) {
    int s = OK(new_sems(1));
    struct sembuf op = {0, -1, 0};
    alarm_in(30);
    errno = 0;
    long r = syscall(SYS_semop, s, &op, 1);
    int e = errno;
    alarm_off();
    EXPECT_EQ(r, -1);
    EXPECT_EQ(e, EINTR);
}

static void user_sem_access(void *arg)
{
    int s = *(int *)arg;
    drop_to_user();
    struct sembuf op = {0, 1, IPC_NOWAIT};
    if (syscall(SYS_semop, s, &op, 1) != -1 || errno != EACCES)
        _exit(1);
    if (syscall(SYS_semctl, s, 0, GETVAL, 0) != 1)
        _exit(2); /* mode 0604: others may read */
    if (syscall(SYS_semctl, s, 0, SETVAL, 3L) != -1 || errno != EACCES)
        _exit(3);
    if (syscall(SYS_semctl, s, 0, IPC_RMID, 0) != -1 || errno != EPERM)
        _exit(4);
    _exit(0);
}

TEST(sem_set_of_another_user_is_eacces_and_eperm) {
    int s = OK(track_sem((int)syscall(SYS_semget, IPC_PRIVATE, 1, IPC_CREAT | 0604)));
    OK(syscall(SYS_semctl, s, 0, SETVAL, 1L));
    int st = kt_in_child(user_sem_access, &s);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(semctl_ipc_set_changes_mode_and_ipc_info_gives_limits) {
    int s = OK(new_sems(1));
    struct semid_ds ds;
    OK(syscall(SYS_semctl, s, 0, IPC_STAT, &ds));
    ds.sem_perm.mode = 0644;
    OK(syscall(SYS_semctl, s, 0, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    OK(syscall(SYS_semctl, s, 0, IPC_STAT, &ds));
    EXPECT_EQ(ds.sem_perm.mode & 0777, 0644);
    struct seminfo si;
    OK(syscall(SYS_semctl, 0, 0, IPC_INFO, &si));
    EXPECT_EQ(si.semvmx, 32767);
    EXPECT_EQ(si.semopm, 500);
    EXPECT_EQ(si.semmsl, 32000);
}

/* ---- shared memory ------------------------------------------------------ */

static int new_shm(size_t size)
{
    return track_shm((int)syscall(SYS_shmget, IPC_PRIVATE, size, IPC_CREAT | 0600));
}

static long nattch(int id)
{
    struct shmid_ds ds;
    if (syscall(SYS_shmctl, id, IPC_STAT, &ds) != 0)
        return -1;
    return (long)ds.shm_nattch;
}

TEST(shmget_sizes_and_keys_are_checked) {
    EXPECT_ERRNO(syscall(SYS_shmget, IPC_PRIVATE, 0L, IPC_CREAT | 0600), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmget, IPC_PRIVATE, -1L, IPC_CREAT | 0600), EINVAL);
    key_t k = test_key(6);
    int id = OK(track_shm((int)syscall(SYS_shmget, k, 5000L, IPC_CREAT | IPC_EXCL | 0600)));
    EXPECT_EQ(syscall(SYS_shmget, k, 100L, 0), id);
    EXPECT_EQ(syscall(SYS_shmget, k, 0L, 0), id);
    EXPECT_ERRNO(syscall(SYS_shmget, k, 5001L, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmget, k, 100L, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    EXPECT_ERRNO(syscall(SYS_shmget, test_key(7), 100L, 0600), ENOENT);
    struct shmid_ds ds;
    OK(syscall(SYS_shmctl, id, IPC_STAT, &ds));
    /* The size asked for, not rounded to pages. */
    EXPECT_EQ(ds.shm_segsz, 5000);
    EXPECT_EQ(ds.shm_nattch, 0);
    EXPECT_EQ(ds.shm_cpid, getpid());
    EXPECT_EQ(ds.shm_perm.mode & 0777, 0600);
}

TEST(shmget_hugetlb_without_huge_pages_is_enomem) {
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
    long n = 0;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 0;
        fclose(f);
    }
    if (n > 0)
        SKIP("this machine has huge pages reserved");
    EXPECT_ERRNO(syscall(SYS_shmget, IPC_PRIVATE, 4096L, IPC_CREAT | SHM_HUGETLB | 0600), ENOMEM);
}

TEST(shmat_memory_is_shared_with_a_forked_child_and_counted) {
    int id = OK(new_shm(5000));
    char *p = (char *)syscall(SYS_shmat, id, 0, 0);
    CHECK(p != (char *)-1, "shmat: %s", kt_errstr(errno));
    EXPECT_EQ(nattch(id), 1);
    /* The last byte of the rounded-up second page is there too. */
    p[8191] = 1;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child inherits the attachment. */
        long n = nattch(id);
        strcpy(p, "from child");
        _exit(n == 2 ? 0 : 1);
    }
    EXPECT_EQ(reap(pid), 0);
    CHECK(strcmp(p, "from child") == 0, "parent sees '%.10s'", p);
    /* The child's exit detached it. */
    EXPECT_EQ(nattch(id), 1);
    OK(syscall(SYS_shmdt, p));
    struct shmid_ds ds;
    OK(syscall(SYS_shmctl, id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_nattch, 0);
    EXPECT_EQ(ds.shm_lpid, getpid());
    CHECK(ds.shm_atime != 0 && ds.shm_dtime != 0, "shm_atime or shm_dtime 0");
    /* A second attachment sees what the first wrote. */
    char *q = (char *)syscall(SYS_shmat, id, 0, SHM_RDONLY);
    CHECK(q != (char *)-1, "shmat: %s", kt_errstr(errno));
    CHECK(strcmp(q, "from child") == 0, "reattached sees '%.10s'", q);
    OK(syscall(SYS_shmdt, q));
}

TEST(shmat_address_rules) {
    int id = OK(new_shm(8192));
    char *p = (char *)syscall(SYS_shmat, id, 0, 0);
    CHECK(p != (char *)-1, "shmat: %s", kt_errstr(errno));
    EXPECT_ERRNO(syscall(SYS_shmat, id, p + 1, 0), EINVAL);
    /* Over an existing mapping without SHM_REMAP. */
    EXPECT_ERRNO(syscall(SYS_shmat, id, p, 0), EINVAL);
    /* SHM_RND rounds down to SHMLBA; SHM_REMAP replaces what is there. */
    EXPECT_EQ(syscall(SYS_shmat, id, p + 1, SHM_RND | SHM_REMAP), (long)p);
    EXPECT_EQ(nattch(id), 1);
    EXPECT_ERRNO(syscall(SYS_shmat, -1, 0, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmat, id + 1000000, 0, 0), EINVAL);
    /* shmdt wants the start of an attachment. */
    EXPECT_ERRNO(syscall(SYS_shmdt, p + 4096), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmdt, p + 1), EINVAL);
    OK(syscall(SYS_shmdt, p));
    EXPECT_ERRNO(syscall(SYS_shmdt, p), EINVAL);
    void *anon = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_ERRNO(syscall(SYS_shmdt, anon), EINVAL);
    munmap(anon, 4096);
}

static void write_to(void *arg)
{
    *(volatile char *)arg = 1;
    _exit(0);
}

TEST(shm_rdonly_attachment_faults_on_write) {
    int id = OK(new_shm(4096));
    char *p = (char *)syscall(SYS_shmat, id, 0, SHM_RDONLY);
    CHECK(p != (char *)-1, "shmat: %s", kt_errstr(errno));
    int st = kt_in_child(write_to, p);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
    OK(syscall(SYS_shmdt, p));
}

TEST(shm_rmid_waits_for_the_last_detach) {
    key_t k = test_key(8);
    int id = OK(track_shm((int)syscall(SYS_shmget, k, 4096L, IPC_CREAT | 0600)));
    char *p = (char *)syscall(SYS_shmat, id, 0, 0);
    CHECK(p != (char *)-1, "shmat: %s", kt_errstr(errno));
    OK(syscall(SYS_shmctl, id, IPC_RMID, 0));
    struct shmid_ds ds;
    OK(syscall(SYS_shmctl, id, IPC_STAT, &ds));
    /* SHM_DEST is set, the key is free, the memory still works. */
    EXPECT_EQ(ds.shm_perm.mode & 01000, 01000);
    EXPECT_EQ(ds.shm_perm.__ipc_perm_key, 0);
    EXPECT_ERRNO(syscall(SYS_shmget, k, 4096L, 0600), ENOENT);
    p[0] = 'x';
    OK(syscall(SYS_shmdt, p));
    EXPECT_ERRNO(syscall(SYS_shmctl, id, IPC_STAT, &ds), EINVAL);
}

TEST(shm_rmid_then_exit_frees_the_segment) {
    int id = OK(new_shm(4096));
    pid_t pid = fork();
    if (pid == 0) {
        char *p = (char *)syscall(SYS_shmat, id, 0, 0);
        if (p == (char *)-1 || syscall(SYS_shmctl, id, IPC_RMID, 0) != 0)
            _exit(1);
        p[0] = 1;
        _exit(0);
    }
    EXPECT_EQ(reap(pid), 0);
    struct shmid_ds ds;
    EXPECT_ERRNO(syscall(SYS_shmctl, id, IPC_STAT, &ds), EINVAL);
}

TEST(shmctl_ipc_set_info_and_bad_arguments) {
    int id = OK(new_shm(4096));
    struct shmid_ds ds;
    OK(syscall(SYS_shmctl, id, IPC_STAT, &ds));
    ds.shm_perm.mode = 0640;
    OK(syscall(SYS_shmctl, id, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    OK(syscall(SYS_shmctl, id, IPC_STAT, &ds));
    EXPECT_EQ(ds.shm_perm.mode & 0777, 0640);
    struct shminfo si;
    OK(syscall(SYS_shmctl, 0, IPC_INFO, &si));
    EXPECT_EQ(si.shmmin, 1);
    EXPECT_EQ(si.shmmni, 4096);
    struct shm_info info;
    OK(syscall(SYS_shmctl, 0, SHM_INFO, &info));
    CHECK(info.used_ids >= 1, "used_ids %d", info.used_ids);
    EXPECT_ERRNO(syscall(SYS_shmctl, id, 99, &ds), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmctl, -1, IPC_STAT, &ds), EINVAL);
    EXPECT_ERRNO(syscall(SYS_shmctl, id, IPC_STAT, unmapped_page()), EFAULT);
    EXPECT_ERRNO(syscall(SYS_shmctl, id, IPC_SET, unmapped_page()), EFAULT);
}

static void user_shm_access(void *arg)
{
    int id = *(int *)arg;
    drop_to_user();
    if (syscall(SYS_shmat, id, 0, 0) != -1 || errno != EACCES)
        _exit(1);
    /* Mode 0604: others may attach read-only. */
    long p = syscall(SYS_shmat, id, 0, SHM_RDONLY);
    if (p == -1 || syscall(SYS_shmdt, p) != 0)
        _exit(2);
    if (syscall(SYS_shmctl, id, IPC_RMID, 0) != -1 || errno != EPERM)
        _exit(3);
    _exit(0);
}

TEST(shm_segment_of_another_user_is_eacces_and_eperm) {
    int id = OK(track_shm((int)syscall(SYS_shmget, IPC_PRIVATE, 4096L, IPC_CREAT | 0604)));
    int st = kt_in_child(user_shm_access, &id);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

/* ---- /proc/sys/kernel limits and next ids ---------------------------- */

/* Writes `v` to a /proc/sys file: 0, or the errno. */
static int sysctl_write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int n = strlen(text);
    int r = write(fd, text, n) == n ? 0 : errno;
    close(fd);
    return r;
}

static int sysctl_write(const char *path, long v)
{
    char buf[32];
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int n = snprintf(buf, sizeof buf, "%ld\n", v);
    int r = write(fd, buf, n) == n ? 0 : errno;
    close(fd);
    return r;
}

static long sysctl_read(const char *path)
{
    char buf[32] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -2;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? strtol(buf, NULL, 10) : -2;
}

TEST(msg_next_id_gives_the_next_queue_its_id_once)
{
    const char *p = "/proc/sys/kernel/msg_next_id";
    EXPECT_EQ(sysctl_read(p), -1);
    int e = sysctl_write(p, 32768 * 2 + 77);
    if (e == EROFS || e == EACCES || e == EPERM)
        SKIP("%s not writable here: %s", p, kt_errstr(e));
    CHECK(e == 0, "write %s: %s", p, kt_errstr(e));
    int id = OK(msgget(IPC_PRIVATE, 0600 | IPC_CREAT));
    EXPECT_EQ(sysctl_read(p), -1);
    msgctl(id, IPC_RMID, NULL);
    EXPECT_EQ(id, 32768 * 2 + 77);
    EXPECT_EQ(sysctl_write(p, -1), EINVAL);
}

TEST(shmmax_bounds_new_segments)
{
    const char *p = "/proc/sys/kernel/shmmax";
    /* Kept as text: the default (ULONG_MAX - 2^24) does not fit a long. */
    char old[32] = {0};
    int fd = OK(open(p, O_RDONLY));
    long n = read(fd, old, sizeof old - 1);
    close(fd);
    CHECK(n > 0, "read %s", p);
    int e = sysctl_write(p, 8192);
    if (e == EROFS || e == EACCES || e == EPERM)
        SKIP("%s not writable here: %s", p, kt_errstr(e));
    CHECK(e == 0, "write %s: %s", p, kt_errstr(e));
    errno = 0;
    long r = shmget(IPC_PRIVATE, 8193, 0600 | IPC_CREAT);
    int err = errno;
    int ok = shmget(IPC_PRIVATE, 8192, 0600 | IPC_CREAT);
    sysctl_write_text(p, old);
    if (ok >= 0)
        shmctl(ok, IPC_RMID, NULL);
    CHECK(r == -1 && err == EINVAL, "shmget of 8193 bytes: %ld errno %s", r, kt_errstr(err));
    CHECK(ok >= 0, "shmget of 8192 bytes failed");
    char now[32] = {0};
    fd = OK(open(p, O_RDONLY));
    n = read(fd, now, sizeof now - 1);
    close(fd);
    CHECK(strcmp(now, old) == 0, "shmmax is %s after restoring %s", now, old);
}

TEST(msgmni_bounds_the_number_of_queues)
{
    const char *p = "/proc/sys/kernel/msgmni";
    long old = sysctl_read(p);
    struct msginfo info;
    int used = OK(msgctl(0, MSG_INFO, (struct msqid_ds *)&info));
    (void)used;
    int e = sysctl_write(p, info.msgpool + 1);
    if (e == EROFS || e == EACCES || e == EPERM)
        SKIP("%s not writable here: %s", p, kt_errstr(e));
    CHECK(e == 0, "write %s: %s", p, kt_errstr(e));
    int a = msgget(IPC_PRIVATE, 0600 | IPC_CREAT);
    errno = 0;
    int b = msgget(IPC_PRIVATE, 0600 | IPC_CREAT);
    int err = errno;
    sysctl_write(p, old);
    if (a >= 0)
        msgctl(a, IPC_RMID, NULL);
    if (b >= 0)
        msgctl(b, IPC_RMID, NULL);
    CHECK(a >= 0, "the last queue the limit allows failed");
    CHECK(b == -1 && err == ENOSPC, "one past msgmni: %d errno %s", b, kt_errstr(err));
}

int main(void)
{
    KT_BEGIN();
    RUN_IPC(msgget_private_makes_a_new_queue_each_time);
    RUN_IPC(msgget_missing_key_without_creat_is_enoent);
    RUN_IPC(msgget_existing_key_finds_it_and_excl_is_eexist);
    RUN_IPC(msgsnd_then_msgrcv_moves_type_and_text);
    RUN_IPC(msgrcv_type_selects_first_exact_or_lowest);
    RUN_IPC(msgrcv_nothing_matching_with_nowait_is_enomsg);
    RUN_IPC(msgrcv_buffer_too_small_is_e2big_and_msg_noerror_truncates);
    RUN_IPC(msgsnd_bad_type_or_size_is_einval);
    RUN_IPC(msgsnd_and_msgrcv_bad_pointers_are_efault);
    RUN_IPC(msgsnd_to_a_full_queue_with_nowait_is_eagain);
    RUN_IPC(msgrcv_blocked_wakes_when_a_child_sends);
    RUN_IPC(msgsnd_blocked_on_a_full_queue_wakes_when_a_child_receives);
    RUN_IPC(msgrcv_blocked_when_the_queue_is_removed_is_eidrm);
    RUN_IPC(msgrcv_blocked_interrupted_by_a_handler_is_eintr_even_with_sa_restart);
    RUN_IPC(msgctl_ipc_set_changes_mode_and_rmid_frees_the_id);
    RUN_IPC(msgctl_bad_command_id_or_buffer_is_einval_or_efault);
    RUN_IPC(msgctl_ipc_info_gives_linux_limits);
    RUN_IPC(msg_queue_of_another_user_is_eacces_and_eperm);
    RUN_IPC(proc_sysvipc_lists_objects_and_sysctls_show_limits);
    RUN_IPC(semget_counts_are_checked);
    RUN_IPC(semop_changes_values_and_setval_getall_agree);
    RUN_IPC(semop_would_block_with_nowait_is_eagain_and_changes_nothing);
    RUN_IPC(semop_argument_errors);
    RUN_IPC(semtimedop_timeout_is_eagain);
    RUN_IPC(semop_blocked_wakes_on_increment_and_counts_in_getncnt);
    RUN_IPC(semop_wait_for_zero_counts_in_getzcnt);
    RUN_IPC(sem_undo_is_applied_when_the_process_exits);
    RUN_IPC(semop_blocked_when_the_set_is_removed_is_eidrm);
    RUN_IPC(semop_blocked_interrupted_by_a_handler_is_eintr);
    RUN_IPC(sem_set_of_another_user_is_eacces_and_eperm);
    RUN_IPC(semctl_ipc_set_changes_mode_and_ipc_info_gives_limits);
    RUN_IPC(shmget_sizes_and_keys_are_checked);
    RUN_IPC(shmget_hugetlb_without_huge_pages_is_enomem);
    RUN_IPC(shmat_memory_is_shared_with_a_forked_child_and_counted);
    RUN_IPC(shmat_address_rules);
    RUN_IPC(shm_rdonly_attachment_faults_on_write);
    RUN_IPC(shm_rmid_waits_for_the_last_detach);
    RUN_IPC(shm_rmid_then_exit_frees_the_segment);
    RUN_IPC(shmctl_ipc_set_info_and_bad_arguments);
    RUN_IPC(shm_segment_of_another_user_is_eacces_and_eperm);
    RUN(msg_next_id_gives_the_next_queue_its_id_once);
    RUN(shmmax_bounds_new_segments);
    RUN(msgmni_bounds_the_number_of_queues);
    return KT_END();
}

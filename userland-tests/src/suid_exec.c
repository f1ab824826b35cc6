/*
 * suid_exec.c - what execve does to credentials: set-user-ID and
 * set-group-ID programs (the effective and saved ids, AT_SECURE, no longer
 * dumpable), the mounts and flags that switch them off (MS_NOSUID,
 * no_new_privs), and what every exec does (saved ids follow the effective
 * ones; the process becomes dumpable again unless its ids differ or it
 * could not read the program).
 *
 * Each case copies this test program onto a fresh tmpfs, gives the copy an
 * owner and a mode, and runs it from a child that dropped to uid and gid
 * 1001; the copy, run as "prog --report", prints its ids, AT_SECURE,
 * PR_GET_DUMPABLE and its effective capabilities on a pipe. Needs root
 * (SKIP otherwise).
 */
#define KT_AREA "suid_exec"
#include "kt.h"

#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/prctl.h>

/* ---- the program's report ------------------------------------------------ */

/* capget(2)'s structures, version 3. */
struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

struct report {
    unsigned uid, euid, suid, gid, egid, sgid;
    unsigned long secure;
    int dumpable;
    unsigned cap_eff;
};

static int report(void)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_getresuid, &r, &e, &s) || syscall(SYS_getresgid, &gr, &ge, &gs) ||
        syscall(SYS_capget, &h, d))
        return 1;
    printf("%u %u %u %u %u %u %lu %d %u\n", r, e, s, gr, ge, gs, getauxval(AT_SECURE),
           prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), d[0].effective);
    return 0;
}

/* ---- running a copy ------------------------------------------------------ */

/* What /proc/sys/fs/suid_dumpable says (0, Linux's default, if absent): the
 * dumpable value of a process whose ids differ. */
static int suid_dumpable(void)
{
    int v = 0;
    FILE *f = fopen("/proc/sys/fs/suid_dumpable", "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* A tmpfs (mount flags `flags`) on a fresh directory holding a copy of this
 * program, "prog", owned by uid:gid with `mode`. Returns its path or NULL. */
static const char *copy_program(unsigned long flags, uid_t uid, gid_t gid, mode_t mode)
{
    const char *dir = kt_tmpdir();
    if (!dir || chmod(dir, 0755) != 0 || mount("tmpfs", dir, "tmpfs", flags, "mode=0755") != 0)
        return NULL;
    static char prog[PATH_MAX];
    snprintf(prog, sizeof prog, "%s/prog", dir);
    int in = open("/proc/self/exe", O_RDONLY);
    int out = open(prog, O_WRONLY | O_CREAT | O_TRUNC, 0700);
    char buf[65536];
    ssize_t n = 0;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) {
            n = -1;
            break;
        }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    /* chown clears the set-id bits, so the mode comes after it. */
    if (in < 0 || out < 0 || n != 0 || chown(prog, uid, gid) != 0 || chmod(prog, mode) != 0) {
        umount2(dir, MNT_DETACH);
        return NULL;
    }
    return prog;
}

enum { AS_1001 = 1, NO_NEW_PRIVS = 2, NOT_DUMPABLE = 4, RESUID_1001_1002_1003 = 8 };

/* Runs `prog --report` from a child set up as `how` says; 0 with *r filled,
 * else -1. Unmounts the program's tmpfs after. */
static int run_copy(const char *prog, int how, struct report *r)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        gid_t none[1] = {0};
        if (how & AS_1001) {
            if (syscall(SYS_setgroups, 0, none) || syscall(SYS_setresgid, 1001, 1001, 1001) ||
                syscall(SYS_setresuid, 1001, 1001, 1001))
                _exit(101);
        }
        if (how & RESUID_1001_1002_1003) {
            if (syscall(SYS_setgroups, 0, none) || syscall(SYS_setresgid, 1001, 1001, 1001) ||
                syscall(SYS_setresuid, 1001, 1002, 1003))
                _exit(102);
        }
        if ((how & NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
            _exit(103);
        if ((how & NOT_DUMPABLE) && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
            _exit(104);
        char *argv[] = {(char *)prog, "--report", NULL};
        execve(prog, argv, (char *[]){NULL});
        _exit(105);
    }
    close(p[1]);
    char buf[256] = {0};
    ssize_t n = 0, k;
    while (pid > 0 && n < (ssize_t)sizeof buf - 1 && (k = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += k;
    close(p[0]);
    int st = -1;
    if (pid > 0)
        waitpid(pid, &st, 0);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", prog);
    *strrchr(dir, '/') = 0;
    umount2(dir, MNT_DETACH);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return sscanf(buf, "%u %u %u %u %u %u %lu %d %u", &r->uid, &r->euid, &r->suid, &r->gid,
                  &r->egid, &r->sgid, &r->secure, &r->dumpable, &r->cap_eff) == 9
               ? 0
               : -1;
}

#define NEED_ROOT()                                                           \
    do {                                                                      \
        if (geteuid() != 0)                                                   \
            SKIP("needs root");                                               \
    } while (0)

#define EXPECT_IDS(r, u, eu, su, g, eg, sg)                                   \
    CHECK((r).uid == (u) && (r).euid == (eu) && (r).suid == (su) && (r).gid == (g) &&         \
              (r).egid == (eg) && (r).sgid == (sg),                                           \
          "ids %u/%u/%u %u/%u/%u, expected %u/%u/%u %u/%u/%u", (r).uid, (r).euid, (r).suid,   \
          (r).gid, (r).egid, (r).sgid, u, eu, su, g, eg, sg)

/* Copies this program (mount flags, owner, group, mode), runs the copy as `how`
 * says and reads its report into `r`; skips without root. */
#define EXEC_COPY(r, mnt, uid, gid, mode, how)                                \
    do {                                                                      \
        NEED_ROOT();                                                          \
        const char *prog_ = copy_program(mnt, uid, gid, mode);                \
        CHECK(prog_, "copying the program failed");                           \
        CHECK(run_copy(prog_, how, &(r)) == 0, "the program did not report"); \
    } while (0)

/* ---- cases ------------------------------------------------------------- */

TEST(setuid_program_runs_with_its_owner_as_effective_and_saved_uid) {
    struct report r;
    EXEC_COPY(r, 0, 1000, 1000, 04755, AS_1001);
    EXPECT_IDS(r, 1001, 1000, 1000, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 1);
    EXPECT_EQ(r.dumpable, suid_dumpable());
    EXPECT_EQ(r.cap_eff, 0);
}

TEST(setgid_program_with_group_exec_sets_effective_and_saved_gid) {
    struct report r;
    EXEC_COPY(r, 0, 1000, 1000, 02755, AS_1001);
    EXPECT_IDS(r, 1001, 1001, 1001, 1001, 1000, 1000);
    EXPECT_EQ(r.secure, 1);
    EXPECT_EQ(r.dumpable, suid_dumpable());
}

TEST(setgid_bit_without_group_exec_changes_nothing) {
    struct report r;
    EXEC_COPY(r, 0, 1000, 1000, 02745, AS_1001);
    EXPECT_IDS(r, 1001, 1001, 1001, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 0);
    EXPECT_EQ(r.dumpable, 1);
}

TEST(setuid_root_program_gets_root_and_its_capabilities) {
    struct report r;
    EXEC_COPY(r, 0, 0, 0, 04755, AS_1001);
    EXPECT_IDS(r, 1001, 0, 0, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 1);
    CHECK(r.cap_eff & (1u << 21), "effective capabilities %#x lack CAP_SYS_ADMIN", r.cap_eff);
}

TEST(nosuid_mount_ignores_set_user_and_group_id_bits) {
    struct report r;
    EXEC_COPY(r, MS_NOSUID, 1000, 1000, 06755, AS_1001);
    EXPECT_IDS(r, 1001, 1001, 1001, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 0);
    EXPECT_EQ(r.dumpable, 1);
}

TEST(no_new_privs_ignores_set_user_and_group_id_bits) {
    struct report r;
    EXEC_COPY(r, 0, 1000, 1000, 06755, AS_1001 | NO_NEW_PRIVS);
    EXPECT_IDS(r, 1001, 1001, 1001, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 0);
}

TEST(every_exec_sets_the_saved_uid_to_the_effective_uid) {
    struct report r;
    EXEC_COPY(r, 0, 0, 0, 0755, RESUID_1001_1002_1003);
    EXPECT_IDS(r, 1001, 1002, 1002, 1001, 1001, 1001);
    /* Effective and real ids differ: a secure exec, not dumpable. */
    EXPECT_EQ(r.secure, 1);
    EXPECT_EQ(r.dumpable, suid_dumpable());
}

TEST(plain_exec_makes_the_process_dumpable_again) {
    struct report r;
    EXEC_COPY(r, 0, 0, 0, 0755, NOT_DUMPABLE);
    EXPECT_IDS(r, 0, 0, 0, 0, 0, 0);
    EXPECT_EQ(r.secure, 0);
    EXPECT_EQ(r.dumpable, 1);
}

TEST(unreadable_program_leaves_the_process_not_dumpable) {
    struct report r;
    EXEC_COPY(r, 0, 0, 0, 0711, AS_1001);
    EXPECT_IDS(r, 1001, 1001, 1001, 1001, 1001, 1001);
    EXPECT_EQ(r.secure, 0);
    EXPECT_EQ(r.dumpable, suid_dumpable());
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--report"))
        return report();
    KT_BEGIN();
    RUN(setuid_program_runs_with_its_owner_as_effective_and_saved_uid);
    RUN(setgid_program_with_group_exec_sets_effective_and_saved_gid);
    RUN(setgid_bit_without_group_exec_changes_nothing);
    RUN(setuid_root_program_gets_root_and_its_capabilities);
    RUN(nosuid_mount_ignores_set_user_and_group_id_bits);
    RUN(no_new_privs_ignores_set_user_and_group_id_bits);
    RUN(every_exec_sets_the_saved_uid_to_the_effective_uid);
    RUN(plain_exec_makes_the_process_dumpable_again);
    RUN(unreadable_program_leaves_the_process_not_dumpable);
    return KT_END();
}

/* Core dumps: a process killed by a signal whose default action dumps core
 * (SIGABRT, SIGSEGV, SIGQUIT...) writes an ELF core file named by
 * /proc/sys/kernel/core_pattern when RLIMIT_CORE allows at least a page, and
 * its wait status has the core bit (WCOREDUMP) exactly when a file was made.
 * The file holds a PT_NOTE (NT_PRSTATUS with the registers, NT_PRPSINFO...) and
 * a PT_LOAD per memory area; MADV_DONTDUMP areas and what coredump_filter
 * leaves out have no bytes in it.
 *
 * Every case points core_pattern at its own temporary directory and puts the
 * old pattern back afterwards. */
#define KT_AREA "coredump"
#include "kt.h"

#include <elf.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define CORE_PATTERN "/proc/sys/kernel/core_pattern"
#define CORE_USES_PID "/proc/sys/kernel/core_uses_pid"

static char saved_pattern[256];
static char saved_uses_pid[16];

static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

static int write_text(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void save_settings(void)
{
    read_text(CORE_PATTERN, saved_pattern, sizeof saved_pattern);
    read_text(CORE_USES_PID, saved_uses_pid, sizeof saved_uses_pid);
}

static void restore_settings(void)
{
    write_text(CORE_PATTERN, saved_pattern);
    write_text(CORE_USES_PID, saved_uses_pid);
}

/* Points core_pattern at `dir`/`pattern`. */
static int set_pattern(const char *dir, const char *pattern)
{
    char buf[300];
    snprintf(buf, sizeof buf, "%s/%s\n", dir, pattern);
    return write_text(CORE_PATTERN, buf);
}

struct child_args {
    rlim_t core_limit;
    int sig;
    int dumpable; /* -1: leave it */
    void *dontdump; /* MADV_DONTDUMP this page-aligned area first */
    size_t dontdump_len;
    const char *filter; /* written to /proc/self/coredump_filter */
};

static void die_by_signal(void *arg)
{
    struct child_args *a = arg;
    struct rlimit r = {a->core_limit, a->core_limit};
    if (setrlimit(RLIMIT_CORE, &r) != 0)
        _exit(90);
    if (a->dumpable >= 0 && prctl(PR_SET_DUMPABLE, a->dumpable, 0, 0, 0) != 0)
        _exit(91);
    if (a->dontdump && madvise(a->dontdump, a->dontdump_len, MADV_DONTDUMP) != 0)
        _exit(92);
    if (a->filter && write_text("/proc/self/coredump_filter", a->filter) != 0)
        _exit(93);
    signal(a->sig, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigaddset(&all, a->sig);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    kill(getpid(), a->sig);
    _exit(94);
}

/* Runs a child that kills itself with `a->sig`; returns its pid and status. */
static pid_t run_child(struct child_args *a, int *status)
{
    pid_t pid = fork();
    if (pid == 0)
        die_by_signal(a);
    if (pid > 0)
        waitpid(pid, status, 0);
    return pid;
}

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    char *buf = malloc(st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, st.st_size - got);
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    *len = got;
    return buf;
}

/* The NT_PRSTATUS note's contents, or NULL. */
static const char *find_note(const char *core, size_t len, unsigned type, size_t *desc_len)
{
    const Elf64_Ehdr *eh = (const void *)core;
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const void *)(core + eh->e_phoff + i * sizeof(Elf64_Phdr));
        if (ph->p_type != PT_NOTE || ph->p_offset + ph->p_filesz > len)
            continue;
        size_t at = ph->p_offset, end = ph->p_offset + ph->p_filesz;
        while (at + 12 <= end) {
            const Elf64_Nhdr *n = (const void *)(core + at);
            size_t name = at + 12;
            size_t desc = name + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == type && memcmp(core + name, "CORE", 4) == 0) {
                *desc_len = n->n_descsz;
                return core + desc;
            }
            at = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    return NULL;
}

TEST(abort_writes_elf_core_with_prstatus_and_sets_core_bit) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core.%p") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, NULL};
    int st;
    pid_t pid = run_child(&a, &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child: %s", kt_status(st));
    CHECK(WCOREDUMP(st), "no core bit: %s", kt_status(st));
    char name[64];
    snprintf(name, sizeof name, "core.%d", pid);
    size_t len;
    char *core = read_file(kt_path(d, name), &len);
    CHECK(core, "no %s: %s", name, kt_errstr(errno));
    const Elf64_Ehdr *eh = (const void *)core;
    CHECK(len >= sizeof *eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0, "not ELF");
    EXPECT_EQ(eh->e_ident[EI_CLASS], ELFCLASS64);
    EXPECT_EQ(eh->e_type, ET_CORE);
    EXPECT_EQ(eh->e_machine, EM_X86_64);
    EXPECT_EQ(eh->e_phentsize, sizeof(Elf64_Phdr));
    int loads = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const void *)(core + eh->e_phoff + i * sizeof(Elf64_Phdr));
        if (ph->p_type == PT_LOAD) {
            loads++;
            CHECK(ph->p_filesz == 0 || ph->p_filesz == ph->p_memsz, "partial PT_LOAD");
            CHECK(ph->p_offset + ph->p_filesz <= len, "PT_LOAD past the end");
        }
    }
    CHECK(loads > 0, "no PT_LOAD");
    size_t dl = 0;
    const char *prs = find_note(core, len, NT_PRSTATUS, &dl);
    CHECK(prs, "no NT_PRSTATUS note");
    EXPECT_EQ(dl, 336);
    int signo, pr_pid;
    short cursig;
    memcpy(&signo, prs, 4);
    memcpy(&cursig, prs + 12, 2);
    memcpy(&pr_pid, prs + 32, 4);
    EXPECT_EQ(signo, SIGABRT);
    EXPECT_EQ(cursig, SIGABRT);
    EXPECT_EQ(pr_pid, pid);
    const char *psi = find_note(core, len, NT_PRPSINFO, &dl);
    CHECK(psi, "no NT_PRPSINFO note");
    EXPECT_EQ(dl, 136);
    CHECK(strncmp(psi + 40, "coredump", 16) == 0, "pr_fname %.16s", psi + 40);
    CHECK(find_note(core, len, NT_AUXV, &dl) && dl > 0, "no NT_AUXV note");
    free(core);
}

TEST(core_file_is_mode_0600_owned_by_the_process) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    mode_t old = umask(0);
    struct child_args a = {RLIM_INFINITY, SIGQUIT, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    umask(old);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGQUIT && WCOREDUMP(st), "child: %s",
          kt_status(st));
    struct stat s;
    OK(stat(kt_path(d, "core"), &s));
    EXPECT_EQ(s.st_mode & 07777, 0600);
    EXPECT_EQ(s.st_uid, getuid());
    CHECK(S_ISREG(s.st_mode), "not a regular file");
}

TEST(rlimit_core_zero_writes_nothing_and_no_core_bit) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    struct child_args a = {0, SIGABRT, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child: %s", kt_status(st));
    CHECK(!WCOREDUMP(st), "core bit set with RLIMIT_CORE 0");
    EXPECT_ERRNO(access(kt_path(d, "core"), F_OK), ENOENT);
}

TEST(rlimit_core_below_a_page_writes_nothing) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    struct child_args a = {4095, SIGSEGV, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child: %s", kt_status(st));
    CHECK(!WCOREDUMP(st), "core bit set with RLIMIT_CORE 4095");
    EXPECT_ERRNO(access(kt_path(d, "core"), F_OK), ENOENT);
}

TEST(rlimit_core_of_a_page_caps_the_file_but_sets_core_bit) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    struct child_args a = {4096, SIGABRT, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "child: %s", kt_status(st));
    CHECK(WCOREDUMP(st), "no core bit with RLIMIT_CORE 4096");
    struct stat s;
    OK(stat(kt_path(d, "core"), &s));
    CHECK(s.st_size <= 4096, "core is %lld bytes, limit 4096", (long long)s.st_size);
}

TEST(terminating_signal_without_core_action_dumps_nothing) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    int sigs[] = {SIGTERM, SIGUSR1, SIGKILL, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct child_args a = {RLIM_INFINITY, sigs[i], -1, NULL, 0, NULL};
        int st;
        run_child(&a, &st);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i] && !WCOREDUMP(st), "signal %d: %s",
              sigs[i], kt_status(st));
    }
    EXPECT_ERRNO(access(kt_path(d, "core"), F_OK), ENOENT);
}

TEST(every_core_signal_sets_core_bit) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core.%s") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    int sigs[] = {SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ,
                  SIGSYS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct child_args a = {4096, sigs[i], -1, NULL, 0, NULL};
        int st;
        run_child(&a, &st);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i] && WCOREDUMP(st), "signal %d: %s",
              sigs[i], kt_status(st));
        char name[32];
        snprintf(name, sizeof name, "core.%d", sigs[i]);
        OK(access(kt_path(d, name), F_OK));
    }
}

TEST(not_dumpable_process_writes_no_core) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    struct child_args a = {RLIM_INFINITY, SIGABRT, 0, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !WCOREDUMP(st), "child: %s",
          kt_status(st));
    EXPECT_ERRNO(access(kt_path(d, "core"), F_OK), ENOENT);
}

TEST(core_uses_pid_appends_the_pid_when_the_pattern_has_none) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "dump") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    CHECK(write_text(CORE_USES_PID, "1\n") == 0, "cannot write core_uses_pid");
    char buf[16];
    CHECK(read_text(CORE_USES_PID, buf, sizeof buf) > 0 && buf[0] == '1', "reads %s", buf);
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, NULL};
    int st;
    pid_t pid = run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    char name[32];
    snprintf(name, sizeof name, "dump.%d", pid);
    OK(access(kt_path(d, name), F_OK));
    EXPECT_ERRNO(access(kt_path(d, "dump"), F_OK), ENOENT);
}

TEST(core_pattern_expands_specifiers_and_reads_back) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "c-%e-%s-%u-%%") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    char buf[300], want[300];
    snprintf(want, sizeof want, "%s/c-%%e-%%s-%%u-%%%%\n", d);
    CHECK(read_text(CORE_PATTERN, buf, sizeof buf) > 0 && strcmp(buf, want) == 0,
          "core_pattern reads '%s', wrote '%s'", buf, want);
    struct child_args a = {RLIM_INFINITY, SIGSEGV, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    char name[64];
    snprintf(name, sizeof name, "c-coredump-%d-%d-%%", SIGSEGV, (int)getuid());
    OK(access(kt_path(d, name), F_OK));
}

TEST(existing_core_file_is_replaced) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    CHECK(kt_write_file(kt_path(d, "core"), "old contents", 12) == 0, "write failed");
    OK(link(kt_path(d, "core"), kt_path(d, "other-name")));
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, NULL};
    int st;
    run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    char buf[64];
    CHECK(read_text(kt_path(d, "core"), buf, 5) == 4 && memcmp(buf, ELFMAG, 4) == 0,
          "core is not an ELF file");
    /* The other name still has the old file: the core is a new file. */
    CHECK(read_text(kt_path(d, "other-name"), buf, sizeof buf) > 0 &&
              strcmp(buf, "old contents") == 0,
          "the old file was written through");
}

#define MARK_LEN 0x500

static char *marked_area(size_t *len)
{
    *len = 2 * 4096;
    char *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    m[0] = 'x';
    memset(m + 1, 'q', MARK_LEN);
    m[MARK_LEN + 1] = 'z';
    return m;
}

/* Looks for the mark without ever holding a copy of it in memory (a copy
 * would be in the child's core too). */
static int core_has_mark(const char *path, int *found)
{
    size_t len;
    char *core = read_file(path, &len);
    if (!core)
        return -1;
    *found = 0;
    for (size_t i = 0; i + MARK_LEN + 2 <= len && !*found; i++) {
        if (core[i] != 'x')
            continue;
        size_t q = 0;
        while (q < MARK_LEN && core[i + 1 + q] == 'q')
            q++;
        *found = q == MARK_LEN && core[i + 1 + MARK_LEN] == 'z';
    }
    free(core);
    return 0;
}

TEST(madv_dontdump_area_is_left_out_and_dodump_brings_it_back) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core.%p") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    size_t len;
    char *m = marked_area(&len);
    CHECK(m, "mmap failed");
    /* Without advice the marked bytes are in the core. */
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, NULL};
    int st, found = 0;
    pid_t pid = run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    char name[32];
    snprintf(name, sizeof name, "core.%d", pid);
    CHECK(core_has_mark(kt_path(d, name), &found) == 0 && found, "mark missing from a plain core");
    /* MADV_DONTDUMP: not there. */
    a.dontdump = m;
    a.dontdump_len = len;
    pid = run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    snprintf(name, sizeof name, "core.%d", pid);
    CHECK(core_has_mark(kt_path(d, name), &found) == 0 && !found, "MADV_DONTDUMP area dumped");
    /* MADV_DODUMP undoes it (in this process, then a child dumps). */
    OK(madvise(m, len, MADV_DONTDUMP));
    OK(madvise(m, len, MADV_DODUMP));
    a.dontdump = NULL;
    pid = run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    snprintf(name, sizeof name, "core.%d", pid);
    CHECK(core_has_mark(kt_path(d, name), &found) == 0 && found, "MADV_DODUMP area missing");
    munmap(m, len);
}

TEST(madv_dontdump_is_inherited_by_fork) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    size_t len;
    char *m = marked_area(&len);
    CHECK(m, "mmap failed");
    OK(madvise(m, len, MADV_DONTDUMP));
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, NULL};
    int st, found = 1;
    run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    CHECK(core_has_mark(kt_path(d, "core"), &found) == 0 && !found, "MADV_DONTDUMP area dumped");
    munmap(m, len);
}

TEST(madv_dontdump_on_unmapped_range_is_enomem) {
    size_t len = 3 * 4096;
    char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed");
    OK(munmap(m + 4096, 4096));
    EXPECT_ERRNO(madvise(m, len, MADV_DONTDUMP), ENOMEM);
    EXPECT_ERRNO(madvise(m, len, MADV_DODUMP), ENOMEM);
    EXPECT_ERRNO(madvise(m + 1, 4096, MADV_DONTDUMP), EINVAL);
    munmap(m, len);
}

TEST(coredump_filter_defaults_to_33_and_takes_hex) {
    char buf[32];
    CHECK(read_text("/proc/self/coredump_filter", buf, sizeof buf) > 0, "cannot read");
    /* The default (nobody up the process tree changed it). */
    CHECK(strcmp(buf, "00000033\n") == 0, "reads %s", buf);
    pid_t pid = fork();
    if (pid == 0) {
        if (write_text("/proc/self/coredump_filter", "0x7\n") != 0)
            _exit(1);
        if (read_text("/proc/self/coredump_filter", buf, sizeof buf) <= 0 ||
            strcmp(buf, "00000007\n") != 0)
            _exit(2);
        if (write_text("/proc/self/coredump_filter", "0x3ff\n") != 0)
            _exit(3);
        /* Only the filter's bits are kept. */
        if (read_text("/proc/self/coredump_filter", buf, sizeof buf) <= 0 ||
            strcmp(buf, "000001ff\n") != 0)
            _exit(4);
        if (write_text("/proc/self/coredump_filter", "bogus\n") == 0)
            _exit(5);
        /* Inherited by a child. */
        pid_t c = fork();
        if (c == 0) {
            char b[32];
            _exit(read_text("/proc/self/coredump_filter", b, sizeof b) > 0 &&
                          strcmp(b, "000001ff\n") == 0
                      ? 0
                      : 1);
        }
        int st;
        waitpid(c, &st, 0);
        _exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 6);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

TEST(coredump_filter_zero_leaves_anonymous_memory_out) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    size_t len;
    char *m = marked_area(&len);
    CHECK(m, "mmap failed");
    struct child_args a = {RLIM_INFINITY, SIGABRT, -1, NULL, 0, "0\n"};
    int st, found = 1;
    run_child(&a, &st);
    CHECK(WCOREDUMP(st), "child: %s", kt_status(st));
    CHECK(core_has_mark(kt_path(d, "core"), &found) == 0 && !found, "anonymous memory dumped");
    munmap(m, len);
}

static void die_with_big_sparse_mapping(void *arg)
{
    const char *dir = arg;
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &r) != 0 || chdir(dir) != 0)
        _exit(90);
    /* 1 GiB of anonymous memory, three pages of it touched. */
    size_t len = 1UL << 30;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        _exit(91);
    m[0] = 1;
    m[len / 2] = 2;
    m[len - 1] = 3;
    signal(SIGABRT, SIG_DFL);
    abort();
}

TEST(untouched_anonymous_memory_is_a_hole_in_the_core) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    CHECK(set_pattern(d, "core") == 0, "cannot write core_pattern: %s", kt_errstr(errno));
    /* kt_in_child turns core dumps off: fork by hand. */
    pid_t pid = fork();
    if (pid == 0)
        die_with_big_sparse_mapping((void *)d);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && WCOREDUMP(st), "child: %s",
          kt_status(st));
    struct stat s;
    OK(stat(kt_path(d, "core"), &s));
    CHECK(s.st_size > (1L << 30), "core is only %lld bytes", (long long)s.st_size);
    /* The untouched gigabyte takes no room. */
    CHECK(s.st_blocks * 512LL < (64LL << 20), "core takes %lld bytes",
          (long long)s.st_blocks * 512);
}

TEST(core_pattern_write_needs_root_privileges) {
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534) != 0)
            _exit(10);
        int fd = open(CORE_PATTERN, O_WRONLY);
        _exit(fd < 0 && errno == EACCES ? 0 : 11);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", kt_status(st));
}

#define RUNC(name)                                                             \
    do {                                                                       \
        save_settings();                                                       \
        RUN(name);                                                             \
        restore_settings();                                                    \
    } while (0)

int main(void)
{
    KT_BEGIN();
    RUNC(abort_writes_elf_core_with_prstatus_and_sets_core_bit);
    RUNC(core_file_is_mode_0600_owned_by_the_process);
    RUNC(rlimit_core_zero_writes_nothing_and_no_core_bit);
    RUNC(rlimit_core_below_a_page_writes_nothing);
    RUNC(rlimit_core_of_a_page_caps_the_file_but_sets_core_bit);
    RUNC(terminating_signal_without_core_action_dumps_nothing);
    RUNC(every_core_signal_sets_core_bit);
    RUNC(not_dumpable_process_writes_no_core);
    RUNC(core_uses_pid_appends_the_pid_when_the_pattern_has_none);
    RUNC(core_pattern_expands_specifiers_and_reads_back);
    RUNC(existing_core_file_is_replaced);
    RUNC(madv_dontdump_area_is_left_out_and_dodump_brings_it_back);
    RUNC(madv_dontdump_is_inherited_by_fork);
    RUNC(madv_dontdump_on_unmapped_range_is_enomem);
    RUNC(coredump_filter_defaults_to_33_and_takes_hex);
    RUNC(coredump_filter_zero_leaves_anonymous_memory_out);
    RUNC(untouched_anonymous_memory_is_a_hole_in_the_core);
    RUNC(core_pattern_write_needs_root_privileges);
    return KT_END();
}

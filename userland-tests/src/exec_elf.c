/* execve of ELF files and #! scripts: what is accepted, which errno each
 * malformed file gets, and what the new program finds on its stack.
 *
 * The ELF files are written at run time by a tiny builder below: a static
 * x86-64 program of one PT_LOAD whose code is `exit(code)`, which each case
 * then breaks in one way. Every execve runs in a forked child that exits with
 * the errno; the parent checks that number (or the exit code / signal of the
 * program when the exec succeeds or Linux fails after the point of no return,
 * where the process is killed with SIGSEGV instead of execve returning).
 *
 * Some cases exec this test binary itself (found through /proc/self/exe) in a
 * "child mode" selected by the environment, to look at argv and the auxv.
 */
#define KT_AREA "exec_elf"
#include "kt.h"

#include <signal.h>
#include <sys/auxv.h>

#ifndef AT_EXECFN
#define AT_EXECFN 31
#endif

extern char **environ;

#define CHILD_MODE "KT_EXEC_ELF_CHILD"
#define CHILD_OUT "KT_EXEC_ELF_OUT"
#define CHILD_FN "KT_EXEC_ELF_FN"

/* ---- a tiny ELF64 writer ---------------------------------------------- */

#define PT_NULL_ 0
#define PT_LOAD_ 1
#define PT_INTERP_ 3
#define PF_X_ 1
#define PF_W_ 2
#define PF_R_ 4

#define BASE 0x400000ULL
#define CODE_OFF 0x200
#define INTERP_OFF 0x300
#define IMG_LEN 0x400
#define TASK_SIZE_ 0x7ffffffff000ULL

struct elf {
    unsigned char b[0x2000];
    size_t len;
    uint64_t phoff;
    int phnum;
};

static void put16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static unsigned char *elf_ph(struct elf *e, int i) { return e->b + e->phoff + 56 * (size_t)i; }

static void elf_set_ph(struct elf *e, int i, uint32_t type, uint32_t flags, uint64_t off,
                       uint64_t vaddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
    unsigned char *p = elf_ph(e, i);
    put32(p, type);
    put32(p + 4, flags);
    put64(p + 8, off);
    put64(p + 16, vaddr);
    put64(p + 24, vaddr);
    put64(p + 32, filesz);
    put64(p + 40, memsz);
    put64(p + 48, align);
}

static int elf_add_ph(struct elf *e, uint32_t type, uint32_t flags, uint64_t off,
                      uint64_t vaddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
    int i = e->phnum++;
    elf_set_ph(e, i, type, flags, off, vaddr, filesz, memsz, align);
    put16(e->b + 56, (uint16_t)e->phnum);
    return i;
}

/* An ET_EXEC loaded at `base` whose entry does exit(code). */
static void elf_exit(struct elf *e, uint64_t base, int code)
{
    static const unsigned char prog[] = {
        0xbf, 0, 0, 0, 0,             /* mov edi, code */
        0xb8, 60, 0, 0, 0,            /* mov eax, SYS_exit */
        0x0f, 0x05,                   /* syscall */
    };
    memset(e, 0, sizeof *e);
    e->len = IMG_LEN;
    e->phoff = 64;
    memcpy(e->b, "\x7f" "ELF", 4);
    e->b[4] = 2; /* ELFCLASS64 */
    e->b[5] = 1; /* ELFDATA2LSB */
    e->b[6] = 1; /* EV_CURRENT */
    put16(e->b + 16, 2);  /* ET_EXEC */
    put16(e->b + 18, 62); /* EM_X86_64 */
    put32(e->b + 20, 1);
    put64(e->b + 24, base + CODE_OFF);
    put64(e->b + 32, e->phoff);
    put16(e->b + 52, 64);
    put16(e->b + 54, 56);
    memcpy(e->b + CODE_OFF, prog, sizeof prog);
    put32(e->b + CODE_OFF + 1, (uint32_t)code);
    elf_add_ph(e, PT_LOAD_, PF_R_ | PF_X_, 0, base, IMG_LEN, IMG_LEN, 0x1000);
}

/* Adds a PT_INTERP naming `path` (with its NUL) at INTERP_OFF + slot * 0x40. */
static void elf_add_interp(struct elf *e, const char *path, int slot)
{
    size_t n = strlen(path) + 1;
    uint64_t off = INTERP_OFF + 0x40 * (uint64_t)slot;
    memcpy(e->b + off, path, n);
    elf_add_ph(e, PT_INTERP_, PF_R_, off, BASE + off, n, n, 1);
}

static int write_exec(const char *path, const void *data, size_t len)
{
    if (kt_write_file(path, data, len) != 0)
        return -1;
    return chmod(path, 0755);
}

static int elf_write(struct elf *e, const char *path) { return write_exec(path, e->b, e->len); }

/* ---- running execve in a child ---------------------------------------- */

/*
 * Forks; the child (optionally with RLIMIT_STACK = stack_rlimit) execs path and
 * _exits with errno if execve returns. Returns the raw wait status, or -1.
 */
static int exec_status_rl(const char *path, char *const argv[], char *const envp[],
                          long stack_rlimit)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        if (stack_rlimit > 0) {
            rl.rlim_cur = rl.rlim_max = (rlim_t)stack_rlimit;
            setrlimit(RLIMIT_STACK, &rl);
        }
        syscall(SYS_execve, path, argv, envp);
        _exit(errno);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

static int exec_status(const char *path)
{
    char *argv[] = {(char *)path, NULL};
    char *envp[] = {NULL};
    return exec_status_rl(path, argv, envp, 0);
}

/* "exited 8 (ENOEXEC(8))", "killed by signal 11" ... */
static const char *describe(int st)
{
    static char buf[96];
    if (st != -1 && WIFEXITED(st))
        snprintf(buf, sizeof buf, "exited %d (as errno: %s)", WEXITSTATUS(st),
                 kt_errstr(WEXITSTATUS(st)));
    else
        snprintf(buf, sizeof buf, "%s", kt_status(st));
    return buf;
}

#define EXPECT_STATUS_EXIT(st, code, what)                                     \
    CHECK((st) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == (code),            \
          "%s: %s, expected exit %d", what, describe(st), code)

#define EXPECT_EXEC_ERRNO(path, err)                                           \
    do {                                                                       \
        int st_ = exec_status(path);                                           \
        CHECK(st_ != -1 && WIFEXITED(st_) && WEXITSTATUS(st_) == (err),        \
              "execve: %s, expected errno %s", describe(st_), kt_errstr(err)); \
    } while (0)

#define EXPECT_EXEC_EXIT(path, code)                                           \
    do {                                                                       \
        int st_ = exec_status(path);                                           \
        EXPECT_STATUS_EXIT(st_, code, "execve");                               \
    } while (0)

/* Linux notices these only after begin_new_exec(): the process gets SIGSEGV. */
#define EXPECT_EXEC_SIGSEGV(path)                                              \
    do {                                                                       \
        int st_ = exec_status(path);                                           \
        CHECK(st_ != -1 && WIFSIGNALED(st_) && WTERMSIG(st_) == SIGSEGV,       \
              "execve: %s, expected killed by SIGSEGV", describe(st_));        \
    } while (0)

/* Builds an exit(42) ELF in a fresh temp dir, lets `mutate` break it, writes it. */
#define WRITE_ELF(e, path)                                                     \
    const char *dir_ = kt_tmpdir();                                            \
    CHECK(dir_, "kt_tmpdir failed");                                           \
    const char *path = kt_path(dir_, "prog");                                  \
    OK(elf_write(&(e), path))

static struct elf E; /* too big for comfort on the stack of every case */

/* ---- well-formed programs --------------------------------------------- */

TEST(minimal_static_elf_runs) {
    elf_exit(&E, BASE, 42);
    WRITE_ELF(E, p);
    EXPECT_EXEC_EXIT(p, 42);
}

TEST(et_dyn_without_interp_runs_at_a_chosen_base) {
    elf_exit(&E, 0, 42);
    put16(E.b + 16, 3); /* ET_DYN, vaddr 0: the kernel picks the base */
    WRITE_ELF(E, p);
    EXPECT_EXEC_EXIT(p, 42);
}

/* Linux's binfmt_elf checks only the magic, e_type and e_machine of e_ident
 * and the header: EI_CLASS, EI_DATA and EI_VERSION are never looked at. */
TEST(elf_class_and_data_bytes_are_not_checked) {
    elf_exit(&E, BASE, 42);
    E.b[4] = 1; /* ELFCLASS32 */
    E.b[5] = 2; /* ELFDATA2MSB */
    E.b[6] = 0; /* EV_NONE */
    put32(E.b + 20, 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_EXIT(p, 42);
}

/* 73 * 56 = 4088 bytes of program headers: the most that fits ELF_MIN_ALIGN. */
TEST(phdr_table_of_73_entries_runs) {
    elf_exit(&E, BASE, 42);
    E.len = 0x1400;
    E.phoff = 0x400;
    put64(E.b + 32, E.phoff);
    E.phnum = 0;
    elf_add_ph(&E, PT_LOAD_, PF_R_ | PF_X_, 0, BASE, E.len, E.len, 0x1000);
    while (E.phnum < 73)
        elf_add_ph(&E, PT_NULL_, 0, 0, 0, 0, 0, 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_EXIT(p, 42);
}

/* The PT_INTERP program runs instead of the executable (its exit code shows). */
TEST(pt_interp_program_runs_first) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_EXIT(prog, 43);
}

/* load_elf_binary stops at the first PT_INTERP; later ones are ignored. */
TEST(only_the_first_pt_interp_counts) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    OK(elf_write(&E, interp));
    char good[128];
    snprintf(good, sizeof good, "%s", interp);

    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, good, 0);
    elf_add_interp(&E, "/nonexistent/ld.so", 1);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_EXIT(prog, 43);

    const char *prog2 = kt_path(d, "prog2");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/nonexistent/ld.so", 0);
    elf_add_interp(&E, good, 1);
    OK(elf_write(&E, prog2));
    EXPECT_EXEC_ERRNO(prog2, ENOENT);
}

/* ---- malformed ELF files: execve returns an error --------------------- */

TEST(empty_file_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *p = kt_path(d, "empty");
    OK(write_exec(p, "", 0));
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(garbage_file_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *p = kt_path(d, "garbage");
    static const char junk[] = "this is not a program\n\x01\x02\x03";
    OK(write_exec(p, junk, sizeof junk));
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(truncated_header_is_enoexec) {
    elf_exit(&E, BASE, 42);
    E.len = 18; /* e_ident and e_type; e_machine and the rest read as zeros */
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

/* A real 32-bit header: EM_386 is not this kernel's machine (and with
 * phnum 0 not even ia32 emulation would take it). */
TEST(elf32_i386_header_is_enoexec) {
    memset(&E, 0, sizeof E);
    memcpy(E.b, "\x7f" "ELF\x01\x01\x01", 7);
    put16(E.b + 16, 2);  /* ET_EXEC */
    put16(E.b + 18, 3);  /* EM_386 */
    put32(E.b + 20, 1);
    put32(E.b + 24, 0x08048000);
    put32(E.b + 28, 52); /* e_phoff */
    put16(E.b + 40, 52); /* e_ehsize */
    put16(E.b + 42, 32); /* e_phentsize */
    E.len = 128;
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(wrong_machine_is_enoexec) {
    elf_exit(&E, BASE, 42);
    put16(E.b + 18, 183); /* EM_AARCH64 */
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(et_rel_is_enoexec) {
    elf_exit(&E, BASE, 42);
    put16(E.b + 16, 1);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(et_core_is_enoexec) {
    elf_exit(&E, BASE, 42);
    put16(E.b + 16, 4);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(wrong_phentsize_is_enoexec) {
    elf_exit(&E, BASE, 42);
    put16(E.b + 54, 64);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(zero_phnum_is_enoexec) {
    elf_exit(&E, BASE, 42);
    put16(E.b + 56, 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(phdr_table_over_4096_bytes_is_enoexec) {
    elf_exit(&E, BASE, 42);
    E.len = 0x1400;
    E.phoff = 0x400;
    put64(E.b + 32, E.phoff);
    E.phnum = 0;
    elf_add_ph(&E, PT_LOAD_, PF_R_ | PF_X_, 0, BASE, E.len, E.len, 0x1000);
    while (E.phnum < 74)
        elf_add_ph(&E, PT_NULL_, 0, 0, 0, 0, 0, 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

/* load_elf_phdrs() turns the short read (-EIO) into "no phdrs": ENOEXEC. */
TEST(phdrs_beyond_eof_are_enoexec) {
    elf_exit(&E, BASE, 42);
    put64(E.b + 32, E.len - 20);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(missing_pt_interp_target_is_enoent) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/nonexistent/ld-kestrel.so", 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOENT);
}

TEST(pt_interp_not_nul_terminated_is_enoexec) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/bin/sh", 0);
    put64(elf_ph(&E, 1) + 32, 7); /* p_filesz without the NUL */
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(pt_interp_of_one_byte_is_enoexec) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "", 0);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

TEST(pt_interp_longer_than_path_max_is_enoexec) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/bin/sh", 0);
    put64(elf_ph(&E, 1) + 32, PATH_MAX + 1);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, ENOEXEC);
}

/* The PT_INTERP string is read with elf_read(): a short read is -EIO. */
TEST(pt_interp_beyond_eof_is_eio) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/bin/sh", 0);
    put64(elf_ph(&E, 1) + 8, E.len - 4);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, EIO);
}

/* "\0\0": a NUL-terminated empty path. open_exec("") does not fail the
 * lookup: it resolves to the current directory, which cannot be executed. */
TEST(empty_pt_interp_path_is_eacces) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "", 0);
    put64(elf_ph(&E, 1) + 32, 2);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, EACCES);
}

/* kernel_read() refuses a position that is negative as a loff_t: -EINVAL. */
TEST(pt_interp_at_negative_file_offset_is_einval) {
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, "/bin/sh", 0);
    put64(elf_ph(&E, 1) + 8, 1ULL << 63);
    WRITE_ELF(E, p);
    EXPECT_EXEC_ERRNO(p, EINVAL);
}

/* The path is the C string at p_offset: only the last byte must be NUL. */
TEST(pt_interp_path_ends_at_its_first_nul) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    unsigned char *ph = elf_ph(&E, 1);
    size_t n = strlen(interp) + 1;
    memcpy(E.b + INTERP_OFF + n, "junk", 5);
    put64(ph + 32, n + 5);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_EXIT(prog, 43);
}

TEST(pt_interp_that_is_not_elf_is_elibbad) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    static char text[200];
    memset(text, 'x', sizeof text);
    OK(write_exec(interp, text, sizeof text));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_ERRNO(prog, ELIBBAD);
}

TEST(pt_interp_for_another_machine_is_elibbad) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    put16(E.b + 18, 183);
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_ERRNO(prog, ELIBBAD);
}

/* The interpreter's header is read with elf_read(): shorter than 64 bytes is -EIO. */
TEST(pt_interp_shorter_than_a_header_is_eio) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    E.len = 40;
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_ERRNO(prog, EIO);
}

TEST(pt_interp_with_bad_phdrs_is_elibbad) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    put16(E.b + 54, 32);
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_ERRNO(prog, ELIBBAD);
}

TEST(pt_interp_without_exec_permission_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    OK(elf_write(&E, interp));
    OK(chmod(interp, 0644));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_ERRNO(prog, EACCES);
}

/* ---- malformed ELF files that Linux only notices after the point of no
 * return: the old image is gone, so the process dies with SIGSEGV -------- */

TEST(filesz_above_memsz_kills_with_sigsegv) {
    elf_exit(&E, BASE, 42);
    put64(elf_ph(&E, 0) + 40, 0x100); /* p_memsz < p_filesz */
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

TEST(segment_above_task_size_kills_with_sigsegv) {
    elf_exit(&E, BASE, 42);
    put64(elf_ph(&E, 0) + 16, TASK_SIZE_);
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

TEST(segment_wrapping_the_address_space_kills_with_sigsegv) {
    elf_exit(&E, BASE, 42);
    put64(elf_ph(&E, 0) + 40, ~0ULL - 0x1000);
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

/* mmap() refuses a file offset that is not page aligned: p_offset and p_vaddr
 * must agree modulo the page size. */
TEST(offset_not_congruent_to_vaddr_kills_with_sigsegv) {
    elf_exit(&E, BASE, 42);
    put64(elf_ph(&E, 0) + 16, BASE + 0x10);
    put64(E.b + 24, BASE + 0x10 + CODE_OFF);
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

TEST(entry_above_task_size_kills_with_sigsegv) {
    elf_exit(&E, BASE, 42);
    put64(E.b + 24, TASK_SIZE_ + 0x1000);
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

/* Nothing to map: the exec succeeds and the first instruction faults. */
TEST(no_load_segment_faults_at_entry) {
    elf_exit(&E, BASE, 42);
    put32(elf_ph(&E, 0), PT_NULL_);
    WRITE_ELF(E, p);
    EXPECT_EXEC_SIGSEGV(p);
}

TEST(interp_without_load_segment_kills_with_sigsegv) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *interp = kt_path(d, "ld");
    elf_exit(&E, 0x800000, 43);
    put32(elf_ph(&E, 0), PT_NULL_);
    OK(elf_write(&E, interp));
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    elf_add_interp(&E, interp, 0);
    OK(elf_write(&E, prog));
    EXPECT_EXEC_SIGSEGV(prog);
}

/* ---- permissions ------------------------------------------------------ */

TEST(file_without_exec_permission_is_eacces) {
    elf_exit(&E, BASE, 42);
    WRITE_ELF(E, p);
    OK(chmod(p, 0644));
    EXPECT_EXEC_ERRNO(p, EACCES);
}

TEST(directory_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    EXPECT_EXEC_ERRNO(d, EACCES);
}

/* ---- #! scripts ------------------------------------------------------- */

static int write_script(const char *path, const char *text)
{
    return write_exec(path, text, strlen(text));
}

TEST(shebang_script_with_argument_runs) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    OK(write_script(s, "#!/bin/sh -e\nexit 5\n"));
    EXPECT_EXEC_EXIT(s, 5);
}

TEST(shebang_without_newline_runs) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    OK(elf_write(&E, prog));
    char text[256];
    snprintf(text, sizeof text, "#! \t%s", prog);
    OK(write_script(s, text));
    EXPECT_EXEC_EXIT(s, 42);
}

TEST(shebang_missing_interpreter_is_enoent) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    OK(write_script(s, "#!/nonexistent/interpreter arg\nexit 0\n"));
    EXPECT_EXEC_ERRNO(s, ENOENT);
}

TEST(shebang_interpreter_without_exec_permission_is_eacces) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *prog = kt_path(d, "prog");
    elf_exit(&E, BASE, 42);
    OK(elf_write(&E, prog));
    OK(chmod(prog, 0644));
    const char *s = kt_path(d, "script");
    char text[256];
    snprintf(text, sizeof text, "#!%s\n", prog);
    OK(write_script(s, text));
    EXPECT_EXEC_ERRNO(s, EACCES);
}

TEST(empty_shebang_line_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    OK(write_script(s, "#!\nexit 0\n"));
    EXPECT_EXEC_ERRNO(s, ENOEXEC);
    OK(write_script(s, "#! \t \n"));
    EXPECT_EXEC_ERRNO(s, ENOEXEC);
}

/* A file of just "#!": the line ends at the NUL padding of the 256-byte buffer,
 * which binfmt_script takes as an empty interpreter path, not a missing one.
 * open_exec("") resolves to the current directory, which cannot be executed. */
TEST(bare_shebang_names_the_empty_path) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    OK(write_script(s, "#!"));
    EXPECT_EXEC_ERRNO(s, EACCES);
}

/* Only space, tab, NUL and newline end the name: a DOS line ending is kept. */
TEST(shebang_carriage_return_is_part_of_the_name) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    OK(write_script(s, "#!/bin/sh\r\nexit 0\r\n"));
    EXPECT_EXEC_ERRNO(s, ENOENT);
}

/* No newline, space, tab or NUL in the first 256 bytes: the interpreter path
 * may be cut short, so Linux refuses it. */
TEST(shebang_with_truncated_interpreter_is_enoexec) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    char text[400];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = 0;
    text[0] = '#';
    text[1] = '!';
    text[2] = '/';
    text[380] = '\n';
    OK(write_script(s, text));
    EXPECT_EXEC_ERRNO(s, ENOEXEC);
}

/* s1 -> s2 -> ... -> /bin/sh. exec_binprm() allows five rewrites. */
static int make_chain(const char *d, int scripts)
{
    char text[PATH_MAX + 16], name[16];
    for (int i = 1; i <= scripts; i++) {
        snprintf(name, sizeof name, "s%d", i);
        if (i == scripts)
            snprintf(text, sizeof text, "#!/bin/sh\nexit 7\n");
        else
            snprintf(text, sizeof text, "#!%s/s%d\n", d, i + 1);
        if (write_script(kt_path(d, name), text) != 0)
            return -1;
    }
    return 0;
}

TEST(script_interpreted_by_a_script_runs) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    OK(make_chain(d, 2));
    EXPECT_EXEC_EXIT(kt_path(d, "s1"), 7);
}

TEST(five_nested_scripts_run) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    OK(make_chain(d, 5));
    EXPECT_EXEC_EXIT(kt_path(d, "s1"), 7);
}

TEST(six_nested_scripts_are_eloop) {
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    OK(make_chain(d, 6));
    EXPECT_EXEC_ERRNO(kt_path(d, "s1"), ELOOP);
}

/* ---- what the new program sees (this binary, re-executed) ------------- */

static char self[PATH_MAX];

/* Reads a file of NUL-separated strings written by the "dump" child mode. */
static int read_dump(const char *path, char *buf, size_t cap, const char **v, int maxv)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    int c = 0;
    for (ssize_t i = 0; i < n && c < maxv; c++) {
        v[c] = buf + i;
        i += (ssize_t)strlen(buf + i) + 1;
    }
    return c;
}

TEST(shebang_argument_is_one_string_with_inner_spaces) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    const char *out = kt_path(d, "out");
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#! %s \t one  two \t \nrest\n", self);
    OK(write_script(s, text));

    char outenv[PATH_MAX + 32];
    snprintf(outenv, sizeof outenv, CHILD_OUT "=%s", out);
    char *argv[] = {"zero", "x", "y", NULL};
    char *envp[] = {CHILD_MODE "=dump", outenv, NULL};
    int st = exec_status_rl(s, argv, envp, 0);
    EXPECT_STATUS_EXIT(st, 0, "script");

    static char buf[4096];
    const char *v[8];
    int n = read_dump(out, buf, sizeof buf, v, 8);
    EXPECT_EQ(n, 5);
    CHECK(!strcmp(v[0], self), "argv[0] = \"%s\", expected the interpreter", v[0]);
    CHECK(!strcmp(v[1], "one  two"), "argv[1] = \"%s\", expected \"one  two\"", v[1]);
    CHECK(!strcmp(v[2], s), "argv[2] = \"%s\", expected the script path", v[2]);
    CHECK(!strcmp(v[3], "x") && !strcmp(v[4], "y"), "argv[3..] = \"%s\" \"%s\"", v[3], v[4]);
}

/* "#!interp " and the end of the file: binfmt_script looks for the argument past
 * the blank and finds the NUL padding, so it passes an empty argument. */
TEST(shebang_trailing_blank_at_end_of_file_passes_an_empty_argument) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    const char *out = kt_path(d, "out");
    char text[PATH_MAX + 8];
    snprintf(text, sizeof text, "#!%s ", self);
    OK(write_script(s, text));

    char outenv[PATH_MAX + 32];
    snprintf(outenv, sizeof outenv, CHILD_OUT "=%s", out);
    char *argv[] = {"zero", NULL};
    char *envp[] = {CHILD_MODE "=dump", outenv, NULL};
    int st = exec_status_rl(s, argv, envp, 0);
    EXPECT_STATUS_EXIT(st, 0, "script");

    static char buf[4096];
    const char *v[8];
    int n = read_dump(out, buf, sizeof buf, v, 8);
    EXPECT_EQ(n, 3);
    CHECK(!strcmp(v[1], ""), "argv[1] = \"%s\", expected \"\"", v[1]);
    CHECK(!strcmp(v[2], s), "argv[2] = \"%s\", expected the script path", v[2]);
}

/* The interpreter fits in 256 bytes but the argument does not: the argument is
 * cut at byte 255 (the interpreter can re-read the script for the rest). */
TEST(shebang_argument_past_256_bytes_is_truncated) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    const char *d = kt_tmpdir();
    CHECK(d, "kt_tmpdir failed");
    const char *s = kt_path(d, "script");
    const char *out = kt_path(d, "out");
    char text[PATH_MAX + 600];
    int n0 = snprintf(text, sizeof text, "#!%s ", self);
    CHECK(n0 < 200, "self path too long for this case");
    memset(text + n0, 'A', 400);
    strcpy(text + n0 + 400, "\nrest\n");
    OK(write_script(s, text));

    char outenv[PATH_MAX + 32];
    snprintf(outenv, sizeof outenv, CHILD_OUT "=%s", out);
    char *argv[] = {"zero", NULL};
    char *envp[] = {CHILD_MODE "=dump", outenv, NULL};
    int st = exec_status_rl(s, argv, envp, 0);
    EXPECT_STATUS_EXIT(st, 0, "script");

    static char buf[4096];
    const char *v[8];
    int n = read_dump(out, buf, sizeof buf, v, 8);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(strlen(v[1]), 255 - n0);
    CHECK(strspn(v[1], "A") == strlen(v[1]), "argument is not all 'A'");
}

TEST(new_program_sees_argv_envp_and_auxv) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    char fnenv[PATH_MAX + 32];
    snprintf(fnenv, sizeof fnenv, CHILD_FN "=%s", self);
    char *argv[] = {"first", "", "third arg", NULL};
    char *envp[] = {CHILD_MODE "=auxv", fnenv, "Z=1", NULL};
    int st = exec_status_rl(self, argv, envp, 0);
    EXPECT_STATUS_EXIT(st, 0, "self exec (exit code = failed check number)");
}

/* Since Linux 5.18 an empty argv becomes { "" }. */
TEST(empty_argv_becomes_one_empty_string) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    char *argv[] = {NULL};
    char *envp[] = {CHILD_MODE "=argc0", NULL};
    int st = exec_status_rl(self, argv, envp, 0);
    EXPECT_STATUS_EXIT(st, 0, "self exec with argv = {NULL}");
}

/* ---- argument size limits --------------------------------------------- */

#define MAX_ARG_STRLEN_ (32 * 4096)

TEST(argument_of_max_arg_strlen_runs_and_one_more_is_e2big) {
    elf_exit(&E, BASE, 42);
    WRITE_ELF(E, p);
    char *big = malloc(MAX_ARG_STRLEN_ + 1);
    CHECK(big, "malloc failed");
    memset(big, 'b', MAX_ARG_STRLEN_);
    big[MAX_ARG_STRLEN_ - 1] = 0; /* 131071 chars + NUL = MAX_ARG_STRLEN */
    char *argv[] = {(char *)p, big, NULL};
    char *envp[] = {NULL};
    int st1 = exec_status_rl(p, argv, envp, 0);
    big[MAX_ARG_STRLEN_ - 1] = 'b';
    big[MAX_ARG_STRLEN_] = 0;
    int st2 = exec_status_rl(p, argv, envp, 0);
    char *envb[] = {big, NULL};
    char *argv1[] = {(char *)p, NULL};
    int st3 = exec_status_rl(p, argv1, envb, 0);
    free(big);
    EXPECT_STATUS_EXIT(st1, 42, "argument of MAX_ARG_STRLEN bytes");
    EXPECT_STATUS_EXIT(st2, E2BIG, "argument of MAX_ARG_STRLEN + 1 bytes");
    EXPECT_STATUS_EXIT(st3, E2BIG, "environment string of MAX_ARG_STRLEN + 1 bytes");
}

/*
 * With RLIMIT_STACK = 1 MiB the strings may use 1 MiB / 4 = 256 KiB minus one
 * pointer per argv/envp entry. The strings are the file name, then envp, then
 * argv, each with its NUL. Exactly the limit runs; one byte more is E2BIG.
 */
TEST(argument_total_is_limited_to_a_quarter_of_the_stack_rlimit) {
    elf_exit(&E, BASE, 42);
    WRITE_ELF(E, p);
    const long rlim = 1 << 20;
    size_t budget = (size_t)rlim / 4 - 4 * sizeof(void *); /* argc 3, envc 1 */
    size_t used = strlen(p) + 1 + 4 /* "A=1" */ + strlen(p) + 1;
    char *big = malloc(budget);
    CHECK(big, "malloc failed");
    size_t len = budget - used - 1; /* string bytes, NUL not counted */
    CHECK(len < MAX_ARG_STRLEN_ * 2, "budget arithmetic");
    /* Two strings, each at most MAX_ARG_STRLEN with the NUL. */
    size_t a = len / 2, b = len - a - 1; /* b + 1 for a's NUL */
    memset(big, 'c', budget);
    char *s1 = big, *s2 = big + a + 1;
    s1[a] = 0;
    s2[b] = 0;
    char *argv[] = {(char *)p, s1, s2, NULL};
    char *envp[] = {"A=1", NULL};
    int fits = exec_status_rl(p, argv, envp, rlim);
    s2[b] = 'c';
    s2[b + 1] = 0;
    int over = exec_status_rl(p, argv, envp, rlim);
    free(big);
    EXPECT_STATUS_EXIT(fits, 42, "strings exactly at the limit");
    EXPECT_STATUS_EXIT(over, E2BIG, "strings one byte over the limit");
}

/* ---- child modes ------------------------------------------------------ */

static int child_dump(int argc, char **argv)
{
    const char *out = getenv(CHILD_OUT);
    if (!out)
        return 100;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 101;
    for (int i = 0; i < argc; i++)
        if (write(fd, argv[i], strlen(argv[i]) + 1) < 0)
            return 102;
    close(fd);
    return 0;
}

static int child_auxv(int argc, char **argv)
{
    const char *fn = getenv(CHILD_FN);
    if (argc != 3 || strcmp(argv[0], "first") || strcmp(argv[1], "") ||
        strcmp(argv[2], "third arg") || argv[3] != NULL)
        return 1;
    if (!fn || !getenv("Z") || strcmp(getenv("Z"), "1"))
        return 2;
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    if (!execfn || strcmp(execfn, fn))
        return 3;
    if (getauxval(AT_PAGESZ) != 4096)
        return 4;
    const char *plat = (const char *)getauxval(AT_PLATFORM);
    if (!plat || strcmp(plat, "x86_64"))
        return 5;
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    if (!rnd)
        return 6;
    /* The strings sit above the pointers and the auxv: argv[0] < envp[0] < execfn. */
    if (!(argv[0] < argv[2] && argv[2] < environ[0] && environ[0] < execfn))
        return 7;
    /* The random bytes and platform string lie between the auxv and the strings. */
    if (!((const char *)rnd > (const char *)&environ[3] && (const char *)rnd < argv[0]))
        return 8;
    if (getauxval(AT_PHENT) != 56 || getauxval(AT_PHNUM) == 0 || getauxval(AT_PHDR) == 0)
        return 9;
    if (getauxval(AT_ENTRY) == 0)
        return 10;
    if (getauxval(AT_UID) != getuid() || getauxval(AT_EUID) != geteuid() ||
        getauxval(AT_GID) != getgid() || getauxval(AT_EGID) != getegid())
        return 11;
    if (getauxval(AT_SECURE) != 0)
        return 12;
    /* The execfn string ends 8 bytes below the top of the stack, which is
     * page aligned. */
    uintptr_t top = (uintptr_t)execfn + strlen(execfn) + 1 + 8;
    if (top % 4096 != 0)
        return 13;
    return 0;
}

/* A running program's file cannot be opened for writing (ETXTBSY), and a
 * file open for writing cannot be run (Linux before 6.11; Kestrel reports
 * 6.8). Once the program has exited, the file is writable again. */
static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    int out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (in < 0 || out < 0)
        return -1;
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            return -1;
    close(in);
    close(out);
    return n < 0 ? -1 : 0;
}

TEST(running_program_is_etxtbsy_to_writers_and_written_file_to_exec) {
    if (kt_find_self(self, sizeof self) != 0)
        SKIP("/proc/self/exe is not available");
    const char *d = kt_tmpdir();
    const char *prog = kt_path(d, "prog");
    OK(copy_file(self, prog));
    int ctl[2];
    OK(pipe(ctl));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(ctl[0]);
        dup2(ctl[1], 3);
        char *argv[] = {"prog", NULL};
        char *envp[] = {CHILD_MODE "=pause", NULL};
        execve(prog, argv, envp);
        _exit(127);
    }
    close(ctl[1]);
    char c = 0;
    EXPECT_EQ(read(ctl[0], &c, 1), 1); /* the program runs */
    close(ctl[0]);
    EXPECT_ERRNO(open(prog, O_WRONLY), ETXTBSY);
    EXPECT_ERRNO(truncate(prog, 0), ETXTBSY);
    EXPECT_ERRNO(open(prog, O_RDWR), ETXTBSY);
    int r = open(prog, O_RDONLY);
    CHECK(r >= 0, "read-only open: %s", kt_errstr(errno));
    close(r);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int w = OK(open(prog, O_WRONLY));
    /* and while it is open for writing, it cannot be run */
    char *argv[] = {"prog", NULL};
    char *envp[] = {CHILD_MODE "=argc0", NULL};
    EXPECT_ERRNO(execve(prog, argv, envp), ETXTBSY);
    close(w);
}

int main(int argc, char **argv)
{
    const char *mode = getenv(CHILD_MODE);
    if (mode && !strcmp(mode, "dump"))
        return child_dump(argc, argv);
    if (mode && !strcmp(mode, "auxv"))
        return child_auxv(argc, argv);
    if (mode && !strcmp(mode, "pause")) {
        if (write(3, "r", 1) != 1)
            return 1;
        for (;;)
            pause();
    }
    if (mode && !strcmp(mode, "argc0"))
        return argc == 1 && argv[0] && argv[0][0] == 0 && argv[1] == NULL ? 0 : 1;

    KT_BEGIN();
    RUN(minimal_static_elf_runs);
    RUN(et_dyn_without_interp_runs_at_a_chosen_base);
    RUN(elf_class_and_data_bytes_are_not_checked);
    RUN(phdr_table_of_73_entries_runs);
    RUN(pt_interp_program_runs_first);
    RUN(only_the_first_pt_interp_counts);

    RUN(empty_file_is_enoexec);
    RUN(garbage_file_is_enoexec);
    RUN(truncated_header_is_enoexec);
    RUN(elf32_i386_header_is_enoexec);
    RUN(wrong_machine_is_enoexec);
    RUN(et_rel_is_enoexec);
    RUN(et_core_is_enoexec);
    RUN(wrong_phentsize_is_enoexec);
    RUN(zero_phnum_is_enoexec);
    RUN(phdr_table_over_4096_bytes_is_enoexec);
    RUN(phdrs_beyond_eof_are_enoexec);
    RUN(missing_pt_interp_target_is_enoent);
    RUN(pt_interp_not_nul_terminated_is_enoexec);
    RUN(pt_interp_of_one_byte_is_enoexec);
    RUN(pt_interp_longer_than_path_max_is_enoexec);
    RUN(pt_interp_beyond_eof_is_eio);
    RUN(empty_pt_interp_path_is_eacces);
    RUN(pt_interp_at_negative_file_offset_is_einval);
    RUN(pt_interp_path_ends_at_its_first_nul);
    RUN(pt_interp_that_is_not_elf_is_elibbad);
    RUN(pt_interp_for_another_machine_is_elibbad);
    RUN(pt_interp_shorter_than_a_header_is_eio);
    RUN(pt_interp_with_bad_phdrs_is_elibbad);
    RUN(pt_interp_without_exec_permission_is_eacces);

    RUN(filesz_above_memsz_kills_with_sigsegv);
    RUN(segment_above_task_size_kills_with_sigsegv);
    RUN(segment_wrapping_the_address_space_kills_with_sigsegv);
    RUN(offset_not_congruent_to_vaddr_kills_with_sigsegv);
    RUN(entry_above_task_size_kills_with_sigsegv);
    RUN(no_load_segment_faults_at_entry);
    RUN(interp_without_load_segment_kills_with_sigsegv);

    RUN(file_without_exec_permission_is_eacces);
    RUN(directory_is_eacces);

    RUN(shebang_script_with_argument_runs);
    RUN(shebang_without_newline_runs);
    RUN(shebang_missing_interpreter_is_enoent);
    RUN(shebang_interpreter_without_exec_permission_is_eacces);
    RUN(empty_shebang_line_is_enoexec);
    RUN(bare_shebang_names_the_empty_path);
    RUN(shebang_carriage_return_is_part_of_the_name);
    RUN(shebang_with_truncated_interpreter_is_enoexec);
    RUN(script_interpreted_by_a_script_runs);
    RUN(five_nested_scripts_run);
    RUN(six_nested_scripts_are_eloop);
    RUN(shebang_argument_is_one_string_with_inner_spaces);
    RUN(shebang_trailing_blank_at_end_of_file_passes_an_empty_argument);
    RUN(shebang_argument_past_256_bytes_is_truncated);
    RUN(new_program_sees_argv_envp_and_auxv);
    RUN(empty_argv_becomes_one_empty_string);

    RUN(argument_of_max_arg_strlen_runs_and_one_more_is_e2big);
    RUN(argument_total_is_limited_to_a_quarter_of_the_stack_rlimit);
    RUN(running_program_is_etxtbsy_to_writers_and_written_file_to_exec);
    return KT_END();
}

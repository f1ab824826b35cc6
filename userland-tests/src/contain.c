/*
 * contain: limits that keep one program from taking the system down. A fork
 * bomb stops at RLIMIT_NPROC; a full tmpfs says ENOSPC (SIGBUS through a shared
 * mapping); a tmpfs, and a root file system that is one, holds at most half of
 * memory; the system's thread limit is visible. Runs as root on the host and
 * on Kestrel.
 */
#define KT_AREA "contain"
#include "kt.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>

#define TMPFS_MAGIC_ 0x01021994

/* In a child that became an unprivileged user with RLIMIT_NPROC = 16: forks
 * until fork fails, then reports how many it made and the errno. */
static void nproc_child(int out)
{
    struct rlimit rl = {16, 16};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        _exit(2);
    int made = 0, err = 0;
    pid_t kids[64];
    while (made < 64) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            err = errno;
            break;
        }
        kids[made++] = p;
    }
    int r[2] = {made, err};
    if (write(out, r, sizeof r) != sizeof r)
        _exit(3);
    for (int i = 0; i < made; i++)
        kill(kids[i], SIGKILL);
    for (int i = 0; i < made; i++)
        waitpid(kids[i], NULL, 0);
    _exit(0);
}

TEST(fork_bomb_stops_at_rlimit_nproc_with_eagain) {
    int pipefd[2];
    OK(pipe(pipefd));
    pid_t pid = fork();
    OK(pid);
    if (pid == 0) {
        close(pipefd[0]);
        nproc_child(pipefd[1]);
    }
    close(pipefd[1]);
    int r[2] = {0, 0};
    ssize_t n = read(pipefd[0], r, sizeof r);
    close(pipefd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(n == (ssize_t)sizeof r, "child reported nothing (status %#x)", st);
    /* The limit counts every process of the user, the forking one included. */
    CHECK(r[0] > 0 && r[0] < 16, "made %d processes under RLIMIT_NPROC 16", r[0]);
    CHECK(r[1] == EAGAIN, "fork failed with %s, expected EAGAIN", kt_errname(r[1]));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

TEST(full_tmpfs_is_enospc_and_statfs_counts_its_blocks) {
    const char *dir = kt_tmpdir();
    OK(mount("none", dir, "tmpfs", 0, "size=64k"));
    struct statfs s;
    OK(statfs(dir, &s));
    EXPECT_EQ((long)s.f_blocks * s.f_bsize, 64 * 1024L);
    EXPECT_EQ(s.f_bfree, s.f_blocks);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    OK(fd);
    static char buf[96 * 1024];
    memset(buf, 'x', sizeof buf);
    ssize_t w = write(fd, buf, sizeof buf);
    int e = errno;
    /* A short write up to the size, then ENOSPC. */
    CHECK(w == 64 * 1024, "first write gave %zd (%s)", w, kt_errname(e));
    EXPECT_ERRNO(write(fd, buf, 4096), ENOSPC);
    OK(statfs(dir, &s));
    EXPECT_EQ(s.f_bfree, 0);
    close(fd);
    OK(unlink(path));
    OK(statfs(dir, &s));
    EXPECT_EQ(s.f_bfree, s.f_blocks);
    OK(umount(dir));
}

/* A page of a shared file mapping that the full tmpfs has no room for is SIGBUS
 * for the process that touches it (Linux's shmem fault), not an out-of-memory
 * kill: memory is plentiful, only the file system is full. */
TEST(touching_a_shared_mapping_past_a_full_tmpfs_is_sigbus) {
    const char *dir = kt_tmpdir();
    OK(mount("none", dir, "tmpfs", 0, "size=64k"));
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_CREAT | O_RDWR, 0644);
    OK(fd);
    OK(ftruncate(fd, 256 * 1024));
    char *p = mmap(NULL, 256 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", kt_errname(errno));
    volatile int *touched = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(touched != MAP_FAILED, "mmap: %s", kt_errname(errno));
    *touched = 0;
    pid_t pid = fork();
    OK(pid);
    if (pid == 0) {
        for (int i = 0; i < 64; i++) {
            p[i * 4096] = 1;
            *touched = i + 1;
        }
        _exit(0);
    }
    int st = 0;
    OK(waitpid(pid, &st, 0));
    int n = *touched;
    munmap((void *)touched, 4096);
    munmap(p, 256 * 1024);
    close(fd);
    OK(unlink(path));
    OK(umount(dir));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "child status %#x, expected SIGBUS", st);
    /* Every page the 64 KiB held was written before the one that did not fit. */
    EXPECT_EQ(n, 16);
}

/* A tmpfs without size= holds half of memory (Linux's shmem default); a root
 * file system that is a tmpfs (Kestrel's, Linux's rootfs) has the same size,
 * and what is written to it counts. */
TEST(tmpfs_and_a_tmpfs_root_hold_at_most_half_of_memory) {
    struct sysinfo si;
    OK(sysinfo(&si));
    unsigned long long ram = (unsigned long long)si.totalram * si.mem_unit;
    const char *dir = kt_tmpdir();
    CHECK(dir, "kt_tmpdir failed");
    OK(mount("none", dir, "tmpfs", 0, NULL));
    struct statfs t;
    int r = statfs(dir, &t);
    umount2(dir, MNT_DETACH);
    OK(r);
    unsigned long long size = (unsigned long long)t.f_blocks * t.f_bsize;
    CHECK(size <= ram / 2 && size >= ram / 2 - ram / 100,
          "a tmpfs without size= holds %llu bytes; memory is %llu", size, ram);
    struct statfs root;
    OK(statfs("/", &root));
    CHECK(root.f_blocks > 0 && root.f_bfree <= root.f_blocks && root.f_bavail <= root.f_blocks,
          "statfs(/): blocks %llu free %llu avail %llu", (unsigned long long)root.f_blocks,
          (unsigned long long)root.f_bfree, (unsigned long long)root.f_bavail);
    if ((unsigned long)root.f_type != TMPFS_MAGIC_)
        return; /* a disk: its size is its own */
    unsigned long long rsize = (unsigned long long)root.f_blocks * root.f_bsize;
    CHECK(rsize <= ram / 2 && rsize >= ram / 2 - ram / 100,
          "the tmpfs root holds %llu bytes; memory is %llu", rsize, ram);
    /* What a file takes counts against it at once. */
    struct stat rs, ds;
    OK(stat("/", &rs));
    OK(stat(dir, &ds));
    if (rs.st_dev != ds.st_dev)
        return;
    static char buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    OK(kt_write_file(kt_path(dir, "f"), buf, sizeof buf));
    struct statfs after;
    OK(statfs("/", &after));
    CHECK(root.f_bfree - after.f_bfree >= (sizeof buf) / root.f_bsize,
          "free blocks %llu -> %llu after writing 1 MiB", (unsigned long long)root.f_bfree,
          (unsigned long long)after.f_bfree);
}

TEST(threads_max_is_a_positive_number) {
    int fd = open("/proc/sys/kernel/threads-max", O_RDONLY);
    OK(fd);
    char b[32] = {0};
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    CHECK(n > 0 && atol(b) >= 20, "threads-max reads %s", b);
}

int main(void)
{
    KT_BEGIN();
    RUN(fork_bomb_stops_at_rlimit_nproc_with_eagain);
    RUN(full_tmpfs_is_enospc_and_statfs_counts_its_blocks);
    RUN(touching_a_shared_mapping_past_a_full_tmpfs_is_sigbus);
    RUN(tmpfs_and_a_tmpfs_root_hold_at_most_half_of_memory);
    RUN(threads_max_is_a_positive_number);
    return KT_END();
}

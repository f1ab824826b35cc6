/* Namespaces: unshare(2) and setns(2) with UTS, IPC, mount, PID and time
 * namespaces; the /proc/PID/ns links; /proc/PID/timens_offsets.
 *
 * Every case changes namespaces in a child process (fork), which reports by
 * its exit status, so the runner itself stays in the initial namespaces. */
#define KT_AREA "namespaces"
#include "kt.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* Runs fn in a child; returns its exit status (0: it succeeded), or 255 if
 * it was killed, -1 if fork failed. */
static int in_child(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn());
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* The inode number in a /proc/self/ns link's text ("uts:[4026531838]"), 0 if
 * the text is not of that form for `kind`. */
static unsigned long ns_link_inode(const char *path, const char *kind)
{
    char buf[64];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    size_t k = strlen(kind);
    if (strncmp(buf, kind, k) != 0 || strncmp(buf + k, ":[", 2) != 0)
        return 0;
    char *end;
    unsigned long v = strtoul(buf + k + 2, &end, 10);
    return strcmp(end, "]") == 0 ? v : 0;
}

static long long mono_ns(clockid_t c, int raw_syscall)
{
    struct timespec ts;
    if (raw_syscall)
        syscall(SYS_clock_gettime, c, &ts);
    else
        clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n < 0 ? -1 : 0;
}

/* ---- flags and privilege ---------------------------------------------- */

TEST(unshare_unknown_flag_is_einval) {
    EXPECT_ERRNO(unshare(0x1), EINVAL);
}

static int child_unprivileged_newuts(void)
{
    if (setresuid(65534, 65534, 65534) != 0)
        return 1;
    if (unshare(CLONE_NEWUTS) != -1 || errno != EPERM)
        return 2;
    if (unshare(CLONE_NEWIPC | CLONE_NEWNS) != -1 || errno != EPERM)
        return 3;
    return 0;
}

TEST(unshare_new_namespaces_without_cap_sys_admin_is_eperm) {
    EXPECT_EQ(in_child(child_unprivileged_newuts), 0);
}

TEST(unshare_zero_is_a_no_op) {
    EXPECT_EQ(unshare(0), 0);
}

/* ---- /proc/PID/ns ----------------------------------------------------- */

TEST(ns_link_reads_kind_and_inode_number) {
    static const char *kinds[] = {"ipc", "mnt", "net", "pid", "uts", "user", "cgroup", "time"};
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i]);
        unsigned long ino = ns_link_inode(path, kinds[i]);
        CHECK(ino != 0, "%s does not read as %s:[N]", path, kinds[i]);
        struct stat st;
        OK(stat(path, &st));
        CHECK(st.st_ino == ino, "%s: stat ino %lu, link says %lu", path,
              (unsigned long)st.st_ino, ino);
        CHECK(S_ISREG(st.st_mode), "%s: mode %o", path, st.st_mode);
        OK(lstat(path, &st));
        CHECK(S_ISLNK(st.st_mode), "%s: lstat mode %o", path, st.st_mode);
    }
}

TEST(ns_for_children_links_match_own_before_unshare) {
    EXPECT_EQ(ns_link_inode("/proc/self/ns/pid_for_children", "pid"),
              ns_link_inode("/proc/self/ns/pid", "pid"));
    EXPECT_EQ(ns_link_inode("/proc/self/ns/time_for_children", "time"),
              ns_link_inode("/proc/self/ns/time", "time"));
}

static int child_unshare_changes_only_named_link(void)
{
    unsigned long uts = ns_link_inode("/proc/self/ns/uts", "uts");
    unsigned long ipc = ns_link_inode("/proc/self/ns/ipc", "ipc");
    if (unshare(CLONE_NEWUTS) != 0)
        return 1;
    unsigned long uts2 = ns_link_inode("/proc/self/ns/uts", "uts");
    if (uts2 == 0 || uts2 == uts)
        return 2;
    if (ns_link_inode("/proc/self/ns/ipc", "ipc") != ipc)
        return 3;
    return 0;
}

TEST(unshare_gives_a_new_inode_number_to_that_kind_only) {
    EXPECT_EQ(in_child(child_unshare_changes_only_named_link), 0);
}

/* ---- nsfs ioctls ------------------------------------------------------- */

#define KT_NS_GET_USERNS 0xb701
#define KT_NS_GET_PARENT 0xb702
#define KT_NS_GET_NSTYPE 0xb703
#define KT_NS_GET_OWNER_UID 0xb704

static int kt_uts_fd = -1, kt_user_fd = -1, kt_pid_fd = -1;

static void open_ns_fds(void)
{
    if (kt_uts_fd < 0)
        kt_uts_fd = open("/proc/self/ns/uts", O_RDONLY);
    if (kt_user_fd < 0)
        kt_user_fd = open("/proc/self/ns/user", O_RDONLY);
    if (kt_pid_fd < 0)
        kt_pid_fd = open("/proc/self/ns/pid", O_RDONLY);
}

TEST(ns_ioctl_nstype_and_errors) {
    open_ns_fds();
    CHECK(kt_uts_fd >= 0 && kt_user_fd >= 0 && kt_pid_fd >= 0, "cannot open ns files");
    EXPECT_EQ(ioctl(kt_uts_fd, KT_NS_GET_NSTYPE), CLONE_NEWUTS);
    EXPECT_EQ(ioctl(kt_pid_fd, KT_NS_GET_NSTYPE), CLONE_NEWPID);
    /* UTS namespaces have no hierarchy and no owner uid. */
    EXPECT_ERRNO(ioctl(kt_uts_fd, KT_NS_GET_PARENT), EINVAL);
    uid_t u;
    EXPECT_ERRNO(ioctl(kt_uts_fd, KT_NS_GET_OWNER_UID, &u), EINVAL);
    /* The initial PID and user namespaces have no parent. */
    EXPECT_ERRNO(ioctl(kt_pid_fd, KT_NS_GET_PARENT), EPERM);
    EXPECT_ERRNO(ioctl(kt_user_fd, KT_NS_GET_PARENT), EPERM);
    EXPECT_ERRNO(ioctl(kt_user_fd, KT_NS_GET_USERNS), EPERM);
    /* Other requests on a namespace file are ENOTTY. */
    EXPECT_ERRNO(ioctl(kt_uts_fd, 0xb7ff), ENOTTY);
}

TEST(ns_ioctls_on_other_files_are_enotty) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    static int fd = -1;
    if (fd >= 0)
        close(fd);
    fd = OK(open(d, O_RDONLY));
    EXPECT_ERRNO(ioctl(fd, KT_NS_GET_PARENT), ENOTTY);
    EXPECT_ERRNO(ioctl(fd, KT_NS_GET_NSTYPE), ENOTTY);
}

static int kt_pipe[2];

static int child_in_new_user_ns(void)
{
    /* Made, it tells the parent (the byte), and waits to be killed. */
    if (unshare(CLONE_NEWUSER) != 0)
        return 1;
    if (write(kt_pipe[1], "x", 1) != 1)
        return 2;
    pause();
    return 0;
}

TEST(ns_ioctl_get_userns_and_parent_of_a_new_user_namespace) {
    open_ns_fds();
    struct stat me, got, child;
    OK(fstat(kt_user_fd, &me));
    OK(pipe(kt_pipe));
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(child_in_new_user_ns());
    char c;
    int n = read(kt_pipe[0], &c, 1);
    close(kt_pipe[0]);
    close(kt_pipe[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    int u = n == 1 ? open(path, O_RDONLY) : -1;
    int owner = u >= 0 ? ioctl(u, KT_NS_GET_USERNS) : -1;
    int parent = u >= 0 ? ioctl(u, KT_NS_GET_PARENT) : -1;
    uid_t uid = 12345;
    int r_uid = u >= 0 ? ioctl(u, KT_NS_GET_OWNER_UID, &uid) : -1;
    int cloexec = owner >= 0 ? fcntl(owner, F_GETFD) & FD_CLOEXEC : 0;
    int got_ok = owner >= 0 && fstat(owner, &got) == 0 && got.st_ino == me.st_ino;
    int child_ok = u >= 0 && fstat(u, &child) == 0 && child.st_ino != me.st_ino;
    int parent_ok = parent >= 0 && fstat(parent, &got) == 0 && got.st_ino == me.st_ino;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (owner >= 0)
        close(owner);
    if (parent >= 0)
        close(parent);
    if (u >= 0)
        close(u);
    CHECK(u >= 0, "cannot open %s", path);
    CHECK(got_ok, "NS_GET_USERNS did not give the creator's user namespace");
    CHECK(cloexec, "the descriptor is not close-on-exec");
    CHECK(child_ok, "the child's user namespace is the creator's");
    CHECK(parent_ok, "NS_GET_PARENT did not give the creator's user namespace");
    EXPECT_EQ(r_uid, 0);
    EXPECT_EQ(uid, 0);
}

static int grandchild_pid_parent_is_out_of_reach(void)
{
    int fd = open("/proc/self/ns/pid", O_RDONLY);
    if (fd < 0)
        return 1;
    return ioctl(fd, KT_NS_GET_PARENT) == -1 && errno == EPERM ? 0 : 2;
}

static int child_ns_ioctl_pid_parent(void)
{
    struct stat me, got;
    if (fstat(kt_pid_fd, &me) != 0)
        return 1;
    if (unshare(CLONE_NEWPID) != 0)
        return 2;
    /* Until its first process, a new PID namespace has no file to open. */
    if (open("/proc/self/ns/pid_for_children", O_RDONLY) != -1 || errno != ENOENT)
        return 3;
    pid_t pid = fork();
    if (pid < 0)
        return 4;
    if (pid == 0)
        _exit(grandchild_pid_parent_is_out_of_reach());
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 10 + (WIFEXITED(st) ? WEXITSTATUS(st) : 9);
    int c = open("/proc/self/ns/pid_for_children", O_RDONLY);
    if (c < 0)
        return 5;
    int parent = ioctl(c, KT_NS_GET_PARENT);
    if (parent < 0 || fstat(parent, &got) != 0 || got.st_ino != me.st_ino)
        return 6;
    return 0;
}

TEST(ns_ioctl_get_parent_of_a_new_pid_namespace) {
    open_ns_fds();
    EXPECT_EQ(in_child(child_ns_ioctl_pid_parent), 0);
}

/* ---- UTS --------------------------------------------------------------- */

static int child_sethostname_in_new_uts(void)
{
    struct utsname before, u;
    uname(&before);
    int fd = open("/proc/self/ns/uts", O_RDONLY);
    if (fd < 0)
        return 1;
    if (unshare(CLONE_NEWUTS) != 0)
        return 2;
    uname(&u);
    if (strcmp(u.nodename, before.nodename) != 0)
        return 3; /* the new namespace starts with a copy */
    if (sethostname("kt-ns-child", 11) != 0)
        return 4;
    uname(&u);
    if (strcmp(u.nodename, "kt-ns-child") != 0)
        return 5;
    /* Back to the first namespace: its name is untouched. */
    if (setns(fd, CLONE_NEWUTS) != 0)
        return 6;
    uname(&u);
    if (strcmp(u.nodename, before.nodename) != 0)
        return 7;
    return 0;
}

TEST(new_uts_namespace_has_its_own_hostname_and_setns_returns) {
    struct utsname before, after;
    uname(&before);
    EXPECT_EQ(in_child(child_sethostname_in_new_uts), 0);
    uname(&after);
    EXPECT_EQ(strcmp(before.nodename, after.nodename), 0);
}

/* ---- setns errors ------------------------------------------------------ */

TEST(setns_bad_fd_is_ebadf) {
    EXPECT_ERRNO(setns(-1, CLONE_NEWUTS), EBADF);
    EXPECT_ERRNO(setns(9999, 0), EBADF);
}

TEST(setns_on_a_regular_file_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    static int fd = -1;
    if (fd >= 0)
        close(fd);
    fd = OK(open(kt_path(d, "f"), O_CREAT | O_RDWR, 0600));
    EXPECT_ERRNO(setns(fd, CLONE_NEWUTS), EINVAL);
    EXPECT_ERRNO(setns(fd, 0), EINVAL);
}

TEST(setns_type_mismatch_or_invalid_is_einval) {
    /* Kept open across runs of the case: a failed check returns early. */
    static int fd = -1;
    if (fd < 0)
        fd = OK(open("/proc/self/ns/uts", O_RDONLY));
    EXPECT_ERRNO(setns(fd, CLONE_NEWIPC), EINVAL);
    EXPECT_ERRNO(setns(fd, -1), EINVAL);
    EXPECT_ERRNO(setns(fd, CLONE_NEWUTS | CLONE_NEWIPC), EINVAL);
}

static int child_setns_unprivileged(void)
{
    int fd = open("/proc/self/ns/uts", O_RDONLY);
    if (fd < 0)
        return 1;
    if (seteuid(65534) != 0)
        return 2;
    if (setns(fd, CLONE_NEWUTS) != -1 || errno != EPERM)
        return 3;
    if (setns(fd, 0) != -1 || errno != EPERM)
        return 4;
    return 0;
}

TEST(setns_without_cap_sys_admin_is_eperm) {
    EXPECT_EQ(in_child(child_setns_unprivileged), 0);
}

TEST(setns_into_own_namespace_succeeds) {
    /* In a child: joining the namespace one is in changes nothing. */
    int fd = OK(open("/proc/self/ns/uts", O_RDONLY));
    pid_t pid = OK(fork());
    if (pid == 0)
        _exit(setns(fd, 0) == 0 ? 0 : 1);
    int st;
    OK(waitpid(pid, &st, 0));
    close(fd);
    EXPECT_EQ(WEXITSTATUS(st), 0);
}

/* ---- IPC --------------------------------------------------------------- */

static int kt_shmid;
static int kt_ipc_fd;

static int child_new_ipc_hides_segment(void)
{
    if (unshare(CLONE_NEWIPC) != 0)
        return 1;
    void *p = shmat(kt_shmid, NULL, 0);
    if (p != (void *)-1 || errno != EINVAL)
        return 2;
    if (setns(kt_ipc_fd, CLONE_NEWIPC) != 0)
        return 3;
    p = shmat(kt_shmid, NULL, 0);
    if (p == (void *)-1)
        return 4;
    shmdt(p);
    return 0;
}

TEST(new_ipc_namespace_does_not_see_the_old_segments) {
    kt_shmid = OK(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
    kt_ipc_fd = open("/proc/self/ns/ipc", O_RDONLY);
    int r = in_child(child_new_ipc_hides_segment);
    close(kt_ipc_fd);
    shmctl(kt_shmid, IPC_RMID, NULL);
    EXPECT_EQ(r, 0);
}

/* ---- mount ------------------------------------------------------------- */

static const char *kt_mnt_dir;

static int child_mount_in_new_mount_ns(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        return 1;
    /* Linux's / is often shared: keep the mount from propagating back. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return 2;
    if (mount("kt-ns", kt_mnt_dir, "tmpfs", 0, "") != 0)
        return 3;
    char path[300];
    snprintf(path, sizeof path, "%s/inside", kt_mnt_dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (fd < 0)
        return 4;
    close(fd);
    return 0;
}

TEST(mount_in_new_mount_namespace_is_not_seen_outside) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    kt_mnt_dir = d;
    EXPECT_EQ(in_child(child_mount_in_new_mount_ns), 0);
    struct stat st;
    EXPECT_ERRNO(stat(kt_path(d, "inside"), &st), ENOENT);
    /* Nothing is mounted there any more: the directory can go. */
}

static int child_newns_unshares_cwd(void)
{
    /* unshare(CLONE_NEWNS) implies CLONE_FS: with a shared fs context (from
     * a CLONE_FS child) the caller gets its own cwd. */
    return unshare(CLONE_NEWNS) == 0 ? 0 : 1;
}

TEST(unshare_newns_succeeds_for_root) {
    EXPECT_EQ(in_child(child_newns_unshares_cwd), 0);
}

/* ---- mount_setattr and propagation ------------------------------------ */

struct kt_mount_attr {
    unsigned long long attr_set, attr_clr, propagation, userns_fd;
};
#define KT_MOUNT_ATTR_RDONLY 0x1ULL
#define KT_AT_RECURSIVE 0x8000

static int kt_mount_setattr(const char *path, unsigned flags, struct kt_mount_attr *a, size_t size)
{
    return syscall(442, -1, path, flags, a, size);
}

/* The first optional field of `path`'s /proc/self/mountinfo line ("-" for
 * none), into out; 0 if found. */
static int mountinfo_optional(const char *path, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -1;
    char line[1024], mp[512], opt[256];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%*d %*d %*d:%*d %*s %511s %*s %255s", mp, opt) != 2)
            continue;
        if (strcmp(mp, path) == 0) {
            snprintf(out, n, "%s", opt);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

TEST(mount_setattr_argument_errors) {
    struct kt_mount_attr a = {0};
    EXPECT_ERRNO(kt_mount_setattr("/", 0x1, &a, sizeof a), EINVAL);
    EXPECT_ERRNO(kt_mount_setattr("/", 0, &a, 16), EINVAL);
    EXPECT_ERRNO(kt_mount_setattr("/", 0, &a, 8192), E2BIG);
    /* A call that changes nothing succeeds without looking at the path. */
    EXPECT_EQ(kt_mount_setattr("/nonexistent-kt", 0, &a, sizeof a), 0);
    a.propagation = (unsigned long long)-1;
    EXPECT_ERRNO(kt_mount_setattr("/", 0, &a, sizeof a), EINVAL);
    a.propagation = MS_SHARED | MS_PRIVATE;
    EXPECT_ERRNO(kt_mount_setattr("/", 0, &a, sizeof a), EINVAL);
}

TEST(mount_setattr_on_a_directory_that_is_no_mount_root_is_einval) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    struct kt_mount_attr a = {.propagation = MS_PRIVATE};
    EXPECT_ERRNO(kt_mount_setattr(d, 0, &a, sizeof a), EINVAL);
}

static int child_propagation(void)
{
    if (unshare(CLONE_NEWNS) != 0)
        return 1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return 2;
    if (mount("kt-ns", kt_mnt_dir, "tmpfs", 0, "") != 0)
        return 3;
    char sub[300], opt[256];
    snprintf(sub, sizeof sub, "%s/sub", kt_mnt_dir);
    if (mkdir(sub, 0755) != 0)
        return 4;
    if (mountinfo_optional(kt_mnt_dir, opt, sizeof opt) != 0 || strncmp(opt, "shared:", 7) == 0)
        return 5; /* a new mount under a private one is private */
    struct kt_mount_attr a = {.propagation = MS_SHARED};
    if (kt_mount_setattr(kt_mnt_dir, 0, &a, sizeof a) != 0)
        return 6;
    if (mountinfo_optional(kt_mnt_dir, opt, sizeof opt) != 0 || strncmp(opt, "shared:", 7) != 0)
        return 7;
    /* A bind mount of a shared mount is its peer; made a slave, it
     * receives from that peer group. */
    if (mount(kt_mnt_dir, sub, "none", MS_BIND, NULL) != 0)
        return 8;
    if (mountinfo_optional(sub, opt, sizeof opt) != 0 || strncmp(opt, "shared:", 7) != 0)
        return 9;
    a.propagation = MS_SLAVE;
    if (kt_mount_setattr(sub, 0, &a, sizeof a) != 0)
        return 10;
    if (mountinfo_optional(sub, opt, sizeof opt) != 0 || strncmp(opt, "master:", 7) != 0)
        return 11;
    if (umount(sub) != 0)
        return 12;
    /* Read-only through mount_setattr, then writable again. */
    struct kt_mount_attr ro = {.attr_set = KT_MOUNT_ATTR_RDONLY};
    if (kt_mount_setattr(kt_mnt_dir, 0, &ro, sizeof ro) != 0)
        return 13;
    char f[300];
    snprintf(f, sizeof f, "%s/file", kt_mnt_dir);
    if (open(f, O_CREAT | O_WRONLY, 0600) != -1 || errno != EROFS)
        return 14;
    struct kt_mount_attr rw = {.attr_clr = KT_MOUNT_ATTR_RDONLY};
    if (kt_mount_setattr(kt_mnt_dir, 0, &rw, sizeof rw) != 0)
        return 15;
    int fd = open(f, O_CREAT | O_WRONLY, 0600);
    if (fd < 0)
        return 16;
    close(fd);
    a.propagation = MS_PRIVATE;
    if (kt_mount_setattr(kt_mnt_dir, KT_AT_RECURSIVE, &a, sizeof a) != 0)
        return 17;
    if (mountinfo_optional(kt_mnt_dir, opt, sizeof opt) != 0 || strcmp(opt, "-") != 0)
        return 18;
    return 0;
}

TEST(propagation_types_show_in_mountinfo) {
    const char *d = kt_tmpdir();
    CHECK(d, "mkdtemp failed");
    kt_mnt_dir = d;
    EXPECT_EQ(in_child(child_propagation), 0);
}

/* ---- PID --------------------------------------------------------------- */

static int child_new_pid_namespace(void)
{
    if (unshare(CLONE_NEWPID) != 0)
        return 1;
    /* The caller stays where it is; its next child is the new one's init. */
    if (ns_link_inode("/proc/self/ns/pid", "pid") ==
        ns_link_inode("/proc/self/ns/pid_for_children", "pid"))
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0)
        _exit(getpid() == 1 && getppid() == 0 ? 0 : 1);
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 4;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 5;
    return pid > 1 ? 0 : 6;
}

TEST(first_child_in_new_pid_namespace_is_pid_1) {
    EXPECT_EQ(in_child(child_new_pid_namespace), 0);
}

/* ---- network ----------------------------------------------------------- */

/* A TCP listener on 127.0.0.1 (port in *port); -1 on error. */
static int listen_loopback(unsigned short *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    /* A fixed port away from the ephemeral ones first: a client in another
     * namespace whose ephemeral port happened to equal it would connect to
     * itself (TCP's simultaneous open), whatever the namespaces. */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(23456),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        a.sin_port = 0;
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
            close(s);
            return -1;
        }
    }
    if (listen(s, 1) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

static int connect_loopback(unsigned short port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    return r == 0 ? 0 : -e;
}

static unsigned short kt_port;

static int child_new_net_namespace(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        return 1;
    /* Its loopback starts down, as Linux's: up it, with SIOCSIFFLAGS. */
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return 2;
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return 3;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        return 4;
    /* Only lo: no other interface is there. */
    struct ifreq other = {0};
    other.ifr_ifindex = 2;
    if (ioctl(s, SIOCGIFNAME, &other) != -1 || errno != ENODEV)
        return 5;
    close(s);
    /* The listener of the first namespace is not reachable from here. */
    if (connect_loopback(kt_port) != -ECONNREFUSED)
        return 6;
    /* A listener of its own is. */
    unsigned short mine;
    int l = listen_loopback(&mine);
    if (l < 0)
        return 7;
    int r = connect_loopback(mine);
    close(l);
    return r == 0 ? 0 : 8;
}

TEST(new_network_namespace_has_its_own_loopback) {
    int l = OK(listen_loopback(&kt_port));
    int r = in_child(child_new_net_namespace);
    /* The first namespace's listener still works from here. */
    int back = connect_loopback(kt_port);
    close(l);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(back, 0);
}

static int read_int_file(const char *path)
{
    char buf[32] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1000;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atoi(buf) : -1000;
}

static int child_net_sysctl(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        return 1;
    /* A new namespace starts with the default, not the creator's value. */
    if (read_int_file("/proc/sys/net/ipv4/conf/lo/tag") != 0)
        return 2;
    return 0;
}

TEST(net_sysctl_is_per_network_namespace) {
    const char *path = "/proc/sys/net/ipv4/conf/lo/tag";
    int old = read_int_file(path);
    CHECK(old != -1000, "cannot read %s", path);
    OK(write_file(path, "7"));
    int r = in_child(child_net_sysctl);
    int now = read_int_file(path);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", old);
    write_file(path, buf);
    EXPECT_EQ(r, 0);
    EXPECT_EQ(now, 7);
}

/* ---- user -------------------------------------------------------------- */

static int child_user_maps(void)
{
    char buf[128] = {0};
    int fd = open("/proc/self/uid_map", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        return 1;
    close(fd);
    /* The initial namespace maps every id to itself. */
    if (strcmp(buf, "         0          0 4294967295\n") != 0)
        return 2;
    if (unshare(CLONE_NEWUSER) != 0)
        return 3;
    memset(buf, 0, sizeof buf);
    fd = open("/proc/self/uid_map", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) != 0)
        return 4; /* empty until written */
    close(fd);
    if (write_file("/proc/self/uid_map", "0 0 0\n") != -1 || errno != EINVAL)
        return 5;
    if (write_file("/proc/self/setgroups", "maybe") != -1 || errno != EINVAL)
        return 6;
    if (write_file("/proc/self/setgroups", "deny") != 0)
        return 7;
    if (write_file("/proc/self/uid_map", "0 0 1\n") != 0)
        return 8;
    if (write_file("/proc/self/uid_map", "0 0 1\n") != -1 || errno != EPERM)
        return 9; /* once only */
    if (write_file("/proc/self/gid_map", "0 0 1\n") != 0)
        return 10;
    fd = open("/proc/self/gid_map", O_RDONLY);
    memset(buf, 0, sizeof buf);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        return 11;
    close(fd);
    if (strcmp(buf, "         0          0          1\n") != 0)
        return 12;
    /* setgroups is fixed once the gid map is written. */
    if (write_file("/proc/self/setgroups", "allow") != -1 || errno != EPERM)
        return 13;
    return 0;
}

TEST(user_namespace_id_maps_are_written_once) {
    EXPECT_EQ(in_child(child_user_maps), 0);
}

/* ---- time -------------------------------------------------------------- */

static int child_timens_offsets(void)
{
    if (unshare(CLONE_NEWTIME) != 0)
        return 1;
    if (write_file("/proc/self/timens_offsets", "1 100 0\n7 1 0\n") != 0)
        return 2;
    /* The caller's clocks are not shifted, only its children's. */
    long long p_mono = mono_ns(CLOCK_MONOTONIC, 1);
    long long p_boot = mono_ns(CLOCK_BOOTTIME, 1);
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0) {
        long long s = mono_ns(CLOCK_MONOTONIC, 1) - p_mono;
        long long v = mono_ns(CLOCK_MONOTONIC, 0) - p_mono;
        long long raw = mono_ns(CLOCK_MONOTONIC_RAW, 0) - p_mono;
        long long b = mono_ns(CLOCK_BOOTTIME, 1) - p_boot;
        long long sec = 1000000000LL;
        if (s < 100 * sec || s > 101 * sec)
            _exit(10);
        if (v < 100 * sec || v > 101 * sec)
            _exit(11);
        if (raw < 99 * sec || raw > 101 * sec)
            _exit(12);
        if (b < 1 * sec || b > 2 * sec)
            _exit(13);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return 4;
    if (WEXITSTATUS(st) != 0)
        return WEXITSTATUS(st);
    /* A process is in the namespace now: its offsets are fixed. */
    if (write_file("/proc/self/timens_offsets", "1 5 0\n") != -1 || errno != EACCES)
        return 5;
    return 0;
}

TEST(time_namespace_offsets_shift_the_childrens_clocks) {
    EXPECT_EQ(in_child(child_timens_offsets), 0);
}

static int child_timens_offsets_errors(void)
{
    if (unshare(CLONE_NEWTIME) != 0)
        return 1;
    if (write_file("/proc/self/timens_offsets", "0 1 0\n") != -1 || errno != EINVAL)
        return 2; /* CLOCK_REALTIME cannot be shifted */
    if (write_file("/proc/self/timens_offsets", "1 1 1000000000\n") != -1 || errno != EINVAL)
        return 3;
    if (write_file("/proc/self/timens_offsets", "1 -100000000000 0\n") != -1 || errno != ERANGE)
        return 4; /* the clock would go below zero */
    /* Nothing was changed by the failed writes. */
    char buf[128] = {0};
    int fd = open("/proc/self/timens_offsets", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        return 5;
    close(fd);
    long long m, b;
    long mn, bn;
    if (sscanf(buf, "monotonic %lld %ld boottime %lld %ld", &m, &mn, &b, &bn) != 4)
        return 6;
    if (m != 0 || mn != 0 || b != 0 || bn != 0)
        return 7;
    return 0;
}

TEST(timens_offsets_bad_writes_are_einval_or_erange) {
    EXPECT_EQ(in_child(child_timens_offsets_errors), 0);
}

static int child_timens_abstime_sleep_and_uptime(void)
{
    int root_fd = open("/proc/self/ns/time_for_children", O_RDONLY);
    if (root_fd < 0)
        return 1;
    if (unshare(CLONE_NEWTIME) != 0)
        return 2;
    if (write_file("/proc/self/timens_offsets", "1 50 0\n7 3600 0\n") != 0)
        return 3;
    struct sysinfo si0;
    sysinfo(&si0);
    pid_t pid = fork();
    if (pid < 0)
        return 4;
    if (pid == 0) {
        /* An absolute sleep is on the namespace's clock: 50 ms ahead. */
        struct timespec t, t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        syscall(SYS_clock_gettime, CLOCK_BOOTTIME, &t0);
        t.tv_nsec += 50000000;
        if (t.tv_nsec >= 1000000000) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000;
        }
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0)
            _exit(10);
        syscall(SYS_clock_gettime, CLOCK_BOOTTIME, &t1);
        long long slept = (t1.tv_sec - t0.tv_sec) * 1000000000LL + t1.tv_nsec - t0.tv_nsec;
        if (slept < 40000000 || slept > 2000000000LL)
            _exit(11);
        struct sysinfo si;
        sysinfo(&si);
        if (si.uptime - si0.uptime < 3600 || si.uptime - si0.uptime > 3602)
            _exit(12);
        /* Back in the initial namespace, the clock reads unshifted again
         * (through the vDSO too). */
        long long shifted = mono_ns(CLOCK_MONOTONIC, 0);
        if (setns(root_fd, CLONE_NEWTIME) != 0)
            _exit(13);
        long long back = mono_ns(CLOCK_MONOTONIC, 0);
        if (shifted - back < 49000000000LL || shifted - back > 51000000000LL)
            _exit(14);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return 5;
    return WEXITSTATUS(st);
}

TEST(time_namespace_abstime_sleep_uptime_and_setns_back) {
    EXPECT_EQ(in_child(child_timens_abstime_sleep_and_uptime), 0);
}

int main(void)
{
    KT_BEGIN();
    if (geteuid() != 0) {
        printf("SKIP %s: needs root\n", KT_AREA);
        return 0;
    }
    RUN(unshare_unknown_flag_is_einval);
    RUN(unshare_new_namespaces_without_cap_sys_admin_is_eperm);
    RUN(unshare_zero_is_a_no_op);
    RUN(ns_link_reads_kind_and_inode_number);
    RUN(ns_for_children_links_match_own_before_unshare);
    RUN(unshare_gives_a_new_inode_number_to_that_kind_only);
    RUN(ns_ioctl_nstype_and_errors);
    RUN(ns_ioctls_on_other_files_are_enotty);
    RUN(ns_ioctl_get_userns_and_parent_of_a_new_user_namespace);
    RUN(ns_ioctl_get_parent_of_a_new_pid_namespace);
    RUN(new_uts_namespace_has_its_own_hostname_and_setns_returns);
    RUN(setns_bad_fd_is_ebadf);
    RUN(setns_on_a_regular_file_is_einval);
    RUN(setns_type_mismatch_or_invalid_is_einval);
    RUN(setns_without_cap_sys_admin_is_eperm);
    RUN(setns_into_own_namespace_succeeds);
    RUN(new_ipc_namespace_does_not_see_the_old_segments);
    RUN(mount_in_new_mount_namespace_is_not_seen_outside);
    RUN(unshare_newns_succeeds_for_root);
    RUN(mount_setattr_argument_errors);
    RUN(mount_setattr_on_a_directory_that_is_no_mount_root_is_einval);
    RUN(propagation_types_show_in_mountinfo);
    RUN(first_child_in_new_pid_namespace_is_pid_1);
    RUN(new_network_namespace_has_its_own_loopback);
    RUN(net_sysctl_is_per_network_namespace);
    RUN(user_namespace_id_maps_are_written_once);
    RUN(time_namespace_offsets_shift_the_childrens_clocks);
    RUN(timens_offsets_bad_writes_are_einval_or_erange);
    RUN(time_namespace_abstime_sleep_uptime_and_setns_back);
    return KT_END();
}

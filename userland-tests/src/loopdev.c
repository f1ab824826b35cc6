/* Loop devices: /dev/loop-control (LOOP_CTL_GET_FREE, ADD, REMOVE) and the
 * ioctls of /dev/loopN (LOOP_SET_FD, LOOP_CONFIGURE, LOOP_SET/GET_STATUS(64),
 * LOOP_CLR_FD, LOOP_CHANGE_FD, LOOP_SET_BLOCK_SIZE, LOOP_SET_DIRECT_IO), and
 * reading and writing a file through one. Needs root (SKIP without). */
#define KT_AREA "loopdev"
#include "kt.h"

#include <sys/ioctl.h>
#include <sys/sysmacros.h>

/* linux/loop.h and linux/fs.h (musl's headers have neither). */
#define BLKROSET 0x125d
#define BLKROGET 0x125e
#define BLKFLSBUF 0x1261
#define BLKRASET 0x1262
#define BLKRAGET 0x1263
#define BLKSSZGET 0x1268
#define BLKGETSIZE64 0x80081272
#define LOOP_SET_FD 0x4C00
#define LOOP_CLR_FD 0x4C01
#define LOOP_SET_STATUS 0x4C02
#define LOOP_GET_STATUS 0x4C03
#define LOOP_SET_STATUS64 0x4C04
#define LOOP_GET_STATUS64 0x4C05
#define LOOP_CHANGE_FD 0x4C06
#define LOOP_SET_CAPACITY 0x4C07
#define LOOP_SET_DIRECT_IO 0x4C08
#define LOOP_SET_BLOCK_SIZE 0x4C09
#define LOOP_CONFIGURE 0x4C0A
#define LOOP_CTL_ADD 0x4C80
#define LOOP_CTL_REMOVE 0x4C81
#define LOOP_CTL_GET_FREE 0x4C82
#define LO_FLAGS_READ_ONLY 1
#define LO_FLAGS_AUTOCLEAR 4
#define LO_FLAGS_PARTSCAN 8

struct loop_info {
    int lo_number;
    unsigned long lo_device;
    unsigned long lo_inode;
    unsigned long lo_rdevice;
    int lo_offset;
    int lo_encrypt_type;
    int lo_encrypt_key_size;
    int lo_flags;
    char lo_name[64];
    unsigned char lo_encrypt_key[32];
    unsigned long lo_init[2];
    char reserved[4];
};

struct loop_info64 {
    uint64_t lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit;
    uint32_t lo_number, lo_encrypt_type, lo_encrypt_key_size, lo_flags;
    uint8_t lo_file_name[64];
    uint8_t lo_crypt_name[64];
    uint8_t lo_encrypt_key[32];
    uint64_t lo_init[2];
};

struct loop_config {
    uint32_t fd;
    uint32_t block_size;
    struct loop_info64 info;
    uint64_t reserved[8];
};

#define FILE_BYTES (1024 * 1024)

/* A free loop device, opened read-write; -1 (and a SKIP) without one. */
static int free_loop(char *path, size_t len)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -1;
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    close(ctl);
    if (n < 0)
        return -1;
    snprintf(path, len, "/dev/loop%d", n);
    return open(path, O_RDWR | O_CLOEXEC);
}

#define LOOP(fd, path)                                                        \
    char path[32];                                                            \
    int fd = free_loop(path, sizeof path);                                    \
    if (fd < 0)                                                               \
        SKIP("no free loop device: %s", kt_errstr(errno))

/* A temp file of FILE_BYTES whose byte i is (i * 7 + i / 4096) & 0xff. */
static int pattern_file(const char *dir, int flags)
{
    char p[300];
    snprintf(p, sizeof p, "%s/backing", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static unsigned char buf[FILE_BYTES];
    for (int i = 0; i < FILE_BYTES; i++)
        buf[i] = (unsigned char)(i * 7 + i / 4096);
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
        close(fd);
        return -1;
    }
    if (flags == O_RDWR)
        return fd;
    close(fd);
    return open(p, flags | O_CLOEXEC);
}

static unsigned char expected(long i)
{
    return (unsigned char)(i * 7 + i / 4096);
}

TEST(get_free_names_an_unbound_device_whose_status_is_enxio)
{
    LOOP(lo, path);
    struct loop_info64 info;
    errno = 0;
    long r = ioctl(lo, LOOP_GET_STATUS64, &info);
    int e = errno;
    unsigned long long size = 1;
    long s = ioctl(lo, BLKGETSIZE64, &size);
    close(lo);
    CHECK(r == -1 && e == ENXIO, "LOOP_GET_STATUS64 on %s: %ld %s", path, r, kt_errstr(e));
    EXPECT_EQ(s, 0);
    EXPECT_EQ(size, 0);
}

TEST(set_fd_reads_the_file_through_the_device_and_writes_reach_it)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    long set = ioctl(lo, LOOP_SET_FD, f);
    unsigned long long size = 0;
    long s = ioctl(lo, BLKGETSIZE64, &size);
    unsigned char buf[4096];
    long n = pread(lo, buf, sizeof buf, 8192 + 4096);
    int same = 1;
    for (int i = 0; i < (int)sizeof buf; i++)
        same &= buf[i] == expected(8192 + 4096 + i);
    memset(buf, 0xA5, 512);
    long w = pwrite(lo, buf, 512, 65536);
    long sy = fsync(lo);
    unsigned char back[512] = {0};
    long b = pread(f, back, sizeof back, 65536);
    long clr = ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(s, 0);
    EXPECT_EQ(size, FILE_BYTES);
    EXPECT_EQ(n, 4096);
    CHECK(same, "the device's bytes are not the file's");
    EXPECT_EQ(w, 512);
    EXPECT_EQ(sy, 0);
    EXPECT_EQ(b, 512);
    CHECK(back[0] == 0xA5 && back[511] == 0xA5, "the file has %#x %#x", back[0], back[511]);
    EXPECT_EQ(clr, 0);
}

TEST(set_status64_sets_offset_size_limit_name_and_autoclear)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    struct loop_info64 in = {0};
    in.lo_offset = 4096;
    in.lo_sizelimit = 8192;
    in.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY; /* READ_ONLY is not settable */
    strcpy((char *)in.lo_file_name, "kt-loop-name");
    long set = ioctl(lo, LOOP_SET_STATUS64, &in);
    struct loop_info64 out;
    memset(&out, 0xff, sizeof out);
    long get = ioctl(lo, LOOP_GET_STATUS64, &out);
    unsigned long long size = 0;
    ioctl(lo, BLKGETSIZE64, &size);
    unsigned char c = 0;
    long n = pread(lo, &c, 1, 1);
    struct stat st;
    fstat(f, &st);
    struct loop_info old;
    long g_old = ioctl(lo, LOOP_GET_STATUS, &old);
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(get, 0);
    EXPECT_EQ(out.lo_offset, 4096);
    EXPECT_EQ(out.lo_sizelimit, 8192);
    CHECK(out.lo_flags == LO_FLAGS_AUTOCLEAR, "flags %#x", out.lo_flags);
    CHECK(!strcmp((char *)out.lo_file_name, "kt-loop-name"), "name '%s'", out.lo_file_name);
    EXPECT_EQ(out.lo_inode, st.st_ino);
    EXPECT_EQ(out.lo_encrypt_type, 0);
    EXPECT_EQ(size, 8192);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, expected(4097));
    EXPECT_EQ(g_old, 0);
    EXPECT_EQ(old.lo_offset, 4096);
}

/* LOOP_SET_STATUS: AUTOCLEAR is set and cleared at will; PARTSCAN, once
 * set, stays (Linux's LOOP_SET_STATUS_CLEARABLE_FLAGS). */
TEST(set_status_clears_autoclear_but_keeps_partscan)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    struct loop_info64 in = {0}, out;
    in.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN;
    long set1 = ioctl(lo, LOOP_SET_STATUS64, &in);
    memset(&out, 0, sizeof out);
    long get1 = ioctl(lo, LOOP_GET_STATUS64, &out);
    unsigned flags1 = out.lo_flags;
    in.lo_flags = 0;
    long set2 = ioctl(lo, LOOP_SET_STATUS64, &in);
    memset(&out, 0, sizeof out);
    long get2 = ioctl(lo, LOOP_GET_STATUS64, &out);
    unsigned flags2 = out.lo_flags;
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(set1, 0);
    EXPECT_EQ(get1, 0);
    CHECK(flags1 == (LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN), "flags %#x", flags1);
    EXPECT_EQ(set2, 0);
    EXPECT_EQ(get2, 0);
    CHECK(flags2 == LO_FLAGS_PARTSCAN, "flags %#x after clearing", flags2);
}

TEST(old_get_status_reports_the_name_and_offset)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    struct loop_info in = {0};
    in.lo_offset = 512;
    strcpy(in.lo_name, "old-name");
    long set = ioctl(lo, LOOP_SET_STATUS, &in);
    struct loop_info out;
    memset(&out, 0, sizeof out);
    long get = ioctl(lo, LOOP_GET_STATUS, &out);
    unsigned long long size = 0;
    ioctl(lo, BLKGETSIZE64, &size);
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(set, 0);
    EXPECT_EQ(get, 0);
    EXPECT_EQ(out.lo_offset, 512);
    CHECK(!strcmp(out.lo_name, "old-name"), "name '%s'", out.lo_name);
    EXPECT_EQ(size, FILE_BYTES - 512);
}

TEST(a_bound_device_is_ebusy_and_bad_backing_files_are_refused)
{
    LOOP(lo, path);
    const char *dir = kt_tmpdir();
    int f = pattern_file(dir, O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    errno = 0;
    long bad = ioctl(lo, LOOP_SET_FD, 9999);
    int e_bad = errno;
    errno = 0;
    long isdir = ioctl(lo, LOOP_SET_FD, d);
    int e_dir = errno;
    long first = ioctl(lo, LOOP_SET_FD, f);
    errno = 0;
    long again = ioctl(lo, LOOP_SET_FD, f);
    int e_again = errno;
    ioctl(lo, LOOP_CLR_FD, 0);
    close(d);
    close(lo);
    close(f);
    CHECK(bad == -1 && e_bad == EBADF, "bad fd: %ld %s", bad, kt_errstr(e_bad));
    CHECK(isdir == -1 && e_dir == EINVAL, "directory: %ld %s", isdir, kt_errstr(e_dir));
    EXPECT_EQ(first, 0);
    CHECK(again == -1 && e_again == EBUSY, "bound twice: %ld %s", again, kt_errstr(e_again));
}

TEST(clr_fd_unbinds_and_a_second_clear_is_enxio)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    long clr = ioctl(lo, LOOP_CLR_FD, 0);
    errno = 0;
    long again = ioctl(lo, LOOP_CLR_FD, 0);
    int e = errno;
    struct loop_info64 info;
    errno = 0;
    long st = ioctl(lo, LOOP_GET_STATUS64, &info);
    int e_st = errno;
    close(lo);
    close(f);
    EXPECT_EQ(clr, 0);
    CHECK(again == -1 && e == ENXIO, "second clear: %ld %s", again, kt_errstr(e));
    CHECK(st == -1 && e_st == ENXIO, "status after clear: %ld %s", st, kt_errstr(e_st));
}

TEST(a_read_only_backing_file_makes_a_read_only_device)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDONLY);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    long set = ioctl(lo, LOOP_SET_FD, f);
    struct loop_info64 info = {0};
    ioctl(lo, LOOP_GET_STATUS64, &info);
    int ro = 0;
    long g = ioctl(lo, BLKROGET, &ro);
    errno = 0;
    long w = pwrite(lo, "x", 1, 0);
    int e = errno;
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(set, 0);
    CHECK(info.lo_flags & LO_FLAGS_READ_ONLY, "flags %#x", info.lo_flags);
    EXPECT_EQ(g, 0);
    EXPECT_EQ(ro, 1);
    CHECK(w == -1 && e == EPERM, "write: %ld %s", w, kt_errstr(e));
}

TEST(configure_checks_block_size_and_flags_and_sets_them)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    struct loop_config c = {0};
    c.fd = f;
    c.block_size = 1000;
    errno = 0;
    long bad_size = ioctl(lo, LOOP_CONFIGURE, &c);
    int e1 = errno;
    c.block_size = 0;
    c.info.lo_flags = 0x4000;
    errno = 0;
    long bad_flags = ioctl(lo, LOOP_CONFIGURE, &c);
    int e2 = errno;
    c.info.lo_flags = 0;
    c.info.lo_encrypt_type = 1; /* XOR: gone from Linux */
    errno = 0;
    long xor = ioctl(lo, LOOP_CONFIGURE, &c);
    int e3 = errno;
    c.info.lo_encrypt_type = 0;
    c.block_size = 4096;
    c.info.lo_flags = LO_FLAGS_READ_ONLY;
    long good = ioctl(lo, LOOP_CONFIGURE, &c);
    int ssz = 0, ro = 0;
    ioctl(lo, BLKSSZGET, &ssz);
    ioctl(lo, BLKROGET, &ro);
    errno = 0;
    long bs = ioctl(lo, LOOP_SET_BLOCK_SIZE, 3000);
    int e4 = errno;
    long bs2 = ioctl(lo, LOOP_SET_BLOCK_SIZE, 1024);
    int ssz2 = 0;
    ioctl(lo, BLKSSZGET, &ssz2);
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    CHECK(bad_size == -1 && e1 == EINVAL, "block size 1000: %ld %s", bad_size, kt_errstr(e1));
    CHECK(bad_flags == -1 && e2 == EINVAL, "flags 0x4000: %ld %s", bad_flags, kt_errstr(e2));
    CHECK(xor == -1 && e3 == EINVAL, "XOR encryption: %ld %s", xor, kt_errstr(e3));
    EXPECT_EQ(good, 0);
    EXPECT_EQ(ssz, 4096);
    EXPECT_EQ(ro, 1);
    CHECK(bs == -1 && e4 == EINVAL, "block size 3000: %ld %s", bs, kt_errstr(e4));
    EXPECT_EQ(bs2, 0);
    EXPECT_EQ(ssz2, 1024);
}

TEST(ioctls_of_an_unbound_device_are_enxio_and_a_null_status_einval)
{
    LOOP(lo, path);
    struct loop_info64 info = {0};
    EXPECT_ERRNO(ioctl(lo, LOOP_SET_STATUS64, &info), ENXIO);
    EXPECT_ERRNO(ioctl(lo, LOOP_SET_BLOCK_SIZE, 4096), ENXIO);
    EXPECT_ERRNO(ioctl(lo, LOOP_SET_CAPACITY, 0), ENXIO);
    EXPECT_ERRNO(ioctl(lo, LOOP_CHANGE_FD, 0), ENXIO);
    EXPECT_ERRNO(ioctl(lo, LOOP_GET_STATUS64, NULL), EINVAL);
    EXPECT_ERRNO(ioctl(lo, LOOP_SET_STATUS64, (void *)8), EFAULT);
    close(lo);
}

TEST(change_fd_needs_a_read_only_device)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    errno = 0;
    long r = ioctl(lo, LOOP_CHANGE_FD, f);
    int e = errno;
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    CHECK(r == -1 && e == EINVAL, "LOOP_CHANGE_FD on a writable device: %ld %s", r, kt_errstr(e));
}

TEST(loop_control_add_remove_and_their_errors)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        SKIP("/dev/loop-control: %s", kt_errstr(errno));
    /* A number unlikely to be taken. */
    int n = 1000 + getpid() % 1000;
    long add = ioctl(ctl, LOOP_CTL_ADD, n);
    errno = 0;
    long again = ioctl(ctl, LOOP_CTL_ADD, n);
    int e_again = errno;
    char path[32];
    snprintf(path, sizeof path, "/dev/loop%d", n);
    struct stat st;
    int st_r = -1;
    for (int i = 0; i < 100 && st_r != 0; i++) {
        st_r = stat(path, &st); /* devtmpfs makes the node; give udev-less hosts a moment */
        if (st_r != 0)
            usleep(10000);
    }
    long rm = ioctl(ctl, LOOP_CTL_REMOVE, n);
    errno = 0;
    long rm_again = ioctl(ctl, LOOP_CTL_REMOVE, n);
    int e_rm = errno;
    errno = 0;
    long rm_neg = ioctl(ctl, LOOP_CTL_REMOVE, -1);
    int e_neg = errno;
    close(ctl);
    CHECK(add == n, "LOOP_CTL_ADD %d: %ld %s", n, add, kt_errstr(errno));
    CHECK(again == -1 && e_again == EEXIST, "added twice: %ld %s", again, kt_errstr(e_again));
    CHECK(st_r == 0 && S_ISBLK(st.st_mode) && major(st.st_rdev) == 7 &&
              (int)minor(st.st_rdev) == n,
          "%s: stat %d mode %o", path, st_r, st_r == 0 ? st.st_mode : 0);
    EXPECT_EQ(rm, 0);
    CHECK(rm_again == -1 && e_rm == ENODEV, "removed twice: %ld %s", rm_again, kt_errstr(e_rm));
    CHECK(rm_neg == -1 && e_neg == EINVAL, "remove -1: %ld %s", rm_neg, kt_errstr(e_neg));
}

TEST(loop_control_remove_of_a_bound_device_is_ebusy)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    errno = 0;
    long rm = ioctl(ctl, LOOP_CTL_REMOVE, atoi(path + strlen("/dev/loop")));
    int e = errno;
    close(ctl);
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    CHECK(rm == -1 && e == EBUSY, "remove while bound: %ld %s", rm, kt_errstr(e));
}

TEST(clr_fd_while_another_opener_has_it_clears_at_the_last_close)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    int other = OK(open(path, O_RDONLY | O_CLOEXEC));
    long clr = ioctl(lo, LOOP_CLR_FD, 0);
    struct loop_info64 info = {0};
    long still = ioctl(other, LOOP_GET_STATUS64, &info);
    close(lo);
    close(other);
    int again = OK(open(path, O_RDONLY | O_CLOEXEC));
    errno = 0;
    long after = ioctl(again, LOOP_GET_STATUS64, &info);
    int e = errno;
    close(again);
    close(f);
    EXPECT_EQ(clr, 0);
    EXPECT_EQ(still, 0);
    CHECK(info.lo_flags & LO_FLAGS_AUTOCLEAR || after == -1, "flags %#x", info.lo_flags);
    CHECK(after == -1 && e == ENXIO, "after the last close: %ld %s", after, kt_errstr(e));
}

TEST(block_ioctls_read_only_policy_and_read_ahead)
{
    LOOP(lo, path);
    int f = pattern_file(kt_tmpdir(), O_RDWR);
    CHECK(f >= 0, "backing file: %s", kt_errstr(errno));
    OK(ioctl(lo, LOOP_SET_FD, f));
    int ro = 1;
    long g0 = ioctl(lo, BLKROGET, &ro);
    int ro0 = ro;
    ro = 1;
    long s1 = ioctl(lo, BLKROSET, &ro);
    ro = 0;
    ioctl(lo, BLKROGET, &ro);
    int ro1 = ro;
    errno = 0;
    long w = pwrite(lo, "x", 1, 0);
    int e_w = errno;
    ro = 0;
    long s2 = ioctl(lo, BLKROSET, &ro);
    long w2 = pwrite(lo, "x", 1, 0);
    unsigned long ra = 99;
    long ra_set = ioctl(lo, BLKRASET, 256UL);
    long ra_get = ioctl(lo, BLKRAGET, &ra);
    long fl = ioctl(lo, BLKFLSBUF, 0);
    ioctl(lo, LOOP_CLR_FD, 0);
    close(lo);
    close(f);
    EXPECT_EQ(g0, 0);
    EXPECT_EQ(ro0, 0);
    EXPECT_EQ(s1, 0);
    EXPECT_EQ(ro1, 1);
    CHECK(w == -1 && e_w == EPERM, "write to a BLKROSET device: %ld %s", w, kt_errstr(e_w));
    EXPECT_EQ(s2, 0);
    EXPECT_EQ(w2, 1);
    EXPECT_EQ(ra_set, 0);
    EXPECT_EQ(ra_get, 0);
    EXPECT_EQ(ra, 256);
    EXPECT_EQ(fl, 0);
}

int main(void)
{
    KT_BEGIN();
    if (geteuid() != 0) {
        printf("SKIP loopdev: needs root\n");
        return KT_END();
    }
    RUN(get_free_names_an_unbound_device_whose_status_is_enxio);
    RUN(set_fd_reads_the_file_through_the_device_and_writes_reach_it);
    RUN(set_status64_sets_offset_size_limit_name_and_autoclear);
    RUN(set_status_clears_autoclear_but_keeps_partscan);
    RUN(old_get_status_reports_the_name_and_offset);
    RUN(a_bound_device_is_ebusy_and_bad_backing_files_are_refused);
    RUN(clr_fd_unbinds_and_a_second_clear_is_enxio);
    RUN(a_read_only_backing_file_makes_a_read_only_device);
    RUN(configure_checks_block_size_and_flags_and_sets_them);
    RUN(ioctls_of_an_unbound_device_are_enxio_and_a_null_status_einval);
    RUN(change_fd_needs_a_read_only_device);
    RUN(loop_control_add_remove_and_their_errors);
    RUN(loop_control_remove_of_a_bound_device_is_ebusy);
    RUN(clr_fd_while_another_opener_has_it_clears_at_the_last_close);
    RUN(block_ioctls_read_only_policy_and_read_ahead);
    return KT_END();
}

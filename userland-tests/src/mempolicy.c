/*
 * mempolicy.c - NUMA memory policy on a machine of one node: set_mempolicy,
 * get_mempolicy, mbind, set_mempolicy_home_node, migrate_pages, move_pages.
 * What Linux answers with node 0 alone (as on a one-node machine or VM).
 */
#define KT_AREA "mempolicy"
#include "kt.h"

#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2
#define MPOL_F_MEMS_ALLOWED 4
#define MPOL_MF_STRICT 1
#define MPOL_MF_MOVE 2
#define MPOL_MF_LAZY 8

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

static long set_policy(int mode, const unsigned long *mask, unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, mask, maxnode);
}

static long get_policy(int *mode, unsigned long *mask, unsigned long maxnode, void *addr,
                       unsigned long flags)
{
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static long mbind_(void *addr, unsigned long len, int mode, const unsigned long *mask,
                   unsigned long maxnode, unsigned flags)
{
    return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

static char *map_pages(int n)
{
    char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

TEST(the_thread_policy_set_is_the_one_reported)
{
    int mode = -1;
    unsigned long node0 = 1, mask = ~0UL;
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_DEFAULT);
    EXPECT_EQ(mask, 0);
    OK(set_policy(MPOL_BIND, &node0, 65));
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_BIND);
    EXPECT_EQ(mask, 1);
    /* An empty preferred set is local allocation. */
    OK(set_policy(MPOL_PREFERRED, NULL, 0));
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_LOCAL);
    EXPECT_EQ(mask, 0);
    /* The caller's own mask is kept with MPOL_F_STATIC_NODES. */
    unsigned long nodes01 = 3;
    OK(set_policy(MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, &nodes01, 65));
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES);
    EXPECT_EQ(mask, 3);
    /* Interleaving: MPOL_F_NODE gives the next node. */
    OK(get_policy(&mode, NULL, 0, NULL, MPOL_F_NODE));
    EXPECT_EQ(mode, 0);
    /* A node that does not exist, alone, is relative to the ones that do. */
    unsigned long node1 = 2;
    OK(set_policy(MPOL_BIND | MPOL_F_RELATIVE_NODES, &node1, 65));
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_BIND | MPOL_F_RELATIVE_NODES);
    EXPECT_EQ(mask, 2);
    OK(set_policy(MPOL_DEFAULT, NULL, 0));
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mode, MPOL_DEFAULT);
}

TEST(set_mempolicy_rejects_what_linux_rejects)
{
    unsigned long node0 = 1, node1 = 2, none = 0;
    EXPECT_ERRNO(set_policy(99, &node0, 65), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &node0, 65),
                 EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, &node0, 65), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND, &none, 65), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND, NULL, 0), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_DEFAULT, &node0, 65), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_LOCAL, &node0, 65), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_PREFERRED | MPOL_F_STATIC_NODES, NULL, 0), EINVAL);
    /* Only nodes that do not exist. */
    EXPECT_ERRNO(set_policy(MPOL_BIND, &node1, 65), EINVAL);
    /* maxnode 1 means no bits, and 0 wraps to more than a page of them. */
    EXPECT_ERRNO(set_policy(MPOL_BIND, &node0, 1), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND, &node0, 0), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND, &node0, 1UL << 20), EINVAL);
    EXPECT_ERRNO(set_policy(MPOL_BIND, (unsigned long *)8, 65), EFAULT);
    /* A bit set past any node a kernel has is EINVAL. */
    unsigned long big[64] = {1};
    big[40] = 1;
    EXPECT_ERRNO(set_policy(MPOL_BIND, big, 64 * 64 + 1), EINVAL);
    big[40] = 0;
    OK(set_policy(MPOL_BIND, big, 64 * 64 + 1));
    /* Bits past maxnode - 1 are not looked at. */
    unsigned long two = 3;
    OK(set_policy(MPOL_BIND, &two, 2));
    int mode;
    unsigned long mask;
    OK(get_policy(&mode, &mask, 65, NULL, 0));
    EXPECT_EQ(mask, 1);
    OK(set_policy(MPOL_DEFAULT, NULL, 0));
}

TEST(get_mempolicy_rejects_what_linux_rejects)
{
    int mode;
    unsigned long mask;
    char *p = map_pages(1);
    CHECK(p, "mmap");
    EXPECT_ERRNO(get_policy(&mode, &mask, 0, NULL, 0), EINVAL);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, NULL, 8), EINVAL);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, NULL, MPOL_F_MEMS_ALLOWED | MPOL_F_NODE), EINVAL);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, NULL, MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR), EINVAL);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, p, 0), EINVAL);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, NULL, MPOL_F_NODE), EINVAL);
    EXPECT_ERRNO(get_policy((int *)8, NULL, 0, NULL, 0), EFAULT);
    EXPECT_ERRNO(get_policy(&mode, (unsigned long *)8, 65, NULL, 0), EFAULT);
    munmap(p, 4096);
    EXPECT_ERRNO(get_policy(&mode, NULL, 0, p, MPOL_F_ADDR), EFAULT);
    /* The nodes a task may use. */
    mask = 0;
    OK(get_policy(&mode, &mask, 65, NULL, MPOL_F_MEMS_ALLOWED));
    EXPECT_EQ(mask, 1);
    /* A long mask: words past the node word are cleared. */
    unsigned long wide[4] = {~0UL, ~0UL, ~0UL, ~0UL};
    OK(get_policy(&mode, wide, 4 * 64 + 1, NULL, MPOL_F_MEMS_ALLOWED));
    EXPECT_EQ(wide[0], 1);
    EXPECT_EQ(wide[1], 0);
    EXPECT_EQ(wide[3], 0);
}

TEST(mbind_gives_part_of_a_mapping_its_own_policy)
{
    char *p = map_pages(4);
    CHECK(p, "mmap");
    unsigned long node0 = 1, mask;
    int mode;
    OK(mbind_(p + 4096, 2 * 4096, MPOL_BIND, &node0, 65, 0));
    OK(get_policy(&mode, &mask, 65, p, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_DEFAULT);
    OK(get_policy(&mode, &mask, 65, p + 4096, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_BIND);
    EXPECT_EQ(mask, 1);
    OK(get_policy(&mode, &mask, 65, p + 2 * 4096 + 100, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_BIND);
    OK(get_policy(&mode, &mask, 65, p + 3 * 4096, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_DEFAULT);
    /* An area's policy does not fall back to the thread's. */
    OK(set_policy(MPOL_INTERLEAVE, &node0, 65));
    OK(get_policy(&mode, &mask, 65, p, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_DEFAULT);
    OK(set_policy(MPOL_DEFAULT, NULL, 0));
    /* A child of fork has the same. */
    pid_t pid = OK(fork());
    if (pid == 0) {
        int m = -1;
        get_policy(&m, NULL, 0, p + 4096, MPOL_F_ADDR);
        _exit(m == MPOL_BIND ? 0 : 1);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child saw another policy");
    /* Back to the default. */
    OK(mbind_(p, 4 * 4096, MPOL_DEFAULT, NULL, 0, 0));
    OK(get_policy(&mode, &mask, 65, p + 4096, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_DEFAULT);
    munmap(p, 4 * 4096);
}

TEST(mbind_rejects_what_linux_rejects)
{
    char *p = map_pages(3);
    CHECK(p, "mmap");
    unsigned long node0 = 1;
    EXPECT_ERRNO(mbind_(p + 1, 4096, MPOL_BIND, &node0, 65, 0), EINVAL);
    EXPECT_ERRNO(mbind_(p, 4096, MPOL_BIND, &node0, 65, MPOL_MF_LAZY), EINVAL);
    EXPECT_ERRNO(mbind_(p, 4096, 99, &node0, 65, 0), EINVAL);
    EXPECT_ERRNO(mbind_(p, 4096, MPOL_BIND, NULL, 0, 0), EINVAL);
    EXPECT_ERRNO(mbind_(p, -4096UL, MPOL_BIND, &node0, 65, 0), EINVAL);
    /* An empty range is nothing to do. */
    OK(mbind_(p, 0, MPOL_BIND, &node0, 65, 0));
    /* A hole in the range, or nothing mapped, is EFAULT... */
    munmap(p + 4096, 4096);
    EXPECT_ERRNO(mbind_(p, 3 * 4096, MPOL_BIND, &node0, 65, 0), EFAULT);
    EXPECT_ERRNO(mbind_(p + 4096, 4096, MPOL_BIND, &node0, 65, 0), EFAULT);
    /* ...except for MPOL_DEFAULT over a range partly mapped. */
    OK(mbind_(p, 3 * 4096, MPOL_DEFAULT, NULL, 0, 0));
    EXPECT_ERRNO(mbind_(p + 4096, 4096, MPOL_DEFAULT, NULL, 0, 0), EFAULT);
    /* Pages already present all on an allowed node: nothing to report. */
    p[0] = 1;
    OK(mbind_(p, 4096, MPOL_BIND, &node0, 65, MPOL_MF_STRICT | MPOL_MF_MOVE));
    munmap(p, 3 * 4096);
}

TEST(get_mempolicy_node_of_an_address_faults_the_page_in)
{
    char *p = map_pages(1);
    CHECK(p, "mmap");
    unsigned char vec = 1;
    OK(mincore(p, 4096, &vec));
    EXPECT_EQ(vec & 1, 0);
    int node = -1;
    OK(get_policy(&node, NULL, 0, p + 10, MPOL_F_NODE | MPOL_F_ADDR));
    EXPECT_EQ(node, 0);
    OK(mincore(p, 4096, &vec));
    EXPECT_EQ(vec & 1, 1);
    munmap(p, 4096);
}

TEST(home_node_needs_a_bind_policy_on_the_range)
{
    char *p = map_pages(3);
    CHECK(p, "mmap");
    unsigned long node0 = 1;
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 0), ENOENT);
    OK(mbind_(p, 4096, MPOL_BIND, &node0, 65, 0));
    OK(mbind_(p + 4096, 4096, MPOL_PREFERRED, &node0, 65, 0));
    OK(syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 0));
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 3 * 4096, 0, 0), EOPNOTSUPP);
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 1, 0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p, 4096, 0, 1), EINVAL);
    EXPECT_ERRNO(syscall(SYS_set_mempolicy_home_node, p + 1, 4096, 0, 0), EINVAL);
    OK(syscall(SYS_set_mempolicy_home_node, p, 0, 0, 0));
    /* The policy is as it was. */
    int mode;
    OK(get_policy(&mode, NULL, 0, p, MPOL_F_ADDR));
    EXPECT_EQ(mode, MPOL_BIND);
    munmap(p, 3 * 4096);
}

TEST(move_pages_reports_each_page_node_or_error)
{
    char *p = map_pages(2);
    CHECK(p, "mmap");
    char *gone = map_pages(1);
    CHECK(gone, "mmap");
    munmap(gone, 4096);
    p[0] = 1;
    void *pages[3] = {p, p + 4096, gone};
    int status[3] = {-1, -1, -1};
    OK(syscall(SYS_move_pages, 0, 3, pages, NULL, status, 0));
    EXPECT_EQ(status[0], 0);
    EXPECT_EQ(status[1], -ENOENT);
    EXPECT_EQ(status[2], -EFAULT);
    /* Moving to node 0 leaves each where it is. */
    int nodes[3] = {0, 0, 0};
    status[0] = status[1] = status[2] = -1;
    EXPECT_EQ(syscall(SYS_move_pages, 0, 3, pages, nodes, status, MPOL_MF_MOVE), 0);
    EXPECT_EQ(status[0], 0);
    EXPECT_EQ(status[1], -ENOENT);
    EXPECT_EQ(status[2], -EFAULT);
    EXPECT_EQ(p[0], 1);
    /* Another process's pages, by pid. */
    status[0] = -1;
    EXPECT_EQ(syscall(SYS_move_pages, getpid(), 1, pages, NULL, status, 0), 0);
    EXPECT_EQ(status[0], 0);
    int bad_node[1] = {1};
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 1, pages, bad_node, status, MPOL_MF_MOVE), ENODEV);
    bad_node[0] = -1;
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 1, pages, bad_node, status, MPOL_MF_MOVE), ENODEV);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 1, pages, NULL, status, 8), EINVAL);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 1, (void *)8, NULL, status, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0, 1, pages, NULL, (void *)8, 0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_move_pages, 0x3fffffff, 1, pages, NULL, status, 0), ESRCH);
    EXPECT_EQ(syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0), 0);
    munmap(p, 2 * 4096);
}

TEST(migrate_pages_finds_nothing_to_move)
{
    unsigned long node0 = 1, node1 = 2, none = 0;
    EXPECT_EQ(syscall(SYS_migrate_pages, 0, 65, &node0, &node0), 0);
    EXPECT_EQ(syscall(SYS_migrate_pages, getpid(), 65, &node1, &node0), 0);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, &none), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, (void *)8, &node0), EFAULT);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 1UL << 20, &node0, &node0), EINVAL);
    EXPECT_ERRNO(syscall(SYS_migrate_pages, 0x3fffffff, 65, &node0, &node0), ESRCH);
    if (geteuid() == 0) {
        /* CAP_SYS_NICE may name any node; none of the new ones exists. */
        EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, &node1), EINVAL);
    } else {
        EXPECT_ERRNO(syscall(SYS_migrate_pages, 0, 65, &node0, &node1), EPERM);
    }
}

TEST(a_thread_policy_is_inherited_by_fork_and_kept_over_exec)
{
    unsigned long node0 = 1;
    OK(set_policy(MPOL_BIND, &node0, 65));
    pid_t pid = OK(fork());
    if (pid == 0) {
        int m = -1;
        get_policy(&m, NULL, 0, NULL, 0);
        if (m != MPOL_BIND)
            _exit(1);
        /* The thread's policy survives execve: the program run again checks. */
        setenv("KT_MEMPOLICY_EXECED", "1", 1);
        execl("/proc/self/exe", "mempolicy", (char *)NULL);
        _exit(2);
    }
    int st;
    OK(waitpid(pid, &st, 0));
    OK(set_policy(MPOL_DEFAULT, NULL, 0));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exited %d", WEXITSTATUS(st));
}

int main(void)
{
    if (getenv("KT_MEMPOLICY_EXECED")) {
        int m = -1;
        get_policy(&m, NULL, 0, NULL, 0);
        return m == MPOL_BIND ? 0 : 3;
    }
    KT_BEGIN();
    RUN(the_thread_policy_set_is_the_one_reported);
    RUN(set_mempolicy_rejects_what_linux_rejects);
    RUN(get_mempolicy_rejects_what_linux_rejects);
    RUN(mbind_gives_part_of_a_mapping_its_own_policy);
    RUN(mbind_rejects_what_linux_rejects);
    RUN(get_mempolicy_node_of_an_address_faults_the_page_in);
    RUN(home_node_needs_a_bind_policy_on_the_range);
    RUN(move_pages_reports_each_page_node_or_error);
    RUN(migrate_pages_finds_nothing_to_move);
    RUN(a_thread_policy_is_inherited_by_fork_and_kept_over_exec);
    return KT_END();
}

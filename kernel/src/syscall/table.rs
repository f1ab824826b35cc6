//! The system call table: the one place that says which Linux calls Kestrel has,
//! and what each one's arguments are.
//!
//! Format, one call per line (parsed by `cargo xtask syscalls` and `cargo xtask
//! fuzz`, keep it so):
//! `NAME => family::handler(arg: Type, ...);`, optionally followed by
//! `, partial "what is missing"` before the `;`.
//!
//! The argument list is the call's signature as Linux declares it, in the types
//! of [`super::args`]: the dispatcher decodes each register into its declared
//! type (C `int`s from the low 32 bits, pointers as [`UserPtr`], strings as
//! [`UserCStr`]) and passes them to the handler, so a handler whose parameters do
//! not match its line does not compile. The partial notes are for the status
//! page; the macro ignores them.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use kestrel_abi::KResult;
use kestrel_abi::fs::{Cachestat, CachestatRange, EpollEvent, Iovec, PollFd, Stat, Statfs, Statx};
use kestrel_abi::ipc::{MsqidDs, Sembuf, ShmidDs};
use kestrel_abi::net::{Mmsghdr, Msghdr};
use kestrel_abi::process::{Rlimit, Rusage, Sysinfo, Utsname};
use kestrel_abi::signal::{KernelSigaction, Siginfo, StackT};
use kestrel_abi::time::{Itimerspec, Itimerval, Sigevent, Timespec, Timeval, Timex, Timezone};

use super::args::*;
use crate::mm::callbox::CallBox;

use super::{
    Args, Ctx, acct, aio, bpf, cachestat, cred, epoll, fd, fs, fs_extra, futex, futex2, io_uring,
    ioprio, ipc, keys, landlock, locks, lsm, mempolicy, misc, mm, mount, mqueue, newmount, perf,
    pidfd, poll, process, process_madvise, process_vm, ptrace, rseq, sched, seccomp, signal,
    socket, splice, swap, time, timer, uffd, xattr,
};

/// Awaits a handler's future. Every call's future goes in a block of its own
/// size (crate::mm::callbox), so the dispatch future, which every thread keeps,
/// holds a pointer rather than the largest handler's future; a call that
/// completes at once reuses this CPU's spare block and allocates nothing. (The
/// hot calls that never wait do not come here at all: `syscall::call_now`.)
macro_rules! run_handler {
    ($name:ident, $call:expr) => {
        OrNoMem(CallBox::new_with(move || $call)).await
    };
}

/// A handler's boxed future, or ENOMEM when there was no block for it,
/// awaited as one value: matching the `Option` and awaiting the box in it
/// kept the `Option` in the table's future beside the box (8 bytes more).
struct OrNoMem<F>(Option<CallBox<F>>);

impl<F: Future<Output = KResult<u64>>> Future for OrNoMem<F> {
    type Output = KResult<u64>;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KResult<u64>> {
        match &mut self.get_mut().0 {
            Some(call) => Pin::new(call).poll(cx),
            None => Poll::Ready(Err(kestrel_abi::Errno::ENOMEM)),
        }
    }
}

macro_rules! syscall_table {
    ($($name:ident => $family:ident :: $handler:ident ( $($arg:ident : $ty:ty),* ) $(, partial $note:literal)?;)*) => {
        /// Runs the handler for the call in `ctx.regs` (`super::call_of`), its
        /// arguments decoded as the table declares.
        pub async fn call(ctx: &mut Ctx<'_>) -> KResult<u64> {
            let (nr, a) = super::call_of(ctx.regs);
            match nr as usize {
                // The arguments are decoded inside the block that makes the
                // future, so they are not kept beside it across the await.
                $(kestrel_abi::syscalls::nr::$name => run_handler!($name, {
                    #[allow(unused_mut, unused_variables)]
                    let mut regs = Regs::new(a);
                    $family::$handler(ctx, $(regs.next::<$ty>()),*)
                }),)*
                _ => Err(super::unknown(ctx, nr)),
            }
        }

        /// Each handler's future size in bytes, by call name: a thread parked
        /// in a call keeps a heap block of its handler's size class (the
        /// `call` future holds only the pointer). Measured from the types
        /// alone; nothing is run.
        pub fn future_sizes() -> alloc::vec::Vec<(&'static str, usize)> {
            alloc::vec![$((
                stringify!($name),
                output_size(&|ctx: &'static mut Ctx<'static>, a: Args| {
                    #[allow(unused_mut, unused_variables)]
                    let mut regs = Regs::new(a);
                    $family::$handler(ctx, $(regs.next::<$ty>()),*)
                }),
            ),)*]
        }
    };
}

/// The size of what `f` returns, from its type.
pub fn output_size<A, B, R>(_: &impl FnOnce(A, B) -> R) -> usize {
    core::mem::size_of::<R>()
}

/// The size of the whole dispatch future (the handlers' own futures are out of
/// line, in [`CallBox`]es).
pub fn call_future_size() -> usize {
    output_size(&|ctx: &'static mut Ctx<'static>, _: ()| call(ctx))
}

syscall_table! {
    READ => fs::sys_read(fd: Fd, buf: UserPtr<u8>, count: usize);
    WRITE => fs::sys_write(fd: Fd, buf: UserPtr<u8>, count: usize);
    OPEN => fs::sys_open(path: UserCStr, flags: u32, mode: Mode);
    CLOSE => fd::sys_close(fd: Fd);
    STAT => fs::sys_stat(path: UserCStr, statbuf: UserPtr<Stat>);
    FSTAT => fs::sys_fstat(fd: Fd, statbuf: UserPtr<Stat>);
    LSTAT => fs::sys_lstat(path: UserCStr, statbuf: UserPtr<Stat>);
    LSEEK => fs::sys_lseek(fd: Fd, offset: i64, whence: u32);
    MMAP => mm::sys_mmap(addr: u64, len: u64, prot: u32, flags: u32, fd: Fd, offset: u64), partial "MAP_HUGETLB: 2 MiB pages only, mapped with 4 KiB entries, reserved and taken from the pool at mmap (HugePages_Rsvd stays 0, MAP_NORESERVE reserves too), private ones copied into 4 KiB pages on a write after fork; mremap of a huge area is EINVAL";
    MPROTECT => mm::sys_mprotect(addr: u64, len: u64, prot: u32);
    MUNMAP => mm::sys_munmap(addr: u64, len: u64);
    BRK => mm::sys_brk(brk: u64);
    MREMAP => mm::sys_mremap(old_addr: u64, old_len: u64, new_len: u64, flags: u32, new_addr: u64);
    MSYNC => mm::sys_msync(addr: u64, len: u64, flags: u32);
    MINCORE => mm::sys_mincore(addr: u64, len: u64, vec: UserPtr<u8>);
    REMAP_FILE_PAGES => mm::sys_remap_file_pages(start: u64, size: u64, prot: u64, pgoff: u64, flags: u64);
    MLOCK => mm::sys_mlock(addr: u64, len: u64);
    MUNLOCK => mm::sys_munlock(addr: u64, len: u64);
    MLOCKALL => mm::sys_mlockall(flags: u32);
    MUNLOCKALL => mm::sys_munlockall();
    MLOCK2 => mm::sys_mlock2(addr: u64, len: u64, flags: u32);
    MADVISE => mm::sys_madvise(addr: u64, len: u64, advice: u32), partial "MADV_FREE frees at once; MADV_REMOVE is EINVAL (no hole punched in a shared file mapping); no same-page merging (MADV_MERGEABLE), memory-failure injection or huge-page collapse, and the other hints Linux treats as advice are accepted and ignored";
    MBIND => mempolicy::sys_mbind(start: u64, len: u64, mode: u64, nmask: UserPtr<u64>, maxnode: u64, flags: u32), partial "one node (node 0): policies are recorded and reported, pages stay where they are; shared memory keeps its policy per mapping, not per object";
    SET_MEMPOLICY => mempolicy::sys_set_mempolicy(mode: i32, nmask: UserPtr<u64>, maxnode: u64), partial "one node (node 0): the policy is recorded and reported, allocation is unchanged";
    GET_MEMPOLICY => mempolicy::sys_get_mempolicy(policy: UserPtr<i32>, nmask: UserPtr<u64>, maxnode: u64, addr: u64, flags: u64);
    SET_MEMPOLICY_HOME_NODE => mempolicy::sys_set_mempolicy_home_node(start: u64, len: u64, home_node: u64, flags: u64);
    MIGRATE_PAGES => mempolicy::sys_migrate_pages(pid: Pid, maxnode: u64, old_nodes: UserPtr<u64>, new_nodes: UserPtr<u64>), partial "one node (node 0): nothing ever has another node to move to";
    MOVE_PAGES => mempolicy::sys_move_pages(pid: Pid, count: u64, pages: UserPtr<u64>, nodes: UserPtr<i32>, status: UserPtr<i32>, flags: i32), partial "one node (node 0): present pages report node 0 and stay there";
    SHMGET => ipc::sys_shmget(key: i32, size: usize, shmflg: u32), partial "SHM_HUGETLB: 2 MiB pages only; the RLIMIT_MEMLOCK check for an unprivileged caller counts the one segment, not the user's total; SHM_NORESERVE reserves anyway";
    SHMAT => ipc::sys_shmat(shmid: i32, shmaddr: u64, shmflg: u32), partial "a SHM_RDONLY attachment may be mprotect()ed writable (Linux: EACCES); /proc/PID/maps does not name it /SYSVkey";
    SHMCTL => ipc::sys_shmctl(shmid: i32, cmd: i32, buf: UserPtr<ShmidDs>);
    RT_SIGACTION => signal::sys_rt_sigaction(sig: i32, act: UserPtr<KernelSigaction>, oldact: UserPtr<KernelSigaction>, sigsetsize: usize);
    RT_SIGPROCMASK => signal::sys_rt_sigprocmask(how: i32, set: UserPtr<u64>, oldset: UserPtr<u64>, sigsetsize: usize);
    RT_SIGRETURN => signal::sys_rt_sigreturn();
    IOCTL => fd::sys_ioctl(fd: Fd, cmd: u32, arg: u64);
    PREAD64 => fs::sys_pread64(fd: Fd, buf: UserPtr<u8>, count: usize, offset: i64);
    PWRITE64 => fs::sys_pwrite64(fd: Fd, buf: UserPtr<u8>, count: usize, offset: i64);
    READV => fs::sys_readv(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize);
    WRITEV => fs::sys_writev(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize);
    ACCESS => fs::sys_access(path: UserCStr, mode: u32);
    PIPE => fd::sys_pipe(fds: UserPtr<[i32; 2]>);
    POLL => poll::sys_poll(fds: UserPtr<PollFd>, nfds: u32, timeout: i32);
    SELECT => poll::sys_select(nfds: i32, readfds: UserPtr<u8>, writefds: UserPtr<u8>, exceptfds: UserPtr<u8>, timeout: UserPtr<Timeval>);
    SCHED_YIELD => misc::sys_sched_yield();
    PAUSE => signal::sys_pause();
    DUP => fd::sys_dup(fd: Fd);
    DUP2 => fd::sys_dup2(oldfd: Fd, newfd: Fd);
    NANOSLEEP => time::sys_nanosleep(req: UserPtr<Timespec>, rem: UserPtr<Timespec>);
    GETITIMER => timer::sys_getitimer(which: i32, value: UserPtr<Itimerval>);
    ALARM => timer::sys_alarm(seconds: u32);
    SETITIMER => timer::sys_setitimer(which: i32, value: UserPtr<Itimerval>, ovalue: UserPtr<Itimerval>);
    SENDFILE => fs::sys_sendfile(out_fd: Fd, in_fd: Fd, offset: UserPtr<i64>, count: usize);
    SOCKET => socket::sys_socket(domain: u32, kind: u32, protocol: i32), partial "AF_UNIX; AF_INET and AF_INET6 with SOCK_STREAM (TCP) and SOCK_DGRAM (UDP); AF_NETLINK with NETLINK_ROUTE only; AF_PACKET SOCK_RAW/SOCK_DGRAM with classic BPF filters (no SOCK_PACKET or fanout; mmap'd PACKET_RX_RING of TPACKET_V1-V3; a PACKET_TX_RING is checked and kept but sends nothing and its socket cannot be mapped); AF_INET/AF_INET6 SOCK_RAW and ICMP ping sockets without fragmentation, IP options or an error queue";
    CONNECT => socket::sys_connect(fd: Fd, addr: UserPtr<u8>, addrlen: u32);
    ACCEPT => socket::sys_accept(fd: Fd, addr: UserPtr<u8>, addrlen: UserPtr<u32>);
    SENDTO => socket::sys_sendto(fd: Fd, buf: UserPtr<u8>, len: usize, flags: u32, dest: UserPtr<u8>, addrlen: u32);
    RECVFROM => socket::sys_recvfrom(fd: Fd, buf: UserPtr<u8>, len: usize, flags: u32, src: UserPtr<u8>, addrlen: UserPtr<u32>);
    SENDMSG => socket::sys_sendmsg(fd: Fd, msg: UserPtr<Msghdr>, flags: u32), partial "internet sockets: UDP applies IP_TTL/IPV6_HOPLIMIT and IP_PKTINFO/IPV6_PKTINFO sources; IP_TOS, IPV6_TCLASS and IPV6_DONTFRAG are checked, not applied; IP options and IPv6 extension headers EINVAL; raw sockets ignore control messages";
    RECVMSG => socket::sys_recvmsg(fd: Fd, msg: UserPtr<Msghdr>, flags: u32), partial "internet sockets: UDP datagrams carry SO_TIMESTAMP(NS), IP_PKTINFO/RECVTTL/RECVTOS/RECVORIGDSTADDR and IPV6_RECVPKTINFO/RECVHOPLIMIT/RECVTCLASS/RECVORIGDSTADDR messages, TCP none (its urgent byte with MSG_OOB); no MSG_ERRQUEUE";
    SHUTDOWN => socket::sys_shutdown(fd: Fd, how: u32);
    BIND => socket::sys_bind(fd: Fd, addr: UserPtr<u8>, addrlen: u32);
    LISTEN => socket::sys_listen(fd: Fd, backlog: i32);
    GETSOCKNAME => socket::sys_getsockname(fd: Fd, addr: UserPtr<u8>, addrlen: UserPtr<u32>);
    GETPEERNAME => socket::sys_getpeername(fd: Fd, addr: UserPtr<u8>, addrlen: UserPtr<u32>);
    SOCKETPAIR => socket::sys_socketpair(domain: u32, kind: u32, protocol: i32, sv: UserPtr<[i32; 2]>);
    SETSOCKOPT => socket::sys_setsockopt(fd: Fd, level: i32, optname: i32, optval: UserPtr<u8>, optlen: u32), partial "AF_UNIX: SOL_SOCKET; inet: SO_REUSEADDR/REUSEPORT/KEEPALIVE/BROADCAST/LINGER/SNDBUF/RCVBUF/RCVTIMEO/SNDTIMEO, TCP_NODELAY/KEEPIDLE/KEEPINTVL/KEEPCNT, IP_TTL, IPV6_V6ONLY/UNICAST_HOPS/ADDRFORM, the receive control-message switches (SO_TIMESTAMP(NS)(_NEW), IP_PKTINFO/RECVTTL/RECVTOS/RECVORIGDSTADDR, IPV6_RECVPKTINFO/RECVHOPLIMIT/RECVTCLASS/RECVORIGDSTADDR); a hop limit of 0 sends with 64; SO_REUSEPORT does not balance, SO_LINGER's timeout is not honoured, TCP_CORK/QUICKACK/MAXSEG, IP_TOS are accepted without effect";
    GETSOCKOPT => socket::sys_getsockopt(fd: Fd, level: i32, optname: i32, optval: UserPtr<u8>, optlen: UserPtr<u32>), partial "AF_UNIX: SOL_SOCKET; inet: the options setsockopt takes, SO_ERROR/TYPE/DOMAIN/PROTOCOL/ACCEPTCONN, and TCP_INFO with only tcpi_state and the MSS filled";
    GETPID => process::sys_getpid();
    CLONE => process::sys_clone(flags: u64, stack: u64, parent_tid: UserPtr<i32>, child_tid: UserPtr<i32>, tls: u64);
    FORK => process::sys_fork();
    VFORK => process::sys_vfork();
    EXECVE => process::sys_execve(path: UserCStr, argv: UserPtr<u64>, envp: UserPtr<u64>);
    EXIT => process::sys_exit(status: u32);
    WAIT4 => process::sys_wait4(pid: Pid, wstatus: UserPtr<i32>, options: u32, rusage: UserPtr<Rusage>), partial "rusage reports CPU times and context switches only";
    KILL => signal::sys_kill(pid: Pid, sig: i32);
    UNAME => misc::sys_uname(buf: UserPtr<Utsname>);
    SEMGET => ipc::sys_semget(key: i32, nsems: i32, semflg: u32);
    SEMOP => ipc::sys_semop(semid: i32, sops: UserPtr<Sembuf>, nsops: u32), partial "SEM_UNDO adjustments are per process: CLONE_SYSVSEM sharing between processes is not honoured";
    SEMCTL => ipc::sys_semctl(semid: i32, semnum: i32, cmd: i32, arg: u64);
    SHMDT => ipc::sys_shmdt(shmaddr: u64);
    MSGGET => ipc::sys_msgget(key: i32, msgflg: u32);
    MSGSND => ipc::sys_msgsnd(msqid: i32, msgp: UserPtr<u8>, msgsz: usize, msgflg: u32);
    MSGRCV => ipc::sys_msgrcv(msqid: i32, msgp: UserPtr<u8>, msgsz: usize, msgtyp: i64, msgflg: u32);
    MSGCTL => ipc::sys_msgctl(msqid: i32, cmd: i32, buf: UserPtr<MsqidDs>);
    FCNTL => fd::sys_fcntl(fd: Fd, cmd: u32, arg: u64), partial "a lease counts the descriptions open in descriptor tables (not ones held only by a mapping)";
    FLOCK => locks::sys_flock(fd: Fd, op: u32);
    FSYNC => fs_extra::sys_fsync(fd: Fd), partial "an ext2 file writes its whole file system (no per-file writeback); in-memory files have nothing to write; a disk's write cache is flushed";
    FDATASYNC => fs_extra::sys_fsync(fd: Fd), partial "what fsync writes: an ext2 file writes its whole file system";
    TRUNCATE => fs::sys_truncate(path: UserCStr, length: i64);
    FTRUNCATE => fs::sys_ftruncate(fd: Fd, length: i64);
    GETDENTS => fs_extra::sys_getdents(fd: Fd, dirp: UserPtr<u8>, count: u32);
    GETCWD => fs::sys_getcwd(buf: UserPtr<u8>, size: usize);
    CHDIR => fs::sys_chdir(path: UserCStr);
    FCHDIR => fs::sys_fchdir(fd: Fd);
    RENAME => fs::sys_rename(oldpath: UserCStr, newpath: UserCStr);
    MKDIR => fs::sys_mkdir(path: UserCStr, mode: Mode);
    RMDIR => fs::sys_rmdir(path: UserCStr);
    CREAT => fs::sys_creat(path: UserCStr, mode: Mode);
    LINK => fs::sys_link(oldpath: UserCStr, newpath: UserCStr);
    UNLINK => fs::sys_unlink(path: UserCStr);
    SYMLINK => fs::sys_symlink(target: UserCStr, linkpath: UserCStr);
    READLINK => fs::sys_readlink(path: UserCStr, buf: UserPtr<u8>, bufsiz: i32);
    CHMOD => fs::sys_chmod(path: UserCStr, mode: Mode);
    FCHMOD => fs::sys_fchmod(fd: Fd, mode: Mode);
    CHOWN => fs::sys_chown(path: UserCStr, owner: Id, group: Id);
    FCHOWN => fs::sys_fchown(fd: Fd, owner: Id, group: Id);
    LCHOWN => fs::sys_lchown(path: UserCStr, owner: Id, group: Id);
    UMASK => fs::sys_umask(mask: u32);
    GETTIMEOFDAY => time::sys_gettimeofday(tv: UserPtr<Timeval>, tz: UserPtr<Timezone>);
    GETRUSAGE => time::sys_getrusage(who: i32, usage: UserPtr<Rusage>), partial "CPU times, ru_maxrss (sampled at getrusage, exec and exit) and the context switches (ru_nvcsw, ru_nivcsw); the other fields are zero";
    TIMES => time::sys_times(buf: UserPtr<[i64; 4]>);
    GETRLIMIT => misc::sys_getrlimit(resource: u32, rlim: UserPtr<Rlimit>);
    SYSINFO => misc::sys_sysinfo(info: UserPtr<Sysinfo>);
    PTRACE => ptrace::sys_ptrace(request: i64, pid: Pid, addr: u64, data: u64), partial "no PTRACE_SYSEMU, PEEKSIGINFO or ARCH_PRCTL requests; init cannot be traced";
    PERSONALITY => misc::sys_personality(persona: u32), partial "the value is kept; no flag is acted on (every domain runs as PER_LINUX, as on Linux)";
    SYSLOG => misc::sys_syslog(kind: i32, buf: UserPtr<u8>, len: i32), partial "the console level is kept, not acted on";
    GETUID => process::sys_getuid();
    SETUID => cred::sys_setuid(uid: Id);
    SETGID => cred::sys_setgid(gid: Id);
    SETREUID => cred::sys_setreuid(ruid: Id, euid: Id);
    SETREGID => cred::sys_setregid(rgid: Id, egid: Id);
    GETGROUPS => cred::sys_getgroups(size: i32, list: UserPtr<u32>);
    SETGROUPS => cred::sys_setgroups(size: i32, list: UserPtr<u32>);
    SETRESUID => cred::sys_setresuid(ruid: Id, euid: Id, suid: Id);
    GETRESUID => cred::sys_getresuid(ruid: UserPtr<u32>, euid: UserPtr<u32>, suid: UserPtr<u32>);
    SETRESGID => cred::sys_setresgid(rgid: Id, egid: Id, sgid: Id);
    GETRESGID => cred::sys_getresgid(rgid: UserPtr<u32>, egid: UserPtr<u32>, sgid: UserPtr<u32>);
    SETFSUID => cred::sys_setfsuid(uid: Id);
    SETFSGID => cred::sys_setfsgid(gid: Id);
    CAPGET => cred::sys_capget(hdr: UserPtr<[u32; 2]>, data: UserPtr<u32>);
    CAPSET => cred::sys_capset(hdr: UserPtr<[u32; 2]>, data: UserPtr<u32>);
    UTIME => fs::sys_utime(path: UserCStr, times: UserPtr<[i64; 2]>);
    MKNOD => fs::sys_mknod(path: UserCStr, mode: Mode, dev: u32);
    USTAT => fs_extra::sys_ustat(dev: u32, ubuf: UserPtr<u8>);
    REBOOT => misc::sys_reboot(magic1: u32, magic2: u32, cmd: u32, arg: u64), partial "a restart powers off; no kexec or suspend";
    SYSFS => misc::sys_sysfs(option: i32, arg1: u64, arg2: u64);
    STATFS => fs::sys_statfs(path: UserCStr, buf: UserPtr<Statfs>);
    FSTATFS => fs::sys_fstatfs(fd: Fd, buf: UserPtr<Statfs>);
    GETPRIORITY => sched::sys_getpriority(which: i32, who: u32);
    SETPRIORITY => sched::sys_setpriority(which: i32, who: u32, niceval: i32);
    SCHED_SETPARAM => sched::sys_sched_setparam(pid: Pid, param: UserPtr<i32>);
    SCHED_GETPARAM => sched::sys_sched_getparam(pid: Pid, param: UserPtr<i32>);
    SCHED_SETSCHEDULER => sched::sys_sched_setscheduler(pid: Pid, policy: i32, param: UserPtr<i32>), partial "per process, not per thread; SCHED_FIFO/SCHED_RR are kept and reported but only give the longest time slice (no priority preemption)";
    SCHED_GETSCHEDULER => sched::sys_sched_getscheduler(pid: Pid);
    SCHED_GET_PRIORITY_MAX => sched::sys_sched_get_priority_max(policy: i32);
    SCHED_GET_PRIORITY_MIN => sched::sys_sched_get_priority_min(policy: i32);
    SCHED_RR_GET_INTERVAL => sched::sys_sched_rr_get_interval(pid: Pid, tp: UserPtr<Timespec>);
    PRCTL => sched::sys_prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64), partial "the options Kestrel knows: names, death signal, dumpable, keepcaps, subreaper, no_new_privs, seccomp, timer slack, TSC mode";
    GETGID => process::sys_getgid();
    GETEUID => process::sys_geteuid();
    GETEGID => process::sys_getegid();
    SETPGID => process::sys_setpgid(pid: Pid, pgid: Pid);
    GETPPID => process::sys_getppid();
    GETPGRP => process::sys_getpgrp();
    SETSID => process::sys_setsid();
    GETPGID => process::sys_getpgid(pid: Pid);
    GETSID => process::sys_getsid(pid: Pid);
    SETRLIMIT => misc::sys_setrlimit(resource: u32, rlim: UserPtr<Rlimit>);
    CHROOT => fs_extra::sys_chroot(path: UserCStr);
    SYNC => fs_extra::sys_sync();
    ADJTIMEX => time::sys_adjtimex(buf: UserPtr<Timex>), partial "reports a free-running, unsynchronised clock; ADJ_OFFSET and ADJ_FREQUENCY are recorded, not applied";
    ACCT => acct::sys_acct(name: UserCStr), partial "one accounting file for the system (Linux: per pid namespace); ac_tty, ac_io, ac_rw and the fault counts are 0";
    SETTIMEOFDAY => time::sys_settimeofday(tv: UserPtr<Timeval>, tz: UserPtr<Timezone>);
    MOUNT => mount::sys_mount(source: UserCStr, target: UserCStr, fstype: UserCStr, flags: u64, data: UserPtr<u8>), partial "ext2 on a block device, proc, tmpfs, ramfs, devtmpfs, bind mounts (of directories and of files) and MS_MOVE; ro, noexec, nosuid and nodev are enforced; one set of flags per mount (no superblock flags); new mounts propagate to peers and slaves, unmounts and moves do not";
    UMOUNT2 => mount::sys_umount2(target: UserCStr, flags: u32), partial "only ext2 is EBUSY while in use (tmpfs, ramfs and proc unmount at once); MNT_EXPIRE unmounts without the EAGAIN round; MNT_FORCE is a plain unmount";
    SWAPON => swap::sys_swapon(path: UserCStr, flags: i32), partial "areas are accounted, memory is never paged out";
    SWAPOFF => swap::sys_swapoff(path: UserCStr), partial "areas are accounted, memory is never paged out";
    PIVOT_ROOT => mount::sys_pivot_root(new_root: UserCStr, put_old: UserCStr), partial "the boot root (rootfs) may be pivoted (Linux: EINVAL); shared mounts are not refused";
    SETHOSTNAME => misc::sys_sethostname(name: UserPtr<u8>, len: i32);
    SETDOMAINNAME => misc::sys_setdomainname(name: UserPtr<u8>, len: i32);
    SETXATTR => xattr::sys_setxattr(path: UserCStr, name: UserCStr, value: UserPtr<u8>, size: usize, flags: i32);
    LSETXATTR => xattr::sys_lsetxattr(path: UserCStr, name: UserCStr, value: UserPtr<u8>, size: usize, flags: i32);
    FSETXATTR => xattr::sys_fsetxattr(fd: Fd, name: UserCStr, value: UserPtr<u8>, size: usize, flags: i32);
    GETXATTR => xattr::sys_getxattr(path: UserCStr, name: UserCStr, value: UserPtr<u8>, size: usize);
    LGETXATTR => xattr::sys_lgetxattr(path: UserCStr, name: UserCStr, value: UserPtr<u8>, size: usize);
    FGETXATTR => xattr::sys_fgetxattr(fd: Fd, name: UserCStr, value: UserPtr<u8>, size: usize);
    LISTXATTR => xattr::sys_listxattr(path: UserCStr, list: UserPtr<u8>, size: usize);
    LLISTXATTR => xattr::sys_llistxattr(path: UserCStr, list: UserPtr<u8>, size: usize);
    FLISTXATTR => xattr::sys_flistxattr(fd: Fd, list: UserPtr<u8>, size: usize);
    REMOVEXATTR => xattr::sys_removexattr(path: UserCStr, name: UserCStr);
    LREMOVEXATTR => xattr::sys_lremovexattr(path: UserCStr, name: UserCStr);
    FREMOVEXATTR => xattr::sys_fremovexattr(fd: Fd, name: UserCStr);
    RT_SIGPENDING => signal::sys_rt_sigpending(set: UserPtr<u64>, sigsetsize: usize);
    RT_SIGTIMEDWAIT => signal::sys_rt_sigtimedwait(set: UserPtr<u64>, info: UserPtr<Siginfo>, timeout: UserPtr<Timespec>, sigsetsize: usize);
    RT_SIGQUEUEINFO => signal::sys_rt_sigqueueinfo(tgid: Pid, sig: i32, info: UserPtr<Siginfo>);
    RT_SIGSUSPEND => signal::sys_rt_sigsuspend(set: UserPtr<u64>, sigsetsize: usize);
    SIGALTSTACK => signal::sys_sigaltstack(ss: UserPtr<StackT>, old_ss: UserPtr<StackT>);
    ARCH_PRCTL => process::sys_arch_prctl(code: u32, addr: u64);
    IOPL => process::sys_iopl(level: u32), partial "level 3 opens every I/O port through the TSS bitmap, as Linux emulates it (no RFLAGS.IOPL, so no cli/sti); levels 1 and 2 grant nothing";
    IOPERM => process::sys_ioperm(from: u64, num: u64, turn_on: i32);
    GETTID => process::sys_gettid();
    READAHEAD => fs_extra::sys_readahead(fd: Fd, offset: i64, count: usize);
    TIME => time::sys_time(tloc: UserPtr<i64>);
    TKILL => signal::sys_tkill(tid: Pid, sig: i32);
    SCHED_SETAFFINITY => sched::sys_sched_setaffinity(pid: Pid, len: u32, mask: UserPtr<u8>);
    SCHED_GETAFFINITY => sched::sys_sched_getaffinity(pid: Pid, len: u32, mask: UserPtr<u8>);
    FUTEX => futex::sys_futex(uaddr: UserPtr<u32>, op: u32, val: u32, timeout: u64, uaddr2: UserPtr<u32>, val3: u32), partial "no priority-inheritance operations (FUTEX_LOCK_PI and friends)";
    EPOLL_CREATE => epoll::sys_epoll_create(size: i32);
    IO_SETUP => aio::sys_io_setup(nr_events: u32, ctxp: UserPtr<u64>), partial "requests are carried out as they are submitted";
    IO_DESTROY => aio::sys_io_destroy(ctx_id: u64);
    IO_GETEVENTS => aio::sys_io_getevents(ctx_id: u64, min_nr: i64, nr: i64, events: UserPtr<u8>, timeout: UserPtr<Timespec>);
    IO_PGETEVENTS => aio::sys_io_pgetevents(ctx_id: u64, min_nr: i64, nr: i64, events: UserPtr<u8>, timeout: UserPtr<Timespec>, usig: UserPtr<[u64; 2]>);
    IO_SUBMIT => aio::sys_io_submit(ctx_id: u64, nr: i64, iocbpp: UserPtr<u64>), partial "IOCB_CMD_PREAD, PWRITE, FSYNC and FDSYNC (no vectored or poll requests)";
    IO_CANCEL => aio::sys_io_cancel(ctx_id: u64, iocb: UserPtr<u8>, result: UserPtr<u8>);
    INOTIFY_INIT => fs_extra::sys_inotify_init(), partial "events come from system calls (not from a disk changed underneath)";
    INOTIFY_ADD_WATCH => fs_extra::sys_inotify_add_watch(fd: Fd, path: UserCStr, mask: u32);
    INOTIFY_RM_WATCH => fs_extra::sys_inotify_rm_watch(fd: Fd, wd: i32);
    INOTIFY_INIT1 => fs_extra::sys_inotify_init1(flags: u32);
    FANOTIFY_INIT => fs_extra::sys_fanotify_init(flags: u32, event_f_flags: u32), partial "no file-id or pidfd information records (FAN_REPORT_FID, FAN_REPORT_DIR_FID, FAN_REPORT_NAME, FAN_REPORT_PIDFD: EINVAL), so no directory-entry events";
    FANOTIFY_MARK => fs_extra::sys_fanotify_mark(fd: Fd, flags: u32, mask: u64, dirfd: Fd, path: UserCStr);
    GETDENTS64 => fs::sys_getdents64(fd: Fd, dirp: UserPtr<u8>, count: u32);
    SEMTIMEDOP => ipc::sys_semtimedop(semid: i32, sops: UserPtr<Sembuf>, nsops: u32, timeout: UserPtr<Timespec>), partial "SEM_UNDO adjustments are per process: CLONE_SYSVSEM sharing between processes is not honoured";
    FADVISE64 => fs::sys_fadvise64(fd: Fd, offset: i64, len: i64, advice: i32), partial "acts on ext2 files (read-ahead mode, WILLNEED, DONTNEED of clean unmapped pages); DONTNEED leaves the block cache below them; in-memory files have nothing to do";
    SET_TID_ADDRESS => process::sys_set_tid_address(tidptr: UserPtr<i32>);
    RESTART_SYSCALL => signal::sys_restart_syscall();
    UNSHARE => process::sys_unshare(flags: u64), partial "user namespaces record id maps but translate none and grant no capabilities (docs/namespaces.md)";
    OPEN_TREE => newmount::sys_open_tree(dfd: Fd, path: UserCStr, flags: u32), partial "an AT_RECURSIVE clone gets the mounts under its source when attached, not while detached";
    MOVE_MOUNT => newmount::sys_move_mount(from_dfd: Fd, from_path: UserCStr, to_dfd: Fd, to_path: UserCStr, flags: u32), partial "MOVE_MOUNT_BENEATH only for a detached mount; a moved attached mount does not propagate";
    FSOPEN => newmount::sys_fsopen(fsname: UserCStr, flags: u32), partial "ext2, tmpfs, ramfs, proc and devtmpfs";
    FSCONFIG => newmount::sys_fsconfig(fd: i32, cmd: u32, key: UserCStr, value: UserPtr<u8>, aux: i32), partial "binary, path and descriptor values only for the superblock flags; FSCONFIG_CMD_RECONFIGURE only on fspick's context; a reconfiguration changes the picked mount alone";
    FSMOUNT => newmount::sys_fsmount(fs_fd: Fd, flags: u32, attr_flags: u32);
    FSPICK => newmount::sys_fspick(dfd: Fd, path: UserCStr, flags: u32);
    STATMOUNT => newmount::sys_statmount(req: UserPtr<u8>, buf: UserPtr<u8>, bufsize: usize, flags: u32), partial "no STATMOUNT_MNT_NS_ID, mount options or mnt_id_req.mnt_ns_id";
    LISTMOUNT => newmount::sys_listmount(req: UserPtr<u8>, mnt_ids: UserPtr<u64>, nr_mnt_ids: usize, flags: u32), partial "mnt_id_req.mnt_ns_id is ignored (the caller's namespace)";
    OPEN_TREE_ATTR => newmount::sys_open_tree_attr(dfd: Fd, path: UserCStr, flags: u32, attr: UserPtr<u8>, size: usize);
    FILE_GETATTR => fd::sys_file_getattr(dirfd: Fd, path: UserCStr, attr: UserPtr<u8>, size: usize, at_flags: u32), partial "the FS_XFLAG_* bits that mirror inode flags; no extent size hints or project ids (ext2 and tmpfs keep none)";
    FILE_SETATTR => fd::sys_file_setattr(dirfd: Fd, path: UserCStr, attr: UserPtr<u8>, size: usize, at_flags: u32), partial "the FS_XFLAG_* bits that mirror inode flags; extent size hints and project ids are EOPNOTSUPP (ext2 and tmpfs keep none)";
    MOUNT_SETATTR => mount::sys_mount_setattr(dfd: Fd, path: UserCStr, flags: u32, attr: UserPtr<u8>, size: usize), partial "no id-mapped mounts (MOUNT_ATTR_IDMAP: EINVAL)";
    SETNS => process::sys_setns(fd: Fd, nstype: i32), partial "namespace files only, no pidfds";
    SET_ROBUST_LIST => futex::sys_set_robust_list(head: u64, len: usize);
    GET_ROBUST_LIST => futex::sys_get_robust_list(pid: Pid, head: UserPtr<u64>, len: UserPtr<u64>);
    SPLICE => splice::sys_splice(fd_in: Fd, off_in: UserPtr<i64>, fd_out: Fd, off_out: UserPtr<i64>, len: usize, flags: u32), partial "copies through a kernel buffer (no page moves); SPLICE_F_MOVE and SPLICE_F_GIFT change nothing";
    TEE => splice::sys_tee(fd_in: Fd, fd_out: Fd, len: usize, flags: u32);
    TIMER_CREATE => timer::sys_timer_create(clockid: i32, sevp: UserPtr<Sigevent>, timerid: UserPtr<i32>);
    TIMER_SETTIME => timer::sys_timer_settime(timerid: i32, flags: i32, new: UserPtr<Itimerspec>, old: UserPtr<Itimerspec>);
    TIMER_GETTIME => timer::sys_timer_gettime(timerid: i32, curr: UserPtr<Itimerspec>);
    TIMER_GETOVERRUN => timer::sys_timer_getoverrun(timerid: i32);
    TIMER_DELETE => timer::sys_timer_delete(timerid: i32);
    CLOCK_SETTIME => time::sys_clock_settime(clockid: i32, tp: UserPtr<Timespec>), partial "absolute CLOCK_REALTIME timers keep their deadline when the clock is set";
    CLOCK_GETTIME => time::sys_clock_gettime(clockid: i32, tp: UserPtr<Timespec>);
    CLOCK_GETRES => time::sys_clock_getres(clockid: i32, res: UserPtr<Timespec>);
    CLOCK_NANOSLEEP => time::sys_clock_nanosleep(clockid: i32, flags: i32, req: UserPtr<Timespec>, rem: UserPtr<Timespec>);
    EXIT_GROUP => process::sys_exit_group(status: u32);
    EPOLL_WAIT => epoll::sys_epoll_wait(epfd: Fd, events: UserPtr<EpollEvent>, maxevents: i32, timeout: i32);
    EPOLL_CTL => epoll::sys_epoll_ctl(epfd: Fd, op: i32, fd: Fd, event: UserPtr<EpollEvent>);
    TGKILL => signal::sys_tgkill(tgid: Pid, tid: Pid, sig: i32);
    UTIMES => fs::sys_utimes(path: UserCStr, times: UserPtr<[Timeval; 2]>);
    MQ_OPEN => mqueue::sys_mq_open(name: UserCStr, oflag: u32, mode: Mode, attr: UserPtr<[i64; 8]>);
    MQ_UNLINK => mqueue::sys_mq_unlink(name: UserCStr);
    MQ_TIMEDSEND => mqueue::sys_mq_timedsend(mqdes: Fd, msg: UserPtr<u8>, len: usize, prio: u32, timeout: UserPtr<Timespec>);
    MQ_TIMEDRECEIVE => mqueue::sys_mq_timedreceive(mqdes: Fd, msg: UserPtr<u8>, len: usize, prio: UserPtr<u32>, timeout: UserPtr<Timespec>);
    MQ_NOTIFY => mqueue::sys_mq_notify(mqdes: Fd, sevp: UserPtr<Sigevent>), partial "a registration lasts while its process lives (closing the descriptor does not remove it), and fires even when a receiver is waiting";
    MQ_GETSETATTR => mqueue::sys_mq_getsetattr(mqdes: Fd, newattr: UserPtr<[i64; 8]>, oldattr: UserPtr<[i64; 8]>);
    WAITID => process::sys_waitid(idtype: u64, id: u32, infop: UserPtr<Siginfo>, options: u32, rusage: UserPtr<Rusage>);
    ADD_KEY => keys::sys_add_key(ktype: UserCStr, desc: UserCStr, payload: UserPtr<u8>, plen: usize, ringid: i32), partial "key types keyring, user, logon and big_key (big_key payloads stay in memory and count in full against the quota)";
    REQUEST_KEY => keys::sys_request_key(ktype: UserCStr, desc: UserCStr, callout: UserCStr, destid: i32), partial "no upcall: with callout information a negative key is made and the answer is ENOENT, as Linux without /sbin/request-key";
    KEYCTL => keys::sys_keyctl(cmd: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64), partial "no persistent keyrings, DH or public-key operations (EOPNOTSUPP); INSTANTIATE, NEGATE and REJECT are EPERM (no request_key authority is ever held)";
    OPENAT => fs::sys_openat(dirfd: Fd, path: UserCStr, flags: u32, mode: Mode);
    MKDIRAT => fs::sys_mkdirat(dirfd: Fd, path: UserCStr, mode: Mode);
    MKNODAT => fs::sys_mknodat(dirfd: Fd, path: UserCStr, mode: Mode, dev: u32);
    FCHOWNAT => fs::sys_fchownat(dirfd: Fd, path: UserCStr, owner: Id, group: Id, flags: u32);
    FUTIMESAT => fs::sys_futimesat(dirfd: Fd, path: UserCStr, times: UserPtr<[Timeval; 2]>);
    NEWFSTATAT => fs::sys_newfstatat(dirfd: Fd, path: UserCStr, statbuf: UserPtr<Stat>, flags: u32);
    UNLINKAT => fs::sys_unlinkat(dirfd: Fd, path: UserCStr, flags: u32);
    RENAMEAT => fs::sys_renameat(olddirfd: Fd, oldpath: UserCStr, newdirfd: Fd, newpath: UserCStr);
    LINKAT => fs::sys_linkat(olddirfd: Fd, oldpath: UserCStr, newdirfd: Fd, newpath: UserCStr, flags: u32);
    SYMLINKAT => fs::sys_symlinkat(target: UserCStr, newdirfd: Fd, linkpath: UserCStr);
    READLINKAT => fs::sys_readlinkat(dirfd: Fd, path: UserCStr, buf: UserPtr<u8>, bufsiz: i32);
    FCHMODAT => fs::sys_fchmodat(dirfd: Fd, path: UserCStr, mode: Mode);
    FACCESSAT => fs::sys_faccessat(dirfd: Fd, path: UserCStr, mode: u32);
    UTIMENSAT => fs::sys_utimensat(dirfd: Fd, path: UserCStr, times: UserPtr<[Timespec; 2]>, flags: u32);
    EPOLL_PWAIT => epoll::sys_epoll_pwait(epfd: Fd, events: UserPtr<EpollEvent>, maxevents: i32, timeout: i32, sigmask: UserPtr<u64>, sigsetsize: usize);
    SYNC_FILE_RANGE => fs_extra::sys_sync_file_range(fd: Fd, offset: i64, nbytes: i64, flags: u32);
    VMSPLICE => splice::sys_vmsplice(fd: Fd, iov: UserPtr<Iovec>, nr_segs: usize, flags: u32), partial "copies, as writev and readv on the pipe (SPLICE_F_GIFT changes nothing)";
    SIGNALFD => timer::sys_signalfd(fd: Fd, mask: UserPtr<u64>, sizemask: usize);
    TIMERFD_CREATE => timer::sys_timerfd_create(clockid: i32, flags: u32);
    EVENTFD => timer::sys_eventfd(initval: u32);
    FALLOCATE => fs_extra::sys_fallocate(fd: Fd, mode: u32, offset: i64, len: i64), partial "tmpfs's modes: allocation and FALLOC_FL_PUNCH_HOLE (the others are EOPNOTSUPP, as on tmpfs)";
    TIMERFD_SETTIME => timer::sys_timerfd_settime(fd: Fd, flags: u32, new: UserPtr<Itimerspec>, old: UserPtr<Itimerspec>), partial "TFD_TIMER_CANCEL_ON_SET is accepted but never cancels";
    TIMERFD_GETTIME => timer::sys_timerfd_gettime(fd: Fd, curr: UserPtr<Itimerspec>);
    PSELECT6 => poll::sys_pselect6(nfds: i32, readfds: UserPtr<u8>, writefds: UserPtr<u8>, exceptfds: UserPtr<u8>, timeout: UserPtr<Timespec>, sigmask: UserPtr<[u64; 2]>);
    PPOLL => poll::sys_ppoll(fds: UserPtr<PollFd>, nfds: u32, tsp: UserPtr<Timespec>, sigmask: UserPtr<u64>, sigsetsize: usize);
    SIGNALFD4 => timer::sys_signalfd4(fd: Fd, mask: UserPtr<u64>, sizemask: usize, flags: u32);
    EVENTFD2 => timer::sys_eventfd2(initval: u32, flags: u32);
    EPOLL_CREATE1 => epoll::sys_epoll_create1(flags: u32);
    DUP3 => fd::sys_dup3(oldfd: Fd, newfd: Fd, flags: u32);
    PIPE2 => fd::sys_pipe2(fds: UserPtr<[i32; 2]>, flags: u32);
    PREADV => fs_extra::sys_preadv(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize, offset: i64);
    PWRITEV => fs_extra::sys_pwritev(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize, offset: i64);
    RT_TGSIGQUEUEINFO => signal::sys_rt_tgsigqueueinfo(tgid: Pid, tid: Pid, sig: i32, info: UserPtr<Siginfo>);
    PERF_EVENT_OPEN => perf::sys_perf_event_open(attr: UserPtr<u8>, pid: Pid, cpu: i32, group_fd: Fd, flags: u64), partial "software events only, as Linux on a machine without a PMU (hardware, cache and raw events ENOENT; no tracepoints: ENOENT; breakpoints EINVAL); sampling into the mmap'd ring with sample fields IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, IDENTIFIER only (others EOPNOTSUPP): fault, switch and migration events by period (sample_freq EOPNOTSUPP; a switch's or migration's IP is 0), a thread's clocks by period or frequency at user-mode timer interrupts (time in the kernel is sampled at the next user instruction; a CPU's clock cannot sample: EOPNOTSUPP); side-band records COMM (at exec) and MMAP/MMAP2 (exec and mmap) only (no FORK, EXIT, task, switch, namespaces, ksymbol...), no overflow signals (O_ASYNC), SET_OUTPUT does not redirect samples, a ring keeps its size after munmap; no cgroup events (EINVAL); CPU-wide events count user threads' faults and context switches only (no kernel tasks, no idle) and no migrations; task-clock and cpu-clock ignore exclude_user/exclude_kernel (as Linux's counts)";
    CLONE3 => process::sys_clone3(args: UserPtr<u8>, size: usize), partial "set_tid only for a child in the initial PID namespace (EINVAL in a nested one)";
    PIDFD_SEND_SIGNAL => pidfd::sys_pidfd_send_signal(pidfd: Fd, sig: i32, info: UserPtr<Siginfo>, flags: u32);
    PIDFD_GETFD => pidfd::sys_pidfd_getfd(pidfd: Fd, targetfd: Fd, flags: u32);
    IOPRIO_SET => ioprio::sys_ioprio_set(which: i32, who: i32, ioprio: i32), partial "kept and inherited; the block layer does not order requests by it";
    IOPRIO_GET => ioprio::sys_ioprio_get(which: i32, who: i32);
    VHANGUP => misc::sys_vhangup(), partial "hangs up a pty slave; the console is left alone";
    DELETE_MODULE => misc::sys_delete_module(name: UserCStr, flags: u32), partial "no loadable modules: ENOENT after the permission and address checks";
    PIDFD_OPEN => pidfd::sys_pidfd_open(pid: Pid, flags: u32);
    ACCEPT4 => socket::sys_accept4(fd: Fd, addr: UserPtr<u8>, addrlen: UserPtr<u32>, flags: u32);
    RECVMMSG => socket::sys_recvmmsg(fd: Fd, msgvec: UserPtr<Mmsghdr>, vlen: u32, flags: u32, timeout: UserPtr<Timespec>);
    PRLIMIT64 => misc::sys_prlimit64(pid: Pid, resource: u32, new_limit: UserPtr<Rlimit>, old_limit: UserPtr<Rlimit>);
    SENDMMSG => socket::sys_sendmmsg(fd: Fd, msgvec: UserPtr<Mmsghdr>, vlen: u32, flags: u32);
    PROCESS_VM_READV => process_vm::sys_process_vm_readv(pid: Pid, lvec: UserPtr<Iovec>, liovcnt: usize, rvec: UserPtr<Iovec>, riovcnt: usize, flags: u64);
    PROCESS_VM_WRITEV => process_vm::sys_process_vm_writev(pid: Pid, lvec: UserPtr<Iovec>, liovcnt: usize, rvec: UserPtr<Iovec>, riovcnt: usize, flags: u64);
    KCMP => misc::sys_kcmp(pid1: Pid, pid2: Pid, kind: i32, idx1: u64, idx2: u64), partial "KCMP_EPOLL_TFD is EINVAL";
    EXECVEAT => process::sys_execveat(dirfd: Fd, path: UserCStr, argv: UserPtr<u64>, envp: UserPtr<u64>, flags: u32);
    CLOCK_ADJTIME => time::sys_clock_adjtime(clockid: i32, buf: UserPtr<Timex>);
    NAME_TO_HANDLE_AT => fs_extra::sys_name_to_handle_at(dirfd: Fd, path: UserCStr, handle: UserPtr<u8>, mount_id: UserPtr<i32>, flags: u32), partial "tmpfs/ramfs files only (EOPNOTSUPP on ext2, procfs, sysfs)";
    OPEN_BY_HANDLE_AT => fs_extra::sys_open_by_handle_at(mount_fd: Fd, handle: UserPtr<u8>, flags: u32);
    SYNCFS => fs_extra::sys_syncfs(fd: Fd);
    SCHED_SETATTR => sched::sys_sched_setattr(pid: Pid, attr: UserPtr<u8>, flags: u32), partial "per process; SCHED_DEADLINE is admitted (95 % of the CPUs in all) and reported but runs as a real-time thread: no EDF order, runtime not enforced; no utilization clamping (EOPNOTSUPP)";
    SCHED_GETATTR => sched::sys_sched_getattr(pid: Pid, attr: UserPtr<u8>, size: u32, flags: u32);
    RENAMEAT2 => fs::sys_renameat2(olddirfd: Fd, oldpath: UserCStr, newdirfd: Fd, newpath: UserCStr, flags: u32), partial "RENAME_WHITEOUT is EINVAL";
    SECCOMP => seccomp::sys_seccomp(op: u32, flags: u32, uargs: u64), partial "SPEC_ALLOW changes nothing (no speculation mitigations to turn on); logging goes to the kernel log, not audit; a listener's ADDFD installs the descriptor at once, from the supervisor's call";
    GETRANDOM => misc::sys_getrandom(buf: UserPtr<u8>, count: usize, flags: u32);
    MEMFD_CREATE => fs_extra::sys_memfd_create(name: UserCStr, flags: u32), partial "MFD_HUGETLB: 2 MiB pages only (other sizes ENODEV), no sealing of huge page files";
    BPF => bpf::sys_bpf(cmd: i32, attr: UserPtr<u8>, size: u32), partial "array and hash maps (create, lookup, update, delete, next key) and BPF_PROG_TYPE_SOCKET_FILTER programs attached with SO_ATTACH_BPF to AF_UNIX datagram sockets; the verifier refuses loops, pointer arithmetic with values it does not know, and pointer comparisons other than a lookup's NULL check; no other map or program types, pinning, BTF, links or object info";
    USERFAULTFD => uffd::sys_userfaultfd(flags: u32), partial "private anonymous memory (MISSING, WP) and shared anonymous memory (MISSING, MINOR) only, no tmpfs files or huge page memory (MAP_HUGETLB, hugetlbfs, SHM_HUGETLB); no UNMAP event for a brk shrink, REMOVE for MADV_DONTNEED/FREE only; no EXACT_ADDRESS, WP_UNPOPULATED or WP_ASYNC features; ptrace and core-dump access to a registered page does not wait";
    COPY_FILE_RANGE => fs::sys_copy_file_range(fd_in: Fd, off_in: UserPtr<i64>, fd_out: Fd, off_out: UserPtr<i64>, len: usize, flags: u32);
    PREADV2 => fs_extra::sys_preadv2(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize, offset: i64, offset_high: u64, flags: u32), partial "RWF_NOWAIT honoured (ext2: what is cached; pipes and sockets: EAGAIN when empty; tmpfs: EOPNOTSUPP); RWF_HIPRI, RWF_SYNC and RWF_DSYNC have no effect on a read";
    PWRITEV2 => fs_extra::sys_pwritev2(fd: Fd, iov: UserPtr<Iovec>, iovcnt: usize, offset: i64, offset_high: u64, flags: u32), partial "RWF_APPEND, RWF_NOAPPEND, RWF_DSYNC and RWF_SYNC honoured; RWF_NOWAIT and RWF_HIPRI accepted, no effect (a write may wait)";
    MEMBARRIER => misc::sys_membarrier(cmd: u32, flags: u32, cpu_id: i32);
    GETCPU => sched::sys_getcpu(cpu: UserPtr<u32>, node: UserPtr<u32>, cache: u64);
    STATX => fs::sys_statx(dirfd: Fd, path: UserCStr, flags: u32, mask: u32, statxbuf: UserPtr<Statx>), partial "no birth time (STATX_BTIME)";
    PKEY_MPROTECT => mm::sys_pkey_mprotect(addr: u64, len: u64, prot: u32, pkey: i32);
    PKEY_ALLOC => mm::sys_pkey_alloc(flags: u64, access_rights: u64), partial "ENOSPC on a CPU without protection keys (as Linux); signal handlers run with the interrupted PKRU (Linux: its initial value), and the signal frame does not save PKRU";
    PKEY_FREE => mm::sys_pkey_free(pkey: i32);
    RSEQ => rseq::sys_rseq(rseq: u64, rseq_len: u32, flags: i32, sig: u32), partial "no membarrier MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ; mm_cid is unique per process rather than per address space (only a vfork child shares one, while its parent waits)";
    IO_URING_SETUP => io_uring::sys_io_uring_setup(entries: u32, params: UserPtr<u8>), partial "no IORING_SETUP_IOPOLL, SQE128, CQE32, DEFER_TASKRUN, ATTACH_WQ, R_DISABLED";
    IO_URING_ENTER => io_uring::sys_io_uring_enter(fd: Fd, to_submit: u32, min_complete: u32, flags: u32, arg: UserPtr<u8>, argsz: usize), partial "opcodes NOP, READV, WRITEV, READ, WRITE, READ_FIXED, WRITE_FIXED, FSYNC, SYNC_FILE_RANGE, POLL_ADD (one-shot), POLL_REMOVE, TIMEOUT, TIMEOUT_REMOVE, ASYNC_CANCEL, SENDMSG, RECVMSG, SEND, RECV, ACCEPT, CONNECT, SHUTDOWN, FALLOCATE, FADVISE, MADVISE, OPENAT, OPENAT2, CLOSE, STATX, EPOLL_CTL, RENAMEAT, UNLINKAT, MKDIRAT, SYMLINKAT, LINKAT; no fixed files, provided buffers, LINK_TIMEOUT or multishot";
    IO_URING_REGISTER => io_uring::sys_io_uring_register(fd: Fd, opcode: u32, arg: u64, nr_args: u32), partial "BUFFERS, EVENTFD, EVENTFD_ASYNC and PROBE (and their unregisters); no FILES, PERSONALITY, RESTRICTIONS or rings' own registration";
    LANDLOCK_CREATE_RULESET => landlock::sys_landlock_create_ruleset(attr: UserPtr<u8>, size: usize, flags: u32), partial "ABI version 1: the file-system rights of version 1 (no REFER, TRUNCATE, IOCTL_DEV, network or scopes)";
    LANDLOCK_ADD_RULE => landlock::sys_landlock_add_rule(ruleset_fd: Fd, rule_type: u32, rule_attr: UserPtr<u8>, flags: u32);
    LANDLOCK_RESTRICT_SELF => landlock::sys_landlock_restrict_self(ruleset_fd: Fd, flags: u32), partial "restricts the whole process (Linux: the calling thread)";
    LSM_GET_SELF_ATTR => lsm::sys_lsm_get_self_attr(attr: u32, ctx: UserPtr<u64>, size: UserPtr<u32>, flags: u32), partial "the active modules (capability, Landlock) keep no process attributes: EOPNOTSUPP after the argument checks";
    LSM_SET_SELF_ATTR => lsm::sys_lsm_set_self_attr(attr: u32, ctx: UserPtr<u8>, size: u32, flags: u32), partial "the active modules (capability, Landlock) keep no process attributes: EOPNOTSUPP after the argument checks";
    LSM_LIST_MODULES => lsm::sys_lsm_list_modules(ids: UserPtr<u64>, size: UserPtr<u32>, flags: u32);
    CLOSE_RANGE => fs_extra::sys_close_range(first: u32, last: u32, flags: u32);
    OPENAT2 => fs_extra::sys_openat2(dirfd: Fd, path: UserCStr, how: UserPtr<u8>, size: usize);
    FACCESSAT2 => fs::sys_faccessat2(dirfd: Fd, path: UserCStr, mode: u32, flags: u32);
    FUTEX_WAITV => futex::sys_futex_waitv(waiters: UserPtr<u8>, nr_futexes: u32, flags: u32, timeout: UserPtr<Timespec>, clockid: i32);
    PROCESS_MADVISE => process_madvise::sys_process_madvise(pidfd: Fd, vec: UserPtr<Iovec>, vlen: usize, advice: i32, flags: u32), partial "MADV_COLD and MADV_PAGEOUT change nothing (no page is ever reclaimed); MADV_COLLAPSE is EINVAL (no transparent huge pages)";
    PROCESS_MRELEASE => process_madvise::sys_process_mrelease(pidfd: Fd, flags: u32), partial "a dying process's exit frees its memory at once; nothing is reaped ahead of it";
    CACHESTAT => cachestat::sys_cachestat(fd: Fd, range: UserPtr<CachestatRange>, cstat: UserPtr<Cachestat>, flags: u32), partial "nr_evicted and nr_recently_evicted are always 0 (evicted pages are not remembered); at most 4 GiB of pages from the range's start are counted";
    FCHMODAT2 => fs::sys_fchmodat2(dirfd: Fd, path: UserCStr, mode: Mode, flags: u32);
    FUTEX_WAKE => futex2::sys_futex_wake(uaddr: UserPtr<u32>, mask: u64, nr: i32, flags: u32), partial "32-bit futexes only (as Linux); no FUTEX2_NUMA (EINVAL)";
    FUTEX_WAIT => futex2::sys_futex_wait(uaddr: UserPtr<u32>, val: u64, mask: u64, flags: u32, timeout: UserPtr<Timespec>, clockid: i32), partial "32-bit futexes only (as Linux); no FUTEX2_NUMA (EINVAL)";
    FUTEX_REQUEUE => futex2::sys_futex_requeue(waiters: UserPtr<u8>, flags: u32, nr_wake: i32, nr_requeue: i32), partial "32-bit futexes only (as Linux); no FUTEX2_NUMA (EINVAL)";
    MSEAL => mm::sys_mseal(start: u64, len: u64, flags: u64), partial "a partly sealed range given to mprotect or madvise is refused whole (Linux changes the areas before the first sealed one)";
    SETXATTRAT => xattr::sys_setxattrat(dirfd: Fd, path: UserCStr, at_flags: u32, name: UserCStr, uargs: UserPtr<u8>, usize_: usize);
    GETXATTRAT => xattr::sys_getxattrat(dirfd: Fd, path: UserCStr, at_flags: u32, name: UserCStr, uargs: UserPtr<u8>, usize_: usize);
    LISTXATTRAT => xattr::sys_listxattrat(dirfd: Fd, path: UserCStr, at_flags: u32, list: UserPtr<u8>, size: usize);
    REMOVEXATTRAT => xattr::sys_removexattrat(dirfd: Fd, path: UserCStr, at_flags: u32, name: UserCStr);
    EPOLL_PWAIT2 => epoll::sys_epoll_pwait2(epfd: Fd, events: UserPtr<EpollEvent>, maxevents: i32, timeout: UserPtr<Timespec>, sigmask: UserPtr<u64>, sigsetsize: usize);
}

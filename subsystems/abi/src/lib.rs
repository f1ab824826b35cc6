//! The Linux x86-64 ABI: the numbers, flags and struct layouts user space sees.
//!
//! Everything here is a fact about Linux (from its uapi headers), not a Kestrel
//! design choice: errno values, system call numbers, `struct stat` and friends.
//! Structs are `#[repr(C)]` and derive [`bytemuck::Pod`], which proves at compile time
//! that they have no padding, so the kernel can copy them to and from user memory as
//! plain bytes without leaking kernel data.
#![no_std]
#![forbid(unsafe_code)]

pub mod block;
pub mod cap;
pub mod errno;
pub mod fs;
pub mod ipc;
pub mod le;
pub mod mm;
pub mod net;
pub mod perf;
pub mod process;
pub mod ptrace;
pub mod seccomp;
pub mod signal;
pub mod syscalls;
pub mod time;
pub mod tty;

pub use bytemuck;
pub use bytemuck::{Pod, Zeroable};

/// The bytes of a plain-old-data value.
pub fn bytemuck_bytes<T: Pod>(v: &T) -> &[u8] {
    bytemuck::bytes_of(v)
}

/// The bytes of a slice of plain-old-data values, writable.
pub fn bytemuck_slice_bytes_mut<T: Pod>(v: &mut [T]) -> &mut [u8] {
    bytemuck::cast_slice_mut(v)
}

/// The bytes of a slice of plain-old-data values.
pub fn bytemuck_slice_bytes<T: Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// The bytes of a plain-old-data value, writable.
pub fn bytemuck_bytes_mut<T: Pod>(v: &mut T) -> &mut [u8] {
    bytemuck::bytes_of_mut(v)
}
pub use errno::{Errno, KResult};

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn struct_sizes_match_linux_x86_64() {
        assert_eq!(size_of::<fs::Stat>(), 144);
        assert_eq!(size_of::<fs::Statx>(), 256);
        assert_eq!(size_of::<fs::Flock>(), 32);
        assert_eq!(size_of::<time::Timespec>(), 16);
        assert_eq!(size_of::<time::Timeval>(), 16);
        assert_eq!(size_of::<net::Msghdr>(), 56);
        assert_eq!(size_of::<net::Cmsghdr>(), 16);
        assert_eq!(size_of::<time::Timex>(), 208);
        assert_eq!(size_of::<signal::SignalfdSiginfo>(), 128);
        assert_eq!(size_of::<time::Sigevent>(), 64);
        assert_eq!(size_of::<time::Itimerspec>(), 32);
        assert_eq!(size_of::<fs::EpollEvent>(), 12);
        assert_eq!(size_of::<process::Utsname>(), 390);
        assert_eq!(size_of::<process::Sysinfo>(), 112);
        assert_eq!(size_of::<process::Rlimit>(), 16);
        assert_eq!(size_of::<process::Rusage>(), 144);
        assert_eq!(size_of::<tty::Termios>(), 36);
        assert_eq!(size_of::<tty::Winsize>(), 8);
        assert_eq!(size_of::<fs::Iovec>(), 16);
        assert_eq!(size_of::<signal::KernelSigaction>(), 32);
        assert_eq!(size_of::<fs::PollFd>(), 8);
        assert_eq!(size_of::<signal::Siginfo>(), 128);
        assert_eq!(size_of::<signal::StackT>(), 24);
        assert_eq!(size_of::<signal::Sigcontext>(), 256);
        assert_eq!(size_of::<signal::Ucontext>(), 304);
    }

    #[test]
    fn errno_round_trips() {
        assert_eq!(Errno::ENOENT as i32, 2);
        assert_eq!(Errno::from_i32(22), Some(Errno::EINVAL));
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(Errno::ENOSYS.as_return(), -38);
        assert_eq!(Errno::EBADF.name(), "EBADF");
    }

    #[test]
    fn syscall_names_are_sorted_and_known() {
        assert!(syscalls::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(syscalls::syscall_name(0), Some("read"));
        assert_eq!(syscalls::syscall_name(231), Some("exit_group"));
        assert_eq!(syscalls::nr::OPENAT, 257);
        assert_eq!(syscalls::syscall_name(1000), None);
    }
}

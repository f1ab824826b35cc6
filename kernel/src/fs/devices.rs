//! Character devices, found by device number (Documentation/admin-guide/devices.txt).
//!
//! | node | major:minor | behaviour |
//! |---|---|---|
//! | /dev/null | 1:3 | reads EOF, swallows writes |
//! | /dev/zero | 1:5 | reads zeros, swallows writes |
//! | /dev/full | 1:7 | reads zeros, writes fail with ENOSPC |
//! | /dev/random, /dev/urandom | 1:8, 1:9 | random bytes, never block |
//! | /dev/tty | 5:0 | the caller's controlling terminal |
//! | /dev/console, /dev/ttyS0 | 5:1, 4:64 | the serial console |

use alloc::sync::Arc;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{FileOps, InodeRef, NodeKind, OpenFile};

use super::tty;

/// What a memory-like device does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mem {
    Null,
    Zero,
    Full,
    Random,
}

struct MemDevice(Mem);

impl FileOps for MemDevice {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        match self.0 {
            Mem::Null => Ok(0),
            Mem::Zero | Mem::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Mem::Random => {
                crate::random::fill(buf);
                Ok(buf.len())
            }
        }
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        match self.0 {
            Mem::Full => Err(Errno::ENOSPC),
            _ => Ok(data.len()),
        }
    }

    // Linux lets lseek succeed on these (and always report position 0).
    fn seekable(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Opens the character device `rdev`.
pub fn open(rdev: u64, _flags: u32, caller: &crate::process::Process) -> KResult<Arc<dyn FileOps>> {
    match (major(rdev), minor(rdev)) {
        (1, 3) => Ok(Arc::new(MemDevice(Mem::Null))),
        (1, 5) => Ok(Arc::new(MemDevice(Mem::Zero))),
        (1, 7) => Ok(Arc::new(MemDevice(Mem::Full))),
        (1, 8) | (1, 9) => Ok(Arc::new(MemDevice(Mem::Random))),
        (5, 0) => tty::open_controlling(caller),
        (5, 1) | (4, 64) => Ok(tty::console_file()),
        _ => Err(Errno::ENXIO),
    }
}

/// /dev/console opened read-write (init's standard streams).
pub fn open_console_file() -> KResult<Arc<OpenFile>> {
    let dentry = crate::fs::resolve_kernel(b"/dev/console")?;
    Ok(OpenFile::new(
        Some(dentry),
        tty::console_file(),
        O_RDWR | O_LARGEFILE,
    ))
}

/// The device file system: a ramfs with the nodes above.
pub fn make_devfs() -> KResult<InodeRef> {
    let dev = RamFs::new_root(makedev(0, 5));
    let nodes: [(&[u8], u64, u32); 8] = [
        (b"null", makedev(1, 3), 0o666),
        (b"zero", makedev(1, 5), 0o666),
        (b"full", makedev(1, 7), 0o666),
        (b"random", makedev(1, 8), 0o666),
        (b"urandom", makedev(1, 9), 0o666),
        (b"tty", makedev(5, 0), 0o666),
        (b"console", makedev(5, 1), 0o600),
        (b"ttyS0", makedev(4, 64), 0o660),
    ];
    for (name, rdev, mode) in nodes {
        dev.create(name, NodeKind::CharDev(rdev), mode, 0, 0)?;
    }
    dev.create(b"pts", NodeKind::Dir, 0o755, 0, 0)?;
    dev.create(b"shm", NodeKind::Dir, 0o1777, 0, 0)?;
    for (name, target) in [
        (&b"fd"[..], &b"/proc/self/fd"[..]),
        (b"stdin", b"/proc/self/fd/0"),
        (b"stdout", b"/proc/self/fd/1"),
        (b"stderr", b"/proc/self/fd/2"),
    ] {
        dev.create(name, NodeKind::Symlink(target.to_vec()), 0o777, 0, 0)?;
    }
    Ok(dev)
}

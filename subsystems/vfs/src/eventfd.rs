//! eventfd: a 64-bit counter as a file (eventfd(2)).
//!
//! Writing adds to the counter; reading returns it and resets it to zero (or, with
//! EFD_SEMAPHORE, returns 1 and decrements it). A read of zero and a write that
//! would take the counter past 0xffff_ffff_ffff_fffe are EAGAIN; the kernel's
//! syscall layer waits on the wait queue unless the file is non-blocking.

use alloc::sync::Arc;
use core::any::Any;

use kestrel_abi::fs::*;
use kestrel_abi::{Errno, KResult};
use kestrel_sync::WaitQueue;

use crate::file::{FileOps, OpenFile};

/// The largest value the counter may hold.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// An eventfd's behaviour.
pub struct EventFd {
    count: spin::Mutex<u64>,
    semaphore: bool,
    wq: WaitQueue,
}

impl EventFd {
    /// A counter starting at `initval`; `semaphore` for EFD_SEMAPHORE reads.
    pub fn new(initval: u32, semaphore: bool) -> Arc<Self> {
        Arc::new(Self {
            count: spin::Mutex::new(u64::from(initval)),
            semaphore,
            wq: WaitQueue::new(),
        })
    }

    /// Adds `n` from inside the kernel (an AIO completion), as far as the
    /// counter goes (Linux's eventfd_signal), waking readers.
    pub fn signal(&self, n: u64) {
        {
            let mut c = self.count.lock();
            *c = c.saturating_add(n).min(EVENTFD_MAX);
        }
        self.wq.wake(u32::from(POLLIN | POLLRDNORM));
    }

    /// The counter now (for /proc/PID/fdinfo).
    pub fn count(&self) -> u64 {
        *self.count.lock()
    }
}

impl FileOps for EventFd {
    fn read(&self, _: &OpenFile, _: &mut u64, buf: &mut [u8]) -> KResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let v = {
            let mut c = self.count.lock();
            if *c == 0 {
                return Err(Errno::EAGAIN);
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            v
        };
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.wq.wake(u32::from(POLLOUT | POLLWRNORM));
        Ok(8)
    }

    fn write(&self, _: &OpenFile, _: &mut u64, data: &[u8]) -> KResult<usize> {
        // Exactly one u64: shorter and longer writes are EINVAL.
        let bytes: [u8; 8] = data.try_into().map_err(|_| Errno::EINVAL)?;
        let v = u64::from_ne_bytes(bytes);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        {
            let mut c = self.count.lock();
            if v > EVENTFD_MAX - *c {
                return Err(Errno::EAGAIN);
            }
            *c += v;
        }
        if v > 0 {
            self.wq.wake(u32::from(POLLIN | POLLRDNORM));
        }
        Ok(8)
    }

    fn poll(&self) -> u16 {
        let c = *self.count.lock();
        let mut m = 0;
        if c > 0 {
            m |= POLLIN | POLLRDNORM;
        }
        if c < EVENTFD_MAX {
            m |= POLLOUT | POLLWRNORM;
        }
        m
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.wq)
    }

    fn seek_is_noop(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(initval: u32, semaphore: bool) -> Arc<OpenFile> {
        OpenFile::anonymous(None, EventFd::new(initval, semaphore), O_RDWR)
    }

    fn read(f: &OpenFile) -> KResult<u64> {
        let mut b = [0u8; 8];
        f.read(&mut b).map(|_| u64::from_ne_bytes(b))
    }

    #[test]
    fn writes_add_and_a_read_takes_everything() {
        let f = file(3, false);
        f.write(&4u64.to_ne_bytes()).unwrap();
        assert_eq!(read(&f), Ok(7));
        assert_eq!(read(&f), Err(Errno::EAGAIN));
        assert_eq!(f.poll() & POLLIN, 0);
    }

    #[test]
    fn semaphore_reads_take_one_at_a_time() {
        let f = file(2, true);
        assert_eq!(read(&f), Ok(1));
        assert_eq!(read(&f), Ok(1));
        assert_eq!(read(&f), Err(Errno::EAGAIN));
    }

    #[test]
    fn bad_sizes_and_overflow() {
        let f = file(0, false);
        assert_eq!(f.write(&[0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(f.write(&u64::MAX.to_ne_bytes()), Err(Errno::EINVAL));
        f.write(&EVENTFD_MAX.to_ne_bytes()).unwrap();
        assert_eq!(f.write(&1u64.to_ne_bytes()), Err(Errno::EAGAIN));
        assert_eq!(f.poll() & POLLOUT, 0);
        let mut small = [0u8; 4];
        assert_eq!(f.read(&mut small), Err(Errno::EINVAL));
    }
}

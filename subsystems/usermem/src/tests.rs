//! The gate on the host: a fake address space whose pages are readable, writable or
//! absent.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;

const PAGE: u64 = PAGE_SIZE as u64;

#[derive(Clone, Copy, PartialEq)]
enum Prot {
    Read,
    ReadWrite,
}

/// Pages by page number; bytes default to `page_number as u8`.
#[derive(Default)]
struct Fake {
    pages: Mutex<BTreeMap<u64, (Prot, Vec<u8>)>>,
}

impl Fake {
    fn map(&self, addr: u64, pages: u64, prot: Prot) {
        for i in 0..pages {
            let p = addr / PAGE + i;
            self.pages
                .lock()
                .unwrap()
                .insert(p, (prot, vec![p as u8; PAGE_SIZE]));
        }
    }
    fn put(&self, addr: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = addr + i as u64;
            self.pages.lock().unwrap().get_mut(&(a / PAGE)).unwrap().1[(a % PAGE) as usize] = *b;
        }
    }
    fn get(&self, addr: u64) -> u8 {
        self.pages.lock().unwrap()[&(addr / PAGE)].1[(addr % PAGE) as usize]
    }
}

impl UserSpace for Fake {
    fn copy_in(&self, range: UserRange, dst: &mut [u8]) -> usize {
        let pages = self.pages.lock().unwrap();
        for (i, out) in dst.iter_mut().enumerate().take(range.len()) {
            let a = range.start() + i as u64;
            match pages.get(&(a / PAGE)) {
                Some((_, d)) => *out = d[(a % PAGE) as usize],
                None => return i,
            }
        }
        range.len()
    }
    fn copy_out(&self, range: UserRange, src: &[u8]) -> usize {
        let mut pages = self.pages.lock().unwrap();
        for (i, &byte) in src.iter().enumerate().take(range.len()) {
            let a = range.start() + i as u64;
            match pages.get_mut(&(a / PAGE)) {
                Some((Prot::ReadWrite, d)) => d[(a % PAGE) as usize] = byte,
                _ => return i,
            }
        }
        range.len()
    }
    fn writable_prefix(&self, range: UserRange) -> usize {
        let pages = self.pages.lock().unwrap();
        for i in 0..range.len() {
            let a = range.start() + i as u64;
            if !matches!(pages.get(&(a / PAGE)), Some((Prot::ReadWrite, _))) {
                return i;
            }
        }
        range.len()
    }
}

#[test]
fn range_up_to_user_end_is_accepted() {
    assert!(UserRange::new(USER_END - 1, 1).is_ok());
    assert!(UserRange::new(USER_END - 4096, 4096).is_ok());
    assert!(UserRange::new(0, USER_END as usize).is_ok());
}

#[test]
fn range_crossing_user_end_is_efault() {
    assert_eq!(UserRange::new(USER_END - 1, 2), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(USER_END, 1), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(0, USER_END as usize + 1), Err(Errno::EFAULT));
}

#[test]
fn kernel_half_is_efault_even_when_empty() {
    assert_eq!(UserRange::new(0xffff_8000_0000_1000, 4), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(0xffff_8000_0000_1000, 0), Err(Errno::EFAULT));
    // Non-canonical and the unmappable top page of the lower half, too.
    assert_eq!(UserRange::new(0x0000_8000_0000_0000, 0), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(USER_END + 8, 0), Err(Errno::EFAULT));
}

#[test]
fn overflowing_end_is_efault() {
    assert_eq!(UserRange::new(u64::MAX, 1), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(0x1000, usize::MAX), Err(Errno::EFAULT));
    assert_eq!(UserRange::new(u64::MAX - 3, 8), Err(Errno::EFAULT));
}

#[test]
fn zero_length_user_range_is_fine_anywhere_below_the_end() {
    assert!(UserRange::new(0, 0).is_ok());
    assert!(UserRange::new(USER_END, 0).is_ok());
    assert!(UserRange::new(0x1234, 0).unwrap().is_empty());
}

#[test]
fn split_stays_inside() {
    let r = UserRange::new(0x1000, 0x100).unwrap();
    let (a, b) = r.split_at(0x40);
    assert_eq!(
        (a.start(), a.len(), b.start(), b.len()),
        (0x1000, 0x40, 0x1040, 0xc0)
    );
    let (a, b) = r.split_at(usize::MAX);
    assert_eq!((a.len(), b.len(), b.start()), (0x100, 0, 0x1100));
    assert_eq!(
        UserRange::new(0x1ff0, 0x100).unwrap().first_page().len(),
        0x10
    );
}

#[test]
fn is_user_address_matches_the_range_check() {
    for a in [0, 1, USER_END - 1, USER_END, 1 << 47, u64::MAX] {
        assert_eq!(is_user_address(a), UserRange::new(a, 1).is_ok(), "{a:#x}");
    }
}

#[test]
fn reader_reads_across_pages_and_stops_at_a_hole() {
    let m = Fake::default();
    m.map(0x10000, 2, Prot::Read);
    let mut r = UserReader::new(&m, 0x10ffe, 0x2000).unwrap();
    let mut buf = vec![0u8; 0x2000];
    // Two pages mapped from 0x10000: 0x10ffe..0x12000 is 0x1002 bytes.
    assert_eq!(r.read(&mut buf), 0x1002);
    assert_eq!(&buf[..3], &[0x10, 0x10, 0x11]);
    assert_eq!(r.remaining(), 0x2000 - 0x1002);
    assert_eq!(r.addr(), 0x12000);
    assert_eq!(r.read(&mut buf), 0);
}

#[test]
fn read_exact_straddling_a_hole_is_efault() {
    let m = Fake::default();
    m.map(0x10000, 1, Prot::Read);
    let mut r = UserReader::new(&m, 0x10ffc, 8).unwrap();
    assert_eq!(r.read_val::<u64>(), Err(Errno::EFAULT));
    let mut r = UserReader::new(&m, 0x10ff8, 8).unwrap();
    assert_eq!(r.read_val::<u64>(), Ok(u64::from_ne_bytes([0x10; 8])));
    // Asking for more than the range holds is EFAULT, not a panic.
    let mut r = UserReader::new(&m, 0x10000, 4).unwrap();
    assert_eq!(r.read_val::<u64>(), Err(Errno::EFAULT));
}

#[test]
fn writer_respects_protection_and_reports_partial_writes() {
    let m = Fake::default();
    m.map(0x20000, 1, Prot::ReadWrite);
    m.map(0x21000, 1, Prot::Read);
    let mut w = UserWriter::new(&m, 0x20ffe, 4).unwrap();
    assert_eq!(w.writable(4), 2);
    assert_eq!(w.write(&[1, 2, 3, 4]), 2);
    assert_eq!(
        (m.get(0x20ffe), m.get(0x20fff), m.get(0x21000)),
        (1, 2, 0x21)
    );
    let mut w = UserWriter::new(&m, 0x20000, 4).unwrap();
    assert_eq!(w.write_all(&[9; 8]), Err(Errno::EFAULT));
    assert_eq!(w.write_all(&[9; 4]), Ok(()));
    assert_eq!(w.remaining(), 0);
}

#[test]
fn writer_zero_fills_up_to_the_end_or_a_fault() {
    let m = Fake::default();
    m.map(0x20000, 1, Prot::ReadWrite);
    let mut w = UserWriter::new(&m, 0x20f00, 0x200).unwrap();
    assert_eq!(w.zero(0x1000), 0x100);
    assert_eq!(m.get(0x20fff), 0);
}

#[test]
fn user_ptr_reads_and_writes_values() {
    let m = Fake::default();
    m.map(0x30000, 1, Prot::ReadWrite);
    let p = UserPtr::<u32>::new(0x30010);
    p.write(&m, &0xdead_beef).unwrap();
    assert_eq!(p.read(&m), Ok(0xdead_beef));
    assert_eq!(p.add(2).addr(), 0x30018);
    assert_eq!(UserPtr::<u32>::NULL.read(&m), Err(Errno::EFAULT));
    assert_eq!(
        UserPtr::<u32>::new(0xffff_8000_0000_0000).read(&m),
        Err(Errno::EFAULT)
    );
    // Wrapping arithmetic never panics; the check comes at use.
    assert_eq!(UserPtr::<u64>::new(u64::MAX).add(1).addr(), 7);
    let mut v = [0u32; 3];
    p.read_slice(&m, &mut v).unwrap();
    assert_eq!(v[0], 0xdead_beef);
}

#[test]
fn cstr_stops_at_nul_and_never_reads_past_it() {
    let m = Fake::default();
    m.map(0x40000, 1, Prot::Read);
    m.put(0x40ffc, b"abc\0");
    // The NUL is the page's last byte; the next page is a hole and is not touched.
    assert_eq!(read_cstr(&m, 0x40ffc, 100), Ok(b"abc".to_vec()));
    assert_eq!(read_cstr(&m, 0x40fff, 100), Ok(Vec::new()));
}

#[test]
fn cstr_running_into_a_hole_is_efault() {
    let m = Fake::default();
    m.map(0x40000, 1, Prot::Read);
    m.put(0x40ffc, b"abcd");
    assert_eq!(read_cstr(&m, 0x40ffc, 100), Err(Errno::EFAULT));
    assert_eq!(read_cstr(&m, 0, 100), Err(Errno::EFAULT));
    assert_eq!(read_cstr(&m, USER_END - 1, 100), Err(Errno::EFAULT));
    assert_eq!(
        read_cstr(&m, 0xffff_ffff_ffff_fff0, 100),
        Err(Errno::EFAULT)
    );
}

#[test]
fn cstr_longer_than_max_is_enametoolong() {
    let m = Fake::default();
    m.map(0x50000, 2, Prot::Read);
    let mut s = vec![b'x'; 5000];
    s.push(0);
    m.put(0x50000, &s);
    assert_eq!(read_cstr(&m, 0x50000, 4999), Err(Errno::ENAMETOOLONG));
    assert_eq!(read_cstr(&m, 0x50000, 5000).map(|v| v.len()), Ok(5000));
    // Exactly max bytes without a NUL right after: too long, even at a hole.
    assert_eq!(read_cstr(&m, 0x50000, 10), Err(Errno::ENAMETOOLONG));
}

#[test]
fn read_to_vec_is_bounded_by_the_range() {
    let m = Fake::default();
    m.map(0x60000, 1, Prot::Read);
    let mut r = UserReader::new(&m, 0x60000, 16).unwrap();
    assert_eq!(r.read_to_vec().unwrap(), vec![0x60; 16]);
    let mut r = UserReader::new(&m, 0x60ff0, 32).unwrap();
    assert_eq!(r.read_to_vec(), Err(Errno::EFAULT));
}

#[test]
fn extensible_struct_shorter_is_zero_extended_longer_must_be_zero() {
    let m = Fake::default();
    m.map(0x70000, 1, Prot::ReadWrite);
    m.put(0x70000, &[1, 2, 3, 4, 0, 0, 0, 0, 0]);
    let mut out = [9u8; 6];
    UserReader::new(&m, 0x70000, 3)
        .unwrap()
        .read_extensible(&mut out)
        .unwrap();
    assert_eq!(out, [1, 2, 3, 0, 0, 0]);
    UserReader::new(&m, 0x70000, 9)
        .unwrap()
        .read_extensible(&mut out)
        .unwrap();
    assert_eq!(out, [1, 2, 3, 4, 0, 0]);
    let mut short = [0u8; 2];
    assert_eq!(
        UserReader::new(&m, 0x70000, 9)
            .unwrap()
            .read_extensible(&mut short),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        UserReader::new(&m, 0x70ffc, 8)
            .unwrap()
            .read_extensible(&mut out),
        Err(Errno::EFAULT)
    );
}

#[test]
fn iovecs_read_and_write_across_segments_and_stop_at_holes() {
    use kestrel_abi::fs::Iovec;
    let m = Fake::default();
    m.map(0x80000, 1, Prot::ReadWrite);
    m.map(0x82000, 1, Prot::ReadWrite);
    let iov = [
        Iovec {
            base: 0x80ffe,
            len: 2,
        },
        Iovec {
            base: 0x81000,
            len: 0,
        },
        Iovec {
            base: 0x82000,
            len: 3,
        },
    ];
    let mut w = UserIoVecs::new(&m, &iov).unwrap();
    assert_eq!(w.remaining(), 5);
    assert_eq!(w.writable(10), 5);
    assert_eq!(w.write(&[1, 2, 3]), 3);
    assert_eq!(w.remaining(), 2);
    assert_eq!(w.write(&[4, 5, 6]), 2);
    assert_eq!((m.get(0x80fff), m.get(0x82000), m.get(0x82002)), (2, 3, 5));
    let mut r = UserIoVecs::new(&m, &iov).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf), 5);
    assert_eq!(&buf[..5], &[1, 2, 3, 4, 5]);
    // A segment that runs into a hole: the copy stops there.
    let iov = [Iovec {
        base: 0x80ffe,
        len: 8,
    }];
    let mut r = UserIoVecs::new(&m, &iov).unwrap();
    assert_eq!(r.writable(8), 2);
    assert_eq!(r.read(&mut buf), 2);
    // A segment outside user space is EFAULT up front.
    let bad = [Iovec {
        base: 0xffff_8000_0000_0000,
        len: 1,
    }];
    assert!(matches!(UserIoVecs::new(&m, &bad), Err(Errno::EFAULT)));
}

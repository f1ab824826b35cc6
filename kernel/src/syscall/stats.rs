//! `kestrel.syscall_stats`: how many of each system call a process made (and how
//! many interrupts and page faults it took), printed
//! when it exits. A tool for studying workloads (and for showing that the vDSO
//! keeps clock reads out of the kernel); off by default, when it costs nothing.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

/// Counts by system call number (numbers past the table count as "other").
pub struct SyscallCounts {
    counts: [AtomicU64; 512],
    /// Interrupts taken while the process's threads ran in user mode.
    interrupts: AtomicU64,
    /// Page faults (resolved or not).
    faults: AtomicU64,
}

impl SyscallCounts {
    /// Counters for a new process, if `kestrel.syscall_stats` is on.
    pub fn for_new_process() -> Option<Box<Self>> {
        crate::cmdline::options().syscall_stats?;
        Some(Box::new(Self {
            counts: [const { AtomicU64::new(0) }; 512],
            interrupts: AtomicU64::new(0),
            faults: AtomicU64::new(0),
        }))
    }

    /// Counts one call of `nr`.
    pub fn count(&self, nr: u64) {
        self.counts[(nr as usize).min(511)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one interrupt taken in user mode.
    pub fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one page fault.
    pub fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    /// Prints the report for process `pid` named `comm` (if the option selects it):
    /// `syscalls: pid 7 (ls): 41 calls: openat 12, read 9, ...`, busiest first.
    pub fn report(&self, pid: u32, comm: &[u8]) {
        let Some(filter) = crate::cmdline::options().syscall_stats else {
            return;
        };
        if !filter.is_empty() && filter.as_bytes() != comm {
            return;
        }
        let mut by_count: Vec<(u64, usize)> = self
            .counts
            .iter()
            .enumerate()
            .map(|(nr, c)| (c.load(Ordering::Relaxed), nr))
            .filter(|&(c, _)| c > 0)
            .collect();
        by_count.sort_unstable_by(|a, b| b.cmp(a));
        let total: u64 = by_count.iter().map(|(c, _)| c).sum();
        let mut line = String::new();
        let _ = write!(
            line,
            "syscalls: pid {pid} ({}): {} interrupts, {} page faults, {total} calls",
            String::from_utf8_lossy(comm),
            self.interrupts.load(Ordering::Relaxed),
            self.faults.load(Ordering::Relaxed)
        );
        for (i, (c, nr)) in by_count.iter().enumerate() {
            let name = if *nr == 511 {
                "other"
            } else {
                kestrel_abi::syscalls::syscall_name(*nr).unwrap_or("?")
            };
            let _ = write!(line, "{}{name} {c}", if i == 0 { ": " } else { ", " });
        }
        crate::println!("{line}");
    }
}

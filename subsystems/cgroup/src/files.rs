//! The interface files of a cgroup directory: which exist where, with which
//! mode, as Linux 6.1's unified hierarchy has them.

use crate::{CTRL_CPU, CTRL_IO, CTRL_MEMORY, CTRL_PIDS};

/// One interface file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum File {
    Type,
    Procs,
    Threads,
    Controllers,
    SubtreeControl,
    Events,
    MaxDescendants,
    MaxDepth,
    Stat,
    Kill,
    Freeze,
    CpuStat,
    CpuWeight,
    CpuWeightNice,
    CpuMax,
    IoStat,
    MemCurrent,
    MemMin,
    MemLow,
    MemHigh,
    MemMax,
    MemEvents,
    MemEventsLocal,
    MemStat,
    MemOomGroup,
    MemSwapCurrent,
    MemSwapHigh,
    MemSwapMax,
    MemSwapEvents,
    PidsMax,
    PidsCurrent,
    PidsEvents,
}

/// Where a file exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In every cgroup.
    All,
    /// In every cgroup but the root (Linux's CFTYPE_NOT_ON_ROOT).
    NotRoot,
}

/// A file's definition: its name, the controller it belongs to (0: the
/// core's, always present), its mode and where it exists.
#[derive(Debug, Clone, Copy)]
pub struct FileDef {
    pub file: File,
    pub name: &'static str,
    pub ctrl: u8,
    pub mode: u32,
    pub place: Place,
}

const fn def(file: File, name: &'static str, ctrl: u8, mode: u32, place: Place) -> FileDef {
    FileDef {
        file,
        name,
        ctrl,
        mode,
        place,
    }
}

use Place::{All, NotRoot};

/// Every file, in the order a directory lists them.
pub const FILES: &[FileDef] = &[
    def(File::Type, "cgroup.type", 0, 0o644, NotRoot),
    def(File::Procs, "cgroup.procs", 0, 0o644, All),
    def(File::Threads, "cgroup.threads", 0, 0o644, All),
    def(File::Controllers, "cgroup.controllers", 0, 0o444, All),
    def(
        File::SubtreeControl,
        "cgroup.subtree_control",
        0,
        0o644,
        All,
    ),
    def(File::Events, "cgroup.events", 0, 0o444, NotRoot),
    def(
        File::MaxDescendants,
        "cgroup.max.descendants",
        0,
        0o644,
        All,
    ),
    def(File::MaxDepth, "cgroup.max.depth", 0, 0o644, All),
    def(File::Stat, "cgroup.stat", 0, 0o444, All),
    def(File::Kill, "cgroup.kill", 0, 0o200, NotRoot),
    def(File::Freeze, "cgroup.freeze", 0, 0o644, NotRoot),
    def(File::CpuStat, "cpu.stat", 0, 0o444, All),
    def(File::CpuWeight, "cpu.weight", CTRL_CPU, 0o644, NotRoot),
    def(
        File::CpuWeightNice,
        "cpu.weight.nice",
        CTRL_CPU,
        0o644,
        NotRoot,
    ),
    def(File::CpuMax, "cpu.max", CTRL_CPU, 0o644, NotRoot),
    def(File::IoStat, "io.stat", CTRL_IO, 0o444, All),
    def(
        File::MemCurrent,
        "memory.current",
        CTRL_MEMORY,
        0o444,
        NotRoot,
    ),
    def(File::MemMin, "memory.min", CTRL_MEMORY, 0o644, NotRoot),
    def(File::MemLow, "memory.low", CTRL_MEMORY, 0o644, NotRoot),
    def(File::MemHigh, "memory.high", CTRL_MEMORY, 0o644, NotRoot),
    def(File::MemMax, "memory.max", CTRL_MEMORY, 0o644, NotRoot),
    def(
        File::MemEvents,
        "memory.events",
        CTRL_MEMORY,
        0o444,
        NotRoot,
    ),
    def(
        File::MemEventsLocal,
        "memory.events.local",
        CTRL_MEMORY,
        0o444,
        NotRoot,
    ),
    def(File::MemStat, "memory.stat", CTRL_MEMORY, 0o444, All),
    def(
        File::MemOomGroup,
        "memory.oom.group",
        CTRL_MEMORY,
        0o644,
        NotRoot,
    ),
    def(
        File::MemSwapCurrent,
        "memory.swap.current",
        CTRL_MEMORY,
        0o444,
        NotRoot,
    ),
    def(
        File::MemSwapHigh,
        "memory.swap.high",
        CTRL_MEMORY,
        0o644,
        NotRoot,
    ),
    def(
        File::MemSwapMax,
        "memory.swap.max",
        CTRL_MEMORY,
        0o644,
        NotRoot,
    ),
    def(
        File::MemSwapEvents,
        "memory.swap.events",
        CTRL_MEMORY,
        0o444,
        NotRoot,
    ),
    def(File::PidsMax, "pids.max", CTRL_PIDS, 0o644, NotRoot),
    def(File::PidsCurrent, "pids.current", CTRL_PIDS, 0o444, NotRoot),
    def(File::PidsEvents, "pids.events", CTRL_PIDS, 0o444, NotRoot),
];

impl File {
    /// The definition of this file.
    pub fn def(self) -> &'static FileDef {
        FILES.iter().find(|d| d.file == self).unwrap_or(&FILES[1])
    }

    /// Its index in [`FILES`] (part of its inode number).
    pub fn index(self) -> usize {
        FILES.iter().position(|d| d.file == self).unwrap_or(1)
    }
}

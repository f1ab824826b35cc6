//! perf_event_open(2): `struct perf_event_attr`, its flags and the layout of
//! what a read of an event returns (include/uapi/linux/perf_event.h).
//!
//! The attribute struct grew over time; a program says which version it was
//! built with in `size` (the `PERF_ATTR_SIZE_VER*` values). [`Attr::parse`]
//! takes the bytes a program gave (at most [`ATTR_SIZE`] of them, zero-filled
//! beyond its size) and checks them as Linux's `perf_copy_attr` does, in its
//! order.

use crate::errno::Errno;
use crate::le::{u16_at, u32_at, u64_at};

/// The attribute sizes of each published version.
pub const PERF_ATTR_SIZE_VER0: usize = 64;
pub const PERF_ATTR_SIZE_VER1: usize = 72; // config2
pub const PERF_ATTR_SIZE_VER2: usize = 80; // branch_sample_type
pub const PERF_ATTR_SIZE_VER3: usize = 96; // sample_regs_user, sample_stack_user
pub const PERF_ATTR_SIZE_VER4: usize = 104; // sample_regs_intr
pub const PERF_ATTR_SIZE_VER5: usize = 112; // aux_watermark
pub const PERF_ATTR_SIZE_VER6: usize = 120; // aux_sample_size
pub const PERF_ATTR_SIZE_VER7: usize = 128; // sig_data
pub const PERF_ATTR_SIZE_VER8: usize = 136; // config3 (Linux 6.3)
/// The size of the attribute struct Kestrel knows: E2BIG writes it back.
pub const ATTR_SIZE: usize = PERF_ATTR_SIZE_VER8;

/// `type`
pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
pub const PERF_TYPE_HW_CACHE: u32 = 3;
pub const PERF_TYPE_RAW: u32 = 4;
pub const PERF_TYPE_BREAKPOINT: u32 = 5;

/// `config` of a PERF_TYPE_SOFTWARE event.
pub const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
pub const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
pub const PERF_COUNT_SW_PAGE_FAULTS: u64 = 2;
pub const PERF_COUNT_SW_CONTEXT_SWITCHES: u64 = 3;
pub const PERF_COUNT_SW_CPU_MIGRATIONS: u64 = 4;
pub const PERF_COUNT_SW_PAGE_FAULTS_MIN: u64 = 5;
pub const PERF_COUNT_SW_PAGE_FAULTS_MAJ: u64 = 6;
pub const PERF_COUNT_SW_ALIGNMENT_FAULTS: u64 = 7;
pub const PERF_COUNT_SW_EMULATION_FAULTS: u64 = 8;
pub const PERF_COUNT_SW_DUMMY: u64 = 9;
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
pub const PERF_COUNT_SW_CGROUP_SWITCHES: u64 = 11;
pub const PERF_COUNT_SW_MAX: u64 = 12;

/// `read_format`
pub const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
pub const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 1 << 1;
pub const PERF_FORMAT_ID: u64 = 1 << 2;
pub const PERF_FORMAT_GROUP: u64 = 1 << 3;
pub const PERF_FORMAT_LOST: u64 = 1 << 4;
pub const PERF_FORMAT_MAX: u64 = 1 << 5;

/// `sample_type` bits the checks look at.
pub const PERF_SAMPLE_READ: u64 = 1 << 4;
pub const PERF_SAMPLE_BRANCH_STACK: u64 = 1 << 11;
pub const PERF_SAMPLE_REGS_USER: u64 = 1 << 12;
pub const PERF_SAMPLE_STACK_USER: u64 = 1 << 13;
pub const PERF_SAMPLE_WEIGHT: u64 = 1 << 14;
pub const PERF_SAMPLE_REGS_INTR: u64 = 1 << 18;
pub const PERF_SAMPLE_PHYS_ADDR: u64 = 1 << 19;
pub const PERF_SAMPLE_CGROUP: u64 = 1 << 21;
pub const PERF_SAMPLE_WEIGHT_STRUCT: u64 = 1 << 24;
pub const PERF_SAMPLE_MAX: u64 = 1 << 25;

/// `branch_sample_type`: the privilege-level bits, and the first unknown bit.
pub const PERF_SAMPLE_BRANCH_USER: u64 = 1 << 0;
pub const PERF_SAMPLE_BRANCH_KERNEL: u64 = 1 << 1;
pub const PERF_SAMPLE_BRANCH_HV: u64 = 1 << 2;
pub const PERF_SAMPLE_BRANCH_PLM_ALL: u64 =
    PERF_SAMPLE_BRANCH_USER | PERF_SAMPLE_BRANCH_KERNEL | PERF_SAMPLE_BRANCH_HV;
pub const PERF_SAMPLE_BRANCH_MAX: u64 = 1 << 19;

/// The bit-field word of the attributes (`flags` here), bit by bit.
pub mod flag {
    pub const DISABLED: u64 = 1 << 0;
    pub const INHERIT: u64 = 1 << 1;
    pub const PINNED: u64 = 1 << 2;
    pub const EXCLUSIVE: u64 = 1 << 3;
    pub const EXCLUDE_USER: u64 = 1 << 4;
    pub const EXCLUDE_KERNEL: u64 = 1 << 5;
    pub const EXCLUDE_HV: u64 = 1 << 6;
    pub const EXCLUDE_IDLE: u64 = 1 << 7;
    pub const MMAP: u64 = 1 << 8;
    pub const COMM: u64 = 1 << 9;
    pub const FREQ: u64 = 1 << 10;
    pub const INHERIT_STAT: u64 = 1 << 11;
    pub const ENABLE_ON_EXEC: u64 = 1 << 12;
    pub const TASK: u64 = 1 << 13;
    pub const WATERMARK: u64 = 1 << 14;
    pub const PRECISE_IP: u64 = 3 << 15;
    pub const MMAP_DATA: u64 = 1 << 17;
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    pub const EXCLUDE_HOST: u64 = 1 << 19;
    pub const EXCLUDE_GUEST: u64 = 1 << 20;
    pub const EXCLUDE_CALLCHAIN_KERNEL: u64 = 1 << 21;
    pub const EXCLUDE_CALLCHAIN_USER: u64 = 1 << 22;
    pub const MMAP2: u64 = 1 << 23;
    pub const COMM_EXEC: u64 = 1 << 24;
    pub const USE_CLOCKID: u64 = 1 << 25;
    pub const CONTEXT_SWITCH: u64 = 1 << 26;
    pub const WRITE_BACKWARD: u64 = 1 << 27;
    pub const NAMESPACES: u64 = 1 << 28;
    pub const KSYMBOL: u64 = 1 << 29;
    pub const BPF_EVENT: u64 = 1 << 30;
    pub const AUX_OUTPUT: u64 = 1 << 31;
    pub const CGROUP: u64 = 1 << 32;
    pub const TEXT_POKE: u64 = 1 << 33;
    pub const BUILD_ID: u64 = 1 << 34;
    pub const INHERIT_THREAD: u64 = 1 << 35;
    pub const REMOVE_ON_EXEC: u64 = 1 << 36;
    pub const SIGTRAP: u64 = 1 << 37;
    /// `__reserved_1`: must be zero.
    pub const RESERVED: u64 = !0 << 38;
}

/// perf_event_open's `flags`.
pub const PERF_FLAG_FD_NO_GROUP: u64 = 1 << 0;
pub const PERF_FLAG_FD_OUTPUT: u64 = 1 << 1;
pub const PERF_FLAG_PID_CGROUP: u64 = 1 << 2;
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
pub const PERF_FLAG_ALL: u64 =
    PERF_FLAG_FD_NO_GROUP | PERF_FLAG_FD_OUTPUT | PERF_FLAG_PID_CGROUP | PERF_FLAG_FD_CLOEXEC;

/// The ioctls of an event file ('$').
pub const PERF_EVENT_IOC_ENABLE: u32 = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: u32 = 0x2401;
pub const PERF_EVENT_IOC_REFRESH: u32 = 0x2402;
pub const PERF_EVENT_IOC_RESET: u32 = 0x2403;
pub const PERF_EVENT_IOC_PERIOD: u32 = 0x4008_2404;
pub const PERF_EVENT_IOC_SET_OUTPUT: u32 = 0x2405;
pub const PERF_EVENT_IOC_SET_FILTER: u32 = 0x4008_2406;
pub const PERF_EVENT_IOC_ID: u32 = 0x8008_2407;
pub const PERF_EVENT_IOC_SET_BPF: u32 = 0x4004_2408;
pub const PERF_EVENT_IOC_PAUSE_OUTPUT: u32 = 0x4004_2409;
pub const PERF_EVENT_IOC_QUERY_BPF: u32 = 0xc008_240a;
pub const PERF_EVENT_IOC_MODIFY_ATTRIBUTES: u32 = 0x4008_240b;
/// ENABLE, DISABLE and RESET's argument: the whole group.
pub const PERF_IOC_FLAG_GROUP: u64 = 1;

/// prctl(2) options.
pub const PR_TASK_PERF_EVENTS_DISABLE: i32 = 31;
pub const PR_TASK_PERF_EVENTS_ENABLE: i32 = 32;

/// The most a group's read may take (Linux's perf_event_validate_size).
pub const MAX_READ_SIZE: usize = 16 * 1024;

/// `struct perf_event_attr`, as far as Kestrel looks at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// sample_period or sample_freq (with [`flag::FREQ`]).
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
    pub aux_sample_size: u32,
    pub reserved_3: u32,
    pub sig_data: u64,
    pub config3: u64,
}

impl Attr {
    /// The attributes in `b` (a program's bytes, zero past its `size`), with
    /// `size` the size it gave (0 already made VER0), checked as
    /// Linux's perf_copy_attr does after the copy, in its order: reserved
    /// fields, unknown sample_type and read_format bits, the branch-sample
    /// mask, the user stack size, the weight formats, inherit_thread without
    /// inherit, remove_on_exec with enable_on_exec, sigtrap without
    /// remove_on_exec (all EINVAL). `needs_kernel_priv` is set when the branch
    /// mask asks for kernel or hypervisor branches (Linux checks the
    /// privilege there: the caller does).
    pub fn parse(b: &[u8; ATTR_SIZE], size: u32) -> Result<(Attr, bool), Errno> {
        let mut a = Attr {
            type_: u32_at(b, 0),
            size,
            config: u64_at(b, 8),
            sample_period: u64_at(b, 16),
            sample_type: u64_at(b, 24),
            read_format: u64_at(b, 32),
            flags: u64_at(b, 40),
            wakeup_events: u32_at(b, 48),
            bp_type: u32_at(b, 52),
            config1: u64_at(b, 56),
            config2: u64_at(b, 64),
            branch_sample_type: u64_at(b, 72),
            sample_regs_user: u64_at(b, 80),
            sample_stack_user: u32_at(b, 88),
            clockid: u32_at(b, 92) as i32,
            sample_regs_intr: u64_at(b, 96),
            aux_watermark: u32_at(b, 104),
            sample_max_stack: u16_at(b, 108),
            reserved_2: u16_at(b, 110),
            aux_sample_size: u32_at(b, 112),
            reserved_3: u32_at(b, 116),
            sig_data: u64_at(b, 120),
            config3: u64_at(b, 128),
        };
        if a.flags & flag::RESERVED != 0 || a.reserved_2 != 0 || a.reserved_3 != 0 {
            return Err(Errno::EINVAL);
        }
        if a.sample_type & !(PERF_SAMPLE_MAX - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        if a.read_format & !(PERF_FORMAT_MAX - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let mut needs_kernel_priv = false;
        if a.sample_type & PERF_SAMPLE_BRANCH_STACK != 0 {
            let mut mask = a.branch_sample_type;
            if mask & !(PERF_SAMPLE_BRANCH_MAX - 1) != 0 {
                return Err(Errno::EINVAL);
            }
            // At least one branch kind besides the privilege levels.
            if mask & !PERF_SAMPLE_BRANCH_PLM_ALL == 0 {
                return Err(Errno::EINVAL);
            }
            // No level given: the event's own exclusions decide.
            if mask & PERF_SAMPLE_BRANCH_PLM_ALL == 0 {
                if a.flags & flag::EXCLUDE_USER == 0 {
                    mask |= PERF_SAMPLE_BRANCH_USER;
                }
                if a.flags & flag::EXCLUDE_KERNEL == 0 {
                    mask |= PERF_SAMPLE_BRANCH_KERNEL;
                }
                if a.flags & flag::EXCLUDE_HV == 0 {
                    mask |= PERF_SAMPLE_BRANCH_HV;
                }
                a.branch_sample_type = mask;
            }
            needs_kernel_priv = mask & (PERF_SAMPLE_BRANCH_KERNEL | PERF_SAMPLE_BRANCH_HV) != 0;
        }
        // x86-64's perf_reg_validate: some register, and not the segment
        // registers DS, ES, FS, GS (bits 12-15).
        let regs_ok = |mask: u64| mask != 0 && mask & (0xf << 12) == 0;
        if a.sample_type & PERF_SAMPLE_REGS_USER != 0 && !regs_ok(a.sample_regs_user) {
            return Err(Errno::EINVAL);
        }
        if a.sample_type & PERF_SAMPLE_STACK_USER != 0
            && (a.sample_stack_user >= u32::from(u16::MAX)
                || !a.sample_stack_user.is_multiple_of(8))
        {
            return Err(Errno::EINVAL);
        }
        if a.sample_max_stack == 0 {
            a.sample_max_stack = 127; // kernel.perf_event_max_stack
        }
        if a.sample_type & PERF_SAMPLE_REGS_INTR != 0 && !regs_ok(a.sample_regs_intr) {
            return Err(Errno::EINVAL);
        }
        if a.sample_type & PERF_SAMPLE_CGROUP != 0 {
            // No perf cgroup support (a kernel without CONFIG_CGROUP_PERF).
            return Err(Errno::EINVAL);
        }
        if a.sample_type & PERF_SAMPLE_WEIGHT != 0 && a.sample_type & PERF_SAMPLE_WEIGHT_STRUCT != 0
        {
            return Err(Errno::EINVAL);
        }
        if a.flags & flag::INHERIT == 0 && a.flags & flag::INHERIT_THREAD != 0 {
            return Err(Errno::EINVAL);
        }
        if a.flags & flag::REMOVE_ON_EXEC != 0 && a.flags & flag::ENABLE_ON_EXEC != 0 {
            return Err(Errno::EINVAL);
        }
        if a.flags & flag::SIGTRAP != 0 && a.flags & flag::REMOVE_ON_EXEC == 0 {
            return Err(Errno::EINVAL);
        }
        Ok((a, needs_kernel_priv))
    }

    pub fn has(&self, f: u64) -> bool {
        self.flags & f != 0
    }

    /// A sampling event (a period or frequency), as opposed to a counting one.
    pub fn sampling(&self) -> bool {
        self.sample_period != 0
    }
}

/// The bytes a read of an event with `read_format` returns, the group having
/// `members` events (leader included; 1 without PERF_FORMAT_GROUP): Linux's
/// `__perf_event_read_size`.
pub fn read_size(read_format: u64, members: usize) -> usize {
    let mut size = 0;
    let mut entry = 8;
    if read_format & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
        size += 8;
    }
    if read_format & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
        size += 8;
    }
    if read_format & PERF_FORMAT_ID != 0 {
        entry += 8;
    }
    if read_format & PERF_FORMAT_LOST != 0 {
        entry += 8;
    }
    let mut nr = 1;
    if read_format & PERF_FORMAT_GROUP != 0 {
        nr = members;
        size += 8;
    }
    size + entry * nr
}

/// One event's values for a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Values {
    pub count: u64,
    pub enabled: u64,
    pub running: u64,
    pub id: u64,
    pub lost: u64,
}

/// Lays out a read in `out` (sized by [`read_size`]): for one event `value,
/// [enabled], [running], [id], [lost]`; with PERF_FORMAT_GROUP `nr, [enabled],
/// [running]` (the leader's) then `value, [id], [lost]` for each member.
/// Returns the bytes written.
pub fn encode_read(read_format: u64, members: &[Values], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut put = |v: u64, out: &mut [u8]| {
        out[n..n + 8].copy_from_slice(&v.to_ne_bytes());
        n += 8;
    };
    let lead = members.first().copied().unwrap_or_default();
    if read_format & PERF_FORMAT_GROUP != 0 {
        put(members.len() as u64, out);
        if read_format & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
            put(lead.enabled, out);
        }
        if read_format & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
            put(lead.running, out);
        }
        for m in members {
            put(m.count, out);
            if read_format & PERF_FORMAT_ID != 0 {
                put(m.id, out);
            }
            if read_format & PERF_FORMAT_LOST != 0 {
                put(m.lost, out);
            }
        }
    } else {
        put(lead.count, out);
        if read_format & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
            put(lead.enabled, out);
        }
        if read_format & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
            put(lead.running, out);
        }
        if read_format & PERF_FORMAT_ID != 0 {
            put(lead.id, out);
        }
        if read_format & PERF_FORMAT_LOST != 0 {
            put(lead.lost, out);
        }
    }
    n
}

/// `sample_type` bits of the fields a sample record carries.
pub const PERF_SAMPLE_IP: u64 = 1 << 0;
pub const PERF_SAMPLE_TID: u64 = 1 << 1;
pub const PERF_SAMPLE_TIME: u64 = 1 << 2;
pub const PERF_SAMPLE_ADDR: u64 = 1 << 3;
pub const PERF_SAMPLE_ID: u64 = 1 << 6;
pub const PERF_SAMPLE_CPU: u64 = 1 << 7;
pub const PERF_SAMPLE_PERIOD: u64 = 1 << 8;
pub const PERF_SAMPLE_STREAM_ID: u64 = 1 << 9;
pub const PERF_SAMPLE_IDENTIFIER: u64 = 1 << 16;
/// The fields Kestrel's samples carry (the others are refused).
pub const SAMPLE_SUPPORTED: u64 = PERF_SAMPLE_IP
    | PERF_SAMPLE_TID
    | PERF_SAMPLE_TIME
    | PERF_SAMPLE_ADDR
    | PERF_SAMPLE_ID
    | PERF_SAMPLE_CPU
    | PERF_SAMPLE_PERIOD
    | PERF_SAMPLE_STREAM_ID
    | PERF_SAMPLE_IDENTIFIER;

/// Record types in the ring buffer.
pub const PERF_RECORD_MMAP: u32 = 1;
pub const PERF_RECORD_LOST: u32 = 2;
pub const PERF_RECORD_COMM: u32 = 3;
pub const PERF_RECORD_SAMPLE: u32 = 9;
pub const PERF_RECORD_MMAP2: u32 = 10;
/// COMM after an exec; MMAP of a data (non-executable) mapping.
pub const PERF_RECORD_MISC_COMM_EXEC: u16 = 1 << 13;
pub const PERF_RECORD_MISC_MMAP_DATA: u16 = 1 << 13;
/// `misc`: where the sampled instruction ran.
pub const PERF_RECORD_MISC_KERNEL: u16 = 1;
pub const PERF_RECORD_MISC_USER: u16 = 2;

/// The offsets in the first page of the ring (`struct perf_event_mmap_page`).
pub const MMAP_DATA_HEAD: u64 = 1024;
pub const MMAP_DATA_TAIL: u64 = 1032;
pub const MMAP_DATA_OFFSET: u64 = 1040;
pub const MMAP_DATA_SIZE: u64 = 1048;

/// What one sample says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub user: bool,
    pub ip: u64,
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub addr: u64,
    /// The id PERF_EVENT_IOC_ID gives (a copy's parent's).
    pub id: u64,
    /// The event's own id (a copy's own).
    pub stream_id: u64,
    pub cpu: u32,
    pub period: u64,
}

/// A PERF_RECORD_SAMPLE with the fields `sample_type` asks for (all within
/// [`SAMPLE_SUPPORTED`]), in Linux's order; returns its length (at most 88).
pub fn encode_sample(sample_type: u64, s: &Sample, out: &mut [u8; 88]) -> usize {
    let mut n = 8;
    let mut put = |v: u64, out: &mut [u8; 88]| {
        out[n..n + 8].copy_from_slice(&v.to_ne_bytes());
        n += 8;
    };
    if sample_type & PERF_SAMPLE_IDENTIFIER != 0 {
        put(s.id, out);
    }
    if sample_type & PERF_SAMPLE_IP != 0 {
        put(s.ip, out);
    }
    if sample_type & PERF_SAMPLE_TID != 0 {
        put(u64::from(s.pid) | u64::from(s.tid) << 32, out);
    }
    if sample_type & PERF_SAMPLE_TIME != 0 {
        put(s.time, out);
    }
    if sample_type & PERF_SAMPLE_ADDR != 0 {
        put(s.addr, out);
    }
    if sample_type & PERF_SAMPLE_ID != 0 {
        put(s.id, out);
    }
    if sample_type & PERF_SAMPLE_STREAM_ID != 0 {
        put(s.stream_id, out);
    }
    if sample_type & PERF_SAMPLE_CPU != 0 {
        put(u64::from(s.cpu), out);
    }
    if sample_type & PERF_SAMPLE_PERIOD != 0 {
        put(s.period, out);
    }
    let misc = if s.user {
        PERF_RECORD_MISC_USER
    } else {
        PERF_RECORD_MISC_KERNEL
    };
    out[0..4].copy_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
    out[4..6].copy_from_slice(&misc.to_ne_bytes());
    out[6..8].copy_from_slice(&(n as u16).to_ne_bytes());
    n
}

/// A PERF_RECORD_LOST: `lost` records of event `id` did not fit.
pub fn encode_lost(id: u64, lost: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[0..4].copy_from_slice(&PERF_RECORD_LOST.to_ne_bytes());
    out[6..8].copy_from_slice(&24u16.to_ne_bytes());
    out[8..16].copy_from_slice(&id.to_ne_bytes());
    out[16..24].copy_from_slice(&lost.to_ne_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(f: impl FnOnce(&mut [u8; ATTR_SIZE])) -> Result<(Attr, bool), Errno> {
        let mut b = [0u8; ATTR_SIZE];
        b[4..8].copy_from_slice(&(ATTR_SIZE as u32).to_le_bytes());
        f(&mut b);
        Attr::parse(&b, ATTR_SIZE as u32)
    }

    fn set64(b: &mut [u8; ATTR_SIZE], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn fields_at_their_offsets() {
        let (a, _) = attr(|b| {
            b[0] = 1;
            set64(b, 8, 3);
            set64(b, 32, PERF_FORMAT_ID);
            set64(b, 40, flag::DISABLED | flag::EXCLUDE_KERNEL);
            set64(b, 128, 9);
        })
        .unwrap();
        assert_eq!(a.type_, PERF_TYPE_SOFTWARE);
        assert_eq!(a.config, PERF_COUNT_SW_CONTEXT_SWITCHES);
        assert_eq!(a.read_format, PERF_FORMAT_ID);
        assert!(a.has(flag::DISABLED) && a.has(flag::EXCLUDE_KERNEL));
        assert!(!a.has(flag::INHERIT));
        assert_eq!(a.config3, 9);
        assert_eq!(a.sample_max_stack, 127);
    }

    #[test]
    fn reserved_and_unknown_bits_are_einval() {
        assert_eq!(attr(|b| set64(b, 40, 1 << 38)), Err(Errno::EINVAL));
        assert_eq!(attr(|b| b[110] = 1), Err(Errno::EINVAL));
        assert_eq!(attr(|b| b[116] = 1), Err(Errno::EINVAL));
        assert_eq!(attr(|b| set64(b, 24, PERF_SAMPLE_MAX)), Err(Errno::EINVAL));
        assert_eq!(attr(|b| set64(b, 32, PERF_FORMAT_MAX)), Err(Errno::EINVAL));
    }

    #[test]
    fn flag_combinations() {
        assert_eq!(
            attr(|b| set64(b, 40, flag::INHERIT_THREAD)),
            Err(Errno::EINVAL)
        );
        assert!(attr(|b| set64(b, 40, flag::INHERIT_THREAD | flag::INHERIT)).is_ok());
        assert_eq!(
            attr(|b| set64(b, 40, flag::REMOVE_ON_EXEC | flag::ENABLE_ON_EXEC)),
            Err(Errno::EINVAL)
        );
        assert_eq!(attr(|b| set64(b, 40, flag::SIGTRAP)), Err(Errno::EINVAL));
        assert!(attr(|b| set64(b, 40, flag::SIGTRAP | flag::REMOVE_ON_EXEC)).is_ok());
    }

    #[test]
    fn branch_mask() {
        // No branch kind: EINVAL; a kind with no level takes the event's.
        assert_eq!(
            attr(|b| {
                set64(b, 24, PERF_SAMPLE_BRANCH_STACK);
                set64(b, 72, PERF_SAMPLE_BRANCH_USER);
            }),
            Err(Errno::EINVAL)
        );
        let (a, kernel) = attr(|b| {
            set64(b, 24, PERF_SAMPLE_BRANCH_STACK);
            set64(b, 40, flag::EXCLUDE_KERNEL | flag::EXCLUDE_HV);
            set64(b, 72, 1 << 3);
        })
        .unwrap();
        assert!(!kernel);
        assert_eq!(a.branch_sample_type, (1 << 3) | PERF_SAMPLE_BRANCH_USER);
    }

    #[test]
    fn sample_layout() {
        let s = Sample {
            user: true,
            ip: 0x401000,
            pid: 7,
            tid: 8,
            addr: 0x5000,
            id: 3,
            cpu: 1,
            period: 1,
            ..Default::default()
        };
        let mut out = [0u8; 88];
        let all = SAMPLE_SUPPORTED;
        assert_eq!(encode_sample(all, &s, &mut out), 8 + 9 * 8);
        let n = encode_sample(
            PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_ADDR,
            &s,
            &mut out,
        );
        assert_eq!(n, 32);
        let w = |i: usize| u64::from_ne_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(w(0), u64::from(PERF_RECORD_SAMPLE) | (2 << 32) | (32 << 48));
        assert_eq!(w(1), 0x401000);
        assert_eq!(w(2), 7 | 8 << 32);
        assert_eq!(w(3), 0x5000);
    }

    #[test]
    fn read_layouts() {
        assert_eq!(read_size(0, 1), 8);
        let all = PERF_FORMAT_TOTAL_TIME_ENABLED
            | PERF_FORMAT_TOTAL_TIME_RUNNING
            | PERF_FORMAT_ID
            | PERF_FORMAT_LOST;
        assert_eq!(read_size(all, 1), 40);
        assert_eq!(read_size(all | PERF_FORMAT_GROUP, 3), 24 + 3 * 24);
        let v = [
            Values {
                count: 5,
                enabled: 10,
                running: 9,
                id: 1,
                lost: 0,
            },
            Values {
                count: 7,
                id: 2,
                ..Default::default()
            },
        ];
        let mut out = [0u8; 64];
        let n = encode_read(
            PERF_FORMAT_GROUP | PERF_FORMAT_ID | PERF_FORMAT_TOTAL_TIME_ENABLED,
            &v,
            &mut out,
        );
        assert_eq!(n, 8 * 6);
        let words: [u64; 6] =
            core::array::from_fn(|i| u64::from_ne_bytes(out[i * 8..i * 8 + 8].try_into().unwrap()));
        assert_eq!(words, [2, 10, 5, 1, 7, 2]);
        let n = encode_read(
            PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID,
            &v[..1],
            &mut out,
        );
        assert_eq!(n, 24);
        assert_eq!(u64::from_ne_bytes(out[8..16].try_into().unwrap()), 9);
    }
}

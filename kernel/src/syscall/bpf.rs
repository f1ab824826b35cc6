//! bpf(2): eBPF maps and socket-filter programs.
//!
//! The maps, the verifier and the interpreter are `kestrel_ebpf` (host-tested
//! logic); this file reads `union bpf_attr`, keeps maps and programs behind
//! file descriptors ("anon_inode:bpf-map", "anon_inode:bpf-prog") and runs a
//! socket's program (SO_ATTACH_BPF) on what it receives ([`run_filter`]).
//!
//! Commands: BPF_MAP_CREATE (array and hash maps), BPF_MAP_LOOKUP_ELEM,
//! BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY and
//! BPF_PROG_LOAD (BPF_PROG_TYPE_SOCKET_FILTER); every other command is
//! EINVAL, as Linux answers a command it does not know.
//!
//! Who may: with `kernel.unprivileged_bpf_disabled` at 2 (the default, as
//! Debian's) or 1 (locked: it cannot be cleared again), bpf(2) needs CAP_BPF
//! or CAP_SYS_ADMIN; at 0 anyone may make these maps and load socket filters
//! of up to 4,096 instructions. The verifier is strict (no pointer leaks, no
//! unwritten stack) unless the loader has CAP_PERFMON or CAP_SYS_ADMIN, as
//! Linux's allow_ptr_leaks.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};

use kestrel_abi::fs::O_RDWR;
use kestrel_abi::le::{u32_at, u64_at};
use kestrel_abi::{Errno, KResult};
use kestrel_ebpf::interp::{Env, Program, SkbCtx};
use kestrel_ebpf::map::{Map, Spec};
use kestrel_ebpf::verifier::{self, Log};
use kestrel_ebpf::{Insn, MAX_INSNS};
use kestrel_vfs::{FileOps, OpenFile};

use super::Ctx;
use super::args::*;

const BPF_MAP_CREATE: i32 = 0;
const BPF_MAP_LOOKUP_ELEM: i32 = 1;
const BPF_MAP_UPDATE_ELEM: i32 = 2;
const BPF_MAP_DELETE_ELEM: i32 = 3;
const BPF_MAP_GET_NEXT_KEY: i32 = 4;
const BPF_PROG_LOAD: i32 = 5;

const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// CAP_BPF (Linux 5.8).
const CAP_BPF: u32 = 39;

/// `sizeof(union bpf_attr)` as far as this kernel reads it (the end of
/// BPF_PROG_LOAD's fields, rounded to 8); bytes past it must be zero.
const ATTR_SIZE: usize = 144;

/// The end of each command's fields (CHECK_ATTR: bytes after it must be zero).
fn last_field_end(cmd: i32) -> usize {
    match cmd {
        BPF_MAP_CREATE => 72,
        BPF_MAP_LOOKUP_ELEM | BPF_MAP_UPDATE_ELEM => 32,
        BPF_MAP_DELETE_ELEM => 16,
        BPF_MAP_GET_NEXT_KEY => 24,
        _ => 140,
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// kernel.unprivileged_bpf_disabled.
static UNPRIV_DISABLED: AtomicU32 = AtomicU32::new(2);

/// The most instructions an unprivileged loader's program may have (BPF_MAXINSNS).
const UNPRIV_MAX_INSNS: usize = 4096;

pub fn unprivileged_disabled() -> u32 {
    UNPRIV_DISABLED.load(Ordering::Relaxed)
}

/// Writing kernel.unprivileged_bpf_disabled (bpf_unpriv_handler): 0 to 2
/// (EINVAL otherwise), by CAP_SYS_ADMIN only (EPERM), and 1 stays (EPERM).
pub fn set_unprivileged_disabled(v: i128) -> KResult<()> {
    let v = u32::try_from(v)
        .ok()
        .filter(|v| *v <= 2)
        .ok_or(Errno::EINVAL)?;
    let admin = crate::process::current_thread().is_some_and(|t| {
        t.process
            .cred
            .lock()
            .capable(kestrel_abi::cap::CAP_SYS_ADMIN)
    });
    if !admin || (unprivileged_disabled() == 1 && v != 1) {
        return Err(Errno::EPERM);
    }
    UNPRIV_DISABLED.store(v, Ordering::Relaxed);
    Ok(())
}

/// What a bpf file holds.
pub enum Object {
    Map(Arc<Map>),
    Prog(Arc<Program>),
}

/// A map's or a loaded program's file ("anon_inode:bpf-map", "bpf-prog").
pub struct BpfFile {
    pub object: Object,
    id: u32,
}

impl FileOps for BpfFile {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl BpfFile {
    pub fn of(f: &OpenFile) -> Option<&BpfFile> {
        f.ops().as_any().downcast_ref()
    }

    /// A new file for `object`, with the next id.
    fn open(object: Object) -> Arc<OpenFile> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        crate::fs::anon::anon_file(Arc::new(BpfFile { object, id }), O_RDWR)
    }

    /// What /proc/PID/fd/N shows after "anon_inode:".
    pub fn link_name(&self) -> &'static str {
        match self.object {
            Object::Map(_) => "bpf-map",
            Object::Prog(_) => "bpf-prog",
        }
    }

    /// /proc/PID/fdinfo's lines (kernel/bpf/syscall.c's).
    pub fn fdinfo(&self) -> String {
        match &self.object {
            Object::Map(m) => {
                let ty = match m.kind {
                    kestrel_ebpf::map::Kind::Hash => kestrel_ebpf::map::MAP_TYPE_HASH,
                    kestrel_ebpf::map::Kind::Array => kestrel_ebpf::map::MAP_TYPE_ARRAY,
                };
                alloc::format!(
                    "map_type:\t{ty}\nkey_size:\t{}\nvalue_size:\t{}\nmax_entries:\t{}\nmap_flags:\t{:#x}\nmap_extra:\t0x0\nmemlock:\t{}\nmap_id:\t{}\nfrozen:\t0\n",
                    m.key_size,
                    m.value_size,
                    m.max_entries,
                    m.flags,
                    m.bytes().next_multiple_of(4096),
                    self.id
                )
            }
            Object::Prog(p) => alloc::format!(
                "prog_type:\t{BPF_PROG_TYPE_SOCKET_FILTER}\nprog_jited:\t0\nmemlock:\t{}\nprog_id:\t{}\n",
                (p.insns.len() * Insn::SIZE).next_multiple_of(4096),
                self.id
            ),
        }
    }
}

/// The socket filter program behind descriptor `fd` (SO_ATTACH_BPF): EBADF
/// for no file, EINVAL for a file that is not a socket-filter program.
pub fn socket_filter(ctx: &Ctx<'_>, fd: Fd) -> KResult<Arc<Program>> {
    let f = ctx.file(fd)?;
    match BpfFile::of(&f).map(|b| &b.object) {
        Some(Object::Prog(p)) => Ok(p.clone()),
        _ => Err(Errno::EINVAL),
    }
}

struct KernelEnv;

impl Env for KernelEnv {
    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }
    fn boot_ns(&self) -> u64 {
        // Nothing suspends: CLOCK_BOOTTIME is CLOCK_MONOTONIC.
        crate::time::now_ns()
    }
    fn random_u32(&self) -> u32 {
        let mut b = [0u8; 4];
        crate::random::fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn cpu(&self) -> u32 {
        crate::task::this_cpu() as u32
    }
}

/// Runs a socket filter on a received packet of `data`: how many bytes to
/// keep (0: drop it).
pub fn run_filter(prog: &Program, data: &[u8]) -> u32 {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    prog.run_filter(data, SkbCtx::new(len, 0, 0), &KernelEnv)
}

fn map_of(ctx: &Ctx<'_>, fd: u32) -> KResult<Arc<Map>> {
    let f = ctx.file(fd as Fd)?;
    match BpfFile::of(&f).map(|b| &b.object) {
        Some(Object::Map(m)) => Ok(m.clone()),
        _ => Err(Errno::EINVAL),
    }
}

fn read_user(ctx: &Ctx<'_>, at: u64, n: usize) -> KResult<Vec<u8>> {
    ctx.mm().reader(UserPtr::<u8>::new(at), n)?.read_to_vec()
}

fn write_user(ctx: &Ctx<'_>, at: u64, data: &[u8]) -> KResult<()> {
    ctx.mm()
        .writer(UserPtr::<u8>::new(at), data.len())?
        .write_all(data)
}

/// bpf(cmd, attr, size).
pub async fn sys_bpf(ctx: &mut Ctx<'_>, cmd: i32, attr: UserPtr<u8>, size: u32) -> KResult<u64> {
    let bpf_capable = ctx.capable(CAP_BPF) || ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN);
    if !bpf_capable && unprivileged_disabled() != 0 {
        return Err(Errno::EPERM);
    }
    let size = size as usize;
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut a = [0u8; ATTR_SIZE];
    ctx.mm().reader(attr, size)?.read_extensible(&mut a)?;
    if !matches!(
        cmd,
        BPF_MAP_CREATE
            | BPF_MAP_LOOKUP_ELEM
            | BPF_MAP_UPDATE_ELEM
            | BPF_MAP_DELETE_ELEM
            | BPF_MAP_GET_NEXT_KEY
            | BPF_PROG_LOAD
    ) {
        return Err(Errno::EINVAL);
    }
    if a[last_field_end(cmd)..].iter().any(|&b| b != 0) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        BPF_MAP_CREATE => map_create(ctx, &a),
        BPF_PROG_LOAD => prog_load(ctx, &a, bpf_capable),
        _ => map_elem(ctx, cmd, &a),
    }
}

fn map_create(ctx: &Ctx<'_>, a: &[u8]) -> KResult<u64> {
    // inner_map_fd, numa_node, map_ifindex, the BTF ids and map_extra: none
    // of this kernel's map types takes them.
    if u64_at(a, 64) != 0 || u32_at(a, 44) != 0 || u32_at(a, 48) != 0 {
        return Err(Errno::EINVAL);
    }
    // map_name: printable name characters, NUL-terminated within 16 bytes.
    let name = &a[28..44];
    let len = name.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)?;
    if !name[..len]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(Errno::EINVAL);
    }
    let spec = Spec {
        map_type: u32_at(a, 0),
        key_size: u32_at(a, 4),
        value_size: u32_at(a, 8),
        max_entries: u32_at(a, 12),
        flags: u32_at(a, 16),
    };
    let map = Arc::new(Map::new(spec)?);
    ctx.install(BpfFile::open(Object::Map(map)), true)
        .map(|fd| fd as u64)
}

fn map_elem(ctx: &Ctx<'_>, cmd: i32, a: &[u8]) -> KResult<u64> {
    let map = map_of(ctx, u32_at(a, 0))?;
    let (key_at, value_at, flags) = (u64_at(a, 8), u64_at(a, 16), u64_at(a, 24));
    let ks = map.key_size as usize;
    match cmd {
        BPF_MAP_LOOKUP_ELEM => {
            if flags != 0 {
                return Err(Errno::EINVAL);
            }
            let key = read_user(ctx, key_at, ks)?;
            let value = map.lookup(&key)?;
            write_user(ctx, value_at, &value)?;
        }
        BPF_MAP_UPDATE_ELEM => {
            let key = read_user(ctx, key_at, ks)?;
            let value = read_user(ctx, value_at, map.value_size as usize)?;
            map.update(&key, &value, flags)?;
        }
        BPF_MAP_DELETE_ELEM => {
            let key = read_user(ctx, key_at, ks)?;
            map.delete(&key)?;
        }
        _ => {
            // BPF_MAP_GET_NEXT_KEY: a NULL key asks for the first one.
            let key = if key_at == 0 {
                None
            } else {
                Some(read_user(ctx, key_at, ks)?)
            };
            let next = map.next_key(key.as_deref())?;
            write_user(ctx, value_at, &next)?;
        }
    }
    Ok(0)
}

fn prog_load(ctx: &Ctx<'_>, a: &[u8], bpf_capable: bool) -> KResult<u64> {
    let prog_type = u32_at(a, 0);
    let insn_cnt = u32_at(a, 4) as usize;
    let (insns_at, license_at) = (u64_at(a, 8), u64_at(a, 16));
    let (log_level, log_size, log_at) = (u32_at(a, 24), u32_at(a, 28), u64_at(a, 32));
    let prog_flags = u32_at(a, 44);
    if prog_flags != 0 {
        return Err(Errno::EINVAL);
    }
    if prog_type != BPF_PROG_TYPE_SOCKET_FILTER {
        return Err(Errno::EINVAL);
    }
    let most = if bpf_capable {
        MAX_INSNS
    } else {
        UNPRIV_MAX_INSNS
    };
    if insn_cnt == 0 || insn_cnt > most {
        return Err(Errno::E2BIG);
    }
    // The license must be a readable string (socket filters need no GPL).
    match ctx.mm().read_cstr(UserCStr::new(license_at), 127) {
        Ok(_) | Err(Errno::ENAMETOOLONG) => {}
        Err(e) => return Err(e),
    }
    // The log, as Linux 6.1's bpf_check checks it.
    let logging = log_level != 0 || log_at != 0 || log_size != 0;
    if logging
        && (!(128..=u32::MAX >> 2).contains(&log_size)
            || log_level == 0
            || log_at == 0
            || log_level & !7 != 0)
    {
        return Err(Errno::EINVAL);
    }
    let raw = read_user(ctx, insns_at, insn_cnt * Insn::SIZE)?;
    let insns = Insn::decode_all(&raw);
    drop(raw);
    let mut log = Log {
        text: String::new(),
        cap: if logging {
            (log_size as usize).min(1 << 20)
        } else {
            0
        },
    };
    // perfmon_capable(): Linux's allow_ptr_leaks and allow_uninit_stack.
    let privileged =
        ctx.capable(kestrel_abi::cap::CAP_PERFMON) || ctx.capable(kestrel_abi::cap::CAP_SYS_ADMIN);
    let verified = verifier::verify(
        insns,
        &mut |fd| map_of(ctx, fd as u32),
        &mut log,
        privileged,
    );
    if logging {
        let mut text = log.text.into_bytes();
        text.truncate(log_size as usize - 1);
        text.push(0);
        write_user(ctx, log_at, &text)?;
    }
    let prog = verified?;
    ctx.install(BpfFile::open(Object::Prog(Arc::new(prog))), true)
        .map(|fd| fd as u64)
}

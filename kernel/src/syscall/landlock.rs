//! Landlock (landlock(7)): landlock_create_ruleset, landlock_add_rule,
//! landlock_restrict_self, and [`check`], the test the file-system calls make
//! on the files they reach.
//!
//! A process's domain (the rulesets it stacked) lives in its credentials, as
//! on Linux: fork copies it, exec keeps it, and nothing removes it. Linux
//! restricts the calling thread only; Kestrel's credentials are per process,
//! so the whole process is restricted. The rules and their evaluation are in
//! kestrel-landlock; design notes in docs/landlock.md.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use kestrel_abi::fs::O_RDWR;
use kestrel_abi::{Errno, KResult};
use kestrel_landlock::{
    ABI_VERSION, CREATE_RULESET_VERSION, Domain, FileId, RULE_PATH_BENEATH, Ruleset, access,
};
use kestrel_vfs::{DentryRef, FileOps, OpenFile};

use super::Ctx;
use super::args::*;

/// CAP_SYS_ADMIN.
const CAP_SYS_ADMIN: u32 = 21;
/// The size of struct landlock_ruleset_attr Kestrel knows (handled_access_fs).
const RULESET_ATTR_SIZE: usize = 8;
/// struct landlock_path_beneath_attr: allowed_access (u64), parent_fd (s32),
/// packed.
const PATH_BENEATH_ATTR_SIZE: usize = 12;
const PAGE_SIZE: usize = 4096;

/// A ruleset's descriptor ("[landlock-ruleset]").
struct RulesetFile(spin::Mutex<Ruleset>);

impl FileOps for RulesetFile {
    fn read(&self, _: &OpenFile, _: &mut u64, _: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _: &OpenFile, _: &mut u64, _: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn seekable(&self) -> bool {
        false
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn ruleset_of(f: &OpenFile) -> Option<&RulesetFile> {
    f.ops().as_any().downcast_ref::<RulesetFile>()
}

/// The ruleset behind `fd`: EBADF for no descriptor, EBADFD for another
/// file, EPERM when the descriptor lacks the access the call needs.
fn ruleset_file(ctx: &Ctx<'_>, fd: i32, write: bool) -> KResult<Arc<OpenFile>> {
    let f = ctx.file(fd)?;
    // An O_PATH descriptor is no descriptor here (Linux's fdget refuses it).
    if f.flags() & kestrel_abi::fs::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if ruleset_of(&f).is_none() {
        return Err(Errno::EBADFD);
    }
    if (write && !f.writable()) || (!write && !f.readable()) {
        return Err(Errno::EPERM);
    }
    Ok(f)
}

pub async fn sys_landlock_create_ruleset(
    ctx: &mut Ctx<'_>,
    attr: UserPtr<u8>,
    size: usize,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        if flags == CREATE_RULESET_VERSION && attr.is_null() && size == 0 {
            return Ok(ABI_VERSION);
        }
        return Err(Errno::EINVAL);
    }
    // Linux's copy_min_struct_from_user: the pointer, then the size bounds,
    // then the bytes (any beyond what this ABI knows must be zero).
    if attr.is_null() {
        return Err(Errno::EFAULT);
    }
    if size < RULESET_ATTR_SIZE {
        return Err(Errno::EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    let mut buf = super::zeroed_vec::<u8>(size)?;
    ctx.mm().read_slice(attr, &mut buf)?;
    if buf[RULESET_ATTR_SIZE..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let handled = u64::from_ne_bytes(buf[..8].try_into().map_err(|_| Errno::EINVAL)?);
    let ruleset = Ruleset::new(handled)?;
    let file = crate::fs::anon::anon_file(Arc::new(RulesetFile(spin::Mutex::new(ruleset))), O_RDWR);
    ctx.install(file, true).map(|fd| fd as u64)
}

pub async fn sys_landlock_add_rule(
    ctx: &mut Ctx<'_>,
    ruleset_fd: Fd,
    rule_type: u32,
    rule_attr: UserPtr<u8>,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let file = ruleset_file(ctx, ruleset_fd, true)?;
    if rule_type != RULE_PATH_BENEATH {
        return Err(Errno::EINVAL);
    }
    let mut a = [0u8; PATH_BENEATH_ATTR_SIZE];
    ctx.mm().read_slice(rule_attr, &mut a)?;
    let allowed = u64::from_ne_bytes(a[..8].try_into().map_err(|_| Errno::EINVAL)?);
    let parent_fd = i32::from_ne_bytes(a[8..].try_into().map_err(|_| Errno::EINVAL)?);
    let rs = ruleset_of(&file).ok_or(Errno::EBADFD)?;
    // Linux's order: no rights, rights the ruleset does not handle, then the
    // parent descriptor.
    if allowed == 0 {
        return Err(Errno::ENOMSG);
    }
    if allowed & !rs.0.lock().handled != 0 {
        return Err(Errno::EINVAL);
    }
    let parent = ctx.file(parent_fd)?;
    if ruleset_of(&parent).is_some() {
        return Err(Errno::EBADFD);
    }
    // Pipes, sockets and other nameless files cannot anchor a rule.
    let dentry = parent.dentry().cloned().ok_or(Errno::EBADFD)?;
    let m = dentry.inode.metadata();
    rs.0.lock().add((m.dev, m.ino), m.is_dir(), allowed)?;
    Ok(0)
}

pub async fn sys_landlock_restrict_self(
    ctx: &mut Ctx<'_>,
    ruleset_fd: Fd,
    flags: u32,
) -> KResult<u64> {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    // As seccomp: no_new_privs, or CAP_SYS_ADMIN.
    let p = ctx.process();
    if !p.no_new_privs.load(core::sync::atomic::Ordering::Acquire)
        && !p.cred.lock().capable(CAP_SYS_ADMIN)
    {
        return Err(Errno::EPERM);
    }
    let file = ruleset_file(ctx, ruleset_fd, false)?;
    let ruleset = ruleset_of(&file).ok_or(Errno::EBADFD)?.0.lock().clone();
    let mut cred = p.cred.lock();
    cred.landlock = cred.landlock.stacked(&ruleset)?;
    Ok(0)
}

/// The files from `d` up to the root, as rules name them.
fn ancestors(d: &DentryRef) -> Vec<FileId> {
    let mut ids = Vec::new();
    let mut at = Some(d);
    while let Some(x) = at {
        let m = x.inode.metadata();
        ids.push((m.dev, m.ino));
        at = x.parent();
    }
    ids
}

/// Whether the caller's Landlock domain lets `wanted` (LANDLOCK_ACCESS_FS_*)
/// through for `d`: EACCES if not.
pub fn check(ctx: &Ctx<'_>, d: &DentryRef, wanted: u64) -> KResult<()> {
    check_process(ctx.process(), d, wanted)
}

/// [`check`] for process `p` (execve, which works on the process).
pub fn check_process(p: &crate::process::Process, d: &DentryRef, wanted: u64) -> KResult<()> {
    if wanted == 0 {
        return Ok(());
    }
    let domain: Domain = {
        let c = p.cred.lock();
        if c.landlock.layers() == 0 {
            return Ok(());
        }
        c.landlock.clone()
    };
    if domain.allows(wanted, &ancestors(d)) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// The rights open(2) with `flags` needs on a file (`dir`: a directory).
pub fn open_rights(flags: u32, dir: bool) -> u64 {
    use kestrel_abi::fs::{O_ACCMODE, O_PATH, O_RDONLY, O_WRONLY};
    if flags & O_PATH != 0 {
        return 0;
    }
    let acc = flags & O_ACCMODE;
    let mut want = 0;
    if acc != O_WRONLY {
        want |= if dir {
            access::READ_DIR
        } else {
            access::READ_FILE
        };
    }
    if acc != O_RDONLY {
        want |= access::WRITE_FILE;
    }
    want
}

/// The right making a node of `kind` (S_IF* bits of a mode) in a directory
/// needs.
pub fn make_right(mode: u32) -> u64 {
    use kestrel_abi::fs::*;
    match mode & S_IFMT {
        S_IFDIR => access::MAKE_DIR,
        S_IFCHR => access::MAKE_CHAR,
        S_IFBLK => access::MAKE_BLOCK,
        S_IFIFO => access::MAKE_FIFO,
        S_IFSOCK => access::MAKE_SOCK,
        S_IFLNK => access::MAKE_SYM,
        _ => access::MAKE_REG,
    }
}

/// rename(2) under Landlock's ABI 1: it needs the right to remove the kind
/// of file moved from its directory and to make it in the new one (EACCES),
/// and across directories it is EXDEV once the process is restricted at all
/// (there is no LANDLOCK_ACCESS_FS_REFER to allow it).
pub fn check_rename(ctx: &Ctx<'_>, from: &DentryRef, to: &DentryRef, dir: bool) -> KResult<()> {
    if ctx.process().cred.lock().landlock.layers() == 0 {
        return Ok(());
    }
    let (remove, make) = if dir {
        (access::REMOVE_DIR, access::MAKE_DIR)
    } else {
        (access::REMOVE_FILE, access::MAKE_REG)
    };
    check(ctx, from, remove)?;
    check(ctx, to, make)?;
    let (fm, tm) = (from.inode.metadata(), to.inode.metadata());
    if (fm.dev, fm.ino) != (tm.dev, tm.ino) {
        return Err(Errno::EXDEV);
    }
    Ok(())
}

/// link(2) under Landlock's ABI 1: it needs the right to make the kind of
/// file linked in the directory (EACCES), and into another directory than
/// the file's it is EXDEV once restricted.
pub fn check_link(ctx: &Ctx<'_>, src: &DentryRef, to: &DentryRef) -> KResult<()> {
    if ctx.process().cred.lock().landlock.layers() == 0 {
        return Ok(());
    }
    check(ctx, to, make_right(src.inode.metadata().mode))?;
    let same = src.parent().is_some_and(|p| {
        let (a, b) = (p.inode.metadata(), to.inode.metadata());
        (a.dev, a.ino) == (b.dev, b.ino)
    });
    if !same {
        return Err(Errno::EXDEV);
    }
    Ok(())
}

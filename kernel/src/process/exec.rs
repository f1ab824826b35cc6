//! execve: replacing a process's program.
//!
//! The rules (limits, `#!` scripts, ELF validation, the stack image) are
//! `kestrel_exec`'s; this file supplies files and address spaces. The new image is
//! built completely in a fresh address space before anything of the caller is
//! touched, so every failure up to the switch leaves the caller intact and execve
//! returns the errno. Linux detects a few errors only after its point of no return
//! (`kestrel_exec::Fatal`); those kill the process with SIGSEGV, as Linux does.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kestrel_abi::fs::AT_FDCWD;
use kestrel_abi::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
use kestrel_abi::process::{AT_RSEQ_ALIGN, AT_RSEQ_FEATURE_SIZE, RLIMIT_STACK};
use kestrel_abi::signal::SIGSEGV;
use kestrel_abi::{Errno, KResult};
use kestrel_exec::{
    AuxValues, ElfImage, ElfType, ExecArgs, Format, Layout, StackParams, build_stack,
    parse_shebang, probe,
};
use kestrel_vfs::inode::{access, check_access};
use kestrel_vfs::{DentryRef, InodeRef, Walker};

use super::Thread;
use crate::arch::trap::UserContext;
use crate::mm::vm::{AddressSpace, Backing, MMAP_TOP, PIE_BASE, Placement, STACK_TOP, VmaKind};
use crate::syscall::Ctx;
use kestrel_usermem::{UserCStr, UserPtr};

/// Most of an executable's start that loading reads (headers and PT_INTERP; a
/// larger request is a malformed file, which the ELF checks then refuse).
const MAX_HEADERS: u64 = 1 << 20;
/// Pages of a program loaded before its headers are read: enough for the ELF
/// header, the program headers and PT_INTERP of ordinary programs.
const HEADER_PAGES: u64 = 16;
/// Room the stack area starts with below the arguments (Linux's stack_guard_gap
/// aside, it expands on demand down to RLIMIT_STACK).
const STACK_INITIAL: u64 = 128 * 1024;

/// Opens `path` for execution: a regular file with execute permission (EACCES
/// otherwise), and reads it.
async fn open_exec(t: &Thread, path: &[u8]) -> KResult<(DentryRef, InodeRef, Vec<u8>)> {
    open_exec_at(t, &ExecAt::default(), path).await
}

/// Where execveat(2) finds its program: relative paths from `dir` (the cwd
/// when `None`), the last component's symlink followed unless `nofollow`
/// (ELOOP), and with `file` (AT_EMPTY_PATH and an empty path) that file.
#[derive(Default)]
pub struct ExecAt {
    pub dir: Option<DentryRef>,
    pub nofollow: bool,
    pub file: Option<DentryRef>,
}

async fn open_exec_at(
    t: &Thread,
    at: &ExecAt,
    path: &[u8],
) -> KResult<(DentryRef, InodeRef, Vec<u8>)> {
    let p = &t.process;
    let (root, cwd) = {
        let fs = p.fs();
        let fs = fs.lock();
        (fs.root.clone(), fs.cwd.clone())
    };
    let cred = p.cred.lock().fs_cred();
    // An empty path (a `#!` line or PT_INTERP naming "") is the current directory in
    // Linux's open_exec, so it fails below with EACCES.
    let d = if let Some(f) = &at.file {
        f.clone()
    } else if path.is_empty() {
        cwd
    } else {
        let start = at.dir.clone().unwrap_or(cwd);
        let mounts = crate::fs::mounts();
        let d = Walker {
            root: &root,
            mounts: &mounts,
            cred: &cred,
            resolve: 0,
        }
        .lookup(&start, path, !at.nofollow)
        .await?;
        if at.nofollow && d.inode.metadata().is_symlink() {
            return Err(Errno::ELOOP);
        }
        d
    };
    let inode = d.inode.clone();
    let m = inode.metadata();
    if !m.is_regular() {
        return Err(Errno::EACCES);
    }
    // Nothing runs from a noexec mount: the program, its `#!` interpreter or
    // its ELF interpreter (Linux's path_noexec in do_open_execat).
    if d.mnt().get() & kestrel_abi::fs::MS_NOEXEC != 0 {
        return Err(Errno::EACCES);
    }
    check_access(&m, &cred, access::EXEC)?;
    // A file open for writing cannot be run (Linux's deny_write_access).
    if kestrel_vfs::file::open_for_write(&inode) {
        return Err(Errno::ETXTBSY);
    }
    crate::syscall::landlock::check_process(&t.process, &d, kestrel_landlock::access::EXECUTE)?;
    // fanotify: the open of a program (FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM,
    // then FAN_OPEN | FAN_OPEN_EXEC), and the kernel's read of it
    // (FAN_ACCESS_PERM, FAN_ACCESS), as Linux's do_open_execat and
    // kernel_read report them.
    crate::fs::fsnotify::open_permission(&d, true, t).await?;
    crate::fs::fsnotify::opened(&d, true);
    crate::fs::fsnotify::access_permission_dentry(&d, t).await?;
    // The headers are read synchronously: a block-backed file brings the first
    // pages in first (all of what headers may span if they reach further). The
    // segments' pages fault in later, each awaiting the disk as a fault does.
    inode.load_pages(0, m.size.min(HEADER_PAGES * 4096)).await?;
    let bytes = match read_headers(&inode, m.size) {
        Err(Errno::EAGAIN) => {
            inode.load_pages(0, m.size.min(MAX_HEADERS)).await?;
            read_headers(&inode, m.size)?
        }
        r => r?,
    };
    crate::fs::fsnotify::notify_dentry(&d, crate::fs::fsnotify::FS_ACCESS);
    Ok((d, inode, bytes))
}

/// The part of an executable that loading looks at: the first page (the ELF
/// header, or a `#!` line), extended to cover the program headers and the
/// PT_INTERP path wherever they are. The segments themselves are mapped from
/// the file, never read here, so programs of any size load.
fn read_headers(inode: &InodeRef, size: u64) -> KResult<Vec<u8>> {
    let read = |len: u64| -> KResult<Vec<u8>> {
        let len = len.min(size).min(MAX_HEADERS);
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(len as usize)
            .map_err(|_| Errno::ENOMEM)?;
        bytes.resize(len as usize, 0);
        let n = inode.read_at(0, &mut bytes)?;
        bytes.truncate(n);
        Ok(bytes)
    };
    let first = read(4096)?;
    if first.len() < 64 || &first[..4] != b"\x7fELF" {
        return Ok(first);
    }
    let u16_at = |b: &[u8], o: usize| {
        b.get(o..o + 2)
            .map_or(0, |x| u64::from(u16::from_le_bytes([x[0], x[1]])))
    };
    let u64_at = |b: &[u8], o: usize| {
        b.get(o..o + 8)
            .map_or(0, |x| u64::from_le_bytes(x.try_into().unwrap_or_default()))
    };
    let (phoff, phentsize, phnum) = (u64_at(&first, 32), u16_at(&first, 54), u16_at(&first, 56));
    let ph_end = phoff.saturating_add(phentsize.saturating_mul(phnum));
    let with_phdrs = if ph_end > first.len() as u64 {
        read(ph_end)?
    } else {
        first
    };
    let mut need = ph_end;
    for i in 0..phnum {
        let ph = (phoff + i * phentsize) as usize;
        if u64_at(&with_phdrs, ph) as u32 == 3 {
            // PT_INTERP: p_offset + p_filesz.
            need =
                need.max(u64_at(&with_phdrs, ph + 8).saturating_add(u64_at(&with_phdrs, ph + 32)));
        }
    }
    if need > with_phdrs.len() as u64 {
        read(need)
    } else {
        Ok(with_phdrs)
    }
}

/// Loads the file page holding the end of each segment's file bytes that is
/// followed by zeros (`padzero` writes there; the rest faults in on use).
async fn load_tails(inode: &InodeRef, img: &ElfImage) -> KResult<()> {
    for s in &img.segments {
        if s.memsz > s.filesz && s.filesz > 0 {
            let end = s.offset.saturating_add(s.filesz);
            inode.load_pages(end & !4095, 4096).await?;
        }
    }
    Ok(())
}

/// Maps a laid-out image into `mm`.
fn map_image(mm: &AddressSpace, file: &DentryRef, l: &Layout) -> KResult<()> {
    for m in &l.mappings {
        if m.file_end > m.start {
            let at = mm.map(
                Placement::Fixed(m.start),
                m.file_end - m.start,
                m.prot,
                Backing::file(file.inode.clone(), m.file_offset),
                VmaKind::Normal,
            )?;
            mm.name_area(at, file.clone());
            if m.zero_start < m.file_end {
                // The tail of the last file page past p_filesz reads as zero (padzero).
                let zeros = alloc::vec![0u8; (m.file_end - m.zero_start) as usize];
                mm.write_remote(m.zero_start, &zeros)?;
            }
        }
        if m.end > m.file_end {
            mm.map(
                Placement::Fixed(m.file_end),
                m.end - m.file_end,
                m.anon_prot,
                Backing::Anonymous,
                VmaKind::Normal,
            )?;
        }
    }
    Ok(())
}

/// Where an image that mmap would place goes: just below `top`, aligned.
fn bias_below(img: &ElfImage, top: u64) -> u64 {
    let span = img.span();
    let align = img.max_alignment().max(4096);
    let base = top.saturating_sub(span.len()) & !(align - 1);
    img.bias_at(base)
}

/// A new program for `p`, built in a fresh address space.
struct NewImage {
    mm: Arc<AddressSpace>,
    regs: UserContext,
    exe: DentryRef,
    name: Vec<u8>,
    info: super::ExecInfo,
    /// The credentials the program runs with.
    cred: super::Credentials,
    /// Whether the process stays dumpable (PR_GET_DUMPABLE).
    dumpable: bool,
}

/// The credentials a program runs with (Linux's bprm_fill_uid and
/// cap_bprm_creds_from_file): a set-user-ID file makes its owner the
/// effective user, a set-group-ID file with group execute permission its
/// group the effective group, unless the file is on a nosuid mount or the
/// process has no_new_privs; the saved and file-system ids become the
/// effective ones. When the ids change, the capabilities follow them as for
/// a program without file capabilities (root's full set when the effective
/// or real user is 0, effective only for an effective root; none otherwise).
/// A traced process whose tracer lacks CAP_SYS_PTRACE runs a set-id program
/// with its real ids unless it has CAP_SETUID itself (Linux's
/// LSM_UNSAFE_PTRACE). Also whether the exec is "secure" (AT_SECURE:
/// effective and real ids differ).
fn exec_credentials(t: &Thread, program: &DentryRef) -> (super::Credentials, bool) {
    use kestrel_abi::fs::{MS_NOSUID, S_ISGID, S_ISUID};
    const S_IXGRP: u32 = 0o010;
    use kestrel_abi::cap::{CAP_SETUID, CAP_SYS_PTRACE};
    let p = &t.process;
    let old = p.cred.lock().clone();
    let mut c = old.clone();
    let m = program.inode.metadata();
    if program.mnt().get() & MS_NOSUID == 0 && !p.no_new_privs.load(Ordering::Acquire) {
        if m.mode & S_ISUID != 0 {
            c.euid = m.uid;
        }
        if m.mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP {
            c.egid = m.gid;
        }
    }
    let traced_unsafely = super::ptrace::tracer_of(t)
        .is_some_and(|tracer| !tracer.cred.lock().capable(CAP_SYS_PTRACE));
    if (c.euid != old.euid || c.egid != old.egid) && traced_unsafely && !old.capable(CAP_SETUID) {
        c.euid = c.uid;
        c.egid = c.gid;
    }
    if c.euid != old.euid || c.egid != old.egid {
        if c.euid == 0 || c.uid == 0 {
            // Root's program gets every capability the bounding set holds.
            c.cap_permitted = kestrel_abi::cap::ALL_CAPS & c.cap_bounding;
            c.cap_effective = if c.euid == 0 { c.cap_permitted } else { 0 };
        } else {
            c.cap_permitted = 0;
            c.cap_effective = 0;
        }
    }
    c.suid = c.euid;
    c.fsuid = c.euid;
    c.sgid = c.egid;
    c.fsgid = c.egid;
    let secure = c.euid != c.uid || c.egid != c.gid;
    (c, secure)
}

/// Everything execve does before the point of no return.
async fn load(
    t: &Thread,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> KResult<Result<NewImage, Errno>> {
    load_at(t, &ExecAt::default(), path, path, argv, envp).await
}

/// [`load`] of `path` as `at` finds it, the program known as `filename`
/// (AT_EXECFN, and the path a `#!` interpreter is given).
async fn load_at(
    t: &Thread,
    at: &ExecAt,
    path: &[u8],
    filename: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> KResult<Result<NewImage, Errno>> {
    let p = &t.process;
    let argv_refs: Vec<&[u8]> = argv.iter().map(|s| s.as_slice()).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(|s| s.as_slice()).collect();
    let mut args = ExecArgs::new(filename, &argv_refs, &envp_refs, p.rlimit(RLIMIT_STACK))?;
    let (mut dentry, _, mut file) = open_exec_at(t, at, path).await?;
    let program = loop {
        args.check_depth()?;
        match probe(&file)? {
            Format::Elf => break ElfImage::parse(&file)?,
            Format::Script => {
                let interp = {
                    let sb = parse_shebang(&file)?;
                    args.apply_script(&sb)?;
                    sb.interpreter.to_vec()
                };
                (dentry, _, file) = open_exec(t, &interp).await?;
            }
        }
    };
    let interp = match &program.interp {
        Some(ipath) => {
            let (identry, _, ibytes) = open_exec(t, ipath).await?;
            Some((identry, ElfImage::parse_interpreter(&ibytes)?))
        }
        None => None,
    };
    // The page where a writable segment's file bytes end is written (its tail
    // zeroed) while the image is mapped, which cannot wait for a disk: it is
    // brought in now.
    load_tails(&dentry.inode, &program).await?;
    if let Some((identry, img)) = &interp {
        load_tails(&identry.inode, img).await?;
    }
    let (cred, secure) = exec_credentials(t, &dentry);
    // A program the caller may not read leaves the process non-dumpable too
    // (Linux's would_dump); a set-user-ID one always (suid_dumpable is 0).
    let readable = check_access(
        &dentry.inode.metadata(),
        &p.cred.lock().fs_cred(),
        access::READ,
    )
    .is_ok();
    let dumpable = !secure && readable;
    let mm = AddressSpace::new()?;
    mm.set_limits(p.mm_limits());

    // From here Linux has passed its point of no return: failures are fatal.
    let built = (|| -> Result<NewImage, Errno> {
        let bias = match (program.elf_type, &interp) {
            (ElfType::Exec, _) => 0,
            (_, Some(_)) => program.pie_bias(PIE_BASE),
            (_, None) => bias_below(&program, MMAP_TOP),
        };
        let main = program.layout(bias).map_err(|f| f.0)?;
        map_image(&mm, &dentry, &main)?;
        let ld = match &interp {
            Some((identry, img)) => {
                let top = main.mappings.first().map_or(MMAP_TOP, |_| MMAP_TOP);
                let l = img.layout(bias_below(img, top)).map_err(|f| f.0)?;
                map_image(&mm, identry, &l)?;
                Some(l)
            }
            None => None,
        };
        mm.init_brk(main.brk);
        let vdso = crate::vdso::map_into(&mm, !p.nsproxy().time.is_root())?;

        let c = &cred;
        let mut aux = AuxValues::new(&main, ld.as_ref());
        aux.sysinfo_ehdr = vdso;
        aux.uid = u64::from(c.uid);
        aux.euid = u64::from(c.euid);
        aux.gid = u64::from(c.gid);
        aux.egid = u64::from(c.egid);
        aux.secure = u64::from(secure);
        aux.hwcap = u64::from(crate::arch::cpu::cpuid(1).edx);
        // rseq(2)'s size of the fields the kernel fills and the area's
        // alignment, last before AT_NULL as Linux's create_elf_tables puts them.
        aux.extra = alloc::vec![
            (
                AT_RSEQ_FEATURE_SIZE,
                u64::from(crate::syscall::rseq::RSEQ_FEATURE_SIZE)
            ),
            (AT_RSEQ_ALIGN, u64::from(crate::syscall::rseq::RSEQ_ALIGN)),
        ];
        let mut random = [0u8; 16];
        crate::random::fill(&mut random);
        let stack = build_stack(&StackParams {
            stack_top: STACK_TOP,
            args: &args,
            aux: &aux,
            random,
            align_pad: 0,
        })?;
        let stack_prot = PROT_READ
            | PROT_WRITE
            | if program.executable_stack() {
                PROT_EXEC
            } else {
                0
            };
        let stack_bottom = (stack.start & !0xfff).saturating_sub(STACK_INITIAL);
        mm.map(
            Placement::Fixed(stack_bottom),
            STACK_TOP - stack_bottom,
            stack_prot,
            Backing::Anonymous,
            VmaKind::Stack,
        )?;
        mm.write_remote(stack.start, &stack.bytes)?;

        let entry = ld.as_ref().map_or(main.entry, |l| l.entry);
        let name = args
            .filename()
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(b"")
            .to_vec();
        Ok(NewImage {
            mm: mm.clone(),
            regs: UserContext::new(entry, stack.rsp),
            exe: dentry.clone(),
            name,
            info: super::ExecInfo {
                arg_start: stack.arg_start,
                arg_end: stack.arg_end,
                env_start: stack.env_start,
                env_end: stack.env_end,
                auxv: stack.auxv_entries.clone(),
            },
            cred: cred.clone(),
            dumpable,
        })
    })();
    Ok(built)
}

/// Makes `thread` its process's only thread before it switches to a new
/// image (Linux's de_thread): the others are killed and it waits until every
/// one has ended (a thread in user mode on another CPU is interrupted; one
/// stopped by a tracer with PTRACE_O_TRACEEXIT reports its exit stop first,
/// as on Linux), so that no thread runs the old program after the switch and
/// the old address space has no user left. A thread other than the leader
/// then takes the leader's identity: its id becomes the process's. Returns
/// its former id (PTRACE_EVENT_EXEC's message).
///
/// EAGAIN when an exit or another thread's exec is under way: this thread was
/// killed (or is about to be) and dies, as the loser does on Linux. The wait
/// ends the same way if the process is killed meanwhile (the system call's
/// future is dropped then; the guard ends the exec's wait either way).
async fn de_thread(thread: &Arc<Thread>) -> KResult<u32> {
    let p = &thread.process;
    if !p.alone(thread) {
        struct Waiting<'a>(&'a super::Process);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.end_exec();
            }
        }
        p.begin_exec(thread)?;
        let _waiting = Waiting(p);
        // The others' exits wake this thread's own waits when one thread is
        // left (as does its own kill).
        thread
            .wait_until(|| {
                if thread.killed() {
                    Some(Err(Errno::EAGAIN))
                } else if p.alone(thread) {
                    Some(Ok(()))
                } else {
                    None
                }
            })
            .await?;
    }
    Ok(p.become_leader(thread))
}

/// Switches `thread`'s process to the new image (Linux's begin_new_exec),
/// once it is the only thread ([`de_thread`]).
fn commit(thread: &Arc<Thread>, img: NewImage) -> UserContext {
    let p = &thread.process;
    // ru_maxrss outlives the old image (Linux's setmax_mm_hiwater_rss).
    p.sample_rss();
    // The robust futexes the thread holds are released in the old image, and
    // neither its robust list nor its clear-child-tid address carries over
    // (Linux's exec_mm_release: the new program sets its own).
    crate::syscall::futex::exit_robust_list(
        &p.mm(),
        thread.robust_list.swap(0, Ordering::AcqRel),
        thread.tid(),
    );
    thread.clear_child_tid.store(0, Ordering::Release);
    let old = p.replace_mm(img.mm.clone());
    img.mm.activate();
    drop(old);
    // The new image starts with the initial protection-key rights (its keys
    // went with the old address space).
    thread.set_pkru(crate::arch::cpu::INIT_PKRU);
    // The fd table and signal handlers stop being shared, then exec-time cleanup.
    p.unshare_files();
    let closed = p.files().lock().close_on_exec();
    for f in &closed {
        crate::syscall::locks::descriptor_closed(p, f);
    }
    drop(closed);
    {
        let mut sig = p.sigactions.lock();
        if Arc::strong_count(&sig) > 1 {
            let copy = sig.lock().clone();
            *sig = Arc::new(spin::Mutex::new(copy));
        }
        sig.lock().reset_for_exec();
    }
    // The new program starts with a clean FPU (Linux: fpu__clear_user_states).
    *thread.fpu.lock() = crate::arch::fpu::FpuState::initial();
    let me: Arc<dyn crate::arch::fpu::HasFpu> = thread.clone();
    crate::arch::fpu::invalidate(&me);
    thread.set_comm(&img.name);
    crate::syscall::rseq::exec(thread);
    super::timers::delete_all(p);
    crate::syscall::keys::exec(p);
    crate::perf::exec(thread);
    // The new credentials (set-user-ID and set-group-ID programs); a change
    // of the effective ids clears the parent-death signal, as on Linux.
    {
        let mut c = p.cred.lock();
        if c.euid != img.cred.euid || c.egid != img.cred.egid {
            p.pdeathsig.store(0, Ordering::Relaxed);
        }
        *c = img.cred;
    }
    p.dumpable.store(img.dumpable, Ordering::Relaxed);
    // The new program's file may not be written while it runs (a writer that
    // came since open_exec's check keeps it writable); the old one may again.
    let hold = kestrel_vfs::file::deny_write(&img.exe.inode).ok();
    drop(core::mem::replace(&mut *p.exe_hold.lock(), hold));
    *p.exe.lock() = Some(img.exe);
    *p.exec_info.lock() = img.info;
    p.did_exec.store(true, Ordering::Relaxed);
    let vfork = p.vfork.lock().take();
    if let Some(v) = vfork {
        v.release();
    }
    img.regs
}

/// Reads a NULL-terminated array of string pointers (argv or envp), charging each
/// string (with its NUL) and each pointer to `budget`: E2BIG as soon as the
/// strings could not fit the argument space, so a program cannot make the kernel
/// hold more than that while the exact check (`ExecArgs::new`) is still to come.
fn read_strings(ctx: &Ctx<'_>, array: UserPtr<u64>, budget: &mut u64) -> KResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if array.is_null() {
        return Ok(out); // Linux accepts NULL argv/envp as empty
    }
    let mm = ctx.mm();
    for i in 0..kestrel_exec::MAX_ARG_STRINGS {
        let s = UserCStr::new(ctx.read(array.add(i))?);
        if s.is_null() {
            return Ok(out);
        }
        let s = mm.read_cstr(s, kestrel_exec::MAX_ARG_STRLEN).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        *budget = budget
            .checked_sub(s.len() as u64 + 1 + 8)
            .ok_or(Errno::E2BIG)?;
        out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        out.push(s);
    }
    Err(Errno::E2BIG)
}

/// execve(2).
pub async fn sys_execve(
    ctx: &mut Ctx<'_>,
    path: UserCStr,
    argv: UserPtr<u64>,
    envp: UserPtr<u64>,
) -> KResult<u64> {
    let path = ctx.read_path(path)?;
    let mut budget = kestrel_exec::argument_limit(ctx.process().rlimit(RLIMIT_STACK));
    let argv = read_strings(ctx, argv, &mut budget)?;
    let envp = read_strings(ctx, envp, &mut budget)?;
    exec_common(ctx, &ExecAt::default(), &path, &path, argv, envp).await
}

/// execveat(2): execve of `path` relative to `dirfd`, or of the file `dirfd`
/// itself with AT_EMPTY_PATH and an empty path; AT_SYMLINK_NOFOLLOW refuses a
/// symlink (ELOOP). The program is known as /dev/fd/N[/path] when found
/// through a descriptor, as on Linux.
pub async fn sys_execveat(
    ctx: &mut Ctx<'_>,
    dirfd: i32,
    path: UserCStr,
    argv: UserPtr<u64>,
    envp: UserPtr<u64>,
    flags: u32,
) -> KResult<u64> {
    use kestrel_abi::fs::{AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = ctx.read_path(path)?;
    let mut at = ExecAt {
        nofollow: flags & AT_SYMLINK_NOFOLLOW != 0,
        ..ExecAt::default()
    };
    let filename = if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
        path.clone()
    } else {
        let f = ctx.file(dirfd)?;
        let d = f.dentry().cloned().ok_or(Errno::ENOENT)?;
        if path.is_empty() {
            if flags & AT_EMPTY_PATH == 0 {
                return Err(Errno::ENOENT);
            }
            at.file = Some(d);
            alloc::format!("/dev/fd/{dirfd}").into_bytes()
        } else {
            if !d.inode.metadata().is_dir() {
                return Err(Errno::ENOTDIR);
            }
            at.dir = Some(d);
            let mut n = alloc::format!("/dev/fd/{dirfd}/").into_bytes();
            n.extend_from_slice(&path);
            n
        }
    };
    if path.is_empty() && at.file.is_none() {
        return Err(Errno::ENOENT);
    }
    let mut budget = kestrel_exec::argument_limit(ctx.process().rlimit(RLIMIT_STACK));
    let argv = read_strings(ctx, argv, &mut budget)?;
    let envp = read_strings(ctx, envp, &mut budget)?;
    exec_common(ctx, &at, &path, &filename, argv, envp).await
}

async fn exec_common(
    ctx: &mut Ctx<'_>,
    at: &ExecAt,
    path: &[u8],
    filename: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> KResult<u64> {
    let _ = AT_FDCWD;
    // As every lookup of a name by user space (syscall/mod.rs, resolve).
    crate::drivers::settled().await;
    match load_at(ctx.thread, at, path, filename, argv, envp).await? {
        Ok(img) => {
            // Boxed: rare (a process with more than one thread), and kept out
            // of the call's future.
            let former_tid = alloc::boxed::Box::pin(de_thread(ctx.thread)).await?;
            // iopl(2)'s level, ioperm(2)'s ports and PR_SET_TSC's mode survive
            // execve, as on Linux.
            let iopl_emul = ctx.regs.iopl_emul;
            let tsc_sigsegv = ctx.regs.tsc_sigsegv;
            let io_bitmap = ctx.regs.io_bitmap.take();
            *ctx.regs = commit(ctx.thread, img);
            ctx.regs.iopl_emul = iopl_emul;
            ctx.regs.tsc_sigsegv = tsc_sigsegv;
            ctx.regs.io_bitmap = io_bitmap;
            ctx.regs.orig_rax = kestrel_abi::syscalls::nr::EXECVE as u64;
            alloc::boxed::Box::pin(super::ptrace::exec_event(ctx.thread, ctx.regs, former_tid))
                .await;
            Ok(0)
        }
        Err(e) => {
            log::debug!(
                "execve {:?}: fatal after the point of no return: {e}",
                alloc::string::String::from_utf8_lossy(path)
            );
            super::signal::force(
                ctx.thread,
                kestrel_abi::signal::Siginfo::new(SIGSEGV, kestrel_abi::signal::SI_KERNEL),
            );
            Err(e)
        }
    }
}

/// Loads the first program into a fresh init thread.
pub async fn exec_initial(
    thread: &Arc<Thread>,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> KResult<UserContext> {
    let img = load(thread, path, argv, envp).await??;
    de_thread(thread).await?;
    Ok(commit(thread, img))
}

//! The initial user stack: argc, argv, envp, the auxiliary vector and the strings they
//! point to (System V x86-64 ABI §3.4.1), laid out exactly as Linux does.
//!
//! From the top down (Linux: `bprm_mm_init`, `copy_strings`, then `create_elf_tables`
//! in fs/binfmt_elf.c):
//!
//! ```text
//! stack_top  ->  8 zero bytes              (bprm->p starts one pointer below the top)
//!                exec file name\0          AT_EXECFN
//!                envp strings\0 ...        envp[0] lowest
//!                argv strings\0 ...        argv[0] lowest = mm->arg_start
//!                (align down to 16, after subtracting the caller's random pad)
//!                platform string\0         AT_PLATFORM ("x86_64")
//!                16 random bytes           AT_RANDOM
//!                0..15 bytes of padding
//!                auxv pairs ... AT_NULL, 0
//!                0                         end of envp
//!                envp[envc-1] ... envp[0]
//!                0                         end of argv
//!                argv[argc-1] ... argv[0]
//! rsp        ->  argc                      16-byte aligned
//! ```
//!
//! Linux rounds rsp (not the auxv) to 16 bytes (`STACK_ROUND`), so the gap sits
//! between the auxv and the random bytes. The platform string and the random bytes
//! are not aligned.

use alloc::vec;
use alloc::vec::Vec;

use kestrel_abi::Errno;

use crate::args::ExecArgs;
use crate::auxv::AuxValues;

/// What [`build_stack`] needs.
#[derive(Debug, Clone, Copy)]
pub struct StackParams<'a> {
    /// The top of the stack (exclusive), 16-byte aligned; Linux's is page aligned.
    pub stack_top: u64,
    /// The strings.
    pub args: &'a ExecArgs,
    /// The auxiliary vector values.
    pub aux: &'a AuxValues,
    /// The `AT_RANDOM` bytes.
    pub random: [u8; 16],
    /// Bytes to move the tables down below the strings before aligning: Linux's
    /// `arch_align_stack` subtracts a random value below 8192 when randomisation is
    /// on. 0 reproduces a non-randomised layout.
    pub align_pad: u64,
}

/// The bytes of a new stack and where things are in it. `bytes` goes at
/// `[start, stack_top)`; `start` is also the initial `rsp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackImage {
    /// The image, to copy to `start`.
    pub bytes: Vec<u8>,
    /// Where the image starts (the lowest address written).
    pub start: u64,
    /// The initial stack pointer: the address of argc, 16-byte aligned.
    pub rsp: u64,
    /// argc.
    pub argc: u64,
    /// The address of `argv[0]`'s pointer.
    pub argv: u64,
    /// The address of `envp[0]`'s pointer.
    pub envp: u64,
    /// The address of the first auxv pair.
    pub auxv: u64,
    /// The auxv as written, `AT_NULL` included (Linux keeps it as `mm->saved_auxv`
    /// for `/proc/PID/auxv` and `prctl(PR_GET_AUXV)`).
    pub auxv_entries: Vec<(u64, u64)>,
    /// `mm->arg_start`: the `argv[0]` string.
    pub arg_start: u64,
    /// `mm->arg_end`: one past the last argv string's NUL.
    pub arg_end: u64,
    /// `mm->env_start`.
    pub env_start: u64,
    /// `mm->env_end`.
    pub env_end: u64,
    /// The `AT_EXECFN` string.
    pub execfn: u64,
    /// The `AT_PLATFORM` string, if any.
    pub platform: Option<u64>,
    /// The `AT_RANDOM` bytes.
    pub random: u64,
}

/// Lays out the initial stack below `p.stack_top`. `EINVAL` if the top is not 16-byte
/// aligned, `EFAULT` if the image would wrap below address 0.
pub fn build_stack(p: &StackParams<'_>) -> Result<StackImage, Errno> {
    if !p.stack_top.is_multiple_of(16) {
        return Err(Errno::EINVAL);
    }
    let down = |at: u64, n: u64| at.checked_sub(n).ok_or(Errno::EFAULT);
    let args = p.args;

    // The strings, placed downwards as copy_strings() does: file name first, then
    // envp and argv, each from its last string to its first.
    let mut at = down(p.stack_top, 8)?;
    let execfn = down(at, args.filename().len() as u64 + 1)?;
    at = execfn;
    let mut env_addrs = vec![0u64; args.envp().len()];
    for (i, s) in args.envp().iter().enumerate().rev() {
        at = down(at, s.len() as u64 + 1)?;
        env_addrs[i] = at;
    }
    let env_start = at;
    let mut arg_addrs = vec![0u64; args.argv().len()];
    for (i, s) in args.argv().iter().enumerate().rev() {
        at = down(at, s.len() as u64 + 1)?;
        arg_addrs[i] = at;
    }
    let arg_start = at;

    // create_elf_tables(): arch_align_stack(), the platform string, the random bytes.
    at = down(at, p.align_pad)? & !15;
    let platform = match p.aux.platform {
        Some(s) => {
            at = down(at, s.len() as u64 + 1)?;
            Some(at)
        }
        None => None,
    };
    at = down(at, 16)?;
    let random = at;

    let auxv_entries = p.aux.entries(random, execfn, platform);
    let auxv_words = 2 * auxv_entries.len() as u64;
    let argc = args.argv().len() as u64;
    let envc = args.envp().len() as u64;
    let items = (argc + 1) + (envc + 1) + 1;
    // STACK_ROUND(sp, items): round the final stack pointer down to 16.
    let rsp = down(down(at, 8 * auxv_words)?, 8 * items)? & !15;

    let mut bytes = vec![0u8; (p.stack_top - rsp) as usize];
    let mut put = |addr: u64, data: &[u8]| {
        let off = (addr - rsp) as usize;
        bytes[off..off + data.len()].copy_from_slice(data);
    };
    // argc, argv pointers, 0, envp pointers, 0, auxv pairs: consecutive words at rsp.
    let mut table = Vec::with_capacity((items + auxv_words) as usize);
    table.push(argc);
    table.extend_from_slice(&arg_addrs);
    table.push(0);
    table.extend_from_slice(&env_addrs);
    table.push(0);
    for &(k, v) in &auxv_entries {
        table.extend([k, v]);
    }
    for (i, w) in table.iter().enumerate() {
        put(rsp + 8 * i as u64, &w.to_le_bytes());
    }
    let argv = rsp + 8;
    let envp = argv + 8 * (argc + 1);
    let auxv = envp + 8 * (envc + 1);
    put(random, &p.random);
    if let (Some(addr), Some(s)) = (platform, p.aux.platform) {
        put(addr, s);
    }
    for (s, &addr) in args.argv().iter().zip(&arg_addrs) {
        put(addr, s);
    }
    for (s, &addr) in args.envp().iter().zip(&env_addrs) {
        put(addr, s);
    }
    put(execfn, args.filename());
    // The NULs and the top 8 bytes are already zero.

    Ok(StackImage {
        bytes,
        start: rsp,
        rsp,
        argc,
        argv,
        envp,
        auxv,
        auxv_entries,
        arg_start,
        arg_end: env_start,
        env_start,
        env_end: execfn,
        execfn,
        platform,
        random,
    })
}

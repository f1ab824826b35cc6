//! Executable formats for `execve`: recognising a file, `#!` scripts, ELF validation
//! and load plans, argument limits, and the initial user stack.
//!
//! The kernel owns the files and the address spaces; this crate owns the rules. It is
//! pure computation on byte slices, so every rule is unit-tested on the host against
//! what Linux does (the comments cite the Linux functions each rule comes from, mostly
//! `fs/exec.c`, `fs/binfmt_elf.c` and `fs/binfmt_script.c`).
//!
//! An exec goes through the pieces in this order, mirroring Linux's
//! `do_execveat_common` → `bprm_execve` → `exec_binprm` → `search_binary_handler`:
//! 1. [`args`]: [`ExecArgs::new`] copies the file name, envp and argv under Linux's
//!    size limits (`E2BIG`).
//! 2. [`probe`]: the first bytes of the file say ELF or `#!` script (else `ENOEXEC`).
//! 3. [`script`]: a `#!` line gives an interpreter and an optional argument;
//!    [`ExecArgs::apply_script`] rewrites argv, and the kernel starts again at 2 with
//!    the interpreter (at most [`MAX_SCRIPT_REWRITES`] times, then `ELOOP`).
//! 4. [`elf`]: [`ElfImage::parse`] validates the executable and reads its PT_INTERP
//!    path; the kernel opens that file and [`ElfImage::parse_interpreter`] checks it.
//!    Errors up to here are returned by `execve` and leave the caller untouched.
//! 5. The kernel commits (Linux: `begin_new_exec`, the point of no return), picks the
//!    load biases and calls [`ElfImage::layout`], which yields the mappings to make.
//!    Errors from here on are [`Fatal`]: Linux kills the process with `SIGSEGV`.
//! 6. [`auxv`] and [`stack`]: [`build_stack`] lays out argc, argv, envp, the auxiliary
//!    vector and the strings below the stack top, byte for byte as Linux's
//!    `create_elf_tables` does.
//!
//! [`limits`] holds the Linux constants all of this depends on.
//!
//! The whole flow, as the kernel's `execve` would drive it (file lookup, address
//! space and random numbers are the kernel's; they are stubs here):
//!
//! ```
//! use kestrel_abi::Errno;
//! use kestrel_exec::*;
//!
//! /// `Err(errno)`: execve returns it. `Ok(Err(Fatal))`: Linux would already have
//! /// destroyed the caller's image and now kills it with SIGSEGV.
//! fn exec(
//!     open_exec: &dyn Fn(&[u8]) -> Result<Vec<u8>, Errno>,
//!     path: &[u8],
//!     argv: &[&[u8]],
//!     envp: &[&[u8]],
//! ) -> Result<Result<(Layout, Option<Layout>, StackImage), Fatal>, Errno> {
//!     let mut args = ExecArgs::new(path, argv, envp, 8 << 20)?;
//!     let mut file = open_exec(path)?;
//!     let program = loop {
//!         args.check_depth()?;
//!         match probe(&file)? {
//!             Format::Elf => break ElfImage::parse(&file)?,
//!             Format::Script => {
//!                 let shebang = parse_shebang(&file)?;
//!                 args.apply_script(&shebang)?;
//!                 file = open_exec(shebang.interpreter)?;
//!             }
//!         }
//!     };
//!     let interp = match &program.interp {
//!         Some(p) => Some(ElfImage::parse_interpreter(&open_exec(p)?)?),
//!         None => None,
//!     };
//!     // Point of no return (Linux: begin_new_exec).
//!     let bias = match (program.elf_type, &interp) {
//!         (ElfType::Exec, _) => 0,
//!         (_, Some(_)) => program.pie_bias(ELF_ET_DYN_BASE),
//!         (_, None) => program.bias_at(0x7f00_0000_0000), // where mmap would put it
//!     };
//!     Ok((|| {
//!         let main = program.layout(bias)?;
//!         let ld = match &interp {
//!             Some(i) => Some(i.layout(i.bias_at(0x7fff_f000_0000))?),
//!             None => None,
//!         };
//!         let aux = AuxValues::new(&main, ld.as_ref());
//!         let stack = build_stack(&StackParams {
//!             stack_top: 0x7fff_ffff_f000,
//!             args: &args,
//!             aux: &aux,
//!             random: [7; 16],
//!             align_pad: 0,
//!         })
//!         .map_err(Fatal)?;
//!         Ok((main, ld, stack))
//!     })())
//! }
//!
//! let no_files = |_: &[u8]| -> Result<Vec<u8>, Errno> { Err(Errno::ENOENT) };
//! assert_eq!(exec(&no_files, b"/bin/true", &[b"true"], &[]).unwrap_err(), Errno::ENOENT);
//! let script = |p: &[u8]| match p {
//!     b"/s" => Ok(b"#!/s\n".to_vec()),
//!     _ => Err(Errno::ENOENT),
//! };
//! assert_eq!(exec(&script, b"/s", &[b"s"], &[]).unwrap_err(), Errno::ELOOP);
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod args;
pub mod auxv;
pub mod coredump;
pub mod elf;
pub mod layout;
pub mod limits;
pub mod probe;
mod read;
pub mod script;
pub mod stack;

pub use args::{ExecArgs, argument_limit};
pub use auxv::AuxValues;
pub use elf::{ElfImage, ElfType, Role, Segment, Span};
pub use layout::{Fatal, Layout, Mapping};
pub use limits::*;
pub use probe::{Format, probe};
pub use script::{Shebang, parse_shebang};
pub use stack::{StackImage, StackParams, build_stack};

#[cfg(test)]
mod tests;

//! The vDSO, the small shared library the kernel maps into every process so that
//! reading the clock needs no system call.
//!
//! Two halves share this crate:
//!
//! * [`data`]: the layout of the *vvar* page, the read-only page the kernel maps
//!   just below the vDSO and keeps up to date (TSC parameters, the realtime offset,
//!   the time zone) under a sequence lock, and the arithmetic that turns a TSC
//!   reading into time. The kernel uses the very same functions for its own
//!   clock, so the vDSO and `clock_gettime(2)` can never disagree.
//! * `image.rs`: the exported functions (`__vdso_clock_gettime` and friends). It is
//!   not part of this library: xtask compiles it as its own crate into a
//!   position-independent object and links it with `vdso.lds` and `vdso.ver` into
//!   `linux-vdso.so.1`, which the kernel receives as the `vdso` boot module.
#![no_std]

pub mod data;

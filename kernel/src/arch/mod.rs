//! Machine-specific code. Kestrel runs on x86-64 only; the layer is kept separate so
//! that everything touching the CPU directly (and most `unsafe`) lives here.
#![allow(unsafe_code)] // one of the three layers that may (see main.rs)

pub mod x86_64;

pub use self::x86_64::*;

//! Landlock (landlock(7)) as logic: what landlock_create_ruleset and
//! landlock_add_rule accept ([`Ruleset`]), the stack of rulesets a process
//! restricted itself with ([`Domain`]), and whether a domain lets an access to
//! a file through ([`Domain::allows`]), given the file and its ancestors.
//!
//! The kernel (kernel/src/syscall/landlock.rs) reads the user structures,
//! names files by their (device, inode) pair, and asks [`Domain::allows`] on
//! the path lookups of the calls Landlock governs.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_abi::{Errno, KResult};

/// The Landlock ABI version Kestrel implements: the file-system rights of
/// version 1 (no LANDLOCK_ACCESS_FS_REFER, TRUNCATE, IOCTL_DEV, no network).
pub const ABI_VERSION: u64 = 1;

/// landlock_create_ruleset's flag asking for the ABI version.
pub const CREATE_RULESET_VERSION: u32 = 1;
/// landlock_add_rule's rule type for a file hierarchy.
pub const RULE_PATH_BENEATH: u32 = 1;
/// The most rulesets a process may stack (LANDLOCK_MAX_NUM_LAYERS).
pub const MAX_LAYERS: usize = 16;
/// The most rules one ruleset holds (Kestrel's bound on kernel memory a
/// program can ask for; Linux's is U32_MAX).
pub const MAX_RULES: usize = 1 << 16;

pub mod access {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    /// Every right of ABI version 1.
    pub const ALL: u64 = (1 << 13) - 1;
    /// The rights that only make sense on a directory (a rule on a file may
    /// not grant them: EINVAL).
    pub const DIR_ONLY: u64 = READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
}

/// A file as rules name it: (device, inode number).
pub type FileId = (u64, u64);

/// What landlock_create_ruleset makes and landlock_add_rule fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The rights this ruleset restricts (handled_access_fs).
    pub handled: u64,
    /// The rights granted beneath each file.
    pub rules: BTreeMap<FileId, u64>,
}

impl Ruleset {
    /// A ruleset handling `handled` (EINVAL for rights unknown here, ENOMSG
    /// for none, as Linux checks them).
    pub fn new(handled: u64) -> KResult<Self> {
        if handled & !access::ALL != 0 {
            return Err(Errno::EINVAL);
        }
        if handled == 0 {
            return Err(Errno::ENOMSG);
        }
        Ok(Self {
            handled,
            rules: BTreeMap::new(),
        })
    }

    /// Adds a path-beneath rule granting `allowed` under `file` (a directory
    /// unless `is_dir` is false). ENOMSG for no rights, EINVAL for rights the
    /// ruleset does not handle or directory rights on a file; rights add up
    /// when a file gets several rules.
    pub fn add(&mut self, file: FileId, is_dir: bool, allowed: u64) -> KResult<()> {
        if allowed == 0 {
            return Err(Errno::ENOMSG);
        }
        if allowed & !self.handled != 0 {
            return Err(Errno::EINVAL);
        }
        if !is_dir && allowed & access::DIR_ONLY != 0 {
            return Err(Errno::EINVAL);
        }
        if !self.rules.contains_key(&file) && self.rules.len() >= MAX_RULES {
            return Err(Errno::ENOMEM);
        }
        *self.rules.entry(file).or_insert(0) |= allowed;
        Ok(())
    }
}

/// The rulesets a process has restricted itself with, oldest first. Each is
/// a snapshot: rules added to the ruleset afterwards do not reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domain {
    layers: Vec<Arc<Ruleset>>,
}

impl Domain {
    /// This domain with `ruleset` stacked on top (E2BIG past [`MAX_LAYERS`]).
    pub fn stacked(&self, ruleset: &Ruleset) -> KResult<Self> {
        if self.layers.len() >= MAX_LAYERS {
            return Err(Errno::E2BIG);
        }
        let mut layers = self.layers.clone();
        layers.push(Arc::new(ruleset.clone()));
        Ok(Self { layers })
    }

    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// Whether every layer lets `wanted` through for the file whose
    /// ancestors, from the file itself up to the root, are `path`: a layer
    /// allows the rights it does not handle, and those a rule on the file or
    /// an ancestor grants.
    pub fn allows(&self, wanted: u64, path: &[FileId]) -> bool {
        self.layers.iter().all(|l| {
            let mut need = wanted & l.handled;
            for f in path {
                if need == 0 {
                    break;
                }
                if let Some(&granted) = l.rules.get(f) {
                    need &= !granted;
                }
            }
            need == 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_checks_its_handled_rights() {
        assert_eq!(Ruleset::new(0), Err(Errno::ENOMSG));
        assert_eq!(Ruleset::new(u64::MAX), Err(Errno::EINVAL));
        assert_eq!(Ruleset::new(1 << 13), Err(Errno::EINVAL));
        assert!(Ruleset::new(access::ALL).is_ok());
    }

    #[test]
    fn rules_check_their_rights() {
        let mut r = Ruleset::new(access::EXECUTE | access::READ_DIR).unwrap();
        assert_eq!(r.add((1, 2), true, 0), Err(Errno::ENOMSG));
        assert_eq!(r.add((1, 2), true, access::WRITE_FILE), Err(Errno::EINVAL));
        assert_eq!(r.add((1, 3), false, access::READ_DIR), Err(Errno::EINVAL));
        assert_eq!(r.add((1, 3), false, access::EXECUTE), Ok(()));
        assert_eq!(r.add((1, 2), true, access::READ_DIR), Ok(()));
        assert_eq!(r.add((1, 2), true, access::EXECUTE), Ok(()));
        assert_eq!(r.rules[&(1, 2)], access::READ_DIR | access::EXECUTE);
    }

    #[test]
    fn an_unhandled_right_is_always_allowed_and_a_handled_one_needs_a_rule() {
        let r = Ruleset::new(access::WRITE_FILE).unwrap();
        let d = Domain::default().stacked(&r).unwrap();
        assert!(d.allows(access::READ_FILE, &[(1, 5), (1, 2)]));
        assert!(!d.allows(access::WRITE_FILE, &[(1, 5), (1, 2)]));
        assert!(!d.allows(access::READ_FILE | access::WRITE_FILE, &[(1, 5)]));
        assert!(Domain::default().allows(access::ALL, &[]));
    }

    #[test]
    fn a_rule_covers_everything_beneath_it() {
        let mut r = Ruleset::new(access::WRITE_FILE | access::READ_FILE).unwrap();
        r.add((1, 2), true, access::WRITE_FILE).unwrap();
        let d = Domain::default().stacked(&r).unwrap();
        // /tmp(2)/a(5)/f(9): beneath the rule.
        assert!(d.allows(access::WRITE_FILE, &[(1, 9), (1, 5), (1, 2), (1, 1)]));
        assert!(!d.allows(access::READ_FILE, &[(1, 9), (1, 5), (1, 2), (1, 1)]));
        // /etc(3)/f(7): not beneath it.
        assert!(!d.allows(access::WRITE_FILE, &[(1, 7), (1, 3), (1, 1)]));
    }

    #[test]
    fn every_layer_must_allow() {
        let mut a = Ruleset::new(access::WRITE_FILE).unwrap();
        a.add((1, 2), true, access::WRITE_FILE).unwrap();
        let b = Ruleset::new(access::WRITE_FILE).unwrap();
        let d = Domain::default().stacked(&a).unwrap();
        assert!(d.allows(access::WRITE_FILE, &[(1, 9), (1, 2)]));
        let d = d.stacked(&b).unwrap();
        assert!(!d.allows(access::WRITE_FILE, &[(1, 9), (1, 2)]));
    }

    #[test]
    fn a_layer_is_a_snapshot_of_its_ruleset() {
        let mut r = Ruleset::new(access::WRITE_FILE).unwrap();
        let d = Domain::default().stacked(&r).unwrap();
        r.add((1, 2), true, access::WRITE_FILE).unwrap();
        assert!(!d.allows(access::WRITE_FILE, &[(1, 2)]));
    }

    #[test]
    fn at_most_sixteen_layers() {
        let r = Ruleset::new(access::EXECUTE).unwrap();
        let mut d = Domain::default();
        for _ in 0..MAX_LAYERS {
            d = d.stacked(&r).unwrap();
        }
        assert_eq!(d.layers(), MAX_LAYERS);
        assert_eq!(d.stacked(&r), Err(Errno::E2BIG));
    }
}

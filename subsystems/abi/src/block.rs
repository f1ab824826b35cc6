//! Block devices: the loop device's ioctls and structs (`linux/loop.h`).

use bytemuck::{Pod, Zeroable};

/// Loop devices' major number (`/dev/loopN` is 7:N).
pub const LOOP_MAJOR: u32 = 7;
/// /dev/loop-control is 10:237.
pub const LOOP_CTRL_MINOR: u32 = 237;

pub const LOOP_SET_FD: u32 = 0x4C00;
pub const LOOP_CLR_FD: u32 = 0x4C01;
pub const LOOP_SET_STATUS: u32 = 0x4C02;
pub const LOOP_GET_STATUS: u32 = 0x4C03;
pub const LOOP_SET_STATUS64: u32 = 0x4C04;
pub const LOOP_GET_STATUS64: u32 = 0x4C05;
pub const LOOP_CHANGE_FD: u32 = 0x4C06;
pub const LOOP_SET_CAPACITY: u32 = 0x4C07;
pub const LOOP_SET_DIRECT_IO: u32 = 0x4C08;
pub const LOOP_SET_BLOCK_SIZE: u32 = 0x4C09;
pub const LOOP_CONFIGURE: u32 = 0x4C0A;

pub const LOOP_CTL_ADD: u32 = 0x4C80;
pub const LOOP_CTL_REMOVE: u32 = 0x4C81;
pub const LOOP_CTL_GET_FREE: u32 = 0x4C82;

pub const LO_FLAGS_READ_ONLY: u32 = 1;
pub const LO_FLAGS_AUTOCLEAR: u32 = 4;
pub const LO_FLAGS_PARTSCAN: u32 = 8;
pub const LO_FLAGS_DIRECT_IO: u32 = 16;
/// What LOOP_SET_STATUS may change (the rest keep their values).
pub const LOOP_SET_STATUS_SETTABLE_FLAGS: u32 = LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN;
/// What LOOP_SET_STATUS may clear.
pub const LOOP_SET_STATUS_CLEARABLE_FLAGS: u32 = LO_FLAGS_AUTOCLEAR;
/// What LOOP_CONFIGURE may set.
pub const LOOP_CONFIGURE_SETTABLE_FLAGS: u32 =
    LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO;

/// Bytes of a loop device's file and crypt names.
pub const LO_NAME_SIZE: usize = 64;
/// Bytes of the (unused) encryption key.
pub const LO_KEY_SIZE: usize = 32;
/// The only encryption Linux still has: none.
pub const LO_CRYPT_NONE: u32 = 0;

/// `struct loop_info64`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LoopInfo64 {
    pub lo_device: u64,
    pub lo_inode: u64,
    pub lo_rdevice: u64,
    pub lo_offset: u64,
    pub lo_sizelimit: u64,
    pub lo_number: u32,
    pub lo_encrypt_type: u32,
    pub lo_encrypt_key_size: u32,
    pub lo_flags: u32,
    pub lo_file_name: [u8; LO_NAME_SIZE],
    pub lo_crypt_name: [u8; LO_NAME_SIZE],
    pub lo_encrypt_key: [u8; LO_KEY_SIZE],
    pub lo_init: [u64; 2],
}

/// `struct loop_info`, the old form (x86-64: `__kernel_old_dev_t` and `long`
/// are 8 bytes, `int` 4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LoopInfo {
    pub lo_number: i32,
    pub _pad0: u32,
    pub lo_device: u64,
    pub lo_inode: u64,
    pub lo_rdevice: u64,
    pub lo_offset: i32,
    pub lo_encrypt_type: i32,
    pub lo_encrypt_key_size: i32,
    pub lo_flags: i32,
    pub lo_name: [u8; LO_NAME_SIZE],
    pub lo_encrypt_key: [u8; LO_KEY_SIZE],
    pub lo_init: [u64; 2],
    pub reserved: [u8; 4],
    pub _pad1: [u8; 4],
}

/// `struct loop_config` (LOOP_CONFIGURE).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct LoopConfig {
    pub fd: u32,
    pub block_size: u32,
    pub info: LoopInfo64,
    pub reserved: [u64; 8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_linuxs() {
        assert_eq!(core::mem::size_of::<LoopInfo64>(), 232);
        assert_eq!(core::mem::offset_of!(LoopInfo64, lo_number), 40);
        assert_eq!(core::mem::offset_of!(LoopInfo64, lo_flags), 52);
        assert_eq!(core::mem::offset_of!(LoopInfo64, lo_file_name), 56);
        assert_eq!(core::mem::offset_of!(LoopInfo64, lo_init), 216);
        assert_eq!(core::mem::size_of::<LoopInfo>(), 168);
        assert_eq!(core::mem::offset_of!(LoopInfo, lo_device), 8);
        assert_eq!(core::mem::offset_of!(LoopInfo, lo_offset), 32);
        assert_eq!(core::mem::offset_of!(LoopInfo, lo_flags), 44);
        assert_eq!(core::mem::offset_of!(LoopInfo, lo_name), 48);
        assert_eq!(core::mem::offset_of!(LoopInfo, lo_init), 144);
        assert_eq!(core::mem::size_of::<LoopConfig>(), 304);
        assert_eq!(core::mem::offset_of!(LoopConfig, info), 8);
    }
}

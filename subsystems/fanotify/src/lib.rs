//! fanotify(7) as logic, without files, user memory or waiting: the flag
//! checks of fanotify_init(2) ([`check_init`]) and fanotify_mark(2)
//! ([`check_mark`], [`check_mark_for_group`]), how a mark's masks change
//! ([`MarkMasks::add`], [`MarkMasks::remove`]), and which bits of an event a
//! group is told given the marks it has on the object, its mount, its file
//! system and its parent directory ([`reported`]).
//!
//! The kernel (kernel/src/fs/fanotify.rs) keeps the groups, their marks and
//! queues, and asks here what to do; every decision is host-tested below.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use kestrel_abi::fs::{
    O_ACCMODE, O_APPEND, O_CLOEXEC, O_DSYNC, O_LARGEFILE, O_NOATIME, O_NONBLOCK, O_SYNC,
};
use kestrel_abi::{Errno, KResult};

// ---- fanotify_init flags ----------------------------------------------------
pub const FAN_CLOEXEC: u32 = 0x0000_0001;
pub const FAN_NONBLOCK: u32 = 0x0000_0002;
pub const FAN_CLASS_NOTIF: u32 = 0x0000_0000;
pub const FAN_CLASS_CONTENT: u32 = 0x0000_0004;
pub const FAN_CLASS_PRE_CONTENT: u32 = 0x0000_0008;
const CLASS_BITS: u32 = FAN_CLASS_CONTENT | FAN_CLASS_PRE_CONTENT;
pub const FAN_UNLIMITED_QUEUE: u32 = 0x0000_0010;
pub const FAN_UNLIMITED_MARKS: u32 = 0x0000_0020;
pub const FAN_ENABLE_AUDIT: u32 = 0x0000_0040;
pub const FAN_REPORT_PIDFD: u32 = 0x0000_0080;
pub const FAN_REPORT_TID: u32 = 0x0000_0100;
pub const FAN_REPORT_FID: u32 = 0x0000_0200;
pub const FAN_REPORT_DIR_FID: u32 = 0x0000_0400;
pub const FAN_REPORT_NAME: u32 = 0x0000_0800;
pub const FAN_REPORT_TARGET_FID: u32 = 0x0000_1000;
const FID_BITS: u32 = FAN_REPORT_FID | FAN_REPORT_DIR_FID | FAN_REPORT_NAME | FAN_REPORT_TARGET_FID;
/// What only CAP_SYS_ADMIN may ask for (Linux 6.1's FANOTIFY_ADMIN_INIT_FLAGS).
const ADMIN_INIT_FLAGS: u32 =
    CLASS_BITS | FAN_REPORT_TID | FAN_REPORT_PIDFD | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS;
/// Every fanotify_init flag Linux 6.1 knows.
const INIT_FLAGS: u32 = FAN_CLOEXEC
    | FAN_NONBLOCK
    | CLASS_BITS
    | FAN_UNLIMITED_QUEUE
    | FAN_UNLIMITED_MARKS
    | FAN_ENABLE_AUDIT
    | FAN_REPORT_PIDFD
    | FAN_REPORT_TID
    | FID_BITS;
/// The open flags an event's file descriptor may be opened with.
const EVENT_F_FLAGS: u32 =
    O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_CLOEXEC | O_LARGEFILE | O_NOATIME;

// ---- events -----------------------------------------------------------------
pub const FAN_ACCESS: u32 = 0x0000_0001;
pub const FAN_MODIFY: u32 = 0x0000_0002;
pub const FAN_ATTRIB: u32 = 0x0000_0004;
pub const FAN_CLOSE_WRITE: u32 = 0x0000_0008;
pub const FAN_CLOSE_NOWRITE: u32 = 0x0000_0010;
pub const FAN_OPEN: u32 = 0x0000_0020;
pub const FAN_MOVED_FROM: u32 = 0x0000_0040;
pub const FAN_MOVED_TO: u32 = 0x0000_0080;
pub const FAN_CREATE: u32 = 0x0000_0100;
pub const FAN_DELETE: u32 = 0x0000_0200;
pub const FAN_DELETE_SELF: u32 = 0x0000_0400;
pub const FAN_MOVE_SELF: u32 = 0x0000_0800;
pub const FAN_OPEN_EXEC: u32 = 0x0000_1000;
pub const FAN_Q_OVERFLOW: u32 = 0x0000_4000;
pub const FAN_FS_ERROR: u32 = 0x0000_8000;
pub const FAN_OPEN_PERM: u32 = 0x0001_0000;
pub const FAN_ACCESS_PERM: u32 = 0x0002_0000;
pub const FAN_OPEN_EXEC_PERM: u32 = 0x0004_0000;
pub const FAN_EVENT_ON_CHILD: u32 = 0x0800_0000;
pub const FAN_RENAME: u32 = 0x1000_0000;
pub const FAN_ONDIR: u32 = 0x4000_0000;

/// The permission events: the opener or reader waits for the answer.
pub const PERM_EVENTS: u32 = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM;
/// Events that carry the file's path, reported with an open descriptor.
pub const PATH_EVENTS: u32 =
    FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN | FAN_OPEN_EXEC;
/// Events that need a group reporting file ids (FAN_REPORT_FID...).
const DIRENT_EVENTS: u32 = FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CREATE | FAN_DELETE | FAN_RENAME;
const INODE_EVENTS: u32 = FAN_ATTRIB | FAN_DELETE_SELF | FAN_MOVE_SELF;
/// Flags that say which objects a mask applies to, not events.
pub const EVENT_FLAGS: u32 = FAN_ONDIR | FAN_EVENT_ON_CHILD;
/// What fanotify_mark accepts in a mask (Linux 6.1 with permission events).
const MARK_MASK: u32 =
    PATH_EVENTS | DIRENT_EVENTS | INODE_EVENTS | FAN_FS_ERROR | PERM_EVENTS | EVENT_FLAGS;

// ---- fanotify_mark flags ------------------------------------------------------
pub const FAN_MARK_ADD: u32 = 0x0000_0001;
pub const FAN_MARK_REMOVE: u32 = 0x0000_0002;
pub const FAN_MARK_DONT_FOLLOW: u32 = 0x0000_0004;
pub const FAN_MARK_ONLYDIR: u32 = 0x0000_0008;
pub const FAN_MARK_MOUNT: u32 = 0x0000_0010;
pub const FAN_MARK_IGNORED_MASK: u32 = 0x0000_0020;
pub const FAN_MARK_IGNORED_SURV_MODIFY: u32 = 0x0000_0040;
pub const FAN_MARK_FLUSH: u32 = 0x0000_0080;
pub const FAN_MARK_FILESYSTEM: u32 = 0x0000_0100;
pub const FAN_MARK_EVICTABLE: u32 = 0x0000_0200;
pub const FAN_MARK_IGNORE: u32 = 0x0000_0400;
const MARK_TYPE_BITS: u32 = FAN_MARK_MOUNT | FAN_MARK_FILESYSTEM;
const MARK_CMD_BITS: u32 = FAN_MARK_ADD | FAN_MARK_REMOVE | FAN_MARK_FLUSH;
const MARK_IGNORE_BITS: u32 = FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORE;
const MARK_FLAGS: u32 = MARK_TYPE_BITS
    | MARK_CMD_BITS
    | MARK_IGNORE_BITS
    | FAN_MARK_DONT_FOLLOW
    | FAN_MARK_ONLYDIR
    | FAN_MARK_IGNORED_SURV_MODIFY
    | FAN_MARK_EVICTABLE;

/// Responses written back for a permission event.
pub const FAN_ALLOW: u32 = 0x01;
pub const FAN_DENY: u32 = 0x02;
pub const FAN_AUDIT: u32 = 0x10;

/// struct fanotify_event_metadata: its size, and the version it carries.
pub const METADATA_LEN: usize = 24;
pub const METADATA_VERSION: u8 = 3;
/// struct fanotify_response.
pub const RESPONSE_LEN: usize = 8;
/// event->fd of an event without a file (FAN_Q_OVERFLOW).
pub const FAN_NOFD: i32 = -1;

/// What a valid fanotify_init asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitFlags {
    pub flags: u32,
    /// The flags of each event's descriptor (O_LARGEFILE added, as Linux
    /// does on 64-bit).
    pub event_f_flags: u32,
}

impl InitFlags {
    /// Whether the group may get permission events.
    pub fn permission_class(&self) -> bool {
        self.flags & CLASS_BITS != FAN_CLASS_NOTIF
    }

    /// The order groups hear an event in: pre-content first, notification
    /// last (Linux's group priority).
    pub fn priority(&self) -> u32 {
        match self.flags & CLASS_BITS {
            FAN_CLASS_PRE_CONTENT => 2,
            FAN_CLASS_CONTENT => 1,
            _ => 0,
        }
    }
}

/// fanotify_init(2)'s checks, in Linux's order. `admin`: the caller has
/// CAP_SYS_ADMIN. `audit`: it has CAP_AUDIT_WRITE. Kestrel does not report
/// file ids or pidfds: those flags are EINVAL, as on a kernel without them.
pub fn check_init(flags: u32, event_f_flags: u32, admin: bool, audit: bool) -> KResult<InitFlags> {
    let fid_mode = flags & FID_BITS != 0;
    if !admin && (flags & ADMIN_INIT_FLAGS != 0 || !fid_mode) {
        return Err(Errno::EPERM);
    }
    if flags & !INIT_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLASS_BITS == CLASS_BITS {
        return Err(Errno::EINVAL);
    }
    if flags & FAN_REPORT_PIDFD != 0 && flags & FAN_REPORT_TID != 0 {
        return Err(Errno::EINVAL);
    }
    if event_f_flags & !EVENT_F_FLAGS != 0 || event_f_flags & O_ACCMODE == O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    if fid_mode && flags & CLASS_BITS != FAN_CLASS_NOTIF {
        return Err(Errno::EINVAL);
    }
    if flags & FAN_REPORT_NAME != 0 && flags & FAN_REPORT_DIR_FID == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & FAN_REPORT_TARGET_FID != 0
        && (flags & FAN_REPORT_NAME == 0 || flags & FAN_REPORT_FID == 0)
    {
        return Err(Errno::EINVAL);
    }
    // Not implemented: file-id information records and pidfds.
    if fid_mode || flags & FAN_REPORT_PIDFD != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & FAN_ENABLE_AUDIT != 0 && !audit {
        return Err(Errno::EPERM);
    }
    Ok(InitFlags {
        flags,
        event_f_flags: event_f_flags | O_LARGEFILE,
    })
}

/// The kind of object a mark is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkType {
    Inode,
    Mount,
    Filesystem,
}

/// What a mark call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkCmd {
    Add,
    Remove,
    Flush,
}

/// A fanotify_mark call after the checks made before the descriptor is
/// looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkRequest {
    pub cmd: MarkCmd,
    pub kind: MarkType,
    pub flags: u32,
    /// The events (and event flags) to add to or remove from a mask.
    pub mask: u32,
    /// Event flags that go from the mask whatever `mask` says (Linux's
    /// umask): FAN_EVENT_ON_CHILD on a mark of a non-directory, the event
    /// flags of a legacy ignore mask.
    pub umask: u32,
}

impl MarkRequest {
    /// Whether the mask is an ignore mask.
    pub fn ignore(&self) -> bool {
        self.flags & MARK_IGNORE_BITS != 0
    }
}

/// fanotify_mark(2)'s checks of `flags` and `mask` alone (before the
/// descriptor: Linux makes them first).
pub fn check_mark(flags: u32, mask: u64) -> KResult<MarkRequest> {
    if mask >> 32 != 0 || flags & !MARK_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mask = mask as u32;
    let kind = match flags & MARK_TYPE_BITS {
        0 => MarkType::Inode,
        FAN_MARK_MOUNT => MarkType::Mount,
        FAN_MARK_FILESYSTEM => MarkType::Filesystem,
        _ => return Err(Errno::EINVAL),
    };
    let cmd = match flags & MARK_CMD_BITS {
        FAN_MARK_ADD if mask != 0 => MarkCmd::Add,
        FAN_MARK_REMOVE if mask != 0 => MarkCmd::Remove,
        FAN_MARK_FLUSH if flags & !(MARK_TYPE_BITS | FAN_MARK_FLUSH) == 0 => MarkCmd::Flush,
        _ => return Err(Errno::EINVAL),
    };
    if mask & !MARK_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    let mut umask = 0;
    match flags & MARK_IGNORE_BITS {
        MARK_IGNORE_BITS => return Err(Errno::EINVAL),
        // Event flags mean nothing in a legacy ignore mask.
        FAN_MARK_IGNORED_MASK => {
            mask &= !EVENT_FLAGS;
            umask = EVENT_FLAGS;
        }
        _ => {}
    }
    Ok(MarkRequest {
        cmd,
        kind,
        flags,
        mask,
        umask,
    })
}

/// The checks of a mark request that depend on the group: `admin` is the
/// caller's CAP_SYS_ADMIN. (Groups here never report file ids.)
pub fn check_mark_for_group(req: &MarkRequest, group: &InitFlags, admin: bool) -> KResult<()> {
    if !admin && req.kind != MarkType::Inode {
        return Err(Errno::EPERM);
    }
    if req.mask & PERM_EVENTS != 0 && !group.permission_class() {
        return Err(Errno::EINVAL);
    }
    if req.mask & FAN_FS_ERROR != 0 && req.kind != MarkType::Filesystem {
        return Err(Errno::EINVAL);
    }
    if req.flags & FAN_MARK_EVICTABLE != 0 && req.kind != MarkType::Inode {
        return Err(Errno::EINVAL);
    }
    // Events without a path need a group reporting file ids.
    if req.mask & !(PATH_EVENTS | PERM_EVENTS | EVENT_FLAGS) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The checks of an add once the object is known (Linux's
/// fanotify_events_supported and the FAN_MARK_IGNORE rules). `is_dir`: the
/// object is a directory. `no_perm_fs`: its file system refuses permission
/// events (proc).
pub fn check_add_object(req: &MarkRequest, is_dir: bool, no_perm_fs: bool) -> KResult<()> {
    if req.mask & PERM_EVENTS != 0 && no_perm_fs {
        return Err(Errno::EINVAL);
    }
    let strict = req.flags & FAN_MARK_IGNORE != 0;
    if strict && req.kind == MarkType::Inode && !is_dir && req.mask & EVENT_FLAGS != 0 {
        return Err(Errno::ENOTDIR);
    }
    // A new-style ignore mask on a directory or a mount or file system must
    // survive modification: it would be cleared by every child's write.
    if strict
        && req.flags & FAN_MARK_IGNORED_SURV_MODIFY == 0
        && (req.kind != MarkType::Inode || is_dir)
    {
        return Err(Errno::EISDIR);
    }
    Ok(())
}

/// A mark's masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkMasks {
    pub mask: u32,
    pub ignore: u32,
    /// The ignore mask survives FAN_MODIFY of the object.
    pub ignore_surv_modify: bool,
    /// The ignore mask was set with FAN_MARK_IGNORE: its event flags count.
    pub ignore_flags: bool,
    /// FAN_MARK_EVICTABLE.
    pub evictable: bool,
}

impl MarkMasks {
    /// FAN_MARK_ADD of `req` on an existing mark (`new`: on a `Default` one).
    /// EEXIST where Linux refuses to change an existing mark's kind: a
    /// pinning mark made evictable, a FAN_MARK_IGNORE mask made legacy, or
    /// one that survives modification updated without saying so again.
    pub fn add(&mut self, req: &MarkRequest, new: bool) -> KResult<()> {
        let evictable = req.flags & FAN_MARK_EVICTABLE != 0;
        if !new {
            if evictable && !self.evictable {
                return Err(Errno::EEXIST);
            }
            if req.flags & FAN_MARK_IGNORED_MASK != 0 && self.ignore_flags {
                return Err(Errno::EEXIST);
            }
            if req.flags & FAN_MARK_IGNORE != 0
                && req.flags & FAN_MARK_IGNORED_SURV_MODIFY == 0
                && self.ignore_surv_modify
            {
                return Err(Errno::EEXIST);
            }
        }
        if new {
            self.evictable = evictable;
        } else if !evictable {
            self.evictable = false;
        }
        if req.ignore() {
            self.ignore |= req.mask;
            if req.flags & FAN_MARK_IGNORE != 0 {
                self.ignore_flags = true;
            }
            if req.flags & FAN_MARK_IGNORED_SURV_MODIFY != 0 {
                self.ignore_surv_modify = true;
            }
        } else {
            self.mask |= req.mask;
        }
        Ok(())
    }

    /// FAN_MARK_REMOVE of `req`. True when the mark is left with nothing but
    /// `req.umask` bits and goes (a mark holding only FAN_ONDIR stays, so a
    /// mask can be built up a bit at a time, as on Linux).
    pub fn remove(&mut self, req: &MarkRequest) -> bool {
        if req.ignore() {
            self.ignore &= !req.mask;
        } else {
            self.mask &= !req.mask;
        }
        (self.mask | self.ignore) & !req.umask == 0
    }
}

impl MarkRequest {
    /// Adjusts the request to its object: FAN_EVENT_ON_CHILD means nothing
    /// on a mount, a file system or a file that is not a directory.
    pub fn for_object(&mut self, is_dir: bool) {
        if self.kind != MarkType::Inode || !is_dir {
            self.mask &= !FAN_EVENT_ON_CHILD;
            self.umask |= FAN_EVENT_ON_CHILD;
        }
    }
}

/// How a mark stands to the object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// On the object, its mount or its file system.
    Object,
    /// On the directory the object is in.
    Parent,
}

/// Whether a mask (a mark's, or an ignore mask with its flags) applies to an
/// event on a directory (`is_dir`) or through the parent.
fn applicable(mask: u32, is_dir: bool, role: Role) -> bool {
    (!is_dir || mask & FAN_ONDIR != 0) && (role != Role::Parent || mask & FAN_EVENT_ON_CHILD != 0)
}

/// The part of a mark's ignore mask that counts for this event.
fn effective_ignore(m: &MarkMasks, is_dir: bool, role: Role) -> u32 {
    if m.ignore == 0 {
        return 0;
    }
    if !is_dir && role == Role::Object {
        return m.ignore & !EVENT_FLAGS;
    }
    let ignore = if m.ignore_flags {
        m.ignore
    } else {
        // Legacy ignore masks: always for directories; for children when
        // the parent's mark watches children.
        (m.ignore | FAN_ONDIR) & !FAN_EVENT_ON_CHILD | m.mask & FAN_EVENT_ON_CHILD
    };
    if applicable(ignore, is_dir, role) {
        ignore & !EVENT_FLAGS
    } else {
        0
    }
}

/// The mask a group reports for `event` (events, no flags) on a directory or
/// not, given its marks that concern the object: 0 when it hears nothing.
/// Event flags are never reported (groups here report descriptors, not file
/// ids).
pub fn reported<'a>(
    event: u32,
    is_dir: bool,
    marks: impl IntoIterator<Item = (Role, &'a MarkMasks)>,
) -> u32 {
    let mut want = 0;
    let mut ignore = 0;
    for (role, m) in marks {
        ignore |= effective_ignore(m, is_dir, role);
        if applicable(m.mask, is_dir, role) {
            want |= m.mask;
        }
    }
    event & want & !ignore & !EVENT_FLAGS
}

/// Whether an event with `new_mask` may be folded into a queued one with
/// `old_mask` on the same object from the same process: never a permission
/// event (its answer is for that one access).
pub fn may_merge(old_mask: u32, new_mask: u32) -> bool {
    (old_mask | new_mask) & (PERM_EVENTS | FAN_Q_OVERFLOW) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_abi::fs::{O_RDONLY, O_RDWR};

    #[test]
    fn init_checks_follow_linux() {
        assert_eq!(check_init(0, O_RDONLY, false, false), Err(Errno::EPERM));
        assert_eq!(
            check_init(FAN_REPORT_FID, O_RDONLY, false, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_init(0x8000_0000, O_RDONLY, true, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_init(CLASS_BITS, O_RDONLY, true, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(check_init(0, O_ACCMODE, true, false), Err(Errno::EINVAL));
        assert_eq!(check_init(0, 0o100, true, false), Err(Errno::EINVAL)); // O_CREAT
        assert_eq!(
            check_init(FAN_REPORT_TID | FAN_REPORT_PIDFD, 0, true, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            check_init(FAN_ENABLE_AUDIT, 0, true, false),
            Err(Errno::EPERM)
        );
        let g = check_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDWR, true, false).unwrap();
        assert!(g.permission_class());
        assert_eq!(g.event_f_flags, O_RDWR | O_LARGEFILE);
        assert_eq!(g.priority(), 1);
    }

    #[test]
    fn mark_checks_follow_linux() {
        assert_eq!(check_mark(FAN_MARK_ADD, 1 << 32).err(), Some(Errno::EINVAL));
        assert_eq!(check_mark(FAN_MARK_ADD, 0).err(), Some(Errno::EINVAL));
        assert_eq!(
            check_mark(0, u64::from(FAN_OPEN)).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            check_mark(FAN_MARK_ADD | FAN_MARK_REMOVE, 1).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            check_mark(FAN_MARK_ADD | FAN_MARK_MOUNT | FAN_MARK_FILESYSTEM, 1).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(
            check_mark(FAN_MARK_FLUSH | FAN_MARK_ONLYDIR, 0).err(),
            Some(Errno::EINVAL)
        );
        assert_eq!(check_mark(FAN_MARK_FLUSH, 0).unwrap().cmd, MarkCmd::Flush);
        assert_eq!(
            check_mark(FAN_MARK_ADD, u64::from(FAN_Q_OVERFLOW)).err(),
            Some(Errno::EINVAL)
        );
        let r = check_mark(
            FAN_MARK_ADD | FAN_MARK_IGNORED_MASK,
            u64::from(FAN_OPEN | FAN_ONDIR),
        )
        .unwrap();
        assert_eq!(r.mask, FAN_OPEN);
        let notif = check_init(0, 0, true, false).unwrap();
        let perm = check_mark(FAN_MARK_ADD, u64::from(FAN_OPEN_PERM)).unwrap();
        assert_eq!(
            check_mark_for_group(&perm, &notif, true),
            Err(Errno::EINVAL)
        );
        let create = check_mark(FAN_MARK_ADD, u64::from(FAN_CREATE)).unwrap();
        assert_eq!(
            check_mark_for_group(&create, &notif, true),
            Err(Errno::EINVAL)
        );
        let mnt = check_mark(FAN_MARK_ADD | FAN_MARK_MOUNT, u64::from(FAN_OPEN)).unwrap();
        assert_eq!(check_mark_for_group(&mnt, &notif, false), Err(Errno::EPERM));
    }

    fn add(m: &mut MarkMasks, flags: u32, mask: u32, new: bool) {
        let r = check_mark(FAN_MARK_ADD | flags, u64::from(mask)).unwrap();
        m.add(&r, new).unwrap();
    }

    #[test]
    fn directories_need_ondir_and_children_need_on_child() {
        let mut m = MarkMasks::default();
        add(&mut m, 0, FAN_OPEN, true);
        assert_eq!(reported(FAN_OPEN, false, [(Role::Object, &m)]), FAN_OPEN);
        assert_eq!(reported(FAN_OPEN, true, [(Role::Object, &m)]), 0);
        assert_eq!(reported(FAN_OPEN, false, [(Role::Parent, &m)]), 0);
        add(&mut m, 0, FAN_ONDIR | FAN_EVENT_ON_CHILD, false);
        assert_eq!(reported(FAN_OPEN, true, [(Role::Object, &m)]), FAN_OPEN);
        assert_eq!(reported(FAN_OPEN, false, [(Role::Parent, &m)]), FAN_OPEN);
        // Removing FAN_EVENT_ON_CHILD stops the children's events.
        let r = check_mark(FAN_MARK_REMOVE, u64::from(FAN_EVENT_ON_CHILD)).unwrap();
        assert!(!m.remove(&r));
        assert_eq!(reported(FAN_OPEN, false, [(Role::Parent, &m)]), 0);
        let r = check_mark(FAN_MARK_REMOVE, u64::from(FAN_OPEN | FAN_ONDIR)).unwrap();
        assert!(m.remove(&r));
    }

    #[test]
    fn ignore_masks_take_bits_away() {
        let mut m = MarkMasks::default();
        add(&mut m, 0, FAN_OPEN | FAN_OPEN_EXEC, true);
        add(&mut m, FAN_MARK_IGNORED_MASK, FAN_OPEN_EXEC, false);
        assert_eq!(
            reported(FAN_OPEN | FAN_OPEN_EXEC, false, [(Role::Object, &m)]),
            FAN_OPEN
        );
        // A mount mark's ignore mask covers an inode mark's events.
        let mut mnt = MarkMasks::default();
        add(&mut mnt, FAN_MARK_IGNORED_MASK, FAN_OPEN, true);
        assert_eq!(
            reported(FAN_OPEN, false, [(Role::Object, &m), (Role::Object, &mnt)]),
            0
        );
        // A legacy ignore mask on a parent counts only while it watches children.
        let mut dir = MarkMasks::default();
        add(&mut dir, FAN_MARK_IGNORED_MASK, FAN_OPEN, true);
        assert_eq!(
            reported(FAN_OPEN, false, [(Role::Object, &m), (Role::Parent, &dir)]),
            FAN_OPEN
        );
        add(&mut dir, 0, FAN_CLOSE | FAN_EVENT_ON_CHILD, false);
        assert_eq!(
            reported(FAN_OPEN, false, [(Role::Object, &m), (Role::Parent, &dir)]),
            0
        );
    }

    const FAN_CLOSE: u32 = FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE;

    #[test]
    fn evictable_marks_do_not_replace_pinning_ones() {
        let mut m = MarkMasks::default();
        add(&mut m, 0, FAN_OPEN, true);
        let r = check_mark(FAN_MARK_ADD | FAN_MARK_EVICTABLE, u64::from(FAN_OPEN)).unwrap();
        assert_eq!(m.add(&r, false), Err(Errno::EEXIST));
    }

    #[test]
    fn new_style_ignore_on_a_directory_must_survive_modify() {
        let r = check_mark(FAN_MARK_ADD | FAN_MARK_IGNORE, u64::from(FAN_OPEN)).unwrap();
        assert_eq!(check_add_object(&r, true, false), Err(Errno::EISDIR));
        assert_eq!(check_add_object(&r, false, false), Ok(()));
        let r = check_mark(
            FAN_MARK_ADD | FAN_MARK_IGNORE,
            u64::from(FAN_OPEN | FAN_ONDIR),
        )
        .unwrap();
        assert_eq!(check_add_object(&r, false, false), Err(Errno::ENOTDIR));
    }

    #[test]
    fn permission_events_never_merge() {
        assert!(may_merge(FAN_OPEN, FAN_MODIFY));
        assert!(!may_merge(FAN_OPEN_PERM, FAN_OPEN_PERM));
    }
}

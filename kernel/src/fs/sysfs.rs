//! /sys: what the kernel knows about its devices, as Linux's sysfs lays it out,
//! for the files programs read (lspci's `/sys/bus/pci/devices`, glibc's
//! `/sys/devices/system/cpu/online`, `/sys/block/vda/size`).
//!
//! Built once, after the drivers have probed, as a read-only ramfs mounted on
//! /sys: Kestrel's devices do not come and go, so a snapshot is the truth;
//! only /sys/class/net/IF's files are rewritten, when netlink or an ioctl
//! changes an interface ([`refresh_net`]). Where
//! Linux has symbolic links into `/sys/devices`, these are plain directories.

use alloc::format;
use alloc::string::{String, ToString};

use kestrel_abi::KResult;
use kestrel_abi::fs::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, makedev};
use kestrel_driver_kit::PciFunction;
use kestrel_vfs::ramfs::RamFs;
use kestrel_vfs::{InodeRef, NodeKind};

/// `sysfs`'s magic number (statfs).
const SYSFS_MAGIC: u64 = 0x6265_6572;

fn dir(parent: &InodeRef, name: &str) -> KResult<InodeRef> {
    match parent.lookup(name.as_bytes()) {
        Ok(d) => Ok(d),
        Err(_) => parent.create(name.as_bytes(), NodeKind::Dir, 0o755, 0, 0),
    }
}

fn file(parent: &InodeRef, name: &str, content: &str) -> KResult<()> {
    let f = parent.create(name.as_bytes(), NodeKind::File, 0o444, 0, 0)?;
    f.write_at(0, content.as_bytes())?;
    Ok(())
}

/// Writes `content` as the whole of `parent/name`, made if missing.
fn rewrite(parent: &InodeRef, name: &str, content: &str) -> KResult<()> {
    let f = match parent.lookup(name.as_bytes()) {
        Ok(f) => f,
        Err(_) => parent.create(name.as_bytes(), NodeKind::File, 0o444, 0, 0)?,
    };
    f.truncate(0)?;
    f.write_at(0, content.as_bytes())?;
    Ok(())
}

/// /sys/kernel/mm/hugepages/hugepages-2048kB.
static HUGEPAGES: spin::Once<InodeRef> = spin::Once::new();

/// (Re)writes the huge page pool's counts in /sys/kernel/mm/hugepages/
/// hugepages-2048kB/ (read-only here: the pool is sized through
/// /proc/sys/vm/nr_hugepages), after each change of the pool.
pub fn refresh_hugepages() {
    let Some(d) = HUGEPAGES.get() else {
        return;
    };
    let (_, free, resv, surplus) = crate::mm::huge::counts();
    let nr = crate::mm::huge::nr();
    for (name, v) in [
        ("nr_hugepages", nr),
        ("nr_hugepages_mempolicy", nr),
        ("free_hugepages", free),
        ("resv_hugepages", resv),
        ("surplus_hugepages", surplus),
        ("nr_overcommit_hugepages", 0),
    ] {
        let _ = rewrite(d, name, &format!("{v}\n"));
    }
}

/// /sys/class/net.
static NET: spin::Once<InodeRef> = spin::Once::new();

/// (Re)writes /sys/class/net/IF/ for every interface from what the stack
/// holds now: at boot, and after each change (netlink, SIOCSIFFLAGS), so
/// `flags`, `operstate` and `carrier` follow `ip link set IF up|down`.
pub fn refresh_net() {
    let (Some(net), Some(shared)) = (NET.get(), crate::net::init_shared()) else {
        return;
    };
    for f in shared.interfaces() {
        if let Err(e) = net_iface(net, &f) {
            log::warn!("sysfs: /sys/class/net/{}: {e:?}", f.name);
        }
    }
}

/// Inode numbers of /sys/block/NAME/stat (the base plus the device number):
/// far above the ramfs's own.
const STAT_INO_BASE: u64 = 1 << 48;

/// /sys/block.
static BLOCK: spin::Once<InodeRef> = spin::Once::new();

/// (Re)writes /sys/block/NAME/ for block device `b`: at boot, and when a loop
/// device is set up, changed or cleared (its `size` and `loop/` follow).
/// Direct I/O's memory alignment on every block device (Linux's default
/// queue dma_alignment, 511, plus one).
pub const DMA_ALIGNMENT: u32 = 512;

pub fn refresh_block(b: &crate::drivers::Block) {
    let Some(block) = BLOCK.get() else { return };
    if let Err(e) = block_dir(block, b) {
        log::warn!("sysfs: /sys/block/{}: {e:?}", b.name);
    }
}

fn block_dir(block: &InodeRef, b: &crate::drivers::Block) -> KResult<()> {
    let info = b.dev.info();
    let d = dir(block, &b.name)?;
    rewrite(&d, "size", &format!("{}\n", info.sectors))?;
    rewrite(&d, "ro", if info.read_only { "1\n" } else { "0\n" })?;
    rewrite(
        &d,
        "dev",
        &format!(
            "{}:{}\n",
            kestrel_abi::fs::major(b.rdev),
            kestrel_abi::fs::minor(b.rdev)
        ),
    )?;
    let q = dir(&d, "queue")?;
    rewrite(&q, "logical_block_size", &format!("{}\n", info.block_size))?;
    rewrite(&q, "physical_block_size", &format!("{}\n", info.block_size))?;
    // What a direct I/O buffer's address must be a multiple of, less one
    // (statx's stx_dio_mem_align less one; the block layer's default).
    rewrite(&q, "dma_alignment", &format!("{}\n", DMA_ALIGNMENT - 1))?;
    // The I/O counters, read live (LTP's tst_dev_bytes_written reads them).
    if d.lookup(b"stat").is_err() {
        let stats = b.stats.clone();
        let node = kestrel_vfs::pseudo::PseudoFile::new_ref(
            kestrel_vfs::pseudo::Common {
                dev: d.metadata().dev,
                ino: STAT_INO_BASE + b.rdev,
                perm: 0o444,
                owner: None,
            },
            SYSFS_MAGIC as i64,
            alloc::boxed::Box::new(move || Ok(stats.sys_stat().into_bytes())),
            Err(kestrel_abi::Errno::EACCES),
        );
        RamFs::attach(&d, b"stat", node)?;
    }
    // A loop device has loop/ while it is bound, as on Linux.
    match super::loopdev::sysfs_attrs(b.rdev) {
        Some(attrs) => {
            let l = dir(&d, "loop")?;
            for (name, value) in attrs {
                rewrite(&l, name, &value)?;
            }
        }
        None => remove_tree(&d, b"loop"),
    }
    Ok(())
}

/// Removes /sys/block/NAME/ (LOOP_CTL_REMOVE).
pub fn remove_block(name: &str) {
    if let Some(block) = BLOCK.get() {
        remove_tree(block, name.as_bytes());
    }
}

/// Unlinks `parent/name` and, for a directory, what it holds first.
fn remove_tree(parent: &InodeRef, name: &[u8]) {
    let Ok(node) = parent.lookup(name) else {
        return;
    };
    if node.metadata().is_dir() {
        let mut names = alloc::vec::Vec::new();
        let _ = node.readdir(0, &mut |e| {
            if e.name != b"." && e.name != b".." {
                names.push(e.name);
            }
            true
        });
        for n in names {
            remove_tree(&node, &n);
        }
        let _ = parent.rmdir(name);
    } else {
        let _ = parent.unlink(name);
    }
}

fn net_iface(net: &InodeRef, f: &kestrel_net::inet::IfaceInfo) -> KResult<()> {
    use kestrel_net::netlink::route::{link_flags, operstate_name};
    let d = dir(net, &f.name)?;
    let m = f.mac.unwrap_or([0; 6]);
    rewrite(
        &d,
        "address",
        &format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ),
    )?;
    rewrite(&d, "mtu", &format!("{}\n", f.mtu))?;
    rewrite(&d, "ifindex", &format!("{}\n", f.index))?;
    rewrite(&d, "type", if f.loopback() { "772\n" } else { "1\n" })?;
    rewrite(&d, "flags", &format!("{:#x}\n", link_flags(f) & 0xffff))?;
    rewrite(&d, "operstate", &format!("{}\n", operstate_name(f)))?;
    // Reading carrier of a down interface is EINVAL on Linux; here it is 0.
    rewrite(&d, "carrier", if f.up { "1\n" } else { "0\n" })?;
    rewrite(&d, "tx_queue_len", "1000\n")?;
    Ok(())
}

/// CPUs 0..n as Linux writes a CPU list: `0` or `0-3`.
fn cpu_list(n: usize) -> String {
    if n <= 1 {
        String::from("0\n")
    } else {
        format!("0-{}\n", n - 1)
    }
}

/// Builds /sys and mounts it.
pub fn mount() -> KResult<()> {
    let root = RamFs::new_root(makedev(0, 20));

    let cpus = crate::arch::percpu::online();
    let cpu = dir(&dir(&dir(&root, "devices")?, "system")?, "cpu")?;
    for name in ["online", "possible", "present"] {
        file(&cpu, name, &cpu_list(cpus))?;
    }
    for i in 0..cpus {
        let c = dir(&cpu, &format!("cpu{i}"))?;
        file(&c, "online", "1\n")?;
    }

    // One NUMA node, node 0, with every CPU and all memory (what libnuma and
    // numactl read; syscall/mempolicy.rs answers the policy calls).
    let node = dir(&dir(&dir(&root, "devices")?, "system")?, "node")?;
    for name in [
        "online",
        "possible",
        "has_cpu",
        "has_memory",
        "has_normal_memory",
    ] {
        file(&node, name, "0\n")?;
    }
    let node0 = dir(&node, "node0")?;
    file(&node0, "cpulist", &cpu_list(cpus))?;
    file(&node0, "distance", "10\n")?;

    let devices = dir(&dir(&dir(&root, "bus")?, "pci")?, "devices")?;
    for (f, driver) in crate::drivers::found() {
        let id = f.id();
        let d = dir(&devices, &f.address().to_string())?;
        file(&d, "vendor", &format!("0x{:04x}\n", id.vendor))?;
        file(&d, "device", &format!("0x{:04x}\n", id.device))?;
        file(
            &d,
            "subsystem_vendor",
            &format!("0x{:04x}\n", id.subsystem_vendor),
        )?;
        file(&d, "subsystem_device", &format!("0x{:04x}\n", id.subsystem))?;
        file(&d, "class", &format!("0x{:06x}\n", id.class_code()))?;
        file(&d, "revision", &format!("0x{:02x}\n", id.revision))?;
        file(&d, "resource", &crate::drivers::resource_lines(f.bars()))?;
        if let Some(name) = driver {
            file(&d, "driver_name", &format!("{name}\n"))?;
        }
    }

    // securityfs's list of the active security modules (syscall/lsm.rs).
    let security = dir(&dir(&root, "kernel")?, "security")?;
    file(&security, "lsm", &crate::syscall::lsm::names())?;

    let huge = dir(
        &dir(&dir(&dir(&root, "kernel")?, "mm")?, "hugepages")?,
        "hugepages-2048kB",
    )?;
    HUGEPAGES.call_once(|| huge.clone());
    refresh_hugepages();

    let block = dir(&root, "block")?;
    BLOCK.call_once(|| block.clone());
    for b in crate::drivers::block_devices() {
        refresh_block(&b);
    }
    let net = dir(&dir(&root, "class")?, "net")?;
    NET.call_once(|| net.clone());
    refresh_net();
    if let Some(shared) = crate::net::init_shared() {
        shared.set_change_hook(refresh_net);
    }

    // Where the cgroup2 hierarchy is mounted (below).
    let cgroup = dir(&dir(&root, "fs")?, "cgroup")?;

    let mount_point = super::root().inode.lookup(b"sys")?;
    super::mounts().mount(
        &mount_point,
        root,
        kestrel_vfs::MountInfo {
            source: b"sysfs".to_vec(),
            fstype: b"sysfs".to_vec(),
            path: b"/sys".to_vec(),
            options: b"ro,nosuid,nodev,noexec,relatime".to_vec(),
        },
        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
    )?;
    super::cgroupfs::mount_at_boot(&cgroup)?;
    Ok(())
}

//! Devices and their drivers: PCI enumeration at boot, probing the drivers built
//! into the kernel (crates under `drivers/`, written against the driver kit), and
//! the registry of what they offer: block devices (`/dev/vda`), random sources
//! (`/dev/hwrng`, `getrandom`'s pool) and network interfaces.
//!
//! The kernel's side of the kit lives here ([`KernelHost`]) and in [`pci`]
//! (`PciFunction`), `arch::mmio` (register windows), `arch::irq` (a vector per
//! interrupt source) and `mm::dma` (DMA buffers).
//!
//! # Setting up in the background
//! The boot does not wait for the devices: PCI enumeration, the probes, the
//! loop devices, the network and /sys are set up by a task of their own
//! (`main.rs`, `setup_devices`) that lets every other ready task run first, so
//! /init starts meanwhile (issue #14's boot_to_init: they were a third of the
//! kernel's part of it). Until that task is done, everything through which user space could see
//! a device waits for it ([`settled`]): a path lookup (/dev, /sys, /proc, a
//! mount's source), execve, socket(2), socketpair(2), and a new network
//! namespace. So no program ever finds /dev/vda missing or `lo` absent, as
//! none could before; what it can tell is only that its first such call took
//! longer. In-kernel users wait too (`root=`, the in-kernel tests).

pub mod diskstats;
pub mod pci;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use kestrel_driver_kit::pci::{Bar, ConfigSpace};
use kestrel_driver_kit::{
    BlockDevice, BoxFuture, ClassDevice, DmaAllocator, Driver, EntropySource, Host, NetDevice,
};

use crate::{task, time};

/// Whether the boot's device setup has finished ([`mark_settled`]).
static SETTLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// Who waits for it.
static SETTLING: kestrel_sync::WaitQueue = kestrel_sync::WaitQueue::new();

/// Whether the devices are all set up (true for the rest of the system's life
/// once it is).
pub fn is_settled() -> bool {
    SETTLED.load(core::sync::atomic::Ordering::Acquire)
}

/// Waits until the boot's device setup has finished: at once if it has (one
/// load), else until [`mark_settled`]. Not interruptible: the setup takes
/// tens of milliseconds once, at boot, and nothing it does waits on user space.
pub async fn settled() {
    if is_settled() {
        return;
    }
    // Boxed: rare, and kept out of the futures of the path-taking calls that
    // await this.
    alloc::boxed::Box::pin(SETTLING.wait_until(|| is_settled().then_some(()))).await;
}

/// Says the devices are all set up, and wakes whoever waits for them.
pub fn mark_settled() {
    SETTLED.store(true, core::sync::atomic::Ordering::Release);
    SETTLING.wake_all();
}

/// The drivers built into the kernel, tried in this order.
fn drivers() -> &'static [&'static dyn Driver] {
    &[
        &kestrel_virtio_rng::VirtioRngDriver,
        &kestrel_virtio_blk::VirtioBlkDriver,
        &kestrel_virtio_net::VirtioNetDriver,
        &kestrel_driver_template::EduDriver,
    ]
}

/// A PCI function found at boot, and what became of it.
pub struct Found {
    pub function: Arc<pci::Function>,
    /// The driver that took it, if any.
    pub driver: Option<&'static str>,
}

static FOUND: spin::Mutex<Vec<Found>> = spin::Mutex::new(Vec::new());
static CONFIG: spin::Once<&'static dyn ConfigSpace> = spin::Once::new();

/// A registered block device: its name (`vda`) and device number.
pub struct Block {
    pub name: String,
    pub rdev: u64,
    /// The driver's device, behind the counting of /proc/diskstats.
    pub dev: Arc<dyn BlockDevice>,
    pub stats: Arc<diskstats::DiskStats>,
    /// BLKROSET's read-only policy (on top of a device that is read-only
    /// itself), and BLKRASET's read-ahead in sectors.
    pub policy: BlockPolicy,
}

/// What ioctls set on a block device.
#[derive(Default)]
pub struct BlockPolicy {
    pub read_only: core::sync::atomic::AtomicBool,
    pub read_ahead: core::sync::atomic::AtomicU64,
}

impl Block {
    /// Whether writes are refused: the device is read-only, or BLKROSET said so.
    pub fn read_only(&self) -> bool {
        self.dev.info().read_only
            || self
                .policy
                .read_only
                .load(core::sync::atomic::Ordering::Relaxed)
    }
}

/// Block devices, random sources and network interfaces, as drivers registered
/// them.
#[derive(Default)]
struct Registry {
    block: Vec<Arc<Block>>,
    entropy: Vec<(String, Arc<dyn EntropySource>)>,
    net: Vec<(String, Arc<dyn NetDevice>)>,
}

static REGISTRY: spin::Mutex<Registry> = spin::Mutex::new(Registry {
    block: Vec::new(),
    entropy: Vec::new(),
    net: Vec::new(),
});

/// Linux's major number for virtio disks is dynamic; Kestrel uses 254, with 16
/// minors per disk (partitions would take the others), as Linux numbers them.
pub const VIRTIO_BLOCK_MAJOR: u32 = 254;

/// The block device with device number `rdev`.
pub fn block_by_rdev(rdev: u64) -> Option<Arc<Block>> {
    REGISTRY
        .lock()
        .block
        .iter()
        .find(|b| b.rdev == rdev)
        .cloned()
}

/// Registers a block device the kernel itself makes (a loop device), with its
/// name and number; its /dev node is the caller's business.
pub fn add_block(name: String, rdev: u64, d: Arc<dyn BlockDevice>) -> Arc<Block> {
    let stats = Arc::new(diskstats::DiskStats::default());
    let b = Arc::new(Block {
        name,
        rdev,
        dev: Arc::new(diskstats::Counted {
            inner: d,
            stats: stats.clone(),
        }),
        stats,
        policy: BlockPolicy::default(),
    });
    REGISTRY.lock().block.push(b.clone());
    b
}

/// Takes block device `rdev` out of the registry (LOOP_CTL_REMOVE).
pub fn remove_block(rdev: u64) {
    REGISTRY.lock().block.retain(|b| b.rdev != rdev);
}

/// Every registered block device.
pub fn block_devices() -> Vec<Arc<Block>> {
    REGISTRY.lock().block.clone()
}

/// The first hardware random source, if any.
pub fn entropy_source() -> Option<Arc<dyn EntropySource>> {
    REGISTRY.lock().entropy.first().map(|(_, e)| e.clone())
}

/// Every network interface a driver registered: (name, device).
pub fn net_devices() -> Vec<(String, Arc<dyn NetDevice>)> {
    REGISTRY.lock().net.clone()
}

/// Every PCI function found, with the driver that took it.
pub fn found() -> Vec<(Arc<pci::Function>, Option<&'static str>)> {
    FOUND
        .lock()
        .iter()
        .map(|f| (f.function.clone(), f.driver))
        .collect()
}

/// What the kernel gives every driver.
pub struct KernelHost;

impl Host for KernelHost {
    fn spawn(&self, name: &'static str, fut: BoxFuture<'static, ()>) {
        task::spawn(name, fut).detach();
    }
    fn sleep(&self, ns: u64) -> BoxFuture<'static, ()> {
        alloc::boxed::Box::pin(task::sleep(ns))
    }
    fn now_ns(&self) -> u64 {
        time::now_ns()
    }
    fn dma(&self) -> Arc<dyn DmaAllocator> {
        Arc::new(crate::mm::dma::KernelDma)
    }
    fn register(&self, dev: ClassDevice) {
        register(dev);
    }
}

/// Takes a device a driver offers: names it, and gives it its `/dev` node.
fn register(dev: ClassDevice) {
    let mut r = REGISTRY.lock();
    match dev {
        ClassDevice::Block(stem, d) => {
            // Only disks count toward the letter (loop devices are blocks too).
            let n = r
                .block
                .iter()
                .filter(|b| kestrel_abi::fs::major(b.rdev) == VIRTIO_BLOCK_MAJOR)
                .count();
            let name = alloc::format!("{stem}{}", (b'a' + (n % 26) as u8) as char);
            let rdev = kestrel_abi::fs::makedev(VIRTIO_BLOCK_MAJOR, (n as u32) * 16);
            let info = d.info();
            log::info!(
                "block: {name}: {} sectors ({} MiB){}",
                info.sectors,
                info.sectors / 2048,
                if info.read_only { ", read-only" } else { "" }
            );
            let stats = Arc::new(diskstats::DiskStats::default());
            let dev = Arc::new(diskstats::Counted {
                inner: d,
                stats: stats.clone(),
            });
            r.block.push(Arc::new(Block {
                name: name.clone(),
                rdev,
                dev,
                stats,
                policy: BlockPolicy::default(),
            }));
            drop(r);
            crate::fs::devices::add_node(
                name.as_bytes(),
                kestrel_vfs::NodeKind::BlockDev(rdev),
                0o660,
            );
        }
        ClassDevice::Entropy(stem, e) => {
            let first = r.entropy.is_empty();
            r.entropy.push((stem.to_string(), e));
            drop(r);
            if first {
                crate::fs::devices::add_node(
                    b"hwrng",
                    kestrel_vfs::NodeKind::CharDev(kestrel_abi::fs::makedev(10, 183)),
                    0o600,
                );
                crate::random::hardware_source_arrived();
            }
        }
        ClassDevice::Net(stem, d) => {
            let name = alloc::format!("{stem}{}", r.net.len());
            log::info!(
                "net: {name}: MAC {:02x?}, link {}",
                d.mac(),
                if d.link_up() { "up" } else { "down" }
            );
            r.net.push((name, d));
        }
    }
}

/// Enumerates PCI (through ECAM if the firmware describes it, else the ports),
/// logs every function, and probes the built-in drivers. Called once, by the
/// boot's device setup task (the module's doc), after the file systems exist
/// (drivers add `/dev` nodes).
pub fn init(rsdp: Option<u64>) {
    let ecam = pci::Ecam::new(&crate::arch::acpi::parse_mcfg(rsdp));
    let (cs, ranges): (&'static dyn ConfigSpace, _) = if ecam.is_empty() {
        static PORTS: pci::PortConfig = pci::PortConfig::new();
        (&PORTS, alloc::vec![(0u16, 0u8..=255u8)])
    } else {
        let ranges = ecam.ranges();
        (
            alloc::boxed::Box::leak(alloc::boxed::Box::new(ecam)),
            ranges,
        )
    };
    CONFIG.call_once(|| cs);
    let mut found = Vec::new();
    for (segment, buses) in ranges {
        found.extend(kestrel_driver_kit::pci::enumerate(cs, segment, buses));
    }
    let mut functions: Vec<pci::Function> = found
        .into_iter()
        .map(|(addr, id)| pci::Function::new(cs, addr, id))
        .collect();
    // Memory already taken: RAM, and BARs the firmware placed.
    let mut used: Vec<(u64, u64)> = crate::boot::info()
        .memory()
        .iter()
        .map(|r| (r.start, r.start + r.len))
        .collect();
    for f in &functions {
        for b in f.bars().iter().flatten() {
            if let Bar::Memory { addr, size, .. } = *b
                && addr != 0
            {
                used.push((addr, addr + size));
            }
        }
    }
    crate::time::stamp("pci-scan");
    let mut space = pci::AddressSpace::new(used);
    for f in &mut functions {
        f.assign(&mut space);
    }
    let host: Arc<dyn Host> = Arc::new(KernelHost);
    for function in functions {
        let function = Arc::new(function);
        let addr = kestrel_driver_kit::PciFunction::address(&*function);
        let id = kestrel_driver_kit::PciFunction::id(&*function);
        let driver = probe(&function, &host);
        log::info!(
            "pci {addr} {:04x}:{:04x} class {:06x}{}",
            id.vendor,
            id.device,
            id.class_code(),
            match driver {
                Some(d) => alloc::format!(" -> {d}"),
                None => String::new(),
            }
        );
        FOUND.lock().push(Found { function, driver });
    }
}

/// Offers `function` to each matching driver in turn; returns the one that took it.
fn probe(function: &Arc<pci::Function>, host: &Arc<dyn Host>) -> Option<&'static str> {
    let id = kestrel_driver_kit::PciFunction::id(&**function);
    for d in drivers().iter().filter(|d| d.matches(&id)) {
        function.set_driver(d.name());
        match d.probe(function.clone(), host.clone()) {
            Ok(()) => return Some(d.name()),
            Err(e) => log::warn!(
                "pci {}: {} did not take it: {e}",
                kestrel_driver_kit::PciFunction::address(&**function),
                d.name()
            ),
        }
    }
    None
}

/// One line per BAR for the boot log and /sys (`resource`): start, end, flags.
pub fn resource_lines(bars: &[Option<Bar>; 6]) -> String {
    let mut s = String::new();
    for b in bars {
        let (start, size, flags) = match *b {
            Some(Bar::Memory {
                addr,
                size,
                wide,
                prefetchable,
            }) => (
                addr,
                size,
                0x200 | if wide { 0x10_0000 } else { 0 } | if prefetchable { 0x2000 } else { 0 },
            ),
            Some(Bar::Io { port, size }) => (u64::from(port), u64::from(size), 0x100),
            None => (0, 0, 0),
        };
        let end = if size == 0 { 0 } else { start + size - 1 };
        s.push_str(&alloc::format!(
            "0x{start:016x} 0x{end:016x} 0x{flags:016x}\n"
        ));
    }
    s
}

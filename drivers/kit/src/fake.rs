//! Fakes of the kernel's side, for testing drivers on the host: registers backed
//! by memory, DMA memory a fake device can reach by bus address, a PCI function
//! with a configuration space and BARs, and a host that collects spawned tasks
//! and runs them on demand.
//!
//! A fake device is test code that reads and writes these (through
//! [`FakeDma::read_at`] and friends) the way the real device would.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use crate::class::ClassDevice;
use crate::device::ProbeError;
use crate::dma::{DmaAllocator, DmaBuffer, DmaError, DmaMemory};
use crate::irq::Irq;
use crate::pci::{Bar, PciAddress, PciFunction, PciId};
use crate::regs::Registers;
use crate::{BoxFuture, Host};

/// What a fake device does after a register write: (offset, value, registers).
type WriteHook = Box<dyn FnMut(usize, u64, &mut [u8]) + Send>;

/// What a fake device does after a register read: (offset, size, registers).
type ReadHook = Box<dyn FnMut(usize, usize, &mut [u8]) + Send>;

/// Registers backed by bytes, with hooks that see every write (so a fake device
/// can react to a doorbell or a status change) and every read (so it can clear a
/// read-to-clear register, such as a virtio ISR status byte).
pub struct FakeRegisters {
    bytes: spin::Mutex<Vec<u8>>,
    on_write: spin::Mutex<Option<WriteHook>>,
    on_read: spin::Mutex<Option<ReadHook>>,
}

impl FakeRegisters {
    /// `len` bytes of zeroed registers.
    pub fn new(len: usize) -> Arc<Self> {
        Arc::new(Self {
            bytes: spin::Mutex::new(vec![0; len]),
            on_write: spin::Mutex::new(None),
            on_read: spin::Mutex::new(None),
        })
    }

    /// Calls `hook(offset, value, registers)` after each write.
    pub fn on_write(&self, hook: impl FnMut(usize, u64, &mut [u8]) + Send + 'static) {
        *self.on_write.lock() = Some(Box::new(hook));
    }

    /// Calls `hook(offset, size, registers)` after each read; the reader has
    /// already got the value, so the hook may change it for the next read.
    pub fn on_read(&self, hook: impl FnMut(usize, usize, &mut [u8]) + Send + 'static) {
        *self.on_read.lock() = Some(Box::new(hook));
    }

    /// Sets bytes directly (the device's side).
    pub fn poke(&self, offset: usize, data: &[u8]) {
        self.bytes.lock()[offset..offset + data.len()].copy_from_slice(data);
    }

    /// Reads bytes directly (the device's side).
    pub fn peek(&self, offset: usize, len: usize) -> Vec<u8> {
        self.bytes.lock()[offset..offset + len].to_vec()
    }

    fn get(&self, offset: usize, n: usize) -> u64 {
        let mut b = self.bytes.lock();
        if offset + n > b.len() {
            return !0;
        }
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[offset..offset + n]);
        if let Some(h) = self.on_read.lock().as_mut() {
            h(offset, n, &mut b);
        }
        u64::from_le_bytes(v)
    }

    fn set(&self, offset: usize, n: usize, value: u64) {
        let mut b = self.bytes.lock();
        if offset + n > b.len() {
            return;
        }
        b[offset..offset + n].copy_from_slice(&value.to_le_bytes()[..n]);
        let mut hook = self.on_write.lock();
        if let Some(h) = hook.as_mut() {
            h(offset, value, &mut b);
        }
    }
}

impl Registers for FakeRegisters {
    fn len(&self) -> usize {
        self.bytes.lock().len()
    }
    fn read8(&self, offset: usize) -> u8 {
        self.get(offset, 1) as u8
    }
    fn read16(&self, offset: usize) -> u16 {
        self.get(offset, 2) as u16
    }
    fn read32(&self, offset: usize) -> u32 {
        self.get(offset, 4) as u32
    }
    fn write8(&self, offset: usize, value: u8) {
        self.set(offset, 1, value.into());
    }
    fn write16(&self, offset: usize, value: u16) {
        self.set(offset, 2, value.into());
    }
    fn write32(&self, offset: usize, value: u32) {
        self.set(offset, 4, value.into());
    }
}

/// DMA memory on the heap, at made-up bus addresses a fake device can use.
#[derive(Default)]
pub struct FakeDma {
    next: AtomicU64,
    live: spin::Mutex<BTreeMap<u64, Arc<spin::Mutex<Vec<u8>>>>>,
    /// Allocations left before `alloc` fails (None: no limit).
    budget: spin::Mutex<Option<usize>>,
}

struct FakeMemory {
    addr: u64,
    bytes: Arc<spin::Mutex<Vec<u8>>>,
    owner: Arc<FakeDma>,
}

impl DmaMemory for FakeMemory {
    fn device_addr(&self) -> u64 {
        self.addr
    }
    fn len(&self) -> usize {
        self.bytes.lock().len()
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&self.bytes.lock()[offset..offset + buf.len()]);
    }
    fn write(&self, offset: usize, data: &[u8]) {
        self.bytes.lock()[offset..offset + data.len()].copy_from_slice(data);
    }
}

impl Drop for FakeMemory {
    fn drop(&mut self) {
        self.owner.live.lock().remove(&self.addr);
    }
}

impl FakeDma {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            next: AtomicU64::new(0x1000_0000),
            ..Default::default()
        })
    }

    /// Places the next buffers from bus address `addr` on (they start at
    /// 256 MiB otherwise): for a device that reaches only low memory, or to
    /// see a driver cope with buffers above 4 GiB.
    pub fn place_next_at(&self, addr: u64) {
        self.next.store(addr, Ordering::Relaxed);
    }

    /// Makes `alloc` fail after `n` more allocations.
    pub fn fail_after(&self, n: usize) {
        *self.budget.lock() = Some(n);
    }

    /// Buffers allocated and not yet freed.
    pub fn live(&self) -> usize {
        self.live.lock().len()
    }

    /// The device reads `len` bytes at bus address `addr` (None if no live buffer
    /// holds them all: a wild access).
    pub fn read_at(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let live = self.live.lock();
        let (&base, mem) = live.range(..=addr).next_back()?;
        let mem = mem.lock();
        let off = (addr - base) as usize;
        (off + len <= mem.len()).then(|| mem[off..off + len].to_vec())
    }

    /// The device writes `data` at bus address `addr`; false for a wild write.
    pub fn write_at(&self, addr: u64, data: &[u8]) -> bool {
        let live = self.live.lock();
        let Some((&base, mem)) = live.range(..=addr).next_back() else {
            return false;
        };
        let mut mem = mem.lock();
        let off = (addr - base) as usize;
        if off + data.len() > mem.len() {
            return false;
        }
        mem[off..off + data.len()].copy_from_slice(data);
        true
    }

    /// A little-endian u16 at `addr` (the device reading a ring index).
    pub fn read_u16(&self, addr: u64) -> Option<u16> {
        self.read_at(addr, 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    /// A little-endian u32 at `addr`.
    pub fn read_u32(&self, addr: u64) -> Option<u32> {
        self.read_at(addr, 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian u64 at `addr`.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.read_at(addr, 8).map(|b| {
            let mut v = [0; 8];
            v.copy_from_slice(&b);
            u64::from_le_bytes(v)
        })
    }
}

/// The allocator side of a shared [`FakeDma`].
pub struct FakeDmaAllocator(pub Arc<FakeDma>);

impl DmaAllocator for FakeDmaAllocator {
    fn alloc(&self, len: usize) -> Result<DmaBuffer, DmaError> {
        if len == 0 || len > 4 << 20 {
            return Err(DmaError::BadSize);
        }
        if let Some(b) = self.0.budget.lock().as_mut() {
            if *b == 0 {
                return Err(DmaError::NoMemory);
            }
            *b -= 1;
        }
        let len = len.next_multiple_of(4096);
        let addr = self.0.next.fetch_add(len as u64 + 4096, Ordering::Relaxed);
        let bytes = Arc::new(spin::Mutex::new(vec![0; len]));
        self.0.live.lock().insert(addr, bytes.clone());
        Ok(DmaBuffer::from_memory(Box::new(FakeMemory {
            addr,
            bytes,
            owner: self.0.clone(),
        })))
    }
}

/// A PCI function with a 4 KiB configuration space and fake BARs.
pub struct FakePci {
    pub addr: PciAddress,
    pub id: PciId,
    pub config: spin::Mutex<Vec<u8>>,
    pub bars: spin::Mutex<BTreeMap<u8, Arc<FakeRegisters>>>,
    /// The interrupt sources handed out (the test fires them).
    pub irqs: spin::Mutex<Vec<Arc<Irq>>>,
    /// How many MSI-X vectors the function offers (0: one source, as MSI or
    /// INTx would give).
    pub msix_vectors: usize,
    pub bus_master: core::sync::atomic::AtomicBool,
}

impl FakePci {
    /// A function with these IDs, `msix_vectors` MSI-X vectors and no BARs yet.
    pub fn new(id: PciId, msix_vectors: usize) -> Arc<Self> {
        let mut config = vec![0u8; 4096];
        config[0..2].copy_from_slice(&id.vendor.to_le_bytes());
        config[2..4].copy_from_slice(&id.device.to_le_bytes());
        config[8] = id.revision;
        config[9] = id.prog_if;
        config[10] = id.subclass;
        config[11] = id.class;
        config[0x2c..0x2e].copy_from_slice(&id.subsystem_vendor.to_le_bytes());
        config[0x2e..0x30].copy_from_slice(&id.subsystem.to_le_bytes());
        Arc::new(Self {
            addr: PciAddress {
                segment: 0,
                bus: 0,
                device: 3,
                function: 0,
            },
            id,
            config: spin::Mutex::new(config),
            bars: spin::Mutex::new(BTreeMap::new()),
            irqs: spin::Mutex::new(Vec::new()),
            msix_vectors,
            bus_master: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Gives the function memory BAR `index` backed by `regs`.
    pub fn set_bar(&self, index: u8, regs: Arc<FakeRegisters>) {
        self.bars.lock().insert(index, regs);
    }

    /// Appends a capability with `body` (the bytes after id and next) at
    /// `offset`, linking it into the list.
    pub fn add_capability(&self, offset: u16, id: u8, body: &[u8]) {
        let mut c = self.config.lock();
        c[6] |= 1 << 4; // status: capabilities list
        // Walk to the end of the list.
        let mut link = 0x34usize;
        while c[link] != 0 {
            link = usize::from(c[link]) + 1;
        }
        c[link] = offset as u8;
        let o = usize::from(offset);
        c[o] = id;
        c[o + 1] = 0;
        c[o + 2..o + 2 + body.len()].copy_from_slice(body);
    }
}

impl PciFunction for FakePci {
    fn address(&self) -> PciAddress {
        self.addr
    }
    fn id(&self) -> PciId {
        self.id
    }
    fn config_read32(&self, offset: u16) -> u32 {
        let c = self.config.lock();
        let o = usize::from(offset & !3);
        if o + 4 > c.len() {
            return !0;
        }
        u32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]])
    }
    fn config_write32(&self, offset: u16, value: u32) {
        let mut c = self.config.lock();
        let o = usize::from(offset & !3);
        if o + 4 <= c.len() {
            c[o..o + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
    fn bar(&self, index: u8) -> Option<Bar> {
        self.bars.lock().get(&index).map(|r| Bar::Memory {
            addr: 0xfe00_0000 + u64::from(index) * 0x10_0000,
            size: r.len() as u64,
            wide: true,
            prefetchable: false,
        })
    }
    fn map_bar(&self, index: u8) -> Result<Arc<dyn Registers>, ProbeError> {
        self.bars
            .lock()
            .get(&index)
            .map(|r| r.clone() as Arc<dyn Registers>)
            .ok_or(ProbeError::Unsupported("no such BAR"))
    }
    fn enable_bus_master(&self) {
        self.bus_master.store(true, Ordering::SeqCst);
    }
    fn interrupts(&self, wanted: usize) -> Result<Vec<Arc<Irq>>, ProbeError> {
        let n = if self.msix_vectors == 0 {
            1
        } else {
            wanted.clamp(1, self.msix_vectors)
        };
        let v: Vec<Arc<Irq>> = (0..n).map(|_| Arc::new(Irq::new("fake"))).collect();
        *self.irqs.lock() = v.clone();
        Ok(v)
    }
}

/// A host that keeps spawned tasks for the test to run, and registered devices
/// for the test to use. Time stands still unless the test moves it.
pub struct FakeHost {
    pub dma: Arc<FakeDma>,
    pub tasks: spin::Mutex<Vec<BoxFuture<'static, ()>>>,
    pub devices: spin::Mutex<Vec<ClassDevice>>,
    pub now: AtomicU64,
}

impl FakeHost {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            dma: FakeDma::new(),
            tasks: spin::Mutex::new(Vec::new()),
            devices: spin::Mutex::new(Vec::new()),
            now: AtomicU64::new(0),
        })
    }

    /// Polls every spawned task once, `rounds` times over (driver tasks are actors
    /// that wait for interrupts: they rarely finish).
    pub fn run(&self, rounds: usize) {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..rounds {
            let mut tasks = core::mem::take(&mut *self.tasks.lock());
            tasks.retain_mut(|t| t.as_mut().poll(&mut cx) == Poll::Pending);
            let mut slot = self.tasks.lock();
            tasks.append(&mut slot);
            *slot = tasks;
        }
    }
}

impl Host for FakeHost {
    fn spawn(&self, _name: &'static str, fut: BoxFuture<'static, ()>) {
        self.tasks.lock().push(fut);
    }
    fn sleep(&self, _ns: u64) -> BoxFuture<'static, ()> {
        // Fake time does not pass by itself: a sleep is over at once, so a timeout
        // in a driver fires as soon as the task is polled again.
        Box::pin(async {})
    }
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn dma(&self) -> Arc<dyn DmaAllocator> {
        Arc::new(FakeDmaAllocator(self.dma.clone()))
    }
    fn register(&self, dev: ClassDevice) {
        self.devices.lock().push(dev);
    }
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: core::future::Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    core::pin::Pin::new(fut).poll(&mut cx)
}

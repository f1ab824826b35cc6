//! A fake virtio device on the kit's fakes, for host tests of this crate and of
//! the drivers built on it.
//!
//! [`FakeVirtio`] is a [`FakePci`] with the modern virtio capabilities, all in
//! BAR 4 (as QEMU lays them out): common configuration at 0x0000, ISR at 0x1000,
//! device configuration at 0x2000, notifications at 0x3000 (4 bytes apart). A
//! write hook on the BAR plays the device's side of the common configuration
//! (feature windows, status, per-queue registers behind `queue_select`); a read
//! hook clears the ISR when it is read.
//!
//! The rings are reached the way a device reaches them, by bus address through
//! [`FakeDma`]: the test takes the next chain the driver made available with
//! [`FakeVirtio::pop`], answers it with [`FakeVirtio::complete`] (or forges a
//! used entry with [`FakeVirtio::push_used`]) and raises the queue's interrupt
//! with [`FakeVirtio::interrupt`]. [`FakeVirtio::serve`] does all three for a
//! handler. Anything a real device would trip over (a wild address, a loop in a
//! chain, a writable buffer before a readable one, a bad notification) is
//! recorded in [`FakeVirtio::errors`], which a test expects to stay empty.
//!
//! The interrupts are the [`Irq`]s the driver got from [`FakePci::interrupts`];
//! the fake function says MSI-X is enabled when it has vectors.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use kestrel_driver_kit::fake::{FakeDma, FakePci, FakeRegisters};
use kestrel_driver_kit::pci::{PciId, cap, msix};
use kestrel_driver_kit::{Irq, PciFunction};

use crate::VIRTIO_PCI_VENDOR_ID;
use crate::features::VIRTIO_F_VERSION_1;
use crate::pci::{
    VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG,
    VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_ISR_CONFIG, VIRTIO_PCI_ISR_QUEUE,
    common,
};
use crate::queue::{DESC_SIZE, RING_HEADER, USED_ELEM_SIZE, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use crate::status::VIRTIO_CONFIG_S_FEATURES_OK;

/// The BAR holding every virtio register block.
pub const BAR: u8 = 4;
pub const COMMON_AT: usize = 0x0000;
pub const ISR_AT: usize = 0x1000;
pub const DEVICE_AT: usize = 0x2000;
pub const NOTIFY_AT: usize = 0x3000;
pub const NOTIFY_OFF_MULTIPLIER: u32 = 4;
pub const BAR_LEN: usize = 0x4000;

/// What the fake device is.
#[derive(Debug, Clone)]
pub struct FakeVirtioOptions {
    /// `VIRTIO_ID_*`.
    pub device_type: u16,
    /// Feature bits offered.
    pub features: u64,
    /// Each queue's maximum size (0: the queue is not available).
    pub queue_sizes: Vec<u16>,
    /// MSI-X vectors (0: only the INTx line).
    pub msix_vectors: usize,
    /// The device configuration (none if empty).
    pub device_config: Vec<u8>,
    /// A transitional PCI device ID (`0x1001` for a disk: QEMU's default)
    /// instead of `0x1040 + type`; the type is in the subsystem ID either way.
    pub transitional: bool,
    /// Clear FEATURES_OK whatever the driver accepts.
    pub refuse_features_ok: bool,
}

impl FakeVirtioOptions {
    /// A modern device offering VERSION_1, with one MSI-X vector per queue plus
    /// one for configuration changes.
    pub fn new(device_type: u16, queue_sizes: &[u16]) -> Self {
        Self {
            device_type,
            features: VIRTIO_F_VERSION_1,
            queue_sizes: queue_sizes.to_vec(),
            msix_vectors: queue_sizes.len() + 1,
            device_config: Vec::new(),
            transitional: false,
            refuse_features_ok: false,
        }
    }
}

/// A chain the driver made available, as the device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its head descriptor (what goes back in the used ring).
    pub head: u16,
    /// The device-readable buffers, concatenated.
    pub readable: Vec<u8>,
    /// The device-writable buffers: (bus address, length).
    pub writable: Vec<(u64, u32)>,
}

impl Chain {
    /// Bytes the device may write.
    pub fn writable_len(&self) -> usize {
        self.writable.iter().map(|&(_, l)| l as usize).sum()
    }
}

/// One queue's registers and the device's place in its rings.
#[derive(Debug, Clone, Default)]
pub struct FakeQueue {
    pub max: u16,
    pub size: u16,
    pub vector: u16,
    pub enable: u16,
    pub desc: u64,
    pub driver: u64,
    pub device: u64,
    /// The next available-ring entry the device will take.
    pub last_avail: u16,
    /// The device's used-ring index.
    pub used_idx: u16,
    /// Notifications received.
    pub notifications: usize,
    /// Writable buffers of chains taken and not yet answered, by head.
    popped: BTreeMap<u16, Vec<(u64, u32)>>,
}

impl FakeQueue {
    fn new(max: u16) -> Self {
        Self {
            max,
            size: max,
            vector: VIRTIO_MSI_NO_VECTOR,
            ..Default::default()
        }
    }

    fn reset(&mut self) {
        *self = Self::new(self.max);
    }
}

struct DeviceState {
    features: u64,
    msix_vectors: usize,
    refuse_features_ok: bool,
    driver_feature_select: u32,
    driver_features: u64,
    status_log: Vec<u8>,
    config_vector: u16,
    queue_select: u16,
    queues: Vec<FakeQueue>,
    /// Applied to the device configuration at the next read of it, with a new
    /// generation: a change that lands in the middle of the driver's read.
    change_during_read: Option<(usize, Vec<u8>)>,
    errors: Vec<String>,
}

/// A virtio device for tests. See the module documentation.
pub struct FakeVirtio {
    pub pci: Arc<FakePci>,
    pub bar: Arc<FakeRegisters>,
    pub dma: Arc<FakeDma>,
    state: Arc<spin::Mutex<DeviceState>>,
}

/// Adds a `virtio_pci_cap` at `at` in `pci`'s configuration space: block
/// `cfg_type` at `offset..offset + length` of BAR `bar` (a notify capability
/// gets [`NOTIFY_OFF_MULTIPLIER`]).
pub fn add_virtio_cap(pci: &FakePci, at: u16, cfg_type: u8, bar: u8, offset: usize, length: usize) {
    let notify = cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG;
    let mut body = vec![if notify { 20 } else { 16 }, cfg_type, bar, 0, 0, 0];
    body.extend_from_slice(&(offset as u32).to_le_bytes());
    body.extend_from_slice(&(length as u32).to_le_bytes());
    if notify {
        body.extend_from_slice(&NOTIFY_OFF_MULTIPLIER.to_le_bytes());
    }
    pci.add_capability(at, cap::VENDOR, &body);
}

impl FakeVirtio {
    /// A device whose rings live in `dma` (give it the `FakeHost`'s).
    pub fn new(options: FakeVirtioOptions, dma: Arc<FakeDma>) -> Arc<Self> {
        let o = options;
        let device = if o.transitional {
            // The legacy IDs (spec 4.1.2.1); other types had none.
            match o.device_type {
                1 => 0x1000,
                2 => 0x1001,
                5 => 0x1002,
                3 => 0x1003,
                8 => 0x1004,
                4 => 0x1005,
                9 => 0x1009,
                _ => 0x103f,
            }
        } else {
            0x1040 + o.device_type
        };
        let id = PciId {
            vendor: VIRTIO_PCI_VENDOR_ID,
            device,
            subsystem_vendor: VIRTIO_PCI_VENDOR_ID,
            subsystem: o.device_type,
            revision: if o.transitional { 0 } else { 1 },
            ..Default::default()
        };
        let pci = FakePci::new(id, o.msix_vectors);
        let nq = o.queue_sizes.len();
        add_virtio_cap(
            &pci,
            0x40,
            VIRTIO_PCI_CAP_COMMON_CFG,
            BAR,
            COMMON_AT,
            0x1000,
        );
        add_virtio_cap(
            &pci,
            0x50,
            VIRTIO_PCI_CAP_NOTIFY_CFG,
            BAR,
            NOTIFY_AT,
            0x1000,
        );
        add_virtio_cap(&pci, 0x68, VIRTIO_PCI_CAP_ISR_CFG, BAR, ISR_AT, 1);
        if !o.device_config.is_empty() {
            add_virtio_cap(
                &pci,
                0x78,
                VIRTIO_PCI_CAP_DEVICE_CFG,
                BAR,
                DEVICE_AT,
                o.device_config.len(),
            );
        }
        if o.msix_vectors > 0 {
            // The kernel's side would enable MSI-X when handing out vectors; the
            // fake has it enabled from the start. Table in BAR 1, PBA after it.
            let control = (o.msix_vectors as u16 - 1) | msix::ENABLE;
            let mut body = control.to_le_bytes().to_vec();
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(&(0x800u32 | 1).to_le_bytes());
            pci.add_capability(0x90, cap::MSIX, &body);
        }

        let bar = FakeRegisters::new(BAR_LEN);
        bar.poke(COMMON_AT + common::NUM_QUEUES, &(nq as u16).to_le_bytes());
        bar.poke(
            COMMON_AT + common::CONFIG_MSIX_VECTOR,
            &VIRTIO_MSI_NO_VECTOR.to_le_bytes(),
        );
        bar.poke(DEVICE_AT, &o.device_config);
        let state = Arc::new(spin::Mutex::new(DeviceState {
            features: o.features,
            msix_vectors: o.msix_vectors,
            refuse_features_ok: o.refuse_features_ok,
            driver_feature_select: 0,
            driver_features: 0,
            status_log: Vec::new(),
            config_vector: VIRTIO_MSI_NO_VECTOR,
            queue_select: 0,
            queues: o.queue_sizes.iter().map(|&m| FakeQueue::new(m)).collect(),
            change_during_read: None,
            errors: Vec::new(),
        }));
        {
            let mut b = bar.peek(0, BAR_LEN);
            load_queue(&state.lock(), &mut b);
            bar.poke(0, &b);
        }
        let s = state.clone();
        bar.on_write(move |offset, value, b| on_write(&mut s.lock(), offset, value, b));
        let s = state.clone();
        bar.on_read(move |offset, _, b| {
            if offset == ISR_AT {
                b[ISR_AT] = 0;
            }
            if (DEVICE_AT..NOTIFY_AT).contains(&offset)
                && let Some((at, bytes)) = s.lock().change_during_read.take()
            {
                b[DEVICE_AT + at..DEVICE_AT + at + bytes.len()].copy_from_slice(&bytes);
                b[COMMON_AT + common::CONFIG_GENERATION] =
                    b[COMMON_AT + common::CONFIG_GENERATION].wrapping_add(1);
            }
        });
        pci.set_bar(BAR, bar.clone());
        Arc::new(Self {
            pci,
            bar,
            dma,
            state,
        })
    }

    /// The PCI function, as a probe gets it.
    pub fn function(&self) -> Arc<dyn PciFunction> {
        self.pci.clone()
    }

    /// Every status byte the driver wrote, in order.
    pub fn status_log(&self) -> Vec<u8> {
        self.state.lock().status_log.clone()
    }

    /// The status byte now.
    pub fn status(&self) -> u8 {
        self.bar.peek(COMMON_AT + common::DEVICE_STATUS, 1)[0]
    }

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.state.lock().driver_features
    }

    /// The configuration-change MSI-X vector the driver chose.
    pub fn config_vector(&self) -> u16 {
        self.state.lock().config_vector
    }

    /// Queue `q`'s registers and ring positions.
    pub fn queue(&self, q: u16) -> FakeQueue {
        self.state.lock().queues[usize::from(q)].clone()
    }

    /// What went wrong so far, from the device's point of view.
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().errors.clone()
    }

    fn error(&self, e: String) {
        self.state.lock().errors.push(e);
    }

    /// Takes the next chain the driver made available on queue `q`.
    pub fn pop(&self, q: u16) -> Option<Chain> {
        let (desc, driver, size, at) = {
            let st = self.state.lock();
            let fq = &st.queues[usize::from(q)];
            if fq.enable == 0 || fq.size == 0 {
                return None;
            }
            (fq.desc, fq.driver, fq.size, fq.last_avail)
        };
        let Some(avail_idx) = self.dma.read_u16(driver + 2) else {
            self.error(format!(
                "queue {q}: available ring at {driver:#x} unreadable"
            ));
            return None;
        };
        if avail_idx == at {
            return None;
        }
        let slot = driver + (RING_HEADER + 2 * usize::from(at % size)) as u64;
        let head = self.dma.read_u16(slot)?;
        let mut chain = Chain {
            head,
            readable: Vec::new(),
            writable: Vec::new(),
        };
        let mut id = head;
        let mut steps = 0;
        loop {
            if id >= size || steps == size {
                self.error(format!(
                    "queue {q}: chain at {head} has a bad link or a loop"
                ));
                break;
            }
            steps += 1;
            let d = desc + (DESC_SIZE * usize::from(id)) as u64;
            let (Some(addr), Some(len), Some(flags), Some(next)) = (
                self.dma.read_u64(d),
                self.dma.read_u32(d + 8),
                self.dma.read_u16(d + 12),
                self.dma.read_u16(d + 14),
            ) else {
                self.error(format!("queue {q}: descriptor table unreadable"));
                break;
            };
            if flags & VRING_DESC_F_WRITE != 0 {
                chain.writable.push((addr, len));
            } else if !chain.writable.is_empty() {
                self.error(format!(
                    "queue {q}: chain at {head}: a readable buffer after a writable one"
                ));
            } else {
                match self.dma.read_at(addr, len as usize) {
                    Some(bytes) => chain.readable.extend_from_slice(&bytes),
                    None => self.error(format!(
                        "queue {q}: chain at {head}: wild read of {len} bytes at {addr:#x}"
                    )),
                }
            }
            if flags & VRING_DESC_F_NEXT == 0 {
                break;
            }
            id = next;
        }
        let mut st = self.state.lock();
        let fq = &mut st.queues[usize::from(q)];
        fq.last_avail = at.wrapping_add(1);
        fq.popped.insert(head, chain.writable.clone());
        Some(chain)
    }

    /// Answers the chain at `head` of queue `q`: writes `data` into its writable
    /// buffers (as much as fits) and returns it in the used ring with the
    /// length written. False if a write went wild or `head` was not taken.
    pub fn complete(&self, q: u16, head: u16, data: &[u8]) -> bool {
        let segs = self.state.lock().queues[usize::from(q)]
            .popped
            .remove(&head);
        let Some(segs) = segs else {
            self.error(format!("queue {q}: completing {head}, which was not taken"));
            return false;
        };
        let mut left = data;
        let mut ok = true;
        for (addr, len) in segs {
            let n = left.len().min(len as usize);
            if n > 0 && !self.dma.write_at(addr, &left[..n]) {
                self.error(format!(
                    "queue {q}: wild write of {n} bytes at {addr:#x} (freed buffer?)"
                ));
                ok = false;
            }
            left = &left[n..];
        }
        let written = data.len() - left.len();
        self.push_used(q, u32::from(head), written as u32) && ok
    }

    /// Writes a used-ring entry (`id`, `len`) whatever it says, and bumps the
    /// used index. False if the ring is not there.
    pub fn push_used(&self, q: u16, id: u32, len: u32) -> bool {
        let (device, size, idx) = {
            let st = self.state.lock();
            let fq = &st.queues[usize::from(q)];
            (fq.device, fq.size, fq.used_idx)
        };
        let at = device + (RING_HEADER + USED_ELEM_SIZE * usize::from(idx % size)) as u64;
        let mut entry = id.to_le_bytes().to_vec();
        entry.extend_from_slice(&len.to_le_bytes());
        let ok = self.dma.write_at(at, &entry) && self.set_used_idx(q, idx.wrapping_add(1));
        if !ok {
            self.error(format!("queue {q}: used ring unwritable"));
        }
        ok
    }

    /// Sets the used ring's index (without writing entries: a lying device).
    pub fn set_used_idx(&self, q: u16, idx: u16) -> bool {
        let device = {
            let mut st = self.state.lock();
            let fq = &mut st.queues[usize::from(q)];
            fq.used_idx = idx;
            fq.device
        };
        self.dma.write_at(device + 2, &idx.to_le_bytes())
    }

    /// Sets or clears `VRING_USED_F_NO_NOTIFY` in queue `q`'s used ring.
    pub fn set_no_notify(&self, q: u16, on: bool) {
        let device = self.state.lock().queues[usize::from(q)].device;
        self.dma.write_at(device, &u16::from(on).to_le_bytes());
    }

    /// Raises queue `q`'s interrupt: its MSI-X vector, or the INTx line with
    /// the ISR's queue bit. False if the queue has no vector.
    pub fn interrupt(&self, q: u16) -> bool {
        let (msix, vector) = {
            let st = self.state.lock();
            (st.msix_vectors > 0, st.queues[usize::from(q)].vector)
        };
        self.raise(msix, vector, VIRTIO_PCI_ISR_QUEUE)
    }

    /// Changes `bytes` of the device configuration at `offset`, with a new
    /// generation, and raises the configuration interrupt.
    pub fn change_config(&self, offset: usize, bytes: &[u8]) -> bool {
        self.bar.poke(DEVICE_AT + offset, bytes);
        let g = self.bar.peek(COMMON_AT + common::CONFIG_GENERATION, 1)[0];
        self.bar
            .poke(COMMON_AT + common::CONFIG_GENERATION, &[g.wrapping_add(1)]);
        let (msix, vector) = {
            let st = self.state.lock();
            (st.msix_vectors > 0, st.config_vector)
        };
        self.raise(msix, vector, VIRTIO_PCI_ISR_CONFIG)
    }

    /// Makes the next read of the device configuration see `bytes` at `offset`
    /// appear in the middle of it (the generation changes too).
    pub fn change_config_during_next_read(&self, offset: usize, bytes: &[u8]) {
        self.state.lock().change_during_read = Some((offset, bytes.to_vec()));
    }

    /// The ISR byte as it stands (without reading, so without clearing, it).
    pub fn isr(&self) -> u8 {
        self.bar.peek(ISR_AT, 1)[0]
    }

    fn raise(&self, msix: bool, vector: u16, isr_bit: u8) -> bool {
        let irqs: Vec<Arc<Irq>> = self.pci.irqs.lock().clone();
        if msix {
            match irqs.get(usize::from(vector)) {
                Some(irq) => {
                    irq.fire();
                    true
                }
                None => false,
            }
        } else {
            let isr = self.isr();
            self.bar.poke(ISR_AT, &[isr | isr_bit]);
            irqs.first().inspect(|irq| irq.fire()).is_some()
        }
    }

    /// Takes every chain available on queue `q`, answers each with what
    /// `handler` returns, and raises the interrupt once if there were any.
    pub fn serve(&self, q: u16, mut handler: impl FnMut(&Chain) -> Vec<u8>) -> usize {
        let mut n = 0;
        while let Some(chain) = self.pop(q) {
            let reply = handler(&chain);
            self.complete(q, chain.head, &reply);
            n += 1;
        }
        if n > 0 {
            self.interrupt(q);
        }
        n
    }
}

/// Copies the selected queue's registers into the common configuration.
fn load_queue(st: &DeviceState, b: &mut [u8]) {
    let q = st
        .queues
        .get(usize::from(st.queue_select))
        .cloned()
        .unwrap_or_default();
    let c = COMMON_AT;
    let mut put =
        |off: usize, bytes: &[u8]| b[c + off..c + off + bytes.len()].copy_from_slice(bytes);
    put(common::QUEUE_SIZE, &q.size.to_le_bytes());
    put(common::QUEUE_MSIX_VECTOR, &q.vector.to_le_bytes());
    put(common::QUEUE_ENABLE, &q.enable.to_le_bytes());
    put(common::QUEUE_NOTIFY_OFF, &st.queue_select.to_le_bytes());
    put(common::QUEUE_DESC, &q.desc.to_le_bytes());
    put(common::QUEUE_DRIVER, &q.driver.to_le_bytes());
    put(common::QUEUE_DEVICE, &q.device.to_le_bytes());
}

/// Sets the low (`offset % 8 == 0`) or high half of a 64-bit register.
fn set_half(reg: &mut u64, high: bool, value: u64) {
    let v = value & 0xffff_ffff;
    *reg = if high {
        (*reg & 0xffff_ffff) | v << 32
    } else {
        (*reg & !0xffff_ffff) | v
    };
}

/// The device's side of a register write.
fn on_write(st: &mut DeviceState, offset: usize, value: u64, b: &mut [u8]) {
    let c = COMMON_AT;
    if offset >= NOTIFY_AT {
        let q = (offset - NOTIFY_AT) / NOTIFY_OFF_MULTIPLIER as usize;
        match st.queues.get_mut(q) {
            Some(fq) if value == q as u64 => fq.notifications += 1,
            _ => st
                .errors
                .push(format!("notify at {offset:#x} with {value}: no such queue")),
        }
        return;
    }
    let sel = usize::from(st.queue_select);
    let nvec = st.msix_vectors;
    let vector_ok = |v: u16| v == VIRTIO_MSI_NO_VECTOR || usize::from(v) < nvec;
    match offset - c {
        common::DEVICE_FEATURE_SELECT => {
            let half = match value {
                0 => st.features as u32,
                1 => (st.features >> 32) as u32,
                _ => 0,
            };
            b[c + common::DEVICE_FEATURE..c + common::DEVICE_FEATURE + 4]
                .copy_from_slice(&half.to_le_bytes());
        }
        common::DRIVER_FEATURE_SELECT => st.driver_feature_select = value as u32,
        common::DRIVER_FEATURE => match st.driver_feature_select {
            0 => set_half(&mut st.driver_features, false, value),
            1 => set_half(&mut st.driver_features, true, value),
            _ => {}
        },
        common::CONFIG_MSIX_VECTOR => {
            let v = if vector_ok(value as u16) {
                value as u16
            } else {
                VIRTIO_MSI_NO_VECTOR
            };
            st.config_vector = v;
            b[c + common::CONFIG_MSIX_VECTOR..c + common::CONFIG_MSIX_VECTOR + 2]
                .copy_from_slice(&v.to_le_bytes());
        }
        common::DEVICE_STATUS => {
            let status = value as u8;
            st.status_log.push(status);
            if status == 0 {
                st.driver_features = 0;
                st.config_vector = VIRTIO_MSI_NO_VECTOR;
                st.queues.iter_mut().for_each(FakeQueue::reset);
                b[c + common::CONFIG_MSIX_VECTOR..c + common::CONFIG_MSIX_VECTOR + 2]
                    .copy_from_slice(&VIRTIO_MSI_NO_VECTOR.to_le_bytes());
                load_queue(st, b);
            } else if status & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
                let refuse = st.refuse_features_ok
                    || st.driver_features & VIRTIO_F_VERSION_1 == 0
                    || st.driver_features & !st.features != 0;
                if refuse {
                    b[c + common::DEVICE_STATUS] &= !VIRTIO_CONFIG_S_FEATURES_OK;
                }
            }
        }
        common::QUEUE_SELECT => {
            st.queue_select = value as u16;
            load_queue(st, b);
        }
        off @ (common::QUEUE_SIZE
        | common::QUEUE_MSIX_VECTOR
        | common::QUEUE_ENABLE
        | common::QUEUE_DESC..=0x37) => {
            let Some(fq) = st.queues.get_mut(sel) else {
                st.errors
                    .push(format!("write to queue register {off:#x} of no queue"));
                return;
            };
            match off {
                common::QUEUE_SIZE => {
                    let size = value as u16;
                    if !size.is_power_of_two() || size > fq.max {
                        st.errors.push(format!("queue {sel}: bad size {size}"));
                    } else {
                        fq.size = size;
                    }
                }
                common::QUEUE_MSIX_VECTOR => {
                    fq.vector = if vector_ok(value as u16) {
                        value as u16
                    } else {
                        VIRTIO_MSI_NO_VECTOR
                    };
                }
                common::QUEUE_ENABLE => fq.enable = value as u16,
                0x20 | 0x24 => set_half(&mut fq.desc, off == 0x24, value),
                0x28 | 0x2c => set_half(&mut fq.driver, off == 0x2c, value),
                0x30 | 0x34 => set_half(&mut fq.device, off == 0x34, value),
                _ => {}
            }
            load_queue(st, b);
        }
        _ => {}
    }
}

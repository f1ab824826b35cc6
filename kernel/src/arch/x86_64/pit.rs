//! The 8254 PIT, used at boot as a known-frequency reference to calibrate the
//! TSC and the local APIC timer on a machine without an HPET.

use super::port::{inb, outb};

/// The PIT's input clock.
const PIT_HZ: u64 = 1_193_182;

/// Busy-waits `ms` milliseconds (at most 54) on PIT channel 2, calling `start` right
/// after the count begins and returning what `stop` returns right after it ends,
/// with the TSC ticks during which the window's two ends were not observed: from
/// the gate opening to `start` done, and from the last poll that saw the count
/// running to `stop` done. A host that stops the (virtual) CPU at
/// either end makes that large; the caller then measures again.
pub fn measure<T>(ms: u64, start: impl FnOnce(), stop: impl FnOnce() -> T) -> (T, u64) {
    use super::cpu::rdtsc;
    let count = (PIT_HZ * ms.min(54) / 1000) as u16;
    // SAFETY: channel 2 is the speaker timer, unused otherwise; port 0x61 bit 0 gates
    // it, bit 1 (speaker data) stays off, bit 5 reads the channel's output.
    unsafe {
        let gate = inb(0x61);
        outb(0x61, (gate & !0x02) & !0x01);
        outb(0x43, 0b1011_0000); // channel 2, lobyte/hibyte, mode 0 (one-shot)
        outb(0x42, count as u8);
        outb(0x42, (count >> 8) as u8);
        let gate = inb(0x61);
        let opening = rdtsc();
        outb(0x61, (gate & !0x02) | 0x01); // gate high: counting starts
        start();
        let started = rdtsc();
        let mut running = started;
        while inb(0x61) & 0x20 == 0 {
            running = rdtsc();
            core::hint::spin_loop();
        }
        let r = stop();
        let ended = rdtsc();
        outb(0x61, inb(0x61) & !0x01);
        (r, (started - opening) + (ended - running))
    }
}

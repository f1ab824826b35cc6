//! The 16550 UART, as QEMU's `-serial` and every PC's COM1 provide it.
//!
//! The driver is safe code written against [`PortIo`], a two-method view of the
//! UART's eight byte-wide registers; the kernel implements it with `in`/`out`
//! instructions, tests with a fake. Register meanings follow the National
//! Semiconductor PC16550D data sheet.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Byte access to the UART's registers, by offset from its base port (0..=7).
pub trait PortIo {
    /// Reads the register at `offset`.
    fn read(&self, offset: u16) -> u8;
    /// Writes `value` to the register at `offset`.
    fn write(&self, offset: u16, value: u8);
}

/// Register offsets (DLAB = 0 unless noted).
mod reg {
    pub const DATA: u16 = 0; // RBR on read, THR on write; DLL with DLAB = 1
    pub const IER: u16 = 1; // interrupt enable; DLM with DLAB = 1
    pub const FCR: u16 = 2; // FIFO control (write); IIR on read
    pub const LCR: u16 = 3; // line control
    pub const MCR: u16 = 4; // modem control
    pub const LSR: u16 = 5; // line status
}

/// Line status bits.
mod lsr {
    pub const DATA_READY: u8 = 1 << 0;
    pub const THR_EMPTY: u8 = 1 << 5;
}

/// IER: interrupt when received data is available.
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// IER: interrupt when the transmitter holding register (and FIFO) is empty.
const IER_TX_EMPTY: u8 = 1 << 1;
/// Bytes the transmit FIFO holds (16550A): as many may be written at once when
/// the line status says the transmitter is empty.
pub const TX_FIFO: usize = 16;
/// The UART's input clock divided by 16: the divisor for a baud rate is this / baud.
const BASE_BAUD: u32 = 115_200;
/// Bounds the wait for the transmitter, so a missing UART cannot hang the kernel.
const TX_SPIN_LIMIT: u32 = 100_000;

/// A 16550 UART.
#[derive(Debug)]
pub struct Uart<P: PortIo> {
    io: P,
}

impl<P: PortIo> Uart<P> {
    /// Wraps the UART at `io` without touching it.
    pub const fn new(io: P) -> Self {
        Self { io }
    }

    /// Programs 8N1 at `baud`, enables and clears the FIFOs (receive trigger: 1 byte),
    /// and raises OUT2 so the UART's interrupt reaches the interrupt controller.
    /// Interrupts stay disabled until [`Uart::enable_rx_interrupt`].
    pub fn init(&self, baud: u32) {
        let divisor = (BASE_BAUD / baud.clamp(1, BASE_BAUD)) as u16;
        self.io.write(reg::IER, 0);
        self.io.write(reg::LCR, 0x80); // DLAB = 1: DATA/IER are the divisor latch
        self.io.write(reg::DATA, divisor as u8);
        self.io.write(reg::IER, (divisor >> 8) as u8);
        self.io.write(reg::LCR, 0x03); // DLAB = 0, 8 data bits, no parity, 1 stop bit
        self.io.write(reg::FCR, 0x07); // enable FIFOs, clear both, trigger at 1 byte
        self.io.write(reg::MCR, 0x0b); // DTR | RTS | OUT2
    }

    /// Sends one byte, waiting (boundedly) for room in the transmitter.
    pub fn write_byte(&self, byte: u8) {
        let mut spins = 0;
        while self.io.read(reg::LSR) & lsr::THR_EMPTY == 0 && spins < TX_SPIN_LIMIT {
            spins += 1;
            core::hint::spin_loop();
        }
        self.io.write(reg::DATA, byte);
    }

    /// Sends `bytes`, turning `\n` into `\r\n` as a terminal expects.
    pub fn write_str_crlf(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
    }

    /// The next received byte, if one is waiting.
    pub fn try_read(&self) -> Option<u8> {
        if self.io.read(reg::LSR) & lsr::DATA_READY != 0 {
            Some(self.io.read(reg::DATA))
        } else {
            None
        }
    }

    /// Interrupt when a byte arrives. The interrupt stays asserted until the receive
    /// FIFO is drained with [`Uart::try_read`], so a handler only needs to wake the
    /// task that drains it.
    pub fn enable_rx_interrupt(&self) {
        let ier = self.io.read(reg::IER);
        self.io.write(reg::IER, ier | IER_RX_AVAILABLE);
    }

    /// Interrupt (or not) when the transmitter is empty. While on, the UART keeps
    /// the interrupt raised until bytes are written or it is turned off.
    pub fn set_tx_interrupt(&self, on: bool) {
        let ier = self.io.read(reg::IER);
        let new = if on {
            ier | IER_TX_EMPTY
        } else {
            ier & !IER_TX_EMPTY
        };
        if new != ier {
            self.io.write(reg::IER, new);
        }
    }

    /// Writes as many of `bytes` as the empty transmit FIFO takes (none if the
    /// transmitter is still busy), without waiting; returns how many.
    pub fn try_write(&self, bytes: &[u8]) -> usize {
        if self.io.read(reg::LSR) & lsr::THR_EMPTY == 0 {
            return 0;
        }
        let n = bytes.len().min(TX_FIFO);
        for &b in &bytes[..n] {
            self.io.write(reg::DATA, b);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// A fake UART: records writes, serves queued input, transmitter always ready.
    #[derive(Default)]
    struct FakePort {
        writes: RefCell<Vec<(u16, u8)>>,
        input: RefCell<VecDeque<u8>>,
    }

    impl PortIo for &FakePort {
        fn read(&self, offset: u16) -> u8 {
            match offset {
                reg::LSR => {
                    let ready = if self.input.borrow().is_empty() {
                        0
                    } else {
                        lsr::DATA_READY
                    };
                    lsr::THR_EMPTY | ready
                }
                reg::DATA => self.input.borrow_mut().pop_front().unwrap_or(0),
                _ => 0,
            }
        }
        fn write(&self, offset: u16, value: u8) {
            self.writes.borrow_mut().push((offset, value));
        }
    }

    #[test]
    fn init_programs_divisor_and_8n1() {
        let port = FakePort::default();
        Uart::new(&port).init(38_400);
        let w = port.writes.borrow();
        assert!(w.contains(&(reg::LCR, 0x80)));
        assert!(w.contains(&(reg::DATA, 3)), "115200 / 38400 = 3");
        assert!(w.contains(&(reg::LCR, 0x03)));
        assert_eq!(w.last(), Some(&(reg::MCR, 0x0b)));
    }

    #[test]
    fn newline_becomes_crlf() {
        let port = FakePort::default();
        Uart::new(&port).write_str_crlf(b"a\nb");
        let data: Vec<u8> = port
            .writes
            .borrow()
            .iter()
            .filter(|(o, _)| *o == reg::DATA)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(data, b"a\r\nb");
    }

    #[test]
    fn try_write_fills_the_fifo_only_when_the_transmitter_is_empty() {
        let port = FakePort::default();
        let uart = Uart::new(&port);
        assert_eq!(uart.try_write(&[7u8; 40]), TX_FIFO);
        let sent = port
            .writes
            .borrow()
            .iter()
            .filter(|(o, _)| *o == reg::DATA)
            .count();
        assert_eq!(sent, TX_FIFO);
    }

    #[test]
    fn the_tx_interrupt_leaves_the_rx_one_alone() {
        let port = FakePort::default();
        let uart = Uart::new(&port);
        uart.set_tx_interrupt(true);
        assert_eq!(port.writes.borrow().last(), Some(&(reg::IER, IER_TX_EMPTY)));
    }

    #[test]
    fn try_read_drains_input_then_reports_none() {
        let port = FakePort::default();
        port.input.borrow_mut().extend(b"hi");
        let uart = Uart::new(&port);
        assert_eq!(uart.try_read(), Some(b'h'));
        assert_eq!(uart.try_read(), Some(b'i'));
        assert_eq!(uart.try_read(), None);
    }
}

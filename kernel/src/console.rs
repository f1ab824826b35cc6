//! The serial console on COM1: the terminal's output and input, and kernel
//! messages.
//!
//! **Terminal output is asynchronous.** Writers put bytes in a 16 KiB transmit
//! ring ([`try_write_raw`]) and a writer that finds it full waits on the
//! terminal's wait queue, like a pipe writer. The `console-tx` task owns the
//! transmitter: it moves a FIFO's worth (16 bytes) from the ring to the UART
//! each time the transmitter is empty, and sleeps on the transmit interrupt in
//! between (with a 10 ms fallback, since COM1's ISA line is edge-triggered and
//! may already be raised for received data). Nobody spins on the UART with
//! interrupts off for a user's `write`.
//!
//! **Kernel messages** (`println!`, the logger) stay synchronous: they first
//! send whatever the ring holds, so they appear after the output that preceded
//! them, then write directly, under an interrupt-disabling lock so a message
//! from an interrupt handler cannot interleave with one from a task. The panic
//! path writes without any lock.
//!
//! Input is interrupt-driven: the IRQ handler only wakes the reader, which
//! drains the UART's FIFO itself.

use core::fmt::{self, Write};
use core::future::poll_fn;
use core::task::Poll;

use futures_util::task::AtomicWaker;
use kestrel_uart16550::Uart;

use crate::arch::port::UartPorts;
use crate::sync::IrqMutex;

static UART: IrqMutex<Uart<UartPorts>> = IrqMutex::new(Uart::new(UartPorts::COM1));
static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Bytes the transmit ring holds.
const TX_RING: usize = 16 * 1024;

struct TxRing {
    buf: [u8; TX_RING],
    head: usize,
    len: usize,
}

impl TxRing {
    fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(TX_RING - self.len);
        for &b in &bytes[..n] {
            self.buf[(self.head + self.len) % TX_RING] = b;
            self.len += 1;
        }
        n
    }

    /// The bytes waiting, as up to two slices in order.
    fn front(&self, max: usize) -> &[u8] {
        let n = self.len.min(max).min(TX_RING - self.head);
        &self.buf[self.head..self.head + n]
    }

    fn consume(&mut self, n: usize) {
        self.head = (self.head + n) % TX_RING;
        self.len -= n;
    }
}

/// Taken before [`UART`] when both are needed.
static TX: IrqMutex<TxRing> = IrqMutex::new(TxRing {
    buf: [0; TX_RING],
    head: 0,
    len: 0,
});
/// The transmitter became empty, or a writer queued bytes: `console-tx` looks.
static TX_EVENT: kestrel_driver_kit::Irq = kestrel_driver_kit::Irq::new("ttyS0");
/// Woken as the ring empties (the terminal's writers and tcdrain wait here).
static TX_ROOM: spin::Once<&'static kestrel_sync::WaitQueue> = spin::Once::new();

/// Programs COM1 for 115200 8N1. Output works from here on.
pub fn init() {
    UART.lock().init(115_200);
}

/// Turns on receive interrupts (once the interrupt controller routes them).
pub fn enable_input() {
    UART.lock().enable_rx_interrupt();
}

/// The COM1 interrupt handler: wake whoever reads the console, and the
/// transmitter task.
pub fn on_interrupt() {
    RX_WAKER.wake();
    TX_EVENT.fire();
}

/// Writes a kernel message, `\n` as `\r\n`, after whatever the ring holds.
pub fn write_bytes(bytes: &[u8]) {
    let mut ring = TX.lock();
    let uart = UART.lock();
    flush_locked(&mut ring, &uart);
    uart.write_str_crlf(bytes);
}

/// Sends everything in the ring now, waiting on the UART (kernel messages,
/// power-off).
fn flush_locked(ring: &mut TxRing, uart: &Uart<UartPorts>) {
    while ring.len > 0 {
        let chunk = ring.front(kestrel_uart16550::TX_FIFO);
        for &b in chunk {
            uart.write_byte(b);
        }
        let n = chunk.len();
        ring.consume(n);
    }
}

/// Queues terminal output (already processed by the line discipline): as much
/// of `bytes` as the ring has room for; returns how much.
pub fn try_write_raw(bytes: &[u8]) -> usize {
    let n = TX.lock().push(bytes);
    if n > 0 {
        TX_EVENT.fire();
    }
    n
}

/// Free bytes in the transmit ring.
pub fn tx_room() -> usize {
    TX_RING - TX.lock().len
}

/// Whether everything queued has gone to the UART.
pub fn tx_empty() -> bool {
    TX.lock().len == 0
}

/// Where writers waiting for room sleep (the console terminal's wait queue).
pub fn set_tx_waiters(wq: &'static kestrel_sync::WaitQueue) {
    TX_ROOM.call_once(|| wq);
}

/// The task that owns the transmitter: moves bytes from the ring to the UART a
/// FIFO at a time, whenever the transmitter is empty.
pub async fn tx_task() {
    loop {
        let ticket = TX_EVENT.ticket();
        let (sent, left) = {
            let mut ring = TX.lock();
            let uart = UART.lock();
            let mut sent = 0;
            while ring.len > 0 {
                let n = uart.try_write(ring.front(kestrel_uart16550::TX_FIFO));
                if n == 0 {
                    break;
                }
                ring.consume(n);
                sent += n;
            }
            // Interrupt when the FIFO has gone out, if there is more to send.
            uart.set_tx_interrupt(ring.len > 0);
            (sent, ring.len)
        };
        if sent > 0
            && let Some(wq) = TX_ROOM.get()
        {
            wq.wake_all();
        }
        if left > 0 {
            let _ = crate::task::timeout(10_000_000, ticket).await;
        } else {
            ticket.await;
        }
    }
}

/// Reads whatever bytes are waiting into `buf`, waiting for at least one.
/// Only one task may read the console at a time (its single waker slot).
pub async fn read(buf: &mut [u8]) -> usize {
    poll_fn(|cx| {
        RX_WAKER.register(cx.waker());
        let uart = UART.lock();
        let mut n = 0;
        while n < buf.len() {
            match uart.try_read() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        if n > 0 { Poll::Ready(n) } else { Poll::Pending }
    })
    .await
}

/// `fmt::Write` onto the console.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::Console, format_args!($($arg)*));
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}

/// Writes on the panic path, without the console lock (this CPU may have died
/// holding it): the UART keeps no state of its own besides its registers, so a
/// second handle on the same ports writes just as well.
pub fn emergency_write(args: fmt::Arguments<'_>) {
    struct Raw(Uart<UartPorts>);
    impl Write for Raw {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.write_str_crlf(s.as_bytes());
            Ok(())
        }
    }
    let _ = Raw(Uart::new(UartPorts::COM1)).write_fmt(args);
}

//! The serial console on COM1: kernel output, and received bytes for the tasks that
//! read the console.
//!
//! Output is polled (the UART takes a byte every ~87 µs at 115200 baud), under an
//! interrupt-disabling lock so a log line from an interrupt handler cannot
//! interleave with one from a task. Input is interrupt-driven: the IRQ handler only
//! wakes the reader, which drains the UART's FIFO itself.

use core::fmt::{self, Write};
use core::future::poll_fn;
use core::task::Poll;

use futures_util::task::AtomicWaker;
use kestrel_uart16550::Uart;

use crate::arch::port::UartPorts;
use crate::sync::IrqMutex;

static UART: IrqMutex<Uart<UartPorts>> = IrqMutex::new(Uart::new(UartPorts::COM1));
static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// Programs COM1 for 115200 8N1. Output works from here on.
pub fn init() {
    UART.lock().init(115_200);
}

/// Turns on receive interrupts (once the interrupt controller routes them).
pub fn enable_input() {
    UART.lock().enable_rx_interrupt();
}

/// The COM1 interrupt handler: wake whoever reads the console.
pub fn on_interrupt() {
    RX_WAKER.wake();
}

/// Writes bytes to the console, `\n` as `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    UART.lock().write_str_crlf(bytes);
}

/// Writes bytes exactly as given (a terminal's already-processed output).
pub fn write_bytes_raw(bytes: &[u8]) {
    let uart = UART.lock();
    for &b in bytes {
        uart.write_byte(b);
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

//! `log` records to the serial console, stamped with seconds since boot:
//! `[    1.234567] INFO  kestrel::mm: message`.

use log::{LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = crate::time::now_ns();
        let target = record
            .target()
            .strip_prefix("kestrel_kernel")
            .map_or(record.target(), |t| t);
        let target = target.strip_prefix("::").unwrap_or(target);
        crate::println!(
            "[{:5}.{:06}] {:5} {}: {}",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000,
            record.level(),
            if target.is_empty() { "kernel" } else { target },
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the console logger at `level`.
pub fn init(level: LevelFilter) {
    // Only fails if a logger is already set, which would be a boot-order bug.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

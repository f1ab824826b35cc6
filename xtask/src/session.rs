//! Driving an interactive boot: type at Kestrel's console and wait for what it
//! prints, the way a person at the serial terminal would. `cargo xtask test` uses
//! it to check the shell's job control (^C, ^Z, fg, kill %1, trap).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running QEMU whose serial console is this process's pipe.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    /// Output before this offset has been matched already.
    seen: usize,
}

impl Session {
    /// Starts `cmd` (a QEMU command line) with the serial console on pipes.
    pub fn start(mut cmd: Command) -> Result<Self, String> {
        cmd.args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Ok(Self {
            child,
            stdin,
            output,
            seen: 0,
        })
    }

    /// Types `text` (control characters included: "\x03" is ^C).
    pub fn send(&mut self, text: &str) -> Result<(), String> {
        self.stdin
            .write_all(text.as_bytes())
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("cannot type at the console: {e}"))
    }

    /// Waits until `needle` appears in output not matched before; fails after
    /// `limit` with the tail of what was printed.
    pub fn expect(&mut self, needle: &str, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        loop {
            {
                let out = self.output.lock().expect("output lock");
                let text = String::from_utf8_lossy(&out[self.seen..]);
                if let Some(i) = text.find(needle) {
                    // Byte offsets of the lossy text match the raw bytes for the
                    // ASCII the console prints.
                    self.seen += i + needle.len();
                    return Ok(());
                }
            }
            if Instant::now() >= end {
                return Err(format!(
                    "waited {limit:?} for {needle:?}; the console last showed:\n{}",
                    self.tail(1500)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits `d` (for the guest to act on what was typed).
    pub fn pause(&self, d: Duration) {
        std::thread::sleep(d);
    }

    /// The last `n` bytes printed, for failure reports.
    pub fn tail(&self, n: usize) -> String {
        let out = self.output.lock().expect("output lock");
        let from = out.len().saturating_sub(n);
        String::from_utf8_lossy(&out[from..]).into_owned()
    }

    /// Waits for QEMU to exit by itself (up to `limit`), then kills it; returns its
    /// exit code if it exited.
    pub fn finish(mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Kestrel: a kernel for x86-64 that runs unmodified Linux programs, with every
//! subsystem written as async tasks on a per-CPU cooperative executor.
//!
//! Boot order (docs/boot.md): `boot/entry.s` reaches long mode and calls
//! [`kernel_entry`], which sets up the CPU and memory on the boot stack, switches to
//! a guarded kernel stack, brings up interrupts and time, and hands the CPU to the
//! executor.
//!
//! `unsafe` is confined to three layers: `arch` (the CPU, interrupts, port and
//! register access), `mm` (frames, page tables, the heap, copies to and from user
//! memory) and `boot` (the entry from the loader, the boot-time structures). The
//! rest of the kernel is safe Rust: the crate denies `unsafe_code`, and only those
//! modules allow it.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod arch;
mod boot;
mod cmdline;
mod console;
mod drivers;
mod fs;
mod futex;
mod kconfig;
mod loadavg;
mod logger;
mod mm;
mod net;
mod ns;
mod panic;
mod perf;
mod power;
mod process;
mod profile;
mod random;
mod symbols;
mod sync;
mod syscall;
mod task;
mod tests;
mod time;
mod timer;
mod trace;
mod uts;
mod vdso;
mod watchdog;

pub use boot::ktest;

use core::sync::atomic::{AtomicU64, Ordering};

use arch::qemu::{self, ExitCode};
use arch::{cpu, percpu};

/// TSC at kernel entry, for the boot-time line of the banner.
static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);

/// Size of the bootstrap CPU's kernel stack (the one every task is polled on).
const KERNEL_STACK_BYTES: u64 = 256 * 1024;

/// The first Rust code, on the boot stack, with the loader's magic and the physical
/// address of its boot information (called by `boot::kernel_entry`).
fn kernel_entry(magic: u32, info: u32) -> ! {
    let entry_tsc = cpu::rdtsc();
    ENTRY_TSC.store(entry_tsc, Ordering::Relaxed);
    time::mark_boot(entry_tsc);
    arch::init_early();
    arch::trap::allow_fast_syscalls(&syscall::FAST);
    console::init();

    let boot = match boot::parse(magic, info) {
        Ok(b) => b,
        Err(e) => {
            println!("Kestrel: cannot read the boot information: {e}");
            qemu::exit(ExitCode::Failure);
        }
    };
    logger::init(cmdline::log_level(boot.cmdline()));
    // Parsed for the warnings now; read back with cmdline::options() later.
    cmdline::set_raw(boot.cmdline());
    cmdline::set(cmdline::parse(boot.cmdline(), |word, why| {
        log::warn!("kernel command line: {word:?}: {why}");
    }));
    boot::log_details(boot);

    if let Err(mm::InitError::TooLittleMemory { have }) = mm::init(boot) {
        println!(
            "Kestrel: not enough memory: {} KiB usable after the kernel and modules, {} MiB needed.",
            have / 1024,
            mm::MIN_FREE_BYTES >> 20
        );
        println!("Kestrel: give the machine more memory (cargo xtask run --mem 256M).");
        qemu::exit(ExitCode::Failure);
    }
    time::stamp("mm");
    cpu::enable_features();
    arch::fpu::init();
    if let Some(sym) = boot.module("symbols") {
        symbols::init(sym.bytes());
    }

    let Some(stack_top) = mm::paging::alloc_kernel_stack(KERNEL_STACK_BYTES) else {
        println!("Kestrel: no memory for the kernel stack");
        qemu::exit(ExitCode::Failure);
    };
    boot::continue_on_stack(stack_top, kernel_main)
}

/// The rest of the boot, on the guarded kernel stack.
extern "C" fn kernel_main() -> ! {
    let boot = boot::info();
    let opts = cmdline::options();
    let irq = arch::init_interrupts(boot.rsdp);
    time::stamp("clock");
    time::set_tsc_hz(irq.tsc_hz);
    time::set_wall_clock(arch::rtc::read_unix_seconds());
    task::init(irq.cpus.min(opts.max_cpus));
    arch::route_isa_irq(4, console::on_interrupt);
    console::enable_input();
    let online = arch::start_cpus(ap_main, opts.max_cpus, opts.stall_cpu);
    time::stamp("cpus");
    trace::start(opts.trace, online);
    profile::start(opts.profile, online);

    if !opts.quiet {
        banner(boot, &irq, online);
    }
    vdso::init(boot);
    let root = match fs::init(boot) {
        Ok(r) => r,
        Err(e) => panic!("cannot build the root file system: {e}"),
    };
    time::stamp("rootfs");
    task::spawn("devices", setup_devices()).detach();
    task::spawn("loadavg", loadavg::sampler()).detach();
    task::spawn("clock-refine", refine_clock()).detach();
    watchdog::start(opts.watchdog);
    if let Some(kind) = opts.crash {
        task::spawn("crash", async move { crash(kind) }).detach();
    } else if opts.test_mode {
        task::spawn("ktest", async {
            drivers::settled().await;
            ktest::run_all().await
        })
        .detach();
    } else if root.from_initramfs {
        log::info!(
            "root file system: {} files, {} KiB from the initramfs",
            root.files,
            root.bytes / 1024
        );
        if opts.heartbeat_given && opts.heartbeat {
            task::spawn("heartbeat", heartbeat()).detach();
        }
        task::spawn("console-input", fs::tty::console_input_task()).detach();
        task::spawn("console-tx", console::tx_task()).detach();
        start_init(opts);
    } else {
        // No initramfs: nothing to run, so show that the executor is alive.
        log::info!("no initramfs module: heartbeat and serial echo only");
        if opts.heartbeat {
            task::spawn("heartbeat", heartbeat()).detach();
        }
        task::spawn("serial-echo", serial_echo()).detach();
    }
    time::stamp("executor");
    log::info!(
        "executor running: {} ms from kernel entry",
        time::tsc_delta_ns(cpu::rdtsc() - ENTRY_TSC.load(Ordering::Relaxed)) / 1_000_000
    );
    task::run()
}

/// An application processor, on its own stack with its descriptor tables, APIC
/// and FPU set up: its executor runs from here.
extern "C" fn ap_main(cpu: usize) -> ! {
    task::init_cpu(cpu);
    let me = percpu::this_cpu();
    me.online_at_ns
        .store(time::now_ns(), core::sync::atomic::Ordering::Relaxed);
    percpu::register(me);
    task::run()
}

fn banner(boot: &boot::BootInfo, irq: &arch::InterruptInfo, online: usize) {
    let mut brand = [0; 48];
    let mut hv = [0; 12];
    let accel = match cpu::hypervisor(&mut hv) {
        Some("TCGTCGTCGTCG") => "QEMU TCG (software emulation)",
        Some("KVMKVMKVM") => "KVM",
        Some(other) if !other.is_empty() => other,
        _ => "none reported (bare metal or TCG)",
    };
    let (free, managed) = mm::frame::stats();
    println!();
    println!(
        "Kestrel {} (x86_64), booted by {} via {:?}",
        env!("CARGO_PKG_VERSION"),
        if boot.loader().is_empty() {
            "QEMU"
        } else {
            boot.loader()
        },
        boot.protocol
    );
    println!(
        "  cpu:         {} ({} of {} CPU{} in ACPI online{})",
        cpu::brand_string(&mut brand),
        online,
        irq.cpus,
        if irq.cpus == 1 { "" } else { "s" },
        if irq.acpi {
            ""
        } else {
            ", no ACPI tables found"
        }
    );
    println!("  accelerator: {accel}");
    println!(
        "  memory:      {} MiB usable, {} MiB managed, {} MiB free",
        boot.usable_bytes() >> 20,
        managed * 4 / 1024,
        free * 4 / 1024
    );
    println!(
        "  clock:       TSC {}.{:03} MHz, APIC timer {} ticks/ms, I/O APIC {} lines",
        irq.tsc_hz / 1_000_000,
        (irq.tsc_hz / 1000) % 1000,
        irq.lapic_ticks_per_ms,
        irq.ioapic_lines
    );
    println!(
        "  wall clock:  {} UTC",
        time::DateTime(time::realtime_ns() / 1_000_000_000)
    );
    println!("  command line: {:?}", boot.cmdline());
    println!(
        "  boot time:   {} ms from kernel entry to the executor",
        time::tsc_delta_ns(cpu::rdtsc() - ENTRY_TSC.load(Ordering::Relaxed)) / 1_000_000
    );
}

/// How long the device setup lets other work go first at most: a program that
/// keeps the CPU busy without ever looking for a device (so without waiting
/// for them) does not keep them, and the network, from coming up for longer.
const SETUP_GRACE_NS: u64 = 200_000_000;

/// Sets up what the boot does not wait for (drivers/mod.rs, "Setting up in the
/// background"): PCI and the drivers' probes, the loop devices, the network
/// (which needs the NICs the probes found) and /sys (which lists them all);
/// then lets whoever waits for the devices go on.
///
/// It runs in the background: before each step it lets every other task that
/// is ready run first (init starting, the console), for up to
/// [`SETUP_GRACE_NS`] from its start; a task that waits for the devices is not
/// ready, so the setup runs as soon as someone needs it.
async fn setup_devices() {
    let grace_end = time::now_ns().saturating_add(SETUP_GRACE_NS);
    let others_first = || async move {
        while task::executor().has_ready() && time::now_ns() < grace_end {
            kestrel_executor::yield_now().await;
        }
    };
    others_first().await;
    drivers::init(boot::info().rsdp);
    time::stamp("drivers");
    others_first().await;
    fs::loopdev::init();
    net::init();
    others_first().await;
    if let Err(e) = fs::sysfs::mount() {
        log::warn!("/sys: {e:?}");
    }
    time::stamp("devices");
    drivers::mark_settled();
    log::info!("devices set up; boot: {}", time::boot_timeline());
}

/// Starts the first user program: `init=` (default /init), then the fallbacks Linux
/// tries, with /dev/console as its standard input, output and error. With `root=`,
/// the disk's ext2 file system is mounted as `/` first (a task: mounting reads the
/// disk). Init starts without waiting for the devices (its first look at one
/// waits instead).
fn start_init(opts: &'static cmdline::Options) {
    task::spawn("init-start", start_init_task(opts)).detach();
}

async fn start_init_task(opts: &'static cmdline::Options) {
    use alloc::vec::Vec;
    // Opened while /dev is reached through the initramfs root.
    let console = match fs::devices::open_console_file() {
        Ok(f) => f,
        Err(e) => panic!("cannot open /dev/console: {e}"),
    };
    if let Some(dev) = opts.root {
        // The disk comes with the devices.
        drivers::settled().await;
        match fs::ext2::mount_root(dev.as_bytes(), opts.root_ro).await {
            Ok(()) => log::info!("root file system: ext2 on {dev}"),
            Err(e) => {
                log::error!("root={dev}: cannot mount it ({e}); the initramfs stays the root")
            }
        }
    }
    let mut files = kestrel_vfs::FdTable::new();
    for _ in 0..3 {
        let _ = files.insert(console.clone(), false, 0, 3);
    }
    let root = fs::root();
    let ctx = process::FsContext {
        root: root.clone(),
        cwd: root,
        umask: 0o022,
    };
    let thread = match process::create_init(ctx, files) {
        Ok(t) => t,
        Err(e) => panic!("cannot create init: {e}"),
    };
    fs::tty::attach_console_to(&thread.process);
    let args: Vec<Vec<u8>> = cmdline::words(opts.init_args)
        .map(|w| w.as_bytes().to_vec())
        .collect();
    let env: Vec<Vec<u8>> = [&b"HOME=/"[..], b"TERM=linux"]
        .iter()
        .map(|e| e.to_vec())
        .collect();
    for path in [opts.init, "/sbin/init", "/etc/init", "/bin/init", "/bin/sh"] {
        let mut argv = alloc::vec![path.as_bytes().to_vec()];
        argv.extend(args.iter().cloned());
        match process::exec::exec_initial(&thread, path.as_bytes(), argv, env.clone()).await {
            Ok(regs) => {
                time::stamp("init");
                log::info!("starting init: {path}; boot: {}", time::boot_timeline());
                if process::thread::spawn(thread, regs).is_err() {
                    panic!("cannot spawn init's task");
                }
                return;
            }
            Err(e) => log::warn!("init {path}: {e}"),
        }
    }
    panic!("no working init found; pass init= on the command line");
}

/// Crashes on purpose (`kestrel.crash=`), so the crash report can be seen and tested.
fn crash(kind: cmdline::Crash) {
    log::warn!("crashing on purpose: kestrel.crash={kind:?}");
    match kind {
        cmdline::Crash::Panic => panic!("kestrel.crash=panic was given"),
        cmdline::Crash::PageFault => {
            let v = arch::crash::read_unmapped();
            log::error!("read {v} from an unmapped address?");
        }
        cmdline::Crash::StackOverflow => {
            #[allow(unconditional_recursion)]
            fn recurse(depth: u64) -> u64 {
                let pad = [depth; 64];
                core::hint::black_box(&pad);
                recurse(depth + 1) + core::hint::black_box(pad[3])
            }
            log::error!("recursion returned {}", recurse(0));
        }
        cmdline::Crash::DivideError => arch::crash::divide_by_zero(),
    }
}

/// A second after boot, measures the TSC's frequency again over that second
/// against the HPET, more precisely than the boot's 2 ms window could, and runs
/// the clock at that rate from then on.
async fn refine_clock() {
    task::sleep_until(1_000_000_000).await;
    match arch::refine_clock() {
        Some((old, new)) => {
            time::retune_tsc_hz(new);
            log::info!("TSC: {old} Hz at boot, {new} Hz over a second against the HPET");
        }
        None => log::info!("TSC: {} Hz (no HPET to refine it with)", time::tsc_hz()),
    }
}

/// Prints uptime once a second: the executor and the timer are alive.
async fn heartbeat() {
    let mut next = 1_000_000_000;
    loop {
        task::sleep_until(next).await;
        let ex = task::executor();
        log::info!(
            "heartbeat: up {} s, {} tasks, {} polls, {} interrupts, heap {} KiB",
            next / 1_000_000_000,
            ex.live_tasks(),
            ex.polls(),
            percpu::this_cpu().interrupts.load(Ordering::Relaxed),
            mm::heap::bytes_in_use() / 1024
        );
        next += 1_000_000_000;
    }
}

/// Echoes what is typed on the serial console (Enter gives a new line).
async fn serial_echo() {
    let mut buf = [0u8; 64];
    loop {
        let n = console::read(&mut buf).await;
        for &b in &buf[..n] {
            match b {
                b'\r' => console::write_bytes(b"\n"),
                0x7f | 0x08 => console::write_bytes(b"\x08 \x08"),
                _ => console::write_bytes(&[b]),
            }
        }
    }
}

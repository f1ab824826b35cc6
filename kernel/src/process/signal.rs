//! Signal dispositions, and the default actions Kestrel applies so far.
//!
//! `rt_sigaction` and `rt_sigprocmask` keep Linux's bookkeeping exactly (what a
//! program sets, it reads back). Delivery to user handlers arrives with the signal
//! frame work; until then a signal whose disposition is the default *terminate* or
//! *core* action ends the process with the right wait status, an ignored one is
//! dropped, and one with a handler is recorded as pending for that work to deliver.

use alloc::sync::Arc;
use kestrel_abi::process::wstatus_signaled;
use kestrel_abi::signal::*;

use super::{Process, Thread};

/// The dispositions of every signal (shared with CLONE_SIGHAND).
#[derive(Clone)]
pub struct SigActions {
    pub actions: [KernelSigaction; NSIG as usize],
    /// Signals with handlers that arrived before delivery exists (see module docs).
    pub pending: u64,
}

impl Default for SigActions {
    fn default() -> Self {
        Self {
            actions: [KernelSigaction::default(); NSIG as usize],
            pending: 0,
        }
    }
}

impl SigActions {
    /// The disposition of `sig` (1-based).
    pub fn get(&self, sig: u32) -> KernelSigaction {
        self.actions[(sig - 1) as usize]
    }

    /// execve: handlers become SIG_DFL; ignored signals stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in self.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = KernelSigaction::default();
            }
        }
    }
}

/// What a signal does by default (signal(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Core,
    Ignore,
    Stop,
    Continue,
}

/// The default action of `sig`.
pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

/// Ends the process as signal `sig` would by default.
fn terminate(p: &Process, sig: u32) {
    // The core-dump bit is set only when a core file is written; RLIMIT_CORE is 0 by
    // default and Kestrel writes none, as Linux with that limit.
    p.begin_exit(wstatus_signaled(sig, false));
}

/// A synchronous signal caused by the thread itself (a fault): it cannot be blocked
/// or ignored usefully, so without a handler the process dies.
pub fn force(thread: &Arc<Thread>, sig: u32) {
    let p = &thread.process;
    let action = p.sigactions().lock().get(sig);
    if action.handler == SIG_DFL || action.handler == SIG_IGN || sig == SIGKILL {
        terminate(p, sig);
    } else {
        // A handler exists but cannot be run yet: Linux would run it; the closest
        // safe behaviour is the default action rather than re-faulting forever.
        terminate(p, sig);
    }
}

/// Sends `sig` to a process (kill(2) semantics for the default actions).
pub fn send(p: &Arc<Process>, sig: u32) {
    if sig == 0 {
        return;
    }
    if sig == SIGKILL {
        terminate(p, sig);
        return;
    }
    let shared = p.sigactions();
    let mut acts = shared.lock();
    let a = acts.get(sig);
    if a.handler == SIG_IGN {
        return;
    }
    if a.handler != SIG_DFL {
        acts.pending |= sig_bit(sig);
        return;
    }
    drop(acts);
    match default_action(sig) {
        DefaultAction::Terminate | DefaultAction::Core => terminate(p, sig),
        DefaultAction::Ignore | DefaultAction::Stop | DefaultAction::Continue => {}
    }
}

/// Whether `parent` discards its children's exit status (SIGCHLD ignored, or
/// SA_NOCLDWAIT): then children are reaped at once (wait(2), NOTES).
pub fn parent_ignores_children(parent: &Process) -> bool {
    let a = parent.sigactions().lock().get(SIGCHLD);
    a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0
}

/// Tells the parent a child exited (SIGCHLD).
pub fn child_exited(parent: &Arc<Process>, child: &Process) {
    if child.exit_signal != 0 {
        send(parent, child.exit_signal);
    }
}

/// The thread's blocked-signal mask, as rt_sigprocmask sees it: SIGKILL and SIGSTOP
/// can never be blocked.
pub fn sanitize_mask(mask: u64) -> u64 {
    mask & !(sig_bit(SIGKILL) | sig_bit(SIGSTOP))
}

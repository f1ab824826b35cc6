//! [`Signals`]: the set of signals one batch of input raised.

use kestrel_abi::signal::{NSIG, sig_bit};

/// A set of signal numbers, kept as a kernel sigset (bit `n - 1` for signal `n`).
///
/// [`LineDiscipline::receive`](crate::LineDiscipline::receive) returns the signals
/// that VINTR, VQUIT and VSUSP raised; the kernel sends each of them to the
/// terminal's foreground process group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals(u64);

impl Signals {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether no signal is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether signal `sig` is in the set.
    pub const fn contains(self, sig: u32) -> bool {
        sig >= 1 && sig <= NSIG && self.0 & sig_bit(sig) != 0
    }

    /// The set as a sigset mask (bit `n - 1` for signal `n`), ready to be or-ed into
    /// a pending mask.
    pub const fn mask(self) -> u64 {
        self.0
    }

    /// The signal numbers in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        (1..=NSIG).filter(move |&s| self.contains(s))
    }

    /// Adds signal `sig` (1..=NSIG; anything else is ignored).
    pub(crate) fn insert(&mut self, sig: u32) {
        if (1..=NSIG).contains(&sig) {
            self.0 |= sig_bit(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_abi::signal::{SIGINT, SIGQUIT, SIGTSTP};

    #[test]
    fn set_holds_signals_as_sigset_bits() {
        let mut s = Signals::empty();
        assert!(s.is_empty());
        s.insert(SIGTSTP);
        s.insert(SIGINT);
        s.insert(SIGINT);
        s.insert(0);
        s.insert(65);
        assert!(s.contains(SIGINT) && s.contains(SIGTSTP) && !s.contains(SIGQUIT));
        assert!(!s.contains(0) && !s.contains(65));
        assert_eq!(s.mask(), (1 << 1) | (1 << 19));
        assert_eq!(s.iter().collect::<Vec<_>>(), [SIGINT, SIGTSTP]);
    }
}

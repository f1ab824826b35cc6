//! Output flow control: VSTOP/VSTART typed by the user (IXON) and `tcflow`.
//!
//! The line discipline only keeps the state; the kernel glue holds back its
//! transmit queue while [`Flow::stopped`] is set and resumes when it clears. As in
//! Linux, output suspended by `tcflow(TCOOFF)` can only be resumed by
//! `tcflow(TCOON)`: VSTART, IXANY and signal characters leave it stopped.

/// Whether output to the device is suspended, and by whom.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flow {
    /// Output is suspended.
    pub(crate) stopped: bool,
    /// ... and `tcflow(TCOOFF)` did it.
    tco_stopped: bool,
}

impl Flow {
    /// VSTOP (or TCOOFF's first half): suspend output.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    /// VSTART, IXANY, a signal character, or IXON being cleared: resume output
    /// unless TCOOFF suspended it.
    pub(crate) fn start(&mut self) {
        if !self.tco_stopped {
            self.stopped = false;
        }
    }

    /// `tcflow(TCOOFF)`.
    pub(crate) fn tc_off(&mut self) {
        self.tco_stopped = true;
        self.stopped = true;
    }

    /// `tcflow(TCOON)`: undoes TCOOFF and any VSTOP.
    pub(crate) fn tc_on(&mut self) {
        if self.tco_stopped {
            self.tco_stopped = false;
            self.stopped = false;
        }
    }
}

// SPDX-License-Identifier: GPL-2.0-only

//! systemd's notifications (sd_notify(3), the sd-notify crate) from the
//! `--follow` loop, for xen-mcelog-json.service (`Type=notify`,
//! `WatchdogSec=`): `READY=1` once the device is open (and the textfile's
//! first write was tried), `WATCHDOG=1` from the loop itself as it wakes
//! up, `STOPPING=1` when SIGTERM or SIGINT stops it (caught with
//! `--prometheus`; otherwise the signal ends the process at once). Without `NOTIFY_SOCKET` (a
//! terminal, a test, another service type) nothing is sent; without
//! `WATCHDOG_USEC` for this process no `WATCHDOG=1` is sent and the loop
//! sleeps as long as before.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use xmc_tools::retire::Level;

use crate::log;

/// The loop's side of the protocol.
pub(crate) struct Notify {
    /// The service's watchdog interval (`WATCHDOG_USEC`, when
    /// `WATCHDOG_PID` is this process): a `WATCHDOG=1` must arrive within
    /// it, or systemd kills the reader (and `Restart=` starts it again).
    watchdog: Option<Duration>,
    /// When `WATCHDOG=1` (or `READY=1`) was last sent.
    last: Instant,
    /// A send failed: said once, not again.
    failed: bool,
}

impl Notify {
    /// What the service manager asked for, from the environment.
    pub(crate) fn from_env() -> Notify {
        let mut usec = 0;
        // The variables stay set: sd-notify 0.4 reads NOTIFY_SOCKET at
        // each send. The children (xen-hptool) inherit them, but
        // NotifyAccess=main ignores them and WATCHDOG_PID is not theirs.
        let watchdog = (sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
            .then(|| Duration::from_micros(usec));
        Notify {
            watchdog,
            last: Instant::now(),
            failed: false,
        }
    }

    fn send(&mut self, state: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(false, state) {
            if !self.failed {
                self.failed = true;
                log(
                    Level::Warning,
                    format!(
                        "cannot notify systemd (NOTIFY_SOCKET): {e}; the records still flow, \
                         but a Type=notify service does not see the reader ready or alive"
                    ),
                );
            }
        }
    }

    /// The device is open and the loop about to start.
    pub(crate) fn ready(&mut self) {
        self.send(&[NotifyState::Ready]);
        self.last = Instant::now();
    }

    /// A signal stopped the loop; what is left (the textfile marked down,
    /// page retirement's last work) follows.
    pub(crate) fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// At each wake-up of the loop: `WATCHDOG=1`, at most four times per
    /// interval (a storm of records wakes it at every read).
    pub(crate) fn wake(&mut self) {
        if let Some(w) = self.watchdog {
            if self.last.elapsed() >= w / 4 {
                self.send(&[NotifyState::Watchdog]);
                self.last = Instant::now();
            }
        }
    }

    /// How long the loop may sleep in poll: until half the interval after
    /// the last `WATCHDOG=1` (`None`: no watchdog, no limit).
    pub(crate) fn sleep_ms(&self) -> Option<i32> {
        self.watchdog.map(|w| {
            let left = (w / 2).saturating_sub(self.last.elapsed());
            i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX)
        })
    }
}

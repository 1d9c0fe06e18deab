//! The node's clock, and the supervisor's word that the node was not paused.
//!
//! Milliseconds since the node started, counting a system suspend: `CLOCK_BOOTTIME` on
//! Linux (`CLOCK_MONOTONIC`, and so `Instant`, stops during a suspend, so a node resumed
//! from one would see no gap although its peers declared it down); `Instant` elsewhere.
//!
//! Hosted actors check, before each message a local handle put straight into their
//! mailbox, whether the supervisor has checked for a pause within the pause gap
//! ([`crate::core::Timing::pause_gap_ms`]); if not, the process may just have been stopped
//! or suspended, and the actor waits until the supervisor has checked (and, if the node was
//! paused, until its fence lifts) before it handles anything. Without it, messages already
//! in a mailbox, and local sends over routes cached before the pause, reached the actors
//! before the supervisor ran and raised the fence.
//!
//! That check runs per message, so it reads the coarse wall clock (`CLOCK_REALTIME_COARSE`,
//! about 4 ns against about 24 for `CLOCK_BOOTTIME` on the machines measured; it also
//! counts a suspend, and its resolution of a few milliseconds is far below the gap). A wall
//! clock set forward only costs an actor one needless question; one set back during a
//! pause could hide that pause from the actors, not from the supervisor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct NodeClock {
    origin: u64,
    /// Added to every reading: [`crate::transport::MemoryNetwork::suspend`] makes a node's
    /// clock jump as a system suspend does.
    offset: AtomicU64,
    /// When the supervisor last checked for a pause and found the node serving, on the
    /// coarse wall clock ([`coarse_ms`]).
    vouched: AtomicU64,
    /// Silence past which the node may have been paused (the pause gap).
    gap_ms: u64,
}

impl NodeClock {
    pub(crate) fn new(gap: Duration) -> Self {
        Self {
            origin: raw_ms(),
            offset: AtomicU64::new(0),
            vouched: AtomicU64::new(0),
            gap_ms: u64::try_from(gap.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Milliseconds since the node started.
    pub(crate) fn now_ms(&self) -> u64 {
        raw_ms()
            .saturating_sub(self.origin)
            .saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Makes the clock jump by `by`, as a system suspend of that long would.
    pub(crate) fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset.fetch_add(ms, Ordering::Relaxed);
    }

    /// The supervisor checked for a pause just now and the node serves.
    pub(crate) fn vouch(&self) {
        self.vouched.store(self.coarse_now(), Ordering::Relaxed);
    }

    /// True when the supervisor has not vouched for the node within the pause gap: a
    /// hosted actor must ask it before handling a message.
    pub(crate) fn must_ask(&self) -> bool {
        self.coarse_now()
            .saturating_sub(self.vouched.load(Ordering::Relaxed))
            > self.gap_ms
    }

    fn coarse_now(&self) -> u64 {
        coarse_ms().saturating_add(self.offset.load(Ordering::Relaxed))
    }
}

#[cfg(target_os = "linux")]
fn raw_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Milliseconds of the coarse wall clock (see the module docs).
#[cfg(target_os = "linux")]
fn coarse_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

#[cfg(not(target_os = "linux"))]
fn coarse_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(not(target_os = "linux"))]
fn raw_ms() -> u64 {
    static ORIGIN: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    u64::try_from(ORIGIN.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_asks_once_the_supervisor_has_not_vouched_within_the_gap() {
        let clock = NodeClock::new(Duration::from_millis(1_000));
        assert!(clock.must_ask(), "not vouched yet");
        clock.vouch();
        assert!(!clock.must_ask());
        // A suspend of 2 s: both clocks count it.
        clock.advance(Duration::from_secs(2));
        assert!(clock.now_ms() >= 2_000);
        assert!(clock.must_ask());
        clock.vouch();
        assert!(!clock.must_ask());
    }
}

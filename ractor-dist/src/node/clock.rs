//! The node's clock, and the supervisor's word that the node was not paused.
//!
//! Milliseconds since the node started, counting a system suspend: `CLOCK_BOOTTIME` on
//! Linux (`CLOCK_MONOTONIC`, and so `Instant`, stops during a suspend, so a node resumed
//! from one would see no gap although its peers declared it down); `Instant` elsewhere.
//!
//! Hosted actors check, before each message a local handle put straight into their
//! mailbox, whether the supervisor has checked for a pause recently enough that the engine
//! would not fence now (within the pause gap less one heartbeat interval: the engine counts
//! the gap from the end of its previous message plus one interval); if not, the process
//! may just have been stopped or suspended, and the actor waits until the supervisor has
//! checked (and, if the node was paused, until its fence lifts) before it handles
//! anything. Without it, messages already in a mailbox, and local sends over routes cached
//! before the pause, reached the actors before the supervisor ran and raised the fence.
//! An actor that waits is released early when the supervisor starts to hand it off (a
//! drain or a leave while fenced): it then hands that message, and every later one, to the
//! supervisor, which holds them for the move.
//!
//! That check runs per message, so it reads the coarse wall clock (`CLOCK_REALTIME_COARSE`,
//! about 4 ns against about 24 for `CLOCK_BOOTTIME` on the machines measured; it also
//! counts a suspend, and its resolution of a few milliseconds is far below the gap). A wall
//! clock set forward only costs an actor one needless wait for the next supervisor message;
//! one set back during a pause could hide that pause from the actors, not from the
//! supervisor.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::core::ActorKey;

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
    /// Silence past which an actor asks (see the module docs).
    ask_after_ms: u64,
    /// Changes at every vouch and release; waiting actors watch it. Its sender goes with
    /// the supervisor (`Closed` then: the node stops).
    word: tokio::sync::watch::Sender<u64>,
    /// Actors the supervisor hands off while they wait (see the module docs).
    released: Mutex<HashSet<ActorKey>>,
    /// A waiting actor asked the supervisor to check now, and it has not yet.
    nudged: std::sync::atomic::AtomicBool,
}

/// What a hosted actor that had to ask does with its message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Word {
    /// The node serves: handle it.
    Serve,
    /// The actor is being handed off: give the message to the supervisor.
    Released,
    /// The supervisor is gone (the node stops): drop it.
    Closed,
}

impl NodeClock {
    /// A clock whose actors wait for the supervisor's word after `ask_after_ms` without
    /// it ([`crate::core::Timing::ask_after_ms`]).
    pub(crate) fn new(ask_after_ms: u64) -> Self {
        Self {
            origin: raw_ms(),
            offset: AtomicU64::new(0),
            vouched: AtomicU64::new(0),
            ask_after_ms,
            word: tokio::sync::watch::Sender::new(0),
            released: Mutex::new(HashSet::new()),
            nudged: std::sync::atomic::AtomicBool::new(false),
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
        let _ = self
            .offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }

    /// The supervisor checked for a pause just now and the node serves; actors that wait
    /// for that word go on.
    pub(crate) fn vouch(&self) {
        self.vouched.store(self.coarse_now(), Ordering::Relaxed);
        // Ordered before the waiters count is read: a waiter that subscribed just before
        // sees the new stamp or is woken.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.wake();
    }

    /// The supervisor hands `key` off: if its actor waits for the word, it gives its
    /// message to the supervisor instead (held for the move).
    pub(crate) fn release(&self, key: &ActorKey) {
        self.lock().insert(key.clone());
        self.wake();
    }

    /// Actors released and not yet forgotten (see [`crate::core::footprint`]).
    pub(crate) fn released_len(&self) -> usize {
        self.lock().len()
    }

    /// `key`'s actor is gone.
    pub(crate) fn forget(&self, key: &ActorKey) {
        self.lock().remove(key);
    }

    /// The supervisor stops: waiting actors drop their message.
    pub(crate) fn close(&self) {
        // The sender lives as long as the node's shared state (handles keep it): the value
        // `u64::MAX` marks the end instead.
        self.word.send_replace(u64::MAX);
    }

    fn wake(&self) {
        if self.word.receiver_count() > 0 {
            self.word.send_if_modified(|n| {
                if *n == u64::MAX {
                    return false;
                }
                *n = (*n + 1) % (u64::MAX - 1);
                true
            });
        }
        self.nudged.store(false, Ordering::Relaxed);
    }

    /// A waiting actor's request that the supervisor check for a pause now: true when it
    /// must send one (none is on its way).
    pub(crate) fn nudge(&self) -> bool {
        !self.nudged.swap(true, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<ActorKey>> {
        self.released.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the supervisor has not vouched for the node recently enough: a hosted
    /// actor must wait for its word ([`NodeClock::word`]) before handling a message.
    pub(crate) fn must_ask(&self) -> bool {
        self.coarse_now()
            .saturating_sub(self.vouched.load(Ordering::Relaxed))
            > self.ask_after_ms
    }

    /// Waits for the supervisor's word on `key`'s message (see the module docs); `nudge`
    /// makes the supervisor check for a pause at once rather than at its next tick.
    pub(crate) async fn word(&self, key: &ActorKey, nudge: impl FnOnce()) -> Word {
        let mut rx = self.word.subscribe();
        nudge();
        loop {
            if *rx.borrow_and_update() == u64::MAX {
                return Word::Closed;
            }
            if self.lock().contains(key) {
                return Word::Released;
            }
            if !self.must_ask() {
                return Word::Serve;
            }
            if rx.changed().await.is_err() {
                return Word::Closed;
            }
        }
    }

    fn coarse_now(&self) -> u64 {
        coarse_ms().saturating_add(self.offset.load(Ordering::Relaxed))
    }
}

#[cfg(target_os = "linux")]
fn clock_ms(id: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(id);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

#[cfg(target_os = "linux")]
fn raw_ms() -> u64 {
    clock_ms(rustix::time::ClockId::Boottime)
}

/// Milliseconds of the coarse wall clock (see the module docs).
#[cfg(target_os = "linux")]
fn coarse_ms() -> u64 {
    clock_ms(rustix::time::ClockId::RealtimeCoarse)
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

    fn clock() -> NodeClock {
        // Deadline 1 s, interval 100 ms.
        NodeClock::new(900)
    }

    #[test]
    fn an_actor_asks_once_the_supervisor_has_not_vouched_within_the_gap_less_an_interval() {
        let clock = clock();
        assert!(clock.must_ask(), "not vouched yet");
        clock.vouch();
        assert!(!clock.must_ask());
        // 950 ms of suspend: the engine fences if it was idle for 50 ms before (gap
        // counted from its last message's end plus one interval), so the actor asks.
        clock.advance(Duration::from_millis(950));
        assert!(clock.must_ask());
        clock.vouch();
        assert!(!clock.must_ask());
        // A suspend of 2 s: both clocks count it.
        clock.advance(Duration::from_secs(2));
        assert!(clock.now_ms() >= 2_950);
        assert!(clock.must_ask());
    }

    #[tokio::test]
    async fn a_waiting_actor_goes_on_at_the_word_is_released_for_a_move_or_told_the_node_stops() {
        let clock = std::sync::Arc::new(clock());
        let key = ActorKey::new("k");
        // Vouched while it waits.
        let waiting = {
            let (clock, key) = (clock.clone(), key.clone());
            tokio::spawn(async move { clock.word(&key, || {}).await })
        };
        tokio::task::yield_now().await;
        clock.vouch();
        assert_eq!(waiting.await.unwrap(), Word::Serve);
        // Released for a move while it waits (still not vouched).
        clock.advance(Duration::from_secs(2));
        let waiting = {
            let (clock, key) = (clock.clone(), key.clone());
            tokio::spawn(async move { clock.word(&key, || {}).await })
        };
        tokio::task::yield_now().await;
        clock.release(&key);
        assert_eq!(waiting.await.unwrap(), Word::Released);
        clock.forget(&key);
        clock.close();
        assert_eq!(clock.word(&key, || {}).await, Word::Closed);
    }
}

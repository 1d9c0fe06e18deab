//! Keeping the mesh full: which addresses to dial now, with exponential backoff.
//!
//! ractor_cluster neither reconnects nor builds a full mesh by default, so every node dials
//! its seeds and every address it learns from peers, and redials whatever is not connected.
//! Failed or still-unconnected targets back off exponentially up to a cap.

use std::collections::{BTreeMap, BTreeSet};

use super::identity::Millis;

#[derive(Clone, Debug)]
struct Target {
    failures: u32,
    next_at: Millis,
}

/// The set of addresses to keep connected, with a backoff schedule per address.
#[derive(Debug)]
pub struct Dialer {
    own_addr: String,
    base_ms: u64,
    max_ms: u64,
    targets: BTreeMap<String, Target>,
}

impl Dialer {
    /// A dialer that never dials `own_addr`; backoff starts at `base_ms` and doubles up to
    /// `max_ms`.
    pub fn new(own_addr: impl Into<String>, base_ms: u64, max_ms: u64) -> Self {
        Self {
            own_addr: own_addr.into(),
            base_ms: base_ms.max(1),
            max_ms: max_ms.max(base_ms.max(1)),
            targets: BTreeMap::new(),
        }
    }

    /// Adds an address to keep connected (idempotent). Returns true when it is new.
    pub fn add(&mut self, addr: &str, now: Millis) -> bool {
        if addr == self.own_addr || self.targets.contains_key(addr) {
            return false;
        }
        self.targets.insert(
            addr.to_string(),
            Target {
                failures: 0,
                next_at: now,
            },
        );
        true
    }

    /// The addresses to dial now: every target not in `connected` whose backoff has
    /// elapsed. Each returned address is rescheduled as if the attempt failed; a success
    /// shows up in `connected` next time and resets it.
    pub fn poll_due(&mut self, connected: &BTreeSet<String>, now: Millis) -> Vec<String> {
        let mut due = Vec::new();
        for (addr, t) in &mut self.targets {
            if connected.contains(addr) {
                t.failures = 0;
                t.next_at = now;
                continue;
            }
            if now >= t.next_at {
                due.push(addr.clone());
                let shift = t.failures.min(20);
                let delay = self.base_ms.saturating_mul(1 << shift).min(self.max_ms);
                t.failures = t.failures.saturating_add(1);
                t.next_at = Millis(now.0.saturating_add(delay));
            }
        }
        due
    }

    /// Stops keeping `addr` connected. Returns whether it was a target.
    pub fn remove(&mut self, addr: &str) -> bool {
        self.targets.remove(addr).is_some()
    }

    /// The targets, sorted.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there is no target.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_the_cap_and_resets_on_connect() {
        let mut d = Dialer::new("me:1", 100, 400);
        assert!(!d.add("me:1", Millis(0)));
        assert!(d.add("p:1", Millis(0)));
        let none = BTreeSet::new();
        let at = |d: &mut Dialer, t| d.poll_due(&none, Millis(t)).len();
        assert_eq!(at(&mut d, 0), 1); // next at 100
        assert_eq!(at(&mut d, 99), 0);
        assert_eq!(at(&mut d, 100), 1); // next at 300
        assert_eq!(at(&mut d, 299), 0);
        assert_eq!(at(&mut d, 300), 1); // next at 700 (capped at 400)
        assert_eq!(at(&mut d, 699), 0);
        assert_eq!(at(&mut d, 700), 1);
        let connected: BTreeSet<String> = ["p:1".to_string()].into();
        assert!(d.poll_due(&connected, Millis(800)).is_empty());
        // after a reset the next failure waits only the base delay again
        assert_eq!(at(&mut d, 800), 1);
        assert_eq!(at(&mut d, 900), 1);
    }
}

//! Drops and rehosts this node sent and the holder has not acknowledged yet.
//!
//! A drop (`Unreplicate`) tells a holder that a name stopped or that other nodes keep its
//! spec now; a rehost tells it that the name was handed off and its spec names the new
//! host from now on. Either frame can be lost with a session that is replaced or cut. A
//! holder that missed a drop keeps the spec of a stopped name and respawns it when the host
//! it names goes; one that missed a rehost names the former host, refuses the new host's
//! checkpoints and, when that host is lost, respawns the name from an old checkpoint.
//!
//! So every drop and rehost frame carries a batch number, the holder answers
//! `NoticesTaken { batch }` once it applied it (whether or not it changed anything: both
//! are idempotent), and the sender keeps each notice until that answer, sending it again
//! in a new batch when none came within
//! [`Timing::offer_resend_ms`](crate::core::Timing::offer_resend_ms) while the holder is up
//! (a holder out of the view is asked again once it is back; one that restarted meanwhile
//! keeps nothing and answers at once).
//!
//! One notice per (holder, name): a newer message about the same name to the same holder
//! replaces the pending one (a newer drop or rehost), or settles it (a spec, or a
//! checkpoint after a rehost, sent after it; a notice sent before it on the same link
//! arrives first, and none is sent again after it). An answer for an older batch settles
//! nothing newer.
//!
//! A holder whose drop is pending still keeps the spec, and offers it if the host is lost
//! before the drop lands: the host sends it the name's checkpoints meanwhile
//! ([`SentNotices::dropping`]; they do not settle the drop), so that its spec is never
//! older than the current holders'.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::{ActorKey, Incarnation, Millis, NodeName};

/// Most notices kept waiting for an answer; past it the oldest is forgotten (counted).
pub const MAX_PENDING_NOTICES: usize = 65_536;

/// What a holder is told about one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Drop the spec if it names `host`.
    Drop {
        /// The host the holder's spec names.
        host: NodeName,
    },
    /// The name was handed off: a spec naming `host` names `to` from now on.
    Rehost {
        /// The host the holder's spec names.
        host: NodeName,
        /// The new host.
        to: NodeName,
        /// Its incarnation.
        incarnation: Incarnation,
    },
}

#[derive(Clone, Debug)]
struct Pending {
    notice: Notice,
    batch: u64,
    at: Millis,
}

/// The notices sent and not yet acknowledged, one per (holder, name).
#[derive(Debug, Default)]
pub struct SentNotices {
    pending: BTreeMap<(NodeName, ActorKey), Pending>,
    /// The holders with a drop pending, per name (an index of `pending`).
    drops: BTreeMap<ActorKey, BTreeSet<NodeName>>,
    next_batch: u64,
    evicted: u64,
}

impl SentNotices {
    /// A fresh batch number for the next frame of notices.
    pub fn next_batch(&mut self) -> u64 {
        self.next_batch += 1;
        self.next_batch
    }

    /// `notice` about `key` went to `holder` in `batch` at `at` (replacing any pending one).
    pub fn record(
        &mut self,
        holder: &NodeName,
        key: &ActorKey,
        notice: Notice,
        batch: u64,
        at: Millis,
    ) {
        self.remove(holder, key);
        if matches!(notice, Notice::Drop { .. }) {
            self.drops
                .entry(key.clone())
                .or_default()
                .insert(holder.clone());
        }
        self.pending
            .insert((holder.clone(), key.clone()), Pending { notice, batch, at });
        if self.pending.len() > MAX_PENDING_NOTICES {
            // The oldest sixteenth goes at once, so that a flood costs one sort per
            // 4,096 notices rather than a scan per notice.
            let mut by_age: Vec<(Millis, u64, (NodeName, ActorKey))> = self
                .pending
                .iter()
                .map(|(k, p)| (p.at, p.batch, k.clone()))
                .collect();
            by_age.sort_unstable();
            let excess = self.pending.len() - MAX_PENDING_NOTICES * 15 / 16;
            for (_, _, (holder, key)) in by_age.into_iter().take(excess) {
                self.remove(&holder, &key);
                self.evicted += 1;
            }
        }
    }

    /// Takes the notice pending for (`holder`, `key`) out, if any.
    fn remove(&mut self, holder: &NodeName, key: &ActorKey) -> Option<Pending> {
        let pending = self.pending.remove(&(holder.clone(), key.clone()))?;
        if matches!(pending.notice, Notice::Drop { .. }) {
            if let Some(holders) = self.drops.get_mut(key) {
                holders.remove(holder);
                if holders.is_empty() {
                    self.drops.remove(key);
                }
            }
        }
        Some(pending)
    }

    /// `holder` is gone for good (its leave completed, or it was removed from the known
    /// set): what it was to be told is moot, as a node that comes back keeps nothing.
    /// Returns how many notices were dropped.
    pub fn forget_holder(&mut self, holder: &NodeName) -> usize {
        let keys: Vec<ActorKey> = self
            .pending
            .range((holder.clone(), ActorKey::from(""))..)
            .take_while(|((h, _), _)| h == holder)
            .map(|((_, k), _)| k.clone())
            .collect();
        for key in &keys {
            self.remove(holder, key);
        }
        keys.len()
    }

    /// The holders with a notice pending.
    pub fn holders(&self) -> BTreeSet<NodeName> {
        self.pending.keys().map(|(h, _)| h.clone()).collect()
    }

    /// A newer message about `key` (a spec) went to `holder`: the pending notice is
    /// settled.
    pub fn supersede(&mut self, holder: &NodeName, key: &ActorKey) {
        self.remove(holder, key);
    }

    /// A checkpoint of `key` went to `holder`: a pending rehost is settled (the holder
    /// names the checkpoint's sender once it lands); a pending drop is not (the holder
    /// keeps the spec until the drop lands, and takes checkpoints meanwhile).
    pub fn supersede_rehost(&mut self, holder: &NodeName, key: &ActorKey) {
        let pending = self.pending.get(&(holder.clone(), key.clone()));
        if pending.is_some_and(|p| matches!(p.notice, Notice::Rehost { .. })) {
            self.remove(holder, key);
        }
    }

    /// The holders a drop of `key` is pending on: they keep its spec until it lands.
    pub fn dropping(&self, key: &ActorKey) -> impl Iterator<Item = &NodeName> + '_ {
        self.drops.get(key).into_iter().flatten()
    }

    /// `holder` applied `batch`: its notices still pending from that batch are settled.
    /// Returns how many.
    pub fn handle_taken(&mut self, holder: &NodeName, batch: u64) -> usize {
        let taken: Vec<ActorKey> = self
            .pending
            .range((holder.clone(), ActorKey::from(""))..)
            .take_while(|((h, _), _)| h == holder)
            .filter(|(_, p)| p.batch == batch)
            .map(|((_, k), _)| k.clone())
            .collect();
        for key in &taken {
            self.remove(holder, key);
        }
        taken.len()
    }

    /// The notices unanswered since `resend_ms` before `now` whose holder `is_up`, taken
    /// out (the caller sends each again and records it anew).
    pub fn take_due(
        &mut self,
        now: Millis,
        resend_ms: u64,
        is_up: impl Fn(&NodeName) -> bool,
    ) -> Vec<(NodeName, ActorKey, Notice)> {
        let due: Vec<(NodeName, ActorKey)> = self
            .pending
            .iter()
            .filter(|((h, _), p)| now.since(p.at) >= resend_ms && is_up(h))
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|(h, k)| {
                let p = self.remove(&h, &k)?;
                Some((h, k, p.notice))
            })
            .collect()
    }

    /// Number of notices waiting for an answer.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when every notice sent was answered.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Notices forgotten unanswered because too many were pending.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The notice pending for (`holder`, `key`), if any.
    pub fn pending(&self, holder: &NodeName, key: &ActorKey) -> Option<&Notice> {
        self.pending
            .get(&(holder.clone(), key.clone()))
            .map(|p| &p.notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> NodeName {
        NodeName::new(s)
    }
    fn k(s: &str) -> ActorKey {
        ActorKey::new(s)
    }
    fn drop(host: &str) -> Notice {
        Notice::Drop { host: n(host) }
    }

    #[test]
    fn a_holder_gone_for_good_is_told_nothing_more() {
        let mut s = SentNotices::default();
        let b = s.next_batch();
        s.record(&n("h"), &k("x"), drop("a"), b, Millis(0));
        s.record(&n("h"), &k("y"), drop("a"), b, Millis(0));
        s.record(&n("i"), &k("x"), drop("a"), b, Millis(0));
        assert_eq!(s.forget_holder(&n("h")), 2);
        assert_eq!(s.len(), 1);
        assert_eq!(s.dropping(&k("x")).collect::<Vec<_>>(), vec![&n("i")]);
        assert_eq!(s.dropping(&k("y")).count(), 0);
        assert!(s.take_due(Millis(1000), 100, |h| *h == n("h")).is_empty());
    }

    #[test]
    fn a_notice_is_sent_again_until_its_batch_is_answered() {
        let mut s = SentNotices::default();
        let b = s.next_batch();
        s.record(&n("h"), &k("x"), drop("a"), b, Millis(0));
        assert!(s.take_due(Millis(99), 100, |_| true).is_empty());
        let due = s.take_due(Millis(100), 100, |_| true);
        assert_eq!(due, vec![(n("h"), k("x"), drop("a"))]);
        let b2 = s.next_batch();
        s.record(&n("h"), &k("x"), drop("a"), b2, Millis(100));
        // The first batch's late answer settles nothing newer.
        assert_eq!(s.handle_taken(&n("h"), b), 0);
        assert_eq!(s.handle_taken(&n("other"), b2), 0);
        assert_eq!(s.handle_taken(&n("h"), b2), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn a_holder_out_of_the_view_is_asked_again_once_it_is_back() {
        let mut s = SentNotices::default();
        let b = s.next_batch();
        s.record(&n("h"), &k("x"), drop("a"), b, Millis(0));
        assert!(s.take_due(Millis(500), 100, |_| false).is_empty());
        assert_eq!(s.take_due(Millis(500), 100, |_| true).len(), 1);
    }

    #[test]
    fn a_newer_message_about_the_name_replaces_or_settles_the_pending_notice() {
        let mut s = SentNotices::default();
        let b = s.next_batch();
        let rehost = Notice::Rehost {
            host: n("a"),
            to: n("b"),
            incarnation: Incarnation(1),
        };
        s.record(&n("h"), &k("x"), rehost, b, Millis(0));
        let b2 = s.next_batch();
        s.record(&n("h"), &k("x"), drop("b"), b2, Millis(10));
        assert_eq!(s.pending(&n("h"), &k("x")), Some(&drop("b")));
        // The rehost's answer does not settle the drop.
        assert_eq!(s.handle_taken(&n("h"), b), 0);
        assert_eq!(s.len(), 1);
        s.supersede(&n("h"), &k("x"));
        assert!(s.is_empty());
    }

    #[test]
    fn the_holders_a_drop_is_pending_on_are_known_until_it_is_settled() {
        let mut s = SentNotices::default();
        let dropping = |s: &SentNotices| s.dropping(&k("x")).cloned().collect::<Vec<_>>();
        let b = s.next_batch();
        s.record(&n("h"), &k("x"), drop("a"), b, Millis(0));
        s.record(&n("g"), &k("x"), drop("a"), b, Millis(0));
        assert_eq!(dropping(&s), vec![n("g"), n("h")]);
        // A checkpoint settles no drop; the answer does.
        s.supersede_rehost(&n("h"), &k("x"));
        assert_eq!(s.handle_taken(&n("h"), b), 1);
        assert_eq!(dropping(&s), vec![n("g")]);
        // Sent again, it is still pending; replaced by a rehost, it is not.
        let due = s.take_due(Millis(100), 100, |_| true);
        assert_eq!(due.len(), 1);
        let b2 = s.next_batch();
        s.record(&n("g"), &k("x"), drop("a"), b2, Millis(100));
        assert_eq!(dropping(&s), vec![n("g")]);
        let rehost = Notice::Rehost {
            host: n("a"),
            to: n("b"),
            incarnation: Incarnation(1),
        };
        s.record(&n("g"), &k("x"), rehost, b2, Millis(100));
        assert!(dropping(&s).is_empty());
        s.supersede_rehost(&n("g"), &k("x"));
        assert!(s.is_empty());
    }

    #[test]
    fn pending_notices_are_bounded_oldest_first() {
        let mut s = SentNotices::default();
        for i in 0..MAX_PENDING_NOTICES + 3 {
            let b = s.next_batch();
            s.record(
                &n("h"),
                &k(&format!("k{i}")),
                drop("a"),
                b,
                Millis(i as u64),
            );
        }
        // Past the bound the oldest sixteenth went at once.
        let kept = MAX_PENDING_NOTICES * 15 / 16;
        assert_eq!(s.len(), kept + 2);
        assert_eq!(s.evicted() as usize, MAX_PENDING_NOTICES + 1 - kept);
        assert!(s.pending(&n("h"), &k("k0")).is_none());
        let newest = format!("k{}", MAX_PENDING_NOTICES + 2);
        assert!(s.pending(&n("h"), &k(&newest)).is_some());
    }
}

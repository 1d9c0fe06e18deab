//! Respawn offers this node sent and the receiver has not acknowledged yet.
//!
//! An offer is the only copy of a lost name's spec on its way to the name's owner (a holder
//! outside the owner's replica set forgets its spec once it offered it). A frame can be lost
//! with a session that is replaced or cut, so the sender keeps each offer until the receiver
//! answers `OffersTaken` (it has the offer then, and decides it like any other), and sends
//! it again, to whoever owns the name by then, when no answer came within
//! [`Timing::offer_resend_ms`](crate::core::Timing::offer_resend_ms). A receiver that runs
//! the name already drops the offer again, so a resend never starts a second copy.

use std::collections::BTreeMap;

use super::Offer;
use crate::core::{ActorKey, Millis, NodeName};

/// One offer waiting for its acknowledgement.
#[derive(Clone, Debug)]
struct Sent<S> {
    to: NodeName,
    offer: Offer<S>,
    at: Millis,
}

/// The offers sent and not yet acknowledged, one per name (the latest).
#[derive(Debug)]
pub struct SentOffers<S> {
    sent: BTreeMap<ActorKey, Sent<S>>,
}

impl<S> Default for SentOffers<S> {
    fn default() -> Self {
        Self {
            sent: BTreeMap::new(),
        }
    }
}

impl<S: Clone> SentOffers<S> {
    /// `offer` for `key` went to `to` at `at`.
    pub fn record(&mut self, key: ActorKey, to: NodeName, offer: Offer<S>, at: Millis) {
        self.sent.insert(key, Sent { to, offer, at });
    }

    /// `from` has the offers of `keys`: they are its to decide now. An answer from a node
    /// the offer no longer waits on (it was sent again elsewhere meanwhile) changes nothing.
    pub fn handle_taken(&mut self, from: &NodeName, keys: &[ActorKey]) -> usize {
        let mut taken = 0;
        for key in keys {
            if self.sent.get(key).is_some_and(|s| s.to == *from) {
                self.sent.remove(key);
                taken += 1;
            }
        }
        taken
    }

    /// The offers unanswered since `resend_ms` before `now`, taken out (the caller sends
    /// each again and records it anew).
    pub fn take_due(&mut self, now: Millis, resend_ms: u64) -> Vec<(ActorKey, Offer<S>)> {
        let due: Vec<ActorKey> = self
            .sent
            .iter()
            .filter(|(_, s)| now.since(s.at) >= resend_ms)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|k| self.sent.remove(&k).map(|s| (k, s.offer)))
            .collect()
    }

    /// Offers waiting on `node` (it left the view: they go to the names' new owners).
    pub fn take_sent_to(&mut self, node: &NodeName) -> Vec<(ActorKey, Offer<S>)> {
        let keys: Vec<ActorKey> = self
            .sent
            .iter()
            .filter(|(_, s)| s.to == *node)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| self.sent.remove(&k).map(|s| (k, s.offer)))
            .collect()
    }

    /// Someone hosts `key` again (a spec, checkpoint, drop or rehost for it reached this
    /// node): its offer is settled, whoever took it.
    pub fn forget(&mut self, key: &ActorKey) {
        self.sent.remove(key);
    }

    /// The nodes some offer waits on.
    pub fn nodes(&self) -> Vec<NodeName> {
        let mut nodes: Vec<NodeName> = self.sent.values().map(|s| s.to.clone()).collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// The node an offer for `key` waits on, if any.
    pub fn waits_on(&self, key: &ActorKey) -> Option<&NodeName> {
        self.sent.get(key).map(|s| &s.to)
    }

    /// Number of offers waiting for an answer.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// True when every offer sent was answered.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

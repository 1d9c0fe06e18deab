//! Every deadline and patience of the protocol, derived in one place from the configuration.
//!
//! The protocol waits for many things (a drain, an acknowledgement, a barrier, a peer that
//! stopped answering, a paused node's peers, an offer's lost host). Each wait is a method
//! here, built from the few durations a user configures, so that two parts of the protocol
//! never disagree about how long "the same wait" is, and the simulation uses the very same
//! numbers as a running node.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The configured durations, in milliseconds, and the waits derived from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How often heartbeats are sent and deadlines checked.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a peer is declared down.
    pub heartbeat_deadline_ms: u64,
    /// Deadline of each handoff step (drain, acknowledgement, barrier).
    pub handoff_ms: u64,
    /// Default timeout of requests between nodes.
    pub request_ms: u64,
    /// First reconnect delay after a failed dial (doubles up to `reconnect_max_ms`).
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay.
    pub reconnect_max_ms: u64,
}

impl Default for Timing {
    /// The defaults of `DistConfig`.
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 500,
            heartbeat_deadline_ms: 3_000,
            handoff_ms: 5_000,
            request_ms: 5_000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
        }
    }
}

impl Timing {
    /// How long a dial attempt may take before it is abandoned.
    pub const DIAL_MS: u64 = 2_000;
    /// Least time between two hellos asked of the same unknown sender.
    pub const HELLO_ANSWER_MS: u64 = 250;
    /// Least time between two hellos to a connected peer that has not said hello back.
    pub const HELLO_RETRY_MS: u64 = 1_000;
    /// A peer that has the current member list gets it again in a heartbeat every this
    /// many heartbeat intervals (otherwise heartbeats carry no list).
    pub const GOSSIP_REFRESH_HEARTBEATS: u64 = 10;
    /// How long a session token's confirmation may take (see [`crate::core::tokens`]);
    /// unanswered by then, it is asked again over the issuer's next session.
    pub const CONFIRM_MS: u64 = 5_000;

    /// A paused node holds its actors at most this long waiting for a peer to come back
    /// (two deadlines for the peers to notice and reconnect, plus one handoff to bring the
    /// respawned copies back).
    pub fn fence_patience_ms(&self) -> u64 {
        self.heartbeat_deadline_ms
            .saturating_mul(2)
            .saturating_add(self.handoff_ms)
    }

    /// A respawn offer whose lost host is back in the view waits this long for the host to
    /// hand its copy over before the offer is dropped (the host's deadline to notice it is
    /// back, plus one handoff).
    pub fn respawn_patience_ms(&self) -> u64 {
        self.heartbeat_deadline_ms.saturating_add(self.handoff_ms)
    }

    /// A respawn offer not acknowledged this long is sent again, to whoever owns its name
    /// then (two heartbeat intervals: an answer takes a round trip on a live link, so a
    /// lost offer costs its name that long, well within [`Timing::park_ms`], while the
    /// messages to it are parked).
    pub fn offer_resend_ms(&self) -> u64 {
        self.heartbeat_interval_ms.saturating_mul(2).max(1)
    }

    /// A graceful leave reports a timeout after this long (three handoff steps: drain,
    /// transfer, barrier).
    pub fn leave_ms(&self) -> u64 {
        self.handoff_ms.saturating_mul(3)
    }

    /// How long a caller of `leave` waits for the answer (one step more than the leave).
    pub fn leave_call_ms(&self) -> u64 {
        self.handoff_ms.saturating_mul(4)
    }

    /// A view must have been quiet (settled, no change) this long before the replica sets
    /// of every hosted name are brought up to date.
    pub fn replicate_quiet_ms(&self) -> u64 {
        self.heartbeat_interval_ms.saturating_mul(2)
    }

    /// Silence longer than this means the process was paused and its peers have declared
    /// it down: the recovery engine counts it from the end of the previous handled message
    /// plus one heartbeat interval (see `core::recovery`'s fence).
    pub fn pause_gap_ms(&self) -> u64 {
        self.heartbeat_deadline_ms
    }

    /// A hosted actor waits for its supervisor's word before handling a message once the
    /// supervisor has not checked for a pause for this long (see `node::clock`): the gap
    /// less the interval the fence adds, so that any silence the fence would count as a
    /// pause makes the actors wait.
    pub fn ask_after_ms(&self) -> u64 {
        self.pause_gap_ms()
            .saturating_sub(self.heartbeat_interval_ms)
    }

    /// A node's barrier waits this long at most for a source that keeps saying it still
    /// has actors on their way (`HandoffsBusy`): a live source's move ends within a drain,
    /// a final snapshot and two transfers, each bounded by the handoff deadline; a silent
    /// source is given up on after one deadline.
    pub fn busy_patience_ms(&self) -> u64 {
        self.handoff_ms.saturating_mul(4)
    }

    /// Messages parked until the node settles are released after this long at the latest
    /// (those for names a busy source may still bring wait for the settle, at most
    /// [`Timing::busy_patience_ms`]).
    pub fn park_ms(&self) -> u64 {
        self.handoff_ms
    }

    /// A stamped cast waits this long at most for an earlier one of its sender that took
    /// another path (see [`crate::core::order`]): a cast parked or held on the way is
    /// released within [`Timing::park_ms`] or a handoff step. (One parked for a busy
    /// source may wait longer, up to [`Timing::busy_patience_ms`]; the gap is not made
    /// that long, because every sender that cast to an earlier activation of a name
    /// waits it once after a move.)
    pub fn gap_ms(&self) -> u64 {
        self.park_ms().saturating_add(self.handoff_ms)
    }

    /// A final snapshot running this long is slow: another snapshot job may start beside
    /// it (an eighth of the handoff deadline it must end within; see
    /// [`crate::core::snapshot_jobs`]).
    pub fn snapshot_slow_ms(&self) -> u64 {
        self.handoff_ms / 8
    }

    /// [`Timing::leave_call_ms`] as a duration.
    pub fn leave_call(&self) -> Duration {
        Duration::from_millis(self.leave_call_ms())
    }

    /// [`Timing::park_ms`] as a duration.
    pub fn park(&self) -> Duration {
        Duration::from_millis(self.park_ms())
    }

    /// [`Timing::CONFIRM_MS`] as a duration.
    pub fn confirm(&self) -> Duration {
        Duration::from_millis(Self::CONFIRM_MS)
    }

    /// [`Timing::DIAL_MS`] as a duration.
    pub fn dial(&self) -> Duration {
        Duration::from_millis(Self::DIAL_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_waits_follow_the_configured_durations() {
        let t = Timing {
            heartbeat_interval_ms: 100,
            heartbeat_deadline_ms: 1_000,
            handoff_ms: 2_000,
            ..Timing::default()
        };
        assert_eq!(t.fence_patience_ms(), 4_000);
        assert_eq!(t.respawn_patience_ms(), 3_000);
        assert_eq!(t.leave_ms(), 6_000);
        assert_eq!(t.leave_call_ms(), 8_000);
        assert_eq!(t.replicate_quiet_ms(), 200);
        assert_eq!(t.pause_gap_ms(), 1_000);
        assert_eq!(t.ask_after_ms(), 900);
        assert_eq!(t.park_ms(), 2_000);
        assert_eq!(t.busy_patience_ms(), 8_000);
        assert_eq!(t.gap_ms(), 4_000);
    }

    #[test]
    fn huge_durations_saturate_instead_of_overflowing() {
        let t = Timing {
            heartbeat_deadline_ms: u64::MAX,
            handoff_ms: u64::MAX,
            ..Timing::default()
        };
        assert_eq!(t.fence_patience_ms(), u64::MAX);
        assert_eq!(t.leave_call_ms(), u64::MAX);
        assert_eq!(t.gap_ms(), u64::MAX);
    }
}

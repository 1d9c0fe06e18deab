//! [`NodeStatus`]: one node's state and counters, as reported to peers and consoles.

use serde::{Deserialize, Serialize};

use super::identity::{Epoch, NodeName};

/// Whether the `count`-th occurrence of a counted problem (bad input, a refusal, a
/// drop) is logged: the first ten, then every thousandth, so that a flood of garbage
/// cannot flood the log while the counter keeps the exact number.
pub(crate) fn worth_logging(count: u64) -> bool {
    count <= 10 || count % 1000 == 0
}

/// A snapshot of one node's state and counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeStatus {
    /// The node.
    pub node: NodeName,
    /// Its current membership epoch.
    pub epoch: Epoch,
    /// The live members it sees, sorted.
    pub members: Vec<NodeName>,
    /// Actors hosted here.
    pub hosted: u64,
    /// Directory entries held here (names it owns that run elsewhere).
    pub directory: u64,
    /// Envelopes from peers that did not decode (garbage, truncated, oversized).
    pub bad_frames: u64,
    /// Envelopes or hellos of another protocol version.
    pub version_mismatches: u64,
    /// Peers whose hello was refused.
    pub refused_peers: u64,
    /// Casts to names that exist nowhere (dropped, logged).
    pub dropped_casts: u64,
    /// Messages that did not decode for their actor's kind.
    pub bad_messages: u64,
    /// Snapshots that could not be restored (the actor restarted from its arguments).
    pub bad_snapshots: u64,
    /// Actors that arrived here by handoff.
    pub moved_in: u64,
    /// Actors handed off to other nodes.
    pub moved_out: u64,
    /// Handoffs that fell back (drain deadline missed, restored locally, ...).
    pub handoff_fallbacks: u64,
    /// Actors being handed off from here right now.
    pub moving: u64,
    /// True when every peer finished its handoffs for the current view.
    pub settled: bool,
    /// Milliseconds from the last view change to the moment this node settled (0 before
    /// the first view change).
    pub last_settle_ms: u64,
    /// When this node adopted its current view, in microseconds since the Unix epoch (wall
    /// clock: comparable between processes of one machine).
    pub view_adopted_unix_us: u64,
    /// Messages buffered for actors being handed off, plus messages parked until the
    /// node settles.
    pub buffered: u64,
    /// Spawn requests and handed-off actors of kinds not registered here (a handed-off
    /// one is refused back to its source, which keeps it or hands it to the next node).
    pub unknown_kinds: u64,
    /// Actors this node handed off that their target refused (it lacks their kind): kept
    /// here, or handed to the next node of their ranking that has the kind.
    pub moves_refused: u64,
    /// Actor restarts after a panic or error.
    pub restarts: u64,
    /// Casts forwarded to another node (stale routes).
    pub forwarded: u64,
    /// Peers declared down by the heartbeat deadline.
    pub peers_declared_down: u64,
    /// Specs of names hosted elsewhere that this node keeps as a replica.
    pub replica_specs: u64,
    /// Names hosted here that fewer live nodes keep a confirmed spec of than the view
    /// allows (`replicas - 1`, or every other member of a smaller view), as of the last
    /// heartbeat tick: losing this node now would lose them. 0 some heartbeats after a
    /// membership change, once replica sets caught up: wait for it on every node before
    /// taking the next one down.
    pub under_replicated: u64,
    /// Names respawned here after their host was lost.
    pub respawned: u64,
    /// Conflicts between two live copies of a name resolved here (after partitions).
    pub conflicts: u64,
    /// Checkpoints sent to replicas.
    pub checkpoints: u64,
    /// Checkpoints and specs refused as stale (from a replaced host or generation).
    pub checkpoints_fenced: u64,
    /// Checkpoints that `DistActor::snapshot` failed to take.
    pub checkpoint_failures: u64,
    /// Checkpoints too large for one frame (kept locally, not replicated).
    pub checkpoints_too_large: u64,
    /// Times this node found it had been paused past the heartbeat deadline.
    pub pauses: u64,
    /// True while this node's actors are fenced after such a pause.
    pub fenced: bool,
    /// Messages refused because a hold queue was at its cap (calls answered with an
    /// error, local sends returned one, casts from peers dropped).
    pub hold_refused: u64,
    /// Frames and requests from authenticated peers that were refused: they named another
    /// sender than their session's peer, carried no session token, or values out of bounds
    /// Views this node settled by the handoff deadline, without every peer's barrier
    /// (parked messages were then released without waiting for the handoffs they wait
    /// for). 0 in a cluster without faults.
    pub settled_by_deadline: u64,
    /// Respawn offers sent again because their receiver did not acknowledge them in time
    /// (the frame may have been lost with its session).
    pub offers_resent: u64,
    /// Drops and rehosts of specs sent again because their holder did not acknowledge them
    /// in time, and specs sent again because their holder did not confirm keeping them.
    pub notices_resent: u64,
    /// Gaps in one sender's casts to a name given up after waiting
    /// [`crate::core::Timing::gap_ms`] for the missing ones (lost on the way); later casts
    /// of that sender were then delivered (see [`crate::core::order`]). A cast that arrives
    /// after its gap was given up is dropped and counted in `dropped_casts`.
    pub gaps_skipped: u64,
    /// Frames and requests from peers that were refused: they named another sender than
    /// their session's peer, carried no session token, or values out of bounds or that
    /// their sender is not entitled to send (see [`crate::core::admission`]), plus session
    /// tokens their claimed issuer did not confirm. Nothing changed because of them.
    pub frames_refused: u64,
}

/// How this node keeps its mesh: dials and sessions (local only, not sent to peers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeshStats {
    /// Dials issued since the node started (seeds, discovered and gossiped addresses that
    /// were not connected).
    pub dials: u64,
    /// Addresses the node keeps connected (dialing those that are not).
    pub dial_targets: u64,
    /// Of those, the ones known to lead to a node (dialed once and said hello): they are
    /// not dialed while that node is connected, however they are spelled.
    pub dials_identified: u64,
    /// Live sessions replaced by a newer session to the same peer (ractor_cluster's
    /// duplicate-connection election; frames queued on the old one are lost).
    pub sessions_replaced: u64,
    /// Dial targets forgotten: no longer returned by discovery nor mentioned by peers, and
    /// not connected.
    pub dials_forgotten: u64,
    /// Addresses discovery returned last (all sources together).
    pub discovered: u64,
    /// Discovery rounds run (at start, then one per refresh interval).
    pub discovery_rounds: u64,
    /// Discovery sources that failed to answer (their previous answer was kept).
    pub discovery_errors: u64,
}

/// How this node's moves fared on the wire (local only, not sent to peers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MoveStats {
    /// `Migrate` batches sent again because their target did not acknowledge them within
    /// the handoff timeout (the batch or its acknowledgement may have been lost with a
    /// session). A resend copies each snapshot piece once, into its frame.
    pub batches_resent: u64,
    /// Bytes of snapshots arriving in pieces, held until their batch completes (a gauge):
    /// 0 once every move to this node finished. Bounded by the inbound limits; a piece of
    /// an abandoned or duplicated transfer is freed when its batch arrives, is resent, or
    /// its sender goes.
    pub reassembly_bytes: u64,
}

/// How this node found where names run (local only, not sent to peers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupStats {
    /// Questions sent to a directory node (`lookup`, `where_is`, `host` of a name not
    /// hosted here nor known to this node's tables or cache) and answered, redirects
    /// included (a question that could not be sent, or got no answer, is not counted).
    pub asked: u64,
    /// Routes of handles and lookups answered by the lookup cache (an answer a directory
    /// node gave in the current membership view) instead of a question. A view change
    /// invalidates every cached answer.
    pub cache_hits: u64,
}

/// What a node refused at its door (local only, not sent to peers): connections that did
/// not open a session, sessions whose certificate did not name their peer, and frames that
/// named another sender than their session's peer or carried values out of bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityStats {
    /// TLS handshakes that failed, incoming or outgoing (a plaintext peer, a certificate of
    /// another CA, no certificate).
    pub tls_failures: u64,
    /// Sessions closed because the peer's certificate does not name the node it
    /// authenticated as.
    pub identity_mismatches: u64,
    /// Connections closed because they did not open a session within the handshake
    /// timeout (TLS handshake, then cookie challenge).
    pub handshake_timeouts: u64,
    /// Incoming connections closed at accept because too many were still opening.
    pub connections_over_cap: u64,
    /// Incoming connections opening now (a gauge).
    pub pending_connections: u64,
    /// As [`NodeStatus::frames_refused`].
    pub frames_refused: u64,
}

#[cfg(test)]
mod log_tests {
    use super::worth_logging;

    #[test]
    fn the_first_ten_and_every_thousandth_are_logged() {
        let logged: Vec<u64> = (1..=3001).filter(|n| worth_logging(*n)).collect();
        assert_eq!(logged, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000, 2000, 3000]);
    }
}

//! What the recovery engine takes (its configuration, the context of a call) and what it
//! gives back (frames, commands, events, conflict outcomes).

use super::meta::NameMeta;
use super::{Activation, ConflictPolicy, FenceDecision, Offer, ReplicaOutcome, Resolution, Spec};
use crate::core::{ActorKey, Incarnation, Millis, NodeName, Placement, Timing};

/// Who this node is and the limits it works with.
#[derive(Clone, Debug)]
pub struct RecoveryConfig {
    /// This node.
    pub me: NodeName,
    /// Its incarnation.
    pub incarnation: Incarnation,
    /// Nodes keeping each name (the host included); 1: no replication.
    pub replicas: usize,
    /// The most state one frame carries (the rest is headroom for the envelope).
    pub frame_budget: usize,
    /// Every deadline of the protocol.
    pub timing: Timing,
}

impl RecoveryConfig {
    /// The state budget of a frame of `max_frame_bytes`: half of it, at least 512 bytes.
    pub fn frame_budget_of(max_frame_bytes: usize) -> usize {
        (max_frame_bytes / 2).max(512)
    }
}

/// What the node sees when it calls the engine.
#[derive(Debug)]
pub struct Ctx<'a, P> {
    /// Now.
    pub now: Millis,
    /// The placement to decide by.
    pub placement: &'a Placement,
    /// The peers.
    pub peers: &'a P,
    /// The node is leaving or shutting down.
    pub leaving: bool,
}

impl<P> Clone for Ctx<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Ctx<'_, P> {}

/// A frame body the engine sends to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryMsg<S> {
    /// Keep these specs (the sender hosts the names).
    Replicate {
        /// The specs.
        specs: Vec<(ActorKey, Spec<S>)>,
    },
    /// The sender keeps the specs of these names now.
    SpecsKept {
        /// The names.
        keys: Vec<ActorKey>,
    },
    /// Drop the specs of these names that name these hosts.
    Unreplicate {
        /// (name, the host its spec names).
        keys: Vec<(ActorKey, NodeName)>,
        /// Answered by `NoticesTaken` (sent again until it is).
        batch: u64,
    },
    /// These names were handed off to `to`.
    Rehost {
        /// (name, the host its spec names).
        keys: Vec<(ActorKey, NodeName)>,
        /// The new host.
        to: NodeName,
        /// Its incarnation.
        incarnation: Incarnation,
        /// Answered by `NoticesTaken` (sent again until it is).
        batch: u64,
    },
    /// A newer checkpoint of a name the sender hosts.
    Checkpoint {
        /// The name.
        key: ActorKey,
        /// Its generation.
        generation: u64,
        /// The checkpoint's sequence number.
        seq: u64,
        /// The state, or with `delta` the change since checkpoint `seq - 1`.
        snapshot: S,
        /// `snapshot` is a delta: it extends checkpoint `seq - 1` and nothing else.
        delta: bool,
    },
    /// These names lost their host.
    Respawn {
        /// The offers.
        offers: Vec<(ActorKey, Offer<S>)>,
    },
    /// The sender has the respawn offers of these names (it decides them now): the
    /// receiver stops sending them again.
    OffersTaken {
        /// The names.
        keys: Vec<ActorKey>,
    },
    /// The sender applied the drops or rehosts of this batch: the receiver stops sending
    /// them again.
    NoticesTaken {
        /// The batch (of an `Unreplicate` or a `Rehost`).
        batch: u64,
    },
}

/// Start a name that lost its host here.
#[derive(Clone, Debug)]
pub struct RespawnStart<S> {
    /// The name.
    pub key: ActorKey,
    /// Its kind, arguments, new activation and checkpoint (start from it when present).
    pub meta: NameMeta<S>,
    /// The host that was lost.
    pub lost: NodeName,
    /// The sequence number of the checkpoint it starts from (0: its arguments).
    pub seq: u64,
    /// The loss it answers, as the offer named it (lost host, its incarnation, the lost
    /// generation): remembered once the respawn started, so that the same offer coming
    /// again never starts the name twice.
    pub loss: (NodeName, Incarnation, u64),
}

/// What the engine reports (for counters and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A checkpoint went to the replicas of a name.
    Checkpointed,
    /// A checkpoint over the frame budget was kept here only.
    CheckpointTooLarge {
        /// The name.
        key: ActorKey,
        /// Its size.
        bytes: usize,
        /// The budget.
        limit: usize,
    },
    /// A spec named another host than its sender (refused).
    SpecFromOtherHost {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// The host it named.
        host: NodeName,
    },
    /// A spec of a replaced generation was refused.
    StaleSpec {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
    },
    /// A checkpoint was refused.
    CheckpointRefused {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// Its generation.
        generation: u64,
        /// Its sequence number.
        seq: u64,
        /// Why.
        outcome: ReplicaOutcome,
    },
    /// A name kept here lost its host: its respawn is offered to `owner`.
    Orphaned {
        /// The name.
        key: ActorKey,
        /// The lost host.
        lost: NodeName,
        /// The spec's generation.
        generation: u64,
        /// The spec's checkpoint.
        seq: u64,
        /// The name's owner.
        owner: NodeName,
    },
    /// Offers sent and not acknowledged in time were sent again.
    OffersResent {
        /// How many.
        count: usize,
    },
    /// Drops and rehosts not acknowledged in time were sent again.
    NoticesResent {
        /// How many.
        count: usize,
    },
    /// Specs their holders did not confirm keeping in time were sent again.
    SpecsResent {
        /// How many.
        count: usize,
    },
    /// An offer was dropped.
    OfferDropped {
        /// The name.
        key: ActorKey,
        /// Why.
        why: &'static str,
    },
    /// The same copy arrived twice (ignored).
    SameCopy {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// Its generation.
        generation: u64,
    },
    /// A copy arrived while ours moves away: it follows ours.
    ConflictFollows {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
    },
    /// Two live copies met here and were resolved.
    Conflict {
        /// The name.
        key: ActorKey,
        /// The sender of the other copy.
        from: NodeName,
        /// The kind's policy.
        policy: ConflictPolicy,
        /// The outcome.
        resolution: Resolution,
        /// The generation of the copy here.
        local_generation: u64,
        /// The generation of the other.
        incoming_generation: u64,
    },
    /// This node was paused past the deadline: it is fenced.
    Paused {
        /// The gap noticed (including one heartbeat interval; see [`Fence`](super::Fence)).
        gap_ms: u64,
    },
    /// The fence was lifted.
    Unfenced {
        /// Why.
        decision: FenceDecision,
        /// How long it was held.
        waited_ms: u64,
    },
}

/// What the node executes.
#[derive(Clone, Debug)]
pub enum RecoveryCommand<S> {
    /// Send `msg` to `to`.
    Send {
        /// The peer.
        to: NodeName,
        /// The body.
        msg: RecoveryMsg<S>,
    },
    /// Start a respawn; on success call [`Recovery::handle_respawned`](super::Recovery::handle_respawned).
    Respawn(RespawnStart<S>),
    /// Apply a conflict's resolution to the copy running here.
    Resolve {
        /// The name.
        key: ActorKey,
        /// `TakeIncoming` or `Merge`.
        resolution: Resolution,
        /// The other copy's state.
        snapshot: S,
    },
    /// Hold every hosted actor's messages (the node was paused).
    Fence,
    /// Deliver to the hosted actors again, starting with what was held.
    Unfence,
    /// Count and log.
    Event(RecoveryEvent),
}

/// Where the copy of a name stands on this node when another copy arrives.
#[derive(Debug)]
pub enum Here<'a, S> {
    /// It runs here (not moving): the conflict is resolved here.
    Running {
        /// Its metadata.
        meta: &'a mut NameMeta<S>,
        /// Its kind's policy.
        policy: ConflictPolicy,
    },
    /// It is moving away (or is not here at all).
    Moving {
        /// The activation of the draining copy, if one still runs.
        draining: Option<&'a Activation>,
        /// The activation of the drained copy waiting for its target's acknowledgement.
        outgoing: Option<&'a Activation>,
    },
}

/// What became of an arriving copy.
#[derive(Debug, PartialEq, Eq)]
pub enum ConflictOutcome<S> {
    /// It is the copy here (it arrived twice).
    Ignored,
    /// Ours is moving away: the arriving copy (with its state) follows ours.
    Follows(Option<S>),
    /// Resolved here: the copy here is a new activation.
    Resolved(Resolution),
}

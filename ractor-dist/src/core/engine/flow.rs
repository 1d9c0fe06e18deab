//! The order of work: what the engine does on a tick, on a session change, on a view change
//! and when it settles, and the one [`Command`] queue the node layer drains.
//!
//! Every `handle_*` call leaves its commands in the queue; [`Engine::poll_command`] hands
//! them out in order, pulling the sub-machines' commands in whenever the queue runs dry
//! (a `handle_*` call that changes the view pulls them in at once) and handling those that
//! only concern the engine itself (a view change, a departed peer, a new handoff view, a
//! settle, a fence) on the spot. Commands a sub-machine decides while the node layer
//! carries out earlier ones (a checkpoint it reports, say) come after those.

use super::frames::{Arriving, Note};
use super::{ChildId, Engine};
use crate::core::recovery::{RecoveryCommand, RecoveryEvent, RespawnStart};
use crate::core::wire::FrameBody;
use crate::core::{
    ActorKey, HandoffCommand, Hello, HelloError, Incarnation, MembershipEvent, MeshCommand, Millis,
    NodeName, Release, Resolution, Snapshot, ViewId,
};

/// What the node layer must do, in order (see [`Engine::poll_command`]).
#[derive(Debug)]
pub(crate) enum Command {
    /// Send one frame to a peer (dropped if it has no session).
    Send {
        /// The peer.
        to: NodeName,
        /// The frame.
        body: FrameBody,
    },
    /// Send the same frame to each of these peers (encoded once).
    SendAll {
        /// The peers.
        to: Vec<NodeName>,
        /// The frame.
        body: FrameBody,
    },
    /// Flush the casts batched for `to`, so that what follows cannot overtake them.
    Flush(NodeName),
    /// Dial this address.
    Dial(String),
    /// This address is no longer dialed: the transport may forget what dialing it taught.
    ForgetTarget(String),
    /// Close every session to this peer (declared down while still connected; the engine
    /// already left it out of the reachable peers), then report it with
    /// [`Engine::handle_disconnected`].
    Disconnect(NodeName),
    /// A membership event for the application (`first`: log it; a repeated refusal is only
    /// counted).
    Event {
        /// The event.
        event: MembershipEvent,
        /// The first report of it.
        first: bool,
    },
    /// Publish the routes and view (the placement or the reachable peers changed; the
    /// engine's routes are already up to date).
    PublishView,
    /// A new handoff view: publish it, flush every outbox, then send `ViewAdopted(view)` to
    /// every peer with a session.
    AdoptView(ViewId),
    /// The membership view changed: handles forget the hosts of the peers `lost`.
    ViewChanged {
        /// Peers lost without a graceful leave.
        lost: Vec<NodeName>,
    },
    /// Messages for `key` go through the supervisor from now on (it moves, to `to`): its
    /// actor is still starting, and is drained (a [`Command::Drain`]) once its start is
    /// reported.
    HoldForDrain {
        /// The name.
        key: ActorKey,
        /// Where it goes.
        to: NodeName,
    },
    /// Drain `key`'s actor `id` (it moves to `to`); it was marked draining. (Nothing if
    /// the actor serving `key` is no longer `id`.)
    Drain {
        /// The name.
        key: ActorKey,
        /// Where it goes.
        to: NodeName,
        /// The actor.
        id: ChildId,
    },
    /// Kill `key`'s actor: its drain missed the deadline (a counted fallback).
    Kill(ActorKey),
    /// Send the frames of a `Migrate` batch to `to`, after flushing its casts (none if `to`
    /// has no session: the batch is retried).
    SendBatch {
        /// The target.
        to: NodeName,
        /// The batch number.
        batch: u64,
        /// The names in it.
        keys: Vec<ActorKey>,
    },
    /// `key` runs on `to` now (see [`Engine::handle_moved`]).
    Moved {
        /// The name.
        key: ActorKey,
        /// Its new host.
        to: NodeName,
    },
    /// The move of `key` has no target any more: start it here again (see
    /// [`Engine::handle_restore`]). `refused`: its target lacks the kind and no other node
    /// takes it, so it stays here by design (not a fallback).
    Restore {
        /// The name.
        key: ActorKey,
        /// Refused, not fallen back.
        refused: bool,
    },
    /// The node settled for its current view (`by_deadline`: without hearing from every
    /// peer): settling actors become active (what the recovery engine decided at that
    /// settle, and the release of parked messages, follow).
    Settled {
        /// It gave up waiting.
        by_deadline: bool,
    },
    /// Dispatch the parked messages again (`expired_only`: only those parked for the whole
    /// park deadline, handled without a further admission check).
    ReleaseParked {
        /// Only the expired ones.
        expired_only: bool,
    },
    /// Start a respawn the recovery engine decided.
    Respawn(RespawnStart<Snapshot>),
    /// Ask the copy of `key` running here to take or merge another copy's state.
    Resolve {
        /// The name.
        key: ActorKey,
        /// Take or merge.
        resolution: Resolution,
        /// The other copy's state.
        snapshot: Snapshot,
    },
    /// Carry out what becomes of these messages held for `key` (see [`Release`]).
    Release {
        /// The name they were held for.
        key: ActorKey,
        /// What to do with each.
        releases: Vec<Release>,
    },
    /// The node was paused past the deadline: hold every hosted actor's messages (the
    /// placement was reset and must be published).
    Fence,
    /// The fence is lifted: the hosted actors take messages again.
    Unfence,
    /// Count and log a recovery event.
    Report(RecoveryEvent),
    /// Count and log something the engine noticed.
    Note(Note),
    /// Start these arrivals from `from` (by handoff in `batch`, or following a conflict),
    /// in order, then report which started with [`Engine::handle_arrivals_started`].
    StartArrivals {
        /// Their former host.
        from: NodeName,
        /// The `Migrate` batch they came in (acknowledged once they started).
        batch: Option<u64>,
        /// The copies to start.
        arrivals: Vec<Arriving>,
    },
    /// The known node set changed (publish it for `all()`).
    KnownChanged(std::sync::Arc<crate::core::known::KnownNodes>),
    /// Write the known node set's file (`<data_dir>/replicated/<name's file>`).
    Persist {
        /// The value's name ([`crate::core::known::KNOWN_NODES`]).
        name: String,
        /// The file's bytes.
        file: Vec<u8>,
    },
    /// A peer's known node set was refused (count and log it).
    KnownRefused {
        /// The peer.
        from: NodeName,
        /// Why.
        error: crate::core::replicated::ReplicaError,
    },
    /// This node was removed from the known node set (`del_node` on some node): it leaves
    /// the cluster gracefully and stops.
    Removed,
}

impl Engine {
    /// The next thing for the node layer to do.
    pub(crate) fn poll_command(&mut self) -> Option<Command> {
        if self.commands.is_empty() {
            self.pump();
        }
        self.commands.pop_front()
    }

    /// Moves the sub-machines' commands into the queue, in order: the mesh's (a view change
    /// is worked out at once), then recovery's, then the handoff machine's; until none has
    /// any left.
    pub(super) fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some(command) = self.mesh.poll_command() {
                any = true;
                self.on_mesh(command);
            }
            while let Some(command) = self.known.poll_command() {
                any = true;
                self.on_known(command);
            }
            while let Some(command) = self.recovery.poll_command() {
                any = true;
                self.on_recovery(command);
            }
            while let Some(command) = self.handoff.poll_command() {
                any = true;
                self.on_handoff(command);
            }
            if !any {
                break;
            }
        }
        // After the whole batch: a node that settled for its current view (a `Settled` of a
        // view already replaced does not count) makes its settling actors active, lets the
        // recovery engine decide (the fence may lift, offers become respawns, replicas are
        // brought up to date), and only then dispatches what it parked, so that messages for
        // a name respawned here find it. Several `Settled` of one batch settle once.
        let settled = self.settled_pending.take();
        if let Some(by_deadline) = settled.filter(|_| self.handoff.is_settled()) {
            self.commands.push_back(Command::Settled { by_deadline });
            let now = self.now;
            self.recovery_settled(by_deadline, now);
            self.pump_recovery();
        }
        // After the whole batch of a new handoff view, or a settle: parked messages are
        // dispatched again.
        if std::mem::take(&mut self.announced) || settled.is_some() {
            self.commands.push_back(Command::ReleaseParked {
                expired_only: false,
            });
        }
    }

    fn on_mesh(&mut self, command: MeshCommand) {
        let command = match command {
            MeshCommand::SendHello { to, reply } => {
                if self.leaving.is_some() {
                    // A peer met while leaving (a node that joins) hears `Leaving` before
                    // the hello, and so refuses the hello: taken for a member, if only
                    // until a `Leaving` that followed, this node would be an owner in its
                    // view, and names would bounce between the two views.
                    self.send(&to, FrameBody::Leaving);
                    self.leave_unseen.insert(to.clone());
                }
                let hello = self.mesh.membership().me().clone();
                self.send(&to, FrameBody::Hello { hello, reply });
                return;
            }
            MeshCommand::Heartbeat { to, members } => Command::SendAll {
                to,
                body: FrameBody::Heartbeat { members },
            },
            MeshCommand::Dial(addr) => Command::Dial(addr),
            MeshCommand::Forget(addr) => Command::ForgetTarget(addr),
            MeshCommand::Disconnect(node) => {
                // Unreachable from now on (the routes of a view worked out next must not
                // count it), although the node layer closes its sessions only later.
                self.mesh.handle_disconnected(&node);
                Command::Disconnect(node)
            }
            MeshCommand::Event { event, first } => {
                if let MembershipEvent::Up { node, .. } = &event {
                    self.known_up(node);
                }
                Command::Event { event, first }
            }
            MeshCommand::LeaverGone(peer) => {
                self.recovery.forget_holder(&peer);
                self.handoff.handle_peer_gone(&peer);
                self.inbound.handle_peer_gone(&peer);
                self.answered_in.forget_peer(&peer);
                self.forwarding.retain(|_, (from, _)| *from != peer);
                self.routing.handle_peer_gone(&peer);
                // Names it could not hand off (it crashed while leaving) are lost now.
                let now = self.now;
                self.offer_orphans(now);
                return;
            }
            MeshCommand::ViewChanged { lost } => return self.on_view_change(lost),
        };
        self.commands.push_back(command);
    }

    fn on_recovery(&mut self, command: RecoveryCommand<Snapshot>) {
        let command = match command {
            RecoveryCommand::Send { to, msg } => Command::Send {
                to,
                body: FrameBody::from(msg),
            },
            RecoveryCommand::Respawn(start) => Command::Respawn(start),
            RecoveryCommand::Resolve {
                key,
                resolution,
                snapshot,
            } => {
                // The copy here takes the other one's state: casts held for it (while it
                // was fenced) belong to the history that lost and are older than what the
                // other copy took; delivered after it, they would break their senders'
                // order. They are dropped (requests stay held).
                let stale = if resolution == Resolution::TakeIncoming {
                    self.hold.drop_casts(&key)
                } else {
                    Vec::new()
                };
                self.commands.push_back(Command::Resolve {
                    key: key.clone(),
                    resolution,
                    snapshot,
                });
                if stale.is_empty() {
                    return;
                }
                Command::Release {
                    key,
                    releases: stale,
                }
            }
            RecoveryCommand::Fence => {
                self.mesh.handle_resumed(self.now);
                self.placement = self.mesh.membership().placement();
                self.set_routes_view();
                Command::Fence
            }
            RecoveryCommand::Unfence => Command::Unfence,
            RecoveryCommand::Event(event) => Command::Report(event),
        };
        self.commands.push_back(command);
    }

    fn on_handoff(&mut self, command: HandoffCommand) {
        let command = match command {
            HandoffCommand::Announce { view } => {
                self.set_routes_view();
                self.announced = true;
                Command::AdoptView(view)
            }
            HandoffCommand::Drain { key, to } => {
                let Some(&id) = self.child_ids.get(&key) else {
                    self.handoff.handle_gone(&key);
                    return;
                };
                match self.children.get_mut(&id) {
                    // Already draining: its exit carries the state to wherever the move
                    // goes then. (A second drain could reach a copy started after it.)
                    Some(child) if child.draining => return,
                    Some(child) => child.draining = true,
                    // It exited to move, its move lost its target, and it is to start here
                    // again (`Restore`): the copy restored is the one to drain.
                    None if self.outgoing.contains_key(&key) => {
                        self.drain_on_restore.insert(key, to);
                        return;
                    }
                    None => {}
                }
                if self.starting.contains(&id) {
                    self.drain_after_start.insert(id, to.clone());
                    Command::HoldForDrain { key, to }
                } else {
                    Command::Drain { key, to, id }
                }
            }
            HandoffCommand::ForceStop { key } => {
                match self.child_of_mut(&key) {
                    Some(child) if child.draining => child.kill_ordered = true,
                    // A copy that is not draining is not the one the move waits for:
                    // killed, it would stop for good (and its name with it).
                    _ => return,
                }
                Command::Kill(key)
            }
            HandoffCommand::SendBatch { to, batch, keys } => Command::SendBatch { to, batch, keys },
            HandoffCommand::Moved { key, to } => Command::Moved { key, to },
            HandoffCommand::RestoreLocal { key, refused } => {
                // Refused by its owner (it lacks the kind): it runs here, and the owner
                // (its directory node) hears of it before this node's `HandoffsDone`.
                if self.handoff.was_refused(&key) {
                    if let Some(kind) = self.outgoing.get(&key).map(|o| o.kind.clone()) {
                        self.register_elsewhere(&key, &kind);
                    }
                }
                Command::Restore { key, refused }
            }
            HandoffCommand::SendDone { to, view } => {
                self.commands.push_back(Command::Flush(to.clone()));
                Command::Send {
                    to,
                    body: FrameBody::HandoffsDone { view },
                }
            }
            HandoffCommand::Busy { to } => Command::SendAll {
                to,
                body: FrameBody::HandoffsBusy,
            },
            HandoffCommand::Remind {
                view,
                adopted,
                done,
            } => {
                for to in adopted {
                    let body = FrameBody::ViewAdopted { view };
                    self.commands.push_back(Command::Send { to, body });
                }
                for to in done {
                    let body = FrameBody::HandoffsDone { view };
                    self.commands.push_back(Command::Send { to, body });
                }
                return;
            }
            HandoffCommand::Settled { by_deadline } => {
                // The last one describes the view the node settled for.
                self.settled_pending = Some(by_deadline);
                return;
            }
        };
        self.commands.push_back(command);
    }

    /// The heartbeat timer fired at `now`: deadlines, heartbeats, hello retries and dialing;
    /// the fence may lift and, once the view has been quiet, replica sets are brought up to
    /// date (and `Stay` names registered once more); handoff deadlines; expired parked
    /// messages are released.
    pub(crate) fn handle_tick(&mut self, now: Millis) {
        self.set_now(now);
        if self.shutting_down {
            return;
        }
        self.mesh.handle_tick(now);
        self.known.handle_tick(now);
        self.pump();
        if self.recovery_tick(now) {
            self.pump();
            // Once more, now that every session of the view is established: a registration
            // lost with a replaced session (simultaneous dials after a heal) would leave a
            // duplicate `Stay` copy unnoticed.
            self.register_stays();
        }
        self.pump();
        self.hand_on_resolved(now);
        self.pump();
        self.handoff.handle_tick(now);
        self.pump();
        self.remind_leave();
        self.skip_gaps(now);
        if self.hold.has_parked() {
            self.commands
                .push_back(Command::ReleaseParked { expired_only: true });
        }
    }

    /// The sessions changed: `sessions` are the peers with a session (and their
    /// addresses), `reachable` those whose supervisor answers, `fresh` those whose
    /// supervisor is new (they are greeted).
    pub(crate) fn handle_sessions(
        &mut self,
        sessions: Vec<(NodeName, String)>,
        reachable: std::collections::BTreeSet<NodeName>,
        fresh: &[NodeName],
        now: Millis,
    ) {
        self.set_now(now);
        if self.shutting_down {
            return;
        }
        let views = self.view_changes;
        // The known set goes to every peer with a session, admitted or not.
        self.known.handle_peers(reachable.iter().cloned());
        self.mesh.handle_sessions(sessions, reachable, fresh, now);
        if !fresh.is_empty() && self.hold.has_parked() {
            // A peer's supervisor is reached over a new session: messages parked because
            // the old one closed under them, or until it was confirmed, go out again, before
            // any view that lets handles send to it straight is published (a view adopted
            // below), so that none of those overtakes them.
            self.commands.push_back(Command::ReleaseParked {
                expired_only: false,
            });
        }
        self.pump();
        if self.view_changes == views {
            // The reachable peers changed without a new view: publish them.
            self.set_routes_view();
            self.commands.push_back(Command::PublishView);
        }
    }

    /// A frame other than a hello arrived from `from` (`incarnation`) at `now`: it is alive.
    /// A view change this brings is worked out before the frame is handled.
    pub(crate) fn handle_heard(&mut self, from: &NodeName, incarnation: Incarnation, now: Millis) {
        self.set_now(now);
        self.mesh.handle_heard(from, incarnation, now);
        self.pump();
    }

    /// A hello from `from` (`incarnation`); `reply`: it asks for one back.
    pub(crate) fn handle_hello(
        &mut self,
        from: &NodeName,
        incarnation: Incarnation,
        hello: Hello,
        reply: bool,
        now: Millis,
    ) -> Result<(), HelloError> {
        self.set_now(now);
        if hello.node == *from {
            self.known_before_hello(from, &hello.addr);
        }
        let outcome = self.mesh.handle_hello(from, incarnation, hello, reply, now);
        self.pump();
        outcome
    }

    /// `from` announced its departure. Returns true when that is news.
    pub(crate) fn handle_leaving(&mut self, from: &NodeName) -> bool {
        let news = self.mesh.handle_leaving(from);
        self.pump();
        if news {
            // A leaver met while it was leaving changed no view here: it joins this
            // view's barriers all the same (it waits for this node's, and hands names
            // here). A no-op for one the view already counts.
            self.handoff.add_participant(from);
            self.pump_handoff();
        }
        news
    }

    /// Addresses gossiped by a peer.
    pub(crate) fn handle_gossip(&mut self, members: &[(NodeName, String)], now: Millis) {
        self.set_now(now);
        self.mesh.learn(members, now);
    }

    /// The node layer closed every session to `node` (after [`Command::Disconnect`]).
    pub(crate) fn handle_disconnected(&mut self, node: &NodeName) {
        self.mesh.handle_disconnected(node);
    }

    /// A new membership view: forget what the departed hosted, register `Stay` names with
    /// their owners, offer respawns of the names of lost hosts, start the view's handoffs,
    /// and drop the redirects and directory entries it made stale.
    fn on_view_change(&mut self, lost: Vec<NodeName>) {
        let now = self.now;
        self.view_changes += 1;
        for node in &lost {
            self.handoff.handle_peer_gone(node);
            self.inbound.handle_peer_gone(node);
            self.answered_in.forget_peer(node);
            self.forwarding.retain(|_, (from, _)| from != node);
        }
        // Names that stay here but are owned elsewhere (`Stay`) are registered with their
        // directory node before this node announces the view, so that the owner knows them
        // before it settles.
        self.register_stays();
        // Respawn offers for the names of lost hosts go out before this node can tell any
        // owner that its handoffs are done, so that owners have them when they settle.
        self.offer_orphans(now);
        self.pump_recovery();
        self.start_view(now);
        self.pump_handoff();
        // Redirects are only good for the view they were made in; directory entries of
        // names no longer owned here, or whose host went down, go.
        self.routing.handle_view_change(&lost);
        self.commands.push_back(Command::ViewChanged { lost });
    }

    /// The routes take the current placement and the peers this node can reach.
    fn set_routes_view(&mut self) {
        let reachable = self.mesh.reachable().iter().cloned();
        self.routing.set_view(self.placement.clone(), reachable);
    }

    /// Registers every `Stay` actor running here with its owner in the current view.
    pub(crate) fn register_stays(&mut self) {
        for (owner, entries) in self.stays_by_owner() {
            for chunk in entries.chunks(4096) {
                self.commands.push_back(Command::Send {
                    to: owner.clone(),
                    body: FrameBody::Register {
                        entries: chunk.to_vec(),
                    },
                });
            }
        }
    }

    fn pump_recovery(&mut self) {
        while let Some(command) = self.recovery.poll_command() {
            self.on_recovery(command);
        }
    }

    fn pump_handoff(&mut self) {
        while let Some(command) = self.handoff.poll_command() {
            self.on_handoff(command);
        }
    }

    /// While leaving: `Leaving` again to each peer up that has not said `LeaveSeen` (either
    /// frame may have been lost with a replaced session; the peer's answer is idempotent).
    fn remind_leave(&mut self) {
        if self.leaving.is_none() {
            return;
        }
        let membership = self.mesh.membership();
        let unseen: Vec<NodeName> = (self.leave_unseen.iter())
            .filter(|p| membership.is_up(p))
            .cloned()
            .collect();
        for peer in unseen {
            self.send(&peer, FrameBody::Leaving);
        }
    }

    /// A graceful leave begins at `now`: every peer is told, then every actor handed off.
    pub(crate) fn handle_leave(&mut self, peers: Vec<NodeName>, now: Millis) {
        self.set_now(now);
        self.leaving = Some(now);
        // The members up are waited for too, told now or by the reminders of later ticks
        // (one whose session is being confirmed is not among `peers`).
        let up: Vec<NodeName> = self.mesh.membership().peers().keys().cloned().collect();
        self.leave_unseen.extend(peers.iter().cloned().chain(up));
        for peer in peers {
            self.commands.push_back(Command::Flush(peer.clone()));
            self.commands.push_back(Command::Send {
                to: peer,
                body: FrameBody::Leaving,
            });
        }
        self.start_view(now);
        self.pump();
    }

    /// The time of the call being handled (for work the sub-machines trigger).
    pub(crate) fn set_now(&mut self, now: Millis) {
        self.now = now;
        self.recovery.set_now(now);
    }
}

//! The executor: drains the engine's commands and carries each out (frames, sessions, the
//! hosted actors, the held messages, what handles see). Every decision was the engine's.

use std::sync::atomic::Ordering;

use super::SupervisorState;
use crate::core::engine::{Arriving, Command, Note};
use crate::core::wire::FrameBody;
use crate::core::{MembershipEvent, NodeName};
use crate::node::shared::{Counters, EntryState, HostedEntry};

impl SupervisorState {
    /// Carries out the engine's commands until there are none, then publishes what handles
    /// and the status read (gauges, routes) and checks whether a graceful leave is over.
    pub(super) async fn run(&mut self) {
        self.engine.set_now(self.now());
        loop {
            while let Some(command) = self.engine.poll_command() {
                self.execute(command).await;
            }
            // Drops and rehosts decided along the way go out with this batch.
            self.engine.recovery.flush();
            match self.engine.poll_command() {
                Some(command) => self.execute(command).await,
                None => break,
            }
        }
        self.publish_gauges();
        self.publish_replica_gauge();
        self.publish_routes();
        self.check_leave_done();
    }

    async fn execute(&mut self, command: Command) {
        match command {
            Command::Send { to, body } => {
                self.send_frame(&to, body);
            }
            Command::SendAll { to, body } => {
                let frame = self.frame(body);
                for peer in to {
                    if let Some(sup) = self.supervisors.get(&peer) {
                        let _ = sup.frame(frame.clone());
                    }
                }
            }
            Command::Flush(to) => {
                if let Ok(sup) = self.shared.peer_supervisor(&to) {
                    self.shared.flush(&to, &sup, false);
                }
            }
            Command::Dial(addr) => {
                Counters::bump(&self.shared.counters.dials);
                self.transport.dial(addr, self.engine.timing().dial())
            }
            Command::ForgetTarget(addr) => self.transport.forget_target(&addr),
            Command::Disconnect(node) => {
                Counters::bump(&self.shared.counters.peers_declared_down);
                tracing::warn!(peer = %node, "peer missed its heartbeat deadline; disconnecting it");
                self.transport.disconnect(node.clone()).await;
                self.supervisors.remove(&node);
                self.tokens.handle_disconnected(&node);
                self.engine.handle_disconnected(&node);
            }
            Command::Event { event, first } => self.report(event, first),
            Command::PublishView => {
                let view = self.current_view();
                self.shared.set_view(view);
            }
            Command::AdoptView(view) => {
                let v = self.current_view();
                self.shared.adopt_view(v, &FrameBody::ViewAdopted { view });
            }
            Command::ViewChanged { lost } => self.view_changed(&lost),
            Command::HoldForDrain { key, to } => self.hold_for_drain(&key, &to),
            Command::Drain { key, to, id } => self.drain(&key, &to, id),
            Command::Kill(key) => {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::warn!(name = %key, "actor did not drain within the handoff deadline; killing it (it restarts on its new node from its checkpoint or arguments)");
                if let Some(entry) = self.shared.hosted(&key) {
                    entry.cell.kill();
                }
            }
            Command::SendBatch { to, batch, keys } => self.send_batch(&to, batch, &keys),
            Command::Moved { key, to } => self.finish_move(&key, &to),
            Command::Restore { key, refused } => self.restore_local(&key, refused),
            Command::Settled { by_deadline } => self.settled(by_deadline),
            Command::ReleaseParked { expired_only } => self.release_parked(expired_only).await,
            Command::Respawn(start) => {
                if self.shared.hosted(&start.key).is_some() {
                    // A copy arrived between the decision and now: it serves the name.
                    tracing::debug!(name = %start.key, "respawn skipped: the name runs here already");
                } else {
                    self.respawn(start);
                }
            }
            Command::Resolve {
                key,
                resolution,
                snapshot,
            } => {
                if let Some(entry) = self.shared.hosted(&key) {
                    if let Err(e) = entry.kind.resolve(&entry.cell, resolution, snapshot) {
                        tracing::warn!(name = %key, error = ?e, "the copy here stopped before it could resolve the conflict");
                    }
                }
            }
            Command::Release { key, releases } => self.release(&key, releases),
            Command::Fence => self.fence(),
            Command::Unfence => self.unfence(),
            Command::Report(event) => self.report_recovery(event),
            Command::Note(note) => self.note(note),
            Command::StartArrivals {
                from,
                batch,
                arrivals,
            } => self.start_arrivals(&from, batch, arrivals),
            Command::KnownChanged(known) => self.shared.known.store(known),
            Command::Persist { name, file } => {
                if let Some(dir) = &self.shared.config.data_dir {
                    let dir = dir.join("replicated");
                    let file_name = crate::core::replicated::persist::file_name(&name);
                    if let Err(e) =
                        crate::node::replicated::write_atomically(&dir, &file_name, &file)
                    {
                        tracing::warn!(dir = %dir.display(), error = %e, "known node set not written to disk");
                    }
                }
            }
            Command::KnownRefused { from, error } => {
                let n = Counters::bump(&self.shared.counters.bad_frames);
                if crate::core::status::worth_logging(n) {
                    tracing::warn!(peer = %from, %error, count = n, "known node set refused");
                }
            }
            Command::Removed => {
                tracing::warn!(node = %self.shared.me, "this node was removed from the cluster (del_node): leaving gracefully, then stopping");
                let node = crate::DistNode::from_shared(self.shared.clone());
                tokio::spawn(async move {
                    if let Err(error) = node.shutdown().await {
                        tracing::warn!(%error, "stopping after removal");
                    }
                });
            }
        }
    }

    /// Starts copies of names that arrived from `from`, in order; their restores run on
    /// their own tasks, and messages for them wait in their mailboxes meanwhile.
    fn start_arrivals(&mut self, from: &NodeName, batch: Option<u64>, arrivals: Vec<Arriving>) {
        let mut started = Vec::new();
        let mut starts = Vec::new();
        let mut failed = Vec::new();
        for arriving in arrivals {
            let Some(kind) = self.shared.kinds.get(&arriving.kind).cloned() else {
                failed.push(arriving.key);
                continue;
            };
            let key = arriving.key.clone();
            let args = &arriving.meta.args;
            match self.start_child(&key, &kind, args, arriving.snapshot.clone()) {
                Ok((cell, start)) => {
                    let id = super::cid(&cell.get_id());
                    starts.push((cell.get_id(), start));
                    self.shared.hosted_mut().insert(
                        key,
                        HostedEntry {
                            cell,
                            kind,
                            state: arriving.residence,
                        },
                    );
                    started.push((id, arriving));
                }
                Err(e) => {
                    tracing::error!(name = %key, error = ?e, "actor could not be started; it is lost");
                    failed.push(arriving.key);
                }
            }
        }
        self.report_starts(starts);
        self.engine
            .handle_arrivals_started(from, batch, started, failed);
    }

    /// Counts and logs what the engine noticed.
    fn note(&self, note: Note) {
        let c = &self.shared.counters;
        match note {
            Note::PeerLeaving(peer) => {
                tracing::info!(%peer, "peer is leaving; expecting its actors");
            }
            Note::ChunkDropped { from, error } => {
                let n = Counters::bump(&c.bad_frames);
                if crate::core::status::worth_logging(n) {
                    tracing::warn!(peer = %from, %error, count = n, "snapshot chunk dropped");
                }
            }
            Note::SnapshotIncomplete {
                key,
                from,
                expected,
                got,
            } => {
                Counters::bump(&c.bad_snapshots);
                tracing::error!(name = %key, %from, expected, got, "snapshot chunks missing; the actor starts from its arguments");
            }
            Note::UnknownKind {
                key,
                kind,
                from,
                refused: true,
            } => {
                Counters::bump(&c.unknown_kinds);
                tracing::warn!(name = %key, %kind, %from, "handed-off actor of a kind not registered here; refused back to its sender");
            }
            Note::UnknownKind {
                key,
                kind,
                from,
                refused: false,
            } => {
                Counters::bump(&c.unknown_kinds);
                tracing::error!(name = %key, %kind, %from, "conflicting copy of a kind not registered here; it is lost");
            }
            Note::MoveRefused { key, by } => {
                Counters::bump(&c.moves_refused);
                tracing::warn!(name = %key, %by, "the target lacks this actor's kind; it stays here or goes to the next node of its ranking");
            }
            Note::PassiveStateDropped { key, from } => {
                Counters::bump(&c.handoff_fallbacks);
                tracing::warn!(name = %key, %from, "the kept state of a passivated actor arrived while a copy runs here; that copy serves the name, the state is dropped");
            }
            Note::AskedToYield { peer, names } => {
                tracing::info!(%peer, names, "names registered by a peer also run elsewhere; asking it to yield");
            }
            Note::Yielding(names) => {
                tracing::info!(names, "another copy runs elsewhere; handing these over");
            }
            Note::MovedIn { key, from } => {
                Counters::bump(&c.moved_in);
                tracing::debug!(name = %key, %from, "actor arrived by handoff");
            }
            Note::GapSkipped { key, stream, seq } => {
                let n = Counters::bump(&c.gaps_skipped);
                if crate::core::status::worth_logging(n) {
                    tracing::warn!(name = %key, stream, seq, count = n, "earlier casts of a sender never arrived; delivering its later ones");
                }
            }
        }
    }

    /// The node settled for its view: settling actors become active (the respawns the
    /// recovery engine decided then, and the release of what was parked, follow as
    /// commands).
    fn settled(&mut self, by_deadline: bool) {
        if by_deadline {
            Counters::bump(&self.shared.counters.settled_by_deadline);
            let missing = self.engine.handoff.not_done();
            tracing::warn!(
                ?missing,
                "handoff barrier incomplete at the deadline; releasing parked messages"
            );
        }
        // (The engine sent this only for the view it is settled for.)
        let ms = self.now().0.saturating_sub(self.engine.view_started.0);
        self.shared.last_settle_ms.store(ms, Ordering::Relaxed);
        tracing::debug!(ms, "settled for the current view");
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                if entry.state == EntryState::Settling {
                    entry.state = EntryState::Active;
                }
            }
        }
    }

    /// A new membership view was worked out: handles forget the hosts of the peers lost,
    /// and the kinds of names that moved away are kept only while local messages for them
    /// wait in the supervisor.
    fn view_changed(&mut self, lost: &[NodeName]) {
        self.shared.forget_hosts(lost);
        let shared = &self.shared;
        self.engine
            .forget_moved_kinds(|key| shared.local_send_pending(key));
        let view = self.shared.view();
        tracing::info!(
            epoch = view.epoch().0,
            members = ?view.placement().members(),
            "membership view changed"
        );
    }

    /// Logs, counts and publishes a membership event.
    fn report(&self, event: MembershipEvent, first: bool) {
        match &event {
            MembershipEvent::Up {
                node,
                incarnation,
                epoch,
            } => {
                tracing::info!(peer = %node, incarnation = %incarnation, epoch = epoch.0, "member up");
            }
            MembershipEvent::Down {
                node,
                incarnation,
                reason,
                epoch,
            } => {
                tracing::info!(peer = %node, incarnation = %incarnation, ?reason, epoch = epoch.0, "member down");
            }
            MembershipEvent::Refused { node, reason } => {
                Counters::bump(&self.shared.counters.refused_peers);
                if reason.contains("protocol version") {
                    Counters::bump(&self.shared.counters.version_mismatches);
                }
                if first {
                    tracing::error!(peer = %node, %reason, "refused peer");
                }
            }
        }
        let _ = self.events.send(event);
    }
}

//! Frames from peers: the engine takes every control frame itself; only frames that carry
//! application messages (casts, replicated values) go back to the node layer.

use super::{Arrival, Command, Engine, MigrateOutcome};
use crate::core::admission::{self, AdmitView, Refused};
use crate::core::wire::{Frame, FrameBody, MigrateEntry};
use crate::core::{ActorKey, ChildId, Millis, NameMeta, NodeName, Residence, Snapshot};

/// Something worth counting and logging that the engine noticed (the node layer keeps the
/// counters and the log).
#[derive(Debug)]
pub(crate) enum Note {
    /// A peer announced its departure.
    PeerLeaving(NodeName),
    /// A snapshot piece was refused (malformed, over a limit, of an unknown batch).
    ChunkDropped {
        /// Its sender.
        from: NodeName,
        /// Why.
        error: String,
    },
    /// The state of an arrival came in part: it starts from its arguments.
    SnapshotIncomplete {
        /// The name.
        key: ActorKey,
        /// Its sender.
        from: NodeName,
        /// Pieces announced.
        expected: u32,
        /// Pieces received.
        got: u32,
    },
    /// An arrival of a kind not registered here: refused back to its sender in the
    /// batch's acknowledgement (`refused`), or lost (a conflicting copy).
    UnknownKind {
        /// The name.
        key: ActorKey,
        /// Its kind.
        kind: String,
        /// Its sender.
        from: NodeName,
        /// True when its sender was told (it keeps the actor or hands it on).
        refused: bool,
    },
    /// A node refused `key`, handed off from here, because it lacks its kind: it stays
    /// here or goes to the next node of its ranking that has not refused it.
    MoveRefused {
        /// The name.
        key: ActorKey,
        /// The node that refused it.
        by: NodeName,
    },
    /// The state of passivated `key` arrived from `from` while a copy of the name runs
    /// here already: that copy serves the name, the state is dropped.
    PassiveStateDropped {
        /// The name.
        key: ActorKey,
        /// Its former owner.
        from: NodeName,
    },
    /// Names registered by `peer` also run elsewhere: it is asked to yield them.
    AskedToYield {
        /// The peer.
        peer: NodeName,
        /// How many names.
        names: usize,
    },
    /// Another copy of these names runs elsewhere: this node hands its copies over.
    Yielding(usize),
    /// An actor arrived by handoff (counted as moved in).
    MovedIn {
        /// The name.
        key: ActorKey,
        /// Its former host.
        from: NodeName,
    },
    /// Casts of one sender to `key` waited too long for an earlier one: the earlier ones
    /// are taken as lost and delivery goes on (see [`crate::core::order`]).
    GapSkipped {
        /// The name.
        key: ActorKey,
        /// The sender's stream (see [`crate::core::order::Stream`]).
        stream: u64,
        /// The first cast number delivered after the gap.
        seq: u64,
    },
}

/// One copy of a name to start here because it arrived (by handoff or as a conflicting
/// copy that follows ours): see [`Command::StartArrivals`].
#[derive(Debug)]
pub(crate) struct Arriving {
    /// The name.
    pub(crate) key: ActorKey,
    /// Its kind (registered here).
    pub(crate) kind: String,
    /// Its arguments, activation, holders and checkpoint sequence.
    pub(crate) meta: NameMeta<Snapshot>,
    /// The state it starts from.
    pub(crate) snapshot: Option<Snapshot>,
    /// The state its actor starts in.
    pub(crate) residence: Residence,
}

impl AdmitView for Engine {
    fn known_generation(&self, key: &ActorKey) -> Option<u64> {
        let hosted = self.child_of(key).map(|c| c.meta.activation.generation);
        let kept = self.recovery.replicas().get(key).map(|s| s.generation);
        hosted.max(kept)
    }

    fn owner_of(&self, key: &ActorKey) -> Option<&NodeName> {
        self.routing.routes().owner_of(key)
    }
}

impl Engine {
    /// Whether `frame`, which arrived over the session of `session` (`None`: over no
    /// session this node can name), is acted on (see [`crate::core::admission`]).
    ///
    /// # Errors
    ///
    /// Why it is not; nothing changed.
    pub(crate) fn admit(&self, session: Option<&NodeName>, frame: &Frame) -> Result<(), Refused> {
        admission::admit(session, frame, self)
    }

    /// A frame from `from` at `now` (its sender was heard already, see
    /// [`Engine::handle_heard`]). Returns the frame if it is the node layer's to handle (it
    /// carries application messages).
    pub(crate) fn handle_frame(
        &mut self,
        from: &NodeName,
        body: FrameBody,
        now: Millis,
    ) -> Option<FrameBody> {
        self.set_now(now);
        match body {
            // Hellos go to `handle_hello`; tokens to `core::tokens` (beside the engine).
            FrameBody::Hello { .. } | FrameBody::Token { .. } => {}
            // Addresses are learned from members only: a stranger's list is not dialed.
            FrameBody::Heartbeat { members } => {
                if self.mesh.membership().is_up(from) {
                    self.handle_gossip(&members, now)
                }
            }
            FrameBody::Leaving => {
                // Reminders (and the answers to a joiner's hellos) repeat it: noted once.
                let known = self.mesh.leavers().contains_key(from);
                if self.handle_leaving(from) && !known {
                    self.note(Note::PeerLeaving(from.clone()));
                }
                // The view without the leaver is adopted: what this node routed there by
                // older views goes out first, then the word that nothing more follows.
                self.commands.push_back(Command::Flush(from.clone()));
                self.send(from, FrameBody::LeaveSeen);
            }
            FrameBody::LeaveSeen => {
                self.leave_unseen.remove(from);
            }
            FrameBody::ViewAdopted { view } => self.handoff.handle_view_adopted(from, view),
            FrameBody::HandoffsDone { view } => self.handoff.handle_done(from, view),
            FrameBody::HandoffsBusy => self.handoff.handle_busy(from, now),
            FrameBody::Migrate { batch, entries } => self.receive_migrate(from, batch, entries),
            FrameBody::MigrateAck {
                batch,
                superseded,
                refused,
            } => {
                for key in superseded {
                    if self.handoff.in_flight_in(&key, batch) {
                        self.superseded.insert(key);
                    }
                }
                for key in &refused {
                    if self.handoff.in_flight_in(key, batch) {
                        self.note(Note::MoveRefused {
                            key: key.clone(),
                            by: from.clone(),
                        });
                    }
                }
                self.handoff.handle_ack(from, batch, &refused, now)
            }
            FrameBody::StateChunk {
                batch,
                key,
                index,
                bytes,
            } => {
                // Reassembled (in order, within the core's limits) until its batch arrives.
                if let Err(error) = self.inbound.handle_chunk(from, batch, key, index, bytes) {
                    self.note(Note::ChunkDropped {
                        from: from.clone(),
                        error: error.to_string(),
                    });
                }
            }
            FrameBody::Register { entries } => {
                let yields = self.handle_register(from, entries);
                if !yields.is_empty() {
                    self.note(Note::AskedToYield {
                        peer: from.clone(),
                        names: yields.len(),
                    });
                    self.send(from, FrameBody::Yield { keys: yields });
                }
            }
            FrameBody::Yield { keys } => {
                let n = self.handle_yield(keys, now);
                if n > 0 {
                    self.note(Note::Yielding(n));
                }
            }
            FrameBody::Replicate { specs } => self.handle_replicate(from, specs),
            FrameBody::Unreplicate { keys, batch } => self.handle_unreplicate(from, keys, batch),
            FrameBody::SpecsKept { keys } => self.handle_specs_kept(from, keys),
            FrameBody::Rehost {
                keys,
                to,
                incarnation,
                batch,
            } => self.handle_rehost(from, keys, to, incarnation, batch),
            FrameBody::Checkpoint {
                key,
                generation,
                seq,
                snapshot,
                delta,
            } => self.handle_checkpoint(from, key, generation, seq, snapshot, delta),
            FrameBody::Respawn { offers } => self.handle_offers(from, offers, now),
            FrameBody::OffersTaken { keys } => self.recovery.handle_offers_taken(from, &keys),
            FrameBody::NoticesTaken { batch } => self.recovery.handle_notices_taken(from, batch),
            FrameBody::Conflict { entry } => {
                let snapshot = entry.snapshot.clone();
                self.adopt(from, None, vec![(entry, snapshot)]);
            }
            FrameBody::Unregister { key } => {
                self.routing.handle_unregister(from, &key);
            }
            FrameBody::Replica(msg) if crate::core::known::is_known_msg(&msg) => {
                self.known.handle_msg(from, msg, now);
            }
            body @ (FrameBody::Cast { .. } | FrameBody::Casts(_) | FrameBody::Replica(_)) => {
                return Some(body)
            }
        }
        None
    }

    pub(crate) fn send(&mut self, to: &NodeName, body: FrameBody) {
        self.commands.push_back(Command::Send {
            to: to.clone(),
            body,
        });
    }

    pub(crate) fn note(&mut self, note: Note) {
        self.commands.push_back(Command::Note(note));
    }

    /// A `Migrate` batch from `from`: its actors start here, then it is acknowledged.
    fn receive_migrate(&mut self, from: &NodeName, batch: u64, entries: Vec<MigrateEntry>) {
        match self.handle_migrate(from, batch, entries) {
            MigrateOutcome::Start {
                arrivals,
                incomplete,
            } => {
                for (key, expected, got) in incomplete {
                    self.note(Note::SnapshotIncomplete {
                        key,
                        from: from.clone(),
                        expected,
                        got,
                    });
                }
                self.adopt(from, Some(batch), arrivals);
            }
            // A resent batch whose acknowledgement was slow: acknowledge again.
            MigrateOutcome::AckAgain => {
                // The first acknowledgement may have been lost: name the same names.
                self.acknowledge(from, batch);
            }
            // Its actors are being started: the acknowledgement follows.
            MigrateOutcome::Nothing => {}
        }
    }

    /// Copies of names that arrived from `from` (by handoff in `batch`, or following a
    /// conflict) start here, in order; a name that already runs here is a conflict between
    /// two live copies.
    pub(crate) fn adopt(
        &mut self,
        from: &NodeName,
        batch: Option<u64>,
        arrivals: Vec<(MigrateEntry, Option<Snapshot>)>,
    ) {
        let now = self.now;
        let mut starts = Vec::new();
        for (entry, snapshot) in arrivals {
            if entry.passive {
                if self.kind(&entry.kind).is_some() {
                    self.handle_passive_arrival(from, batch, entry.key, snapshot, entry.args);
                    continue;
                }
                // Refused as a running actor's move would be.
                self.refuse_unknown_kind(from, batch, entry);
                continue;
            }
            match self.arrival(&entry, &snapshot) {
                Arrival::Conflict => {
                    let key = entry.key.clone();
                    if self.resolve_conflict(from, entry, snapshot, now) {
                        if let Some(batch) = batch {
                            self.answer(from, batch).superseded.push(key);
                        }
                    }
                }
                // Refused in the acknowledgement: its source keeps it or hands it on. (A
                // conflicting copy, which comes without a batch, is lost: counted.)
                Arrival::UnknownKind => self.refuse_unknown_kind(from, batch, entry),
                Arrival::Start(meta) => {
                    // The nodes that refused it on its way are not asked again from here
                    // (members only: a refusal is forgotten when its node goes).
                    let membership = self.mesh.membership();
                    let refused: Vec<NodeName> = (entry.refused.into_iter())
                        .filter(|n| membership.is_up(n))
                        .collect();
                    self.handoff.note_refusals(&entry.key, refused);
                    starts.push(Arriving {
                        key: entry.key,
                        kind: entry.kind,
                        meta: *meta,
                        snapshot,
                        residence: self.start_residence(true),
                    })
                }
            }
        }
        self.arriving.extend(starts.iter().map(|a| a.key.clone()));
        self.commands.push_back(Command::StartArrivals {
            from: from.clone(),
            batch,
            arrivals: starts,
        });
    }

    /// An arrival of a kind not registered here: refused in the acknowledgement of its
    /// `batch` (its source keeps it or hands it to the next node of its ranking), or lost
    /// (a conflicting copy, which comes without a batch); counted either way.
    fn refuse_unknown_kind(&mut self, from: &NodeName, batch: Option<u64>, entry: MigrateEntry) {
        if let Some(batch) = batch {
            self.answer(from, batch).refused.push(entry.key.clone());
        }
        self.note(Note::UnknownKind {
            key: entry.key,
            kind: entry.kind,
            from: from.clone(),
            refused: batch.is_some(),
        })
    }

    /// The arrivals of [`Command::StartArrivals`] were started (`started`: those that could,
    /// with their actors, in order; `failed`: those that could not, lost): they are
    /// recorded, those that stay here are registered
    /// with their directory node, the batch is acknowledged, and their specs go to this
    /// node's holders (at once when no other live node keeps them, the others once the view
    /// is quiet).
    pub(crate) fn handle_arrivals_started(
        &mut self,
        from: &NodeName,
        batch: Option<u64>,
        started: Vec<(ChildId, Arriving)>,
        failed: Vec<ActorKey>,
    ) {
        let now = self.now;
        for key in failed {
            self.arriving.remove(&key);
            self.handoff.forget(&key);
        }
        let mut stays = Vec::new();
        for (id, arriving) in started {
            let Arriving {
                key,
                kind,
                meta,
                snapshot,
                ..
            } = arriving;
            self.arriving.remove(&key);
            let simple = NameMeta::new(kind.clone(), meta.args.clone(), meta.activation.clone());
            self.handle_started(id, &key, &kind, simple);
            if let Some(child) = self.children.get_mut(&id) {
                // Killed before its start completed, it moves on with this state.
                child.started_from = snapshot;
            }
            let stays_here = self.handle_arrived(from, &key, meta, now);
            // It stays here although another node may own it, or it moves on to its owner
            // once this node settles: tell the owner where it is meanwhile (what the owner
            // parked for it then goes here, and follows it back in order).
            self.register_elsewhere(&key, &kind);
            if stays_here {
                stays.push(key.clone());
            }
            self.note(Note::MovedIn {
                key,
                from: from.clone(),
            });
        }
        if let Some(batch) = batch {
            self.inbound.handle_started(from, batch);
            self.acknowledge(from, batch);
            self.replicate_arrivals(&stays, now);
        } else {
            self.replicate(Some(&stays), now);
        }
    }

    /// What the acknowledgement of `batch` from `from` names (kept for a resent batch's
    /// acknowledgement, at most `ANSWERS_KEPT` batches).
    fn answer(&mut self, from: &NodeName, batch: u64) -> &mut super::AckNames {
        self.answered_in.entry(from, batch)
    }

    /// Acknowledges `batch` to `from`, naming the names superseded or refused here; not
    /// while a kept state of it is being forwarded on ([`Engine::forwarding`]).
    pub(crate) fn acknowledge(&mut self, from: &NodeName, batch: u64) {
        if (self.forwarding.values()).any(|(f, b)| f == from && *b == batch) {
            return;
        }
        let names = (self.answered_in.get(from, batch))
            .cloned()
            .unwrap_or_default();
        self.send(
            from,
            FrameBody::MigrateAck {
                batch,
                superseded: names.superseded,
                refused: names.refused,
            },
        );
    }

    /// Tells `key`'s directory node that it runs here, when that is another node.
    pub(crate) fn register_elsewhere(&mut self, key: &ActorKey, kind: &str) {
        if let Some(owner) = self.routing.routes().directory_node(key).cloned() {
            self.send(
                &owner,
                FrameBody::Register {
                    entries: vec![(key.clone(), kind.to_string())],
                },
            );
        }
    }
}

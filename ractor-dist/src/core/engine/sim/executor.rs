//! The stand-in for the node layer: carries out one node's engine commands as the
//! supervisor's executor (`node/supervisor/exec.rs`) does, with actors that are logs.

use super::*;

impl Sim {
    pub(super) fn execute(&mut self, i: usize, command: Command) {
        let now = Millis(self.now);
        match command {
            Command::Send { to, body } => {
                if let Some(key) = &self.trace_key {
                    let text = format!("{body:?}");
                    if text.contains(&format!("ActorKey({key})"))
                        || text.contains(&format!("\"{key}\""))
                    {
                        let t = format!("n{i} -> {to}: {}", &text[..text.len().min(300)]);
                        self.script.push(Step::Trace(t));
                    }
                }
                self.send(i, &to, body);
            }
            Command::SendAll { to, body } => {
                for peer in to {
                    self.send(i, &peer, body.clone());
                }
            }
            Command::AdoptView(view) => {
                let peers: Vec<NodeName> = self.nodes[i]
                    .engine
                    .mesh
                    .reachable()
                    .iter()
                    .cloned()
                    .collect();
                for peer in peers {
                    self.send(i, &peer, FrameBody::ViewAdopted { view });
                }
            }
            // (actors start at once here: a drain never waits for a start)
            Command::HoldForDrain { key, .. } => {
                if let Some((_, residence)) = self.nodes[i].hosted.get_mut(&key) {
                    *residence = Residence::Moving;
                }
            }
            Command::Drain {
                key, id: drained, ..
            } => {
                let node = &mut self.nodes[i];
                let Some((id, residence)) =
                    node.hosted.get_mut(&key).filter(|(id, _)| *id == drained)
                else {
                    return;
                };
                *residence = Residence::Moving;
                let id = *id;
                // The actor takes what is in its mailbox (nothing: casts are delivered at
                // once here) and exits with its state.
                let (_, log) = node.actors.remove(&id).expect("a hosted actor runs");
                let exit = Exit {
                    reason: Some(DRAINED_REASON.to_string()),
                    ..Exit::default()
                };
                let (_, plan) = node.engine.handle_exit(id, &exit, now);
                let ExitPlan::Drained { child, .. } = plan else {
                    panic!("a drained actor's exit is a move, got {plan:?}");
                };
                let out = node.engine.handle_drained(id, child, true, false, now);
                assert_eq!(out, DrainedExit::Snapshot);
                let snapshot = Ok(Some(encode_log(&log)));
                node.engine
                    .handle_snapshotted(id, snapshot, now)
                    .expect("snapshotted");
            }
            Command::SendBatch { to, batch, keys } => {
                for frame in self.nodes[i].engine.batch_frames(batch, &keys) {
                    self.send_bytes(i, &to, frame);
                }
            }
            Command::Release { key, releases } => self.release(i, &key, releases),
            Command::Moved { key, to } => {
                let node = &mut self.nodes[i];
                node.hosted.remove(&key);
                let moved = node.engine.handle_moved(&key, &to, now);
                // A conflicting copy that met ours here follows it, as in the node layer.
                for body in moved.conflict.into_iter().flat_map(|(_, frames)| frames) {
                    self.send(i, &to, body);
                }
                self.release(i, &key, moved.releases);
            }
            Command::Restore { key, .. } => {
                let node = &mut self.nodes[i];
                node.hosted.remove(&key);
                let Some(restore) = node.engine.handle_restore(&key) else {
                    return;
                };
                let id = node.child();
                let log = decode_log(&restore.snapshot);
                node.actors.insert(id, (key.clone(), log));
                let residence = node.engine.start_residence(true);
                node.hosted.insert(key.clone(), (id, residence));
                let meta = NameMeta::new(
                    KIND,
                    restore.meta.args.clone(),
                    restore.meta.activation.clone(),
                );
                node.engine.handle_started(id, &key, KIND, meta);
                let held = node.engine.handle_restored(&key, restore.meta, now);
                node.engine.handle_start_ok(id, now);
                self.release(i, &key, held);
            }
            Command::Settled { by_deadline } => {
                if by_deadline {
                    self.by_deadline += 1;
                    if self.trace {
                        self.script
                            .push(Step::Trace(format!("n{i} settled by deadline")));
                    }
                }
                for (_, residence) in self.nodes[i].hosted.values_mut() {
                    if *residence == Residence::Settling {
                        *residence = Residence::Active;
                    }
                }
            }
            Command::ReleaseParked { expired_only } => self.release_parked(i, expired_only),
            Command::StartArrivals {
                from,
                batch,
                arrivals,
            } => {
                if self.trace {
                    let keys: Vec<String> = arrivals.iter().map(|a| a.key.to_string()).collect();
                    let t = format!("n{i}: start arrivals from {from}: {keys:?}");
                    self.script.push(Step::Trace(t));
                }
                let node = &mut self.nodes[i];
                let mut started = Vec::new();
                for arriving in arrivals {
                    let id = node.child();
                    let log = decode_log(&arriving.snapshot);
                    node.actors.insert(id, (arriving.key.clone(), log));
                    node.hosted
                        .insert(arriving.key.clone(), (id, arriving.residence));
                    started.push((id, arriving));
                }
                let ids: Vec<ChildId> = started.iter().map(|(id, _)| *id).collect();
                node.engine
                    .handle_arrivals_started(&from, batch, started, Vec::new());
                // Their starts complete (as `ChildStarted` reports on a node).
                for id in ids {
                    node.engine.handle_start_ok(id, now);
                }
            }
            Command::Note(Note::MovedIn { .. }) => self.moved_in += 1,
            Command::Note(Note::UnknownKind {
                key,
                refused: false,
                ..
            }) => {
                self.lost
                    .push(format!("{key}: arrived with an unknown kind"));
            }
            Command::Kill(key) => self.broken.push(format!("{key}: drain killed")),
            Command::Respawn(start) if self.crashes => {
                self.check_newest_checkpoint(i, &start);
                self.check_checkpoint_content(i, &start);
                if self.trace {
                    let t = format!("n{i}: respawn {} (lost with {})", start.key, start.lost);
                    self.script.push(Step::Trace(t));
                }
                let node = &mut self.nodes[i];
                if node.hosted.contains_key(&start.key) {
                    let t = format!("{}: respawn decided at n{i} where it runs", start.key);
                    return self.broken.push(t);
                }
                let id = node.child();
                let log = decode_log(&start.meta.checkpoint);
                let key = start.key.clone();
                node.actors.insert(id, (key.clone(), log));
                let residence = node.engine.start_residence(true);
                node.hosted.insert(key.clone(), (id, residence));
                let meta =
                    NameMeta::new(KIND, start.meta.args.clone(), start.meta.activation.clone());
                node.engine.handle_started(id, &key, KIND, meta);
                node.engine.handle_respawn_launched(id, start, now);
                node.engine.handle_start_ok(id, now);
                self.respawned += 1;
            }
            Command::Respawn(start) => {
                let t = format!(
                    "{}: respawned at n{i} (lost with {})",
                    start.key, start.lost
                );
                self.broken.push(t);
            }
            Command::Fence if self.hangs => {
                self.fenced += 1;
                if self.trace {
                    self.script.push(Step::Trace(format!("n{i}: fence")));
                }
                for (_, residence) in self.nodes[i].hosted.values_mut() {
                    *residence = Residence::Moving;
                }
            }
            Command::Unfence if self.hangs => {
                if self.trace {
                    self.script.push(Step::Trace(format!("n{i}: unfence")));
                }
                // As the supervisor: the running actors (not draining or stopping) held by
                // the fence take messages again.
                let node = &self.nodes[i];
                let keys: Vec<ActorKey> = node
                    .hosted
                    .iter()
                    .filter(|(_, (_, r))| *r == Residence::Moving)
                    .filter(|(k, _)| node.engine.runs_here(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    if let Some((_, residence)) = self.nodes[i].hosted.get_mut(&key) {
                        *residence = Residence::Active;
                    }
                    let held = self.nodes[i].engine.hold.restored(&key);
                    self.release(i, &key, held);
                }
            }
            Command::Fence | Command::Unfence => {
                self.broken.push(format!("n{i}: fenced"));
            }
            Command::Resolve {
                key,
                resolution,
                snapshot,
            } if self.side.is_some() || self.healed || self.hangs => {
                self.resolved += 1;
                let node = &mut self.nodes[i];
                let id = node.hosted.get(&key).map(|(id, _)| *id);
                let actor = id.and_then(|id| node.actors.get_mut(&id));
                match (resolution, actor) {
                    (Resolution::TakeIncoming, Some((_, log))) => {
                        *log = decode_log(&Some(snapshot));
                        // A new state altogether: its next checkpoint is whole (as a
                        // hosted actor's is after a resolution).
                        if let Some(id) = id {
                            node.checkpointed.remove(&id);
                        }
                    }
                    (Resolution::KeepLocal, Some(_)) => {}
                    (resolution, actor) => self.broken.push(format!(
                        "{key}: {resolution:?} at n{i} (actor here: {})",
                        actor.is_some()
                    )),
                }
            }
            Command::Resolve { key, .. } => {
                self.broken.push(format!("{key}: two copies met at n{i}"));
            }
            Command::Disconnect(node) if self.hangs => {
                self.nodes[i].engine.handle_disconnected(&node);
                if let Some(p) = self.idx(&node) {
                    // The sessions close (both sides see it); a stopped peer cannot take a
                    // new one until it resumes, a running one is dialed again at once.
                    self.cuts.insert((i, p));
                    self.links
                        .retain(|pair, _| *pair != (i, p) && *pair != (p, i));
                    self.refresh_sessions();
                    if !self.nodes[p].hung {
                        self.cuts.remove(&(i, p));
                        self.refresh_sessions();
                    }
                }
            }
            Command::Disconnect(node) => {
                self.broken.push(format!("n{i} declared {node} down"));
            }
            Command::Event { event, .. } if self.trace => {
                self.script
                    .push(Step::Trace(format!("n{i} @{}: {event:?}", self.now)));
            }
            Command::Report(event) if self.trace => {
                let text = format!("{event:?}");
                if self
                    .trace_key
                    .as_ref()
                    .is_none_or(|k| text.contains(&format!("ActorKey({k})")))
                {
                    self.script.push(Step::Trace(format!("n{i}: {text}")));
                }
            }
            Command::Flush(_)
            | Command::Dial(_)
            | Command::ForgetTarget(_)
            | Command::Event { .. }
            | Command::PublishView
            | Command::ViewChanged { .. }
            | Command::Report(_)
            | Command::KnownChanged(_)
            | Command::Persist { .. }
            | Command::Note(_) => {}
            // No node is removed in these scenarios, and no peer sends a bad known set.
            Command::Removed => self.broken.push(format!("n{i} took itself for removed")),
            Command::KnownRefused { from, error } => self
                .broken
                .push(format!("n{i} refused the known set of {from}: {error}")),
        }
    }

    /// What the engine decided about the held casts of `key` at node `i`.
    pub(super) fn release(&mut self, i: usize, key: &ActorKey, releases: Vec<Release>) {
        for release in releases {
            if self.trace {
                let t = format!("n{i}: {key} release {release:?}");
                self.script.push(Step::Trace(t));
            }
            match release {
                Release::Deliver(id) => {
                    if let Some((cast, _)) = self.nodes[i].held.remove(&id) {
                        self.deliver_here(i, cast);
                    }
                }
                Release::Forward(id, to) => {
                    if let Some((cast, _)) = self.nodes[i].held.remove(&id) {
                        self.forward(i, &to, Cast { hops: 0, ..cast });
                    }
                }
                Release::NotFound(id) | Release::Drop(id) => {
                    if let Some((cast, _)) = self.nodes[i].held.remove(&id) {
                        let t = format!("{key} #{}: dropped when released at n{i}", cast.seq);
                        self.loss(key, t);
                    }
                }
            }
        }
    }

    pub(super) fn release_parked(&mut self, i: usize, expired_only: bool) {
        let now = Millis(self.now);
        let released = self.nodes[i].engine.release_parked(now, expired_only);
        for (id, held) in released {
            if let Some((cast, from)) = self.nodes[i].held.remove(&id) {
                self.dispatch(i, &from, cast, held.since, expired_only);
            }
        }
    }

    /// Delivers `cast` to the actor at node `i` in its sender's order (it may wait for an
    /// earlier one, or come too late), then the casts that waited for it.
    pub(super) fn deliver_here(&mut self, i: usize, cast: Cast) {
        let mut next = Some(cast);
        while let Some(cast) = next.take() {
            let now = Millis(self.now);
            let me = self.nodes[i].name.clone();
            let stamp = cast.stamp();
            let sequenced = self.nodes[i]
                .engine
                .sequence(&cast.key, &me, Some(&stamp), now);
            if self.trace && !matches!(sequenced, Sequenced::Deliver(_)) {
                let t = format!(
                    "n{i}: {} s{} #{} -> {sequenced:?}",
                    cast.key, cast.sender, cast.seq
                );
                self.script.push(Step::Trace(t));
            }
            match sequenced {
                Sequenced::Deliver(then) => {
                    self.take(i, cast);
                    next = then.into_iter().find_map(|r| match r {
                        Release::Deliver(id) => self.nodes[i].held.remove(&id).map(|(c, _)| c),
                        _ => None,
                    });
                }
                Sequenced::Wait(id) => {
                    self.nodes[i].held.insert(id, (cast, me));
                }
                Sequenced::Drop(why) => {
                    let t = format!("{} #{}: {why} at n{i}", cast.key, cast.seq);
                    self.loss(&cast.key, t);
                }
                Sequenced::Refused(e) => {
                    let t = format!("{} #{}: refused ({e})", cast.key, cast.seq);
                    self.lost.push(t);
                }
            }
        }
    }

    /// The actor at node `i` takes `cast` (and checkpoints it when the run checkpoints).
    fn take(&mut self, i: usize, cast: Cast) {
        let now = Millis(self.now);
        let checkpoints = self.crashes;
        let node = &mut self.nodes[i];
        let Some(&(id, _)) = node.hosted.get(&cast.key) else {
            let t = format!(
                "{} #{}: no actor where delivered at n{i}",
                cast.key, cast.seq
            );
            return self.loss(&cast.key, t);
        };
        let Some((_, log)) = node.actors.get_mut(&id) else {
            let t = format!(
                "{} #{}: no actor where delivered at n{i}",
                cast.key, cast.seq
            );
            return self.loss(&cast.key, t);
        };
        log.push((cast.sender, cast.seq));
        if checkpoints {
            // Every cast is checkpointed to the name's holders: the first of an activation
            // and every fourth whole, the others as a delta of the one new entry.
            let whole = node.checkpointed.insert(id) || log.len() % 4 == 0;
            let snapshot = if whole {
                encode_log(log)
            } else {
                encode_log(&log[log.len() - 1..].to_vec())
            };
            node.engine.set_now(now);
            let seq_of = |engine: &Engine| {
                let c = engine.children.get(&id)?;
                Some((c.meta.activation.generation, c.meta.checkpoint_seq))
            };
            let before = seq_of(&node.engine);
            node.engine
                .handle_checkpointed(&cast.key, id, snapshot, !whole);
            // Taken (not dropped): its sequence number moved on.
            let taken = seq_of(&node.engine).filter(|after| Some(*after) != before);
            if let Some((generation, seq)) = taken {
                let (log, host) = (log.clone(), node.name.clone());
                self.note_checkpoint(&cast.key, &host, generation, seq, &log);
            }
        }
    }

    pub(super) fn forward(&mut self, i: usize, to: &NodeName, cast: Cast) {
        let body = FrameBody::Cast {
            key: cast.key.clone(),
            variant: "w".to_string(),
            args: wire::encode(&(cast.sender, cast.seq)),
            hops: cast.hops,
            stamp: Some(cast.stamp()),
        };
        if !self.send(i, to, body) {
            self.lost.push(format!(
                "{} #{}: next hop {to} unreachable",
                cast.key, cast.seq
            ));
        }
    }

    /// A cast at node `i` from `from`: the engine decides where it goes.
    pub(super) fn dispatch(
        &mut self,
        i: usize,
        from: &NodeName,
        cast: Cast,
        since: Millis,
        expired: bool,
    ) {
        let now = Millis(self.now);
        let node = &mut self.nodes[i];
        let hosted = node.hosted.get(&cast.key).map(|(_, r)| *r);
        let decision = node
            .engine
            .dispatch_cast(&cast.key, from, cast.hops, hosted, expired);
        if self.trace {
            let t = format!(
                "n{i}: {} s{} #{} from {from} ({hosted:?}) -> {decision:?}",
                cast.key, cast.sender, cast.seq
            );
            self.script.push(Step::Trace(t));
        }
        let node = &mut self.nodes[i];
        match decision {
            Dispatch::Hold => match node
                .engine
                .hold
                .buffer(&cast.key, from, HoldKind::Cast, now)
            {
                Ok(id) => {
                    node.engine.hold.stamp(id, cast.stamp());
                    node.held.insert(id, (cast, from.clone()));
                }
                Err(e) => self
                    .lost
                    .push(format!("{} #{}: refused ({e})", cast.key, cast.seq)),
            },
            Dispatch::Park => match node
                .engine
                .hold
                .park(&cast.key, from, HoldKind::Cast, since)
            {
                Ok(id) => {
                    node.engine.hold.stamp(id, cast.stamp());
                    node.held.insert(id, (cast, from.clone()));
                }
                Err(e) => self
                    .lost
                    .push(format!("{} #{}: refused ({e})", cast.key, cast.seq)),
            },
            Dispatch::Deliver => self.deliver_here(i, cast),
            Dispatch::Forward { to, hops, .. } => self.forward(i, &to, Cast { hops, ..cast }),
            // Every name was spawned and none is lost (one crash at a time): a cast for a
            // name nobody runs means the protocol lost track of it.
            // (While partitioned, a side that holds neither the host nor a spec of a name
            // cannot serve it: its casts are lost. Nor can an owner whose respawn offer
            // was lost, until the offer is sent again.)
            other if self.side.is_some() || self.offer_lost_for.contains(&cast.key) => self
                .lost
                .push(format!("{} #{}: {other:?} at n{i}", cast.key, cast.seq)),
            other => self
                .broken
                .push(format!("{} #{}: {other:?} at n{i}", cast.key, cast.seq)),
        }
        self.run(i);
    }
}

//! A seeded simulation of several nodes running the real [`Engine`] (the same code the
//! nodes run), with a stand-in for the node layer: actors are logs of the casts they took,
//! sessions are a full mesh among live nodes, links are FIFO queues of encoded frames
//! delivered in random interleavings. While senders stream numbered casts, each scenario
//! ([`Churn`]) changes the cluster: joins and leaves one at a time or overlapping, crashes
//! and restarts, partitions and heals, pauses past the heartbeat deadline.
//!
//! Checked after every delivered frame: no name runs on two nodes at once, except on two
//! nodes a partition or a pause set apart, until they meet again (see the house rules in
//! `check_single_activation`). At the end (once every node settled): every name runs exactly
//! once, on its owner, nothing is held or still arriving, and each cast reached its name
//! exactly once and in its sender's order (with crashes, partitions or pauses: none twice
//! and none out of order, and casts are lost only while nodes are cut off). A scenario run
//! over many seeds must also exercise what it is named for (moves, respawns, conflicts,
//! fences). A failure prints the seed and the last steps; `SIM_SEED=<seed> cargo test -p
//! ractor-dist engine::sim` replays it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::core::handoff::DRAINED_REASON;
use crate::core::sim_seeds::seeds;
use crate::core::wire::{self, Frame, FrameBody, Response};
use crate::core::{HoldKind, Incarnation, MsgId, NameMeta, Release, Residence, Resolution};

const KIND: &str = "log";

/// The casts an actor took: (sender, sequence number).
type Log = Vec<(u32, u64)>;

fn encode_log(log: &Log) -> Snapshot {
    Snapshot {
        version: 1,
        bytes: wire::encode(log),
    }
}

fn decode_log(snapshot: &Option<Snapshot>) -> Log {
    snapshot
        .as_ref()
        .map(|s| wire::decode(&s.bytes, u64::MAX).expect("a log snapshot"))
        .unwrap_or_default()
}

/// One step of a run, as printed in a failing script.
#[derive(Clone, Debug)]
enum Step {
    Tick(u64),
    Deliver {
        from: usize,
        to: usize,
    },
    Write {
        at: usize,
        key: usize,
        sender: u32,
        seq: u64,
    },
    Join(usize),
    Leave(usize),
    Gone(usize),
    Crash(usize),
    Restart(usize),
    Partition(Vec<usize>),
    Heal,
    Hang(usize),
    Resume(usize),
    /// What happened to a cast (traced with `SIM_TRACE`).
    Trace(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Tick(ms) => write!(f, "tick @{ms}ms"),
            Step::Deliver { from, to } => write!(f, "deliver n{from} -> n{to}"),
            Step::Write {
                at,
                key,
                sender,
                seq,
            } => write!(f, "write k{key} #{seq} by s{sender} at n{at}"),
            Step::Join(n) => write!(f, "join n{n}"),
            Step::Leave(n) => write!(f, "leave n{n}"),
            Step::Gone(n) => write!(f, "n{n} gone"),
            Step::Crash(n) => write!(f, "crash n{n}"),
            Step::Restart(n) => write!(f, "restart n{n}"),
            Step::Partition(side) => write!(f, "partition {side:?} from the rest"),
            Step::Heal => write!(f, "heal"),
            Step::Hang(n) => write!(f, "hang n{n}"),
            Step::Resume(n) => write!(f, "resume n{n}"),
            Step::Trace(t) => write!(f, "  . {t}"),
        }
    }
}

/// A cast held by a node's engine (its payload).
#[derive(Clone, Debug)]
struct Cast {
    key: ActorKey,
    sender: u32,
    seq: u64,
    hops: u8,
}

/// The stand-in for one node's layer around its engine.
struct Node {
    name: NodeName,
    incarnation: Incarnation,
    engine: Engine,
    /// Started and not left.
    up: bool,
    actors: BTreeMap<ChildId, (ActorKey, Log)>,
    hosted: BTreeMap<ActorKey, (ChildId, Residence)>,
    held: BTreeMap<MsgId, (Cast, NodeName)>,
    next_child: u64,
    leaving: bool,
    /// Crashed (not up) and may restart, as its `life`-th incarnation.
    crashed: bool,
    /// Stopped: it handles nothing (ticks, frames) until it resumes.
    hung: bool,
    life: u64,
}

struct Sim {
    rng: StdRng,
    now: u64,
    nodes: Vec<Node>,
    links: BTreeMap<(usize, usize), VecDeque<Vec<u8>>>,
    /// Live pairs with a session.
    sessions: BTreeSet<(usize, usize)>,
    keys: Vec<ActorKey>,
    sent: BTreeMap<(ActorKey, u32), u64>,
    lost: Vec<String>,
    script: Vec<Step>,
    moved_in: usize,
    by_deadline: usize,
    /// Crashes are part of the run: respawns are expected, casts may be lost, and actors
    /// checkpoint after every cast.
    crashes: bool,
    respawned: usize,
    /// While partitioned: the nodes of one side (sessions cross no side).
    side: Option<BTreeSet<usize>>,
    /// A partition healed or a node was paused, and the cluster has not settled with one copy
    /// of each name since (copies may still be on their way to meet).
    healed: bool,
    /// When the hung node stopped.
    hung_since: u64,
    /// Sessions closed by a peer that declared the other down, until the hung one resumes.
    cuts: BTreeSet<(usize, usize)>,
    /// Hangs are part of the run: disconnects and fences are expected.
    hangs: bool,
    fenced: usize,
    resolved: usize,
    /// Protocol events a run must not see (unknown kinds, conflicts, fences).
    broken: Vec<String>,
    trace: bool,
    trace_key: Option<String>,
}

impl Node {
    fn new(i: usize, life: u64, checkpoints: bool) -> Self {
        let name = NodeName::new(format!("n{i}"));
        let config = DistConfig::for_tests(name.as_str(), 7000 + i as u16);
        let incarnation = Incarnation(1000 + i as u64 + 100 * life);
        let hello = Hello {
            node: name.clone(),
            incarnation,
            protocol: u32::from(wire::PROTOCOL_VERSION),
            hash_version: crate::core::hash::HASH_VERSION,
            addr: format!("n{i}:7000"),
            weight: 1.0,
        };
        let kinds = BTreeMap::from([(
            KIND.to_string(),
            KindInfo {
                mode: HandoffMode::Resume,
                checkpoints,
                conflict: Default::default(),
            },
        )]);
        let placement = Placement::weighted(crate::core::Epoch(1), [(name.clone(), 1.0)]);
        let engine = Engine::new(
            EngineConfig::new(&config, hello, kinds),
            placement,
            Millis(0),
        );
        Self {
            name,
            incarnation,
            engine,
            up: true,
            actors: BTreeMap::new(),
            hosted: BTreeMap::new(),
            held: BTreeMap::new(),
            next_child: 1,
            leaving: false,
            crashed: false,
            hung: false,
            life,
        }
    }

    fn child(&mut self) -> ChildId {
        self.next_child += 1;
        ChildId(self.next_child)
    }
}

impl Sim {
    fn new(seed: u64, n: usize, crashes: bool) -> Self {
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            sessions: BTreeSet::new(),
            keys: (0..12).map(|k| ActorKey::from(format!("k{k}"))).collect(),
            sent: BTreeMap::new(),
            lost: Vec::new(),
            script: Vec::new(),
            moved_in: 0,
            by_deadline: 0,
            respawned: 0,
            side: None,
            healed: false,
            cuts: BTreeSet::new(),
            hung_since: 0,
            hangs: false,
            fenced: 0,
            resolved: 0,
            broken: Vec::new(),
            trace: std::env::var("SIM_TRACE").is_ok(),
            trace_key: std::env::var("SIM_TRACE_KEY").ok(),
            crashes,
        };
        for _ in 0..n {
            sim.join();
        }
        sim
    }

    fn idx(&self, name: &NodeName) -> Option<usize> {
        self.nodes.iter().position(|n| &n.name == name)
    }

    fn join(&mut self) {
        let i = self.nodes.len();
        self.script.push(Step::Join(i));
        self.nodes.push(Node::new(i, 0, self.crashes));
        self.refresh_sessions();
    }

    /// Sessions form between every two nodes that are up (ractor_cluster's full mesh);
    /// each node is told, and greets the peers whose session is new.
    fn refresh_sessions(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up)
            .collect();
        let mut now_sessions = BTreeSet::new();
        for &a in &up {
            for &b in &up {
                let apart = self
                    .side
                    .as_ref()
                    .is_some_and(|side| side.contains(&a) != side.contains(&b));
                let cut = self.cuts.contains(&(a, b)) || self.cuts.contains(&(b, a));
                if a != b && !apart && !cut {
                    now_sessions.insert((a, b));
                }
            }
        }
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up || self.nodes[i].hung {
                continue;
            }
            let peers: Vec<usize> = now_sessions
                .iter()
                .filter(|(a, _)| *a == i)
                .map(|(_, b)| *b)
                .collect();
            let fresh: Vec<NodeName> = peers
                .iter()
                .filter(|&&b| !self.sessions.contains(&(i, b)))
                .map(|&b| self.nodes[b].name.clone())
                .collect();
            let sessions: Vec<(NodeName, String)> = peers
                .iter()
                .map(|&b| (self.nodes[b].name.clone(), format!("n{b}:7000")))
                .collect();
            let reachable = sessions.iter().map(|(n, _)| n.clone()).collect();
            let now = Millis(self.now);
            self.nodes[i]
                .engine
                .handle_sessions(sessions, reachable, &fresh, now);
        }
        // Frames on a closed session are lost with it.
        self.links.retain(|pair, _| now_sessions.contains(pair));
        // A hung node keeps its old idea of the sessions until it resumes.
        let hung: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].hung)
            .collect();
        let mut kept = now_sessions;
        for &h in &hung {
            for &(a, b) in &self.sessions {
                if a == h {
                    kept.insert((a, b));
                }
            }
        }
        self.sessions = kept;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].hung {
                self.run(i);
            }
        }
    }

    fn send_bytes(&mut self, from: usize, to: &NodeName, bytes: Vec<u8>) -> bool {
        let Some(to) = self.idx(to) else {
            return false;
        };
        if !self.sessions.contains(&(from, to)) {
            return false;
        }
        self.links.entry((from, to)).or_default().push_back(bytes);
        true
    }

    fn send(&mut self, from: usize, to: &NodeName, body: FrameBody) -> bool {
        let node = &self.nodes[from];
        let bytes = wire::encode(&Frame {
            from: node.name.clone(),
            incarnation: node.incarnation,
            body,
        });
        self.send_bytes(from, to, bytes)
    }

    /// Carries out node `i`'s commands until its engine has none.
    fn run(&mut self, i: usize) {
        let now = Millis(self.now);
        self.nodes[i].engine.set_now(now);
        loop {
            while let Some(command) = self.nodes[i].engine.poll_command() {
                self.execute(i, command);
            }
            self.nodes[i].engine.recovery.flush();
            match self.nodes[i].engine.poll_command() {
                Some(command) => self.execute(i, command),
                None => break,
            }
        }
    }

    fn execute(&mut self, i: usize, command: Command) {
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
            Command::Drain { key, .. } => {
                let node = &mut self.nodes[i];
                let Some((id, residence)) = node.hosted.get_mut(&key) else {
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
            Command::Moved { key, to } => {
                let node = &mut self.nodes[i];
                node.hosted.remove(&key);
                let moved = node.engine.handle_moved(&key, &to, now);
                self.release(i, &key, moved.releases);
            }
            Command::Restore(key) => {
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
            Command::Note(Note::UnknownKind { key, .. }) => {
                self.lost
                    .push(format!("{key}: arrived with an unknown kind"));
            }
            Command::Kill(key) => self.broken.push(format!("{key}: drain killed")),
            Command::Respawn(start) if self.crashes => {
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
                let actor = node
                    .hosted
                    .get(&key)
                    .and_then(|(id, _)| node.actors.get_mut(id));
                match (resolution, actor) {
                    (Resolution::TakeIncoming, Some((_, log))) => {
                        *log = decode_log(&Some(snapshot));
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
                self.script.push(Step::Trace(format!("n{i}: {event:?}")));
            }
            Command::Flush(_)
            | Command::Dial(_)
            | Command::Event { .. }
            | Command::PublishView
            | Command::ViewChanged { .. }
            | Command::Report(_)
            | Command::Note(_) => {}
        }
    }

    /// What the engine decided about the held casts of `key` at node `i`.
    fn release(&mut self, i: usize, key: &ActorKey, releases: Vec<Release>) {
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
                        self.loss(t);
                    }
                }
            }
        }
    }

    fn release_parked(&mut self, i: usize, expired_only: bool) {
        let now = Millis(self.now);
        let released = self.nodes[i].engine.hold.release_parked(now, expired_only);
        for (id, held) in released {
            if let Some((cast, from)) = self.nodes[i].held.remove(&id) {
                self.dispatch(i, &from, cast, held.since, expired_only);
            }
        }
    }

    fn deliver_here(&mut self, i: usize, cast: Cast) {
        let now = Millis(self.now);
        let checkpoints = self.crashes;
        let node = &mut self.nodes[i];
        let Some(&(id, _)) = node.hosted.get(&cast.key) else {
            let t = format!(
                "{} #{}: no actor where delivered at n{i}",
                cast.key, cast.seq
            );
            return self.loss(t);
        };
        let Some((_, log)) = node.actors.get_mut(&id) else {
            let t = format!(
                "{} #{}: no actor where delivered at n{i}",
                cast.key, cast.seq
            );
            return self.loss(t);
        };
        log.push((cast.sender, cast.seq));
        if checkpoints {
            // Every cast is checkpointed to the name's holders.
            let snapshot = encode_log(log);
            node.engine.set_now(now);
            node.engine.handle_checkpointed(&cast.key, id, snapshot);
        }
    }

    fn forward(&mut self, i: usize, to: &NodeName, cast: Cast) {
        let body = FrameBody::Cast {
            key: cast.key.clone(),
            variant: "w".to_string(),
            args: wire::encode(&(cast.sender, cast.seq)),
            hops: cast.hops,
        };
        if !self.send(i, to, body) {
            self.lost.push(format!(
                "{} #{}: next hop {to} unreachable",
                cast.key, cast.seq
            ));
        }
    }

    /// A cast at node `i` from `from`: the engine decides where it goes.
    fn dispatch(&mut self, i: usize, from: &NodeName, cast: Cast, since: Millis, expired: bool) {
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
            // cannot serve it: its casts are lost.)
            other if self.side.is_some() => self
                .lost
                .push(format!("{} #{}: {other:?} at n{i}", cast.key, cast.seq)),
            other => self
                .broken
                .push(format!("{} #{}: {other:?} at n{i}", cast.key, cast.seq)),
        }
        self.run(i);
    }

    fn deliver(&mut self, from: usize, to: usize) {
        if self.nodes[to].hung {
            return;
        }
        let Some(bytes) = self.links.get_mut(&(from, to)).and_then(|l| l.pop_front()) else {
            return;
        };
        self.nodes[to]
            .engine
            .handle_message(Millis(self.now), false);
        self.script.push(Step::Deliver { from, to });
        let frame: Frame = wire::decode(&bytes, u64::MAX).expect("frames decode");
        let now = Millis(self.now);
        let node = &mut self.nodes[to];
        match frame.body {
            FrameBody::Hello { hello, reply } => {
                let _ = node
                    .engine
                    .handle_hello(&frame.from, frame.incarnation, hello, reply, now);
            }
            body => {
                node.engine
                    .handle_heard(&frame.from, frame.incarnation, now);
                if let Some(FrameBody::Cast {
                    key, args, hops, ..
                }) = node.engine.handle_frame(&frame.from, body, now)
                {
                    let (sender, seq): (u32, u64) = wire::decode(&args, u64::MAX).expect("a cast");
                    let cast = Cast {
                        key,
                        sender,
                        seq,
                        hops,
                    };
                    return self.dispatch(to, &frame.from, cast, now, false);
                }
            }
        }
        self.run(to);
    }

    fn tick(&mut self) {
        self.now += 50;
        self.script.push(Step::Tick(self.now));
        // Once the cluster has settled with one copy of each name again, copies may no
        // longer meet: the strict check applies again.
        if self.healed && self.side.is_none() && !self.nodes.iter().any(|n| n.hung) {
            let mut seen = BTreeSet::new();
            let single = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .flat_map(|n| n.actors.values().map(|(k, _)| k))
                .all(|k| seen.insert(k));
            if single && self.settled_membership() {
                self.healed = false;
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].up && !self.nodes[i].hung {
                let now = Millis(self.now);
                // As the supervisor does around every message: the pause rule first.
                self.nodes[i].engine.handle_message(now, false);
                self.run(i);
                self.nodes[i].engine.handle_tick(now);
                self.run(i);
                self.nodes[i].engine.handle_message(now, true);
                self.run(i);
            }
        }
        // A leaver whose actors are all handed off goes.
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if node.up && node.leaving && node.engine.leave_done(Millis(self.now)).is_some() {
                self.script.push(Step::Gone(i));
                // What it sent is on the wire and arrives before its sessions close (a
                // graceful close); what was sent to it is lost with it.
                let peers: Vec<usize> = (0..self.nodes.len()).filter(|&p| p != i).collect();
                for _ in 0..10_000 {
                    let busy: Vec<usize> = peers
                        .iter()
                        .copied()
                        .filter(|&p| self.links.get(&(i, p)).is_some_and(|q| !q.is_empty()))
                        .collect();
                    let Some(&p) = busy.first() else { break };
                    self.deliver(i, p);
                }
                self.nodes[i].up = false;
                self.refresh_sessions();
            }
        }
    }

    fn write(&mut self) {
        // Senders write at nodes that have joined the view of every live node (a node that
        // has not met its peers yet takes itself for the whole cluster).
        let reach = |sim: &Sim, i: usize| {
            (0..sim.nodes.len())
                .filter(|&j| sim.nodes[j].up && !sim.nodes[j].hung)
                .filter(|j| {
                    sim.side
                        .as_ref()
                        .is_none_or(|s| s.contains(&i) == s.contains(j))
                })
                .count()
        };
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && !self.nodes[i].leaving && !self.nodes[i].hung)
            .filter(|&i| self.nodes[i].engine.mesh.membership().peers().len() + 1 == reach(self, i))
            .collect();
        if up.is_empty() {
            return;
        }
        let at = up[self.rng.gen_range(0..up.len())];
        let k = self.rng.gen_range(0..self.keys.len());
        // One sender per (node, name) pair: its casts travel one path, in order.
        let sender = (at * 100 + k) as u32;
        let key = self.keys[k].clone();
        let seq = self.sent.entry((key.clone(), sender)).or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.script.push(Step::Write {
            at,
            key: k,
            sender,
            seq,
        });
        let me = self.nodes[at].name.clone();
        let cast = Cast {
            key,
            sender,
            seq,
            hops: 0,
        };
        self.dispatch(at, &me, cast, Millis(self.now), false);
    }

    /// Spawns every name, asking a node and following its redirects (as handles do).
    fn spawn_all(&mut self) {
        for key in self.keys.clone() {
            let mut at = 0;
            let mut spawned = false;
            for hops in 0..4u8 {
                let node = &mut self.nodes[at];
                let hosted = node.hosted.get(&key).map(|(_, r)| *r);
                match node.engine.spawn_decision(&key, KIND, hops, hosted) {
                    SpawnDecision::Here(activation) => {
                        let id = node.child();
                        node.actors.insert(id, (key.clone(), Log::new()));
                        let residence = node.engine.start_residence(false);
                        node.hosted.insert(key.clone(), (id, residence));
                        let meta = NameMeta::new(KIND, Vec::new(), activation);
                        node.engine.handle_started(id, &key, KIND, meta);
                        node.engine.handle_start_ok(id, Millis(self.now));
                        node.engine.register_elsewhere(&key, KIND);
                        node.engine
                            .replicate(Some(std::slice::from_ref(&key)), Millis(self.now));
                        self.run(at);
                        spawned = true;
                        break;
                    }
                    SpawnDecision::Answer(Response::Redirect { host }) => {
                        at = self.idx(&host).expect("redirected to a node");
                    }
                    other => panic!("spawn of {key}: {other:?}"),
                }
            }
            assert!(spawned, "spawn of {key} kept being redirected");
        }
    }

    /// A node crashes: what it hosts and what is in flight to or from it is gone.
    fn crash(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && !self.nodes[i].leaving)
            .collect();
        if up.len() < 3 {
            return;
        }
        let i = up[self.rng.gen_range(0..up.len())];
        self.script.push(Step::Crash(i));
        self.nodes[i].up = false;
        self.nodes[i].crashed = true;
        self.links.retain(|(a, b), _| *a != i && *b != i);
        self.refresh_sessions();
    }

    /// A crashed node starts again under its name, as a new incarnation with nothing.
    fn restart(&mut self) {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].crashed)
            .collect();
        if down.is_empty() {
            return;
        }
        let i = down[self.rng.gen_range(0..down.len())];
        self.script.push(Step::Restart(i));
        let life = self.nodes[i].life + 1;
        self.nodes[i] = Node::new(i, life, self.crashes);
        self.refresh_sessions();
    }

    /// A node stops handling anything (SIGSTOP).
    fn hang(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && !self.nodes[i].hung)
            .collect();
        if up.len() < 3 || self.nodes.iter().any(|n| n.hung) {
            return;
        }
        let i = up[self.rng.gen_range(0..up.len())];
        self.script.push(Step::Hang(i));
        self.nodes[i].hung = true;
        self.hung_since = self.now;
        // Its peers will respawn its names while it still runs them (frozen).
        self.healed = true;
    }

    /// The hung node runs again: its peers' sessions come back.
    fn resume(&mut self, force: bool) {
        let Some(i) = (0..self.nodes.len()).find(|&i| self.nodes[i].hung) else {
            return;
        };
        // Long enough for its peers to declare it down (the deadline, 1 s, and a tick).
        if !force && self.now < self.hung_since + 1_200 {
            return;
        }
        self.script.push(Step::Resume(i));
        self.nodes[i].hung = false;
        self.healed = true;

        let now = Millis(self.now);
        // Its first handled message finds the gap; then it learns that the peers that
        // declared it down closed their sessions; then they dial it again.
        self.nodes[i].engine.handle_message(now, false);
        self.run(i);
        self.refresh_sessions();
        self.cuts.retain(|(a, b)| *a != i && *b != i);
        self.refresh_sessions();
    }

    /// The live nodes split in two sides of at least one node each.
    fn partition(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up)
            .collect();
        if up.len() < 3 || self.side.is_some() {
            return;
        }
        let n = self.rng.gen_range(1..up.len());
        let mut side: Vec<usize> = up.clone();
        for k in (1..side.len()).rev() {
            side.swap(k, self.rng.gen_range(0..=k));
        }
        side.truncate(n);
        side.sort();
        self.script.push(Step::Partition(side.clone()));
        let side: BTreeSet<usize> = side.into_iter().collect();
        self.links
            .retain(|(a, b), _| side.contains(a) == side.contains(b));
        self.side = Some(side);
        self.refresh_sessions();
    }

    fn heal(&mut self) {
        if self.side.take().is_some() {
            self.script.push(Step::Heal);
            self.healed = true;
            self.refresh_sessions();
        }
    }

    fn leave(&mut self) {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && !self.nodes[i].leaving)
            .collect();
        if candidates.len() < 2 {
            return;
        }
        let i = candidates[self.rng.gen_range(0..candidates.len())];
        self.script.push(Step::Leave(i));
        self.nodes[i].leaving = true;
        let peers: Vec<NodeName> = self.nodes[i]
            .engine
            .mesh
            .reachable()
            .iter()
            .cloned()
            .collect();
        let now = Millis(self.now);
        self.nodes[i].engine.handle_leave(peers, now);
        self.run(i);
    }

    /// A cast was lost: in flight to a crashed or cut-off node, or taken by a copy that lost
    /// (partitions) or crashed, that is allowed; anywhere else it breaks the guarantees.
    fn loss(&mut self, what: String) {
        if self.side.is_some() || self.nodes.iter().any(|n| n.hung) {
            self.lost.push(what);
        } else {
            self.broken.push(what);
        }
    }

    /// Delivers the next frame of a random busy link, if any.
    fn deliver_one(&mut self) {
        let busy: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|((_, to), q)| !q.is_empty() && !self.nodes[*to].hung)
            .map(|(k, _)| *k)
            .collect();
        if !busy.is_empty() {
            let (from, to) = busy[self.rng.gen_range(0..busy.len())];
            self.deliver(from, to);
            self.check_single_activation();
        }
    }

    /// Delivers every frame in flight, in a random interleaving of the links.
    fn deliver_all(&mut self) {
        for _ in 0..100_000 {
            let busy: Vec<(usize, usize)> = self
                .links
                .iter()
                .filter(|((_, to), q)| !q.is_empty() && !self.nodes[*to].hung)
                .map(|(k, _)| *k)
                .collect();
            if busy.is_empty() {
                return;
            }
            let (from, to) = busy[self.rng.gen_range(0..busy.len())];
            self.deliver(from, to);
            self.check_single_activation();
        }
        panic!("frames kept flowing");
    }

    /// No name runs on two nodes that see each other and have settled (while a partition
    /// heals, two copies run until they meet; planned moves never run two at once).
    fn check_single_activation(&self) {
        let mut seen: BTreeMap<&ActorKey, Vec<usize>> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.up {
                for (key, _) in node.actors.values() {
                    seen.entry(key).or_default().push(i);
                }
            }
        }
        for (key, hosts) in seen {
            for (x, &a) in hosts.iter().enumerate() {
                for &b in &hosts[x + 1..] {
                    let apart = self
                        .side
                        .as_ref()
                        .is_some_and(|side| side.contains(&a) != side.contains(&b));
                    if apart {
                        continue;
                    }
                    let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                    let together = na.engine.mesh.membership().is_up(&nb.name)
                        && nb.engine.mesh.membership().is_up(&na.name);
                    let settled = na.engine.handoff.is_settled() && nb.engine.handoff.is_settled();
                    // Copies made on both sides of a partition (or by a paused node's peers)
                    // are on their way to meet (through handoffs to their owners) until the
                    // cluster has settled with one copy of each name again.
                    let meeting = self.healed && !(together && settled);
                    if !meeting {
                        panic!("{key} runs on n{a} and n{b} at once");
                    }
                }
            }
        }
    }

    /// Every live node knows every other and settled its view (frames may be in flight).
    fn settled_membership(&self) -> bool {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up)
            .all(|i| {
                let n = &self.nodes[i];
                let reach = (0..self.nodes.len())
                    .filter(|&j| self.nodes[j].up)
                    .filter(|j| {
                        self.side
                            .as_ref()
                            .is_none_or(|s| s.contains(&i) == s.contains(j))
                    })
                    .count();
                n.engine.handoff.is_settled()
                    && n.engine.handoff.is_quiescent()
                    && n.engine.mesh.membership().peers().len() + 1 == reach
            })
    }

    fn settled(&self) -> bool {
        self.nodes.iter().filter(|n| n.up).all(|n| {
            n.engine.handoff.is_settled() && n.engine.handoff.is_quiescent() && n.held.is_empty()
        }) && self.links.values().all(|q| q.is_empty())
    }

    /// The end state: every name once, on its owner, with every cast once and in order.
    fn check_end(&self) -> Result<(), String> {
        if !self.broken.is_empty() {
            return Err(format!("broken: {:?}", self.broken));
        }
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.up) {
            if !node.engine.arriving.is_empty() || !node.engine.respawning.is_empty() {
                return Err(format!(
                    "n{i} still has arrivals {:?} or respawns {:?} in progress",
                    node.engine.arriving,
                    node.engine.respawning.keys().collect::<Vec<_>>()
                ));
            }
        }
        if !self.crashes && !self.lost.is_empty() {
            return Err(format!("lost: {:?}", self.lost));
        }
        let up: Vec<&Node> = self.nodes.iter().filter(|n| n.up).collect();
        for key in &self.keys {
            let mut hosts = Vec::new();
            let mut logs = Vec::new();
            for node in &up {
                for (k, log) in node.actors.values() {
                    if k == key {
                        hosts.push(node.name.clone());
                        logs.push(log.clone());
                    }
                }
            }
            let expected: u64 = self
                .sent
                .iter()
                .filter(|((k, _), _)| k == key)
                .map(|(_, n)| *n)
                .sum();
            if hosts.len() != 1 {
                return Err(format!("{key} runs on {hosts:?}"));
            }
            let owner = up[0].engine.placement.owner_of(key).cloned();
            if owner.as_ref() != Some(&hosts[0]) {
                return Err(format!("{key} runs on {} but {owner:?} owns it", hosts[0]));
            }
            let log = &logs[0];
            let mut last: BTreeMap<u32, u64> = BTreeMap::new();
            for &(sender, seq) in log {
                let prev = last.insert(sender, seq).unwrap_or(0);
                // After a crash casts may be lost (those in flight, those after the last
                // checkpoint), but none is taken twice or out of order.
                let in_order = if self.crashes {
                    seq > prev
                } else {
                    seq == prev + 1
                };
                if !in_order {
                    return Err(format!("{key}: s{sender} #{seq} after #{prev}"));
                }
            }
            if self.crashes {
                let _ = expected;
                continue;
            }
            for ((k, sender), n) in &self.sent {
                if k == key && last.get(sender).copied().unwrap_or(0) != *n {
                    return Err(format!(
                        "{key}: s{sender} sent {n}, got {:?}",
                        last.get(sender)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How membership changes come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Churn {
    /// One at a time: a node joins or leaves only once every node settled.
    Sequential,
    /// At any time, overlapping.
    Overlapping,
    /// Nodes crash and restart (one at a time, once the view has been quiet), besides
    /// joining; actors checkpoint every cast.
    Crashes,
    /// The nodes are split in two sides, each serving on its own (respawning the names of
    /// the other side), then healed: two copies of a name meet and one survives
    /// (`KeepNewest`); actors checkpoint every cast.
    Partitions,
    /// A node stops (SIGSTOP) past the heartbeat deadline: its peers disconnect it and
    /// respawn its names; when it resumes it fences its actors, rejoins, and the copies
    /// meet (`KeepNewest`); actors checkpoint every cast.
    Hangs,
}

/// How many frames the network carries per tick (50 ms of simulated time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    /// Well above what the nodes send: barriers complete by hearing from every peer.
    Fast,
    /// Below what seven nodes' heartbeats need: frames queue up for seconds, and barriers
    /// complete by their deadline.
    Slow,
}

/// One run: nodes join and leave while casts stream; then everything settles.
/// What a run exercised (summed over seeds: a scenario must exercise what it names).
#[derive(Debug, Default)]
struct Exercised {
    respawned: usize,
    resolved: usize,
    fenced: usize,
    moved_in: usize,
}

fn run_seed(seed: u64, churn: Churn, net: Net) -> Result<Exercised, (String, Vec<Step>)> {
    let mut sim = Sim::new(
        seed,
        3,
        matches!(churn, Churn::Crashes | Churn::Partitions | Churn::Hangs),
    );
    sim.hangs = churn == Churn::Hangs;
    let mut quiet_since = 0;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..40 {
            sim.deliver_all();
            if sim.settled()
                && sim
                    .nodes
                    .iter()
                    .all(|n| n.engine.mesh.membership().peers().len() == 2)
            {
                break;
            }
            sim.tick();
        }
        sim.spawn_all();
        for round in 0..80 {
            let settled = sim.settled_membership() && !sim.nodes.iter().any(|n| n.up && n.leaving);
            if !settled {
                quiet_since = round;
            }
            // Specs are brought up to date once a view has been quiet for a while: a crash
            // waits for that (a name survives one loss at a time).
            let quiet = match churn {
                Churn::Overlapping => true,
                Churn::Sequential => settled,
                Churn::Crashes | Churn::Partitions | Churn::Hangs => {
                    settled && round >= quiet_since + 10
                }
            };
            match (churn, sim.rng.gen_range(0..16)) {
                (_, 0) if quiet && sim.nodes.len() < 7 && round < 60 => sim.join(),
                (Churn::Crashes, 1) if quiet && round < 60 => sim.crash(),
                (Churn::Crashes, 2) if quiet && round < 60 => sim.restart(),
                (Churn::Crashes, _) => {}
                (Churn::Partitions, 1) if quiet && round < 50 => sim.partition(),
                (Churn::Partitions, 2) if round >= quiet_since + 10 || round >= 60 => sim.heal(),
                (Churn::Partitions, _) => {}
                (Churn::Hangs, 1) if quiet && round < 50 => sim.hang(),
                (Churn::Hangs, 2) => sim.resume(round >= 60),
                (Churn::Hangs, _) => {}
                (_, 1) if quiet && round < 60 => sim.leave(),
                _ => {}
            }
            // Casts interleave with frames in flight (moves under way, markers, batches).
            let frames = match net {
                Net::Fast => sim.rng.gen_range(60..240),
                Net::Slow => sim.rng.gen_range(10..80),
            };
            for _ in 0..frames {
                if sim.rng.gen_bool(0.1) {
                    sim.write();
                }
                sim.deliver_one();
            }
            sim.tick();
        }
        sim.heal();
        sim.resume(true);
        for _ in 0..400 {
            sim.deliver_all();
            if sim.settled() {
                break;
            }
            sim.tick();
        }
        sim.deliver_all();
        if !sim.settled() {
            return Err("never settled".to_string());
        }
        if std::env::var("SIM_STATS").is_ok() {
            let count = |f: fn(&Step) -> bool| sim.script.iter().filter(|s| f(s)).count();
            eprintln!(
                "seed {seed}: writes {} joins {} leaves {} crashes {} partitions {} hangs {} fenced {} delivered {} moved in {} respawned {} resolved {} nodes up {} settled by deadline {}",
                count(|s| matches!(s, Step::Write { .. })),
                count(|s| matches!(s, Step::Join(_))),
                count(|s| matches!(s, Step::Leave(_))),
                count(|s| matches!(s, Step::Crash(_))),
                count(|s| matches!(s, Step::Partition(_))),
                count(|s| matches!(s, Step::Hang(_))),
                sim.fenced,
                count(|s| matches!(s, Step::Deliver { .. })),
                sim.moved_in,
                sim.respawned,
                sim.resolved,
                sim.nodes.iter().filter(|n| n.up).count(),
                sim.by_deadline,
            );
        }
        sim.check_end()?;
        Ok(Exercised {
            respawned: sim.respawned,
            resolved: sim.resolved,
            fenced: sim.fenced,
            moved_in: sim.moved_in,
        })
    }));
    let result = match outcome {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".to_string())),
    };
    result.map_err(|e| (e, sim.script))
}

/// The seeds to run: `SIM_SEED` / `SIM_SEEDS` as the other simulations, else the first 100.
fn some_seeds() -> Vec<u64> {
    if std::env::var("SIM_SEED").is_ok() || std::env::var("SIM_SEEDS").is_ok() {
        return seeds();
    }
    (0..100).collect()
}

fn check(churn: Churn, net: Net, seeds: impl IntoIterator<Item = u64>) {
    let mut total = Exercised::default();
    let mut runs = 0;
    for seed in seeds {
        runs += 1;
        let result = run_seed(seed, churn, net);
        if let Ok(done) = &result {
            total.respawned += done.respawned;
            total.resolved += done.resolved;
            total.fenced += done.fenced;
            total.moved_in += done.moved_in;
        }
        if let Err((error, script)) = result {
            if let Ok(path) = std::env::var("SIM_SCRIPT") {
                let all: Vec<String> = script.iter().map(|s| s.to_string()).collect();
                let _ = std::fs::write(path, all.join("\n"));
            }
            let tail: Vec<String> = script
                .iter()
                .rev()
                .take(40)
                .rev()
                .map(|s| s.to_string())
                .collect();
            panic!(
                "{churn:?} {net:?} seed {seed}: {error}\nlast steps:\n  {}\nreplay: SIM_SEED={seed} cargo test -p ractor-dist engine::sim",
                tail.join("\n  ")
            );
        }
    }
    // A scenario must do what it is named for (a replayed single seed may not).
    if runs >= 20 {
        let exercised = match churn {
            Churn::Sequential | Churn::Overlapping => total.moved_in > 0,
            Churn::Crashes => total.respawned > 0,
            Churn::Partitions => total.respawned > 0 && total.resolved > 0,
            Churn::Hangs => total.fenced > 0 && total.resolved > 0,
        };
        assert!(
            exercised,
            "{churn:?} over {runs} seeds exercised too little: {total:?}"
        );
    }
}

#[test]
fn planned_moves_one_at_a_time_lose_nothing_and_run_each_name_once() {
    check(Churn::Sequential, Net::Fast, some_seeds());
}

#[test]
fn planned_moves_under_overlapping_changes_lose_nothing_and_run_each_name_once() {
    check(Churn::Overlapping, Net::Fast, some_seeds());
}

/// Known failure (issue 9): when frames queue up for longer than the handoff deadline,
/// barriers complete by their deadline, and a cast parked at a name's new owner past the
/// park deadline is released where the name does not run yet and dropped, or overtakes
/// an earlier one still held at the old host (`SIM_SEED=20`). Run with
/// `--ignored` to hunt.
#[test]
#[ignore = "known failure: barriers that complete by deadline reorder or drop parked casts"]
fn planned_moves_over_a_slow_network_lose_nothing() {
    check(Churn::Overlapping, Net::Slow, some_seeds());
}

#[test]
fn crashes_lose_no_name_and_never_run_one_twice_or_take_a_cast_twice() {
    check(Churn::Crashes, Net::Fast, some_seeds());
}

#[test]
fn partitions_heal_to_one_copy_of_each_name_on_its_owner() {
    check(Churn::Partitions, Net::Fast, some_seeds());
}

#[test]
fn a_paused_node_fences_rejoins_and_leaves_one_copy_of_each_name() {
    check(Churn::Hangs, Net::Fast, some_seeds());
}

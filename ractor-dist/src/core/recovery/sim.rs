//! The seeded simulation of the migration issue, extended with failures: nodes running
//! [`HandoffCore`] and the nodes' own recovery engine ([`Recovery`]: replication,
//! checkpoints, offers, respawns, conflicts and the pause fence, the same code a node runs)
//! under a small executor (actors are counters, frames are packets), over FIFO links
//! delivered in random interleavings, while names take writes that are checkpointed to
//! their replicas and nodes crash, restart, hang, resume, and get partitioned and healed.
//!
//! Checked after every step:
//! - **single activation**: two nodes that see each other and are settled (by barrier) never
//!   both run a live copy of a name;
//! - **newest checkpoint**: a respawned name starts from the newest checkpoint any node on
//!   its side holds for the lost generation.
//!
//! Checked at the end (after every hung node resumed and every partition healed): **exactly
//! one copy** of each name runs, on its owner, on a settled and unfenced node; no name is
//! lost unless at least two crashes happened (specs are kept on 2 nodes).
//!
//! A failure prints its seed; reproduce it with
//! `SIM_SEED=<seed> cargo test -p ractor-dist recovery::sim`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::core::handoff::{
    Admission, BatchId, HandoffCommand, HandoffConfig, HandoffCore, HandoffMode,
};
use crate::core::membership::view_digest;
use crate::core::sim_seeds::seeds;
use crate::core::{Epoch, Millis, Timing};

const REPLICAS: usize = 2;
const DEADLINE_MS: u64 = 2_000;

/// The configuration the simulated nodes run with (a handoff deadline equal to the
/// heartbeat deadline).
fn timing() -> Timing {
    Timing {
        heartbeat_interval_ms: 100,
        heartbeat_deadline_ms: DEADLINE_MS,
        handoff_ms: DEADLINE_MS,
        ..Timing::default()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Active,
    Moving,
    Settling,
    /// Held by the pause fence: takes no messages, but is still hosted (it can be handed
    /// off or take part in a conflict).
    Fenced,
}

/// One copy of a name: its state is a counter of writes.
#[derive(Clone, Debug)]
struct Copy {
    value: u64,
    st: St,
    /// It was killed while draining: it travels without its state.
    stateless: bool,
    meta: NameMeta<u64>,
}

impl Copy {
    /// The state it carries when it moves.
    fn state(&self) -> Option<u64> {
        (!self.stateless).then_some(self.value)
    }
}

#[derive(Clone, Debug)]
enum Packet {
    Adopted(ViewIdOf),
    Done(ViewIdOf),
    Migrate(BatchId, Vec<(ActorKey, Copy)>),
    Ack(BatchId),
    /// A frame of the recovery engine.
    Rec(RecoveryMsg<u64>),
    Conflict(ActorKey, Copy),
}

type ViewIdOf = crate::core::ViewId;

/// A node's view of its peers, as its recovery engine sees it.
struct SimPeers(BTreeMap<NodeName, Incarnation>);

impl Peers for SimPeers {
    fn incarnation_of(&self, node: &NodeName) -> Option<Incarnation> {
        self.0.get(node).copied()
    }
    fn is_present(&self, node: &NodeName, incarnation: Incarnation) -> bool {
        self.0.get(node) == Some(&incarnation)
    }
    fn is_up(&self, node: &NodeName) -> bool {
        self.0.contains_key(node)
    }
    fn has_peers(&self) -> bool {
        self.0.len() > 1
    }
}

/// The copies of `copies` that run (not moving away), all or `only` one.
fn running<'a>(
    copies: &'a mut BTreeMap<ActorKey, Copy>,
    only: Option<&ActorKey>,
) -> Vec<Hosted<'a, u64>> {
    copies
        .iter_mut()
        .filter(|(k, c)| c.st != St::Moving && only.is_none_or(|o| o == *k))
        .map(|(k, c)| (k, &mut c.meta))
        .collect()
}

struct Node {
    name: NodeName,
    inc: Incarnation,
    up: bool,
    hung: bool,
    /// When it last hung.
    hung_at: u64,
    core: HandoffCore,
    rec: Recovery<u64>,
    members: BTreeSet<usize>,
    /// The incarnations of `members` when the view was adopted.
    member_incs: Vec<Incarnation>,
    placement: Placement,
    view_since: u64,
    by_deadline: bool,
    copies: BTreeMap<ActorKey, Copy>,
    draining: BTreeSet<ActorKey>,
    outgoing: BTreeMap<ActorKey, Copy>,
    conflicts: BTreeMap<ActorKey, (usize, Copy)>,
}

impl Node {
    /// The names hosted here or moving away (for respawn decisions).
    fn hosted(&self) -> BTreeSet<ActorKey> {
        self.copies
            .keys()
            .chain(self.outgoing.keys())
            .cloned()
            .collect()
    }
}

struct Sim {
    seed: u64,
    rng: StdRng,
    nodes: Vec<Node>,
    links: BTreeMap<(usize, usize), VecDeque<Packet>>,
    /// Unordered pairs that cannot talk (a partition).
    cut: BTreeSet<(usize, usize)>,
    pending: BTreeMap<usize, BTreeSet<usize>>,
    keys: Vec<ActorKey>,
    policy: ConflictPolicy,
    now: u64,
    crashes: usize,
    faults: usize,
    next_inc: u64,
    trace: VecDeque<String>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    fn new(seed: u64, n: usize, keys: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let policy = match rng.gen_range(0..3) {
            0 => ConflictPolicy::KeepNewest,
            1 => ConflictPolicy::KeepOldest,
            _ => ConflictPolicy::Merge,
        };
        let mut sim = Sim {
            seed,
            rng,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            pending: BTreeMap::new(),
            keys: (0..keys).map(|i| ActorKey::new(format!("k{i}"))).collect(),
            policy,
            now: 0,
            crashes: 0,
            faults: 0,
            next_inc: 1,
            trace: VecDeque::new(),
        };
        for i in 0..n {
            let node = sim.fresh_node(i);
            sim.nodes.push(node);
        }
        let all: BTreeSet<usize> = (0..n).collect();
        for i in 0..n {
            sim.adopt(i, all.clone());
        }
        // Every name starts on its owner, replicated.
        let placement = sim.placement_of(&all);
        for key in sim.keys.clone() {
            let owner_name = placement.owner_of(&key).unwrap().clone();
            let owner = sim.index(&owner_name);
            sim.nodes[owner].copies.insert(
                key.clone(),
                Copy {
                    value: 0,
                    st: St::Active,
                    stateless: false,
                    meta: NameMeta::new("k", Vec::new(), Activation::first(owner_name)),
                },
            );
            sim.replicate(owner, Some(&key));
        }
        sim.flush_all();
        sim
    }

    fn fresh_node(&mut self, i: usize) -> Node {
        let name = NodeName::new(format!("n{i}"));
        let inc = Incarnation(self.next_inc);
        self.next_inc += 1;
        Node {
            core: HandoffCore::new(
                name.clone(),
                HandoffConfig {
                    deadline_ms: DEADLINE_MS,
                    batch_bytes: 8,
                    max_inflight: 2,
                },
            ),
            rec: Recovery::new(RecoveryConfig {
                me: name.clone(),
                incarnation: inc,
                replicas: REPLICAS,
                frame_budget: 1 << 16,
                timing: timing(),
            }),
            placement: Placement::new(Epoch(0), [name.clone()]),
            name,
            inc,
            up: true,
            hung: false,
            hung_at: 0,
            members: [i].into(),
            member_incs: vec![inc],
            view_since: 0,
            by_deadline: false,
            copies: BTreeMap::new(),
            draining: BTreeSet::new(),
            outgoing: BTreeMap::new(),
            conflicts: BTreeMap::new(),
        }
    }

    fn index(&self, name: &NodeName) -> usize {
        self.nodes.iter().position(|n| n.name == *name).unwrap()
    }

    fn placement_of(&self, members: &BTreeSet<usize>) -> Placement {
        Placement::new(
            Epoch(0),
            members.iter().map(|i| self.nodes[*i].name.clone()),
        )
    }

    fn note(&mut self, s: String) {
        if self.trace.len() == 3000 {
            self.trace.pop_front();
        }
        self.trace.push_back(s);
    }

    fn fail(&self, what: String) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(String::as_str).collect();
        panic!(
            "recovery simulation seed {} ({:?}) failed: {what}\nlast events:\n{}",
            self.seed,
            self.policy,
            trace.join("\n")
        );
    }

    fn can_talk(&self, a: usize, b: usize) -> bool {
        self.nodes[a].up && self.nodes[b].up && !self.cut.contains(&pair(a, b))
    }

    fn send(&mut self, from: usize, to: usize, packet: Packet) {
        if from == to || !self.can_talk(from, to) {
            return;
        }
        self.links.entry((from, to)).or_default().push_back(packet);
    }

    fn drop_links(&mut self, a: usize, b: usize) {
        self.links.remove(&(a, b));
        self.links.remove(&(b, a));
    }

    /// The nodes `n` can reach and that are not hung (the view it converges to).
    fn component(&self, n: usize) -> BTreeSet<usize> {
        (0..self.nodes.len())
            .filter(|&m| m == n || (self.can_talk(n, m) && !self.nodes[m].hung))
            .collect()
    }

    fn refresh_views(&mut self) {
        for n in 0..self.nodes.len() {
            if self.nodes[n].up && !self.nodes[n].hung {
                let c = self.component(n);
                let incs: Vec<Incarnation> = c.iter().map(|m| self.nodes[*m].inc).collect();
                if c != self.nodes[n].members || incs != self.nodes[n].member_incs {
                    self.pending.insert(n, c);
                } else {
                    self.pending.remove(&n);
                }
            }
        }
    }

    /// Node `n`'s peers as of its view.
    fn peers(&self, n: usize) -> SimPeers {
        let node = &self.nodes[n];
        SimPeers(
            node.members
                .iter()
                .zip(node.member_incs.iter())
                .map(|(m, inc)| (self.nodes[*m].name.clone(), *inc))
                .collect(),
        )
    }

    /// Executes node `n`'s recovery commands.
    fn pump(&mut self, n: usize) {
        while let Some(cmd) = self.nodes[n].rec.poll_command() {
            match cmd {
                RecoveryCommand::Send { to, msg } => {
                    let to = self.index(&to);
                    self.send(n, to, Packet::Rec(msg));
                }
                RecoveryCommand::Respawn(start) => self.respawn(n, start),
                RecoveryCommand::Resolve {
                    key,
                    resolution,
                    snapshot,
                } => {
                    self.note(format!("n{n} resolves {key:?}: {resolution:?}"));
                    if let Some(c) = self.nodes[n].copies.get_mut(&key) {
                        match resolution {
                            Resolution::KeepLocal => {}
                            Resolution::TakeIncoming => c.value = snapshot,
                            Resolution::Merge => c.value = c.value.max(snapshot),
                        }
                    }
                }
                RecoveryCommand::Fence => {
                    self.note(format!("n{n} fenced"));
                    for c in self.nodes[n].copies.values_mut() {
                        if c.st != St::Moving {
                            c.st = St::Fenced;
                        }
                    }
                }
                RecoveryCommand::Unfence => {
                    self.note(format!("n{n} unfenced"));
                    for c in self.nodes[n].copies.values_mut() {
                        if c.st == St::Fenced {
                            c.st = St::Active;
                        }
                    }
                }
                RecoveryCommand::Event(e) => self.note(format!("n{n} {e:?}")),
            }
        }
    }

    /// Node `n`'s recovery context.
    fn with_ctx<T>(&mut self, n: usize, f: impl FnOnce(&mut Node, Ctx<'_, SimPeers>) -> T) -> T {
        let placement = self.nodes[n].placement.clone();
        let peers = self.peers(n);
        let ctx = Ctx {
            now: Millis(self.now),
            placement: &placement,
            peers: &peers,
            leaving: false,
        };
        let out = f(&mut self.nodes[n], ctx);
        self.pump(n);
        out
    }

    /// Node `n` adopts the view `members` (the supervisor's `on_view_change`).
    fn adopt(&mut self, n: usize, members: BTreeSet<usize>) {
        let gone: Vec<usize> = self.nodes[n]
            .members
            .difference(&members)
            .copied()
            .collect();
        for g in &gone {
            self.drop_links(n, *g);
        }
        // Departed peers, and peers that restarted (their old incarnation is gone).
        let old: Vec<(usize, Incarnation)> = self.nodes[n]
            .members
            .iter()
            .copied()
            .zip(self.nodes[n].member_incs.iter().copied())
            .collect();
        for (g, inc) in old {
            if g != n && (gone.contains(&g) || self.nodes[g].inc != inc) {
                let name = self.nodes[g].name.clone();
                self.nodes[n].core.handle_peer_gone(&name);
            }
        }
        let view = view_digest(
            members
                .iter()
                .map(|i| (&self.nodes[*i].name, self.nodes[*i].inc)),
        );
        let placement = self.placement_of(&members);
        let participants: BTreeSet<NodeName> = members
            .iter()
            .filter(|p| **p != n)
            .map(|p| self.nodes[*p].name.clone())
            .collect();
        self.nodes[n].member_incs = members.iter().map(|m| self.nodes[*m].inc).collect();
        self.nodes[n].members = members;
        self.nodes[n].placement = placement.clone();
        self.nodes[n].view_since = self.now;
        self.nodes[n].by_deadline = false;
        self.note(format!("n{n} adopts {:?}", self.nodes[n].members));
        self.with_ctx(n, |node, ctx| node.rec.offer_orphans(ctx));
        let node = &mut self.nodes[n];
        // Copies about to be restored here (their target went away) count as hosted: they
        // may belong elsewhere in the new view.
        let hosted: Vec<(ActorKey, HandoffMode)> = node
            .copies
            .iter()
            .filter(|(k, c)| c.st != St::Moving || !node.core.is_moving(k))
            .map(|(k, _)| (k.clone(), HandoffMode::Resume))
            .collect();
        node.core.handle_view(
            view,
            &placement,
            participants,
            hosted,
            false,
            Millis(self.now),
        );
        self.run(n);
    }

    fn run(&mut self, n: usize) {
        let mut settled = false;
        while let Some(cmd) = self.nodes[n].core.poll_command() {
            self.note(format!("n{n} {cmd:?}"));
            match cmd {
                HandoffCommand::Announce { view } => {
                    for p in self.nodes[n].members.clone() {
                        self.send(n, p, Packet::Adopted(view));
                    }
                }
                HandoffCommand::Drain { key, .. } => {
                    let node = &mut self.nodes[n];
                    if let Some(c) = node.copies.get_mut(&key) {
                        c.st = St::Moving;
                        node.draining.insert(key);
                    }
                }
                HandoffCommand::ForceStop { key } => {
                    // As the executor: the actor is killed, it travels without state.
                    let node = &mut self.nodes[n];
                    if node.draining.remove(&key) {
                        let mut c = node.copies[&key].clone();
                        c.value = 0;
                        c.stateless = true;
                        node.outgoing.insert(key.clone(), c);
                        node.core.handle_drained(&key, 1, Millis(self.now));
                    }
                }
                HandoffCommand::SendBatch { to, batch, keys } => {
                    let entries = keys
                        .iter()
                        .filter_map(|k| {
                            self.nodes[n]
                                .outgoing
                                .get(k)
                                .map(|c| (k.clone(), c.clone()))
                        })
                        .collect();
                    let to = self.index(&to);
                    self.send(n, to, Packet::Migrate(batch, entries));
                }
                HandoffCommand::Moved { key, to } => {
                    let to_name = to;
                    let to = self.index(&to_name);
                    // The spec's holders keep it until the new host's confirmed theirs,
                    // naming the new host from now on.
                    self.nodes[n].copies.remove(&key);
                    if let Some(out) = self.nodes[n].outgoing.remove(&key) {
                        self.with_ctx(n, |node, ctx| {
                            node.rec
                                .rehost(&key, &out.meta.holders, &to_name, ctx.peers);
                            node.rec.flush();
                        });
                    }
                    if let Some((_, c)) = self.nodes[n].conflicts.remove(&key) {
                        self.send(n, to, Packet::Conflict(key, c));
                    }
                }
                HandoffCommand::RestoreLocal { key } => {
                    let settled_now = self.nodes[n].core.is_settled();
                    let fenced = self.nodes[n].rec.is_fenced();
                    let node = &mut self.nodes[n];
                    if let Some(mut c) = node.outgoing.remove(&key) {
                        c.st = if fenced {
                            St::Fenced
                        } else if settled_now {
                            St::Active
                        } else {
                            St::Settling
                        };
                        // A new activation (the batch may have reached its target).
                        c.meta = c.meta.clone().restored(&node.name, c.state(), true);
                        c.stateless = false;
                        node.copies.insert(key.clone(), c);
                        if let Some((from, other)) = node.conflicts.remove(&key) {
                            self.resolve_here(n, from, key.clone(), other);
                        }
                        self.replicate(n, Some(&key));
                    }
                }
                HandoffCommand::SendDone { to, view } => {
                    let to = self.index(&to);
                    self.send(n, to, Packet::Done(view));
                }
                HandoffCommand::Remind {
                    view,
                    adopted,
                    done,
                } => {
                    for p in adopted {
                        let p = self.index(&p);
                        self.send(n, p, Packet::Adopted(view));
                    }
                    for p in done {
                        let p = self.index(&p);
                        self.send(n, p, Packet::Done(view));
                    }
                }
                HandoffCommand::Settled { by_deadline } => {
                    self.nodes[n].by_deadline |= by_deadline;
                    settled = true;
                }
            }
        }
        // A `Settled` of a view that was already replaced (a peer went away and completed
        // its barrier) counts only if the current view is settled too.
        if settled && self.nodes[n].core.is_settled() {
            for c in self.nodes[n].copies.values_mut() {
                if c.st == St::Settling {
                    c.st = St::Active;
                }
            }
            self.after_settle(n);
        }
    }

    fn after_settle(&mut self, n: usize) {
        let (by_deadline, view_since) =
            (self.nodes[n].by_deadline, Millis(self.nodes[n].view_since));
        self.with_ctx(n, |node, ctx| {
            let hosted = node.hosted();
            let mut names = running(&mut node.copies, None);
            node.rec
                .handle_settled(by_deadline, view_since, &mut names, ctx, |k| {
                    hosted.contains(k)
                });
        });
    }

    /// A heartbeat tick of node `n`'s recovery engine.
    fn tick(&mut self, n: usize) {
        let settled = self.nodes[n].core.is_settled();
        let view_since = Millis(self.nodes[n].view_since);
        self.with_ctx(n, |node, ctx| {
            let hosted = node.hosted();
            let mut names = running(&mut node.copies, None);
            node.rec
                .handle_tick(settled, view_since, &mut names, ctx, |k| hosted.contains(k));
        });
    }

    fn respawn(&mut self, n: usize, start: RespawnStart<u64>) {
        let key = start.key.clone();
        let lost_generation = start.meta.activation.generation - 1;
        // The newest checkpoint: no node of this one's view holds a newer one for the
        // lost generation.
        for m in self.nodes[n].members.clone() {
            if let Some(s) = self.nodes[m].rec.replicas().get(&key) {
                if s.generation == lost_generation && s.seq > start.seq {
                    self.fail(format!(
                        "n{n} respawns {key:?} from checkpoint {} but n{m} holds {}",
                        start.seq, s.seq
                    ));
                }
            }
        }
        self.note(format!("n{n} respawns {key:?} {start:?}"));
        let value = start.meta.checkpoint.unwrap_or(0);
        let node = &mut self.nodes[n];
        node.rec.handle_respawned(&key);
        node.copies.insert(
            key.clone(),
            Copy {
                value,
                st: St::Active,
                stateless: false,
                meta: start.meta,
            },
        );
        self.replicate(n, Some(&key));
    }

    fn replicate(&mut self, n: usize, only: Option<&ActorKey>) {
        self.with_ctx(n, |node, ctx| {
            let mut names = running(&mut node.copies, only);
            node.rec.replicate(&mut names, ctx);
        });
    }

    /// Delivers every packet at once (setup only).
    fn flush_all(&mut self) {
        while let Some((&(a, b), _)) = self.links.iter().find(|(_, q)| !q.is_empty()) {
            let p = self.links.get_mut(&(a, b)).unwrap().pop_front().unwrap();
            self.deliver(a, b, p);
        }
    }

    /// The copy `other` of `key` from `from` met the one on `n`.
    fn resolve_here(&mut self, n: usize, from: usize, key: ActorKey, other: Copy) {
        let moving = self.nodes[n].draining.contains(&key)
            || self.nodes[n].outgoing.contains_key(&key)
            || self.nodes[n]
                .copies
                .get(&key)
                .is_none_or(|c| c.st == St::Moving);
        if !self.nodes[n].copies.contains_key(&key) && !self.nodes[n].outgoing.contains_key(&key) {
            return;
        }
        let from_name = self.nodes[from].name.clone();
        let policy = self.policy;
        let outcome = self.with_ctx(n, |node, ctx| {
            let here = match node.copies.get_mut(&key) {
                Some(c) if !moving => Here::Running {
                    meta: &mut c.meta,
                    policy,
                },
                c => Here::Moving {
                    draining: c.map(|c| &c.meta.activation),
                    outgoing: node.outgoing.get(&key).map(|c| &c.meta.activation),
                },
            };
            let holders = other.meta.holders.all(&from_name);
            let incoming = &other.meta.activation;
            node.rec.resolve_conflict(
                &key,
                &from_name,
                incoming,
                holders,
                other.state(),
                here,
                ctx,
            )
        });
        if let ConflictOutcome::Follows(_) = outcome {
            self.nodes[n].conflicts.insert(key, (from, other));
        }
    }

    fn deliver(&mut self, from: usize, to: usize, packet: Packet) {
        self.note(format!("n{from}->n{to} {packet:?}"));
        let from_name = self.nodes[from].name.clone();
        let now = Millis(self.now);
        match packet {
            Packet::Adopted(view) => {
                self.nodes[to].core.handle_view_adopted(&from_name, view);
                self.run(to);
            }
            Packet::Done(view) => {
                self.nodes[to].core.handle_done(&from_name, view);
                self.run(to);
            }
            Packet::Migrate(batch, entries) => {
                for (key, copy) in entries {
                    self.arrive(to, from, key, copy);
                }
                self.send(to, from, Packet::Ack(batch));
                self.run(to);
            }
            Packet::Conflict(key, copy) => {
                self.arrive(to, from, key, copy);
                self.run(to);
            }
            Packet::Ack(batch) => {
                self.nodes[to].core.handle_ack(&from_name, batch, now);
                self.run(to);
            }
            Packet::Rec(msg) => {
                let settled = self.nodes[to].core.is_settled();
                self.with_ctx(to, |node, ctx| {
                    let from = &from_name;
                    match msg {
                        RecoveryMsg::Replicate { specs } => node.rec.handle_replicate(from, specs),
                        RecoveryMsg::SpecsKept { keys } => {
                            for key in keys {
                                if let Some(c) = node.copies.get_mut(&key) {
                                    node.rec.handle_spec_kept(from, &key, &mut c.meta.holders);
                                }
                            }
                            node.rec.flush();
                        }
                        RecoveryMsg::Unreplicate { keys } => {
                            node.rec.handle_unreplicate(from, keys);
                        }
                        RecoveryMsg::Rehost {
                            keys,
                            to,
                            incarnation,
                        } => node.rec.handle_rehost(keys, to, incarnation),
                        RecoveryMsg::Checkpoint {
                            key,
                            generation,
                            seq,
                            snapshot,
                        } => node
                            .rec
                            .handle_checkpoint(from, key, generation, seq, snapshot),
                        RecoveryMsg::Respawn { offers } => {
                            let hosted = node.hosted();
                            node.rec
                                .handle_offers(from, offers, settled, ctx, |k| hosted.contains(k));
                        }
                        RecoveryMsg::OffersTaken { keys } => {
                            node.rec.handle_offers_taken(from, &keys)
                        }
                    }
                });
            }
        }
    }

    fn arrive(&mut self, n: usize, from: usize, key: ActorKey, mut copy: Copy) {
        if self.nodes[n].copies.contains_key(&key) || self.nodes[n].outgoing.contains_key(&key) {
            self.resolve_here(n, from, key, copy);
            return;
        }
        let settled = self.nodes[n].core.is_settled();
        copy.st = if self.nodes[n].rec.is_fenced() {
            St::Fenced
        } else if settled {
            St::Active
        } else {
            St::Settling
        };
        // As the executor: the former host's holders keep the spec and name this node;
        // checkpoints continue the source's sequence.
        let former = self.nodes[from].name.clone();
        let holders = copy.meta.holders.all(&former);
        let seq = copy.meta.checkpoint_seq;
        copy.meta = copy.meta.clone().arrived(holders, seq, copy.state(), true);
        copy.stateless = false;
        let node = &mut self.nodes[n];
        node.rec.handle_adopted(&key, &mut copy.meta.holders);
        node.rec.flush();
        node.copies.insert(key.clone(), copy);
        let from_name = self.nodes[from].name.clone();
        self.nodes[n].core.handle_migrated_in(
            &from_name,
            key.clone(),
            HandoffMode::Resume,
            Millis(self.now),
        );
        if !self.nodes[n].core.is_moving(&key) {
            self.with_ctx(n, |node, ctx| {
                let mut names = running(&mut node.copies, Some(&key));
                node.rec.handle_arrivals(&mut names, ctx);
            });
        }
        self.pump(n);
    }

    /// A write to a live copy, checkpointed to its replicas.
    fn write(&mut self) {
        let key = self.keys[self.rng.gen_range(0..self.keys.len())].clone();
        let hosts: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                let node = &self.nodes[n];
                node.up
                    && !node.hung
                    && !node.rec.is_fenced()
                    && node
                        .copies
                        .get(&key)
                        .is_some_and(|c| matches!(c.st, St::Active | St::Settling))
                    && node.core.admit(&key, None, true, true) == Admission::Deliver
            })
            .collect();
        if hosts.is_empty() {
            return;
        }
        let n = hosts[self.rng.gen_range(0..hosts.len())];
        let node = &mut self.nodes[n];
        let c = node.copies.get_mut(&key).unwrap();
        c.value += 1;
        let value = c.value;
        node.rec.handle_checkpointed(&key, &mut c.meta, value);
        self.pump(n);
    }

    fn check_single_activation(&self) {
        for a in 0..self.nodes.len() {
            for b in (a + 1)..self.nodes.len() {
                let (x, y) = (&self.nodes[a], &self.nodes[b]);
                let watched = |n: &Node| {
                    n.up && !n.hung && !n.rec.is_fenced() && n.core.is_settled() && !n.by_deadline
                };
                let both = watched(x)
                    && watched(y)
                    && x.members.contains(&b)
                    && y.members.contains(&a)
                    && self.can_talk(a, b);
                if !both {
                    continue;
                }
                let live = |c: &Copy| matches!(c.st, St::Active | St::Settling);
                for (key, c) in &x.copies {
                    if !live(c) {
                        continue;
                    }
                    if y.copies.get(key).is_some_and(live) {
                        self.fail(format!("{key:?} live on n{a} and n{b}"));
                    }
                }
            }
        }
    }

    fn fault(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].up)
            .collect();
        let running: Vec<usize> = up
            .iter()
            .copied()
            .filter(|&n| !self.nodes[n].hung)
            .collect();
        let hung: Vec<usize> = up.iter().copied().filter(|&n| self.nodes[n].hung).collect();
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| !self.nodes[n].up)
            .collect();
        match self.rng.gen_range(0..6) {
            0 if running.len() > 2 => {
                let c = running[self.rng.gen_range(0..running.len())];
                self.note(format!("n{c} crashes"));
                self.crashes += 1;
                self.nodes[c].up = false;
                for m in 0..self.nodes.len() {
                    self.drop_links(c, m);
                }
                self.pending.remove(&c);
            }
            1 if !down.is_empty() => {
                let c = down[self.rng.gen_range(0..down.len())];
                self.note(format!("n{c} restarts"));
                let fresh = self.fresh_node(c);
                self.nodes[c] = fresh;
            }
            2 if running.len() > 2 => {
                let h = running[self.rng.gen_range(0..running.len())];
                self.note(format!("n{h} hangs"));
                self.nodes[h].hung = true;
                self.nodes[h].hung_at = self.now;
                // The last message it handled before the pause.
                let has_peers = self.nodes[h].members.len() > 1;
                self.nodes[h]
                    .rec
                    .handle_message_done(Millis(self.now), has_peers, false);
                self.pump(h);
                self.pending.remove(&h);
            }
            3 if !hung.is_empty() => {
                let h = hung[self.rng.gen_range(0..hung.len())];
                self.resume(h);
            }
            4 if self.cut.is_empty() && running.len() >= 4 => {
                // A clean split of every node (down and hung ones included, so that they
                // come back on one side).
                let mut side: Vec<usize> = (0..self.nodes.len()).collect();
                let k = self.rng.gen_range(1..side.len());
                let a: BTreeSet<usize> = side.drain(..k).collect();
                self.note(format!("partition {a:?} | {side:?}"));
                for &x in &a {
                    for &y in &side {
                        self.cut.insert(pair(x, y));
                        self.drop_links(x, y);
                    }
                }
            }
            5 if !self.cut.is_empty() => {
                self.note("heal".to_string());
                self.cut.clear();
            }
            _ => return,
        }
        self.faults += 1;
        self.refresh_views();
    }

    fn resume(&mut self, h: usize) {
        self.nodes[h].hung = false;
        // Its peers dropped it: its sessions closed, so it first sees itself alone. It was
        // paused past the deadline, and notices it before anything else.
        for m in 0..self.nodes.len() {
            if m != h {
                self.drop_links(h, m);
            }
        }
        self.now = self.now.max(self.nodes[h].hung_at + DEADLINE_MS + 1);
        let has_peers = self.nodes[h].members.len() > 1;
        let fenced = self.nodes[h]
            .rec
            .handle_message(Millis(self.now), has_peers, false);
        self.note(format!("n{h} resumes (fenced: {fenced})"));
        self.pump(h);
        self.adopt(h, [h].into());
        self.refresh_views();
    }

    /// One random step; false when nothing can happen any more.
    fn step(&mut self, faults: bool) -> bool {
        self.now += 1;
        let active = |s: &Sim, n: usize| s.nodes[n].up && !s.nodes[n].hung;
        let links: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|((_, b), q)| !q.is_empty() && active(self, *b))
            .map(|(k, _)| *k)
            .collect();
        let drains: Vec<(usize, ActorKey)> = (0..self.nodes.len())
            .filter(|&n| active(self, n))
            .flat_map(|n| self.nodes[n].draining.iter().map(move |k| (n, k.clone())))
            .collect();
        let pending: Vec<usize> = self
            .pending
            .keys()
            .copied()
            .filter(|&n| active(self, n))
            .collect();
        let ticking: Vec<usize> = (0..self.nodes.len()).filter(|&n| active(self, n)).collect();
        let mut options: Vec<u8> = Vec::new();
        if !links.is_empty() {
            options.extend([0, 0, 0, 0, 0, 0]);
        }
        if !drains.is_empty() {
            options.push(1);
        }
        if !pending.is_empty() {
            options.push(2);
        }
        if faults {
            options.extend([3, 3]);
            if self.rng.gen_ratio(1, 30) {
                options.push(4);
            }
        }
        if options.is_empty() {
            let busy = (0..self.nodes.len()).any(|n| {
                active(self, n)
                    && (!self.nodes[n].core.is_settled()
                        || self.nodes[n].rec.is_fenced()
                        || self.nodes[n].rec.replicate_due()
                        || !self.nodes[n].rec.respawns().is_empty())
            });
            if !busy {
                return false;
            }
            // Let time pass: deadlines fire, fences and offers time out.
            self.now += DEADLINE_MS + 1;
            for n in 0..self.nodes.len() {
                if !active(self, n) {
                    continue;
                }
                self.nodes[n].core.handle_tick(Millis(self.now));
                self.run(n);
                self.tick(n);
            }
            return true;
        }
        // Heartbeat ticks come every interval: one node's recovery ticks now and then.
        if self.rng.gen_ratio(1, 8) && !ticking.is_empty() {
            let n = ticking[self.rng.gen_range(0..ticking.len())];
            self.tick(n);
        }
        match options[self.rng.gen_range(0..options.len())] {
            0 => {
                let (a, b) = links[self.rng.gen_range(0..links.len())];
                let p = self.links.get_mut(&(a, b)).unwrap().pop_front().unwrap();
                self.deliver(a, b, p);
            }
            1 => {
                let (n, key) = drains[self.rng.gen_range(0..drains.len())].clone();
                let node = &mut self.nodes[n];
                node.draining.remove(&key);
                if let Some(c) = node.copies.get(&key).cloned() {
                    node.outgoing.insert(key.clone(), c);
                    node.core.handle_drained(&key, 1, Millis(self.now));
                    self.run(n);
                }
            }
            2 => {
                let n = pending[self.rng.gen_range(0..pending.len())];
                let members = self.pending.remove(&n).unwrap();
                self.adopt(n, members);
            }
            3 => self.write(),
            _ => self.fault(),
        }
        self.check_single_activation();
        true
    }

    fn check_final(&self) {
        let up: BTreeSet<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].up)
            .collect();
        let placement = self.placement_of(&up);
        for &n in &up {
            let node = &self.nodes[n];
            if !node.core.is_settled() || node.rec.is_fenced() || node.members != up {
                self.fail(format!(
                    "n{n} did not converge (settled {}, fenced {:?}, members {:?})",
                    node.core.is_settled(),
                    node.rec.fence().since(),
                    node.members
                ));
            }
        }
        for key in &self.keys {
            let hosts: Vec<usize> = up
                .iter()
                .copied()
                .filter(|&n| self.nodes[n].copies.contains_key(key))
                .collect();
            if hosts.len() > 1 {
                self.fail(format!("{key:?} runs on {hosts:?} after healing"));
            }
            if hosts.is_empty() {
                if self.crashes < REPLICAS {
                    self.fail(format!("{key:?} lost after {} crash(es)", self.crashes));
                }
                continue;
            }
            let host = &self.nodes[hosts[0]].name;
            if Some(host) != placement.owner_of(key) {
                self.fail(format!("{key:?} runs on {host} instead of its owner"));
            }
        }
    }
}

fn run_seed(seed: u64) {
    let mut sim = Sim::new(seed, 5, 16);
    for i in 0..2000 {
        let with_faults = sim.faults < 6 && i < 1500;
        sim.step(with_faults);
    }
    // The end: every hung node resumes, partitions heal, and the cluster goes quiet.
    let hung: Vec<usize> = (0..sim.nodes.len())
        .filter(|&n| sim.nodes[n].up && sim.nodes[n].hung)
        .collect();
    for h in hung {
        sim.resume(h);
    }
    sim.cut.clear();
    sim.refresh_views();
    let mut guard = 0;
    while sim.step(false) {
        guard += 1;
        if guard > 200_000 {
            sim.fail("no quiescence".to_string());
        }
    }
    sim.check_final();
}

#[test]
fn crashes_hangs_and_partitions_keep_one_copy_and_the_newest_checkpoint() {
    for seed in seeds() {
        run_seed(seed);
    }
}

//! A seeded, single-threaded simulation of several nodes running [`HandoffCore`] (with the
//! core's hold queues and `Migrate` dedupe) under a model executor, over FIFO links
//! delivered in random interleavings, while nodes join and leave gracefully and senders
//! stream numbered messages. After every step it checks that at most one node runs each
//! name; at the end that every name runs exactly once, on its owner, and holds every
//! message sent to it exactly once, and (when membership changes do not overlap) in each
//! sender's order; the state is the log of delivered messages; and that nothing is left
//! held or refused. A failure prints its seed; reproduce it with
//! `SIM_SEED=<seed> cargo test -p ractor-dist sim`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::core::handoff::inbound::{Inbound, MigrateIn};
use crate::core::hold::{HoldCaps, HoldConfig, HoldKind, HoldQueues, MsgId, Release};
use crate::core::membership::view_digest;
use crate::core::sim_seeds::seeds;
use crate::core::{Epoch, Incarnation};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg {
    key: ActorKey,
    sender: u32,
    seq: u64,
}

type Log = Vec<(u32, u64)>;

#[derive(Clone, Debug)]
enum Packet {
    Cast(Msg, u8),
    Adopted(ViewId),
    Done(ViewId),
    Migrate(BatchId, Vec<(ActorKey, Log)>),
    Ack(BatchId),
    /// The sender leaves: the receiver adopts the view without it (before anything the
    /// leaver sends next, as over a real session).
    Leaving,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Active,
    Moving,
    Settling,
}

struct Node {
    name: NodeName,
    alive: bool,
    leaving: bool,
    core: HandoffCore,
    placement: Placement,
    members: BTreeSet<usize>,
    participants: BTreeSet<usize>,
    actors: BTreeMap<ActorKey, (St, Log)>,
    draining: BTreeSet<ActorKey>,
    outgoing: BTreeMap<ActorKey, Log>,
    /// The real hold queues and `Migrate` dedupe of the core; payloads by message id.
    hold: HoldQueues,
    payloads: BTreeMap<MsgId, (Option<usize>, Msg, u8)>,
    inbound: Inbound,
    moved: BTreeMap<ActorKey, usize>,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    nodes: Vec<Node>,
    links: BTreeMap<(usize, usize), VecDeque<Packet>>,
    truth: BTreeSet<usize>,
    leavers: BTreeSet<usize>,
    pending: BTreeMap<usize, BTreeSet<usize>>,
    sent: BTreeMap<(ActorKey, u32), u64>,
    senders: Vec<usize>,
    keys: Vec<ActorKey>,
    now: u64,
    trace: VecDeque<String>,
    /// Check per-sender order (membership changes never overlap), or only exactly-once
    /// delivery (changes may overlap).
    check_order: bool,
    deadline_ms: u64,
}

impl Sim {
    fn new(seed: u64, initial: usize, keys: usize, deadline_ms: u64) -> Self {
        let mut sim = Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            nodes: Vec::new(),
            links: BTreeMap::new(),
            truth: BTreeSet::new(),
            leavers: BTreeSet::new(),
            pending: BTreeMap::new(),
            sent: BTreeMap::new(),
            senders: vec![0, 1],
            keys: (0..keys).map(|i| ActorKey::new(format!("k{i}"))).collect(),
            now: 0,
            trace: VecDeque::new(),
            check_order: true,
            deadline_ms: 0,
        };
        sim.deadline_ms = deadline_ms;
        for _ in 0..initial {
            let i = sim.add_node();
            sim.truth.insert(i);
        }
        let members = sim.truth.clone();
        let placement = sim.placement_of(&members);
        for key in sim.keys.clone() {
            let owner = sim.index_of(placement.owner_of(&key).unwrap());
            sim.nodes[owner]
                .actors
                .insert(key, (St::Active, Vec::new()));
        }
        for n in members.clone() {
            sim.adopt(n, members.clone());
        }
        sim
    }

    fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let name = NodeName::new(format!("n{i}"));
        self.nodes.push(Node {
            core: HandoffCore::new(
                name.clone(),
                HandoffConfig {
                    deadline_ms: self.deadline_ms,
                    batch_bytes: 8,
                    max_inflight: 2,
                },
            ),
            placement: Placement::new(Epoch(0), [name.clone()]),
            name,
            alive: true,
            leaving: false,
            members: [i].into(),
            participants: BTreeSet::new(),
            actors: BTreeMap::new(),
            draining: BTreeSet::new(),
            outgoing: BTreeMap::new(),
            hold: HoldQueues::new(HoldConfig {
                caps: HoldCaps::default(),
                park_ms: self.deadline_ms,
            }),
            payloads: BTreeMap::new(),
            inbound: Inbound::default(),
            moved: BTreeMap::new(),
        });
        i
    }

    fn index_of(&self, name: &NodeName) -> usize {
        self.nodes.iter().position(|n| n.name == *name).unwrap()
    }

    fn placement_of(&self, members: &BTreeSet<usize>) -> Placement {
        Placement::new(
            Epoch(0),
            members.iter().map(|i| self.nodes[*i].name.clone()),
        )
    }

    fn view_of(&self, members: &BTreeSet<usize>) -> ViewId {
        view_digest(
            members
                .iter()
                .map(|i| (&self.nodes[*i].name, Incarnation(0))),
        )
    }

    fn note(&mut self, s: String) {
        if self.trace.len() == 4000 {
            self.trace.pop_front();
        }
        self.trace.push_back(s);
    }

    fn fail(&self, what: String) -> ! {
        let trace: Vec<&String> = self.trace.iter().collect();
        panic!(
            "simulation seed {} failed: {what}\nlast events:\n{}",
            self.seed,
            trace
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    fn send(&mut self, from: usize, to: usize, packet: Packet) {
        if !self.nodes[to].alive {
            if matches!(
                packet,
                Packet::Cast(..) | Packet::Migrate(..) | Packet::Leaving
            ) {
                self.fail(format!("n{from} sent {packet:?} to departed n{to}"));
            }
            return;
        }
        self.links.entry((from, to)).or_default().push_back(packet);
    }

    fn adopt(&mut self, n: usize, members: BTreeSet<usize>) {
        if !self.nodes[n].alive {
            return;
        }
        let leaving = self.nodes[n].leaving;
        let view = self.view_of(&members);
        let placement = self.placement_of(&members);
        let participants: BTreeSet<usize> = members
            .union(&self.leavers)
            .copied()
            .filter(|p| *p != n)
            .collect();
        let names: BTreeSet<NodeName> = participants
            .iter()
            .map(|p| self.nodes[*p].name.clone())
            .collect();
        let now = Millis(self.now);
        let node = &mut self.nodes[n];
        let hosted: Vec<(ActorKey, HandoffMode)> = node
            .actors
            .iter()
            .filter(|(_, (st, _))| *st != St::Moving)
            .map(|(k, _)| (k.clone(), HandoffMode::Resume))
            .collect();
        node.core
            .handle_view(view, &placement, names, hosted, leaving, now);
        // Redirects are only good for the view they were made in (as in the executor):
        // afterwards messages route by the new placement.
        node.moved.clear();
        node.members = members;
        node.placement = placement;
        node.participants = participants;
        self.note(format!("n{n} adopts {:?}", self.nodes[n].members));
        self.run(n);
        self.release(n);
    }

    fn leave(&mut self, l: usize) {
        self.truth.remove(&l);
        self.leavers.insert(l);
        for p in self.nodes[l].participants.clone() {
            self.send(l, p, Packet::Leaving);
        }
        let members = self.truth.clone();
        let view = self.view_of(&members);
        let placement = self.placement_of(&members);
        let participants: BTreeSet<usize> = members.clone();
        let names: BTreeSet<NodeName> = participants
            .iter()
            .map(|p| self.nodes[*p].name.clone())
            .collect();
        let now = Millis(self.now);
        let node = &mut self.nodes[l];
        node.leaving = true;
        let hosted: Vec<(ActorKey, HandoffMode)> = node
            .actors
            .iter()
            .filter(|(_, (st, _))| *st != St::Moving)
            .map(|(k, _)| (k.clone(), HandoffMode::Stay))
            .collect();
        node.core
            .handle_view(view, &placement, names, hosted, true, now);
        node.placement = placement;
        node.participants = participants;
        self.note(format!("n{l} leaves"));
        self.run(l);
    }

    fn run(&mut self, n: usize) {
        let mut settled = false;
        while let Some(cmd) = self.nodes[n].core.poll_command() {
            self.note(format!("n{n} {cmd:?}"));
            match cmd {
                HandoffCommand::Announce { view } => {
                    for p in self.nodes[n].participants.clone() {
                        self.send(n, p, Packet::Adopted(view));
                    }
                }
                HandoffCommand::Drain { key, .. } => {
                    let node = &mut self.nodes[n];
                    if let Some(a) = node.actors.get_mut(&key) {
                        a.0 = St::Moving;
                        node.draining.insert(key);
                    }
                }
                HandoffCommand::ForceStop { key } => {
                    if self.check_order {
                        self.fail(format!(
                            "n{n} force-stopped {key:?} (no deadline should pass)"
                        ))
                    }
                }
                HandoffCommand::SendBatch { to, batch, keys } => {
                    let entries = keys
                        .iter()
                        .map(|k| (k.clone(), self.nodes[n].outgoing[k].clone()))
                        .collect();
                    let to = self.index_of(&to);
                    self.send(n, to, Packet::Migrate(batch, entries));
                }
                HandoffCommand::Moved { key, to } => {
                    let to = self.index_of(&to);
                    let node = &mut self.nodes[n];
                    node.actors.remove(&key);
                    node.outgoing.remove(&key);
                    node.moved.insert(key.clone(), to);
                    let to_name = self.nodes[to].name.clone();
                    for release in self.nodes[n].hold.moved(&key, &to_name) {
                        let Release::Forward(id, _) = release else {
                            self.fail(format!("n{n} released {release:?} for a move"));
                        };
                        let (_, m, _) = self.nodes[n].payloads.remove(&id).unwrap();
                        self.send(n, to, Packet::Cast(m, 0));
                    }
                }
                HandoffCommand::RestoreLocal { key } => {
                    let node = &mut self.nodes[n];
                    let log = node.outgoing.remove(&key).unwrap_or_default();
                    let st = if node.core.is_settled() {
                        St::Active
                    } else {
                        St::Settling
                    };
                    node.actors.insert(key.clone(), (st, log));
                    for release in node.hold.restored(&key) {
                        let Release::Deliver(id) = release else {
                            self.fail(format!("n{n} released {release:?} for a restore"));
                        };
                        let (_, m, _) = self.nodes[n].payloads.remove(&id).unwrap();
                        self.route(n, None, m, 0);
                    }
                }
                HandoffCommand::SendDone { to, view } => {
                    let to = self.index_of(&to);
                    self.send(n, to, Packet::Done(view));
                }
                HandoffCommand::Remind {
                    view,
                    adopted,
                    done,
                } => {
                    for p in adopted {
                        let p = self.index_of(&p);
                        self.send(n, p, Packet::Adopted(view));
                    }
                    for p in done {
                        let p = self.index_of(&p);
                        self.send(n, p, Packet::Done(view));
                    }
                }
                HandoffCommand::Settled { by_deadline } => {
                    if by_deadline && self.check_order {
                        self.fail(format!("n{n} settled by deadline"));
                    }
                    settled = true;
                }
            }
        }
        if settled {
            for a in self.nodes[n].actors.values_mut() {
                if a.0 == St::Settling {
                    a.0 = St::Active;
                }
            }
            self.release(n);
        }
    }

    fn release(&mut self, n: usize) {
        self.release_with(n, false);
    }

    /// Dispatches parked messages again, as the executor does: every one on a settle, and
    /// with `expired` (a tick) only those whose park deadline passed, without the admission
    /// check.
    fn release_with(&mut self, n: usize, expired: bool) {
        let force = expired;
        let now = Millis(self.now);
        for (id, _) in self.nodes[n].hold.release_parked(now, expired) {
            let (from, m, hops) = self.nodes[n].payloads.remove(&id).unwrap();
            self.route_with(n, from, m, hops, force);
        }
    }

    fn route(&mut self, n: usize, from: Option<usize>, m: Msg, hops: u8) {
        self.route_with(n, from, m, hops, false)
    }

    /// Routes a message as the executor does; with `force` (a parked message whose wait
    /// expired) without the admission check.
    fn route_with(&mut self, n: usize, from: Option<usize>, m: Msg, hops: u8, force: bool) {
        if hops > 10 {
            self.fail(format!("{m:?} bounced more than 10 times"));
        }
        let sender = from.map(|f| self.nodes[f].name.clone());
        let now = Millis(self.now);
        let node = &mut self.nodes[n];
        let held_from = sender.clone().unwrap_or_else(|| node.name.clone());
        if let Some((St::Moving, _)) = node.actors.get(&m.key) {
            match node.hold.buffer(&m.key, &held_from, HoldKind::Cast, now) {
                Ok(id) => node.payloads.insert(id, (from, m, hops)),
                Err(e) => self.fail(format!("n{n} refused {m:?}: {e}")),
            };
            return;
        }
        let hosted = node.actors.contains_key(&m.key);
        let owned = node.placement.owner_of(&m.key) == Some(&node.name);
        if !force && node.core.admit(&m.key, sender.as_ref(), hosted, owned) == Admission::Park {
            match node.hold.park(&m.key, &held_from, HoldKind::Cast, now) {
                Ok(id) => node.payloads.insert(id, (from, m, hops)),
                Err(e) => self.fail(format!("n{n} refused {m:?}: {e}")),
            };
            return;
        }
        if hosted {
            let log = &mut node.actors.get_mut(&m.key).unwrap().1;
            let last = log
                .iter()
                .rev()
                .find(|(s, _)| *s == m.sender)
                .map_or(0, |(_, q)| *q);
            if self.check_order && m.seq != last + 1 {
                let what = format!("n{n} delivered {m:?} after seq {last} of that sender");
                self.fail(what);
            }
            if !self.check_order && log.contains(&(m.sender, m.seq)) {
                let what = format!("n{n} delivered {m:?} twice");
                self.fail(what);
            }
            log.push((m.sender, m.seq));
            return;
        }
        if let Some(to) = node.moved.get(&m.key).copied() {
            self.send(n, to, Packet::Cast(m, hops + 1));
            return;
        }
        let owner = node.placement.owner_of(&m.key).cloned().unwrap();
        if owner != node.name {
            let to = self.index_of(&owner);
            self.send(n, to, Packet::Cast(m, hops + 1));
            return;
        }
        self.fail(format!("n{n} lost {m:?}: not hosted, owned, settled"));
    }

    fn deliver(&mut self, from: usize, to: usize, packet: Packet) {
        // A peer's hello precedes everything it sends: a node that has not seen the sender
        // yet adopts the pending view that includes it first.
        if !self.nodes[to].members.contains(&from)
            && self.pending.get(&to).is_some_and(|m| m.contains(&from))
        {
            let members = self.pending.remove(&to).unwrap();
            self.adopt(to, members);
        }
        self.note(format!("n{from}->n{to} {packet:?}"));
        let from_name = self.nodes[from].name.clone();
        let now = Millis(self.now);
        match packet {
            Packet::Cast(m, hops) => self.route(to, Some(from), m, hops),
            Packet::Adopted(view) => {
                self.nodes[to].core.handle_view_adopted(&from_name, view);
                self.run(to);
            }
            Packet::Done(view) => {
                self.nodes[to].core.handle_done(&from_name, view);
                self.run(to);
            }
            Packet::Migrate(batch, entries) => {
                let node = &mut self.nodes[to];
                match node.inbound.handle_migrate(&from_name, batch, []) {
                    MigrateIn::Fresh(_) => {}
                    MigrateIn::Duplicate => {
                        self.send(to, from, Packet::Ack(batch));
                        return;
                    }
                    MigrateIn::InProgress => self.fail(format!("n{to} left batch {batch} open")),
                }
                for (key, log) in entries {
                    if node.actors.contains_key(&key) {
                        continue;
                    }
                    let st = if node.core.is_settled() {
                        St::Active
                    } else {
                        St::Settling
                    };
                    node.moved.remove(&key);
                    node.actors.insert(key.clone(), (st, log));
                    node.core
                        .handle_migrated_in(&from_name, key, HandoffMode::Resume, now);
                }
                node.inbound.handle_started(&from_name, batch);
                self.send(to, from, Packet::Ack(batch));
                self.run(to);
            }
            Packet::Ack(batch) => {
                self.nodes[to].core.handle_ack(&from_name, batch, now);
                self.run(to);
            }
            Packet::Leaving => {
                self.pending.remove(&to);
                let truth = self.truth.clone();
                self.adopt(to, truth);
            }
        }
    }

    fn check_single_activation(&self) {
        let mut seen: BTreeMap<&ActorKey, usize> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            for (key, (st, _)) in &node.actors {
                if *st != St::Moving {
                    if let Some(other) = seen.insert(key, i) {
                        self.fail(format!("{key:?} active on n{other} and n{i}"));
                    }
                }
            }
        }
    }

    fn try_remove_departed(&mut self) {
        for l in self.leavers.clone() {
            let quiet = self.nodes[l].core.is_quiescent()
                && self.nodes[l].draining.is_empty()
                && self
                    .links
                    .iter()
                    .all(|((a, b), q)| (*a != l && *b != l) || q.is_empty())
                && self
                    .nodes
                    .iter()
                    .enumerate()
                    .all(|(i, n)| i == l || !n.alive || !n.members.contains(&l))
                && !self.pending.contains_key(&l)
                && self.pending.values().all(|m| !m.contains(&l));
            if quiet {
                if !self.nodes[l].actors.is_empty() {
                    self.fail(format!(
                        "n{l} departs with actors {:?}",
                        self.nodes[l].actors.keys()
                    ));
                }
                self.nodes[l].alive = false;
                self.leavers.remove(&l);
                self.note(format!("n{l} departed"));
                for n in 0..self.nodes.len() {
                    if n == l || !self.nodes[n].alive {
                        continue;
                    }
                    let name = self.nodes[l].name.clone();
                    self.nodes[n].core.handle_peer_gone(&name);
                    self.nodes[n].participants.remove(&l);
                    self.nodes[n].moved.retain(|_, to| *to != l);
                    self.run(n);
                }
            }
        }
    }

    /// One random step; false when nothing can happen any more.
    fn step(&mut self, emit: bool, change: bool) -> bool {
        self.now += 1;
        let links: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| *k)
            .collect();
        let drains: Vec<(usize, ActorKey)> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.draining.iter().map(move |k| (i, k.clone())))
            .collect();
        let pending: Vec<usize> = self.pending.keys().copied().collect();
        let mut options: Vec<u8> = Vec::new();
        if !links.is_empty() {
            options.extend([0, 0, 0, 0, 0]);
        }
        if !drains.is_empty() {
            options.push(1);
        }
        if !pending.is_empty() {
            options.push(2);
        }
        if emit {
            options.extend([3, 3]);
        }
        // With order checking, a membership change waits until the previous one is over.
        let calm = !self.check_order
            || (self.pending.is_empty()
                && self.leavers.is_empty()
                && self.nodes.iter().all(|n| !n.alive || n.core.is_settled()));
        if change && calm && self.rng.gen_ratio(1, 40) {
            options.push(4);
        }
        if options.is_empty() {
            // Nothing else can happen: let time pass so that deadlines can fire.
            if !self.check_order
                && self
                    .nodes
                    .iter()
                    .any(|n| n.alive && (!n.core.is_settled() || n.hold.has_parked()))
            {
                self.now += self.deadline_ms;
                for n in 0..self.nodes.len() {
                    if self.nodes[n].alive {
                        self.nodes[n].core.handle_tick(Millis(self.now));
                        self.run(n);
                        // Parked messages past the deadline go out without admission.
                        self.release_with(n, true);
                    }
                }
                return true;
            }
            return false;
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
                let log = node.actors[&key].1.clone();
                let size = log.len() + 1;
                node.outgoing.insert(key.clone(), log);
                node.core.handle_drained(&key, size, Millis(self.now));
                self.note(format!("n{n} drained {key:?}"));
                self.run(n);
            }
            2 => {
                let n = pending[self.rng.gen_range(0..pending.len())];
                let members = self.pending.remove(&n).unwrap();
                self.adopt(n, members);
            }
            3 => {
                let s = self.rng.gen_range(0..self.senders.len());
                let key = self.keys[self.rng.gen_range(0..self.keys.len())].clone();
                let seq = self.sent.entry((key.clone(), s as u32)).or_insert(0);
                *seq += 1;
                let m = Msg {
                    key,
                    sender: s as u32,
                    seq: *seq,
                };
                let at = self.senders[s];
                self.route(at, None, m, 0);
            }
            _ => {
                let candidates: Vec<usize> = self
                    .truth
                    .iter()
                    .copied()
                    .filter(|i| !self.senders.contains(i))
                    .collect();
                if self.rng.gen_bool(0.5) || candidates.is_empty() || self.truth.len() < 3 {
                    let j = self.add_node();
                    self.truth.insert(j);
                    self.note(format!("n{j} joins"));
                    let all: Vec<usize> = self
                        .truth
                        .iter()
                        .chain(self.leavers.iter())
                        .copied()
                        .collect();
                    for n in all {
                        self.pending.insert(n, self.truth.clone());
                    }
                } else {
                    let l = candidates[self.rng.gen_range(0..candidates.len())];
                    self.leave(l);
                }
            }
        }
        self.try_remove_departed();
        self.check_single_activation();
        true
    }

    fn check_final(&self) {
        let placement = self.placement_of(&self.truth);
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            if !node.core.is_settled() || !node.hold.is_empty() || !node.payloads.is_empty() {
                self.fail(format!(
                    "n{i} did not settle (held {}, payloads {})",
                    node.hold.len(),
                    node.payloads.len()
                ));
            }
            if node.hold.refused() > 0 {
                self.fail(format!("n{i} refused {} messages", node.hold.refused()));
            }
        }
        for key in &self.keys {
            let hosts: Vec<usize> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.alive && n.actors.contains_key(key))
                .map(|(i, _)| i)
                .collect();
            if hosts.len() != 1 {
                self.fail(format!("{key:?} runs on {hosts:?}"));
            }
            let host = &self.nodes[hosts[0]];
            if self.check_order && Some(&host.name) != placement.owner_of(key) {
                self.fail(format!(
                    "{key:?} runs on {} instead of its owner",
                    host.name
                ));
            }
            let log = &host.actors[key].1;
            for s in 0..self.senders.len() as u32 {
                let got = log.iter().filter(|(x, _)| *x == s).count() as u64;
                let want = self.sent.get(&(key.clone(), s)).copied().unwrap_or(0);
                if got != want {
                    self.fail(format!(
                        "{key:?} holds {got} of sender {s}'s {want} messages"
                    ));
                }
            }
        }
    }
}

fn run_seed(seed: u64, check_order: bool) {
    let deadline = if check_order { 1_000_000_000 } else { 2_000 };
    let mut sim = Sim::new(seed, 3, 24, deadline);
    sim.check_order = check_order;
    let mut changes = 0;
    for i in 0..1500 {
        let emit = i < 1200;
        let change = changes < 4 && i < 1000;
        let before = sim.truth.len() + sim.leavers.len() + sim.nodes.len();
        sim.step(emit, change);
        if sim.truth.len() + sim.leavers.len() + sim.nodes.len() != before {
            changes += 1;
        }
    }
    let mut guard = 0;
    while sim.step(false, false) {
        guard += 1;
        if guard > 200_000 {
            sim.fail("no quiescence".to_string());
        }
    }
    sim.check_final();
}

#[test]
fn one_change_at_a_time_keeps_single_activation_exactly_once_and_sender_order() {
    for seed in seeds() {
        run_seed(seed, true);
    }
}

#[test]
fn overlapping_changes_keep_single_activation_and_exactly_once() {
    for seed in seeds() {
        run_seed(seed, false);
    }
}

//! A seeded simulation of the replication machines: random updates of a counter and a set
//! on every node, dropped and duplicated messages, partitions and heals, gossip ticks. At
//! the end (healed, gossiping without faults) every node holds the same value, equal to
//! the fold of every update made anywhere. A failure prints its seed and the last steps;
//! `SIM_SEED=<seed> cargo test -p ractor-dist replicated::sim` replays one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crdts::CmRDT;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::core::Incarnation;

pub(super) type Set = OrSet<u8>;

/// Nodes over FIFO links that can drop, duplicate and be cut.
pub(super) struct Net {
    pub(super) nodes: Vec<Replicas>,
    pub(super) links: BTreeMap<(usize, usize), VecDeque<ReplicaMsg>>,
    pub(super) cut: BTreeSet<(usize, usize)>,
    pub(super) now: u64,
    /// Bytes and messages delivered.
    pub(super) delivered: (u64, u64),
}

pub(super) fn name(i: usize) -> NodeName {
    NodeName::new(format!("n{i}@h"))
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    pub(super) fn new(n: usize, push: Push, frame_budget: usize) -> Net {
        Net::with_log(n, push, frame_budget, 256)
    }

    /// As `new`, keeping `delta_log` deltas per value.
    pub(super) fn with_log(n: usize, push: Push, frame_budget: usize, delta_log: usize) -> Net {
        let nodes = (0..n)
            .map(|i| {
                let me = ReplicaId {
                    node: name(i),
                    incarnation: Incarnation(1),
                };
                Replicas::new(ReplicaConfig {
                    push,
                    frame_budget,
                    delta_log,
                    seed: i as u64,
                    ..ReplicaConfig::new(me)
                })
            })
            .collect();
        let mut net = Net {
            nodes,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            now: 0,
            delivered: (0, 0),
        };
        net.refresh_peers();
        net
    }

    pub(super) fn index(&self, node: &NodeName) -> usize {
        (0..self.nodes.len())
            .find(|&i| name(i) == *node)
            .unwrap_or_else(|| panic!("no node {node}"))
    }

    /// Every node learns who it is connected to (the uncut nodes).
    pub(super) fn refresh_peers(&mut self) {
        let n = self.nodes.len();
        for i in 0..n {
            let peers = (0..n).filter(|&j| j != i && !self.cut.contains(&pair(i, j)));
            let peers: Vec<NodeName> = peers.map(name).collect();
            self.nodes[i].handle_peers(peers);
        }
        self.drain();
    }

    /// Moves the commands of every node onto the links.
    pub(super) fn drain(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(c) = self.nodes[i].poll_command() {
                if let ReplicaCommand::Send { to, msg } = c {
                    let j = self.index(&to);
                    if !self.cut.contains(&pair(i, j)) {
                        self.links.entry((i, j)).or_default().push_back(msg);
                    }
                }
            }
        }
    }

    /// Delivers the head of link `(i, j)`.
    pub(super) fn deliver(&mut self, link: (usize, usize)) -> bool {
        let Some(msg) = self.links.get_mut(&link).and_then(VecDeque::pop_front) else {
            return false;
        };
        self.delivered.0 += bincode::serialized_size(&msg).unwrap_or(0);
        self.delivered.1 += 1;
        let now = Millis(self.now);
        self.nodes[link.1].handle_msg(&name(link.0), msg, now);
        self.drain();
        true
    }

    /// Delivers everything in flight, in order, until nothing is left (or `limit`).
    pub(super) fn settle(&mut self, limit: usize) -> usize {
        self.drain();
        let mut rounds = 0;
        while rounds < limit {
            let busy: Vec<(usize, usize)> = self
                .links
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if busy.is_empty() {
                break;
            }
            rounds += 1;
            // one round: the messages queued at its start
            for link in busy {
                let queued = self.links.get(&link).map_or(0, VecDeque::len);
                for _ in 0..queued {
                    self.deliver(link);
                }
            }
        }
        rounds
    }

    pub(super) fn tick_all(&mut self, ms: u64) {
        self.now += ms;
        for node in &mut self.nodes {
            node.handle_tick(Millis(self.now));
        }
        self.drain();
    }

    pub(super) fn partition(&mut self, side: &BTreeSet<usize>) {
        let n = self.nodes.len();
        for i in 0..n {
            for j in 0..n {
                if i < j && side.contains(&i) != side.contains(&j) {
                    self.cut.insert((i, j));
                    // the sessions are lost with what was in flight
                    self.links.remove(&(i, j));
                    self.links.remove(&(j, i));
                }
            }
        }
        self.refresh_peers();
    }

    pub(super) fn heal(&mut self) {
        self.cut.clear();
        self.refresh_peers();
    }
}

struct Sim {
    seed: u64,
    rng: StdRng,
    net: Net,
    /// Every update in the order made: the fold to compare with.
    counter: Counter,
    set: Set,
    trace: VecDeque<String>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.gen_range(2..=5);
        let push = if rng.gen_bool(0.8) {
            Push::Deltas
        } else {
            Push::FullState
        };
        // small frames now and then: states travel in parts
        let budget = if rng.gen_bool(0.3) { 40 } else { 1 << 20 };
        // no log, a short one (evictions), or the default
        let log = [0, 3, 256][rng.gen_range(0..3)];
        let mut net = Net::with_log(n, push, budget, log);
        for node in &mut net.nodes {
            node.register::<Counter>("c").unwrap();
            node.register::<Set>("s").unwrap();
        }
        net.drain();
        Sim {
            seed,
            rng,
            net,
            counter: Counter::default(),
            set: Set::default(),
            trace: VecDeque::new(),
        }
    }

    fn note(&mut self, what: String) {
        if self.trace.len() == 40 {
            self.trace.pop_front();
        }
        self.trace.push_back(what);
    }

    fn update(&mut self, i: usize) {
        let node = &mut self.net.nodes[i];
        let step = match self.rng.gen_range(0..3) {
            0 => {
                let by = self.rng.gen_range(1..5);
                let mut op = None;
                node.handle_update::<Counter>("c", |c, me| {
                    let o = c.inc_many(me.clone(), by);
                    op = Some(o.clone());
                    o
                })
                .unwrap();
                self.counter.apply(op.unwrap());
                format!("n{i} inc {by}")
            }
            1 => {
                let e = self.rng.gen_range(0..8u8);
                let mut op = None;
                node.handle_update::<Set>("s", |s, me| {
                    let o = s.add(e, s.read_ctx().derive_add_ctx(me.clone()));
                    op = Some(o.clone());
                    o
                })
                .unwrap();
                self.set.apply(op.unwrap());
                format!("n{i} add {e}")
            }
            _ => {
                let e = self.rng.gen_range(0..8u8);
                let mut op = None;
                node.handle_update::<Set>("s", |s, _| {
                    let o = s.rm(e, s.contains(&e).derive_rm_ctx());
                    op = Some(o.clone());
                    o
                })
                .unwrap();
                self.set.apply(op.unwrap());
                format!("n{i} rm {e}")
            }
        };
        self.net.drain();
        self.note(step);
    }

    fn step(&mut self) {
        let n = self.net.nodes.len();
        match self.rng.gen_range(0..100) {
            0..=24 => {
                let i = self.rng.gen_range(0..n);
                self.update(i);
            }
            25..=69 => {
                let busy: Vec<(usize, usize)> = self
                    .net
                    .links
                    .iter()
                    .filter(|(_, q)| !q.is_empty())
                    .map(|(k, _)| *k)
                    .collect();
                if busy.is_empty() {
                    return;
                }
                let link = busy[self.rng.gen_range(0..busy.len())];
                match self.rng.gen_range(0..10) {
                    0 => {
                        self.net.links.get_mut(&link).and_then(VecDeque::pop_front);
                        self.note(format!("drop {link:?}"));
                    }
                    1 => {
                        let copy = self.net.links[&link].front().cloned();
                        self.net.deliver(link);
                        if let Some(copy) = copy {
                            self.net.links.entry(link).or_default().push_front(copy);
                        }
                        self.note(format!("duplicate {link:?}"));
                    }
                    _ => {
                        self.net.deliver(link);
                    }
                }
            }
            70..=89 => {
                let ms = self.rng.gen_range(50..600);
                self.net.tick_all(ms);
            }
            90..=94 if self.net.cut.is_empty() && n > 1 => {
                let side: BTreeSet<usize> = (0..n).filter(|_| self.rng.gen_bool(0.5)).collect();
                self.note(format!("partition {side:?}"));
                self.net.partition(&side);
            }
            _ => {
                if !self.net.cut.is_empty() {
                    self.note("heal".to_string());
                    self.net.heal();
                }
            }
        }
    }

    fn run(&mut self, steps: usize) -> Result<(), String> {
        for _ in 0..steps {
            self.step();
        }
        // Healed and without faults, a few gossip intervals bring every node up to date.
        self.net.heal();
        for _ in 0..30 {
            self.net.settle(1000);
            self.net.tick_all(1_000);
        }
        self.net.settle(1000);
        let want_c = self.counter.read();
        let want_s = self.set.read().val;
        for (i, node) in self.net.nodes.iter_mut().enumerate() {
            let c = node.value::<Counter>("c").unwrap().read();
            let s = node.value::<Set>("s").unwrap().read().val;
            if c != want_c || s != want_s {
                return Err(format!(
                    "node {i} holds counter {c} and set {s:?}; every update folded gives {want_c} and {want_s:?}"
                ));
            }
        }
        Ok(())
    }
}

#[test]
fn every_node_converges_to_the_fold_of_all_updates_through_drops_duplicates_and_partitions() {
    for seed in crate::core::sim_seeds::seeds() {
        let mut sim = Sim::new(seed);
        if let Err(e) = sim.run(400) {
            panic!(
                "seed {} failed: {e}\nreplay: SIM_SEED={} cargo test -p ractor-dist replicated::sim\nlast steps:\n{}",
                sim.seed,
                sim.seed,
                sim.trace.iter().cloned().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// B15, the protocol's share: for a 10,000-element OR-set on 3, 8 and 16 nodes, with
/// deltas (pushed, and a log of recent deltas to answer digests) and with full states
/// (pushed, and sent in answer to digests, as GenServerring does), what one update costs
/// (delivery rounds and bytes) when it is pushed, how many gossip intervals and bytes
/// anti-entropy needs when every push is lost, and the bytes of idle gossip per node per
/// interval. Run with
/// `cargo test --release -p ractor-dist --lib replicated::sim::b15 -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: run it by name"]
fn b15_rounds_and_bytes_of_one_update_to_a_10k_set() {
    type Big = OrSet<u32>;
    println!("nodes protocol      pushed: rounds bytes | pushes lost: intervals mean max  bytes | idle B/node/interval");
    for n in [3, 8, 16] {
        for (push, log, label) in [
            (Push::Deltas, 256, "deltas"),
            (Push::FullState, 0, "full states"),
        ] {
            let mut net = Net::with_log(n, push, 1 << 20, log);
            for node in &mut net.nodes {
                node.register::<Big>("s").unwrap();
            }
            net.nodes[0]
                .handle_update::<Big>("s", |s, me| {
                    s.add_all(0..10_000, s.read_ctx().derive_add_ctx(me.clone()))
                })
                .unwrap();
            net.settle(100);
            let has = |net: &mut Net, e: u32| {
                net.nodes
                    .iter_mut()
                    .all(|node| node.value::<Big>("s").unwrap().contains(&e).val)
            };
            assert!(has(&mut net, 9_999));
            // pushed
            net.delivered = (0, 0);
            net.nodes[0]
                .handle_update::<Big>("s", |s, me| {
                    s.add(10_000, s.read_ctx().derive_add_ctx(me.clone()))
                })
                .unwrap();
            let rounds = net.settle(100);
            assert!(has(&mut net, 10_000));
            let pushed_bytes = net.delivered.0;
            // every push lost: anti-entropy alone
            let (mut intervals, mut worst, mut lost_bytes) = (0u64, 0u64, 0u64);
            for k in 0..20u32 {
                let e = 10_001 + k;
                net.nodes[0]
                    .handle_update::<Big>("s", |s, me| {
                        s.add(e, s.read_ctx().derive_add_ctx(me.clone()))
                    })
                    .unwrap();
                net.drain();
                net.links.retain(|(from, _), _| *from != 0);
                net.delivered = (0, 0);
                let mut waited = 0;
                while !has(&mut net, e) {
                    net.tick_all(1_000);
                    net.settle(100);
                    waited += 1;
                    assert!(waited < 100, "no convergence");
                }
                intervals += waited;
                worst = worst.max(waited);
                lost_bytes += net.delivered.0;
            }
            // idle: ten gossip intervals with nothing new
            net.delivered = (0, 0);
            for _ in 0..10 {
                net.tick_all(1_000);
                net.settle(100);
            }
            let idle = net.delivered.0 / (10 * n as u64);
            println!(
                "{n:>5} {label:<12} {rounds:>6} {pushed_bytes:>9} | {:>17.2} {worst:>3} {:>9} | {idle:>6}",
                intervals as f64 / 20.0,
                lost_bytes / 20,
            );
        }
    }
}

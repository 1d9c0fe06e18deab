//! What happens to the cluster in a run: writes, spawns, joins, leaves, crashes, restarts,
//! pauses, partitions and heals.

use super::*;

impl Sim {
    pub(super) fn write(&mut self) {
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
    pub(super) fn spawn_all(&mut self) {
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

    /// No partition and no pause under way, and no node down (crashed and not restarted).
    pub(super) fn no_fault(&self) -> bool {
        self.side.is_none() && !self.nodes.iter().any(|n| n.hung || n.crashed) && !self.healed
    }

    /// A node crashes: what it hosts and what is in flight to or from it is gone.
    pub(super) fn crash(&mut self) {
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
    pub(super) fn restart(&mut self) {
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
    pub(super) fn hang(&mut self) {
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
    pub(super) fn resume(&mut self, force: bool) {
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
    pub(super) fn partition(&mut self) {
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
        self.cut_off(side);
    }

    /// A node in the middle of its graceful leave loses its sessions to every peer (they
    /// come back at the next heal, if it has not gone by then).
    pub(super) fn cut_off_a_leaver(&mut self) {
        if let Some(i) = self.a_leaver() {
            self.cut_off(vec![i]);
        }
    }

    /// A node in the middle of its leave, at random (none while a partition is on).
    fn a_leaver(&mut self) -> Option<usize> {
        let leavers: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && self.nodes[i].leaving)
            .collect();
        if leavers.is_empty() || self.side.is_some() {
            return None;
        }
        Some(leavers[self.rng.gen_range(0..leavers.len())])
    }

    /// A leaver's session to one peer closes (what was queued on it is lost), and after
    /// `frames` other frames a new one opens: the peer took the leaver for gone, and now
    /// meets it again while it still leaves.
    pub(super) fn drop_a_leavers_session(&mut self, frames: usize) {
        let Some(i) = self.a_leaver() else {
            return;
        };
        let peers: Vec<usize> = (0..self.nodes.len())
            .filter(|&p| p != i && self.nodes[p].up && !self.cuts.contains(&(i, p)))
            .collect();
        if peers.is_empty() {
            return;
        }
        let p = peers[self.rng.gen_range(0..peers.len())];
        self.script.push(Step::SessionDropped { a: i, b: p });
        // The peer may respawn what it takes for lost while the leaver hands the same
        // names to a third node: copies can meet (a partition of one link).
        self.healed = true;
        self.cuts.insert((i, p));
        self.links
            .retain(|pair, _| *pair != (i, p) && *pair != (p, i));
        self.refresh_sessions();
        for _ in 0..frames {
            self.deliver_one();
        }
        if self.nodes[i].up && self.nodes[p].up {
            self.script.push(Step::SessionBack { a: i, b: p });
        }
        self.cuts.remove(&(i, p));
        self.refresh_sessions();
    }

    /// `side` loses its sessions to the other live nodes.
    fn cut_off(&mut self, side: Vec<usize>) {
        self.script.push(Step::Partition(side.clone()));
        let side: BTreeSet<usize> = side.into_iter().collect();
        self.links
            .retain(|(a, b), _| side.contains(a) == side.contains(b));
        self.side = Some(side);
        self.refresh_sessions();
    }

    pub(super) fn heal(&mut self) {
        if self.side.take().is_some() {
            self.script.push(Step::Heal);
            self.healed = true;
            self.refresh_sessions();
        }
    }

    pub(super) fn leave(&mut self) {
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
}

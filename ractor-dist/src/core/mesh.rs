//! The mesh: who this node talks to, and when it says hello, heartbeats and dials.
//!
//! [`Mesh`] wraps the [`Membership`] state machine and the [`Dialer`] with the rest of what
//! keeping a full mesh takes: hellos asked of unknown senders and retried to connected peers
//! that have not answered, heartbeats to every up peer (carrying the known member addresses,
//! gossip for the full mesh, to a peer that has not had the current list yet, and again
//! every ten heartbeat intervals; otherwise empty, so that idle traffic grows with the
//! number of peers, not with its square), the seeds and gossiped addresses to dial with backoff, the
//! peers that announced their departure and are still connected (*leavers*: they take part
//! in the barriers of the views without them until they disconnect), and which peers the
//! transport has sessions with.
//!
//! Inputs are `handle_*` calls with the current time; outputs are [`MeshCommand`]s drained
//! with [`Mesh::poll_command`], in the order they were decided. The node layer executes
//! them (frames, dials, disconnects, logging and publishing events) and feeds back what the
//! transport reports ([`Mesh::handle_sessions`]).
//!
//! Dialing is by node identity, not by the spelling of an address: a target (a seed such
//! as `localhost:7101`, a DNS name, a forwarded address) that the transport found to lead
//! to node X ([`Mesh::handle_dial_identified`]) is not dialed while X is connected, even
//! though X advertises itself as `127.0.0.1:7101`. Redialing it would open a second session
//! that ractor_cluster's duplicate-connection election may keep in place of the live one,
//! dropping the frames queued on that.
//!
//! Where targets come from, and when they are forgotten: the seeds are dialed for as long as
//! the node runs; what discovery returned last ([`Mesh::handle_discovered`]) is dialed
//! until a refresh no longer returns it; an address learned from a peer (a hello, or the
//! member list its heartbeats gossip) is dialed until no peer has mentioned it for
//! [`Mesh::FORGET_LEARNED_DEADLINES`] heartbeat deadlines, or at once when its node left
//! gracefully. The addresses of the known node set ([`Mesh::handle_known`]) are dialed
//! like seeds, except those of nodes that left gracefully during this run (until they are
//! up again: they went away on purpose, and dial themselves when they come back), and an
//! address given to `add_node` until its node is met ([`Mesh::handle_add`]). Removed nodes
//! are never dialed, whatever names their address. A target that is connected (or
//! identified with a connected node) is never forgotten; it is forgotten when it
//! disconnects, if nothing returns it by then.
//!
//! Call order per heartbeat interval: [`Mesh::handle_tick`], then drain the commands. A
//! [`MeshCommand::ViewChanged`] comes last among the commands of one input, after the
//! events that caused it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::dialer::Dialer;
use super::identity::{Incarnation, Millis, NodeName};
use super::known::KnownNodes;
use super::membership::{
    DownReason, HeartbeatOutcome, Hello, Membership, MembershipCommand, MembershipEvent,
};
use super::timing::Timing;

/// What the node layer must do for the mesh.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MeshCommand {
    /// Send this node's hello to `to`; `reply` asks it to say hello back.
    SendHello {
        /// The peer.
        to: NodeName,
        /// Ask for a hello back.
        reply: bool,
    },
    /// Send a heartbeat, carrying `members` (name and dial address of every member this
    /// node knows, itself included; empty for peers that have the current list), to each
    /// of `to`.
    Heartbeat {
        /// The up peers with a session.
        to: Vec<NodeName>,
        /// Known member addresses (gossip), or nothing.
        members: Vec<(NodeName, String)>,
    },
    /// Dial this address (a seed or a gossiped member that is not connected).
    Dial(String),
    /// This address is no longer dialed: what dialing it taught (whom it leads to) can go.
    Forget(String),
    /// Close every session to this peer: it was declared down while still connected.
    Disconnect(NodeName),
    /// A membership change for the application. `first` is false for a refusal already
    /// reported with the same reason (log it once, count it every time).
    Event {
        /// The event.
        event: MembershipEvent,
        /// The first report of this refusal (always true for ups and downs).
        first: bool,
    },
    /// A peer that had announced its departure disconnected: it is gone for good.
    LeaverGone(NodeName),
    /// The view changed (after the events above); `lost` are the peers that went down
    /// without leaving gracefully (crashed, hung, cut off or replaced): their names must
    /// be recovered.
    ViewChanged {
        /// Peers lost without a graceful leave.
        lost: Vec<NodeName>,
    },
}

/// Why a hello was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloError {
    /// The hello names another node than the frame's sender.
    MismatchedSender {
        /// The frame's sender.
        from: NodeName,
        /// The node the hello claims to be.
        claimed: NodeName,
    },
}

/// The mesh of one node (see the module docs).
#[derive(Debug)]
pub struct Mesh {
    membership: Membership,
    dialer: Dialer,
    seeds: Vec<String>,
    /// Peers the transport has a session with.
    connected: BTreeSet<NodeName>,
    /// The dial addresses of those sessions.
    connected_addrs: BTreeSet<String>,
    /// Dial targets known to lead to a node (see [`Mesh::handle_dial_identified`]).
    identified: BTreeMap<String, NodeName>,
    /// What discovery returned last.
    discovered: BTreeSet<String>,
    /// Addresses learned from peers, with when they were last mentioned.
    learned: BTreeMap<String, Millis>,
    /// How long a learned address is kept after its last mention.
    forget_learned_ms: u64,
    /// The addresses of the leavers (forgotten once they are gone).
    leaver_addrs: BTreeMap<NodeName, String>,
    /// The present nodes of the known set (but this one) and their addresses.
    known: BTreeMap<NodeName, String>,
    /// The addresses of those not `departed` (dialed like seeds).
    known_addrs: BTreeSet<String>,
    /// Known nodes that left gracefully and are gone: not dialed until they are up again
    /// (they went away on purpose; when they come back they dial).
    departed: BTreeSet<NodeName>,
    /// The addresses of the nodes removed from the known set (never dialed, unless added).
    removed_addrs: BTreeSet<String>,
    /// Addresses given to `add_node` whose node has not been met yet (dialed like seeds).
    added: BTreeSet<String>,
    /// Dial commands issued so far.
    dials: u64,
    /// Dial targets forgotten so far.
    forgotten: u64,
    /// Peers whose supervisor can be reached (a session and its supervisor).
    reachable: BTreeSet<NodeName>,
    hello_sent: BTreeMap<NodeName, Millis>,
    leavers: BTreeMap<NodeName, Incarnation>,
    /// Connected peers heard from before their hello (not up), with the incarnation their
    /// frames carry: a `Leaving` from one of them is taken by that incarnation.
    unmet: BTreeMap<NodeName, Incarnation>,
    refusals: BTreeSet<(NodeName, String)>,
    /// The member list last gossiped, and its version (bumped when it changes).
    gossip: (u64, Vec<(NodeName, String)>),
    /// Per up peer: the version of the list it was last sent, and when.
    gossiped: BTreeMap<NodeName, (u64, Millis)>,
    /// How often a peer gets the whole list even though it has it.
    gossip_refresh_ms: u64,
    stopping: bool,
    commands: VecDeque<MeshCommand>,
}

impl Mesh {
    /// `node` left gracefully and its session is gone (until it is up again).
    pub fn has_departed(&self, node: &NodeName) -> bool {
        self.departed.contains(node)
    }

    /// Records the sizes of the mesh's per-peer and per-address tables (see
    /// [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        self.membership.footprint(f);
        f.add("mesh.dial_targets", self.dialer.targets().count());
        f.add(
            "mesh.connected",
            self.connected.len() + self.connected_addrs.len(),
        );
        f.add("mesh.identified", self.identified.len());
        f.add("mesh.learned", self.learned.len());
        f.add("mesh.leavers", self.leaver_addrs.len() + self.leavers.len());
        f.add("mesh.reachable", self.reachable.len());
        f.add("mesh.hello_sent", self.hello_sent.len());
        f.add("mesh.unmet", self.unmet.len());
        f.add("mesh.refusals", self.refusals.len());
        f.add("mesh.gossiped", self.gossiped.len());
    }

    /// A learned address no peer mentioned for this many heartbeat deadlines (and that is
    /// not connected, seeded or discovered) is forgotten.
    pub const FORGET_LEARNED_DEADLINES: u64 = 10;

    /// The mesh of the node that says `me`, dialing `seeds`, with deadlines from `timing`.
    pub fn new(me: Hello, seeds: Vec<String>, timing: &Timing) -> Self {
        let dialer = Dialer::new(
            me.addr.clone(),
            timing.reconnect_min_ms,
            timing.reconnect_max_ms,
        );
        Self {
            membership: Membership::new(me, timing.heartbeat_deadline_ms),
            dialer,
            seeds,
            connected: BTreeSet::new(),
            connected_addrs: BTreeSet::new(),
            identified: BTreeMap::new(),
            discovered: BTreeSet::new(),
            learned: BTreeMap::new(),
            forget_learned_ms: timing
                .heartbeat_deadline_ms
                .saturating_mul(Self::FORGET_LEARNED_DEADLINES),
            leaver_addrs: BTreeMap::new(),
            known: BTreeMap::new(),
            known_addrs: BTreeSet::new(),
            departed: BTreeSet::new(),
            removed_addrs: BTreeSet::new(),
            added: BTreeSet::new(),
            dials: 0,
            forgotten: 0,
            reachable: BTreeSet::new(),
            hello_sent: BTreeMap::new(),
            leavers: BTreeMap::new(),
            unmet: BTreeMap::new(),
            refusals: BTreeSet::new(),
            gossip: (0, Vec::new()),
            gossiped: BTreeMap::new(),
            gossip_refresh_ms: timing
                .heartbeat_interval_ms
                .saturating_mul(Timing::GOSSIP_REFRESH_HEARTBEATS),
            stopping: false,
            commands: VecDeque::new(),
        }
    }

    /// The membership state machine (read only).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Peers that announced their departure and are still connected.
    pub fn leavers(&self) -> &BTreeMap<NodeName, Incarnation> {
        &self.leavers
    }

    /// `host` of incarnation `inc` is still around: an up member, or a leaver that has not
    /// disconnected yet (it hands its names off itself).
    pub fn is_present(&self, host: &NodeName, inc: Incarnation) -> bool {
        self.membership.incarnation_of(host) == Some(inc) || self.leavers.get(host) == Some(&inc)
    }

    /// The peers that take part in the current view's barriers: the up members and the
    /// leavers still connected.
    pub fn participants(&self) -> BTreeSet<NodeName> {
        self.membership
            .peers()
            .keys()
            .chain(self.leavers.keys())
            .cloned()
            .collect()
    }

    /// Number of dial targets (seeds and gossiped addresses).
    pub fn dial_targets(&self) -> usize {
        self.dialer.len()
    }

    /// Dial commands issued so far (each [`MeshCommand::Dial`]).
    pub fn dials(&self) -> u64 {
        self.dials
    }

    /// Dial targets forgotten so far (no longer returned by discovery nor mentioned by
    /// peers, and not connected).
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// What discovery returned last.
    pub fn discovered(&self) -> &BTreeSet<String> {
        &self.discovered
    }

    /// Dial targets known to lead to a node (this one included), by target.
    pub fn identified(&self) -> &BTreeMap<String, NodeName> {
        &self.identified
    }

    /// The next command, if any.
    pub fn poll_command(&mut self) -> Option<MeshCommand> {
        self.commands.pop_front()
    }

    /// The node is shutting down: no more hellos, heartbeats or dials.
    pub fn handle_stopping(&mut self) {
        self.stopping = true;
    }

    /// Heartbeat timer: deadlines, heartbeats to up peers (with the member list for those
    /// that have not had it, or not for [`Timing::GOSSIP_REFRESH_HEARTBEATS`] intervals),
    /// hellos to connected peers that are not up yet (at most once per
    /// [`Timing::HELLO_RETRY_MS`]), and dials.
    pub fn handle_tick(&mut self, now: Millis) {
        if self.stopping {
            return;
        }
        self.membership.handle_tick(now);
        self.drain_membership();
        let members: Vec<(NodeName, String)> = self
            .membership
            .peers()
            .iter()
            .map(|(n, m)| (n.clone(), m.addr.clone()))
            .chain(std::iter::once((
                self.membership.me().node.clone(),
                self.membership.me().addr.clone(),
            )))
            .collect();
        let mut heartbeat = Vec::new();
        let reachable: Vec<NodeName> = self.reachable.iter().cloned().collect();
        for peer in reachable {
            if self.membership.is_up(&peer) {
                heartbeat.push(peer);
            } else {
                self.hello_if_due(&peer, true, Timing::HELLO_RETRY_MS, now);
            }
        }
        if members != self.gossip.1 {
            self.gossip = (self.gossip.0 + 1, members);
        }
        let version = self.gossip.0;
        // Peers that are not heartbeated (down, or without a session) get the list again
        // when they are.
        self.gossiped.retain(|peer, _| heartbeat.contains(peer));
        // Hellos are only sent over a session: a peer without one starts afresh.
        let reachable = &self.reachable;
        self.hello_sent.retain(|peer, _| reachable.contains(peer));
        let (full, bare): (Vec<NodeName>, Vec<NodeName>) =
            heartbeat.into_iter().partition(|peer| {
                self.gossiped
                    .get(peer)
                    .is_none_or(|(v, at)| *v != version || now.since(*at) >= self.gossip_refresh_ms)
            });
        for peer in &full {
            self.gossiped.insert(peer.clone(), (version, now));
        }
        if !full.is_empty() {
            self.commands.push_back(MeshCommand::Heartbeat {
                to: full,
                members: self.gossip.1.clone(),
            });
        }
        if !bare.is_empty() {
            self.commands.push_back(MeshCommand::Heartbeat {
                to: bare,
                members: Vec::new(),
            });
        }
        // Removed nodes are not dialed (an address given to `add_node` is, whoever it
        // leads to): neither added nor kept, and counted as satisfied.
        self.refresh_known_addrs();
        let blocked: BTreeSet<String> = self
            .identified
            .iter()
            .filter(|(_, node)| self.membership.is_removed(node))
            .map(|(target, _)| target)
            .chain(&self.removed_addrs)
            .filter(|t| !self.added.contains(*t))
            .cloned()
            .collect();
        for seed in self
            .seeds
            .iter()
            .chain(&self.known_addrs)
            .chain(&self.added)
        {
            if !blocked.contains(seed) {
                self.dialer.add(seed, now);
            }
        }
        for target in &blocked {
            if self.dialer.remove(target) {
                self.forgotten += 1;
                self.commands.push_back(MeshCommand::Forget(target.clone()));
            }
            self.learned.remove(target);
        }
        let me = &self.membership.me().node;
        let mut satisfied = self.connected_addrs.clone();
        satisfied.extend(
            self.identified
                .iter()
                .filter(|(_, node)| *node == me || self.connected.contains(*node))
                .map(|(target, _)| target.clone()),
        );
        // A connected member's own address, whatever address its session came through
        // (it dialed us, or we reached it by an IP while it advertises a host name).
        satisfied.extend(
            self.membership
                .peers()
                .iter()
                .filter(|(node, _)| self.connected.contains(*node))
                .map(|(_, member)| member.addr.clone()),
        );
        satisfied.extend(blocked);
        self.forget_stale(&satisfied, now);
        for addr in self.dialer.poll_due(&satisfied, now) {
            self.dials += 1;
            self.commands.push_back(MeshCommand::Dial(addr));
        }
    }

    /// Forgets the targets nothing keeps any more: not a seed, not discovered, not
    /// learned recently, and not `satisfied` (connected).
    fn forget_stale(&mut self, satisfied: &BTreeSet<String>, now: Millis) {
        let forget_after = self.forget_learned_ms;
        self.learned
            .retain(|addr, at| satisfied.contains(addr) || now.since(*at) < forget_after);
        let stale: Vec<String> = self
            .dialer
            .targets()
            .filter(|t| {
                !satisfied.contains(*t)
                    && !self.discovered.contains(*t)
                    && !self.learned.contains_key(*t)
                    && !self.seeds.iter().any(|s| s == t)
                    && !self.known_addrs.contains(*t)
                    && !self.added.contains(*t)
            })
            .map(str::to_string)
            .collect();
        for target in stale {
            self.dialer.remove(&target);
            self.identified.remove(&target);
            self.forgotten += 1;
            self.commands.push_back(MeshCommand::Forget(target));
        }
    }

    /// Discovery's latest answer: the addresses to dial from now on (this node's own
    /// address among them is ignored). Addresses it no longer returns are forgotten at the
    /// next tick unless a seed, learned from a peer, or connected.
    pub fn handle_discovered(&mut self, addrs: BTreeSet<String>, now: Millis) {
        let me = &self.membership.me().addr;
        self.discovered = addrs.into_iter().filter(|a| a != me).collect();
        for addr in &self.discovered {
            self.dialer.add(addr, now);
        }
    }

    /// The transport found that dialing `target` reaches `node`: a session it opened to
    /// `target` named itself `node` (whether or not that session survived the
    /// duplicate-connection election). From now on `target` is `node`'s: it is not dialed
    /// while `node` is connected, nor ever when `node` is this node. A later finding for
    /// the same target replaces this one (the name now points elsewhere). Returns whether
    /// this was new.
    pub fn handle_dial_identified(&mut self, target: &str, node: &NodeName) -> bool {
        if self.identified.get(target) == Some(node) {
            return false;
        }
        self.identified.insert(target.to_string(), node.clone());
        true
    }

    fn hello_if_due(&mut self, peer: &NodeName, reply: bool, every_ms: u64, now: Millis) {
        let due = self
            .hello_sent
            .get(peer)
            .is_none_or(|t| now.since(*t) >= every_ms);
        if due {
            self.send_hello(peer, reply, now);
        }
    }

    fn send_hello(&mut self, peer: &NodeName, reply: bool, now: Millis) {
        if !self.reachable.contains(peer) {
            return;
        }
        // A removed node is not greeted (it must not take this node for a member of its
        // own view), unless an `add_node` is pending: it may be the node being added back.
        if self.membership.is_removed(peer) && self.added.is_empty() {
            return;
        }
        self.hello_sent.insert(peer.clone(), now);
        self.commands.push_back(MeshCommand::SendHello {
            to: peer.clone(),
            reply,
        });
    }

    /// Any frame from `from` (of `incarnation`) arrived: it refreshes the sender's deadline.
    /// A sender that is not up (or an old incarnation) is asked for its hello, at most once
    /// per [`Timing::HELLO_ANSWER_MS`].
    pub fn handle_heard(&mut self, from: &NodeName, incarnation: Incarnation, now: Millis) {
        let outcome = self.membership.handle_heartbeat(from, incarnation, now);
        if outcome != HeartbeatOutcome::NeedHello {
            // The frame is the member's: a `Leaving` in it is the member's own.
            self.unmet.remove(from);
            return;
        }
        self.unmet.insert(from.clone(), incarnation);
        // A leaver is asked too: its hello is refused, but the asking is what keeps this
        // node alive in the leaver's eyes until it goes.
        if !self.stopping {
            self.hello_if_due(from, true, Timing::HELLO_ANSWER_MS, now);
        }
    }

    /// A hello from `from` (of `incarnation`). Its address is dialed from now on; `reply`
    /// asks for one back.
    ///
    /// # Errors
    ///
    /// [`HelloError::MismatchedSender`] when the hello names another node than its sender
    /// (nothing changed but the address learned).
    pub fn handle_hello(
        &mut self,
        from: &NodeName,
        incarnation: Incarnation,
        hello: Hello,
        reply: bool,
        now: Millis,
    ) -> Result<(), HelloError> {
        self.membership.handle_heartbeat(from, incarnation, now);
        self.learn(&[(hello.node.clone(), hello.addr.clone())], now);
        if hello.node != *from {
            return Err(HelloError::MismatchedSender {
                from: from.clone(),
                claimed: hello.node,
            });
        }
        self.membership.handle_hello(hello, now);
        if self.membership.is_up(from) {
            self.unmet.remove(from);
        }
        self.drain_membership();
        if reply {
            self.send_hello(from, false, now);
        }
        Ok(())
    }

    /// Member addresses gossiped by a peer: each is dialed until connected (those of
    /// removed nodes are not).
    pub fn learn(&mut self, members: &[(NodeName, String)], now: Millis) {
        let me = &self.membership.me().node;
        for (name, addr) in members {
            if name != me && !self.membership.is_removed(name) {
                self.dialer.add(addr, now);
                self.learned.insert(addr.clone(), now);
            }
        }
    }

    /// The known node set changed ([`super::known`]): the addresses of its present nodes
    /// are dialed from the next tick on (kept like seeds), those of its removed nodes are
    /// no longer dialed, and the removed nodes' hellos are refused.
    pub fn handle_known(&mut self, known: &KnownNodes) {
        let me = &self.membership.me().node;
        self.known = known
            .present()
            .filter(|(n, a)| *n != me && !a.is_empty())
            .map(|(n, a)| (n.clone(), a.to_string()))
            .collect();
        self.removed_addrs = known
            .entries()
            .iter()
            .filter(|(_, e)| e.removed && !e.addr.is_empty())
            .map(|(_, e)| e.addr.clone())
            .filter(|a| !self.known.values().any(|k| k == a))
            .collect();
        self.refresh_known_addrs();
        self.membership.set_removed(known.removed());
    }

    /// The known addresses to dial: those of the known nodes that did not depart.
    fn refresh_known_addrs(&mut self) {
        self.known_addrs = self
            .known
            .iter()
            .filter(|(n, _)| !self.departed.contains(*n))
            .map(|(_, a)| a.clone())
            .collect();
    }

    /// `add_node`: `addr` is dialed from the next tick on, until its node is met (see
    /// [`Mesh::take_added`]), even when it leads to a removed node.
    pub fn handle_add(&mut self, addr: &str, now: Millis) {
        self.added.insert(addr.to_string());
        self.dialer.add(addr, now);
    }

    /// The node `node`, which says it is dialed at `addr`, was met: the `add_node`
    /// addresses that lead to it (that address, or a target the transport identified as
    /// `node`) are taken off the pending list. Returns whether there was one (an operator
    /// asked for this node: it is added to the known set even if it was removed).
    pub fn take_added(&mut self, node: &NodeName, addr: &str) -> bool {
        let matching: Vec<String> = self
            .added
            .iter()
            .filter(|t| *t == addr || self.identified.get(*t) == Some(node))
            .cloned()
            .collect();
        for target in &matching {
            self.added.remove(target);
        }
        !matching.is_empty()
    }

    /// Addresses given to `add_node` whose node has not been met yet.
    pub fn added(&self) -> &BTreeSet<String> {
        &self.added
    }

    /// `from` announced that it is leaving: it leaves the view at once, but keeps taking
    /// part in barriers (it hands its names off) until it disconnects. A peer not up yet
    /// (a leaver met by a node that joins meanwhile: it says `Leaving` before its hello)
    /// is taken as leaving by the incarnation its frames carry, and its hello is refused:
    /// it never enters this node's view, whose owners would then include it.
    pub fn handle_leaving(&mut self, from: &NodeName) -> bool {
        // The incarnation of the frame, when it is not the member's (a peer not met yet,
        // or restarted): that one leaves, not the member's, which was replaced.
        let heard = self.unmet.get(from).copied();
        let Some(inc) = heard.or_else(|| self.membership.incarnation_of(from)) else {
            return false;
        };
        if let Some(member) = self.membership.peers().get(from) {
            self.leaver_addrs.insert(from.clone(), member.addr.clone());
        }
        self.membership.handle_replaced(from, inc);
        self.leavers.insert(from.clone(), inc);
        self.membership.handle_left(from, inc);
        self.drain_membership();
        true
    }

    /// This process was paused past the deadline: nothing heard meanwhile is the peers'
    /// fault, so every deadline starts again from `now`.
    pub fn handle_resumed(&mut self, now: Millis) {
        self.membership.handle_resumed(now);
    }

    /// What the transport has now: the peers with a session and their dial addresses, and
    /// which of them have a reachable supervisor (`fresh`: those whose supervisor is new
    /// since the last call, which are greeted). Peers without a session go down; leavers
    /// without one are gone for good.
    pub fn handle_sessions(
        &mut self,
        sessions: impl IntoIterator<Item = (NodeName, String)>,
        reachable: BTreeSet<NodeName>,
        fresh: &[NodeName],
        now: Millis,
    ) {
        (self.connected, self.connected_addrs) = sessions.into_iter().unzip();
        self.reachable = reachable;
        let connected = &self.connected;
        self.unmet.retain(|n, _| connected.contains(n));
        if self.stopping {
            return;
        }
        for peer in fresh {
            self.send_hello(peer, true, now);
        }
        let lost: Vec<NodeName> = self
            .membership
            .peers()
            .keys()
            .filter(|n| !self.connected.contains(*n))
            .cloned()
            .collect();
        for peer in lost {
            self.membership.handle_disconnected(&peer);
        }
        let gone: Vec<NodeName> = self
            .leavers
            .keys()
            .filter(|n| !self.connected.contains(*n))
            .cloned()
            .collect();
        for peer in gone {
            self.leavers.remove(&peer);
            // Gone for good: its address is no longer worth dialing on hearsay.
            if let Some(addr) = self.leaver_addrs.remove(&peer) {
                self.learned.remove(&addr);
            }
            self.departed.insert(peer.clone());
            self.commands.push_back(MeshCommand::LeaverGone(peer));
        }
        self.drain_membership();
    }

    /// The peers whose supervisor answers (as last reported by the node layer).
    pub fn reachable(&self) -> &BTreeSet<NodeName> {
        &self.reachable
    }

    /// The node layer closed every session to `node` (after [`MeshCommand::Disconnect`]).
    pub fn handle_disconnected(&mut self, node: &NodeName) {
        self.connected.remove(node);
        self.reachable.remove(node);
    }

    /// Moves what the membership machine decided into commands; a changed view comes last.
    fn drain_membership(&mut self) {
        let mut changed = false;
        let mut lost = Vec::new();
        while let Some(event) = self.membership.poll_event() {
            let first = match &event {
                MembershipEvent::Up { node, .. } => {
                    changed = true;
                    self.departed.remove(node);
                    true
                }
                MembershipEvent::Down { node, reason, .. } => {
                    changed = true;
                    // A peer that left gracefully still hands its actors over.
                    if *reason != DownReason::Left {
                        lost.push(node.clone());
                        self.leavers.remove(node);
                        self.leaver_addrs.remove(node);
                    }
                    true
                }
                MembershipEvent::Refused { node, reason } => {
                    self.refusals.insert((node.clone(), reason.clone()))
                }
            };
            self.commands.push_back(MeshCommand::Event { event, first });
        }
        while let Some(command) = self.membership.poll_command() {
            let MembershipCommand::Disconnect(node) = command;
            self.commands.push_back(MeshCommand::Disconnect(node));
        }
        if changed {
            self.commands.push_back(MeshCommand::ViewChanged { lost });
        }
    }
}

#[cfg(test)]
mod tests;

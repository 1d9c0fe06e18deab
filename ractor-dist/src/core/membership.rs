//! The membership state machine: which peers are up, under which [`Epoch`].
//!
//! A peer becomes **up** when it has said [`Hello`] with our protocol and hash versions, and
//! stays up while anything from it arrives within the heartbeat deadline. It goes **down**
//! when its connection is lost, when it stays silent past the deadline (a hung or cut-off
//! peer, which ractor_cluster itself never detects), or when a new [`Incarnation`] of the
//! same name says hello (a restart). Every such change bumps the epoch.
//!
//! Inputs are `handle_*` calls with the current time; outputs are drained with
//! [`Membership::poll_event`] (for the application: up, down, refused) and
//! [`Membership::poll_command`] (for the transport: force a disconnect).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::handoff::ViewId;
use super::identity::{Epoch, Incarnation, Millis, NodeName};
use super::placement::Placement;

/// What a node says about itself when it meets a peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The node's authenticated name.
    pub node: NodeName,
    /// The node's incarnation (random per boot).
    pub incarnation: Incarnation,
    /// The supervisors' wire protocol version.
    pub protocol: u32,
    /// The placement hash version ([`super::hash::HASH_VERSION`]).
    pub hash_version: u32,
    /// The `host:port` other nodes dial to reach it.
    pub addr: String,
    /// Its placement capacity (1.0 by default).
    pub weight: f64,
}

/// Why a member went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DownReason {
    /// Its last connection closed.
    Disconnected,
    /// Nothing arrived from it within the heartbeat deadline.
    HeartbeatTimeout,
    /// A new incarnation of the same name said hello.
    Replaced,
    /// It announced that it is leaving.
    Left,
}

/// A change of membership, for the application to act on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MembershipEvent {
    /// A member joined the view.
    Up {
        /// The member.
        node: NodeName,
        /// Its incarnation.
        incarnation: Incarnation,
        /// The epoch of the view it joined.
        epoch: Epoch,
    },
    /// A member left the view.
    Down {
        /// The member.
        node: NodeName,
        /// The incarnation that went down.
        incarnation: Incarnation,
        /// Why.
        reason: DownReason,
        /// The epoch of the view without it.
        epoch: Epoch,
    },
    /// A peer's hello was refused (another protocol or hash version, or our own name).
    Refused {
        /// The peer.
        node: NodeName,
        /// A human-readable reason.
        reason: String,
    },
}

/// An action the transport must carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MembershipCommand {
    /// Close every connection to this peer (it was declared down while connected).
    Disconnect(NodeName),
}

/// What became of a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// It came from an up member and refreshed its deadline.
    Accepted,
    /// It came from a peer that is not up (or an old incarnation): ask it for a hello.
    NeedHello,
}

/// What is known about an up member.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberInfo {
    /// Its incarnation.
    pub incarnation: Incarnation,
    /// The address it is dialed at.
    pub addr: String,
    /// Its placement weight.
    pub weight: f64,
    /// When something last arrived from it.
    pub last_heard: Millis,
}

/// The digest of a set of members: XXH3-64 over the members sorted by name, each as
/// (name length u64 LE, name bytes, incarnation u64 LE).
pub fn view_digest<'a>(members: impl IntoIterator<Item = (&'a NodeName, Incarnation)>) -> ViewId {
    let mut members: Vec<(&NodeName, Incarnation)> = members.into_iter().collect();
    members.sort();
    let mut bytes = Vec::new();
    for (name, inc) in members {
        bytes.extend_from_slice(&(name.as_str().len() as u64).to_le_bytes());
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(&inc.0.to_le_bytes());
    }
    ViewId(xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Most incarnations remembered as gone (for late rehosts naming them).
pub const MAX_GONE: usize = 4096;

/// The membership of one node: itself plus the peers that are up.
#[derive(Debug)]
pub struct Membership {
    me: Hello,
    deadline_ms: u64,
    epoch: Epoch,
    up: BTreeMap<NodeName, MemberInfo>,
    events: VecDeque<MembershipEvent>,
    commands: VecDeque<MembershipCommand>,
    /// Incarnations that announced their departure: they are not admitted again.
    left: BTreeMap<NodeName, Incarnation>,
    /// The names in `left`, oldest first: the last [`MAX_GONE`] are kept (a node that left
    /// longer ago than that many others is also long past its hellos in flight).
    left_order: VecDeque<NodeName>,
    /// Nodes removed from the known set (`del_node`): their hellos are refused.
    removed: BTreeSet<NodeName>,
    /// Incarnations that went down (left, silent or disconnected), the last
    /// [`MAX_GONE`] of them, oldest first in `gone_order`.
    gone: BTreeSet<(NodeName, Incarnation)>,
    gone_order: VecDeque<(NodeName, Incarnation)>,
}

impl Membership {
    /// Records the sizes of its tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("membership.up", self.up.len());
        f.add_bounded("membership.left", self.left.len(), MAX_GONE);
        f.add_bounded("membership.gone", self.gone.len(), MAX_GONE);
    }

    /// A view holding only `me`, at epoch 1. Peers silent for more than `deadline_ms` are
    /// declared down.
    pub fn new(me: Hello, deadline_ms: u64) -> Self {
        Self {
            me,
            deadline_ms,
            epoch: Epoch(1),
            up: BTreeMap::new(),
            events: VecDeque::new(),
            commands: VecDeque::new(),
            left: BTreeMap::new(),
            removed: BTreeSet::new(),
            gone: BTreeSet::new(),
            gone_order: VecDeque::new(),
            left_order: VecDeque::new(),
        }
    }

    /// The nodes removed from the known set ([`super::known`]): from now on their hellos
    /// are refused (an up one stays up until it leaves: it hands its names off first).
    pub fn set_removed(&mut self, removed: BTreeSet<NodeName>) {
        self.removed = removed;
    }

    /// True when `node` was removed from the known set.
    pub fn is_removed(&self, node: &NodeName) -> bool {
        self.removed.contains(node)
    }

    /// The digest of the current view: XXH3 over the sorted member names and
    /// incarnations. Nodes that see the same members compute the same id.
    pub fn view_id(&self) -> ViewId {
        view_digest(
            self.up
                .iter()
                .map(|(n, m)| (n, m.incarnation))
                .chain(std::iter::once((&self.me.node, self.me.incarnation))),
        )
    }

    /// The digest of the view without this node (what the others see once it has left).
    pub fn view_id_without_me(&self) -> ViewId {
        view_digest(self.up.iter().map(|(n, m)| (n, m.incarnation)))
    }

    /// True when `node` left gracefully with `incarnation`.
    pub fn has_left(&self, node: &NodeName, incarnation: Incarnation) -> bool {
        self.left.get(node) == Some(&incarnation)
    }

    /// True when this node saw `node`'s `incarnation` go down (one of the last
    /// [`MAX_GONE`]), or has
    /// another incarnation of it up: what that incarnation hosted is gone. (A node not
    /// heard of yet is not gone: this node's view may lag.)
    pub fn is_gone(&self, node: &NodeName, incarnation: Incarnation) -> bool {
        match self.incarnation_of(node) {
            Some(up) => up != incarnation,
            None => self.gone.contains(&(node.clone(), incarnation)),
        }
    }

    /// This node's own hello.
    pub fn me(&self) -> &Hello {
        &self.me
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// True when `node` is this node or an up peer.
    pub fn is_up(&self, node: &NodeName) -> bool {
        *node == self.me.node || self.up.contains_key(node)
    }

    /// The up peers (without this node).
    pub fn peers(&self) -> &BTreeMap<NodeName, MemberInfo> {
        &self.up
    }

    /// The incarnation of an up member (this node included).
    pub fn incarnation_of(&self, node: &NodeName) -> Option<Incarnation> {
        if *node == self.me.node {
            return Some(self.me.incarnation);
        }
        self.up.get(node).map(|m| m.incarnation)
    }

    /// All live member names, this node included, sorted.
    pub fn member_names(&self) -> Vec<NodeName> {
        let mut names: Vec<NodeName> = self.up.keys().cloned().collect();
        names.push(self.me.node.clone());
        names.sort();
        names
    }

    /// The placement of the current view.
    pub fn placement(&self) -> Placement {
        let peers = self.up.iter().map(|(n, m)| (n.clone(), m.weight));
        Placement::weighted(
            self.epoch,
            peers.chain(std::iter::once((self.me.node.clone(), self.me.weight))),
        )
    }

    /// A peer said hello. Returns true when the view changed.
    pub fn handle_hello(&mut self, hello: Hello, now: Millis) -> bool {
        if self.has_left(&hello.node, hello.incarnation) {
            return false;
        }
        if let Some(reason) = self.refusal(&hello) {
            self.events.push_back(MembershipEvent::Refused {
                node: hello.node,
                reason,
            });
            return false;
        }
        match self.up.get_mut(&hello.node) {
            Some(m) if m.incarnation == hello.incarnation => {
                m.last_heard = now;
                m.addr = hello.addr;
                false
            }
            Some(_) => {
                self.mark_down(&hello.node, DownReason::Replaced);
                self.mark_up(hello, now);
                true
            }
            None => {
                self.mark_up(hello, now);
                true
            }
        }
    }

    fn refusal(&self, hello: &Hello) -> Option<String> {
        if hello.protocol != self.me.protocol {
            return Some(format!(
                "protocol version mismatch: peer speaks {}, this node speaks {}",
                hello.protocol, self.me.protocol
            ));
        }
        if hello.hash_version != self.me.hash_version {
            return Some(format!(
                "placement hash version mismatch: peer uses {}, this node uses {}",
                hello.hash_version, self.me.hash_version
            ));
        }
        if hello.node == self.me.node {
            return Some("peer claims this node's own name".to_string());
        }
        if self.removed.contains(&hello.node) {
            return Some(
                "removed from the cluster (del_node): add it back with add_node".to_string(),
            );
        }
        None
    }

    /// Something (a heartbeat or any frame) arrived from `node` claiming `incarnation`.
    pub fn handle_heartbeat(
        &mut self,
        node: &NodeName,
        incarnation: Incarnation,
        now: Millis,
    ) -> HeartbeatOutcome {
        match self.up.get_mut(node) {
            Some(m) if m.incarnation == incarnation => {
                m.last_heard = now;
                HeartbeatOutcome::Accepted
            }
            _ => HeartbeatOutcome::NeedHello,
        }
    }

    /// The last connection to `node` closed. Returns true when the view changed.
    pub fn handle_disconnected(&mut self, node: &NodeName) -> bool {
        self.mark_down(node, DownReason::Disconnected)
    }

    /// `node` spoke as `incarnation`, another than the one up: the one up was replaced (it
    /// restarted; what it hosted is gone). Returns true when the view changed.
    pub fn handle_replaced(&mut self, node: &NodeName, incarnation: Incarnation) -> bool {
        match self.up.get(node) {
            Some(m) if m.incarnation != incarnation => self.mark_down(node, DownReason::Replaced),
            _ => false,
        }
    }

    /// `node` announced that it leaves. Returns true when the view changed.
    pub fn handle_left(&mut self, node: &NodeName, incarnation: Incarnation) -> bool {
        // A name that leaves again (another incarnation) becomes the newest departure; a
        // repeated announcement of the same one changes nothing.
        match self.left.insert(node.clone(), incarnation) {
            Some(before) if before == incarnation => {}
            before => {
                if before.is_some() {
                    self.left_order.retain(|n| n != node);
                }
                self.left_order.push_back(node.clone());
                if self.left_order.len() > MAX_GONE {
                    if let Some(old) = self.left_order.pop_front() {
                        self.left.remove(&old);
                    }
                }
            }
        }
        match self.up.get(node) {
            Some(m) if m.incarnation == incarnation => self.mark_down(node, DownReason::Left),
            _ => false,
        }
    }

    /// Checks deadlines; peers silent for longer than the deadline go down and must be
    /// disconnected. Returns true when the view changed.
    pub fn handle_tick(&mut self, now: Millis) -> bool {
        let late: Vec<NodeName> = self
            .up
            .iter()
            .filter(|(_, m)| now.since(m.last_heard) > self.deadline_ms)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &late {
            self.mark_down(node, DownReason::HeartbeatTimeout);
            self.commands
                .push_back(MembershipCommand::Disconnect(node.clone()));
        }
        !late.is_empty()
    }

    /// This node was paused (a stopped process, a long stall) and just resumed at `now`:
    /// the silence of its peers during the pause is its own, so their deadlines restart
    /// instead of expiring. The epoch moves on (routes cached under the old one must be
    /// looked up again). Returns the new epoch.
    pub fn handle_resumed(&mut self, now: Millis) -> Epoch {
        for m in self.up.values_mut() {
            m.last_heard = now;
        }
        self.epoch.0 += 1;
        self.epoch
    }

    /// The next membership event, if any.
    pub fn poll_event(&mut self) -> Option<MembershipEvent> {
        self.events.pop_front()
    }

    /// The next command for the transport, if any.
    pub fn poll_command(&mut self) -> Option<MembershipCommand> {
        self.commands.pop_front()
    }

    fn mark_up(&mut self, hello: Hello, now: Millis) {
        self.epoch.0 += 1;
        self.events.push_back(MembershipEvent::Up {
            node: hello.node.clone(),
            incarnation: hello.incarnation,
            epoch: self.epoch,
        });
        self.up.insert(
            hello.node,
            MemberInfo {
                incarnation: hello.incarnation,
                addr: hello.addr,
                weight: hello.weight,
                last_heard: now,
            },
        );
    }

    fn mark_down(&mut self, node: &NodeName, reason: DownReason) -> bool {
        let Some(m) = self.up.remove(node) else {
            return false;
        };
        if self.gone.insert((node.clone(), m.incarnation)) {
            self.gone_order.push_back((node.clone(), m.incarnation));
            if self.gone_order.len() > MAX_GONE {
                if let Some(old) = self.gone_order.pop_front() {
                    self.gone.remove(&old);
                }
            }
        }
        self.epoch.0 += 1;
        self.events.push_back(MembershipEvent::Down {
            node: node.clone(),
            incarnation: m.incarnation,
            reason,
            epoch: self.epoch,
        });
        true
    }
}

#[cfg(test)]
mod tests;

//! The in-memory transport: many nodes in one process, for tests of the node layer.
//!
//! Each node's supervisor is reached through a relay actor per directed link, so that
//! cutting a link (or crashing a node) makes every handle to the other side fail exactly as
//! a closed ractor_cluster session does, including the routes that `DistRef`s cached.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{BoxFuture, Sessions, Transport};
use crate::core::{wire, NodeName};
use crate::node::supervisor::SupervisorMsg;
use crate::{DistConfig, DistError, DistNode, Kinds};

/// Nodes of one test process, linked in memory (see the module docs).
///
/// Start nodes with [`MemoryNetwork::start`]; their `seeds` and `host:port` are only names
/// here (nothing listens). Cut and heal links with [`MemoryNetwork::cut`] and
/// [`MemoryNetwork::heal`], and crash a node (no goodbye, no handoff) with
/// [`MemoryNetwork::crash`].
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use ractor_dist::{transport::MemoryNetwork, DistConfig, Kinds};
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> anyhow::Result<()> {
/// let net = MemoryNetwork::new();
/// let a = net.start(DistConfig::new("a", 1), Kinds::new()).await?;
/// let b = net
///     .start(DistConfig { seeds: vec!["127.0.0.1:1".into()], ..DistConfig::new("b", 2) }, Kinds::new())
///     .await?;
/// b.wait_for_members(2, Duration::from_secs(5)).await?;
/// net.cut(a.name(), b.name());
/// a.wait_for_members(1, Duration::from_secs(5)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    net: Arc<Mutex<Net>>,
    /// How long a session-token confirmation takes to arrive, in milliseconds (read by
    /// every relay for every message, so kept out of the lock).
    confirm_delay_ms: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let net = self.lock();
        f.debug_struct("MemoryNetwork")
            .field("nodes", &net.nodes.keys().collect::<Vec<_>>())
            .field("links", &net.links.keys().collect::<Vec<_>>())
            .field("cut", &net.cut)
            .finish()
    }
}

#[derive(Default)]
struct Net {
    /// Node names by the address they advertise.
    by_addr: BTreeMap<String, NodeName>,
    nodes: BTreeMap<NodeName, Endpoint>,
    /// Open links (the pair sorted), with the relay of each direction.
    links: BTreeMap<(NodeName, NodeName), Link>,
    /// Pairs that cannot link (the pair sorted).
    cut: BTreeSet<(NodeName, NodeName)>,
}

struct Endpoint {
    addr: String,
    supervisor: Option<ActorRef<SupervisorMsg>>,
}

struct Link {
    /// The relay that delivers to each end, by the end it delivers to.
    relays: HashMap<NodeName, ActorRef<SupervisorMsg>>,
}

fn pair(a: &NodeName, b: &NodeName) -> (NodeName, NodeName) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

impl Net {
    fn notify(&self, nodes: &[&NodeName]) {
        for node in nodes {
            if let Some(sup) = self.nodes.get(*node).and_then(|e| e.supervisor.as_ref()) {
                let _ = sup.cast(SupervisorMsg::SessionEvent);
            }
        }
    }

    fn close(&mut self, key: &(NodeName, NodeName)) {
        if let Some(link) = self.links.remove(key) {
            for relay in link.relays.values() {
                relay.stop(None);
            }
            self.notify(&[&key.0, &key.1]);
        }
    }
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a node on this network (see [`DistNode::start`]); it dials its `seeds` here.
    ///
    /// # Errors
    ///
    /// [`DistError::Config`] for an invalid configuration, [`DistError::Start`] when a node
    /// of the same name or address is already on this network.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped midway, the name may stay taken on this network.
    pub async fn start(&self, config: DistConfig, kinds: Kinds) -> Result<DistNode, DistError> {
        let me = NodeName::new(config.node_name());
        {
            let mut net = self.lock();
            if net.nodes.contains_key(&me) || net.by_addr.contains_key(&config.addr()) {
                return Err(DistError::Start(format!(
                    "{me} (or its address {}) is already on this network",
                    config.addr()
                )));
            }
            net.by_addr.insert(config.addr(), me.clone());
            net.nodes.insert(
                me.clone(),
                Endpoint {
                    addr: config.addr(),
                    supervisor: None,
                },
            );
        }
        let transport = MemoryTransport {
            net: self.clone(),
            me: me.clone(),
        };
        let started =
            DistNode::start_with(config, kinds, Arc::new(transport), None, Arc::default()).await;
        if started.is_err() {
            self.remove(&me);
        }
        started
    }

    /// Cuts the link between `a` and `b` (both see the other disconnect) and keeps it cut
    /// until [`MemoryNetwork::heal`].
    pub fn cut(&self, a: &NodeName, b: &NodeName) {
        let mut net = self.lock();
        let key = pair(a, b);
        net.cut.insert(key.clone());
        net.close(&key);
    }

    /// Allows `a` and `b` to link again (they redial each other by themselves).
    pub fn heal(&self, a: &NodeName, b: &NodeName) {
        self.lock().cut.remove(&pair(a, b));
    }

    /// Replaces the session between `a` and `b` by a new one at once, as ractor_cluster's
    /// election between two simultaneous dials does: what was sent over the old session
    /// before still arrives, sends over it afterwards fail (as to a closed session's
    /// proxy), and both ends then see the peer over the new one. Returns false when `a`
    /// and `b` are not linked.
    pub async fn replace_session(&self, a: &NodeName, b: &NodeName) -> bool {
        let key = pair(a, b);
        let targets: Vec<(NodeName, ActorRef<SupervisorMsg>)> = {
            let net = self.lock();
            if !net.links.contains_key(&key) {
                return false;
            }
            [a, b]
                .into_iter()
                .filter_map(|end| {
                    let sup = net.nodes.get(end)?.supervisor.clone()?;
                    Some((end.clone(), sup))
                })
                .collect()
        };
        let Some(relays) = spawn_relays(self, &key, targets).await else {
            return false;
        };
        let mut net = self.lock();
        let Some(link) = net.links.get_mut(&key) else {
            for relay in relays.values() {
                relay.stop(None);
            }
            return false;
        };
        let old = std::mem::replace(&mut link.relays, relays);
        for relay in old.values() {
            let _ = relay.drain();
        }
        net.notify(&[a, b]);
        true
    }

    /// Delays every session-token confirmation by `delay` from now on: the window in which
    /// a node has a session with a member (just met, or over a replaced session) but has
    /// not confirmed its token yet, and so does not send to it, is that much longer (a slow
    /// link; on real networks it lasts a round trip). A delayed confirmation may arrive
    /// after messages sent later on its link, and even after the link closed (an answer the
    /// asker no longer waits for, or one it refuses as for an older session).
    pub fn delay_confirmations(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.confirm_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Suspends `node` for `by`, as a system suspend looks from inside it: its clock jumps
    /// by `by` at once, as if nothing of it had run meanwhile (the node's clock counts
    /// suspends: `CLOCK_BOOTTIME`). Its peers notice nothing (no time passed for them), so
    /// what the node itself must do after a suspend, such as raising its pause fence
    /// before any hosted actor handles a message, is tested without waiting.
    pub fn suspend(&self, node: &DistNode, by: Duration) {
        node.shared.clock.advance(by);
    }

    /// Crashes `node`: its links close and its supervisor and actors die at once, with no
    /// goodbye and no handoff (as `kill -9` would).
    pub fn crash(&self, node: &DistNode) {
        if let Some(sup) = self.remove(node.name()) {
            sup.stop_children(Some("crashed".to_string()));
            sup.kill();
        }
    }

    /// Removes `node` and closes its links; returns its supervisor.
    fn remove(&self, node: &NodeName) -> Option<ActorRef<SupervisorMsg>> {
        let mut net = self.lock();
        let keys: Vec<(NodeName, NodeName)> = net
            .links
            .keys()
            .filter(|(a, b)| a == node || b == node)
            .cloned()
            .collect();
        for key in keys {
            net.close(&key);
        }
        let endpoint = net.nodes.remove(node)?;
        net.by_addr.remove(&endpoint.addr);
        endpoint.supervisor
    }
}

/// One node's view of a [`MemoryNetwork`].
struct MemoryTransport {
    net: MemoryNetwork,
    me: NodeName,
}

impl Transport for MemoryTransport {
    fn attach(&self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), String> {
        let mut net = self.net.lock();
        let endpoint = net
            .nodes
            .get_mut(&self.me)
            .ok_or_else(|| format!("{} is not on this network", self.me))?;
        endpoint.supervisor = Some(supervisor.clone());
        Ok(())
    }

    fn sessions(&self) -> BoxFuture<'_, Result<Sessions, String>> {
        let mut out = Sessions::default();
        {
            let net = self.net.lock();
            for ((a, b), link) in &net.links {
                let peer = match (a == &self.me, b == &self.me) {
                    (true, _) => b,
                    (_, true) => a,
                    _ => continue,
                };
                let (Some(endpoint), Some(relay)) = (net.nodes.get(peer), link.relays.get(peer))
                else {
                    continue;
                };
                out.connected.push((peer.clone(), endpoint.addr.clone()));
                out.supervisors.insert(peer.clone(), relay.clone());
            }
        }
        Box::pin(async move { Ok(out) })
    }

    fn dial(&self, addr: String, _timeout: Duration) {
        let net = self.net.clone();
        let me = self.me.clone();
        tokio::spawn(async move {
            let (peer, targets) = {
                let n = net.lock();
                let Some(peer) = n.by_addr.get(&addr).cloned() else {
                    return;
                };
                let key = pair(&me, &peer);
                if peer == me || n.cut.contains(&key) || n.links.contains_key(&key) {
                    return;
                }
                let sup = |x: &NodeName| n.nodes.get(x).and_then(|e| e.supervisor.clone());
                let (Some(to_peer), Some(to_me)) = (sup(&peer), sup(&me)) else {
                    return;
                };
                (peer, [(peer_of(&key, &me), to_peer), (me.clone(), to_me)])
            };
            let key = pair(&me, &peer);
            let ids: Vec<_> = targets
                .iter()
                .map(|(end, t)| (end.clone(), t.get_id()))
                .collect();
            let Some(relays) = spawn_relays(&net, &key, targets).await else {
                return;
            };
            let mut n = net.lock();
            // Both ends still run the supervisors the relays deliver to (not a restarted
            // node of the same name).
            let alive = ids.iter().all(|(end, id)| {
                n.nodes
                    .get(end)
                    .and_then(|e| e.supervisor.as_ref())
                    .is_some_and(|s| s.get_id() == *id)
            });
            if !alive || n.cut.contains(&key) || n.links.contains_key(&key) {
                for relay in relays.values() {
                    relay.stop(None);
                }
                return;
            }
            n.links.insert(key, Link { relays });
            n.notify(&[&me, &peer]);
        });
    }

    fn disconnect(&self, node: NodeName) -> BoxFuture<'_, ()> {
        self.net.lock().close(&pair(&self.me, &node));
        Box::pin(async {})
    }

    fn stop(&self) {
        self.net.remove(&self.me);
    }
}

/// One relay per end of the link `key`, delivering to that end's supervisor; `None` (and
/// a warning) if one did not start.
async fn spawn_relays(
    net: &MemoryNetwork,
    key: &(NodeName, NodeName),
    targets: impl IntoIterator<Item = (NodeName, ActorRef<SupervisorMsg>)>,
) -> Option<HashMap<NodeName, ActorRef<SupervisorMsg>>> {
    let mut relays = HashMap::new();
    for (end, target) in targets {
        let args = (target, net.clone(), key.clone());
        match Actor::spawn(None, Relay, args).await {
            Ok((relay, _)) => {
                relays.insert(end, relay);
            }
            Err(e) => {
                tracing::warn!(error = %e, "in-memory relay did not start");
                for relay in relays.values() {
                    relay.stop(None);
                }
                return None;
            }
        }
    }
    Some(relays)
}

fn peer_of(key: &(NodeName, NodeName), me: &NodeName) -> NodeName {
    if key.0 == *me {
        key.1.clone()
    } else {
        key.0.clone()
    }
}

/// Delivers everything it receives to one node's supervisor, in order, until its link
/// closes (then sends to it fail, as to a closed session's proxy). When the supervisor is
/// gone, the relay closes its link, so both ends see the session end.
struct Relay;

impl Actor for Relay {
    type Msg = SupervisorMsg;
    type State = (ActorRef<SupervisorMsg>, MemoryNetwork, (NodeName, NodeName));
    type Arguments = Self::State;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: Self::State,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        (target, net, key): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let delay = Duration::from_millis(net.confirm_delay_ms.load(Ordering::Relaxed));
        if !delay.is_zero() && is_confirmation(&message) {
            let target = target.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = target.send_message(message);
            });
            return Ok(());
        }
        if target.send_message(message).is_err() {
            // Stops this relay too.
            net.lock().close(key);
        }
        Ok(())
    }
}

/// A session-token confirmation asked of a peer's supervisor.
fn is_confirmation(message: &SupervisorMsg) -> bool {
    let SupervisorMsg::Request(bytes, _, _) = message else {
        return false;
    };
    matches!(
        wire::decode::<wire::Req>(bytes, u64::MAX),
        Ok(wire::Req {
            body: wire::Request::Confirm { .. },
            ..
        })
    )
}

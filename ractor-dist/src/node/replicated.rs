//! Cluster-wide replicated values on a node: the [`Replicated`] handle, change
//! subscriptions, and the executor of the core machine ([`crate::core::replicated`]).
//!
//! The machine sits behind one lock (`Hub`): a local update, a message from a peer and a
//! gossip tick each take it, feed the machine, and carry out what it asks (frames to
//! peers, change notifications) before releasing it, so changes are told in the order they
//! happened. The supervisor only hands over `FrameBody::Replica` frames; the ticks and the
//! peer set come from a task of the node (`spawn_gossip`).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use crate::core::error::DistError;
use crate::core::replicated::{
    persist, Change, Crdt, ReplicaCommand, ReplicaConfig, ReplicaError, ReplicaId, ReplicaMsg,
    ReplicaStats, Replicas,
};
use crate::core::wire::{self, Frame, FrameBody};
use crate::core::{MembershipEvent, Millis, NodeName};
use crate::node::shared::NodeShared;

thread_local! {
    /// Set while an `update` closure runs on this thread.
    static IN_UPDATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A subscriber of one value: told every change, `false` once it is gone.
type Subscriber = Box<dyn FnMut(&Change) -> bool + Send>;

/// The node's replication machine and the subscribers of its values.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
    started: Instant,
    /// Where values are kept on disk (`<data_dir>/replicated`), if anywhere.
    dir: Option<PathBuf>,
}

struct Inner {
    machine: Replicas,
    subscribers: HashMap<String, Vec<Subscriber>>,
    dir: Option<PathBuf>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(config: ReplicaConfig, dir: Option<PathBuf>) -> Self {
        Hub {
            inner: Mutex::new(Inner {
                machine: Replicas::new(config),
                subscribers: HashMap::new(),
                dir: dir.clone(),
            }),
            started: Instant::now(),
            dir,
        }
    }

    /// The file of value `name` on disk, if values are kept and it exists.
    fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(persist::file_name(name));
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReplicaError::Persisted {
                name: name.to_string(),
                reason: format!("{}: {e}", path.display()),
            }),
        }
    }

    /// Writes the files of the values changed since they were last written (at shutdown).
    pub(crate) fn flush(&self, shared: &NodeShared) {
        let mut inner = self.lock();
        inner.machine.persist_dirty();
        inner.run(shared);
    }

    fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock is not reentrant: a handle used inside an `update` closure would wait for
        // itself forever. Say so instead.
        assert!(
            !IN_UPDATE.get(),
            "a Replicated handle was used inside an `update` closure of the same thread"
        );
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A message from a peer (from the supervisor's frame handler).
    pub(crate) fn handle_msg(&self, shared: &NodeShared, from: &NodeName, msg: ReplicaMsg) {
        // Only live members' values are merged (a removed or refused node's are not).
        if !shared.view_guard().placement().members().contains(from) {
            return;
        }
        let mut inner = self.lock();
        inner.machine.handle_msg(from, msg, self.now());
        inner.run(shared);
    }

    /// The gossip timer, with the live members now (a removed or refused node gets no
    /// values).
    fn tick(&self, shared: &NodeShared) {
        let peers: Vec<NodeName> = shared.view_guard().placement().members().to_vec();
        let mut inner = self.lock();
        inner.machine.handle_peers(peers);
        inner.machine.handle_tick(self.now());
        inner.run(shared);
    }

    pub(crate) fn stats(&self) -> ReplicaStats {
        self.lock().machine.stats().clone()
    }

    /// Forgets every subscriber (the node stopped): their tasks end.
    fn close(&self) {
        self.lock().subscribers.clear();
    }
}

impl Inner {
    /// Carries out what the machine asks, in order.
    fn run(&mut self, shared: &NodeShared) {
        while let Some(command) = self.machine.poll_command() {
            match command {
                ReplicaCommand::Send { to, msg } => send(shared, &to, msg),
                ReplicaCommand::Changed { name, change } => {
                    if let Some(subs) = self.subscribers.get_mut(&name) {
                        subs.retain_mut(|tell| tell(&change));
                    }
                }
                ReplicaCommand::Persist { name, file } => {
                    if let Some(dir) = &self.dir {
                        if let Err(e) = write_atomically(dir, &persist::file_name(&name), &file) {
                            tracing::warn!(value = %name, dir = %dir.display(), error = %e, "replicated value not written to disk");
                        }
                    }
                }
                ReplicaCommand::Refused { from, error } => {
                    let n = self.machine.stats().refused;
                    if crate::core::status::worth_logging(n) {
                        tracing::warn!(peer = %from, %error, count = n, "replicated value refused");
                    }
                }
            }
        }
    }
}

/// Writes `bytes` to `dir/name` so that the file holds either its old or its new bytes,
/// whatever happens (a temporary file, synced, then renamed over it).
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    // the rename itself is durable once the directory is synced
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn send(shared: &NodeShared, to: &NodeName, msg: ReplicaMsg) {
    let view = shared.view_guard();
    let Some(peer) = view.supervisors.get(to) else {
        return;
    };
    let frame = Frame {
        from: shared.me.clone(),
        incarnation: shared.incarnation,
        body: FrameBody::Replica(msg),
    };
    let _ = peer.frame(wire::encode(&frame));
}

/// Runs the gossip timer of a node until its supervisor stops: ticks every
/// `min(gossip_interval, heartbeat_interval)` and on every membership event (so that a new
/// peer is digested at once).
pub(crate) fn spawn_gossip(
    shared: Arc<NodeShared>,
    mut events: broadcast::Receiver<MembershipEvent>,
) {
    let period = shared
        .config
        .gossip_interval
        .min(shared.config.heartbeat_interval)
        .max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = timer.tick() => {}
                event = events.recv() => {
                    if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                        break;
                    }
                }
            }
            let stopped = shared.supervisor.get().is_some_and(|s| {
                matches!(
                    s.get_status(),
                    ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
                )
            });
            if stopped {
                break;
            }
            shared.replicas.tick(&shared);
        }
        shared.replicas.flush(&shared);
        shared.replicas.close();
    });
}

/// A change of a replicated value: its state before and after.
#[derive(Debug)]
pub struct ValueChange<T> {
    /// Before the change.
    pub old: Arc<T>,
    /// After it.
    pub new: Arc<T>,
}

/// The changes of one replicated value, in the order this node saw them (from
/// [`Replicated::subscribe`]). Unbounded: a subscriber that stops reading should be dropped.
#[derive(Debug)]
pub struct Changes<T> {
    rx: mpsc::UnboundedReceiver<ValueChange<T>>,
}

impl<T> Changes<T> {
    /// The next change; `None` once the node stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a change not returned stays for the next call.
    pub async fn recv(&mut self) -> Option<ValueChange<T>> {
        self.rx.recv().await
    }

    /// The next change if one is waiting.
    pub fn try_recv(&mut self) -> Option<ValueChange<T>> {
        self.rx.try_recv().ok()
    }
}

/// A callback told of every effective change of a replicated value (GenServerring's
/// `handle_state_change`). Closures `FnMut(&T, &T)` are one.
pub trait OnStateChange<T>: Send + 'static {
    /// The value went from `old` to `new` on this node (never called when a merge changed
    /// nothing).
    fn on_state_change(&mut self, old: &T, new: &T);
}

impl<T, F: FnMut(&T, &T) + Send + 'static> OnStateChange<T> for F {
    fn on_state_change(&mut self, old: &T, new: &T) {
        self(old, new)
    }
}

/// A handle to a cluster-wide replicated value `T` named `name` (from
/// [`crate::DistNode::replicated`]): reads are local, updates are applied here at once and
/// spread to every node (see [`crate::core::replicated`] for how and what is guaranteed).
///
/// ```
/// # use ractor_dist::{Counter, DistConfig, DistNode, Kinds};
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> anyhow::Result<()> {
/// # let node = DistNode::start(DistConfig::new("r", 47_151), Kinds::new()).await?;
/// let visits = node.replicated::<Counter>("visits")?;
/// visits.update(|c, me| c.inc_many(me.clone(), 3))?;
/// assert_eq!(visits.get().read(), 3.into());
/// # node.shutdown().await?;
/// # Ok(())
/// # }
/// ```
pub struct Replicated<T> {
    name: Arc<str>,
    shared: Arc<NodeShared>,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Replicated<T> {
    fn clone(&self) -> Self {
        Replicated {
            name: self.name.clone(),
            shared: self.shared.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Replicated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replicated")
            .field("name", &self.name)
            .field("node", &self.shared.me)
            .finish()
    }
}

impl<T: Crdt> Replicated<T> {
    pub(crate) fn register(shared: Arc<NodeShared>, name: &str) -> Result<Self, DistError> {
        if name == crate::core::known::KNOWN_NODES {
            return Err(DistError::Replica(ReplicaError::TypeMismatch {
                name: name.to_string(),
                ours: "the known node set (a name reserved by ractor-dist)".to_string(),
                theirs: T::type_tag(),
            }));
        }
        {
            let file = shared.replicas.read_file(name)?;
            let mut inner = shared.replicas.lock();
            inner.machine.register_from::<T>(name, file.as_deref())?;
            inner.run(&shared);
        }
        Ok(Replicated {
            name: name.into(),
            shared,
            _value: PhantomData,
        })
    }

    /// The value's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This node's value (no network; it may not contain the latest updates of other
    /// nodes yet).
    pub fn get(&self) -> Arc<T> {
        let mut inner = self.shared.replicas.lock();
        // Registered as a `T` when this handle was made, and names are never dropped.
        inner
            .machine
            .value::<T>(&self.name)
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// Updates the value: `f` makes a delta (a `crdts` op, say) from the current value and
    /// this node's [`ReplicaId`]; it is applied here at once and sent to every node.
    /// Returns whether the value changed.
    ///
    /// `f` runs while the node's replicated values are locked: it must not use a
    /// `Replicated` handle (it panics if it does).
    ///
    /// # Errors
    ///
    /// [`DistError::Replica`] when the delta does not serialize (nothing changed).
    pub fn update(&self, f: impl FnOnce(&T, &ReplicaId) -> T::Delta) -> Result<bool, DistError> {
        let mut inner = self.shared.replicas.lock();
        /// Clears the flag however `f` ends (a panic included).
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_UPDATE.set(false);
            }
        }
        let changed = {
            IN_UPDATE.set(true);
            let _reset = Reset;
            inner.machine.handle_update::<T>(&self.name, f)
        }?;
        inner.run(&self.shared);
        Ok(changed)
    }

    /// Every later change of the value on this node, in order, once each.
    pub fn subscribe(&self) -> Changes<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        let tell: Subscriber = Box::new(move |change: &Change| {
            let old = change.old.clone().downcast::<T>();
            let new = change.new.clone().downcast::<T>();
            match (old, new) {
                (Ok(old), Ok(new)) => tx.send(ValueChange { old, new }).is_ok(),
                _ => false,
            }
        });
        let mut inner = self.shared.replicas.lock();
        inner
            .subscribers
            .entry(self.name.to_string())
            .or_default()
            .push(tell);
        Changes { rx }
    }

    /// Calls `handler` with every later change of the value on this node, in order, on a
    /// task of its own (until the node stops).
    pub fn on_state_change(&self, mut handler: impl OnStateChange<T>)
    where
        T: Send + Sync,
    {
        let mut changes = self.subscribe();
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                handler.on_state_change(&change.old, &change.new);
            }
        });
    }
}

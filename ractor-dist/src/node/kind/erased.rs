//! Kinds with their types erased: what the supervisor calls to start, deliver to, snapshot
//! and resolve the actors of a kind it knows only by name.

use std::any::{Any, TypeId};
use std::sync::Arc;

use ractor::message::SerializedMessage;
use ractor::{ActorCell, Message};

use super::*;
use crate::core::snapshot::decode_args;
use crate::core::snapshot::Snapshot;
use crate::core::wire::RemoteError;
use crate::core::{ActorKey, ConflictPolicy, HandoffMode, Resolution};
use crate::node::shared::NodeShared;

/// A kind with its types erased, as the supervisor needs it.
pub(crate) trait ErasedKind: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn msg_type(&self) -> TypeId;
    fn mode(&self) -> HandoffMode;
    fn checkpoints(&self) -> bool;
    /// Replaces its checkpoint policy on this node (its actors follow from their next
    /// message).
    fn set_checkpoints(&self, policy: Checkpoints);
    fn conflict_policy(&self) -> ConflictPolicy;
    /// Its names start on their first message (it has a factory).
    fn on_demand(&self) -> bool;
    /// Its idle timeout on this node in ms ([`DistActor::IDLE_TIMEOUT`] unless set).
    fn idle_timeout_ms(&self) -> Option<u64>;
    /// Replaces its idle timeout on this node (`None`: never).
    fn set_idle_timeout_ms(&self, ms: Option<u64>);
    /// The same kind with its own copy of the settings a node may change (checkpoint
    /// policy, idle timeout), so that a change on one node's copy leaves the others'.
    fn fork(&self) -> Arc<dyn ErasedKind>;
    /// The encoded arguments the factory gives the actor `id` (`KIND/id`).
    fn activation_args(&self, id: &str) -> Result<Vec<u8>, RemoteError>;
    /// What the protocol engine needs to know of the kind.
    fn info(&self) -> crate::core::KindInfo {
        crate::core::KindInfo {
            mode: self.mode(),
            checkpoints: self.checkpoints(),
            conflict: self.conflict_policy(),
            on_demand: self.on_demand(),
            idle_timeout_ms: self.idle_timeout_ms(),
        }
    }
    /// Asks the actor on `cell` to take or merge another copy's state.
    fn resolve(
        &self,
        cell: &ActorCell,
        resolution: Resolution,
        other: Snapshot,
    ) -> Result<(), RemoteError>;
    /// Decodes `args` and starts the actor linked to `supervisor`, from `snapshot` if given
    /// (falling back to `args` when it does not restore). Returns its cell at once, before
    /// its `pre_start`/`restore` ran (messages sent to it wait in its mailbox), and what
    /// that start came to, to await elsewhere than on the supervisor's task.
    fn start(
        &self,
        key: ActorKey,
        args: &[u8],
        snapshot: Option<Snapshot>,
        shared: Arc<NodeShared>,
        supervisor: ActorCell,
    ) -> Result<(ActorCell, BoxFuture<Result<(), String>>), RemoteError>;
    /// The snapshot of a stopped actor's final state (`None` when the kind restarts from
    /// its arguments, or cannot snapshot while `Stay`).
    fn snapshot(
        &self,
        state: ractor::actor::messages::BoxedState,
    ) -> Result<Option<Snapshot>, String>;
    /// Enqueues a typed message (boxed by a local `DistRef`) on `cell`.
    fn deliver_any(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: Box<dyn Any + Send>,
    ) -> Result<(), RemoteError>;
    /// Decodes a serialized message for this kind (the [`crate::DistRef`]s in it bound to
    /// `node`) and enqueues it on `cell`.
    fn deliver(
        &self,
        node: &Arc<NodeShared>,
        key: &ActorKey,
        cell: &ActorCell,
        msg: SerializedMessage,
    ) -> Result<(), RemoteError>;
}

/// Builds the arguments of an on-demand kind's actor from its id.
pub(super) type Factory<T> = Arc<dyn Fn(&str) -> T + Send + Sync>;

/// A kind, with its factory when its names start on their first message, its checkpoint
/// policy and its idle timeout on this node.
pub(super) struct KindImpl<A: DistActor>(
    pub(super) Arc<A>,
    pub(super) Option<Factory<A::Arguments>>,
    pub(super) Arc<Policy>,
    pub(super) IdleTimeout,
);

/// An idle timeout in ms that can change while actors run ([`IdleTimeout::NEVER`]: none).
#[derive(Debug)]
pub(super) struct IdleTimeout(std::sync::atomic::AtomicU64);

impl IdleTimeout {
    const NEVER: u64 = u64::MAX;

    pub(super) fn new(timeout: Option<std::time::Duration>) -> Self {
        Self(std::sync::atomic::AtomicU64::new(Self::encode(
            timeout.map(millis),
        )))
    }

    fn encode(ms: Option<u64>) -> u64 {
        ms.map_or(Self::NEVER, |ms| ms.clamp(1, Self::NEVER - 1))
    }

    fn get(&self) -> Option<u64> {
        let ms = self.0.load(std::sync::atomic::Ordering::Relaxed);
        (ms != Self::NEVER).then_some(ms)
    }

    fn set(&self, ms: Option<u64>) {
        self.0
            .store(Self::encode(ms), std::sync::atomic::Ordering::Relaxed);
    }
}

/// `d` in whole ms, saturating.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<A: DistActor> ErasedKind for KindImpl<A> {
    fn name(&self) -> &'static str {
        A::KIND
    }

    fn msg_type(&self) -> TypeId {
        TypeId::of::<A::Msg>()
    }

    fn mode(&self) -> HandoffMode {
        A::HANDOFF
    }

    fn checkpoints(&self) -> bool {
        !self.2.get().is_off()
    }

    fn set_checkpoints(&self, policy: Checkpoints) {
        self.2.set(policy);
    }

    fn conflict_policy(&self) -> ConflictPolicy {
        A::ON_CONFLICT
    }

    fn on_demand(&self) -> bool {
        self.1.is_some()
    }

    fn idle_timeout_ms(&self) -> Option<u64> {
        self.3.get()
    }

    fn set_idle_timeout_ms(&self, ms: Option<u64>) {
        self.3.set(ms);
    }

    fn fork(&self) -> Arc<dyn ErasedKind> {
        let idle = IdleTimeout::new(None);
        idle.set(self.3.get());
        Arc::new(KindImpl(
            self.0.clone(),
            self.1.clone(),
            Policy::new(self.2.get()),
            idle,
        ))
    }

    fn activation_args(&self, id: &str) -> Result<Vec<u8>, RemoteError> {
        let factory = self
            .1
            .as_ref()
            .ok_or_else(|| RemoteError::UnknownKind(A::KIND.to_string()))?;
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory(id)));
        let args = made.map_err(|_| RemoteError::BadArguments {
            kind: A::KIND.to_string(),
            reason: "the factory panicked".to_string(),
        })?;
        encode_args(&args).map_err(|reason| RemoteError::BadArguments {
            kind: A::KIND.to_string(),
            reason,
        })
    }

    fn resolve(
        &self,
        cell: &ActorCell,
        resolution: Resolution,
        other: Snapshot,
    ) -> Result<(), RemoteError> {
        cell.send_message(Local::<A::Msg>::Control(Control::Resolve {
            resolution,
            other,
        }))
        .map_err(|_| RemoteError::Unavailable("the actor stopped".to_string()))
    }

    fn snapshot(
        &self,
        state: ractor::actor::messages::BoxedState,
    ) -> Result<Option<Snapshot>, String> {
        if !A::HANDOFF.carries_state() {
            return Ok(None);
        }
        let mut state = state;
        let state = state
            .take::<A::State>()
            .map_err(|_| "the final state has an unexpected type".to_string())?;
        match self.0.snapshot(&state) {
            Ok(bytes) => Ok(Some(Snapshot::new(A::STATE_VERSION, bytes))),
            Err(e) if A::HANDOFF.moves_without_state() => {
                tracing::debug!(kind = A::KIND, error = %e, "no snapshot; the actor restarts on its new node");
                Ok(None)
            }
            Err(e) => Err(format!("snapshot failed: {e}")),
        }
    }

    fn deliver_any(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: Box<dyn Any + Send>,
    ) -> Result<(), RemoteError> {
        let msg = msg
            .downcast::<A::Msg>()
            .map_err(|_| RemoteError::BadMessage {
                key: key.clone(),
                reason: "the message has another type".to_string(),
            })?;
        cell.send_message(Local::Msg(*msg))
            .map_err(|_| RemoteError::NotFound(key.clone()))
    }

    fn start(
        &self,
        key: ActorKey,
        args: &[u8],
        snapshot: Option<Snapshot>,
        shared: Arc<NodeShared>,
        supervisor: ActorCell,
    ) -> Result<(ActorCell, BoxFuture<Result<(), String>>), RemoteError> {
        let raw_args = args.to_vec();
        let args =
            decode_args::<A::Arguments>(args, shared.config.max_frame_bytes).map_err(|reason| {
                RemoteError::BadArguments {
                    kind: A::KIND.to_string(),
                    reason,
                }
            })?;
        // Every actor of an on-demand kind has its activity tracked: its kind's idle
        // timeout may be set while it runs.
        let passivates = self.1.is_some();
        let hosted = Hosted::new(
            self.0.clone(),
            key.clone(),
            shared,
            raw_args,
            passivates,
            self.2.clone(),
        );
        let start = match snapshot {
            Some(s) => Start::Restore(args, s),
            None => Start::Fresh(args),
        };
        let (actor, started) = ractor::ActorRuntime::spawn_linked_instant(
            None, hosted, start, supervisor,
        )
        .map_err(|e| RemoteError::SpawnFailed {
            key,
            reason: e.to_string(),
        })?;
        let started: BoxFuture<Result<(), String>> = Box::pin(async move {
            match started.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("the start task failed: {e}")),
            }
        });
        Ok((actor.get_cell(), started))
    }

    fn deliver(
        &self,
        node: &Arc<NodeShared>,
        key: &ActorKey,
        cell: &ActorCell,
        msg: SerializedMessage,
    ) -> Result<(), RemoteError> {
        let decoded = crate::node::dist_ref::decoding_for(node, || A::Msg::deserialize(msg));
        let msg = decoded.map_err(|_| RemoteError::BadMessage {
            key: key.clone(),
            reason: format!(
                "the message does not decode as a message of kind {:?} (unknown variant or malformed arguments)",
                A::KIND
            ),
        })?;
        cell.send_message(Local::Msg(msg))
            .map_err(|_| RemoteError::NotFound(key.clone()))
    }
}

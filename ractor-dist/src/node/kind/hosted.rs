//! The ractor actor that runs a [`DistActor`] on its node ([`Hosted`]): the local-only
//! envelope of its messages, the node's control messages, checkpoints, conflict
//! resolution, the tracing span and the stop reason around the user's hooks.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use tracing::Instrument;

use super::{decode_args, Checkpoints, DistActor, Policy, StopReason};
use crate::core::checkpoint::{CheckpointClock, Due};
use crate::core::snapshot::Snapshot;
use crate::core::{ActorKey, Millis, Resolution};
use crate::node::clock::Word;
use crate::node::dist_ref::DistRef;
use crate::node::shared::{Counters, EntryState, NodeShared};
use crate::node::supervisor::SupervisorMsg;

/// What reaches a hosted actor: a user message behind a local-only envelope (not
/// serializable in ractor's eyes, so the hosted actor gets no proxy on peers; the local send
/// path never serializes), or a control message from its node.
pub(crate) enum Local<M> {
    Msg(M),
    Control(Control),
}

/// Control messages a node sends to the actors it hosts.
pub(crate) enum Control {
    /// Another live copy of the name arrived after a partition healed.
    Resolve {
        resolution: Resolution,
        other: Snapshot,
    },
    /// The time bound of [`super::Checkpoints::every`] passed, or a coalesced checkpoint
    /// is due.
    CheckpointDue,
}

impl<M: Message> Message for Local<M> {}

/// The ractor actor that runs a [`DistActor`].
pub(crate) struct Hosted<A: DistActor> {
    actor: Arc<A>,
    key: ActorKey,
    shared: Arc<NodeShared>,
    myself: OnceLock<DistRef<A::Msg>>,
    /// The encoded spawn arguments (a conflict resolution that takes the other copy's
    /// state restores with them).
    args: Vec<u8>,
    /// Its kind's checkpoint policy on this node.
    policy: Arc<Policy>,
    /// What the policy makes due, and the chain of deltas (locked only while a policy is
    /// on, or a `CheckpointDue` arrives).
    clock: Mutex<CheckpointClock>,
    /// Entered around every hook: the user's log lines carry the name, kind and node.
    span: tracing::Span,
    /// When it last handled a message, for an actor that may be passivated.
    last_active: Option<crate::node::passivation::LastActive>,
    /// It handed a message to the supervisor for its move (see `wait_for_word`): every
    /// later one goes the same way, so that none overtakes it.
    handed_over: std::sync::atomic::AtomicBool,
}

impl<A: DistActor> Hosted<A> {
    /// The actor of `key` with its encoded spawn `args`; `passivates`: it may be
    /// passivated (its activity is tracked).
    pub(super) fn new(
        actor: Arc<A>,
        key: ActorKey,
        shared: Arc<NodeShared>,
        args: Vec<u8>,
        passivates: bool,
        policy: Arc<Policy>,
    ) -> Self {
        let span = tracing::info_span!("actor", name = %key, kind = A::KIND, node = %shared.me);
        let last_active = passivates.then(|| shared.passivation.started(&key));
        Hosted {
            actor,
            key,
            shared,
            myself: OnceLock::new(),
            args,
            policy,
            clock: Mutex::new(CheckpointClock::new(now())),
            span,
            last_active,
            handed_over: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<A: DistActor> Drop for Hosted<A> {
    fn drop(&mut self) {
        if let Some(last) = &self.last_active {
            self.shared.passivation.stopped(&self.key, last);
        }
        self.shared.clock.forget(&self.key);
    }
}

impl<A: DistActor> Hosted<A> {
    /// The supervisor has not said recently that the node serves: the process may just
    /// have been stopped or suspended, and its peers may have respawned this name
    /// meanwhile. Waits for its word (given once the pause fence lifts, if the node was
    /// paused) before handling anything; later messages wait in the mailbox, in order.
    /// `None`: the message is not handled here (see `node::clock`): handed to the
    /// supervisor for the move that released this actor, or dropped as the node stops.
    async fn wait_for_word(
        &self,
        myself: &ActorRef<Local<A::Msg>>,
        message: A::Msg,
    ) -> Option<A::Msg> {
        let clock = &self.shared.clock;
        let word = clock
            .word(&self.key, || {
                if clock.nudge() {
                    if let Ok(supervisor) = self.shared.supervisor() {
                        let _ = supervisor.cast(SupervisorMsg::Nudge);
                    }
                }
            })
            .await;
        match word {
            Word::Serve => Some(message),
            Word::Released => {
                self.handed_over.store(true, Ordering::Relaxed);
                self.hand_over(myself, message);
                None
            }
            Word::Closed => None,
        }
    }

    /// Gives `message` to the supervisor, which holds it for this actor's move.
    fn hand_over(&self, myself: &ActorRef<Local<A::Msg>>, message: A::Msg) {
        if let Err(e) = self.me(myself).via_supervisor(message, None) {
            tracing::warn!(name = %self.key, error = %e, "a message for a moving actor was lost");
        }
    }

    fn me(&self, cell: &ActorRef<Local<A::Msg>>) -> DistRef<A::Msg> {
        self.myself
            .get_or_init(|| {
                DistRef::with_local(self.key.clone(), self.shared.clone(), cell.get_cell())
            })
            .clone()
    }

    fn clock(&self) -> MutexGuard<'_, CheckpointClock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a handled message and checkpoints, or asks for a `CheckpointDue`, as the
    /// clock says.
    fn after_message(&self, myself: &ActorRef<Local<A::Msg>>, state: &mut A::State) {
        if self.policy.is_off() {
            // (the clock would answer `Due::No`: no lock, no clock read, not even a load of
            // the policy on the hot path)
            return;
        }
        let policy = self.policy.get();
        let mut clock = self.clock();
        match clock.handle_message(&policy, now()) {
            Due::No => {}
            Due::Now => self.checkpoint(myself, state, &policy, &mut clock),
            Due::Queued => {
                let _ = myself.send_message(Local::Control(Control::CheckpointDue));
            }
            Due::After(after) => {
                myself.send_after(after, || Local::Control(Control::CheckpointDue));
            }
        }
    }

    /// Takes the checkpoint the clock made due, whole or a delta as it allows (see
    /// [`DistActor::checkpoint_delta`]), and hands it to the node's supervisor for the
    /// replicas.
    fn checkpoint(
        &self,
        myself: &ActorRef<Local<A::Msg>>,
        state: &mut A::State,
        policy: &Checkpoints,
        clock: &mut CheckpointClock,
    ) {
        let delta = match self.actor.checkpoint_delta(state) {
            Some(Ok(bytes)) if clock.takes_delta(policy, bytes.len()) => Some(bytes),
            Some(Err(e)) => {
                self.checkpoint_failed("DistActor::checkpoint_delta", &e);
                None
            }
            _ => None,
        };
        let (bytes, is_delta) = match delta {
            Some(bytes) => {
                clock.sent_delta(bytes.len());
                (bytes, true)
            }
            None => match self.actor.snapshot(state) {
                Ok(bytes) => {
                    clock.sent_whole(bytes.len());
                    (bytes, false)
                }
                Err(e) => {
                    clock.whole_failed();
                    return self.checkpoint_failed("DistActor::snapshot", &e);
                }
            },
        };
        if let Ok(supervisor) = self.shared.supervisor() {
            let _ = supervisor.cast(SupervisorMsg::Checkpoint {
                key: self.key.clone(),
                actor: myself.get_id(),
                snapshot: Snapshot::new(A::STATE_VERSION, bytes),
                delta: is_delta,
            });
        }
    }

    fn checkpoint_failed(&self, hook: &str, e: &ActorProcessingErr) {
        let n = Counters::bump(&self.shared.counters.checkpoint_failures);
        if n.is_power_of_two() {
            tracing::warn!(name = %self.key, error = %e, failures = n, "checkpoint failed ({hook})");
        }
    }

    /// Applies the resolution of a conflict with another live copy of the name.
    async fn resolve(
        &self,
        myself: &ActorRef<Local<A::Msg>>,
        resolution: Resolution,
        other: Snapshot,
        state: &mut A::State,
    ) {
        let me = self.me(myself);
        let outcome = match resolution {
            Resolution::KeepLocal => Ok(()),
            Resolution::Merge => match self.whole(&me, other).await {
                Ok(other) => self.actor.merge(me, state, other).await,
                Err(e) => Err(e),
            },
            Resolution::TakeIncoming => match self.whole(&me, other).await {
                Ok(other) => match decode_args::<A::Arguments>(&self.args, usize::MAX) {
                    Ok(args) => self
                        .actor
                        .restore(me, args, other)
                        .await
                        .map(|taken| *state = taken),
                    Err(e) => Err(format!("arguments do not decode: {e}").into()),
                },
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(()) => {
                tracing::info!(name = %self.key, ?resolution, "conflicting copy resolved");
                let policy = self.policy.get();
                let mut clock = self.clock();
                if clock.handle_replaced(&policy, now()) {
                    self.checkpoint(myself, state, &policy, &mut clock);
                }
            }
            Err(e) => {
                Counters::bump(&self.shared.counters.bad_snapshots);
                tracing::error!(name = %self.key, ?resolution, error = %e, "the other copy's state could not be taken or merged; this copy's state is kept");
            }
        }
    }
}

/// How a hosted actor starts: from its arguments, or from a snapshot.
pub(crate) enum Start<T> {
    Fresh(T),
    Restore(T, Snapshot),
}

impl<A: DistActor> Actor for Hosted<A> {
    type Msg = Local<A::Msg>;
    type State = A::State;
    type Arguments = Start<A::Arguments>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Start<A::Arguments>,
    ) -> Result<A::State, ActorProcessingErr> {
        self.start(myself, args).instrument(self.span.clone()).await
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        let me = self.me(&myself);
        self.actor
            .post_start(me, state)
            .instrument(self.span.clone())
            .await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Local<A::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        // (no span to enter when no subscriber wants it: the hot path stays as it was)
        if self.span.is_disabled() {
            return self.handle_local(myself, message, state).await;
        }
        self.handle_local(myself, message, state)
            .instrument(self.span.clone())
            .await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        // The supervisor marks an actor it drains for a move or a passivation before
        // draining it.
        let passivating = self.shared.passivation.is_stopping(&self.key);
        let moving = self.shared.hosted(&self.key).is_some_and(|entry| {
            entry.cell.get_id() == myself.get_id() && entry.state == EntryState::Moving
        });
        let reason = StopReason::of(passivating, moving);
        if reason == StopReason::Passivated {
            let _enter = self.span.enter();
            match self.actor.snapshot(state) {
                Ok(bytes) => self
                    .shared
                    .passivation
                    .leave_state(&self.key, Snapshot::new(A::STATE_VERSION, bytes)),
                Err(e) => tracing::debug!(error = %e, "no snapshot; the actor will start afresh"),
            }
        }
        tracing::debug!(parent: &self.span, ?reason, "actor stopped");
        self.actor
            .post_stop_with(self.me(&myself), state, reason)
            .instrument(self.span.clone())
            .await
    }
}

impl<A: DistActor> Hosted<A> {
    /// `pre_start`: from the arguments, or from a snapshot falling back to them.
    async fn start(
        &self,
        myself: ActorRef<Local<A::Msg>>,
        args: Start<A::Arguments>,
    ) -> Result<A::State, ActorProcessingErr> {
        let (args, mut snapshot) = match args {
            Start::Fresh(args) => return self.actor.pre_start(self.me(&myself), args).await,
            Start::Restore(args, snapshot) => (args, snapshot),
        };
        let deltas = snapshot.take_deltas();
        // From the snapshot, falling back to the arguments in this same actor (messages sent
        // to it meanwhile wait in its mailbox); a panicking `restore` falls back too.
        let restored = CatchUnwind(Box::pin(self.actor.restore(
            self.me(&myself),
            args,
            snapshot,
        )));
        let error = match restored.await {
            Ok(Ok(mut state)) => match self.apply_deltas(&mut state, &deltas) {
                Ok(()) => return Ok(state),
                Err(()) => "apply_delta panicked".to_string(),
            },
            Ok(Err(e)) => e.to_string(),
            Err(()) => "restore panicked".to_string(),
        };
        Counters::bump(&self.shared.counters.bad_snapshots);
        tracing::error!(name = %self.key, %error, "snapshot could not be restored; starting the actor from its arguments");
        let args = decode_args::<A::Arguments>(&self.args, usize::MAX)
            .map_err(|e| format!("arguments do not decode: {e}"))?;
        self.actor.pre_start(self.me(&myself), args).await
    }

    /// The other copy's state as one snapshot: a checkpoint with deltas is restored, the
    /// deltas applied, and the result snapshotted again.
    async fn whole(
        &self,
        me: &DistRef<A::Msg>,
        mut other: Snapshot,
    ) -> Result<Snapshot, ActorProcessingErr> {
        let deltas = other.take_deltas();
        if deltas.is_empty() {
            return Ok(other);
        }
        let args = decode_args::<A::Arguments>(&self.args, usize::MAX)
            .map_err(|e| format!("arguments do not decode: {e}"))?;
        let mut state = self.actor.restore(me.clone(), args, other).await?;
        self.apply_deltas(&mut state, &deltas)
            .map_err(|()| "apply_delta panicked")?;
        Ok(Snapshot::new(
            A::STATE_VERSION,
            self.actor.snapshot(&state)?,
        ))
    }

    /// Applies checkpoint deltas in order to a restored state; an error stops there (the
    /// state restored so far is an older checkpoint), a panic is `Err` (the state may be
    /// half changed).
    fn apply_deltas(
        &self,
        state: &mut A::State,
        deltas: &[serde_bytes::ByteBuf],
    ) -> Result<(), ()> {
        for (i, delta) in deltas.iter().enumerate() {
            let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.actor.apply_delta(state, delta)
            }));
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    Counters::bump(&self.shared.counters.bad_snapshots);
                    tracing::error!(name = %self.key, error = %e, applied = i, deltas = deltas.len(), "checkpoint delta could not be applied; the actor starts from the state before it");
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// `handle`: a user message, or a control message from the node.
    async fn handle_local(
        &self,
        myself: ActorRef<Local<A::Msg>>,
        message: Local<A::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Local::Msg(message) => {
                let message = if self.handed_over.load(Ordering::Relaxed) {
                    self.hand_over(&myself, message);
                    return Ok(());
                } else if self.shared.clock.must_ask() {
                    // Boxed: a rare branch that would otherwise size every message's future.
                    match Box::pin(self.wait_for_word(&myself, message)).await {
                        Some(message) => message,
                        None => return Ok(()),
                    }
                } else {
                    message
                };
                if let Some(last) = &self.last_active {
                    last.store(crate::node::passivation::clock_ms(), Ordering::Relaxed);
                }
                self.actor.handle(self.me(&myself), message, state).await?;
                self.after_message(&myself, state);
            }
            Local::Control(Control::CheckpointDue) => {
                let policy = self.policy.get();
                let mut clock = self.clock();
                if clock.handle_due(&policy, now()) {
                    self.checkpoint(&myself, state, &policy, &mut clock);
                }
            }
            Local::Control(Control::Resolve { resolution, other }) => {
                // Boxed: a rare branch whose future (the user's `merge`) would otherwise size
                // the future of every message.
                Box::pin(self.resolve(&myself, resolution, other, state)).await;
            }
        }
        Ok(())
    }
}

/// The time the checkpoint clock is told.
fn now() -> Millis {
    Millis(crate::node::passivation::clock_ms())
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A future whose panic becomes `Err(())` (user hooks must not take their node down).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::DistConfig;
    use crate::core::Incarnation;
    use crate::node::dist_ref::DistRef;
    use crate::node::kind::{Checkpoints, Kinds};

    struct Tiny;
    struct TinyMsg(u64);
    impl Message for TinyMsg {}

    impl DistActor for Tiny {
        const KIND: &'static str = "tiny";
        type Msg = TinyMsg;
        type State = u64;
        type Arguments = ();

        async fn pre_start(&self, _: DistRef<TinyMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }

        async fn handle(
            &self,
            _: DistRef<TinyMsg>,
            m: TinyMsg,
            n: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            *n += m.0;
            Ok(())
        }
    }

    fn hosted() -> Hosted<Tiny> {
        let shared = Arc::new(NodeShared::new(
            DistConfig::for_tests("t", 1),
            Kinds::default(),
            Incarnation(1),
            Arc::default(),
        ));
        let policy = Policy::new(Checkpoints::OFF);
        Hosted::new(
            Arc::new(Tiny),
            ActorKey::from("x"),
            shared,
            Vec::new(),
            false,
            policy,
        )
    }

    /// ractor builds (and moves) the future of `handle` for every message: the rare branch
    /// (conflict resolution, with the user's `merge`) is boxed so that it stays small (720
    /// bytes with it inline, 360 without, in a debug build).
    #[tokio::test]
    async fn the_future_of_a_handled_message_stays_small() {
        let (cell, handle) = Actor::spawn(None, hosted(), Start::Fresh(()))
            .await
            .unwrap();
        let actor = hosted();
        let mut state = 0u64;
        let size = {
            let future = Actor::handle(&actor, cell.clone(), Local::Msg(TinyMsg(1)), &mut state);
            std::mem::size_of_val(&future)
        };
        eprintln!("handle future: {size} bytes");
        cell.stop(None);
        handle.await.unwrap();
        assert!(size <= 512, "{size} bytes");
    }
}

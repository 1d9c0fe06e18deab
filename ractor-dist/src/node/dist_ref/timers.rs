//! Timers on a [`DistRef`], as on a ractor `ActorRef`: a message after a delay, or one every
//! period, to wherever the actor runs at the time of each send.

use std::time::Duration;

use ractor::{ActorCell, Message, ACTIVE_STATES};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{DistRef, Route};
use crate::core::error::SendError;

impl<M: Message> DistRef<M> {
    /// Sends the message `msg()` builds after `period`, like ractor's
    /// `ActorRef::send_after`. The message is built when it is sent, and goes wherever the
    /// actor runs then.
    ///
    /// Returns the handle of the background task: awaiting it gives the result of the cast
    /// ([`DistRef::cast`]'s errors, with the message handed back); aborting it before `period` passed cancels the send.
    /// Dropping it leaves the timer running.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn example<M: ractor::Message>(me: ractor_dist::DistRef<M>, tick: fn() -> M) {
    /// let timer = me.send_after(Duration::from_secs(5), tick);
    /// timer.abort(); // changed our mind
    /// # }
    /// ```
    pub fn send_after<F>(&self, period: Duration, msg: F) -> JoinHandle<Result<(), SendError<M>>>
    where
        F: FnOnce() -> M + Send + 'static,
    {
        let target = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            target.cast(msg())
        })
    }

    /// Sends the message `msg()` builds every `period` (the first one `period` from now),
    /// like ractor's `ActorRef::send_interval`, until one of:
    ///
    /// - the returned handle is aborted;
    /// - the actor ran on this node when the timer started, and that activation stopped
    ///   (it was stopped, moved away or restarted), as ractor's timer ends with its actor:
    ///   an actor that sets up its timer in [`crate::DistActor::post_start`] gets exactly
    ///   one wherever it runs;
    /// - a cast fails with a permanent error ([`crate::DistError::is_transient`]: the name is
    ///   gone as far as this node can tell, the node stopped, ...). A cast to a remote
    ///   actor is accepted by its node even when the name has disappeared there, so a
    ///   timer on a remote handle runs until aborted.
    ///
    /// A cast failing with a transient error (the actor is moving, its node unreachable for
    /// now) skips that tick; a tick missed while the runtime was busy is skipped too, so
    /// the sends never come in a burst.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn example<M: ractor::Message>(me: ractor_dist::DistRef<M>, tick: fn() -> M) {
    /// let ticker = me.send_interval(Duration::from_secs(1), tick);
    /// // ... later: stop it.
    /// ticker.abort();
    /// # }
    /// ```
    pub fn send_interval<F>(&self, period: Duration, msg: F) -> JoinHandle<()>
    where
        F: Fn() -> M + Send + 'static,
    {
        let target = self.clone();
        let activation = self.local_activation();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticks.tick().await; // the first tick completes at once
            loop {
                ticks.tick().await;
                if activation
                    .as_ref()
                    .is_some_and(|cell| !ACTIVE_STATES.contains(&cell.get_status()))
                {
                    tracing::debug!(name = %target.key(), "send_interval ends with its actor");
                    return;
                }
                match target.cast(msg()) {
                    Ok(()) => {}
                    Err(e) if e.is_transient() => {
                        tracing::debug!(name = %target.key(), error = %e, "send_interval skipped a tick");
                    }
                    Err(e) => {
                        tracing::debug!(name = %target.key(), error = %e, "send_interval ends");
                        return;
                    }
                }
            }
        })
    }

    /// The actor serving this handle's name on this node now, if any.
    fn local_activation(&self) -> Option<ActorCell> {
        match &**self.inner.route.load() {
            Route::Local { cell, .. } => Some(cell.clone()),
            _ => self.shared().ok()?.hosted(&self.inner.key).map(|e| e.cell),
        }
    }
}

//! Stopping the actor behind a [`DistRef`], as ractor stops an `ActorRef`: `stop(reason)`
//! returns at once (an actor may call it on `myself` from inside its handler), and
//! `stop_and_wait(reason, timeout)` waits until the name is removed cluster-wide.

use std::time::Duration;

use ractor::Message;

use super::DistRef;
use crate::core::error::DistError;
use crate::core::routing::{OnLoop, Redirects};
use crate::core::wire::{Request, Response};
use crate::core::{Context, Decision};

impl<M: Message> DistRef<M> {
    /// Stops the actor wherever it runs, like ractor's `ActorRef::stop`: returns at once,
    /// and the name is removed cluster-wide in the background. The actor finishes the
    /// message it is handling, then stops and runs its `post_stop`
    /// ([`crate::StopReason::Stopped`]). So an actor stops itself from inside `handle` with
    /// `myself.stop(None)` and goes on with the rest of its handler.
    ///
    /// `reason` is logged with the stop (at `debug`). A stop that fails (the name is not
    /// found, its node is unreachable) is logged too; use [`DistRef::stop_and_wait`] to
    /// learn the outcome.
    ///
    /// Needs a tokio runtime, as every use of a `DistRef` does; outside one the stop is
    /// not sent, and a warning says so.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::DistRef;
    /// # async fn handle<M: ractor::Message>(myself: DistRef<M>, done: bool) -> Result<(), ActorProcessingErr> {
    /// if done {
    ///     myself.stop(Some("session closed".into()));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop(&self, reason: Option<String>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(name = %self.inner.key, "stop outside a tokio runtime: not sent");
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            if let Err(error) = this.stop_and_wait(reason, None).await {
                tracing::debug!(name = %this.inner.key, %error, "stop failed");
            }
        });
    }

    /// Stops the actor wherever it runs and waits until its name is removed cluster-wide,
    /// like ractor's `ActorRef::stop_and_wait`.
    ///
    /// Unlike ractor's, it does not wait for the actor's exit (so an actor may await it on
    /// its own `myself` from inside its handler): the actor finishes the message it is
    /// handling, then stops and runs its `post_stop`. A spawn of the same name made after
    /// it returns waits for that exit, so two copies never run.
    ///
    /// `timeout` is a `Duration`, `Some(duration)` or `None` (`DistConfig::request_timeout`,
    /// as for [`DistRef::call`]). `reason` is logged with the stop (at `debug`).
    ///
    /// # Errors
    ///
    /// [`DistError::NotFound`] when no such actor exists (it was stopped already),
    /// [`DistError::Timeout`] when the stop was not confirmed in time (it may still
    /// happen), or a transport error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: once sent, the stop happens although the future was dropped.
    pub async fn stop_and_wait(
        &self,
        reason: Option<String>,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<(), DistError> {
        let node = self.shared()?;
        let timeout = timeout.into().unwrap_or(node.config.request_timeout);
        tracing::debug!(name = %self.inner.key, reason = reason.as_deref().unwrap_or(""), "stop");
        tokio::time::timeout(timeout, self.remove(timeout))
            .await
            .unwrap_or(Err(DistError::Timeout(timeout)))
    }

    /// Asks the name's host (found through its directory node) to remove it.
    async fn remove(&self, timeout: Duration) -> Result<(), DistError> {
        let node = self.shared()?;
        let key = &self.inner.key;
        let mut follow = match node.route_handle(&node.view_guard(), key, Context::Ask).0 {
            Decision::Found(host) | Decision::AskNode(host) => {
                Redirects::new(host, OnLoop::AskAgain)
            }
            _ => return Err(DistError::NodeDown),
        };
        loop {
            let request = Request::Stop { key: key.clone() };
            match node.request(follow.target(), &request, timeout).await? {
                Response::Stopped => {
                    node.forget_host(key);
                    self.invalidate();
                    return Ok(());
                }
                Response::Redirect { host } => {
                    if !follow.redirected(host) {
                        return Err(DistError::NotFound(key.clone()));
                    }
                }
                Response::Err(e) => return Err(e.into()),
                other => {
                    return Err(DistError::Protocol(format!(
                        "unexpected answer to stop: {other:?}"
                    )))
                }
            }
        }
    }
}

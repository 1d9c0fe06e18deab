//! Calls on a [`DistRef`]: a request built around a reply port, to wherever the actor
//! runs, answered or timed out.

use std::time::Duration;

use ractor::message::SerializedMessage;
use ractor::{Message, RpcReplyPort};
use tokio::time::Instant;

use super::{DistRef, Fast, Route};
use crate::core::error::DistError;
use crate::core::retry::RetryPlan;
use crate::core::routing::{OnLoop, Redirects, MAX_REDIRECTS};
use crate::core::wire::{RemoteError, Request, Response};
use crate::core::NodeName;
use crate::node::supervisor::Gateway;
use crate::node::telemetry;

impl<M: Message> DistRef<M> {
    /// Sends a request built around a reply port and waits for the answer, like ractor's
    /// `ActorRef::call`. For a variant `Get(RpcReplyPort<i64>)`:
    /// `counter.call(CounterMsg::Get, Duration::from_secs(1)).await?` (see the crate docs).
    ///
    /// `timeout` is a `Duration`, `Some(duration)` or `None`; unlike ractor, `None` does not
    /// wait forever but `DistConfig::request_timeout` (a node may die without answering).
    /// The answer is the reply itself: a timeout is an error, not a `CallResult`.
    ///
    /// # Errors
    ///
    /// Those of [`DistRef::cast`], plus [`DistError::Timeout`] when no answer came in time
    /// (the request may still be handled) and [`DistError::Stopped`] when the actor dropped
    /// the reply port (it stopped, panicked or never answers this request).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the answer; the request may still be delivered.
    pub async fn call<R, F>(
        &self,
        build: F,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<R, DistError>
    where
        F: FnOnce(RpcReplyPort<R>) -> M,
        R: Send + 'static,
    {
        let node = self.shared()?;
        let started = std::time::Instant::now();
        let answer = self.call_untimed(build, timeout.into()).await;
        telemetry::record_call(node, started.elapsed(), answer.is_ok());
        answer
    }

    /// [`DistRef::call`], tried again after a transient error
    /// ([`DistError::is_transient`]: the actor was moving, restarting or its node
    /// unreachable) until it succeeds, a permanent error comes, or `within` has passed
    /// since the first attempt started. Between attempts it waits 10 ms, doubling up to
    /// 500 ms. `build` makes the request again for each attempt; `timeout` bounds each one.
    ///
    /// A call that timed out may have been handled: retry only requests that may be
    /// handled twice (reads, idempotent writes).
    ///
    /// # Errors
    ///
    /// The last attempt's error: a permanent one at once, a transient one once `within`
    /// has passed.
    ///
    /// # Cancel safety
    ///
    /// As [`DistRef::call`]: dropping the future abandons the answer; an attempt may
    /// still be delivered.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use ractor::RpcReplyPort;
    /// # use ractor_cluster::RactorClusterMessage;
    /// # #[derive(RactorClusterMessage)] enum CounterMsg { #[rpc] Get(RpcReplyPort<i64>) }
    /// # async fn example(counter: ractor_dist::DistRef<CounterMsg>) -> Result<(), ractor_dist::DistError> {
    /// // A read: safe to repeat while the counter moves to another node.
    /// let n = counter
    ///     .call_retrying(CounterMsg::Get, Duration::from_secs(1), Duration::from_secs(10))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_retrying<R, F>(
        &self,
        mut build: F,
        timeout: impl Into<Option<Duration>>,
        within: Duration,
    ) -> Result<R, DistError>
    where
        F: FnMut(RpcReplyPort<R>) -> M,
        R: Send + 'static,
    {
        let timeout = timeout.into();
        let started = Instant::now();
        let mut plan = RetryPlan::new(within);
        loop {
            match self.call(&mut build, timeout).await {
                Ok(reply) => return Ok(reply),
                Err(error) => match plan.after_failure(&error, started.elapsed()) {
                    Some(wait) => {
                        tracing::trace!(name = %self.inner.key, %error, ?wait, "call retried");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(error),
                },
            }
        }
    }

    async fn call_untimed<R, F>(&self, build: F, timeout: Option<Duration>) -> Result<R, DistError>
    where
        F: FnOnce(RpcReplyPort<R>) -> M,
        R: Send + 'static,
    {
        let timeout = timeout.unwrap_or(self.shared()?.config.request_timeout);
        let deadline = Instant::now() + timeout;
        let (tx, rx) = ractor::concurrency::oneshot();
        let message = build(RpcReplyPort::from((tx, timeout)));
        let (refused, mut refusal) = tokio::sync::oneshot::channel();
        self.send_for_call(message, timeout, refused).await?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            // Refused over a hold cap in the supervisor (told before the port was dropped).
            Ok(Err(_)) => Err(match refusal.try_recv() {
                Ok(error) => DistError::Overloaded {
                    key: self.inner.key.clone(),
                    reason: error.to_string(),
                },
                Err(_) => DistError::Stopped(self.inner.key.clone()),
            }),
            Err(_) => Err(DistError::Timeout(timeout)),
        }
    }

    async fn send_for_call(
        &self,
        message: M,
        timeout: Duration,
        refused: tokio::sync::oneshot::Sender<crate::core::HoldError>,
    ) -> Result<(), DistError> {
        let message = match self.try_fast(message)? {
            Fast::Done => return Ok(()),
            Fast::Remote(message, route) => {
                if let Route::Remote {
                    host,
                    peer,
                    generation,
                } = &*route
                {
                    return self
                        .call_remote(message, host, peer, *generation, timeout)
                        .await;
                }
                message
            }
            Fast::Slow(message) => message,
        };
        let mut message = message;
        for _ in 0..MAX_REDIRECTS {
            match self.resolve()? {
                Route::Local { cell, .. } => match self.send_local(&cell, message)? {
                    None => return Ok(()),
                    Some(m) => {
                        message = m;
                        tokio::task::yield_now().await;
                    }
                },
                Route::Remote {
                    host,
                    peer,
                    generation,
                } => {
                    return self
                        .call_remote(message, &host, &peer, generation, timeout)
                        .await;
                }
                Route::Supervisor => return Ok(self.via_supervisor(message, Some(refused))?),
                // Not connected yet: the supervisor parks it until it is.
                Route::Unconfirmed(_) => return Ok(self.via_supervisor(message, Some(refused))?),
                Route::Unresolved => unreachable!("resolve never returns Unresolved"),
            }
        }
        Err(DistError::Stopped(self.inner.key.clone()))
    }

    async fn call_remote(
        &self,
        message: M,
        host: &NodeName,
        peer: &Gateway,
        generation: u64,
        timeout: Duration,
    ) -> Result<(), DistError> {
        match self.serialize(message)? {
            SerializedMessage::Call {
                variant,
                args,
                reply,
                ..
            } => self.remote_call(variant, args, reply, timeout).await,
            SerializedMessage::Cast { variant, args, .. } => {
                // The builder ignored its port: send it as a cast.
                let m = M::deserialize(SerializedMessage::Cast {
                    variant,
                    args,
                    metadata: None,
                })
                .map_err(|_| self.bad_message("the message failed to re-decode"))?;
                match self.cast_remote(m, host, peer, generation)? {
                    None => Ok(()),
                    Some(m) => Ok(self.send_slow(m)?),
                }
            }
            SerializedMessage::CallReply(..) => Err(self.bad_message("unexpected call reply")),
        }
    }

    /// Runs a serialized call against wherever the actor lives, following redirects, and
    /// feeds the answer into `reply`.
    pub(super) async fn remote_call(
        &self,
        variant: String,
        args: Vec<u8>,
        reply: RpcReplyPort<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(), DistError> {
        let node = self.shared()?;
        let key = &self.inner.key;
        let deadline = Instant::now() + timeout;
        // Once redirected, the host the redirects name is asked next, whatever this node's
        // routes say (they may name the node that redirected: a redirect left when the name
        // moved on from there kept pointing at its first stop). Bounded by `Redirects`.
        let mut follow: Option<Redirects> = None;
        loop {
            let next = follow.as_ref().map(|f| f.target().clone());
            let host = if let Some(next) = next.filter(|next| *next != node.me) {
                next
            } else {
                match self.resolve()? {
                    Route::Local { cell, .. } => {
                        // It came here meanwhile: deliver the serialized call locally.
                        let entry = node
                            .hosted(key)
                            .ok_or_else(|| DistError::Stopped(key.clone()))?;
                        let msg = SerializedMessage::Call {
                            variant,
                            args,
                            reply,
                            metadata: None,
                        };
                        return entry
                            .kind
                            .deliver(node, key, &cell, msg)
                            .map_err(DistError::from);
                    }
                    // Not connected yet: the request waits for the session.
                    Route::Remote { host, .. } | Route::Unconfirmed(host) => host,
                    // Moving or settling here: our own supervisor buffers or parks it.
                    Route::Supervisor => node.me.clone(),
                    Route::Unresolved => unreachable!("resolve never returns Unresolved"),
                }
            };
            if host != node.me {
                // A host whose session is being confirmed: wait for it first, so that the
                // call's own timeout counts from when it can leave.
                let remaining = deadline.saturating_duration_since(Instant::now());
                node.peer_supervisor_within(&host, remaining).await?;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(DistError::Timeout(timeout));
            }
            let request = Request::Call {
                key: key.clone(),
                variant: variant.clone(),
                args: args.clone(),
                timeout_ms: remaining.as_millis() as u64,
            };
            if host == node.me {
                // Behind this node's casts to the name still in an outbox, as a cast
                // handed to the supervisor is.
                node.flush_casts_for(key);
            }
            let asked_in = node.view_guard().epoch();
            match node.request(&host, &request, remaining).await {
                Ok(Response::Reply(bytes)) => {
                    let _ = reply.send(bytes);
                    return Ok(());
                }
                Ok(Response::Redirect { host: next }) => {
                    node.remember_host(key, next.clone(), asked_in);
                    self.invalidate();
                    let follow =
                        follow.get_or_insert_with(|| Redirects::new(host, OnLoop::AskAgain));
                    if !follow.redirected(next) {
                        return Err(DistError::NotFound(key.clone()));
                    }
                }
                Ok(Response::Err(RemoteError::NotFound(k))) => {
                    node.forget_host(key);
                    self.invalidate();
                    return Err(DistError::NotFound(k));
                }
                Ok(Response::Err(RemoteError::Timeout)) => return Err(DistError::Timeout(timeout)),
                Ok(Response::Err(e)) => return Err(e.into()),
                Ok(other) => {
                    return Err(DistError::Protocol(format!(
                        "unexpected answer to a call: {other:?}"
                    )))
                }
                Err(e) => {
                    // The host it was sent to (maybe from the lookup cache) did not answer:
                    // the next attempt asks the name's directory node again.
                    node.forget_host(key);
                    self.invalidate();
                    return Err(e);
                }
            }
        }
    }
}

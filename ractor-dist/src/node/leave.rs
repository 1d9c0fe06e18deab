//! Leaving the cluster: a graceful leave, on a signal, and the node's shutdown.

use std::time::Duration;

use super::supervisor::SupervisorMsg;
use super::{signal, DistError, DistNode};

impl DistNode {
    /// Hands every hosted actor off to its owner in the view without this node (with its
    /// state for [`crate::HandoffMode::Resume`] kinds, `Stay` included), waits until every
    /// new host acknowledged and every peer has been told, and returns. The node keeps
    /// running (forwarding stale messages) until [`DistNode::shutdown`].
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when the node is not running; [`DistError::Timeout`] when
    /// the handoff did not finish within three handoff deadlines (the remaining actors fell
    /// back as described in `DistConfig::handoff_timeout`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that dropping the future does not stop the leave: the
    /// handoff goes on, and calling `leave` again waits for the same one.
    pub async fn leave(&self) -> Result<(), DistError> {
        let supervisor = self.shared.supervisor()?.clone();
        let timeout = self.shared.config.timing().leave_call();
        match supervisor.call(SupervisorMsg::Leave, Some(timeout)).await {
            Ok(ractor::rpc::CallResult::Success(())) => Ok(()),
            Ok(ractor::rpc::CallResult::Timeout) => Err(DistError::Timeout(timeout)),
            _ => Err(DistError::NodeDown),
        }
    }

    /// Waits for SIGTERM or Ctrl-C (SIGINT), then leaves the cluster gracefully and stops
    /// the node ([`DistNode::shutdown`]): the end of a service's `main`, so that a process
    /// stopped by its supervisor (systemd, Kubernetes, a terminal) hands its actors off
    /// instead of dying like `kill -9`. The handlers are installed when the future is first
    /// polled; until then the signals keep their default effect (the process exits).
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when the node was already stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe while it waits for a signal (nothing happened yet); not cancel safe once
    /// the shutdown began (as [`DistNode::shutdown`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example(node: ractor_dist::DistNode) -> Result<(), ractor_dist::DistError> {
    /// // ... spawn and serve ...
    /// node.run_until_signal().await?; // returns after a graceful leave
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_until_signal(&self) -> Result<(), DistError> {
        let signal = signal::shutdown_signal().await;
        tracing::info!(node = %self.shared.me, %signal, "leaving the cluster on a signal");
        self.shutdown().await
    }

    /// Leaves the cluster gracefully ([`DistNode::leave`]: every actor is handed off) and
    /// stops the node.
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when the node was already stopped.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped midway, the node may have handed its actors off without
    /// stopping; call `shutdown` again.
    pub async fn shutdown(&self) -> Result<(), DistError> {
        let supervisor = self.shared.supervisor()?.clone();
        if let Err(e) = self.leave().await {
            tracing::warn!(error = %e, "leave before shutdown did not complete");
        }
        self.shared.replicas.flush(&self.shared);
        let _ = ractor::call_t!(supervisor, SupervisorMsg::Shutdown, 10_000);
        let _ = supervisor
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        Ok(())
    }
}

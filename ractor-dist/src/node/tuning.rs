//! Per-kind settings a node changes while it runs: checkpoint policy and idle timeout.

use std::time::Duration;

use super::supervisor::SupervisorMsg;
use super::{DistError, DistNode};

impl DistNode {
    /// Sets the checkpoint policy of `kind` on this node (instead of its
    /// [`crate::DistActor::CHECKPOINTS`]): its actors here follow it from their next message.
    /// Set it on every node (each applies its own to the actors it hosts).
    ///
    /// # Errors
    ///
    /// [`DistError::UnknownKind`] when no such kind is registered (nothing changed).
    pub fn set_checkpoints(&self, kind: &str, policy: crate::Checkpoints) -> Result<(), DistError> {
        if !self.shared.kinds.set_checkpoints(kind, policy) {
            return Err(DistError::UnknownKind(kind.to_string()));
        }
        if let Ok(supervisor) = self.shared.supervisor() {
            let _ = supervisor.cast(SupervisorMsg::KindChanged(kind.to_string()));
        }
        Ok(())
    }

    /// Sets the idle timeout of the on-demand `kind` on this node (instead of its
    /// [`crate::DistActor::IDLE_TIMEOUT`]; `None`: never passivated for idleness): its actors
    /// here, running ones included, are passivated once idle that long. Set it on every
    /// node (each applies its own to the actors it hosts).
    ///
    /// # Errors
    ///
    /// [`DistError::UnknownKind`] when no kind `kind` is registered;
    /// [`DistError::Config`] when it has no factory (only on-demand kinds are
    /// passivated) or `timeout` is shorter than 1 ms.
    pub fn set_idle_timeout(&self, kind: &str, timeout: Option<Duration>) -> Result<(), DistError> {
        self.shared.kinds.set_idle_timeout(kind, timeout)?;
        if let Ok(supervisor) = self.shared.supervisor() {
            let _ = supervisor.cast(SupervisorMsg::KindChanged(kind.to_string()));
        }
        Ok(())
    }
}

//! What a node counts about itself, local only: what it refused at its door, how its
//! moves, lookups and mesh fared, and the sizes of its tables.

use super::supervisor::SupervisorMsg;
use super::{DistError, DistNode};

/// How long [`DistNode::footprint`] waits for the supervisor.
const FOOTPRINT_TIMEOUT_MS: u64 = 5_000;

impl DistNode {
    /// What this node refused at its door: TLS handshakes, sessions whose certificate did
    /// not name their peer, connections past the handshake timeout or the pending cap, and
    /// forged or out-of-bounds frames (see the README's "Security"). All zero on the
    /// in-memory transport but `frames_refused`.
    pub fn security_stats(&self) -> crate::SecurityStats {
        let refused = self
            .shared
            .counters
            .frames_refused
            .load(std::sync::atomic::Ordering::Relaxed);
        self.shared.security.stats(refused)
    }

    /// How this node's moves fared on the wire: batches resent, snapshot bytes held in
    /// reassembly.
    pub fn move_stats(&self) -> crate::MoveStats {
        self.shared.move_stats()
    }

    /// How this node found where names run: questions to directory nodes, and answers
    /// its lookup cache gave instead.
    pub fn lookup_stats(&self) -> crate::LookupStats {
        self.shared.lookup_stats()
    }

    /// How this node keeps its mesh: dials, dial targets, sessions replaced.
    pub fn mesh_stats(&self) -> crate::MeshStats {
        self.shared.mesh_stats()
    }

    /// The sizes of this node's tables that grow with names, held messages and peers
    /// (local only): a diagnostic for memory. Each table empties again once its load is
    /// gone (names stopped or moved away, messages delivered, peers gone), or is a cache
    /// with a bound; [`crate::Footprint::grown_since`] compares two readings taken at rest.
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when this node is not running; [`DistError::Timeout`] when
    /// its supervisor did not answer within 5 s (busy).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn footprint(&self) -> Result<crate::Footprint, DistError> {
        let supervisor = self.shared.supervisor()?.clone();
        match ractor::call_t!(supervisor, SupervisorMsg::Footprint, FOOTPRINT_TIMEOUT_MS) {
            Ok(footprint) => Ok(footprint),
            // Busy, not down: the supervisor did not answer in time.
            Err(ractor::RactorErr::Timeout) => Err(DistError::Timeout(
                std::time::Duration::from_millis(FOOTPRINT_TIMEOUT_MS),
            )),
            Err(_) => Err(DistError::NodeDown),
        }
    }
}

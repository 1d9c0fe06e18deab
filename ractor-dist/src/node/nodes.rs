//! Membership you can manage: the known nodes (`all`) and the live ones (`up`), adding
//! and removing nodes at run time, and the known set's file on disk (see
//! [`crate::core::known`] for what the set is and decides).

use std::path::{Path, PathBuf};

use super::supervisor::SupervisorMsg;
use super::{DistError, DistNode};
use crate::core::known;
use crate::core::replicated::{ReplicaConfig, ReplicaId};
use crate::core::{Incarnation, NodeName};

impl DistNode {
    /// Every node this node knows of, sorted, this node included (unless it was removed):
    /// the nodes it met or was told of by gossip, or that `add_node` brought, and that no
    /// [`DistNode::del_node`] removed since; up or not (GenServerring's `all`). With a
    /// data directory the set survives a restart, and its nodes are dialed at start.
    pub fn all(&self) -> Vec<NodeName> {
        self.shared.known.load().all(&self.shared.me)
    }

    /// The live nodes as seen by this node, sorted, this node included (GenServerring's
    /// `up`; the same as [`DistNode::members`]).
    pub fn up(&self) -> Vec<NodeName> {
        self.members()
    }

    /// Dials `addr` (`host:port`) from now on, and adds the node found there to the known
    /// set once it said hello, cluster-wide. A node that was removed with
    /// [`DistNode::del_node`] is added back this way (and admitted again). Returns at once;
    /// the node comes up asynchronously ([`DistNode::wait_for_members`]).
    ///
    /// An address whose node has not answered yet is dialed until it does, but only by
    /// this node and only until it stops (it is not written to disk).
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when this node is not running.
    pub async fn add_node(&self, addr: &str) -> Result<(), DistError> {
        let supervisor = self.shared.supervisor()?.clone();
        let addr = addr.to_string();
        ractor::call_t!(supervisor, SupervisorMsg::AddNode, 5_000, addr)
            .map_err(|_| DistError::NodeDown)
    }

    /// Removes `node` from the known set, cluster-wide: it is no longer dialed, and its
    /// hellos are refused (counted in `refused_peers`) until it is added back with
    /// [`DistNode::add_node`]. Gossip does not bring it back: a node that had not heard of
    /// the removal merges it, whatever it held.
    ///
    /// A removed node that is up learns of its removal by gossip, leaves the cluster
    /// gracefully (its actors move to the other nodes with their state, as in
    /// [`DistNode::leave`]) and stops. Until then it stays in the view: nothing is lost and
    /// no name runs twice. To take it back, start it again (its data directory may be
    /// kept) and `add_node` its address.
    ///
    /// # Errors
    ///
    /// [`DistError::NodeDown`] when this node is not running.
    pub async fn del_node(&self, node: impl Into<NodeName>) -> Result<(), DistError> {
        let supervisor = self.shared.supervisor()?.clone();
        let node = node.into();
        match ractor::call_t!(supervisor, SupervisorMsg::DelNode, 5_000, node) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(DistError::Replica(e)),
            Err(_) => Err(DistError::NodeDown),
        }
    }
}

/// The known node set's file of a node with `data_dir`, if there is one.
///
/// # Errors
///
/// [`DistError::Start`] when the file cannot be read, or is refused (corrupted, of another
/// format version, not a known-set file): it is left as it is, and the node does not start.
pub(crate) fn read_known_file(
    data_dir: Option<&Path>,
    me: &NodeName,
) -> Result<Option<Vec<u8>>, DistError> {
    let Some(dir) = data_dir else {
        return Ok(None);
    };
    let path: PathBuf = dir.join("replicated").join(known::file_name());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DistError::Start(format!(
                "cannot read the known node set {}: {e}",
                path.display()
            )))
        }
    };
    let id = ReplicaId {
        node: me.clone(),
        incarnation: Incarnation(0),
    };
    if let Err(e) = known::machine(ReplicaConfig::new(id), Some(&bytes)) {
        return Err(DistError::Start(format!(
            "the known node set {} was refused ({e}); it was left as it is: move it away to start without it",
            path.display()
        )));
    }
    Ok(Some(bytes))
}

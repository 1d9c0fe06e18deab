//! How nodes reach each other: the seam between the supervisor and the network.
//!
//! A transport (the crate-internal `Transport` trait) gives a node's supervisor three things: the peers it has a session with
//! (and the supervisors of those peers, through which frames and requests travel as
//! opaque, versioned bytes), dialing an address, and closing the sessions to a peer. It
//! reports every session change by casting `SessionEvent` to the supervisor, which then
//! reads its sessions again.
//!
//! Two implementations:
//!
//! - `cluster`: ractor_cluster's `NodeServer` over TCP, one per process (its registry
//!   and process groups are process-global). What [`crate::DistNode::start`] uses.
//! - [`MemoryNetwork`]: every node of a test in one process, linked in memory, with links
//!   that a test can cut and heal and nodes it can crash. What in-process tests of the node
//!   layer use ([`MemoryNetwork::start`]).

pub(crate) mod cluster;
pub(crate) mod listener;
mod memory;
pub(crate) mod security;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ractor::ActorRef;

use crate::core::NodeName;
use crate::node::supervisor::SupervisorMsg;

pub use memory::MemoryNetwork;

/// A boxed future, for the object-safe transport trait.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a transport has now.
#[derive(Default)]
pub(crate) struct Sessions {
    /// Peers with a session, each with the address it advertises.
    pub(crate) connected: Vec<(NodeName, String)>,
    /// The supervisors of connected peers: frames and requests are sent to these.
    pub(crate) supervisors: HashMap<NodeName, ActorRef<SupervisorMsg>>,
    /// Dial targets found to lead to a node: a session opened by dialing the target named
    /// itself that node (whether or not the session survived). The newest finding per
    /// target.
    pub(crate) identified: Vec<(String, NodeName)>,
    /// Live sessions replaced so far by a newer session to the same peer (ractor_cluster's
    /// duplicate-connection election stops the loser; frames queued on it are lost).
    pub(crate) replaced: u64,
}

/// The network seam of one node (see the module docs).
pub(crate) trait Transport: Send + Sync + 'static {
    /// Starts reporting session changes to `supervisor` (by casting `SessionEvent`).
    ///
    /// # Errors
    ///
    /// When the transport cannot report to it.
    fn attach(&self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), String>;

    /// The peers with a session and their supervisors.
    fn sessions(&self) -> BoxFuture<'_, Result<Sessions, String>>;

    /// Dials `addr` in the background, giving up after `timeout`; a success shows up as a
    /// session change.
    fn dial(&self, addr: String, timeout: Duration);

    /// Closes every session to `node` (it was declared down while still connected).
    fn disconnect(&self, node: NodeName) -> BoxFuture<'_, ()>;

    /// Stops the transport: every session closes.
    fn stop(&self);

    /// `target` is no longer dialed: what dialing it taught can go.
    fn forget_target(&self, _target: &str) {}

    /// Records the sizes of its tables by address and session (see
    /// [`crate::core::footprint`]); none by default.
    fn footprint(&self, _f: &mut crate::core::Footprint) {}
}

//! Names and numbers that identify nodes, actors and membership views.
//!
//! ractor_cluster's `NodeId` is a per-observer connection counter: it differs between nodes
//! and changes on every reconnect, so it is never used here. A node is known by its
//! authenticated name (`"{name}@{host}"`) plus an [`Incarnation`] drawn at random on every
//! boot, which tells a restarted node apart from its former self.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The authenticated name of a node, `"{name}@{host}"`, exactly as ractor_cluster presents
/// it to peers (for example `a@127.0.0.1`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeName(String);

impl NodeName {
    /// Wraps an authenticated node name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.0)
    }
}

impl From<&str> for NodeName {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// A random number a node draws at boot. Two processes with the same [`NodeName`] but
/// different incarnations are different members: the newer one replaces the older.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct Incarnation(pub u64);

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The cluster-wide name of a distributed actor.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorKey(String);

impl ActorKey {
    /// Wraps an actor name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorKey({})", self.0)
    }
}

impl From<&str> for ActorKey {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ActorKey {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The number of a membership view as seen by one node. It grows by one on every change of
/// the live member set (a member up, down or replaced by a new incarnation).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug, Default,
)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A point in time in milliseconds, on a clock chosen by the caller (monotonic in practice).
/// The core never reads a clock itself.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug, Default,
)]
pub struct Millis(pub u64);

impl Millis {
    /// Milliseconds elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

//! The known node set in the engine: `add_node` / `del_node`, nodes added when they are met,
//! the set's gossip (a replicated value of its own machine, exchanged with every peer that
//! has a session, admitted or not, so that a refused node learns why), and what a change
//! means for the mesh (who is dialed and admitted) and for this node (removed: it leaves).

use std::sync::Arc;

use super::flow::Command;
use super::Engine;
use crate::core::known::{self, KnownNodes, KNOWN_NODES};
use crate::core::replicated::{ReplicaCommand, ReplicaConfig, ReplicaError, ReplicaId, Replicas};
use crate::core::{Millis, NodeName};

impl Engine {
    /// The known set's replication machine for this node, from its file when there is one
    /// (checked by the node before it started: a bad file never gets here, and if one did,
    /// the node would start from an empty set without touching the file).
    pub(super) fn known_machine(config: &super::EngineConfig) -> Replicas {
        let id = ReplicaId {
            node: config.hello.node.clone(),
            incarnation: config.hello.incarnation,
        };
        let replica = ReplicaConfig {
            gossip_interval_ms: config.gossip_interval_ms.max(1),
            frame_budget: (config.max_frame_bytes / 2).min(1 << 20),
            persist: config.persist,
            ..ReplicaConfig::new(id)
        };
        known::machine(replica.clone(), config.known_file.as_deref())
            .or_else(|_| known::machine(replica, None))
            .unwrap_or_else(|e| unreachable!("an empty known set always registers: {e}"))
    }

    /// The known node set as this node holds it.
    pub fn known(&self) -> &Arc<KnownNodes> {
        &self.known_value
    }

    /// `add_node`: `addr` is dialed from now on; the node it leads to is added to the known
    /// set when it says hello (brought back if it was removed).
    pub(crate) fn handle_add_node(&mut self, addr: &str, now: Millis) {
        self.set_now(now);
        self.mesh.handle_add(addr, now);
    }

    /// `del_node`: `node` is removed from the known set, cluster-wide. Returns whether that
    /// changed anything (it was not removed already).
    ///
    /// # Errors
    ///
    /// When the delta does not encode (nothing changed).
    pub(crate) fn handle_del_node(
        &mut self,
        node: &NodeName,
        now: Millis,
    ) -> Result<bool, ReplicaError> {
        self.set_now(now);
        let Some(delta) = self.known_value.remove(node) else {
            return Ok(false);
        };
        let changed = self.update_known(delta)?;
        self.pump();
        Ok(changed)
    }

    /// Applies a local delta to the known set, and gives the mesh the new set at once (a
    /// hello handled next must see it).
    fn update_known(&mut self, delta: KnownNodes) -> Result<bool, ReplicaError> {
        let changed = self
            .known
            .handle_update::<KnownNodes>(KNOWN_NODES, |_, _| delta)?;
        if let Ok(value) = self.known.value::<KnownNodes>(KNOWN_NODES) {
            self.mesh.handle_known(&value);
        }
        Ok(changed)
    }

    /// A hello from `node`, dialed at `addr`, is about to be handled: an `add_node` address
    /// that leads to it adds it to the known set (a new generation if it was removed), so
    /// that the hello is admitted.
    pub(super) fn known_before_hello(&mut self, node: &NodeName, addr: &str) {
        if !self.mesh.take_added(node, addr) {
            return;
        }
        if let Some(delta) = self.known_value.add(node, addr) {
            let _ = self.update_known(delta);
        }
    }

    /// `node` came up at `addr`: it is known from now on (unless it was removed).
    pub(super) fn known_up(&mut self, node: &NodeName) {
        let Some(addr) = self
            .mesh
            .membership()
            .peers()
            .get(node)
            .map(|m| m.addr.clone())
        else {
            return;
        };
        if let Some(delta) = self.known_value.observe(node, &addr) {
            let _ = self.update_known(delta);
        }
    }

    /// One command of the known set's machine.
    pub(super) fn on_known(&mut self, command: ReplicaCommand) {
        let command = match command {
            ReplicaCommand::Send { to, msg } => Command::Send {
                to,
                body: crate::core::wire::FrameBody::Replica(msg),
            },
            ReplicaCommand::Changed { change, .. } => {
                let (Ok(old), Ok(new)) = (
                    change.old.downcast::<KnownNodes>(),
                    change.new.downcast::<KnownNodes>(),
                ) else {
                    return;
                };
                self.mesh.handle_known(&new);
                // Removed nodes that are not up are gone for good.
                for node in new.removed() {
                    if !self.mesh.membership().is_up(&node) {
                        self.recovery.forget_holder(&node);
                    }
                }
                self.known_value = new.clone();
                // Only a member leaves: a node with no up peer (a fresh node refused at
                // hello, catching up on the set's history delta by delta) waits to be added
                // back instead.
                let member = !self.mesh.membership().peers().is_empty();
                if known::self_removed(&self.me, &old, &new, member) && !self.removed {
                    self.removed = true;
                    self.commands.push_back(Command::KnownChanged(new));
                    Command::Removed
                } else {
                    Command::KnownChanged(new)
                }
            }
            ReplicaCommand::Persist { name, file } => Command::Persist { name, file },
            ReplicaCommand::Refused { from, error } => Command::KnownRefused { from, error },
        };
        self.commands.push_back(command);
    }
}

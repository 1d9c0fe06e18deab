//! What a spawn did: [`Spawned`].

use crate::node::dist_ref::DistRef;

/// What [`crate::DistNode::spawn_with_outcome`] did: started the actor, or found it running (its
/// arguments then were not used). Either way it holds the actor's [`DistRef`].
pub enum Spawned<M> {
    /// This spawn started the actor with its arguments.
    Created(DistRef<M>),
    /// The actor already ran (as the same kind); the arguments were not used.
    Found(DistRef<M>),
}

impl<M> std::fmt::Debug for Spawned<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spawned::Created(actor) => f.debug_tuple("Created").field(actor).finish(),
            Spawned::Found(actor) => f.debug_tuple("Found").field(actor).finish(),
        }
    }
}

impl<M> Spawned<M> {
    /// True when this spawn started the actor.
    pub fn created(&self) -> bool {
        matches!(self, Spawned::Created(_))
    }

    /// The actor's handle.
    pub fn into_ref(self) -> DistRef<M> {
        match self {
            Spawned::Created(actor) | Spawned::Found(actor) => actor,
        }
    }
}

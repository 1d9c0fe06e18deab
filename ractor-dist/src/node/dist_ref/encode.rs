//! A [`DistRef`] inside a message: encoded as its actor's name, decoded against the node
//! of the process that receives it.
//!
//! Which node takes a decoded handle, in order:
//!
//! 1. the node decoding the message for one of its actors (casts and calls that reach a
//!    hosted actor are decoded by its node, which marks itself for the duration);
//! 2. otherwise the one node running in this process (the usual case: one node per
//!    process; this covers replies to calls, which ractor decodes on a task of its own);
//! 3. otherwise none: the handle is *unbound* and every use fails with
//!    [`DistError::Unbound`] (a process without a node, or one running several, as
//!    in-process tests do). Decoding itself never fails (a failed field drops the whole message).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DistRef, RefInner, UNRESOLVED};
use crate::core::ActorKey;
use crate::node::shared::NodeShared;

thread_local! {
    /// The node decoding a message on this thread right now (see [`decoding_for`]).
    static DECODING: RefCell<Option<Arc<NodeShared>>> = const { RefCell::new(None) };
}

/// The nodes started in this process and not shut down.
static RUNNING: Mutex<Vec<Weak<NodeShared>>> = Mutex::new(Vec::new());

/// Runs `decode` (which must not block or await) with `node` as the node that takes the
/// [`DistRef`]s it decodes.
pub(crate) fn decoding_for<R>(node: &Arc<NodeShared>, decode: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<NodeShared>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            DECODING.with(|current| *current.borrow_mut() = previous);
        }
    }
    let previous = DECODING.with(|current| current.borrow_mut().replace(node.clone()));
    let _restore = Restore(previous);
    decode()
}

/// A node counted as running in this process while this lives (from its start to its
/// shutdown).
#[derive(Debug)]
pub(crate) struct NodeRegistration(Weak<NodeShared>);

impl NodeRegistration {
    pub(crate) fn new(node: &Arc<NodeShared>) -> Self {
        let weak = Arc::downgrade(node);
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|n| n.strong_count() > 0);
        running.push(weak.clone());
        NodeRegistration(weak)
    }
}

impl Drop for NodeRegistration {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|n| n.strong_count() > 0 && !Weak::ptr_eq(n, &self.0));
    }
}

/// The node a handle decoded now is bound to (see the module docs).
fn receiving_node() -> Option<Arc<NodeShared>> {
    if let Some(node) = DECODING.with(|current| current.borrow().clone()) {
        return Some(node);
    }
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let mut live = running.iter().filter_map(Weak::upgrade);
    match (live.next(), live.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

impl<M> Serialize for DistRef<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.inner.key.as_str())
    }
}

impl<'de, M> Deserialize<'de> for DistRef<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(DistRef {
            inner: Arc::new(RefInner {
                key: ActorKey::new(name),
                node: receiving_node(),
                route: ArcSwap::new(UNRESOLVED.clone()),
            }),
            _msg: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::DistError;
    use crate::core::Incarnation;
    use crate::node::kind::Kinds;
    use crate::DistConfig;

    #[derive(Debug)]
    struct Msg;
    impl ractor::Message for Msg {}

    fn node(name: &str) -> Arc<NodeShared> {
        let config = DistConfig::for_tests(name, 1);
        Arc::new(NodeShared::new(
            config,
            Kinds::default(),
            Incarnation(1),
            Arc::default(),
        ))
    }

    fn decode(bytes: &[u8]) -> DistRef<Msg> {
        bincode::deserialize(bytes).expect("a name always decodes")
    }

    // One test: the registry is process-global and tests run in parallel.
    #[test]
    fn a_decoded_handle_binds_to_the_decoding_node_else_the_only_one_else_to_none() {
        let a = node("a");
        let b = node("b");
        let handle = DistRef::<Msg>::unresolved(ActorKey::new("k"), a.clone());
        let encoded = bincode::serialize(&handle).unwrap();
        assert_eq!(
            encoded,
            bincode::serialize("k").unwrap(),
            "encoded as its name"
        );

        let unbound = decode(&encoded);
        assert_eq!(unbound.name(), "k");
        let (error, message) = unbound.cast(Msg).unwrap_err().into_parts();
        assert!(matches!(error, DistError::Unbound(k) if k.as_str() == "k"));
        assert!(message.is_some(), "the message is handed back");
        assert!(matches!(unbound.node(), Err(DistError::Unbound(_))));

        let only = NodeRegistration::new(&a);
        assert!(Arc::ptr_eq(decode(&encoded).shared().unwrap(), &a));
        let second = NodeRegistration::new(&b);
        assert!(decode(&encoded).shared().is_err(), "two nodes: ambiguous");
        let by_b = decoding_for(&b, || decode(&encoded));
        assert!(Arc::ptr_eq(by_b.shared().unwrap(), &b));
        drop(only);
        assert!(Arc::ptr_eq(decode(&encoded).shared().unwrap(), &b));
        drop(second);
        assert!(decode(&encoded).shared().is_err());
    }
}

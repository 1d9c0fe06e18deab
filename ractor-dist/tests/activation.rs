//! Virtual actors over two in-process nodes: a name of a kind registered with a factory
//! (`Kinds::with_factory`) starts on its first message, cast or call, on its owner, with
//! the factory's arguments; once, however many messages race to start it.

mod common;

use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistActor, DistConfig, DistError, DistNode, DistRef, Kinds};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum CartMsg {
    Add(String),
    #[rpc]
    Items(RpcReplyPort<Vec<String>>),
}

/// A cart; its arguments are its first line.
struct Cart;

impl DistActor for Cart {
    const KIND: &'static str = "cart";
    type Msg = CartMsg;
    type State = Vec<String>;
    type Arguments = String;

    async fn pre_start(
        &self,
        _: DistRef<CartMsg>,
        first: String,
    ) -> Result<Vec<String>, ActorProcessingErr> {
        Ok(vec![first])
    }

    async fn handle(
        &self,
        _: DistRef<CartMsg>,
        msg: CartMsg,
        items: &mut Vec<String>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CartMsg::Add(item) => items.push(item),
            CartMsg::Items(reply) => {
                let _ = reply.send(items.clone());
            }
        }
        Ok(())
    }
}

/// The same actor, registered without a factory.
struct PlainCart;

impl DistActor for PlainCart {
    const KIND: &'static str = "plain";
    type Msg = CartMsg;
    type State = Vec<String>;
    type Arguments = String;

    async fn pre_start(
        &self,
        me: DistRef<CartMsg>,
        first: String,
    ) -> Result<Vec<String>, ActorProcessingErr> {
        Cart.pre_start(me, first).await
    }
}

fn kinds() -> Kinds {
    Kinds::new()
        .with_factory(Cart, |id: &str| format!("cart of {id}"))
        .with(PlainCart)
}

async fn two_nodes(net: &MemoryNetwork) -> (DistNode, DistNode) {
    let a = net
        .start(DistConfig::for_tests("a", 1), kinds())
        .await
        .unwrap();
    let config = DistConfig {
        seeds: vec!["127.0.0.1:1".to_string()],
        ..DistConfig::for_tests("b", 2)
    };
    let b = net.start(config, kinds()).await.unwrap();
    common::converged_within(T, &[&a, &b], 2).await;
    (a, b)
}

/// An id whose actor of `kind` `node` owns.
fn owned(node: &DistNode, kind: &str, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|id| node.owner_of(&format!("{kind}/{id}")).as_ref() == Some(node.name()))
        .unwrap()
}

/// An id whose cart `node` owns.
fn owned_by(node: &DistNode, prefix: &str) -> String {
    owned(node, "cart", prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_or_a_call_starts_an_on_demand_name_on_its_owner_with_the_factory_s_arguments() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    for (owner, other) in [(&a, &b), (&b, &a)] {
        // First message a cast, sent from the owner and from the other node.
        for from in [owner, other] {
            let id = owned_by(owner, &format!("cast-{}-", from.name()));
            from.ref_for::<Cart>(&id)
                .cast(CartMsg::Add("x".into()))
                .unwrap();
            let cart = from.ref_for::<Cart>(&id);
            common::eventually_within(T, "the cast started the cart", || async {
                cart.call(CartMsg::Items, CALL).await.ok()
                    == Some(vec![format!("cart of {id}"), "x".to_string()])
            })
            .await;
            assert_eq!(
                common::hosts(&[&a, &b], &format!("cart/{id}")),
                vec![owner.name().clone()]
            );
        }
        // First message a call.
        let id = owned_by(owner, "call-");
        let items = other.ref_for::<Cart>(&id).call(CartMsg::Items, CALL).await;
        assert_eq!(items.unwrap(), vec![format!("cart of {id}")]);
        // Once started, it is a name like any other.
        let found = a.lookup::<CartMsg>(format!("cart/{id}")).await.unwrap();
        assert_eq!(found.host().await.unwrap(), *owner.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_messages_start_one_copy_and_all_arrive() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let id = owned_by(&b, "race-");
    let from_a = a.ref_for::<Cart>(&id);
    let from_b = b.ref_for::<Cart>(&id);
    for i in 0..50 {
        from_a.cast(CartMsg::Add(format!("a{i}"))).unwrap();
        from_b.cast(CartMsg::Add(format!("b{i}"))).unwrap();
    }
    common::eventually_within(T, "every cast arrived", || async {
        from_a
            .call(CartMsg::Items, CALL)
            .await
            .is_ok_and(|items| items.len() == 101)
    })
    .await;
    let items = from_b.call(CartMsg::Items, CALL).await.unwrap();
    // In order per sender.
    let of =
        |p: &str| -> Vec<String> { items.iter().filter(|s| s.starts_with(p)).cloned().collect() };
    assert_eq!(
        of("a"),
        (0..50).map(|i| format!("a{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        of("b"),
        (0..50).map(|i| format!("b{i}")).collect::<Vec<_>>()
    );
    assert_eq!(common::hosts(&[&a, &b], &format!("cart/{id}")).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_on_demand_name_starts_afresh_and_a_kind_without_factory_does_not_start() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let id = owned_by(&a, "again-");
    let cart = b.ref_for::<Cart>(&id);
    cart.cast(CartMsg::Add("x".into())).unwrap();
    common::eventually_within(T, "started", || async {
        cart.call(CartMsg::Items, CALL)
            .await
            .is_ok_and(|i| i.len() == 2)
    })
    .await;
    cart.stop_and_wait(None, None).await.unwrap();
    common::eventually_within(T, "started afresh", || async {
        cart.call(CartMsg::Items, CALL).await.ok() == Some(vec![format!("cart of {id}")])
    })
    .await;

    for node in [&a, &b] {
        let plain = node.ref_for::<PlainCart>(&owned(node, "plain", "plain-"));
        let answer = plain.call(CartMsg::Items, CALL).await;
        assert!(matches!(answer, Err(DistError::NotFound(_))), "{answer:?}");
    }
    assert!(common::hosts(&[&a, &b], "plain/").is_empty());
}

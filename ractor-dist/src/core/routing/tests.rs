use proptest::prelude::*;

use super::*;

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

const ME: &str = "a@h";

fn placement(epoch: u64) -> Placement {
    Placement::new(Epoch(epoch), [n(ME), n("b@h"), n("c@h")])
}

/// A name owned by `owner` under `placement(1)`.
fn owned_by(owner: &str) -> ActorKey {
    let p = placement(1);
    (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| p.owner_of(k) == Some(&n(owner)))
        .unwrap()
}

fn routing() -> Routing {
    let mut r = Routing::new(n(ME), placement(1));
    r.set_view(placement(1), [n("b@h"), n("c@h")]);
    r
}

fn facts() -> Facts<'static> {
    Facts {
        settled: true,
        ..Facts::default()
    }
}

fn hosted(residence: Residence) -> Facts<'static> {
    Facts {
        hosted: Some(residence),
        ..facts()
    }
}

const ALL: [Context; 7] = [
    Context::Send,
    Context::Ask,
    Context::Relay,
    Context::Cast { hops: 0 },
    Context::Request,
    Context::Lookup,
    Context::Spawn { hops: 0 },
];

fn fwd(to: &str, hops: u8) -> Decision {
    Decision::Forward { to: n(to), hops }
}

#[test]
fn pending_local_sends_keep_handles_on_the_supervisor_path() {
    let r = routing();
    let key = owned_by("b@h");
    let f = Facts {
        pending_local: true,
        hosted: Some(Residence::Active),
        ..facts()
    };
    assert_eq!(
        r.routes().route(&key, Context::Send, f),
        Decision::ViaSupervisor
    );
    // Only handle sends care: the supervisor delivers.
    assert_eq!(r.routes().route(&key, Context::Relay, f), Decision::Deliver);
}

#[test]
fn hosted_names_by_context_and_residence() {
    let r = routing();
    let key = owned_by("b@h");
    let me = Decision::Found(n(ME));
    let table = [
        (
            Residence::Active,
            [
                Decision::Deliver,
                me.clone(),
                Decision::Deliver,
                Decision::Deliver,
                Decision::Deliver,
                me.clone(),
                me.clone(),
            ],
        ),
        (
            Residence::Moving,
            [
                Decision::ViaSupervisor,
                me.clone(),
                Decision::Hold,
                Decision::Hold,
                Decision::Deliver,
                me.clone(),
                me.clone(),
            ],
        ),
        (
            Residence::Settling,
            [
                Decision::ViaSupervisor,
                me.clone(),
                Decision::Deliver,
                Decision::Deliver,
                Decision::Deliver,
                me.clone(),
                me.clone(),
            ],
        ),
    ];
    for (residence, expected) in table {
        for (context, want) in ALL.iter().zip(expected) {
            assert_eq!(
                r.routes().route(&key, *context, hosted(residence)),
                want,
                "{residence:?} {context:?}"
            );
        }
    }
}

#[test]
fn a_redirect_beats_the_directory_the_cache_and_the_owner() {
    let mut r = routing();
    let key = owned_by(ME);
    assert!(r
        .handle_register(&n("c@h"), [key.clone()], |_| false, |_| true)
        .is_empty());
    r.handle_moved(key.clone(), n("b@h"));
    let cached = |_: &ActorKey, _: Epoch| Some(n("c@h"));
    let f = Facts {
        cached: Some(&cached),
        ..facts()
    };
    let expected = [
        fwd("b@h", 0),
        // (b does not own it: asked, see the test below)
        Decision::AskNode(n("b@h")),
        fwd("b@h", 0),
        fwd("b@h", 1),
        Decision::Redirect(n("b@h")),
        Decision::Found(n("b@h")),
        Decision::Found(n("b@h")),
    ];
    for (context, want) in ALL.iter().zip(expected) {
        assert_eq!(r.routes().route(&key, *context, f), want, "{context:?}");
    }
    // Hosting it again removes the redirect, and the directory entry naming where it was
    // before (stale once it runs here).
    r.handle_hosted(&key);
    assert_eq!(r.routes().directory_host(&key), None);
    let after = r.routes().route(&key, Context::Lookup, f);
    assert!(
        !matches!(&after, Decision::Found(h) | Decision::Redirect(h) if *h == n("b@h") || *h == n("c@h")),
        "{after:?}"
    );
}

#[test]
fn the_directory_beats_the_cache_and_the_owner() {
    let mut r = routing();
    let key = owned_by(ME);
    r.handle_register(&n("c@h"), [key.clone()], |_| false, |_| true);
    let cached = |_: &ActorKey, _: Epoch| Some(n("b@h"));
    let f = Facts {
        cached: Some(&cached),
        ..facts()
    };
    assert_eq!(r.routes().route(&key, Context::Send, f), fwd("c@h", 0));
    assert_eq!(
        r.routes().route(&key, Context::Ask, f),
        Decision::Found(n("c@h"))
    );
    assert_eq!(
        r.routes().route(&key, Context::Spawn { hops: 0 }, f),
        Decision::Found(n("c@h"))
    );
    assert_eq!(
        r.routes().route(&key, Context::Request, f),
        Decision::Redirect(n("c@h"))
    );
}

#[test]
fn the_cache_serves_handles_only_and_only_for_its_epoch() {
    let r = routing();
    let key = owned_by("b@h");
    let mut cache = LookupCache::new(n(ME), 16);
    cache.remember(key.clone(), Epoch(1), n("c@h"));
    let cached = |k: &ActorKey, e: Epoch| cache.get(k, e).cloned();
    let f = Facts {
        cached: Some(&cached),
        ..facts()
    };
    assert_eq!(r.routes().route(&key, Context::Send, f), fwd("c@h", 0));
    assert_eq!(
        r.routes().route(&key, Context::Ask, f),
        Decision::Found(n("c@h"))
    );
    // The supervisor routes by its tables and placement.
    assert_eq!(r.routes().route(&key, Context::Relay, f), fwd("b@h", 0));
    assert_eq!(
        r.routes().route(&key, Context::Lookup, f),
        Decision::Redirect(n("b@h"))
    );
    // A newer view: the cached answer is stale.
    let mut r2 = routing();
    r2.set_view(placement(2), [n("b@h"), n("c@h")]);
    assert_eq!(r2.routes().route(&key, Context::Send, f), fwd("b@h", 0));
}

#[test]
fn a_cached_host_outside_the_view_is_ignored() {
    // Found by the chaos test: a node that had left stayed in another node's cache (the
    // answer crossed the view change) and every call to that name failed until the next
    // membership change.
    let r = routing();
    let key = owned_by("b@h");
    let cached = |_: &ActorKey, _: Epoch| Some(n("gone@h"));
    let f = Facts {
        cached: Some(&cached),
        ..facts()
    };
    assert_eq!(r.routes().route(&key, Context::Send, f), fwd("b@h", 0));
    assert_eq!(
        r.routes().route(&key, Context::Ask, f),
        Decision::AskNode(n("b@h"))
    );
}

#[test]
fn names_owned_elsewhere_by_context() {
    let r = routing();
    let key = owned_by("b@h");
    let expected = [
        fwd("b@h", 0),
        Decision::AskNode(n("b@h")),
        fwd("b@h", 0),
        fwd("b@h", 1),
        Decision::Redirect(n("b@h")),
        Decision::Redirect(n("b@h")),
        Decision::Redirect(n("b@h")),
    ];
    for (context, want) in ALL.iter().zip(expected) {
        assert_eq!(
            r.routes().route(&key, *context, facts()),
            want,
            "{context:?}"
        );
    }
}

#[test]
fn names_owned_here_and_not_hosted() {
    let r = routing();
    let key = owned_by(ME);
    let expected = [
        Decision::NotFound,
        Decision::AskNode(n(ME)),
        Decision::NotFound,
        Decision::NotFound,
        Decision::NotFound,
        Decision::NotFound,
        Decision::SpawnHere,
    ];
    for (context, want) in ALL.iter().zip(expected) {
        assert_eq!(
            r.routes().route(&key, *context, facts()),
            want,
            "{context:?}"
        );
    }
    // Not settled: a handoff may still bring it; the supervisor parks the message.
    let unsettled = Facts {
        settled: false,
        ..facts()
    };
    assert_eq!(
        r.routes().route(&key, Context::Send, unsettled),
        Decision::ViaSupervisor
    );
}

#[test]
fn cast_forwarding_stops_at_the_hop_limit() {
    let r = routing();
    let key = owned_by("b@h");
    for hops in 0..MAX_HOPS {
        assert_eq!(
            r.routes().route(&key, Context::Cast { hops }, facts()),
            fwd("b@h", hops + 1)
        );
    }
    assert_eq!(
        r.routes()
            .route(&key, Context::Cast { hops: MAX_HOPS }, facts()),
        Decision::HopLimit
    );
    // A name hosted here is delivered whatever its hop count.
    assert_eq!(
        r.routes().route(
            &key,
            Context::Cast { hops: MAX_HOPS },
            hosted(Residence::Active)
        ),
        Decision::Deliver
    );
}

#[test]
fn spawn_redirects_stop_at_the_limit_and_at_unreachable_owners() {
    let mut r = routing();
    let key = owned_by("b@h");
    for hops in 0..MAX_SPAWN_HOPS {
        assert_eq!(
            r.routes().route(&key, Context::Spawn { hops }, facts()),
            Decision::Redirect(n("b@h"))
        );
    }
    assert_eq!(
        r.routes().route(
            &key,
            Context::Spawn {
                hops: MAX_SPAWN_HOPS
            },
            facts()
        ),
        Decision::SpawnHere
    );
    r.set_view(placement(1), [n("c@h")]);
    assert_eq!(
        r.routes().route(&key, Context::Spawn { hops: 0 }, facts()),
        Decision::SpawnHere
    );
    let closing = Facts {
        shutting_down: true,
        ..facts()
    };
    assert_eq!(
        r.routes().route(&key, Context::Spawn { hops: 0 }, closing),
        Decision::Unavailable
    );
    // An existing name is still reported by a node that shuts down.
    let f = Facts {
        hosted: Some(Residence::Active),
        ..closing
    };
    assert_eq!(
        r.routes().route(&key, Context::Spawn { hops: 0 }, f),
        Decision::Found(n(ME))
    );
}

#[test]
fn an_empty_view_routes_nothing() {
    let mut r = Routing::new(n(ME), Placement::new(Epoch(3), Vec::new()));
    let key = ActorKey::new("x");
    let expected = [
        Decision::NoView,
        Decision::NoView,
        Decision::NotFound,
        Decision::NotFound,
        Decision::NotFound,
        Decision::NotFound,
        Decision::SpawnHere,
    ];
    for (context, want) in ALL.iter().zip(expected) {
        assert_eq!(
            r.routes().route(&key, *context, facts()),
            want,
            "{context:?}"
        );
    }
    r.handle_moved(key.clone(), n("b@h"));
    assert_eq!(
        r.routes().route(&key, Context::Send, facts()),
        fwd("b@h", 0)
    );
}

#[test]
fn register_yields_to_a_copy_here_or_on_another_live_node() {
    let mut r = routing();
    let (k1, k2, k3) = (
        ActorKey::new("one"),
        ActorKey::new("two"),
        ActorKey::new("three"),
    );
    assert!(r
        .handle_register(&n("b@h"), [k2.clone(), k3.clone()], |_| false, |_| true)
        .is_empty());
    let yields = r.handle_register(
        &n("c@h"),
        [k1.clone(), k2.clone(), k3.clone()],
        |k| *k == k1,
        |node| *node != n("d@h"),
    );
    assert_eq!(
        yields,
        vec![
            (k1.clone(), n(ME)),
            (k2.clone(), n("b@h")),
            (k3.clone(), n("b@h"))
        ]
    );
    assert_eq!(r.routes().directory_host(&k2), Some(&n("b@h")));
    assert_eq!(r.routes().directory_host(&k1), None);
    // A registration naming a host that is down is replaced.
    let yields = r.handle_register(&n("c@h"), [k2.clone()], |_| false, |node| *node != n("b@h"));
    assert!(yields.is_empty());
    assert_eq!(r.routes().directory_host(&k2), Some(&n("c@h")));
    // The same node registering again is no conflict.
    assert!(r
        .handle_register(&n("c@h"), [k2.clone()], |_| false, |_| true)
        .is_empty());
}

#[test]
fn unregister_only_removes_an_entry_naming_the_sender() {
    let mut r = routing();
    let key = ActorKey::new("x");
    r.handle_register(&n("b@h"), [key.clone()], |_| false, |_| true);
    assert!(!r.handle_unregister(&n("c@h"), &key));
    assert_eq!(r.routes().directory_host(&key), Some(&n("b@h")));
    assert!(r.handle_unregister(&n("b@h"), &key));
    assert_eq!(r.routes().directory_host(&key), None);
    assert!(!r.handle_unregister(&n("b@h"), &key));
}

#[test]
fn a_view_change_clears_redirects_and_prunes_the_directory() {
    let mut r = routing();
    let mine = owned_by(ME);
    let theirs = owned_by("b@h");
    let lost = (0..)
        .map(|i| ActorKey::new(format!("z{i}")))
        .find(|k| placement(1).owner_of(k) == Some(&n(ME)) && *k != mine)
        .unwrap();
    r.handle_register(
        &n("b@h"),
        [mine.clone(), theirs.clone()],
        |_| false,
        |_| true,
    );
    r.handle_register(&n("c@h"), [lost.clone()], |_| false, |_| true);
    r.handle_moved(ActorKey::new("gone"), n("c@h"));
    let before = r.snapshot();
    r.set_view(placement(2), [n("b@h")]);
    r.handle_view_change(&[n("c@h")]);
    let after = r.routes();
    assert_eq!(after.directory_host(&mine), Some(&n("b@h")));
    assert_eq!(after.directory_host(&theirs), None, "not owned here");
    assert_eq!(after.directory_host(&lost), None, "its host went down");
    assert_eq!(after.moved_to(&ActorKey::new("gone")), None);
    // A published snapshot does not change.
    assert_eq!(before.directory_len(), 3);
    assert_eq!(before.moved_to(&ActorKey::new("gone")), Some(&n("c@h")));
}

#[test]
fn a_gone_peer_takes_its_redirects_and_registrations_along() {
    let mut r = routing();
    r.handle_moved(ActorKey::new("x"), n("b@h"));
    r.handle_moved(ActorKey::new("y"), n("c@h"));
    r.handle_register(&n("b@h"), [ActorKey::new("kept")], |_| false, |_| true);
    r.handle_register(&n("c@h"), [ActorKey::new("other")], |_| false, |_| true);
    r.snapshot();
    assert!(!r.is_dirty());
    r.handle_peer_gone(&n("b@h"));
    assert!(r.is_dirty());
    assert_eq!(r.routes().moved_to(&ActorKey::new("x")), None);
    assert_eq!(r.routes().moved_to(&ActorKey::new("y")), Some(&n("c@h")));
    // A leaver's registration (a name its owner refused, kept there) ends with it.
    assert_eq!(r.routes().directory_host(&ActorKey::new("kept")), None);
    assert_eq!(
        r.routes().directory_host(&ActorKey::new("other")),
        Some(&n("c@h"))
    );
}

#[test]
fn the_lookup_cache_keeps_one_epoch() {
    let mut c = LookupCache::new(n(ME), 8);
    let k = ActorKey::new("x");
    c.remember(k.clone(), Epoch(2), n("b@h"));
    assert_eq!(c.get(&k, Epoch(2)), Some(&n("b@h")));
    assert_eq!(c.get(&k, Epoch(3)), None);
    // An answer of an older epoch is ignored; a newer one starts afresh.
    c.remember(ActorKey::new("old"), Epoch(1), n("c@h"));
    assert_eq!(c.len(), 1);
    c.remember(ActorKey::new("y"), Epoch(3), n("c@h"));
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(&k, Epoch(3)), None);
    // This node is never cached; an answer naming it forgets the name.
    c.remember(ActorKey::new("y"), Epoch(3), n(ME));
    assert!(c.is_empty());
    c.remember(ActorKey::new("y"), Epoch(3), n("b@h"));
    c.remember(ActorKey::new("z"), Epoch(3), n("c@h"));
    c.forget_hosts(&[n("b@h")]);
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(&ActorKey::new("z"), Epoch(3)), Some(&n("c@h")));
}

#[test]
fn the_lookup_cache_evicts_the_oldest_answer_at_its_bound() {
    let mut c = LookupCache::new(n(ME), 3);
    for i in 0..5 {
        c.remember(ActorKey::new(format!("k{i}")), Epoch(1), n("b@h"));
    }
    assert_eq!(c.len(), 3);
    assert_eq!(c.get(&ActorKey::new("k1"), Epoch(1)), None);
    assert!(c.get(&ActorKey::new("k2"), Epoch(1)).is_some());
    // Remembering again refreshes: k2 is now the newest.
    c.remember(ActorKey::new("k2"), Epoch(1), n("c@h"));
    c.remember(ActorKey::new("k5"), Epoch(1), n("b@h"));
    assert_eq!(c.get(&ActorKey::new("k3"), Epoch(1)), None);
    assert_eq!(c.get(&ActorKey::new("k2"), Epoch(1)), Some(&n("c@h")));
}

#[derive(Clone, Debug)]
enum CacheOp {
    Remember(u8, u64, u8),
    Forget(u8),
    ForgetHost(u8),
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        (0u8..40, 1u64..4, 0u8..4).prop_map(|(k, e, h)| CacheOp::Remember(k, e, h)),
        (0u8..40).prop_map(CacheOp::Forget),
        (0u8..4).prop_map(CacheOp::ForgetHost),
    ]
}

fn host(i: u8) -> NodeName {
    if i == 0 {
        n(ME)
    } else {
        n(&format!("n{i}@h"))
    }
}

proptest! {
    #[test]
    fn the_lookup_cache_stays_within_its_bound_and_answers_the_latest(
        cap in 1usize..12,
        ops in proptest::collection::vec(cache_op(), 0..200),
    ) {
        let mut c = LookupCache::new(n(ME), cap);
        // The model: the latest answer per name of the newest epoch.
        let mut epoch = 0u64;
        let mut model: std::collections::BTreeMap<u8, NodeName> = Default::default();
        for op in ops {
            match op {
                CacheOp::Remember(k, e, h) => {
                    c.remember(ActorKey::new(format!("k{k}")), Epoch(e), host(h));
                    if e > epoch { epoch = e; model.clear(); }
                    if e == epoch {
                        if h == 0 { model.remove(&k); } else { model.insert(k, host(h)); }
                    }
                }
                CacheOp::Forget(k) => {
                    c.forget(&ActorKey::new(format!("k{k}")));
                    model.remove(&k);
                }
                CacheOp::ForgetHost(h) => {
                    c.forget_hosts(&[host(h)]);
                    model.retain(|_, v| *v != host(h));
                }
            }
            prop_assert!(c.len() <= cap);
            for k in 0u8..40 {
                let got = c.get(&ActorKey::new(format!("k{k}")), Epoch(epoch));
                // Evicted answers are gone; any answer given is the latest one.
                if let Some(got) = got {
                    prop_assert_eq!(Some(got), model.get(&k));
                }
                prop_assert_ne!(got, Some(&n(ME)));
            }
        }
    }

    #[test]
    fn no_decision_sends_to_this_node_and_casts_stop(
        moved in proptest::collection::btree_map(0u8..30, 0u8..4, 0..10),
        registered in proptest::collection::btree_map(0u8..30, 1u8..4, 0..10),
        cached_host in 0u8..4,
        key in 0u8..30,
        hops in 0u8..6,
        hosted_state in proptest::option::of(prop_oneof![
            Just(Residence::Active), Just(Residence::Moving), Just(Residence::Settling)
        ]),
        settled: bool,
    ) {
        let mut r = Routing::new(n(ME), Placement::new(Epoch(1), [n(ME), host(1), host(2), host(3)]));
        r.set_view(Placement::new(Epoch(1), [n(ME), host(1), host(2), host(3)]), [host(1), host(2)]);
        for (k, h) in moved {
            r.handle_moved(ActorKey::new(format!("k{k}")), host(h));
        }
        for (k, h) in registered {
            r.handle_register(&host(h), [ActorKey::new(format!("k{k}"))], |_| false, |_| true);
        }
        let cached = |_: &ActorKey, _: Epoch| (cached_host != 0).then(|| host(cached_host));
        let f = Facts { hosted: hosted_state, settled, cached: Some(&cached), ..Facts::default() };
        let key = ActorKey::new(format!("k{key}"));
        let contexts = [
            Context::Send, Context::Ask, Context::Relay, Context::Cast { hops },
            Context::Request, Context::Lookup, Context::Spawn { hops },
        ];
        for context in contexts {
            match r.routes().route(&key, context, f) {
                Decision::Forward { to, hops: h } => {
                    prop_assert_ne!(&to, &n(ME));
                    prop_assert!(h <= MAX_HOPS);
                    if let Context::Cast { hops } = context { prop_assert_eq!(h, hops + 1); }
                }
                Decision::Redirect(to) => prop_assert_ne!(to, n(ME)),
                Decision::HopLimit => {
                    let over = matches!(context, Context::Cast { hops } if hops >= MAX_HOPS);
                    prop_assert!(over);
                }
                Decision::Deliver | Decision::Hold => prop_assert!(hosted_state.is_some()),
                Decision::Found(host) if host == n(ME) => prop_assert!(hosted_state.is_some()),
                _ => {}
            }
        }
    }
}

/// `where_is` asks the node a redirect names when that node does not own the name (this
/// node's copy yielded to another copy's node after a heal, and the survivor went on to
/// the owner from there: the containers test saw nodes name different hosts); a redirect
/// to the owner is the answer, and messages follow either redirect.
#[test]
fn a_redirect_to_a_node_that_does_not_own_the_name_is_asked_not_trusted() {
    let mut r = routing();
    let key = owned_by("b@h");
    r.handle_moved(key.clone(), n("c@h"));
    assert_eq!(
        r.routes().route(&key, Context::Ask, facts()),
        Decision::AskNode(n("c@h"))
    );
    assert_eq!(
        r.routes().route(&key, Context::Send, facts()),
        fwd("c@h", 0)
    );
    assert_eq!(
        r.routes().route(&key, Context::Lookup, facts()),
        Decision::Found(n("c@h"))
    );
    r.handle_moved(key.clone(), n("b@h"));
    assert_eq!(
        r.routes().route(&key, Context::Ask, facts()),
        Decision::Found(n("b@h"))
    );
}

//! Where a message goes: the engine's decision for each cast, request and local message
//! the node's supervisor handles (its payload stays in the node layer).

use super::Engine;
use crate::core::wire::{RemoteError, Request, Response};
use crate::core::{ActorKey, Admission, Context, Decision, NodeName, Residence};

/// What becomes of a cast its next hop's session did not take ([`Engine::dispatch_unsent`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsent {
    /// Park it until the sessions or the view change.
    Park,
    /// Drop it (counted); `retire_stream`: this node's next cast to the name starts a new
    /// stream ([`crate::core::order::Stamper::retire`]).
    Drop {
        why: &'static str,
        retire_stream: bool,
    },
}

/// What to do with one message (see [`Engine::dispatch_cast`] and its siblings).
#[derive(Debug)]
pub(crate) enum Dispatch {
    /// Hand it to the actor hosted here.
    Deliver,
    /// The actor is moving away (or fenced): hold it until the move ends.
    Hold,
    /// The node is not settled and a handoff may still bring the actor, or earlier
    /// messages: park it until the node settles.
    Park,
    /// Send it on to `to`, with `hops` forwards counted.
    Forward {
        /// The next node.
        to: NodeName,
        /// Forwards so far.
        hops: u8,
    },
    /// A request answered now.
    Answer(Response),
    /// A request to handle now (spawn, lookup, call, stop).
    Proceed,
    /// Dropped (a cast or a local message), for this reason.
    Drop(&'static str),
    /// The name is not running and starts on its first message here: start it as `kind`
    /// (see [`Engine::activates`]), then deliver (or proceed with the request).
    Activate {
        /// Its kind.
        kind: String,
    },
}

/// What a request asks for, as far as holding it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asks {
    /// Start a name.
    Spawn,
    /// Find a name.
    Lookup,
    /// Call an actor.
    Call,
    /// Stop an actor.
    Stop,
}

impl Asks {
    /// The name `request` is about and what it asks for; `None` for a request about no
    /// name (statistics), which is never held.
    pub(crate) fn of(request: &Request) -> Option<(&ActorKey, Asks)> {
        match request {
            Request::Spawn { key, .. } => Some((key, Asks::Spawn)),
            Request::Lookup { key } => Some((key, Asks::Lookup)),
            Request::Call { key, .. } => Some((key, Asks::Call)),
            Request::Stop { key } => Some((key, Asks::Stop)),
            Request::Status | Request::Confirm { .. } => None,
        }
    }
}

/// The answer to a request for `key` that is not handled here, by the routing decision
/// about it: a redirect, or not found.
pub(crate) fn not_here(key: &ActorKey, decision: Decision) -> Response {
    match decision {
        Decision::Redirect(host) => Response::Redirect { host },
        _ => Response::Err(RemoteError::NotFound(key.clone())),
    }
}

/// The answer to a lookup of `key`, by the routing decision about it: where it runs, a
/// redirect, or not found.
pub(crate) fn lookup_answer(key: &ActorKey, decision: Decision) -> Response {
    match decision {
        Decision::Found(host) => Response::Found { host },
        decision => not_here(key, decision),
    }
}

impl Engine {
    /// A cast for `key` from `from`, forwarded `hops` times so far; `hosted`: the state of
    /// its local entry; `expired`: it was parked for the whole park deadline (it is handled
    /// without a further admission check).
    pub(crate) fn dispatch_cast(
        &self,
        key: &ActorKey,
        from: &NodeName,
        hops: u8,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        // An earlier message of this sender for `key` is parked: this one queues behind
        // it, even where the name now moves away (held, it would be forwarded first).
        if !expired && self.hold.has_parked_from(key, from) {
            return Dispatch::Park;
        }
        let decision = self.route(key, Context::Cast { hops }, hosted);
        if decision == Decision::Hold {
            return Dispatch::Hold;
        }
        if !expired && self.admit_hosted(key, from, hosted.is_some()) == Admission::Park {
            return Dispatch::Park;
        }
        match decision {
            Decision::Deliver if hosted.is_some() => Dispatch::Deliver,
            Decision::Forward { to, hops } => Dispatch::Forward { to, hops },
            Decision::HopLimit => Dispatch::Drop("too many hops"),
            _ => match self.activates(key, hosted) {
                Some(kind) => Dispatch::Activate { kind },
                None => Dispatch::Drop("no such actor"),
            },
        }
    }

    /// A cast from `from` (`stamped`: numbered, see [`crate::core::order`]) could not be
    /// handed to its next hop's session (the session closed, replaced by a simultaneous dial
    /// or lost with the peer, and the view has not caught up): it is parked until the
    /// sessions or the view change and dispatched again then, unless it already waited its
    /// whole park deadline (`expired`).
    pub(crate) fn dispatch_unsent(&self, from: &NodeName, stamped: bool, expired: bool) -> Unsent {
        if !expired {
            return Unsent::Park;
        }
        Unsent::Drop {
            why: "next hop unreachable",
            // This node's own numbered cast never arrives: its host must not wait for
            // the number (a relayed cast's origin learns nothing; its host gives the gap
            // up after `Timing::gap_ms`).
            retire_stream: stamped && *from == self.me,
        }
    }

    /// A request of `asks` for `key` from `from`; `hosted` and `expired` as for
    /// [`Engine::dispatch_cast`]. While the actor moves away, a call (and a stop before the
    /// target is known) is held; others are sent to the target.
    pub(crate) fn dispatch_request(
        &self,
        key: &ActorKey,
        from: &NodeName,
        asks: Asks,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        if !expired && self.hold.has_parked_from(key, from) {
            return Dispatch::Park;
        }
        if hosted == Some(Residence::Moving) {
            match (asks, self.handoff.target_of(key).cloned()) {
                (Asks::Call, _) | (Asks::Stop, None) => return Dispatch::Hold,
                (Asks::Spawn, Some(host)) => {
                    return Dispatch::Answer(Response::Spawned {
                        host,
                        created: false,
                    })
                }
                (_, Some(host)) => return Dispatch::Answer(Response::Redirect { host }),
                (_, None) => {}
            }
        }
        if !expired && self.admit_hosted(key, from, hosted.is_some()) == Admission::Park {
            return Dispatch::Park;
        }
        match (asks, self.activates(key, hosted)) {
            (Asks::Call, Some(kind)) => Dispatch::Activate { kind },
            _ => Dispatch::Proceed,
        }
    }

    /// A typed message from a local handle for `key` that went through the supervisor
    /// (its actor moves or settles, or its next hop's session is not confirmed yet);
    /// `hosted` and `expired` as for [`Engine::dispatch_cast`].
    pub(crate) fn dispatch_local(
        &self,
        key: &ActorKey,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        if !expired && self.hold.has_parked_from(key, &self.me) {
            return Dispatch::Park;
        }
        let moving = hosted == Some(Residence::Moving);
        if !expired
            && !moving
            && self.admit_hosted(key, &self.me, hosted.is_some()) == Admission::Park
        {
            return Dispatch::Park;
        }
        match self.route(key, Context::Relay, hosted) {
            Decision::Hold => Dispatch::Hold,
            Decision::Deliver if hosted.is_some() => Dispatch::Deliver,
            // Its next hop is a node this one has no confirmed session with yet (a member
            // just met, a session replaced and not confirmed again, a peer gone that the
            // view still has): it waits, with the handle's next messages behind it, until
            // the sessions or the view change, at most the park deadline.
            Decision::Forward { to, .. } if !expired && !self.mesh.reachable().contains(&to) => {
                Dispatch::Park
            }
            Decision::Forward { to, hops } => Dispatch::Forward { to, hops },
            _ => match self.activates(key, hosted) {
                Some(kind) => Dispatch::Activate { kind },
                None => Dispatch::Drop("gone"),
            },
        }
    }

    /// The kind that starts `key` here on its first message, if it does (virtual actors):
    /// its name is `KIND/id` for a kind registered here as on demand
    /// ([`crate::core::KindInfo::on_demand`]), this node owns it in the view, nothing of it
    /// runs, moves away or stops here, this node is neither leaving nor fenced, and the
    /// routing tables know of no other host.
    pub(crate) fn activates(&self, key: &ActorKey, hosted: Option<Residence>) -> Option<String> {
        let (kind, _) = on_demand_parts(key)?;
        let info = self.kind(kind)?;
        let routes = self.routing.routes();
        let quiet = hosted.is_none()
            && !self.stopping_names.contains_key(key)
            && routes.moved_to(key).is_none()
            && routes.directory_host(key).is_none()
            && !self.is_leaving()
            && !self.recovery.is_fenced();
        (info.on_demand && quiet && routes.owner_of(key) == Some(&self.me))
            .then(|| kind.to_string())
    }
}

/// `(kind, id)` of a name of the form `KIND/id` (the names of on-demand kinds).
pub(crate) fn on_demand_parts(key: &ActorKey) -> Option<(&str, &str)> {
    key.as_str().split_once('/')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::core::config::DistConfig;
    use crate::core::engine::{EngineConfig, KindInfo};
    use crate::core::wire;
    use crate::core::{Epoch, Hello, Incarnation, Millis, Placement};

    /// A node alone (it owns every name) with an on-demand kind `cart` and a kind `plain`.
    fn alone() -> Engine {
        let me = NodeName::new("a");
        let hello = Hello {
            node: me.clone(),
            incarnation: Incarnation(1),
            protocol: u32::from(wire::PROTOCOL_VERSION),
            hash_version: crate::core::hash::HASH_VERSION,
            addr: "a:7000".into(),
            weight: 1.0,
        };
        let kind = |on_demand| KindInfo {
            on_demand,
            idle_timeout_ms: on_demand.then_some(1_000),
            ..KindInfo::default()
        };
        let kinds = BTreeMap::from([("cart".into(), kind(true)), ("plain".into(), kind(false))]);
        let config = EngineConfig::new(&DistConfig::for_tests("a", 7000), hello, kinds);
        Engine::new(
            config,
            Placement::weighted(Epoch(1), [(me, 1.0)]),
            Millis(0),
        )
    }

    fn cast(engine: &Engine, key: &str, hosted: Option<Residence>) -> Dispatch {
        let me = engine.me.clone();
        engine.dispatch_cast(&ActorKey::new(key), &me, 0, hosted, false)
    }

    #[test]
    fn only_an_owned_idle_name_of_an_on_demand_kind_activates_on_its_first_message() {
        let mut engine = alone();
        assert!(
            matches!(cast(&engine, "cart/u1", None), Dispatch::Activate { kind } if kind == "cart")
        );
        let call = engine.dispatch_request(
            &ActorKey::new("cart/u1"),
            &engine.me,
            Asks::Call,
            None,
            false,
        );
        assert!(matches!(call, Dispatch::Activate { .. }));
        let lookup = engine.dispatch_request(
            &ActorKey::new("cart/u1"),
            &engine.me,
            Asks::Lookup,
            None,
            false,
        );
        assert!(
            matches!(lookup, Dispatch::Proceed),
            "only messages activate"
        );
        assert!(matches!(
            engine.dispatch_local(&ActorKey::new("cart/u1"), None, false),
            Dispatch::Activate { .. }
        ));

        for (key, hosted) in [
            ("cart/u1", Some(Residence::Active)), // runs already
            ("plain/u1", None),                   // no factory
            ("other/u1", None),                   // no such kind
            ("cart", None),                       // not KIND/id
        ] {
            assert!(
                !matches!(cast(&engine, key, hosted), Dispatch::Activate { .. }),
                "{key}"
            );
        }
        engine.handle_leave(Vec::new(), Millis(1));
        assert!(
            matches!(cast(&engine, "cart/u2", None), Dispatch::Drop(_)),
            "a leaving node starts nothing"
        );
    }

    /// Starts `key` (of the kind its name says) as actor `id`.
    fn started(engine: &mut Engine, key: &str, id: u64) {
        let key = ActorKey::new(key);
        let (kind, _) = on_demand_parts(&key).unwrap_or(("plain", ""));
        let activation = crate::core::Activation {
            generation: 1,
            origin: engine.me.clone(),
        };
        let meta = crate::core::NameMeta::new(kind, Vec::new(), activation);
        engine.handle_started(crate::core::ChildId(id), &key, kind, meta);
    }

    #[test]
    fn idle_on_demand_actors_and_the_least_recently_used_beyond_the_cap_are_passivated() {
        let mut engine = alone();
        for (i, key) in ["cart/a", "cart/b", "cart/c", "cart/d", "plain/p"]
            .iter()
            .enumerate()
        {
            started(&mut engine, key, i as u64);
        }
        let at = |pairs: &[(&str, u64)]| -> Vec<(ActorKey, Millis)> {
            pairs
                .iter()
                .map(|(k, t)| (ActorKey::new(*k), Millis(*t)))
                .collect()
        };
        let names =
            |keys: Vec<ActorKey>| -> Vec<String> { keys.iter().map(|k| k.to_string()).collect() };
        let activity = at(&[
            ("cart/a", 100),
            ("cart/b", 1_500),
            ("cart/c", 1_200),
            ("cart/d", 1_900),
            ("plain/p", 0),
        ]);
        // A kind with an idle timeout: the node looks at activity (and without one, or a
        // cap, it would not).
        assert!(engine.passivation_enabled());
        let mut cart = *engine.kind("cart").unwrap();
        cart.idle_timeout_ms = None;
        engine.set_kind("cart", cart);
        assert!(!engine.passivation_enabled());
        cart.idle_timeout_ms = Some(1_000);
        engine.set_kind("cart", cart);
        // Idle for the kind's 1 s at 2 s: a (not the plain kind's actor).
        assert_eq!(
            names(engine.passivation_due(Millis(2_000), &activity)),
            ["cart/a"]
        );
        // A cap of 2 also takes the least recently used of the others: c.
        engine.config.max_active = 2;
        assert_eq!(
            names(engine.passivation_due(Millis(2_000), &activity)),
            ["cart/a", "cart/c"]
        );
        // An actor still starting (restoring, say) is not drained: ractor would refuse to
        // start it, losing its mailbox and the state it restores. Once started, it may be.
        engine.handle_starting([crate::core::ChildId(0)]);
        assert_eq!(
            names(engine.passivation_due(Millis(2_000), &activity)),
            ["cart/c"]
        );
        engine.handle_start_reported(crate::core::ChildId(0), true);
        assert_eq!(
            names(engine.passivation_due(Millis(2_000), &activity)),
            ["cart/a", "cart/c"]
        );
        // One already passivating is not counted again; then exits with its state kept.
        engine.handle_passivating(&ActorKey::new("cart/a"), crate::core::ChildId(0));
        assert_eq!(
            names(engine.passivation_due(Millis(2_000), &activity)),
            ["cart/c"]
        );
        let kept = crate::core::Snapshot::new(1, vec![7]);
        assert_eq!(
            engine.handle_passivated(crate::core::ChildId(0), Some(kept.clone())),
            Some(ActorKey::new("cart/a"))
        );
        assert!(engine.child_of(&ActorKey::new("cart/a")).is_none());
        assert_eq!(
            engine.take_passivated(&ActorKey::new("cart/a")),
            Some(Some(kept))
        );
        // A handoff that took over an actor being passivated makes its exit an ordinary one.
        engine.handle_passivating(&ActorKey::new("cart/b"), crate::core::ChildId(1));
        engine
            .child_of_mut(&ActorKey::new("cart/b"))
            .unwrap()
            .draining = true;
        assert_eq!(
            engine.handle_passivated(crate::core::ChildId(1), None),
            None
        );
        assert!(engine.child_of(&ActorKey::new("cart/b")).is_some());
        // A leaving node passivates nothing.
        engine.handle_leave(Vec::new(), Millis(2_000));
        assert!(engine.passivation_due(Millis(9_000), &activity).is_empty());
    }

    #[test]
    fn every_request_about_a_name_says_what_it_asks() {
        let key = ActorKey::from("k");
        for (request, asks) in [
            (
                Request::Spawn {
                    key: key.clone(),
                    kind: "c".into(),
                    args: Vec::new(),
                    hops: 0,
                },
                Some(Asks::Spawn),
            ),
            (Request::Lookup { key: key.clone() }, Some(Asks::Lookup)),
            (
                Request::Call {
                    key: key.clone(),
                    variant: "v".into(),
                    args: Vec::new(),
                    timeout_ms: 1,
                },
                Some(Asks::Call),
            ),
            (Request::Stop { key: key.clone() }, Some(Asks::Stop)),
            (Request::Status, None),
            (Request::Confirm { token: 1 }, None),
        ] {
            assert_eq!(Asks::of(&request), asks.map(|a| (&key, a)), "{request:?}");
        }
    }

    #[test]
    fn a_request_not_handled_here_is_redirected_or_not_found() {
        let key = ActorKey::from("k");
        let b = NodeName::new("b");
        let found = |r: &Response| matches!(r, Response::Found { host } if host.as_str() == "b");
        let redirect =
            |r: &Response| matches!(r, Response::Redirect { host } if host.as_str() == "b");
        let not_found = |r: &Response| matches!(r, Response::Err(RemoteError::NotFound(k)) if k.as_str() == "k");
        type Check<'a> = &'a dyn Fn(&Response) -> bool;
        let cases: [(Decision, Check<'_>, Check<'_>); 3] = [
            (Decision::Found(b.clone()), &found, &not_found),
            (Decision::Redirect(b.clone()), &redirect, &redirect),
            (Decision::Deliver, &not_found, &not_found),
        ];
        for (decision, lookup, other) in cases {
            let answer = lookup_answer(&key, decision.clone());
            assert!(lookup(&answer), "{decision:?}: {answer:?}");
            let answer = not_here(&key, decision.clone());
            assert!(other(&answer), "{decision:?}: {answer:?}");
        }
    }

    #[test]
    fn after_shutdown_a_failing_actor_is_neither_restarted_nor_moved() {
        let mut engine = alone();
        started(&mut engine, "plain/p", 1);
        engine.handle_shutdown();
        assert!(engine.child_ids.is_empty());
        let exit = crate::core::engine::Exit {
            reason: None,
            error: Some("panicked".into()),
            never_started: false,
        };
        let (_, plan) = engine.handle_exit(crate::core::ChildId(1), &exit, Millis(5));
        assert!(
            matches!(plan, crate::core::engine::ExitPlan::Nothing),
            "{plan:?}"
        );
        let _ = std::iter::from_fn(|| engine.poll_command())
            .take(10_000)
            .count();
        engine.handle_tick(Millis(10_000));
        assert!(engine.poll_command().is_none(), "a tick does nothing");
    }

    #[test]
    fn moved_kinds_are_kept_only_for_names_with_local_messages_waiting() {
        let mut engine = alone();
        for key in ["a", "b", "c"] {
            engine
                .moved_kinds
                .insert(ActorKey::from(key), "plain".into());
        }
        engine.forget_moved_kinds(|key| key.as_str() == "b");
        let kept: Vec<&str> = engine.moved_kinds.keys().map(ActorKey::as_str).collect();
        assert_eq!(kept, ["b"]);
        engine.forget_moved_kinds(|_| false);
        assert!(engine.moved_kinds.is_empty());
    }
}

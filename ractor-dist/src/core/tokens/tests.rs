use proptest::prelude::*;

use super::*;
use crate::core::identity::Incarnation;

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

const LOCAL: Token = 1;

fn tokens() -> Tokens<u64> {
    Tokens::new(LOCAL, n("me"))
}

/// Draws 100, 101, 102, ...
fn counter() -> impl FnMut() -> Token {
    let mut next = 99;
    move || {
        next += 1;
        next
    }
}

fn present(gateways: &[(&str, u64)]) -> BTreeMap<NodeName, u64> {
    gateways.iter().map(|(p, g)| (n(p), *g)).collect()
}

fn names(peers: &[&str]) -> BTreeSet<NodeName> {
    peers.iter().map(|p| n(p)).collect()
}

fn drain(t: &mut Tokens<u64>) -> Vec<TokenCommand<u64>> {
    std::iter::from_fn(|| t.poll_command()).collect()
}

fn hand_out(to: &str, token: Token) -> TokenCommand<u64> {
    TokenCommand::HandOut { to: n(to), token }
}

fn confirm(peer: &str, gateway: u64, token: Token) -> TokenCommand<u64> {
    TokenCommand::Confirm {
        peer: n(peer),
        gateway,
        token,
    }
}

fn owner(s: &str) -> Answer {
    Answer::Owner(Some(n(s)))
}

fn pending(from: &str) -> PendingHello {
    PendingHello {
        from: n(from),
        incarnation: Incarnation(7),
        hello: Hello {
            node: n(from),
            incarnation: Incarnation(7),
            protocol: 1,
            hash_version: 1,
            addr: "127.0.0.1:1".into(),
            weight: 1.0,
        },
        reply: true,
    }
}

/// `peer` (gateway `gateway`) is connected and its token `token` confirmed.
fn confirmed(t: &mut Tokens<u64>, peer: &str, gateway: u64, token: Token) -> SessionPlan<u64> {
    let mut draw = counter();
    t.handle_sessions(&present(&[(peer, gateway)]), &names(&[peer]), &mut draw);
    t.handle_token(n(peer), token);
    drain(t);
    assert_eq!(
        t.handle_answer(n(peer), gateway, token, owner("me")),
        Checked::Confirmed
    );
    t.handle_sessions(&present(&[(peer, gateway)]), &names(&[peer]), &mut draw)
}

#[test]
fn a_new_gateway_gets_a_token_handed_out_once() {
    let mut t = tokens();
    let mut draw = counter();
    let plan = t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert_eq!(drain(&mut t), vec![hand_out("a", 100)]);
    assert_eq!(t.session_of(100), Some(&n("a")));
    assert_eq!(t.session_of(LOCAL), Some(&n("me")));
    assert!(plan.usable.is_empty(), "no token of a's is held yet");
    // The same gateway again: nothing new.
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert_eq!(drain(&mut t), vec![]);
}

#[test]
fn draws_skip_no_token_and_tokens_already_issued() {
    let mut t = tokens();
    let mut draws = vec![NO_TOKEN, LOCAL, 5, 5, 6].into_iter();
    let mut draw = move || draws.next().expect("enough draws");
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    t.handle_sessions(&present(&[("a", 2)]), &names(&["a"]), &mut draw);
    assert_eq!(drain(&mut t), vec![hand_out("a", 5), hand_out("a", 6)]);
}

#[test]
fn a_new_gateway_replaces_the_token_and_the_previous_one_stays_valid() {
    let mut t = tokens();
    let mut draw = counter();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    t.handle_sessions(&present(&[("a", 2)]), &names(&["a"]), &mut draw);
    assert_eq!(drain(&mut t), vec![hand_out("a", 100), hand_out("a", 101)]);
    assert_eq!(t.issued_to(&n("a")).collect::<Vec<_>>(), vec![101, 100]);
    assert_eq!(t.session_of(100), Some(&n("a")));
    assert_eq!(t.session_of(101), Some(&n("a")));
}

#[test]
fn tokens_past_kept_per_peer_are_no_longer_honoured() {
    let mut t = tokens();
    let mut draw = counter();
    for gateway in 1..=(KEPT_PER_PEER as u64 + 1) {
        t.handle_sessions(&present(&[("a", gateway)]), &names(&["a"]), &mut draw);
    }
    assert_eq!(t.issued_to(&n("a")).count(), KEPT_PER_PEER);
    assert_eq!(t.session_of(100), None, "the oldest is evicted");
    assert_eq!(t.session_of(100 + KEPT_PER_PEER as u128), Some(&n("a")));
}

#[test]
fn a_token_is_used_only_once_its_issuer_confirms_it() {
    let mut t = tokens();
    let mut draw = counter();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    drain(&mut t);
    t.handle_token(n("a"), 7);
    assert_eq!(drain(&mut t), vec![confirm("a", 1, 7)]);
    // Asked once: the same token again is not asked again while in flight.
    t.handle_token(n("a"), 7);
    assert_eq!(drain(&mut t), vec![]);
    assert_eq!(
        t.handle_answer(n("a"), 1, 7, owner("me")),
        Checked::Confirmed
    );
    let plan = t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert_eq!(plan.usable, BTreeMap::from([(n("a"), (1, 7))]));
    assert_eq!(plan.fresh, vec![n("a")]);
    // Held for this gateway: a repeated handout is not asked about.
    t.handle_token(n("a"), 7);
    assert_eq!(drain(&mut t), vec![]);
    // Usable already: not fresh the second time.
    let plan = t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert!(plan.fresh.is_empty());
}

#[test]
fn a_token_its_claimed_issuer_did_not_issue_to_this_node_is_refused() {
    let mut t = tokens();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut counter());
    t.handle_token(n("a"), 7);
    t.handle_token(n("a"), 8);
    drain(&mut t);
    assert_eq!(t.handle_answer(n("a"), 1, 7, owner("c")), Checked::Refused);
    assert_eq!(
        t.handle_answer(n("a"), 1, 8, Answer::Owner(None)),
        Checked::Refused
    );
    assert_eq!(t.held(&n("a")), None);
}

#[test]
fn a_late_confirmation_of_an_older_token_does_not_replace_the_newest() {
    let mut t = tokens();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut counter());
    drain(&mut t);
    t.handle_token(n("a"), 7);
    t.handle_token(n("a"), 8);
    assert_eq!(drain(&mut t), vec![confirm("a", 1, 7), confirm("a", 1, 8)]);
    t.handle_answer(n("a"), 1, 8, owner("me"));
    t.handle_answer(n("a"), 1, 7, owner("me"));
    assert_eq!(t.held(&n("a")), Some((1, 8)));
}

#[test]
fn a_held_token_is_confirmed_again_over_a_new_gateway_and_unusable_until_then() {
    let mut t = tokens();
    confirmed(&mut t, "a", 1, 7);
    let mut draw = counter();
    let plan = t.handle_sessions(&present(&[("a", 2)]), &names(&["a"]), &mut draw);
    assert!(plan.usable.is_empty());
    let commands = drain(&mut t);
    assert!(commands.contains(&confirm("a", 2, 7)), "{commands:?}");
    t.handle_answer(n("a"), 2, 7, owner("me"));
    let plan = t.handle_sessions(&present(&[("a", 2)]), &names(&["a"]), &mut draw);
    assert_eq!(plan.usable, BTreeMap::from([(n("a"), (2, 7))]));
    assert_eq!(plan.fresh, vec![n("a")], "another gateway is fresh");
}

#[test]
fn confirmations_in_flight_are_capped() {
    let mut t = tokens();
    let peers: Vec<String> = (0..MAX_CONFIRMING + 5).map(|i| format!("p{i}")).collect();
    let gateways: BTreeMap<NodeName, u64> = peers.iter().map(|p| (n(p), 1)).collect();
    let connected: BTreeSet<NodeName> = peers.iter().map(|p| n(p)).collect();
    t.handle_sessions(&gateways, &connected, &mut counter());
    drain(&mut t);
    for peer in &peers {
        t.handle_token(n(peer), 7);
    }
    let asked = drain(&mut t)
        .into_iter()
        .filter(|c| matches!(c, TokenCommand::Confirm { .. }))
        .count();
    assert_eq!(asked, MAX_CONFIRMING);
    // An answer frees a place.
    t.handle_answer(n(&peers[0]), 1, 7, owner("me"));
    t.handle_token(n(&peers[MAX_CONFIRMING]), 7);
    assert_eq!(drain(&mut t).len(), 1);
}

#[test]
fn tokens_waiting_for_a_gateway_are_capped_and_asked_once_it_is_known() {
    let mut t = tokens();
    let peers: Vec<String> = (0..MAX_CONFIRMING + 5).map(|i| format!("p{i}")).collect();
    for peer in &peers {
        t.handle_token(n(peer), 7);
    }
    assert_eq!(drain(&mut t), vec![], "no gateway to ask over yet");
    let gateways: BTreeMap<NodeName, u64> = peers.iter().map(|p| (n(p), 1)).collect();
    let connected: BTreeSet<NodeName> = peers.iter().map(|p| n(p)).collect();
    t.handle_sessions(&gateways, &connected, &mut counter());
    let asked = drain(&mut t)
        .into_iter()
        .filter(|c| matches!(c, TokenCommand::Confirm { .. }))
        .count();
    assert_eq!(asked, MAX_CONFIRMING);
}

#[test]
fn an_unanswered_confirmation_is_asked_again_at_the_next_tick() {
    let mut t = tokens();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut counter());
    t.handle_token(n("a"), 7);
    drain(&mut t);
    assert_eq!(t.handle_answer(n("a"), 1, 7, Answer::Lost), Checked::Lost);
    t.handle_tick();
    assert_eq!(drain(&mut t), vec![confirm("a", 1, 7)]);
    t.handle_tick();
    assert_eq!(drain(&mut t), vec![], "in flight again");
}

#[test]
fn session_loss_forgets_the_peer_but_a_briefly_unknown_gateway_keeps_its_tokens() {
    let mut t = tokens();
    confirmed(&mut t, "a", 1, 7);
    let mut draw = counter();
    // Connected, gateway not reported (a session being replaced): everything is kept.
    let plan = t.handle_sessions(&present(&[]), &names(&["a"]), &mut draw);
    assert!(plan.usable.is_empty());
    assert_eq!(t.session_of(100), Some(&n("a")));
    assert_eq!(t.held(&n("a")), Some((1, 7)));
    // No session any more: forgotten.
    t.handle_sessions(&present(&[]), &names(&[]), &mut draw);
    assert_eq!(t.session_of(100), None);
    assert_eq!(t.held(&n("a")), None);
    assert_eq!(t.issued_to(&n("a")).count(), 0);
    assert_eq!(t.session_of(LOCAL), Some(&n("me")), "the local token stays");
}

#[test]
fn a_refused_peer_gets_its_newest_token_again_once_per_tick() {
    let mut t = tokens();
    let mut draw = counter();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    t.handle_sessions(&present(&[("a", 2)]), &names(&["a"]), &mut draw);
    drain(&mut t);
    t.handle_refused(&n("a"));
    t.handle_refused(&n("a"));
    assert_eq!(drain(&mut t), vec![], "at the next tick");
    t.handle_tick();
    assert_eq!(drain(&mut t), vec![hand_out("a", 101)]);
    t.handle_tick();
    assert_eq!(drain(&mut t), vec![]);
    // A peer without a gateway gets nothing.
    t.handle_refused(&n("b"));
    t.handle_tick();
    assert_eq!(drain(&mut t), vec![]);
}

#[test]
fn a_hello_waits_for_its_senders_gateway_to_become_usable() {
    let mut t = tokens();
    let mut draw = counter();
    t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert_eq!(t.handle_hello(pending("a")), None, "not usable yet");
    let plan = confirmed(&mut t, "a", 1, 7);
    assert_eq!(plan.hellos, vec![pending("a")]);
    assert!(t.is_usable(&n("a")));
    assert_eq!(t.handle_hello(pending("a")), Some(pending("a")));
    // Disconnected by this node: not usable until the sessions say so (fresh again).
    t.handle_disconnected(&n("a"));
    assert_eq!(t.handle_hello(pending("a")), None);
    let plan = t.handle_sessions(&present(&[("a", 1)]), &names(&["a"]), &mut draw);
    assert_eq!(plan.fresh, vec![n("a")]);
    assert_eq!(plan.hellos, vec![pending("a")]);
}

#[test]
fn a_waiting_hello_is_dropped_with_its_senders_session() {
    let mut t = tokens();
    let mut draw = counter();
    assert_eq!(t.handle_hello(pending("a")), None);
    t.handle_sessions(&present(&[]), &names(&[]), &mut draw);
    let plan = confirmed(&mut t, "a", 1, 7);
    assert!(plan.hellos.is_empty());
}

#[test]
fn metadata_round_trips_and_malformed_metadata_is_no_token() {
    let token = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;
    assert_eq!(from_metadata(Some(&to_metadata(token))), token);
    assert_eq!(from_metadata(None), NO_TOKEN);
    assert_eq!(from_metadata(Some(&[1, 2, 3])), NO_TOKEN);
}

#[derive(Clone, Debug)]
enum Op {
    Sessions(Vec<(u8, u64)>, Vec<u8>),
    Token(u8, u8),
    Answer(u8, u8, u8),
    Refused(u8),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            proptest::collection::vec((0u8..4, 0u64..3), 0..4),
            proptest::collection::vec(0u8..4, 0..4)
        )
            .prop_map(|(p, c)| Op::Sessions(p, c)),
        (0u8..4, 0u8..4).prop_map(|(p, t)| Op::Token(p, t)),
        (0u8..4, 0u8..4, 0u8..3).prop_map(|(p, t, a)| Op::Answer(p, t, a)),
        (0u8..4).prop_map(Op::Refused),
        Just(Op::Tick),
    ]
}

proptest! {
    /// Whatever happens: at most `KEPT_PER_PEER` tokens honoured per peer, every honoured
    /// token maps back to its peer, usable gateways are those tokens are held for, and a
    /// confirmation is never asked twice while in flight.
    #[test]
    fn bookkeeping_stays_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        let mut t = tokens();
        let mut draw = counter();
        let mut in_flight: BTreeSet<(NodeName, Token, u64)> = BTreeSet::new();
        let peer = |i: u8| n(&format!("p{i}"));
        for op in ops {
            match op {
                Op::Sessions(p, c) => {
                    let gateways = p.iter().map(|(i, g)| (peer(*i), *g)).collect();
                    let connected = c.iter().chain(p.iter().map(|(i, _)| i)).map(|i| peer(*i)).collect();
                    let plan = t.handle_sessions(&gateways, &connected, &mut draw);
                    for (p, (g, token)) in &plan.usable {
                        prop_assert_eq!(gateways.get(p), Some(g));
                        prop_assert_eq!(t.held(p), Some((*g, *token)));
                    }
                }
                Op::Token(p, token) => t.handle_token(peer(p), Token::from(token)),
                Op::Answer(p, token, a) => {
                    let found = in_flight.iter().find(|(q, tk, _)| *q == peer(p) && *tk == Token::from(token)).cloned();
                    if let Some(key) = found {
                        in_flight.remove(&key);
                        let answer = match a { 0 => owner("me"), 1 => owner("x"), _ => Answer::Lost };
                        t.handle_answer(key.0, key.2, key.1, answer);
                    }
                }
                Op::Refused(p) => t.handle_refused(&peer(p)),
                Op::Tick => t.handle_tick(),
            }
            while let Some(c) = t.poll_command() {
                if let TokenCommand::Confirm { peer, gateway, token } = c {
                    prop_assert!(in_flight.iter().all(|(q, tk, _)| (q, *tk) != (&peer, token)), "asked twice");
                    in_flight.insert((peer, token, gateway));
                }
            }
            prop_assert!(in_flight.len() <= MAX_CONFIRMING);
            for i in 0..4 {
                let honoured: Vec<Token> = t.issued_to(&peer(i)).collect();
                prop_assert!(honoured.len() <= KEPT_PER_PEER);
                for token in honoured {
                    prop_assert_eq!(t.session_of(token), Some(&peer(i)));
                }
            }
        }
    }
}

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn nodes(n: usize) -> Vec<NodeName> {
    (0..n)
        .map(|i| NodeName::new(format!("n{i}@10.0.0.{i}")))
        .collect()
}

fn owners(p: &Placement, keys: &[ActorKey]) -> Vec<NodeName> {
    keys.iter()
        .map(|k| p.owner_of(k).cloned().unwrap())
        .collect()
}

fn keys(n: usize, salt: u64) -> Vec<ActorKey> {
    (0..n)
        .map(|i| ActorKey::new(format!("k{salt}-{i}")))
        .collect()
}

#[test]
fn empty_view_owns_nothing() {
    let p = Placement::new(Epoch(0), Vec::new());
    assert!(p.owner_of(&"x".into()).is_none());
    assert!(p.ranked(&"x".into()).is_empty());
}

#[test]
fn load_is_balanced_at_ten_nodes_and_100k_names() {
    let p = Placement::new(Epoch(1), nodes(10));
    let mut counts: BTreeMap<NodeName, usize> = BTreeMap::new();
    for k in keys(100_000, 7) {
        *counts.entry(p.owner_of(&k).unwrap().clone()).or_default() += 1;
    }
    let max = *counts.values().max().unwrap() as f64;
    let mean = 100_000.0 / 10.0;
    assert_eq!(counts.len(), 10);
    assert!(max / mean <= 1.05, "max/mean = {} ({counts:?})", max / mean);
}

#[test]
fn weights_shift_load_in_proportion() {
    let members: Vec<(NodeName, f64)> = nodes(4)
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, if i == 0 { 3.0 } else { 1.0 }))
        .collect();
    let heavy = members[0].0.clone();
    let p = Placement::weighted(Epoch(1), members);
    let n = 60_000;
    let heavy_count = keys(n, 3)
        .iter()
        .filter(|k| p.owner_of(k) == Some(&heavy))
        .count() as f64;
    // weight 3 of 6 in total: half the names, give or take 3 %.
    assert!((heavy_count / n as f64 - 0.5).abs() < 0.03, "{heavy_count}");
}

#[test]
fn owner_cache_recomputes_after_epoch_change() {
    let mut cache = OwnerCache::new();
    let k: ActorKey = "cached".into();
    let p1 = Placement::new(Epoch(1), nodes(3));
    assert_eq!(cache.owner_of(&p1, &k).as_ref(), p1.owner_of(&k));
    assert_eq!(cache.len(), 1);
    // a view without the previous owner must not be answered from the cache
    let previous = p1.owner_of(&k).unwrap().clone();
    let p2 = Placement::new(Epoch(2), nodes(3).into_iter().filter(|n| *n != previous));
    let now = cache.owner_of(&p2, &k).unwrap();
    assert_ne!(now, previous);
    assert_eq!(Some(&now), p2.owner_of(&k));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `top_except` is the ranking without the skipped member, truncated, for equal and
    /// unequal weights.
    #[test]
    fn top_except_is_the_ranking_without_the_skipped_member(
        n in 1usize..12, k in 0usize..4, skip in 0usize..12, salt in any::<u64>(), weighted in any::<bool>()
    ) {
        let members = nodes(n);
        let p = if weighted {
            Placement::weighted(Epoch(1), members.iter().enumerate().map(|(i, m)| (m.clone(), 1.0 + i as f64)))
        } else {
            Placement::new(Epoch(1), members.clone())
        };
        // a member, or a name that is not one
        let skip = members.get(skip).cloned().unwrap_or_else(|| NodeName::new("stranger"));
        for key in keys(20, salt) {
            let want: Vec<NodeName> = p.ranked(&key).into_iter().filter(|m| *m != skip).take(k).collect();
            prop_assert_eq!(p.top_except(&key, &skip, k), want);
        }
    }


    #[test]
    fn owner_is_independent_of_member_order(
        n in 1usize..20, seed in any::<u64>(), perm in any::<u64>()
    ) {
        let ns = nodes(n);
        let mut shuffled = ns.clone();
        // deterministic shuffle from the proptest input
        let mut x = perm | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let ks = keys(200, seed);
        prop_assert_eq!(
            owners(&Placement::new(Epoch(1), ns), &ks),
            owners(&Placement::new(Epoch(1), shuffled), &ks)
        );
    }

    #[test]
    fn max_scan_agrees_with_rendezvous_hash_ranking(n in 1usize..30, seed in any::<u64>()) {
        let p = Placement::new(Epoch(1), nodes(n));
        for k in keys(100, seed) {
            let ranked = p.ranked(&k);
            prop_assert_eq!(p.owner_of(&k), ranked.first());
        }
    }

    #[test]
    fn join_moves_only_names_owned_by_newcomer(n in 1usize..16, seed in any::<u64>()) {
        let before = Placement::new(Epoch(1), nodes(n));
        let after = Placement::new(Epoch(2), nodes(n + 1));
        let newcomer = nodes(n + 1).pop().unwrap();
        for k in keys(500, seed) {
            let (b, a) = (before.owner_of(&k).unwrap(), after.owner_of(&k).unwrap());
            prop_assert!(a == b || *a == newcomer, "{k:?} moved {b} -> {a}");
        }
    }

    #[test]
    fn leave_moves_only_leavers_names(n in 2usize..16, leaver in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let all = nodes(n);
        let gone = all[leaver.index(n)].clone();
        let before = Placement::new(Epoch(1), all.clone());
        let after = Placement::new(Epoch(2), all.into_iter().filter(|m| *m != gone));
        for k in keys(500, seed) {
            let (b, a) = (before.owner_of(&k).unwrap(), after.owner_of(&k).unwrap());
            prop_assert!(a == b || *b == gone, "{k:?} moved {b} -> {a} though {gone} left");
            prop_assert!(*a != gone);
        }
    }

    #[test]
    fn ranking_is_the_successor_order(n in 2usize..10, seed in any::<u64>()) {
        // the second-ranked node is the owner once the first one leaves
        let all = nodes(n);
        let p = Placement::new(Epoch(1), all.clone());
        for k in keys(50, seed) {
            let ranked = p.ranked(&k);
            let without = Placement::new(Epoch(2), all.iter().filter(|m| **m != ranked[0]).cloned());
            prop_assert_eq!(without.owner_of(&k), Some(&ranked[1]));
        }
    }
}

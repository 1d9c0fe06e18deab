use proptest::prelude::*;

use super::*;

fn n(s: &str) -> NodeName {
    NodeName::from(s)
}

fn k(s: &str) -> ActorKey {
    ActorKey::from(s)
}

/// Sends `data` as the pieces `chunk_ranges` makes; returns how many pieces.
fn send(
    inbound: &mut Inbound,
    from: &str,
    batch: u64,
    key: &str,
    data: &[u8],
    frame: usize,
) -> u32 {
    let ranges = chunk_ranges(data.len(), frame);
    for (i, r) in ranges.iter().enumerate() {
        assert_eq!(
            inbound.handle_chunk(&n(from), batch, k(key), i as u32, data[r.clone()].to_vec()),
            Ok(ChunkOutcome::Stored)
        );
    }
    ranges.len() as u32
}

#[test]
fn a_duplicate_batch_is_acknowledged_again_with_nothing_started_or_retained() {
    let mut inbound = Inbound::default();
    let data = vec![7u8; 3000];
    let pieces = send(&mut inbound, "a@h", 1, "x", &data, 1024);
    assert_eq!(pieces, 6);
    let MigrateIn::Fresh(got) = inbound.handle_migrate(&n("a@h"), 1, [(k("x"), pieces)]) else {
        panic!("a new batch is fresh");
    };
    assert_eq!(got[&k("x")], Ok(data.clone()));
    assert_eq!(inbound.bytes(), 0);
    // Resent before it was acknowledged: nothing to do.
    send_resend(&mut inbound, &data);
    assert_eq!(
        inbound.handle_migrate(&n("a@h"), 1, [(k("x"), pieces)]),
        MigrateIn::InProgress
    );
    inbound.handle_started(&n("a@h"), 1);
    // Resent after: the pieces are not kept, the batch is acknowledged again.
    send_resend(&mut inbound, &data);
    assert_eq!(inbound.bytes(), 0);
    assert_eq!(inbound.slots_of(&n("a@h")), 0);
    assert_eq!(
        inbound.handle_migrate(&n("a@h"), 1, [(k("x"), pieces)]),
        MigrateIn::Duplicate
    );
    assert_eq!(inbound.bytes(), 0);
}

fn send_resend(inbound: &mut Inbound, data: &[u8]) {
    for (i, r) in chunk_ranges(data.len(), 1024).into_iter().enumerate() {
        assert_eq!(
            inbound.handle_chunk(&n("a@h"), 1, k("x"), i as u32, data[r].to_vec()),
            Ok(ChunkOutcome::Ignored)
        );
    }
}

#[test]
fn a_missing_piece_makes_the_snapshot_incomplete_and_frees_it() {
    let mut inbound = Inbound::default();
    inbound
        .handle_chunk(&n("a@h"), 1, k("x"), 0, vec![1; 600])
        .unwrap();
    inbound
        .handle_chunk(&n("a@h"), 1, k("y"), 0, vec![1; 600])
        .unwrap();
    let MigrateIn::Fresh(got) = inbound.handle_migrate(&n("a@h"), 1, [(k("x"), 2)]) else {
        panic!("fresh");
    };
    assert_eq!(
        got[&k("x")],
        Err(Incomplete {
            expected: 2,
            got: 1
        })
    );
    // `y` was never named by the batch: freed with it.
    assert_eq!(inbound.bytes(), 0);
}

#[test]
fn budgets_evict_abandoned_batches_first_then_refuse() {
    let mut inbound = Inbound::new(InboundLimits {
        peer_bytes: 1000,
        peer_slots: 2,
        ..InboundLimits::default()
    });
    inbound
        .handle_chunk(&n("a@h"), 1, k("old"), 0, vec![0; 600])
        .unwrap();
    // A later batch needs the room: the abandoned one goes.
    inbound
        .handle_chunk(&n("a@h"), 2, k("x"), 0, vec![0; 600])
        .unwrap();
    assert_eq!(inbound.bytes(), 600);
    inbound
        .handle_chunk(&n("a@h"), 2, k("y"), 0, vec![0; 300])
        .unwrap();
    assert_eq!(
        inbound.handle_chunk(&n("a@h"), 2, k("z"), 0, vec![0; 1]),
        Err(ChunkError::Budget),
        "two slots per peer"
    );
    // Nothing older to evict: refused, and its partial snapshot freed.
    assert_eq!(
        inbound.handle_chunk(&n("a@h"), 2, k("x"), 1, vec![0; 200]),
        Err(ChunkError::Budget)
    );
    assert_eq!(inbound.bytes(), 300);
    inbound.handle_peer_gone(&n("a@h"));
    assert_eq!(inbound.bytes(), 0);
    assert_eq!(inbound.slots_of(&n("a@h")), 0);
}

#[test]
fn an_oversized_snapshot_is_refused_and_freed() {
    let mut inbound = Inbound::new(InboundLimits {
        snapshot_bytes: 1000,
        ..InboundLimits::default()
    });
    inbound
        .handle_chunk(&n("a@h"), 1, k("x"), 0, vec![0; 600])
        .unwrap();
    assert_eq!(
        inbound.handle_chunk(&n("a@h"), 1, k("x"), 1, vec![0; 600]),
        Err(ChunkError::TooLarge {
            key: k("x"),
            limit: 1000
        })
    );
    assert_eq!(inbound.bytes(), 0);
}

#[test]
fn small_snapshots_travel_inline() {
    assert!(chunk_ranges(0, 1024).is_empty());
    assert!(chunk_ranges(512, 1024).is_empty());
    assert_eq!(chunk_ranges(513, 1024), vec![0..512, 512..513]);
    assert_eq!(piece_bytes(100), 512);
}

proptest! {
    /// Any snapshot, split under any frame limit, reassembles to the original.
    #[test]
    fn any_split_reassembles_to_the_original(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        frame in 1usize..12_000,
    ) {
        let ranges = chunk_ranges(data.len(), frame);
        let piece = piece_bytes(frame);
        prop_assert!(ranges.iter().all(|r| !r.is_empty() && r.len() <= piece));
        let mut inbound = Inbound::default();
        let pieces = send(&mut inbound, "a@h", 3, "x", &data, frame);
        let MigrateIn::Fresh(got) = inbound.handle_migrate(&n("a@h"), 3, [(k("x"), pieces)]) else {
            panic!("fresh");
        };
        if ranges.is_empty() {
            prop_assert!(data.len() <= piece);
            prop_assert_eq!(&got[&k("x")], &Ok(Vec::new()));
        } else {
            prop_assert_eq!(&got[&k("x")], &Ok(data));
        }
        prop_assert_eq!(inbound.bytes(), 0);
    }

    /// Pieces delivered out of order, or more than announced, never reassemble into a
    /// wrong snapshot: the result is the original or `Incomplete`, and nothing is left.
    #[test]
    fn out_of_order_or_excess_pieces_are_rejected_and_freed(
        data in prop::collection::vec(any::<u8>(), 2_000..6_000),
        order in prop::collection::vec(0usize..20, 0..30),
    ) {
        let ranges = chunk_ranges(data.len(), 1024);
        let mut inbound = Inbound::default();
        for i in order {
            let i = i % (ranges.len() + 2); // sometimes past the end: excess pieces
            let bytes = ranges.get(i).map_or(vec![9; 10], |r| data[r.clone()].to_vec());
            match inbound.handle_chunk(&n("a@h"), 1, k("x"), i as u32, bytes) {
                Ok(ChunkOutcome::Stored) => {}
                Ok(ChunkOutcome::Ignored) => prop_assert!(false, "batch not seen yet"),
                Err(ChunkError::OutOfOrder { got, .. }) => {
                    prop_assert_eq!(got, i as u32);
                    prop_assert_eq!(inbound.slots_of(&n("a@h")), 0, "the partial snapshot is freed");
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        let MigrateIn::Fresh(got) =
            inbound.handle_migrate(&n("a@h"), 1, [(k("x"), ranges.len() as u32)]) else {
            panic!("fresh");
        };
        match &got[&k("x")] {
            Ok(bytes) => prop_assert_eq!(bytes, &data),
            Err(Incomplete { expected, .. }) => prop_assert_eq!(*expected as usize, ranges.len()),
        }
        prop_assert_eq!(inbound.bytes(), 0);
        prop_assert_eq!(inbound.slots_of(&n("a@h")), 0);
    }

    /// Batches seen again, in any order, never start anything twice and never keep bytes.
    #[test]
    fn duplicates_start_nothing_and_retain_nothing(
        batches in prop::collection::vec((0u64..6, any::<bool>()), 1..40),
    ) {
        let mut inbound = Inbound::default();
        let mut started = BTreeMap::new();
        for (batch, with_chunk) in batches {
            if with_chunk {
                let _ = inbound.handle_chunk(&n("a@h"), batch, k("x"), 0, vec![1; 700]);
            }
            match inbound.handle_migrate(&n("a@h"), batch, [(k("x"), 1)]) {
                MigrateIn::Fresh(_) => {
                    prop_assert!(started.insert(batch, true).is_none(), "started twice");
                    inbound.handle_started(&n("a@h"), batch);
                }
                MigrateIn::Duplicate => prop_assert!(started.contains_key(&batch)),
                MigrateIn::InProgress => prop_assert!(false, "every batch was started"),
            }
            prop_assert_eq!(inbound.bytes(), 0);
        }
    }
}

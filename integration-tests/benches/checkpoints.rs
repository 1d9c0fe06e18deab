//! State encoding and checkpoint cost (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench -p integration-tests --bench checkpoints              # everything
//! cargo bench -p integration-tests --bench checkpoints -- encoding  # B17 only
//! ```
//!
//! - **B17**, encoding: `Snapshot::encode` / `Snapshot::decode` (MessagePack with named
//!   fields) against bincode 1 (what they used before) on a 1 KiB blob and on a session of
//!   3,000 events, alternating the two over several rounds, medians.
//!
//! Every figure is a ratio against a baseline measured in the same run.

use std::time::Instant;

use anyhow::Result;
use ractor_dist::Snapshot;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

const ROUNDS: usize = 7;

/// One event of a session: what the B16 session kind keeps too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Event {
    seq: u64,
    text: String,
}

/// A user session's state: its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Session {
    user: String,
    events: Vec<Event>,
}

fn session(events: usize) -> Session {
    Session {
        user: "user-42".into(),
        events: (0..events as u64)
            .map(|seq| Event {
                seq,
                text: format!("page view /products/{seq}"),
            })
            .collect(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median time per call of `f` over `ROUNDS` rounds of `iters` calls.
fn per_call(iters: u32, mut f: impl FnMut()) -> Vec<f64> {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(iters)
        })
        .collect()
}

fn us(s: f64) -> String {
    format!("{:.2} µs", s * 1e6)
}

/// B17 on one state: encode and decode with bincode 1 and with `Snapshot`.
fn encoding_of<T>(what: &str, state: &T, iters: u32)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let ours = Snapshot {
        version: 1,
        bytes: Snapshot::encode(state).unwrap(),
    };
    let theirs = bincode::serialize(state).unwrap();
    assert_eq!(&ours.decode::<T>(1).unwrap(), state);
    assert_eq!(&bincode::deserialize::<T>(&theirs).unwrap(), state);
    let (mut be, mut me, mut bd, mut md) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        be.extend(per_call(iters, || {
            std::hint::black_box(bincode::serialize(state).unwrap());
        }));
        me.extend(per_call(iters, || {
            std::hint::black_box(Snapshot::encode(state).unwrap());
        }));
        bd.extend(per_call(iters, || {
            std::hint::black_box(bincode::deserialize::<T>(&theirs).unwrap());
        }));
        md.extend(per_call(iters, || {
            std::hint::black_box(ours.decode::<T>(1).unwrap());
        }));
    }
    let (be, me, bd, md) = (median(be), median(me), median(bd), median(md));
    println!(
        "B17 {what}: bytes bincode {} / ours {}; encode {} / {} = {:.2}x; decode {} / {} = {:.2}x",
        theirs.len(),
        ours.bytes.len(),
        us(be),
        us(me),
        me / be,
        us(bd),
        us(md),
        md / bd,
    );
}

fn encoding() {
    println!("B17: Snapshot::encode/decode (MessagePack, named fields) against bincode 1");
    encoding_of(
        "1 KiB blob (ByteBuf)",
        &ByteBuf::from(vec![7u8; 1024]),
        20_000,
    );
    let small = session(20);
    println!(
        "    (a 20-event session is {} bytes in bincode)",
        bincode::serialize(&small).unwrap().len()
    );
    encoding_of("1 KiB session (20 events)", &small, 20_000);
    encoding_of("3,000-event session", &session(3000), 100);
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |what: &str| only.is_empty() || only.iter().any(|o| o == what);
    if wants("encoding") {
        encoding();
    }
    Ok(())
}

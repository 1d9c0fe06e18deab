//! Per-sender order of remote casts across route changes.
//!
//! Two casts of one node for one name may take different paths: the first through a node
//! that routed by an older view (and relays it), the second straight to the host once the
//! sender learned the new route; or one held at a paused or moving host while the other
//! arrives over another link. Links are FIFO, paths are not, so the second could overtake
//! the first.
//!
//! Each node stamps the remote casts it originates with a [`Stamp`]: its [`Stream`] for
//! the name (one per node incarnation and name, [`Stamper`]) and a sequence number that
//! grows by one per cast. Relays and hold queues keep the stamp. The host keeps, per name,
//! the next number it expects from each stream ([`OrderTable`]; it travels with the actor
//! when the actor moves) and delivers a cast only in that order:
//!
//! - the expected one is delivered, then any that waited for it ([`Admit::Now`]);
//! - a later one waits in the hold queues ([`Admit::Early`]) until the gap before it fills,
//!   or until it waited [`crate::core::Timing::gap_ms`]: then the gap is given up (the casts
//!   in it were lost on the way, with a relay that crashed or a hop that dropped them) and
//!   delivery goes on from the first waiting one;
//! - an earlier one ([`Admit::Late`]) comes after its successors were delivered (its gap was
//!   given up): delivered now it would be out of order, so it is dropped and counted.
//!
//! A stream the host never saw starts, in a table made where the name was spawned or
//! respawned, at the first number that arrives (its earlier casts went to an earlier
//! activation); in a table a move brought, at 1 (its earlier casts may be on their way,
//! parked where the name was expected: they are waited for, up to the gap deadline).
//! Casts from local handles that reach the actor directly are not stamped (they take no
//! other path).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::identity::{ActorKey, NodeName};

/// One node's casts to one name: a 64-bit id drawn from the node's name, its incarnation
/// (a restarted node starts new streams) and a number the node never gives another of its
/// streams (eight bytes on the wire; two streams share an id with odds of about one in
/// 2^64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stream(pub u64);

impl Stream {
    /// Stream number `n` of `origin` in its `incarnation`.
    pub fn of(origin: &NodeName, incarnation: u64, n: u64) -> Self {
        // FNV-1a over the name, then SplitMix64 finalizers over the rest.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in origin.as_str().bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Stream(mix(
            mix(h ^ incarnation) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ))
    }
}

/// The place of one cast in its stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Its stream.
    pub stream: Stream,
    /// Its number (the first cast of a stream is 1).
    pub seq: u64,
}

/// Streams a node keeps counters for (the least recently used beyond this are forgotten,
/// a sixteenth at a time; the next cast to such a name starts a new stream).
pub const MAX_STREAMS: usize = 65_536;

/// Streams a host keeps per name (the least recently used beyond this are forgotten).
pub const MAX_STREAMS_PER_NAME: usize = 256;

/// The origin side: a stream and counter per name this node casts to.
#[derive(Debug)]
pub struct Stamper {
    origin: NodeName,
    incarnation: u64,
    streams: u64,
    clock: u64,
    names: HashMap<ActorKey, Counter>,
    cap: usize,
}

#[derive(Debug)]
struct Counter {
    stream: Stream,
    seq: u64,
    used: u64,
}

impl Stamper {
    /// Records the number of names it keeps a stream for (see
    /// [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add_bounded("node.cast_streams", self.names.len(), self.cap);
    }

    /// Counters of `origin` in its `incarnation`, for at most `cap` names.
    pub fn new(origin: NodeName, incarnation: u64, cap: usize) -> Self {
        Self {
            origin,
            incarnation,
            streams: 0,
            clock: 0,
            names: HashMap::new(),
            cap: cap.max(16),
        }
    }

    /// The stamp of the next cast to `key`.
    pub fn stamp(&mut self, key: &ActorKey) -> Stamp {
        self.clock += 1;
        let clock = self.clock;
        if let Some(counter) = self.names.get_mut(key) {
            counter.seq += 1;
            counter.used = clock;
            return Stamp {
                stream: counter.stream,
                seq: counter.seq,
            };
        }
        if self.names.len() >= self.cap {
            self.evict();
        }
        self.streams += 1;
        let stream = Stream::of(&self.origin, self.incarnation, self.streams);
        self.names.insert(
            key.clone(),
            Counter {
                stream,
                seq: 1,
                used: clock,
            },
        );
        Stamp { stream, seq: 1 }
    }

    /// Casts to `key` were stamped and then lost before they left (their frame could not be
    /// sent): the next cast to it starts a new stream, so that its host does not wait for
    /// them.
    pub fn retire(&mut self, key: &ActorKey) {
        self.names.remove(key);
    }

    /// Names with a counter.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// No counter yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn evict(&mut self) {
        let mut used: Vec<u64> = self.names.values().map(|c| c.used).collect();
        let cut = (self.names.len() / 16).max(1);
        used.select_nth_unstable(cut - 1);
        let below = used[cut - 1];
        self.names.retain(|_, c| c.used > below);
    }
}

/// What becomes of a stamped cast at its host (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Its turn: deliver it (then whatever waited for it).
    Now,
    /// An earlier cast of its stream has not arrived: it waits.
    Early,
    /// Its successors were delivered: it is dropped.
    Late,
}

/// The host side, per name: the next number expected from each stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderTable(Box<Table>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Table {
    streams: BTreeMap<Stream, Expect>,
    clock: u64,
    /// Made here (the name was spawned or respawned here), not brought by a move.
    fresh: bool,
}

impl Default for OrderTable {
    /// The table of a name spawned or respawned here: a stream starts wherever it is first
    /// heard (its earlier casts, if any, went to an earlier activation).
    fn default() -> Self {
        Self(Box::new(Table {
            streams: BTreeMap::new(),
            clock: 0,
            fresh: true,
        }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expect {
    next: u64,
    used: u64,
}

impl OrderTable {
    /// A table of `entries` (stream, next number expected), as [`Self::entries`] gave them.
    ///
    /// A stream it does not list has delivered nothing to this activation yet: its first
    /// cast is expected first.
    pub fn from_entries(entries: impl IntoIterator<Item = (Stream, u64)>) -> Self {
        let mut table = Self::default();
        table.0.fresh = false;
        for (stream, next) in entries {
            table.0.clock += 1;
            let used = table.0.clock;
            table.0.streams.insert(stream, Expect { next, used });
        }
        table.trim();
        table
    }

    /// The streams and the next number expected of each (what travels with a moving actor).
    pub fn entries(&self) -> Vec<(Stream, u64)> {
        let mut all: Vec<(&Stream, &Expect)> = self.0.streams.iter().collect();
        all.sort_by_key(|(_, e)| e.used);
        all.into_iter().map(|(s, e)| (*s, e.next)).collect()
    }

    /// Decides about `stamp`; [`Admit::Now`] counts it delivered.
    pub fn admit(&mut self, stamp: &Stamp) -> Admit {
        self.0.clock += 1;
        let used = self.0.clock;
        // An unknown stream starts where it is first heard in a table made here; in a
        // table a move brought, at its first cast (an earlier one may be on its way).
        let first = if self.0.fresh { stamp.seq } else { 1 };
        let expect = self
            .0
            .streams
            .entry(stamp.stream)
            .or_insert(Expect { next: first, used });
        expect.used = used;
        let admit = match stamp.seq.cmp(&expect.next) {
            std::cmp::Ordering::Equal => {
                expect.next = stamp.seq.saturating_add(1);
                Admit::Now
            }
            std::cmp::Ordering::Greater => Admit::Early,
            std::cmp::Ordering::Less => Admit::Late,
        };
        self.trim();
        admit
    }

    /// Streams known.
    pub fn len(&self) -> usize {
        self.0.streams.len()
    }

    /// No stream known.
    pub fn is_empty(&self) -> bool {
        self.0.streams.is_empty()
    }

    /// Takes in what another copy of the name delivered (two copies met): each stream goes
    /// on from the later of the two numbers.
    pub fn merge(&mut self, entries: impl IntoIterator<Item = (Stream, u64)>) {
        for (stream, next) in entries {
            self.0.clock += 1;
            let used = self.0.clock;
            let expect = self
                .0
                .streams
                .entry(stream)
                .or_insert(Expect { next, used });
            expect.next = expect.next.max(next);
            expect.used = used;
        }
        self.trim();
    }

    /// The next number expected of `stream`, if it is known.
    pub fn next_of(&self, stream: &Stream) -> Option<u64> {
        self.0.streams.get(stream).map(|e| e.next)
    }

    /// Gives up the gap of `stream` before `seq`: `seq` is expected next.
    pub fn skip_to(&mut self, stream: &Stream, seq: u64) {
        if let Some(expect) = self.0.streams.get_mut(stream) {
            expect.next = expect.next.max(seq);
        }
    }

    fn trim(&mut self) {
        while self.0.streams.len() > MAX_STREAMS_PER_NAME {
            let Some(oldest) = self
                .0
                .streams
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(s, _)| *s)
            else {
                break;
            };
            self.0.streams.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> ActorKey {
        ActorKey::new(k)
    }

    #[test]
    fn a_node_numbers_its_casts_per_name_from_one() {
        let mut s = Stamper::new(NodeName::new("a"), 7, 16);
        let a1 = s.stamp(&key("x"));
        let a2 = s.stamp(&key("x"));
        let b1 = s.stamp(&key("y"));
        assert_eq!((a1.seq, a2.seq, b1.seq), (1, 2, 1));
        assert_eq!(a1.stream, a2.stream);
        assert_ne!(a1.stream, b1.stream);
        assert_eq!(a1.stream, Stream::of(&NodeName::new("a"), 7, 1));
        assert_ne!(
            a1.stream,
            Stream::of(&NodeName::new("a"), 8, 1),
            "restarted"
        );
        assert_ne!(
            a1.stream,
            Stream::of(&NodeName::new("b"), 7, 1),
            "another node"
        );
    }

    #[test]
    fn a_retired_counter_starts_a_new_stream_from_one() {
        let mut s = Stamper::new(NodeName::new("a"), 1, 16);
        let first = s.stamp(&key("x"));
        s.stamp(&key("x"));
        s.retire(&key("x"));
        let again = s.stamp(&key("x"));
        assert_ne!(again.stream, first.stream);
        assert_eq!(again.seq, 1);
    }

    #[test]
    fn tables_of_two_copies_merge_to_the_later_numbers() {
        let a = Stream::of(&NodeName::new("a"), 1, 1);
        let b = Stream::of(&NodeName::new("b"), 1, 1);
        let mut t = OrderTable::from_entries([(a, 5), (b, 2)]);
        t.merge([(a, 3), (b, 7)]);
        assert_eq!(t.next_of(&a), Some(5));
        assert_eq!(t.next_of(&b), Some(7));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_forgotten_counter_starts_a_new_stream() {
        let mut s = Stamper::new(NodeName::new("a"), 1, 16);
        let first = s.stamp(&key("k0"));
        for i in 1..40 {
            s.stamp(&key(&format!("k{i}")));
        }
        assert!(s.len() <= 16);
        let again = s.stamp(&key("k0"));
        assert_ne!(again.stream, first.stream, "evicted, so a new stream");
        assert_eq!(again.seq, 1);
    }

    #[test]
    fn the_host_delivers_in_order_holds_the_early_and_drops_the_late() {
        let mut s = Stamper::new(NodeName::new("a"), 1, 16);
        let stamps: Vec<Stamp> = (0..4).map(|_| s.stamp(&key("x"))).collect();
        let mut t = OrderTable::default();
        assert_eq!(t.admit(&stamps[0]), Admit::Now);
        assert_eq!(t.admit(&stamps[2]), Admit::Early, "2 has not arrived");
        assert_eq!(t.admit(&stamps[1]), Admit::Now);
        assert_eq!(t.next_of(&stamps[0].stream), Some(3));
        assert_eq!(
            t.admit(&stamps[2]),
            Admit::Now,
            "its turn once 2 was delivered"
        );
        t.skip_to(&stamps[0].stream, 5);
        assert_eq!(t.admit(&stamps[3]), Admit::Late, "its gap was given up");
    }

    #[test]
    fn an_unknown_stream_starts_where_it_is_first_heard() {
        let mut t = OrderTable::default();
        let stream = Stream::of(&NodeName::new("b"), 1, 1);
        let at = |seq| Stamp { stream, seq };
        assert_eq!(t.admit(&at(9)), Admit::Now);
        assert_eq!(t.admit(&at(10)), Admit::Now);
        assert_eq!(t.admit(&at(8)), Admit::Late);
        // A table a move brought waits for an unknown stream's first cast.
        let mut moved = OrderTable::from_entries(Vec::new());
        assert_eq!(moved.admit(&at(2)), Admit::Early);
        assert_eq!(moved.admit(&at(1)), Admit::Now);
        assert_eq!(moved.admit(&at(2)), Admit::Now);
    }

    #[test]
    fn the_table_travels_and_stays_bounded() {
        let mut t = OrderTable::default();
        for n in 0..(MAX_STREAMS_PER_NAME as u64 + 10) {
            let stamp = Stamp {
                stream: Stream::of(&NodeName::new("c"), 1, n),
                seq: 1,
            };
            t.admit(&stamp);
        }
        assert_eq!(t.entries().len(), MAX_STREAMS_PER_NAME);
        let moved = OrderTable::from_entries(t.entries());
        assert_eq!(moved.entries(), t.entries());
        let newest = Stream::of(&NodeName::new("c"), 1, MAX_STREAMS_PER_NAME as u64 + 9);
        assert_eq!(moved.next_of(&newest), Some(2));
    }
}

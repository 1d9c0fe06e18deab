//! What the writers sent and what was acknowledged, per counter, and what each counter's
//! final value may be given the faults that touched it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The console kinds a chaos run spawns, and how each keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `counter`: moves with its state, no checkpoints (a respawn starts from 0).
    Counter,
    /// `durable`: checkpointed after every message; the newest copy wins a conflict.
    Durable,
    /// `tally`: checkpointed after every message; conflicting copies merge (a G-counter
    /// with one slot per activation, so nothing is counted twice or lost).
    Tally,
}

impl Kind {
    /// Every kind, in spawn order.
    pub const ALL: [Kind; 3] = [Kind::Counter, Kind::Durable, Kind::Tally];

    /// The console's name of the kind (`spawn-as <kind>`).
    pub fn console_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Durable => "durable",
            Kind::Tally => "tally",
        }
    }

    /// The prefix of the counters of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Counter => "c",
            Kind::Durable => "d",
            Kind::Tally => "t",
        }
    }
}

/// A fault that may have cost a counter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Its host was killed (`kill -9`).
    Crash,
    /// Its host was stopped past the heartbeat deadline (or declared down while stopped).
    Pause,
    /// The cluster was partitioned (every counter counts as touched).
    Partition,
}

/// One counter's record since its last audit.
#[derive(Clone, Debug)]
pub struct Record {
    /// Its kind.
    pub kind: Kind,
    /// Its value at the last audit.
    pub base: i64,
    /// Sum of every increment sent (acknowledged or not).
    pub sent: i64,
    /// Sum of the acknowledged increments.
    pub acked: i64,
    /// Increments whose `add` failed or got no answer (they may or may not have landed).
    pub unanswered: u64,
    /// Acknowledged increments with the moment of their answer: since the last audit, and
    /// those of the checkpoint window before it.
    acks: Vec<(Instant, i64)>,
    /// The faults that touched it, with when.
    pub faults: Vec<(Fault, Instant)>,
}

/// Every counter's record.
#[derive(Debug, Default)]
pub struct Ledger {
    records: BTreeMap<String, Record>,
    answers: u64,
    totals: (i64, i64, u64),
    reasons: BTreeMap<String, u64>,
    /// The same, since the last call of [`Ledger::take_step_reasons`].
    step_reasons: BTreeMap<String, u64>,
}

impl Ledger {
    /// Starts a record for `name` (value 0).
    pub fn register(&mut self, name: &str, kind: Kind) {
        self.records.insert(
            name.to_string(),
            Record {
                kind,
                base: 0,
                sent: 0,
                acked: 0,
                unanswered: 0,
                acks: Vec::new(),
                faults: Vec::new(),
            },
        );
    }

    /// An increment is about to be sent.
    pub fn sent(&mut self, name: &str, n: i64) {
        self.totals.0 += n;
        if let Some(r) = self.records.get_mut(name) {
            r.sent += n;
        }
    }

    /// An increment was acknowledged.
    pub fn acked(&mut self, name: &str, n: i64) {
        self.answers += 1;
        self.totals.1 += n;
        if let Some(r) = self.records.get_mut(name) {
            r.acked += n;
            r.acks.push((Instant::now(), n));
        }
    }

    /// An increment got an error or no answer (`why`: the reply, or what happened).
    pub fn unanswered(&mut self, name: &str, why: &str) {
        self.answers += 1;
        self.totals.2 += 1;
        // Errors name nodes, counters and times: count them by their first words, with
        // node names left out.
        let key: Vec<&str> = why
            .split_whitespace()
            .map(|w| if w.contains('@') { "<node>" } else { w })
            .take(7)
            .collect();
        *self.reasons.entry(key.join(" ")).or_default() += 1;
        *self.step_reasons.entry(key.join(" ")).or_default() += 1;
        if let Some(r) = self.records.get_mut(name) {
            r.unanswered += 1;
        }
    }

    /// Marks `name` as touched by `fault` at `at`.
    pub fn touch(&mut self, name: &str, fault: Fault, at: Instant) {
        if let Some(r) = self.records.get_mut(name) {
            r.faults.push((fault, at));
        }
    }

    /// How many writes finished (acknowledged or not).
    pub fn answers(&self) -> u64 {
        self.answers
    }

    /// Every counter's name.
    pub fn names(&self) -> Vec<String> {
        self.records.keys().cloned().collect()
    }

    /// The sums of increments sent and acknowledged, and the writes unanswered.
    pub fn totals(&self) -> (i64, i64, u64) {
        self.totals
    }

    /// Why writes went unanswered (the first words of each reply), with counts.
    pub fn reasons(&self) -> &BTreeMap<String, u64> {
        &self.reasons
    }

    /// Why writes went unanswered since the last call.
    pub fn take_step_reasons(&mut self) -> BTreeMap<String, u64> {
        std::mem::take(&mut self.step_reasons)
    }

    /// Starts a new audit period for `name`: its value is now `value`, nothing sent since.
    /// (Acknowledgements younger than `window` are kept: a crash right after the audit can
    /// still cost them.)
    pub fn rebase(&mut self, name: &str, value: i64, window: Duration) {
        if let Some(r) = self.records.get_mut(name) {
            let now = Instant::now();
            r.acks.retain(|(t, _)| *t + window >= now);
            *r = Record {
                kind: r.kind,
                base: value,
                sent: 0,
                acked: 0,
                unanswered: 0,
                acks: std::mem::take(&mut r.acks),
                faults: Vec::new(),
            };
        }
    }

    /// Checks the `value` of `name` at an audit against what was sent since the last one
    /// (`window`: how long a checkpoint may take to reach its holder). Returns what is
    /// wrong, if anything, and whether the value had to be exact.
    pub fn check(&self, name: &str, value: i64, window: Duration) -> (Option<String>, bool) {
        let Some(r) = self.records.get(name) else {
            return (Some(format!("{name}: not in the ledger")), false);
        };
        let what = |bound: &str| {
            Some(format!(
                "{name} ({kind:?}) = {value}, {bound}; since the last audit (value {base}): \
                 sent {sent}, acknowledged {acked}, unanswered {un}, faults {faults:?}",
                kind = r.kind,
                base = r.base,
                sent = r.sent,
                acked = r.acked,
                un = r.unanswered,
                faults = r.faults.iter().map(|(f, _)| f).collect::<Vec<_>>()
            ))
        };
        let delta = value - r.base;
        if delta > r.sent {
            return (what("more than the writes sent"), false);
        }
        let crashed = r.faults.iter().any(|(f, _)| *f == Fault::Crash);
        let paused = r.faults.iter().any(|(f, _)| *f == Fault::Pause);
        let partitioned = r.faults.iter().any(|(f, _)| *f == Fault::Partition);
        // The increments acknowledged shortly before (or around) a crash or a pause (since
        // the last audit or in the window before it): their checkpoints may not have
        // reached a holder.
        let at_risk: i64 = r
            .acks
            .iter()
            .filter(|(t, _)| {
                r.faults.iter().any(|(f, at)| {
                    *f != Fault::Partition
                        && *t + window >= *at
                        && *t <= *at + Duration::from_millis(200)
                })
            })
            .map(|(_, n)| n)
            .sum();
        let floor = if !(crashed || paused || partitioned) {
            Some(r.acked)
        } else {
            match r.kind {
                // Without checkpoints a respawn starts from 0.
                Kind::Counter => None,
                // A merging kind keeps both copies' writes (a paused node's stale copy, the
                // other side of a partition): only a crash loses what was not checkpointed.
                Kind::Tally if crashed => Some(r.acked - at_risk),
                Kind::Tally => Some(r.acked),
                // The newest copy wins: after a partition, the other side's writes are gone.
                Kind::Durable if partitioned => None,
                Kind::Durable => Some(r.acked - at_risk),
            }
        };
        let exact = floor == Some(r.acked) && r.unanswered == 0;
        if exact && delta != r.acked {
            return (what("expected exactly the acknowledged writes"), true);
        }
        if let Some(floor) = floor {
            if delta < floor {
                return (
                    what(&format!(
                        "below {} (the acknowledged writes, less {at_risk} acknowledged \
                         within {window:?} before a crash or pause)",
                        r.base + floor
                    )),
                    exact,
                );
            }
        }
        (None, exact)
    }
}

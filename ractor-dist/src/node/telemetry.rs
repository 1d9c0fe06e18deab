//! Operational metrics through the [`metrics`] facade (the names are listed in the crate
//! docs, "Metrics"): the node's counters and gauges published by a task every heartbeat
//! interval, and call and cast latencies recorded where they happen. Without an installed
//! recorder every call is a no-op.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::node::shared::NodeShared;

/// One remote cast in this many (per thread) is timed (local casts are not: their
/// enqueue is cheaper than the clock reads).
const CAST_SAMPLE: u32 = 64;

thread_local! {
    static CASTS: Cell<u32> = const { Cell::new(0) };
}

/// True for the casts to time (one in [`CAST_SAMPLE`] on each thread).
pub(crate) fn sample_cast() -> bool {
    CASTS.with(|n| {
        let next = n.get().wrapping_add(1);
        n.set(next);
        next % CAST_SAMPLE == 0
    })
}

/// Records the duration of a timed remote cast (serialized and queued for its node).
pub(crate) fn record_cast(node: &NodeShared, took: Duration) {
    metrics::histogram!("ractor_dist_cast_seconds", "node" => node.me.to_string())
        .record(took.as_secs_f64());
}

/// Records the duration of a call, answered or not.
pub(crate) fn record_call(node: &NodeShared, took: Duration, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::histogram!("ractor_dist_call_seconds", "node" => node.me.to_string(), "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// Counts an actor started by its first message.
pub(crate) fn count_activation(node: &NodeShared, kind: &'static str) {
    metrics::counter!("ractor_dist_activations_total", "node" => node.me.to_string(), "kind" => kind)
        .increment(1);
}

/// Counts an actor passivated.
pub(crate) fn count_passivation(node: &NodeShared) {
    metrics::counter!("ractor_dist_passivations_total", "node" => node.me.to_string()).increment(1);
}

/// Publishes the node's counters and gauges every heartbeat interval until its
/// supervisor stops.
pub(crate) fn spawn_publisher(shared: Arc<NodeShared>) {
    let period = shared
        .config
        .heartbeat_interval
        .max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut kinds_seen = BTreeMap::new();
        loop {
            timer.tick().await;
            let stopped = shared.supervisor.get().is_some_and(|s| {
                matches!(
                    s.get_status(),
                    ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
                )
            });
            if stopped {
                break;
            }
            publish(&shared, &mut kinds_seen);
        }
    });
}

/// Publishes once. `kinds_seen` remembers every kind ever counted, so that a kind whose
/// last actor stopped reads 0 rather than its last count.
fn publish(shared: &NodeShared, kinds_seen: &mut BTreeMap<&'static str, u64>) {
    let node = shared.me.to_string();
    let s = shared.status();
    let counters = [
        ("ractor_dist_moves_in_total", s.moved_in),
        ("ractor_dist_moves_out_total", s.moved_out),
        ("ractor_dist_respawns_total", s.respawned),
        ("ractor_dist_handoff_fallbacks_total", s.handoff_fallbacks),
        ("ractor_dist_moves_refused_total", s.moves_refused),
        ("ractor_dist_restarts_total", s.restarts),
        ("ractor_dist_conflicts_total", s.conflicts),
        ("ractor_dist_checkpoints_total", s.checkpoints),
        ("ractor_dist_dropped_casts_total", s.dropped_casts),
        ("ractor_dist_bad_messages_total", s.bad_messages),
        ("ractor_dist_hold_refused_total", s.hold_refused),
        ("ractor_dist_forwarded_total", s.forwarded),
        (
            "ractor_dist_peers_declared_down_total",
            s.peers_declared_down,
        ),
        (
            "ractor_dist_batches_resent_total",
            shared.move_stats().batches_resent,
        ),
        (
            "ractor_dist_lookups_asked_total",
            shared.lookup_stats().asked,
        ),
        (
            "ractor_dist_lookup_cache_hits_total",
            shared.lookup_stats().cache_hits,
        ),
        ("ractor_dist_offers_resent_total", s.offers_resent),
        ("ractor_dist_notices_resent_total", s.notices_resent),
    ];
    for (name, value) in counters {
        metrics::counter!(name, "node" => node.clone()).absolute(value);
    }
    let gauges = [
        ("ractor_dist_held_messages", s.buffered as f64),
        ("ractor_dist_moving_actors", s.moving as f64),
        ("ractor_dist_under_replicated", s.under_replicated as f64),
        ("ractor_dist_members", s.members.len() as f64),
        ("ractor_dist_hosted_actors", s.hosted as f64),
        (
            "ractor_dist_reassembly_bytes",
            shared.move_stats().reassembly_bytes as f64,
        ),
        ("ractor_dist_ready", f64::from(u8::from(shared.is_ready()))),
    ];
    for (name, value) in gauges {
        metrics::gauge!(name, "node" => node.clone()).set(value);
    }
    for count in kinds_seen.values_mut() {
        *count = 0;
    }
    for entry in shared
        .hosted
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
    {
        *kinds_seen.entry(entry.kind.name()).or_insert(0) += 1;
    }
    for (kind, count) in kinds_seen.iter() {
        metrics::gauge!("ractor_dist_actors", "node" => node.clone(), "kind" => *kind)
            .set(*count as f64);
    }
}

//! Counting and logging what the recovery engine reports.

use super::super::SupervisorState;
use crate::core::recovery::{FenceDecision, RecoveryEvent};
use crate::node::shared::Counters;

impl SupervisorState {
    /// Counts and logs what the recovery engine reports.
    pub(in crate::node::supervisor) fn report_recovery(&self, event: RecoveryEvent) {
        let c = &self.shared.counters;
        match event {
            RecoveryEvent::Checkpointed => {
                Counters::bump(&c.checkpoints);
            }
            RecoveryEvent::CheckpointTooLarge { key, bytes, limit } => {
                let n = Counters::bump(&c.checkpoints_too_large);
                if n.is_power_of_two() {
                    tracing::warn!(name = %key, bytes, limit, count = n, "checkpoint larger than half a frame; kept here, not replicated");
                }
            }
            RecoveryEvent::SpecFromOtherHost { key, from, host } => {
                let n = Counters::bump(&c.bad_frames);
                tracing::warn!(name = %key, %from, %host, count = n, "spec names another host than its sender; ignored");
            }
            RecoveryEvent::StaleSpec { key, from } => {
                Counters::bump(&c.checkpoints_fenced);
                tracing::debug!(name = %key, %from, "spec of a replaced generation refused");
            }
            RecoveryEvent::CheckpointRefused {
                key,
                from,
                generation,
                seq,
                outcome,
            } => {
                let n = Counters::bump(&c.checkpoints_fenced);
                tracing::debug!(name = %key, %from, generation, seq, ?outcome, count = n, "checkpoint refused");
            }
            RecoveryEvent::Orphaned {
                key,
                lost,
                generation,
                seq,
                owner,
            } => {
                tracing::info!(name = %key, %lost, generation, checkpoint = seq, %owner, "name lost its host; offering a respawn to its owner");
            }
            RecoveryEvent::OffersResent { count } => {
                c.offers_resent
                    .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    count,
                    "respawn offers not acknowledged in time; sent again to their owners"
                );
            }
            RecoveryEvent::NoticesResent { count } | RecoveryEvent::SpecsResent { count } => {
                c.notices_resent
                    .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
                if matches!(event, RecoveryEvent::SpecsResent { .. }) {
                    tracing::warn!(
                        count,
                        "specs not confirmed by their holders in time; sent again"
                    );
                } else {
                    tracing::warn!(
                        count,
                        "spec drops or rehosts not acknowledged in time; sent again"
                    );
                }
            }
            RecoveryEvent::OfferDropped { key, why } => {
                tracing::debug!(name = %key, why, "respawn offer dropped");
            }
            RecoveryEvent::SameCopy {
                key,
                from,
                generation,
            } => {
                tracing::debug!(name = %key, %from, generation, "the same copy arrived twice; ignored");
            }
            RecoveryEvent::ConflictFollows { key, from } => {
                tracing::debug!(name = %key, %from, "conflicting copy arrived while ours moves; it follows ours");
            }
            RecoveryEvent::Conflict {
                key,
                from,
                policy,
                resolution,
                local_generation,
                incoming_generation,
            } => {
                let n = Counters::bump(&c.conflicts);
                tracing::info!(
                    name = %key,
                    %from,
                    ?policy,
                    ?resolution,
                    local_generation,
                    incoming_generation,
                    count = n,
                    "two live copies of a name met; resolved"
                );
            }
            RecoveryEvent::Paused { gap_ms } => {
                let n = Counters::bump(&c.pauses);
                tracing::warn!(
                    paused_ms = gap_ms,
                    count = n,
                    "this node was paused past the heartbeat deadline: its peers have declared it down and respawned its names; holding every message to its actors until it has rejoined"
                );
            }
            RecoveryEvent::Unfenced {
                decision,
                waited_ms,
            } => match decision {
                FenceDecision::Rejoined => tracing::info!(
                    waited_ms,
                    "rejoined after the pause; delivering held messages"
                ),
                FenceDecision::Unnoticed => tracing::info!(
                    waited_ms,
                    "the peers kept this node through its pause; delivering held messages"
                ),
                _ => tracing::warn!(
                    waited_ms,
                    "no peer came back after the pause; serving alone"
                ),
            },
        }
    }
}

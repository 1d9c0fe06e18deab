//! The refresh loop: every source at start and every interval, their union handed on.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Discovery, DiscoveryError};

/// How long one source may take to answer.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one round of discovery found.
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// The union of every source's latest answer.
    pub(crate) addrs: BTreeSet<String>,
    /// Sources that failed this round (their previous answer stands).
    pub(crate) errors: u64,
}

/// Runs `sources` now and then every `every` (once when `None`), handing each round to
/// `found`; stops when `found` returns false (the node is gone). A source that fails keeps
/// its previous answer (logged and counted in [`Round::errors`]).
pub(crate) async fn run(
    sources: Vec<Arc<dyn Discovery>>,
    every: Option<Duration>,
    mut found: impl FnMut(Round) -> bool,
) {
    let mut last: Vec<Vec<String>> = vec![Vec::new(); sources.len()];
    loop {
        let mut round = Round::default();
        for (source, last) in sources.iter().zip(last.iter_mut()) {
            let answer = tokio::time::timeout(SOURCE_TIMEOUT, source.discover())
                .await
                .unwrap_or(Err(DiscoveryError::Timeout));
            match answer {
                Ok(addrs) => *last = addrs,
                Err(error) => {
                    round.errors += 1;
                    tracing::warn!(?source, %error, "discovery failed; keeping its last answer");
                }
            }
            round.addrs.extend(last.iter().cloned());
        }
        if !found(round) {
            return;
        }
        match every {
            Some(every) => tokio::time::sleep(every).await,
            None => return,
        }
    }
}

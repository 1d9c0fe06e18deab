//! The refresh loop: every source at start and every interval, their union handed on.

use std::sync::Arc;
use std::time::Duration;

use super::{Discovery, DiscoveryError};
use crate::core::refresh::{Answers, Round};

/// How long one source may take to answer.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `sources` now and then every `every` (once when `None`), handing each round to
/// `found`; stops when `found` returns false (the node is gone). A source that fails keeps
/// its previous answer (logged and counted in `Round::errors`).
pub(crate) async fn run(
    sources: Vec<Arc<dyn Discovery>>,
    every: Option<Duration>,
    mut found: impl FnMut(Round) -> bool,
) {
    let mut last = Answers::new(sources.len());
    loop {
        let mut answers = Vec::with_capacity(sources.len());
        for source in &sources {
            let answer = tokio::time::timeout(SOURCE_TIMEOUT, source.discover())
                .await
                .unwrap_or(Err(DiscoveryError::Timeout));
            if let Err(error) = &answer {
                tracing::warn!(?source, %error, "discovery failed; keeping its last answer");
            }
            answers.push(answer.ok());
        }
        if !found(last.round(answers)) {
            return;
        }
        match every {
            Some(every) => tokio::time::sleep(every).await,
            None => return,
        }
    }
}

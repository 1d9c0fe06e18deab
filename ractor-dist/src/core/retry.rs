//! When to try a failed call again ([`crate::DistRef::call_retrying`]): only after a
//! transient error ([`DistError::is_transient`]), after a wait that doubles from
//! [`FIRST_WAIT`] up to [`MAX_WAIT`], and never past the caller's budget.

use std::time::Duration;

use crate::core::error::DistError;

/// The wait after the first failed attempt.
pub(crate) const FIRST_WAIT: Duration = Duration::from_millis(10);
/// The longest wait between two attempts.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(500);

/// The retry schedule of one operation. Time is passed in: the elapsed time since the
/// first attempt started.
#[derive(Debug)]
pub(crate) struct RetryPlan {
    within: Duration,
    next_wait: Duration,
}

impl RetryPlan {
    /// Retries within `within` of the first attempt's start.
    pub(crate) fn new(within: Duration) -> Self {
        Self {
            within,
            next_wait: FIRST_WAIT,
        }
    }

    /// An attempt failed with `error`, `elapsed` after the first one started: how long
    /// to wait before the next, or `None` to give up (a permanent error, or the next
    /// attempt would start past the budget).
    pub(crate) fn after_failure(
        &mut self,
        error: &DistError,
        elapsed: Duration,
    ) -> Option<Duration> {
        if !error.is_transient() {
            return None;
        }
        let wait = self.next_wait;
        if elapsed + wait >= self.within {
            return None;
        }
        self.next_wait = (wait * 2).min(MAX_WAIT);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{ActorKey, NodeName};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn transient_errors_wait_doubling_up_to_the_cap_within_the_budget() {
        let mut plan = RetryPlan::new(Duration::from_secs(10));
        let busy = DistError::Unreachable(NodeName::new("b@h"));
        let waits: Vec<_> = (0..8)
            .map(|_| plan.after_failure(&busy, Duration::ZERO))
            .collect();
        let expected = [10, 20, 40, 80, 160, 320, 500, 500].map(|ms| Some(ms * MS));
        assert_eq!(waits, expected);
    }

    #[test]
    fn a_permanent_error_is_never_retried() {
        let mut plan = RetryPlan::new(Duration::from_secs(10));
        for error in [
            DistError::NotFound(ActorKey::new("k")),
            DistError::WrongType(ActorKey::new("k")),
            DistError::NodeDown,
        ] {
            assert_eq!(plan.after_failure(&error, Duration::ZERO), None, "{error}");
        }
    }

    #[test]
    fn no_attempt_starts_past_the_budget() {
        let mut plan = RetryPlan::new(100 * MS);
        let timeout = DistError::Timeout(50 * MS);
        assert_eq!(plan.after_failure(&timeout, 50 * MS), Some(10 * MS));
        assert_eq!(plan.after_failure(&timeout, 75 * MS), Some(20 * MS));
        // 40 ms more would end at 105 ms.
        assert_eq!(plan.after_failure(&timeout, 65 * MS), None);
        assert_eq!(
            RetryPlan::new(100 * MS).after_failure(&timeout, 100 * MS),
            None
        );
    }
}

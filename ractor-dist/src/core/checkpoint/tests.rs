use std::time::Duration;

use super::*;

fn ms(n: u64) -> Millis {
    Millis(n)
}

/// The answers to `n` messages handled at `at`.
fn messages(clock: &mut CheckpointClock, policy: &Checkpoints, at: u64, n: usize) -> Vec<Due> {
    (0..n)
        .map(|_| clock.handle_message(policy, ms(at)))
        .collect()
}

#[test]
fn off_policy_counts_nothing_and_asks_for_nothing() {
    let mut clock = CheckpointClock::new(ms(0));
    let fresh = clock.clone();
    assert_eq!(
        messages(&mut clock, &Checkpoints::OFF, 5_000, 3),
        vec![Due::No; 3]
    );
    assert_eq!(clock, fresh);
    assert!(!clock.handle_due(&Checkpoints::OFF, ms(6_000)));
}

#[test]
fn count_policy_checkpoints_every_nth_message() {
    let policy = Checkpoints::every_messages(3);
    let mut clock = CheckpointClock::new(ms(0));
    let answers = messages(&mut clock, &policy, 10, 7);
    use Due::{No, Now};
    assert_eq!(answers, vec![No, No, Now, No, No, Now, No]);
}

#[test]
fn count_policy_of_one_checkpoints_each_message() {
    let policy = Checkpoints::every_messages(1);
    let mut clock = CheckpointClock::new(ms(0));
    assert_eq!(messages(&mut clock, &policy, 1, 4), vec![Due::Now; 4]);
}

#[test]
fn time_policy_checkpoints_once_the_interval_passed() {
    let policy = Checkpoints::every(Duration::from_millis(100));
    let mut clock = CheckpointClock::new(ms(1_000));
    // The first message within the interval asks for a due at its end.
    assert_eq!(
        clock.handle_message(&policy, ms(1_030)),
        Due::After(Duration::from_millis(70))
    );
    // One is on its way: no second.
    assert_eq!(clock.handle_message(&policy, ms(1_050)), Due::No);
    // It arrives: two messages since the start, so a checkpoint now.
    assert!(clock.handle_due(&policy, ms(1_100)));
    // The interval starts again at the checkpoint.
    assert_eq!(
        clock.handle_message(&policy, ms(1_120)),
        Due::After(Duration::from_millis(80))
    );
    assert!(clock.handle_due(&policy, ms(1_200)));
    // A message after a quiet interval checkpoints at once.
    assert_eq!(clock.handle_message(&policy, ms(1_350)), Due::Now);
}

#[test]
fn time_bound_added_to_a_count_bound_applies_below_the_count() {
    let policy = Checkpoints::every_messages(10).or_every(Duration::from_secs(1));
    let mut clock = CheckpointClock::new(ms(0));
    assert_eq!(
        clock.handle_message(&policy, ms(200)),
        Due::After(Duration::from_millis(800))
    );
    // The count is reached before the due: a checkpoint now, the due finds nothing new.
    let answers = messages(&mut clock, &policy, 300, 9);
    assert_eq!(answers[..8], [Due::No; 8]);
    assert_eq!(answers[8], Due::Now);
    assert!(!clock.handle_due(&policy, ms(1_000)));
}

#[test]
fn due_with_nothing_handled_since_takes_nothing() {
    let policy = Checkpoints::every(Duration::from_millis(50));
    let mut clock = CheckpointClock::new(ms(0));
    assert_eq!(
        clock.handle_message(&policy, ms(10)),
        Due::After(Duration::from_millis(40))
    );
    assert!(clock.handle_due(&policy, ms(50)));
    assert!(!clock.handle_due(&policy, ms(60)));
}

#[test]
fn coalesced_checkpoints_cover_a_burst_with_one_due() {
    let policy = Checkpoints::every_messages(1).coalesce(Duration::ZERO);
    let mut clock = CheckpointClock::new(ms(0));
    let answers = messages(&mut clock, &policy, 5, 4);
    assert_eq!(answers, vec![Due::Queued, Due::No, Due::No, Due::No]);
    assert!(clock.handle_due(&policy, ms(6)));
    // The next burst asks again.
    assert_eq!(clock.handle_message(&policy, ms(7)), Due::Queued);
}

#[test]
fn coalescing_window_delays_the_checkpoint_due_by_count() {
    let window = Duration::from_millis(25);
    let policy = Checkpoints::every_messages(2).coalesce(window);
    let mut clock = CheckpointClock::new(ms(0));
    let answers = messages(&mut clock, &policy, 1, 4);
    assert_eq!(answers, vec![Due::No, Due::After(window), Due::No, Due::No]);
    assert!(clock.handle_due(&policy, ms(26)));
    assert_eq!(clock.handle_message(&policy, ms(27)), Due::No);
}

#[test]
fn one_due_in_flight_at_a_time() {
    let policy = Checkpoints::every(Duration::from_millis(100));
    let mut clock = CheckpointClock::new(ms(0));
    assert!(matches!(
        clock.handle_message(&policy, ms(1)),
        Due::After(_)
    ));
    assert_eq!(messages(&mut clock, &policy, 50, 5), vec![Due::No; 5]);
    // Even when the policy went off meanwhile, the due that arrives is accounted for...
    assert!(!clock.handle_due(&Checkpoints::OFF, ms(60)));
    // ... so a later one may be asked for once it is on again.
    assert_eq!(
        clock.handle_message(&policy, ms(70)),
        Due::After(Duration::from_millis(30))
    );
}

#[test]
fn first_checkpoint_is_whole_then_deltas_follow() {
    let policy = Checkpoints::every_messages(1);
    let mut clock = CheckpointClock::new(ms(0));
    assert!(!clock.takes_delta(&policy, 1));
    clock.sent_whole(100);
    assert!(clock.takes_delta(&policy, 1));
}

#[test]
fn delta_chain_is_bounded_by_full_every() {
    let policy = Checkpoints::every_messages(1).full_every(3);
    let mut clock = CheckpointClock::new(ms(0));
    clock.sent_whole(1_000);
    for _ in 0..3 {
        assert!(clock.takes_delta(&policy, 1));
        clock.sent_delta(1);
    }
    assert!(!clock.takes_delta(&policy, 1), "a fourth delta");
    clock.sent_whole(1_000);
    assert!(clock.takes_delta(&policy, 1), "a new chain");
}

#[test]
fn delta_chain_is_bounded_by_the_whole_checkpoints_size() {
    let policy = Checkpoints::every_messages(1);
    let mut clock = CheckpointClock::new(ms(0));
    clock.sent_whole(100);
    assert!(clock.takes_delta(&policy, 60));
    clock.sent_delta(60);
    assert!(
        clock.takes_delta(&policy, 40),
        "exactly as heavy as the whole one"
    );
    assert!(
        !clock.takes_delta(&policy, 41),
        "heavier than the whole one"
    );
}

#[test]
fn full_every_zero_never_takes_deltas() {
    let policy = Checkpoints::every_messages(1).full_every(0);
    let mut clock = CheckpointClock::new(ms(0));
    clock.sent_whole(1_000);
    assert!(!clock.takes_delta(&policy, 1));
}

#[test]
fn failed_whole_checkpoint_forces_the_next_whole() {
    let policy = Checkpoints::every_messages(1);
    let mut clock = CheckpointClock::new(ms(0));
    clock.sent_whole(100);
    clock.sent_delta(10);
    clock.whole_failed();
    assert!(!clock.takes_delta(&policy, 1));
    clock.sent_whole(100);
    assert!(clock.takes_delta(&policy, 1));
}

#[test]
fn replaced_state_takes_a_whole_checkpoint_now() {
    let policy = Checkpoints::every_messages(5);
    let mut clock = CheckpointClock::new(ms(0));
    clock.sent_whole(100);
    assert_eq!(clock.handle_message(&policy, ms(1)), Due::No);
    assert!(clock.handle_replaced(&policy, ms(2)));
    assert!(!clock.takes_delta(&policy, 1));
    // The count starts again with the checkpoint.
    assert_eq!(messages(&mut clock, &policy, 3, 4), vec![Due::No; 4]);
    // With the policy off nothing is taken, but the next one taken is whole.
    clock.sent_whole(100);
    assert!(!clock.handle_replaced(&Checkpoints::OFF, ms(4)));
    assert!(!clock.takes_delta(&policy, 1));
}

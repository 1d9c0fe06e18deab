//! The seeds the seeded simulations run (tests only): `SIM_SEED=<seed>` replays one,
//! `SIM_SEEDS=<n>` runs the first `n` (a longer hunt) and `SIM_SEEDS=<a>..<b>` those from `a`
//! to `b`, otherwise the first 300.

pub(crate) fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let spec = std::env::var("SIM_SEEDS").unwrap_or_default();
    // `SIM_SEEDS=<from>..<to>` runs a range (to go on with a hunt past a failing seed).
    if let Some((from, to)) = spec.split_once("..") {
        if let (Ok(from), Ok(to)) = (from.parse::<u64>(), to.parse::<u64>()) {
            return (from..to).collect();
        }
    }
    let n = spec.parse().unwrap_or(300);
    (0..n).collect()
}

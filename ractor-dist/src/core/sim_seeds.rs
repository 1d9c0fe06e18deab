//! The seeds the seeded simulations run (tests only): `SIM_SEED=<seed>` replays one,
//! `SIM_SEEDS=<n>` runs the first `n` (a longer hunt), otherwise the first 300.

pub(crate) fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    (0..n).collect()
}

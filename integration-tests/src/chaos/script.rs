//! The steps of a chaos run and the seeded script that orders them.

use std::collections::BTreeSet;
use std::fmt;

/// One thing that happens to the cluster. Nodes are slot indices (slot `i` runs the node
/// named `c<i+1>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A node that is not running starts (a new name, or one that left earlier) and joins.
    Join(usize),
    /// A running node leaves gracefully (`leave`: it hands its actors off, then exits).
    Leave(usize),
    /// A running node is killed with `kill -9`; once the others have settled without it,
    /// it is started again under the same name.
    KillRestart(usize),
    /// A running node is stopped (SIGSTOP) for well under the heartbeat deadline, then
    /// continued.
    ShortPause(usize),
    /// A running node is stopped past the heartbeat deadline (until the others have
    /// settled without it), then continued.
    LongPause(usize),
    /// The running nodes are split in two sides (the listed nodes, and the others) through
    /// the proxies until each side has settled on its own, then healed.
    Partition(Vec<usize>),
}

impl Step {
    /// Every kind of step once, in the order a script's first pass shuffles.
    const KINDS: usize = 6;
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |i: &usize| format!("c{}", i + 1);
        match self {
            Step::Join(i) => write!(f, "join {}", name(i)),
            Step::Leave(i) => write!(f, "leave {}", name(i)),
            Step::KillRestart(i) => write!(f, "kill -9 {} and restart it", name(i)),
            Step::ShortPause(i) => write!(f, "short SIGSTOP of {}", name(i)),
            Step::LongPause(i) => write!(f, "long SIGSTOP of {}", name(i)),
            Step::Partition(side) => {
                let side: Vec<String> = side.iter().map(name).collect();
                write!(
                    f,
                    "partition {{{}}} from the others, then heal",
                    side.join(" ")
                )
            }
        }
    }
}

/// A small seeded generator (splitmix64): the same seed gives the same script everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Shuffles `items` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The steps of a run: `steps` of them for a cluster of `slots` possible nodes that
/// starts with the first `initial` running. The first six are every kind of step once,
/// shuffled; the rest are drawn at random. The cluster never drops below `min_running`
/// nodes (a leave becomes a join there, and a join a leave when every slot runs).
pub fn script(
    seed: u64,
    steps: usize,
    slots: usize,
    initial: usize,
    min_running: usize,
) -> Vec<Step> {
    assert!(min_running >= 2 && initial >= min_running && slots > initial);
    let mut rng = Rng::new(seed);
    let mut running: BTreeSet<usize> = (0..initial).collect();
    let mut kinds: Vec<usize> = (0..Step::KINDS).collect();
    rng.shuffle(&mut kinds);
    let mut out = Vec::with_capacity(steps);
    for n in 0..steps {
        let kind = match kinds.get(n) {
            Some(&kind) => kind,
            None => rng.below(Step::KINDS),
        };
        let up: Vec<usize> = running.iter().copied().collect();
        let down: Vec<usize> = (0..slots).filter(|i| !running.contains(i)).collect();
        let step = match kind {
            0 | 1 => {
                let join = (kind == 0 || up.len() <= min_running) && !down.is_empty();
                if join {
                    // A slot never used yet if any (a new node), else one that left.
                    Step::Join(down[0])
                } else {
                    Step::Leave(rng.pick(&up))
                }
            }
            2 => Step::KillRestart(rng.pick(&up)),
            3 => Step::ShortPause(rng.pick(&up)),
            4 => Step::LongPause(rng.pick(&up)),
            _ => {
                let mut shuffled = up.clone();
                rng.shuffle(&mut shuffled);
                let size = 1 + rng.below(up.len() - 1);
                let mut side = shuffled[..size].to_vec();
                side.sort_unstable();
                Step::Partition(side)
            }
        };
        match &step {
            Step::Join(i) => {
                running.insert(*i);
            }
            Step::Leave(i) => {
                running.remove(i);
            }
            _ => {}
        }
        out.push(step);
    }
    out
}

/// The script as numbered lines (for failure messages).
pub fn render(script: &[Step]) -> String {
    script
        .iter()
        .enumerate()
        .map(|(i, s)| format!("  {:>2}. {s}\n", i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_a_function_of_its_seed_and_covers_every_kind_first() {
        let a = script(7, 12, 5, 3, 3);
        assert_eq!(a, script(7, 12, 5, 3, 3));
        assert_ne!(a, script(8, 12, 5, 3, 3));
        let kinds: std::collections::HashSet<std::mem::Discriminant<Step>> =
            a[..6].iter().map(std::mem::discriminant).collect();
        // Join and leave share a draw: at 3 running a leave becomes a join.
        assert!(kinds.len() >= 5, "{}", render(&a));
    }

    #[test]
    fn a_script_keeps_the_cluster_within_its_bounds() {
        for seed in 0..200 {
            let mut running: BTreeSet<usize> = (0..3).collect();
            for step in script(seed, 30, 5, 3, 3) {
                match step {
                    Step::Join(i) => assert!(running.insert(i)),
                    Step::Leave(i) => assert!(running.remove(&i)),
                    Step::KillRestart(i) | Step::ShortPause(i) | Step::LongPause(i) => {
                        assert!(running.contains(&i))
                    }
                    Step::Partition(side) => {
                        assert!(!side.is_empty() && side.len() < running.len());
                        assert!(side.iter().all(|i| running.contains(i)));
                    }
                }
                assert!((3..=5).contains(&running.len()));
            }
        }
    }
}

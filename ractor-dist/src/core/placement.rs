//! Rendezvous (highest-random-weight) placement of names over a membership view.
//!
//! Each member is a `rendezvous_hash` node ([`IdNode`], or [`WeightedNode`] when members
//! have different capacities) scored by [`StableNodeHasher`], whose byte stream and
//! algorithm are specified in [`super::hash`]. The owner of a name is found by a single max
//! scan over the members (no sort, no allocation); `rendezvous_hash`'s own
//! `calc_candidates` (sort + allocate, ~0.5 µs at 10 nodes) is used only for the full
//! ranking, off the hot path. Ties, which need a 64-bit collision, go to the greater node
//! name, as in `calc_candidates`.
//!
//! Use [`Placement::owner_of`] for one-off questions and an [`OwnerCache`] on paths that
//! ask about the same names many times per epoch.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use rendezvous_hash::{Capacity, IdNode, Node, NodeHasher, RendezvousNodes, WeightedNode};

use super::hash::{key_hash, node_seed, KeyHash, ScoreHasher};
use super::identity::{ActorKey, Epoch, NodeName};

/// A member as seen by placement: its name and the precomputed seed of its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlacementNode {
    name: NodeName,
    seed: u64,
}

impl PlacementNode {
    /// A placement node for a member name.
    pub fn new(name: NodeName) -> Self {
        let seed = node_seed(name.as_str());
        Self { name, seed }
    }

    /// The member's name.
    pub fn name(&self) -> &NodeName {
        &self.name
    }
}

impl Hash for PlacementNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.seed);
    }
}

/// The stable `rendezvous_hash` node hasher: scores `item` against `node` with
/// [`ScoreHasher`], i.e. [`super::hash::score`] for a [`KeyHash`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StableNodeHasher;

impl NodeHasher<PlacementNode> for StableNodeHasher {
    #[inline]
    fn hash<T: Hash>(&self, node: &PlacementNode, item: &T) -> u64 {
        let mut h = ScoreHasher::new(node.seed);
        item.hash(&mut h);
        h.finish()
    }
}

#[derive(Clone, Debug)]
enum Nodes {
    Uniform(Vec<IdNode<PlacementNode>>),
    Weighted(Vec<WeightedNode<IdNode<PlacementNode>>>),
}

/// The placement function of one membership view: which member owns which name.
#[derive(Clone, Debug)]
pub struct Placement {
    epoch: Epoch,
    names: Vec<NodeName>,
    nodes: Nodes,
}

impl Placement {
    /// Placement over members of equal capacity.
    pub fn new(epoch: Epoch, members: impl IntoIterator<Item = NodeName>) -> Self {
        Self::weighted(epoch, members.into_iter().map(|m| (m, 1.0)))
    }

    /// Placement over members with capacities (a member with weight 2 gets about twice the
    /// names of a member with weight 1). Weights that are not positive normal numbers count
    /// as 1. When every weight is equal, scoring is pure integer arithmetic; with different
    /// weights it goes through `f64::ln` (see `rendezvous_hash::WeightedNode`).
    pub fn weighted(epoch: Epoch, members: impl IntoIterator<Item = (NodeName, f64)>) -> Self {
        let mut members: Vec<(NodeName, f64)> = members
            .into_iter()
            .map(|(n, w)| (n, if w.is_normal() && w > 0.0 { w } else { 1.0 }))
            .collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|a, b| a.0 == b.0);
        let names = members.iter().map(|(n, _)| n.clone()).collect();
        let uniform = members.windows(2).all(|w| w[0].1 == w[1].1);
        let nodes = if uniform {
            Nodes::Uniform(
                members
                    .into_iter()
                    .map(|(n, _)| IdNode::new(PlacementNode::new(n)))
                    .collect(),
            )
        } else {
            Nodes::Weighted(
                members
                    .into_iter()
                    .map(|(n, w)| {
                        let cap = Capacity::new(w).unwrap_or_else(|| {
                            Capacity::new(1.0).unwrap_or_else(|| unreachable!("1.0 is normal"))
                        });
                        WeightedNode::new(IdNode::new(PlacementNode::new(n)), cap)
                    })
                    .collect(),
            )
        };
        Self {
            epoch,
            names,
            nodes,
        }
    }

    /// The epoch of the membership view this placement was built from.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The members, sorted by name.
    pub fn members(&self) -> &[NodeName] {
        &self.names
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the view has no member.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when `node` is a member of this view.
    pub fn contains(&self, node: &NodeName) -> bool {
        self.names.binary_search(node).is_ok()
    }

    /// The owner of `key`: the member with the highest score. `None` for an empty view.
    pub fn owner_of(&self, key: &ActorKey) -> Option<&NodeName> {
        self.owner_of_hash(key_hash(key.as_str()))
    }

    /// [`Placement::owner_of`] for a name already hashed with [`key_hash`].
    pub fn owner_of_hash(&self, key: KeyHash) -> Option<&NodeName> {
        self.owner_index(key).map(|i| &self.names[i])
    }

    fn owner_index(&self, key: KeyHash) -> Option<usize> {
        let h = StableNodeHasher;
        match &self.nodes {
            // Members are sorted by name, so `>=` gives ties to the greater name.
            Nodes::Uniform(nodes) => max_index(nodes.iter().map(|n| n.hash_code(&h, &key))),
            Nodes::Weighted(nodes) => max_index(nodes.iter().map(|n| n.hash_code(&h, &key))),
        }
    }

    /// The `k` best-ranked members for `key` other than `skip`, best first: what
    /// [`Placement::ranked`] gives without `skip`, truncated, but with one scoring pass and
    /// a partial selection (no sort of every member). Ties go to the greater name, as for
    /// [`Placement::owner_of`].
    pub fn top_except(&self, key: &ActorKey, skip: &NodeName, k: usize) -> Vec<NodeName> {
        let kh = key_hash(key.as_str());
        let h = StableNodeHasher;
        let pick = |codes: Vec<(usize, u64, u64)>| -> Vec<NodeName> {
            let mut codes = codes;
            let mut out = Vec::with_capacity(k);
            while out.len() < k {
                let Some(best) = (0..codes.len()).max_by_key(|&i| (codes[i].1, codes[i].2, i))
                else {
                    break;
                };
                let (idx, _, _) = codes.swap_remove(best);
                out.push(self.names[idx].clone());
            }
            out
        };
        let keep = |i: &usize| self.names[*i] != *skip;
        match &self.nodes {
            Nodes::Uniform(nodes) => pick(
                nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(i, n)| (i, n.hash_code(&h, &kh), i as u64))
                    .collect(),
            ),
            Nodes::Weighted(nodes) => {
                // Weighted codes are floats ordered by `PartialOrd`; rank them by position
                // in a sorted copy to keep the selection integer-keyed.
                let mut scored: Vec<(usize, _)> = nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(i, n)| (i, n.hash_code(&h, &kh)))
                    .collect();
                scored.sort_by(|a, b| {
                    b.1.partial_cmp(&a.1)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(b.0.cmp(&a.0))
                });
                scored
                    .into_iter()
                    .take(k)
                    .map(|(i, _)| self.names[i].clone())
                    .collect()
            }
        }
    }

    /// All members ranked for `key`, best first: the owner, then the node that would own
    /// it if the owner left, and so on. Allocates; keep it off per-message paths.
    pub fn ranked(&self, key: &ActorKey) -> Vec<NodeName> {
        let kh = key_hash(key.as_str());
        match &self.nodes {
            Nodes::Uniform(nodes) => {
                let mut r = RendezvousNodes::new(StableNodeHasher);
                r.extend(nodes.iter().cloned());
                r.calc_candidates(&kh).map(|n| n.name.clone()).collect()
            }
            Nodes::Weighted(nodes) => {
                let mut r = RendezvousNodes::new(StableNodeHasher);
                r.extend(nodes.iter().cloned());
                r.calc_candidates(&kh)
                    .map(|n| n.node.name.clone())
                    .collect()
            }
        }
    }
}

fn max_index<C: Ord>(codes: impl Iterator<Item = C>) -> Option<usize> {
    let mut best: Option<(usize, C)> = None;
    for (i, c) in codes.enumerate() {
        match &best {
            Some((_, b)) if c < *b => {}
            _ => best = Some((i, c)),
        }
    }
    best.map(|(i, _)| i)
}

/// Owners of names memoised for one [`Placement`] epoch; cleared when the epoch changes.
///
/// Iteration order is never observed, so a `HashMap` keeps lookups cheap without
/// compromising determinism.
#[derive(Debug, Default)]
pub struct OwnerCache {
    epoch: Option<Epoch>,
    owners: HashMap<ActorKey, NodeName>,
}

impl OwnerCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The owner of `key` under `placement`, computed at most once per epoch.
    pub fn owner_of(&mut self, placement: &Placement, key: &ActorKey) -> Option<NodeName> {
        if self.epoch != Some(placement.epoch()) {
            self.owners.clear();
            self.epoch = Some(placement.epoch());
        }
        if let Some(owner) = self.owners.get(key) {
            return Some(owner.clone());
        }
        let owner = placement.owner_of(key)?.clone();
        self.owners.insert(key.clone(), owner.clone());
        Some(owner)
    }

    /// Number of cached owners.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

#[cfg(test)]
mod tests;

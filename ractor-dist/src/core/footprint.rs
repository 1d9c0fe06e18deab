//! What this node keeps in memory per name, per message held and per peer: the size of
//! each of its tables that grows with load (local only, not sent to peers).
//!
//! A table either empties again once the load that filled it is gone (the names stopped or
//! moved away, the messages delivered, the peer gone), or is a cache with a fixed bound.
//! [`Footprint::grown_since`] compares two readings, which is how a leak shows: a table of
//! the first sort that stays above its idle size, or a cache past its bound.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One table's size, and its bound if it is a cache that keeps at most that many entries
/// (`None`: it must empty again once its load is gone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableSize {
    /// Entries now.
    pub len: usize,
    /// The most it keeps, for a bounded cache.
    pub bound: Option<usize>,
}

/// The sizes of a node's tables, by table name (`engine.children`, `hold.items`,
/// `node.lookup_cache`, ...). See the module docs; read with `DistNode::footprint`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    tables: BTreeMap<String, TableSize>,
}

impl Footprint {
    /// An empty reading.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `table` with `len` entries (added to what it had, so that a table kept in
    /// several parts is counted whole).
    pub fn add(&mut self, table: &'static str, len: usize) {
        self.tables.entry(table.to_string()).or_default().len += len;
    }

    /// Records the cache `table` with `len` entries, keeping at most `bound`.
    pub fn add_bounded(&mut self, table: &'static str, len: usize, bound: usize) {
        let t = self.tables.entry(table.to_string()).or_default();
        t.len += len;
        t.bound = Some(bound);
    }

    /// The size of `table` (0 for a table not recorded).
    pub fn get(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |t| t.len)
    }

    /// Every table, by name.
    pub fn tables(&self) -> impl Iterator<Item = (&str, TableSize)> + '_ {
        self.tables
            .iter()
            .map(|(name, size)| (name.as_str(), *size))
    }

    /// The entries of every table together.
    pub fn total(&self) -> usize {
        self.tables.values().map(|t| t.len).sum()
    }

    /// The tables that hold more than in `baseline` although they must empty again (with
    /// their size then and now), and the caches past their bound (with their bound and
    /// size). Empty when nothing leaked between a reading taken at rest and this one,
    /// taken at rest again.
    pub fn grown_since(&self, baseline: &Footprint) -> Vec<(String, usize, usize)> {
        self.tables
            .iter()
            .filter_map(|(name, t)| match t.bound {
                Some(bound) if t.len > bound => Some((name.clone(), bound, t.len)),
                Some(_) => None,
                None => {
                    let before = baseline.get(name);
                    (t.len > before).then(|| (name.clone(), before, t.len))
                }
            })
            .collect()
    }
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, t) in &self.tables {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match t.bound {
                Some(bound) => write!(f, "{name}={}/{bound}", t.len)?,
                None => write!(f, "{name}={}", t.len)?,
            }
        }
        Ok(())
    }
}

/// A [`Footprint`]'s text (its `Display`, as the console prints it) that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a footprint entry: {0:?} (expected table=entries or table=entries/bound)")]
pub struct FootprintParseError(String);

impl FromStr for Footprint {
    type Err = FootprintParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut f = Footprint::new();
        for entry in s.split_whitespace() {
            let bad = || FootprintParseError(entry.to_string());
            let (name, size) = entry.split_once('=').ok_or_else(bad)?;
            let (len, bound) = match size.split_once('/') {
                Some((len, bound)) => (len, Some(bound.parse().map_err(|_| bad())?)),
                None => (size, None),
            };
            let len = len.parse().map_err(|_| bad())?;
            f.tables.insert(name.to_string(), TableSize { len, bound });
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_what_rose_above_the_baseline_or_past_a_bound() {
        let mut before = Footprint::new();
        before.add("a", 2);
        before.add_bounded("cache", 5, 10);
        let mut after = Footprint::new();
        after.add("a", 1);
        after.add("a", 2);
        after.add("b", 0);
        after.add_bounded("cache", 9, 10);
        assert_eq!(after.get("a"), 3);
        let grown = |f: &Footprint| -> Vec<(String, usize, usize)> { f.grown_since(&before) };
        assert_eq!(grown(&after), vec![("a".to_string(), 2, 3)]);
        after.add_bounded("cache", 2, 10);
        assert_eq!(
            grown(&after),
            vec![("a".to_string(), 2, 3), ("cache".to_string(), 10, 11)]
        );
        assert_eq!(after.total(), 14);
        assert_eq!(after.to_string(), "a=3 b=0 cache=11/10");
        assert_eq!(after.to_string().parse::<Footprint>(), Ok(after));
        assert!("a=x".parse::<Footprint>().is_err());
        assert!("a".parse::<Footprint>().is_err());
        assert!("a=1/".parse::<Footprint>().is_err());
    }
}

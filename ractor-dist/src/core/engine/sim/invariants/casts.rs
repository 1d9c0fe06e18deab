//! Invariant, at the end of a run: every name's log holds each sender's casts in order and
//! none twice, and (without crashes, partitions or pauses) every cast sent.

use super::super::*;

impl Sim {
    pub(in crate::core::engine::sim) fn check_casts(&self) -> Result<(), String> {
        for key in &self.keys {
            let Some(log) = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .flat_map(|n| n.actors.values())
                .find(|(k, _)| k == key)
                .map(|(_, log)| log)
            else {
                continue;
            };
            let mut last: BTreeMap<u32, u64> = BTreeMap::new();
            for &(sender, seq) in log {
                let prev = last.insert(sender, seq).unwrap_or(0);
                // After a crash casts may be lost (those in flight, those after the last
                // checkpoint), but none is taken twice or out of order.
                let in_order = if self.crashes {
                    seq > prev
                } else {
                    seq == prev + 1
                };
                if !in_order {
                    return Err(format!("{key}: s{sender} #{seq} after #{prev}"));
                }
            }
            if self.crashes {
                continue;
            }
            for ((k, sender), n) in &self.sent {
                if k == key && last.get(sender).copied().unwrap_or(0) != *n {
                    return Err(format!(
                        "{key}: s{sender} sent {n}, got {:?}",
                        last.get(sender)
                    ));
                }
            }
        }
        Ok(())
    }
}

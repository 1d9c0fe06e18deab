//! What the machine sends: digests, the deltas or states a peer lacks, and the files of
//! changed values.

use super::{
    persist, DigestEntry, ReplicaCommand, ReplicaError, ReplicaMsg, Replicas, VersionVector,
};
use crate::core::NodeName;

impl Replicas {
    /// Asks for the file of every value changed since its file was last asked for (ticks
    /// do it when `persist` is set; call it before stopping).
    pub fn persist_dirty(&mut self) {
        for (name, entry) in &mut self.values {
            if !std::mem::take(&mut entry.dirty) {
                continue;
            }
            let Ok(state) = entry.slot.encode_state() else {
                continue;
            };
            let file = persist::encode_file(&persist::Persisted {
                name: name.clone(),
                tag: entry.slot.tag(),
                version: entry.version.clone(),
                state,
            });
            self.commands.push_back(ReplicaCommand::Persist {
                name: name.clone(),
                file,
            });
        }
    }

    /// Digests of `names`, in as many messages as the frame budget needs.
    pub(super) fn send_digest(&mut self, to: &NodeName, names: &[&str], reply: bool) {
        let mut entries = Vec::new();
        let mut size = 0;
        for name in names {
            let Some(entry) = self.values.get(*name) else {
                continue;
            };
            let e = DigestEntry {
                name: name.to_string(),
                tag: entry.slot.tag(),
                version: entry.version.clone(),
            };
            let len = bincode::serialized_size(&e).unwrap_or(0) as usize;
            if size + len > self.config.frame_budget && !entries.is_empty() {
                let full = std::mem::take(&mut entries);
                self.send(
                    to,
                    ReplicaMsg::Digest {
                        entries: full,
                        reply,
                    },
                );
                size = 0;
            }
            size += len;
            entries.push(e);
        }
        if !entries.is_empty() {
            self.send(to, ReplicaMsg::Digest { entries, reply });
        }
    }

    /// What a peer at version `theirs` lacks of `name`: the deltas when the log still has
    /// every one of them, else the full state.
    pub(super) fn send_missing(&mut self, to: &NodeName, name: &str, theirs: &VersionVector) {
        let Some(entry) = self.values.get(name) else {
            return;
        };
        let Some(deltas) = entry.log.missing(&entry.version, theirs) else {
            return self.send_state(to, name);
        };
        let tag = entry.slot.tag();
        let msgs: Vec<ReplicaMsg> = deltas
            .into_iter()
            .map(|d| ReplicaMsg::Delta {
                name: name.to_string(),
                tag,
                origin: d.origin.clone(),
                seq: d.seq,
                bytes: d.bytes.clone(),
            })
            .collect();
        self.stats.deltas_resent += msgs.len() as u64;
        for msg in msgs {
            self.send(to, msg);
        }
    }

    /// The full state of `name` to `to`, in parts when over the frame budget.
    pub(super) fn send_state(&mut self, to: &NodeName, name: &str) {
        let Some(entry) = self.values.get(name) else {
            return;
        };
        let bytes = match entry.slot.encode_state() {
            Ok(bytes) => bytes,
            Err(reason) => {
                let me = self.config.me.node.clone();
                let name = name.to_string();
                return self.refuse(&me, ReplicaError::Undecodable { name, reason });
            }
        };
        let (tag, version) = (entry.slot.tag(), entry.version.clone());
        if bytes.len() > self.config.max_value_bytes {
            let me = self.config.me.node.clone();
            let error = ReplicaError::TooLarge {
                name: name.to_string(),
                size: bytes.len(),
                limit: self.config.max_value_bytes,
            };
            return self.refuse(&me, error);
        }
        self.transfers += 1;
        let budget = self.config.frame_budget.max(1);
        let parts: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[]]
        } else {
            bytes.chunks(budget).collect()
        };
        let count = parts.len() as u32;
        for (index, part) in (0..count).zip(parts) {
            let msg = ReplicaMsg::State {
                name: name.to_string(),
                tag,
                version: version.clone(),
                transfer: self.transfers,
                index,
                count,
                bytes: part.to_vec(),
            };
            self.send(to, msg);
        }
    }

    pub(super) fn send(&mut self, to: &NodeName, msg: ReplicaMsg) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += bincode::serialized_size(&msg).unwrap_or(0);
        self.commands.push_back(ReplicaCommand::Send {
            to: to.clone(),
            msg,
        });
    }
}

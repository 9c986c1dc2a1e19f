//! The replicated key-value state machine and the commands carried in log entries.
//!
//! Every write is a [`Request`]: a client id, a sequence number and a
//! [`Command`]. The state machine keeps, per client, the results of its most
//! recent [`SESSION_WINDOW`] sequence numbers. A request whose (client, sequence)
//! was already applied is not applied again: it returns the recorded result. This
//! makes a retried write (same client id and sequence, possibly proposed twice,
//! even through two different leaders) take effect at most once. A client may
//! therefore have up to [`SESSION_WINDOW`] writes in flight; a request older
//! than the window is answered [`Applied::Stale`] without effect. Sessions are
//! evicted deterministically (least recently written first) beyond
//! [`MAX_SESSIONS`], so every replica keeps the same table.
//!
//! The whole state, data and sessions, is serialized into snapshots, so
//! de-duplication survives compaction and restarts.

use std::collections::{BTreeMap, HashMap};

use crate::raft::Entry;
use crate::storage::codec::{put_bytes, put_u64, put_u8, DecodeError, Reader};

/// How many recent sequence numbers each client session remembers.
pub const SESSION_WINDOW: usize = 64;
/// How many client sessions are kept before the least recently used are evicted.
pub const MAX_SESSIONS: usize = 10_000;

/// A change to the key-value map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Set `key` to `new_value` if it currently holds `expected` (absent when `None`).
    Cas {
        /// The key.
        key: Vec<u8>,
        /// The value required, or `None` for "absent".
        expected: Option<Vec<u8>>,
        /// The value to write.
        new_value: Vec<u8>,
    },
    /// Append `value` to the value of `key` (an absent key counts as empty).
    Append {
        /// The key.
        key: Vec<u8>,
        /// The bytes to append.
        value: Vec<u8>,
    },
}

/// A write as carried in a log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The client's id (de-duplication session).
    pub client_id: u64,
    /// The client's sequence number of this write.
    pub sequence: u64,
    /// What to do.
    pub command: Command,
}

impl Request {
    /// Encodes the request as entry data.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let (tag, key) = match &self.command {
            Command::Put { key, .. } => (1, key),
            Command::Delete { key } => (2, key),
            Command::Cas { key, .. } => (3, key),
            Command::Append { key, .. } => (4, key),
        };
        put_u8(&mut buf, tag);
        put_u64(&mut buf, self.client_id);
        put_u64(&mut buf, self.sequence);
        put_bytes(&mut buf, key);
        match &self.command {
            Command::Put { value, .. } | Command::Append { value, .. } => {
                put_bytes(&mut buf, value)
            }
            Command::Delete { .. } => {}
            Command::Cas {
                expected,
                new_value,
                ..
            } => {
                match expected {
                    Some(e) => {
                        put_u8(&mut buf, 1);
                        put_bytes(&mut buf, e);
                    }
                    None => put_u8(&mut buf, 0),
                }
                put_bytes(&mut buf, new_value);
            }
        }
        buf
    }

    /// Decodes entry data written by [`Request::encode`].
    pub fn decode(data: &[u8]) -> Result<Request, DecodeError> {
        let mut r = Reader::new(data);
        let tag = r.u8("command tag")?;
        let client_id = r.u64("client id")?;
        let sequence = r.u64("sequence")?;
        let key = r.bytes("key")?.to_vec();
        let command = match tag {
            1 => Command::Put {
                key,
                value: r.bytes("value")?.to_vec(),
            },
            2 => Command::Delete { key },
            3 => {
                let expected = match r.u8("expected flag")? {
                    0 => None,
                    _ => Some(r.bytes("expected")?.to_vec()),
                };
                Command::Cas {
                    key,
                    expected,
                    new_value: r.bytes("new value")?.to_vec(),
                }
            }
            4 => Command::Append {
                key,
                value: r.bytes("value")?.to_vec(),
            },
            other => return Err(DecodeError(format!("unknown command tag {other}"))),
        };
        r.finish()?;
        Ok(Request {
            client_id,
            sequence,
            command,
        })
    }
}

/// The outcome of applying one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The write was applied now; `succeeded` is false only for a failed CAS.
    Done {
        /// Whether the write took effect.
        succeeded: bool,
    },
    /// The same (client, sequence) was applied before; this is its recorded result.
    Duplicate {
        /// The recorded result.
        succeeded: bool,
    },
    /// The sequence is older than the client's session window: nothing was done
    /// now, and whether an earlier copy took effect is no longer known.
    Stale,
    /// The entry carried no command (a leader's no-op) or an undecodable one.
    Nothing,
}

/// One client's de-duplication session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Session {
    /// Log index of the client's latest applied write (for eviction order).
    last_index: u64,
    /// Results of the most recent sequence numbers.
    results: BTreeMap<u64, bool>,
}

/// The key-value map plus the de-duplication sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    /// The data.
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Sessions by client id.
    sessions: HashMap<u64, Session>,
    /// The `no-dedup` bug: apply every request, retried or not (never serialized).
    no_dedup: bool,
}

impl KvStore {
    /// Reads a key.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.data.get(key).map(Vec::as_slice)
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Switches the `no-dedup` bug on: from now on every request is applied, also
    /// a retry of one already applied.
    pub fn disable_dedup(&mut self) {
        self.no_dedup = true;
    }

    /// Applies a committed entry.
    pub fn apply(&mut self, entry: &Entry) -> Applied {
        if entry.data.is_empty() {
            return Applied::Nothing;
        }
        let Ok(request) = Request::decode(&entry.data) else {
            // Only requests the server encoded itself are ever proposed; an entry
            // that does not decode is skipped identically on every replica.
            return Applied::Nothing;
        };
        if self.no_dedup {
            return Applied::Done {
                succeeded: apply_command(&mut self.data, request.command),
            };
        }
        let session = self.sessions.entry(request.client_id).or_default();
        if let Some(&succeeded) = session.results.get(&request.sequence) {
            return Applied::Duplicate { succeeded };
        }
        if session.results.len() >= SESSION_WINDOW
            && session
                .results
                .keys()
                .next()
                .is_some_and(|&oldest| request.sequence < oldest)
        {
            return Applied::Stale;
        }
        let succeeded = apply_command(&mut self.data, request.command);
        session.results.insert(request.sequence, succeeded);
        while session.results.len() > SESSION_WINDOW {
            session.results.pop_first();
        }
        session.last_index = entry.index;
        if self.sessions.len() > MAX_SESSIONS {
            self.evict_sessions();
        }
        Applied::Done { succeeded }
    }

    /// Drops the least recently used sessions down to 90% of [`MAX_SESSIONS`].
    fn evict_sessions(&mut self) {
        let mut by_age: Vec<(u64, u64)> = self
            .sessions
            .iter()
            .map(|(&id, s)| (s.last_index, id))
            .collect();
        by_age.sort_unstable();
        let excess = self.sessions.len() - MAX_SESSIONS * 9 / 10;
        for (_, id) in by_age.into_iter().take(excess) {
            self.sessions.remove(&id);
        }
    }

    /// Serializes the whole state for a snapshot.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        put_u64(&mut buf, self.data.len() as u64);
        for (k, v) in &self.data {
            put_bytes(&mut buf, k);
            put_bytes(&mut buf, v);
        }
        let mut ids: Vec<&u64> = self.sessions.keys().collect();
        ids.sort_unstable();
        put_u64(&mut buf, ids.len() as u64);
        for id in ids {
            let session = &self.sessions[id];
            put_u64(&mut buf, *id);
            put_u64(&mut buf, session.last_index);
            put_u64(&mut buf, session.results.len() as u64);
            for (&seq, &ok) in &session.results {
                put_u64(&mut buf, seq);
                put_u8(&mut buf, ok as u8);
            }
        }
        buf
    }

    /// Restores a state serialized by [`KvStore::to_snapshot`].
    pub fn from_snapshot(bytes: &[u8]) -> Result<KvStore, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut store = KvStore::default();
        for _ in 0..r.u64("key count")? {
            let k = r.bytes("key")?.to_vec();
            let v = r.bytes("value")?.to_vec();
            store.data.insert(k, v);
        }
        for _ in 0..r.u64("session count")? {
            let id = r.u64("client id")?;
            let last_index = r.u64("last index")?;
            let mut results = BTreeMap::new();
            for _ in 0..r.u64("result count")? {
                let seq = r.u64("sequence")?;
                results.insert(seq, r.u8("result")? != 0);
            }
            store.sessions.insert(
                id,
                Session {
                    last_index,
                    results,
                },
            );
        }
        r.finish()?;
        Ok(store)
    }
}

/// Applies a command to the map; returns false only for a CAS whose expectation failed.
fn apply_command(data: &mut BTreeMap<Vec<u8>, Vec<u8>>, command: Command) -> bool {
    match command {
        Command::Put { key, value } => {
            data.insert(key, value);
            true
        }
        Command::Delete { key } => {
            data.remove(&key);
            true
        }
        Command::Cas {
            key,
            expected,
            new_value,
        } => {
            if data.get(&key) == expected.as_ref() {
                data.insert(key, new_value);
                true
            } else {
                false
            }
        }
        Command::Append { key, value } => {
            data.entry(key).or_default().extend_from_slice(&value);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, client_id: u64, sequence: u64, command: Command) -> Entry {
        Entry {
            term: 1,
            index,
            data: Request {
                client_id,
                sequence,
                command,
            }
            .encode(),
        }
    }

    fn put(key: &str, value: &str) -> Command {
        Command::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn encoding_round_trips_every_command() {
        let commands = [
            put("k", "v"),
            Command::Delete { key: b"k".to_vec() },
            Command::Cas {
                key: b"k".to_vec(),
                expected: None,
                new_value: b"n".to_vec(),
            },
            Command::Cas {
                key: b"k".to_vec(),
                expected: Some(Vec::new()),
                new_value: b"n".to_vec(),
            },
            Command::Append {
                key: b"k".to_vec(),
                value: b"x".to_vec(),
            },
        ];
        for command in commands {
            let request = Request {
                client_id: 9,
                sequence: 3,
                command,
            };
            assert_eq!(Request::decode(&request.encode()).unwrap(), request);
        }
        assert!(Request::decode(&[9, 0, 0]).is_err());
    }

    #[test]
    fn bug_no_dedup_applies_a_retried_write_twice() {
        let mut kv = KvStore::default();
        kv.disable_dedup();
        let a1 = Command::Append {
            key: b"l".to_vec(),
            value: b"1,".to_vec(),
        };
        for index in 1..=2 {
            assert_eq!(
                kv.apply(&entry(index, 7, 1, a1.clone())),
                Applied::Done { succeeded: true }
            );
        }
        assert_eq!(kv.get(b"l"), Some(&b"1,1,"[..]));
    }

    #[test]
    fn retried_write_applies_once() {
        let mut kv = KvStore::default();
        let a1 = Command::Append {
            key: b"l".to_vec(),
            value: b"1".to_vec(),
        };
        assert_eq!(
            kv.apply(&entry(1, 7, 1, a1.clone())),
            Applied::Done { succeeded: true }
        );
        assert_eq!(
            kv.apply(&entry(2, 7, 1, a1)),
            Applied::Duplicate { succeeded: true }
        );
        assert_eq!(kv.get(b"l"), Some(&b"1"[..]));
        // Another client with the same sequence number is a different write.
        let a2 = Command::Append {
            key: b"l".to_vec(),
            value: b"2".to_vec(),
        };
        assert_eq!(
            kv.apply(&entry(3, 8, 1, a2)),
            Applied::Done { succeeded: true }
        );
        assert_eq!(kv.get(b"l"), Some(&b"12"[..]));
    }

    #[test]
    fn out_of_order_sequences_within_the_window_apply_and_old_ones_are_stale() {
        let mut kv = KvStore::default();
        let window = SESSION_WINDOW as u64;
        for (index, seq) in (1..=window + 10).rev().enumerate() {
            let applied = kv.apply(&entry(index as u64 + 1, 1, seq, put("k", &seq.to_string())));
            let expected = if seq > 10 {
                Applied::Done { succeeded: true }
            } else {
                Applied::Stale
            };
            assert_eq!(applied, expected, "sequence {seq}");
        }
        assert_eq!(kv.get(b"k"), Some(&b"11"[..]));
        assert_eq!(
            kv.apply(&entry(500, 1, 10_000, put("k", "new"))),
            Applied::Done { succeeded: true }
        );
        assert_eq!(kv.get(b"k"), Some(&b"new"[..]));
    }

    #[test]
    fn cas_semantics() {
        let mut kv = KvStore::default();
        let cas = |expected: Option<&str>, new: &str| Command::Cas {
            key: b"r".to_vec(),
            expected: expected.map(|e| e.as_bytes().to_vec()),
            new_value: new.as_bytes().to_vec(),
        };
        assert_eq!(
            kv.apply(&entry(1, 1, 1, cas(Some("0"), "1"))),
            Applied::Done { succeeded: false }
        );
        assert_eq!(kv.get(b"r"), None);
        assert_eq!(
            kv.apply(&entry(2, 1, 2, cas(None, "1"))),
            Applied::Done { succeeded: true }
        );
        assert_eq!(
            kv.apply(&entry(3, 1, 3, cas(None, "2"))),
            Applied::Done { succeeded: false }
        );
        assert_eq!(
            kv.apply(&entry(4, 1, 4, cas(Some("1"), "2"))),
            Applied::Done { succeeded: true }
        );
        assert_eq!(kv.get(b"r"), Some(&b"2"[..]));
        // A retried failed CAS keeps its failure even though it would now succeed.
        kv.apply(&entry(5, 1, 5, put("r", "0")));
        assert_eq!(
            kv.apply(&entry(6, 1, 1, cas(Some("0"), "1"))),
            Applied::Duplicate { succeeded: false }
        );
        assert_eq!(kv.get(b"r"), Some(&b"0"[..]));
        kv.apply(&entry(7, 1, 6, Command::Delete { key: b"r".to_vec() }));
        assert_eq!(kv.get(b"r"), None);
    }

    #[test]
    fn noop_and_garbage_entries_do_nothing() {
        let mut kv = KvStore::default();
        assert_eq!(
            kv.apply(&Entry {
                term: 1,
                index: 1,
                data: Vec::new()
            }),
            Applied::Nothing
        );
        assert_eq!(
            kv.apply(&Entry {
                term: 1,
                index: 2,
                data: vec![42; 5]
            }),
            Applied::Nothing
        );
        assert!(kv.is_empty());
    }

    #[test]
    fn snapshot_round_trip_keeps_data_and_sessions() {
        let mut kv = KvStore::default();
        kv.apply(&entry(1, 1, 1, put("a", "1")));
        kv.apply(&entry(
            2,
            2,
            5,
            Command::Append {
                key: b"b".to_vec(),
                value: vec![0, 255],
            },
        ));
        let restored = KvStore::from_snapshot(&kv.to_snapshot()).unwrap();
        assert_eq!(restored, kv);
        let mut restored = restored;
        assert_eq!(
            restored.apply(&entry(3, 2, 5, put("b", "x"))),
            Applied::Duplicate { succeeded: true }
        );
        assert_eq!(restored.get(b"b"), Some(&[0u8, 255][..]));
        assert!(KvStore::from_snapshot(&kv.to_snapshot()[..10]).is_err());
    }

    #[test]
    fn sessions_are_evicted_least_recent_first() {
        let mut kv = KvStore::default();
        for client in 0..=MAX_SESSIONS as u64 {
            kv.apply(&entry(client + 1, client, 1, put("k", "v")));
        }
        assert_eq!(kv.sessions.len(), MAX_SESSIONS * 9 / 10);
        assert!(
            !kv.sessions.contains_key(&0),
            "the oldest session goes first"
        );
        assert!(kv.sessions.contains_key(&(MAX_SESSIONS as u64)));
    }
}

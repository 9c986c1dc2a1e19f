//! The linearizability search: Wing & Gong's algorithm with Lowe's improvements, as in
//! Porcupine, for one independent part (one key) of a history.
//!
//! # How it works
//!
//! The operations' invocations ("calls") and completions ("returns") become entries of a
//! doubly-linked list in history order. The search walks the list from its head. At a
//! call it tries to *linearize* that operation now: if the model can step from the
//! current state, it *lifts* the operation (unlinks its call and return entries), pushes
//! the old state on a stack and restarts from the head. At a return entry it is stuck:
//! that operation returned without being linearized, so the last choice is undone
//! (*unlift*, pop) and the walk goes on after it. The search succeeds when every
//! operation that has a return has been linearized, and fails when it is stuck with an
//! empty stack.
//!
//! Lowe's cache remembers every (set of linearized operations, model state) pair already
//! reached; reaching one again cannot lead anywhere new, so that branch is skipped. The
//! set is a bitset whose hash is kept incrementally (one random word per operation,
//! XOR-ed in and out) and combined with the state's hash, so a probe costs one hash
//! lookup and, on a hit, one comparison.
//! The cache lives in flat arrays (no allocation per entry) so that it fills, grows and
//! is dropped quickly even with millions of entries.
//!
//! # Indeterminate operations
//!
//! An `info` (or never completed) operation has no return entry: it may be linearized at
//! any point after its call, or never. Before searching, [`prune`] removes indeterminate
//! operations that cannot matter: reads (they change nothing), and writes whose written
//! value (or element) nothing ever observes — if a linearization uses such a write, the
//! same linearization without it is still valid, because no later operation looked at
//! the value it wrote. A compare-and-set that found another value
//! ([`crate::model::Output::Mismatch`]) observes every value but the one it expected, so
//! in a part that has one no indeterminate write is removed. With the unique values of
//! our workloads this removes almost every `info` write that did not take effect, which
//! is what otherwise makes the search blow up.
//! The same holds for an element enqueued and never dequeued: leaving it out of a queue
//! only removes an element nobody takes. Acquires, releases, dequeues and transactions
//! are kept.
//!
//! # Reductions
//!
//! Of several interchangeable operations that could all be linearized at a point (say
//! three open writes of 3), only the earliest is tried; the cache also skips a
//! configuration when it holds one with the same completed operations and state that
//! used a subset of its indeterminate operations; and completed candidates are tried
//! before indeterminate ones. See [`crate::symmetry`] for the rules and their proof.
//! For that order the indeterminate calls are kept in a list of their own: the first
//! pass walks the completed operations' entries up to the first return, the second the
//! indeterminate calls invoked before that return, so neither walks past the other's
//! entries (crashed operations stay unlinearized for long and would otherwise be walked
//! past at every step).
//!
//! # Budget
//!
//! Every few hundred steps the search checks a shared cancel flag, the deadline and the
//! bytes its cache holds (added into a total shared by all parts searched in parallel);
//! when any is exceeded it stops with [`Search::Unknown`] instead of running out of time
//! or memory.
//!
//! # Counterexamples
//!
//! While searching it remembers the furthest return entry it got stuck at: the history
//! before that point has a linearization (one is kept, with the distinct model states
//! reached there), and the operation returning there cannot be linearized after it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::fxhash::{hash_of, FxHashSet};
use crate::model::{Input, Model, Operation, Output};
use crate::symmetry::Dominators;

/// Limits shared by all the searches of one check.
#[derive(Debug)]
pub struct Budget {
    /// When to give up.
    pub deadline: Instant,
    /// Most bytes all caches together may hold.
    pub max_bytes: usize,
    /// Bytes currently held by all caches.
    pub used_bytes: AtomicUsize,
    /// Set to stop every search (budget exhausted elsewhere, or the caller gave up).
    pub cancel: AtomicBool,
}

impl Budget {
    /// A budget ending at `deadline` with at most `max_bytes` of cache.
    pub fn new(deadline: Instant, max_bytes: usize) -> Budget {
        Budget {
            deadline,
            max_bytes,
            used_bytes: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
        }
    }
}

/// Why a search ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownReason {
    /// The time limit was reached.
    TimeLimit,
    /// The memory limit was reached.
    MemoryLimit,
    /// Another part exhausted the budget, or the caller cancelled.
    Cancelled,
}

impl UnknownReason {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownReason::TimeLimit => "time limit reached",
            UnknownReason::MemoryLimit => "memory limit reached",
            UnknownReason::Cancelled => "cancelled",
        }
    }
}

/// Where a non-linearizable history gets stuck.
#[derive(Debug, Clone)]
pub struct Failure<S> {
    /// Id of the operation whose return could not be reached linearized.
    pub op: usize,
    /// Ids of one linearization of everything before that return, in order.
    pub prefix: Vec<usize>,
    /// Distinct model states reachable at that point (at most [`MAX_STATES`]).
    pub states: Vec<S>,
}

/// How many distinct frontier states a [`Failure`] keeps.
pub const MAX_STATES: usize = 8;

/// The outcome of one search.
#[derive(Debug, Clone)]
pub enum Search<S> {
    /// A linearization exists.
    Linearizable,
    /// None exists.
    Illegal(Failure<S>),
    /// The budget ran out first.
    Unknown(UnknownReason),
}

/// Removes indeterminate operations that cannot change the verdict (see the module
/// docs) and renumbers the rest densely.
pub fn prune(mut ops: Vec<Operation>) -> Vec<Operation> {
    // A CAS that found another value observes every value but the one it expected, so
    // where one ran no write goes unobserved.
    let mismatch = ops.iter().any(|op| op.output == Output::Mismatch);
    loop {
        let mut observed: FxHashSet<i64> = FxHashSet::default();
        for op in &ops {
            match (&op.input, &op.output) {
                (_, Output::Value(Some(v))) => {
                    observed.insert(*v);
                }
                (_, Output::Elems(e)) => observed.extend(e.iter().copied()),
                (Input::Cas(a, _), _) => {
                    observed.insert(*a);
                }
                _ => {}
            }
        }
        let before = ops.len();
        ops.retain(|op| {
            if !op.is_indeterminate() {
                return true;
            }
            match op.input {
                Input::Read => false,
                Input::Write(v)
                | Input::Cas(_, v)
                | Input::Add(v)
                | Input::Append(v)
                | Input::Enqueue(v) => mismatch || observed.contains(&v),
                Input::Acquire | Input::Release | Input::Dequeue | Input::Txn(_) => true,
            }
        });
        if ops.len() == before {
            break;
        }
    }
    for (i, op) in ops.iter_mut().enumerate() {
        op.id = i;
    }
    ops
}

/// A random-looking word per operation id (splitmix64), for the incremental bitset hash.
fn zobrist(id: usize) -> u64 {
    let mut z = (id as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// The call/return entries as doubly-linked lists with "dancing links" removal: one
/// from [`HEAD`] in history order and, when indeterminate calls are kept apart, one of
/// those from `ihead` in call order.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Operation id of each entry (entry 0 is the head sentinel).
    op: Vec<u32>,
    /// Whether each entry is a call.
    is_call: Vec<bool>,
    /// Return entry of each operation, or NIL if indeterminate.
    ret_of: Vec<u32>,
    /// Head sentinel of the list of indeterminate calls (empty unless kept apart).
    ihead: u32,
}

impl Entries {
    /// The entries of `ops`; with `apart`, indeterminate calls go to their own list.
    fn new(ops: &[Operation], apart: bool) -> Entries {
        let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for op in ops {
            events.push((op.call, true, op.id as u32));
            if !op.is_indeterminate() {
                assert!(op.ret > op.call, "an operation returns after its call");
                events.push((op.ret, false, op.id as u32));
            }
        }
        events.sort_unstable_by_key(|&(pos, is_call, _)| (pos, !is_call));
        // Entry 0 heads the main list, the last entry the indeterminate calls' list.
        let n = events.len() + 2;
        let mut e = Entries {
            next: vec![NIL; n],
            prev: vec![NIL; n],
            op: vec![NIL; n],
            is_call: vec![false; n],
            ret_of: vec![NIL; ops.len()],
            ihead: (n - 1) as u32,
        };
        let (mut last, mut ilast) = (HEAD, e.ihead);
        for (i, &(_, is_call, id)) in events.iter().enumerate() {
            let idx = (i + 1) as u32;
            e.op[idx as usize] = id;
            e.is_call[idx as usize] = is_call;
            if !is_call {
                e.ret_of[id as usize] = idx;
            }
            let tail = if apart && ops[id as usize].is_indeterminate() {
                &mut ilast
            } else {
                &mut last
            };
            e.next[*tail as usize] = idx;
            e.prev[idx as usize] = *tail;
            *tail = idx;
        }
        e
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.prev[i as usize], self.next[i as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, i: u32) {
        let (p, n) = (self.prev[i as usize], self.next[i as usize]);
        self.next[p as usize] = i;
        if n != NIL {
            self.prev[n as usize] = i;
        }
    }

    /// Removes a call entry and its return entry.
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.ret_of[self.op[call as usize] as usize];
        if r != NIL {
            self.unlink(r);
        }
    }

    /// Undoes [`Entries::lift`] (in reverse order).
    fn unlift(&mut self, call: u32) {
        let r = self.ret_of[self.op[call as usize] as usize];
        if r != NIL {
            self.relink(r);
        }
        self.relink(call);
    }
}

/// Lowe's cache: the set of (linearized bitset, state) pairs seen, as a chained hash
/// table over flat arrays (no allocation per entry, so it fills and drops fast). It
/// grows by re-threading its chains, a pass that gives up when the deadline passes.
struct Cache<S> {
    /// Bucket heads (entry numbers), a power of two of them.
    heads: Vec<u32>,
    /// Per entry: the next entry of its bucket.
    chain: Vec<u32>,
    /// Per entry: the bitset's hash.
    hashes: Vec<u64>,
    /// All bitsets, `words` per entry.
    bits: Vec<u64>,
    /// Per entry: the model state.
    states: Vec<S>,
    /// Words per bitset.
    words: usize,
}

impl<S: Eq + Clone> Cache<S> {
    fn new(words: usize) -> Cache<S> {
        Cache {
            heads: vec![NIL; 1024],
            chain: Vec::new(),
            hashes: Vec::new(),
            bits: Vec::new(),
            states: Vec::new(),
            words,
        }
    }

    fn bucket(&self, hash: u64) -> usize {
        (hash as usize) & (self.heads.len() - 1)
    }

    /// Inserts the pair unless an entry covers it; returns whether it was new. `None`
    /// when the table had to grow and the deadline passed meanwhile.
    ///
    /// An entry covers `(bits, state)` when its state is `state` and its bitset equals
    /// `bits` on the operations of `exact` and is a subset of `bits` elsewhere (see
    /// [`crate::symmetry`]: a configuration that linearized fewer indeterminate
    /// operations, all else equal, can do everything this one can). `hash` must
    /// depend only on `state` and on the bits of `exact`.
    fn insert(
        &mut self,
        hash: u64,
        bits: &[u64],
        exact: &[u64],
        state: &S,
        deadline: Instant,
    ) -> Option<bool> {
        let mut e = self.heads[self.bucket(hash)];
        while e != NIL {
            let i = e as usize;
            if self.hashes[i] == hash
                && self.bits[i * self.words..(i + 1) * self.words]
                    .iter()
                    .zip(bits)
                    .zip(exact)
                    .all(|((&had, &now), &m)| (had ^ now) & (had | m) == 0)
                && self.states[i] == *state
            {
                return Some(false);
            }
            e = self.chain[i];
        }
        if self.states.len() >= self.heads.len() * 2 {
            self.grow(deadline)?;
        }
        assert!(self.states.len() < NIL as usize, "cache entries fit in u32");
        let n = self.states.len() as u32;
        let b = self.bucket(hash);
        self.chain.push(self.heads[b]);
        self.heads[b] = n;
        self.hashes.push(hash);
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        Some(true)
    }

    fn grow(&mut self, deadline: Instant) -> Option<()> {
        let mut heads = vec![NIL; self.heads.len() * 2];
        let mask = heads.len() - 1;
        for (i, &h) in self.hashes.iter().enumerate() {
            if i % 65_536 == 65_535 && Instant::now() >= deadline {
                return None;
            }
            let b = (h as usize) & mask;
            self.chain[i] = heads[b];
            heads[b] = i as u32;
        }
        self.heads = heads;
        Some(())
    }

    /// Bytes held, not counting what states own on the heap.
    fn bytes(&self) -> usize {
        self.heads.capacity() * 4
            + self.chain.capacity() * 4
            + self.hashes.capacity() * 8
            + self.bits.capacity() * 8
            + self.states.capacity() * std::mem::size_of::<S>()
    }
}

/// Searches for a linearization of `ops` (one partition, ids `0..ops.len()`). With
/// `reduce`, the reductions of [`crate::symmetry`] are on: interchangeable operations
/// are tried in one order only, the cache treats a configuration as covered by one that
/// linearized a subset of the same indeterminate operations, and at each point the
/// completed candidates are tried before the indeterminate ones. Without it this is
/// the plain search (kept to measure what the reductions buy).
pub fn search<M: Model>(
    model: &M,
    ops: &[Operation],
    budget: &Budget,
    reduce: bool,
) -> Search<M::State> {
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.id, i, "operation ids are dense positions");
    }
    let dominators = if reduce {
        Dominators::new(model, ops)
    } else {
        Dominators::none(ops.len())
    };
    let mut entries = Entries::new(ops, reduce);
    let words = ops.len().div_ceil(64).max(1);
    // The operations whose bits a cache entry must match exactly (all of them unless
    // indeterminate ones may be subsumed), and whose bits the hash `zh` covers.
    let mut exact = vec![0u64; words];
    for op in ops.iter().filter(|o| !reduce || !o.is_indeterminate()) {
        exact[op.id / 64] |= 1 << (op.id % 64);
    }
    let in_exact = |id: usize| exact[id / 64] & (1 << (id % 64)) != 0;
    let mut bits = vec![0u64; words];
    let mut zh: u64 = 0;
    let mut cache: Cache<M::State> = Cache::new(words);
    let mut heap_bytes: usize = 0;
    let mut reported: usize = 0;
    let mut remaining = ops.iter().filter(|o| !o.is_indeterminate()).count();
    let mut state = model.init();
    // The start is a configuration too: coming back to it through indeterminate
    // operations is then a cache hit.
    cache.insert(hash_of(&state), &bits, &exact, &state, budget.deadline);
    let mut stack: Vec<(u32, M::State)> = Vec::new();
    let mut best: Option<(u64, Failure<M::State>)> = None;
    let mut entry = entries.next[HEAD as usize];
    // Whether the walk is in its second pass over the candidates, the one that tries
    // the indeterminate operations (with `reduce`; without it everything is tried in
    // the first pass, in call order). With `reduce` the first pass walks the list of
    // completed operations' entries up to the first return, and the second the list of
    // indeterminate calls up to those invoked after that return (`stuck`). Lifting an
    // indeterminate operation leaves the first list as it was, so a configuration and
    // its children through indeterminate operations share `stuck`: when one of those
    // is popped, `stuck` is still the parent's.
    let mut second = false;
    let mut stuck = NIL;
    let mut steps: u64 = 0;
    let finish = |reported: usize| {
        budget.used_bytes.fetch_sub(reported, Ordering::Relaxed);
    };
    loop {
        steps += 1;
        if steps & 255 == 0 {
            let reason = if budget.cancel.load(Ordering::Relaxed) {
                Some(UnknownReason::Cancelled)
            } else if Instant::now() >= budget.deadline {
                Some(UnknownReason::TimeLimit)
            } else {
                let cache_bytes = cache.bytes() + heap_bytes;
                let total = budget
                    .used_bytes
                    .fetch_add(cache_bytes - reported, Ordering::Relaxed)
                    + (cache_bytes - reported);
                reported = cache_bytes;
                (total > budget.max_bytes).then_some(UnknownReason::MemoryLimit)
            };
            if let Some(reason) = reason {
                budget.cancel.store(true, Ordering::Relaxed);
                finish(reported);
                return Search::Unknown(reason);
            }
        }
        if remaining == 0 {
            finish(reported);
            return Search::Linearizable;
        }
        let candidate = if second {
            entry != NIL
                && ops[entries.op[entry as usize] as usize].call
                    <= ops[entries.op[stuck as usize] as usize].ret
        } else {
            assert!(
                entry != NIL,
                "an unlinearized operation's return entry lies ahead"
            );
            entries.is_call[entry as usize]
        };
        if candidate {
            let id = entries.op[entry as usize] as usize;
            if dominators.skip(id, &bits) {
                entry = entries.next[entry as usize];
                continue;
            }
            if let Some(next) = model.step(&state, &ops[id]) {
                bits[id / 64] |= 1 << (id % 64);
                if in_exact(id) {
                    zh ^= zobrist(id);
                }
                let heap = model.state_heap_bytes(&next);
                let hash = zh ^ hash_of(&next);
                match cache.insert(hash, &bits, &exact, &next, budget.deadline) {
                    None => {
                        budget.cancel.store(true, Ordering::Relaxed);
                        finish(reported);
                        return Search::Unknown(UnknownReason::TimeLimit);
                    }
                    Some(true) => {
                        heap_bytes += heap;
                        stack.push((entry, std::mem::replace(&mut state, next)));
                        entries.lift(entry);
                        if !ops[id].is_indeterminate() {
                            remaining -= 1;
                        }
                        entry = entries.next[HEAD as usize];
                        second = false;
                        continue;
                    }
                    Some(false) => {}
                }
                bits[id / 64] &= !(1 << (id % 64));
                if in_exact(id) {
                    zh ^= zobrist(id);
                }
            }
            entry = entries.next[entry as usize];
        } else {
            if reduce && !second {
                second = true;
                stuck = entry;
                entry = entries.next[entries.ihead as usize];
                continue;
            }
            let id = entries.op[if second { stuck } else { entry } as usize] as usize;
            let pos = ops[id].ret;
            match &mut best {
                Some((p, f)) if *p == pos => {
                    if f.states.len() < MAX_STATES && !f.states.contains(&state) {
                        f.states.push(state.clone());
                    }
                }
                Some((p, _)) if *p > pos => {}
                _ => {
                    let prefix = stack
                        .iter()
                        .map(|&(e, _)| entries.op[e as usize] as usize)
                        .collect();
                    let states = vec![state.clone()];
                    best = Some((
                        pos,
                        Failure {
                            op: id,
                            prefix,
                            states,
                        },
                    ));
                }
            }
            let Some((call, prev)) = stack.pop() else {
                finish(reported);
                let (_, failure) = best.expect("stuck at a return entry");
                return Search::Illegal(failure);
            };
            state = prev;
            let lid = entries.op[call as usize] as usize;
            bits[lid / 64] &= !(1 << (lid % 64));
            if in_exact(lid) {
                zh ^= zobrist(lid);
            }
            entries.unlift(call);
            if !ops[lid].is_indeterminate() {
                remaining += 1;
            }
            second = reduce && ops[lid].is_indeterminate();
            entry = entries.next[call as usize];
        }
    }
}

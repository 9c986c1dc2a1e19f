//! Deliberate bug switches of the node, for proving that faultline catches the
//! anomalies real Raft systems shipped with.
//!
//! Every switch is off by default and turned on by name (`faultline node --bug
//! NAME`, repeatable; `faultline test --db-bug NAME` passes it to every node). A
//! node with any switch on is not safe. Three switches live in the Raft core
//! ([`crate::raft::Bugs`]), two in the storage ([`SyncBugs`]: only a disk that
//! loses unsynced data, the disk fault, exposes them); the others are implemented
//! here in the runtime:
//!
//! | name | where | what breaks | what a test sees |
//! |---|---|---|---|
//! | `stale-read` | runtime | every node, follower or leader, answers linearizable reads from its local state without ReadIndex | stale reads (register) |
//! | `leader-local-read` | core | the leader answers ReadIndex with its commit index, without a heartbeat round confirming it still leads | stale reads from a leader cut off from its peers while clients still reach it, until CheckQuorum makes it step down (register, `partition:leader`, clients bound to their node) |
//! | `ack-before-commit` | runtime | the leader acknowledges a put/append/delete once the entry is in its own fsynced log, before a quorum has it (a CAS still waits: its outcome is only known once applied) | lost acknowledged writes (set, partitions) |
//! | `vote-without-log-check` | core | votes and pre-votes are granted without the up-to-date-log rule, and followers overwrite conflicting entries even below their commit index (plain Raft's AppendEntries rule, which trusts the rule this bug breaks) | a leader missing committed entries erases them: lost writes, stale reads (a follower that lagged when the leader died) |
//! | `forget-vote` | runtime | term and vote are not persisted: on restart a node takes the term of its last log entry and no vote, so it may vote twice in one term | two leaders in one term if the node restarts between granting a vote and storing the new leader's first entry (the `after-vote` crash point, [`super::crash`]) and then votes, or runs, in that term again; both leaders append at the same indices and the first keeps its own entries as if they were the second's: lost writes on its final read (set, `kill:leader,crash:after-vote`) |
//! | `commit-old-term` | core | a leader commits entries of earlier terms by counting replicas (Raft paper, Figure 8) and so appends no no-op when elected; followers overwrite conflicting entries even below their commit index | two nodes apply different entries at one index when leadership passes between nodes that each crashed holding entries nobody else has (the `after-append` crash point with the crash fault's rolling restarts): their final reads disagree and acknowledged adds vanish from one of them (set, `crash:after-append`) |
//! | `no-dedup` | runtime | the state machine ignores the client id and sequence, so a retried write is applied again | duplicated set elements (set, kill/partition, retrying client) |
//! | `skip-fsync` | storage | log appends are written but not fsynced before the node votes, acknowledges or answers (the WAL's `fdatasync` skipped, as stores shipped with "sync off by default" or an ignored `fsync` result did) | nothing under kill, pause or partition (the page cache keeps every write a killed process made); under `disk:lose-unsynced` a power loss of a majority erases acknowledged entries and votes: lost writes (set, register) |
//! | `skip-dir-sync` | storage | a snapshot or a compacted log is renamed into place without fsyncing the directory (the rename is not durable; the ALICE study of crash consistency, OSDI 2014, found this in LevelDB, HDFS and ZooKeeper) | after a power loss the node comes back with the log as it was before its last compaction: every entry since is gone; lost writes when a majority loses power (set, `disk:lose-unsynced`, frequent snapshots: `--node-arg=--snapshot-every=200`) |
//! | `lease-read` | runtime | the leader serves linearizable reads from a lease instead of a ReadIndex round: once a quorum confirmed its leadership in a round it started at *t*, it answers reads from local state until *t* + the election timeout − one tick (how long, on real clocks, a follower that answered refuses other candidates), measured on its own monotonic clock with no allowance for clocks that drift or jump, and trusts that lease even after it hears of a newer leader (with clocks that agree none can exist before the lease ends) | stale reads when clocks disagree: a leader whose clock runs slow (skewed, or slewed back) and is cut off keeps serving from its lease after the others, whose clocks ran on, elected a new leader that took writes (register, `clock:leader,partition:leader`, clients bound to their node); with real clocks the lease holds |
//!
//! `scripts/detect-bugs.sh` runs each switch with the workload and faults most
//! likely to expose it over several seeds and tabulates how often faultline
//! catches it; `tests/bugs_detect.rs` pins the switches a short run catches. The
//! election no-op (every new leader first commits an entry of its own term) is
//! what hides `forget-vote` from random faults: a forgotten vote only matters
//! within the round trip before that no-op is stored on a quorum, and the
//! `after-vote` crash point kills a voter inside that window (the crash fault kills
//! leaders meanwhile, so that elections open the window). The same no-op
//! would hide `commit-old-term` entirely (it travels in the same AppendEntries
//! as the old entries and commits them correctly), which is why that switch
//! also drops it, as the implementations with this bug do; the `after-append`
//! crash point then leaves entries on a crashed leader alone, the Figure 8
//! starting state. The Raft core's scenario tests drive both bugs into their
//! anomaly with a scripted message schedule. A
//! `no-dedup` duplicate needs a client that retries an ambiguous write with the
//! same sequence number, which faultline's client does (see `src/client`).

use std::fmt;
use std::str::FromStr;

use crate::raft;
use crate::storage::SyncBugs;

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// Any node serves linearizable reads from local state (no ReadIndex).
    StaleRead,
    /// The leader answers reads without confirming its leadership.
    LeaderLocalRead,
    /// The leader acknowledges writes once they are in its own log.
    AckBeforeCommit,
    /// Votes are granted without the up-to-date-log rule.
    VoteWithoutLogCheck,
    /// Term and vote are not persisted across restarts.
    ForgetVote,
    /// Earlier-term entries are committed by counting replicas (Figure 8).
    CommitOldTerm,
    /// Retried writes are applied again (no client request de-duplication).
    NoDedup,
    /// Log appends are not fsynced.
    SkipFsync,
    /// Renames into the data directory are not followed by a directory fsync.
    SkipDirSync,
    /// The leader serves reads from a clock-measured lease with no drift allowance.
    LeaseRead,
}

impl Bug {
    /// Every switch, in documentation order.
    pub const ALL: [Bug; 10] = [
        Bug::StaleRead,
        Bug::LeaderLocalRead,
        Bug::AckBeforeCommit,
        Bug::VoteWithoutLogCheck,
        Bug::ForgetVote,
        Bug::CommitOldTerm,
        Bug::NoDedup,
        Bug::SkipFsync,
        Bug::SkipDirSync,
        Bug::LeaseRead,
    ];

    /// The switch's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::LeaderLocalRead => "leader-local-read",
            Bug::AckBeforeCommit => "ack-before-commit",
            Bug::VoteWithoutLogCheck => "vote-without-log-check",
            Bug::ForgetVote => "forget-vote",
            Bug::CommitOldTerm => "commit-old-term",
            Bug::NoDedup => "no-dedup",
            Bug::SkipFsync => "skip-fsync",
            Bug::SkipDirSync => "skip-dir-sync",
            Bug::LeaseRead => "lease-read",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a bug switch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {0:?} (expected one of: {names})", names = bug_names())]
pub struct UnknownBug(pub String);

/// The switch names, comma-separated.
fn bug_names() -> String {
    Bug::ALL.map(Bug::name).join(", ")
}

impl FromStr for Bug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<Bug, UnknownBug> {
        Bug::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

/// The switches a node runs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet {
    /// Any node serves linearizable reads locally.
    pub stale_read: bool,
    /// Writes are acknowledged once in the leader's log.
    pub ack_before_commit: bool,
    /// Term and vote are dropped on restart.
    pub forget_vote: bool,
    /// The state machine does not de-duplicate retried writes.
    pub no_dedup: bool,
    /// The leader serves reads from a lease measured on its own clock.
    pub lease_read: bool,
    /// The switches of the Raft core.
    pub core: raft::Bugs,
    /// The switches of the storage.
    pub storage: SyncBugs,
}

impl BugSet {
    /// The set with exactly `bugs` on.
    pub fn from_bugs(bugs: &[Bug]) -> BugSet {
        let mut set = BugSet::default();
        for bug in bugs {
            match bug {
                Bug::StaleRead => set.stale_read = true,
                Bug::LeaderLocalRead => set.core.leader_local_read = true,
                Bug::AckBeforeCommit => set.ack_before_commit = true,
                Bug::VoteWithoutLogCheck => set.core.vote_without_log_check = true,
                Bug::ForgetVote => set.forget_vote = true,
                Bug::CommitOldTerm => set.core.commit_old_term = true,
                Bug::NoDedup => set.no_dedup = true,
                Bug::SkipFsync => set.storage.skip_fsync = true,
                Bug::SkipDirSync => set.storage.skip_dir_sync = true,
                Bug::LeaseRead => set.lease_read = true,
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_map_to_one_switch_each() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>(), Ok(bug));
            let set = BugSet::from_bugs(&[bug]);
            assert_ne!(set, BugSet::default(), "{bug} switches something on");
        }
        let err = "nope".parse::<Bug>().unwrap_err().to_string();
        assert!(
            err.contains("stale-read") && err.contains("no-dedup"),
            "{err}"
        );
        let all = BugSet::from_bugs(&Bug::ALL);
        assert!(all.stale_read && all.ack_before_commit && all.forget_vote && all.no_dedup);
        assert!(all.lease_read);
        assert!(all.core.leader_local_read && all.core.vote_without_log_check);
        assert!(all.core.commit_old_term);
        assert!(all.storage.skip_fsync && all.storage.skip_dir_sync);
    }
}

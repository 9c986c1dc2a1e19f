//! Generated gRPC types and services, and the mapping between the Raft core's
//! messages and their protobuf form.

/// The client API (`proto/kv.proto`).
pub mod kv {
    tonic::include_proto!("faultline.kv");
}

/// The peer RPC (`proto/raft.proto`).
pub mod raft {
    tonic::include_proto!("faultline.raft");
}

use crate::raft::{Entry, Message, MessageBody, Snapshot, SnapshotMeta};
use raft::raft_message::Body;

fn entry_to_proto(e: &Entry) -> raft::Entry {
    raft::Entry {
        term: e.term,
        index: e.index,
        data: e.data.clone(),
    }
}

fn entry_from_proto(e: raft::Entry) -> Entry {
    Entry {
        term: e.term,
        index: e.index,
        data: e.data,
    }
}

/// Converts a core message to its protobuf form.
pub fn message_to_proto(m: &Message) -> raft::RaftMessage {
    let vote = |last_log_index, last_log_term| raft::VoteRequest {
        last_log_index,
        last_log_term,
    };
    let body = match &m.body {
        MessageBody::PreVote {
            last_log_index,
            last_log_term,
        } => Body::PreVote(vote(*last_log_index, *last_log_term)),
        MessageBody::PreVoteResponse { granted } => {
            Body::PreVoteResponse(raft::VoteResponse { granted: *granted })
        }
        MessageBody::RequestVote {
            last_log_index,
            last_log_term,
        } => Body::RequestVote(vote(*last_log_index, *last_log_term)),
        MessageBody::RequestVoteResponse { granted } => {
            Body::RequestVoteResponse(raft::VoteResponse { granted: *granted })
        }
        MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            read_round,
        } => Body::AppendEntries(raft::AppendEntries {
            prev_log_index: *prev_log_index,
            prev_log_term: *prev_log_term,
            entries: entries.iter().map(entry_to_proto).collect(),
            leader_commit: *leader_commit,
            read_round: *read_round,
        }),
        MessageBody::AppendEntriesResponse {
            success,
            match_index,
            conflict_index,
            conflict_term,
            read_round,
        } => Body::AppendEntriesResponse(raft::AppendEntriesResponse {
            success: *success,
            match_index: *match_index,
            conflict_index: *conflict_index,
            conflict_term: *conflict_term,
            read_round: *read_round,
        }),
        MessageBody::InstallSnapshot { snapshot } => Body::InstallSnapshot(raft::InstallSnapshot {
            index: snapshot.meta.index,
            term: snapshot.meta.term,
            data: snapshot.data.clone(),
        }),
        MessageBody::InstallSnapshotResponse { last_index } => {
            Body::InstallSnapshotResponse(raft::InstallSnapshotResponse {
                last_index: *last_index,
            })
        }
    };
    raft::RaftMessage {
        from: m.from,
        to: m.to,
        term: m.term,
        body: Some(body),
    }
}

/// Converts a received protobuf message to the core's form; `None` if it has no body.
pub fn message_from_proto(m: raft::RaftMessage) -> Option<Message> {
    let body = match m.body? {
        Body::PreVote(v) => MessageBody::PreVote {
            last_log_index: v.last_log_index,
            last_log_term: v.last_log_term,
        },
        Body::PreVoteResponse(v) => MessageBody::PreVoteResponse { granted: v.granted },
        Body::RequestVote(v) => MessageBody::RequestVote {
            last_log_index: v.last_log_index,
            last_log_term: v.last_log_term,
        },
        Body::RequestVoteResponse(v) => MessageBody::RequestVoteResponse { granted: v.granted },
        Body::AppendEntries(a) => MessageBody::AppendEntries {
            prev_log_index: a.prev_log_index,
            prev_log_term: a.prev_log_term,
            entries: a.entries.into_iter().map(entry_from_proto).collect(),
            leader_commit: a.leader_commit,
            read_round: a.read_round,
        },
        Body::AppendEntriesResponse(a) => MessageBody::AppendEntriesResponse {
            success: a.success,
            match_index: a.match_index,
            conflict_index: a.conflict_index,
            conflict_term: a.conflict_term,
            read_round: a.read_round,
        },
        Body::InstallSnapshot(s) => MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: s.index,
                    term: s.term,
                },
                data: s.data,
            },
        },
        Body::InstallSnapshotResponse(s) => MessageBody::InstallSnapshotResponse {
            last_index: s.last_index,
        },
    };
    Some(Message {
        from: m.from,
        to: m.to,
        term: m.term,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_kind_round_trips() {
        let entries = vec![Entry {
            term: 2,
            index: 5,
            data: b"x".to_vec(),
        }];
        let bodies = vec![
            MessageBody::PreVote {
                last_log_index: 1,
                last_log_term: 2,
            },
            MessageBody::PreVoteResponse { granted: true },
            MessageBody::RequestVote {
                last_log_index: 3,
                last_log_term: 4,
            },
            MessageBody::RequestVoteResponse { granted: false },
            MessageBody::AppendEntries {
                prev_log_index: 4,
                prev_log_term: 1,
                entries,
                leader_commit: 3,
                read_round: 7,
            },
            MessageBody::AppendEntriesResponse {
                success: false,
                match_index: 0,
                conflict_index: 2,
                conflict_term: 1,
                read_round: 7,
            },
            MessageBody::InstallSnapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta { index: 9, term: 3 },
                    data: vec![1, 2],
                },
            },
            MessageBody::InstallSnapshotResponse { last_index: 9 },
        ];
        for body in bodies {
            let m = Message {
                from: 1,
                to: 2,
                term: 3,
                body,
            };
            assert_eq!(message_from_proto(message_to_proto(&m)), Some(m));
        }
        assert_eq!(
            message_from_proto(raft::RaftMessage {
                from: 1,
                to: 2,
                term: 3,
                body: None
            }),
            None
        );
    }
}

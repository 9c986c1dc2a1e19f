//! Snapshots and compaction: dropping the log prefix a local snapshot covers,
//! installing a snapshot sent by the leader, and the leader's handling of the
//! answer. The rules are described under "Snapshots and compaction" in the
//! essay of [`super`].

use super::{RaftNode, RoleState};
use crate::raft::message::{MessageBody, NodeId, Snapshot};

impl RaftNode {
    /// The state machine snapshotted at `snapshot.meta.index` (at or below the
    /// applied index): drop the log up to there and keep the snapshot for
    /// lagging followers. An older snapshot than the current one is ignored.
    pub fn compact(&mut self, snapshot: Snapshot) {
        if snapshot.meta.index <= self.log.snapshot.index {
            return;
        }
        self.log.compact_to(snapshot.meta);
        self.snapshot = Some(snapshot);
    }

    pub(super) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        snapshot: Snapshot,
        msg_term: u64,
    ) {
        let meta = snapshot.meta;
        if meta.term > msg_term || (meta.index > 0 && meta.term == 0) {
            return;
        }
        let last_index = if meta.index <= self.log.commit {
            self.log.commit
        } else if self.log.term(meta.index) == Some(meta.term) {
            self.log.commit = meta.index;
            meta.index
        } else {
            self.log.reset_to_snapshot(meta);
            self.snapshot = Some(snapshot.clone());
            self.received_snapshot = Some(snapshot);
            meta.index
        };
        self.send(
            from,
            self.term,
            MessageBody::InstallSnapshotResponse { last_index },
        );
    }

    pub(super) fn handle_snapshot_response(&mut self, from: NodeId, last_index: u64) {
        let our_last = self.log.last_index();
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let Some(pr) = ls.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if last_index > our_last {
            return;
        }
        if pr.ack(last_index) {
            self.maybe_commit();
        }
        self.send_append(from);
    }
}

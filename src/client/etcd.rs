//! The test client of etcd, over etcd's v3 gRPC API (generated from the trimmed copy
//! of etcd's protos in `proto/etcd`).
//!
//! Operations:
//! - read: `KV.Range` of the key; linearizable by default (etcd confirms with a
//!   quorum), `serializable` set by `--read-consistency serializable`;
//! - write: `KV.Put`;
//! - cas: `KV.Txn` comparing the key's value with the expected one and putting the new
//!   value when it holds; `succeeded = false` is a failed compare, `fail`;
//! - add (set workload): one key per element, `KV.Put` of `<set>/<element>`, and a set
//!   is read back with a `KV.Range` over the prefix `<set>/`. An add is a blind put of
//!   its own key, with no read-modify-write of a shared value, so two adds never
//!   conflict and a repeated add changes nothing.
//!
//! Each logical process is bound to one node (its worker slot's node,
//! [`ClientOptions::home`]), as a Jepsen client is, whatever `--client-routing` says:
//! etcd followers forward requests to the leader themselves. Classification, per
//! `crate::client`: a request that never left this process (the connection could not
//! be established) is tried on the next node, and is `fail` if no node takes it by the
//! deadline; `INVALID_ARGUMENT` is `fail`; every other error of a write — a timeout,
//! a lost connection, `etcdserver: leader changed`, `etcdserver: request timed out` —
//! is `info`, and is *not* retried: etcd does not de-duplicate requests, so a retry
//! could apply a write twice, the second time after later writes. Any error of a read
//! is `fail`. A deadline that passes with no answer is [`Completion::unanswered`]
//! (etcd's own deadline error arrives at the same instant, so a member that is alive
//! but has no outcome may count as unanswered too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftkv::client::{describe, never_sent, unanswered};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};
use workloads::generator::OpSpec;
use workloads::history::Value;

use super::{
    call, converged, decode_int, endpoints, BoxFuture, Client, ClientOptions, Clients, Completion,
    ReadConsistency,
};

/// The generated types of etcd's API.
pub mod proto {
    /// etcd's stored key-value pair.
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    /// etcd's KV and Maintenance services.
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
}

use proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use proto::etcdserverpb::kv_client::KvClient;
use proto::etcdserverpb::maintenance_client::MaintenanceClient;
use proto::etcdserverpb::request_op::Request;
use proto::etcdserverpb::{
    Compare, PutRequest, RangeRequest, RequestOp, StatusRequest, StatusResponse, TxnRequest,
};

/// Largest gRPC message the client accepts (a final read of a big set).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One etcd member as clients see it.
#[derive(Debug)]
struct Member {
    /// The node's name (`n1`, ...).
    name: String,
    /// A few KV channels; process `p` uses channel `p % len`.
    kv: Vec<KvClient<Channel>>,
    /// The Maintenance service (status).
    maintenance: MaintenanceClient<Channel>,
}

/// Channels to every member of an etcd cluster, and the options of its clients.
/// Cheap to clone: clones share the channels.
#[derive(Clone, Debug)]
pub struct EtcdClients {
    /// All members in the controller's order.
    members: Arc<Vec<Member>>,
    /// etcd's member id of each member that answered a status request (index).
    member_ids: Arc<Mutex<HashMap<u64, usize>>>,
    /// How reads are served and how long an operation may take.
    options: ClientOptions,
}

impl EtcdClients {
    /// Channels to `nodes` (name, `host:port` of the client URL); nothing connects
    /// until first use. Must be called inside a tokio runtime.
    pub fn new(nodes: &[(String, String)], options: ClientOptions) -> anyhow::Result<Self> {
        let members = endpoints(nodes, &options)?
            .into_iter()
            .map(|(name, endpoint)| Member {
                kv: (0..options.channels_per_node)
                    .map(|_| {
                        KvClient::new(endpoint.connect_lazy())
                            .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    })
                    .collect(),
                maintenance: MaintenanceClient::new(endpoint.connect_lazy()),
                name,
            })
            .collect();
        Ok(EtcdClients {
            members: Arc::new(members),
            member_ids: Arc::new(Mutex::new(HashMap::new())),
            options,
        })
    }

    /// Asks member `index` for its status, within `timeout`.
    async fn status(&self, index: usize, timeout: Duration) -> Result<StatusResponse, String> {
        let mut m = self.members[index].maintenance.clone();
        call(timeout, m.status(StatusRequest {})).await
    }
}

impl Clients for EtcdClients {
    fn open(&self, process: u64) -> Box<dyn Client> {
        Box::new(EtcdClient {
            clients: self.clone(),
            channel: (process as usize) % self.members[0].kv.len(),
            node: self.options.home(process, self.members.len()),
        })
    }

    fn node_count(&self) -> usize {
        self.members.len()
    }

    fn node_name(&self, index: usize) -> String {
        self.members[index].name.clone()
    }

    /// The leader some member names, asking each in turn (as raftkv's clients do).
    /// etcd names members by number; the numbers are learnt from the members' own
    /// answers, so a leader is known once it has answered a status request.
    fn find_leader(&self, timeout: Duration) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            for i in 0..self.members.len() {
                let Ok(s) = self.status(i, timeout).await else {
                    continue;
                };
                let mut ids = self.member_ids.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(h) = &s.header {
                    ids.insert(h.member_id, i);
                }
                if let Some(&leader) = ids.get(&s.leader) {
                    return Some(self.members[leader].name.clone());
                }
            }
            None
        })
    }

    fn wait_converged(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(converged(
            self.members.len(),
            timeout,
            move |i| async move {
                let s = self.status(i, Duration::from_millis(500)).await.ok()?;
                Some((s.raft_applied_index, s.raft_index))
            },
        ))
    }

    fn read_local<'a>(
        &'a self,
        index: usize,
        read: &'a OpSpec,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, String>> {
        Box::pin(async move {
            let mut kv = self.members[index].kv[0].clone();
            call(timeout, kv.range(read_range(read, true)))
                .await
                .map(|resp| decode_range(read, &resp.kvs))
        })
    }
}

/// One logical process bound to one member.
#[derive(Debug)]
pub struct EtcdClient {
    /// The shared channels.
    clients: EtcdClients,
    /// Which channel of each member this process uses.
    channel: usize,
    /// The member this process talks to first.
    node: usize,
}

/// What one attempt tells the loop in [`EtcdClient::perform`].
enum Attempt {
    /// Final answer.
    Done(Completion),
    /// The request never left this process; another member may take it.
    NeverSent(String),
}

impl Client for EtcdClient {
    fn invoke<'a>(&'a mut self, op: &'a OpSpec) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

impl EtcdClient {
    /// Performs `op` (see the module docs).
    async fn perform(&mut self, op: &OpSpec) -> Completion {
        let is_read = op.is_read();
        let deadline = Instant::now() + self.clients.options.op_timeout;
        let n = self.clients.members.len();
        let mut tried = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.attempt(op)).await {
                Err(_) => return Completion::unanswered(is_read),
                Ok(Attempt::Done(c)) => return c,
                Ok(Attempt::NeverSent(reason)) => {
                    self.node = (self.node + 1) % n;
                    tried += 1;
                    if tried % n == 0 {
                        let pause = Duration::from_millis(20);
                        tokio::time::sleep(pause.min(left)).await;
                    }
                    if Instant::now() >= deadline {
                        return Completion::Fail(format!("not sent before the deadline: {reason}"));
                    }
                }
            }
        }
    }

    /// One request to the current member.
    async fn attempt(&self, op: &OpSpec) -> Attempt {
        let mut kv = self.clients.members[self.node].kv[self.channel].clone();
        let serializable = self.clients.options.reads == ReadConsistency::Serializable;
        let result = match op {
            OpSpec::Read { .. } | OpSpec::ReadSet { .. } => kv
                .range(read_range(op, serializable))
                .await
                .map(|r| Completion::Ok(decode_range(op, &r.into_inner().kvs))),
            OpSpec::Write { key, value } => kv
                .put(put(key.as_bytes().to_vec(), value.to_string()))
                .await
                .map(|_| Completion::Ok(Value::Null)),
            OpSpec::Cas { key, expected, new } => {
                let req = TxnRequest {
                    compare: vec![Compare {
                        result: CompareResult::Equal as i32,
                        target: CompareTarget::Value as i32,
                        key: key.as_bytes().to_vec(),
                        range_end: Vec::new(),
                        target_union: Some(TargetUnion::Value(expected.to_string().into_bytes())),
                    }],
                    success: vec![RequestOp {
                        request: Some(Request::RequestPut(put(
                            key.as_bytes().to_vec(),
                            new.to_string(),
                        ))),
                    }],
                    failure: Vec::new(),
                };
                kv.txn(req).await.map(|r| {
                    if r.into_inner().succeeded {
                        Completion::Ok(Value::Null)
                    } else {
                        Completion::cas_mismatch()
                    }
                })
            }
            OpSpec::Add { key, element } => kv
                .put(put(
                    format!("{key}/{element}").into_bytes(),
                    element.to_string(),
                ))
                .await
                .map(|_| Completion::Ok(Value::Null)),
        };
        match result {
            Ok(completion) => Attempt::Done(completion),
            Err(status) => classify(&status, op.is_read()),
        }
    }
}

/// A plain put of `value` (decimal text) at `key`.
fn put(key: Vec<u8>, value: String) -> PutRequest {
    PutRequest {
        key,
        value: value.into_bytes(),
        ..PutRequest::default()
    }
}

/// Sorts an error status of etcd (see the module docs).
fn classify(status: &Status, is_read: bool) -> Attempt {
    if unanswered(status) {
        return Attempt::Done(Completion::unanswered(is_read));
    }
    let reason = describe(status);
    if never_sent(status) {
        return Attempt::NeverSent(reason);
    }
    match status.code() {
        Code::InvalidArgument => Attempt::Done(Completion::Fail(reason)),
        _ if is_read => Attempt::Done(Completion::Fail(reason)),
        _ => Attempt::Done(Completion::Info(reason)),
    }
}

/// The Range over the elements of set `key` (`key/` prefix), from the contacted
/// member's local state when `serializable`.
fn set_range(key: &str, serializable: bool) -> RangeRequest {
    let prefix = format!("{key}/").into_bytes();
    let mut range_end = prefix.clone();
    // The prefix ends in '/', so incrementing the last byte cannot overflow.
    *range_end.last_mut().expect("the prefix is not empty") += 1;
    RangeRequest {
        key: prefix,
        range_end,
        serializable,
        keys_only: true,
        ..RangeRequest::default()
    }
}

/// The Range a read `op` sends: the register's key, or the set's prefix.
fn read_range(op: &OpSpec, serializable: bool) -> RangeRequest {
    match op {
        OpSpec::ReadSet { key } => set_range(key, serializable),
        _ => RangeRequest {
            key: op.key().as_bytes().to_vec(),
            serializable,
            ..RangeRequest::default()
        },
    }
}

/// The value a read `op` returns from the pairs its Range found: the set's elements,
/// or the register's value (`Null` when the key was never written).
fn decode_range(op: &OpSpec, kvs: &[proto::mvccpb::KeyValue]) -> Value {
    match op {
        OpSpec::ReadSet { key } => decode_set(key, kvs),
        _ => kvs.first().map_or(Value::Null, |kv| decode_int(&kv.value)),
    }
}

/// The sorted elements of set `key` from the keys of a Range over its prefix; a key
/// whose suffix is not a number turns the whole read into a JSON string of the keys,
/// so the checker sees something nobody added.
fn decode_set(key: &str, kvs: &[proto::mvccpb::KeyValue]) -> Value {
    let prefix = format!("{key}/");
    let elements: Option<Vec<i64>> = kvs
        .iter()
        .map(|kv| {
            std::str::from_utf8(&kv.key)
                .ok()
                .and_then(|k| k.strip_prefix(&prefix))
                .and_then(|e| e.parse::<i64>().ok())
        })
        .collect();
    match elements {
        Some(mut elements) => {
            elements.sort_unstable();
            Value::Ints(elements)
        }
        None => {
            let keys: Vec<String> = kvs
                .iter()
                .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
                .collect();
            Value::Json(keys.join(",").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{
        assert_refused_write_fails, assert_silence_is_info_for_writes, options, refused_addr,
        Silent,
    };
    use proto::mvccpb::KeyValue;

    /// Clients of one node at `addr` with a short deadline.
    fn clients(addr: String) -> EtcdClients {
        EtcdClients::new(&[("n1".into(), addr)], options()).unwrap()
    }

    #[test]
    fn set_ranges_cover_exactly_the_prefix() {
        let r = set_range("s1", true);
        assert_eq!(r.key, b"s1/");
        assert_eq!(r.range_end, b"s10", "'/' + 1 is '0'");
        assert!(r.serializable && r.keys_only);
    }

    #[test]
    fn decodes_sets_from_keys() {
        let kv = |k: &str| KeyValue {
            key: k.as_bytes().to_vec(),
            ..KeyValue::default()
        };
        assert_eq!(
            decode_set("s1", &[kv("s1/9"), kv("s1/2")]),
            Value::Ints(vec![2, 9])
        );
        assert_eq!(decode_set("s1", &[]), Value::Ints(vec![]));
        assert_eq!(
            decode_set("s1", &[kv("s1/x")]),
            Value::Json("s1/x".into()),
            "a key nobody added must reach the checker"
        );
    }

    #[tokio::test]
    async fn refused_connections_end_as_fail_not_info() {
        assert_refused_write_fails(&clients(refused_addr()), "not sent").await;
    }

    #[tokio::test]
    async fn a_timed_out_write_is_info_and_a_timed_out_read_is_fail() {
        let silent = Silent::start();
        assert_silence_is_info_for_writes(&clients(silent.addr.clone())).await;
    }

    #[test]
    fn leader_changed_and_unknown_errors_of_writes_are_info() {
        for status in [
            Status::unavailable("etcdserver: leader changed"),
            Status::unavailable("etcdserver: request timed out"),
            Status::unknown("connection reset"),
            Status::deadline_exceeded("context deadline exceeded"),
        ] {
            assert!(
                matches!(classify(&status, false), Attempt::Done(Completion::Info(_))),
                "{status:?}"
            );
            assert!(
                matches!(classify(&status, true), Attempt::Done(Completion::Fail(_))),
                "{status:?}"
            );
        }
        assert!(matches!(
            classify(
                &Status::invalid_argument("etcdserver: request is too large"),
                false
            ),
            Attempt::Done(Completion::Fail(_))
        ));
    }
}

//! The client workers of the main phase and the final reads.
//!
//! One tokio task per worker slot. A slot draws its operations from its own seeded
//! [`ThreadStream`] and tells it how each ended, so which operation comes next depends on
//! the seed and on the slot's own outcomes, never on timing. It records
//! the invocation, performs the operation through its [`Client`], records the
//! completion, and when that completion is `info` retires the logical process: the
//! next process on the slot is `process + concurrency` with a fresh client (Jepsen's
//! rule: an indeterminate operation may still take effect, so its process can never
//! invoke again).
//!
//! With `--rate R`, slot `k` issues on a fixed grid (`period = concurrency / R`, offset
//! by `k * period / concurrency`); a slot that falls behind skips the missed ticks rather
//! than bursting. Without a rate, slots issue as soon as the previous op completes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use workloads::generator::{OpSpec, Outcome, ThreadStream};
use workloads::history::{OpType, Value};

use super::recorder::Recorder;
use crate::client::{Clients, Completion};

/// What the workers are told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Keep issuing.
    Run,
    /// Stop issuing; let operations in flight complete.
    Drain,
    /// Stop now; operations in flight are recorded as `info` ("interrupted").
    Abort,
}

/// Shared parameters of the workers.
pub struct WorkerParams {
    /// The store's clients.
    pub clients: Arc<dyn Clients>,
    /// Where operations are recorded.
    pub recorder: Arc<Recorder>,
    /// Number of slots (the process id step on retirement).
    pub concurrency: usize,
    /// Target total rate, if any.
    pub rate: Option<f64>,
}

/// The history form of a generated operation: `(f, key, invoke value)`.
pub fn describe(op: &OpSpec) -> (&'static str, &str, Value) {
    match op {
        OpSpec::Read { key } | OpSpec::ReadSet { key } => ("read", key, Value::Null),
        OpSpec::Write { key, value } => ("write", key, Value::Int(*value as i64)),
        OpSpec::Cas { key, expected, new } => {
            ("cas", key, Value::Ints(vec![*expected as i64, *new as i64]))
        }
        OpSpec::Add { key, element } => ("add", key, Value::Int(*element as i64)),
    }
}

/// Runs one slot as process `first_process` (`slot` in the main phase) until told to
/// stop; returns its stream (to learn the keys it touched, or to continue it) and the
/// highest process id it used.
pub async fn run_slot(
    slot: usize,
    first_process: u64,
    mut stream: ThreadStream,
    params: Arc<WorkerParams>,
    mut signal: watch::Receiver<Signal>,
) -> (ThreadStream, u64) {
    assert!(
        first_process as usize % params.concurrency == slot,
        "a slot's processes are its own: slot + k * concurrency"
    );
    let mut process = first_process;
    let mut client = params.clients.open(process);
    let period = params
        .rate
        .map(|r| Duration::from_secs_f64(params.concurrency as f64 / r));
    let mut next_tick =
        period.map(|p| Instant::now() + p.mul_f64(slot as f64 / params.concurrency as f64));
    loop {
        if *signal.borrow() != Signal::Run {
            break;
        }
        if let (Some(p), Some(tick)) = (period, next_tick.as_mut()) {
            tokio::select! {
                _ = tokio::time::sleep_until(*tick) => {}
                _ = signal.changed() => continue,
            }
            let now = Instant::now();
            *tick += p;
            if *tick < now {
                *tick = now + p;
            }
        }
        let op = stream.next_op();
        let (f, key, value) = describe(&op);
        let invoked = params.recorder.invoke(process, f, key, value.clone());
        let completion = tokio::select! {
            c = client.invoke(&op) => c,
            _ = wait_for(&mut signal, Signal::Abort) => Completion::Info("interrupted".into()),
        };
        let unanswered = completion.is_unanswered_write();
        let (op_type, out_value, error) = match completion {
            Completion::Ok(read) => (OpType::Ok, if f == "read" { read } else { value }, None),
            Completion::Fail(why) => (OpType::Fail, value, Some(why)),
            Completion::Info(why) => (OpType::Info, value, Some(why)),
        };
        stream.observe(match (op_type, &out_value) {
            (OpType::Ok, Value::Int(v)) if f == "read" => Outcome::Ok(u64::try_from(*v).ok()),
            (OpType::Ok, _) => Outcome::Ok(None),
            (OpType::Fail, _) => Outcome::Fail,
            (OpType::Info | OpType::Invoke, _) if unanswered => Outcome::Unanswered,
            (OpType::Info | OpType::Invoke, _) => Outcome::Unknown,
        });
        params
            .recorder
            .complete(process, op_type, f, key, out_value, error, invoked);
        if op_type == OpType::Info {
            process += params.concurrency as u64;
            client = params.clients.open(process);
        }
    }
    (stream, process)
}

/// Resolves once the signal is `target` (or the sender is gone).
async fn wait_for(signal: &mut watch::Receiver<Signal>, target: Signal) {
    loop {
        if *signal.borrow_and_update() == target {
            return;
        }
        if signal.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Final reads: every read in `reads` (one per key) on every node, each node as its
/// own fresh process (`first_process + node index`), from the node's own state (which
/// after recovery must hold everything that was acknowledged, and agree with every
/// other node's).
///
/// Set reads run on all nodes at once: a set only grows, so an element one node shows
/// and another lacks is caught whenever the reads ran. Register reads go `in_turn`:
/// round the nodes one at a time, key by key, ending on the first node again. A
/// register is overwritten, so two nodes that disagree are seen only as a value that
/// came back after another one was read (A, then B, then A again), which no single
/// write explains.
pub async fn final_reads(
    clients: Arc<dyn Clients>,
    recorder: Arc<Recorder>,
    reads: Vec<OpSpec>,
    in_turn: bool,
    first_process: u64,
    timeout: Duration,
) {
    let nodes = clients.node_count();
    if in_turn {
        for read in &reads {
            for node in (0..nodes).chain([0]) {
                let process = first_process + node as u64;
                final_read(&*clients, &recorder, node, process, read, timeout).await;
            }
        }
        return;
    }
    let mut tasks = Vec::new();
    for node in 0..nodes {
        let clients = clients.clone();
        let recorder = recorder.clone();
        let reads = reads.clone();
        let process = first_process + node as u64;
        tasks.push(tokio::spawn(async move {
            for read in &reads {
                final_read(&*clients, &recorder, node, process, read, timeout).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One final read of `read` on `node` by `process`, recorded (`fail` when the node did
/// not answer: a read changes nothing).
async fn final_read(
    clients: &dyn Clients,
    recorder: &Recorder,
    node: usize,
    process: u64,
    read: &OpSpec,
    timeout: Duration,
) {
    let key = read.key();
    let invoked = recorder.invoke(process, "read", key, Value::Null);
    let (op_type, value, error) = match clients.read_local(node, read, timeout).await {
        Ok(value) => (OpType::Ok, value, None),
        Err(why) => (
            OpType::Fail,
            Value::Null,
            Some(format!("final read on {}: {why}", clients.node_name(node))),
        ),
    };
    recorder.complete(process, op_type, "read", key, value, error, invoked);
}

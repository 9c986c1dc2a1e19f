//! The recorder: the single place where operations enter the history.
//!
//! Index and timestamp are assigned under one lock together with the write into the
//! history buffer, so the file order is the real-time order: an operation that
//! completed before another was invoked always appears before it. A flusher thread
//! pushes the buffer to the file every 200 ms, so a SIGKILLed controller loses at most
//! that much (and at worst leaves one torn last line, which the lenient reader drops).
//!
//! The recorder also keeps the run's statistics: counts per function and outcome,
//! latency histograms (microseconds, ok completions) per function, and completions per
//! second for the throughput figure.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use workloads::history::{HistoryWriter, Op, OpType, Process, Value};

/// How often the history buffer is flushed to the file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Counts of one function's completions.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Invocations.
    pub invoke: u64,
    /// `ok` completions.
    pub ok: u64,
    /// `fail` completions.
    pub fail: u64,
    /// `info` completions.
    pub info: u64,
}

/// Latency quantiles of one function's ok completions, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Quantiles {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

/// Everything guarded by the recorder's lock.
struct Inner {
    /// The history file.
    writer: HistoryWriter,
    /// Index of the next operation.
    next_index: u64,
    /// Client operation counts per function.
    counts: BTreeMap<String, Counts>,
    /// Ok-latency histograms (µs) per function.
    latency: BTreeMap<String, Histogram<u64>>,
    /// Client completions per second since the start: `[ok, fail, info]`.
    per_second: Vec<[u64; 3]>,
    /// The first write error, if any (recording stops being trustworthy).
    error: Option<String>,
}

/// Live counters for the progress line (read without the lock).
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// `ok` completions so far.
    pub ok: AtomicU64,
    /// `fail` completions so far.
    pub fail: AtomicU64,
    /// `info` completions so far.
    pub info: AtomicU64,
}

/// Records the operations of one run.
pub struct Recorder {
    /// Time zero of the history.
    start: Instant,
    /// History, statistics.
    inner: Mutex<Inner>,
    /// Counters for the console.
    pub live: LiveCounts,
}

/// What the recorder hands back at the end.
#[derive(Debug, Serialize)]
pub struct RecorderSummary {
    /// Operations written (lines in history.jsonl).
    pub history_lines: u64,
    /// Client counts per function.
    pub by_f: BTreeMap<String, Counts>,
    /// Totals over all client functions.
    pub total: Counts,
    /// Ok-latency quantiles per function (ms).
    pub latency_ms: BTreeMap<String, Quantiles>,
    /// Completions per second `[ok, fail, info]`.
    pub per_second: Vec<[u64; 3]>,
    /// A history write error, if one happened.
    pub write_error: Option<String>,
}

impl Recorder {
    /// Creates the history file; time zero is now.
    pub fn create(path: &Path) -> anyhow::Result<Arc<Recorder>> {
        let writer = HistoryWriter::create(path)?;
        Ok(Arc::new(Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                writer,
                next_index: 0,
                counts: BTreeMap::new(),
                latency: BTreeMap::new(),
                per_second: Vec::new(),
                error: None,
            }),
            live: LiveCounts::default(),
        }))
    }

    /// Time zero.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds from time zero to `at` (0 if before).
    pub fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Locks the state (a panic elsewhere must not stop the recording).
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one op, assigning index and (if `at` is `None`) the current time.
    fn append(inner: &mut Inner, mut op: Op) {
        op.index = inner.next_index;
        inner.next_index += 1;
        if let Err(e) = inner.writer.append(&op) {
            inner.error.get_or_insert_with(|| e.to_string());
        }
    }

    /// Records an invocation by a client process; returns its time.
    pub fn invoke(&self, process: u64, f: &str, key: &str, value: Value) -> Instant {
        let mut inner = self.lock();
        let now = Instant::now();
        let op = Op {
            index: 0,
            time: self.nanos(now),
            process: Process::Client(process),
            op_type: OpType::Invoke,
            f: f.to_string(),
            key: Some(key.to_string()),
            value,
            error: None,
        };
        inner.counts.entry(f.to_string()).or_default().invoke += 1;
        Self::append(&mut inner, op);
        now
    }

    /// Records the completion of an operation invoked at `invoked`.
    #[allow(clippy::too_many_arguments)]
    pub fn complete(
        &self,
        process: u64,
        op_type: OpType,
        f: &str,
        key: &str,
        value: Value,
        error: Option<String>,
        invoked: Instant,
    ) {
        assert!(
            op_type != OpType::Invoke,
            "a completion is ok, fail or info"
        );
        let live = match op_type {
            OpType::Ok => &self.live.ok,
            OpType::Fail => &self.live.fail,
            _ => &self.live.info,
        };
        live.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        let now = Instant::now();
        let time = self.nanos(now);
        let counts = inner.counts.entry(f.to_string()).or_default();
        let slot = match op_type {
            OpType::Ok => {
                counts.ok += 1;
                0
            }
            OpType::Fail => {
                counts.fail += 1;
                1
            }
            _ => {
                counts.info += 1;
                2
            }
        };
        if op_type == OpType::Ok {
            let micros = now.saturating_duration_since(invoked).as_micros() as u64;
            let hist = inner.latency.entry(f.to_string()).or_insert_with(|| {
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
            });
            hist.saturating_record(micros.max(1));
        }
        let second = (time / 1_000_000_000) as usize;
        if inner.per_second.len() <= second {
            inner.per_second.resize(second + 1, [0; 3]);
        }
        inner.per_second[second][slot] += 1;
        let op = Op {
            index: 0,
            time,
            process: Process::Client(process),
            op_type,
            f: f.to_string(),
            key: Some(key.to_string()),
            value,
            error,
        };
        Self::append(&mut inner, op);
    }

    /// Records a nemesis operation at the time it happened.
    pub fn nemesis(&self, op_type: OpType, f: &str, value: serde_json::Value, at: Instant) {
        let mut inner = self.lock();
        let op = Op::nemesis(self.nanos(at), op_type, f, value);
        Self::append(&mut inner, op);
    }

    /// Pushes buffered operations to the file.
    pub fn flush(&self) {
        let mut inner = self.lock();
        if let Err(e) = inner.writer.flush() {
            inner.error.get_or_insert_with(|| e.to_string());
        }
    }

    /// Flushes and fsyncs, then summarises.
    pub fn finish(&self) -> RecorderSummary {
        let mut inner = self.lock();
        if let Err(e) = inner.writer.sync() {
            inner.error.get_or_insert_with(|| e.to_string());
        }
        let mut total = Counts::default();
        for c in inner.counts.values() {
            total.invoke += c.invoke;
            total.ok += c.ok;
            total.fail += c.fail;
            total.info += c.info;
        }
        let ms = |v: u64| v as f64 / 1000.0;
        let latency_ms = inner
            .latency
            .iter()
            .map(|(f, h)| {
                let q = Quantiles {
                    count: h.len(),
                    mean: h.mean() / 1000.0,
                    p50: ms(h.value_at_quantile(0.5)),
                    p90: ms(h.value_at_quantile(0.9)),
                    p99: ms(h.value_at_quantile(0.99)),
                    p999: ms(h.value_at_quantile(0.999)),
                    max: ms(h.max()),
                };
                (f.clone(), q)
            })
            .collect();
        RecorderSummary {
            history_lines: inner.next_index,
            by_f: inner.counts.clone(),
            total,
            latency_ms,
            per_second: inner.per_second.clone(),
            write_error: inner.error.clone(),
        }
    }
}

/// Flushes `recorder` every [`FLUSH_INTERVAL`] until `stop` is set; returns the thread.
pub fn spawn_flusher(
    recorder: Arc<Recorder>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("history-flush".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(FLUSH_INTERVAL);
                recorder.flush();
            }
        })
        .expect("spawning the history flusher thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_with_counts_and_latency() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let rec = Recorder::create(&path).unwrap();
        let t = rec.invoke(0, "write", "r0", Value::Int(1));
        rec.complete(0, OpType::Ok, "write", "r0", Value::Int(1), None, t);
        let t = rec.invoke(1, "read", "r0", Value::Null);
        rec.complete(
            1,
            OpType::Fail,
            "read",
            "r0",
            Value::Null,
            Some("x".into()),
            t,
        );
        rec.nemesis(
            OpType::Invoke,
            "kill",
            serde_json::json!({"nodes":["n1"]}),
            Instant::now(),
        );
        let summary = rec.finish();
        assert_eq!(summary.history_lines, 5);
        assert_eq!(summary.total.ok, 1);
        assert_eq!(summary.total.fail, 1);
        assert_eq!(summary.latency_ms["write"].count, 1);
        let ops = workloads::history::read_jsonl(&path).unwrap();
        assert_eq!(ops.len(), 5);
        assert!(ops
            .windows(2)
            .all(|w| w[0].index < w[1].index && w[0].time <= w[1].time));
        assert_eq!(ops[4].process, Process::Nemesis);
    }
}

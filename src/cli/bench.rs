//! `faultline bench`: measures stores side by side on this machine. For each store in
//! `--db` it starts a local cluster (the test's adapter and spawner, loopback, fsync
//! on in both raftkv and etcd), then for each client count runs a write phase and a
//! linearizable read phase through the store's test client (`crate::client`: the
//! same code path, keys and values as a `faultline test`), and prints throughput and
//! latency percentiles of acknowledged operations. With two stores the table shows
//! them next to each other with the ratio of their throughputs. With `--lazyfs` each
//! store is measured twice, first with every node's data directory on the lazy
//! filesystem of the disk fault (`crate::db::disk`), then on the plain disk: the ratio
//! column is then the share of its throughput a store keeps on the lazy filesystem.
//! Figures are printed, never asserted: this is a benchmark, not a test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use workloads::generator::OpSpec;

use crate::client::{ClientOptions, ClientRouting, Clients, Completion, ReadConsistency};
use crate::db::local::{LocalCluster, LocalSpec};
use crate::db::Ports;

/// Flags of `faultline bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Stores to measure, comma-separated: `raftkv`, `etcd` or `raftkv,etcd`.
    #[arg(long, default_value = "raftkv")]
    pub db: String,
    /// How long each phase runs, e.g. 3, 3s, 500ms (plain numbers are seconds).
    #[arg(long, default_value = "3", value_parser = super::units::parse_seconds)]
    pub duration: f64,
    /// Client counts to measure, comma-separated.
    #[arg(long, default_value = "1,16,64")]
    pub clients: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Number of distinct keys written and read (values are the test's register
    /// values: decimal integers).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// Seed of the key choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also measure each store with its nodes' data directories on the lazy filesystem
    /// (the disk fault's; needs root and /dev/fuse), shown first, with the ratio.
    #[arg(long)]
    pub lazyfs: bool,
    /// Directory for the nodes' data and logs (default: faultline-bench-<pid> in the
    /// temp directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The kind of operation a phase issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Writes.
    Write,
    /// Linearizable reads.
    Read,
}

impl Phase {
    /// The phase's name in the table.
    fn name(self) -> &'static str {
        match self {
            Phase::Write => "write",
            Phase::Read => "read",
        }
    }
}

/// What one phase measured.
struct Figures {
    /// Acknowledged operations per second.
    ops_per_s: f64,
    /// Median latency of acknowledged operations, ms.
    p50_ms: f64,
    /// 99th percentile, ms.
    p99_ms: f64,
    /// Operations that did not complete `ok`.
    errors: u64,
}

/// Runs the benchmark and prints the figures.
pub fn run(args: BenchArgs) -> anyhow::Result<u8> {
    let clients: Vec<usize> = args
        .clients
        .split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .with_context(|| format!("--clients: {c:?} is not a number"))
        })
        .collect::<anyhow::Result<_>>()?;
    if clients.contains(&0) || args.duration <= 0.0 || args.keys == 0 || args.nodes == 0 {
        bail!("--clients, --duration, --keys and --nodes must be positive");
    }
    let kinds = args
        .db
        .split(',')
        .map(|name| crate::db::kind(name.trim()).context("--db"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // (store, on the lazy filesystem, column label)
    let columns: Vec<(&dyn crate::db::DbKind, bool, String)> = kinds
        .iter()
        .flat_map(|k| {
            let lazy = args
                .lazyfs
                .then(|| (*k, true, format!("{}+lazyfs", k.name())));
            lazy.into_iter().chain([(*k, false, k.name().to_string())])
        })
        .collect();
    if args.lazyfs {
        nemesis::disk::check_capable().map_err(|e| anyhow::anyhow!("--lazyfs: {e}"))?;
    }
    let (dir, remove_after) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id())),
            true,
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "faultline bench: {} nodes on loopback, fsync on, {} keys, {:.1} s per phase",
        args.nodes, args.keys, args.duration
    );
    // figures[store][(client count, phase)]
    let mut figures = Vec::new();
    let mut versions = Vec::new();
    let outcome = (|| {
        for (kind, lazyfs, label) in &columns {
            let spec = LocalSpec {
                kind: *kind,
                nodes: args.nodes,
                dir: &dir.join(label),
                ports: Ports::Auto,
                binary: None,
                seed: args.seed,
                lazyfs: *lazyfs,
            };
            let (cluster, _) =
                LocalCluster::start(spec, runtime.handle().clone(), Duration::from_secs(30))?;
            versions.push(cluster.version.clone());
            let mut rows = Vec::new();
            let mut next_process = 0;
            for &n in &clients {
                let options = ClientOptions {
                    channels_per_node: n.clamp(1, 4),
                    reads: ReadConsistency::Linearizable,
                    op_timeout: Duration::from_secs(2),
                    routing: ClientRouting::FollowLeader,
                    slots: n,
                };
                let store = cluster.db.clients(options)?;
                for phase in [Phase::Write, Phase::Read] {
                    let run = run_phase(store.clone(), phase, n, next_process, &args);
                    rows.push(runtime.block_on(run)?);
                    // Unique processes across phases (raftkv de-duplicates by client id).
                    next_process += n as u64;
                }
            }
            figures.push(rows);
        }
        anyhow::Ok(())
    })();
    if remove_after {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome?;
    let labels: Vec<String> = columns.into_iter().map(|(_, _, label)| label).collect();
    print_table(&labels, &versions, &clients, &figures);
    Ok(0)
}

/// Prints one row per (client count, phase), one column group per store (and disk),
/// and the ratio of the first column's throughput to the second's.
fn print_table(
    labels: &[String],
    versions: &[String],
    clients: &[usize],
    figures: &[Vec<Figures>],
) {
    let stores: Vec<String> = labels
        .iter()
        .zip(versions)
        .map(|(k, v)| format!("{k} ({v})"))
        .collect();
    println!("stores: {}", stores.join(", "));
    let mut header = format!("{:<6} {:>7}", "phase", "clients");
    for name in labels {
        header.push_str(&format!(
            " {:>12} {:>9} {:>9} {:>6}",
            format!("{name} ops/s"),
            "p50 ms",
            "p99 ms",
            "errors"
        ));
    }
    if labels.len() == 2 {
        header.push_str(&format!(" {:>9}", format!("{}/{}", labels[0], labels[1])));
    }
    println!("{header}");
    let phases = [Phase::Write, Phase::Read];
    for (row, (&n, phase)) in clients
        .iter()
        .flat_map(|n| phases.iter().map(move |p| (n, p)))
        .enumerate()
    {
        let mut line = format!("{:<6} {:>7}", phase.name(), n);
        for store in figures {
            let f = &store[row];
            line.push_str(&format!(
                " {:>12.0} {:>9.2} {:>9.2} {:>6}",
                f.ops_per_s, f.p50_ms, f.p99_ms, f.errors
            ));
        }
        if figures.len() == 2 && figures[1][row].ops_per_s > 0.0 {
            line.push_str(&format!(
                " {:>9.2}",
                figures[0][row].ops_per_s / figures[1][row].ops_per_s
            ));
        }
        println!("{line}");
    }
}

/// Runs `clients` concurrent logical processes (ids from `first_process`) issuing
/// `phase` operations for `--duration` seconds.
async fn run_phase(
    store: Arc<dyn Clients>,
    phase: Phase,
    clients: usize,
    first_process: u64,
    args: &BenchArgs,
) -> anyhow::Result<Figures> {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut client = store.open(first_process + i as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ ((i as u64) << 20));
        let keys = args.keys;
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let mut errors = 0;
            let mut written = 0;
            while Instant::now() < end {
                let key = format!("key{}", rng.random_range(0..keys));
                let op = match phase {
                    Phase::Write => {
                        written += 1;
                        OpSpec::Write {
                            key,
                            value: written,
                        }
                    }
                    Phase::Read => OpSpec::Read { key },
                };
                let began = Instant::now();
                match client.invoke(&op).await {
                    Completion::Ok(_) => {
                        latency.saturating_record(began.elapsed().as_micros().max(1) as u64)
                    }
                    Completion::Fail(_) | Completion::Info(_) => errors += 1,
                }
            }
            (latency, errors)
        }));
    }
    let mut total =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let mut errors = 0;
    for task in tasks {
        let (latency, e) = task.await.context("a bench client panicked")?;
        total.add(latency).context("merging histograms")?;
        errors += e;
    }
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    Ok(Figures {
        ops_per_s: total.len() as f64 / start.elapsed().as_secs_f64(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        errors,
    })
}

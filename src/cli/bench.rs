//! `faultline bench`: measures raftkv on this machine. It starts a local cluster
//! (separate node processes of this binary, fsync on, loopback), then for each
//! client count runs a write phase (puts) and a linearizable read phase (gets),
//! and prints throughput and latency percentiles of acknowledged operations.
//! Figures are printed, never asserted: this is a benchmark, not a test.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use raftkv::client::KvClient;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cluster::LocalCluster;

/// Flags of `faultline bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// How long each phase runs, e.g. 3, 3s, 500ms (plain numbers are seconds).
    #[arg(long, default_value = "3", value_parser = super::units::parse_seconds)]
    pub duration: f64,
    /// Client counts to measure, comma-separated.
    #[arg(long, default_value = "1,16,64")]
    pub clients: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Number of distinct keys written and read.
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// Size of each written value in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Seed of the key choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory for the nodes' data and logs (default: raftkv-bench-<pid> in the
    /// temp directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The kind of operation a phase issues.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Puts.
    Write,
    /// Linearizable gets.
    Read,
}

/// What one phase measured.
struct PhaseResult {
    /// Latencies of acknowledged operations, in microseconds.
    latency: Histogram<u64>,
    /// Failed operations.
    errors: u64,
    /// Wall time of the phase.
    elapsed: Duration,
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
    if clients.contains(&0) || args.duration <= 0.0 || args.keys == 0 {
        bail!("--clients, --duration and --keys must be positive");
    }
    let (dir, remove_after) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("raftkv-bench-{}", std::process::id())),
            true,
        ),
    };
    let ports = nemesis::free_loopback_ports(args.nodes).context("finding free ports")?;
    let mut cluster = LocalCluster::start(args.nodes, &ports, &dir, args.seed)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        cluster.wait_for_leader(Duration::from_secs(10)).await?;
        println!(
            "raftkv bench: {} nodes on loopback, fsync on, {} keys, {}-byte values, {:.1} s per phase",
            args.nodes, args.keys, args.value_size, args.duration
        );
        println!("{:<6} {:>7} {:>10} {:>9} {:>9} {:>9} {:>7}", "phase", "clients", "ops/s", "p50 ms", "p99 ms", "max ms", "errors");
        let duration = Duration::from_secs_f64(args.duration);
        let mut base_id = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        for &n in &clients {
            for phase in [Phase::Write, Phase::Read] {
                let result = run_phase(&cluster.endpoints, phase, n, duration, &args, base_id).await?;
                base_id = base_id.wrapping_add(n as u64 + 1);
                let count = result.latency.len();
                let ms = |q: f64| result.latency.value_at_quantile(q) as f64 / 1000.0;
                println!(
                    "{:<6} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                    match phase {
                        Phase::Write => "write",
                        Phase::Read => "read",
                    },
                    n,
                    count as f64 / result.elapsed.as_secs_f64(),
                    ms(0.5),
                    ms(0.99),
                    result.latency.max() as f64 / 1000.0,
                    result.errors
                );
            }
        }
        anyhow::Ok(())
    });
    cluster.stop();
    if remove_after {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome?;
    Ok(0)
}

/// Runs `clients` concurrent clients issuing `phase` operations for `duration`.
async fn run_phase(
    endpoints: &[String],
    phase: Phase,
    clients: usize,
    duration: Duration,
    args: &BenchArgs,
    base_id: u64,
) -> anyhow::Result<PhaseResult> {
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::new();
    // The logical clients share one HTTP/2 connection per node.
    let shared = KvClient::new(endpoints.to_vec(), base_id)?.with_timeout(Duration::from_secs(2));
    for i in 0..clients {
        let client = shared.with_client_id(base_id.wrapping_add(i as u64 + 1));
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ ((i as u64) << 20));
        let keys = args.keys;
        let value = vec![b'v'; args.value_size];
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let mut errors = 0;
            while Instant::now() < end {
                let key = format!("key{}", rng.random_range(0..keys));
                let began = Instant::now();
                let ok = match phase {
                    Phase::Write => client.put(key.as_bytes(), &value).await.is_ok(),
                    Phase::Read => client.get(key.as_bytes(), false).await.is_ok(),
                };
                if ok {
                    latency.saturating_record(began.elapsed().as_micros().max(1) as u64);
                } else {
                    errors += 1;
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
    Ok(PhaseResult {
        latency: total,
        errors,
        elapsed: start.elapsed(),
    })
}

//! One module per subcommand. Each defines its flags (`clap::Args`) and a `run`
//! function returning the process exit code, by one contract ([`EXIT_CODES`]).

pub mod bench;
pub mod bench_check;
pub mod bench_files;
pub mod campaign;
pub mod check;
pub mod cleanup;
pub mod cluster;
pub mod kv;
pub mod lazyfs;
pub mod node;
pub mod packet_delay;
pub mod report;
pub mod test;
pub mod units;

/// The exit-code contract of every command with a verdict (`test`, `check`, `report`,
/// `campaign`, `kv status`), shown by their `--help`.
pub const EXIT_CODES: &str =
    "Exit codes: 0 valid, 1 invalid, 2 unknown (a budget ran out, the run \
was interrupted, or not every part could be decided), 3 error (bad input, usage, or a harness \
failure).";

/// The subcommands of faultline.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run one raftkv node (the bundled Raft key-value server).
    Node(node::NodeArgs),
    /// Talk to a raftkv cluster: get, put, delete, cas, append, status.
    #[command(after_help = kv::KV_EXIT_CODES)]
    Kv(kv::KvArgs),
    /// Start a local raftkv cluster on loopback to play with (Ctrl-C stops it).
    Cluster(cluster::ClusterArgs),
    /// Measure write and read throughput and latency of raftkv and etcd on local clusters.
    Bench(bench::BenchArgs),
    /// Serve a lazy filesystem (unsynced writes kept in memory, lost on request) over a directory.
    Lazyfs(lazyfs::LazyfsArgs),
    /// Remove what crashed runs left behind: processes, mounts, iptables rules, qdiscs, namespaces,
    /// bridges.
    Cleanup(cleanup::CleanupArgs),
    /// Run a test: start a cluster, drive clients while injecting faults, check the history.
    #[command(after_help = EXIT_CODES)]
    Test(test::TestArgs),
    /// Run a campaign: a matrix of tests from a TOML file, with a summary, index and junit.xml.
    Campaign(campaign::CampaignArgs),
    /// Rebuild a run's report.html and junit.xml (or, with --index, the list of runs); exit with its verdict.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
    /// Check a history for linearizability and lost writes (exit 0 valid, 1 invalid, 2 unknown, 3 error).
    #[command(after_help = EXIT_CODES)]
    Check(check::CheckArgs),
    /// Measure the checker on generated histories, or time it on history files (--files).
    BenchCheck(bench_check::BenchCheckArgs),
    /// Measure report rendering on a large synthetic run and print the figures.
    BenchReport(report::BenchReportArgs),
    /// The packet delayer a `packet` fault starts in a node's namespace (internal).
    #[command(hide = true)]
    PacketDelay(packet_delay::PacketDelayArgs),
}

impl Command {
    /// Runs the subcommand and returns the exit code.
    pub fn run(self) -> anyhow::Result<u8> {
        match self {
            Command::Node(args) => node::run(args),
            Command::Check(args) => check::run(args),
            Command::BenchCheck(args) => bench_check::run(args),
            Command::Kv(args) => kv::run(args),
            Command::Cluster(args) => cluster::run(args),
            Command::Bench(args) => bench::run(args),
            Command::Cleanup(args) => cleanup::run(args),
            Command::Lazyfs(args) => lazyfs::run(args),
            Command::Test(args) => test::run(args),
            Command::Campaign(args) => campaign::run(args),
            Command::Report(args) => report::run(args),
            Command::BenchReport(args) => report::bench(args),
            Command::PacketDelay(args) => packet_delay::run(args),
        }
    }
}

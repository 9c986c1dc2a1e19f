//! `faultline test`: the main job. Parses flags into a resolved [`TestConfig`] (every
//! default filled in, the seed chosen, the host mode decided, impossible combinations
//! refused) before any work starts, then hands it to the controller in `crate::run`.
//!
//! `--replay RUN_DIR` skips the flags: the configuration is the `config` recorded in
//! `RUN_DIR/test.json`, seed included, so the run issues the same op stream and fault
//! schedule again (a new run folder next to the original). It must be given alone;
//! combining it with any other flag is a usage error rather than a silent override.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::client::ReadConsistency;
use crate::run::config::{HostsFlag, MixConfig, TestConfig, WorkloadName};

/// Flags of `faultline test`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The workload: `register` (linearizability) or `set` (lost writes).
    #[arg(long, value_enum, default_value = "register")]
    pub workload: WorkloadName,
    /// Number of nodes.
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Seconds of client load (the main phase).
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// Concurrent logical client processes.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Target total request rate in ops/s (default: as fast as the cluster answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of every random choice (default: chosen from the clock and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults: `none`, `all` (kill, pause, partition), or a comma-separated list of
    /// `kill`, `pause`, `partition`, `crash`, each optionally narrowed to one target,
    /// shape or point: `kill:leader`, `pause:follower`, `partition:leader`,
    /// `crash:after-vote` (targets: one, minority, majority, leader, follower, all;
    /// shapes: halves, one, leader, majorities-ring, bridge, random; crash points,
    /// where an armed node kills itself: after-vote, after-append). While a crash
    /// fault lasts, the nodes that crashed stay down, at most a minority: when one
    /// more crashes, the one down longest is restarted and armed again. Crash points
    /// are raftkv's; a store without them refuses `crash` (exit 3).
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Mean seconds between fault starts.
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Deadline of one client operation, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub op_timeout_ms: u64,
    /// How reads are served (`serializable` is fast but not linearizable).
    #[arg(long, value_enum, default_value = "linearizable")]
    pub read_consistency: ReadConsistency,
    /// Keys in use at once.
    #[arg(long, default_value_t = 8)]
    pub keys: usize,
    /// Upper bound on operations per key (keys rotate after it).
    #[arg(long, default_value_t = 300)]
    pub ops_per_key: usize,
    /// Register mix as `read:write:cas` weights.
    #[arg(long, default_value = "1:1:1")]
    pub mix: String,
    /// Seconds the cluster gets to recover after healing, before final reads.
    #[arg(long, default_value_t = 5.0)]
    pub recovery_time: f64,
    /// Seconds to wait for the first leader.
    #[arg(long, default_value_t = 30.0)]
    pub leader_timeout: f64,
    /// Where nodes run: `auto` (namespaces when root), `namespaces` or `loopback`.
    #[arg(long, value_enum, default_value = "auto")]
    pub hosts: HostsFlag,
    /// Folder for run folders.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Test name (default: `<db>-<workload>`).
    #[arg(long)]
    pub test_name: Option<String>,
    /// The store under test: `raftkv` (the bundled server) or `etcd` (Debian's
    /// etcd-server, 3.4 or newer).
    #[arg(long, default_value = "raftkv")]
    pub db: String,
    /// The program the nodes run (default: this faultline for raftkv, `etcd` on PATH
    /// for etcd).
    #[arg(long = "db-binary", alias = "node-binary", value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
    /// Extra argument for every node (repeatable), e.g. a bug switch.
    #[arg(long = "node-arg", allow_hyphen_values = true)]
    pub node_args: Vec<String>,
    /// Switch on a deliberate bug in every raftkv node (repeatable), e.g. `stale-read`;
    /// see `faultline node --help` for the list. Recorded in test.json. Other stores
    /// refuse it (exit 3).
    #[arg(long = "db-bug", value_name = "NAME")]
    pub db_bugs: Vec<String>,
    /// Rerun a stored run with the same configuration and seed (its test.json's
    /// `config`), into the same results folder under the same test name. No other flag
    /// may be given with it: a replay changes nothing.
    #[arg(long, value_name = "RUN_DIR", exclusive = true)]
    pub replay: Option<PathBuf>,
}

impl TestArgs {
    /// Resolves and validates the flags.
    pub fn resolve(self) -> anyhow::Result<TestConfig> {
        if self.nodes == 0 {
            bail!("--nodes must be at least 1");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !(self.time_limit.is_finite() && self.time_limit > 0.0) {
            bail!("--time-limit must be a positive number of seconds");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                bail!("--rate must be a positive number of ops/s");
            }
        }
        if self.op_timeout_ms == 0 {
            bail!("--op-timeout-ms must be positive");
        }
        if !(self.recovery_time.is_finite() && self.recovery_time >= 0.0) {
            bail!("--recovery-time must be a non-negative number of seconds");
        }
        if !(self.nemesis_interval.is_finite() && self.nemesis_interval > 0.0) {
            bail!("--nemesis-interval must be a positive number of seconds");
        }
        // Validated here; the run parses the stored words again with its seed.
        let kinds = nemesis::NemesisConfig::parse(
            &self.nemesis,
            Duration::from_secs_f64(self.nemesis_interval),
            0,
        )
        .map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?
        .faults;
        let mut nemesis = Vec::new();
        for word in self.nemesis.split(',').map(str::trim) {
            match word {
                "" | "none" => {}
                "all" => nemesis.extend(nemesis::FaultKind::GENERIC.map(|k| k.to_string())),
                word => nemesis.push(word.to_string()),
            }
        }
        nemesis.sort();
        nemesis.dedup();
        let mix = parse_mix(&self.mix)?;
        let root = nix::unistd::geteuid().is_root();
        let hosts = match self.hosts {
            HostsFlag::Auto if root => "namespaces",
            HostsFlag::Auto | HostsFlag::Loopback => "loopback",
            HostsFlag::Namespaces if root => "namespaces",
            HostsFlag::Namespaces => {
                bail!("--hosts namespaces needs root (network namespaces and veth pairs)")
            }
        };
        if hosts == "loopback" && kinds.contains(&nemesis::FaultKind::Partition) {
            bail!(
                "the partition fault needs nodes in network namespaces, and these hosts are \
                 loopback ports: run as root with --hosts auto or namespaces, or choose \
                 --nemesis kill,pause"
            );
        }
        nemesis::check_capabilities(&kinds).map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?;
        let generator_ok = workloads::generator::GeneratorConfig {
            kind: workloads::generator::WorkloadKind::Register,
            seed: 0,
            threads: self.concurrency,
            keys_per_epoch: self.keys,
            ops_per_key: self.ops_per_key,
            mix: workloads::generator::Mix {
                read: mix.read,
                write: mix.write,
                cas: mix.cas,
            },
        }
        .validate();
        if let Err(e) = generator_ok {
            bail!("workload options: {e} (see --keys, --ops-per-key, --concurrency, --mix)");
        }
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 % 1_000_000_000)
                .unwrap_or(1)
        });
        Ok(TestConfig {
            test_name: self
                .test_name
                .unwrap_or_else(|| format!("{}-{}", self.db, self.workload.as_str())),
            db: self.db,
            workload: self.workload,
            nodes: self.nodes,
            time_limit_s: self.time_limit,
            concurrency: self.concurrency,
            rate: self.rate,
            seed,
            nemesis,
            nemesis_interval_s: self.nemesis_interval,
            op_timeout_ms: self.op_timeout_ms,
            read_consistency: self.read_consistency,
            keys_per_epoch: self.keys,
            ops_per_key: self.ops_per_key,
            mix,
            recovery_s: self.recovery_time,
            leader_timeout_s: self.leader_timeout,
            hosts: hosts.to_string(),
            node_binary: self.node_binary,
            node_args: self.node_args,
            db_bugs: self.db_bugs,
            results_dir: self.results_dir,
        })
    }
}

/// Parses `read:write:cas` weights.
fn parse_mix(text: &str) -> anyhow::Result<MixConfig> {
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || format!("--mix {text:?}: expected three weights read:write:cas, e.g. 1:1:1");
    if parts.len() != 3 {
        bail!(bad());
    }
    let w = parts
        .iter()
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(bad)?;
    Ok(MixConfig {
        read: w[0],
        write: w[1],
        cas: w[2],
    })
}

/// The configuration recorded in `<run_dir>/test.json`, for `--replay`.
fn replay_config(run_dir: &std::path::Path) -> anyhow::Result<TestConfig> {
    let path = run_dir.join(crate::store::TEST_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "--replay: cannot read {} (is it a run folder?)",
            path.display()
        )
    })?;
    let test: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("--replay: {} is not valid JSON", path.display()))?;
    let config = test
        .get("config")
        .with_context(|| format!("--replay: {} has no `config`", path.display()))?;
    let config: TestConfig = serde_json::from_value(config.clone()).with_context(|| {
        format!(
            "--replay: the `config` of {} cannot be read",
            path.display()
        )
    })?;
    eprintln!(
        "faultline: replaying {} (test {}, seed {})",
        run_dir.display(),
        config.test_name,
        config.seed
    );
    Ok(config)
}

/// Runs `faultline test`.
pub fn run(args: TestArgs) -> anyhow::Result<u8> {
    let config = match &args.replay {
        Some(dir) => replay_config(dir)?,
        None => args.resolve()?,
    };
    let command_line: Vec<String> = std::env::args().collect();
    crate::run::run_test(config, command_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mix() {
        let m = parse_mix("2:1:0").unwrap();
        assert_eq!((m.read, m.write, m.cas), (2, 1, 0));
        assert!(parse_mix("1:1").is_err());
        assert!(parse_mix("a:1:1").is_err());
    }
}

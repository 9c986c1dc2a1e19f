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
use nemesis::HostMode;

use super::units::{parse_millis, parse_seconds};
use crate::client::{ClientRouting, ReadConsistency};
use crate::run::config::{HostsFlag, MixConfig, TestConfig, WorkloadName};
use crate::run::results::TestFile;

/// Flags of `faultline test`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The workload: `register` (linearizability) or `set` (lost writes).
    #[arg(long, value_enum, default_value = "register")]
    pub workload: WorkloadName,
    /// Number of nodes (default 5; with `--hosts ssh` one per inventory host, and at
    /// most that many).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Length of the main phase (client load), e.g. 60, 30s, 2m (plain numbers are
    /// seconds).
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub time_limit: f64,
    /// Concurrent logical client processes.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Target total request rate in ops/s (default: as fast as the cluster answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed of every random choice (default: chosen from the clock and printed). A
    /// compare-and-set expects the last value its process read or wrote on the key, and a
    /// process that replaces one retired after an unknown outcome (in the set workload:
    /// one whose node did not answer at all) first reads the key its slot uses next.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults: `none`, `all` (kill, pause, partition, and crash for a store with crash
    /// points, as raftkv), or a comma-separated list of
    /// `kill`, `pause`, `partition`, `crash`, each optionally narrowed to one target,
    /// shape or point: `kill:leader`, `pause:follower`, `partition:leader`,
    /// `crash:after-vote` (targets: one, minority, majority, leader, follower, all;
    /// shapes: halves, one, leader, majorities-ring, bridge, random; crash points,
    /// where an armed node kills itself: after-vote, after-append). While a crash
    /// fault lasts, the nodes that crashed stay down, at most a minority: when one
    /// more crashes, the one down longest is restarted and armed again. At after-vote, a
    /// point only elections reach, the fault also takes leaders out: it kills the
    /// leader when it starts, then each leader that has led for 0.5 s, and the leader
    /// at once while more than a minority is down (a killed leader is restarted like a
    /// crashed node).
    /// Crash points are raftkv's; a store without them refuses `crash` (exit 3). `packet` (asked for
    /// by name, not part of `all`) delays, loses, duplicates, reorders or rate-limits
    /// what the target nodes send to the other nodes, narrowed by
    /// `packet:delay=100ms~20ms`, `packet:loss=10%`, `packet:duplicate=10%`,
    /// `packet:reorder=25%`, `packet:rate=1mbit` (bare names take these defaults), by a
    /// target (`packet:leader`), or by `packet:all-traffic` to hit the controller's
    /// traffic with the nodes too; it needs namespace hosts. `disk` (never part
    /// of `all`; root and /dev/fuse) runs every node's data directory on a lazy
    /// filesystem and makes it lie: `disk:lose-unsynced` (power loss: unsynced writes
    /// dropped, node restarted at the heal), `disk:torn` (power loss in the middle of
    /// the last unsynced write), `disk:fsync-eio` (the next fsync fails), each
    /// narrowed by mode or target (`disk:majority`). `clock` (asked for by name, never
    /// part of `all`; narrowed by mode: `clock:jump`, `clock:skew`, `clock:strobe`, or
    /// target: `clock:leader`) gives each node its own clock through libfaketime and jumps
    /// it, skews its rate or strobes it, never stepping it back (backward changes and
    /// heals of a clock ahead are slewed; the final heal waits until every clock is
    /// real again); a store whose program does not read the clock through libc (etcd)
    /// and SSH hosts refuse it (exit 3).
    #[arg(long, default_value = "none")]
    pub nemesis: String,
    /// Mean time between fault starts, e.g. 10, 10s, 500ms (plain numbers are seconds);
    /// each fault lasts half to twice this. The default of 1.5 s was chosen by measuring
    /// the bug switches under the plain `--nemesis all` (docs/bug-detection.md): faults
    /// every 1.5 s caught nearly twice as many runs as every 5 s, because most bugs show
    /// only in the moments after a leader is lost.
    #[arg(long, default_value = "1.5", value_parser = parse_seconds)]
    pub nemesis_interval: f64,
    /// Deadline of one client operation, e.g. 1000, 1s, 250ms (plain numbers are
    /// milliseconds).
    #[arg(long, default_value = "1000", value_parser = parse_millis)]
    pub op_timeout_ms: u64,
    /// How reads are served (`serializable` is fast but not linearizable).
    #[arg(long, value_enum, default_value = "linearizable")]
    pub read_consistency: ReadConsistency,
    /// Which node each client process talks to: `node-bound` (process p only talks
    /// to node p mod nodes, through elections and partitions, as in Jepsen) or
    /// `follow-leader` (processes chase the leader the nodes name).
    #[arg(long, value_enum, default_value = "node-bound")]
    pub client_routing: ClientRouting,
    /// Keys in use at once.
    #[arg(long, default_value_t = 8)]
    pub keys: usize,
    /// Upper bound on operations per key (keys rotate after it).
    #[arg(long, default_value_t = 300)]
    pub ops_per_key: usize,
    /// Register mix as `read:write:cas` weights (reads weigh 4 times more in the second
    /// half of each client's operations on a key).
    #[arg(long, default_value = "1:1:1")]
    pub mix: String,
    /// How long the clients keep running after the final heal when faults were injected,
    /// e.g. 5, 5s, 1m (plain numbers are seconds): the `recovery` checker fails the run
    /// when no operation succeeds in that time (0 skips the phase and its checker). The
    /// final reads of every key on every node follow.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub recovery_time: f64,
    /// How long to wait for the first leader, e.g. 30, 30s (plain numbers are seconds).
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    pub leader_timeout: f64,
    /// Where nodes run: `auto` (namespaces when root), `namespaces`, `loopback`, or
    /// `ssh` (the remote machines of `--inventory`).
    #[arg(long, value_enum, default_value = "auto")]
    pub hosts: HostsFlag,
    /// The TOML file listing the SSH hosts (`--hosts ssh`); see README "Testing on
    /// VMs" for its shape.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
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
    /// Test only: keep a majority of the nodes paused through the recovery phase, so
    /// the cluster cannot recover and the `recovery` checker must fail the run.
    #[arg(long, hide = true)]
    pub test_keep_majority_paused: bool,
}

impl TestArgs {
    /// Resolves and validates the flags.
    pub fn resolve(self) -> anyhow::Result<TestConfig> {
        let inventory = match (self.hosts, &self.inventory) {
            (HostsFlag::Ssh, Some(path)) => Some(nemesis::inventory::load(path)?),
            (HostsFlag::Ssh, None) => bail!("--hosts ssh needs --inventory FILE"),
            (_, Some(_)) => bail!("--inventory is for --hosts ssh"),
            (_, None) => None,
        };
        let nodes = match (self.nodes, &inventory) {
            (Some(n), Some(hosts)) if n > hosts.len() => bail!(
                "--nodes {n}: the inventory lists only {} hosts",
                hosts.len()
            ),
            (Some(n), _) => n,
            (None, Some(hosts)) => hosts.len(),
            (None, None) => 5,
        };
        if nodes == 0 {
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
        let parsed = nemesis::NemesisConfig::parse(
            &self.nemesis,
            Duration::from_secs_f64(self.nemesis_interval),
            0,
        )
        .map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?;
        let kinds = parsed.faults;
        let mut nemesis = Vec::new();
        for word in self.nemesis.split(',').map(str::trim) {
            match word {
                "" | "none" => {}
                "all" => {
                    nemesis.extend(nemesis::FaultKind::GENERIC.map(|k| k.to_string()));
                    if has_crash_points(&self.db) {
                        nemesis.push(nemesis::FaultKind::Crash.to_string());
                    }
                }
                word => nemesis.push(word.to_string()),
            }
        }
        nemesis.sort();
        nemesis.dedup();
        if self.test_keep_majority_paused && (nemesis.is_empty() || self.recovery_time == 0.0) {
            bail!("--test-keep-majority-paused needs a --nemesis and a --recovery-time above 0");
        }
        let mix = parse_mix(&self.mix)?;
        let mode = match self.hosts {
            HostsFlag::Auto => HostMode::auto(),
            HostsFlag::Loopback => HostMode::Loopback,
            HostsFlag::Namespaces if nemesis::process::is_root() => HostMode::Namespaces,
            HostsFlag::Namespaces => {
                bail!("--hosts namespaces needs root (network namespaces and veth pairs)")
            }
            HostsFlag::Ssh => HostMode::Ssh,
        };
        nemesis::check_capabilities_on(&kinds, mode)
            .and_then(|()| nemesis::packet::probe::check(&parsed.packet, mode))
            .map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?;
        let hosts = match mode {
            HostMode::Namespaces => "namespaces",
            HostMode::Loopback => "loopback",
            HostMode::Ssh => "ssh",
        };
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
            nodes,
            time_limit_s: self.time_limit,
            concurrency: self.concurrency,
            rate: self.rate,
            seed,
            nemesis,
            nemesis_interval_s: self.nemesis_interval,
            op_timeout_ms: self.op_timeout_ms,
            read_consistency: self.read_consistency,
            client_routing: self.client_routing,
            keys_per_epoch: self.keys,
            ops_per_key: self.ops_per_key,
            mix,
            recovery_s: self.recovery_time,
            leader_timeout_s: self.leader_timeout,
            hosts: hosts.to_string(),
            inventory: self.inventory,
            node_binary: self.node_binary,
            node_args: self.node_args,
            db_bugs: self.db_bugs,
            results_dir: self.results_dir,
            test_keep_majority_paused: self.test_keep_majority_paused,
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
    let config = serde_json::from_slice::<TestFile>(&bytes)
        .with_context(|| format!("--replay: {} cannot be read", path.display()))?
        .config;
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

/// Whether the store `db` (when it is known) has crash points, so that `all` includes
/// the crash fault.
fn has_crash_points(db: &str) -> bool {
    let wants = crate::db::Wants {
        faults: vec![nemesis::FaultKind::Crash],
        ..Default::default()
    };
    crate::db::kind(db).is_ok_and(|kind| kind.check(&wants).is_ok())
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

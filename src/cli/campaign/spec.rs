//! The campaign file: a TOML description of many `faultline test` runs, and its
//! expansion into the ordered list of runs.
//!
//! ```toml
//! name = "smoke"                  # folder under the results folder (default: file stem)
//! description = "what it is for"  # optional, shown in the summary
//!
//! [defaults]                      # `faultline test` flags for every run
//! time_limit = 20                 # --time-limit, and so on (see `Options`)
//! recovery_time = 3
//!
//! [[matrix]]                      # one or more; runs are the concatenation of the
//! dbs = ["raftkv", "etcd"]        # cross products, in file order, iterated as db ×
//! workloads = ["register", "set"] # workload × nemesis × nodes × db bug × seed ×
//! nemeses = ["kill", "partition"] # repetition (the last axis varies fastest)
//! nodes = [3]
//! seeds = [1, 2]
//! repetitions = 1                 # reruns of the same spec and seed
//! db_bugs = ["", "stale-read"]    # "" or "none" = no bug; else `--db-bug NAME`
//! options = { time_limit = 30 }   # overrides [defaults] for this matrix only
//! ```
//!
//! Every axis has a default (`raftkv`, `register`, `none`, 3 nodes, seed 1, one
//! repetition, no bug), so the smallest campaign is one empty `[[matrix]]`. Unknown
//! keys, wrong types, unknown stores and unknown workloads are refused with the file,
//! line and column; the flags of every
//! run are then validated exactly as `faultline test` would (by the caller), before
//! any run starts.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use toml::Spanned;

use crate::run::config::WorkloadName;

/// The store of a matrix without `dbs`; not named in run ids and parameters.
const DEFAULT_DB: &str = "raftkv";

/// The whole campaign file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    /// Campaign name.
    name: Option<Spanned<String>>,
    /// What the campaign is for.
    description: Option<String>,
    /// Flags of every run.
    #[serde(default)]
    defaults: Options,
    /// The matrices.
    #[serde(default)]
    matrix: Vec<Spanned<Matrix>>,
}

/// One cross product of runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    /// Stores (default: raftkv).
    dbs: Option<Vec<Spanned<String>>>,
    /// Workloads (default: register).
    workloads: Option<Vec<WorkloadName>>,
    /// `--nemesis` values: `none`, `all`, or comma-separated fault lists.
    nemeses: Option<Vec<String>>,
    /// Node counts (default: 3).
    nodes: Option<Vec<Spanned<usize>>>,
    /// Seeds (default: 1).
    seeds: Option<Vec<u64>>,
    /// Repetitions of each combination (default: 1).
    repetitions: Option<Spanned<usize>>,
    /// Db bug switches; `""` or `"none"` is the correct db (default: none).
    db_bugs: Option<Vec<String>>,
    /// Flags overriding `[defaults]` for this matrix.
    #[serde(default)]
    options: Options,
}

/// `faultline test` flags settable in a campaign. Each field is the flag's name with
/// `_` for `-`; unset fields keep `faultline test`'s default.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// `--time-limit` (seconds, or a duration such as `"30s"`).
    time_limit: Option<DurationValue>,
    /// `--concurrency`.
    concurrency: Option<usize>,
    /// `--rate` (ops/s).
    rate: Option<f64>,
    /// `--nemesis-interval` (seconds, or a duration).
    nemesis_interval: Option<DurationValue>,
    /// `--op-timeout-ms` (milliseconds, or a duration such as `"1s"`).
    op_timeout_ms: Option<DurationValue>,
    /// `--read-consistency`.
    read_consistency: Option<String>,
    /// `--client-routing`.
    client_routing: Option<String>,
    /// `--keys`.
    keys: Option<usize>,
    /// `--ops-per-key`.
    ops_per_key: Option<usize>,
    /// `--mix` (`read:write:cas`).
    mix: Option<String>,
    /// `--recovery-time` (seconds, or a duration).
    recovery_time: Option<DurationValue>,
    /// `--leader-timeout` (seconds, or a duration).
    leader_timeout: Option<DurationValue>,
    /// `--hosts`.
    hosts: Option<String>,
    /// `--inventory` (with `hosts = "ssh"`).
    inventory: Option<String>,
    /// `--node-binary`.
    node_binary: Option<String>,
    /// `--node-arg`, repeated.
    node_args: Option<Vec<String>>,
}

/// A duration in a campaign file: a plain number in the flag's own unit, or a string
/// with a unit (`"30s"`, `"500ms"`, `"2m"`), checked when the file is read (so an error
/// names its line) and passed on to the flag as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawDuration")]
struct DurationValue(String);

/// What a campaign file may hold where a duration goes.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    /// A plain number.
    Number(f64),
    /// A duration with its unit.
    Text(String),
}

impl TryFrom<RawDuration> for DurationValue {
    type Error = String;

    fn try_from(raw: RawDuration) -> Result<DurationValue, String> {
        let text = match raw {
            RawDuration::Number(n) => n.to_string(),
            RawDuration::Text(t) => t,
        };
        crate::cli::units::parse_duration(&text)?;
        Ok(DurationValue(text))
    }
}

impl DurationValue {
    /// The flag's argument.
    fn arg(&self) -> String {
        self.0.clone()
    }
}

impl Options {
    /// `self` with every field set in `over` replaced.
    fn merged(&self, over: &Options) -> Options {
        Options {
            time_limit: over.time_limit.clone().or_else(|| self.time_limit.clone()),
            concurrency: over.concurrency.or(self.concurrency),
            rate: over.rate.or(self.rate),
            nemesis_interval: over
                .nemesis_interval
                .clone()
                .or_else(|| self.nemesis_interval.clone()),
            op_timeout_ms: over
                .op_timeout_ms
                .clone()
                .or_else(|| self.op_timeout_ms.clone()),
            read_consistency: over
                .read_consistency
                .clone()
                .or_else(|| self.read_consistency.clone()),
            client_routing: over
                .client_routing
                .clone()
                .or_else(|| self.client_routing.clone()),
            keys: over.keys.or(self.keys),
            ops_per_key: over.ops_per_key.or(self.ops_per_key),
            mix: over.mix.clone().or_else(|| self.mix.clone()),
            recovery_time: over
                .recovery_time
                .clone()
                .or_else(|| self.recovery_time.clone()),
            leader_timeout: over
                .leader_timeout
                .clone()
                .or_else(|| self.leader_timeout.clone()),
            hosts: over.hosts.clone().or_else(|| self.hosts.clone()),
            inventory: over.inventory.clone().or_else(|| self.inventory.clone()),
            node_binary: over
                .node_binary
                .clone()
                .or_else(|| self.node_binary.clone()),
            node_args: over.node_args.clone().or_else(|| self.node_args.clone()),
        }
    }

    /// The options as `faultline test` flags.
    fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{name}"));
                args.push(v);
            }
        };
        flag(
            "time-limit",
            self.time_limit.as_ref().map(DurationValue::arg),
        );
        flag("concurrency", self.concurrency.map(|v| v.to_string()));
        flag("rate", self.rate.map(|v| v.to_string()));
        flag(
            "nemesis-interval",
            self.nemesis_interval.as_ref().map(DurationValue::arg),
        );
        flag(
            "op-timeout-ms",
            self.op_timeout_ms.as_ref().map(DurationValue::arg),
        );
        flag("read-consistency", self.read_consistency.clone());
        flag("client-routing", self.client_routing.clone());
        flag("keys", self.keys.map(|v| v.to_string()));
        flag("ops-per-key", self.ops_per_key.map(|v| v.to_string()));
        flag("mix", self.mix.clone());
        flag(
            "recovery-time",
            self.recovery_time.as_ref().map(DurationValue::arg),
        );
        flag(
            "leader-timeout",
            self.leader_timeout.as_ref().map(DurationValue::arg),
        );
        flag("hosts", self.hosts.clone());
        flag("inventory", self.inventory.clone());
        flag("node-binary", self.node_binary.clone());
        for a in self.node_args.iter().flatten() {
            args.push(format!("--node-arg={a}"));
        }
        args
    }
}

/// A parsed campaign.
#[derive(Debug)]
pub struct Campaign {
    /// Name (folder under the results folder).
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The runs, in order.
    pub runs: Vec<RunSpec>,
}

/// One run of a campaign.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// 1-based position in the campaign.
    pub number: usize,
    /// The store (`--db`).
    pub db: String,
    /// Unique name: the test name of the run (its folder under the campaign folder).
    pub id: String,
    /// Workload.
    pub workload: WorkloadName,
    /// `--nemesis` value.
    pub nemesis: String,
    /// Node count.
    pub nodes: usize,
    /// Seed.
    pub seed: u64,
    /// Repetition, 1-based.
    pub repetition: usize,
    /// Db bug switch, if any.
    pub db_bug: Option<String>,
    /// Line of the `[[matrix]]` the run comes from (for error messages).
    pub line: usize,
    /// The other `faultline test` flags.
    pub extra_args: Vec<String>,
}

impl RunSpec {
    /// Parameters in one short line: `etcd register kill n3 seed 1 rep 1`; the store
    /// is named unless it is raftkv (the default).
    pub fn params(&self) -> String {
        let mut s = if self.db == DEFAULT_DB {
            String::new()
        } else {
            format!("{} ", self.db)
        };
        s += &format!(
            "{} {} n{} seed {}",
            self.workload.as_str(),
            self.nemesis,
            self.nodes,
            self.seed
        );
        if self.repetition > 1 {
            s.push_str(&format!(" rep {}", self.repetition));
        }
        if let Some(b) = &self.db_bug {
            s.push_str(&format!(" bug {b}"));
        }
        s
    }

    /// The `faultline test` arguments of this run (after `test`), without the results
    /// folder.
    pub fn test_args(&self) -> Vec<String> {
        let mut args = vec![
            "--test-name".to_string(),
            self.id.clone(),
            "--db".to_string(),
            self.db.clone(),
            "--workload".to_string(),
            self.workload.as_str().to_string(),
            "--nemesis".to_string(),
            self.nemesis.clone(),
            "--nodes".to_string(),
            self.nodes.to_string(),
            "--seed".to_string(),
            self.seed.to_string(),
        ];
        if let Some(b) = &self.db_bug {
            args.push("--db-bug".to_string());
            args.push(b.clone());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Keeps `[A-Za-z0-9.-]`, maps everything else to `-` (for folder names).
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else if c == ',' {
                '+'
            } else {
                '-'
            }
        })
        .collect()
}

/// Reads and expands a campaign file.
pub fn load(path: &Path) -> anyhow::Result<Campaign> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "campaign".to_string());
    parse(&text, &stem).with_context(|| format!("{}: bad campaign file", path.display()))
}

/// Parses and expands campaign text; `default_name` names a campaign without `name`.
pub fn parse(text: &str, default_name: &str) -> anyhow::Result<Campaign> {
    let file: CampaignFile = toml::from_str(text).map_err(|e| {
        // The toml error already names line and column and quotes the line.
        anyhow::anyhow!("{}", e.to_string().trim_end())
    })?;
    let name = match &file.name {
        Some(n) => {
            let line = line_of(text, n.span().start);
            let v = n.get_ref();
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                || v.starts_with('.')
            {
                bail!(
                    "line {line}: name {v:?}: use letters, digits, '-', '_' and '.' (it names a folder)"
                );
            }
            v.clone()
        }
        None => slug(default_name),
    };
    if file.matrix.is_empty() {
        bail!("no [[matrix]] table: a campaign needs at least one (an empty one runs the defaults once)");
    }
    let mut runs = Vec::new();
    for m in &file.matrix {
        let line = line_of(text, m.span().start);
        let m = m.get_ref();
        let nonempty = |what: &str, empty: bool| -> anyhow::Result<()> {
            if empty {
                bail!("line {line}: [[matrix]] {what} is an empty list (leave it out for the default)");
            }
            Ok(())
        };
        let mut dbs = Vec::new();
        for db in m.dbs.iter().flatten() {
            crate::db::kind(db.get_ref()).map_err(|e| {
                anyhow::anyhow!(
                    "line {}: [[matrix]] dbs: {e}",
                    line_of(text, db.span().start)
                )
            })?;
            dbs.push(db.get_ref().clone());
        }
        if m.dbs.is_none() {
            dbs.push(DEFAULT_DB.to_string());
        }
        nonempty("dbs", dbs.is_empty())?;
        let workloads = m
            .workloads
            .clone()
            .unwrap_or_else(|| vec![WorkloadName::Register]);
        nonempty("workloads", workloads.is_empty())?;
        let nemeses = m
            .nemeses
            .clone()
            .unwrap_or_else(|| vec!["none".to_string()]);
        nonempty("nemeses", nemeses.is_empty())?;
        let mut nodes = Vec::new();
        for n in m.nodes.iter().flatten() {
            if *n.get_ref() == 0 {
                bail!(
                    "line {}: [[matrix]] nodes: a cluster needs at least 1 node",
                    line_of(text, n.span().start)
                );
            }
            nodes.push(*n.get_ref());
        }
        if m.nodes.is_none() {
            nodes.push(3);
        }
        nonempty("nodes", nodes.is_empty())?;
        let seeds = m.seeds.clone().unwrap_or_else(|| vec![1]);
        nonempty("seeds", seeds.is_empty())?;
        let repetitions = match &m.repetitions {
            Some(r) if *r.get_ref() == 0 => bail!(
                "line {}: [[matrix]] repetitions must be at least 1",
                line_of(text, r.span().start)
            ),
            Some(r) => *r.get_ref(),
            None => 1,
        };
        let bugs: Vec<Option<String>> = match &m.db_bugs {
            Some(list) => list
                .iter()
                .map(|b| {
                    let b = b.trim();
                    (!b.is_empty() && b != "none").then(|| b.to_string())
                })
                .collect(),
            None => vec![None],
        };
        nonempty("db_bugs", bugs.is_empty())?;
        let extra_args = file.defaults.merged(&m.options).to_args();
        for (db, &workload) in dbs
            .iter()
            .flat_map(|db| workloads.iter().map(move |w| (db, w)))
        {
            for nemesis in &nemeses {
                for &n in &nodes {
                    for bug in &bugs {
                        for &seed in &seeds {
                            for repetition in 1..=repetitions {
                                let number = runs.len() + 1;
                                let store = if db == DEFAULT_DB {
                                    String::new()
                                } else {
                                    format!("{db}-")
                                };
                                let mut id = format!(
                                    "r{number:03}-{store}{}-{}-n{n}-s{seed}",
                                    workload.as_str(),
                                    slug(nemesis)
                                );
                                if let Some(b) = bug {
                                    id.push_str(&format!("-bug-{}", slug(b)));
                                }
                                if repetitions > 1 {
                                    id.push_str(&format!("-rep{repetition}"));
                                }
                                runs.push(RunSpec {
                                    number,
                                    db: db.clone(),
                                    id,
                                    workload,
                                    nemesis: nemesis.clone(),
                                    nodes: n,
                                    seed,
                                    repetition,
                                    db_bug: bug.clone(),
                                    line,
                                    extra_args: extra_args.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(Campaign {
        name,
        description: file.description,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_the_cross_product_in_order_with_overrides() {
        let c = parse(
            r#"
name = "demo"
[defaults]
time_limit = 20
recovery_time = 3
node_args = ["--x"]

[[matrix]]
workloads = ["register", "set"]
nemeses = ["kill", "kill,pause"]
seeds = [1, 2]

[[matrix]]
db_bugs = ["", "stale-read"]
repetitions = 2
options = { time_limit = 5.5 }
"#,
            "file",
        )
        .unwrap();
        assert_eq!(c.name, "demo");
        assert_eq!(c.runs.len(), 2 * 2 * 2 + 2 * 2);
        let r0 = &c.runs[0];
        assert_eq!(r0.id, "r001-register-kill-n3-s1");
        assert_eq!(c.runs[1].seed, 2, "seeds vary fastest");
        assert_eq!(c.runs[2].nemesis, "kill,pause");
        assert_eq!(c.runs[2].id, "r003-register-kill+pause-n3-s1");
        assert_eq!(c.runs[4].workload, WorkloadName::Set);
        let args = r0.test_args();
        assert!(args.windows(2).any(|w| w == ["--time-limit", "20"]));
        assert!(args.contains(&"--node-arg=--x".to_string()));
        assert!(!args.contains(&"--db-bug".to_string()));
        let last = c.runs.last().unwrap();
        assert_eq!(last.id, "r012-register-none-n3-s1-bug-stale-read-rep2");
        assert_eq!(last.db_bug.as_deref(), Some("stale-read"));
        assert_eq!(last.line, 13);
        let args = last.test_args();
        assert!(args.windows(2).any(|w| w == ["--db-bug", "stale-read"]));
        assert!(args.windows(2).any(|w| w == ["--time-limit", "5.5"]));
        assert!(args.windows(2).any(|w| w == ["--recovery-time", "3"]));
        assert_eq!(c.runs[8].db_bug, None, "an empty bug is the correct db");
    }

    #[test]
    fn durations_may_carry_units() {
        let c = parse(
            r#"
name = "units"
[defaults]
time_limit = "30s"
op_timeout_ms = "1s"
nemesis_interval = 2.5
[[matrix]]
options = { recovery_time = "500ms", leader_timeout = 10 }
"#,
            "file",
        )
        .unwrap();
        let args = c.runs[0].test_args();
        for pair in [
            ["--time-limit", "30s"],
            ["--op-timeout-ms", "1s"],
            ["--nemesis-interval", "2.5"],
            ["--recovery-time", "500ms"],
            ["--leader-timeout", "10"],
        ] {
            assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
        }
        assert!(parse(
            "name = \"x\"\n[defaults]\ntime_limit = true\n[[matrix]]\n",
            "f"
        )
        .is_err());
    }

    #[test]
    fn stores_are_an_axis_and_unknown_stores_name_the_line() {
        let c = parse(
            "[[matrix]]\ndbs = [\"raftkv\", \"etcd\"]\nseeds = [1, 2]\n",
            "file",
        )
        .unwrap();
        let ids: Vec<&str> = c.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "r001-register-none-n3-s1",
                "r002-register-none-n3-s2",
                "r003-etcd-register-none-n3-s1",
                "r004-etcd-register-none-n3-s2",
            ]
        );
        assert!(c.runs[2]
            .test_args()
            .windows(2)
            .any(|w| w == ["--db", "etcd"]));
        assert_eq!(c.runs[2].params(), "etcd register none n3 seed 1");
        let e = format!(
            "{:#}",
            parse("[[matrix]]\nseeds = [1]\ndbs = [\"mongo\"]\n", "x").unwrap_err()
        );
        assert!(e.contains("line 3") && e.contains("mongo"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| format!("{:#}", parse(text, "x").unwrap_err());
        let e = err("[[matrix]]\nworkloads = [\"register\"]\nnemesis = [\"kill\"]\n");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("unknown field `nemesis`"), "{e}");
        let e = err("[[matrix]]\nworkloads = [\"regster\"]\n");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("regster"), "{e}");
        let e = err("[defaults]\ntime_limit = \"long\"\n[[matrix]]\n");
        assert!(e.contains("line 2") && e.contains("bad duration"), "{e}");
        let e = err("[defaults]\nrecovery_time = -1\n[[matrix]]\n");
        assert!(e.contains("line 2") && e.contains("bad duration"), "{e}");
        let e = err("[[matrix]]\n\nnodes = [3, 0]\n");
        assert!(e.contains("line 3") && e.contains("at least 1 node"), "{e}");
        let e = err("[[matrix]]\nseeds = []\n");
        assert!(e.contains("line 1") && e.contains("seeds"), "{e}");
        let e = err("name = \"a/b\"\n[[matrix]]\n");
        assert!(e.contains("line 1") && e.contains("folder"), "{e}");
        let e = err("name = \"x\"\n");
        assert!(e.contains("[[matrix]]"), "{e}");
        let e = err("[[matrix]\n");
        assert!(e.contains("line 1"), "{e}");
    }
}

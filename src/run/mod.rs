//! The controller: one `faultline test` run from resolved configuration to verdict.
//!
//! It knows the store under test only through the traits of `crate::db` (`DbKind`,
//! `Db`) and `crate::client` (`Clients`, `Client`); `run::fake` drives it against an
//! in-process fake store to keep it so. Before anything starts, the store named by
//! `--db` is looked up, refuses what it cannot do (a fault, a bug switch), and its
//! program and version are found; any of that failing ends the run with exit code 3
//! and a results.json that says why.
//!
//! Phases, in order, each a method of [`Run`] (a new phase is one more method and one
//! call in [`Run::main_phases`]), timed and recorded in `results.json`:
//!
//! 1. **setup** — run folder, `test.json`, cleanup journal, hosts (network namespaces
//!    when root, loopback ports otherwise), nodes started, a leader elected. A cluster
//!    that cannot start ends the run with exit code 3 and the reason (the node's exit
//!    status and log tail).
//! 2. **main** — client workers issue the seeded op stream for `--time-limit` seconds
//!    while the nemesis injects faults.
//! 3. **heal** — the nemesis stops and heals everything (partitions removed, paused
//!    nodes resumed, killed nodes restarted).
//! 4. **recovery** — whenever faults were injected, the workers run again for
//!    `--recovery-time` seconds and the `recovery` checker asks whether the cluster
//!    answered again ([`recovery`]); the set workload without faults just waits as long.
//! 5. **final-reads** — every key read on every node, from its own state.
//! 6. **teardown** — nodes killed, namespaces and bridge removed (cleanup journal).
//! 7. **check** — the history is read back from disk and checked.
//! 8. **report** — `results.json`, then `report.html`, `junit.xml` and the results
//!    index (rendered from the files by `crate::report`), and a summary on stderr.
//!
//! Heal, teardown, check and report run also after a harness error or Ctrl-C/SIGTERM.
//! The verdict is then never `valid`: an interrupted or broken run is `unknown` unless
//! the checker proved it `invalid`. Exit code: 0 valid, 1 invalid, 2 unknown (a budget
//! ran out, or the run was interrupted), 3 harness or usage error (unless invalid).

pub mod check;
pub mod config;
pub mod progress;
pub mod recorder;
pub mod recovery;
pub mod results;
pub mod workers;

#[cfg(test)]
mod fake;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::{HostMode, Journal, Network, JOURNAL_FILE};
use tokio::sync::watch;
use workloads::generator::{GeneratorConfig, Mix, WorkloadKind};

use crate::client::{ClientOptions, Clients};
use crate::db::{self, Db, DbKind, Ports, Setup, Wants};
use crate::store::{RunDir, HISTORY_FILE, RESULTS_FILE, TEST_FILE};
use config::{TestConfig, WorkloadName};
use progress::{Progress, ProgressState};
use recorder::Recorder;
use results::{FaultRecord, PhaseTiming, Results, TestFile, Verdict};
use workers::{Signal, WorkerParams};

/// Exit code of a harness or usage error.
pub const EXIT_HARNESS: u8 = 3;

/// How the run was asked to stop early.
struct Interrupt {
    /// Set by SIGINT/SIGTERM.
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Whether a signal arrived.
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// The store chosen for a run, after the checks that need no running node.
struct Chosen {
    /// The store.
    kind: &'static dyn DbKind,
    /// The program its nodes run.
    binary: PathBuf,
    /// Its version.
    version: String,
}

/// One run in progress: what every phase shares.
struct Run {
    /// The resolved configuration.
    config: TestConfig,
    /// The run folder.
    dir: RunDir,
    /// When the run started (RFC 3339).
    started_at: String,
    /// When the run started (for its duration).
    wall_start: Instant,
    /// The async runtime of clients and probes.
    runtime: tokio::runtime::Runtime,
    /// Set by SIGINT/SIGTERM.
    interrupt: Interrupt,
    /// Tells the workers to drain or abort.
    signal_tx: Arc<watch::Sender<Signal>>,
    /// Phase timings and the progress line's state.
    phases: Phases,
    /// What results.json will say.
    results: Results,
}

/// Runs one test and returns the exit code.
pub fn run_test(config: TestConfig, command_line: Vec<String>) -> anyhow::Result<u8> {
    run_with(config, command_line, db::kind)
}

/// The store `config` names (found by `lookup`), once it has accepted the faults and
/// bug switches asked of it. Needs no running node (`faultline campaign` checks every
/// run with it before the first starts).
pub fn check_store(
    config: &TestConfig,
    lookup: fn(&str) -> anyhow::Result<&'static dyn DbKind>,
) -> anyhow::Result<&'static dyn DbKind> {
    let kind = lookup(&config.db).context("--db")?;
    let faults = nemesis::NemesisConfig::parse(
        &config.nemesis.join(","),
        Duration::from_secs_f64(config.nemesis_interval_s),
        config.seed,
    )
    .map_err(|e| anyhow::anyhow!("--nemesis: {e}"))?
    .faults;
    kind.check(&Wants {
        bugs: config.db_bugs.clone(),
        faults,
    })?;
    Ok(kind)
}

/// Whether the run's nemesis has the disk fault, whose nodes run on lazy filesystems.
fn wants_lazyfs(config: &TestConfig) -> bool {
    nemesis::NemesisConfig::parse(&config.nemesis.join(","), Duration::from_secs(1), 0)
        .is_ok_and(|n| n.faults.contains(&nemesis::FaultKind::Disk))
}

/// Runs one test against the store `lookup` finds by the configuration's name.
fn run_with(
    config: TestConfig,
    command_line: Vec<String>,
    lookup: fn(&str) -> anyhow::Result<&'static dyn DbKind>,
) -> anyhow::Result<u8> {
    let mut run = Run::start(config)?;
    let chosen = match run.choose_db(lookup) {
        Ok(chosen) => chosen,
        Err(e) => return run.refuse(format!("{e:#}")),
    };
    run.results.db_version = chosen.version.clone();
    let network = match run.hosts() {
        Ok(network) => network,
        Err(e) => return run.refuse(format!("creating the hosts of the nodes: {e:#}")),
    };
    run.results.run_id = network.run_id().to_string();
    run.dir.write_json(
        TEST_FILE,
        &TestFile {
            schema_version: 1,
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            faultline_commit: env!("FAULTLINE_COMMIT").to_string(),
            db_version: chosen.version.clone(),
            run_id: network.run_id().to_string(),
            started_at: run.started_at.clone(),
            command_line: command_line.clone(),
            config: run.config.clone(),
        },
    )?;
    let recorder = Recorder::create(&run.dir.file(HISTORY_FILE))?;
    run.phases.zero = Some(recorder.start());
    let flusher_stop = Arc::new(AtomicBool::new(false));
    let flusher = recorder::spawn_flusher(recorder.clone(), flusher_stop.clone());

    let db = run.setup(&chosen, network.clone());
    let progress = Progress::start(recorder.clone(), run.phases.progress.clone());
    let mut last_process = 0;
    let mut window = None;
    if let Some(db) = &db {
        if !run.interrupted() {
            match run.main_phases(db, &recorder, network.journal()) {
                Ok((p, w)) => (last_process, window) = (p, w),
                Err(e) => run.results.harness_errors.push(format!("{e:#}")),
            }
        }
    }
    progress.finish();
    run.teardown(db.as_deref(), &network);

    flusher_stop.store(true, Ordering::Relaxed);
    let _ = flusher.join();
    let summary = recorder.finish();
    if let Some(e) = &summary.write_error {
        run.results
            .harness_errors
            .push(format!("writing the history: {e}"));
    }
    let logs = db.as_deref().map(|d| d.nodes().logs()).unwrap_or_default();
    run.finish(db.is_some(), summary, (last_process, window), logs)
}

impl Run {
    /// Creates the run folder, the async runtime and the signal handlers.
    fn start(config: TestConfig) -> anyhow::Result<Run> {
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let dir = RunDir::create(&config.results_dir, &config.test_name)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let interrupt = Interrupt {
            flag: Arc::new(AtomicBool::new(false)),
        };
        let (signal_tx, _) = watch::channel(Signal::Run);
        let signal_tx = Arc::new(signal_tx);
        install_signal_handlers(&runtime, interrupt.flag.clone(), signal_tx.clone())?;
        let results = Results::new(&config, "", &started_at);
        Ok(Run {
            config,
            dir,
            started_at,
            wall_start: Instant::now(),
            runtime,
            interrupt,
            signal_tx,
            phases: Phases::default(),
            results,
        })
    }

    /// Whether a signal asked the run to stop.
    fn interrupted(&self) -> bool {
        self.interrupt.is_set()
    }

    /// The store, its program and version, and the refusal of what it cannot do.
    fn choose_db(
        &self,
        lookup: fn(&str) -> anyhow::Result<&'static dyn DbKind>,
    ) -> anyhow::Result<Chosen> {
        let kind = check_store(&self.config, lookup)?;
        let binary = match &self.config.node_binary {
            Some(path) if !path.exists() => anyhow::bail!(
                "--db-binary {}: no such file (the {} program)",
                path.display(),
                kind.name()
            ),
            Some(path) => path.clone(),
            None => kind.default_binary()?,
        };
        let version = kind.version(&binary)?;
        if fakes_clocks(&self.config) {
            nemesis::clock::check_binary(&binary).map_err(anyhow::Error::msg)?;
        }
        Ok(Chosen {
            kind,
            binary,
            version,
        })
    }

    /// The hosts of the nodes and the cleanup journal.
    fn hosts(&self) -> anyhow::Result<Arc<Network>> {
        let journal = Journal::create(&self.dir.file(JOURNAL_FILE)).with_context(|| {
            format!(
                "creating the cleanup journal in {}",
                self.dir.path().display()
            )
        })?;
        if let Some(path) = &self.config.inventory {
            let inventory = nemesis::inventory::load(path)?;
            let partitions = self.config.nemesis.iter().any(|k| k == "partition");
            let network =
                Network::create_ssh(journal, &inventory, Some(self.config.nodes), partitions)?;
            return Ok(Arc::new(network));
        }
        let mode = if self.config.hosts == "namespaces" {
            HostMode::Namespaces
        } else {
            HostMode::Loopback
        };
        let names: Vec<String> = (1..=self.config.nodes).map(|i| format!("n{i}")).collect();
        Ok(Arc::new(Network::create(journal, &names, mode)?))
    }

    /// Ends a run that could not start: results.json says why; exit code 3.
    fn refuse(mut self, msg: String) -> anyhow::Result<u8> {
        eprintln!("error: {msg}");
        self.results.harness_errors.push(msg);
        self.results.duration_s = self.wall_start.elapsed().as_secs_f64();
        self.dir.write_json(RESULTS_FILE, &self.results)?;
        eprintln!("results: {}", self.dir.path().display());
        Ok(EXIT_HARNESS)
    }

    /// Phase 1 (setup): the store's nodes started and a leader elected. `None` (and a
    /// harness error) when the cluster could not start.
    fn setup(&mut self, chosen: &Chosen, network: Arc<Network>) -> Option<Arc<dyn Db>> {
        self.phases.begin("setup");
        let config = &self.config;
        let db = chosen.kind.setup(Setup {
            network,
            nodes_dir: &self.dir.nodes_dir(),
            ports: Ports::Auto,
            binary: chosen.binary.clone(),
            node_args: config.node_args.clone(),
            bugs: config.db_bugs.clone(),
            seed: config.seed,
            runtime: self.runtime.handle().clone(),
        });
        if let Ok(db) = &db {
            eprintln!(
                "faultline: {} on {} {} nodes ({}, {} hosts), seed {}, run folder {}",
                config.workload.as_str(),
                config.nodes,
                db.name(),
                chosen.version,
                config.hosts,
                config.seed,
                self.dir.path().display()
            );
        }
        let timeout = Duration::from_secs_f64(config.leader_timeout_s);
        let started = db.and_then(|db| {
            if wants_lazyfs(config) {
                db.nodes().mount_lazyfs()?;
            }
            if fakes_clocks(config) {
                db.nodes().fake_clocks()?;
            }
            db.nodes().start_all()?;
            let leader = db.wait_ready(timeout, &self.interrupt.flag)?;
            Ok((db, leader))
        });
        self.phases.end();
        match started {
            Ok((db, leader)) => {
                eprintln!("faultline: cluster up, leader {leader}");
                Some(db)
            }
            Err(e) => {
                let msg = format!("the cluster could not start: {e:#}");
                self.results.harness_errors.push(msg);
                None
            }
        }
    }

    /// Phases 2–5: main, heal, recovery, final reads. Returns the highest client
    /// process id used and the recovery window, if there was one.
    fn main_phases(
        &mut self,
        db: &Arc<dyn Db>,
        recorder: &Arc<Recorder>,
        journal: &Arc<Journal>,
    ) -> anyhow::Result<(u64, Option<recovery::Window>)> {
        let clients = {
            let options = ClientOptions {
                channels_per_node: self.config.concurrency.clamp(1, 4),
                reads: self.config.read_consistency,
                op_timeout: Duration::from_millis(self.config.op_timeout_ms),
                routing: self.config.client_routing,
                slots: self.config.concurrency,
            };
            db.clients(options)?
        };
        let params = Arc::new(WorkerParams {
            clients: clients.clone(),
            recorder: recorder.clone(),
            concurrency: self.config.concurrency,
            rate: self.config.rate,
        });
        let fault_log = Arc::new(Mutex::new(Vec::new()));
        let nemesis = self.start_nemesis(db, recorder, journal, &fault_log)?;
        let main = self.main(&params, nemesis.as_ref());
        // The heal runs whatever happened in the main phase.
        let healed = nemesis.map_or(Ok(()), |n| self.heal(n));
        self.results.faults =
            std::mem::take(&mut *fault_log.lock().unwrap_or_else(|p| p.into_inner()));
        let mut slots = main?;
        healed?;
        let last_of = |slots: &[recovery::Slot]| slots.iter().map(|&(_, p)| p).max().unwrap_or(0);
        if self.interrupted() {
            return Ok((last_of(&slots), None));
        }
        let set = self.config.workload == WorkloadName::Set;
        let mut window = None;
        if set || !self.config.nemesis.is_empty() {
            (slots, window) = self.recovery(db.as_ref(), &params, slots)?;
        }
        let mut last_process = last_of(&slots);
        if !self.interrupted() {
            let keys_touched = slots.iter().map(|(s, _)| s.keys_touched()).max();
            last_process =
                self.final_reads(&clients, recorder, keys_touched.unwrap_or(0), last_process);
        }
        Ok((last_process, window))
    }

    /// The nemesis, started on the store's nodes (`None` without faults).
    fn start_nemesis(
        &self,
        db: &Arc<dyn Db>,
        recorder: &Arc<Recorder>,
        journal: &Arc<Journal>,
        fault_log: &Arc<Mutex<Vec<FaultRecord>>>,
    ) -> anyhow::Result<Option<nemesis::NemesisHandle>> {
        if self.config.nemesis.is_empty() {
            return Ok(None);
        }
        let nemesis_config = nemesis::NemesisConfig::parse(
            &self.config.nemesis.join(","),
            Duration::from_secs_f64(self.config.nemesis_interval_s),
            self.config.seed,
        )
        .context("parsing the nemesis faults")?;
        let control: Arc<dyn nemesis::ClusterControl> = Arc::new(db::Control(db.clone()));
        let sink = fault_sink(recorder.clone(), fault_log.clone());
        Ok(Some(nemesis::Nemesis::start(
            nemesis_config,
            control,
            journal.clone(),
            sink,
        )))
    }

    /// The generator of the run's operations.
    fn generator(&self) -> GeneratorConfig {
        let config = &self.config;
        GeneratorConfig {
            kind: match config.workload {
                WorkloadName::Register => WorkloadKind::Register,
                WorkloadName::Set => WorkloadKind::Set,
            },
            seed: config.seed,
            threads: config.concurrency,
            keys_per_epoch: config.keys_per_epoch,
            ops_per_key: config.ops_per_key,
            mix: Mix {
                read: config.mix.read,
                write: config.mix.write,
                cas: config.mix.cas,
            },
        }
    }

    /// Phase 2 (main): the workers for `--time-limit` seconds. Returns each slot's
    /// stream and the highest process id it used.
    fn main(
        &mut self,
        params: &Arc<WorkerParams>,
        nemesis: Option<&nemesis::NemesisHandle>,
    ) -> anyhow::Result<Vec<recovery::Slot>> {
        let streams = self
            .generator()
            .streams()
            .context("configuring the generator")?;
        self.phases.begin("main");
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(slot, stream)| {
                self.runtime.spawn(workers::run_slot(
                    slot,
                    slot as u64,
                    stream,
                    params.clone(),
                    self.signal_tx.subscribe(),
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs_f64(self.config.time_limit_s);
        while Instant::now() < deadline && !self.interrupted() {
            std::thread::sleep(Duration::from_millis(50));
            if let Some(n) = nemesis {
                self.phases
                    .set_faults(n.active().iter().map(|f| f.to_string()).collect());
            }
        }
        if !self.interrupted() {
            let _ = self.signal_tx.send(Signal::Drain);
        }
        let mut slots = Vec::with_capacity(tasks.len());
        for task in tasks {
            slots.push(
                self.runtime
                    .block_on(task)
                    .context("a client worker panicked")?,
            );
        }
        self.phases.end();
        Ok(slots)
    }

    /// Phase 3 (heal): the nemesis stops and undoes every fault.
    fn heal(&mut self, nemesis: nemesis::NemesisHandle) -> anyhow::Result<()> {
        self.phases.begin("heal");
        let healed = nemesis.stop();
        self.phases.set_faults(Vec::new());
        self.phases.end();
        healed.map_err(|e| anyhow::anyhow!("the nemesis failed: {e}"))
    }

    /// Phase 4 (recovery): after faults, the workers run again for `--recovery-time`
    /// seconds and the `recovery` checker gets the window ([`recovery`]); without
    /// faults (set workload) the cluster just gets that long to converge. Returns the
    /// slots afterwards and the window, if the workers ran.
    fn recovery(
        &mut self,
        db: &dyn Db,
        params: &Arc<WorkerParams>,
        slots: Vec<recovery::Slot>,
    ) -> anyhow::Result<(Vec<recovery::Slot>, Option<recovery::Window>)> {
        self.phases.begin("recovery");
        let limit = Duration::from_secs_f64(self.config.recovery_s);
        let out = if self.config.nemesis.is_empty() || limit.is_zero() {
            sleep_unless(limit, &self.interrupt);
            (slots, None)
        } else {
            let phase = recovery::Phase {
                runtime: &self.runtime,
                params,
                signal_tx: &self.signal_tx,
                interrupt: &self.interrupt,
                db,
                keep_majority_paused: self.config.test_keep_majority_paused,
            };
            let (after, window) = phase.run(slots, limit)?;
            (after, Some(window))
        };
        self.phases.end();
        Ok(out)
    }

    /// Phase 5 (final-reads): every key read on every node once the nodes converged.
    /// When they did not converge, sets are read anyway (an element a node lacks is
    /// lacking either way) and registers are not (a node still catching up would show
    /// an older value, as a diverged one does). Returns the highest process id used.
    fn final_reads(
        &mut self,
        clients: &Arc<dyn Clients>,
        recorder: &Arc<Recorder>,
        keys_touched: u64,
        last_process: u64,
    ) -> u64 {
        self.phases.begin("final-reads");
        let generator = self.generator();
        let set = self.config.workload == WorkloadName::Set;
        let reads = (0..keys_touched).map(|k| generator.read_of(k)).collect();
        let first = last_process + 1;
        let converge = Duration::from_secs_f64(self.config.recovery_s.max(10.0));
        if !self.runtime.block_on(clients.wait_converged(converge)) {
            let seconds = converge.as_secs_f64();
            if !set {
                eprintln!(
                    "faultline: the nodes did not converge within {seconds:.0} s; \
                     no final reads of the registers"
                );
                self.phases.end();
                return last_process;
            }
            eprintln!(
                "faultline: the nodes did not converge within {seconds:.0} s; reading anyway"
            );
        }
        self.runtime.block_on(workers::final_reads(
            clients.clone(),
            recorder.clone(),
            reads,
            !set,
            first,
            Duration::from_millis(self.config.op_timeout_ms.max(2000)),
        ));
        self.phases.end();
        first + clients.node_count() as u64 - 1
    }

    /// Phase 6 (teardown, always): nodes killed, namespaces and bridge removed.
    fn teardown(&mut self, db: Option<&dyn Db>, network: &Network) {
        self.phases.begin("teardown");
        let result = match db {
            Some(db) => db.nodes().teardown(),
            None => network
                .teardown()
                .map_err(anyhow::Error::from)
                .and_then(|r| {
                    if r.failed.is_empty() {
                        Ok(())
                    } else {
                        anyhow::bail!("teardown left things behind: {}", r.failed.join("; "))
                    }
                }),
        };
        if let Err(e) = result {
            self.results.harness_errors.push(format!("{e:#}"));
        }
        self.phases.end();
    }

    /// Phases 7 and 8 (check, report): the history checked, results.json, the report
    /// and the summary. Returns the exit code.
    fn finish(
        mut self,
        started: bool,
        summary: recorder::RecorderSummary,
        (last_process, window): (u64, Option<recovery::Window>),
        logs: Vec<PathBuf>,
    ) -> anyhow::Result<u8> {
        self.phases.begin("check");
        let (checks, check_report) = if started {
            check::check_run(
                &self.dir.file(HISTORY_FILE),
                &workloads::check::CheckOptions {
                    model: Some(check::model_of(self.config.workload)),
                    ..Default::default()
                },
                window.as_ref(),
            )
        } else {
            (Vec::new(), None)
        };
        self.results.check = check_report;
        self.phases.end();
        drop(self.runtime);

        let interrupted = self.interrupt.is_set();
        self.results.interrupted = interrupted;
        self.results.finish(
            checks,
            summary,
            std::mem::take(&mut self.phases.done),
            self.wall_start.elapsed().as_secs_f64(),
            last_process,
            logs,
            self.dir.path(),
        );
        self.dir.write_json(RESULTS_FILE, &self.results)?;
        // Report: rendered from the run folder's files, like `faultline report` does.
        let report =
            crate::report::render_run(self.dir.path(), &crate::report::RenderOptions::default())
                .and_then(|r| {
                    crate::report::render_index(&self.config.results_dir)?;
                    Ok(r.report)
                });
        self.results.print_summary(self.dir.path());
        match report {
            Ok(path) => eprintln!("report:  {}", path.display()),
            Err(e) => eprintln!("faultline: the report could not be rendered: {e:#}"),
        }
        // A harness error (a cluster that could not start, a fault that could not be
        // healed, a history that could not be written) exits 3 unless the checker proved
        // the run invalid anyway; a run the user interrupted is merely unknown.
        let harness_failed = !started || !self.results.harness_errors.is_empty();
        Ok(
            if harness_failed && !interrupted && self.results.verdict != Verdict::Invalid {
                EXIT_HARNESS
            } else {
                self.results.verdict.exit_code()
            },
        )
    }
}

/// The nemesis's sink: every op goes into the history; completions also into the fault
/// list of results.json (a stop closes the oldest open fault of its kind).
fn fault_sink(recorder: Arc<Recorder>, log: Arc<Mutex<Vec<FaultRecord>>>) -> nemesis::OpSink {
    Box::new(move |op: nemesis::NemesisOp| {
        recorder.nemesis(op.kind, &op.f, op.value.clone(), op.at);
        if op.kind == workloads::history::OpType::Invoke {
            return;
        }
        let at_s = recorder.nanos(op.at) as f64 / 1e9;
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        let start_of = nemesis::FaultKind::ALL
            .into_iter()
            .find(|k| k.stop_f() == op.f)
            .map(nemesis::FaultKind::start_f);
        match start_of {
            Some(kind) => {
                if let Some(open) = log.iter_mut().find(|r| r.f == kind && r.end_s.is_none()) {
                    open.end_s = Some(at_s);
                }
            }
            None => {
                let outcome = op.outcome.expect("a nemesis completion has an outcome");
                // A skipped fault changed nothing and will see no stop.
                let end_s = (outcome == nemesis::Outcome::Skipped).then_some(at_s);
                log.push(FaultRecord {
                    f: op.f.clone(),
                    start_s: at_s,
                    end_s,
                    outcome,
                    value: op.value,
                });
            }
        }
    })
}

/// Whether the run asks for clock faults (so its nodes need a clock of their own).
fn fakes_clocks(config: &TestConfig) -> bool {
    config
        .nemesis
        .iter()
        .any(|word| word.split(':').next() == Some(nemesis::FaultKind::Clock.start_f()))
}

/// Sleeps for `d`, waking early on an interrupt.
fn sleep_unless(d: Duration, interrupt: &Interrupt) {
    let until = Instant::now() + d;
    while Instant::now() < until && !interrupt.is_set() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGINT and SIGTERM set the flag and tell the workers to abort; a second signal exits
/// at once (the cleanup journal still lists everything for `faultline cleanup`).
fn install_signal_handlers(
    runtime: &tokio::runtime::Runtime,
    flag: Arc<AtomicBool>,
    tx: Arc<watch::Sender<Signal>>,
) -> anyhow::Result<()> {
    let _guard = runtime.enter();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    runtime.spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!(
            "\nfaultline: {name} received: stopping, healing and tearing down \
             (send it again to exit at once)"
        );
        flag.store(true, Ordering::Relaxed);
        let _ = tx.send(Signal::Abort);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!(
            "faultline: exiting without teardown; run `faultline cleanup` to remove what is left"
        );
        std::process::exit(EXIT_HARNESS.into());
    });
    Ok(())
}

/// Phase timings, and the phase and faults the progress line shows.
#[derive(Default)]
struct Phases {
    /// Finished phases.
    done: Vec<PhaseTiming>,
    /// The phase in progress and its start.
    current: Option<(String, Instant, f64)>,
    /// Time zero for offsets (the history's time zero).
    zero: Option<Instant>,
    /// What the progress line shows.
    progress: Arc<Mutex<ProgressState>>,
}

impl Phases {
    /// Starts a phase (ending the previous one).
    fn begin(&mut self, name: &str) {
        self.end();
        let zero = *self.zero.get_or_insert_with(Instant::now);
        let now = Instant::now();
        self.current = Some((name.to_string(), now, (now - zero).as_secs_f64()));
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .phase = name.to_string();
    }

    /// Ends the current phase.
    fn end(&mut self) {
        if let Some((name, start, offset)) = self.current.take() {
            self.done.push(PhaseTiming {
                name,
                start_s: offset,
                duration_s: start.elapsed().as_secs_f64(),
            });
        }
    }

    /// The faults the progress line shows as active.
    fn set_faults(&self, faults: Vec<String>) {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults = faults;
    }
}

//! The controller: one `faultline test` run from resolved configuration to verdict.
//!
//! Phases, in order, each timed and recorded in `results.json`:
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
//! 5. **final-reads** — set workload: every key read on every node.
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nemesis::{HostMode, Journal, Network, JOURNAL_FILE};
use tokio::sync::watch;
use workloads::generator::{GeneratorConfig, Mix, WorkloadKind};

use crate::client::Cluster;
use crate::db::raftkv::RaftkvDb;
use crate::db::Db;
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

/// Runs one test and returns the exit code.
pub fn run_test(config: TestConfig, command_line: Vec<String>) -> anyhow::Result<u8> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let wall_start = Instant::now();
    let run = RunDir::create(&config.results_dir, &config.test_name)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let interrupt = Interrupt {
        flag: Arc::new(AtomicBool::new(false)),
    };
    let (signal_tx, signal_rx) = watch::channel(Signal::Run);
    let signal_tx = Arc::new(signal_tx);
    install_signal_handlers(&runtime, interrupt.flag.clone(), signal_tx.clone())?;

    let journal = Journal::create(&run.file(JOURNAL_FILE))
        .with_context(|| format!("creating the cleanup journal in {}", run.path().display()))?;
    let mode = if config.hosts == "namespaces" {
        HostMode::Namespaces
    } else {
        HostMode::Loopback
    };
    let names: Vec<String> = (1..=config.nodes).map(|i| format!("n{i}")).collect();
    let network = match Network::create(journal, &names, mode) {
        Ok(n) => Arc::new(n),
        Err(e) => {
            // Nothing ran: record why, so the run folder still says what happened.
            let msg = format!("creating the hosts of the nodes: {e}");
            let mut results = Results::new(&config, "", &started_at);
            results.harness_errors.push(msg.clone());
            results.duration_s = wall_start.elapsed().as_secs_f64();
            run.write_json(RESULTS_FILE, &results)?;
            eprintln!("error: {msg}");
            eprintln!("results: {}", run.path().display());
            return Ok(EXIT_HARNESS);
        }
    };
    run.write_json(
        TEST_FILE,
        &TestFile {
            schema_version: 1,
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            faultline_commit: env!("FAULTLINE_COMMIT").to_string(),
            run_id: network.run_id().to_string(),
            started_at: started_at.clone(),
            command_line: command_line.clone(),
            config: config.clone(),
        },
    )?;

    let mut results = Results::new(&config, network.run_id(), &started_at);
    let mut phases = Phases::default();
    let progress_state = Arc::new(Mutex::new(ProgressState::default()));
    let recorder = Recorder::create(&run.file(HISTORY_FILE))?;
    phases.zero = Some(recorder.start());
    let flusher_stop = Arc::new(AtomicBool::new(false));
    let flusher = recorder::spawn_flusher(recorder.clone(), flusher_stop.clone());

    // Setup.
    phases.begin("setup", &progress_state);
    let db: Result<Arc<RaftkvDb>, anyhow::Error> = RaftkvDb::setup(
        network.clone(),
        &run,
        config.node_binary.clone(),
        config.node_command_args(),
        config.seed,
        runtime.handle().clone(),
    )
    .map(Arc::new);
    if let Ok(db) = &db {
        eprintln!(
            "faultline: {} on {} {} nodes ({} hosts), seed {}, run folder {}",
            config.workload.as_str(),
            config.nodes,
            db.name(),
            config.hosts,
            config.seed,
            run.path().display()
        );
    }
    let setup = db.and_then(|db| {
        db.start_all()?;
        let leader = db.wait_for_leader(
            Duration::from_secs_f64(config.leader_timeout_s),
            &interrupt.flag,
        )?;
        Ok((db, leader))
    });
    phases.end();
    let (db, setup_ok) = match setup {
        Ok((db, leader)) => {
            eprintln!("faultline: cluster up, leader {leader}");
            (Some(db), true)
        }
        Err(e) => {
            // Said once, in the summary's harness errors.
            results
                .harness_errors
                .push(format!("the cluster could not start: {e:#}"));
            (None, false)
        }
    };

    let fault_log = Arc::new(Mutex::new(Vec::new()));
    let progress = Progress::start(recorder.clone(), progress_state.clone());
    let mut last_process = 0;
    let mut recovery_window = None;
    if let (Some(db), true) = (&db, setup_ok) {
        if !interrupt.is_set() {
            match main_phases(
                &config,
                db,
                &runtime,
                &recorder,
                &signal_tx,
                signal_rx.clone(),
                &mut phases,
                &progress_state,
                &interrupt,
                network.journal(),
                &fault_log,
            ) {
                Ok((p, w)) => (last_process, recovery_window) = (p, w),
                Err(e) => results.harness_errors.push(format!("{e:#}")),
            }
        }
    }
    progress.finish();

    // Teardown: always.
    phases.begin("teardown", &progress_state);
    let teardown = match &db {
        Some(db) => db.teardown(),
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
    if let Err(e) = teardown {
        results.harness_errors.push(format!("{e:#}"));
    }
    phases.end();
    drop(runtime);

    flusher_stop.store(true, Ordering::Relaxed);
    let _ = flusher.join();
    let summary = recorder.finish();
    if let Some(e) = &summary.write_error {
        results
            .harness_errors
            .push(format!("writing the history: {e}"));
    }

    // Check.
    phases.begin("check", &progress_state);
    let (checks, check_report) = if setup_ok {
        check::check_run(
            &run.file(HISTORY_FILE),
            &workloads::check::CheckOptions {
                model: Some(check::model_of(config.workload)),
                ..Default::default()
            },
            recovery_window.as_ref(),
        )
    } else {
        (Vec::new(), None)
    };
    results.check = check_report;
    phases.end();

    results.interrupted = interrupt.is_set();
    results.faults = std::mem::take(&mut *fault_log.lock().unwrap_or_else(|p| p.into_inner()));
    results.finish(
        checks,
        summary,
        phases.done,
        wall_start.elapsed().as_secs_f64(),
        last_process,
        db.as_deref().map(|d| d.logs()).unwrap_or_default(),
        run.path(),
    );
    run.write_json(RESULTS_FILE, &results)?;
    // Report: rendered from the run folder's files, like `faultline report` does.
    let report = crate::report::render_run(run.path(), &crate::report::RenderOptions::default())
        .and_then(|r| {
            crate::report::render_index(&config.results_dir)?;
            Ok(r.report)
        });
    results.print_summary(run.path());
    match report {
        Ok(path) => eprintln!("report:  {}", path.display()),
        Err(e) => eprintln!("faultline: the report could not be rendered: {e:#}"),
    }
    // A harness error (a cluster that could not start, a fault that could not be
    // healed, a history that could not be written) exits 3 unless the checker proved
    // the run invalid anyway; a run the user interrupted is merely unknown.
    let harness_failed = !setup_ok || !results.harness_errors.is_empty();
    Ok(
        if harness_failed && !interrupt.is_set() && results.verdict != Verdict::Invalid {
            EXIT_HARNESS
        } else {
            results.verdict.exit_code()
        },
    )
}

/// Phases 2–5: main, heal, recovery, final reads. Returns the highest client process
/// id used and the recovery window, if there was one.
#[allow(clippy::too_many_arguments)]
fn main_phases(
    config: &TestConfig,
    db: &Arc<RaftkvDb>,
    runtime: &tokio::runtime::Runtime,
    recorder: &Arc<Recorder>,
    signal_tx: &Arc<watch::Sender<Signal>>,
    signal_rx: watch::Receiver<Signal>,
    phases: &mut Phases,
    progress: &Arc<Mutex<ProgressState>>,
    interrupt: &Interrupt,
    journal: &Arc<Journal>,
    fault_log: &Arc<Mutex<Vec<FaultRecord>>>,
) -> anyhow::Result<(u64, Option<recovery::Window>)> {
    let generator = GeneratorConfig {
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
    };
    let streams = generator.streams().context("configuring the generator")?;
    let cluster = {
        let _guard = runtime.enter();
        Arc::new(Cluster::new(
            &db.client_addrs(),
            config.concurrency.clamp(1, 4),
            config.read_consistency,
        )?)
    };
    let params = Arc::new(WorkerParams {
        cluster: cluster.clone(),
        recorder: recorder.clone(),
        concurrency: config.concurrency,
        op_timeout: Duration::from_millis(config.op_timeout_ms),
        rate: config.rate,
    });

    let nemesis = if config.nemesis.is_empty() {
        None
    } else {
        let nemesis_config = nemesis::NemesisConfig::parse(
            &config.nemesis.join(","),
            Duration::from_secs_f64(config.nemesis_interval_s),
            config.seed,
        )
        .context("parsing the nemesis faults")?;
        let control: Arc<dyn nemesis::ClusterControl> = db.clone();
        let sink = fault_sink(recorder.clone(), fault_log.clone());
        Some(nemesis::Nemesis::start(
            nemesis_config,
            control,
            journal.clone(),
            sink,
        ))
    };
    phases.begin("main", progress);
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(slot, stream)| {
            runtime.spawn(workers::run_slot(
                slot,
                slot as u64,
                stream,
                params.clone(),
                signal_rx.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs_f64(config.time_limit_s);
    while Instant::now() < deadline && !interrupt.is_set() {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(n) = &nemesis {
            let active: Vec<String> = n.active().iter().map(|f| f.to_string()).collect();
            progress.lock().unwrap_or_else(|p| p.into_inner()).faults = active;
        }
    }
    if !interrupt.is_set() {
        let _ = signal_tx.send(Signal::Drain);
    }
    let mut slots = Vec::with_capacity(tasks.len());
    for task in tasks {
        slots.push(runtime.block_on(task).context("a client worker panicked")?);
    }
    phases.end();

    if let Some(n) = nemesis {
        phases.begin("heal", progress);
        let healed = n.stop();
        progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .clear();
        phases.end();
        healed.map_err(|e| anyhow::anyhow!("the nemesis failed: {e}"))?;
    }
    let last_of = |slots: &[recovery::Slot]| slots.iter().map(|&(_, p)| p).max().unwrap_or(0);
    if interrupt.is_set() {
        return Ok((last_of(&slots), None));
    }
    let mut window = None;
    if config.workload == WorkloadName::Set || !config.nemesis.is_empty() {
        phases.begin("recovery", progress);
        let limit = Duration::from_secs_f64(config.recovery_s);
        if config.nemesis.is_empty() || limit.is_zero() {
            sleep_unless(limit, interrupt);
        } else {
            let phase = recovery::Phase {
                runtime,
                params: &params,
                signal_tx,
                interrupt,
                db: db.as_ref(),
                keep_majority_paused: config.test_keep_majority_paused,
            };
            let (after, w) = phase.run(slots, limit)?;
            (slots, window) = (after, Some(w));
        }
        phases.end();
    }
    let mut last_process = last_of(&slots);
    if config.workload == WorkloadName::Set && !interrupt.is_set() {
        phases.begin("final-reads", progress);
        let keys_touched = slots.iter().map(|(s, _)| s.keys_touched()).max();
        let keys: Vec<String> = (0..keys_touched.unwrap_or(0))
            .map(|k| generator.key_name(k))
            .collect();
        let first = last_process + 1;
        let converge = Duration::from_secs_f64(config.recovery_s.max(10.0));
        if !runtime.block_on(workers::wait_converged(&cluster, converge)) {
            eprintln!(
                "faultline: the nodes did not converge within {:.0} s; reading anyway",
                converge.as_secs_f64()
            );
        }
        runtime.block_on(workers::final_reads(
            cluster,
            recorder.clone(),
            keys,
            first,
            Duration::from_millis(config.op_timeout_ms.max(2000)),
        ));
        last_process = first + db.node_names().len() as u64 - 1;
        phases.end();
    }
    Ok((last_process, window))
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

/// Phase timings.
#[derive(Default)]
struct Phases {
    /// Finished phases.
    done: Vec<PhaseTiming>,
    /// The phase in progress and its start.
    current: Option<(String, Instant, f64)>,
    /// Time zero for offsets (the history's time zero).
    zero: Option<Instant>,
}

impl Phases {
    /// Starts a phase (ending the previous one).
    fn begin(&mut self, name: &str, progress: &Arc<Mutex<ProgressState>>) {
        self.end();
        let zero = *self.zero.get_or_insert_with(Instant::now);
        let now = Instant::now();
        self.current = Some((name.to_string(), now, (now - zero).as_secs_f64()));
        progress.lock().unwrap_or_else(|p| p.into_inner()).phase = name.to_string();
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
}

//! The live progress line on stderr: elapsed time, phase, ops/s over the last interval,
//! ok/fail/info counts and active faults. On a terminal it is redrawn in place four
//! times a second; otherwise (CI logs, pipes) a plain line is printed every five seconds.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::recorder::Recorder;

/// State the progress thread shows besides the counters.
#[derive(Debug, Default)]
pub struct ProgressState {
    /// Current phase name.
    pub phase: String,
    /// Faults currently active (descriptions).
    pub faults: Vec<String>,
}

/// A running progress printer.
pub struct Progress {
    /// Set to stop the thread.
    stop: Arc<AtomicBool>,
    /// The thread.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Whether stderr is a terminal (the line must be cleared at the end).
    tty: bool,
}

impl Progress {
    /// Starts printing.
    pub fn start(recorder: Arc<Recorder>, state: Arc<Mutex<ProgressState>>) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let every = if tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let mut last_total = 0;
                let mut last_at = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    // Sleep in short steps so stopping is prompt.
                    let wake = Instant::now() + every;
                    while Instant::now() < wake && !stop2.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let ok = recorder.live.ok.load(Ordering::Relaxed);
                    let fail = recorder.live.fail.load(Ordering::Relaxed);
                    let info = recorder.live.info.load(Ordering::Relaxed);
                    let total = ok + fail + info;
                    let now = Instant::now();
                    let rate = (total - last_total) as f64 / (now - last_at).as_secs_f64();
                    last_total = total;
                    last_at = now;
                    let (phase, faults) = {
                        let s = state.lock().unwrap_or_else(|p| p.into_inner());
                        (s.phase.clone(), s.faults.join(","))
                    };
                    let line = format!(
                        "[{:>6.1}s] {phase:<10} {rate:>8.0} ops/s  ok {ok}  fail {fail}  info {info}  faults: {}",
                        recorder.start().elapsed().as_secs_f64(),
                        if faults.is_empty() { "none" } else { &faults },
                    );
                    let mut err = std::io::stderr().lock();
                    let _ = if tty {
                        write!(err, "\r\x1b[2K{line}")
                    } else {
                        writeln!(err, "{line}")
                    };
                    let _ = err.flush();
                }
            })
            .expect("spawning the progress thread");
        Progress {
            stop,
            thread: Some(thread),
            tty,
        }
    }

    /// Stops printing and clears the line.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}

//! Running seeds: one trace per seed ([`run_seed`]), and many seeds on several
//! threads until a seed count or a time budget is used up ([`run`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::checks::Violation;
use super::generate::{Generator, Setup};
use super::shrink::Trace;
use super::world::World;

/// A seed's failing trace, as generated (not shrunk).
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The first broken property.
    pub violation: Violation,
    /// The trace up to the step that broke it.
    pub trace: Trace,
}

/// What one seed did.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// Steps simulated, the settling phase included.
    pub steps: u64,
    /// The violation, if the seed found one.
    pub failure: Option<Failure>,
}

/// Runs the trace of `seed` on `setup` (normally `Setup::from_seed(seed, ..)`).
pub fn run_seed(seed: u64, setup: Setup) -> SeedReport {
    let mut generator = Generator::new(seed, setup.nodes);
    let mut world = World::new(setup.clone());
    let mut actions = Vec::with_capacity(generator.length as usize);
    let fail = |violation, actions, settle, steps| SeedReport {
        steps,
        failure: Some(Failure {
            seed,
            violation,
            trace: Trace {
                setup,
                actions,
                settle,
            },
        }),
    };
    for _ in 0..generator.length {
        let action = generator.next(&world);
        actions.push(action);
        if let Err(v) = world.apply(action) {
            return fail(v, actions, false, world.steps());
        }
    }
    if let Err(v) = world.settle(None) {
        return fail(v, actions, true, world.steps());
    }
    SeedReport {
        steps: world.steps(),
        failure: None,
    }
}

/// How much to run.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The first seed; the others follow it.
    pub first_seed: u64,
    /// Stop after this many seeds.
    pub seeds: Option<u64>,
    /// Stop starting seeds after this long.
    pub time: Option<Duration>,
    /// Threads running seeds.
    pub threads: usize,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Seeds run to their end (or their violation).
    pub seeds: u64,
    /// Steps simulated in all of them.
    pub steps: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// The first violation found; the run stops there.
    pub failure: Option<Failure>,
}

impl RunReport {
    /// Steps per second over all threads.
    pub fn steps_per_second(&self) -> f64 {
        self.steps as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs seeds from `budget.first_seed` on, each on `setup(seed)`, until the
/// budget is used up or a seed breaks a property.
pub fn run(budget: &Budget, setup: &(dyn Fn(u64) -> Setup + Sync)) -> RunReport {
    assert!(
        budget.seeds.is_some() || budget.time.is_some(),
        "a run needs a seed count or a time budget"
    );
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let seeds_done = AtomicU64::new(0);
    let steps = AtomicU64::new(0);
    let failure: Mutex<Option<Failure>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..budget.threads.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed)
                    || budget.time.is_some_and(|t| started.elapsed() >= t)
                {
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if budget.seeds.is_some_and(|n| k >= n) {
                    return;
                }
                let seed = budget.first_seed.wrapping_add(k);
                let report = run_seed(seed, setup(seed));
                steps.fetch_add(report.steps, Ordering::Relaxed);
                seeds_done.fetch_add(1, Ordering::Relaxed);
                if let Some(f) = report.failure {
                    stop.store(true, Ordering::Relaxed);
                    let mut first = failure.lock().expect("no thread panics holding it");
                    if first.as_ref().is_none_or(|g| f.seed < g.seed) {
                        *first = Some(f);
                    }
                    return;
                }
            });
        }
    });
    RunReport {
        seeds: seeds_done.into_inner(),
        steps: steps.into_inner(),
        elapsed: started.elapsed(),
        failure: failure.into_inner().expect("no thread panicked holding it"),
    }
}

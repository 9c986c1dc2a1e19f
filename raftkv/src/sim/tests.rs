//! The simulator's own tests: the correct core survives a short budget, runs
//! replay exactly, and every bug switch of the core and every planted mistake
//! is found, with a shrunk trace under 60 steps that fails the same way.

use std::time::Instant;

use super::*;
use crate::raft::node::Planted;
use crate::raft::Bugs;

/// Seeds a bug test may try before giving up.
const MAX_SEEDS: u64 = 20_000;

#[test]
fn the_correct_core_survives_a_short_budget() {
    let budget = Budget {
        first_seed: 0,
        seeds: Some(300),
        time: None,
        threads: 2,
    };
    let report = run(&budget, &|seed| Setup::from_seed(seed, Bugs::default()));
    if let Some(f) = &report.failure {
        let shrunk = shrink(&f.trace, f.violation.property);
        panic!("seed {}: {}\n{}", f.seed, f.violation, shrunk.render());
    }
    assert_eq!(report.seeds, 300);
    println!(
        "correct core: {} seeds, {} steps, {:.0} steps/s on 2 threads",
        report.seeds,
        report.steps,
        report.steps_per_second()
    );
    assert!(report.steps > 300 * 100, "every seed runs its steps");
}

#[test]
fn a_seed_replays_exactly() {
    let setup = Setup::from_seed(7, Bugs::default());
    let a = run_seed(7, setup.clone());
    let b = run_seed(7, setup);
    assert_eq!(a.steps, b.steps);
    assert!(a.failure.is_none() && b.failure.is_none());
}

/// What finding a bug took.
struct Found {
    seed: u64,
    shrunk: Trace,
}

/// Failing seeds whose shrunk traces a bug test compares, keeping the shortest.
const MAX_FAILING_SEEDS: usize = 8;

/// Runs seeds 0, 1, ... on `setup` until one breaks a property; checks that
/// the seed replays to the same violation and that its shrunk trace breaks the
/// same property. If that trace has 60 steps or more, goes on to further
/// failing seeds (a few) and keeps the shortest. Asserts it is under 60 steps
/// and prints the figures: steps and time to the first violation, to the
/// short trace, and the trace.
fn find(name: &str, setup: impl Fn(u64) -> Setup) -> Found {
    let started = Instant::now();
    let mut steps = 0;
    let mut best: Option<Found> = None;
    let mut failing = 0;
    for seed in 0..MAX_SEEDS {
        let report = run_seed(seed, setup(seed));
        steps += report.steps;
        let Some(failure) = report.failure else {
            continue;
        };
        failing += 1;
        if failing == 1 {
            println!(
                "{name}: first violation in seed {seed} after {steps} steps, {:.2?}: {}",
                started.elapsed(),
                failure.violation
            );
        }
        let again = run_seed(seed, setup(seed))
            .failure
            .expect("the seed fails again");
        assert_eq!(again.violation, failure.violation, "replays exactly");
        assert_eq!(again.trace, failure.trace, "replays exactly");
        let shrunk = shrink(&failure.trace, failure.violation.property);
        let violation = shrunk.violation().expect("the shrunk trace fails");
        assert_eq!(violation.property, failure.violation.property);
        if best.as_ref().is_none_or(|b| shrunk.len() < b.shrunk.len()) {
            best = Some(Found { seed, shrunk });
        }
        let found = best.as_ref().expect("just set");
        if found.shrunk.len() < 60 || failing == MAX_FAILING_SEEDS {
            println!(
                "{name}: a {}-step trace (seed {}, {} seeds failed) after {steps} steps, {:.2?}:\n{}",
                found.shrunk.len(),
                found.seed,
                failing,
                started.elapsed(),
                found.shrunk.render()
            );
            assert!(
                found.shrunk.len() < 60,
                "{name}: the shortest shrunk trace has {} steps",
                found.shrunk.len()
            );
            return best.expect("found");
        }
    }
    panic!("{name}: not found in {MAX_SEEDS} seeds ({steps} steps)");
}

fn with_bugs(bugs: Bugs) -> impl Fn(u64) -> Setup {
    move |seed| Setup::from_seed(seed, bugs)
}

fn with_planted(planted: Planted) -> impl Fn(u64) -> Setup {
    with_bugs(Bugs {
        planted,
        ..Bugs::default()
    })
}

#[test]
fn finds_votes_without_the_log_check() {
    find(
        "vote-without-log-check",
        with_bugs(Bugs {
            vote_without_log_check: true,
            ..Bugs::default()
        }),
    );
}

#[test]
fn finds_commits_of_old_terms() {
    find(
        "commit-old-term",
        with_bugs(Bugs {
            commit_old_term: true,
            ..Bugs::default()
        }),
    );
}

#[test]
fn finds_leader_local_reads() {
    let found = find(
        "leader-local-read",
        with_bugs(Bugs {
            leader_local_read: true,
            ..Bugs::default()
        }),
    );
    let v = found.shrunk.violation().expect("fails");
    assert_eq!(
        v.property,
        Property::LinearizableRead,
        "seed {}",
        found.seed
    );
}

#[test]
fn finds_repeated_votes_counted_twice() {
    let found = find(
        "count-repeated-votes",
        with_planted(Planted {
            count_repeated_votes: true,
            ..Planted::default()
        }),
    );
    assert!(
        found.shrunk.setup.nodes >= 4,
        "needs a quorum of three or more"
    );
}

#[test]
fn finds_votes_of_an_earlier_term_counted() {
    find(
        "count-stale-votes",
        with_planted(Planted {
            count_stale_votes: true,
            ..Planted::default()
        }),
    );
}

#[test]
fn finds_a_commit_index_beyond_the_verified_entries() {
    find(
        "commit-unverified-tail",
        with_planted(Planted {
            commit_unverified_tail: true,
            ..Planted::default()
        }),
    );
}

#[test]
fn finds_acknowledged_entries_truncated_by_a_late_append() {
    find(
        "truncate-after-append",
        with_planted(Planted {
            truncate_after_append: true,
            ..Planted::default()
        }),
    );
}

#[test]
fn finds_a_runtime_that_answers_before_persisting() {
    let found = find("send-before-persist", |seed| Setup {
        send_before_persist: true,
        ..Setup::from_seed(seed, Bugs::default())
    });
    let crashes_in_a_write = found
        .shrunk
        .actions
        .iter()
        .any(|a| matches!(a, Action::CrashInWrite { .. }));
    assert!(
        crashes_in_a_write,
        "only a torn write can lose what was sent"
    );
}

//! Re-checking a stored run: the checkers `faultline test` ran are run again on the
//! run folder's `history.jsonl`, and their verdicts replace those in `results.json`.
//!
//! `faultline report` does this in memory for a run that never wrote `results.json`
//! (it crashed or was killed), so that its page shows what the history proves instead
//! of a bare "unknown"; such a run is marked unfinished, so its verdict is `invalid`
//! when the history proves it and `unknown` otherwise, never `valid`.
//! `faultline report --recompute` and `faultline check RUN_DIR --update` write the new
//! verdicts back into `results.json`. The overall verdict follows the controller's
//! rule ([`overall_verdict`]): an interrupted run, or one with harness errors, is never
//! `valid`. The `recovery` checker's verdict is kept as recorded: its window (the
//! seconds after the final heal) is known only to the live run.

use workloads::check::CheckOptions;

use super::run::Run;
use crate::run::check::{check_ops, model_of};
use crate::run::results::{overall_verdict, CheckerReport, Results};

/// The harness error recorded for a run re-checked without its `results.json`.
pub const UNFINISHED: &str = "the run did not finish (it wrote no results.json); \
     these verdicts come from re-checking its history.jsonl";

/// Runs the checkers again on the run's history and puts their results, and the
/// overall verdict, into `run.results`. The model is `opts.model`, else the recorded
/// workload's, else inferred from the operations. A run with neither `results.json`
/// nor `test.json` has nothing to hold the results: the page then says so.
pub fn recheck(run: &mut Run, opts: &CheckOptions) {
    let mut opts = opts.clone();
    if opts.model.is_none() {
        opts.model = run.config().map(|c| model_of(c.workload));
    }
    if run.results.is_none() {
        let Some(test) = &run.test else {
            run.notes.push(
                "neither results.json nor test.json is present: the history cannot be \
                 re-checked into a run's results"
                    .to_string(),
            );
            return;
        };
        let mut results = Results::new(&test.config, &test.run_id, &test.started_at);
        results.harness_errors.push(UNFINISHED.to_string());
        run.results = Some(results);
    }
    let (mut checkers, report) = check_ops(&run.ops, &opts);
    let results = run.results.as_mut().expect("results were created above");
    // The recovery window is known only to the live run: its verdict is kept.
    checkers.extend(
        results
            .checkers
            .iter()
            .filter(|c| matches!(c.report, CheckerReport::Recovery(_)))
            .cloned(),
    );
    let broken = results.interrupted || !results.harness_errors.is_empty();
    results.verdict = overall_verdict(checkers.iter().map(|c| c.verdict), broken);
    results.checkers = checkers;
    results.check = report;
}

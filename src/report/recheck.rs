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
//! `valid`.

use serde_json::{json, Value as Json};
use workloads::check::CheckOptions;

use super::run::Run;
use crate::run::check::{check_ops, model_of};
use crate::run::config::WorkloadName;
use crate::run::results::overall_verdict;

/// The harness error recorded for a run re-checked without its `results.json`.
pub const UNFINISHED: &str = "the run did not finish (it wrote no results.json); \
     these verdicts come from re-checking its history.jsonl";

/// Runs the checkers again on the run's history and puts their results, and the
/// overall verdict, into `run.results`. The model is `opts.model`, else the recorded
/// workload's, else inferred from the operations.
pub fn recheck(run: &mut Run, opts: &CheckOptions) {
    let mut opts = opts.clone();
    if opts.model.is_none() {
        opts.model = run
            .field("workload")
            .and_then(|w| serde_json::from_value::<WorkloadName>(w.clone()).ok())
            .map(model_of);
    }
    let (checkers, report) = check_ops(&run.ops, &opts);
    if !run.results.is_object() {
        run.results = json!({ "harness_errors": [UNFINISHED] });
    }
    let results = &mut run.results;
    let broken = results.get("interrupted") == Some(&Json::Bool(true))
        || results
            .get("harness_errors")
            .and_then(Json::as_array)
            .is_some_and(|e| !e.is_empty());
    let verdict = overall_verdict(checkers.iter().map(|c| c.verdict), broken);
    if let Some(obj) = results.as_object_mut() {
        obj.insert("verdict".into(), json!(verdict));
        obj.insert("checkers".into(), json!(checkers));
        obj.insert("check".into(), report.unwrap_or(Json::Null));
    }
}

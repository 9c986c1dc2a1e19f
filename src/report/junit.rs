//! `junit.xml`, the one writer for every JUnit file faultline produces: a run's (one
//! test case per checker) and a campaign's (one test case per run).
//!
//! For a run, an `invalid` checker is a `<failure>` carrying its explanation; an
//! `unknown` one is an `<error>` (the run proved nothing, which must not pass
//! silently); harness errors are one more errored test case. A run without any
//! recorded checker gets a single `verdict` case reflecting the overall verdict.

use std::fmt::Write;

use super::escape::text;
use super::run::{CheckerResult, Verdict};

/// How one test case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// It passed.
    Passed,
    /// A `<failure>`: what was tested is wrong.
    Failure(Problem),
    /// An `<error>`: nothing could be concluded.
    Error(Problem),
    /// A `<skipped>` case, with why.
    Skipped(String),
}

/// What a failed or errored case says.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The `type` attribute (`invalid`, `unknown`, `harness`).
    pub kind: &'static str,
    /// The `message` attribute (one line).
    pub message: String,
    /// The element's text.
    pub detail: String,
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// Seconds it took.
    pub time_s: f64,
    /// How it ended.
    pub status: Status,
}

/// Renders a JUnit file holding one suite named `suite` (also the class name of every
/// case) inside `<testsuites name="{suites}">`.
pub fn render(suites: &str, suite: &str, time_s: f64, cases: &[Case]) -> String {
    let count = |f: fn(&Status) -> bool| cases.iter().filter(|c| f(&c.status)).count();
    let failures = count(|s| matches!(s, Status::Failure(_)));
    let errors = count(|s| matches!(s, Status::Error(_)));
    let skipped = count(|s| matches!(s, Status::Skipped(_)));
    let totals = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time_s:.3}\"",
        cases.len()
    );
    let suite = text(suite);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"{}\" {totals}>", text(suites));
    let _ = writeln!(out, "  <testsuite name=\"{suite}\" {totals}>");
    for case in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{:.3}\"",
            text(&case.name),
            case.time_s
        );
        let (tag, problem) = match &case.status {
            Status::Passed => {
                out.push_str("/>\n");
                continue;
            }
            Status::Skipped(why) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    text(why)
                );
                continue;
            }
            Status::Failure(p) => ("failure", p),
            Status::Error(p) => ("error", p),
        };
        let _ = writeln!(
            out,
            ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
            text(first_line(&problem.message)),
            problem.kind,
            text(&problem.detail)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The JUnit file of one run: a case per checker, plus one for harness errors.
pub fn render_run(
    test: &str,
    overall: Verdict,
    checkers: &[CheckerResult],
    harness_errors: &[String],
    duration_s: f64,
) -> String {
    let case = |name: &str, verdict: Verdict, why: String| Case {
        name: name.to_string(),
        time_s: duration_s,
        status: match verdict {
            Verdict::Valid => Status::Passed,
            Verdict::Invalid => Status::Failure(Problem {
                kind: "invalid",
                message: why.clone(),
                detail: why,
            }),
            Verdict::Unknown => Status::Error(Problem {
                kind: "unknown",
                message: why.clone(),
                detail: why,
            }),
        },
    };
    let mut cases: Vec<Case> = checkers
        .iter()
        .map(|c| case(&c.name, c.verdict, c.explanation()))
        .collect();
    if cases.is_empty() {
        let why = match overall {
            Verdict::Unknown => "no checker verdict was recorded".to_string(),
            other => format!("overall verdict {}", other.as_str()),
        };
        cases.push(case("verdict", overall, why));
    }
    if !harness_errors.is_empty() {
        cases.push(case("harness", Verdict::Unknown, harness_errors.join("\n")));
    }
    render(
        "faultline",
        &format!("faultline.{test}"),
        duration_s,
        &cases,
    )
}

/// The first line of a message (for the `message` attribute and one-line summaries).
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_checker_is_a_failure_with_escaped_explanation() {
        use crate::run::results::{CheckerError, CheckerReport, HistoryReport};
        let checkers = vec![
            CheckerResult {
                name: "linearizable".into(),
                verdict: Verdict::Invalid,
                report: CheckerReport::Failed(CheckerError {
                    error: "read of k1 saw <3> & not 4".into(),
                }),
            },
            CheckerResult {
                name: "history".into(),
                verdict: Verdict::Valid,
                report: CheckerReport::History(HistoryReport {
                    ops: 4,
                    problems: vec![],
                }),
            },
        ];
        let xml = render_run("reg", Verdict::Invalid, &checkers, &[], 1.5);
        assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""));
        assert!(xml.contains("<failure message=\"read of k1 saw &lt;3&gt; &amp; not 4\""));
        assert!(xml.contains("name=\"history\" time=\"1.500\"/>"));
    }

    #[test]
    fn no_checker_and_unknown_is_an_error() {
        let xml = render_run(
            "reg",
            Verdict::Unknown,
            &[],
            &["node n1 did not start".into()],
            0.0,
        );
        assert!(xml.contains("errors=\"2\""));
        assert!(xml.contains("no checker verdict was recorded"));
        assert!(xml.contains("node n1 did not start"));
    }

    #[test]
    fn skipped_and_multi_line_messages() {
        let cases = [
            Case {
                name: "a".into(),
                time_s: 0.5,
                status: Status::Skipped("not run: --fail-fast".into()),
            },
            Case {
                name: "b".into(),
                time_s: 1.0,
                status: Status::Error(Problem {
                    kind: "harness",
                    message: "exit 3\nmore".into(),
                    detail: "exit 3\nmore".into(),
                }),
            },
        ];
        let xml = render("s", "suite", 1.5, &cases);
        assert!(xml.contains("tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"1\""));
        assert!(xml.contains("<skipped message=\"not run: --fail-fast\"/>"));
        assert!(xml.contains("<error message=\"exit 3\" type=\"harness\">exit 3\nmore</error>"));
    }
}

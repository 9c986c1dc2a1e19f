//! `junit.xml`: one test suite per run and one test case per checker, so CI systems
//! show each checker's result. An `invalid` checker is a `<failure>` carrying its
//! explanation; an `unknown` one is an `<error>` (the run proved nothing, which must
//! not pass silently); harness errors are one more errored test case. A run without
//! any recorded checker gets a single `verdict` case reflecting the overall verdict.

use std::fmt::Write;

use super::escape::text;
use super::run::{CheckerResult, Verdict};

/// Renders the JUnit XML of a run.
pub fn render(
    test: &str,
    overall: Verdict,
    checkers: &[CheckerResult],
    harness_errors: &[String],
    duration_s: f64,
) -> String {
    let mut cases: Vec<(String, Verdict, String)> = checkers
        .iter()
        .map(|c| {
            let why = c.explanation.clone().unwrap_or_else(|| match c.verdict {
                Verdict::Valid => String::new(),
                Verdict::Invalid => format!("checker {} found a violation", c.name),
                Verdict::Unknown => format!("checker {} could not decide", c.name),
            });
            (c.name.clone(), c.verdict, why)
        })
        .collect();
    if cases.is_empty() {
        let why = match overall {
            Verdict::Unknown => "no checker verdict was recorded".to_string(),
            other => format!("overall verdict {}", other.as_str()),
        };
        cases.push(("verdict".to_string(), overall, why));
    }
    if !harness_errors.is_empty() {
        cases.push((
            "harness".to_string(),
            Verdict::Unknown,
            harness_errors.join("\n"),
        ));
    }
    let failures = cases.iter().filter(|c| c.1 == Verdict::Invalid).count();
    let errors = cases.iter().filter(|c| c.1 == Verdict::Unknown).count();
    let suite = text(&format!("faultline.{test}"));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{duration_s:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{duration_s:.3}\">",
        cases.len()
    );
    for (name, verdict, why) in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{duration_s:.3}\"",
            text(name)
        );
        match verdict {
            Verdict::Valid => out.push_str("/>\n"),
            Verdict::Invalid => {
                let _ = write!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"invalid\">{}</failure>\n    </testcase>\n",
                    text(first_line(why)),
                    text(why)
                );
            }
            Verdict::Unknown => {
                let _ = write!(
                    out,
                    ">\n      <error message=\"{}\" type=\"unknown\">{}</error>\n    </testcase>\n",
                    text(first_line(why)),
                    text(why)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// The first line of a message (for the `message` attribute).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_checker_is_a_failure_with_escaped_explanation() {
        let checkers = vec![
            CheckerResult {
                name: "linearizable".into(),
                verdict: Verdict::Invalid,
                explanation: Some("read of k1 saw <3> & not 4".into()),
                detail: serde_json::Value::Null,
            },
            CheckerResult {
                name: "lost-writes".into(),
                verdict: Verdict::Valid,
                explanation: None,
                detail: serde_json::Value::Null,
            },
        ];
        let xml = render("reg", Verdict::Invalid, &checkers, &[], 1.5);
        assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""));
        assert!(xml.contains("<failure message=\"read of k1 saw &lt;3&gt; &amp; not 4\""));
        assert!(xml.contains("name=\"lost-writes\" time=\"1.500\"/>"));
    }

    #[test]
    fn no_checker_and_unknown_is_an_error() {
        let xml = render(
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
}

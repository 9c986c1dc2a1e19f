//! `docs/results.schema.json` describes what a run folder's results.json holds: the
//! results.json of a real run and of rendered synthetic runs (the checker's real
//! reports plus the figures the report adds) must validate against it, and the schema
//! must describe every field the controller and the report write (its objects forbid
//! unknown properties and require every field of the Rust types).
//!
//! The validator here is deliberately small: `$ref` into `$defs`, `type` (also as a
//! list), `required`, `properties`, `additionalProperties`, `items`, `enum`, `const`,
//! `anyOf`, `minimum`/`maximum`: the keywords the schema uses.

mod common;
mod report_common;

use common::{finish, Sandbox};
use report_common::*;
use serde_json::Value as Json;

/// Checks `v` against `schema`, pushing errors with their JSON path.
fn validate(v: &Json, schema: &Json, root: &Json, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Json::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local refs only");
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "unresolved $ref {r}");
        return validate(v, target, root, path, errors);
    }
    if let Some(Json::Array(options)) = schema.get("anyOf") {
        let ok = options.iter().any(|o| {
            let mut e = Vec::new();
            validate(v, o, root, path, &mut e);
            e.is_empty()
        });
        if !ok {
            errors.push(format!("{path}: matches no anyOf option"));
        }
        return;
    }
    if let Some(c) = schema.get("const") {
        if v != c {
            errors.push(format!("{path}: expected {c}, found {v}"));
        }
    }
    if let Some(Json::Array(options)) = schema.get("enum") {
        if !options.contains(v) {
            errors.push(format!("{path}: {v} is not one of {options:?}"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Json::String(s) => vec![s.as_str()],
            Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        };
        let actual = match v {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        };
        let fits = types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !fits {
            errors.push(format!("{path}: expected {types:?}, found {actual}"));
            return;
        }
    }
    if let Some(n) = v.as_f64() {
        if schema
            .get("minimum")
            .and_then(Json::as_f64)
            .is_some_and(|m| n < m)
            || schema
                .get("maximum")
                .and_then(Json::as_f64)
                .is_some_and(|m| n > m)
        {
            errors.push(format!("{path}: {n} out of range"));
        }
    }
    if let Json::Object(map) = v {
        if let Some(Json::Array(req)) = schema.get("required") {
            for r in req.iter().filter_map(Json::as_str) {
                if !map.contains_key(r) {
                    errors.push(format!("{path}: missing required {r}"));
                }
            }
        }
        let props = schema.get("properties");
        for (k, x) in map {
            let p = format!("{path}.{k}");
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => validate(x, s, root, &p, errors),
                (None, Some(Json::Bool(false))) => {
                    errors.push(format!("{p}: not described by the schema"))
                }
                (None, Some(s)) if s.is_object() => validate(x, s, root, &p, errors),
                _ => {}
            }
        }
    }
    if let (Json::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, x) in items.iter().enumerate() {
            validate(x, s, root, &format!("{path}[{i}]"), errors);
        }
    }
}

/// The schema file.
fn schema() -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/results.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the schema is JSON")
}

/// Renders a run and validates its results.json.
fn rendered_results_validate(results: Json, ops: &[workloads::history::Op]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t/run");
    write_run(&dir, &test_spec("t", 1), Some(&results), ops);
    let out = faultline(&["report", dir.to_str().unwrap()]);
    // `report` exits with the run's verdict: 0, 1 or 2; 3 would be an error.
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = read_results(&dir);
    assert!(written.get("figures").is_some(), "figures were added");
    assert_fits_schema(&written);
}

/// The results.json of a run folder.
fn read_results(dir: &std::path::Path) -> Json {
    serde_json::from_str(&read(dir, "results.json")).unwrap()
}

/// Asserts that a results.json fits the schema, listing every misfit.
fn assert_fits_schema(written: &Json) {
    let schema = schema();
    let mut errors = Vec::new();
    validate(written, &schema, &schema, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "results.json does not fit the schema: {errors:#?}"
    );
}

#[test]
fn valid_run_results_fit_the_schema() {
    rendered_results_validate(valid_results(1), &valid_history());
}

#[test]
fn invalid_register_and_set_results_fit_the_schema() {
    rendered_results_validate(invalid_results(1), &stale_read_history());
    let ops = lost_add_history();
    rendered_results_validate(
        checked_results(&ops, workloads::model::ModelKind::Set, 1),
        &ops,
    );
}

/// A real run's results.json (controller fields and the figures its report added)
/// fits the schema, which forbids undescribed properties and requires every field
/// of the controller's types: the schema and the types cannot drift apart.
#[test]
fn a_real_runs_results_fit_the_schema() {
    let sb = Sandbox::new();
    let out = finish(
        sb.command(&["test", "--hosts", "loopback", "--time-limit", "3"])
            .args([
                "--workload",
                "set",
                "--nemesis",
                "kill",
                "--nemesis-interval",
                "1",
            ])
            .args(["--recovery-time", "1", "--seed", "5", "--results-dir"])
            .arg(sb.results()),
    );
    assert_eq!(out.code, 0, "the correct server is valid:\n{}", out.stderr);
    let written = read_results(&sb.latest());
    assert!(
        written.get("figures").is_some(),
        "the report added its figures"
    );
    assert!(
        !written["faults"].as_array().unwrap().is_empty(),
        "the nemesis ran, so faults are described too"
    );
    assert_fits_schema(&written);
}

#[test]
fn validator_catches_undescribed_and_mistyped_figures() {
    let schema = schema();
    let figures = &schema["$defs"]["figures"];
    let mut errors = Vec::new();
    let bad = serde_json::json!({"ops": {"total": {"invoke": "x"}}, "surprise": 1});
    validate(&bad, figures, &schema, "$", &mut errors);
    let text = errors.join("\n");
    assert!(
        text.contains("$.surprise: not described by the schema"),
        "{text}"
    );
    assert!(
        text.contains("$.ops.total.invoke: expected [\"integer\"], found string"),
        "{text}"
    );
    assert!(text.contains("missing required availability"), "{text}");
}

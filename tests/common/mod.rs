//! Helpers shared by the end-to-end tests that compare op streams of `faultline test` runs.

use std::collections::BTreeMap;

use serde_json::Value;

/// Client invocations per process: `(f, key, value)` in order.
pub fn invokes_by_process(ops: &[Value]) -> BTreeMap<u64, Vec<(String, String, String)>> {
    let mut out: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for op in ops {
        if op["type"] == "invoke" {
            if let Some(p) = op["process"].as_u64() {
                out.entry(p).or_default().push((
                    op["f"].to_string(),
                    op["key"].to_string(),
                    op["value"].to_string(),
                ));
            }
        }
    }
    out
}

//! Editing recorded traces, to show replay catches what changed.

/// Change the first recorded result of `import` in an announce that wrote, and
/// return the altered trace and the (call, step) that was altered.
pub fn alter_first(
    text: &str,
    import: &str,
    change: impl Fn(&mut serde_json::Value),
) -> (String, u64, usize) {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for line in lines.iter_mut().skip(1) {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        let wrote = record["steps"]
            .as_array()
            .is_some_and(|steps| steps.iter().any(|s| s["import"] == "kv.write-if-revision"));
        if record["export"] != "announce" || !wrote {
            continue;
        }
        let call = record["call"].as_u64().unwrap();
        let steps = record["steps"].as_array_mut().unwrap();
        if let Some(step) = steps.iter().position(|s| s["import"] == import) {
            change(&mut steps[step]["result"]);
            *line = serde_json::to_string(&record).unwrap();
            return (lines.join("\n") + "\n", call, step);
        }
    }
    panic!("no announce called {import}");
}

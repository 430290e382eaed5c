//! The Claude Code PreToolUse event, as its hooks reference documents it: which
//! file an editing tool is about to write, and who is asking.

use serde_json::Value;

/// The editing tools and the field of `tool_input` naming the file each writes.
/// (`MultiEdit` is gone from current Claude Code; older versions still send it.)
const EDITING_TOOLS: &[(&str, &str)] = &[
    ("Edit", "file_path"),
    ("Write", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// What the guard must decide about.
#[derive(Debug, PartialEq, Eq)]
pub struct Edit {
    /// The tool about to write (`Edit`, `Write`, ...).
    pub tool: String,
    /// The file, absolute (a relative one resolved against the event's `cwd`).
    pub file: String,
    /// The session's id: the agent when neither HOLDS_AGENT nor the process tree names one.
    pub session_id: Option<String>,
}

/// Read an event: `Ok(None)` for anything not ours to judge (another event, a
/// tool that writes no file the guard knows of); `Err` for input that is not a
/// PreToolUse event at all, or an editing tool's event without its file.
pub fn parse(text: &str) -> Result<Option<Edit>, String> {
    let event: Value = serde_json::from_str(text).map_err(|e| {
        format!("the hook input is not JSON ({e}); expected Claude Code's PreToolUse event")
    })?;
    let Some(event) = event.as_object() else {
        return Err(
            "the hook input is not a JSON object; expected Claude Code's PreToolUse event".into(),
        );
    };
    if let Some(name) = event.get("hook_event_name")
        && name != "PreToolUse"
    {
        return Ok(None);
    }
    let tool = match event.get("tool_name") {
        Some(Value::String(tool)) => tool,
        Some(other) => return Err(format!("tool_name is not a string: {other}")),
        None => {
            return Err(
                "the hook input has no tool_name; expected Claude Code's PreToolUse event".into(),
            );
        }
    };
    let Some((_, field)) = EDITING_TOOLS.iter().find(|(name, _)| name == tool) else {
        return Ok(None);
    };
    let file = match event.get("tool_input").and_then(|input| input.get(field)) {
        Some(Value::String(file)) if !file.is_empty() => file,
        Some(Value::String(_)) => return Err(format!("{tool}: tool_input.{field} is empty")),
        Some(other) => {
            return Err(format!(
                "{tool}: tool_input.{field} is not a string: {other}"
            ));
        }
        None => return Err(format!("{tool}: the hook input has no tool_input.{field}")),
    };
    let session_id = match event.get("session_id") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        _ => None,
    };
    let file = if file.starts_with('/') {
        file.clone()
    } else {
        match event.get("cwd") {
            Some(Value::String(cwd)) if cwd.starts_with('/') => {
                format!("{}/{file}", cwd.trim_end_matches('/'))
            }
            _ => {
                return Err(format!(
                    "{tool}: tool_input.{field} {file:?} is relative and the event has no absolute cwd to resolve it against"
                ));
            }
        }
    };
    Ok(Some(Edit {
        tool: tool.clone(),
        file,
        session_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(tool: &str, file: &str) -> Option<Edit> {
        Some(Edit {
            tool: tool.into(),
            file: file.into(),
            session_id: Some("s1".into()),
        })
    }

    #[test]
    fn every_editing_tool_names_its_file() {
        for tool in ["Edit", "Write", "MultiEdit"] {
            let text = format!(
                r#"{{"session_id":"s1","hook_event_name":"PreToolUse","tool_name":"{tool}","tool_input":{{"file_path":"/r/a.rs"}}}}"#
            );
            assert_eq!(parse(&text), Ok(edit(tool, "/r/a.rs")), "{tool}");
        }
        let text = r#"{"session_id":"s1","tool_name":"NotebookEdit","tool_input":{"notebook_path":"/r/n.ipynb","new_source":"x"}}"#;
        assert_eq!(parse(text), Ok(edit("NotebookEdit", "/r/n.ipynb")));
    }

    #[test]
    fn a_relative_path_is_resolved_against_cwd() {
        let text = r#"{"session_id":"s1","cwd":"/r/","tool_name":"Write","tool_input":{"file_path":"src/a.rs"}}"#;
        assert_eq!(parse(text), Ok(edit("Write", "/r/src/a.rs")));
        let text =
            r#"{"session_id":"s1","tool_name":"Write","tool_input":{"file_path":"src/a.rs"}}"#;
        assert!(parse(text).unwrap_err().contains("relative"));
    }

    #[test]
    fn other_tools_and_events_are_not_ours() {
        let bash = r#"{"tool_name":"Bash","tool_input":{"command":"echo > a.rs"}}"#;
        assert_eq!(parse(bash), Ok(None));
        let post = r#"{"hook_event_name":"PostToolUse","tool_name":"Edit","tool_input":{"file_path":"/a"}}"#;
        assert_eq!(parse(post), Ok(None));
    }

    #[test]
    fn input_that_is_no_event_is_an_error() {
        assert!(parse("{not json").unwrap_err().contains("not JSON"));
        assert!(parse("[1]").unwrap_err().contains("not a JSON object"));
        assert!(
            parse(r#"{"tool_input":{}}"#)
                .unwrap_err()
                .contains("no tool_name")
        );
        let no_path = r#"{"tool_name":"Edit","tool_input":{"old_string":"a"}}"#;
        assert!(
            parse(no_path)
                .unwrap_err()
                .contains("no tool_input.file_path")
        );
        let wrong_field = r#"{"tool_name":"NotebookEdit","tool_input":{"file_path":"/a"}}"#;
        assert!(parse(wrong_field).unwrap_err().contains("notebook_path"));
        let number = r#"{"tool_name":"Write","tool_input":{"file_path":7}}"#;
        assert!(parse(number).unwrap_err().contains("not a string"));
    }
}

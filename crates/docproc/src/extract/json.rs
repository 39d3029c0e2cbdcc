//! JSON → readable lines: each string or number under its path (`author.name: Ada`), arrays of
//! plain values joined, long strings as paragraphs of their own.

use serde_json::Value;

use super::ExtractError;

/// Strings at least this long are prose: they get a paragraph instead of a `key: value` line.
const PROSE_CHARS: usize = 80;

/// Nesting serde_json reads (its recursion limit); deeper documents are read by [`strings`].
pub const MAX_DEPTH: usize = 128;

/// The document's text, and a note when it was too deep to read with its paths.
#[inline(never)]
pub(super) fn to_text(text: &str) -> Result<(String, Option<String>), ExtractError> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            let note = format!(
                "JSON nested deeper than {MAX_DEPTH} levels: its string values were read without their paths"
            );
            return Ok((strings(text), Some(note)));
        }
        Err(e) => {
            return Err(ExtractError::Corrupt {
                format: "JSON",
                reason: e.to_string(),
            });
        }
    };
    let mut out = String::new();
    render(&value, &mut Vec::new(), &mut out);
    Ok((out, None))
}

/// Every string value of a JSON text (keys left out), a line each, found by scanning: memory
/// and stack stay flat however deep the nesting.
fn strings(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let literal = &rest[open..];
        // The closing quote: the first one not escaped.
        let mut escaped = false;
        let close = literal[1..].find(|c: char| {
            let end = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            end
        });
        let Some(close) = close else { break };
        let (literal, after) = literal.split_at(close + 2);
        rest = after;
        if after.trim_start().starts_with(':') {
            continue;
        }
        if let Ok(value) = serde_json::from_str::<String>(literal) {
            let value = value.trim();
            if !value.is_empty() {
                out.push_str(value);
                out.push('\n');
            }
        }
    }
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn render(value: &Value, path: &mut Vec<String>, out: &mut String) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                render(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let scalars: Option<Vec<String>> = items
                .iter()
                .map(|item| match item {
                    Value::String(s) if s.chars().count() >= PROSE_CHARS => None,
                    item => scalar(item),
                })
                .collect();
            match scalars {
                Some(values) if !values.is_empty() => line(path, &values.join(", "), out),
                _ => {
                    for item in items {
                        render(item, path, out);
                        if matches!(item, Value::Object(_)) {
                            out.push('\n');
                        }
                    }
                }
            }
        }
        Value::String(s) if s.chars().count() >= PROSE_CHARS => {
            out.push_str(s.trim());
            out.push_str("\n\n");
        }
        other => {
            if let Some(value) = scalar(other).filter(|v| !v.is_empty()) {
                line(path, &value, out);
            }
        }
    }
}

fn line(path: &[String], value: &str, out: &mut String) {
    if !path.is_empty() {
        out.push_str(&path.join("."));
        out.push_str(": ");
    }
    out.push_str(value);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_lists_and_prose() {
        let json = r#"{"title": "Quarterly report", "author": {"name": "Ada", "age": 36},
            "tags": ["finance", "q3"], "empty": null,
            "body": "Revenue grew by ten percent compared with the previous quarter, driven by new customers."}"#;
        assert_eq!(
            to_text(json).unwrap().0,
            "title: Quarterly report\nauthor.name: Ada\nauthor.age: 36\ntags: finance, q3\n\
             Revenue grew by ten percent compared with the previous quarter, driven by new customers.\n\n"
        );
    }

    #[test]
    fn arrays_of_objects_become_separate_blocks() {
        let json = r#"[{"name": "a"}, {"name": "b"}]"#;
        assert_eq!(to_text(json).unwrap().0, "name: a\n\nname: b\n\n");
    }

    #[test]
    fn json_deeper_than_its_limit_is_read_as_its_strings_and_says_so() {
        let json = format!(
            "{}{{\"k\": \"Deep \\\"quoted\\\" value.\", \"n\": [\"x\", 1]}}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (text, note) = to_text(&json).unwrap();
        assert_eq!(text, "Deep \"quoted\" value.\nx\n");
        assert!(note.unwrap().contains("deeper than 128 levels"));
        // Just within the limit: read with paths, no note.
        let json = format!(
            "{}\"a\"{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(to_text(&json).unwrap(), ("a\n".to_owned(), None));
    }

    #[test]
    fn invalid_json_is_corrupt() {
        assert!(matches!(
            to_text("{\"a\": "),
            Err(ExtractError::Corrupt { format: "JSON", .. })
        ));
    }
}

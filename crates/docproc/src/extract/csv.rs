//! CSV → one line per row that reads as a sentence: `name: Ada; role: engineer.`, using the
//! first row as the column names; as Markdown, a table.

use super::ExtractError;
use crate::markdown::Writer;

/// The text and the Markdown of a CSV document.
#[inline(never)]
pub(super) fn to_text(text: &str) -> Result<(String, Option<String>), ExtractError> {
    Ok((sentences(text)?, Some(table(text)?)))
}

fn table(text: &str) -> Result<String, ExtractError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let rows = reader
        .records()
        .map(|record| record.map(|r| r.iter().map(str::to_owned).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?;
    let mut w = Writer::new();
    w.table(&rows);
    Ok(w.finish())
}

fn sentences(text: &str) -> Result<String, ExtractError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(record) => record
            .map_err(corrupt)?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect(),
        None => return Ok(String::new()),
    };
    let mut out = String::with_capacity(text.len() * 2);
    for record in records {
        let record = record.map_err(corrupt)?;
        let fields: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(i, value)| match header.get(i).filter(|h| !h.is_empty()) {
                Some(name) => format!("{name}: {}", value.trim()),
                None => value.trim().to_owned(),
            })
            .collect();
        if fields.is_empty() {
            continue;
        }
        out.push_str(&fields.join("; "));
        out.push_str(".\n");
    }
    if out.is_empty() {
        // A single row: its cells are the content.
        out = header.join("; ");
    }
    Ok(out)
}

fn corrupt(e: ::csv::Error) -> ExtractError {
    ExtractError::Corrupt {
        format: "CSV",
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_sentences_with_column_names() {
        let csv = "name,role,city\nAda,engineer,London\n\"Grace, Rear Admiral\",programmer,\n";
        assert_eq!(
            sentences(csv).unwrap(),
            "name: Ada; role: engineer; city: London.\nname: Grace, Rear Admiral; role: programmer.\n"
        );
    }

    #[test]
    fn ragged_rows_and_a_lone_header_still_read() {
        assert_eq!(sentences("a,b\n1,2,3\n").unwrap(), "a: 1; b: 2; 3.\n");
        assert_eq!(sentences("only,one,row").unwrap(), "only; one; row");
        assert_eq!(sentences("").unwrap(), "");
    }

    #[test]
    fn the_markdown_is_a_table_with_the_first_row_as_header() {
        assert_eq!(
            table("name,role\nAda,\"engineer | lead\"\nGrace\n").unwrap(),
            "| name | role |\n| --- | --- |\n| Ada | engineer \\| lead |\n| Grace |"
        );
    }
}

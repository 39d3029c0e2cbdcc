//! A document's text as Markdown: the headings, lists, tables and paragraphs its format shows,
//! pages separated by a form feed (`\f`, as `pdftotext` writes them).
//!
//! Extractors describe blocks to a [`Writer`]; every piece of document text goes through
//! [`escape`], so a `*` or a `#` in a document is text, never markup. [`plain`] turns the
//! Markdown back into the plain text that is summarized and searched, page breaks kept.

/// Separates pages in both the Markdown and the plain text of a document.
pub const PAGE_BREAK: char = '\u{c}';

/// Builds a Markdown document block by block.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
    /// The last block was a list item or a table row: the next one of the same kind follows
    /// on the next line instead of after a blank line.
    last: Last,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Last {
    #[default]
    Nothing,
    Block,
    Item,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A heading of `level` 1 to 6 (deeper levels are written as 6).
    pub fn heading(&mut self, level: usize, text: &str) {
        let text = one_line(text);
        if text.is_empty() {
            return;
        }
        self.start(Last::Block);
        for _ in 0..level.clamp(1, 6) {
            self.out.push('#');
        }
        self.out.push(' ');
        self.out.push_str(&escape(&text));
    }

    /// A paragraph; its lines stay lines (Markdown reads them as one paragraph).
    pub fn paragraph(&mut self, text: &str) {
        let text = escape(text.trim());
        if text.is_empty() {
            return;
        }
        self.start(Last::Block);
        self.out.push_str(&text);
    }

    /// A list item, `depth` levels in (0 for the outer list), numbered when `number` is given.
    pub fn item(&mut self, depth: usize, number: Option<u64>, text: &str) {
        let text = one_line(text);
        if text.is_empty() {
            return;
        }
        self.start(Last::Item);
        for _ in 0..depth.min(8) {
            self.out.push_str("    ");
        }
        match number {
            Some(n) => {
                self.out.push_str(&n.to_string());
                self.out.push_str(". ");
            }
            None => self.out.push_str("- "),
        }
        self.out.push_str(&escape(&text));
    }

    /// A table, its first row the header, padded to the longest row (Markdown reads no more
    /// columns than the header has; shorter rows need no padding, so a wide row costs one row
    /// of padding, not one per row). Cells are kept on one line each.
    pub fn table<R, C>(&mut self, rows: &[R])
    where
        R: AsRef<[C]>,
        C: AsRef<str>,
    {
        // Written row by row, each cell escaped as it is written: a sheet's cells are not
        // copied whole.
        let has_text = |row: &&R| row.as_ref().iter().any(|c| !c.as_ref().trim().is_empty());
        let width = rows
            .iter()
            .filter(has_text)
            .map(|row| row.as_ref().len())
            .max()
            .unwrap_or(0);
        if width == 0 {
            return;
        }
        self.start(Last::Block);
        for (i, row) in rows.iter().filter(has_text).enumerate() {
            let row = row.as_ref();
            if i > 0 {
                self.out.push('\n');
            }
            self.out.push('|');
            let columns = if i == 0 { width } else { row.len() };
            for column in 0..columns {
                self.out.push(' ');
                if let Some(cell) = row.get(column) {
                    self.out.push_str(&escape(&one_line(cell.as_ref())));
                }
                self.out.push_str(" |");
            }
            if i == 0 {
                self.out.push_str("\n|");
                for _ in 0..width {
                    self.out.push_str(" --- |");
                }
            }
        }
    }

    /// Text that is already Markdown (a Markdown document's own), written as it is.
    pub fn markdown(&mut self, markdown: &str) {
        let markdown = markdown.trim_matches('\n');
        if markdown.trim().is_empty() {
            return;
        }
        self.start(Last::Block);
        self.out.push_str(markdown);
    }

    /// Ends a page; blocks after it are on the next one.
    pub fn page_break(&mut self) {
        while self.out.ends_with(['\n', ' ']) {
            self.out.pop();
        }
        self.out.push_str("\n\u{c}\n");
        self.last = Last::Nothing;
    }

    pub fn is_empty(&self) -> bool {
        self.out.trim().is_empty()
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn finish(mut self) -> String {
        while self.out.ends_with(['\n', ' ', PAGE_BREAK]) {
            self.out.pop();
        }
        self.out
    }

    fn start(&mut self, kind: Last) {
        match (self.last, kind) {
            (Last::Nothing, _) => {}
            (Last::Item, Last::Item) => self.out.push('\n'),
            _ => self.out.push_str("\n\n"),
        }
        self.last = kind;
    }
}

/// `text` on one line: its runs of white space, line breaks included, as one space.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `text` with every character Markdown could read as markup escaped, line by line: inline
/// markers anywhere, block markers (`#`, `>`, list bullets and numbers, rules) where a line
/// starts. Leading and trailing spaces of lines are dropped (they would be code or breaks).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        for (c, escaped) in marked(line.trim_matches([' ', '\t', '\r'])) {
            if escaped {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Whether `text` reads differently as Markdown than as plain text (and so needs [`escape`]).
pub fn needs_escape(text: &str) -> bool {
    text.split('\n').any(|line| {
        // An indented line would be code; trailing spaces are at most a line break.
        line.starts_with(['\t'])
            || line.starts_with("    ")
            // Markup is ASCII: only those bytes are looked at closely.
            || line
                .bytes()
                .enumerate()
                .any(|(i, b)| b.is_ascii_punctuation() && is_markup(line, i, char::from(b)))
    })
}

/// The characters of a line, each with whether Markdown could read it as markup.
fn marked(line: &str) -> impl Iterator<Item = (char, bool)> + '_ {
    line.char_indices().map(|(i, c)| (c, is_markup(line, i, c)))
}

/// Whether `c`, at byte `i` of `line`, could be read as markup.
fn is_markup(line: &str, i: usize, c: char) -> bool {
    let next = || line[i + c.len_utf8()..].chars().next();
    match c {
        '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => true,
        '!' => next() == Some('['),
        '#' | '-' | '=' => i == 0,
        '+' => i == 0 && next().is_none_or(char::is_whitespace),
        // `1.` or `1)` opening a line would start a numbered list.
        '.' | ')' => {
            i > 0
                && line[..i].bytes().all(|b| b.is_ascii_digit())
                && next().is_none_or(char::is_whitespace)
        }
        _ => false,
    }
}

/// Markdown is turned into text this many bytes at a time, split where a block ends (or
/// between a table's rows): the parser's tree of a whole long document, or of a sheet's table,
/// would take many times the text's size.
const PLAIN_CHUNK_BYTES: usize = 256 * 1024;

/// The plain text of Markdown: the words a reader sees, one block per paragraph, no markup;
/// pages stay separated by [`PAGE_BREAK`].
pub fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for (n, page) in markdown.split(PAGE_BREAK).enumerate() {
        if n > 0 {
            out.push_str("\n\u{c}\n");
        }
        plain_page(page, &mut out);
    }
    out
}

/// A table's header and delimiter rows: the start of a table.
fn is_delimiter_row(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('|')
        && line.contains('-')
        && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// One page of Markdown as text, appended to `out`, parsed chunk by chunk.
fn plain_page(page: &str, out: &mut String) {
    let page_start = out.len();
    let mut chunk = String::new();
    // A chunk that starts with a table's header and delimiter rows again, to continue the
    // table: its header's line is left out of the text.
    let mut replayed = false;
    let mut fenced = false;
    let mut table: Option<String> = None;
    // A replayed chunk continues the table the last one ended in: its rows follow on the
    // next line.
    let mut flush = |chunk: &mut String, replayed: bool| {
        let text = crate::extract::markdown_to_text(chunk);
        let text = if replayed {
            text.split_once('\n').map_or("", |(_, rest)| rest)
        } else {
            text.as_str()
        };
        if !text.is_empty() {
            if out.len() > page_start {
                out.push_str(if replayed { "\n" } else { "\n\n" });
            }
            out.push_str(text);
        }
        chunk.clear();
    };
    let mut lines = page.split('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
        }
        if !fenced {
            if table.is_some() && !trimmed.starts_with('|') {
                table = None;
            } else if table.is_none()
                && trimmed.starts_with('|')
                && lines.peek().is_some_and(|next| is_delimiter_row(next))
            {
                let delimiter = lines.peek().copied().unwrap_or_default();
                table = Some(format!("{line}\n{delimiter}\n"));
            }
        }
        if chunk.len() > PLAIN_CHUNK_BYTES && !fenced {
            match &table {
                Some(head) if !is_delimiter_row(line) && !chunk.ends_with(head.as_str()) => {
                    flush(&mut chunk, replayed);
                    chunk.push_str(head);
                    replayed = true;
                }
                None if line.trim().is_empty() => {
                    flush(&mut chunk, replayed);
                    replayed = false;
                    continue;
                }
                _ => {}
            }
        }
        chunk.push_str(line);
        chunk.push('\n');
    }
    flush(&mut chunk, replayed);
}

/// Plain text as Markdown, when it needs any: each block (text between blank lines) a
/// paragraph, pages kept. `None` when the text reads the same as Markdown.
pub fn from_plain(text: &str) -> Option<String> {
    if !needs_escape(text) {
        return None;
    }
    let mut w = Writer::new();
    for (n, page) in text.split(PAGE_BREAK).enumerate() {
        if n > 0 {
            w.page_break();
        }
        for block in page.split("\n\n") {
            w.paragraph(block);
        }
    }
    Some(w.finish())
}

/// How many pages `text` (Markdown or plain) has.
pub fn page_count(text: &str) -> usize {
    text.split(PAGE_BREAK).count()
}

/// Page `number` (from 1) of `text`, without the breaks around it.
pub fn page(text: &str, number: usize) -> Option<&str> {
    let index = number.checked_sub(1)?;
    text.split(PAGE_BREAK)
        .nth(index)
        .map(|page| page.trim_matches('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of `text`, for comparing texts whose white space may differ.
    fn words(text: &str) -> Vec<&str> {
        text.split_whitespace().collect()
    }

    #[test]
    fn blocks_are_written_as_markdown() {
        let mut w = Writer::new();
        w.heading(1, "Quarterly  report");
        w.paragraph("Sales rose.\nCosts fell.");
        w.item(0, None, "first");
        w.item(1, Some(2), "nested");
        w.table(&[vec!["Name", "Role"], vec!["Ada", "engineer"], vec!["Grace"]]);
        w.page_break();
        w.heading(9, "Deep");
        assert_eq!(
            w.finish(),
            "# Quarterly report\n\nSales rose.\nCosts fell.\n\n- first\n    2. nested\n\n\
             | Name | Role |\n| --- | --- |\n| Ada | engineer |\n| Grace |\n\u{c}\n###### Deep"
        );
    }

    #[test]
    fn document_text_is_never_markup() {
        let tricky = [
            "# not a heading",
            "- not an item",
            "+ nor this",
            "1. not a number list",
            "2) nor this",
            "> not a quote",
            "a *b* _c_ **d** `e` ~~f~~",
            "[link](https://example.com) ![img](x.png) <https://example.com>",
            "<script>alert(1)</script> <b>bold</b>",
            "a | b | c",
            "&amp; &#65; &copy;",
            "back\\slash\\*",
            "===",
            "---",
            "    indented code?",
            "snake_case_name and 3.14 and v1.2)",
            "3.14 is not a list, nor is 2)x",
            "+1 for this",
        ];
        for text in tricky {
            let mut w = Writer::new();
            w.paragraph(text);
            let markdown = w.finish();
            assert_eq!(
                words(&plain(&markdown)),
                words(text),
                "{text:?} as {markdown:?}"
            );
        }
    }

    #[test]
    fn plain_text_needs_markdown_of_its_own_only_when_it_has_markup() {
        assert_eq!(from_plain("Sales rose.\nCosts fell.\n\nA 3.5% rise."), None);
        assert_eq!(
            from_plain("Sales *rose*.\n\n# 1\u{c}  next page").as_deref(),
            Some("Sales \\*rose\\*.\n\n\\# 1\n\u{c}\nnext page")
        );
    }

    #[test]
    fn table_cells_and_items_keep_their_text() {
        let mut w = Writer::new();
        w.table(&[vec!["a|b", "*c*"], vec!["1. d", "e"]]);
        w.item(0, None, "# f");
        let text = plain(&w.finish());
        assert_eq!(words(&text), ["a|b", "*c*", "1.", "d", "e", "•", "#", "f"]);
    }

    #[test]
    fn one_wide_row_pads_the_header_only() {
        let mut rows = vec![vec!["x"; 10_000]];
        rows.extend((0..10_000).map(|_| vec!["y"]));
        let mut w = Writer::new();
        w.table(&rows);
        assert!(w.len() < 200_000, "{} bytes", w.len());
    }

    #[test]
    fn long_documents_and_tables_read_the_same_in_chunks() {
        let mut w = Writer::new();
        let rows: Vec<Vec<String>> = (0..40_000)
            .map(|n| vec![format!("row {n}"), format!("*cell* {n}")])
            .collect();
        w.paragraph("Before the table.");
        w.table(&rows);
        for n in 0..20_000 {
            w.paragraph(&format!("Paragraph {n} says something."));
        }
        let markdown = w.finish();
        assert!(markdown.len() > 4 * PLAIN_CHUNK_BYTES);
        let text = plain(&markdown);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Before the table.");
        assert_eq!(lines[2], "row 0\t*cell* 0");
        assert_eq!(lines[2 + 39_999], "row 39999\t*cell* 39999");
        // Every row once, in order, the header not repeated.
        let rows_read: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("row "))
            .collect();
        assert_eq!(rows_read.len(), 40_000);
        assert!(rows_read.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(text.matches("Paragraph ").count(), 20_000);
        assert!(text.ends_with("Paragraph 19999 says something."));
    }

    #[test]
    fn pages_survive_both_ways() {
        let mut w = Writer::new();
        w.paragraph("one");
        w.page_break();
        w.page_break();
        w.paragraph("three");
        let markdown = w.finish();
        assert_eq!(page_count(&markdown), 3);
        assert_eq!(page(&markdown, 1), Some("one"));
        assert_eq!(page(&markdown, 2), Some(""));
        assert_eq!(page(&markdown, 3), Some("three"));
        assert_eq!(page(&markdown, 0), None);
        assert_eq!(page(&markdown, 4), None);
        let text = plain(&markdown);
        assert_eq!(page_count(&text), 3);
        assert_eq!(page(&text, 3), Some("three"));
    }
}

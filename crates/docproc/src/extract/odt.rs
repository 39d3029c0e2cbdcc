//! OpenDocument text (`.odt`) as Markdown. Read from the archive:
//!
//! - `content.xml`, the body (`office:body/office:text`): headings (`text:h` at their
//!   `text:outline-level`, and paragraphs of the `Title` style at level 1); paragraphs; lists
//!   (`text:list`, nested ones deeper), numbered where their list style numbers that level and
//!   bulleted otherwise; tables (a row per `table:table-row`, a cell per `table:table-cell`, a
//!   cell's paragraphs one line, nested tables text of their cell); footnotes and endnotes
//!   (`text:note`) under "Notes" at the end, numbered in the order of the text, footnotes first
//!   (the body shows no markers);
//! - list styles: the automatic ones of `content.xml` and those of `styles.xml`, when there is
//!   one. A list without a style it can find is bulleted.
//!
//! Left out: deleted text of tracked changes (`text:tracked-changes`), comments
//! (`office:annotation`), tables of contents and indexes (generated from the text), headers
//! and footers (in the master pages of `styles.xml`), titles and descriptions of images, and
//! embedded objects. Text boxes' paragraphs are lines of the paragraph they are anchored in. A
//! cell repeated by `table:number-columns-repeated` is read once. Pages are not marked: ODF
//! sets page breaks through paragraph styles. Every part is read through one bound on
//! decompressed bytes.

use std::collections::{HashMap, HashSet};
use std::mem::take;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::archive::{Parts, attr, join};
use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

const FORMAT: &str = "OpenDocument text";
const CONTENT: &str = "content.xml";

/// `text:s` writes at most this many spaces: Markdown shows no runs of spaces, and an
/// unbounded count would let a few bytes of XML write gigabytes.
const MAX_SPACES: u64 = 8;

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    let content = parts
        .read(CONTENT)?
        .ok_or_else(|| corrupt(format!("the archive has no {CONTENT}")))?;
    let mut styles = Styles::default();
    if let Some(xml) = parts.read("styles.xml")? {
        styles.read(&xml)?;
    }
    styles.read(&content)?;
    Body::read(&content, &styles)
}

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

/// What the styles say about how blocks are written.
#[derive(Debug, Default)]
struct Styles {
    /// (list style, level from 1) → the number of its first item, for the numbered levels.
    numbered: HashMap<(String, usize), u64>,
    /// Paragraph styles that make a title: `Title` and automatic styles based on it.
    titles: HashSet<String>,
}

impl Styles {
    /// Takes in the list and paragraph styles of `xml`, up to its body.
    fn read(&mut self, xml: &str) -> Result<(), ExtractError> {
        let mut list: Option<String> = None;
        let mut reader = Reader::from_str(xml);
        loop {
            match reader.read_event().map_err(corrupt)? {
                Event::Start(e) if e.name().as_ref() == "office:body" => break,
                Event::Start(e) if e.name().as_ref() == "text:list-style" => {
                    list = attr(&e, "style:name");
                }
                Event::End(e) if e.name().as_ref() == "text:list-style" => list = None,
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    "text:list-level-style-number" => {
                        let level = attr(&e, "text:level").and_then(|l| l.parse().ok());
                        // An empty format shows no number.
                        let shown = attr(&e, "style:num-format").is_some_and(|f| !f.is_empty());
                        if let (Some(list), Some(level), true) = (&list, level, shown) {
                            let start = attr(&e, "text:start-value").and_then(|n| n.parse().ok());
                            self.numbered
                                .insert((list.clone(), level), start.unwrap_or(1));
                        }
                    }
                    "style:style" => {
                        let name = attr(&e, "style:name");
                        let titled = name.as_deref() == Some("Title")
                            || attr(&e, "style:parent-style-name").as_deref() == Some("Title");
                        let paragraph = attr(&e, "style:family").as_deref() == Some("paragraph");
                        if let (Some(name), true) = (name, titled && paragraph) {
                            self.titles.insert(name);
                        }
                    }
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(())
    }
}

/// An open `text:list`.
#[derive(Debug)]
struct List {
    /// Its own style, or the one of the list it is in.
    style: Option<String>,
}

/// An open `text:list-item`.
#[derive(Debug)]
struct Item {
    depth: usize,
    number: Option<u64>,
    /// Its paragraphs before anything else in it, one line.
    text: String,
    /// Whether its text is out: paragraphs after a nested list or table are paragraphs.
    written: bool,
}

#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
    /// Tables open inside this one: their text goes into its cell.
    nested: usize,
}

/// A footnote or endnote being read.
#[derive(Debug)]
struct Note {
    endnote: bool,
    text: String,
}

/// Where reading the body has got to.
#[derive(Debug)]
struct Body<'s> {
    styles: &'s Styles,
    w: Writer,
    /// In `office:text`.
    in_body: bool,
    /// Paragraphs and headings open: more than one inside a text box, whose paragraphs are
    /// lines of the paragraph around it.
    paragraphs: usize,
    /// The open paragraph's heading level, if it is one, and its text.
    heading: Option<usize>,
    text: String,
    lists: Vec<List>,
    items: Vec<Item>,
    /// The number of the last numbered item at each depth of the open list.
    numbers: Vec<Option<u64>>,
    /// `numbers` of the last list, for a list that continues its numbering.
    continued: Vec<Option<u64>>,
    table: Option<Table>,
    note: Option<Note>,
    footnotes: Vec<String>,
    endnotes: Vec<String>,
    /// The depth of the last block written, when it is a list item.
    last_item: Option<usize>,
    /// Elements open inside one whose content is left out.
    skipped: usize,
}

impl<'s> Body<'s> {
    fn read(xml: &str, styles: &'s Styles) -> Result<String, ExtractError> {
        let mut r = Body {
            styles,
            w: Writer::new(),
            in_body: false,
            paragraphs: 0,
            heading: None,
            text: String::new(),
            lists: Vec::new(),
            items: Vec::new(),
            numbers: Vec::new(),
            continued: Vec::new(),
            table: None,
            note: None,
            footnotes: Vec::new(),
            endnotes: Vec::new(),
            last_item: None,
            skipped: 0,
        };
        let mut found = false;
        let mut reader = Reader::from_str(xml);
        loop {
            let event = reader.read_event().map_err(corrupt)?;
            if r.skipped > 0 {
                match event {
                    Event::Start(_) => r.skipped += 1,
                    Event::End(_) => r.skipped -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                continue;
            }
            if !r.in_body {
                match event {
                    Event::Start(e) if e.name().as_ref() == "office:text" => {
                        r.in_body = true;
                        found = true;
                    }
                    Event::Eof => break,
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Start(e) => r.start(&e),
                Event::Empty(e) => r.empty(&e),
                Event::End(e) => r.end(e.name().as_ref()),
                Event::Text(t) => r.push_collapsed(&t.into_inner()),
                Event::GeneralRef(g) => match g.resolve_char_ref() {
                    Ok(Some(c)) => r.push(c),
                    // A predefined entity (`&amp;` …); ODF declares no others.
                    Ok(None) => r.push_str(resolve_xml_entity(&g).unwrap_or_default()),
                    // A reference to no character is left out.
                    Err(_) => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        if !found {
            return Err(corrupt(format!("{CONTENT} has no text body (office:text)")));
        }
        Ok(r.finish())
    }

    /// Whether lists and tables starting here are structure: not inside a paragraph, a table
    /// or a note, where they are only text.
    fn structural(&self) -> bool {
        self.paragraphs == 0 && self.table.is_none() && self.note.is_none()
    }

    fn start(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            "text:tracked-changes"
            | "office:annotation"
            | "text:note-citation"
            | "office:binary-data"
            | "svg:title"
            | "svg:desc"
            | "draw:object"
            | "text:table-of-content"
            | "text:alphabetical-index"
            | "text:illustration-index"
            | "text:table-index"
            | "text:object-index"
            | "text:user-index"
            | "text:bibliography" => self.skipped = 1,
            "text:note" if self.note.is_none() => {
                self.note = Some(Note {
                    endnote: attr(e, "text:note-class").as_deref() == Some("endnote"),
                    text: String::new(),
                });
            }
            // A note's paragraphs are one line of the note.
            "text:p" | "text:h" if self.note.is_some() => {}
            "text:p" | "text:h" => {
                if self.paragraphs > 0 && !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.text.push('\n');
                }
                if self.paragraphs == 0 {
                    self.heading = match e.name().as_ref() {
                        "text:h" => Some(
                            attr(e, "text:outline-level")
                                .and_then(|l| l.parse().ok())
                                .unwrap_or(1),
                        ),
                        _ => attr(e, "text:style-name")
                            .filter(|style| self.styles.titles.contains(style))
                            .map(|_| 1),
                    };
                }
                self.paragraphs += 1;
            }
            "text:list" if self.structural() => {
                let style = attr(e, "text:style-name")
                    .or_else(|| self.lists.last().and_then(|list| list.style.clone()));
                if self.lists.is_empty() {
                    let continues = attr(e, "text:continue-numbering").as_deref() == Some("true")
                        || attr(e, "text:continue-list").is_some();
                    self.numbers = if continues {
                        take(&mut self.continued)
                    } else {
                        Vec::new()
                    };
                }
                // The text of the item it is in comes before it.
                self.write_item();
                self.lists.push(List { style });
            }
            "text:list-item" | "text:list-header" if self.structural() => {
                let depth = self.lists.len().saturating_sub(1);
                let number = match e.name().as_ref() {
                    "text:list-item" => self.count(depth, attr(e, "text:start-value")),
                    _ => None,
                };
                self.items.push(Item {
                    depth,
                    number,
                    text: String::new(),
                    written: false,
                });
            }
            "table:table" => {
                if let Some(table) = &mut self.table {
                    table.nested += 1;
                } else if self.structural() {
                    self.write_item();
                    self.table = Some(Table::default());
                }
            }
            _ => self.element(e),
        }
    }

    /// An empty element.
    fn empty(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            // A cell with nothing in it (a covered one is merged into another) keeps its column.
            "table:table-cell" | "table:covered-table-cell" => {
                if let Some(table) = self.table.as_mut().filter(|t| t.nested == 0) {
                    table.row.push(String::new());
                }
            }
            _ => self.element(e),
        }
    }

    /// An element read the same whether empty or not.
    fn element(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            "text:s" => {
                let count: u64 = attr(e, "text:c").and_then(|c| c.parse().ok()).unwrap_or(1);
                for _ in 0..count.min(MAX_SPACES) {
                    self.push(' ');
                }
            }
            "text:tab" => self.push('\t'),
            "text:line-break" => self.push('\n'),
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "text:note" => {
                if let Some(note) = self.note.take() {
                    let text = note.text.trim().to_owned();
                    if !text.is_empty() {
                        match note.endnote {
                            true => self.endnotes.push(text),
                            false => self.footnotes.push(text),
                        }
                    }
                }
            }
            "text:p" | "text:h" => self.end_paragraph(),
            "text:list" if self.structural() && !self.lists.is_empty() => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.continued = take(&mut self.numbers);
                }
            }
            "text:list-item" | "text:list-header" if self.structural() => {
                self.write_item();
                self.items.pop();
            }
            "table:table-cell" | "table:covered-table-cell" | "table:table-row" | "table:table" => {
                let Some(table) = &mut self.table else {
                    return;
                };
                match name {
                    _ if table.nested > 0 => table.nested -= usize::from(name == "table:table"),
                    "table:table-row" => {
                        let row = take(&mut table.row);
                        table.rows.push(row);
                    }
                    "table:table" => {
                        let rows = take(&mut table.rows);
                        self.table = None;
                        self.w.table(&rows);
                        self.last_item = None;
                    }
                    _ => {
                        let cell = take(&mut table.cell);
                        table.row.push(cell);
                    }
                }
            }
            "office:text" => self.in_body = false,
            _ => {}
        }
    }

    /// The number of the next item at `depth` of the open list, `None` for a bullet. An item
    /// ends the numbering of the levels below it.
    fn count(&mut self, depth: usize, start_value: Option<String>) -> Option<u64> {
        self.numbers.truncate(depth + 1);
        self.numbers.resize(depth + 1, None);
        let style = self.lists.last()?.style.clone()?;
        let start = *self.styles.numbered.get(&(style, depth + 1))?;
        let last = self.numbers.last_mut()?;
        let number = match start_value.and_then(|n| n.parse().ok()) {
            Some(number) => number,
            None => last.map_or(start, |n| n.saturating_add(1)),
        };
        *last = Some(number);
        Some(number)
    }

    /// Where text goes now: a note, else the open paragraph; `None` outside both.
    fn sink(&mut self) -> Option<&mut String> {
        match &mut self.note {
            Some(note) => Some(&mut note.text),
            None if self.paragraphs > 0 => Some(&mut self.text),
            None => None,
        }
    }

    fn push(&mut self, c: char) {
        if let Some(text) = self.sink() {
            text.push(c);
        }
    }

    fn push_str(&mut self, s: &str) {
        if let Some(text) = self.sink() {
            text.push_str(s);
        }
    }

    /// Character data: ODF reads each run of white space in it as one space.
    fn push_collapsed(&mut self, s: &str) {
        let Some(text) = self.sink() else {
            return;
        };
        for c in s.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                if !text.is_empty() && !text.ends_with([' ', '\t', '\n']) {
                    text.push(' ');
                }
            } else {
                text.push(c);
            }
        }
    }

    fn end_paragraph(&mut self) {
        if let Some(note) = &mut self.note {
            note.text.push(' ');
            return;
        }
        self.paragraphs = self.paragraphs.saturating_sub(1);
        if self.paragraphs > 0 {
            self.text.push('\n');
            return;
        }
        let text = take(&mut self.text);
        let text = text.trim();
        let heading = self.heading.take();
        if text.is_empty() {
            return;
        }
        if let Some(table) = &mut self.table {
            join(&mut table.cell, text);
            return;
        }
        if let Some(level) = heading {
            self.write_item();
            self.w.heading(level, text);
            self.last_item = None;
            return;
        }
        match self.items.last_mut() {
            Some(item) if !item.written => join(&mut item.text, text),
            _ => {
                self.w.paragraph(text);
                self.last_item = None;
            }
        }
    }

    /// Writes the text of the innermost open item, if it is not out yet. An item is at most one
    /// level deeper than the item before it: an item deeper than that after a paragraph would
    /// read as code.
    fn write_item(&mut self) {
        let Some(item) = self.items.last_mut() else {
            return;
        };
        if item.written {
            return;
        }
        item.written = true;
        if item.text.is_empty() {
            return;
        }
        let depth = item.depth.min(self.last_item.map_or(0, |last| last + 1));
        self.w.item(depth, item.number, &item.text);
        self.last_item = Some(depth);
    }

    fn finish(mut self) -> String {
        let notes = [take(&mut self.footnotes), take(&mut self.endnotes)].concat();
        if !notes.is_empty() {
            self.w.heading(2, "Notes");
            for (n, note) in (1..).zip(&notes) {
                self.w.item(0, Some(n), note);
            }
        }
        self.w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OpenDocument text of these parts (name, XML), its mimetype first and stored.
    fn odt_with(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut all = vec![("mimetype", "application/vnd.oasis.opendocument.text")];
        all.extend_from_slice(parts);
        super::super::archive::zipped(&all)
    }

    /// `content.xml` with these automatic styles and this body.
    fn content(styles: &str, body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb" xmlns:style="s" xmlns:draw="d" xmlns:svg="v" xmlns:dc="dc">
            <office:automatic-styles>{styles}</office:automatic-styles>
            <office:body><office:text><text:sequence-decls><text:sequence-decl text:display-outline-level="0" text:name="Table"/></text:sequence-decls>
            {body}</office:text></office:body></office:document-content>"#
        )
    }

    fn markdown(parts: &[(&str, &str)]) -> String {
        to_markdown(&odt_with(parts), &ExtractLimits::default()).unwrap()
    }

    const LIST_STYLES: &str = r#"
        <style:style style:name="P1" style:family="paragraph" style:parent-style-name="Title"/>
        <text:list-style style:name="L1">
            <text:list-level-style-bullet text:level="1" text:bullet-char="•"/>
            <text:list-level-style-number text:level="2" style:num-format="1"/>
        </text:list-style>
        <text:list-style style:name="L2">
            <text:list-level-style-number text:level="1" style:num-format="1" text:start-value="3"/>
            <text:list-level-style-number text:level="2" style:num-format=""/>
        </text:list-style>"#;

    #[test]
    fn reads_headings_paragraphs_lists_tables_and_notes() {
        let body = r#"
            <text:p text:style-name="P1">Lighthouses</text:p>
            <text:h text:style-name="Heading_20_1" text:outline-level="2">The   keepers</text:h>
            <text:p text:style-name="Standard">Keepers kept   logs<text:note text:id="ftn1" text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>See the <text:span>*log*</text:span> book.</text:p><text:p>Kept in Leith.</text:p></text:note-body></text:note>
                of every <text:span text:style-name="T1">storm</text:span>.<text:s text:c="2"/>Two&amp;one<text:tab/>tab<text:line-break/>next line<office:annotation><dc:creator>Ed</dc:creator><text:p>a comment</text:p></office:annotation></text:p>
            <text:p/>
            <text:list xml:id="list1" text:style-name="L1">
                <text:list-item><text:p>Oil</text:p>
                    <text:list><text:list-item><text:p>Whale oil</text:p></text:list-item><text:list-item><text:p>Colza oil</text:p></text:list-item></text:list>
                    <text:p>Stored in the cellar.</text:p>
                </text:list-item>
                <text:list-item><text:p>Food</text:p><text:p>and water</text:p>
                    <text:list><text:list-item><text:p>Bread</text:p></text:list-item></text:list>
                </text:list-item>
            </text:list>
            <table:table table:name="Table1"><table:table-column table:number-columns-repeated="2"/>
                <table:table-header-rows><table:table-row><table:table-cell office:value-type="string"><text:p>Light</text:p></table:table-cell><table:table-cell><text:p>Built</text:p></table:table-cell></table:table-row></table:table-header-rows>
                <table:table-row><table:table-cell><text:p>Bell Rock</text:p><text:p>Scotland<text:note text:note-class="endnote"><text:note-citation>i</text:note-citation><text:note-body><text:p>Stevenson's.</text:p></text:note-body></text:note></text:p></table:table-cell>
                    <table:table-cell><table:table><table:table-row><table:table-cell><text:p>1810</text:p></table:table-cell><table:table-cell><text:p>stone</text:p></table:table-cell></table:table-row></table:table></table:table-cell></table:table-row>
                <table:table-row><table:table-cell table:number-columns-spanned="2"><text:p>Eddystone</text:p></table:table-cell><table:covered-table-cell/></table:table-row>
            </table:table>
            <text:p>After the table.<text:note text:note-class="footnote"><text:note-citation>2</text:note-citation><text:note-body><text:p>Gales of 1881.</text:p></text:note-body></text:note></text:p>"#;
        assert_eq!(
            markdown(&[(CONTENT, &content(LIST_STYLES, body))]),
            "# Lighthouses\n\n## The keepers\n\n\
             Keepers kept logs of every storm.  Two&one\ttab\nnext line\n\n\
             - Oil\n    1. Whale oil\n    2. Colza oil\n\nStored in the cellar.\n\n\
             - Food and water\n    1. Bread\n\n\
             | Light | Built |\n| --- | --- |\n| Bell Rock Scotland | 1810 stone |\n| Eddystone |  |\n\n\
             After the table.\n\n## Notes\n\n1. See the \\*log\\* book. Kept in Leith.\n\
             2. Gales of 1881.\n3. Stevenson's."
                .replace("Two&one", "Two\\&one")
        );
    }

    #[test]
    fn list_numbers_start_continue_and_restart_as_their_styles_say() {
        let item = |text: &str| format!("<text:list-item><text:p>{text}</text:p></text:list-item>");
        let body = [
            format!(
                r#"<text:list text:style-name="L2">{}{}<text:list-item><text:p>five</text:p><text:list>{}</text:list></text:list-item></text:list>"#,
                item("three"),
                item("four"),
                item("unnumbered level")
            ),
            "<text:p>Between.</text:p>".into(),
            format!(
                r#"<text:list text:style-name="L2" text:continue-numbering="true">{}</text:list>"#,
                item("six")
            ),
            format!(
                r#"<text:list text:style-name="L2"><text:list-item text:start-value="9"><text:p>nine</text:p></text:list-item>{}</text:list>"#,
                item("ten")
            ),
            format!(r#"<text:list text:style-name="Unknown">{}</text:list>"#, item("bullet")),
            "<text:p>Then.</text:p>".into(),
            format!(
                "<text:list><text:list-item><text:list>{}</text:list></text:list-item></text:list>",
                item("only nested")
            ),
        ]
        .concat();
        assert_eq!(
            markdown(&[(CONTENT, &content(LIST_STYLES, &body))]),
            "3. three\n4. four\n5. five\n    - unnumbered level\n\nBetween.\n\n6. six\n\
             9. nine\n10. ten\n- bullet\n\nThen.\n\n- only nested"
        );
    }

    #[test]
    fn list_styles_of_styles_xml_count_and_headings_in_lists_stay_headings() {
        let styles = r#"<office:document-styles xmlns:office="o" xmlns:text="t" xmlns:style="s">
            <office:styles><style:style style:name="Title" style:family="paragraph"/>
            <text:list-style style:name="Numbering_20_123">
            <text:list-level-style-number text:level="1" style:num-format="1"/></text:list-style>
            </office:styles></office:document-styles>"#;
        let body = r#"<text:list text:style-name="Outline"><text:list-item><text:h text:outline-level="1">Chapter</text:h></text:list-item></text:list>
            <text:p text:style-name="Title">Title style</text:p>
            <text:list text:style-name="Numbering_20_123"><text:list-item><text:p>first</text:p></text:list-item></text:list>"#;
        assert_eq!(
            markdown(&[(CONTENT, &content("", body)), ("styles.xml", styles)]),
            "# Chapter\n\n# Title style\n\n1. first"
        );
    }

    #[test]
    fn tracked_deletions_indexes_and_image_descriptions_are_left_out() {
        let body = r#"<text:tracked-changes><text:changed-region text:id="c1"><text:deletion><office:change-info/><text:p>deleted words</text:p></text:deletion></text:changed-region></text:tracked-changes>
            <text:table-of-content text:name="TOC"><text:index-body><text:p>Keepers 1</text:p></text:index-body></text:table-of-content>
            <text:p>Kept<text:change text:change-id="c1"/> text.<draw:frame><draw:text-box><text:p>Boxed</text:p></draw:text-box></draw:frame><draw:frame><draw:image><office:binary-data>AAAA</office:binary-data></draw:image><svg:title>A picture</svg:title><svg:desc>Described</svg:desc></draw:frame></text:p>"#;
        assert_eq!(
            markdown(&[(CONTENT, &content("", body))]),
            "Kept text.\nBoxed"
        );
    }

    #[test]
    fn runs_of_spaces_are_bounded() {
        let body = r#"<text:p>a<text:s text:c="4000000000"/>b</text:p>"#;
        assert_eq!(
            markdown(&[(CONTENT, &content("", body))]),
            format!("a{}b", " ".repeat(MAX_SPACES as usize))
        );
    }

    #[test]
    fn missing_or_broken_content_is_corrupt_and_named() {
        let err = |parts: &[(&str, &str)]| {
            to_markdown(&odt_with(parts), &ExtractLimits::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[("styles.xml", "<x/>")]),
            "the OpenDocument text is corrupt: the archive has no content.xml"
        );
        assert_eq!(
            err(&[(
                CONTENT,
                r#"<office:document-content><office:body><office:spreadsheet/></office:body></office:document-content>"#
            )]),
            "the OpenDocument text is corrupt: content.xml has no text body (office:text)"
        );
        let broken = err(&[(CONTENT, &content("", "<text:p>open</text:h>"))]);
        assert!(
            broken.starts_with("the OpenDocument text is corrupt: "),
            "{broken}"
        );
    }

    #[test]
    fn a_document_without_text_is_empty() {
        assert_eq!(markdown(&[(CONTENT, &content("", "<text:p/>"))]), "");
    }
}

//! Word documents (`.docx`) as Markdown. Read from the archive:
//!
//! - `word/document.xml`, the body: paragraphs; headings (by style or `w:outlineLvl`); list items
//!   (`w:numPr`, `w:ilvl` their depth); tables (`w:tbl`, a row per `w:tr`, a cell per `w:tc`,
//!   nested tables as text of their cell); explicit page breaks (`w:br w:type="page"`,
//!   `w:pageBreakBefore`);
//! - `word/styles.xml`, when there is one: headings whose style id is not `Title` or `HeadingN`
//!   but whose name is, and lists and outline levels a style sets;
//! - `word/numbering.xml`, when there is one: whether a list is bulleted or numbered (bulleted
//!   without it);
//! - `word/header*.xml` before the body and `word/footer*.xml` after it, in name order, each
//!   distinct text once and page numbers left out;
//! - `word/footnotes.xml`, then `word/endnotes.xml`, under "Notes" at the end, numbered in the
//!   order the body refers to them (the body shows no markers).
//!
//! Deleted and moved-away text, hidden runs and field codes are left out. Every part is read
//! through one bound on decompressed bytes for all of them, so a zip bomb fails instead of
//! exhausting memory.

use std::collections::{HashMap, HashSet};
use std::mem::take;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::archive::{Parts, attr};
use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

const BODY: &str = "word/document.xml";

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    let body = parts
        .read(BODY)?
        .ok_or_else(|| corrupt(format!("the archive has no {BODY}")))?;
    let body = Part::parse(&body, true)?;
    let mut layout = Layout {
        styles: parts
            .read("word/styles.xml")?
            .map_or(Ok(HashMap::new()), |xml| styles(&xml))?,
        numbering: parts
            .read("word/numbering.xml")?
            .map(|xml| numbering(&xml))
            .transpose()?,
        counts: HashMap::new(),
    };
    let headers = headers_or_footers(&mut parts, "word/header")?;
    let footers = headers_or_footers(&mut parts, "word/footer")?;
    let mut notes = notes_in(&mut parts, "word/footnotes.xml", &body.footnotes)?;
    notes.extend(notes_in(&mut parts, "word/endnotes.xml", &body.endnotes)?);

    let mut w = Writer::new();
    for blocks in &headers {
        layout.write(&mut w, blocks);
    }
    layout.write(&mut w, &body.blocks);
    for blocks in &footers {
        layout.write(&mut w, blocks);
    }
    if !notes.is_empty() {
        w.heading(2, "Notes");
        // One list: endnotes number on from the footnotes, as Markdown would show them anyway.
        for (n, note) in (1..).zip(&notes) {
            w.item(0, Some(n), note);
        }
    }
    Ok(w.finish())
}

const FORMAT: &str = "Word document";

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

/// The blocks of the headers (or footers) named `{prefix}….xml`, each distinct text once:
/// first-page, even-page and default ones often say the same. Page numbers say nothing.
fn headers_or_footers(parts: &mut Parts, prefix: &str) -> Result<Vec<Vec<Block>>, ExtractError> {
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for name in parts.names(prefix) {
        let Some(xml) = parts.read(&name)? else {
            continue;
        };
        let blocks = Part::parse(&xml, false)?.blocks;
        let text = words(&blocks);
        let page_number = text
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace());
        if !page_number && seen.insert(text) {
            kept.push(blocks);
        }
    }
    Ok(kept)
}

/// The text of each note of the notes part `name`, in the order of `references` (ids in the
/// order the body refers to them); notes never referred to come last, in their own order.
fn notes_in(
    parts: &mut Parts,
    name: &str,
    references: &[String],
) -> Result<Vec<String>, ExtractError> {
    let Some(xml) = parts.read(name)? else {
        return Ok(Vec::new());
    };
    let mut notes: Vec<(String, Vec<Block>)> = Vec::new();
    for block in Part::parse(&xml, false)?.blocks {
        match block {
            Block::Note(id) => notes.push((id, Vec::new())),
            block => {
                if let Some((_, blocks)) = notes.last_mut() {
                    blocks.push(block);
                }
            }
        }
    }
    // Reversed, so the first reference to a note is the one kept.
    let first: HashMap<&str, usize> = references
        .iter()
        .enumerate()
        .rev()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    notes.sort_by_key(|(id, _)| first.get(id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(notes
        .iter()
        .map(|(_, blocks)| words(blocks))
        .filter(|text| !text.is_empty())
        .collect())
}

/// The words of `blocks`, one space apart: a note's text, or what tells headers apart.
fn words(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut add = |text: &str| {
        for word in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    };
    for block in blocks {
        match block {
            Block::Paragraph(_, text) => add(text),
            Block::Table(rows) => rows.iter().flatten().for_each(|cell| add(cell)),
            Block::PageBreak | Block::Note(_) => {}
        }
    }
    out
}

/// A part of the document, block by block.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    /// A paragraph's properties and its text; never blank.
    Paragraph(Props, String),
    /// Rows of cells, the first the header.
    Table(Vec<Vec<String>>),
    PageBreak,
    /// A footnote or endnote with this id starts (in a notes part).
    Note(String),
}

/// What a paragraph's properties (`w:pPr`), or its style's, say about how it is written.
#[derive(Debug, Clone, Default, PartialEq)]
struct Props {
    style: Option<String>,
    /// `w:outlineLvl`: 0 for a top-level heading, 9 for body text.
    outline: Option<usize>,
    /// `w:numPr`: the list (`0` for none) and the level in it.
    num_id: Option<String>,
    ilvl: Option<usize>,
    page_break_before: bool,
}

impl Props {
    /// Takes in one element of `w:pPr`; any other is ignored.
    fn read(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            "w:pStyle" => self.style = val(e),
            "w:outlineLvl" => self.outline = val(e).and_then(|v| v.parse().ok()),
            "w:numId" => self.num_id = val(e),
            "w:ilvl" => self.ilvl = val(e).and_then(|v| v.parse().ok()),
            "w:pageBreakBefore" => self.page_break_before = is_on(e),
            _ => {}
        }
    }
}

/// One part read into blocks, with the notes its text refers to.
#[derive(Debug, Default)]
struct Part {
    blocks: Vec<Block>,
    /// Ids of the footnotes and endnotes referred to, in the order of the text.
    footnotes: Vec<String>,
    endnotes: Vec<String>,
}

/// Where reading a part has got to.
#[derive(Debug, Default)]
struct PartReader {
    part: Part,
    /// Whether page breaks count: in the body, not in headers, footers or notes.
    pages: bool,
    /// The open paragraph's properties and text.
    props: Props,
    text: String,
    /// Paragraphs open: more than one inside a text box, whose paragraphs are lines of the
    /// paragraph around it.
    paragraphs: usize,
    table: Option<Table>,
    in_text: bool,
    /// In a run hidden by `w:vanish`.
    hidden: bool,
    /// Elements open inside one whose content is left out.
    skipped: usize,
}

#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
    /// Tables open inside this one: their text goes into its cell.
    nested: usize,
}

impl Part {
    /// The blocks of a part's XML; `pages`: whether its page breaks count (the body's).
    fn parse(xml: &str, pages: bool) -> Result<Part, ExtractError> {
        let mut r = PartReader {
            pages,
            ..PartReader::default()
        };
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
            match event {
                Event::Start(e) => r.start(&e),
                Event::Empty(e) => r.element(&e),
                Event::End(e) => r.end(e.name().as_ref()),
                Event::Text(t) if r.in_text && !r.hidden => r.text.push_str(&t.into_inner()),
                Event::GeneralRef(g) if r.in_text && !r.hidden => match g.resolve_char_ref() {
                    Ok(Some(c)) => r.text.push(c),
                    // A predefined entity (`&amp;` …); Word declares no others.
                    Ok(None) => r
                        .text
                        .push_str(resolve_xml_entity(&g.into_inner()).unwrap_or_default()),
                    // A reference to no character is left out.
                    Err(_) => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(r.part)
    }
}

impl PartReader {
    fn start(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            // Deleted and moved-away text, properties before a tracked change, tab stops, and
            // the fallback copy of what `mc:Choice` already holds (text boxes twice over).
            "w:del" | "w:moveFrom" | "w:pPrChange" | "w:rPrChange" | "w:tabs" | "mc:Fallback" => {
                self.skipped = 1;
            }
            "w:footnote" | "w:endnote" => {
                let id = attr(e, "w:id").unwrap_or_default();
                // Separators (typed) and ids -1 and 0 are not notes.
                let separator = attr(e, "w:type").is_some_and(|kind| kind != "normal");
                if separator || id == "-1" || id == "0" {
                    self.skipped = 1;
                } else {
                    self.part.blocks.push(Block::Note(id));
                }
            }
            "w:p" => self.paragraphs += 1,
            "w:r" => self.hidden = false,
            "w:t" => self.in_text = true,
            "w:tbl" if self.paragraphs == 0 => match &mut self.table {
                Some(table) => table.nested += 1,
                None => self.table = Some(Table::default()),
            },
            _ => self.element(e),
        }
    }

    /// An element read the same whether empty or not.
    fn element(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            "w:tab" => self.push('\t'),
            "w:br" if attr(e, "w:type").as_deref() == Some("page") => self.page_break(),
            "w:br" | "w:cr" => self.push('\n'),
            "w:noBreakHyphen" => self.push('-'),
            "w:vanish" => self.hidden = is_on(e),
            // Left out of the text: the notes are written at the end.
            "w:footnoteReference" => self.part.footnotes.extend(attr(e, "w:id")),
            "w:endnoteReference" => self.part.endnotes.extend(attr(e, "w:id")),
            // Not a text box's paragraph.
            _ if self.paragraphs == 1 => self.props.read(e),
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "w:t" => self.in_text = false,
            "w:p" => self.end_paragraph(),
            "w:tc" | "w:tr" | "w:tbl" if self.paragraphs == 0 => {
                let Some(table) = &mut self.table else {
                    return;
                };
                match name {
                    _ if table.nested > 0 => table.nested -= usize::from(name == "w:tbl"),
                    "w:tc" => table.row.push(take(&mut table.cell)),
                    "w:tr" => table.rows.push(take(&mut table.row)),
                    _ => {
                        let rows = take(&mut table.rows);
                        self.table = None;
                        self.part.blocks.push(Block::Table(rows));
                    }
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, c: char) {
        if !self.hidden {
            self.text.push(c);
        }
    }

    fn end_paragraph(&mut self) {
        self.paragraphs = self.paragraphs.saturating_sub(1);
        if self.paragraphs > 0 {
            self.text.push('\n');
        } else if let Some(table) = &mut self.table {
            // A cell's paragraphs (and its nested tables') are one line.
            self.props = Props::default();
            let text = take(&mut self.text);
            let text = text.trim();
            if !text.is_empty() {
                if !table.cell.is_empty() {
                    table.cell.push(' ');
                }
                table.cell.push_str(text);
            }
        } else {
            self.flush();
        }
    }

    /// Ends the open paragraph's block, after a page break if it asks for one.
    fn flush(&mut self) {
        let props = take(&mut self.props);
        let text = take(&mut self.text);
        if props.page_break_before && self.pages {
            self.part.blocks.push(Block::PageBreak);
        }
        if !text.trim().is_empty() {
            self.part.blocks.push(Block::Paragraph(props, text));
        }
    }

    /// `w:br w:type="page"`: text before it is a block of its own, text after it a plain
    /// paragraph. In a table, a text box or outside the body it is a line break.
    fn page_break(&mut self) {
        if !self.pages || self.table.is_some() || self.paragraphs != 1 {
            self.push('\n');
            return;
        }
        if !self.text.trim().is_empty() {
            self.flush();
        }
        self.part.blocks.push(Block::PageBreak);
    }
}

/// How blocks are written: the styles and lists they refer to, and the list items so far.
#[derive(Debug)]
struct Layout {
    styles: HashMap<String, Style>,
    /// `None` without `word/numbering.xml`: every list is bulleted.
    numbering: Option<Numbering>,
    /// Items so far per list and level.
    counts: HashMap<(String, usize), u64>,
}

impl Layout {
    fn write(&mut self, w: &mut Writer, blocks: &[Block]) {
        // Page breaks go between blocks: one before the first or after the last is no page.
        let mut breaks = 0;
        let mut started = false;
        for block in blocks {
            match block {
                Block::PageBreak => {
                    breaks += 1;
                    continue;
                }
                Block::Note(_) => continue,
                Block::Paragraph(..) | Block::Table(_) => {}
            }
            if started {
                (0..breaks).for_each(|_| w.page_break());
            }
            breaks = 0;
            started = true;
            match block {
                Block::Paragraph(props, text) => self.paragraph(w, props, text),
                Block::Table(rows) => w.table(rows),
                Block::PageBreak | Block::Note(_) => {}
            }
        }
    }

    /// A heading if its properties or style say so, else a list item if it has a list, else
    /// a paragraph.
    fn paragraph(&mut self, w: &mut Writer, props: &Props, text: &str) {
        let style = props.style.as_deref().and_then(|id| self.styles.get(id));
        if let Some(level) = heading_level(props, style) {
            return w.heading(level, text);
        }
        let of_style = style.map(|style| &style.props);
        let list = props
            .num_id
            .as_ref()
            .or(of_style.and_then(|p| p.num_id.as_ref()))
            .filter(|id| *id != "0")
            .cloned();
        match list {
            Some(list) => {
                let depth = props.ilvl.or(of_style.and_then(|p| p.ilvl)).unwrap_or(0);
                let number = self.number(list, depth);
                w.item(depth, number, text);
            }
            None => w.paragraph(text),
        }
    }

    /// The number of the next item of `list` at `depth`, `None` for a bullet. An item restarts
    /// the counts of the levels below it.
    fn number(&mut self, list: String, depth: usize) -> Option<u64> {
        self.counts.retain(|(id, d), _| *id != list || *d <= depth);
        let level = self.numbering.as_ref()?.level(&list, depth)?;
        if level.bullet {
            return None;
        }
        let count = self
            .counts
            .entry((list, depth))
            .or_insert(level.start.saturating_sub(1));
        *count = count.saturating_add(1);
        Some(*count)
    }
}

/// A paragraph's heading level: its own outline level, else its style's id or name (`Title`,
/// `Heading1`, "heading 1"), else its style's outline level.
fn heading_level(props: &Props, style: Option<&Style>) -> Option<usize> {
    let outline = |props: &Props| props.outline.filter(|&level| level < 9).map(|l| l + 1);
    outline(props)
        .or_else(|| props.style.as_deref().and_then(named_heading))
        .or_else(|| {
            style
                .and_then(|s| s.name.as_deref())
                .and_then(named_heading)
        })
        .or_else(|| style.and_then(|s| outline(&s.props)))
}

fn named_heading(name: &str) -> Option<usize> {
    let name = name.to_ascii_lowercase();
    if name == "title" {
        return Some(1);
    }
    let level: usize = name.strip_prefix("heading")?.trim_start().parse().ok()?;
    (level > 0).then_some(level)
}

/// A paragraph style of `word/styles.xml`.
#[derive(Debug, Default)]
struct Style {
    name: Option<String>,
    props: Props,
}

fn styles(xml: &str) -> Result<HashMap<String, Style>, ExtractError> {
    let mut styles = HashMap::new();
    let mut open: Option<(String, Style)> = None;
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) if e.name().as_ref() == "w:style" => {
                open = attr(&e, "w:styleId").map(|id| (id, Style::default()));
            }
            Event::End(e) if e.name().as_ref() == "w:style" => styles.extend(open.take()),
            Event::Start(e) | Event::Empty(e) => {
                if let Some((_, style)) = &mut open {
                    match e.name().as_ref() {
                        "w:name" => style.name = val(&e),
                        _ => style.props.read(&e),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(styles)
}

/// `word/numbering.xml`: each list's abstract definition, and their levels.
#[derive(Debug, Default)]
struct Numbering {
    /// `w:num` id → `w:abstractNum` id.
    lists: HashMap<String, String>,
    /// `w:abstractNum` id → level → its format.
    levels: HashMap<String, HashMap<usize, Level>>,
    /// `w:num` id → level → the format it overrides its definition's with.
    overrides: HashMap<String, HashMap<usize, Level>>,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    bullet: bool,
    start: u64,
}

impl Numbering {
    fn level(&self, list: &str, depth: usize) -> Option<Level> {
        let own = |levels: &HashMap<String, HashMap<usize, Level>>, id: &str| {
            levels.get(id)?.get(&depth).copied()
        };
        own(&self.overrides, list).or_else(|| own(&self.levels, self.lists.get(list)?))
    }
}

fn numbering(xml: &str) -> Result<Numbering, ExtractError> {
    let mut numbering = Numbering::default();
    // The open `w:abstractNum`, `w:num`, and `w:lvl` in either.
    let (mut definition, mut level, mut list) = (None, None, None);
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) if e.name().as_ref() == "w:abstractNum" => {
                definition = attr(&e, "w:abstractNumId");
            }
            Event::Start(e) if e.name().as_ref() == "w:lvl" => {
                let depth = attr(&e, "w:ilvl").and_then(|v| v.parse::<usize>().ok());
                level = depth.map(|depth| {
                    let format = Level {
                        bullet: false,
                        start: 1,
                    };
                    (depth, format)
                });
            }
            Event::Start(e) if e.name().as_ref() == "w:num" => list = attr(&e, "w:numId"),
            Event::Start(e) | Event::Empty(e) => match (e.name().as_ref(), &mut level) {
                ("w:numFmt", Some((_, format))) => {
                    format.bullet = val(&e).as_deref() == Some("bullet")
                }
                ("w:start", Some((_, format))) => {
                    format.start = val(&e).and_then(|v| v.parse().ok()).unwrap_or(1);
                }
                ("w:abstractNumId", _) => {
                    if let (Some(list), Some(definition)) = (&list, val(&e)) {
                        numbering.lists.insert(list.clone(), definition);
                    }
                }
                _ => {}
            },
            Event::End(e) => match e.name().as_ref() {
                "w:lvl" => {
                    let levels = match (&definition, &list) {
                        (Some(definition), _) => numbering.levels.entry(definition.clone()),
                        (None, Some(list)) => numbering.overrides.entry(list.clone()),
                        (None, None) => continue,
                    };
                    if let Some((depth, format)) = level.take() {
                        levels.or_default().insert(depth, format);
                    }
                }
                "w:abstractNum" => definition = None,
                "w:num" => list = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(numbering)
}

fn val(e: &BytesStart) -> Option<String> {
    attr(e, "w:val")
}

/// Whether an on/off property is on: present, and not `0`, `false` or `off`.
fn is_on(e: &BytesStart) -> bool {
    !matches!(val(e).as_deref(), Some("0" | "false" | "off"))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;
    use crate::markdown::page_count;

    /// The plain text of the document's Markdown.
    fn to_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
        to_markdown(bytes, limits).map(|markdown| crate::markdown::plain(&markdown))
    }

    /// A Word document of these parts (name, XML).
    fn docx_with(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut buffer = Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("[Content_Types].xml", options).unwrap();
        writer.write_all(b"<Types/>").unwrap();
        for (name, xml) in parts {
            writer.start_file(*name, options).unwrap();
            writer.write_all(xml.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        buffer.into_inner()
    }

    fn docx(document_xml: &str) -> Vec<u8> {
        docx_with(&[(BODY, document_xml)])
    }

    /// `word/document.xml` with `body` as its body.
    fn document(body: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>{body}</w:body></w:document>"#
        )
    }

    fn markdown(parts: &[(&str, &str)]) -> String {
        to_markdown(&docx_with(parts), &ExtractLimits::default()).unwrap()
    }

    const BODY_XML: &str = r#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>
        <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Annual report</w:t></w:r></w:p>
        <w:p><w:r><w:t xml:space="preserve">Profits rose </w:t></w:r><w:r><w:t>&amp; costs fell.</w:t></w:r></w:p>
        <w:p><w:r><w:t>Col A</w:t><w:tab/><w:t>Col B</w:t><w:br/><w:t>next line</w:t></w:r></w:p>
        <w:p><w:del><w:r><w:delText>deleted words</w:delText></w:r></w:del></w:p>
        </w:body></w:document>"#;

    #[test]
    fn entities_and_character_references_are_resolved() {
        let xml = r#"<w:document><w:body><w:p><w:r><w:t>&quot;A&quot; &lt;b&gt; &#x263A; &#65;&apos;s &#xD800;</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(
            Part::parse(xml, true).unwrap().blocks,
            [Block::Paragraph(
                Props::default(),
                "\"A\" <b> \u{263A} A's ".into()
            )]
        );
    }

    #[test]
    fn reads_paragraphs_in_order() {
        let bytes = docx(BODY_XML);
        assert_eq!(
            to_markdown(&bytes, &ExtractLimits::default()).unwrap(),
            "# Annual report\n\nProfits rose \\& costs fell.\n\nCol A\tCol B\nnext line"
        );
        // A line break is a line of its paragraph, which reads on as one in plain text.
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(
            text,
            "Annual report\n\nProfits rose & costs fell.\n\nCol A\tCol B next line"
        );
    }

    #[test]
    fn headings_come_from_style_ids_style_names_and_outline_levels() {
        let styles = r#"<w:styles xmlns:w="x">
            <w:style w:type="paragraph" w:styleId="Kop2"><w:name w:val="heading 2"/></w:style>
            <w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/></w:style>
            <w:style w:type="paragraph" w:styleId="Chapter"><w:name w:val="Chapter"/>
                <w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
            </w:styles>"#;
        let body = document(
            r#"<w:p><w:pPr><w:pStyle w:val="Titel"/></w:pPr><w:r><w:t>Lighthouses</w:t></w:r></w:p>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>History</w:t></w:r></w:p>
            <w:p><w:pPr><w:pStyle w:val="Kop2"/></w:pPr><w:r><w:t>Keepers</w:t></w:r></w:p>
            <w:p><w:pPr><w:outlineLvl w:val="3"/></w:pPr><w:r><w:t>Outlined</w:t></w:r></w:p>
            <w:p><w:pPr><w:pStyle w:val="Chapter"/></w:pPr><w:r><w:t>By style outline</w:t></w:r></w:p>
            <w:p><w:pPr><w:pStyle w:val="Heading9"/></w:pPr><w:r><w:t>Nine</w:t></w:r></w:p>
            <w:p><w:pPr><w:outlineLvl w:val="9"/></w:pPr><w:r><w:t>Body level.</w:t></w:r></w:p>
            <w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:t>Body text.</w:t></w:r></w:p>"#,
        );
        assert_eq!(
            markdown(&[(BODY, &body), ("word/styles.xml", styles)]),
            "# Lighthouses\n\n# History\n\n## Keepers\n\n#### Outlined\n\n### By style outline\n\n\
             ###### Nine\n\nBody level.\n\nBody text."
        );
    }

    /// A paragraph of list `num` at level `ilvl`.
    fn item(num: u32, ilvl: u32, text: &str) -> String {
        format!(
            r#"<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num}"/></w:numPr></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>"#
        )
    }

    #[test]
    fn lists_are_bulleted_or_numbered_as_numbering_xml_says_and_nest() {
        let numbering = r#"<w:numbering xmlns:w="x">
            <w:abstractNum w:abstractNumId="10">
                <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/></w:lvl>
                <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/></w:lvl>
            </w:abstractNum>
            <w:abstractNum w:abstractNumId="20">
                <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/></w:lvl>
                <w:lvl w:ilvl="1"><w:numFmt w:val="lowerLetter"/></w:lvl>
            </w:abstractNum>
            <w:num w:numId="1"><w:abstractNumId w:val="10"/></w:num>
            <w:num w:numId="2"><w:abstractNumId w:val="20"/></w:num>
            <w:num w:numId="3"><w:abstractNumId w:val="20"/>
                <w:lvlOverride w:ilvl="0"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/></w:lvl></w:lvlOverride>
            </w:num>
            </w:numbering>"#;
        let styles = r#"<w:styles xmlns:w="x"><w:style w:type="paragraph" w:styleId="ListBullet">
            <w:name w:val="List Bullet"/><w:pPr><w:numPr><w:numId w:val="1"/></w:numPr></w:pPr>
            </w:style></w:styles>"#;
        let body = document(&[
            item(1, 0, "Oil"),
            item(1, 1, "Whale oil"),
            item(1, 1, "Colza oil"),
            item(1, 0, "Food"),
            item(1, 1, "Bread"),
            r#"<w:p><w:pPr><w:pStyle w:val="ListParagraph"/></w:pPr><w:r><w:t>Not an item.</w:t></w:r></w:p>"#.into(),
            item(2, 0, "Light the lamp"),
            item(2, 1, "Trim the wick"),
            item(2, 0, "Wind the clock"),
            r#"<w:p><w:pPr><w:pStyle w:val="ListBullet"/></w:pPr><w:r><w:t>From the style</w:t></w:r></w:p>"#.into(),
            item(3, 0, "Overridden"),
        ]
        .concat());
        assert_eq!(
            markdown(&[
                (BODY, &body),
                ("word/numbering.xml", numbering),
                ("word/styles.xml", styles)
            ]),
            "- Oil\n    1. Whale oil\n    2. Colza oil\n- Food\n    1. Bread\n\nNot an item.\n\n\
             1. Light the lamp\n    1. Trim the wick\n2. Wind the clock\n- From the style\n- Overridden"
        );
    }

    #[test]
    fn lists_without_numbering_xml_are_bulleted() {
        let body = document(&[item(4, 0, "one"), item(4, 1, "two"), item(4, 0, "three")].concat());
        assert_eq!(markdown(&[(BODY, &body)]), "- one\n    - two\n- three");
    }

    #[test]
    fn a_table_has_a_header_row_and_nested_tables_are_text_of_their_cell() {
        let body = document(
            r#"<w:tbl><w:tblPr/>
            <w:tr><w:tc><w:p><w:r><w:t>Light</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Built</w:t></w:r></w:p></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>Bell Rock</w:t></w:r></w:p><w:p><w:r><w:t>Scotland</w:t></w:r></w:p></w:tc>
                <w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>1810</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>stone</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p/></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>Eddystone</w:t><w:br w:type="page"/><w:t>England</w:t></w:r></w:p></w:tc></w:tr>
            </w:tbl>
            <w:p><w:r><w:t>After the table.</w:t></w:r></w:p>"#,
        );
        assert_eq!(
            markdown(&[(BODY, &body)]),
            "| Light | Built |\n| --- | --- |\n| Bell Rock Scotland | 1810 stone |\n| Eddystone England |\n\n\
             After the table."
        );
    }

    #[test]
    fn footnotes_and_endnotes_come_last_under_notes_with_no_markers_in_the_text() {
        let body = document(
            r#"<w:p><w:r><w:t>Keepers kept logs.</w:t></w:r><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="2"/></w:r>
            <w:r><w:t xml:space="preserve"> Storms</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r>
            <w:r><w:t xml:space="preserve"> came.</w:t></w:r><w:r><w:endnoteReference w:id="1"/></w:r></w:p>"#,
        );
        let footnotes = r#"<w:footnotes xmlns:w="x">
            <w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>
            <w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote>
            <w:footnote w:type="continuationNotice" w:id="3"><w:p><w:r><w:t>continued</w:t></w:r></w:p></w:footnote>
            <w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> Gales of 1881.</w:t></w:r></w:p></w:footnote>
            <w:footnote w:id="2"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> See the *log* book.</w:t></w:r></w:p></w:footnote>
            </w:footnotes>"#;
        let endnotes = r#"<w:endnotes xmlns:w="x">
            <w:endnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:endnote>
            <w:endnote w:id="0"><w:p><w:r><w:t>not a note</w:t></w:r></w:p></w:endnote>
            <w:endnote w:id="1"><w:p><w:r><w:endnoteRef/></w:r><w:r><w:t>Sources at the end.</w:t></w:r></w:p></w:endnote>
            </w:endnotes>"#;
        assert_eq!(
            markdown(&[
                (BODY, &body),
                ("word/footnotes.xml", footnotes),
                ("word/endnotes.xml", endnotes)
            ]),
            "Keepers kept logs. Storms came.\n\n## Notes\n\n1. See the \\*log\\* book.\n\
             2. Gales of 1881.\n3. Sources at the end."
        );
    }

    #[test]
    fn a_header_in_three_parts_is_written_once_and_page_numbers_are_left_out() {
        let part = |root: &str, paragraphs: &str| {
            format!(r#"<w:{root} xmlns:w="x">{paragraphs}</w:{root}>"#)
        };
        let header = part(
            "hdr",
            "<w:p><w:r><w:t>Northern Lighthouse Board</w:t></w:r></w:p>",
        );
        // The same words in other runs.
        let first_page = part(
            "hdr",
            r#"<w:p><w:r><w:t xml:space="preserve">Northern  </w:t></w:r><w:r><w:t>Lighthouse Board</w:t></w:r></w:p>"#,
        );
        let page_field = part(
            "ftr",
            r#"<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>
            <w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>2</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>"#,
        );
        let simple_field = part(
            "ftr",
            r#"<w:p><w:fldSimple w:instr=" PAGE "><w:r><w:t>1</w:t></w:r></w:fldSimple></w:p>"#,
        );
        let footer = part("ftr", "<w:p><w:r><w:t>Printed in Leith</w:t></w:r></w:p>");
        let body = document("<w:p><w:r><w:t>Body.</w:t></w:r></w:p>");
        assert_eq!(
            markdown(&[
                (BODY, &body),
                ("word/footer3.xml", &footer),
                ("word/footer1.xml", &page_field),
                ("word/footer2.xml", &simple_field),
                ("word/header2.xml", &first_page),
                ("word/header1.xml", &header),
                ("word/header3.xml", &header),
                ("word/_rels/header1.xml.rels", "<Relationships/>"),
            ]),
            "Northern Lighthouse Board\n\nBody.\n\nPrinted in Leith"
        );
    }

    #[test]
    fn explicit_page_breaks_separate_pages() {
        let body = document(
            r#"<w:p><w:pPr><w:pageBreakBefore/></w:pPr><w:r><w:t>One.</w:t></w:r></w:p>
            <w:p><w:r><w:br w:type="page"/></w:r></w:p>
            <w:p><w:r><w:lastRenderedPageBreak/><w:t>Two.</w:t></w:r></w:p>
            <w:p><w:pPr><w:pageBreakBefore w:val="false"/></w:pPr><w:r><w:t>Still two,</w:t><w:br w:type="page"/><w:t>three.</w:t></w:r></w:p>
            <w:p><w:r><w:br w:type="page"/></w:r></w:p>"#,
        );
        let markdown = markdown(&[(BODY, &body)]);
        assert_eq!(markdown, "One.\n\u{c}\nTwo.\n\nStill two,\n\u{c}\nthree.");
        assert_eq!(page_count(&markdown), 3);

        let two = document(
            r#"<w:p><w:r><w:t>First.</w:t></w:r></w:p><w:p><w:pPr><w:pageBreakBefore/></w:pPr><w:r><w:t>Second.</w:t></w:r></w:p>"#,
        );
        let text = to_text(&docx(&two), &ExtractLimits::default()).unwrap();
        assert_eq!(text, "First.\n\u{c}\nSecond.");
        assert_eq!(page_count(&text), 2);
    }

    #[test]
    fn markup_characters_in_the_text_are_escaped() {
        let body = document(
            r#"<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>#1 rated</w:t></w:r></w:p>
            <w:p><w:r><w:t>*Important* notice</w:t></w:r></w:p>
            <w:p><w:r><w:t># not a heading</w:t></w:r></w:p>
            <w:p><w:r><w:t>1. not a list, [not](a link)</w:t></w:r></w:p>"#,
        );
        let bytes = docx(&body);
        assert_eq!(
            to_markdown(&bytes, &ExtractLimits::default()).unwrap(),
            "## \\#1 rated\n\n\\*Important\\* notice\n\n\\# not a heading\n\n\
             1\\. not a list, \\[not\\](a link)"
        );
        assert_eq!(
            to_text(&bytes, &ExtractLimits::default()).unwrap(),
            "#1 rated\n\n*Important* notice\n\n# not a heading\n\n1. not a list, [not](a link)"
        );
    }

    #[test]
    fn deleted_moved_away_hidden_and_field_code_text_is_left_out() {
        let body = document(
            r#"<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs><w:rPr><w:vanish/></w:rPr></w:pPr>
            <w:r><w:t>Kept</w:t></w:r>
            <w:del w:id="1"><w:r><w:delText> deleted</w:delText></w:r></w:del>
            <w:moveFrom w:id="2"><w:r><w:t> moved away</w:t></w:r></w:moveFrom>
            <w:r><w:rPr><w:vanish/></w:rPr><w:t> hidden</w:t><w:tab/></w:r>
            <w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "x" </w:instrText></w:r>
            <w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t xml:space="preserve"> link</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>
            <w:moveTo w:id="3"><w:r><w:t xml:space="preserve"> moved here</w:t></w:r></w:moveTo>
            <w:ins w:id="4"><w:r><w:rPr><w:vanish w:val="0"/></w:rPr><w:tab/><w:t>e</w:t><w:noBreakHyphen/><w:t>mail</w:t><w:br/><w:t>second line</w:t></w:r></w:ins></w:p>
            <w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Boxed</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>
            <mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"#,
        );
        assert_eq!(
            markdown(&[(BODY, &body)]),
            "Kept link moved here\te-mail\nsecond line\n\nBoxed"
        );
    }

    #[test]
    fn styles_numbering_and_notes_are_optional() {
        let body = document(
            r#"<w:p><w:pPr><w:pStyle w:val="Kop1"/></w:pPr><w:r><w:t>Unknown style</w:t><w:footnoteReference w:id="1"/></w:r></w:p>"#,
        );
        assert_eq!(markdown(&[(BODY, &body)]), "Unknown style");
    }

    #[test]
    fn the_decompressed_bound_covers_all_parts_together() {
        let body = document(&"<w:p><w:r><w:t>Body text.</w:t></w:r></w:p>".repeat(20));
        let styles = format!(
            r#"<w:styles xmlns:w="x">{}</w:styles>"#,
            r#"<w:style w:styleId="S"><w:name w:val="s"/></w:style>"#.repeat(20)
        );
        let limit = (body.len() + styles.len() - 1) as u64;
        assert!(body.len() as u64 <= limit && styles.len() as u64 <= limit);
        let bytes = docx_with(&[(BODY, &body), ("word/styles.xml", &styles)]);
        let limits = |max_decompressed_bytes| ExtractLimits {
            max_decompressed_bytes,
            ..ExtractLimits::default()
        };
        assert_eq!(
            to_markdown(&bytes, &limits(limit)),
            Err(ExtractError::TooLarge {
                what: "the decompressed document",
                limit
            })
        );
        assert!(to_markdown(&bytes, &limits(limit + 1)).is_ok());
    }

    #[test]
    fn a_zip_bomb_is_refused_by_the_decompressed_bound() {
        let huge = format!(
            "<w:document><w:body><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:body></w:document>",
            "a".repeat(2_000_000)
        );
        let bytes = docx(&huge);
        assert!(
            bytes.len() < 50_000,
            "highly compressible: {} bytes",
            bytes.len()
        );
        let limits = ExtractLimits {
            max_decompressed_bytes: 1_000_000,
            ..ExtractLimits::default()
        };
        assert_eq!(
            to_text(&bytes, &limits),
            Err(ExtractError::TooLarge {
                what: "the decompressed document",
                limit: 1_000_000
            })
        );
    }

    #[test]
    fn a_truncated_archive_is_corrupt() {
        let bytes = docx(BODY_XML);
        let err = to_text(&bytes[..bytes.len() / 2], &ExtractLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    format: "Word document",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_zip_without_a_document_is_corrupt() {
        let mut buffer = Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        writer
            .start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(b"hello").unwrap();
        writer.finish().unwrap();
        let err = to_text(&buffer.into_inner(), &ExtractLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Word document is corrupt: the archive has no word/document.xml"
        );
    }
}

//! Spreadsheets (`.xlsx`, `.ods`) as Markdown: for each sheet with a value in it, a `## name`
//! heading and a table whose first row is the header, sheets separated by page breaks (so page
//! N is one sheet). Empty rows are left out, and empty cells after a row's last value.
//!
//! Values are shown as the file stores them, not formatted again:
//!
//! - Excel (`.xlsx`): the sheets named in `xl/workbook.xml` (hidden ones too), in its order,
//!   their parts found through `xl/_rels/workbook.xml.rels` (without it, the parts
//!   `xl/worksheets/sheetN.xml` in the order of N); text from `xl/sharedStrings.xml` (rich text
//!   runs joined, phonetic readings left out) or inline; numbers as written, but those whose
//!   number format (`xl/styles.xml`) shows a date or time in ISO 8601 (`2024-03-01`,
//!   `2024-03-01 14:30:00`, `14:30:00`; see [`super::excel_dates`]); booleans as `TRUE` /
//!   `FALSE`; errors as their text (`#DIV/0!`); formulas by the value last computed for them.
//! - OpenDocument (`.ods`): the tables of `content.xml`, each cell as the text it displays
//!   (its paragraphs joined by a space; comments and drawings left out), else its value
//!   attribute. Repeated cells and rows (`table:number-columns-repeated`, `…-rows-repeated`)
//!   count only up to a value: the empty million rows and thousand columns LibreOffice writes
//!   at the end of a sheet are never made.
//!
//! Memory and output are bounded: a repeat is kept at most [`MAX_REPEAT`] times, columns past
//! [`MAX_COLUMNS`] are left out, a sheet keeps at most a cell per [`TEXT_BYTES_PER_CELL`]
//! bytes of `max_text_bytes`, and rows stop being kept once the Markdown would pass
//! `max_text_bytes`; a last paragraph says how many rows were left out. Parts are read through
//! one bound on decompressed bytes for all of them ([`Parts`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::mem::take;

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::archive::{Parts, attr};
use super::excel_dates::{CellStyles, format_serial, is_1904};
use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

const FORMAT: &str = "spreadsheet";

const WORKBOOK: &str = "xl/workbook.xml";
const WORKBOOK_RELS: &str = "xl/_rels/workbook.xml.rels";
const SHARED_STRINGS: &str = "xl/sharedStrings.xml";
const STYLES: &str = "xl/styles.xml";
const WORKSHEETS: &str = "xl/worksheets/sheet";
const CONTENT: &str = "content.xml";
const MANIFEST: &str = "META-INF/manifest.xml";

/// Excel's own limit (column `XFD`); a cell further right is left out.
const MAX_COLUMNS: usize = 16_384;
/// The most copies kept of one repeated cell or row.
const MAX_REPEAT: usize = 1_000;
/// Bytes of `max_text_bytes` per cell a sheet may keep: each kept cell costs a `String` (24
/// bytes on 64-bit targets, 12 on wasm32) here and again in the Markdown writer, so this keeps
/// a sheet of empty-ish cells to a few times the text limit.
const TEXT_BYTES_PER_CELL: usize = 16;

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

/// The error of reading part `name`'s XML.
fn corrupt_part(name: &str) -> impl Fn(quick_xml::Error) -> ExtractError + '_ {
    move |e| corrupt(format!("{name}: {e}"))
}

#[inline(never)]
pub(super) fn xlsx_to_markdown(
    bytes: &[u8],
    limits: &ExtractLimits,
) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    let workbook = parts
        .read(WORKBOOK)?
        .ok_or_else(|| corrupt(format!("the archive has no {WORKBOOK}")))?;
    let (declared, date1904) = workbook_sheets(&workbook)?;
    drop(workbook);
    let sheets = match parts.read(WORKBOOK_RELS)? {
        Some(rels) => {
            let targets = relationships(&rels)?;
            declared
                .into_iter()
                .filter_map(|(name, id)| Some((name, targets.get(&id?)?.clone())))
                .collect()
        }
        None => numbered_worksheets(&parts, declared),
    };
    let strings = match parts.read(SHARED_STRINGS)? {
        Some(xml) => SharedStrings::parse(&xml)?,
        None => SharedStrings::default(),
    };
    let styles = match parts.read(STYLES)? {
        Some(xml) => CellStyles::parse(&xml).map_err(corrupt_part(STYLES))?,
        None => CellStyles::default(),
    };
    let values = Values {
        strings: &strings,
        styles: &styles,
        date1904,
    };

    let mut w = Writer::new();
    for (name, path) in &sheets {
        // A sheet the workbook names but the archive lacks has nothing to show.
        let Some(xml) = parts.read(path)? else {
            continue;
        };
        let mut grid = Grid::new(limits, &w, name);
        worksheet(&xml, path, &values, &mut grid)?;
        drop(xml);
        grid.write(&mut w, name);
    }
    Ok(w.finish())
}

/// A declared sheet: its name and relationship id.
type DeclaredSheet = (String, Option<String>);

/// The sheets `xl/workbook.xml` names, in order, and whether its dates count from 1904.
fn workbook_sheets(xml: &str) -> Result<(Vec<DeclaredSheet>, bool), ExtractError> {
    let mut sheets = Vec::new();
    let mut date1904 = false;
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt_part(WORKBOOK))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                let name = local_attr(&e, "name").unwrap_or_default();
                let name = match name.trim() {
                    "" => format!("Sheet {}", sheets.len() + 1),
                    _ => name,
                };
                // `r:id`; only the relationship id is an `id` on a `sheet`.
                sheets.push((name, local_attr(&e, "id")));
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "workbookPr" => {
                date1904 = is_1904(&e);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((sheets, date1904))
}

/// `xl/_rels/workbook.xml.rels`: relationship id → the path of its part in the archive.
fn relationships(xml: &str) -> Result<HashMap<String, String>, ExtractError> {
    let mut targets = HashMap::new();
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt_part(WORKBOOK_RELS))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                let external = local_attr(&e, "TargetMode").as_deref() == Some("External");
                if let (Some(id), Some(target), false) =
                    (local_attr(&e, "Id"), local_attr(&e, "Target"), external)
                {
                    targets.insert(id, part_path(&target));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(targets)
}

/// The archive path of a workbook relationship's target: relative to `xl/`, or absolute.
fn part_path(target: &str) -> String {
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => format!("xl/{target}"),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    segments.join("/")
}

/// Without the workbook's relationships: the parts `xl/worksheets/sheetN.xml` in the order of
/// N, named as the workbook names its sheets in order (Excel numbers them so).
fn numbered_worksheets(
    parts: &Parts,
    declared: Vec<(String, Option<String>)>,
) -> Vec<(String, String)> {
    let number = |path: &str| {
        path.strip_prefix(WORKSHEETS)
            .and_then(|rest| rest.strip_suffix(".xml"))
            .and_then(|n| n.parse::<u64>().ok())
    };
    let mut paths = parts.names(WORKSHEETS);
    paths.sort_by_key(|path| (number(path).is_none(), number(path)));
    let mut names = declared.into_iter().map(|(name, _)| name);
    paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let name = names.next().unwrap_or_else(|| format!("Sheet {}", i + 1));
            (name, path)
        })
        .collect()
}

/// `xl/sharedStrings.xml`: the text of each `si`, all in one string, so that a million short
/// strings cost an index each, not a `String` each.
#[derive(Debug, Default)]
struct SharedStrings {
    text: String,
    /// Where each string ends in `text`.
    ends: Vec<usize>,
}

impl SharedStrings {
    fn parse(xml: &str) -> Result<Self, ExtractError> {
        let mut strings = Self::default();
        let mut in_text = false;
        // Elements open inside a phonetic reading (`rPh`), which is left out.
        let mut skipped = 0usize;
        let mut reader = Reader::from_str(xml);
        loop {
            let event = reader.read_event().map_err(corrupt_part(SHARED_STRINGS))?;
            if skipped > 0 {
                match event {
                    Event::Start(_) => skipped += 1,
                    Event::End(_) => skipped -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Start(e) => match e.local_name().as_ref() {
                    "t" => in_text = true,
                    "rPh" => skipped = 1,
                    _ => {}
                },
                Event::Empty(e) if e.local_name().as_ref() == "si" => {
                    strings.ends.push(strings.text.len());
                }
                Event::End(e) => match e.local_name().as_ref() {
                    "t" => in_text = false,
                    "si" => strings.ends.push(strings.text.len()),
                    _ => {}
                },
                Event::Text(t) if in_text => strings.text.push_str(&t.into_inner()),
                Event::CData(t) if in_text => strings.text.push_str(&t.into_inner()),
                Event::GeneralRef(g) if in_text => push_reference(&mut strings.text, g),
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(strings)
    }

    /// String `index`; `None` past the last.
    fn get(&self, index: usize) -> Option<&str> {
        let start = match index.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.text.get(start..*self.ends.get(index)?)
    }
}

/// How an Excel cell's value is stored (its `t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A number, a formula's string, an error or an ISO date: the value as written.
    Written,
    /// An index into the shared strings.
    Shared,
    /// Text in the cell's `is` element.
    Inline,
    Boolean,
}

impl Kind {
    fn of(t: Option<&str>) -> Self {
        match t {
            Some("s") => Self::Shared,
            Some("inlineStr") => Self::Inline,
            Some("b") => Self::Boolean,
            _ => Self::Written,
        }
    }
}

/// What an Excel cell's value is read with.
struct Values<'a> {
    strings: &'a SharedStrings,
    styles: &'a CellStyles,
    /// Serial dates count from 1904, not 1900.
    date1904: bool,
}

/// The Excel cell being read.
#[derive(Debug)]
struct Cell {
    column: usize,
    kind: Kind,
    /// Its style (`s`), an index into the workbook's cell styles.
    style: Option<usize>,
    /// The text of `v`.
    value: String,
    /// The text of `is`.
    inline: String,
}

impl Cell {
    /// The cell element `e`; `next` is the column after the row's last cell, for a cell that
    /// gives no reference.
    fn new(e: &BytesStart, next: usize) -> Self {
        Self {
            column: local_attr(e, "r")
                .and_then(|r| column_of(&r))
                .unwrap_or(next),
            kind: Kind::of(local_attr(e, "t").as_deref()),
            style: local_attr(e, "s").and_then(|s| s.parse().ok()),
            value: String::new(),
            inline: String::new(),
        }
    }

    fn text<'a>(&'a self, values: &'a Values) -> Cow<'a, str> {
        let value = self.value.trim();
        Cow::Borrowed(match self.kind {
            Kind::Shared => value
                .parse()
                .ok()
                .and_then(|i| values.strings.get(i))
                .unwrap_or(""),
            Kind::Inline if !self.inline.trim().is_empty() => &self.inline,
            Kind::Boolean => match value {
                "1" => "TRUE",
                "0" => "FALSE",
                _ => value,
            },
            Kind::Written => {
                let date = self
                    .style
                    .and_then(|style| values.styles.kind(style))
                    .and_then(|kind| format_serial(value, kind, values.date1904));
                return date.map_or(Cow::Borrowed(value), Cow::Owned);
            }
            Kind::Inline => value,
        })
    }
}

/// The column (from 0) of a cell reference such as `B3`; `None` without letters. Columns past
/// [`MAX_COLUMNS`] are all `MAX_COLUMNS`.
fn column_of(reference: &str) -> Option<usize> {
    let letters = reference
        .bytes()
        .take_while(u8::is_ascii_alphabetic)
        .map(|b| usize::from(b.to_ascii_uppercase() - b'A') + 1);
    let mut column = 0usize;
    for letter in letters {
        column = (column * 26 + letter).min(MAX_COLUMNS + 1);
    }
    column.checked_sub(1)
}

/// Where the text of an Excel cell's element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    Value,
    Inline,
}

/// Reads worksheet part `name` into `grid`, row by row.
fn worksheet(xml: &str, name: &str, values: &Values, grid: &mut Grid) -> Result<(), ExtractError> {
    let mut cell: Option<Cell> = None;
    let mut target = Target::None;
    let mut in_inline = false;
    let mut next_column = 0usize;
    // Elements open inside a phonetic reading (`rPh`), which is left out.
    let mut skipped = 0usize;
    let mut reader = Reader::from_str(xml);
    loop {
        let event = reader.read_event().map_err(corrupt_part(name))?;
        if skipped > 0 {
            match event {
                Event::Start(_) => skipped += 1,
                Event::End(_) => skipped -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        let push = |cell: &mut Option<Cell>, text: &str| match (cell, target) {
            (Some(cell), Target::Value) => cell.value.push_str(text),
            (Some(cell), Target::Inline) => cell.inline.push_str(text),
            _ => {}
        };
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "row" => next_column = 0,
                "c" => cell = Some(Cell::new(&e, next_column)),
                "v" => target = Target::Value,
                "is" => in_inline = true,
                "t" if in_inline => target = Target::Inline,
                "rPh" => skipped = 1,
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "row" => {
                    grid.end_row(1);
                    next_column = 0;
                }
                // A cell with a style and no value.
                "c" => next_column = Cell::new(&e, next_column).column.saturating_add(1),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "v" | "t" => target = Target::None,
                "is" => in_inline = false,
                "c" => {
                    if let Some(cell) = cell.take() {
                        grid.put(cell.column, &cell.text(values));
                        next_column = cell.column.saturating_add(1);
                    }
                    target = Target::None;
                }
                "row" => grid.end_row(1),
                _ => {}
            },
            Event::Text(t) => push(&mut cell, &t.into_inner()),
            Event::CData(t) => push(&mut cell, &t.into_inner()),
            Event::GeneralRef(g) => {
                let mut text = String::new();
                push_reference(&mut text, g);
                push(&mut cell, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    grid.end_row(1);
    Ok(())
}

#[inline(never)]
pub(super) fn ods_to_markdown(
    bytes: &[u8],
    limits: &ExtractLimits,
) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    // OpenDocument encrypts parts, not the archive: the manifest says which.
    if parts
        .read(MANIFEST)?
        .is_some_and(|manifest| manifest.contains("encryption-data"))
    {
        return Err(ExtractError::Encrypted);
    }
    let content = parts
        .read(CONTENT)?
        .ok_or_else(|| corrupt(format!("the archive has no {CONTENT}")))?;
    let mut w = Writer::new();
    OdsReader::default().read(&content, limits, &mut w)?;
    Ok(w.finish())
}

/// Where reading an OpenDocument spreadsheet's `content.xml` has got to.
#[derive(Debug, Default)]
struct OdsReader {
    /// The sheet being read: its name and rows.
    sheet: Option<(String, Grid)>,
    /// Tables open inside the sheet's cells, whose text is their cell's.
    nested: usize,
    /// How many times the open row repeats.
    row_repeat: usize,
    /// The column of the next cell in the open row.
    column: usize,
    cell: Option<OdsCell>,
    /// Paragraphs open in the cell.
    paragraphs: usize,
    /// Elements open inside one whose content is left out.
    skipped: usize,
}

#[derive(Debug)]
struct OdsCell {
    repeat: usize,
    text: String,
    /// What the cell's value attribute says, for a cell with no paragraph.
    value: Option<String>,
}

impl OdsReader {
    fn read(
        mut self,
        xml: &str,
        limits: &ExtractLimits,
        w: &mut Writer,
    ) -> Result<(), ExtractError> {
        let mut reader = Reader::from_str(xml);
        loop {
            let event = reader.read_event().map_err(corrupt_part(CONTENT))?;
            if self.skipped > 0 {
                match event {
                    Event::Start(_) => self.skipped += 1,
                    Event::End(_) => self.skipped -= 1,
                    Event::Eof => break,
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Start(e) => self.start(&e, limits, w),
                Event::Empty(e) => {
                    self.start(&e, limits, w);
                    // Unless it was skipped, it ends here.
                    if take(&mut self.skipped) == 0 {
                        self.end(e.name().as_ref(), w);
                    }
                }
                Event::End(e) => self.end(e.name().as_ref(), w),
                Event::Text(t) => self.push(&t.into_inner()),
                Event::CData(t) => self.push(&t.into_inner()),
                Event::GeneralRef(g) => {
                    let mut text = String::new();
                    push_reference(&mut text, g);
                    self.push(&text);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        // A sheet cut short still shows what it had.
        if let Some((name, mut grid)) = self.sheet.take() {
            grid.end_row(1);
            grid.write(w, &name);
        }
        Ok(())
    }

    fn start(&mut self, e: &BytesStart, limits: &ExtractLimits, w: &Writer) {
        let in_sheet = self.sheet.is_some() && self.nested == 0;
        match e.name().as_ref() {
            "table:table" if self.sheet.is_none() => {
                let name = attr(e, "table:name")
                    .filter(|name| !name.trim().is_empty())
                    .unwrap_or_else(|| "Sheet".to_owned());
                let grid = Grid::new(limits, w, &name);
                self.sheet = Some((name, grid));
            }
            "table:table" => self.nested += 1,
            "table:table-row" if in_sheet => {
                self.row_repeat = repeat(e, "table:number-rows-repeated");
                self.column = 0;
            }
            "table:table-cell" | "table:covered-table-cell" if in_sheet => {
                self.cell = Some(OdsCell {
                    repeat: repeat(e, "table:number-columns-repeated"),
                    text: String::new(),
                    value: value_attr(e),
                });
                self.paragraphs = 0;
            }
            // Comments, notes and drawings are not what the cell shows.
            "office:annotation" | "text:note" => self.skipped = 1,
            name if name.starts_with("draw:") => self.skipped = 1,
            "text:p" | "text:h" => {
                if let Some(cell) = &mut self.cell
                    && !cell.text.is_empty()
                {
                    cell.text.push(' ');
                }
                self.paragraphs += 1;
            }
            // A cell is one line in the table: its spaces, tabs and breaks are all a space.
            "text:s" | "text:tab" | "text:line-break" => self.push(" "),
            _ => {}
        }
    }

    fn end(&mut self, name: &str, w: &mut Writer) {
        match name {
            "table:table" if self.nested > 0 => self.nested -= 1,
            "table:table" => {
                if let Some((name, mut grid)) = self.sheet.take() {
                    grid.end_row(1);
                    grid.write(w, &name);
                }
            }
            _ if self.nested > 0 => {
                if matches!(name, "text:p" | "text:h") {
                    self.paragraphs = self.paragraphs.saturating_sub(1);
                }
            }
            "table:table-row" => {
                if let Some((_, grid)) = &mut self.sheet {
                    grid.end_row(self.row_repeat);
                }
            }
            "table:table-cell" | "table:covered-table-cell" => self.end_cell(),
            "text:p" | "text:h" => self.paragraphs = self.paragraphs.saturating_sub(1),
            _ => {}
        }
    }

    fn push(&mut self, text: &str) {
        if let Some(cell) = &mut self.cell
            && self.paragraphs > 0
        {
            cell.text.push_str(text);
        }
    }

    /// Puts the cell's text in its columns; empty cells only move the column on.
    fn end_cell(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        let column = self.column;
        self.column = column.saturating_add(cell.repeat);
        let Some((_, grid)) = &mut self.sheet else {
            return;
        };
        let text = match (cell.text.trim(), &cell.value) {
            ("", Some(value)) => value.as_str(),
            (text, _) => text,
        };
        if text.is_empty() {
            return;
        }
        for copy in 0..cell.repeat.min(MAX_REPEAT) {
            grid.put(column.saturating_add(copy), text);
        }
    }
}

/// How many times a row or cell repeats: attribute `name`, 1 without it.
fn repeat(e: &BytesStart, name: &str) -> usize {
    attr(e, name)
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// An OpenDocument cell's value from its attributes, by its value type.
fn value_attr(e: &BytesStart) -> Option<String> {
    let value = match attr(e, "office:value-type")?.as_str() {
        "string" => attr(e, "office:string-value"),
        "date" => attr(e, "office:date-value"),
        "time" => attr(e, "office:time-value"),
        "boolean" => attr(e, "office:boolean-value").map(|b| match b.as_str() {
            "true" => "TRUE".to_owned(),
            "false" => "FALSE".to_owned(),
            _ => b,
        }),
        _ => attr(e, "office:value"),
    };
    value.filter(|v| !v.trim().is_empty())
}

/// One sheet's rows, kept within the Markdown bytes left and the cells a sheet may have.
#[derive(Debug, Default)]
struct Grid {
    rows: Vec<Vec<String>>,
    /// The most cells in a kept row: every row is written this wide.
    width: usize,
    /// Bytes of cell text in the kept rows.
    text: usize,
    /// Cells kept, empty ones between values included.
    cells: usize,
    max_bytes: usize,
    max_cells: usize,
    /// Once a row is left out for want of room, every later one is too.
    full: bool,
    /// Rows with a value that were not kept.
    left_out: u64,
    /// The open row.
    row: Vec<String>,
    /// Bytes of cell text in the open row.
    row_text: usize,
    /// The open row has a value that was not kept: the row is left out.
    row_cut: bool,
}

impl Grid {
    /// A sheet named `name`, written after what `w` has.
    fn new(limits: &ExtractLimits, w: &Writer, name: &str) -> Self {
        // The heading, the blank lines and page break around it, and the rows left out.
        let before = w.len().saturating_add(name.len()).saturating_add(40);
        Self {
            max_bytes: limits.max_text_bytes.saturating_sub(before),
            max_cells: limits.max_text_bytes / TEXT_BYTES_PER_CELL,
            ..Self::default()
        }
    }

    /// Whether a table of `rows` rows `width` cells wide and `text` bytes of cell text, and
    /// `cells` cells, fits: each row is `| a | b |`, and a rule `| --- | --- |` follows the
    /// header.
    fn fits(&self, text: usize, rows: usize, width: usize, cells: usize) -> bool {
        let line = width.saturating_mul(3).saturating_add(2);
        let bytes = text
            .saturating_add(rows.saturating_add(1).saturating_mul(line))
            .saturating_add(width.saturating_mul(3));
        bytes <= self.max_bytes && cells <= self.max_cells
    }

    /// Puts `text` in `column` (from 0) of the open row, after empty cells up to it. Blank
    /// text, a column already passed and columns past [`MAX_COLUMNS`] are left out.
    fn put(&mut self, column: usize, text: &str) {
        if text.trim().is_empty() || column >= MAX_COLUMNS || column < self.row.len() {
            return;
        }
        if self.full || self.row_cut {
            self.row_cut = true;
            return;
        }
        let text_bytes = self.text + self.row_text + text.len();
        let width = self.width.max(column + 1);
        if !self.fits(
            text_bytes,
            self.rows.len() + 1,
            width,
            self.cells + column + 1,
        ) {
            self.row_cut = true;
            return;
        }
        self.row.resize(column, String::new());
        self.row.push(text.to_owned());
        self.row_text += text.len();
    }

    /// Ends the open row, which repeats `repeat` times (kept at most [`MAX_REPEAT`] times).
    fn end_row(&mut self, repeat: usize) {
        let row = take(&mut self.row);
        let row_text = take(&mut self.row_text);
        let cut = take(&mut self.row_cut);
        if row.is_empty() && !cut {
            return;
        }
        let repeat = repeat.max(1);
        let copies = repeat.min(MAX_REPEAT);
        let mut kept = 0;
        if !cut {
            let width = self.width.max(row.len());
            while kept < copies
                && self.fits(
                    self.text + row_text,
                    self.rows.len() + 1,
                    width,
                    self.cells + row.len(),
                )
            {
                self.rows.push(row.clone());
                self.text += row_text;
                self.cells += row.len();
                self.width = width;
                kept += 1;
            }
        }
        if kept < copies {
            self.full = true;
        }
        self.left_out = self.left_out.saturating_add((repeat - kept) as u64);
    }

    /// The sheet's heading, table and rows left out, after a page break if `w` has a sheet
    /// already; nothing for a sheet with no value.
    fn write(self, w: &mut Writer, name: &str) {
        if self.rows.is_empty() && self.left_out == 0 {
            return;
        }
        if !w.is_empty() {
            w.page_break();
        }
        w.heading(2, name);
        w.table(&self.rows);
        match self.left_out {
            0 => {}
            1 => w.paragraph("… 1 row left out"),
            n => w.paragraph(&format!("… {n} rows left out")),
        }
    }
}

/// Appends the character or predefined entity `g` refers to; a reference to nothing is left
/// out (spreadsheets declare no entities of their own).
fn push_reference(out: &mut String, g: BytesRef) {
    match g.resolve_char_ref() {
        Ok(Some(c)) => out.push(c),
        Ok(None) => out.push_str(resolve_xml_entity(&g.into_inner()).unwrap_or_default()),
        Err(_) => {}
    }
}

/// The attribute whose local name is `local`, whatever its prefix: Excel files are written
/// with `x:`, `r:` or other prefixes as well as without.
fn local_attr(e: &BytesStart, local: &str) -> Option<String> {
    let attribute = e
        .attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .find(|a| a.key.local_name().as_ref() == local)?;
    attribute
        .normalized_value(XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::{page, plain};

    /// A zip archive of these parts (name, content).
    fn archive(parts: &[(&str, &str)]) -> Vec<u8> {
        super::super::archive::zipped(parts)
    }

    fn worksheet_xml(rows: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
        )
    }

    fn workbook_xml(sheets: &[(&str, &str)]) -> String {
        let sheets: String = sheets
            .iter()
            .enumerate()
            .map(|(i, (name, id))| {
                format!(r#"<sheet name="{name}" sheetId="{}" r:id="{id}"/>"#, i + 1)
            })
            .collect();
        format!(
            r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheets}</sheets></workbook>"#
        )
    }

    fn rels_xml(targets: &[(&str, &str)]) -> String {
        let rels: String = targets
            .iter()
            .map(|(id, target)| {
                format!(r#"<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="{target}"/>"#)
            })
            .collect();
        format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
        )
    }

    const SHARED: &str = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4">
<si><t>Name</t></si><si><t>Active</t></si><si><t xml:space="preserve"> Score </t></si>
<si><r><rPr><b/></rPr><t>Gr</t></r><r><t>ace</t></r><rPh sb="0" eb="1"><t>ぐれいす</t></rPh><phoneticPr fontId="1"/></si>
</sst>"#;

    fn xlsx_markdown(parts: &[(&str, &str)], limits: &ExtractLimits) -> String {
        xlsx_to_markdown(&archive(parts), limits).unwrap()
    }

    fn ods_markdown(content: &str, limits: &ExtractLimits) -> String {
        let bytes = archive(&[
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
            (CONTENT, content),
        ]);
        ods_to_markdown(&bytes, limits).unwrap()
    }

    fn ods_content(tables: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
        )
    }

    fn limited(max_text_bytes: usize) -> ExtractLimits {
        ExtractLimits {
            max_text_bytes,
            ..ExtractLimits::default()
        }
    }

    #[test]
    fn xlsx_sheets_are_headings_and_tables_in_workbook_order() {
        let staff = worksheet_xml(
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s" s="2"><v>2</v></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>Ada</t></is></c><c r="B2" t="b"><v>1</v></c><c r="C2"><v>3.5</v></c><c r="D2" s="4"/></row>
<row r="3"><c r="A3" t="s"><v>3</v></c><c r="C3" t="e"><v>#DIV/0!</v></c></row>
<row r="4" spans="1:3"/>
<row r="6"><c r="B6" t="str"><f>A2&amp;"*"</f><v>Ada*</v></c><c r="C6" t="b"><v>0</v></c></row>"#,
        );
        let empty = worksheet_xml(r#"<row r="1"><c r="A1" s="1"/></row>"#);
        let notes = worksheet_xml(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><r><t>No</t></r><r><t>te</t></r></is></c></row>
<row r="2"><c r="A2"><v>42</v></c></row>"#,
        );
        let markdown = xlsx_markdown(
            &[
                (
                    WORKBOOK,
                    &workbook_xml(&[
                        ("Staff", "rId2"),
                        ("Empty", "rId1"),
                        ("Notes &amp; more", "rId3"),
                    ]),
                ),
                (
                    WORKBOOK_RELS,
                    &rels_xml(&[
                        ("rId1", "worksheets/sheet1.xml"),
                        ("rId2", "./worksheets/sheet2.xml"),
                        ("rId3", "/xl/worksheets/sheet3.xml"),
                    ]),
                ),
                (SHARED_STRINGS, SHARED),
                ("xl/worksheets/sheet1.xml", &empty),
                ("xl/worksheets/sheet2.xml", &staff),
                ("xl/worksheets/sheet3.xml", &notes),
            ],
            &ExtractLimits::default(),
        );
        assert_eq!(
            markdown,
            "## Staff\n\n\
             | Name | Active | Score |\n\
             | --- | --- | --- |\n\
             | Ada | TRUE | 3.5 |\n\
             | Grace |  | \\#DIV/0! |\n\
             |  | Ada\\* | FALSE |\n\
             \u{c}\n\
             ## Notes \\& more\n\n\
             | Note |\n\
             | --- |\n\
             | 42 |"
        );
        assert_eq!(
            page(&markdown, 2).map(plain).as_deref(),
            Some("Notes & more\n\nNote\n42")
        );
    }

    #[test]
    fn xlsx_dates_and_times_show_as_iso_8601_by_their_number_format() {
        let styles = r#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy\ hh:mm"/></numFmts>
<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/><xf numFmtId="20"/></cellXfs>
</styleSheet>"#;
        let sheet = worksheet_xml(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Day</t></is></c><c r="B1" t="inlineStr"><is><t>When</t></is></c><c r="C1" t="inlineStr"><is><t>Start</t></is></c><c r="D1" t="inlineStr"><is><t>Count</t></is></c></row>
<row r="2"><c r="A2" s="1"><v>45352</v></c><c r="B2" s="2"><v>45352.604166666664</v></c><c r="C2" s="3"><v>0.375</v></c><c r="D2" s="0"><v>45352</v></c></row>
<row r="3"><c r="A3" s="1" t="str"><v>n/a</v></c><c r="B3" s="2" t="e"><v>#VALUE!</v></c></row>"#,
        );
        let workbook = |extra: &str| {
            workbook_xml(&[("Log", "rId1")]).replace("<sheets>", &format!("{extra}<sheets>"))
        };
        let read = |workbook: &str| {
            xlsx_markdown(
                &[
                    (WORKBOOK, workbook),
                    (
                        WORKBOOK_RELS,
                        &rels_xml(&[("rId1", "worksheets/sheet1.xml")]),
                    ),
                    (STYLES, styles),
                    ("xl/worksheets/sheet1.xml", &sheet),
                ],
                &ExtractLimits::default(),
            )
        };
        assert_eq!(
            read(&workbook("")),
            "## Log\n\n\
             | Day | When | Start | Count |\n\
             | --- | --- | --- | --- |\n\
             | 2024-03-01 | 2024-03-01 14:30:00 | 09:00:00 | 45352 |\n\
             | n/a | \\#VALUE! |"
        );
        // Serial numbers of a workbook that counts from 1904 are 1,462 days fewer.
        assert!(
            read(&workbook(r#"<workbookPr date1904="1"/>"#))
                .contains("| 2028-03-02 | 2028-03-02 14:30:00 | 09:00:00 | 45352 |")
        );
    }

    #[test]
    fn the_1904_system_is_read_from_the_workbook() {
        let date1904 = |xml: &str| workbook_sheets(xml).unwrap().1;
        assert!(date1904(
            r#"<workbook><workbookPr date1904="1"/></workbook>"#
        ));
        assert!(!date1904(
            r#"<workbook><workbookPr defaultThemeVersion="1"/></workbook>"#
        ));
        assert!(!date1904("<workbook/>"));
    }

    #[test]
    fn xlsx_without_relationships_reads_numbered_worksheets_in_number_order() {
        let sheet = |text: &str| {
            worksheet_xml(&format!(
                r#"<row><c t="inlineStr"><is><t>{text}</t></is></c><c><v>1</v></c></row>"#
            ))
        };
        let markdown = xlsx_markdown(
            &[
                (WORKBOOK, &workbook_xml(&[("First", "rId1")])),
                ("xl/worksheets/sheet10.xml", &sheet("ten")),
                ("xl/worksheets/sheet2.xml", &sheet("two")),
            ],
            &ExtractLimits::default(),
        );
        assert_eq!(
            markdown,
            "## First\n\n| two | 1 |\n| --- | --- |\n\u{c}\n## Sheet 2\n\n| ten | 1 |\n| --- | --- |"
        );
    }

    #[test]
    fn xlsx_cells_far_right_or_out_of_range_are_left_out() {
        let rows = r#"<row><c r="A1" t="s"><v>7</v></c><c r="B1"><v>1</v></c><c r="ZZZZZZ1"><v>2</v></c><c r="A1"><v>3</v></c></row>"#;
        let markdown = xlsx_markdown(
            &[
                (WORKBOOK, &workbook_xml(&[("S", "rId1")])),
                (
                    WORKBOOK_RELS,
                    &rels_xml(&[("rId1", "worksheets/sheet1.xml")]),
                ),
                (SHARED_STRINGS, SHARED),
                ("xl/worksheets/sheet1.xml", &worksheet_xml(rows)),
            ],
            &ExtractLimits::default(),
        );
        assert_eq!(markdown, "## S\n\n|  | 1 |\n| --- | --- |");
    }

    #[test]
    fn xlsx_rows_past_the_text_limit_are_counted_not_kept() {
        let rows: String = (1..=10_000)
            .map(|n| format!(r#"<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="inlineStr"><is><t>lighthouse keeper of the north rock</t></is></c></row>"#))
            .collect();
        let markdown = xlsx_markdown(
            &[
                (
                    WORKBOOK,
                    &workbook_xml(&[("Log", "rId1"), ("More", "rId2")]),
                ),
                (
                    WORKBOOK_RELS,
                    &rels_xml(&[
                        ("rId1", "worksheets/sheet1.xml"),
                        ("rId2", "worksheets/sheet1.xml"),
                    ]),
                ),
                ("xl/worksheets/sheet1.xml", &worksheet_xml(&rows)),
            ],
            &limited(300),
        );
        let keeper = "lighthouse keeper of the north rock";
        let kept: String = (2..=5).map(|n| format!("\n| {n} | {keeper} |")).collect();
        assert_eq!(
            markdown,
            format!(
                "## Log\n\n| 1 | {keeper} |\n| --- | --- |{kept}\n\n\
                 … 9995 rows left out\n\
                 \u{c}\n\
                 ## More\n\n… 10000 rows left out"
            )
        );
        assert!(page(&markdown, 1).is_some_and(|log| log.len() <= 300));
    }

    #[test]
    fn xlsx_refuses_what_is_not_a_workbook() {
        let err =
            xlsx_to_markdown(b"PK\x03\x04 not really", &ExtractLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    format: "spreadsheet",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = xlsx_to_markdown(
            &archive(&[("xl/styles.xml", "<styleSheet/>")]),
            &ExtractLimits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the spreadsheet is corrupt: the archive has no xl/workbook.xml"
        );
        let broken = archive(&[
            (WORKBOOK, &workbook_xml(&[("S", "rId1")])),
            (
                WORKBOOK_RELS,
                &rels_xml(&[("rId1", "worksheets/sheet1.xml")]),
            ),
            (
                "xl/worksheets/sheet1.xml",
                "<worksheet><sheetData><row></sheetData>",
            ),
        ]);
        let err = xlsx_to_markdown(&broken, &ExtractLimits::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the spreadsheet is corrupt: xl/worksheets/sheet1.xml: "),
            "{err}"
        );
    }

    #[test]
    fn xlsx_parts_share_one_bound_on_decompressed_bytes() {
        let rows = "<row><c><v>1</v></c></row>".repeat(1_000);
        let bytes = archive(&[
            (WORKBOOK, &workbook_xml(&[("S", "rId1")])),
            ("xl/worksheets/sheet1.xml", &worksheet_xml(&rows)),
        ]);
        let limits = ExtractLimits {
            max_decompressed_bytes: 10_000,
            ..ExtractLimits::default()
        };
        let err = xlsx_to_markdown(&bytes, &limits).unwrap_err();
        assert!(matches!(err, ExtractError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn ods_repeats_are_honoured_and_trailing_empties_never_made() {
        let content = ods_content(
            r#"<table:table table:name="Keepers"><table:table-column table:number-columns-repeated="1024"/>
<table:table-row><table:table-cell office:value-type="string"><text:p>Name</text:p></table:table-cell><table:table-cell table:number-columns-repeated="2"><text:p>Year</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1021"/></table:table-row>
<table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-spanned="2"><text:p>Anna<text:s text:c="3"/>Lund</text:p><text:p>North<text:tab/>Rock<text:line-break/>light</text:p><office:annotation><dc:creator>me</dc:creator><text:p>a comment</text:p></office:annotation></table:table-cell><table:covered-table-cell/><table:table-cell office:value-type="float" office:value="1890"><text:p>1,890</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
<table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
<table:table-row><table:table-cell table:number-columns-repeated="3"/><table:table-cell office:value-type="boolean" office:boolean-value="true"/><table:table-cell office:value-type="float" office:value="2.5"/></table:table-row>
<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
</table:table>
<table:table table:name="Empty"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>
<table:table table:name="A|B"><table:table-row><table:table-cell><text:p>x &amp; y&#33;</text:p></table:table-cell></table:table-row></table:table>"#,
        );
        assert_eq!(
            ods_markdown(&content, &ExtractLimits::default()),
            "## Keepers\n\n\
             | Name | Year | Year |  |  |\n\
             | --- | --- | --- | --- | --- |\n\
             | Anna Lund North Rock light |  | 1,890 |\n\
             | Anna Lund North Rock light |  | 1,890 |\n\
             |  |  |  | TRUE | 2.5 |\n\
             \u{c}\n\
             ## A\\|B\n\n\
             | x \\& y! |\n\
             | --- |"
        );
    }

    #[test]
    fn ods_huge_repeats_of_a_value_are_capped() {
        let content = ods_content(
            r#"<table:table table:name="Big"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="1048576"><text:p>x</text:p></table:table-cell><table:table-cell><text:p>end</text:p></table:table-cell></table:table-row></table:table>"#,
        );
        let markdown = ods_markdown(&content, &ExtractLimits::default());
        let lines: Vec<&str> = markdown.lines().collect();
        // A heading, a blank line, then rows of 1,000 columns: the repeat is capped and the
        // cell after it, at column 1,048,577, is past the last column. A sheet keeps a cell
        // per 16 bytes of the text limit: 655 rows of them.
        let row = format!("|{}", " x |".repeat(MAX_REPEAT));
        assert_eq!(lines[2], row);
        assert_eq!(lines.iter().filter(|line| **line == row).count(), 655);
        assert_eq!(lines.last(), Some(&"… 1047921 rows left out"));
        assert!(markdown.len() <= ExtractLimits::default().max_text_bytes);
    }

    #[test]
    fn ods_rows_past_the_text_limit_are_counted_not_kept() {
        let rows = r#"<table:table-row table:number-rows-repeated="50"><table:table-cell><text:p>the beam turned all night</text:p></table:table-cell></table:table-row>"#;
        let content = ods_content(&format!(
            r#"<table:table table:name="Log">{rows}</table:table>"#
        ));
        assert_eq!(
            ods_markdown(&content, &limited(160)),
            "## Log\n\n| the beam turned all night |\n| --- |\n\
             | the beam turned all night |\n| the beam turned all night |\n\n… 47 rows left out"
        );
    }

    #[test]
    fn ods_refuses_what_is_broken_or_encrypted() {
        let err = ods_to_markdown(b"not a zip at all", &ExtractLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    format: "spreadsheet",
                    ..
                }
            ),
            "{err:?}"
        );
        let no_content = archive(&[("mimetype", "application/vnd.oasis.opendocument.spreadsheet")]);
        assert_eq!(
            ods_to_markdown(&no_content, &ExtractLimits::default())
                .unwrap_err()
                .to_string(),
            "the spreadsheet is corrupt: the archive has no content.xml"
        );
        let encrypted = archive(&[
            (
                MANIFEST,
                r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>"#,
            ),
            (CONTENT, "\u{1}\u{2}"),
        ]);
        assert_eq!(
            ods_to_markdown(&encrypted, &ExtractLimits::default()),
            Err(ExtractError::Encrypted)
        );
        let cut = archive(&[(CONTENT, &ods_content("<table:table><table:table-row>"))]);
        let err = ods_to_markdown(&cut, &ExtractLimits::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the spreadsheet is corrupt: content.xml: "),
            "{err}"
        );
    }
}

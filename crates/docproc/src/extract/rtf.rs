//! RTF documents as Markdown, read by one pass over the bytes with an explicit stack of groups
//! (never recursion: a hostile file nests as deep as it likes, and more than [`MAX_DEPTH`]
//! groups deep is refused as corrupt).
//!
//! Read: paragraphs (`\par`, `\sect`; `\line` a line break, `\tab` a tab); headings from
//! `\outlinelevelN`; list items from `\ls`/`\ilvl` (or an old-style `\pntext` label), numbered
//! when their label (`\listtext`, `\pntext`, not itself written) is a number; tables from
//! `\cell` and `\row` (a nested table's cells as text of their outer cell); page breaks
//! (`\page`, `\pagebb`); field results (`\fldrslt`, not the field code `\fldinst`); footnotes,
//! numbered under "Notes" at the end. Text is decoded by the document's code page
//! (`\ansicpg`, `\mac`) or its font's (`\fcharset`, `\cpg` in the font table), consecutive
//! `\'hh` bytes together so double-byte code pages decode, and by `\uN` with its `\ucN`
//! fallback skipped.
//!
//! Left out: the font, colour, style, list and revision tables, document information, pictures,
//! embedded objects, headers and footers, annotations, index and contents entries, hidden text
//! (`\v`), every `\*` destination docpipe does not know, and binary data (`\binN`). Headings set
//! only by a style (`\sN` naming a "heading" style) are read as paragraphs.

use std::mem::take;

use encoding_rs::Encoding;

use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

/// Groups deeper than this are refused. Word writes fewer than 20 levels; the bound keeps the
/// stack of group states small whatever the input.
const MAX_DEPTH: usize = 256;

const FORMAT: &str = "RTF document";

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    if !bytes.starts_with(b"{\\rtf") {
        return Err(ExtractError::Corrupt {
            format: FORMAT,
            reason: "it does not start with {\\rtf".into(),
        });
    }
    let mut reader = Reader::new(limits);
    reader.read(bytes)?;
    Ok(reader.finish())
}

/// Where the text of a group goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Body,
    /// Not text of the document: left out.
    Skipped,
    /// The font table: only its fonts' character sets are read.
    Fonts,
    /// A list item's label (`\listtext`, `\pntext`): read for its number, not written.
    Label,
    Footnote,
}

/// Paragraph properties, reset by `\pard`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Paragraph {
    in_table: bool,
    /// `\outlinelevelN`, 0 for a top-level heading.
    outline: Option<u8>,
    /// In a list (`\lsN`), at depth `ilvl`.
    listed: bool,
    ilvl: u8,
    page_before: bool,
}

/// The state a group saves and its end restores.
#[derive(Debug, Clone, Copy)]
struct Group {
    destination: Destination,
    /// Fallback characters after `\uN` (`\ucN`).
    uc: usize,
    /// The current font's encoding; `None` for the document's.
    font: Option<&'static Encoding>,
    hidden: bool,
    paragraph: Paragraph,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            destination: Destination::Body,
            uc: 1,
            font: None,
            hidden: false,
            paragraph: Paragraph::default(),
        }
    }
}

#[derive(Debug)]
struct Reader {
    groups: Vec<Group>,
    /// The group state outside every group (and once the outermost group has closed).
    outer: Group,
    /// The document's code page.
    encoding: &'static Encoding,
    /// Fonts of the font table with a character set of their own, by number.
    fonts: Vec<(i32, &'static Encoding)>,
    /// The font the font table is describing, and the default font (`\deffN`).
    font_number: Option<i32>,
    default_font: Option<i32>,
    /// Bytes of text not yet decoded: consecutive bytes decode together.
    pending: Vec<u8>,
    /// Fallback characters still to skip after a `\uN`.
    skip: usize,
    /// The high half of a surrogate pair written as two `\uN`.
    high_surrogate: Option<u16>,

    writer: Writer,
    /// The paragraph being read, and its properties when its first text came.
    text: String,
    text_paragraph: Option<Paragraph>,
    label: String,
    row: Vec<String>,
    table: Vec<Vec<String>>,
    note: String,
    notes: Vec<String>,
    /// Text read so far; reading stops well past the limit (the caller cuts exactly).
    read: usize,
    max_read: usize,
    done: bool,
}

impl Reader {
    fn new(limits: &ExtractLimits) -> Self {
        Self {
            groups: Vec::new(),
            outer: Group::default(),
            encoding: encoding_rs::WINDOWS_1252,
            fonts: Vec::new(),
            font_number: None,
            default_font: None,
            pending: Vec::new(),
            skip: 0,
            high_surrogate: None,
            writer: Writer::new(),
            text: String::new(),
            text_paragraph: None,
            label: String::new(),
            row: Vec::new(),
            table: Vec::new(),
            note: String::new(),
            notes: Vec::new(),
            read: 0,
            // Markdown and white space make the text shorter than what was read: twice the
            // limit is sure to be cut, and so to be marked truncated.
            max_read: limits.max_text_bytes.saturating_mul(2),
            done: false,
        }
    }

    fn group(&self) -> &Group {
        self.groups.last().unwrap_or(&self.outer)
    }

    fn group_mut(&mut self) -> &mut Group {
        self.groups.last_mut().unwrap_or(&mut self.outer)
    }

    /// Whether text here is kept: not in a left-out destination (a picture's megabytes of hex
    /// are never held), not hidden.
    fn collects_text(&self) -> bool {
        let group = self.group();
        !group.hidden && !matches!(group.destination, Destination::Skipped | Destination::Fonts)
    }

    fn read(&mut self, bytes: &[u8]) -> Result<(), ExtractError> {
        let mut i = 0;
        while i < bytes.len() && !self.done {
            match bytes[i] {
                b'{' => {
                    self.flush_bytes();
                    self.skip = 0;
                    if self.groups.len() >= MAX_DEPTH {
                        return Err(ExtractError::Corrupt {
                            format: FORMAT,
                            reason: format!("groups are nested more than {MAX_DEPTH} deep"),
                        });
                    }
                    let group = *self.group();
                    self.groups.push(group);
                    i += 1;
                }
                b'}' => {
                    self.flush_bytes();
                    self.skip = 0;
                    self.close_group();
                    // What follows the document's group is not part of it.
                    self.done |= self.groups.is_empty();
                    i += 1;
                }
                b'\\' => i = self.control(bytes, i + 1),
                // Line breaks in the file are not text; other controls are not either.
                b'\r' | b'\n' => i += 1,
                byte => {
                    if self.skip > 0 {
                        self.skip -= 1;
                    } else if (byte >= 0x20 || byte == b'\t') && self.collects_text() {
                        self.pending.push(byte);
                        // A long run of text with no control word in it is bounded too.
                        self.done |= self.read.saturating_add(self.pending.len()) > self.max_read;
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Reads the control word or symbol after the backslash at `start - 1`; returns where the
    /// next token starts.
    fn control(&mut self, bytes: &[u8], start: usize) -> usize {
        let Some(&first) = bytes.get(start) else {
            return start;
        };
        if first == b'\'' {
            let hex = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
            return match (hex(start + 1), hex(start + 2)) {
                (Some(high), Some(low)) => {
                    if self.skip > 0 {
                        self.skip -= 1;
                    } else {
                        // A byte of a double-byte character waits for the next one.
                        let byte = (high * 16 + low) as u8;
                        if (byte >= 0x20 || byte == b'\t') && self.collects_text() {
                            self.pending.push(byte);
                        }
                    }
                    start + 3
                }
                // A broken escape: its hex digit, if any, is not text either.
                (Some(_), None) => start + 2,
                (None, _) => start + 1,
            };
        }
        self.flush_bytes();
        if !first.is_ascii_alphabetic() {
            if self.skip > 0 {
                self.skip -= 1;
            } else {
                self.symbol(first);
            }
            return start + 1;
        }
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_alphabetic) {
            end += 1;
        }
        let word = &bytes[start..end];
        let negative =
            bytes.get(end) == Some(&b'-') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if negative {
            end += 1;
        }
        let mut parameter: Option<i32> = None;
        while let Some(digit) = bytes.get(end).filter(|b| b.is_ascii_digit()) {
            let value = parameter.unwrap_or(0);
            parameter = Some(
                value
                    .saturating_mul(10)
                    .saturating_add(i32::from(digit - b'0')),
            );
            end += 1;
        }
        let parameter = parameter.map(|p| if negative { -p } else { p });
        if bytes.get(end) == Some(&b' ') {
            end += 1;
        }
        if word == b"bin" {
            // Binary data, of the length given: never text, and never parsed.
            let length = usize::try_from(parameter.unwrap_or(0)).unwrap_or(0);
            return end.saturating_add(length);
        }
        if self.skip > 0 {
            self.skip -= 1;
        } else {
            self.word(word, parameter);
        }
        end
    }

    fn symbol(&mut self, symbol: u8) {
        match symbol {
            b'\\' | b'{' | b'}' => self.push_char(char::from(symbol)),
            b'~' => self.push_char('\u{a0}'),
            b'_' => self.push_char('-'),
            b'\t' => self.push_char('\t'),
            // A backslash ending a line is a paragraph mark.
            b'\r' | b'\n' => self.end_paragraph(),
            b'*' => self.group_mut().destination = Destination::Skipped,
            // `\-` optional hyphen, `\:` index sub-entry, `\|` formula: nothing to read.
            _ => {}
        }
    }

    fn word(&mut self, word: &[u8], parameter: Option<i32>) {
        let on = parameter != Some(0);
        let level = |p: Option<i32>| u8::try_from(p.unwrap_or(0).clamp(0, 8)).unwrap_or(0);
        match word {
            b"par" | b"sect" => self.end_paragraph(),
            b"line" => self.push_char('\n'),
            b"tab" => self.push_char('\t'),
            b"page" => {
                self.end_paragraph();
                if self.group().destination == Destination::Body {
                    self.flush_table();
                    self.writer.page_break();
                }
            }
            b"cell" => self.end_cell(),
            // A nested table's cell: its text stays in the outer cell.
            b"nestcell" => self.push_char(' '),
            b"row" => self.end_row(),
            b"pard" => self.group_mut().paragraph = Paragraph::default(),
            b"intbl" => self.group_mut().paragraph.in_table = true,
            b"itap" => self.group_mut().paragraph.in_table = parameter.unwrap_or(1) > 0,
            b"outlinelevel" => {
                self.group_mut().paragraph.outline = parameter
                    .filter(|level| (0..=8).contains(level))
                    .and_then(|level| u8::try_from(level).ok());
            }
            b"ls" => self.group_mut().paragraph.listed = true,
            b"ilvl" => self.group_mut().paragraph.ilvl = level(parameter),
            b"pagebb" => self.group_mut().paragraph.page_before = on,
            b"plain" => self.group_mut().hidden = false,
            b"v" => self.group_mut().hidden = on,
            b"uc" => {
                self.group_mut().uc =
                    usize::try_from(parameter.unwrap_or(1).clamp(0, 16)).unwrap_or(1)
            }
            b"u" => {
                let unit = parameter.unwrap_or(0);
                // A signed 16-bit number: negative ones are the upper half.
                let unit =
                    u16::try_from(if unit < 0 { unit + 65_536 } else { unit }).unwrap_or(0xfffd);
                self.push_unit(unit);
                self.skip = self.group().uc;
            }
            b"ansicpg" => {
                if let Some(encoding) = parameter.and_then(code_page) {
                    self.encoding = encoding;
                }
            }
            b"mac" => self.encoding = encoding_rs::MACINTOSH,
            b"deff" => self.default_font = parameter,
            b"f" => self.font(parameter),
            b"fcharset" => self.font_encoding(parameter.and_then(charset)),
            b"cpg" => self.font_encoding(parameter.and_then(code_page)),
            b"emdash" => self.push_char('\u{2014}'),
            b"endash" => self.push_char('\u{2013}'),
            b"bullet" => self.push_char('\u{2022}'),
            b"lquote" => self.push_char('\u{2018}'),
            b"rquote" => self.push_char('\u{2019}'),
            b"ldblquote" => self.push_char('\u{201c}'),
            b"rdblquote" => self.push_char('\u{201d}'),
            b"emspace" | b"enspace" | b"qmspace" => self.push_char(' '),
            b"fonttbl" => self.enter(Destination::Fonts),
            b"listtext" | b"pntext" => self.enter(Destination::Label),
            b"footnote" => {
                if self.group().destination == Destination::Body {
                    self.note.clear();
                }
                self.enter(Destination::Footnote);
            }
            word if SKIPPED.contains(&word) => self.enter(Destination::Skipped),
            _ => {}
        }
    }

    /// The current group is the destination `destination`, unless it is already left out.
    fn enter(&mut self, destination: Destination) {
        let group = self.group_mut();
        if !matches!(group.destination, Destination::Skipped | Destination::Fonts) {
            group.destination = destination;
        }
    }

    fn close_group(&mut self) {
        let Some(closed) = self.groups.pop() else {
            return;
        };
        let parent = *self.group();
        match (closed.destination, parent.destination) {
            (Destination::Footnote, Destination::Body) => {
                let note = take(&mut self.note);
                let note = note.split_whitespace().collect::<Vec<_>>().join(" ");
                if !note.is_empty() {
                    self.notes.push(note);
                }
            }
            (Destination::Fonts, destination) if destination != Destination::Fonts => {
                self.font_number = None;
                // Text outside any `\f` is in the default font.
                let default = self.default_font;
                self.font(default);
            }
            _ => {}
        }
    }

    /// `\fN`: in the font table, the font being described; elsewhere, the font of the text.
    fn font(&mut self, number: Option<i32>) {
        if self.group().destination == Destination::Fonts {
            self.font_number = number;
        } else if let Some(number) = number {
            let encoding = self
                .fonts
                .iter()
                .find(|(font, _)| *font == number)
                .map(|(_, encoding)| *encoding);
            self.group_mut().font = encoding;
        }
    }

    fn font_encoding(&mut self, encoding: Option<&'static Encoding>) {
        let (Some(number), Some(encoding)) = (self.font_number, encoding) else {
            return;
        };
        if self.group().destination != Destination::Fonts {
            return;
        }
        self.fonts.retain(|(font, _)| *font != number);
        self.fonts.push((number, encoding));
    }

    fn flush_bytes(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let encoding = self.group().font.unwrap_or(self.encoding);
        let mut bytes = take(&mut self.pending);
        {
            let (text, _) = encoding.decode_without_bom_handling(&bytes);
            self.push_str(&text);
        }
        // The buffer is kept for the next run of bytes.
        bytes.clear();
        self.pending = bytes;
    }

    /// A UTF-16 code unit from `\uN`, pairing surrogates.
    fn push_unit(&mut self, unit: u16) {
        match (self.high_surrogate.take(), unit) {
            (None, 0xd800..=0xdbff) => self.high_surrogate = Some(unit),
            (Some(high), 0xdc00..=0xdfff) => {
                let code =
                    0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                self.push_char(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            (_, unit) => {
                self.push_char(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'));
            }
        }
    }

    fn push_char(&mut self, c: char) {
        let mut buffer = [0; 4];
        self.push_str(c.encode_utf8(&mut buffer));
    }

    fn push_str(&mut self, text: &str) {
        let group = *self.group();
        if group.hidden {
            return;
        }
        match group.destination {
            Destination::Body => {
                // Its properties are those of its first words (white space between groups
                // may come before the `\pard` that sets them).
                if self.text_paragraph.is_none() && !text.trim().is_empty() {
                    self.text_paragraph = Some(group.paragraph);
                }
                self.text.push_str(text);
            }
            Destination::Footnote => self.note.push_str(text),
            Destination::Label => self.label.push_str(text),
            Destination::Skipped | Destination::Fonts => return,
        }
        self.read += text.len();
        self.done |= self.read > self.max_read;
    }

    /// `\par`: the paragraph ends; in a table cell, a line of the cell ends.
    fn end_paragraph(&mut self) {
        let group = *self.group();
        match group.destination {
            Destination::Body => {}
            Destination::Footnote => {
                self.note.push(' ');
                return;
            }
            _ => return,
        }
        let paragraph = self.text_paragraph.unwrap_or(group.paragraph);
        if paragraph.in_table {
            self.text.push('\n');
            return;
        }
        let text = take(&mut self.text);
        let label = take(&mut self.label);
        self.text_paragraph = None;
        if text.trim().is_empty() {
            return;
        }
        self.flush_table();
        if paragraph.page_before && !self.writer.is_empty() {
            self.writer.page_break();
        }
        let label = label.trim();
        if let Some(level) = paragraph.outline {
            self.writer.heading(usize::from(level) + 1, &text);
        } else if paragraph.listed || !label.is_empty() {
            let number = label
                .strip_suffix(['.', ')'])
                .and_then(|n| n.parse::<u64>().ok());
            self.writer.item(usize::from(paragraph.ilvl), number, &text);
        } else {
            self.writer.paragraph(&text);
        }
    }

    fn end_cell(&mut self) {
        match self.group().destination {
            Destination::Body => {
                let cell = take(&mut self.text);
                self.row.push(cell.trim().to_owned());
                self.text_paragraph = None;
                self.label.clear();
            }
            Destination::Footnote => self.note.push(' '),
            _ => {}
        }
    }

    fn end_row(&mut self) {
        if self.group().destination != Destination::Body {
            return;
        }
        if !self.text.trim().is_empty() {
            self.end_cell();
        }
        let row = take(&mut self.row);
        if !row.is_empty() {
            self.table.push(row);
        }
    }

    fn flush_table(&mut self) {
        if !self.row.is_empty() {
            let row = take(&mut self.row);
            self.table.push(row);
        }
        if !self.table.is_empty() {
            let table = take(&mut self.table);
            self.writer.table(&table);
        }
    }

    fn finish(mut self) -> String {
        self.flush_bytes();
        // The last paragraph needs no `\par`, and a table cut short is still a table.
        let paragraph = self.text_paragraph.unwrap_or(self.group().paragraph);
        self.groups.clear();
        self.outer = Group::default();
        if paragraph.in_table {
            if !self.text.trim().is_empty() {
                self.end_cell();
            }
        } else {
            self.text_paragraph = Some(paragraph);
            self.end_paragraph();
        }
        self.flush_table();
        let note = take(&mut self.note);
        if !note.trim().is_empty() {
            self.notes
                .push(note.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if !self.notes.is_empty() {
            self.writer.heading(2, "Notes");
            for (n, note) in (1..).zip(&self.notes) {
                self.writer.item(0, Some(n), note);
            }
        }
        self.writer.finish()
    }
}

/// Destinations whose text is not the document's (`\*` ones are left out whatever their name).
const SKIPPED: &[&[u8]] = &[
    b"colortbl",
    b"stylesheet",
    b"info",
    b"pict",
    b"object",
    b"header",
    b"headerl",
    b"headerr",
    b"headerf",
    b"footer",
    b"footerl",
    b"footerr",
    b"footerf",
    b"fldinst",
    b"listtable",
    b"listoverridetable",
    b"revtbl",
    b"rsidtbl",
    b"filetbl",
    b"pn",
    b"pntxta",
    b"pntxtb",
    b"nonshppict",
    b"nonesttables",
    b"annotation",
    b"atnid",
    b"atnauthor",
    b"xe",
    b"tc",
    b"txe",
    b"rxe",
    b"bkmkstart",
    b"bkmkend",
    b"private",
    b"themedata",
    b"colorschememapping",
    b"datastore",
    b"latentstyles",
    b"generator",
    b"userprops",
    b"docvar",
    b"template",
];

/// The encoding of Windows code page `page`.
fn code_page(page: i32) -> Option<&'static Encoding> {
    Some(match page {
        932 => encoding_rs::SHIFT_JIS,
        936 => encoding_rs::GBK,
        949 => encoding_rs::EUC_KR,
        950 => encoding_rs::BIG5,
        10000 => encoding_rs::MACINTOSH,
        20866 => encoding_rs::KOI8_R,
        21866 => encoding_rs::KOI8_U,
        54936 => encoding_rs::GB18030,
        65001 => encoding_rs::UTF_8,
        28591..=28605 => Encoding::for_label(format!("iso-8859-{}", page - 28590).as_bytes())?,
        _ => Encoding::for_label(format!("windows-{page}").as_bytes())
            .or_else(|| Encoding::for_label(format!("cp{page}").as_bytes()))?,
    })
}

/// The encoding of a font's `\fcharsetN`; `None` for the document's own.
fn charset(charset: i32) -> Option<&'static Encoding> {
    code_page(match charset {
        77 => 10000,
        128 => 932,
        129 => 949,
        134 => 936,
        136 => 950,
        161 => 1253,
        162 => 1254,
        163 => 1258,
        177 => 1255,
        178 => 1256,
        186 => 1257,
        204 => 1251,
        222 => 874,
        238 => 1250,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markdown(rtf: &str) -> String {
        to_markdown(rtf.as_bytes(), &ExtractLimits::default()).unwrap()
    }

    #[test]
    fn decodes_code_page_1252_bytes_and_unicode_with_its_fallback() {
        let rtf = r"{\rtf1\ansi\ansicpg1252 Caf\'e9 costs 3\u8364? or \'80 3.{\uc2\u8364 EU\par}}";
        assert_eq!(markdown(rtf), "Café costs 3€ or € 3.€");
    }

    #[test]
    fn leaves_out_font_colour_and_information_tables() {
        let rtf = r"{\rtf1\ansi\deff0{\fonttbl{\f0\froman Times New Roman;}{\f1\fswiss Arial;}}
{\colortbl;\red0\green0\blue0;}{\info{\title Secret title}{\author Someone}}
{\*\generator Riched20;}{\stylesheet{\s0 Normal;}}\pard\f0\fs24 The keeper lit the lamp.\par}";
        assert_eq!(markdown(rtf), "The keeper lit the lamp.");
    }

    #[test]
    fn reads_a_table_and_the_paragraph_after_it() {
        let rtf = r"{\rtf1 Before.\par
\trowd\cellx1000\cellx2000\pard\intbl Light\cell Range\cell\row
\trowd\cellx1000\cellx2000\pard\intbl Eddystone\cell 22 {\i nmi}\cell\row
\pard After.\par}";
        assert_eq!(
            markdown(rtf),
            "Before.\n\n| Light | Range |\n| --- | --- |\n| Eddystone | 22 nmi |\n\nAfter."
        );
    }

    #[test]
    fn a_page_break_separates_pages() {
        let rtf = r"{\rtf1 First page.\page Second page.\par}";
        assert_eq!(markdown(rtf), "First page.\n\u{c}\nSecond page.");
    }

    #[test]
    fn headings_lists_and_labels() {
        let rtf = r"{\rtf1\pard\outlinelevel0 Keepers\par
\pard\outlinelevel1 Duties\par
\pard{\listtext\'95\tab}\ls1\ilvl0 Trim the wick\par
{\listtext\'95\tab}\ls1\ilvl1 Polish the lens\par
\pard{\listtext 2.\tab}\ls2 Log the weather\par
\pard Plain text with * and #.\par}";
        assert_eq!(
            markdown(rtf),
            "# Keepers\n\n## Duties\n\n- Trim the wick\n    - Polish the lens\n2. Log the weather\n\n\
             Plain text with \\* and #."
        );
    }

    #[test]
    fn control_symbols_and_escapes() {
        let rtf = r"{\rtf1 a\~b\-c\_d \{x\} \\ e\tab f\line g\emdash h\par}";
        assert_eq!(markdown(rtf), "a\u{a0}bc-d {x} \\\\ e\tf\ng\u{2014}h");
    }

    #[test]
    fn field_results_are_kept_and_field_codes_dropped() {
        let rtf = r#"{\rtf1 See {\field{\*\fldinst HYPERLINK "https://example.org"}{\fldrslt the site}}.\par}"#;
        assert_eq!(markdown(rtf), "See the site.");
    }

    #[test]
    fn headers_footers_pictures_and_hidden_text_are_left_out() {
        let rtf = r"{\rtf1{\header Running head\par}{\footerf Page 1\par}{\pict\pngblip 89504e47}
Body{\v  hidden} text.\par}";
        assert_eq!(markdown(rtf), "Body text.");
    }

    #[test]
    fn footnotes_are_numbered_at_the_end() {
        let rtf =
            r"{\rtf1 Lit in 1698.{\super\chftn}{\footnote\pard{\super\chftn} Rebuilt 1759.}\par}";
        assert_eq!(
            markdown(rtf),
            "Lit in 1698.\n\n## Notes\n\n1. Rebuilt 1759."
        );
    }

    #[test]
    fn binary_data_is_skipped_by_its_length() {
        let mut rtf = b"{\\rtf1 Before{\\pict\\bin6 ".to_vec();
        rtf.extend_from_slice(b"}{\\x\x00\xff");
        rtf.extend_from_slice(b"} after.\\par}");
        let out = to_markdown(&rtf, &ExtractLimits::default()).unwrap();
        assert_eq!(out, "Before after.");
    }

    #[test]
    fn double_byte_code_pages_decode_byte_pairs_together() {
        // "日本" in Shift_JIS, then in GBK through a font's character set.
        let rtf = r"{\rtf1\ansi\ansicpg932 \'93\'fa\'96\'7b\par}";
        assert_eq!(markdown(rtf), "日本");
        let rtf = r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}{\f1\fcharset134 SimSun;}}
\f0 Caf\'e9 {\f1 \'c8\'d5\'b1\'be}\par}";
        assert_eq!(markdown(rtf), "Café 日本");
    }

    #[test]
    fn surrogate_pairs_from_two_unicode_words() {
        assert_eq!(markdown(r"{\rtf1\uc0\u-10180\u-8438 !\par}"), "\u{1f30a}!");
    }

    #[test]
    fn a_hundred_thousand_open_groups_are_refused_quickly() {
        let mut rtf = b"{\\rtf1 ".to_vec();
        rtf.extend(std::iter::repeat_n(b'{', 100_000));
        rtf.extend_from_slice(b"deep");
        let start = std::time::Instant::now();
        let err = to_markdown(&rtf, &ExtractLimits::default()).unwrap_err();
        assert!(matches!(err, ExtractError::Corrupt { .. }), "{err:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn nesting_within_the_bound_is_read() {
        let depth = MAX_DEPTH - 1;
        let rtf = format!(
            "{{\\rtf1 {}deep{}\\par}}",
            "{".repeat(depth - 1),
            "}".repeat(depth - 1)
        );
        assert_eq!(markdown(&rtf), "deep");
    }

    #[test]
    fn input_that_is_not_rtf_is_corrupt() {
        assert!(matches!(
            to_markdown(b"plain text", &ExtractLimits::default()),
            Err(ExtractError::Corrupt { .. })
        ));
    }

    #[test]
    fn unbalanced_and_truncated_input_keeps_its_text() {
        assert_eq!(markdown(r"{\rtf1 Cut short \'e"), "Cut short");
        assert_eq!(
            markdown(r"{\rtf1 Closed early.}} trailing"),
            "Closed early."
        );
    }

    #[test]
    fn reading_stops_well_past_the_text_limit() {
        let limits = ExtractLimits {
            max_text_bytes: 100,
            ..ExtractLimits::default()
        };
        let rtf = format!("{{\\rtf1 {}}}", "word ".repeat(10_000));
        let out = to_markdown(rtf.as_bytes(), &limits).unwrap();
        assert!(out.len() > 100 && out.len() < 400, "{}", out.len());
    }

    #[test]
    fn a_picture_larger_than_the_text_limit_does_not_stop_reading() {
        let limits = ExtractLimits {
            max_text_bytes: 100,
            ..ExtractLimits::default()
        };
        let rtf = format!(
            "{{\\rtf1 {{\\pict\\pngblip {}}}After the picture.\\par}}",
            "0f".repeat(10_000)
        );
        let out = to_markdown(rtf.as_bytes(), &limits).unwrap();
        assert_eq!(out, "After the picture.");
    }

    #[test]
    fn white_space_between_groups_does_not_decide_a_paragraph() {
        let rtf = r"{\rtf1{\pard\ls1 Item\par} {\pard\outlinelevel0 Title\par}}";
        assert_eq!(markdown(rtf), "- Item\n\n# Title");
    }

    #[test]
    fn the_lighthouses_fixture() {
        let rtf = include_bytes!("../../tests/fixtures/rtf-lighthouses.rtf");
        let out = to_markdown(rtf, &ExtractLimits::default()).unwrap();
        let expected = "# Lighthouse keepers\n\n\
            Before automation, every light on the coast had a keeper. The keeper’s day began at \
            dusk, when the lamp was lit, and ended at dawn, when the lens was covered against the \
            sun.\n\n\
            Café owners in the harbour kept the keepers’ hours too: the first coffee was \
            poured at 5\u{a0}a.m., and it cost 2€.\n\n\
            ## Duties\n\n\
            - Trim the wick and polish the lens.\n\
            - Wind the clockwork that turns the light.\n\
            - Write the weather in the log every four hours.\n\n\
            ## Stations\n\n\
            | Light | Lit |\n| --- | --- |\n| Eddystone | 1698 |\n| Bell Rock | 1811 |\n\n\
            The keepers’ logs are kept in the archive.\n\u{c}\n\
            Appendix: a keeper’s oath, read aloud on the first night.\n\n\
            ## Notes\n\n\
            1. The last keepers in Britain left North Foreland in 1998.";
        assert_eq!(out, expected);
    }
}

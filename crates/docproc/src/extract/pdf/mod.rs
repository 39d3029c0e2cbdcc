//! PDF: the text layer, page by page in order.
//!
//! `lopdf` parses the file (with bounded decompression) and decodes content streams; the text
//! operators are interpreted here. A font's bytes become characters through its `ToUnicode`
//! map when it has one, else through its simple encoding (WinAnsi, MacRoman, Standard, with
//! `/Differences` for the glyph names text actually uses). Doing this here rather than with
//! `lopdf`'s own text extraction keeps its 4,000-name glyph table (half a megabyte of
//! WebAssembly) out of the Worker, and lets word gaps in `TJ` arrays become spaces.
//!
//! ## Layout
//! - this file: loading, pages, the text operators, fonts.
//! - `encoding`: simple fonts' one-byte encodings and glyph names.
//! - `cmap`: `ToUnicode` CMaps.
//!
//! An encrypted file is refused unless it opens with the empty password (as most readers do),
//! and a PDF whose pages carry no text (a scan) says so.

use std::collections::BTreeMap;
use std::rc::Rc;

use encoding_rs::Encoding;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

mod cmap;
mod collections;
mod content;
mod encoding;
mod layout;
mod widths;

use cmap::{ToUnicode, to_unicode};
use content::Keep;
use encoding::simple_encoding;
use widths::Widths;

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let bound = usize::try_from(limits.max_decompressed_bytes).unwrap_or(usize::MAX);
    let options = LoadOptions {
        max_decompressed_size: Some(bound),
        ..LoadOptions::default()
    };
    // Junk before the header is not the PDF's: its offsets count from the header. Without
    // one (the objects are there), lopdf reads it once given one.
    let headed;
    let bytes = match super::detect::pdf_header(bytes) {
        Some(at) => &bytes[at..],
        None => {
            headed = [b"%PDF-1.7\n".as_slice(), bytes].concat();
            headed.as_slice()
        }
    };
    let mut document = Document::load_mem_with_options(bytes, options)
        .map_err(|e| load_error(e, limits.max_decompressed_bytes))?;
    recover_unbounded_streams(&mut document, bytes);
    if document.is_encrypted() {
        return Err(ExtractError::Encrypted);
    }
    let pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    if pages.is_empty() {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "it has no pages".into(),
        });
    }
    let mut texts: Vec<Vec<layout::Line>> = Vec::new();
    let mut length = 0;
    let mut failed_pages = 0;
    let mut painted = false;
    let read = pages.len().min(limits.max_pages);
    let mut fonts = FontCache::new();
    for &page in pages.iter().take(read) {
        match page_text(&document, page, bound, &mut fonts) {
            Ok((lines, paints)) => {
                painted |= paints;
                length += lines.iter().map(|l| l.text.len() + 1).sum::<usize>();
                texts.push(lines);
            }
            Err(lopdf::Error::Decompress(_)) => {
                return Err(ExtractError::TooLarge {
                    what: "a decompressed page",
                    limit: limits.max_decompressed_bytes,
                });
            }
            // One unreadable page does not lose the rest of the document.
            Err(_) => failed_pages += 1,
        }
        if length > limits.max_text_bytes {
            break;
        }
    }
    layout::drop_running_lines(&mut texts);
    let mut writer = Writer::new();
    layout::write_pages(&texts, &mut writer);
    let out = writer.finish();
    if failed_pages == read {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "no page could be read".into(),
        });
    }
    if out.trim().is_empty() {
        return Err(no_text(&document, read, failed_pages, painted));
    }
    Ok(out)
}

/// Streams whose dictionary has no `/Length` (lopdf keeps them empty): their data runs to
/// the first `endstream` after it, as poppler and pdf.js read them.
fn recover_unbounded_streams(document: &mut Document, bytes: &[u8]) {
    const END: &[u8] = b"endstream";
    for object in document.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let Some(start) = stream.start_position else {
            continue;
        };
        if !stream.content.is_empty() || stream.dict.has(b"Length") {
            continue;
        }
        let Some(data) = bytes.get(start..) else {
            continue;
        };
        let Some(end) = data.windows(END.len()).position(|w| w == END) else {
            continue;
        };
        let data = &data[..end];
        let data = data
            .strip_suffix(b"\r\n")
            .or_else(|| data.strip_suffix(b"\n"))
            .or_else(|| data.strip_suffix(b"\r"))
            .unwrap_or(data);
        stream.set_content(data.to_vec());
    }
}

/// Why the pages that were read gave no text. Only pages that paint something (images, shapes)
/// are called a scan; pages that paint nothing point at a broken structure.
fn no_text(document: &Document, read: usize, failed_pages: usize, painted: bool) -> ExtractError {
    // A file whose cross-reference data had to be rebuilt and that yields no text is more
    // likely cut short or damaged than a scan.
    let reason = if document.xref_recovery.is_some() {
        "it is truncated or damaged (no readable text)".to_owned()
    } else if failed_pages > 0 {
        format!("{failed_pages} of {read} pages could not be read and the others have no text")
    } else if painted {
        return ExtractError::NoTextLayer;
    } else {
        "its pages paint nothing: their contents are missing or unreachable".to_owned()
    };
    ExtractError::Corrupt {
        format: "PDF",
        reason,
    }
}

fn load_error(e: lopdf::Error, limit: u64) -> ExtractError {
    match e {
        lopdf::Error::InvalidPassword
        | lopdf::Error::Decryption(_)
        | lopdf::Error::UnsupportedSecurityHandler(_) => ExtractError::Encrypted,
        lopdf::Error::Decompress(_) => ExtractError::TooLarge {
            what: "a decompressed stream",
            limit,
        },
        other => ExtractError::Corrupt {
            format: "PDF",
            reason: other.to_string(),
        },
    }
}

/// What of an operation the interpreter reads: the operands of text operators, `cm` and
/// `Do`; the operators that save and restore state, begin text or paint; nothing of the rest
/// (paths, colours, marked content), which is skipped unread. Asked of every operation of
/// every page and form, so matched byte by byte.
fn reads(operator: &str) -> Keep {
    match operator.as_bytes() {
        [b'c', b'm']
        | [
            b'T',
            b'f' | b'c' | b'w' | b'z' | b'L' | b's' | b'd' | b'D' | b'm' | b'j' | b'J',
        ]
        | [b'\'' | b'"']
        | [b'D', b'o'] => Keep::Operands,
        [b'q' | b'Q'] | [b'B', b'T'] | [b'T', b'*'] => Keep::Operator,
        _ if paints(operator) => Keep::Operator,
        _ => Keep::Nothing,
    }
}

/// Operators that paint something other than text: paths, images, shadings.
fn paints(operator: &str) -> bool {
    matches!(
        operator.as_bytes(),
        [b'f' | b'F' | b'S' | b's' | b'B' | b'b']
            | [b'f' | b'B' | b'b', b'*']
            | [b'D', b'o']
            | [b'B', b'I']
            | [b's', b'h']
    )
}

/// Form XObjects (content reused from elsewhere: figures, letterheads) and annotation
/// appearances are read up to this depth, and at most this many a page.
const FORM_DEPTH: usize = 8;
const FORMS_PER_PAGE: usize = 512;

/// Fonts already read, by object: a font used on every page, or by a figure drawn on many, is
/// read once a document.
type FontCache = BTreeMap<ObjectId, Rc<Font>>;

/// The text of one page, a line per text line, and whether it paints anything else.
fn page_text(
    document: &Document,
    page: ObjectId,
    bound: usize,
    fonts: &mut FontCache,
) -> lopdf::Result<(Vec<layout::Line>, bool)> {
    let (own, inherited) = document.get_page_resources(page)?;
    let resources: Vec<&Dictionary> = own
        .into_iter()
        .chain(
            inherited
                .iter()
                .filter_map(|id| document.get_dictionary(*id).ok()),
        )
        .collect();
    let bytes = document.get_page_content_with_limit(page, bound)?;
    let operations = content::decode(&bytes, reads)?;
    let mut reader = Interpreter {
        document,
        bound,
        text: layout::PageText::default(),
        painted: false,
        forms: 0,
        fonts,
    };
    let page_fonts = reader.fonts_of(&resources);
    reader.run(
        &operations,
        &page_fonts,
        &resources,
        layout::State::default(),
        0,
    );
    reader.annotations(page, &resources);
    Ok((reader.text.finish(), reader.painted))
}

/// Reads a page's content, and the forms it draws.
struct Interpreter<'a, 'c> {
    document: &'a Document,
    bound: usize,
    text: layout::PageText,
    painted: bool,
    forms: usize,
    fonts: &'c mut FontCache,
}

impl<'a> Interpreter<'a, '_> {
    /// The fonts of `resources` by name, the first dictionary's first (the nearest resources).
    fn fonts_of(&mut self, resources: &[&'a Dictionary]) -> BTreeMap<Vec<u8>, Rc<Font>> {
        let document = self.document;
        let mut fonts: BTreeMap<Vec<u8>, Rc<Font>> = BTreeMap::new();
        for dictionary in resources
            .iter()
            .filter_map(|r| resolve(document, r.get(b"Font").ok()?)?.as_dict().ok())
        {
            for (name, font) in dictionary.iter() {
                if fonts.contains_key(name) {
                    continue;
                }
                let id = font.as_reference().ok();
                let cached = id.and_then(|id| self.fonts.get(&id).cloned());
                let font = match cached {
                    Some(font) => font,
                    None => {
                        let Some(parsed) = resolve(document, font).and_then(|f| f.as_dict().ok())
                        else {
                            continue;
                        };
                        let parsed = Rc::new(Font::new(document, parsed, self.bound));
                        if let Some(id) = id {
                            self.fonts.insert(id, Rc::clone(&parsed));
                        }
                        parsed
                    }
                };
                fonts.insert(name.clone(), font);
            }
        }
        fonts
    }

    fn run(
        &mut self,
        operations: &[content::Operation<'_>],
        fonts: &BTreeMap<Vec<u8>, Rc<Font>>,
        resources: &[&'a Dictionary],
        mut state: layout::State,
        depth: usize,
    ) {
        let mut saved: Vec<layout::State> = Vec::new();
        let mut font: Option<&Font> = None;
        for operation in operations {
            let operands = &operation.operands;
            let number_at = |i: usize| operands.get(i).map_or(0.0, number);
            let text = &mut self.text;
            match operation.operator.as_ref() {
                "q" if saved.len() < 64 => saved.push(state.clone()),
                "Q" => {
                    if let Some(previous) = saved.pop() {
                        state = previous;
                        font = state
                            .font
                            .as_ref()
                            .and_then(|name| fonts.get(name))
                            .map(Rc::as_ref);
                    }
                }
                "cm" => {
                    if let Some(m) = layout::Matrix::from_operands(operands) {
                        state.ctm = m.then(state.ctm);
                    }
                }
                "BT" => state.begin_text(),
                "Tf" => {
                    let name = operands.first().and_then(|name| name.as_name().ok());
                    font = name.and_then(|name| fonts.get(name)).map(Rc::as_ref);
                    state.font = name.map(<[u8]>::to_vec);
                    state.vertical = font.is_some_and(|f| f.vertical.is_some());
                    state.size = number_at(1);
                }
                "Tc" => state.char_spacing = number_at(0),
                "Tw" => state.word_spacing = number_at(0),
                "Tz" => state.scale = number_at(0) / 100.0,
                "TL" => state.leading = number_at(0),
                "Ts" => state.rise = number_at(0),
                "Td" => state.move_line(number_at(0), number_at(1)),
                "TD" => {
                    state.leading = -number_at(1);
                    state.move_line(number_at(0), number_at(1));
                }
                "Tm" => {
                    if let Some(m) = layout::Matrix::from_operands(operands) {
                        state.set_matrix(m);
                    }
                }
                "T*" => state.next_line(),
                "Tj" => show(operands.first(), font, &mut state, text),
                "'" => {
                    state.next_line();
                    show(operands.first(), font, &mut state, text);
                }
                "\"" => {
                    state.word_spacing = number_at(0);
                    state.char_spacing = number_at(1);
                    state.next_line();
                    show(operands.get(2), font, &mut state, text);
                }
                "TJ" => {
                    for item in operands
                        .first()
                        .and_then(|a| a.as_array().ok())
                        .into_iter()
                        .flatten()
                    {
                        match item {
                            Object::Integer(_) | Object::Real(_) => state.kern(number(item)),
                            other => show(Some(other), font, &mut state, text),
                        }
                    }
                }
                "Do" => {
                    self.painted = true;
                    if let Some(name) = operands.first().and_then(|n| n.as_name().ok()) {
                        self.form(name, resources, &state, depth);
                    }
                }
                operator => self.painted |= paints(operator),
            }
        }
    }

    /// Draws what the page's annotations show (filled-in form fields, stamps), each where
    /// its rectangle is.
    fn annotations(&mut self, page: ObjectId, resources: &[&'a Dictionary]) {
        let document = self.document;
        let Ok(page) = document.get_dictionary(page) else {
            return;
        };
        let annotations = match page.get(b"Annots").ok().and_then(|a| resolve(document, a)) {
            Some(Object::Array(items)) => items,
            _ => return,
        };
        for annotation in annotations {
            let Some(annotation) = resolve(document, annotation).and_then(|a| a.as_dict().ok())
            else {
                continue;
            };
            // Hidden (2) or not shown on screen (32).
            let flags = annotation.get(b"F").ok().map_or(0.0, number) as i64;
            if flags & (2 | 32) != 0 {
                continue;
            }
            let Some(appearance) = annotation
                .get(b"AP")
                .ok()
                .and_then(|a| resolve(document, a))
                .and_then(|a| a.as_dict().ok())
                .and_then(|a| resolve(document, a.get(b"N").ok()?))
            else {
                continue;
            };
            // One appearance, or one per state (checkboxes), chosen by `/AS`.
            let stream = match appearance {
                Object::Stream(stream) => Some(stream),
                Object::Dictionary(states) => annotation
                    .get(b"AS")
                    .ok()
                    .and_then(|s| s.as_name().ok())
                    .and_then(|s| resolve(document, states.get(s).ok()?))
                    .and_then(|s| s.as_stream().ok()),
                _ => None,
            };
            let Some(stream) = stream else { continue };
            let corner = |key: &[u8]| -> Option<(f64, f64)> {
                let array = resolve(
                    document,
                    stream.dict.get(key).ok().or(annotation.get(key).ok())?,
                )?
                .as_array()
                .ok()?;
                Some((number(array.first()?), number(array.get(1)?)))
            };
            let mut state = layout::State::default();
            if let (Some(rect), Some(bbox)) = (
                annotation
                    .get(b"Rect")
                    .ok()
                    .and_then(|r| resolve(document, r))
                    .and_then(|r| r.as_array().ok())
                    .and_then(|r| Some((number(r.first()?), number(r.get(1)?)))),
                corner(b"BBox"),
            ) {
                state.ctm = layout::Matrix::translate(rect.0 - bbox.0, rect.1 - bbox.1);
            }
            self.draw(stream, resources, state, 0);
        }
    }

    /// Draws the form XObject `name` names, if it is one: its content under its matrix, with
    /// its own resources (or those it is drawn with).
    fn form(
        &mut self,
        name: &[u8],
        resources: &[&'a Dictionary],
        state: &layout::State,
        depth: usize,
    ) {
        if depth >= FORM_DEPTH || self.forms >= FORMS_PER_PAGE {
            return;
        }
        let document = self.document;
        let stream = resources.iter().find_map(|r| {
            let xobjects = resolve(document, r.get(b"XObject").ok()?)?.as_dict().ok()?;
            match resolve(document, xobjects.get(name).ok()?)? {
                Object::Stream(stream) => Some(stream),
                _ => None,
            }
        });
        let Some(stream) = stream else { return };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
            return;
        }
        self.draw(stream, resources, state.clone(), depth);
    }

    /// Draws a form's content under its matrix, with its own resources (or those it is drawn
    /// with).
    fn draw(
        &mut self,
        stream: &'a lopdf::Stream,
        resources: &[&'a Dictionary],
        state: layout::State,
        depth: usize,
    ) {
        if depth >= FORM_DEPTH || self.forms >= FORMS_PER_PAGE {
            return;
        }
        let document = self.document;
        self.forms += 1;
        let Ok(bytes) = stream.get_plain_content_with_limit(self.bound) else {
            return;
        };
        // Most forms are drawings: without a text object or a form inside, nothing to read.
        let reads_anything = memchr::memchr2_iter(b'B', b'D', &bytes)
            .any(|at| matches!(bytes.get(at..at + 2), Some(b"BT" | b"Do")));
        if !reads_anything {
            return;
        }
        let Ok(operations) = content::decode(&bytes, reads) else {
            return;
        };
        let own: Option<&'a Dictionary> = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| resolve(document, r))
            .and_then(|r| r.as_dict().ok());
        let resources: Vec<&'a Dictionary> = match own {
            Some(own) => vec![own],
            None => resources.to_vec(),
        };
        let fonts = self.fonts_of(&resources);
        let mut inner = state;
        let matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(|m| resolve(document, m))
            .and_then(|m| m.as_array().ok())
            .and_then(|m| layout::Matrix::from_operands(m));
        if let Some(matrix) = matrix {
            inner.ctm = matrix.then(inner.ctm);
        }
        self.run(&operations, &fonts, &resources, inner, depth + 1);
    }
}

fn number(object: &Object) -> f64 {
    match object {
        Object::Integer(i) => *i as f64,
        Object::Real(r) => f64::from(*r),
        _ => 0.0,
    }
}

/// Shows a string: each code's text placed where the pen is, the pen moved by its width.
fn show(
    string: Option<&Object>,
    font: Option<&Font>,
    state: &mut layout::State,
    text: &mut layout::PageText,
) {
    let (Some(Object::String(bytes, _)), Some(font)) = (string, font) else {
        return;
    };
    if let Decoding::Charset { encoding, high } = font.decoding {
        // Codes of one or two bytes, whose CIDs (and so widths) are unknown: a full width
        // for each character, half for ASCII.
        let bytes: Vec<u8> = bytes
            .iter()
            .map(|b| if high { b | 0x80 } else { *b })
            .collect();
        let (decoded, _) = encoding.decode_without_bom_handling(&bytes);
        let full = font.widths.default() / 1000.0;
        let down = font.vertical.as_ref().map(|v| v.default() / 1000.0);
        let mut buffer = [0; 4];
        for c in decoded.chars() {
            let width = match down {
                Some(down) => down,
                None if c.is_ascii() => full / 2.0,
                None => full,
            };
            text.glyph(state, c.encode_utf8(&mut buffer), width, c == ' ');
        }
        return;
    }
    let mut decoded = String::new();
    for code in bytes.chunks(font.code_bytes) {
        let value = code.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        decoded.clear();
        font.decode(value, &mut decoded);
        let widths = font.vertical.as_ref().unwrap_or(&font.widths);
        text.glyph(state, &decoded, widths.of(value) / 1000.0, code == b" ");
    }
}

/// How a font's string bytes become text, and how wide each code is.
struct Font {
    decoding: Decoding,
    code_bytes: usize,
    widths: Widths,
    /// For a font that writes top to bottom (a composite font whose CMap has `WMode` 1),
    /// how far each glyph moves the pen down.
    vertical: Option<Widths>,
}

enum Decoding {
    /// A `ToUnicode` map, and for a simple font the encoding of the codes it leaves out.
    Unicode(ToUnicode, Option<Box<[char; 256]>>),
    /// A one-byte encoding.
    Simple(Box<[char; 256]>),
    /// Two-byte CIDs (`Identity-H`) of an Adobe CJK collection, read by its table.
    Collection(collections::Collection),
    /// Codes in a national character set (a predefined CMap such as `90ms-RKSJ-H`), decoded
    /// a string at a time; `high` when the CMap writes it 7-bit (JIS X 0208 as `H`).
    Charset {
        encoding: &'static Encoding,
        high: bool,
    },
    /// Other composite fonts without a `ToUnicode` map have no recoverable text.
    Opaque,
}

/// How a composite font without a `ToUnicode` map reads: by its CMap's character set, or by
/// its CIDs where they are ASCII.
fn composite_decoding(document: &Document, font: &Dictionary) -> Decoding {
    let cmap = font
        .get(b"Encoding")
        .and_then(Object::as_name)
        .unwrap_or_default();
    let name = cmap
        .strip_suffix(b"-H")
        .or_else(|| cmap.strip_suffix(b"-V"))
        .unwrap_or(cmap);
    let has = |part: &[u8]| name.windows(part.len()).any(|w| w == part);
    // JIS X 0208 in 7 bits: `H`, `V` and their variants (`Ext-H`, `78-H`).
    let high = matches!(cmap, b"H" | b"V") || matches!(name, b"Ext" | b"Add" | b"78" | b"NWP");
    let encoding = if name == b"Identity" {
        let ordering = widths::descendant(document, font)
            .and_then(|d| {
                resolve(document, d.get(b"CIDSystemInfo").ok()?)?
                    .as_dict()
                    .ok()
            })
            .and_then(|info| info.get(b"Ordering").ok()?.as_str().ok());
        return ordering
            .and_then(collections::Collection::from_ordering)
            .map_or(Decoding::Opaque, Decoding::Collection);
    } else if high || name == b"EUC" {
        encoding_rs::EUC_JP
    } else if has(b"RKSJ") {
        encoding_rs::SHIFT_JIS
    } else if has(b"GBK2K") {
        encoding_rs::GB18030
    } else if name.starts_with(b"GB") && has(b"EUC") {
        encoding_rs::GBK
    } else if has(b"B5") {
        encoding_rs::BIG5
    } else if name.starts_with(b"KSC") && !has(b"Johab") {
        encoding_rs::EUC_KR
    } else if name.starts_with(b"Uni") && (has(b"UCS2") || has(b"UTF16")) {
        encoding_rs::UTF_16BE
    } else if name.starts_with(b"Uni") && has(b"UTF8") {
        encoding_rs::UTF_8
    } else {
        return Decoding::Opaque;
    };
    Decoding::Charset { encoding, high }
}

impl Font {
    fn new(document: &Document, font: &Dictionary, bound: usize) -> Font {
        let subtype = font
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or_default();
        let composite = subtype == b"Type0";
        let widths = if composite {
            widths::composite(document, font)
        } else {
            widths::simple(document, font)
        };
        let vertical = (composite && writes_vertically(document, font))
            .then(|| widths::vertical(document, font));
        if let Some(map) = to_unicode(document, font, bound) {
            // Some writers map only the codes a reader could not guess (TeX: the ligatures).
            let fallback = (!composite).then(|| Box::new(simple_encoding(document, font)));
            return Font {
                // A simple font's codes are single bytes, whatever code space its map declares
                // (some writers declare `<0000> <FFFF>` and map `<30>`).
                code_bytes: if composite { map.code_bytes.max(1) } else { 1 },
                decoding: Decoding::Unicode(map, fallback),
                widths,
                vertical,
            };
        }
        if composite {
            return Font {
                decoding: composite_decoding(document, font),
                code_bytes: 2,
                widths,
                vertical,
            };
        }
        Font {
            decoding: Decoding::Simple(Box::new(simple_encoding(document, font))),
            code_bytes: 1,
            widths,
            vertical,
        }
    }

    fn decode(&self, code: u32, out: &mut String) {
        match &self.decoding {
            Decoding::Unicode(map, fallback) => {
                if !map.push(code, out)
                    && let Some(table) = fallback
                {
                    push_simple(table, code, out);
                }
            }
            Decoding::Simple(table) => push_simple(table, code, out),
            Decoding::Collection(collection) => out.extend(collection.char_of(code)),
            Decoding::Charset { .. } | Decoding::Opaque => {}
        }
    }
}

/// Whether a composite font writes top to bottom: a predefined vertical CMap (`Identity-V`,
/// `UniJIS-UTF16-V`, `V`), or an embedded one that says `/WMode 1` or builds on a vertical one
/// (`/UseCMap`).
fn writes_vertically(document: &Document, font: &Dictionary) -> bool {
    let vertical_name = |name: &[u8]| name == b"V" || name.ends_with(b"-V");
    match font
        .get(b"Encoding")
        .ok()
        .and_then(|e| resolve(document, e))
    {
        Some(Object::Name(name)) => vertical_name(name),
        Some(Object::Stream(cmap)) => {
            let says = |key: &[u8]| cmap.dict.get(key).ok().and_then(|o| resolve(document, o));
            says(b"WMode").is_some_and(|m| number(m) == 1.0)
                || says(b"UseCMap").is_some_and(|u| u.as_name().is_ok_and(vertical_name))
        }
        _ => false,
    }
}

fn push_simple(table: &[char; 256], code: u32, out: &mut String) {
    if let Some(&c) = table.get(code as usize)
        && c != '\0'
    {
        out.push(c);
    }
}

pub(super) fn resolve<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use lopdf::{Stream, dictionary};

    use super::*;

    /// The plain text of the document's Markdown.
    fn to_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
        to_markdown(bytes, limits).map(|markdown| crate::markdown::plain(&markdown))
    }

    /// A one-page PDF whose page has `contents` and whose page tree optionally loops back to
    /// itself.
    fn pdf(contents: impl FnOnce(&mut Document, ObjectId) -> Object, looping: bool) -> Vec<u8> {
        let mut document = Document::with_version("1.5");
        let pages = document.new_object_id();
        let page = document.new_object_id();
        let contents = contents(&mut document, page);
        document.objects.insert(
            page,
            Object::Dictionary(dictionary! {
                "Type" => "Page",
                "Parent" => pages,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Contents" => contents,
            }),
        );
        let mut kids = vec![Object::Reference(page)];
        if looping {
            kids.push(Object::Reference(pages));
        }
        document.objects.insert(
            pages,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 2 }),
        );
        let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        bytes
    }

    /// `document` saved with `page` (its contents and resources) as its one page.
    fn with_page(document: &mut Document, mut page: Dictionary) -> Vec<u8> {
        let pages = document.new_object_id();
        page.set("Type", "Page");
        page.set("Parent", pages);
        page.set("MediaBox", vec![0.into(), 0.into(), 595.into(), 842.into()]);
        let page = document.add_object(page);
        document.objects.insert(
            pages,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        document.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        document.save_to(&mut bytes).unwrap();
        bytes
    }

    fn stream(document: &mut Document, content: &str) -> Object {
        let id = document.add_object(Stream::new(dictionary! {}, content.as_bytes().to_vec()));
        Object::Reference(id)
    }

    #[test]
    fn text_inside_a_form_xobject_is_read_where_the_form_is_drawn() {
        let mut document = Document::with_version("1.5");
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let form = document.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 500.into(), 100.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F9" => font } },
            },
            b"BT /F9 12 Tf 0 0 Td (Figure label) Tj ET".to_vec(),
        ));
        let contents = document.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 12 Tf 72 700 Td (Body text.) Tj ET q 1 0 0 1 72 400 cm /Fm1 Do Q".to_vec(),
        ));
        let bytes = with_page(
            &mut document,
            dictionary! {
            "Contents" => contents,
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => font },
                "XObject" => dictionary! { "Fm1" => form },
            },
            },
        );
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "Body text.\n\nFigure label");
    }

    #[test]
    fn a_filled_in_form_fields_appearance_is_read_and_a_hidden_ones_is_not() {
        let mut document = Document::with_version("1.5");
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let mut field = |value: &str, flags: i64| {
            let appearance = document.add_object(Stream::new(
                dictionary! {
                    "Type" => "XObject",
                    "Subtype" => "Form",
                    "BBox" => vec![0.into(), 0.into(), 200.into(), 20.into()],
                    "Resources" => dictionary! { "Font" => dictionary! { "Helv" => font } },
                },
                format!("BT /Helv 10 Tf 2 5 Td ({value}) Tj ET").into_bytes(),
            ));
            document.add_object(dictionary! {
                "Type" => "Annot",
                "Subtype" => "Widget",
                "F" => flags,
                "Rect" => vec![100.into(), 600.into(), 300.into(), 620.into()],
                "AP" => dictionary! { "N" => appearance },
            })
        };
        let shown = field("Ada Lovelace", 4);
        let hidden = field("secret draft", 2);
        let contents = document.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 12 Tf 72 700 Td (Name:) Tj ET".to_vec(),
        ));
        let bytes = with_page(
            &mut document,
            dictionary! {
            "Contents" => contents,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            "Annots" => vec![shown.into(), hidden.into()],
            },
        );
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "Name:\n\nAda Lovelace");
    }

    #[test]
    fn a_partial_to_unicode_map_leaves_the_other_codes_to_the_encoding() {
        let mut document = Document::with_version("1.5");
        let cmap = "begincmap 1 begincodespacerange <00> <FF> endcodespacerange \
                    1 beginbfchar <0B> <FB00> endbfchar endcmap";
        let map = document.add_object(Stream::new(dictionary! {}, cmap.as_bytes().to_vec()));
        let font = dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "CMR10",
            "ToUnicode" => map,
        };
        let font = Font::new(&document, &font, 1 << 20);
        let mut out = String::new();
        for code in [
            u32::from(b'e'),
            0x0B,
            u32::from(b'e'),
            u32::from(b'c'),
            u32::from(b't'),
        ] {
            font.decode(code, &mut out);
        }
        assert_eq!(layout::expand_ligatures(&out), "effect");
    }

    #[test]
    fn a_stream_without_a_length_runs_to_its_endstream() {
        let mut document = Document::with_version("1.3");
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Times-Bold",
        });
        let content = b"BT /F7 10 Tf 22 732 Td (Grandes Client\\350les) Tj ET".to_vec();
        let length = format!("/Length {}", content.len());
        let contents = document.add_object(Stream::new(dictionary! {}, content));
        let mut bytes = with_page(
            &mut document,
            dictionary! {
                "Contents" => contents,
                "Resources" => dictionary! { "Font" => dictionary! { "F7" => font } },
            },
        );
        // The dictionary loses its `/Length`; every offset stays where it was.
        let at = bytes
            .windows(length.len())
            .position(|w| w == length.as_bytes())
            .unwrap();
        bytes[at..at + length.len()].fill(b' ');
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "Grandes Clientèles");
    }

    #[test]
    fn a_simple_fonts_codes_are_single_bytes_whatever_its_map_declares() {
        let mut document = Document::with_version("1.5");
        let cmap = "begincmap 1 begincodespacerange <0000> <FFFF> endcodespacerange \
                    3 beginbfchar <30> <0030> <33> <0033> <0020> <0020> endbfchar endcmap";
        let map = document.add_object(Stream::new(dictionary! {}, cmap.as_bytes().to_vec()));
        let font = document.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "TrueType",
            "BaseFont" => "SimSun",
            "Encoding" => "WinAnsiEncoding",
            "ToUnicode" => map,
        });
        let contents = stream(&mut document, "BT /TT0 12 Tf 72 700 Td (3300 3) Tj ET");
        let bytes = with_page(
            &mut document,
            dictionary! {
                "Contents" => contents,
                "Resources" => dictionary! { "Font" => dictionary! { "TT0" => font } },
            },
        );
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "3300 3");
    }

    #[test]
    fn pages_that_paint_shapes_but_no_text_have_no_text_layer() {
        let bytes = pdf(
            |d, _| stream(d, "0 0 m 100 100 l S 10 10 50 50 re f"),
            false,
        );
        assert_eq!(
            to_text(&bytes, &ExtractLimits::default()),
            Err(ExtractError::NoTextLayer)
        );
    }

    #[test]
    fn a_circular_page_tree_with_unreachable_contents_is_called_broken_not_a_scan() {
        for looping in [false, true] {
            // The page's contents point back at the page itself.
            let bytes = pdf(|_, page| Object::Reference(page), looping);
            let error = to_text(&bytes, &ExtractLimits::default()).unwrap_err();
            assert!(
                matches!(&error, ExtractError::Corrupt { format: "PDF", reason } if reason.contains("paint nothing")),
                "{error:?}"
            );
        }
    }

    /// A composite font with CMap `encoding` over a CID font of Adobe's `ordering`.
    fn cjk_font(document: &mut Document, encoding: &str, ordering: &str) -> ObjectId {
        document.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "BaseFont" => "SomeCJKFont",
            "Encoding" => encoding,
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "Type" => "Font",
                "Subtype" => "CIDFontType2",
                "CIDSystemInfo" => dictionary! {
                    "Registry" => Object::string_literal("Adobe"),
                    "Ordering" => Object::string_literal(ordering),
                    "Supplement" => 2,
                },
            })],
        })
    }

    #[test]
    fn composite_fonts_without_a_to_unicode_map_read_by_their_cmap_or_collection() {
        let mut document = Document::with_version("1.5");
        // CIDs under `Identity-H`: Adobe-Japan1 has ASCII first ("Hi" is CIDs 41 and 74).
        let identity = cjk_font(&mut document, "Identity-H", "Japan1");
        // JIS X 0208 written 7-bit (`H`): "あい".
        let jis = cjk_font(&mut document, "H", "Japan1");
        // Shift-JIS (`90ms-RKSJ-H`), one- and two-byte codes: "A漢".
        let sjis = cjk_font(&mut document, "90ms-RKSJ-H", "Japan1");
        let contents = document.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 12 Tf 72 700 Td <0029004A> Tj ET \
              BT /F2 12 Tf 72 650 Td <24222424> Tj ET \
              BT /F3 12 Tf 72 600 Td <418ABF> Tj ET"
                .to_vec(),
        ));
        let bytes = with_page(
            &mut document,
            dictionary! {
            "Contents" => contents,
            "Resources" => dictionary! {
                "Font" => dictionary! { "F1" => identity, "F2" => jis, "F3" => sjis },
            },
            },
        );
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "Hi\n\nあい\n\nA漢");
    }

    #[test]
    fn vertical_text_reads_down_its_columns_whatever_its_tracking() {
        let mut document = Document::with_version("1.5");
        // JIS X 0208 written 7-bit, vertically (`V`): "あいう", then "えお" a column to the left.
        let font = cjk_font(&mut document, "V", "Japan1");
        // The first column kerned tight (-400 moves the next glyph 0.4 em up): written across,
        // these would be gaps between words.
        let contents = document.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 20 Tf 1 0 0 1 300 700 Tm [<2422> -150 <2424> -400 <2426>] TJ \
              -30 0 Td [<2428> 50 <242A>] TJ ET"
                .to_vec(),
        ));
        let bytes = with_page(
            &mut document,
            dictionary! {
                "Contents" => contents,
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            },
        );
        let markdown = to_markdown(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(markdown.trim(), "あいう\nえお");
    }

    #[test]
    fn a_vertical_fonts_advances_are_its_w2_and_dw2() {
        let mut document = Document::with_version("1.5");
        let font = dictionary! {
            "Subtype" => "Type0",
            "Encoding" => "Identity-V",
            "DescendantFonts" => vec![Object::Dictionary(dictionary! {
                "DW2" => vec![880.into(), (-1200).into()],
                "W2" => vec![
                    10.into(), vec![(-500).into(), 500.into(), 880.into(), (-700).into(), 500.into(), 880.into()].into(),
                    20.into(), 21.into(), (-1500).into(), 500.into(), 880.into(),
                    30.into(), vec![0.into(), 500.into(), 880.into()].into(),
                ],
            })],
        };
        assert!(writes_vertically(&document, &font));
        let advances = widths::vertical(&document, &font);
        let of: Vec<f64> = [10, 11, 12, 20, 21, 30, 5]
            .map(|cid| advances.of(cid))
            .to_vec();
        assert_eq!(of, [500.0, 700.0, 1200.0, 1500.0, 1500.0, 0.0, 1200.0]);
        // Embedded CMaps: vertical by their `/WMode` or the CMap they build on.
        for (key, value, vertical) in [
            ("WMode", Object::Integer(1), true),
            ("UseCMap", Object::Name(b"UniJIS-UCS2-V".to_vec()), true),
            ("UseCMap", Object::Name(b"UniJIS-UCS2-H".to_vec()), false),
        ] {
            let cmap = document.add_object(Stream::new(dictionary! { key => value }, Vec::new()));
            let font = dictionary! { "Subtype" => "Type0", "Encoding" => cmap };
            assert_eq!(writes_vertically(&document, &font), vertical, "{key}");
        }
        let across = cjk_font(&mut document, "Identity-H", "Japan1");
        assert!(!writes_vertically(
            &document,
            document.get_dictionary(across).unwrap()
        ));
    }

    /// A one-page PDF whose page shows `content` with Helvetica as `F1`.
    fn helvetica_page(content: &[u8]) -> Vec<u8> {
        let mut document = Document::with_version("1.5");
        let font = document.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let contents = document.add_object(Stream::new(dictionary! {}, content.to_vec()));
        with_page(
            &mut document,
            dictionary! {
            "Contents" => contents,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            },
        )
    }

    #[test]
    fn the_interpreter_is_given_every_operation_it_reads() {
        // What `Interpreter::run` acts on, and with which operands.
        for operator in [
            "cm", "Tf", "Tc", "Tw", "Tz", "TL", "Ts", "Td", "TD", "Tm", "Tj", "'", "\"", "TJ", "Do",
        ] {
            assert_eq!(reads(operator), Keep::Operands, "{operator}");
        }
        for operator in [
            "q", "Q", "BT", "T*", "f", "F", "f*", "S", "s", "B", "B*", "b", "b*", "sh", "BI",
        ] {
            assert_eq!(reads(operator), Keep::Operator, "{operator}");
        }
        // Every other operator of the PDF 2.0 content grammar, and tokens that are none.
        for operator in [
            "w", "J", "j", "M", "d", "ri", "i", "gs", "m", "l", "c", "v", "y", "h", "re", "n", "W",
            "W*", "ET", "CS", "cs", "SC", "SCN", "sc", "scn", "G", "g", "RG", "rg", "K", "k", "ID",
            "EI", "d0", "d1", "MP", "DP", "BMC", "BDC", "EMC", "BX", "EX", "Tr", "T", "Tjx", "cmm",
            "QQ", "",
        ] {
            assert_eq!(reads(operator), Keep::Nothing, "{operator}");
        }
        // Left to lopdf (an inline image), a stream is filtered the same way.
        let content = content::decode(b"1 0 0 1 5 5 cm 0 0 m 1 1 l S BI /W 1 ID \x80 EI", reads);
        let operations: Vec<(String, usize)> = content
            .unwrap()
            .into_iter()
            .map(|o| (o.operator.into_owned(), o.operands.len()))
            .collect();
        assert_eq!(
            operations,
            [("cm".into(), 6), ("S".into(), 0), ("BI".into(), 0)]
        );
    }

    #[test]
    fn text_raised_a_little_stays_in_its_word_and_raised_half_a_line_is_apart() {
        let bytes = helvetica_page(
            b"BT /F1 10 Tf 72 700 Td (Hello) Tj 4.8 Ts (World) Tj 0 Ts ( E=mc) Tj 3.5 Ts (2) Tj ET",
        );
        let text = to_text(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(text.trim(), "Hello World E=mc2");
    }

    #[test]
    fn character_spacing_is_a_gap_and_letters_spaced_wider_than_poppler_joins_stay_apart() {
        // At 24 points, 5 units of `Tc` are 0.21 em between letters (a letter-spaced word),
        // 10 units 0.42 em (letters set apart, as pdftotext reads them); a `TJ` kern the same.
        let bytes = helvetica_page(
            b"BT /F1 24 Tf 72 700 Td 5 Tc (Hello) Tj 0 -50 Td 10 Tc (Hello) Tj \
              0 -50 Td 0 Tc [(H) -200 (e) -200 (l) -200 (l) -200 (o)] TJ ET",
        );
        let markdown = to_markdown(&bytes, &ExtractLimits::default()).unwrap();
        assert_eq!(markdown.trim(), "Hello\n\nH e l l o\n\nHello");
    }
}

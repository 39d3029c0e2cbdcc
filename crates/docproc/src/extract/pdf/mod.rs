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

use lopdf::content::Content;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{ExtractError, ExtractLimits};

mod cmap;
mod encoding;

use cmap::{ToUnicode, to_unicode};
use encoding::simple_encoding;

pub(super) fn to_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let bound = usize::try_from(limits.max_decompressed_bytes).unwrap_or(usize::MAX);
    let options = LoadOptions {
        max_decompressed_size: Some(bound),
        ..LoadOptions::default()
    };
    let document = Document::load_mem_with_options(bytes, options)
        .map_err(|e| load_error(e, limits.max_decompressed_bytes))?;
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
    let mut out = String::new();
    let mut failed_pages = 0;
    let read = pages.len().min(limits.max_pages);
    for &page in pages.iter().take(read) {
        match page_text(&document, page, bound) {
            Ok(text) => {
                out.push_str(text.trim_end());
                out.push_str("\n\n");
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
        if out.len() > limits.max_text_bytes {
            break;
        }
    }
    if failed_pages == read {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "no page could be read".into(),
        });
    }
    // A file whose cross-reference data had to be rebuilt and that yields no text is more
    // likely cut short or damaged than a scan.
    if out.trim().is_empty() && document.xref_recovery.is_some() {
        return Err(ExtractError::Corrupt {
            format: "PDF",
            reason: "it is truncated or damaged (no readable text)".into(),
        });
    }
    Ok(out)
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

/// `TJ` offsets (thousandths of an em) more negative than this are gaps between words.
const WORD_GAP: f64 = -200.0;

/// The text of one page, a line per text line.
fn page_text(document: &Document, page: ObjectId, bound: usize) -> lopdf::Result<String> {
    let fonts: BTreeMap<Vec<u8>, Font> = document
        .get_page_fonts(page)?
        .into_iter()
        .map(|(name, dictionary)| (name, Font::new(document, dictionary, bound)))
        .collect();
    let content = Content::decode(&document.get_page_content_with_limit(page, bound)?)?;
    let mut out = String::new();
    let mut font: Option<&Font> = None;
    for operation in &content.operations {
        let operands = &operation.operands;
        match operation.operator.as_str() {
            "Tf" => {
                font = operands
                    .first()
                    .and_then(|name| name.as_name().ok())
                    .and_then(|name| fonts.get(name));
            }
            "Tj" => show(operands.first(), font, &mut out),
            "'" => {
                new_line(&mut out);
                show(operands.first(), font, &mut out);
            }
            "\"" => {
                new_line(&mut out);
                show(operands.get(2), font, &mut out);
            }
            "TJ" => {
                for item in operands
                    .first()
                    .and_then(|a| a.as_array().ok())
                    .into_iter()
                    .flatten()
                {
                    match item {
                        Object::Integer(_) | Object::Real(_) => {
                            if number(item) < WORD_GAP {
                                space(&mut out);
                            }
                        }
                        other => show(Some(other), font, &mut out),
                    }
                }
            }
            "Td" | "TD" => {
                let dy = operands.get(1).map_or(0.0, number);
                if dy.abs() > f64::EPSILON {
                    new_line(&mut out);
                } else {
                    space(&mut out);
                }
            }
            "T*" | "ET" => new_line(&mut out),
            _ => {}
        }
    }
    Ok(out)
}

fn number(object: &Object) -> f64 {
    match object {
        Object::Integer(i) => *i as f64,
        Object::Real(r) => f64::from(*r),
        _ => 0.0,
    }
}

fn space(out: &mut String) {
    if !out.is_empty() && !out.ends_with([' ', '\n']) {
        out.push(' ');
    }
}

fn new_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn show(string: Option<&Object>, font: Option<&Font>, out: &mut String) {
    if let (Some(Object::String(bytes, _)), Some(font)) = (string, font) {
        font.decode(bytes, out);
    }
}

/// How a font's string bytes become text.
enum Font {
    /// A `ToUnicode` map, with codes of `code_bytes` bytes.
    Unicode { map: ToUnicode, code_bytes: usize },
    /// A one-byte encoding.
    Simple(Box<[char; 256]>),
    /// Composite fonts without a `ToUnicode` map have no recoverable text.
    Opaque,
}

impl Font {
    fn new(document: &Document, font: &Dictionary, bound: usize) -> Font {
        if let Some(map) = to_unicode(document, font, bound) {
            let code_bytes = map.code_bytes;
            return Font::Unicode { map, code_bytes };
        }
        let subtype = font
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or_default();
        if subtype == b"Type0" {
            return Font::Opaque;
        }
        Font::Simple(Box::new(simple_encoding(document, font)))
    }

    fn decode(&self, bytes: &[u8], out: &mut String) {
        match self {
            Font::Unicode { map, code_bytes } => {
                for code in bytes.chunks(*code_bytes) {
                    let code = code.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                    map.push(code, out);
                }
            }
            Font::Simple(table) => {
                out.extend(
                    bytes
                        .iter()
                        .map(|&b| table[usize::from(b)])
                        .filter(|&c| c != '\0'),
                );
            }
            Font::Opaque => {}
        }
    }
}

pub(super) fn resolve<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

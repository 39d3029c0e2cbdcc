//! PDF: the text layer, page by page in order.
//!
//! `lopdf` parses the file (with bounded decompression) and decodes content streams; the text
//! operators are interpreted here. A font's bytes become characters through its `ToUnicode`
//! map when it has one, else through its simple encoding (WinAnsi, MacRoman, Standard, with
//! `/Differences` for the glyph names text actually uses). Doing this here rather than with
//! `lopdf`'s own text extraction keeps its 4,000-name glyph table (half a megabyte of
//! WebAssembly) out of the Worker, and lets word gaps in `TJ` arrays become spaces.
//!
//! An encrypted file is refused unless it opens with the empty password (as most readers do),
//! and a PDF whose pages carry no text (a scan) says so.

use std::collections::BTreeMap;

use encoding_rs::{MACINTOSH, WINDOWS_1252};
use lopdf::content::Content;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{ExtractError, ExtractLimits};

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

fn resolve<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The one-byte encoding of a simple font: its base encoding with `/Differences` applied.
fn simple_encoding(document: &Document, font: &Dictionary) -> [char; 256] {
    let encoding = font
        .get(b"Encoding")
        .ok()
        .and_then(|e| resolve(document, e));
    let (base, differences) = match encoding {
        Some(Object::Name(name)) => (name.as_slice(), None),
        Some(Object::Dictionary(dictionary)) => (
            dictionary
                .get(b"BaseEncoding")
                .and_then(Object::as_name)
                .unwrap_or(b"StandardEncoding"),
            dictionary
                .get(b"Differences")
                .and_then(Object::as_array)
                .ok(),
        ),
        _ => (&b"StandardEncoding"[..], None),
    };
    let mut table = ['\0'; 256];
    let decoder = if base == b"MacRomanEncoding" {
        MACINTOSH
    } else {
        WINDOWS_1252
    };
    for (byte, slot) in table.iter_mut().enumerate() {
        let single = [u8::try_from(byte).unwrap_or(0)];
        let (text, _) = decoder.decode_without_bom_handling(&single);
        *slot = text
            .chars()
            .next()
            .filter(|c| !c.is_control())
            .unwrap_or('\0');
    }
    if base == b"StandardEncoding" {
        table[0x27] = '’';
        table[0x60] = '‘';
    }
    let mut code = 0usize;
    for item in differences.into_iter().flatten() {
        match item {
            Object::Integer(i) => code = usize::try_from(*i).unwrap_or(usize::MAX),
            Object::Name(name) => {
                if let Some(slot) = table.get_mut(code) {
                    *slot = glyph_char(name).unwrap_or('\0');
                }
                code = code.saturating_add(1);
            }
            _ => {}
        }
    }
    table
}

/// The character a glyph name stands for: single letters, `uniXXXX`, `uXXXX`, and the names
/// of Latin-1 and common punctuation glyphs.
fn glyph_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_ascii_alphabetic()
    {
        return Some(c);
    }
    for prefix in ["uni", "u"] {
        if let Some(hex) = name.strip_prefix(prefix)
            && (4..=6).contains(&hex.len())
            && let Ok(code) = u32::from_str_radix(&hex[..4.max(hex.len().min(6))], 16)
        {
            return char::from_u32(code);
        }
    }
    GLYPH_NAMES
        .binary_search_by(|(glyph, _)| glyph.cmp(&name))
        .ok()
        .map(|i| GLYPH_NAMES[i].1)
}

/// Glyph names of the Adobe Glyph List for Latin-1 and common punctuation, sorted by name.
const GLYPH_NAMES: &[(&str, char)] = &[
    ("AE", 'Æ'),
    ("Aacute", 'Á'),
    ("Acircumflex", 'Â'),
    ("Adieresis", 'Ä'),
    ("Agrave", 'À'),
    ("Aring", 'Å'),
    ("Atilde", 'Ã'),
    ("Ccedilla", 'Ç'),
    ("Eacute", 'É'),
    ("Ecircumflex", 'Ê'),
    ("Edieresis", 'Ë'),
    ("Egrave", 'È'),
    ("Eth", 'Ð'),
    ("Iacute", 'Í'),
    ("Icircumflex", 'Î'),
    ("Idieresis", 'Ï'),
    ("Igrave", 'Ì'),
    ("Ntilde", 'Ñ'),
    ("OE", 'Œ'),
    ("Oacute", 'Ó'),
    ("Ocircumflex", 'Ô'),
    ("Odieresis", 'Ö'),
    ("Ograve", 'Ò'),
    ("Oslash", 'Ø'),
    ("Otilde", 'Õ'),
    ("Scaron", 'Š'),
    ("Thorn", 'Þ'),
    ("Uacute", 'Ú'),
    ("Ucircumflex", 'Û'),
    ("Udieresis", 'Ü'),
    ("Ugrave", 'Ù'),
    ("Yacute", 'Ý'),
    ("Ydieresis", 'Ÿ'),
    ("Zcaron", 'Ž'),
    ("aacute", 'á'),
    ("acircumflex", 'â'),
    ("acute", '´'),
    ("adieresis", 'ä'),
    ("ae", 'æ'),
    ("agrave", 'à'),
    ("ampersand", '&'),
    ("aring", 'å'),
    ("asciicircum", '^'),
    ("asciitilde", '~'),
    ("asterisk", '*'),
    ("at", '@'),
    ("atilde", 'ã'),
    ("backslash", '\\'),
    ("bar", '|'),
    ("braceleft", '{'),
    ("braceright", '}'),
    ("bracketleft", '['),
    ("bracketright", ']'),
    ("brokenbar", '¦'),
    ("bullet", '•'),
    ("ccedilla", 'ç'),
    ("cedilla", '¸'),
    ("cent", '¢'),
    ("colon", ':'),
    ("comma", ','),
    ("copyright", '©'),
    ("currency", '¤'),
    ("dagger", '†'),
    ("daggerdbl", '‡'),
    ("degree", '°'),
    ("dieresis", '¨'),
    ("divide", '÷'),
    ("dollar", '$'),
    ("eacute", 'é'),
    ("ecircumflex", 'ê'),
    ("edieresis", 'ë'),
    ("egrave", 'è'),
    ("eight", '8'),
    ("ellipsis", '…'),
    ("emdash", '—'),
    ("endash", '–'),
    ("equal", '='),
    ("eth", 'ð'),
    ("exclam", '!'),
    ("exclamdown", '¡'),
    ("ff", 'ﬀ'),
    ("ffi", 'ﬃ'),
    ("ffl", 'ﬄ'),
    ("fi", 'ﬁ'),
    ("five", '5'),
    ("fl", 'ﬂ'),
    ("florin", 'ƒ'),
    ("four", '4'),
    ("fraction", '⁄'),
    ("germandbls", 'ß'),
    ("grave", '`'),
    ("greater", '>'),
    ("guillemotleft", '«'),
    ("guillemotright", '»'),
    ("guilsinglleft", '‹'),
    ("guilsinglright", '›'),
    ("hyphen", '-'),
    ("iacute", 'í'),
    ("icircumflex", 'î'),
    ("idieresis", 'ï'),
    ("igrave", 'ì'),
    ("less", '<'),
    ("logicalnot", '¬'),
    ("macron", '¯'),
    ("minus", '−'),
    ("mu", 'µ'),
    ("multiply", '×'),
    ("nbspace", ' '),
    ("nine", '9'),
    ("ntilde", 'ñ'),
    ("numbersign", '#'),
    ("oacute", 'ó'),
    ("ocircumflex", 'ô'),
    ("odieresis", 'ö'),
    ("oe", 'œ'),
    ("ograve", 'ò'),
    ("one", '1'),
    ("onehalf", '½'),
    ("onequarter", '¼'),
    ("onesuperior", '¹'),
    ("ordfeminine", 'ª'),
    ("ordmasculine", 'º'),
    ("oslash", 'ø'),
    ("otilde", 'õ'),
    ("paragraph", '¶'),
    ("parenleft", '('),
    ("parenright", ')'),
    ("percent", '%'),
    ("period", '.'),
    ("periodcentered", '·'),
    ("perthousand", '‰'),
    ("plus", '+'),
    ("plusminus", '±'),
    ("question", '?'),
    ("questiondown", '¿'),
    ("quotedbl", '"'),
    ("quotedblbase", '„'),
    ("quotedblleft", '“'),
    ("quotedblright", '”'),
    ("quoteleft", '‘'),
    ("quoteright", '’'),
    ("quotesinglbase", '‚'),
    ("quotesingle", '\''),
    ("registered", '®'),
    ("scaron", 'š'),
    ("section", '§'),
    ("semicolon", ';'),
    ("seven", '7'),
    ("six", '6'),
    ("slash", '/'),
    ("space", ' '),
    ("sterling", '£'),
    ("thorn", 'þ'),
    ("three", '3'),
    ("threequarters", '¾'),
    ("threesuperior", '³'),
    ("trademark", '™'),
    ("two", '2'),
    ("twosuperior", '²'),
    ("uacute", 'ú'),
    ("ucircumflex", 'û'),
    ("udieresis", 'ü'),
    ("ugrave", 'ù'),
    ("underscore", '_'),
    ("yacute", 'ý'),
    ("ydieresis", 'ÿ'),
    ("yen", '¥'),
    ("zcaron", 'ž'),
    ("zero", '0'),
];

/// A parsed `ToUnicode` CMap: single codes and code ranges to text.
#[derive(Debug, Default)]
struct ToUnicode {
    code_bytes: usize,
    single: BTreeMap<u32, String>,
    /// `(first, last, text of first)`: later codes add to the text's last character.
    ranges: Vec<(u32, u32, String)>,
}

impl ToUnicode {
    fn push(&self, code: u32, out: &mut String) {
        if let Some(text) = self.single.get(&code) {
            out.push_str(text);
            return;
        }
        let range = self
            .ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&code));
        if let Some((first, _, start)) = range {
            let mut text = start.clone();
            if let Some(last) = text.pop() {
                let shifted = u32::from(last).saturating_add(code - first);
                text.extend(char::from_u32(shifted));
            }
            out.push_str(&text);
        }
    }
}

fn to_unicode(document: &Document, font: &Dictionary, bound: usize) -> Option<ToUnicode> {
    let stream = match resolve(document, font.get(b"ToUnicode").ok()?)? {
        Object::Stream(stream) => stream,
        _ => return None,
    };
    let content = stream.get_plain_content_with_limit(bound).ok()?;
    let map = parse_cmap(&content);
    (!map.single.is_empty() || !map.ranges.is_empty()).then_some(map)
}

/// Tokens of a CMap: hex strings, array brackets and keywords (other syntax is skipped).
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Hex(Vec<u8>),
    Open,
    Close,
    Word(&'a [u8]),
}

fn tokens(data: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'<' if data.get(i + 1) != Some(&b'<') => {
                let end = data[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(data.len(), |e| i + e);
                let digits: Vec<u8> = data[i + 1..end]
                    .iter()
                    .filter(|b| b.is_ascii_hexdigit())
                    .copied()
                    .collect();
                let bytes = digits
                    .chunks(2)
                    .map(|pair| {
                        let hex = std::str::from_utf8(pair).unwrap_or("0");
                        let padded = if hex.len() == 1 {
                            format!("{hex}0")
                        } else {
                            hex.to_owned()
                        };
                        u8::from_str_radix(&padded, 16).unwrap_or(0)
                    })
                    .collect();
                out.push(Token::Hex(bytes));
                i = end + 1;
            }
            b'[' => {
                out.push(Token::Open);
                i += 1;
            }
            b']' => {
                out.push(Token::Close);
                i += 1;
            }
            b'%' => {
                i += data[i..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .unwrap_or(data.len() - i);
            }
            b if b.is_ascii_alphabetic() => {
                let end = data[i..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .map_or(data.len(), |e| i + e);
                out.push(Token::Word(&data[i..end]));
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

fn code(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

/// UTF-16BE bytes of a CMap destination as text.
fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
        .collect();
    char::decode_utf16(units).filter_map(Result::ok).collect()
}

/// How many codes a CMap may map one by one (a bound against hostile ranges).
const MAX_CMAP_ENTRIES: usize = 100_000;

fn parse_cmap(data: &[u8]) -> ToUnicode {
    let tokens = tokens(data);
    let mut map = ToUnicode::default();
    let mut section: Option<&[u8]> = None;
    let mut i = 0;
    while i < tokens.len() && map.single.len() + map.ranges.len() < MAX_CMAP_ENTRIES {
        match &tokens[i] {
            Token::Word(word) if word.starts_with(b"begin") => section = Some(&word[5..]),
            Token::Word(word) if word.starts_with(b"end") => section = None,
            Token::Hex(first) => match section {
                Some(b"codespacerange") => {
                    map.code_bytes = map.code_bytes.max(first.len());
                    i += 1; // the range's upper end
                }
                Some(b"bfchar") => {
                    if let Some(Token::Hex(destination)) = tokens.get(i + 1) {
                        map.code_bytes = map.code_bytes.max(first.len());
                        map.single.insert(code(first), utf16(destination));
                    }
                    i += 1;
                }
                Some(b"bfrange") => {
                    if let Some(Token::Hex(last)) = tokens.get(i + 1) {
                        map.code_bytes = map.code_bytes.max(first.len());
                        let (lo, hi) = (code(first), code(last));
                        match tokens.get(i + 2) {
                            Some(Token::Hex(destination)) => {
                                map.ranges.push((lo, hi, utf16(destination)));
                                i += 2;
                            }
                            Some(Token::Open) => {
                                let mut c = lo;
                                let mut j = i + 3;
                                while let Some(Token::Hex(destination)) = tokens.get(j) {
                                    if map.single.len() >= MAX_CMAP_ENTRIES {
                                        break;
                                    }
                                    map.single.insert(c, utf16(destination));
                                    c = c.saturating_add(1);
                                    j += 1;
                                }
                                i = j;
                            }
                            _ => i += 1,
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
    map.code_bytes = map.code_bytes.clamp(1, 4);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_table_is_sorted_for_binary_search() {
        assert!(GLYPH_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(glyph_char(b"eacute"), Some('é'));
        assert_eq!(glyph_char(b"A"), Some('A'));
        assert_eq!(glyph_char(b"uni20AC"), Some('€'));
        assert_eq!(glyph_char(b"u1F600"), Some('😀'));
        assert_eq!(glyph_char(b"g123"), None);
    }

    #[test]
    fn parses_bfchar_and_bfrange_maps() {
        let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
            1 begincodespacerange <0000> <FFFF> endcodespacerange
            2 beginbfchar <0003> <0020> <0011> <00E9> endbfchar
            2 beginbfrange <0024> <0026> <0041> <0030> <0031> [<03B1> <03B2>] endbfrange
            endcmap";
        let map = parse_cmap(cmap);
        assert_eq!(map.code_bytes, 2);
        let mut out = String::new();
        for code in [0x0024, 0x0026, 0x0003, 0x0011, 0x0030, 0x0031, 0x9999] {
            map.push(code, &mut out);
        }
        assert_eq!(out, "AC éαβ");
    }

    #[test]
    fn hostile_cmaps_do_not_blow_up() {
        let mut huge = b"beginbfrange <0000> <FFFFFFFF> [".to_vec();
        huge.extend(std::iter::repeat_n(b"<0041>".as_slice(), 200_000).flatten());
        huge.extend(b"] endbfrange");
        let map = parse_cmap(&huge);
        assert!(map.single.len() <= MAX_CMAP_ENTRIES);
        assert!(parse_cmap(b"<<<>>>[[[<").single.is_empty());
        assert!(parse_cmap(b"beginbfchar <0").single.is_empty());
    }

    #[test]
    fn utf16_destinations_decode_surrogate_pairs() {
        assert_eq!(utf16(&[0xD8, 0x3D, 0xDE, 0x00]), "😀");
        assert_eq!(utf16(&[0x00, 0x66, 0x00, 0x69]), "fi");
    }
}

//! `ToUnicode` CMaps: a font's codes (one or more bytes) to text, parsed with bounds against
//! hostile ranges.

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Object};

use super::resolve;

/// A parsed `ToUnicode` CMap: single codes and code ranges to text.
#[derive(Debug, Default)]
pub(super) struct ToUnicode {
    pub(super) code_bytes: usize,
    single: BTreeMap<u32, String>,
    /// `(first, last, text of first)`: later codes add to the text's last character.
    ranges: Vec<(u32, u32, String)>,
}

impl ToUnicode {
    /// Appends the text of `code`; whether the map has it.
    pub(super) fn push(&self, code: u32, out: &mut String) -> bool {
        if let Some(text) = self.single.get(&code) {
            out.push_str(text);
            return true;
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
            return true;
        }
        false
    }
}

pub(super) fn to_unicode(
    document: &Document,
    font: &Dictionary,
    bound: usize,
) -> Option<ToUnicode> {
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

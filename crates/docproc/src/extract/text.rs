//! Bytes → Unicode text, and the clean-up every extracted text gets.
//!
//! The encoding is decided in this order, and the decision is recorded:
//! 1. a byte-order mark (UTF-8, UTF-16LE, UTF-16BE);
//! 2. the declared `charset`, unless the bytes contradict it: invalid sequences in it, or
//!    bytes that are UTF-8 text declared as another encoding (UTF-16 included). A contradicted
//!    or unknown charset is noted and decoding goes on as if none was declared:
//! 3. valid UTF-8 is UTF-8;
//! 4. for HTML, a `<meta charset>` in the first kilobyte;
//! 5. otherwise the detector Firefox uses (`chardetng`), unless the bytes are not text at all
//!    (NUL bytes or many control bytes), which is an error.

use std::borrow::Cow;

use docpipe_jobs::MediaType;
use encoding_rs::{Encoding, UTF_8};

use super::ExtractError;

/// Text and how it was decoded.
#[derive(Debug)]
pub(super) struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// Set when the text was not plain UTF-8: "decoded as windows-1252 (detected)".
    pub note: Option<String>,
}

/// Decodes a text document. When the bytes are only the beginning of the document
/// (`complete == false`), a character cut in half at the end is dropped.
#[inline(never)]
pub(super) fn decode<'a>(
    bytes: &'a [u8],
    declared: MediaType,
    charset: Option<&str>,
    complete: bool,
) -> Result<Decoded<'a>, ExtractError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        let note = (encoding != UTF_8)
            .then(|| format!("decoded as {} (byte-order mark)", encoding.name()));
        return Ok(Decoded { text, note });
    }
    // What became of the declaration, when it was not simply followed.
    let mut declaration = None;
    if let Some(label) = charset {
        match Encoding::for_label(label.trim().as_bytes()) {
            None => {
                declaration = Some(format!("unknown charset `{}` ignored", label.trim()));
            }
            Some(encoding) => match contradiction(bytes, encoding, complete) {
                None if encoding == UTF_8 => {}
                None => {
                    let (text, _, _) = encoding.decode(bytes);
                    return Ok(Decoded {
                        text,
                        note: Some(format!("decoded as {} (declared)", encoding.name())),
                    });
                }
                Some(why) => {
                    declaration = Some(format!(
                        "declared charset {} does not fit the bytes ({why})",
                        encoding.name()
                    ));
                }
            },
        }
    }
    let undeclared = undeclared(bytes, declared, complete)?;
    let note = match (declaration, undeclared.note) {
        (Some(declaration), Some(how)) => Some(format!("{declaration}; {how}")),
        (Some(declaration), None) => Some(format!("{declaration}; decoded as UTF-8")),
        (None, how) => how,
    };
    Ok(Decoded {
        text: undeclared.text,
        note,
    })
}

/// Why bytes cannot be text in `encoding`, if they cannot: invalid sequences, or text that
/// only another encoding explains (UTF-8 bytes declared as UTF-16 or as a one-byte encoding).
fn contradiction(bytes: &[u8], encoding: &'static Encoding, complete: bool) -> Option<String> {
    let utf8 = std::str::from_utf8(bytes);
    if encoding == UTF_8 {
        return match utf8 {
            // The input ends in the middle of a character: that is the cut, not the text.
            Err(e) if !complete && e.error_len().is_none() => None,
            Err(e) => Some(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
            Ok(_) => None,
        };
    }
    if utf8.is_ok() && !bytes.is_ascii() {
        return Some("they are UTF-8 text".into());
    }
    let utf16 = encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
    if utf16 && utf8.is_ok() && !bytes.contains(&0) {
        return Some("they are ASCII text, with none of the zero bytes of UTF-16".into());
    }
    let (_, _, had_errors) = encoding.decode(bytes);
    let cut_short = !complete && utf16;
    (had_errors && !cut_short).then(|| "invalid byte sequences".into())
}

/// Decoding with no usable declaration: UTF-8 when the bytes are, else `<meta charset>` for
/// HTML, else detection; bytes that are not text at all are an error.
fn undeclared<'a>(
    bytes: &'a [u8],
    declared: MediaType,
    complete: bool,
) -> Result<Decoded<'a>, ExtractError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(ExtractError::Binary {
            offset,
            byte: 0,
            declared,
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            return Ok(Decoded {
                text: Cow::Borrowed(text),
                note: None,
            });
        }
        // The input ends in the middle of a character: keep what is whole.
        Err(e) if !complete && e.error_len().is_none() => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            return Ok(Decoded {
                text: Cow::Borrowed(valid),
                note: None,
            });
        }
        Err(_) => {}
    }
    if let Some(offset) = binary_at(bytes) {
        return Err(ExtractError::Binary {
            offset,
            byte: bytes[offset],
            declared,
        });
    }
    let encoding = if declared == MediaType::Html {
        meta_charset(bytes)
    } else {
        None
    };
    let (encoding, how) = match encoding {
        Some(encoding) => (encoding, "<meta charset>"),
        None => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(&bytes[..bytes.len().min(1 << 20)], true);
            (
                detector.guess(None, chardetng::Utf8Detection::Deny),
                "detected",
            )
        }
    };
    let (text, _, _) = encoding.decode(bytes);
    Ok(Decoded {
        text,
        note: Some(format!("decoded as {} ({how})", encoding.name())),
    })
}

/// docpipe's one rule for "these bytes are not text": control bytes (other than white space)
/// make up more than 1% of the first 8 KiB, or there are more than 32 of them, which no text in
/// a single-byte encoding has. Returns the offset of the first one.
pub(super) fn binary_at(bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(8_192)];
    let is_control = |b: &u8| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C);
    let controls = head.iter().filter(|b| is_control(b)).count();
    (controls * 100 > head.len() || controls > 32)
        .then(|| head.iter().position(is_control))
        .flatten()
}

/// `<meta charset="…">` or `<meta http-equiv="Content-Type" content="…; charset=…">` in the
/// first kilobyte.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head: String = bytes[..bytes.len().min(1_024)]
        .iter()
        .map(|b| b.to_ascii_lowercase() as char)
        .collect();
    let at = head.find("charset=")? + "charset=".len();
    let label: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
        .collect();
    Encoding::for_label(label.as_bytes())
}

/// [`normalize`] of owned, trimmed text, without a copy when there is nothing to change.
pub(super) fn normalized(text: String) -> String {
    let bytes = text.trim().as_bytes();
    let clean = bytes.len() == text.len()
        && !bytes
            .windows(2)
            .any(|w| w[0] == 0xC2 && (0x80..=0xA0).contains(&w[1]))
        && !bytes.windows(3).any(|w| w == [0xEF, 0xBB, 0xBF])
        && !bytes
            .iter()
            .any(|&b| (b < 0x20 && !matches!(b, b'\n' | b'\t' | 0x0C)) || b == 0x7F);
    if clean { text } else { normalize(text.trim()) }
}

/// Unifies line endings and drops control characters other than newline, tab and form feed
/// (a page break), so later
/// stages (and people reading the stored text) see clean lines.
pub(super) fn normalize(text: &str) -> String {
    // Byte by byte, copying runs of ordinary text whole: the characters handled are ASCII
    // controls, C1 controls and no-break space (UTF-8 C2 80–C2 A0) and the BOM (EF BB BF),
    // each of which starts at a character boundary.
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut start, mut i) = (0, 0);
    while let Some(&b) = bytes.get(i) {
        let (len, replacement) = match b {
            // Form feeds separate pages.
            b'\n' | b'\t' | 0x0C => (0, None),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => (1, None),
            b'\r' => (1, Some("\n")),
            0..=0x1F | 0x7F => (1, None),
            0xC2 => match bytes.get(i + 1) {
                Some(0x80..=0x9F) => (2, None),
                Some(0xA0) => (2, Some(" ")),
                _ => (0, None),
            },
            0xEF if bytes.get(i + 1..i + 3) == Some(&[0xBB, 0xBF]) => (3, None),
            _ => (0, None),
        };
        if len == 0 {
            i += 1;
            continue;
        }
        out.push_str(text.get(start..i).unwrap_or_default());
        if let Some(replacement) = replacement {
            out.push_str(replacement);
        }
        i += len;
        start = i;
    }
    out.push_str(text.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(bytes: &[u8]) -> Result<(String, Option<String>), ExtractError> {
        decode(bytes, MediaType::PlainText, None, true).map(|d| (d.text.into_owned(), d.note))
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(plain(b"\xEF\xBB\xBFhi").unwrap(), ("hi".into(), None));
        assert_eq!(plain("naïve".as_bytes()).unwrap(), ("naïve".into(), None));
    }

    #[test]
    fn utf16_with_bom() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Grüße".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Grüße".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(plain(&le).unwrap().0, "Grüße");
        assert_eq!(
            plain(&be).unwrap(),
            (
                "Grüße".into(),
                Some("decoded as UTF-16BE (byte-order mark)".into())
            )
        );
    }

    #[test]
    fn legacy_encodings_are_detected() {
        // "Les élèves étudient à l'école" in windows-1252.
        let latin = b"Les \xE9l\xE8ves \xE9tudient \xE0 l'\xE9cole et les \xE9t\xE9s sont chauds.";
        let (text, note) = plain(latin).unwrap();
        assert_eq!(
            text,
            "Les élèves étudient à l'école et les étés sont chauds."
        );
        assert_eq!(note.as_deref(), Some("decoded as windows-1252 (detected)"));
        // Russian in windows-1251.
        let cyrillic = "Привет, как дела? Это простой текст на русском языке.";
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(cyrillic);
        assert_eq!(plain(&bytes).unwrap().0, cyrillic);
    }

    #[test]
    fn a_declared_charset_is_used() {
        let bytes = b"caf\xE9";
        let decoded = decode(bytes, MediaType::PlainText, Some("iso-8859-1"), true).unwrap();
        assert_eq!(decoded.text, "café");
        assert_eq!(
            decoded.note.as_deref(),
            Some("decoded as windows-1252 (declared)")
        );
    }

    fn declared(bytes: &[u8], charset: &str) -> (String, Option<String>) {
        let decoded = decode(bytes, MediaType::PlainText, Some(charset), true).unwrap();
        (decoded.text.into_owned(), decoded.note)
    }

    #[test]
    fn bytes_that_contradict_the_declared_charset_are_detected_instead() {
        let latin = b"Les \xE9l\xE8ves \xE9tudient \xE0 l'\xE9cole et les \xE9t\xE9s sont chauds.";
        let (text, note) = declared(latin, "utf-8");
        assert!(text.starts_with("Les élèves"), "{text}");
        assert_eq!(
            note.as_deref(),
            Some(
                "declared charset UTF-8 does not fit the bytes (invalid UTF-8 at byte 4); decoded as windows-1252 (detected)"
            )
        );
        let ascii = b"The harbour opened in May. Cranes arrived in June.";
        for charset in ["utf-16", "UTF-16LE", "utf-16be"] {
            let (text, note) = declared(ascii, charset);
            assert_eq!(text.as_bytes(), ascii, "{charset}");
            assert!(
                note.as_deref()
                    .is_some_and(|n| n.contains("none of the zero bytes of UTF-16")
                        && n.ends_with("decoded as UTF-8")),
                "{charset}: {note:?}"
            );
        }
        let (text, note) = declared("café crème".as_bytes(), "iso-8859-1");
        assert_eq!(text, "café crème");
        assert_eq!(
            note.as_deref(),
            Some(
                "declared charset windows-1252 does not fit the bytes (they are UTF-8 text); decoded as UTF-8"
            )
        );
        // Shift_JIS declared, but the bytes hold sequences it does not have.
        let (_, note) = declared(b"\x82\xA0\xFF\xFF\xFF plain", "shift_jis");
        assert!(note.unwrap().contains("(invalid byte sequences)"));
    }

    #[test]
    fn a_declared_charset_the_bytes_fit_is_followed() {
        let utf16: Vec<u8> = "Grüße aus Köln"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            declared(&utf16, "utf-16le"),
            (
                "Grüße aus Köln".into(),
                Some("decoded as UTF-16LE (declared)".into())
            )
        );
        assert_eq!(declared(b"plain ASCII", "iso-8859-1").0, "plain ASCII");
        assert_eq!(
            declared("naïve".as_bytes(), "utf-8"),
            ("naïve".into(), None)
        );
    }

    #[test]
    fn an_unknown_charset_is_named_in_a_note() {
        assert_eq!(
            declared(b"Plain words.", "bogus"),
            (
                "Plain words.".into(),
                Some("unknown charset `bogus` ignored; decoded as UTF-8".into())
            )
        );
    }

    #[test]
    fn html_meta_charset_is_honoured() {
        let page = b"<html><head><meta charset=\"windows-1251\"></head><body>\xCF\xF0\xE8\xE2\xE5\xF2</body></html>";
        let decoded = decode(page, MediaType::Html, None, true).unwrap();
        assert!(decoded.text.contains("Привет"), "{}", decoded.text);
    }

    #[test]
    fn binary_is_refused() {
        assert_eq!(
            plain(b"PK\x03\x04\x00\x00").unwrap_err(),
            ExtractError::Binary {
                offset: 4,
                byte: 0,
                declared: MediaType::PlainText
            }
        );
        let noisy: Vec<u8> = (0..200u8)
            .map(|i| if i % 3 == 0 { 0x01 } else { 0xE9 })
            .collect();
        assert!(matches!(plain(&noisy), Err(ExtractError::Binary { .. })));
    }

    #[test]
    fn partial_input_keeps_whole_characters() {
        let bytes = "Köln".as_bytes();
        let decoded = decode(&bytes[..2], MediaType::PlainText, None, false).unwrap();
        assert_eq!(decoded.text, "K");
    }

    #[test]
    fn normalizes_line_endings_and_control_characters() {
        assert_eq!(normalize("a\r\nb\rc\u{7}d\te\u{A0}f"), "a\nb\ncd\te f");
        assert_eq!(normalize("\u{FEFF}x\u{85}y\u{9F}é\u{7F}\r"), "xyé\n");
        // Every character the rule keeps or drops, against the rule itself.
        let all: String = (0..0x3000u32)
            .filter_map(char::from_u32)
            .chain(['\u{FEFF}'])
            .collect();
        let expected: String = all
            .replace("\r\n", "\n")
            .chars()
            .filter_map(|c| match c {
                '\r' => Some('\n'),
                '\n' | '\t' | '\u{C}' => Some(c),
                '\u{A0}' => Some(' '),
                c if c.is_control() || c == '\u{FEFF}' => None,
                c => Some(c),
            })
            .collect();
        assert_eq!(normalize(&all), expected);
    }
}

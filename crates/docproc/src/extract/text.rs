//! Bytes → Unicode text, and the clean-up every extracted text gets.

use docpipe_jobs::MediaType;

use super::ExtractError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes a text document. A NUL byte means the bytes are not text at all, whatever was
/// declared, so it is checked before the encoding. When the bytes are only the beginning of
/// the document (`complete == false`), a character cut in half at the end is dropped.
pub(super) fn decode(
    bytes: &[u8],
    declared: MediaType,
    complete: bool,
) -> Result<&str, ExtractError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(ExtractError::Binary { offset, declared });
    }
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let bom_len = bytes.len() - body.len();
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text),
        // `error_len() == None`: the input ends in the middle of a character.
        Err(e) if !complete && e.error_len().is_none() => {
            Ok(std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default())
        }
        Err(e) => Err(ExtractError::InvalidUtf8 {
            offset: bom_len + e.valid_up_to(),
        }),
    }
}

/// Unifies line endings and drops control characters other than newline and tab, so later
/// stages (and people reading the stored text) see clean lines.
pub(super) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_utf8_bom() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFhi", MediaType::PlainText, true),
            Ok("hi")
        );
    }

    #[test]
    fn nul_byte_means_binary() {
        assert_eq!(
            decode(b"PK\x03\x04\x00\x00", MediaType::PlainText, true),
            Err(ExtractError::Binary {
                offset: 4,
                declared: MediaType::PlainText
            })
        );
    }

    #[test]
    fn reports_offset_of_invalid_utf8_counting_the_bom() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFab\xFFcd", MediaType::Markdown, true),
            Err(ExtractError::InvalidUtf8 { offset: 5 })
        );
    }

    #[test]
    fn normalizes_line_endings_and_control_characters() {
        assert_eq!(normalize("a\r\nb\rc\u{7}d\te"), "a\nb\ncd\te");
    }
}

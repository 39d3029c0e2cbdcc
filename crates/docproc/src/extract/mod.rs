//! Bytes in, text out. Every failure is an [`ExtractError`] that reads well as a job error;
//! nothing here panics on any input.

mod markdown;
mod text;

use docpipe_jobs::{ContentType, MediaType};

/// Bounds on what extraction may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Extracted text beyond this many bytes is cut at a character boundary and the result is
    /// marked truncated.
    pub max_text_bytes: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_text_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    /// The format the text was read as.
    pub media_type: MediaType,
    /// Whether `text` was cut to [`ExtractLimits::max_text_bytes`].
    pub truncated: bool,
}

/// A document to extract, possibly only its first part.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    pub content_type: &'a ContentType,
    /// False when `bytes` are only the beginning of a larger document; the text is then
    /// extracted from what is there and marked truncated.
    pub complete: bool,
}

impl<'a> Input<'a> {
    pub fn whole(bytes: &'a [u8], content_type: &'a ContentType) -> Self {
        Self {
            bytes,
            content_type,
            complete: true,
        }
    }
}

/// Why a document has no usable text. Each is permanent: retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("document is empty")]
    Empty,
    #[error("document has no extractable text")]
    NoText,
    #[error("document looks binary (NUL byte at offset {offset}), not {declared} text")]
    Binary { offset: usize, declared: MediaType },
    #[error("document is not valid UTF-8 text (invalid byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
}

/// Extracts the text of a document, read as its declared content type.
pub fn extract_text(input: &Input<'_>, limits: &ExtractLimits) -> Result<Extracted, ExtractError> {
    if input.bytes.is_empty() {
        return Err(ExtractError::Empty);
    }
    let media_type = input.content_type.media_type;
    let decoded = text::decode(input.bytes, media_type, input.complete)?;
    let text = match media_type {
        MediaType::PlainText => text::normalize(decoded),
        MediaType::Markdown => markdown::to_text(decoded),
    };
    if text.trim().is_empty() {
        return Err(ExtractError::NoText);
    }
    let (text, cut) = truncate(text, limits.max_text_bytes);
    Ok(Extracted {
        text,
        media_type,
        truncated: cut || !input.complete,
    })
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn truncate(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> ContentType {
        ContentType::new(MediaType::PlainText)
    }

    fn extract(
        bytes: &[u8],
        content_type: &ContentType,
        limits: &ExtractLimits,
    ) -> Result<Extracted, ExtractError> {
        extract_text(&Input::whole(bytes, content_type), limits)
    }

    #[test]
    fn empty_document_is_an_error() {
        assert_eq!(
            extract(b"", &plain(), &ExtractLimits::default()),
            Err(ExtractError::Empty)
        );
    }

    #[test]
    fn whitespace_only_document_has_no_text() {
        assert_eq!(
            extract(b" \n\t \r\n", &plain(), &ExtractLimits::default()),
            Err(ExtractError::NoText)
        );
    }

    #[test]
    fn truncates_at_a_character_boundary_and_says_so() {
        let limits = ExtractLimits { max_text_bytes: 5 };
        let out = extract("abcdé fgh".as_bytes(), &plain(), &limits).unwrap();
        assert_eq!(out.text, "abcd", "é is two bytes and must not be split");
        assert!(out.truncated);
    }

    #[test]
    fn short_text_is_not_marked_truncated() {
        let out = extract(b"Hello there.", &plain(), &ExtractLimits::default()).unwrap();
        assert_eq!(out.text, "Hello there.");
        assert!(!out.truncated);
        assert_eq!(out.media_type, MediaType::PlainText);
    }

    #[test]
    fn markdown_is_read_without_markup() {
        let md = ContentType::new(MediaType::Markdown);
        let out = extract(
            b"# Title\n\nSome *bold* text.",
            &md,
            &ExtractLimits::default(),
        )
        .unwrap();
        assert_eq!(out.text, "Title\n\nSome bold text.");
    }

    #[test]
    fn partial_input_drops_a_cut_character_and_is_marked_truncated() {
        let bytes = "Grüße aus Köln".as_bytes();
        let cut = &bytes[..bytes.len() - 1 - "ln".len()]; // ends inside `ö`
        let input = Input {
            bytes: cut,
            content_type: &plain(),
            complete: false,
        };
        let out = extract_text(&input, &ExtractLimits::default()).unwrap();
        assert_eq!(out.text, "Grüße aus K");
        assert!(out.truncated);
    }

    #[test]
    fn invalid_utf8_inside_partial_input_is_still_an_error() {
        let input = Input {
            bytes: b"ab\xFFcd\xC3",
            content_type: &plain(),
            complete: false,
        };
        assert_eq!(
            extract_text(&input, &ExtractLimits::default()),
            Err(ExtractError::InvalidUtf8 { offset: 2 })
        );
    }
}

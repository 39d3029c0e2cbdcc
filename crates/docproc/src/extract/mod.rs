//! Bytes in, text out. The format is decided from the bytes as well as the declaration
//! ([`detect`]); every failure is an [`ExtractError`] that reads well as a job error; every
//! input is bounded; nothing here panics on any input (a fuzz target checks it).

mod archive;
mod csv;
mod detect;
mod docx;
mod email;
mod epub;
mod excel_dates;
mod html;
mod json;
mod markdown;
mod odt;
mod pdf;
mod pptx;
mod rtf;
mod sheets;
mod text;

use docpipe_jobs::{ContentType, MediaType};

pub use detect::{Detection, detect};
pub(crate) use markdown::to_text as markdown_to_text;

/// Bounds on what extraction may produce and consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Extracted text beyond this many bytes is cut at a character boundary and the result is
    /// marked truncated.
    pub max_text_bytes: usize,
    /// The most bytes a compressed part of a document (a Word document's body, a PDF stream)
    /// may inflate to. Beyond it the document is refused, not read: it is a zip bomb or close.
    pub max_decompressed_bytes: u64,
    /// PDF pages read; later pages are left out and the result marked truncated.
    pub max_pages: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_text_bytes: 10 * 1024 * 1024,
            max_decompressed_bytes: 32 * 1024 * 1024,
            max_pages: 2_000,
        }
    }
}

/// A document to extract, possibly only its first part.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    pub content_type: &'a ContentType,
    /// False when `bytes` are only the beginning of a larger document; text formats are then
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

/// The text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The plain text: what is summarized, searched and served by default. Pages are
    /// separated by a form feed.
    pub text: String,
    /// The same text as Markdown, with the headings, lists and tables the format shows
    /// ([`crate::markdown`]); `None` when the text reads the same as Markdown, or when the
    /// document is its own Markdown (`markdown_is_document`).
    pub markdown: Option<String>,
    /// The document is Markdown: its own bytes are its Markdown, not copied here.
    pub markdown_is_document: bool,
    /// The format the text was read as (which may differ from the declared one).
    pub media_type: MediaType,
    /// Whether the text is only part of the document's.
    pub truncated: bool,
    /// What a reader of the result should know: a format mismatch, the encoding used, a cut.
    pub notes: Vec<String>,
}

/// Why a document has no usable text. Each is permanent: retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("document is empty")]
    Empty,
    #[error("document has no extractable text")]
    NoText,
    #[error("the PDF has no text layer (it may be a scanned image)")]
    NoTextLayer,
    #[error("document is {what}, whose text only a converter reads (Workers AI's toMarkdown)")]
    Image {
        what: &'static str,
        media_type: MediaType,
    },
    #[error("document looks binary (byte {byte:#04x} at offset {offset}), not {declared} text")]
    Binary {
        offset: usize,
        byte: u8,
        declared: MediaType,
    },
    #[error("document is {what}, which has no text to read")]
    Unsupported { what: String },
    #[error("document is encrypted")]
    Encrypted,
    #[error("the {format} is corrupt: {reason}")]
    Corrupt {
        format: &'static str,
        reason: String,
    },
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
}

impl ExtractError {
    /// Whether a converter that reads images (Workers AI's `toMarkdown`) may find the text
    /// docpipe cannot: an image, or a PDF of scanned pages.
    pub fn needs_conversion(&self) -> bool {
        self.converts_from().is_some()
    }

    /// The format a converter is to read, when it may find the text docpipe cannot.
    pub fn converts_from(&self) -> Option<MediaType> {
        match self {
            ExtractError::Image { media_type, .. } => Some(*media_type),
            ExtractError::NoTextLayer => Some(MediaType::Pdf),
            _ => None,
        }
    }
}

/// The extraction of Markdown a converter made of a document of `media_type`: its plain text
/// derived, both normalized and bounded as extracted text is.
pub fn from_markdown(
    markdown: &str,
    media_type: MediaType,
    notes: Vec<String>,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let markdown = text::normalize(markdown.trim());
    let text = crate::markdown::plain(&markdown);
    finish(text, Some(markdown), media_type, notes, false, limits)
}

/// Extracts the text of a document.
///
/// Each format's reader is a function of its own (`#[inline(never)]`, and the summarizer's
/// `wasm-opt` inlines no large function into its one caller): V8 compiles a hot WebAssembly
/// function again with its optimizing compiler, whose memory grows with the function, and
/// this one with every reader inlined was a 200 KB function.
pub fn extract_text(input: &Input<'_>, limits: &ExtractLimits) -> Result<Extracted, ExtractError> {
    let bytes = input.bytes;
    if bytes.is_empty() {
        return Err(ExtractError::Empty);
    }
    let detection = detect(bytes, input.content_type.media_type)?;
    let mut notes: Vec<String> = detection.note.into_iter().collect();
    let mut media_type = detection.media_type;
    let truncated = !input.complete;

    let structured = |markdown: String| (crate::markdown::plain(&markdown), Some(markdown));
    let (text, markdown) = match media_type {
        // A container's parts are all over its bytes: only the whole of it can be read.
        _ if media_type.is_container() && !input.complete => {
            return Err(ExtractError::TooLarge {
                what: match media_type {
                    MediaType::Pdf => "the PDF",
                    MediaType::Docx => "the Word document",
                    _ => "the document",
                },
                limit: bytes.len() as u64,
            });
        }
        MediaType::Pdf => structured(pdf::to_markdown(bytes, limits)?),
        MediaType::Docx => structured(docx::to_markdown(bytes, limits)?),
        MediaType::Xlsx => structured(sheets::xlsx_to_markdown(bytes, limits)?),
        MediaType::Ods => structured(sheets::ods_to_markdown(bytes, limits)?),
        MediaType::Pptx => structured(pptx::to_markdown(bytes, limits)?),
        MediaType::Odt => structured(odt::to_markdown(bytes, limits)?),
        MediaType::Epub => structured(epub::to_markdown(bytes, limits)?),
        MediaType::Rtf => structured(rtf::to_markdown(bytes, limits)?),
        MediaType::Email => {
            let (markdown, note) = email::to_markdown(bytes, limits)?;
            notes.extend(note);
            structured(markdown)
        }
        MediaType::Png | MediaType::Jpeg | MediaType::Webp => {
            return Err(ExtractError::Image {
                what: detect::describe(media_type),
                media_type,
            });
        }
        _ => {
            let charset = input.content_type.charset.as_deref();
            let decoded = text::decode(bytes, media_type, charset, input.complete)?;
            notes.extend(decoded.note);
            match media_type {
                MediaType::Markdown => (crate::markdown::plain(&decoded.text), None),
                MediaType::Html => {
                    let (markdown, note) = html::to_markdown(&decoded.text)?;
                    notes.extend(note);
                    structured(markdown)
                }
                MediaType::Csv => csv::to_text(&decoded.text)?,
                MediaType::Json if input.complete => {
                    let (text, note) = json::to_text(&decoded.text)?;
                    notes.extend(note);
                    plain(text)
                }
                MediaType::Json => {
                    notes.push("JSON cut at the read limit; read as text".into());
                    media_type = MediaType::PlainText;
                    plain(decoded.text.into_owned())
                }
                _ => plain(decoded.text.into_owned()),
            }
        }
    };
    let mut extracted = finish(text, markdown, media_type, notes, truncated, limits)?;
    extracted.markdown_is_document = media_type == MediaType::Markdown;
    Ok(extracted)
}

/// Normalizes and bounds extracted text and its Markdown.
fn finish(
    text: String,
    markdown: Option<String>,
    media_type: MediaType,
    mut notes: Vec<String>,
    mut truncated: bool,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let text = text::normalized(text);
    if text.trim().is_empty() {
        return Err(ExtractError::NoText);
    }
    let markdown = markdown.map(text::normalized);
    let (text, cut) = truncate(text, limits.max_text_bytes);
    // The Markdown may be longer than the text by its markup.
    let markdown = markdown.map(|m| truncate(m, limits.max_text_bytes.saturating_mul(2)).0);
    if cut {
        notes.push(format!("text cut at {} bytes", limits.max_text_bytes));
    }
    truncated |= cut;
    Ok(Extracted {
        text,
        markdown,
        markdown_is_document: false,
        media_type,
        truncated,
        notes,
    })
}

/// Text with no structure, and its Markdown when it needs its own.
fn plain(text: String) -> (String, Option<String>) {
    let markdown = crate::markdown::from_plain(&text);
    (text, markdown)
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
        let limits = ExtractLimits {
            max_text_bytes: 5,
            ..ExtractLimits::default()
        };
        let out = extract("abcdé fgh".as_bytes(), &plain(), &limits).unwrap();
        assert_eq!(out.text, "abcd", "é is two bytes and must not be split");
        assert!(out.truncated);
        assert_eq!(out.notes, ["text cut at 5 bytes"]);
    }

    #[test]
    fn short_text_is_not_marked_truncated() {
        let out = extract(b"Hello there.", &plain(), &ExtractLimits::default()).unwrap();
        assert_eq!(out.text, "Hello there.");
        assert!(!out.truncated);
        assert_eq!(out.media_type, MediaType::PlainText);
        assert!(out.notes.is_empty());
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
    fn html_declared_as_text_is_read_as_html_and_noted() {
        let out = extract(
            b"<!DOCTYPE html><html><body><p>Hello &amp; welcome.</p><script>x()</script></body></html>",
            &plain(),
            &ExtractLimits::default(),
        )
        .unwrap();
        assert_eq!(out.text, "Hello & welcome.");
        assert_eq!(out.media_type, MediaType::Html);
        assert_eq!(
            out.notes,
            ["declared text/plain but the bytes are HTML; read as text/html"]
        );
    }

    /// Extracts `bytes` as the start of a longer document declared `media_type`.
    fn extract_start(bytes: &[u8], media_type: MediaType) -> Result<Extracted, ExtractError> {
        let content_type = ContentType::new(media_type);
        let input = Input {
            bytes,
            content_type: &content_type,
            complete: false,
        };
        extract_text(&input, &ExtractLimits::default())
    }

    #[test]
    fn a_container_cut_at_the_read_limit_is_refused() {
        assert!(matches!(
            extract_start(b"%PDF-1.7 ...", MediaType::Pdf),
            Err(ExtractError::TooLarge {
                what: "the PDF",
                ..
            })
        ));
    }

    #[test]
    fn partial_json_is_read_as_text() {
        let out = extract_start(b"{\"a\": \"some text", MediaType::Json).unwrap();
        assert_eq!(out.media_type, MediaType::PlainText);
        assert!(out.truncated);
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
}

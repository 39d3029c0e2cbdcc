//! The media types an upload may declare. The upload Worker refuses anything else with `415`,
//! so the summarizer only ever sees these. The declaration is a claim, not a fact: the
//! summarizer checks it against the bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A document format the pipeline can extract text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    PlainText,
    Markdown,
    Html,
    Csv,
    Json,
    Pdf,
    Docx,
    /// Spreadsheets: Excel (`.xlsx`) and OpenDocument (`.ods`).
    Xlsx,
    Ods,
    /// PowerPoint slides (`.pptx`).
    Pptx,
    /// OpenDocument text (`.odt`).
    Odt,
    Epub,
    Rtf,
    /// An e-mail message (`.eml`, RFC 5322 with MIME parts).
    Email,
    /// Images: their text is read by a converter (Workers AI's `toMarkdown`), not by docpipe.
    Png,
    Jpeg,
    Webp,
    /// `application/octet-stream`: the client does not know; the format is read from the bytes.
    Unspecified,
}

impl MediaType {
    pub const ALL: [MediaType; 18] = [
        MediaType::PlainText,
        MediaType::Markdown,
        MediaType::Html,
        MediaType::Csv,
        MediaType::Json,
        MediaType::Pdf,
        MediaType::Docx,
        MediaType::Xlsx,
        MediaType::Ods,
        MediaType::Pptx,
        MediaType::Odt,
        MediaType::Epub,
        MediaType::Rtf,
        MediaType::Email,
        MediaType::Png,
        MediaType::Jpeg,
        MediaType::Webp,
        MediaType::Unspecified,
    ];

    /// The canonical MIME essence.
    pub fn essence(self) -> &'static str {
        self.aliases()[0]
    }

    /// Every MIME essence that names this type, canonical first.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            MediaType::PlainText => &["text/plain"],
            MediaType::Markdown => &["text/markdown", "text/x-markdown"],
            MediaType::Html => &["text/html", "application/xhtml+xml"],
            MediaType::Csv => &["text/csv"],
            MediaType::Json => &["application/json", "text/json"],
            MediaType::Pdf => &["application/pdf"],
            MediaType::Docx => {
                &["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
            }
            MediaType::Xlsx => {
                &["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
            }
            MediaType::Ods => &["application/vnd.oasis.opendocument.spreadsheet"],
            MediaType::Pptx => {
                &["application/vnd.openxmlformats-officedocument.presentationml.presentation"]
            }
            MediaType::Odt => &["application/vnd.oasis.opendocument.text"],
            MediaType::Epub => &["application/epub+zip"],
            MediaType::Rtf => &["application/rtf", "text/rtf"],
            MediaType::Email => &["message/rfc822"],
            MediaType::Png => &["image/png"],
            MediaType::Jpeg => &["image/jpeg", "image/jpg"],
            MediaType::Webp => &["image/webp"],
            MediaType::Unspecified => &["application/octet-stream"],
        }
    }

    /// Whether the format is binary and its bytes say what it is (a PDF, a zip container, RTF,
    /// an image): only the whole of it can be read, and a declaration of it over text bytes is
    /// wrong.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            MediaType::Pdf
                | MediaType::Docx
                | MediaType::Xlsx
                | MediaType::Ods
                | MediaType::Pptx
                | MediaType::Odt
                | MediaType::Epub
                | MediaType::Rtf
                | MediaType::Png
                | MediaType::Jpeg
                | MediaType::Webp
        )
    }

    /// Whether the format is an image (read only by a converter).
    pub fn is_image(self) -> bool {
        matches!(self, MediaType::Png | MediaType::Jpeg | MediaType::Webp)
    }

    /// The usual file extension, for naming a document to a converter.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::PlainText | MediaType::Unspecified => "txt",
            MediaType::Markdown => "md",
            MediaType::Html => "html",
            MediaType::Csv => "csv",
            MediaType::Json => "json",
            MediaType::Pdf => "pdf",
            MediaType::Docx => "docx",
            MediaType::Xlsx => "xlsx",
            MediaType::Ods => "ods",
            MediaType::Pptx => "pptx",
            MediaType::Odt => "odt",
            MediaType::Epub => "epub",
            MediaType::Rtf => "rtf",
            MediaType::Email => "eml",
            MediaType::Png => "png",
            MediaType::Jpeg => "jpeg",
            MediaType::Webp => "webp",
        }
    }

    /// Whether the format is text in some character encoding (as opposed to a container).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            MediaType::PlainText
                | MediaType::Markdown
                | MediaType::Html
                | MediaType::Csv
                | MediaType::Json
        )
    }

    pub fn from_essence(essence: &str) -> Option<MediaType> {
        MediaType::ALL
            .into_iter()
            .find(|media| media.aliases().contains(&essence))
    }

    /// Every accepted essence, for error messages and docs.
    pub fn accepted() -> impl Iterator<Item = &'static str> {
        MediaType::ALL
            .into_iter()
            .flat_map(|media| media.aliases().iter().copied())
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.essence())
    }
}

/// Why a `Content-Type` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaTypeError {
    #[error("Content-Type is missing")]
    Missing,
    #[error("Content-Type `{value}` is not a valid media type")]
    Malformed { value: String },
    #[error("media type `{essence}` is not supported")]
    Unsupported { essence: String },
}

/// A parsed `Content-Type`: the media type and the charset, when one was declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentType {
    pub media_type: MediaType,
    pub charset: Option<String>,
}

impl ContentType {
    pub fn new(media_type: MediaType) -> Self {
        Self {
            media_type,
            charset: None,
        }
    }

    /// Parses a `Content-Type` header value (`type/subtype; charset=...`), case-insensitively.
    pub fn parse(header: Option<&str>) -> Result<ContentType, MediaTypeError> {
        let value = header.map(str::trim).filter(|v| !v.is_empty());
        let value = value.ok_or(MediaTypeError::Missing)?;
        let malformed = || MediaTypeError::Malformed {
            value: value.chars().take(100).collect(),
        };

        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let (kind, subtype) = essence.split_once('/').ok_or_else(malformed)?;
        if !is_token(kind) || !is_token(subtype) {
            return Err(malformed());
        }

        let mut charset = None;
        for param in parts {
            let param = param.trim();
            if param.is_empty() {
                continue;
            }
            let (name, raw) = param.split_once('=').ok_or_else(malformed)?;
            if name.trim().eq_ignore_ascii_case("charset") {
                let raw = raw.trim().trim_matches('"').to_ascii_lowercase();
                if !is_token(&raw) || raw.len() > 40 {
                    return Err(malformed());
                }
                charset = Some(raw);
            }
        }

        let media_type =
            MediaType::from_essence(&essence).ok_or(MediaTypeError::Unsupported { essence })?;
        Ok(ContentType {
            media_type,
            charset,
        })
    }

    /// The normalized header value stored with the document.
    pub fn header_value(&self) -> String {
        match &self.charset {
            Some(charset) => format!("{}; charset={charset}", self.media_type.essence()),
            None => self.media_type.essence().to_owned(),
        }
    }
}

/// RFC 9110 `token`: the characters allowed in a media type's type, subtype and charset.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_essence_and_charset_case_insensitively() {
        let parsed = ContentType::parse(Some("Text/Plain; Charset=\"UTF-8\"")).unwrap();
        assert_eq!(parsed.media_type, MediaType::PlainText);
        assert_eq!(parsed.charset.as_deref(), Some("utf-8"));
        assert_eq!(parsed.header_value(), "text/plain; charset=utf-8");
    }

    #[test]
    fn accepts_markdown_aliases() {
        for value in ["text/markdown", "text/x-markdown; charset=utf-8"] {
            let parsed = ContentType::parse(Some(value)).unwrap();
            assert_eq!(parsed.media_type, MediaType::Markdown, "{value}");
        }
    }

    #[test]
    fn ignores_other_parameters() {
        let parsed = ContentType::parse(Some("text/markdown; variant=GFM")).unwrap();
        assert_eq!(parsed, ContentType::new(MediaType::Markdown));
    }

    #[test]
    fn missing_and_blank_are_missing() {
        assert_eq!(ContentType::parse(None), Err(MediaTypeError::Missing));
        assert_eq!(ContentType::parse(Some("  ")), Err(MediaTypeError::Missing));
    }

    #[test]
    fn unsupported_type_names_the_essence() {
        assert_eq!(
            ContentType::parse(Some("image/gif")),
            Err(MediaTypeError::Unsupported {
                essence: "image/gif".into()
            })
        );
    }

    #[test]
    fn malformed_values_are_rejected() {
        for value in [
            "textplain",
            "text/",
            "/plain",
            "text/plain; charset",
            "te xt/plain",
        ] {
            assert!(
                matches!(
                    ContentType::parse(Some(value)),
                    Err(MediaTypeError::Malformed { .. })
                ),
                "{value} should be malformed"
            );
        }
    }

    #[test]
    fn every_accepted_essence_parses_to_its_type() {
        for essence in MediaType::accepted() {
            let parsed = ContentType::parse(Some(essence)).unwrap();
            assert!(parsed.media_type.aliases().contains(&essence));
        }
    }
}

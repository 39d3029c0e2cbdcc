//! What the bytes are, whatever the upload declared. Container formats and binary files have
//! signatures that settle the question; text formats mostly do not, so for text the
//! declaration decides among the text formats, unless the text itself is unmistakably HTML.

use docpipe_jobs::MediaType;

use super::ExtractError;
use super::text::binary_at;

/// The format a document is read as, and a note when that differs from its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub media_type: MediaType,
    pub note: Option<String>,
}

/// Well-known binary formats that carry no text docpipe can read, by their signatures.
/// Images a converter reads.
const IMAGE_SIGNATURES: &[(&[u8], MediaType)] = &[
    (b"\x89PNG\r\n\x1a\n", MediaType::Png),
    (b"\xFF\xD8\xFF", MediaType::Jpeg),
];

const BINARY_SIGNATURES: &[(&[u8], &str)] = &[
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP, WAV or AVI)"),
    (b"\x1F\x8B", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xFD7zXZ\x00", "an xz archive"),
    (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
    (b"Rar!\x1A\x07", "a RAR archive"),
    (b"\x7FELF", "an executable"),
    (b"MZ", "a Windows executable"),
    (
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        "a legacy Office document (.doc/.xls)",
    ),
    (b"\x00\x00\x00\x1Cftyp", "an MP4 video"),
    (b"\x00\x00\x00\x20ftyp", "an MP4 video"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg file"),
    (b"wOFF", "a web font"),
    (b"SQLite format 3\x00", "an SQLite database"),
];

const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";
const PDF_SIGNATURE: &[u8] = b"%PDF-";

/// Where a PDF's header is: readers (Acrobat, poppler, pdf.js) accept it anywhere in the first
/// 1,024 bytes, after junk a mail gateway or a web server put before it.
pub(super) fn pdf_header(bytes: &[u8]) -> Option<usize> {
    bytes[..bytes.len().min(1024)]
        .windows(PDF_SIGNATURE.len())
        .position(|w| w == PDF_SIGNATURE)
}

/// Decides the format of `bytes` declared as `declared`.
pub fn detect(bytes: &[u8], declared: MediaType) -> Result<Detection, ExtractError> {
    let found = sniff(bytes)?;
    let media_type = match (found, declared) {
        // Containers identify themselves.
        (Some(found), _) if !found.is_text() => found,
        // Unmistakable HTML wins over a text declaration (a saved web page sent as text/plain).
        (Some(MediaType::Html), declared) if declared != MediaType::Html => MediaType::Html,
        // A PDF whose header is missing still has its objects.
        (None, MediaType::Pdf) if looks_like_pdf_body(bytes) => MediaType::Pdf,
        // A container declaration with text bytes: read the text.
        (None | Some(_), declared) if declared.is_container() => MediaType::PlainText,
        // An e-mail is text with headers; the declaration is trusted, and bytes that are
        // unmistakably a message are one.
        (_, MediaType::Email) => MediaType::Email,
        (None, MediaType::Unspecified) if looks_like_email(bytes) => MediaType::Email,
        (_, MediaType::Unspecified) => found.unwrap_or(MediaType::PlainText),
        (_, declared) => declared,
    };
    let note = (media_type != declared && declared != MediaType::Unspecified).then(|| {
        format!(
            "declared {} but the bytes are {}; read as {}",
            declared.essence(),
            describe(media_type),
            media_type.essence()
        )
    });
    Ok(Detection { media_type, note })
}

pub(super) fn describe(media_type: MediaType) -> &'static str {
    match media_type {
        MediaType::Pdf => "a PDF",
        MediaType::Docx => "a Word document",
        MediaType::Xlsx => "an Excel workbook",
        MediaType::Ods => "an OpenDocument spreadsheet",
        MediaType::Pptx => "a PowerPoint presentation",
        MediaType::Odt => "an OpenDocument text",
        MediaType::Epub => "an EPUB book",
        MediaType::Rtf => "RTF",
        MediaType::Email => "an e-mail message",
        MediaType::Png => "a PNG image",
        MediaType::Jpeg => "a JPEG image",
        MediaType::Webp => "a WebP image",
        MediaType::Html => "HTML",
        MediaType::Json => "JSON",
        _ => "text",
    }
}

/// Whether headerless bytes declared a PDF are one: objects (`1 0 obj … endobj`) from the
/// start.
fn looks_like_pdf_body(bytes: &[u8]) -> bool {
    contains(&bytes[..bytes.len().min(1024)], b" 0 obj")
        && contains(&bytes[..bytes.len().min(64 * 1024)], b"endobj")
}

/// The format the bytes announce, if any; an error for binary formats without text.
fn sniff(bytes: &[u8]) -> Result<Option<MediaType>, ExtractError> {
    // After junk only when the bytes go on like a PDF (its objects), not like text that
    // mentions the header.
    match pdf_header(bytes) {
        Some(0) => return Ok(Some(MediaType::Pdf)),
        Some(at) if contains(&bytes[at..bytes.len().min(at + 64 * 1024)], b" 0 obj") => {
            return Ok(Some(MediaType::Pdf));
        }
        _ => {}
    }
    if bytes.starts_with(ZIP_SIGNATURE) {
        return zipped(bytes)
            .map(Some)
            .ok_or_else(|| ExtractError::Unsupported {
                what: "a zip archive that is not a document docpipe reads (Word, Excel, \
                   PowerPoint, OpenDocument, EPUB)"
                    .into(),
            });
    }
    if bytes.starts_with(b"{\\rtf") {
        return Ok(Some(MediaType::Rtf));
    }
    if let Some((_, image)) = IMAGE_SIGNATURES.iter().find(|(s, _)| bytes.starts_with(s)) {
        return Ok(Some(*image));
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Ok(Some(MediaType::Webp));
    }
    if let Some((_, what)) = BINARY_SIGNATURES
        .iter()
        .find(|(signature, _)| bytes.starts_with(signature))
    {
        // "MZ" and "ID3" are also plausible starts of text: only call them binary when the
        // rest is not text.
        let weak =
            bytes.starts_with(b"MZ") || bytes.starts_with(b"ID3") || bytes.starts_with(b"BZh");
        if !weak || binary_at(bytes).is_some() {
            return Err(ExtractError::Unsupported {
                what: (*what).to_owned(),
            });
        }
    }
    if looks_like_html(bytes) {
        return Ok(Some(MediaType::Html));
    }
    if looks_like_json(bytes) {
        return Ok(Some(MediaType::Json));
    }
    Ok(None)
}

/// The document format of a zip archive, by the parts it names: OpenDocument and EPUB put
/// their media type first, uncompressed, in a part named `mimetype`; Office formats have their
/// main part.
fn zipped(bytes: &[u8]) -> Option<MediaType> {
    let head = &bytes[..bytes.len().min(128)];
    let declared = [
        (
            &b"mimetypeapplication/vnd.oasis.opendocument.text"[..],
            MediaType::Odt,
        ),
        (
            b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
            MediaType::Ods,
        ),
        (b"mimetypeapplication/epub+zip", MediaType::Epub),
    ];
    if let Some((_, media_type)) = declared.iter().find(|(m, _)| contains(head, m)) {
        return Some(*media_type);
    }
    let main_parts = [
        (&b"word/document.xml"[..], MediaType::Docx),
        (b"xl/workbook.xml", MediaType::Xlsx),
        (b"ppt/presentation.xml", MediaType::Pptx),
    ];
    main_parts
        .iter()
        .find(|(part, _)| contains(bytes, part))
        .map(|(_, media_type)| *media_type)
}

/// Whether text starts as an e-mail does: header fields, among them `From:` and one of
/// `Subject:`, `MIME-Version:`, `Received:` or `Message-ID:`.
fn looks_like_email(bytes: &[u8]) -> bool {
    let head = head_lowercase(bytes);
    let fields: Vec<&str> = head
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .collect();
    let field = |line: &&str| {
        line.starts_with([' ', '\t'])
            || line.split_once(':').is_some_and(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let has = |name: &str| fields.iter().any(|line| line.starts_with(name));
    !fields.is_empty()
        && fields.iter().all(field)
        && has("from:")
        && ["subject:", "mime-version:", "received:", "message-id:"]
            .iter()
            .any(|name| has(name))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The start of the text after a BOM and white space, lowercased ASCII.
fn head_lowercase(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..bytes.len().min(start + 1_024)];
    head.iter()
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = head_lowercase(bytes);
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with("<!--") && head.contains("<html"))
        || (head.starts_with('<') && (head.contains("<head>") || head.contains("<body")))
}

fn looks_like_json(bytes: &[u8]) -> bool {
    let head = head_lowercase(bytes);
    (head.starts_with('{') || head.starts_with('['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaType::{
        Csv, Docx, Email, Epub, Html, Jpeg, Json, Markdown, Ods, Odt, Pdf, PlainText, Png, Pptx,
        Rtf, Unspecified, Webp, Xlsx,
    };

    /// Each `(bytes, declared)` is read as the third.
    fn assert_read_as(cases: &[(&[u8], MediaType, MediaType)]) {
        for (bytes, declared, expected) in cases {
            let read = detect(bytes, *declared).unwrap().media_type;
            assert_eq!(
                read,
                *expected,
                "{:?} declared {declared}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn containers_are_recognized_whatever_was_declared() {
        let docx = b"PK\x03\x04....[Content_Types].xml....word/document.xml";
        let xlsx = b"PK\x03\x04....[Content_Types].xml....xl/workbook.xml";
        let pptx = b"PK\x03\x04....[Content_Types].xml....ppt/presentation.xml";
        let odt = b"PK\x03\x04\x14\x00\x00\x00\x00\x00............mimetypeapplication/vnd.oasis.opendocument.text";
        let ods = b"PK\x03\x04\x14\x00\x00\x00\x00\x00............mimetypeapplication/vnd.oasis.opendocument.spreadsheet";
        let epub = b"PK\x03\x04\x14\x00\x00\x00\x00\x00............mimetypeapplication/epub+zip";
        assert_read_as(&[
            (b"%PDF-1.7\n...", PlainText, Pdf),
            (docx, Unspecified, Docx),
            (xlsx, Unspecified, Xlsx),
            (pptx, Docx, Pptx),
            (odt, Unspecified, Odt),
            (ods, Unspecified, Ods),
            (epub, Unspecified, Epub),
            (b"{\\rtf1\\ansi Hello}", PlainText, Rtf),
            (b"\x89PNG\r\n\x1a\n\x00\x00", PlainText, Png),
            (b"\xFF\xD8\xFF\xE0", Unspecified, Jpeg),
            (b"RIFF\x00\x00\x00\x00WEBPVP8 ", Unspecified, Webp),
        ]);
    }

    #[test]
    fn an_email_is_what_it_is_declared_or_unmistakably_looks_like() {
        let message =
            b"From: Ada <ada@example.com>\r\nTo: b@example.com\r\nSubject: Tides\r\n\r\nHello.";
        assert_read_as(&[
            (message, Unspecified, Email),
            (b"Just some text. From: nobody", Email, Email),
            (
                b"From: a diary entry, not a message.\n\nDear diary.",
                Unspecified,
                PlainText,
            ),
            (message, PlainText, PlainText),
        ]);
    }

    #[test]
    fn a_mismatch_is_noted() {
        let detection = detect(b"%PDF-1.4", PlainText).unwrap();
        assert_eq!(
            detection.note.as_deref(),
            Some("declared text/plain but the bytes are a PDF; read as application/pdf")
        );
        assert_eq!(detect(b"hello", PlainText).unwrap().note, None);
    }

    #[test]
    fn binary_formats_are_refused_by_name() {
        for (bytes, what) in [
            (&b"GIF89a\x01\x00"[..], "a GIF image"),
            (b"\x1F\x8B\x08\x00\x00", "a gzip archive"),
            (
                b"PK\x03\x04 just some zip",
                "a zip archive that is not a document docpipe reads (Word, Excel, PowerPoint, \
             OpenDocument, EPUB)",
            ),
        ] {
            assert_eq!(
                detect(bytes, PlainText),
                Err(ExtractError::Unsupported { what: what.into() })
            );
        }
    }

    #[test]
    fn text_starting_like_a_signature_stays_text() {
        assert_read_as(&[
            (b"MZ is the start of this sentence.", PlainText, PlainText),
            (b"ID3 tags are metadata.", Markdown, Markdown),
        ]);
    }

    #[test]
    fn html_is_recognized_in_text_declarations() {
        assert_read_as(&[
            (
                b"\n  <!DOCTYPE html><html><body><p>Hi</p></body></html>",
                PlainText,
                Html,
            ),
            (b"<p>just a tag</p>", PlainText, PlainText),
        ]);
    }

    #[test]
    fn declared_text_formats_are_trusted() {
        assert_read_as(&[
            (b"a,b\n1,2\n", Csv, Csv),
            (b"# Title", Markdown, Markdown),
            (b"{\"a\": 1}", PlainText, PlainText),
        ]);
    }

    #[test]
    fn unspecified_is_read_from_the_bytes() {
        assert_read_as(&[
            (b"{\"a\": [1, 2]}", Unspecified, Json),
            (b"{not json", Unspecified, PlainText),
            (b"plain words", Unspecified, PlainText),
        ]);
    }

    #[test]
    fn a_pdf_after_junk_or_without_its_header_is_read_as_a_pdf() {
        let junk = b"Some junk before the header\n\n%PDF-1.1\n1 0 obj\n<<>>\nendobj\n";
        assert_eq!(detect(junk, PlainText).unwrap().media_type, Pdf);
        assert_eq!(pdf_header(junk), Some(29));
        let headless = b"%\xe2\xe3\xcf\xd3\n1 0 obj \n<<\n/Type /Catalog\n>>\nendobj\n";
        assert_eq!(detect(headless, Pdf).unwrap().media_type, Pdf);
        assert_eq!(detect(headless, PlainText).unwrap().media_type, PlainText);
        // Text that mentions the header is text.
        let mention = b"Files start with %PDF-1.7, then objects.";
        assert_eq!(detect(mention, PlainText).unwrap().media_type, PlainText);
    }

    #[test]
    fn a_pdf_declaration_on_text_reads_the_text() {
        let detection = detect(b"Not a PDF at all.", Pdf).unwrap();
        assert_eq!(detection.media_type, PlainText);
        assert!(detection.note.is_some());
    }
}

//! Word documents (`.docx`): the paragraphs of `word/document.xml`, in order. The archive is
//! read with a hard bound on decompressed bytes, so a zip bomb fails instead of exhausting
//! memory.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event;

use super::{ExtractError, ExtractLimits};

const BODY: &str = "word/document.xml";

pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let xml = read_body(bytes, limits.max_decompressed_bytes)?;
    let mut w = crate::markdown::Writer::new();
    for paragraph in paragraphs(&xml)?.lines() {
        w.paragraph(paragraph);
    }
    Ok(w.finish())
}

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: "Word document",
        reason: reason.to_string(),
    }
}

fn read_body(bytes: &[u8], limit: u64) -> Result<String, ExtractError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    let entry = match archive.by_name(BODY) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(corrupt(format!("the archive has no {BODY}")));
        }
        Err(zip::result::ZipError::InvalidPassword) => return Err(ExtractError::Encrypted),
        Err(zip::result::ZipError::UnsupportedArchive(what)) if what.contains("assword") => {
            return Err(ExtractError::Encrypted);
        }
        Err(e) => return Err(corrupt(e)),
    };
    let too_large = || ExtractError::TooLarge {
        what: "the decompressed document",
        limit,
    };
    // The declared size can lie; the bounded read cannot.
    if entry.size() > limit {
        return Err(too_large());
    }
    let mut xml = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut xml)
        .map_err(corrupt)?;
    if xml.len() as u64 > limit {
        return Err(too_large());
    }
    String::from_utf8(xml).map_err(|e| corrupt(format!("{BODY} is not UTF-8: {e}")))
}

/// The text of `w:t` runs, paragraph by paragraph; tabs and breaks as white space.
fn paragraphs(xml: &str) -> Result<String, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut out = String::with_capacity(xml.len() / 4);
    let mut in_text = false;
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) if e.name().as_ref() == "w:t" => in_text = true,
            Event::End(e) if e.name().as_ref() == "w:t" => in_text = false,
            Event::End(e) if e.name().as_ref() == "w:p" => out.push('\n'),
            Event::Empty(e) | Event::Start(e) => match e.name().as_ref() {
                "w:tab" => out.push('\t'),
                "w:br" | "w:cr" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => out.push_str(&t.into_inner()),
            Event::GeneralRef(r) if in_text => match r.resolve_char_ref() {
                Ok(Some(c)) => out.push(c),
                // A predefined entity (`&amp;` …); Word declares no others.
                Ok(None) => out.push_str(resolve_xml_entity(&r.into_inner()).unwrap_or_default()),
                // A reference to no character is left out, as before.
                Err(_) => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The plain text of the document's Markdown.
    fn to_text(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
        to_markdown(bytes, limits).map(|markdown| crate::markdown::plain(&markdown))
    }

    fn docx(document_xml: &str) -> Vec<u8> {
        let mut buffer = Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("[Content_Types].xml", options).unwrap();
        writer.write_all(b"<Types/>").unwrap();
        writer.start_file(BODY, options).unwrap();
        writer.write_all(document_xml.as_bytes()).unwrap();
        writer.finish().unwrap();
        buffer.into_inner()
    }

    const BODY_XML: &str = r#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>
        <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Annual report</w:t></w:r></w:p>
        <w:p><w:r><w:t xml:space="preserve">Profits rose </w:t></w:r><w:r><w:t>&amp; costs fell.</w:t></w:r></w:p>
        <w:p><w:r><w:t>Col A</w:t><w:tab/><w:t>Col B</w:t><w:br/><w:t>next line</w:t></w:r></w:p>
        <w:p><w:del><w:r><w:delText>deleted words</w:delText></w:r></w:del></w:p>
        </w:body></w:document>"#;

    #[test]
    fn entities_and_character_references_are_resolved() {
        let xml = r#"<w:document><w:body><w:p><w:r><w:t>&quot;A&quot; &lt;b&gt; &#x263A; &#65;&apos;s &#xD800;</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(paragraphs(xml).unwrap(), "\"A\" <b> \u{263A} A's \n");
    }

    #[test]
    fn reads_paragraphs_in_order() {
        let text = to_text(&docx(BODY_XML), &ExtractLimits::default()).unwrap();
        assert_eq!(
            text,
            "Annual report\n\nProfits rose & costs fell.\n\nCol A\tCol B\n\nnext line"
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_by_the_decompressed_bound() {
        let huge = format!(
            "<w:document><w:body><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:body></w:document>",
            "a".repeat(2_000_000)
        );
        let bytes = docx(&huge);
        assert!(
            bytes.len() < 50_000,
            "highly compressible: {} bytes",
            bytes.len()
        );
        let limits = ExtractLimits {
            max_decompressed_bytes: 1_000_000,
            ..ExtractLimits::default()
        };
        assert_eq!(
            to_text(&bytes, &limits),
            Err(ExtractError::TooLarge {
                what: "the decompressed document",
                limit: 1_000_000
            })
        );
    }

    #[test]
    fn a_truncated_archive_is_corrupt() {
        let bytes = docx(BODY_XML);
        let err = to_text(&bytes[..bytes.len() / 2], &ExtractLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    format: "Word document",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_zip_without_a_document_is_corrupt() {
        let mut buffer = Cursor::new(Vec::new());
        let mut writer = zip::ZipWriter::new(&mut buffer);
        writer
            .start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(b"hello").unwrap();
        writer.finish().unwrap();
        let err = to_text(&buffer.into_inner(), &ExtractLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Word document is corrupt: the archive has no word/document.xml"
        );
    }
}

//! Extraction of every supported format and failure, on fixture files
//! (`scripts/make-fixtures` regenerates them).

#![allow(clippy::panic)] // Test helpers fail tests by panicking.

use std::path::Path;

use docpipe_docproc::{ExtractError, ExtractLimits, Extracted, Input, extract_text};
use docpipe_jobs::{ContentType, MediaType};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn extract(name: &str, declared: MediaType) -> Result<Extracted, ExtractError> {
    let bytes = fixture(name);
    extract_text(
        &Input::whole(&bytes, &ContentType::new(declared)),
        &ExtractLimits::default(),
    )
}

#[test]
fn pdf_text_layer_comes_out_page_by_page() {
    let out = extract("lighthouses.pdf", MediaType::Pdf).unwrap();
    assert_eq!(out.media_type, MediaType::Pdf);
    let first = out
        .text
        .find("Lighthouse keepers once lived")
        .expect("page 1 text");
    let second = out.text.find("Automation arrived").expect("page 2 text");
    assert!(first < second, "pages out of order:\n{}", out.text);
    assert!(out.text.contains("the lamp burning"), "{}", out.text);
}

#[test]
fn pdf_sent_as_octet_stream_or_text_is_still_read_as_pdf() {
    let out = extract("lighthouses.pdf", MediaType::Unspecified).unwrap();
    assert_eq!(out.media_type, MediaType::Pdf);
    assert!(out.notes.is_empty());
    let out = extract("lighthouses.pdf", MediaType::PlainText).unwrap();
    assert_eq!(out.media_type, MediaType::Pdf);
    assert_eq!(
        out.notes,
        ["declared text/plain but the bytes are a PDF; read as application/pdf"]
    );
}

#[test]
fn encrypted_pdf_is_refused() {
    assert_eq!(
        extract("encrypted.pdf", MediaType::Pdf),
        Err(ExtractError::Encrypted)
    );
}

#[test]
fn pdf_without_a_text_layer_says_so() {
    assert_eq!(
        extract("no-text-layer.pdf", MediaType::Pdf),
        Err(ExtractError::NoTextLayer)
    );
}

#[test]
fn truncated_pdf_is_corrupt_not_a_panic() {
    let err = extract("truncated.pdf", MediaType::Pdf).unwrap_err();
    assert!(
        matches!(
            err,
            ExtractError::Corrupt { format: "PDF", .. } | ExtractError::NoTextLayer
        ),
        "{err:?}"
    );
}

#[test]
fn docx_paragraphs_come_out_in_order() {
    let out = extract("lighthouses.docx", MediaType::Docx).unwrap();
    assert!(out.text.starts_with("Lighthouse history\n"), "{}", out.text);
    let a = out.text.find("Lighthouse keepers").unwrap();
    let b = out.text.find("Automation arrived").unwrap();
    assert!(a < b);
    assert!(
        out.text.contains("Built"),
        "table cells are text too: {}",
        out.text
    );
}

#[test]
fn zip_bomb_is_refused_without_inflating_it() {
    let err = extract("bomb.docx", MediaType::Docx).unwrap_err();
    assert!(matches!(err, ExtractError::TooLarge { .. }), "{err:?}");
}

#[test]
fn html_page_gives_its_article_without_furniture() {
    let out = extract("lighthouses.html", MediaType::Html).unwrap();
    assert!(
        out.text
            .starts_with("Lighthouse history\n\nLighthouse keepers"),
        "{}",
        out.text
    );
    for noise in [
        "Home",
        "Maps",
        "Copyright",
        "track(",
        "font:serif",
        "Lighthouses\n",
    ] {
        assert!(
            !out.text.contains(noise),
            "{noise:?} leaked into {}",
            out.text
        );
    }
}

#[test]
fn legacy_single_byte_text_is_detected_and_decoded() {
    let out = extract("cafe-latin1.txt", MediaType::PlainText).unwrap();
    assert!(
        out.text.starts_with("Le café du port ouvre à sept heures."),
        "{}",
        out.text
    );
    assert_eq!(out.notes, ["decoded as windows-1252 (detected)"]);
}

#[test]
fn utf16_with_bom_is_decoded() {
    let out = extract("lighthouses-utf16.txt", MediaType::PlainText).unwrap();
    assert!(
        out.text.starts_with("Lighthouse keepers once lived"),
        "{}",
        out.text
    );
}

#[test]
fn csv_rows_read_as_sentences() {
    let out = extract("keepers.csv", MediaType::Csv).unwrap();
    assert_eq!(
        out.text,
        "name: Anna Lund; station: North Rock; years: 1890-1912.\nname: Per Berg; station: South Cape; years: 1901-1930."
    );
}

#[test]
fn json_reads_as_labelled_lines() {
    let out = extract("station.json", MediaType::Json).unwrap();
    assert!(
        out.text
            .starts_with("station: North Rock\nbuilt: 1849\nkeepers: Anna Lund, Per Berg\n"),
        "{}",
        out.text
    );
    assert!(out.text.contains("Lighthouse keepers once lived"));
}

#[test]
fn binary_declared_as_text_is_refused_and_an_image_left_to_a_converter() {
    let refused = |bytes: &[u8]| {
        extract_text(
            &Input::whole(bytes, &ContentType::new(MediaType::PlainText)),
            &ExtractLimits::default(),
        )
        .unwrap_err()
    };
    assert_eq!(
        refused(b"GIF89a\x01\x00\x01\x00").to_string(),
        "document is a GIF image, which has no text to read"
    );
    let png = refused(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    assert!(png.needs_conversion());
    assert_eq!(
        png.to_string(),
        "document is a PNG image, whose text only a converter reads (Workers AI's toMarkdown)"
    );
}

#[test]
fn embedded_unicode_fonts_are_read_through_their_to_unicode_maps() {
    let out = extract("unicode-font.pdf", MediaType::Pdf).unwrap();
    assert!(
        out.text.contains("Ο φάρος της Αλεξάνδρειας"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("Le phare d'Alexandrie était"),
        "{}",
        out.text
    );
}

//! EPUB books as Markdown: their chapters in reading order, a page each. Read from the archive:
//!
//! - `META-INF/container.xml`: where the package document (the OPF) is;
//! - the package's `manifest` (each item's href, relative to the package's folder and
//!   percent-encoded, and media type) and `spine` (the reading order);
//! - each XHTML document of the spine, through docpipe's HTML reader ([`super::html`]) with
//!   `header`, `footer`, `aside` and `nav` kept (in a chapter they are content), as a page.
//!   Chapters without text make no page, so page N is the Nth chapter with text.
//!
//! Left out: the navigation document (`properties="nav"`) and the NCX table of contents, spine
//! items that are not XHTML (images, SVG), and chapters after the book's text has passed
//! `max_text_bytes` (the caller cuts the text there and says so). Chapters must be UTF-8, as
//! EPUB 3 requires; a chapter in another encoding makes the book corrupt. Every part is read
//! through one bound on decompressed bytes.

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::archive::{Parts, attr};
use super::{ExtractError, ExtractLimits, html};
use crate::markdown::Writer;

const FORMAT: &str = "EPUB book";
const CONTAINER: &str = "META-INF/container.xml";

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    let container = parts
        .read(CONTAINER)?
        .ok_or_else(|| corrupt(format!("the archive has no {CONTAINER}")))?;
    let package_name = package_path(&container)?;
    let package = parts.read(&package_name)?.ok_or_else(|| {
        corrupt(format!(
            "the archive has no {package_name}, the package {CONTAINER} names"
        ))
    })?;
    let folder = package_name
        .rfind('/')
        .map_or("", |at| &package_name[..=at]);
    let chapters = Package::parse(&package)?.chapters(folder);

    let mut w = Writer::new();
    // Bytes of plain text so far: reading stops once the caller would cut the text anyway.
    let mut text_bytes = 0;
    for name in chapters {
        if text_bytes > limits.max_text_bytes {
            break;
        }
        let xhtml = parts
            .read(&name)?
            .ok_or_else(|| corrupt(format!("the archive has no {name}, a chapter of the spine")))?;
        let (markdown, _) = html::chapter_to_markdown(&as_html(
            xhtml.trim_start_matches('\u{feff}'),
        ))
        .map_err(|e| match e {
            ExtractError::Corrupt { reason, .. } => corrupt(format!("{name}: {reason}")),
            e => e,
        })?;
        if markdown.trim().is_empty() {
            continue;
        }
        text_bytes += crate::markdown::plain(&markdown).len();
        if !w.is_empty() {
            w.page_break();
        }
        w.markdown(&markdown);
    }
    Ok(w.finish())
}

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

/// The package document's path in the archive: the first `rootfile` of `container.xml`.
fn package_path(container: &str) -> Result<String, ExtractError> {
    let mut reader = Reader::from_str(container);
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "rootfile" => {
                if let Some(path) = attr(&e, "full-path").filter(|p| !p.is_empty()) {
                    return Ok(path);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Err(corrupt(format!(
        "{CONTAINER} names no package document (rootfile full-path)"
    )))
}

/// What the package document says about the book's content.
#[derive(Debug, Default)]
struct Package {
    /// Manifest item id → the item.
    manifest: HashMap<String, Item>,
    /// Item ids in reading order.
    spine: Vec<String>,
    /// The NCX table of contents' item id (`spine toc`).
    toc: Option<String>,
}

#[derive(Debug)]
struct Item {
    href: String,
    media_type: String,
    /// The navigation document: a table of contents.
    nav: bool,
}

impl Package {
    fn parse(xml: &str) -> Result<Self, ExtractError> {
        let mut package = Package::default();
        let mut reader = Reader::from_str(xml);
        loop {
            match reader.read_event().map_err(corrupt)? {
                Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                    "item" => {
                        if let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) {
                            let properties = attr(&e, "properties").unwrap_or_default();
                            let item = Item {
                                href,
                                media_type: attr(&e, "media-type").unwrap_or_default(),
                                nav: properties.split_whitespace().any(|p| p == "nav"),
                            };
                            package.manifest.insert(id, item);
                        }
                    }
                    "spine" => package.toc = attr(&e, "toc"),
                    "itemref" => package.spine.extend(attr(&e, "idref")),
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(package)
    }

    /// The archive paths of the spine's XHTML documents, in reading order; `folder` is the
    /// package document's (with its trailing `/`).
    fn chapters(&self, folder: &str) -> Vec<String> {
        self.spine
            .iter()
            .filter(|id| self.toc.as_ref() != Some(*id))
            .filter_map(|id| self.manifest.get(id))
            .filter(|item| !item.nav)
            .filter(|item| {
                let media_type = item.media_type.trim().to_ascii_lowercase();
                media_type == "application/xhtml+xml" || media_type == "text/html"
            })
            .filter_map(|item| resolve(folder, &item.href))
            .collect()
    }
}

/// The archive path of `href`, a URL relative to `folder`; `None` for one outside the book.
fn resolve(folder: &str, href: &str) -> Option<String> {
    let href = href.split(['#', '?']).next().unwrap_or_default();
    if href.contains("://") || href.is_empty() {
        return None;
    }
    let href = percent_decoded(href);
    let (base, href) = match href.strip_prefix('/') {
        Some(absolute) => ("", absolute),
        None => (folder, href.as_ref()),
    };
    let mut path: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for segment in href.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                path.pop();
            }
            segment => path.push(segment),
        }
    }
    Some(path.join("/"))
}

/// `text` with its `%XX` escapes decoded; as it is when they do not decode to UTF-8.
fn percent_decoded(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                bytes.push(decoded);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                bytes.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// XHTML as an HTML parser should read it: an HTML parser takes `<title/>` or `<div/>` for a
/// start tag only (a `<title/>` would make the rest of the chapter its title, and hide it), so
/// self-closed elements that are not void in HTML are closed explicitly.
fn as_html(xhtml: &str) -> Cow<'_, str> {
    if !xhtml.contains("/>") {
        return Cow::Borrowed(xhtml);
    }
    let mut out = String::with_capacity(xhtml.len() + xhtml.len() / 16);
    let mut rest = xhtml;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let name_end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.')))
            .map_or(rest.len(), |end| end + 1);
        let name = &rest[1..name_end];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            // Not a tag: a comment, a declaration, an end tag.
            out.push('<');
            rest = &rest[1..];
            continue;
        }
        // No end to this tag means malformed XHTML: it is left as it is from here, so that
        // each byte is scanned once.
        let Some(end) = tag_end(rest) else {
            break;
        };
        let tag = &rest[..=end];
        match tag.strip_suffix("/>") {
            Some(open) if !is_void(name) => {
                out.push_str(open);
                out.push_str("></");
                out.push_str(name);
                out.push('>');
            }
            _ => out.push_str(tag),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The index of the `>` ending the tag `tag` starts with, outside quoted attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether HTML knows element `name` as void: it has no end tag.
fn is_void(name: &str) -> bool {
    const VOID: [&str; 14] = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    ];
    VOID.iter().any(|void| void.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::page_count;

    /// An EPUB of these parts (name, content), its mimetype first and stored.
    fn epub_with(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut all: Vec<(&str, &[u8])> = vec![("mimetype", b"application/epub+zip")];
        all.extend_from_slice(parts);
        super::super::archive::zipped(&all)
    }

    const CONTAINER_XML: &[u8] = br#"<?xml version="1.0"?>
        <container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
        <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
        </container>"#;

    const PACKAGE_XML: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
        <package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
        <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Keepers</dc:title></metadata>
        <manifest>
            <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
            <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
            <item id="two" href="Text/Chapter%20Two.xhtml" media-type="application/xhtml+xml"/>
            <item id="cover" href="Images/cover.jpg" media-type="image/jpeg"/>
            <item id="one" href="Text/../Text/one.xhtml#start" media-type="application/xhtml+xml"/>
            <item id="css" href="style.css" media-type="text/css"/>
        </manifest>
        <spine toc="ncx"><itemref idref="nav"/><itemref idref="cover"/><itemref idref="one"/>
            <itemref idref="missing"/><itemref idref="two" linear="yes"/></spine>
        </package>"#;

    fn chapter(body: &str) -> Vec<u8> {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
            <head><title/><link rel="stylesheet" href="../style.css"/></head><body>{body}</body></html>"#
        )
        .into_bytes()
    }

    fn book(one: &[u8], two: &[u8]) -> Vec<u8> {
        epub_with(&[
            (CONTAINER, CONTAINER_XML),
            ("OEBPS/content.opf", PACKAGE_XML),
            (
                "OEBPS/nav.xhtml",
                &chapter(
                    r#"<nav epub:type="toc"><ol><li><a href="Text/one.xhtml">One</a></li></ol></nav><p>Contents</p>"#,
                ),
            ),
            ("OEBPS/Text/one.xhtml", one),
            ("OEBPS/Text/Chapter Two.xhtml", two),
            ("OEBPS/Images/cover.jpg", b"\xFF\xD8\xFF"),
        ])
    }

    #[test]
    fn chapters_are_pages_in_spine_order_without_the_navigation_document() {
        let one = chapter(
            r#"<section epub:type="chapter"><header><h1>Chapter One</h1></header><p>Keepers kept <em>logs</em>.<br/>Every night.</p><div/><p>Second.</p><aside epub:type="footnote"><p>A note.</p></aside></section>"#,
        );
        let two = chapter("<h1>Chapter Two</h1><ul><li>Oil</li><li>Bread</li></ul>");
        let markdown = to_markdown(&book(&one, &two), &ExtractLimits::default()).unwrap();
        assert_eq!(
            markdown,
            "# Chapter One\n\nKeepers kept logs.\nEvery night.\n\nSecond.\n\nA note.\n\u{c}\n\
             # Chapter Two\n\n- Oil\n- Bread"
        );
        assert_eq!(page_count(&markdown), 2);
    }

    #[test]
    fn chapters_stop_once_the_text_passes_the_text_bound() {
        let one = chapter(&format!("<p>{}</p>", "word ".repeat(20)));
        let two = chapter("<p>Never read.</p>");
        let limits = ExtractLimits {
            max_text_bytes: 50,
            ..ExtractLimits::default()
        };
        let markdown = to_markdown(&book(&one, &two), &limits).unwrap();
        assert_eq!(markdown, "word ".repeat(20).trim());
    }

    #[test]
    fn a_chapter_that_is_not_utf8_is_corrupt() {
        let err = to_markdown(
            &book(b"<p>caf\xE9</p>", &chapter("<p>Two.</p>")),
            &ExtractLimits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("the EPUB book is corrupt: OEBPS/Text/one.xhtml is not UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let err = |parts: &[(&str, &[u8])]| {
            to_markdown(&epub_with(parts), &ExtractLimits::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[]),
            "the EPUB book is corrupt: the archive has no META-INF/container.xml"
        );
        assert_eq!(
            err(&[(CONTAINER, b"<container><rootfiles/></container>")]),
            "the EPUB book is corrupt: META-INF/container.xml names no package document \
             (rootfile full-path)"
        );
        assert_eq!(
            err(&[(CONTAINER, CONTAINER_XML)]),
            "the EPUB book is corrupt: the archive has no OEBPS/content.opf, the package \
             META-INF/container.xml names"
        );
        assert_eq!(
            err(&[
                (CONTAINER, CONTAINER_XML),
                ("OEBPS/content.opf", PACKAGE_XML)
            ]),
            "the EPUB book is corrupt: the archive has no OEBPS/Text/one.xhtml, a chapter of \
             the spine"
        );
    }

    #[test]
    fn hrefs_resolve_against_the_package_folder() {
        assert_eq!(
            resolve("OEBPS/", "Text/a%20b.xhtml#x").as_deref(),
            Some("OEBPS/Text/a b.xhtml")
        );
        assert_eq!(
            resolve("OEBPS/", "../top.xhtml").as_deref(),
            Some("top.xhtml")
        );
        assert_eq!(resolve("", "/abs/c.xhtml").as_deref(), Some("abs/c.xhtml"));
        assert_eq!(resolve("", "100%.xhtml").as_deref(), Some("100%.xhtml"));
        assert_eq!(resolve("", "%E2%82%AC.xhtml").as_deref(), Some("€.xhtml"));
        assert_eq!(resolve("", "%FF.xhtml").as_deref(), Some("%FF.xhtml"));
        assert_eq!(resolve("OEBPS/", "https://example.com/x.xhtml"), None);
    }

    #[test]
    fn self_closed_xhtml_elements_are_closed_for_the_html_parser() {
        assert_eq!(
            as_html(r#"<title/><br/><img src="a/>b" /><p class='x/>'/>x<!-- <a/> --><?pi?>"#),
            r#"<title></title><br/><img src="a/>b" /><p class='x/>'></p>x<!-- <a></a> --><?pi?>"#
        );
        assert_eq!(as_html("a < b and <unclosed"), "a < b and <unclosed");
        assert_eq!(
            as_html(r#"<p title='open>x</p><div/>"#),
            r#"<p title='open>x</p><div/>"#,
            "malformed from here on: left as it is"
        );
    }
}

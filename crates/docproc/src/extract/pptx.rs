//! PowerPoint presentations (`.pptx`) as Markdown: a page per slide, in presentation order.
//! Read from the archive:
//!
//! - `ppt/presentation.xml` (`p:sldIdLst`) and its relationships: the order of the slides;
//!   without them, `ppt/slides/slideN.xml` in the order of N;
//! - each slide's shapes in their order in the slide (`p:spTree`), those of group shapes
//!   (`p:grpSp`) included: a title placeholder (`title`, `ctrTitle`) is a heading of level 2,
//!   its paragraphs one line; in a body placeholder each paragraph is a list item at its level
//!   (`a:pPr lvl`) unless it has no bullet (`a:buNone`); elsewhere (subtitles, text boxes) a
//!   paragraph is an item only when it sets a bullet of its own (`a:buChar`, `a:buAutoNum`,
//!   numbered); tables (`a:tbl`) are tables, a cell's paragraphs one line.
//!
//! Left out: speaker notes (`ppt/notesSlides/`), comments, the date, footer, header and
//! slide-number placeholders, the text of charts and diagrams (SmartArt), which live in parts
//! of their own, and text that layouts and masters add. A slide without text is an empty page,
//! so page N is slide N; only slides without text before the first with text are lost (the
//! caller trims the text). Every part is read through one bound on decompressed bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::mem::take;

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::archive::{Parts, attr, join};
use super::{ExtractError, ExtractLimits};
use crate::markdown::Writer;

const FORMAT: &str = "PowerPoint presentation";
const PRESENTATION: &str = "ppt/presentation.xml";
const PRESENTATION_RELS: &str = "ppt/_rels/presentation.xml.rels";
const SLIDES: &str = "ppt/slides/slide";

#[inline(never)]
pub(super) fn to_markdown(bytes: &[u8], limits: &ExtractLimits) -> Result<String, ExtractError> {
    let mut parts = Parts::open(bytes, limits.max_decompressed_bytes, FORMAT)?;
    let slides = slide_names(&mut parts)?;
    let mut w = Writer::new();
    for (n, name) in (1..).zip(&slides) {
        if n > 1 {
            w.page_break();
        }
        let xml = parts
            .read(name)?
            .ok_or_else(|| corrupt(format!("the archive has no {name} (slide {n})")))?;
        write_slide(&mut w, &xml)?;
    }
    Ok(w.finish())
}

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

/// The slides' part names in presentation order: as `ppt/presentation.xml` lists them, else
/// (without it or its relationships) `ppt/slides/slideN.xml` by N.
fn slide_names(parts: &mut Parts) -> Result<Vec<String>, ExtractError> {
    let presentation = parts.read(PRESENTATION)?;
    if let Some(xml) = &presentation
        && let Some(rels) = parts.read(PRESENTATION_RELS)?
    {
        let targets = relationships(&rels)?;
        return slide_ids(xml)?
            .iter()
            .map(|id| {
                targets
                    .get(id)
                    .map(|target| part_name(target))
                    .ok_or_else(|| corrupt(format!("{PRESENTATION_RELS} has no slide {id}")))
            })
            .collect();
    }
    let mut names = parts.names(SLIDES);
    if names.is_empty() && presentation.is_none() {
        return Err(corrupt(format!("the archive has no {PRESENTATION}")));
    }
    names.sort_by_cached_key(|name| {
        let number = name
            .strip_prefix(SLIDES)
            .and_then(|rest| rest.strip_suffix(".xml"))
            .and_then(|n| n.parse::<u64>().ok());
        (number.unwrap_or(u64::MAX), name.clone())
    });
    Ok(names)
}

/// The relationship ids of the slides of `ppt/presentation.xml`, in order.
fn slide_ids(xml: &str) -> Result<Vec<String>, ExtractError> {
    let mut ids = Vec::new();
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "p:sldId" => {
                // `r:id`, whatever the prefix of the relationships namespace.
                let id = e.attributes().flatten().find_map(|a| {
                    let key = a.key.as_ref();
                    key.ends_with(":id")
                        .then(|| a.normalized_value(XmlVersion::Implicit1_0).ok())
                        .flatten()
                });
                ids.extend(id.map(Cow::into_owned));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(ids)
}

/// Relationship id → target, of a `.rels` part; external targets left out.
fn relationships(xml: &str) -> Result<HashMap<String, String>, ExtractError> {
    let mut targets = HashMap::new();
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(corrupt)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if attr(&e, "TargetMode").as_deref() == Some("External") {
                    continue;
                }
                if let (Some(id), Some(target)) = (attr(&e, "Id"), attr(&e, "Target")) {
                    targets.insert(id, target);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(targets)
}

/// The part a target of `ppt/_rels/presentation.xml.rels` names: relative to `ppt/`, or to
/// the archive's root when it starts with `/`.
fn part_name(target: &str) -> String {
    let (mut path, target) = match target.strip_prefix('/') {
        Some(absolute) => (Vec::new(), absolute),
        None => (vec!["ppt"], target),
    };
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                path.pop();
            }
            segment => path.push(segment),
        }
    }
    path.join("/")
}

/// Writes the text of one slide.
fn write_slide(w: &mut Writer, xml: &str) -> Result<(), ExtractError> {
    let mut r = SlideReader {
        w,
        role: Role::Text,
        title: String::new(),
        paragraph: None,
        in_props: false,
        in_text: false,
        table: None,
        numbers: Vec::new(),
        last_item: None,
        skipped: 0,
    };
    let mut reader = Reader::from_str(xml);
    loop {
        let event = reader.read_event().map_err(corrupt)?;
        if r.skipped > 0 {
            match event {
                Event::Start(_) => r.skipped += 1,
                Event::End(_) => r.skipped -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(e) => r.start(&e),
            Event::Empty(e) => r.element(&e),
            Event::End(e) => r.end(e.name().as_ref()),
            Event::Text(t) if r.in_text => r.push_str(&t.into_inner()),
            Event::GeneralRef(g) if r.in_text => push_reference(&mut r, &g),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
}

fn push_reference(r: &mut SlideReader, g: &BytesRef) {
    match g.resolve_char_ref() {
        Ok(Some(c)) => r.push(c),
        // A predefined entity (`&amp;` …); PowerPoint declares no others.
        Ok(None) => r.push_str(resolve_xml_entity(g).unwrap_or_default()),
        // A reference to no character is left out.
        Err(_) => {}
    }
}

/// What a shape is to the slide, from its placeholder type (`p:ph type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A title: its paragraphs are one heading.
    Title,
    Subtitle,
    /// A body placeholder: its paragraphs are bulleted unless they say otherwise.
    Body,
    /// Date, footer, header, slide number: the same on every slide.
    Furniture,
    /// A text box, a shape with text, another placeholder.
    Text,
}

fn role(placeholder: Option<&str>) -> Role {
    match placeholder {
        Some("title" | "ctrTitle") => Role::Title,
        Some("subTitle") => Role::Subtitle,
        // A placeholder without a type is an `obj`: content, bulleted like the body.
        None | Some("body" | "obj") => Role::Body,
        Some("dt" | "ftr" | "hdr" | "sldNum") => Role::Furniture,
        Some(_) => Role::Text,
    }
}

/// What a paragraph's properties say about its bullet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Bullet {
    /// Whatever the layout gives: bulleted in a body placeholder, not elsewhere.
    #[default]
    Inherited,
    /// `a:buNone`.
    None,
    /// `a:buChar`, `a:buBlip`.
    Char,
    /// `a:buAutoNum`, starting at this number.
    Number(u64),
}

#[derive(Debug, Default)]
struct Paragraph {
    text: String,
    /// `a:pPr lvl`: 0 for the outer level.
    level: usize,
    bullet: Bullet,
}

#[derive(Debug, Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

/// Where reading a slide has got to.
#[derive(Debug)]
struct SlideReader<'w> {
    w: &'w mut Writer,
    /// The open shape's role.
    role: Role,
    /// The open title shape's text so far.
    title: String,
    paragraph: Option<Paragraph>,
    /// In the open paragraph's `a:pPr`.
    in_props: bool,
    /// In `a:t`.
    in_text: bool,
    table: Option<Table>,
    /// The number of the last numbered item at each depth, of the open shape.
    numbers: Vec<Option<u64>>,
    /// The depth of the last block written, when it is a list item.
    last_item: Option<usize>,
    /// Elements open inside one whose content is left out.
    skipped: usize,
}

impl SlideReader<'_> {
    fn start(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            // The copy of what `mc:Choice` already holds.
            "mc:Fallback" => self.skipped = 1,
            "p:sp" => {
                self.role = Role::Text;
                self.numbers.clear();
            }
            "a:p" => self.paragraph = Some(Paragraph::default()),
            "a:pPr" => {
                self.element(e);
                self.in_props = self.paragraph.is_some();
            }
            "a:t" => self.in_text = true,
            "a:tbl" => self.table = Some(Table::default()),
            "a:tr" => {
                if let Some(table) = &mut self.table {
                    table.row.clear();
                }
            }
            "a:tc" => {
                if let Some(table) = &mut self.table {
                    table.cell.clear();
                }
            }
            _ => self.element(e),
        }
    }

    /// An element read the same whether empty or not.
    fn element(&mut self, e: &BytesStart) {
        match e.name().as_ref() {
            "p:ph" => self.role = role(attr(e, "type").as_deref()),
            "a:br" => self.push('\n'),
            "a:pPr" => {
                if let Some(paragraph) = &mut self.paragraph {
                    paragraph.level = attr(e, "lvl").and_then(|l| l.parse().ok()).unwrap_or(0);
                }
            }
            name if self.in_props => {
                let bullet = match name {
                    "a:buNone" => Bullet::None,
                    "a:buChar" | "a:buBlip" => Bullet::Char,
                    "a:buAutoNum" => {
                        Bullet::Number(attr(e, "startAt").and_then(|n| n.parse().ok()).unwrap_or(1))
                    }
                    _ => return,
                };
                if let Some(paragraph) = &mut self.paragraph {
                    paragraph.bullet = bullet;
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "a:t" => self.in_text = false,
            "a:pPr" => self.in_props = false,
            "a:p" => self.end_paragraph(),
            "a:tc" => {
                if let Some(table) = &mut self.table {
                    let cell = take(&mut table.cell);
                    table.row.push(cell);
                }
            }
            "a:tr" => {
                if let Some(table) = &mut self.table {
                    let row = take(&mut table.row);
                    table.rows.push(row);
                }
            }
            "a:tbl" => {
                if let Some(table) = self.table.take() {
                    self.w.table(&table.rows);
                    self.last_item = None;
                }
            }
            "p:sp" => {
                if self.role == Role::Title {
                    let title = take(&mut self.title);
                    self.w.heading(2, &title);
                    self.last_item = None;
                }
                self.role = Role::Text;
            }
            _ => {}
        }
    }

    fn push(&mut self, c: char) {
        if let Some(paragraph) = &mut self.paragraph {
            paragraph.text.push(c);
        }
    }

    fn push_str(&mut self, text: &str) {
        if let Some(paragraph) = &mut self.paragraph {
            paragraph.text.push_str(text);
        }
    }

    fn end_paragraph(&mut self) {
        self.in_props = false;
        let Some(paragraph) = self.paragraph.take() else {
            return;
        };
        let text = paragraph.text.trim();
        if text.is_empty() {
            return;
        }
        if let Some(table) = &mut self.table {
            join(&mut table.cell, text);
            return;
        }
        let listed = match paragraph.bullet {
            Bullet::Inherited => self.role == Role::Body,
            Bullet::None => false,
            Bullet::Char | Bullet::Number(_) => true,
        };
        match self.role {
            Role::Furniture => {}
            Role::Title => join(&mut self.title, text),
            _ if listed => self.item(paragraph.level, paragraph.bullet, text),
            _ => {
                self.w.paragraph(text);
                self.numbers.clear();
                self.last_item = None;
            }
        }
    }

    /// A list item at `level`, at most one deeper than the item before it: an item deeper
    /// than that after a paragraph would read as code.
    fn item(&mut self, level: usize, bullet: Bullet, text: &str) {
        let depth = level.min(self.last_item.map_or(0, |last| last + 1));
        // An item ends the numbering of the levels below it.
        self.numbers.truncate(depth + 1);
        self.numbers.resize(depth + 1, None);
        let number = match (bullet, self.numbers.last_mut()) {
            (Bullet::Number(start), Some(last)) => {
                let number = last.map_or(start, |n| n.saturating_add(1));
                *last = Some(number);
                Some(number)
            }
            (_, last) => {
                if let Some(last) = last {
                    *last = None;
                }
                None
            }
        };
        self.w.item(depth, number, text);
        self.last_item = Some(depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::page_count;

    /// A zip of these parts (name, XML).
    fn pptx_with(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut all = vec![("[Content_Types].xml", "<Types/>")];
        all.extend_from_slice(parts);
        super::super::archive::zipped(&all)
    }

    fn markdown(parts: &[(&str, &str)]) -> String {
        to_markdown(&pptx_with(parts), &ExtractLimits::default()).unwrap()
    }

    /// A slide of these shapes.
    fn slide(shapes: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <p:sld xmlns:a="a" xmlns:r="r" xmlns:p="p"><p:cSld><p:spTree>
            <p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>
            {shapes}</p:spTree></p:cSld></p:sld>"#
        )
    }

    /// A shape: a placeholder of `placeholder` type (`Some("")` for one without a type), or a
    /// text box; `paragraphs` its `a:p`s.
    fn shape(placeholder: Option<&str>, paragraphs: &str) -> String {
        let ph = match placeholder {
            Some("") => r#"<p:ph idx="1"/>"#.to_owned(),
            Some(kind) => format!(r#"<p:ph type="{kind}"/>"#),
            None => String::new(),
        };
        format!(
            r#"<p:sp><p:nvSpPr><p:cNvPr id="2" name="S"/><p:cNvSpPr/><p:nvPr>{ph}</p:nvPr></p:nvSpPr>
            <p:spPr/><p:txBody><a:bodyPr/><a:lstStyle><a:lvl1pPr><a:buNone/></a:lvl1pPr></a:lstStyle>{paragraphs}</p:txBody></p:sp>"#
        )
    }

    /// A paragraph of one run, with `props` (attributes, children) as its `a:pPr`.
    fn para(props: Option<(&str, &str)>, text: &str) -> String {
        let props = match props {
            Some((attributes, children)) => format!("<a:pPr {attributes}>{children}</a:pPr>"),
            None => String::new(),
        };
        format!(r#"<a:p>{props}<a:r><a:rPr lang="en-GB"/><a:t>{text}</a:t></a:r></a:p>"#)
    }

    const PRESENTATION_XML: &str = r#"<p:presentation xmlns:p="p" xmlns:r="r">
        <p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>
        <p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst>
        </p:presentation>"#;
    const RELS_XML: &str = r#"<Relationships xmlns="rel">
        <Relationship Id="rId1" Type="t/slideMaster" Target="slideMasters/slideMaster1.xml"/>
        <Relationship Id="rId2" Type="t/slide" Target="slides/slide1.xml"/>
        <Relationship Id="rId3" Type="t/slide" Target="/ppt/slides/../slides/slide2.xml"/>
        <Relationship Id="rId9" Type="t/hyperlink" Target="https://example.com" TargetMode="External"/>
        </Relationships>"#;

    #[test]
    fn slides_are_pages_in_presentation_order_with_titles_bullets_tables_and_groups() {
        let title_slide = slide(
            &[
                shape(Some("ctrTitle"), &para(None, "Lighthouse keepers")),
                shape(Some("subTitle"), &para(None, "A short history")),
                shape(
                    Some("sldNum"),
                    r#"<a:p><a:fld id="{1}" type="slidenum"><a:t>1</a:t></a:fld></a:p>"#,
                ),
            ]
            .concat(),
        );
        let body = [
            para(None, "Duties"),
            para(Some(("lvl=\"1\"", "")), "Trim the wick"),
            para(Some(("lvl=\"1\"", "")), "Wind the clock"),
            para(None, "Supplies &amp; post"),
            para(Some(("", "<a:buNone/>")), "No bullet here."),
        ]
        .concat();
        let table = r#"<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="T"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr>
            <a:graphic><a:graphicData uri="table"><a:tbl><a:tblGrid><a:gridCol w="1"/><a:gridCol w="1"/></a:tblGrid>
            <a:tr h="1"><a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>Light</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Built</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
            <a:tr h="1"><a:tc><a:txBody><a:p><a:r><a:t>Bell</a:t></a:r><a:br/><a:r><a:t>Rock</a:t></a:r></a:p><a:p><a:r><a:t>Scotland</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>1810</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
            </a:tbl></a:graphicData></a:graphic></p:graphicFrame>"#;
        let group = format!(
            r#"<p:grpSp><p:nvGrpSpPr><p:cNvPr id="5" name="G"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>{}{}</p:grpSp>"#,
            shape(None, &para(None, "Grouped caption.")),
            shape(
                None,
                &para(
                    Some(("", r#"<a:buAutoNum type="arabicPeriod"/>"#)),
                    "Numbered box"
                )
            ),
        );
        let content = slide(
            &[
                shape(
                    Some("title"),
                    &[para(None, "Daily"), para(None, "work")].concat(),
                ),
                shape(Some(""), &body),
                table.to_owned(),
                group,
            ]
            .concat(),
        );
        let markdown = markdown(&[
            (PRESENTATION, PRESENTATION_XML),
            (PRESENTATION_RELS, RELS_XML),
            ("ppt/slides/slide1.xml", &content),
            ("ppt/slides/slide2.xml", &title_slide),
            (
                "ppt/notesSlides/notesSlide1.xml",
                &slide(&shape(Some("body"), &para(None, "Speaker notes"))),
            ),
        ]);
        assert_eq!(
            markdown,
            "## Lighthouse keepers\n\nA short history\n\u{c}\n## Daily work\n\n\
             - Duties\n    - Trim the wick\n    - Wind the clock\n- Supplies \\& post\n\n\
             No bullet here.\n\n| Light | Built |\n| --- | --- |\n| Bell Rock Scotland | 1810 |\n\n\
             Grouped caption.\n\n1. Numbered box"
        );
        assert_eq!(page_count(&markdown), 2);
    }

    #[test]
    fn numbered_items_count_per_level_and_an_item_never_starts_deeper_than_one_level_in() {
        let numbered = |lvl: u32, text: &str| {
            para(
                Some((
                    &format!("lvl=\"{lvl}\""),
                    r#"<a:buAutoNum type="arabicPeriod" startAt="3"/>"#,
                )),
                text,
            )
        };
        let body = [
            para(Some(("lvl=\"2\"", "")), "deep first"),
            numbered(0, "three"),
            numbered(1, "inner three"),
            numbered(1, "inner four"),
            numbered(0, "four"),
            numbered(1, "inner restarts"),
        ]
        .concat();
        assert_eq!(
            markdown(&[("ppt/slides/slide1.xml", &slide(&shape(Some("body"), &body)))]),
            "- deep first\n3. three\n    3. inner three\n    4. inner four\n4. four\n    3. inner restarts"
        );
    }

    #[test]
    fn without_presentation_xml_slides_come_in_the_order_of_their_numbers() {
        let text = |t: &str| slide(&shape(None, &para(None, t)));
        let markdown = markdown(&[
            ("ppt/slides/slide10.xml", &text("Ten.")),
            ("ppt/slides/slide2.xml", &text("Two.")),
            ("ppt/slides/_rels/slide2.xml.rels", "<Relationships/>"),
            ("ppt/slides/slide1.xml", &text("One.")),
        ]);
        assert_eq!(markdown, "One.\n\u{c}\nTwo.\n\u{c}\nTen.");
    }

    #[test]
    fn a_slide_without_text_is_an_empty_page() {
        let text = |t: &str| slide(&shape(None, &para(None, t)));
        let pages = markdown(&[
            ("ppt/slides/slide1.xml", &text("One.")),
            ("ppt/slides/slide2.xml", &slide("")),
            ("ppt/slides/slide3.xml", &text("Three.")),
        ]);
        assert_eq!(pages, "One.\n\u{c}\n\u{c}\nThree.");
        assert_eq!(page_count(&pages), 3);
        assert_eq!(crate::markdown::page(&pages, 3), Some("Three."));
    }

    #[test]
    fn a_presentation_without_slides_has_no_text() {
        let none = r#"<p:presentation xmlns:p="p"><p:sldSz cx="1" cy="1"/></p:presentation>"#;
        assert_eq!(
            markdown(&[
                (PRESENTATION, none),
                (PRESENTATION_RELS, "<Relationships/>")
            ]),
            ""
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let err = |parts: &[(&str, &str)]| {
            to_markdown(&pptx_with(parts), &ExtractLimits::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[("ppt/media/image1.png", "")]),
            "the PowerPoint presentation is corrupt: the archive has no ppt/presentation.xml"
        );
        assert_eq!(
            err(&[
                (PRESENTATION, PRESENTATION_XML),
                (PRESENTATION_RELS, RELS_XML)
            ]),
            "the PowerPoint presentation is corrupt: the archive has no ppt/slides/slide2.xml (slide 1)"
        );
        assert_eq!(
            err(&[
                (PRESENTATION, PRESENTATION_XML),
                (PRESENTATION_RELS, "<Relationships/>")
            ]),
            "the PowerPoint presentation is corrupt: ppt/_rels/presentation.xml.rels has no slide rId3"
        );
        let broken = err(&[("ppt/slides/slide1.xml", "<p:sld><a:p></p:sld>")]);
        assert!(
            broken.starts_with("the PowerPoint presentation is corrupt: "),
            "{broken}"
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_by_the_decompressed_bound() {
        let huge = slide(&shape(None, &para(None, &"a".repeat(2_000_000))));
        let limits = ExtractLimits {
            max_decompressed_bytes: 1_000_000,
            ..ExtractLimits::default()
        };
        assert_eq!(
            to_markdown(&pptx_with(&[("ppt/slides/slide1.xml", &huge)]), &limits),
            Err(ExtractError::TooLarge {
                what: "the decompressed document",
                limit: 1_000_000
            })
        );
    }
}

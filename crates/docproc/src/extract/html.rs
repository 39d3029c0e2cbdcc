//! HTML → the text a reader sees, with Cloudflare's streaming rewriter (`lol_html`).
//!
//! Scripts, styles, templates and hidden elements are dropped, and so is page furniture
//! (navigation, headers, footers, asides, forms). Headings, paragraphs, list items, table cells
//! and other blocks end with a blank line, so no sentence runs into the next block.

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::{HtmlRewriter, MemorySettings, Settings, doc_text, element, end_tag};

use super::ExtractError;

/// Never text: code, styling, invisible content.
const INVISIBLE: &str = "script, style, noscript, template, head, svg, canvas, iframe, object, [hidden], [aria-hidden=true]";
/// Page furniture around the content.
const FURNITURE: &str = "nav, header, footer, aside, form, button, select, [role=navigation], [role=banner], [role=contentinfo]";
/// Elements whose start and end are text boundaries.
const BLOCKS: &str = "p, div, section, article, main, h1, h2, h3, h4, h5, h6, li, dt, dd, blockquote, pre, tr, td, th, caption, figcaption, address, hr, table, ul, ol, dl";

#[derive(Default)]
struct State {
    out: String,
    /// Whether a skipped element encloses the current position.
    skipping: bool,
    /// Open elements being watched for their end tag.
    watched: u32,
}

/// At most this many open elements are watched for their end tag (browsers' parsers stop
/// nesting at 512 too): deeper ones are read as text of the deepest watched one, so memory stays
/// bounded whatever the nesting.
pub const MAX_WATCHED_DEPTH: u32 = 512;

impl State {
    /// Whether one more open element may be watched for its end tag; counts it if so.
    fn watch(&mut self) -> bool {
        let room = self.watched < MAX_WATCHED_DEPTH;
        self.watched += u32::from(room);
        room
    }

    fn boundary(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\n']).len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
    }
}

/// Memory the rewriter may use for its buffers and its stack of open elements: enough for any
/// page a browser renders; a page nested deeper than that is read without its structure.
const REWRITER_MEMORY_BYTES: usize = 16 << 20;

/// The page as Markdown, and a note when its structure could not be followed.
pub(super) fn to_markdown(html: &str) -> Result<(String, Option<String>), ExtractError> {
    let (text, note) = to_text(html)?;
    let markdown = crate::markdown::from_plain(&text).unwrap_or(text);
    Ok((markdown, note))
}

/// The page's text, and a note when its structure could not be followed.
pub(super) fn to_text(html: &str) -> Result<(String, Option<String>), ExtractError> {
    match structured_text(html) {
        Err(Rewrite::TooDeep) => {
            let note = "HTML nested too deeply to follow its structure: all of its text was read, \
                        scripts and page furniture included";
            let text = visible_text(html, None).map_err(|e| match e {
                Rewrite::Failed(e) => e,
                Rewrite::TooDeep => ExtractError::TooLarge {
                    what: "the HTML's rewriting memory",
                    limit: REWRITER_MEMORY_BYTES as u64,
                },
            })?;
            Ok((text, Some(note.into())))
        }
        Err(Rewrite::Failed(e)) => Err(e),
        Ok(text) => Ok((text, None)),
    }
}

enum Rewrite {
    /// The rewriter ran out of its memory (nesting, almost always).
    TooDeep,
    Failed(ExtractError),
}

fn structured_text(html: &str) -> Result<String, Rewrite> {
    let text = visible_text(html, Some(&format!("{INVISIBLE}, {FURNITURE}")))?;
    if !text.trim().is_empty() {
        return Ok(text);
    }
    // A page that is all furniture (or whose furniture is never closed) still has its text.
    visible_text(html, Some(INVISIBLE))
}

/// The text of `html`, leaving out the elements matching `skip`; with no `skip`, all of its text
/// and no element handlers (and so no stack of open elements).
fn visible_text(html: &str, skip: Option<&str>) -> Result<String, Rewrite> {
    let state = Rc::new(RefCell::new(State::default()));
    let text_state = state.clone();
    let mut settings = Settings::new().append_document_content_handler(doc_text!(move |chunk| {
        let mut state = text_state.borrow_mut();
        if !state.skipping {
            push_collapsed(&mut state.out, &decode_entities(chunk.as_str()));
        }
        Ok(())
    }));
    if let Some(skip) = skip {
        let (skip_state, block_state, break_state) = (state.clone(), state.clone(), state.clone());
        settings = settings
            .append_element_content_handler(element!(skip, move |el| {
                // Only the outermost skipped element is watched: what it encloses is skipped
                // with it, however deep.
                if el.can_have_content() && !skip_state.borrow().skipping {
                    skip_state.borrow_mut().skipping = true;
                    let state = skip_state.clone();
                    el.on_end_tag(end_tag!(move |_end| {
                        state.borrow_mut().skipping = false;
                        Ok(())
                    }))?;
                }
                Ok(())
            }))
            .append_element_content_handler(element!(BLOCKS, move |el| {
                block_state.borrow_mut().boundary();
                if el.can_have_content() && block_state.borrow_mut().watch() {
                    let state = block_state.clone();
                    el.on_end_tag(end_tag!(move |_end| {
                        let mut state = state.borrow_mut();
                        state.boundary();
                        state.watched -= 1;
                        Ok(())
                    }))?;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("br", move |_el| {
                let mut state = break_state.borrow_mut();
                if !state.skipping {
                    state.out.push('\n');
                }
                Ok(())
            }));
    }
    let settings = settings.with_memory_settings(
        MemorySettings::new().with_max_allowed_memory_usage(REWRITER_MEMORY_BYTES),
    );
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let failed = |e: RewritingError| match e {
        RewritingError::MemoryLimitExceeded(_) => Rewrite::TooDeep,
        e => Rewrite::Failed(ExtractError::Corrupt {
            format: "HTML",
            reason: e.to_string(),
        }),
    };
    rewriter.write(html.as_bytes()).map_err(failed)?;
    rewriter.end().map_err(failed)?;
    let out = std::mem::take(&mut state.borrow_mut().out);
    Ok(out.trim().to_owned())
}

/// Appends text with runs of white space collapsed, as a browser renders it.
fn push_collapsed(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with([' ', '\n']) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// Decodes character references: numeric ones, and the named ones that appear in prose.
pub(super) fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let decoded = end.filter(|&e| rest[e..].starts_with(';')).and_then(|e| {
            let name = &rest[1..e];
            entity(name).map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "deg" => '°',
        "middot" => '·',
        "bull" => '•',
        "times" => '×',
        "eacute" => 'é',
        "egrave" => 'è',
        "aacute" => 'á',
        "agrave" => 'à',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        "ccedil" => 'ç',
        "ntilde" => 'ñ',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of a page whose structure could be followed.
    fn text(html: &str) -> String {
        let (text, note) = to_text(html).unwrap();
        assert_eq!(note, None);
        text
    }

    fn nested(depth: usize, inner: &str) -> String {
        format!(
            "<html><body>{}{inner}{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        )
    }

    #[test]
    fn nesting_as_deep_as_browsers_build_keeps_the_structure() {
        let page = nested(
            MAX_WATCHED_DEPTH as usize * 4,
            "<p>Inside.</p><script>var hidden = 1;</script><p>After.</p>",
        );
        assert_eq!(text(&page), "Inside.\n\nAfter.");
    }

    #[test]
    fn a_page_nested_a_million_deep_is_read_without_its_structure_and_says_so() {
        let page = nested(1_000_000, "Deep text sentence.");
        let (text, note) = to_text(&page).unwrap();
        assert_eq!(text, "Deep text sentence.");
        assert!(note.unwrap().contains("nested too deeply"));
    }

    #[test]
    fn keeps_visible_text_and_drops_scripts_styles_and_furniture() {
        let page = r#"<!doctype html><html><head><title>Tab title</title>
            <style>p { color: red }</style><script>var x = "hidden";</script></head>
            <body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
            <header>Site banner</header>
            <main><h1>Budget approved</h1><p>The council approved the <b>new</b> budget.</p>
            <p>Libraries open on Sundays &amp; holidays.</p><div hidden>secret</div></main>
            <footer>© 2026 Example</footer></body></html>"#;
        assert_eq!(
            text(page),
            "Budget approved\n\nThe council approved the new budget.\n\nLibraries open on Sundays & holidays."
        );
    }

    #[test]
    fn blocks_and_breaks_separate_text() {
        let html = "<ul><li>first item</li><li>second item</li></ul><p>line one<br>line two</p><table><tr><td>a</td><td>b</td></tr></table>";
        assert_eq!(
            text(html),
            "first item\n\nsecond item\n\nline one\nline two\n\na\n\nb"
        );
    }

    #[test]
    fn a_page_of_only_furniture_still_gives_its_text() {
        assert_eq!(
            text("<nav><p>Only navigation here</p>"),
            "Only navigation here"
        );
    }

    #[test]
    fn white_space_collapses_like_a_browser() {
        assert_eq!(text("<p>  a \n\n  b\t c </p>"), "a b c");
    }

    #[test]
    fn decodes_named_and_numeric_references() {
        assert_eq!(
            decode_entities("caf&eacute; &#233; &#xE9; &lt;b&gt; &bogus; & done"),
            "café é é <b> &bogus; & done"
        );
        assert_eq!(decode_entities("&#0; &#x110000;"), "&#0; &#x110000;");
    }
}

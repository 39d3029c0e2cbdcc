//! HTML → Markdown, with Cloudflare's streaming rewriter (`lol_html`).
//!
//! Scripts, styles, templates and hidden elements are dropped, and so is page furniture
//! (navigation, headers, footers, asides, forms). Headings, list items, tables and preformatted
//! text keep their structure; other blocks become paragraphs, so no sentence runs into the next
//! block. All of it is described to a [`Writer`], which escapes the document's text.

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::{HtmlRewriter, MemorySettings, Settings, doc_text, element, end_tag};

use super::ExtractError;
use crate::markdown::Writer;

/// Never text: code, styling, invisible content.
const INVISIBLE: &str = "script, style, noscript, template, head, svg, canvas, iframe, object, [hidden], [aria-hidden=true]";
/// Page furniture around the content.
const FURNITURE: &str = "nav, header, footer, aside, form, button, select, [role=navigation], [role=banner], [role=contentinfo]";

/// What an element is to the structure of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text before and after it is in separate blocks.
    Block,
    Heading(usize),
    /// A list, with the number of its first item when it is numbered.
    List(Option<u64>),
    Item,
    Table,
    Row,
    Cell,
    Pre,
    Break,
}

/// What an element named `tag` (lower case) is to the structure, if anything.
fn kind(tag: &str) -> Option<Kind> {
    Some(match tag {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            Kind::Heading(usize::from(tag.as_bytes()[1] - b'0'))
        }
        "ul" | "menu" => Kind::List(None),
        "ol" => Kind::List(Some(1)),
        "li" => Kind::Item,
        "table" => Kind::Table,
        "tr" => Kind::Row,
        "td" | "th" => Kind::Cell,
        "pre" | "listing" | "xmp" => Kind::Pre,
        "br" => Kind::Break,
        "p" | "div" | "section" | "article" | "main" | "dt" | "dd" | "dl" | "blockquote"
        | "caption" | "figure" | "figcaption" | "address" | "hr" | "details" | "summary"
        | "fieldset" | "legend" | "center" | "hgroup" | "search" | "nav" | "header" | "footer"
        | "aside" | "form" | "body" | "html" => Kind::Block,
        _ => return None,
    })
}

/// An open element the Markdown is built from, closed by its end tag.
enum Frame {
    Block,
    Heading(usize),
    /// A list `depth` lists in, with the number of its next item when it is numbered.
    List {
        depth: usize,
        next: Option<u64>,
    },
    /// A list item, `depth` lists in; `written` once its text is out (text after a nested list
    /// is a paragraph of its own).
    Item {
        depth: usize,
        number: Option<u64>,
        written: bool,
    },
    /// A table's rows of cells so far.
    Table(Vec<Vec<String>>),
    /// A table inside a heading, an item or a cell: its text is theirs.
    InnerTable,
    Row,
    Cell,
    Pre,
}

/// An open element, with what encloses it found once, when it opens: a lookup per element
/// stays constant however deep the page nests.
struct Open {
    frame: Frame,
    /// Where text read inside it goes.
    leaf: Leaf,
    /// The index in the frames of the table whose rows and cells it is in.
    table: Option<usize>,
    /// The index in the frames of the innermost list around it.
    list: Option<usize>,
}

/// Where the text being read goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Paragraph,
    Heading(usize),
    /// The item open at this index of the frames.
    Item(usize),
    Cell,
    Pre,
}

#[derive(Default)]
struct State {
    markdown: Writer,
    /// Text of the block being read.
    text: String,
    /// Open elements watched for their end tag, outermost first.
    frames: Vec<Open>,
    /// Open `pre` frames: their text is kept as it is.
    pre: u32,
    /// Whether a skipped element encloses the current position.
    skipping: bool,
}

/// At most this many open elements are watched for their end tag (browsers' parsers stop
/// nesting at 512 too): deeper ones are read as text of the deepest watched one, so memory stays
/// bounded whatever the nesting.
pub const MAX_WATCHED_DEPTH: u32 = 512;

impl State {
    /// Where text goes now: the innermost heading, item, cell or `pre`; text loose in a list or
    /// table, or in no such element, is a paragraph.
    fn leaf(&self) -> Leaf {
        self.frames.last().map_or(Leaf::Paragraph, |open| open.leaf)
    }

    /// The rows of the table whose rows and cells are being read, if any.
    fn table(&mut self) -> Option<&mut Vec<Vec<String>>> {
        let at = self.frames.last()?.table?;
        match self.frames.get_mut(at) {
            Some(Open {
                frame: Frame::Table(rows),
                ..
            }) => Some(rows),
            _ => None,
        }
    }

    /// Opens `frame` inside the innermost open element.
    fn push(&mut self, frame: Frame) {
        let at = self.frames.len();
        let (leaf, table, list) = self
            .frames
            .last()
            .map_or((Leaf::Paragraph, None, None), |open| {
                (open.leaf, open.table, open.list)
            });
        let leaf = match frame {
            Frame::Block | Frame::InnerTable => leaf,
            Frame::Heading(level) => Leaf::Heading(level),
            Frame::Item { .. } => Leaf::Item(at),
            Frame::Cell => Leaf::Cell,
            Frame::Pre => Leaf::Pre,
            Frame::List { .. } | Frame::Table(_) | Frame::Row => Leaf::Paragraph,
        };
        let table = match frame {
            Frame::Table(_) => Some(at),
            Frame::InnerTable => None,
            _ => table,
        };
        let list = match frame {
            Frame::List { .. } => Some(at),
            _ => list,
        };
        self.pre += u32::from(matches!(frame, Frame::Pre));
        self.frames.push(Open {
            frame,
            leaf,
            table,
            list,
        });
    }

    /// Writes the text read so far where it belongs.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        if text.trim().is_empty() {
            return;
        }
        match self.leaf() {
            Leaf::Paragraph | Leaf::Pre => self.markdown.paragraph(&text),
            Leaf::Heading(level) => self.markdown.heading(level, &text),
            Leaf::Item(at) => match self.frames.get_mut(at).map(|open| &mut open.frame) {
                Some(Frame::Item {
                    depth,
                    number,
                    written: written @ false,
                }) => {
                    self.markdown.item(*depth, *number, &text);
                    *written = true;
                }
                _ => self.markdown.paragraph(&text),
            },
            Leaf::Cell => {
                let cell = self
                    .table()
                    .and_then(|rows| rows.last_mut())
                    .and_then(|row| row.last_mut());
                if let Some(cell) = cell {
                    push_collapsed(cell, " ");
                    push_collapsed(cell, &text);
                }
            }
        }
    }

    /// A block boundary: inside a heading, an item or a cell, a space; in `pre`, a line break;
    /// elsewhere, the end of a paragraph.
    fn split(&mut self) {
        match self.leaf() {
            Leaf::Heading(_) | Leaf::Item(_) | Leaf::Cell => push_collapsed(&mut self.text, " "),
            Leaf::Pre => self.text.push('\n'),
            Leaf::Paragraph => self.flush(),
        }
    }

    /// The start of an element of `kind`; `watched` when its end tag will call [`Self::close`].
    fn open(&mut self, kind: Kind, watched: bool) {
        let leaf = self.leaf();
        let in_text = leaf != Leaf::Paragraph;
        let frame = match kind {
            Kind::Heading(level) if !in_text => Frame::Heading(level),
            Kind::Pre if !in_text => Frame::Pre,
            Kind::List(first) if matches!(leaf, Leaf::Paragraph | Leaf::Item(_)) => Frame::List {
                depth: self.list().map_or(0, |(depth, _)| depth + 1),
                next: first,
            },
            Kind::Item if matches!(leaf, Leaf::Paragraph | Leaf::Item(_)) => {
                let (depth, next) = self.list().unwrap_or((0, None));
                let number = next.map(|next| {
                    let number = *next;
                    *next = number.saturating_add(1);
                    number
                });
                Frame::Item {
                    depth,
                    number,
                    written: false,
                }
            }
            Kind::Table if !in_text => Frame::Table(Vec::new()),
            Kind::Table => Frame::InnerTable,
            // A row or cell of the table being read; elsewhere (in a cell's own table, say),
            // only a boundary.
            Kind::Row | Kind::Cell if self.table().is_some() => {
                self.flush();
                if let Some(rows) = self.table() {
                    if kind == Kind::Row || rows.is_empty() {
                        rows.push(Vec::new());
                    }
                    if let (Kind::Cell, Some(row)) = (kind, rows.last_mut()) {
                        row.push(String::new());
                    }
                }
                if kind == Kind::Row {
                    Frame::Row
                } else {
                    Frame::Cell
                }
            }
            _ => Frame::Block,
        };
        match frame {
            Frame::Block | Frame::InnerTable => self.split(),
            Frame::Row | Frame::Cell => {}
            _ => self.flush(),
        }
        if watched {
            self.push(frame);
        }
    }

    /// The depth of the innermost open list, and its next number when it is numbered.
    fn list(&mut self) -> Option<(usize, Option<&mut u64>)> {
        let at = self.frames.last()?.list?;
        match self.frames.get_mut(at).map(|open| &mut open.frame) {
            Some(Frame::List { depth, next }) => Some((*depth, next.as_mut())),
            _ => None,
        }
    }

    /// The end of the innermost watched element.
    fn close(&mut self) {
        match self.frames.last().map(|open| &open.frame) {
            Some(Frame::Block | Frame::InnerTable) => self.split(),
            _ => self.flush(),
        }
        match self.frames.pop().map(|open| open.frame) {
            Some(Frame::Table(rows)) => self.markdown.table(&rows),
            Some(Frame::Pre) => self.pre = self.pre.saturating_sub(1),
            _ => {}
        }
    }

    /// The Markdown of everything read, closing what is still open.
    fn finish(mut self) -> String {
        while !self.frames.is_empty() {
            self.close();
        }
        self.flush();
        self.markdown.finish()
    }
}

/// Memory the rewriter may use for its buffers and its stack of open elements: enough for any
/// page a browser renders; a page nested deeper than that is read without its structure.
const REWRITER_MEMORY_BYTES: usize = 16 << 20;

/// The page as Markdown, and a note when its structure could not be followed.
#[inline(never)]
pub(super) fn to_markdown(html: &str) -> Result<(String, Option<String>), ExtractError> {
    read(html, structured)
}

/// A book's chapter (an EPUB's XHTML) as Markdown, like [`to_markdown`] but with all visible
/// text kept: in a chapter, `header`, `footer`, `aside` and `nav` hold titles, notes and
/// sidebars, not a site's furniture.
pub(super) fn chapter_to_markdown(html: &str) -> Result<(String, Option<String>), ExtractError> {
    read(html, |html| markdown_without(html, INVISIBLE))
}

/// `html` as Markdown by `structured`, or all of its text when it nests too deeply for that.
fn read(
    html: &str,
    structured: impl Fn(&str) -> Result<String, Rewrite>,
) -> Result<(String, Option<String>), ExtractError> {
    match structured(html) {
        Err(Rewrite::TooDeep) => {
            let note = "HTML nested too deeply to follow its structure: all of its text was read, \
                        scripts and page furniture included";
            let text = all_text(html).map_err(|e| match e {
                Rewrite::Failed(e) => e,
                Rewrite::TooDeep => ExtractError::TooLarge {
                    what: "the HTML's rewriting memory",
                    limit: REWRITER_MEMORY_BYTES as u64,
                },
            })?;
            let mut markdown = Writer::new();
            markdown.paragraph(&text);
            Ok((markdown.finish(), Some(note.into())))
        }
        Err(Rewrite::Failed(e)) => Err(e),
        Ok(markdown) => Ok((markdown, None)),
    }
}

enum Rewrite {
    /// The rewriter ran out of its memory (nesting, almost always).
    TooDeep,
    Failed(ExtractError),
}

fn structured(html: &str) -> Result<String, Rewrite> {
    let markdown = markdown_without(html, &format!("{INVISIBLE}, {FURNITURE}"))?;
    if !markdown.is_empty() {
        return Ok(markdown);
    }
    // A page that is all furniture (or whose furniture is never closed) still has its text.
    markdown_without(html, INVISIBLE)
}

/// The Markdown of `html`, leaving out the elements matching `skip`.
fn markdown_without(html: &str, skip: &str) -> Result<String, Rewrite> {
    let state = Rc::new(RefCell::new(State::default()));
    let (text_state, skip_state, block_state) = (state.clone(), state.clone(), state.clone());
    let settings = Settings::new()
        .append_document_content_handler(doc_text!(move |chunk| {
            let mut state = text_state.borrow_mut();
            if !state.skipping {
                let text = decode_entities(chunk.as_str());
                if state.pre > 0 {
                    state.text.push_str(&text);
                } else {
                    push_collapsed(&mut state.text, &text);
                }
            }
            Ok(())
        }))
        .append_element_content_handler(element!(skip, move |el| {
            // Only the outermost skipped element is watched: what it encloses is skipped
            // with it, however deep. It still ends the block before it, if it is one.
            if el.can_have_content() && !skip_state.borrow().skipping {
                let mut state = skip_state.borrow_mut();
                if kind(&el.tag_name()).is_some_and(|kind| kind != Kind::Break) {
                    state.split();
                }
                state.skipping = true;
                let state = skip_state.clone();
                el.on_end_tag(end_tag!(move |_end| {
                    state.borrow_mut().skipping = false;
                    Ok(())
                }))?;
            }
            Ok(())
        }))
        // Runs after the skip handler, so a skipped element is never structure.
        .append_element_content_handler(element!("*", move |el| {
            let Some(mut kind) = kind(&el.tag_name()) else {
                return Ok(());
            };
            let mut state = block_state.borrow_mut();
            if state.skipping {
                return Ok(());
            }
            if kind == Kind::Break {
                state.text.push('\n');
                return Ok(());
            }
            if let Kind::List(Some(first)) = &mut kind {
                let start = el.get_attribute("start");
                *first = start.and_then(|s| s.trim().parse().ok()).unwrap_or(1);
            }
            let watched = el.can_have_content() && state.frames.len() < MAX_WATCHED_DEPTH as usize;
            state.open(kind, watched);
            if watched {
                let state = block_state.clone();
                el.on_end_tag(end_tag!(move |_end| {
                    state.borrow_mut().close();
                    Ok(())
                }))?;
            }
            Ok(())
        }));
    rewrite(html, settings)?;
    let state = std::mem::take(&mut *state.borrow_mut());
    Ok(state.finish())
}

/// All the text of `html`, without its structure: no element handlers, and so no stack of open
/// elements.
fn all_text(html: &str) -> Result<String, Rewrite> {
    let text = Rc::new(RefCell::new(String::new()));
    let out = text.clone();
    let settings = Settings::new().append_document_content_handler(doc_text!(move |chunk| {
        push_collapsed(&mut out.borrow_mut(), &decode_entities(chunk.as_str()));
        Ok(())
    }));
    rewrite(html, settings)?;
    let text = std::mem::take(&mut *text.borrow_mut());
    Ok(text)
}

/// Runs `html` through the rewriter, in bounded memory.
fn rewrite(html: &str, settings: Settings<'_, '_>) -> Result<(), Rewrite> {
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
    rewriter.end().map_err(failed)
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

    /// The Markdown of a page whose structure could be followed.
    fn markdown(html: &str) -> String {
        let (markdown, note) = to_markdown(html).unwrap();
        assert_eq!(note, None, "{html}");
        markdown
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
        assert_eq!(markdown(&page), "Inside.\n\nAfter.");
    }

    #[test]
    fn a_page_nested_a_million_deep_is_read_without_its_structure_and_says_so() {
        let page = nested(1_000_000, "Deep text *sentence*.");
        let (markdown, note) = to_markdown(&page).unwrap();
        assert_eq!(markdown, "Deep text \\*sentence\\*.");
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
            markdown(page),
            "# Budget approved\n\nThe council approved the new budget.\n\n\
             Libraries open on Sundays \\& holidays."
        );
    }

    #[test]
    fn headings_keep_their_level() {
        let html = "<h1>Title</h1><h2>Sub <em>part</em></h2><h6>Small<br>print</h6>\
                    <div><h3>In a <a href=x>div</a></h3>Body</div>";
        assert_eq!(
            markdown(html),
            "# Title\n\n## Sub part\n\n###### Small print\n\n### In a div\n\nBody"
        );
    }

    #[test]
    fn lists_are_bulleted_or_numbered_and_nest() {
        let html = "<ul><li>one<ul><li>one a</li><li><p>one b</p></li></ul>more of one</li>\
                    <li>two</li></ul>\
                    <ol start=\"3\"><li>three</li><li>four<ol><li>inner</li></ol></li></ol>\
                    <ol start=\"x\"><li>first</li></ol>";
        assert_eq!(
            markdown(html),
            "- one\n    - one a\n    - one b\n\nmore of one\n\n- two\n\
             3. three\n4. four\n    1. inner\n1. first"
        );
    }

    #[test]
    fn tables_have_a_row_per_tr_and_a_cell_per_td() {
        let html = "<table><caption>Staff</caption>\
                    <thead><tr><th>Name</th><th>Note</th></tr></thead>\
                    <tbody><tr><td>a|b</td><td>*star*</td></tr>\
                    <tr><td><p>two</p><p>blocks</p></td>\
                    <td><table><tr><td>inner</td><td>cells</td></tr></table></td></tr></tbody>\
                    </table>";
        assert_eq!(
            markdown(html),
            "Staff\n\n| Name | Note |\n| --- | --- |\n| a\\|b | \\*star\\* |\n\
             | two blocks | inner cells |"
        );
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        let html = "<p>Run   it:</p><pre>\nfn main() {\n    go(1 &lt; 2);\n}</pre><p>Done.</p>";
        assert_eq!(
            markdown(html),
            "Run it:\n\nfn main() {\ngo(1 \\< 2);\n}\n\nDone."
        );
    }

    #[test]
    fn blocks_and_breaks_separate_text() {
        let html = "Loose <b>text</b><ul><li>first item</li><li>second item</li></ul>\
                    <p>line one<br>line two</p><blockquote><p>quoted</p><p>twice</p></blockquote>\
                    tail";
        assert_eq!(
            markdown(html),
            "Loose text\n\n- first item\n- second item\n\nline one\nline two\n\nquoted\n\n\
             twice\n\ntail"
        );
    }

    #[test]
    fn elements_left_open_lose_no_text() {
        let html = "<ul><li>first<li>second</ul><p>one<p>two<ol><li>a<li>b</ol>\
                    <table><tr><td>c<td>d<tr><td>e</table><ul><li>dangling";
        assert_eq!(
            markdown(html),
            "- first\n- second\n\none\n\ntwo\n\n1. a\n2. b\n\n\
             | c | d |\n| --- | --- |\n| e |\n\n- dangling"
        );
    }

    #[test]
    fn hidden_items_and_furniture_are_not_structure() {
        let html = "<ol><li>a</li><li hidden>x</li><li>b</li></ol>\
                    <p>before<nav><ul><li>Home</li></ul></nav>after</p>";
        assert_eq!(markdown(html), "1. a\n2. b\n\nbefore\n\nafter");
    }

    #[test]
    fn text_that_looks_like_markdown_stays_text() {
        assert_eq!(
            markdown("<p># not a heading</p><li>1. not a number</li>"),
            "\\# not a heading\n\n- 1\\. not a number"
        );
    }

    #[test]
    fn a_page_of_only_furniture_still_gives_its_text() {
        assert_eq!(
            markdown("<nav><p>Only navigation here</p>"),
            "Only navigation here"
        );
    }

    #[test]
    fn white_space_collapses_like_a_browser() {
        assert_eq!(markdown("<p>  a \n\n  b\t c </p>"), "a b c");
    }

    #[test]
    fn decodes_named_and_numeric_references() {
        assert_eq!(
            decode_entities("caf&eacute; &#233; &#xE9; &lt;b&gt; &bogus; & done"),
            "café é é <b> &bogus; & done"
        );
        assert_eq!(decode_entities("&#0; &#x110000;"), "&#0; &#x110000;");
        assert_eq!(markdown("<p>caf&eacute; &amp; co</p>"), "café \\& co");
    }
}

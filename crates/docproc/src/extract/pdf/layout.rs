//! Placing text: the text and graphics state the operators change (text matrix, line matrix,
//! current transformation, font size, spacing, scaling), where each glyph lands, and the
//! separators that follow from where the next one lands: a space for a gap wider than a
//! letter's spacing, a line break for a move off the baseline. Then what reads better across a
//! page and a document: hyphenated line ends joined, ligatures spelled out, lines repeated at
//! the top or bottom of most pages (running headers, footers, page numbers) dropped.

use lopdf::Object;

/// An affine transformation `[a b c d e f]`, as PDF writes them (row vectors: `p' = p × M`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Matrix {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
}

impl Matrix {
    const IDENTITY: Matrix = Matrix {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        e: 0.0,
        f: 0.0,
    };

    pub(super) fn from_operands(operands: &[Object]) -> Option<Matrix> {
        let n: Vec<f64> = operands
            .iter()
            .map(|o| match o {
                Object::Integer(i) => Some(*i as f64),
                Object::Real(r) => Some(f64::from(*r)),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let &[a, b, c, d, e, f] = n.as_slice() else {
            return None;
        };
        let m = Matrix { a, b, c, d, e, f };
        [a, b, c, d, e, f]
            .iter()
            .all(|v| v.is_finite())
            .then_some(m)
    }

    /// A move by `(x, y)`.
    pub(super) fn translate(x: f64, y: f64) -> Matrix {
        Matrix {
            e: x,
            f: y,
            ..Matrix::IDENTITY
        }
    }

    /// `self × other`: `self` first, then `other`.
    pub(super) fn then(self, o: Matrix) -> Matrix {
        Matrix {
            a: self.a * o.a + self.b * o.c,
            b: self.a * o.b + self.b * o.d,
            c: self.c * o.a + self.d * o.c,
            d: self.c * o.b + self.d * o.d,
            e: self.e * o.a + self.f * o.c + o.e,
            f: self.e * o.b + self.f * o.d + o.f,
        }
    }
}

/// The text and graphics state that places glyphs.
#[derive(Debug, Clone)]
pub(super) struct State {
    pub(super) ctm: Matrix,
    tm: Matrix,
    tlm: Matrix,
    /// The font's resource name, to find it again after `Q`.
    pub(super) font: Option<Vec<u8>>,
    pub(super) size: f64,
    pub(super) char_spacing: f64,
    pub(super) word_spacing: f64,
    pub(super) scale: f64,
    pub(super) leading: f64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            ctm: Matrix::IDENTITY,
            tm: Matrix::IDENTITY,
            tlm: Matrix::IDENTITY,
            font: None,
            size: 1.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
        }
    }
}

impl State {
    pub(super) fn begin_text(&mut self) {
        self.tm = Matrix::IDENTITY;
        self.tlm = Matrix::IDENTITY;
    }

    pub(super) fn move_line(&mut self, x: f64, y: f64) {
        self.tlm = Matrix::translate(x, y).then(self.tlm);
        self.tm = self.tlm;
    }

    pub(super) fn set_matrix(&mut self, m: Matrix) {
        self.tm = m;
        self.tlm = m;
    }

    pub(super) fn next_line(&mut self) {
        self.move_line(0.0, -self.leading);
    }

    /// A `TJ` adjustment, in thousandths of the font size (positive moves back).
    pub(super) fn kern(&mut self, thousandths: f64) {
        self.shift(-thousandths / 1000.0 * self.size * self.scale);
    }

    /// Moves past a glyph `width` (in units of the font size) wide.
    fn advance(&mut self, width: f64, is_space: bool) {
        let spacing = self.char_spacing + if is_space { self.word_spacing } else { 0.0 };
        self.shift((width * self.size + spacing) * self.scale);
    }

    fn shift(&mut self, x: f64) {
        if x.is_finite() {
            self.tm = Matrix::translate(x, 0.0).then(self.tm);
        }
    }

    /// Where the pen is on the page, the baseline's direction, and the font's size there.
    fn pen(&self) -> Pen {
        let m = self.tm.then(self.ctm);
        let length = m.a.hypot(m.b);
        let (dx, dy) = if length > 0.0 {
            (m.a / length, m.b / length)
        } else {
            (1.0, 0.0)
        };
        Pen {
            x: m.e,
            y: m.f,
            dx,
            dy,
            size: (self.size * m.c.hypot(m.d)).abs(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pen {
    x: f64,
    y: f64,
    dx: f64,
    dy: f64,
    size: f64,
}

/// Gaps wider than this share of the font size are spaces between words.
const WORD_GAP: f64 = 0.1;
/// Moves across the baseline by more than this share of the font size start a new line.
const LINE_MOVE: f64 = 0.5;
/// Moves back along the baseline by more than this share are a new run of text, spaced.
const BACK_MOVE: f64 = 0.6;

/// A page's text as its glyphs are placed.
#[derive(Debug, Default)]
pub(super) struct PageText {
    out: String,
    /// Where the last glyph with text ended.
    end: Option<Pen>,
}

impl PageText {
    /// Shows one glyph: its text (empty for a glyph with no known character, which still
    /// takes its place) at the pen, and the pen moved past its `width` (in units of the font
    /// size).
    pub(super) fn glyph(&mut self, state: &mut State, text: &str, width: f64, is_space: bool) {
        self.place(state, text);
        state.advance(width, is_space);
        if !text.is_empty() {
            self.end = Some(state.pen());
        }
    }

    fn place(&mut self, state: &State, text: &str) {
        if text.is_empty() {
            return;
        }
        let start = state.pen();
        if let Some(end) = self.end {
            let (vx, vy) = (start.x - end.x, start.y - end.y);
            let along = vx * end.dx + vy * end.dy;
            let across = vy * end.dx - vx * end.dy;
            let em = end.size.max(start.size).max(f64::EPSILON);
            if across.abs() > LINE_MOVE * em {
                self.new_line();
            } else if along > WORD_GAP * em || along < -BACK_MOVE * em {
                self.space();
            }
        }
        if text.chars().all(char::is_whitespace) {
            self.space();
        } else {
            self.out.push_str(text);
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
    }

    fn new_line(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    pub(super) fn finish(self) -> String {
        self.out
    }
}

/// Whether `c` is a letter of a right-to-left script (Hebrew, Arabic, Syriac, Thaana, N'Ko,
/// and their presentation forms).
fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// Lines of right-to-left text as their glyphs are drawn (left to right) put back in reading
/// order: a line with more right-to-left letters than others is reversed, and within it the
/// runs of left-to-right letters and digits turned back, and brackets mirrored.
pub(super) fn logical_order(text: &str) -> String {
    if !text.contains(is_rtl) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let rtl = line.chars().filter(|&c| is_rtl(c)).count();
        let ltr = line
            .chars()
            .filter(|&c| c.is_alphanumeric() && !is_rtl(c))
            .count();
        if rtl == 0 || rtl < ltr {
            out.push_str(line);
            continue;
        }
        let mut chars: Vec<char> = line.chars().rev().collect();
        let strong_ltr = |c: char| c.is_alphanumeric() && !is_rtl(c);
        let mut k = 0;
        while k < chars.len() {
            if !strong_ltr(chars[k]) {
                chars[k] = match chars[k] {
                    '(' => ')',
                    ')' => '(',
                    '[' => ']',
                    ']' => '[',
                    '{' => '}',
                    '}' => '{',
                    '<' => '>',
                    '>' => '<',
                    other => other,
                };
                k += 1;
                continue;
            }
            // A run of left-to-right letters and digits, with the punctuation inside it.
            let mut end = k;
            let mut j = k;
            while j < chars.len()
                && (strong_ltr(chars[j])
                    || matches!(chars[j], '.' | ',' | ':' | '-' | '/' | '\'' | ' '))
            {
                if strong_ltr(chars[j]) {
                    end = j;
                }
                j += 1;
            }
            chars[k..=end].reverse();
            k = end + 1;
        }
        out.extend(chars);
    }
    out
}

/// Spells out the Latin ligatures of Unicode's presentation forms (`ﬁ` → `fi`).
pub(super) fn expand_ligatures(text: &str) -> String {
    if !text.contains(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            other => out.push(other),
        }
    }
    out
}

/// Joins a word hyphenated across a line break (`com-` / `pile` → `compile`): a letter, a
/// hyphen ending the line, a letter starting the next (as `pdftotext` does; a compound split
/// at its own hyphen loses it).
pub(super) fn join_hyphenated(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let next_starts_letter = lines
            .peek()
            .and_then(|next| next.trim_start().chars().next())
            .is_some_and(char::is_alphabetic);
        let cut = line
            .strip_suffix(['-', '\u{00AD}', '\u{2010}'])
            .filter(|rest| rest.chars().last().is_some_and(char::is_alphabetic));
        match cut {
            Some(rest) if next_starts_letter => {
                out.push_str(rest);
                if let Some(next) = lines.next() {
                    // The next line continues this one.
                    out.push_str(next.trim_start());
                    if lines.peek().is_some() {
                        out.push('\n');
                    }
                }
            }
            _ => {
                out.push_str(line);
                if lines.peek().is_some() {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Drops the lines that open or close most pages alike, digits aside (running headers and
/// footers, page numbers), from documents of three pages or more, on pages with text besides.
pub(super) fn drop_running_lines(pages: &mut [String]) {
    if pages.len() < 3 {
        return;
    }
    let shape = |line: &str| -> String {
        line.trim()
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    let edge = |page: &String, first: bool| -> Option<String> {
        let mut lines = page.lines().filter(|l| !l.trim().is_empty());
        let line = if first {
            lines.next()
        } else {
            lines.next_back()
        };
        line.map(shape)
    };
    // A page of a line or two is all content, repeated or not.
    let eligible: Vec<bool> = pages
        .iter()
        .map(|page| page.lines().filter(|l| !l.trim().is_empty()).count() >= 3)
        .collect();
    for first in [true, false] {
        let shapes: Vec<Option<String>> = pages.iter().map(|p| edge(p, first)).collect();
        for (page, _) in pages.iter_mut().zip(&eligible).filter(|(_, e)| **e) {
            let Some(own) = edge(page, first) else {
                continue;
            };
            let repeated = shapes.iter().filter(|s| s.as_ref() == Some(&own)).count();
            if repeated * 2 <= shapes.len() {
                continue;
            }
            let mut lines: Vec<&str> = page.lines().collect();
            let position = if first {
                lines.iter().position(|l| !l.trim().is_empty())
            } else {
                lines.iter().rposition(|l| !l.trim().is_empty())
            };
            if let Some(i) = position {
                lines.remove(i);
            }
            *page = lines.join("\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_line_ends_are_joined_and_others_kept() {
        assert_eq!(
            join_hyphenated("traditional com-\npilers need\nTrace-\nMonkey x-\n\n3-\n4"),
            "traditional compilers need\nTraceMonkey x-\n\n3-\n4"
        );
        assert_eq!(join_hyphenated("a soft\u{AD}\nhyphen"), "a softhyphen");
    }

    #[test]
    fn right_to_left_lines_come_back_in_reading_order() {
        assert_eq!(
            logical_order("?םלוכ םולש המ םלוע םולש\nplain English line"),
            "שלום עולם מה שלום כולם?\nplain English line"
        );
        assert_eq!(logical_order("2024 תנשב PDF ץבוק"), "קובץ PDF בשנת 2024");
        assert_eq!(logical_order("(ב) ףיעס"), "סעיף (ב)");
    }

    #[test]
    fn ligatures_are_spelled_out() {
        assert_eq!(
            expand_ligatures("ﬁnd the ﬂow of eﬀort"),
            "find the flow of effort"
        );
    }

    #[test]
    fn lines_that_open_or_close_most_pages_are_dropped() {
        let mut pages: Vec<String> = (1..=4)
            .map(|n| format!("Journal of Things, vol. 3\nBody text of page {n}.\n{n}"))
            .collect();
        pages[2] = "A page with its own first line\nMore text.\n3".into();
        drop_running_lines(&mut pages);
        assert_eq!(pages[0], "Body text of page 1.");
        assert_eq!(pages[2], "A page with its own first line\nMore text.");
        // Pages of one line each, the same on every page, are the document.
        let mut slides: Vec<String> = (0..4).map(|_| "Hello world".to_owned()).collect();
        drop_running_lines(&mut slides);
        assert!(slides.iter().all(|s| s == "Hello world"));
    }

    fn placed(text: &mut PageText, state: &mut State, s: &str, width: f64) {
        text.glyph(state, s, width, s == " ");
    }

    #[test]
    fn glyphs_placed_apart_are_words_and_glyphs_placed_together_are_one() {
        let mut state = State {
            size: 10.0,
            ..State::default()
        };
        let mut text = PageText::default();
        // Letters placed one by one where the previous ended: one word.
        for c in ["E", "x", "a", "m"] {
            placed(&mut text, &mut state, c, 0.5);
        }
        // A gap of a third of an em: a new word.
        state.kern(-333.0);
        placed(&mut text, &mut state, "d", 0.5);
        // A kerning adjustment of a twentieth of an em: the same word.
        state.kern(-50.0);
        placed(&mut text, &mut state, "o", 0.5);
        // The next line.
        state.leading = 12.0;
        state.next_line();
        placed(&mut text, &mut state, "c", 0.5);
        assert_eq!(text.finish(), "Exam do\nc");
    }

    #[test]
    fn placement_follows_the_current_transformation_and_the_text_matrix() {
        let mut state = State::default();
        // The font at size 1, scaled to 12 by the text matrix: gaps scale with it.
        if let Some(m) = Matrix::from_operands(&[
            Object::Integer(12),
            Object::Integer(0),
            Object::Integer(0),
            Object::Integer(12),
            Object::Integer(72),
            Object::Integer(700),
        ]) {
            state.set_matrix(m);
        }
        let mut text = PageText::default();
        placed(&mut text, &mut state, "a", 0.5);
        state.kern(-80.0);
        placed(&mut text, &mut state, "b", 0.5);
        state.kern(-300.0);
        placed(&mut text, &mut state, "c", 0.5);
        assert_eq!(text.finish(), "ab c");
    }
}

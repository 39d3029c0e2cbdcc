//! Placing text: the text and graphics state the operators change (text matrix, line matrix,
//! current transformation, font size, spacing, scaling), where each glyph lands, and the
//! separators that follow from where the next one lands: a space for a gap wider than a
//! letter's spacing, a line break for a move off the baseline. Then what reads better across a
//! page and a document: hyphenated line ends joined, ligatures spelled out, lines repeated at
//! the top or bottom of most pages (running headers, footers, page numbers) dropped; blocks,
//! headings and list items by size, gaps and bullets, written as Markdown.

use std::collections::BTreeMap;

use lopdf::Object;

use crate::markdown::Writer;

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

    /// A move by `(x, y)` in this matrix's space: `translate(x, y).then(self)`, without the
    /// product (the pen moves so after every glyph).
    #[inline(always)]
    pub(super) fn moved(self, x: f64, y: f64) -> Matrix {
        Matrix {
            e: x * self.a + y * self.c + self.e,
            f: x * self.b + y * self.d + self.f,
            ..self
        }
    }

    /// `self × other`: `self` first, then `other`.
    #[inline(always)]
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
    /// The text rise (`Ts`): superscripts and subscripts set off the baseline.
    pub(super) rise: f64,
    /// Whether the font writes top to bottom: glyphs and `TJ` adjustments move the pen down
    /// the text space's y axis instead of along its x axis.
    pub(super) vertical: bool,
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
            rise: 0.0,
            vertical: false,
        }
    }
}

impl State {
    pub(super) fn begin_text(&mut self) {
        self.tm = Matrix::IDENTITY;
        self.tlm = Matrix::IDENTITY;
    }

    pub(super) fn move_line(&mut self, x: f64, y: f64) {
        self.tlm = self.tlm.moved(x, y);
        self.tm = self.tlm;
    }

    pub(super) fn set_matrix(&mut self, m: Matrix) {
        self.tm = m;
        self.tlm = m;
    }

    pub(super) fn next_line(&mut self) {
        self.move_line(0.0, -self.leading);
    }

    /// A `TJ` adjustment, in thousandths of the font size, subtracted from the displacement
    /// along the text space's axis: a positive one moves the pen back along a line (left), and
    /// on down a column (whose displacement is negative, down the y axis).
    pub(super) fn kern(&mut self, thousandths: f64) {
        if self.vertical {
            self.shift(0.0, -thousandths / 1000.0 * self.size);
        } else {
            self.shift(-thousandths / 1000.0 * self.size * self.scale, 0.0);
        }
    }

    /// Moves past a glyph `width` (in units of the font size) wide, or, writing vertically,
    /// `width` high, down (horizontal scaling does not apply).
    fn advance(&mut self, width: f64) {
        if self.vertical {
            self.shift(0.0, -width * self.size);
        } else {
            self.shift(width * self.size * self.scale, 0.0);
        }
    }

    /// Moves on by the character spacing (`Tc`), and after a space by the word spacing
    /// (`Tw`): space between glyphs, not part of them (writing vertically, the spec moves the
    /// pen up by it).
    fn spacing(&mut self, is_space: bool) {
        let spacing = self.char_spacing + if is_space { self.word_spacing } else { 0.0 };
        if self.vertical {
            self.shift(0.0, spacing);
        } else {
            self.shift(spacing * self.scale, 0.0);
        }
    }

    #[inline(always)]
    fn shift(&mut self, x: f64, y: f64) {
        if x.is_finite() && y.is_finite() {
            self.tm = self.tm.moved(x, y);
        }
    }

    /// Where the pen is on the page: [`State::pen`]'s `x` and `y` alone (moving along its
    /// line, the pen keeps its direction and size).
    fn position(&self) -> (f64, f64) {
        let (t, o) = (self.tm.moved(0.0, self.rise), self.ctm);
        (t.e * o.a + t.f * o.c + o.e, t.e * o.b + t.f * o.d + o.f)
    }

    /// Where the pen is on the page, the baseline's direction, and the font's size there.
    fn pen(&self) -> Pen {
        let (x, y) = self.position();
        // The rise moves the pen, not the axes.
        let m = self.tm.then(self.ctm);
        // The direction of writing: the text space's x axis, or writing vertically, down its
        // y axis.
        let (ax, ay) = if self.vertical {
            (-m.c, -m.d)
        } else {
            (m.a, m.b)
        };
        let length = (ax * ax + ay * ay).sqrt();
        let (dx, dy) = if length > 0.0 {
            (ax / length, ay / length)
        } else {
            (1.0, 0.0)
        };
        Pen {
            x,
            y,
            dx,
            dy,
            size: (self.size * (m.c * m.c + m.d * m.d).sqrt()).abs(),
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
/// Moves across the baseline by more than this share, short of a new line, part words (a
/// superscript or a footnote mark rises less and stays in its word).
const RISE_BREAK: f64 = 0.45;
/// Moves back along the baseline by more than this share are a new run of text, spaced.
const BACK_MOVE: f64 = 0.6;

/// A line further below the previous one than this many times the page's usual line distance
/// starts a new block; so does any line above the previous one (a new column).
const BLOCK_SPACING: f64 = 1.35;
/// On a page with too few lines to know the usual distance, a line this many font sizes
/// below the previous one starts a new block.
const BLOCK_MOVE: f64 = 1.7;

/// A line of a page's text, and what its placement says about it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub(super) text: String,
    /// The mean font size of its characters, in page units.
    pub(super) size: f64,
    /// Whether the line starts a block: it is further below the previous line than the lines
    /// of a paragraph are, or above it.
    pub(super) gap: bool,
    /// How far below the previous line it is, in page units (negative above).
    drop: f64,
    chars: usize,
    /// The spaces that gaps between glyphs made: where in `text`, and how wide (in ems).
    gaps: Vec<(usize, f64)>,
    /// The runs of text drawn left to right, a new one where the pen moved back along the
    /// baseline: where each starts in `text`, and its extent along the baseline.
    runs: Vec<Run>,
}

#[derive(Debug, Clone, PartialEq)]
struct Run {
    from: usize,
    start: f64,
    end: f64,
}

impl Line {
    fn new(gap: bool) -> Self {
        Self {
            text: String::new(),
            size: 0.0,
            gap,
            drop: 0.0,
            chars: 0,
            gaps: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn push(&mut self, text: &str, size: f64) {
        let n = text.chars().count();
        let total = self.size * self.chars as f64 + size * n as f64;
        self.chars += n;
        self.size = total / self.chars.max(1) as f64;
        self.text.push_str(text);
    }
}

/// A page's text as its glyphs are placed.
#[derive(Debug, Default)]
pub(super) struct PageText {
    lines: Vec<Line>,
    /// Where the last glyph with text ended.
    end: Option<Pen>,
    /// The direction of the current line's baseline, to measure runs along.
    axis: (f64, f64),
}

impl PageText {
    /// Shows one glyph: its text (empty for a glyph with no known character, which still
    /// takes its place) at the pen, and the pen moved past its `width` (in units of the font
    /// size), then by the spacing: the glyph ends before it, so spacing is a gap, as wide
    /// letter-spacing is.
    pub(super) fn glyph(&mut self, state: &mut State, text: &str, width: f64, is_space: bool) {
        if text.is_empty() {
            state.advance(width);
            state.spacing(is_space);
            return;
        }
        let blank = text.chars().all(char::is_whitespace);
        let start = state.pen();
        self.place(start, text, blank);
        state.advance(width);
        let (x, y) = state.position();
        let end = Pen { x, y, ..start };
        self.end = Some(end);
        // The run reaches to where its last visible glyph ends.
        let along = end.x * self.axis.0 + end.y * self.axis.1;
        if let Some(run) = self.lines.last_mut().and_then(|l| l.runs.last_mut())
            && !blank
        {
            run.end = along;
        }
        state.spacing(is_space);
    }

    fn place(&mut self, start: Pen, text: &str, blank: bool) {
        if let Some(end) = self.end {
            let (vx, vy) = (start.x - end.x, start.y - end.y);
            let along = vx * end.dx + vy * end.dy;
            let across = vy * end.dx - vx * end.dy;
            let em = end.size.max(start.size).max(f64::EPSILON);
            if across.abs() > LINE_MOVE * em {
                self.new_line(-across);
            } else if along > WORD_GAP * em || across.abs() > RISE_BREAK * em {
                self.space(along / em);
            } else if along < -BACK_MOVE * em {
                self.space(f64::INFINITY);
                if let Some(line) = self.lines.last_mut()
                    && !line.runs.is_empty()
                {
                    line.runs.push(Run {
                        from: line.text.len(),
                        start: start.x * self.axis.0 + start.y * self.axis.1,
                        end: f64::NEG_INFINITY,
                    });
                }
            }
        }
        if blank {
            // A space the text has: a word break whatever the gaps.
            self.space(f64::INFINITY);
            if let Some(line) = self.lines.last_mut()
                && let Some(last) = line.gaps.last_mut()
                && last.0 + 1 == line.text.len()
            {
                last.1 = f64::INFINITY;
            }
        } else {
            if self.lines.is_empty() {
                self.lines.push(Line::new(false));
            }
            if let Some(line) = self.lines.last_mut() {
                if line.runs.is_empty() {
                    self.axis = (start.dx, start.dy);
                    line.runs.push(Run {
                        from: 0,
                        start: start.x * start.dx + start.y * start.dy,
                        end: f64::NEG_INFINITY,
                    });
                }
                line.push(&drawn_order(text), start.size);
            }
        }
    }

    /// A space after the line's text, for a gap `ems` wide (infinite: a space the text has).
    fn space(&mut self, ems: f64) {
        if let Some(line) = self.lines.last_mut()
            && !line.text.is_empty()
            && !line.text.ends_with(' ')
        {
            if ems.is_finite() {
                line.gaps.push((line.text.len(), ems));
            }
            line.text.push(' ');
        }
    }

    fn new_line(&mut self, drop: f64) {
        let line = match self.lines.last_mut() {
            Some(line) if line.text.trim().is_empty() => line,
            Some(_) => {
                self.lines.push(Line::new(false));
                match self.lines.last_mut() {
                    Some(line) => line,
                    None => return,
                }
            }
            None => return,
        };
        line.drop = drop;
    }

    /// The page's lines with text, in the order they were drawn, those that start blocks
    /// marked.
    pub(super) fn finish(self) -> Vec<Line> {
        let mut lines: Vec<Line> = self
            .lines
            .into_iter()
            .filter_map(|mut line| {
                in_visual_order(&mut line);
                join_spaced_letters(&mut line);
                line.text.truncate(line.text.trim_end().len());
                (!line.text.is_empty()).then_some(line)
            })
            .collect();
        // The usual distance between lines: the median of the moves down.
        let mut drops: Vec<f64> = lines
            .iter()
            .skip(1)
            .map(|l| l.drop)
            .filter(|&d| d > 0.0)
            .collect();
        drops.sort_by(f64::total_cmp);
        let usual = (drops.len() >= 3).then(|| drops[drops.len() / 2]);
        for line in lines.iter_mut().skip(1) {
            line.gap = line.drop < 0.0
                || match usual {
                    Some(usual) => line.drop > usual * BLOCK_SPACING,
                    None => line.drop > line.size * BLOCK_MOVE,
                };
        }
        lines
    }
}

/// Puts the runs of a line of right-to-left text in the order they stand along the baseline,
/// left to right, when they were drawn otherwise (from the right, as word processors draw
/// them), for `logical_order` to read back: a space between two where they stand apart.
fn in_visual_order(line: &mut Line) {
    if line.runs.len() < 2
        || line.runs.windows(2).all(|w| w[0].start <= w[1].start)
        || !line.text.contains(is_rtl)
    {
        return;
    }
    let mut runs: Vec<(&str, &Run)> = Vec::with_capacity(line.runs.len());
    for (k, run) in line.runs.iter().enumerate() {
        let to = line
            .runs
            .get(k + 1)
            .map_or(line.text.len(), |next| next.from);
        if let Some(text) = line.text.get(run.from..to) {
            runs.push((text.trim(), run));
        }
    }
    runs.sort_by(|a, b| a.1.start.total_cmp(&b.1.start));
    let mut text = String::with_capacity(line.text.len() + runs.len());
    let mut end = f64::NEG_INFINITY;
    for (part, run) in runs {
        if part.is_empty() {
            continue;
        }
        if !text.is_empty() && run.start - end > WORD_GAP * line.size {
            text.push(' ');
        }
        text.push_str(part);
        end = end.max(run.end);
    }
    line.text = text;
    line.gaps.clear();
    line.runs.clear();
}

/// Letters set apart by gaps up to this many ems, and alike (none this many times the
/// narrowest), are letter-spaced words rather than words of a letter each.
const LETTER_SPACING: f64 = 0.4;
const LETTER_SPACING_SPREAD: f64 = 1.3;

/// Joins letter-spaced words (`H e l l o` set wide for emphasis, or in a font whose widths
/// are too narrow): runs of three or more single letters or digits whose gaps are narrow and
/// alike, and two-letter words beside such a run and spaced as it is. A wider gap among them
/// stays a space between words.
fn join_spaced_letters(line: &mut Line) {
    if line.gaps.len() < 2 {
        return;
    }
    let single = |word: &str| {
        let mut chars = word.chars();
        chars.next().is_some_and(char::is_alphanumeric) && chars.next().is_none()
    };
    let words: Vec<&str> = line.text.split(' ').collect();
    // The gap after each word: its width in ems, or none for a space the text has. Gaps are
    // in the order of the text, so one walk finds them all.
    let mut at = 0;
    let mut gaps = line.gaps.iter().peekable();
    let mut after: Vec<Option<f64>> = Vec::with_capacity(words.len());
    for word in &words {
        at += word.len();
        while gaps.next_if(|(offset, _)| *offset < at).is_some() {}
        let gap = gaps.next_if(|(offset, _)| *offset == at);
        after.push(gap.map(|g| g.1).filter(|&ems| ems <= LETTER_SPACING));
        at += 1;
    }
    let mut joined = vec![false; words.len()];
    // The letter spacing the line's longer runs show, and its pairs of single letters.
    let mut spacing = f64::INFINITY;
    let mut pairs = Vec::new();
    let mut start = 0;
    while start < words.len() {
        // A run of single characters, each but the last followed by a narrow gap.
        let mut end = start;
        while end + 1 < words.len()
            && single(words[end])
            && single(words[end + 1])
            && after[end].is_some()
        {
            end += 1;
        }
        if end - start >= 2 {
            let narrowest = after[start..end]
                .iter()
                .flatten()
                .fold(f64::INFINITY, |a, &b| a.min(b));
            spacing = spacing.min(narrowest);
            for (k, gap) in after.iter().enumerate().take(end).skip(start) {
                joined[k] = gap.is_some_and(|g| g < narrowest * LETTER_SPACING_SPREAD);
            }
        } else if end - start == 1 {
            pairs.push(start);
        }
        start = end + 1;
    }
    // A two-letter word next to a letter-spaced one and set with the same spacing is one too
    // (`O F` in `T H E  W A Y  O F`); elsewhere, two letters are two words (`и в` in a line
    // that spaces out another word for emphasis).
    // Pairs beside pairs joined so count too (`T O  B E  O R  N O T`): a pass forward, then
    // one back.
    let mut spaced: Vec<bool> = (0..words.len())
        .map(|k| joined[k] || k > 0 && joined[k - 1])
        .collect();
    let alike = |k: usize| {
        after[k].is_some_and(|g| {
            g < spacing * LETTER_SPACING_SPREAD && g * LETTER_SPACING_SPREAD > spacing
        })
    };
    for k in pairs.iter().chain(pairs.iter().rev()).copied() {
        let beside = k > 0 && spaced[k - 1] || spaced.get(k + 2).copied().unwrap_or(false);
        if !joined[k] && beside && alike(k) {
            joined[k] = true;
            spaced[k] = true;
            spaced[k + 1] = true;
        }
    }
    if !joined.contains(&true) {
        return;
    }
    let mut text = String::with_capacity(line.text.len());
    for (k, word) in words.iter().enumerate() {
        text.push_str(word);
        if k + 1 < words.len() && !joined[k] {
            text.push(' ');
        }
    }
    line.text = text;
    line.gaps.clear();
}

/// Font sizes more than this share above the body text's mark headings.
const HEADING_SCALE: f64 = 1.15;
/// A block longer than this many lines, or characters, is not a heading whatever its size.
const HEADING_LINES: usize = 3;
const HEADING_CHARS: usize = 200;
/// Characters that open the items of bulleted lists.
const BULLETS: &[char] = &[
    '•', '◦', '▪', '▫', '●', '○', '■', '□', '‣', '⁃', '∙', '–', '\u{F0B7}',
];

/// Sizes rounded to half a point, to compare them.
fn size_key(size: f64) -> i64 {
    (size * 2.0).round() as i64
}

/// What a block of lines is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heading,
    Item,
    Paragraph,
}

/// Writes the pages' lines as Markdown: blocks where lines are set apart, headings where the
/// text is larger than the body's (levels by size), list items where a line opens with a
/// bullet; hyphenated line ends joined, ligatures spelled out, right-to-left lines in reading
/// order.
pub(super) fn write_pages(pages: &[Vec<Line>], w: &mut Writer) {
    // The body's size is the one most characters are set in.
    let mut by_size: BTreeMap<i64, usize> = BTreeMap::new();
    for line in pages.iter().flatten() {
        *by_size.entry(size_key(line.size)).or_default() += line.chars;
    }
    let body = by_size
        .iter()
        .max_by_key(|&(_, chars)| *chars)
        .map_or(0, |(&size, _)| size);
    let is_heading_size = |size: f64| {
        body > 0 && size_key(size) as f64 > body as f64 * HEADING_SCALE && size_key(size) > body
    };
    let blocks: Vec<Vec<(Kind, Vec<&Line>)>> = pages
        .iter()
        .map(|page| blocks(page, &is_heading_size))
        .collect();
    // Heading levels: the largest size found is level 1, the next 2, the rest 3.
    let mut heading_sizes: Vec<i64> = blocks
        .iter()
        .flatten()
        .filter(|(kind, _)| *kind == Kind::Heading)
        .filter_map(|(_, lines)| lines.first().map(|l| size_key(l.size)))
        .collect();
    heading_sizes.sort_unstable_by(|a, b| b.cmp(a));
    heading_sizes.dedup();
    for (n, page) in blocks.iter().enumerate() {
        if n > 0 {
            w.page_break();
        }
        for (kind, lines) in page {
            let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
            let text = logical_order(&expand_ligatures(&join_hyphenated(&text.join("\n"))));
            match kind {
                Kind::Heading => {
                    let size = lines.first().map_or(0, |l| size_key(l.size));
                    let level = heading_sizes.iter().position(|&s| s == size).unwrap_or(2);
                    w.heading(level.min(2) + 1, &text);
                }
                Kind::Item => {
                    let text = text.trim_start().trim_start_matches(BULLETS);
                    w.item(0, None, text);
                }
                Kind::Paragraph => w.paragraph(&text),
            }
        }
    }
}

/// Whether `line` finishes a word the block's last line broke with a hyphen (a paragraph
/// going on in the next column).
fn continues_word(block: &[&Line], line: &Line) -> bool {
    let hyphenated = block.last().is_some_and(|last| {
        last.text
            .strip_suffix(['-', '\u{00AD}', '\u{2010}'])
            .is_some_and(|rest| rest.ends_with(char::is_alphabetic))
    });
    hyphenated && line.text.starts_with(char::is_lowercase)
}

/// A page's lines grouped into blocks.
fn blocks<'l>(
    page: &'l [Line],
    is_heading_size: &dyn Fn(f64) -> bool,
) -> Vec<(Kind, Vec<&'l Line>)> {
    let mut blocks: Vec<(Kind, Vec<&Line>)> = Vec::new();
    for line in page {
        let heading = is_heading_size(line.size) && line.text.chars().any(char::is_alphabetic);
        let bullet = line
            .text
            .trim_start()
            .strip_prefix(BULLETS)
            .is_some_and(|rest| rest.starts_with(char::is_whitespace));
        let kind = if heading {
            Kind::Heading
        } else if bullet {
            Kind::Item
        } else {
            Kind::Paragraph
        };
        match blocks.last_mut() {
            // An item's wrapped lines continue it; a heading's next lines at its size too.
            Some((last, lines))
                if (!line.gap || continues_word(lines, line))
                    && !bullet
                    && (*last == kind || (*last == Kind::Item && kind == Kind::Paragraph))
                    && (kind != Kind::Heading
                        || lines
                            .first()
                            .is_some_and(|l| size_key(l.size) == size_key(line.size))) =>
            {
                lines.push(line)
            }
            _ => blocks.push((kind, vec![line])),
        }
    }
    // A long block set large is a paragraph of large text, not a heading.
    for (kind, lines) in &mut blocks {
        let chars: usize = lines.iter().map(|l| l.chars).sum();
        if *kind == Kind::Heading && (lines.len() > HEADING_LINES || chars > HEADING_CHARS) {
            *kind = Kind::Paragraph;
        }
    }
    blocks
}

/// Whether `c` is a letter of a right-to-left script (Hebrew, Arabic, Syriac, Thaana, N'Ko,
/// and their presentation forms); Arabic's digits are digits.
fn is_rtl(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
        && !is_digit(c)
}

/// A digit of the numbers that read left to right in either direction of writing: Western,
/// Arabic-Indic and Eastern Arabic-Indic, and Arabic's decimal and thousands separators.
fn is_digit(c: char) -> bool {
    matches!(c, '0'..='9' | '\u{0660}'..='\u{0669}' | '\u{066B}' | '\u{066C}' | '\u{06F0}'..='\u{06F9}')
}

/// A glyph's text as it stands on the page, left to right: a glyph of right-to-left letters
/// whose text is several characters (a lam-alef ligature, `لا`) maps them in reading order, so
/// they are turned around here, for [`logical_order`] to turn back with the line.
fn drawn_order(text: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = text.chars();
    let several = chars.next().is_some() && chars.next().is_some();
    if several && text.contains(is_rtl) && !text.chars().any(|c| c.is_alphanumeric() && !is_rtl(c))
    {
        text.chars().rev().collect::<String>().into()
    } else {
        text.into()
    }
}

/// Lines of right-to-left text as their glyphs are drawn (left to right) put back in reading
/// order: a line with at least as many right-to-left letters as other letters and Western
/// digits (or with no other letters) is reversed, and within it the runs of left-to-right
/// letters and digits turned back (numbers a space apart, with no letter among them, each on
/// its own), and brackets mirrored; in other lines the runs of right-to-left letters (with the
/// numbers between them, which then read left to right again) are turned.
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
        let letters = line
            .chars()
            .filter(|&c| c.is_alphabetic() && !is_rtl(c))
            .count();
        // Western digits count with the other letters, unless there are none (a line of
        // right-to-left words and numbers).
        let ltr = letters
            + if letters > 0 {
                line.chars().filter(char::is_ascii_digit).count()
            } else {
                0
            };
        if rtl == 0 {
            out.push_str(line);
            continue;
        }
        if rtl < ltr {
            // A left-to-right line: each right-to-left run in it, with the spaces,
            // punctuation and numbers between its letters, turned back; its numbers then read
            // left to right again.
            let mut chars: Vec<char> = line.chars().collect();
            let strong: Vec<bool> = chars.iter().map(|&c| is_rtl(c)).collect();
            turn_back_runs(
                &mut chars,
                &strong,
                |_, gap, _| {
                    gap.iter()
                        .all(|&c| joins(c) || is_digit(c) || is_number_sign(c))
                },
                turn_back_numbers,
            );
            out.extend(chars);
            continue;
        }
        let mut chars: Vec<char> = line.chars().rev().collect();
        // Brackets drawn as the glyphs shown (a `(` on the left of a right-to-left
        // parenthesis) close before they open once reversed: those are mirrored. Writers that
        // map such glyphs back to the characters typed are left as they are.
        let mut depth = 0i32;
        let shown = chars.iter().any(|c| {
            depth += match c {
                '(' | '[' | '{' => 1,
                ')' | ']' | '}' => -1,
                _ => 0,
            };
            depth < 0
        });
        if shown {
            for c in &mut chars {
                *c = match *c {
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
            }
        }
        // The runs of left-to-right letters and digits (and the signs of numbers), with the
        // punctuation inside them; a run of numbers with no letter among them (`12 34` between
        // two right-to-left words) reads number by number.
        let numbers = in_number(&chars);
        let strong: Vec<bool> = chars
            .iter()
            .zip(&numbers)
            .map(|(&c, &number)| c.is_alphanumeric() && !is_rtl(c) || number)
            .collect();
        turn_back_runs(
            &mut chars,
            &strong,
            |_, gap, _| gap.iter().all(|&c| joins(c)),
            |run| {
                if !run.iter().any(|c| c.is_alphabetic()) {
                    run.reverse();
                    turn_back_numbers(run);
                }
            },
        );
        out.extend(chars);
    }
    out
}

/// Spaces and the punctuation that may stand inside a run of one direction.
fn joins(c: char) -> bool {
    matches!(c, '.' | ',' | ':' | '-' | '/' | '\'' | ' ')
}

/// Signs that belong to the number they touch (`50%`, `$5`, `₪20`, `30°`).
fn is_number_sign(c: char) -> bool {
    matches!(
        c,
        '#' | '$' | '%' | '°' | '¢' | '£' | '¤' | '¥' | '±' | '‰' | '\u{066A}' | '\u{20A0}'
            ..='\u{20CF}'
    )
}

/// Which of `chars` are part of a number: digits, and signs next to one (through other
/// signs).
fn in_number(chars: &[char]) -> Vec<bool> {
    let mut number: Vec<bool> = chars.iter().map(|&c| is_digit(c)).collect();
    let mut k = 0;
    while k < chars.len() {
        if !is_number_sign(chars[k]) {
            k += 1;
            continue;
        }
        let end = (k..chars.len())
            .find(|&j| !is_number_sign(chars[j]))
            .unwrap_or(chars.len());
        let touches =
            k > 0 && is_digit(chars[k - 1]) || chars.get(end).is_some_and(|&c| is_digit(c));
        number[k..end].fill(touches);
        k = end;
    }
    number
}

/// Reverses, in place, each run of characters marked `strong`, with what lies between two of
/// them where `crosses(before, gap, after)` says so (never around them); then hands each
/// reversed run to `then`.
fn turn_back_runs(
    chars: &mut [char],
    strong: &[bool],
    crosses: impl Fn(char, &[char], char) -> bool,
    mut then: impl FnMut(&mut [char]),
) {
    let strong = |i: usize| strong.get(i).copied().unwrap_or(false);
    let mut k = 0;
    while k < chars.len() {
        if !strong(k) {
            k += 1;
            continue;
        }
        let mut end = k;
        loop {
            while end + 1 < chars.len() && strong(end + 1) {
                end += 1;
            }
            let Some(next) = (end + 1..chars.len()).find(|&j| strong(j)) else {
                break;
            };
            if !crosses(chars[end], &chars[end + 1..next], chars[next]) {
                break;
            }
            end = next;
        }
        chars[k..=end].reverse();
        then(&mut chars[k..=end]);
        k = end + 1;
    }
}

/// Reverses, in place, each number: digits (see [`is_digit`]) and the signs that touch them
/// (`50%`), with one `.`, `,`, `:`, `/` or `-` between two digits (`12.50`, `03-1234`,
/// `12:30`); numbers a space apart are two.
fn turn_back_numbers(chars: &mut [char]) {
    let numbers = in_number(chars);
    turn_back_runs(
        chars,
        &numbers,
        |before, gap, after| {
            is_digit(before) && is_digit(after) && matches!(gap, ['.' | ',' | ':' | '/' | '-'])
        },
        |_| {},
    );
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
pub(super) fn drop_running_lines(pages: &mut [Vec<Line>]) {
    if pages.len() < 3 {
        return;
    }
    let shape = |line: &Line| -> String {
        line.text
            .trim()
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    let edge = |page: &[Line], first: bool| -> Option<String> {
        if first { page.first() } else { page.last() }.map(shape)
    };
    // A page of a line or two is all content, repeated or not.
    let eligible: Vec<bool> = pages.iter().map(|page| page.len() >= 3).collect();
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
            if first {
                page.remove(0);
            } else {
                page.pop();
            }
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
        // Brackets already the characters typed (as Word writes them): kept.
        assert_eq!(logical_order("קוחל )4()ב(15 ףיעס"), "סעיף 15(ב)(4) לחוק");
        // A left-to-right line keeps its order; the right-to-left words in it are turned.
        assert_eq!(
            logical_order("the words םלוע םולש mean hello world"),
            "the words שלום עולם mean hello world"
        );
        // A number between its right-to-left words stays between them, read left to right;
        // numbers a space apart keep their order.
        assert_eq!(
            logical_order("Price: םלוע 12.50 םולש and 3 more"),
            "Price: שלום 12.50 עולם and 3 more"
        );
        assert_eq!(
            logical_order("Call וישכע 4567 123 03-9 רפסמ today at 12:30 or 5/6"),
            "Call מספר 03-9 123 4567 עכשיו today at 12:30 or 5/6"
        );
        // In a right-to-left line too, numbers a space apart are two; digits do not make a
        // line left-to-right, and Arabic's own digits read left to right.
        assert_eq!(logical_order("םלוע 34 12 םולש"), "שלום 12 34 עולם");
        assert_eq!(
            logical_order("03-7654321 סקפ 03-1234567 לט"),
            "טל 03-1234567 פקס 03-7654321"
        );
        assert_eq!(logical_order("ديدج ٢٠٢٤ ماعلا"), "العام ٢٠٢٤ جديد");
        // A sign that touches a number is part of it.
        assert_eq!(
            logical_order("םירצומה לכ לע החנה 50% דע"),
            "עד 50% הנחה על כל המוצרים"
        );
        assert_eq!(logical_order("ןמוזמב $5 קר"), "רק $5 במזומן");
        // Numbers after a left-to-right word in a right-to-left line go with it; a
        // left-to-right line of a few letters and a number stays one.
        assert_eq!(
            logical_order("תעה בתכב March 5, 2024 םסרופ רמאמה"),
            "המאמר פורסם March 5, 2024 בכתב העת"
        );
        assert_eq!(
            logical_order("Tel. 03-1234567 (דרשמ)"),
            "Tel. 03-1234567 (משרד)"
        );
    }

    #[test]
    fn long_lines_of_signs_or_spaced_letters_are_read_in_one_pass() {
        // Each would take minutes were every sign or gap looked for from the line's start.
        let signs = "%".repeat(200_000);
        assert_eq!(logical_order(&format!("א{signs}")), format!("{signs}א"));
        assert_eq!(logical_order(&format!("א{signs}ב")), format!("ב{signs}א"));
        let (mut state, mut text) = ten_points();
        for _ in 0..50_000 {
            placed(&mut text, &mut state, "a", 0.5);
            state.kern(-250.0);
        }
        let lines = text.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "a".repeat(50_000));
        assert_eq!(
            logical_order("The sale: החנה 50% ריחמ today only"),
            "The sale: מחיר 50% הנחה today only"
        );
    }

    #[test]
    fn ligatures_are_spelled_out() {
        assert_eq!(
            expand_ligatures("ﬁnd the ﬂow of eﬀort"),
            "find the flow of effort"
        );
    }

    /// Lines of body size, set apart where `text` has blank lines.
    fn lines(text: &str) -> Vec<Line> {
        let mut out = Vec::new();
        let mut gap = false;
        for t in text.split('\n') {
            if t.is_empty() {
                gap = true;
                continue;
            }
            let mut line = Line::new(gap);
            line.push(t, 10.0);
            out.push(line);
            gap = false;
        }
        out
    }

    fn joined(lines: &[Line]) -> String {
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        texts.join("\n")
    }

    #[test]
    fn lines_that_open_or_close_most_pages_are_dropped() {
        let mut pages: Vec<Vec<Line>> = (1..=4)
            .map(|n| {
                lines(&format!(
                    "Journal of Things, vol. 3\nBody text of page {n}.\n{n}"
                ))
            })
            .collect();
        pages[2] = lines("A page with its own first line\nMore text.\n3");
        drop_running_lines(&mut pages);
        assert_eq!(joined(&pages[0]), "Body text of page 1.");
        assert_eq!(
            joined(&pages[2]),
            "A page with its own first line\nMore text."
        );
        // Pages of one line each, the same on every page, are the document.
        let mut slides: Vec<Vec<Line>> = (0..4).map(|_| lines("Hello world")).collect();
        drop_running_lines(&mut slides);
        assert!(slides.iter().all(|s| joined(s) == "Hello world"));
    }

    fn markdown(pages: &[Vec<Line>]) -> String {
        let mut w = Writer::new();
        write_pages(pages, &mut w);
        w.finish()
    }

    fn sized(text: &str, size: f64, gap: bool) -> Line {
        let mut line = Line::new(gap);
        line.push(text, size);
        line
    }

    #[test]
    fn larger_text_is_headings_bullets_are_items_and_gaps_are_paragraphs() {
        let page = vec![
            sized("Annual Report", 20.0, false),
            sized("1 Introduction", 14.0, true),
            sized(
                "The year was good: sales rose and the *new* plant",
                10.0,
                true,
            ),
            sized("opened. Costs were kept in check through-", 10.0, false),
            sized("out the year.", 10.0, false),
            sized("• first point that wraps", 10.0, true),
            sized("onto a second line", 10.0, false),
            sized("• second point", 10.0, false),
            sized("1.1 Outlook", 14.0, true),
            sized(
                "We expect more of the same, as the long paragraph of body text",
                10.0,
                true,
            ),
            sized(
                "says at some length, for the size of the body to be clear.",
                10.0,
                false,
            ),
        ];
        let second = vec![sized("Page two ﬁnds its own text here.", 10.0, false)];
        assert_eq!(
            markdown(&[page, second]),
            "# Annual Report\n\n## 1 Introduction\n\n\
             The year was good: sales rose and the \\*new\\* plant\n\
             opened. Costs were kept in check throughout the year.\n\n\
             - first point that wraps onto a second line\n- second point\n\n\
             ## 1.1 Outlook\n\n\
             We expect more of the same, as the long paragraph of body text\n\
             says at some length, for the size of the body to be clear.\n\u{c}\n\
             Page two finds its own text here."
        );
    }

    #[test]
    fn a_document_in_one_size_has_no_headings() {
        let page = lines("Title\n\nBody text.\nMore body.");
        assert_eq!(markdown(&[page]), "Title\n\nBody text.\nMore body.");
    }

    /// A state with a 10-point font and an empty page.
    fn ten_points() -> (State, PageText) {
        let state = State {
            size: 10.0,
            ..State::default()
        };
        (state, PageText::default())
    }

    fn placed(text: &mut PageText, state: &mut State, s: &str, width: f64) {
        text.glyph(state, s, width, s == " ");
    }

    #[test]
    fn glyphs_placed_apart_are_words_and_glyphs_placed_together_are_one() {
        let (mut state, mut text) = ten_points();
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
        assert_eq!(joined(&text.finish()), "Exam do\nc");
    }

    #[test]
    fn a_ligature_of_right_to_left_letters_keeps_its_letters_in_reading_order() {
        let (mut state, mut text) = ten_points();
        // "سلام" drawn left to right as its glyphs stand: meem, the lam-alef ligature (whose
        // text is lam then alef), seen.
        for glyph in ["م", "لا", "س"] {
            placed(&mut text, &mut state, glyph, 0.5);
        }
        let line = joined(&text.finish());
        assert_eq!(logical_order(&line), "سلام");
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
        assert_eq!(joined(&text.finish()), "ab c");
    }

    #[test]
    fn letter_spaced_words_are_joined_and_the_wider_gap_between_them_kept() {
        let (mut state, mut text) = ten_points();
        // Letters four tenths of an em apart, then a space and a wider gap.
        for word in ["Hello", "World"] {
            for c in word.chars() {
                placed(&mut text, &mut state, &c.to_string(), 0.5);
                state.kern(-400.0);
            }
            placed(&mut text, &mut state, " ", 0.25);
            state.kern(-2000.0);
        }
        // Single letters at even gaps are joined; a gap much wider than theirs stays a space.
        state.leading = 12.0;
        state.next_line();
        for (c, kern) in [("a", -300.0), ("b", -300.0), ("c", -550.0), ("d", 0.0)] {
            placed(&mut text, &mut state, c, 0.5);
            state.kern(kern);
        }
        assert_eq!(joined(&text.finish()), "Hello World\nabc d");
    }

    #[test]
    fn a_two_letter_word_spaced_as_its_line_is_joined_and_two_letters_alone_are_not() {
        let (mut state, mut text) = ten_points();
        let spaced = |text: &mut PageText, state: &mut State, words: &[&str]| {
            for word in words {
                for c in word.chars() {
                    placed(text, state, &c.to_string(), 0.5);
                    state.kern(-250.0);
                }
                state.kern(-1000.0);
            }
        };
        // Letters a quarter of an em apart, words a whole em and more.
        spaced(&mut text, &mut state, &["THE", "WAY", "OF", "A", "MAN"]);
        // Two letters at that gap with no letter-spaced word beside them stay apart.
        state.leading = 12.0;
        state.next_line();
        for (c, kern) in [("x", -250.0), ("y", -1000.0), ("o", 0.0), ("k", 0.0)] {
            placed(&mut text, &mut state, c, 0.5);
            state.kern(kern);
        }
        // So do two letters further apart than the line's letter-spaced word, and two letters
        // spaced as it is but not beside it.
        state.next_line();
        for (c, kern) in [("a", -250.0), ("b", -250.0), ("c", -1000.0), ("d", -350.0)] {
            placed(&mut text, &mut state, c, 0.5);
            state.kern(kern);
        }
        placed(&mut text, &mut state, "e", 0.5);
        state.next_line();
        spaced(&mut text, &mut state, &["ABC"]);
        for (c, kern) in [
            ("w", 0.0),
            ("o", 0.0),
            ("r", 0.0),
            ("d", -1000.0),
            ("i", -250.0),
        ] {
            placed(&mut text, &mut state, c, 0.5);
            state.kern(kern);
        }
        placed(&mut text, &mut state, "v", 0.5);
        // Two-letter words beside two-letter words joined beside a longer one.
        state.next_line();
        spaced(
            &mut text,
            &mut state,
            &["TO", "BE", "OR", "NOT", "TO", "BE"],
        );
        assert_eq!(
            joined(&text.finish()),
            "THE WAY OF A MAN\nx y ok\nabc d e\nABC word i v\nTO BE OR NOT TO BE"
        );
    }

    #[test]
    fn runs_of_right_to_left_text_drawn_from_the_right_are_put_left_to_right() {
        let (mut state, mut text) = ten_points();
        let mut run = |text: &mut PageText, x: f64, s: &str| {
            state.set_matrix(Matrix::translate(x, 700.0));
            for c in s.chars() {
                placed(text, &mut state, &c.to_string(), 0.5);
            }
        };
        // "סעיף 15(ב)" drawn as word processors do: its runs from the right, each run's
        // glyphs left to right.
        run(&mut text, 100.0, "ףיעס");
        run(&mut text, 75.0, "15");
        run(&mut text, 60.0, ")ב(");
        let lines = text.finish();
        assert_eq!(joined(&lines), ")ב(15 ףיעס");
        assert_eq!(logical_order(&lines[0].text), "סעיף 15(ב)");
    }
}

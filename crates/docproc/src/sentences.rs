//! Text → sentences, in one linear pass.
//!
//! Blank lines, headings and list items always end a sentence. Inside a paragraph a sentence
//! ends at `.`, `!`, `?` or `…` (after any closing quotes or brackets) followed by white space
//! and something that can start a sentence, or at the CJK full stops `。！？`. A period does not
//! end a sentence after a known abbreviation, an initial, or before a lowercase word, and
//! decimals and URLs never contain the white space a boundary needs. A run of text with no
//! boundary at all is cut at white space every [`MAX_SENTENCE_BYTES`], so no single "sentence"
//! can grow without bound.

/// The longest sentence this splitter emits.
pub const MAX_SENTENCE_BYTES: usize = 1_000;

/// Words that end with a period without ending the sentence (compared lowercase, without the
/// period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e", "cf", "al",
    "inc", "ltd", "co", "corp", "no", "nos", "fig", "figs", "approx", "dept", "est", "vol", "pp",
    "p", "ed", "eds", "gen", "gov", "rep", "sen", "sgt", "lt", "col", "capt", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "a.m", "p.m",
    "ph.d", "b.a", "m.a", "z.b", "bzw", "usw", "ca", "nr",
];

/// Splits `text` into sentences with white space collapsed to single spaces.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    segments(text, |segment| split_segment(segment, &mut sentences));
    sentences
}

/// Groups lines into segments that no sentence may cross (paragraphs, headings, list items)
/// and hands each to `each` as soon as it is complete. A segment of one line is handed over as
/// it is; only lines that join are copied.
fn segments<'a>(text: &'a str, mut each: impl FnMut(&str)) {
    let mut first: Option<&'a str> = None;
    let mut joined = String::new();
    let mut flush = |first: &mut Option<&'a str>, joined: &mut String| {
        if !joined.is_empty() {
            each(joined);
            joined.clear();
        } else if let Some(line) = first {
            each(line);
        }
        *first = None;
    };
    for line in text.lines() {
        let line = line.trim();
        let starts_block = line.is_empty() || starts_list_item(line) || line.starts_with('#');
        if starts_block {
            flush(&mut first, &mut joined);
        }
        if line.is_empty() {
            continue;
        }
        let line = strip_list_marker(line);
        match first {
            None => first = Some(line),
            Some(only) => {
                if joined.is_empty() {
                    joined.push_str(only);
                }
                joined.push(' ');
                joined.push_str(line);
            }
        }
        if line.starts_with('#') {
            flush(&mut first, &mut joined);
        }
    }
    flush(&mut first, &mut joined);
}

fn starts_list_item(line: &str) -> bool {
    strip_list_marker(line).len() != line.len()
}

/// `- item`, `* item`, `• item`, `1. item`, `2) item` → `item`.
fn strip_list_marker(line: &str) -> &str {
    for bullet in ["- ", "* ", "+ ", "• ", "– "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return rest.trim_start();
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = &line[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return rest.trim_start();
        }
    }
    line
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | '»' | ')' | ']' | '」' | '』')
}

fn split_segment(segment: &str, out: &mut Vec<String>) {
    let bytes = segment.as_bytes();
    let mut start = 0;
    let mut at = 0;
    // Terminators are `.`, `!`, `?` or start with one of three lead bytes (`…`, `。`, `！`,
    // `？`): only those bytes are decoded.
    while let Some(found) = bytes[at..]
        .iter()
        .position(|b| matches!(b, b'.' | b'!' | b'?' | 0xE2 | 0xE3 | 0xEF))
    {
        let first = at + found;
        let Some(c) = segment[first..].chars().next() else {
            break;
        };
        at = first + c.len_utf8();
        if !is_terminator(c) {
            continue;
        }
        // Take the whole run of terminators and closing marks: `?!`, `..."`, `.)`.
        let end = segment[at..]
            .char_indices()
            .find(|&(_, c)| !(is_terminator(c) || is_closer(c)))
            .map_or(segment.len(), |(i, _)| at + i);
        at = end;
        if ends_sentence(segment, first, end) {
            push_sentence(&segment[start..end], out);
            start = end;
        }
    }
    push_sentence(&segment[start..], out);
}

/// Whether the terminator run `segment[first..end]` (byte offsets) ends a sentence.
fn ends_sentence(segment: &str, first: usize, end: usize) -> bool {
    let run = &segment[first..end];
    if run.chars().any(is_cjk_terminator) {
        return true;
    }
    let after = &segment[end..];
    let Some(next) = after.chars().next() else {
        return true;
    };
    if !next.is_whitespace() {
        return false;
    }
    let Some(next) = after.chars().find(|c| !c.is_whitespace()) else {
        return true;
    };
    if next.is_lowercase() {
        return false;
    }
    let only_periods = run.chars().all(|c| c == '.' || is_closer(c));
    if only_periods && run.starts_with('.') && is_abbreviation(word_before(segment, first)) {
        return false;
    }
    true
}

/// The word that ends at byte `dot` (exclusive), without leading punctuation.
fn word_before(segment: &str, dot: usize) -> &str {
    let before = &segment[..dot];
    let start = before
        .rfind(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '“')
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    &before[start..]
}

fn is_abbreviation(word: &str) -> bool {
    let mut chars = word.chars();
    // A single capital letter is an initial: `J. R. R. Tolkien`.
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_uppercase()
    {
        return true;
    }
    ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word))
}

/// Collapses white space and emits the sentence, cutting it when it is over-long.
fn push_sentence(raw: &str, out: &mut Vec<String>) {
    let trimmed = raw.trim();
    if trimmed.len() <= MAX_SENTENCE_BYTES && single_spaced(trimmed) {
        if !trimmed.is_empty() {
            out.push(trimmed.to_owned());
        }
        return;
    }
    let mut sentence = String::with_capacity(raw.len().min(MAX_SENTENCE_BYTES));
    for word in raw.split_whitespace() {
        if !sentence.is_empty() && sentence.len() + 1 + word.len() > MAX_SENTENCE_BYTES {
            out.push(std::mem::take(&mut sentence));
        }
        if word.len() > MAX_SENTENCE_BYTES {
            push_long_word(word, out);
            continue;
        }
        if !sentence.is_empty() {
            sentence.push(' ');
        }
        sentence.push_str(word);
    }
    if !sentence.is_empty() {
        out.push(sentence);
    }
}

/// Whether `text` has no white space but single ASCII spaces: it is its own collapsed form.
/// Bytes that may start a non-ASCII white space character (U+0085, U+00A0, U+1680,
/// U+2000–U+205F, U+3000: lead bytes C2, E1, E2, E3) count as white space.
fn single_spaced(text: &str) -> bool {
    let mut previous_space = false;
    text.bytes().all(|b| {
        let space = b == b' ';
        let plain = (space || !b.is_ascii_whitespace()) && !matches!(b, 0xC2 | 0xE1..=0xE3);
        let ok = plain && !(space && previous_space);
        previous_space = space;
        ok
    })
}

/// A "word" longer than a sentence may be (a base64 blob, a run of symbols): cut it at
/// character boundaries.
fn push_long_word(word: &str, out: &mut Vec<String>) {
    let mut rest = word;
    while !rest.is_empty() {
        let mut cut = rest.len().min(MAX_SENTENCE_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        split_sentences(text)
    }

    #[test]
    fn a_sentence_is_its_words_joined_by_single_spaces() {
        for raw in [
            " It rained.  ",
            "It rained",
            "It\train\ned.",
            "Grüße  aus\u{A0}Köln.",
            "a\u{2009}thin space",
            "line\u{2028}separator\u{3000}ideographic",
            "déjà vu, naïve café.",
            "",
        ] {
            let mut out = Vec::new();
            push_sentence(raw, &mut out);
            let words: Vec<&str> = raw.split_whitespace().collect();
            let expected: Vec<String> = (!words.is_empty())
                .then(|| words.join(" "))
                .into_iter()
                .collect();
            assert_eq!(out, expected, "{raw:?}");
        }
    }

    #[test]
    fn splits_on_terminal_punctuation() {
        assert_eq!(
            split("It rained. Did it stop? Yes! Good."),
            ["It rained.", "Did it stop?", "Yes!", "Good."]
        );
    }

    #[test]
    fn abbreviations_and_initials_do_not_end_sentences() {
        assert_eq!(
            split(
                "Dr. Smith met Mr. J. R. Jones at 5 p.m. on Friday. They talked, e.g. about rain."
            ),
            [
                "Dr. Smith met Mr. J. R. Jones at 5 p.m. on Friday.",
                "They talked, e.g. about rain."
            ]
        );
    }

    #[test]
    fn decimals_versions_and_urls_stay_whole() {
        assert_eq!(
            split("Pi is 3.14159 and v2.0.1 shipped. See https://example.com/a.b?c=d. Then stop."),
            [
                "Pi is 3.14159 and v2.0.1 shipped.",
                "See https://example.com/a.b?c=d.",
                "Then stop."
            ]
        );
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            split("He said \"stop.\" She left. (It was late.) Fine."),
            ["He said \"stop.\"", "She left.", "(It was late.)", "Fine."]
        );
    }

    #[test]
    fn ellipsis_before_lowercase_continues() {
        assert_eq!(
            split("Wait... then go. Done… Next."),
            ["Wait... then go.", "Done…", "Next."]
        );
    }

    #[test]
    fn headings_list_items_and_paragraphs_are_boundaries() {
        let text = "# Overview\nThe tool works\n\n- fast startup\n- small size\n1. first step\n2) second step\n\nLast line";
        assert_eq!(
            split(text),
            [
                "# Overview",
                "The tool works",
                "fast startup",
                "small size",
                "first step",
                "second step",
                "Last line"
            ]
        );
    }

    #[test]
    fn wrapped_lines_join_into_one_sentence() {
        assert_eq!(
            split("This sentence is\nwrapped over\nthree lines. Next."),
            ["This sentence is wrapped over three lines.", "Next."]
        );
    }

    #[test]
    fn cjk_full_stops_split_without_spaces() {
        assert_eq!(
            split("今日は晴れ。明日は雨？"),
            ["今日は晴れ。", "明日は雨？"]
        );
    }

    #[test]
    fn unpunctuated_run_is_cut_at_the_size_bound() {
        let text = "word ".repeat(1_000);
        let sentences = split(&text);
        assert!(sentences.len() >= 5, "got {} sentences", sentences.len());
        assert!(sentences.iter().all(|s| s.len() <= MAX_SENTENCE_BYTES));
        let words: usize = sentences.iter().map(|s| s.split(' ').count()).sum();
        assert_eq!(words, 1_000, "no word may be lost");
    }

    #[test]
    fn giant_word_is_cut_at_char_boundaries() {
        let text = "é".repeat(1_500);
        let sentences = split(&text);
        assert_eq!(sentences.concat(), text);
        assert!(sentences.iter().all(|s| s.len() <= MAX_SENTENCE_BYTES));
    }

    #[test]
    fn empty_and_blank_text_has_no_sentences() {
        assert!(split("").is_empty());
        assert!(split(" \n\n \t").is_empty());
    }
}

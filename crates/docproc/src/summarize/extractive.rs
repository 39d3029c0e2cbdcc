//! The built-in summarizer: position-aware centroid ranking.
//!
//! Each sentence becomes a TF-IDF vector (a "document" for IDF is one sentence); the text's
//! centroid is the sum of those vectors, cut to its strongest terms. A sentence scores by its
//! cosine similarity to the centroid (how central it is), blended with a prior that decays
//! with its position (how early it is: writers put what matters first), and is discounted when
//! it has too few words to carry a statement (headings, bylines, datelines). The best
//! sentences are taken greedily, skipping any that repeat one already taken, and returned in
//! document order.
//!
//! It needs no model and no network, works for any language that separates words with spaces
//! or punctuation (CJK characters count one token each), gives the same output for the same
//! input, and its cost is linear in the text's length: texts are ranked in windows of
//! [`WINDOW_SENTENCES`] sentences, each window contributes its best candidates, and the
//! candidates are ranked once more together, so neither time nor memory grows faster than the
//! text.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;

use super::front_matter::is_apparatus;
use super::{SummarizeError, Summarizer, Summary, SummaryOptions, Usage};
use crate::sentences::split_sentences;

/// Sentences ranked together; longer texts are ranked window by window.
pub const WINDOW_SENTENCES: usize = 2_000;

/// The scoring's knobs. The defaults were chosen on news articles (see BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Share of the score that comes from position (the rest from centrality), 0 to 1.
    pub lead_weight: f64,
    /// Sentences over which the position prior falls to 1/e.
    pub lead_decay: f64,
    /// How many of the centroid's strongest terms take part in scoring.
    pub centroid_terms: usize,
    /// A sentence at least this similar to one already chosen adds nothing new.
    pub redundancy: f64,
    /// Sentences with fewer words are discounted.
    pub min_words: usize,
    /// The discount for them.
    pub short_factor: f64,
    /// Centrality from the sentence graph (similarity to the sentences after, minus
    /// `backward` times similarity to those before) instead of similarity to the centroid.
    pub graph: bool,
    /// Questions rarely summarize: their score is multiplied by this.
    pub question_factor: f64,
    /// Longer sentences carry more of a text's content: score × (words / median words)^this,
    /// capped at 2×.
    pub length_exponent: f64,
    /// Weight of similarity to earlier sentences in the graph score (usually ≤ 0).
    pub backward: f64,
    /// Apparatus (author lists, affiliations, e-mail lines, title-case headings, reference
    /// entries; see [`super::front_matter`]) rarely summarizes: its score is multiplied by this.
    pub apparatus_factor: f64,
    /// Edges below `min + threshold · (max − min)` of a window's similarities are ignored.
    pub threshold: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lead_weight: 0.6,
            lead_decay: 3.0,
            centroid_terms: 100,
            redundancy: 0.6,
            min_words: 8,
            short_factor: 0.3,
            question_factor: 0.3,
            length_exponent: 0.0,
            graph: false,
            backward: -0.5,
            threshold: 0.3,
            apparatus_factor: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractiveSummarizer;

impl ExtractiveSummarizer {
    pub const BACKEND: &'static str = "extractive";

    /// The summary text of `text`: whole sentences of it, in their original order.
    pub fn summarize_text(
        &self,
        text: &str,
        options: &SummaryOptions,
    ) -> Result<String, SummarizeError> {
        self.summarize_tuned(text, options, &Tuning::default())
    }

    /// [`Self::summarize_text`] with explicit scoring knobs, for evaluation.
    pub fn summarize_tuned(
        &self,
        text: &str,
        options: &SummaryOptions,
        tuning: &Tuning,
    ) -> Result<String, SummarizeError> {
        let sentences = split_sentences(text);
        if sentences.is_empty() {
            return Err(SummarizeError::NothingToSummarize);
        }
        let chosen = select(&sentences, options, tuning);
        Ok(chosen
            .into_iter()
            .map(|i| sentences[i].as_str())
            .collect::<Vec<_>>()
            .join(" "))
    }
}

impl Summarizer for ExtractiveSummarizer {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
        _usage: &mut Usage,
    ) -> Result<Summary, SummarizeError> {
        Ok(Summary {
            text: self.summarize_text(text, options)?,
            backend: Self::BACKEND.to_owned(),
            model: None,
        })
    }
}

/// A sparse vector: (term id, weight), sorted by term id.
type Vector = Vec<(u32, f64)>;

/// Indexes of the chosen sentences, in document order.
fn select(sentences: &[String], options: &SummaryOptions, tuning: &Tuning) -> Vec<usize> {
    if sentences.len() <= WINDOW_SENTENCES {
        let all: Vec<usize> = (0..sentences.len()).collect();
        return rank(sentences, &all, options, tuning);
    }
    // Each window nominates a few candidates; the candidates are ranked together.
    let keep = (options.max_sentences * 3).max(8);
    let mut candidates = Vec::new();
    for start in (0..sentences.len()).step_by(WINDOW_SENTENCES) {
        let window: Vec<usize> = (start..(start + WINDOW_SENTENCES).min(sentences.len())).collect();
        let mut options = *options;
        options.max_sentences = keep;
        options.max_bytes = usize::MAX;
        candidates.extend(rank(sentences, &window, &options, tuning));
    }
    rank(sentences, &candidates, options, tuning)
}

/// Ranks the sentences at `indexes` (in document order) and picks the best that fit
/// `options`; returns their indexes in document order.
fn rank(
    sentences: &[String],
    indexes: &[usize],
    options: &SummaryOptions,
    tuning: &Tuning,
) -> Vec<usize> {
    let mut vocabulary: HashMap<String, u32> = HashMap::default();
    let mut lowered = String::new();
    let term_counts: Vec<Vec<(u32, u32)>> = indexes
        .iter()
        .map(|&i| count_terms(&sentences[i], &mut vocabulary, &mut lowered))
        .collect();
    let terms = vocabulary.len();
    drop(vocabulary);

    let mut sentence_frequency = vec![0u32; terms];
    for counts in &term_counts {
        for &(term, _) in counts {
            sentence_frequency[term as usize] += 1;
        }
    }
    let n = indexes.len() as f64;
    let idf: Vec<f64> = sentence_frequency
        .iter()
        .map(|&df| (n / f64::from(df)).ln() + 1.0)
        .collect();

    let vectors: Vec<Vector> = term_counts
        .iter()
        .map(|counts| unit_vector(counts, &idf))
        .collect();
    let centrality: Vec<f64> = if tuning.graph {
        directed_centrality(&vectors, tuning)
    } else {
        let centroid = centroid(&vectors, terms, tuning.centroid_terms);
        vectors
            .iter()
            .map(|v| {
                v.iter()
                    .fold(0.0, |sum, &(term, w)| sum + w * centroid[term as usize])
            })
            .collect()
    };
    let most_central = centrality
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::EPSILON);

    let words: Vec<u32> = term_counts
        .iter()
        .map(|counts| counts.iter().map(|&(_, c)| c).sum())
        .collect();
    let mut sorted_words = words.clone();
    sorted_words.sort_unstable();
    let median_words = f64::from(sorted_words[sorted_words.len() / 2].max(1));
    // Every score but the apparatus discount is cheap; the discount reads the whole sentence.
    // Since it only lowers a score, the heap holds each sentence first with its score before
    // it (an upper bound) and applies it when the sentence reaches the top ("settles" it):
    // sentences are still taken in the order of their final scores, and only those near the
    // top are read twice.
    let score = |k: usize| {
        let position = (-(indexes[k] as f64) / tuning.lead_decay).exp();
        let blended = (1.0 - tuning.lead_weight) * centrality[k] / most_central
            + tuning.lead_weight * position;
        let mut quality = if (words[k] as usize) < tuning.min_words {
            tuning.short_factor
        } else {
            1.0
        };
        if sentences[indexes[k]]
            .trim_end_matches(['"', '”', '\'', ')'])
            .ends_with(['?', '？'])
        {
            quality *= tuning.question_factor;
        }
        quality *= (f64::from(words[k]) / median_words)
            .powf(tuning.length_exponent)
            .min(2.0);
        blended * quality
    };
    let settle = |ranked: &mut Ranked| {
        if is_apparatus(&sentences[indexes[ranked.k]]) {
            ranked.score *= tuning.apparatus_factor;
        }
        ranked.settled = true;
    };
    let mut ranked: BinaryHeap<Ranked> = (0..indexes.len())
        .map(|k| Ranked {
            score: score(k),
            k,
            settled: false,
        })
        .collect();

    let mut chosen: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    while chosen.len() < options.max_sentences {
        let Some(mut top) = ranked.pop() else {
            break;
        };
        // A sentence that does not fit, or repeats one taken, never will: the budget only
        // shrinks and the taken only grow. Such a sentence is dropped without settling it.
        let len = sentences[indexes[top.k]].len() + usize::from(!chosen.is_empty());
        if bytes.saturating_add(len) > options.max_bytes
            || chosen
                .iter()
                .any(|&j| dot(&vectors[top.k], &vectors[j]) >= tuning.redundancy)
        {
            continue;
        }
        if top.settled {
            bytes += len;
            chosen.push(top.k);
        } else {
            settle(&mut top);
            ranked.push(top);
        }
    }
    if chosen.is_empty() {
        // Every sentence is longer than the byte budget: the best one still beats nothing.
        let best = (0..indexes.len())
            .map(|k| {
                let mut ranked = Ranked {
                    score: score(k),
                    k,
                    settled: false,
                };
                settle(&mut ranked);
                ranked
            })
            .max();
        chosen.extend(best.map(|ranked| ranked.k));
    }
    let mut chosen: Vec<usize> = chosen.into_iter().map(|k| indexes[k]).collect();
    chosen.sort_unstable();
    chosen
}

/// A sentence's score in [`rank`]'s heap: `settled` once the apparatus discount is applied.
/// Ordered by score, then earlier sentences first.
#[derive(Debug)]
struct Ranked {
    score: f64,
    k: usize,
    settled: bool,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.k.cmp(&self.k))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// Term counts of one sentence, sorted by term id. Terms are lowercased alphanumeric runs;
/// ideographs and kana count one character each, since those scripts have no spaces. Only
/// words new to the vocabulary allocate.
fn count_terms(
    sentence: &str,
    vocabulary: &mut HashMap<String, u32>,
    lowered: &mut String,
) -> Vec<(u32, u32)> {
    let mut ids = Vec::new();
    let mut intern = |word: &str, ids: &mut Vec<u32>| {
        let key = if word.is_ascii() {
            if word.bytes().any(|b| b.is_ascii_uppercase()) {
                lowered.clear();
                lowered.push_str(word);
                lowered.make_ascii_lowercase();
                lowered.as_str()
            } else {
                word
            }
        } else if word.chars().any(char::is_uppercase) {
            lowered.clear();
            lowered.extend(word.chars().flat_map(char::to_lowercase));
            lowered.as_str()
        } else {
            word
        };
        let id = match vocabulary.get(key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(vocabulary.len()).unwrap_or(u32::MAX);
                vocabulary.insert(key.to_owned(), id);
                id
            }
        };
        ids.push(id);
    };
    let mut start = None;
    let bytes = sentence.as_bytes();
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        // ASCII without decoding: most text is mostly ASCII.
        if b.is_ascii() {
            if b.is_ascii_alphanumeric() {
                start.get_or_insert(at);
            } else if let Some(s) = start.take() {
                intern(&sentence[s..at], &mut ids);
            }
            at += 1;
            continue;
        }
        let Some(c) = sentence[at..].chars().next() else {
            break;
        };
        if is_ideographic(c) {
            if let Some(s) = start.take() {
                intern(&sentence[s..at], &mut ids);
            }
            intern(&sentence[at..at + c.len_utf8()], &mut ids);
        } else if c.is_alphanumeric() {
            start.get_or_insert(at);
        } else if let Some(s) = start.take() {
            intern(&sentence[s..at], &mut ids);
        }
        at += c.len_utf8();
    }
    if let Some(s) = start {
        intern(&sentence[s..], &mut ids);
    }

    ids.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::new();
    for id in ids {
        match counts.last_mut() {
            Some((last, count)) if *last == id => *count += 1,
            _ => counts.push((id, 1)),
        }
    }
    counts
}

pub(crate) fn is_ideographic(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'   // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' // CJK Extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK Unified Ideographs
        | '\u{F900}'..='\u{FAFF}' // CJK Compatibility Ideographs
    )
}

fn unit_vector(counts: &[(u32, u32)], idf: &[f64]) -> Vector {
    let mut vector: Vector = counts
        .iter()
        .map(|&(term, count)| (term, f64::from(count) * idf[term as usize]))
        .collect();
    let norm = vector.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut vector {
            *w /= norm;
        }
    }
    vector
}

/// The sum of all sentence vectors, keeping its `keep` strongest terms, as a unit vector.
fn centroid(vectors: &[Vector], terms: usize, keep: usize) -> Vec<f64> {
    let mut sum = vec![0.0f64; terms];
    for vector in vectors {
        for &(term, w) in vector {
            sum[term as usize] += w;
        }
    }
    let mut strongest: Vec<(usize, f64)> = sum
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, w)| w > 0.0)
        .collect();
    strongest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    strongest.truncate(keep);
    strongest.sort_unstable_by_key(|&(term, _)| term);
    let norm = strongest.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    sum.fill(0.0);
    for (term, w) in strongest {
        sum[term] = if norm > 0.0 { w / norm } else { w };
    }
    sum
}

/// Sentences in one block of the sentence graph; blocks keep its cost linear.
const GRAPH_BLOCK: usize = 256;

/// Position-aware graph centrality (after PacSum): a sentence is important when the
/// sentences that follow it say similar things; similarity to earlier sentences counts with
/// weight `backward`. Computed within blocks of [`GRAPH_BLOCK`] sentences.
fn directed_centrality(vectors: &[Vector], tuning: &Tuning) -> Vec<f64> {
    let mut out = vec![0.0; vectors.len()];
    for start in (0..vectors.len()).step_by(GRAPH_BLOCK) {
        let block = &vectors[start..(start + GRAPH_BLOCK).min(vectors.len())];
        let n = block.len();
        let mut similarity = vec![0.0f64; n * n];
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for i in 0..n {
            for j in (i + 1)..n {
                let s = dot(&block[i], &block[j]);
                similarity[i * n + j] = s;
                low = low.min(s);
                high = high.max(s);
            }
        }
        let cut = low + tuning.threshold * (high - low);
        for i in 0..n {
            let mut score = 0.0;
            for j in 0..n {
                let s = if i < j {
                    similarity[i * n + j]
                } else {
                    similarity[j * n + i]
                };
                let edge = (s - cut).max(0.0);
                if j > i {
                    score += edge;
                } else if j < i {
                    score += tuning.backward * edge;
                }
            }
            out[start + i] = score;
        }
    }
    let low = out.iter().copied().fold(f64::MAX, f64::min);
    for value in &mut out {
        *value -= low;
    }
    out
}

/// Dot product of two sparse vectors sorted by term id.
fn dot(a: &Vector, b: &Vector) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "The city council approved a new budget for public libraries on Monday. \
        The budget adds funding for longer library opening hours and new books. \
        Council members debated the library budget for three hours before the vote. \
        Some residents asked for more parking near the stadium. \
        The weather was sunny. \
        Library staff said the new budget will let libraries open on Sundays. \
        A local bakery celebrated its anniversary.";

    fn summarize(text: &str, max_sentences: usize) -> String {
        let options = SummaryOptions {
            max_sentences,
            max_bytes: 10_000,
        };
        ExtractiveSummarizer.summarize_text(text, &options).unwrap()
    }

    #[test]
    fn picks_sentences_about_the_main_topic() {
        let summary = summarize(ARTICLE, 2);
        assert!(summary.contains("budget"), "summary: {summary}");
        assert!(!summary.contains("bakery"), "summary: {summary}");
        assert!(!summary.contains("weather"), "summary: {summary}");
    }

    #[test]
    fn output_is_whole_sentences_in_document_order() {
        let sentences = split_sentences(ARTICLE);
        let summary = summarize(ARTICLE, 3);
        let mut last = None;
        let mut rest = summary.as_str();
        while !rest.is_empty() {
            let (index, sentence) = sentences
                .iter()
                .enumerate()
                .find(|(_, s)| rest.starts_with(s.as_str()))
                .unwrap_or_else(|| panic!("`{rest}` does not start with a source sentence"));
            assert!(last < Some(index), "sentences out of order in {summary}");
            last = Some(index);
            rest = rest[sentence.len()..].trim_start();
        }
    }

    #[test]
    fn is_deterministic() {
        assert_eq!(summarize(ARTICLE, 3), summarize(ARTICLE, 3));
    }

    #[test]
    fn respects_sentence_and_byte_limits() {
        assert_eq!(split_sentences(&summarize(ARTICLE, 2)).len(), 2);
        let options = SummaryOptions {
            max_sentences: 10,
            max_bytes: 150,
        };
        let summary = ExtractiveSummarizer
            .summarize_text(ARTICLE, &options)
            .unwrap();
        assert!(summary.len() <= 150, "{} bytes: {summary}", summary.len());
    }

    #[test]
    fn skips_a_sentence_that_repeats_one_already_chosen() {
        let text = "Solar panels cut electricity bills for homeowners across the region. \
                    Solar panels cut electricity bills for homeowners across the region! \
                    Installers report record demand for rooftop solar panels this year.";
        let summary = summarize(text, 2);
        assert_eq!(
            summary.matches("cut electricity bills").count(),
            1,
            "{summary}"
        );
    }

    #[test]
    fn a_long_report_gets_more_sentences_than_an_article() {
        let sentence = |i: usize| {
            format!(
                "Finding {i} shows that measure m{i} changed outcome o{} across region r{} \
                 during period p{} of the study.",
                i % 13,
                i % 7,
                i % 5
            )
        };
        let article: String = (0..40).map(sentence).collect::<Vec<_>>().join(" ");
        let report: String = (0..1_000).map(sentence).collect::<Vec<_>>().join(" ");
        let options = SummaryOptions {
            max_sentences: 8,
            max_bytes: 100_000,
        };
        let count = |text: &str| {
            let options = options.for_text(text);
            let summary = ExtractiveSummarizer.summarize_text(text, &options).unwrap();
            split_sentences(&summary).len()
        };
        assert_eq!(count(&article), 3);
        assert!(count(&report) >= 6, "{}", count(&report));
    }

    #[test]
    fn a_papers_title_authors_and_affiliations_are_not_its_summary() {
        let paper = "Efficient Compilation Of Lazy Functional Languages\n\
            Alice Martin, Bob Chen and Wei Zhang\n\
            Department of Computer Science, University of Somewhere\n\
            {alice, bob}@cs.example.edu\n\n\
            Lazy functional languages are hard to compile to efficient native code. \
            We present a compiler that infers strictness across modules and unboxes values. \
            Our compiler produces code that runs twice as fast as the previous compiler. \
            The compiler is available under an open licence. \
            Strictness analysis across modules removes most thunks from inner loops.";
        let options = SummaryOptions {
            max_sentences: 3,
            max_bytes: 2_000,
        };
        let summary = ExtractiveSummarizer
            .summarize_text(paper, &options)
            .unwrap();
        for apparatus in ["Alice", "Department", "@", "Efficient Compilation"] {
            assert!(!summary.contains(apparatus), "{apparatus} in {summary:?}");
        }
        assert!(summary.contains("compile"), "{summary}");
    }

    #[test]
    fn short_text_comes_back_whole() {
        assert_eq!(
            summarize("Only one sentence here.", 5),
            "Only one sentence here."
        );
    }

    #[test]
    fn text_without_sentences_is_an_error() {
        assert_eq!(
            ExtractiveSummarizer.summarize_text(" \n ", &SummaryOptions::default()),
            Err(SummarizeError::NothingToSummarize)
        );
    }

    #[test]
    fn works_on_cjk_text() {
        let text = "図書館の予算が承認された。図書館は日曜日も開館する。天気は晴れだった。";
        let summary = summarize(text, 1);
        assert!(summary.contains("図書館"), "{summary}");
    }

    #[test]
    fn one_sentence_longer_than_the_byte_budget_is_still_returned() {
        let options = SummaryOptions {
            max_sentences: 3,
            max_bytes: 10,
        };
        let summary = ExtractiveSummarizer
            .summarize_text("This sentence is longer than ten bytes.", &options)
            .unwrap();
        assert_eq!(summary, "This sentence is longer than ten bytes.");
    }

    #[test]
    fn trait_reports_the_extractive_backend() {
        let mut usage = Usage::default();
        let summary = pollster::block_on(ExtractiveSummarizer.summarize(
            ARTICLE,
            &SummaryOptions::default(),
            &mut usage,
        ))
        .unwrap();
        assert_eq!(summary.backend, "extractive");
        assert_eq!(summary.model, None);
        assert_eq!(usage, Usage::default(), "no model calls");
    }
}

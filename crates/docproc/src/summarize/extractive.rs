//! The built-in summarizer: centroid-based sentence ranking.
//!
//! Each sentence becomes a TF-IDF vector (a "document" for IDF is one sentence); the document's
//! centroid is the sum of those vectors, cut to its strongest terms. A sentence scores by its
//! cosine similarity to the centroid, nudged up for appearing early and down for being very
//! short. The best sentences are taken greedily, skipping any that repeat one already taken,
//! and returned in document order.
//!
//! It needs no model and no network, works for any language that separates words with spaces
//! or punctuation (CJK characters count one token each), gives the same output for the same
//! input, and costs time linear in the text's length: one pass to count, one to score, and a
//! sort of the sentence scores.

use std::collections::HashMap;

use super::{SummarizeError, Summarizer, Summary, SummaryOptions};
use crate::sentences::split_sentences;

/// How many of the centroid's strongest terms take part in scoring.
const CENTROID_TERMS: usize = 100;
/// A sentence at least this similar to one already chosen adds nothing new.
const REDUNDANCY_THRESHOLD: f64 = 0.6;
/// Sentences shorter than this many tokens are usually headings or fragments.
const SHORT_SENTENCE_TOKENS: usize = 5;
/// Extra weight for the first sentences, fading with position.
const LEAD_BONUS: f64 = 0.3;

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
        let sentences = split_sentences(text);
        if sentences.is_empty() {
            return Err(SummarizeError::NothingToSummarize);
        }
        let chosen = rank_and_select(&sentences, options);
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
fn rank_and_select(sentences: &[String], options: &SummaryOptions) -> Vec<usize> {
    let mut vocabulary: HashMap<String, u32> = HashMap::new();
    let term_counts: Vec<Vec<(u32, u32)>> = sentences
        .iter()
        .map(|s| count_terms(s, &mut vocabulary))
        .collect();

    let mut sentence_frequency = vec![0u32; vocabulary.len()];
    for counts in &term_counts {
        for &(term, _) in counts {
            sentence_frequency[term as usize] += 1;
        }
    }
    let n = sentences.len() as f64;
    let idf: Vec<f64> = sentence_frequency
        .iter()
        .map(|&df| (n / f64::from(df)).ln() + 1.0)
        .collect();

    let vectors: Vec<Vector> = term_counts
        .iter()
        .map(|counts| unit_vector(counts, &idf))
        .collect();
    let centroid = centroid(&vectors, vocabulary.len());

    let mut scored: Vec<(usize, f64)> = vectors
        .iter()
        .zip(&term_counts)
        .enumerate()
        .map(|(i, (vector, counts))| {
            let tokens: u32 = counts.iter().map(|&(_, c)| c).sum();
            (i, score(vector, &centroid, i, tokens as usize))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let best = scored.first().map_or(0, |&(i, _)| i);

    let mut chosen: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for (i, _) in scored {
        if chosen.len() >= options.max_sentences {
            break;
        }
        let len = sentences[i].len() + usize::from(!chosen.is_empty());
        if bytes + len > options.max_bytes {
            continue;
        }
        if chosen
            .iter()
            .any(|&j| dot(&vectors[i], &vectors[j]) >= REDUNDANCY_THRESHOLD)
        {
            continue;
        }
        bytes += len;
        chosen.push(i);
    }
    if chosen.is_empty() {
        // Every sentence is longer than the byte budget: the best one still beats nothing.
        chosen.push(best);
    }
    chosen.sort_unstable();
    chosen
}

/// Term counts of one sentence, sorted by term id. Terms are lowercased alphanumeric runs;
/// ideographs and kana count one character each, since those scripts have no spaces.
fn count_terms(sentence: &str, vocabulary: &mut HashMap<String, u32>) -> Vec<(u32, u32)> {
    let mut ids = Vec::new();
    let mut word = String::new();
    let mut flush = |word: &mut String, ids: &mut Vec<u32>| {
        if word.is_empty() {
            return;
        }
        let next = u32::try_from(vocabulary.len()).unwrap_or(u32::MAX);
        let id = *vocabulary.entry(std::mem::take(word)).or_insert(next);
        ids.push(id);
    };
    for c in sentence.chars() {
        if is_ideographic(c) {
            flush(&mut word, &mut ids);
            word.push(c);
            flush(&mut word, &mut ids);
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut ids);
        }
    }
    flush(&mut word, &mut ids);

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

fn is_ideographic(c: char) -> bool {
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

/// The sum of all sentence vectors, keeping its strongest terms, as a unit vector.
fn centroid(vectors: &[Vector], terms: usize) -> Vector {
    let mut sum = vec![0.0f64; terms];
    for vector in vectors {
        for &(term, w) in vector {
            sum[term as usize] += w;
        }
    }
    let mut strongest: Vec<(u32, f64)> = sum
        .into_iter()
        .enumerate()
        .filter(|&(_, w)| w > 0.0)
        .map(|(term, w)| (u32::try_from(term).unwrap_or(u32::MAX), w))
        .collect();
    strongest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    strongest.truncate(CENTROID_TERMS);
    strongest.sort_unstable_by_key(|&(term, _)| term);
    let norm = strongest.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut strongest {
            *w /= norm;
        }
    }
    strongest
}

fn score(vector: &Vector, centroid: &Vector, position: usize, tokens: usize) -> f64 {
    let similarity = dot(vector, centroid);
    let lead = 1.0 + LEAD_BONUS / (1.0 + position as f64 / 3.0);
    let length = if tokens < SHORT_SENTENCE_TOKENS {
        0.5
    } else {
        1.0
    };
    similarity * lead * length
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
        let summary =
            pollster::block_on(ExtractiveSummarizer.summarize(ARTICLE, &SummaryOptions::default()))
                .unwrap();
        assert_eq!(summary.backend, "extractive");
        assert_eq!(summary.model, None);
    }
}

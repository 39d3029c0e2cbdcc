//! Summarization behind one trait, so the pipeline does not care whether a summary came from
//! Workers AI, an OpenAI-compatible server or the built-in extractive summarizer.
//!
//! - [`ExtractiveSummarizer`]: built in, no network; the local default and the fallback.
//! - [`mapreduce::MapReduce`] over a [`mapreduce::Model`]: long texts through a model's window.
//! - [`workers_ai::WorkersAi`] and [`openai::OpenAiChat`]: the two model backends.
//! - [`models`]: what docpipe knows per Workers AI model (window, shapes, reasoning, price).
//! - [`reply`]: reading a model's answer in any of the shapes models answer in.
//! - [`Backend`]: whichever of them is configured.

mod extractive;
pub mod front_matter;
pub mod mapreduce;
pub mod models;
pub mod openai;
pub mod reply;
pub mod workers_ai;

pub use extractive::{ExtractiveSummarizer, Tuning, WINDOW_SENTENCES};

use mapreduce::MapReduce;
use openai::{HttpClient, OpenAiChat};
use workers_ai::{AiRunner, WorkersAi};

/// How long a summary may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryOptions {
    /// At most this many sentences (extractive) or roughly this many sentences' worth of text.
    pub max_sentences: usize,
    /// At most this many bytes of summary text.
    pub max_bytes: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            max_sentences: 8,
            max_bytes: 2_000,
        }
    }
}

impl SummaryOptions {
    /// These options for `text`: as many sentences as its length calls for
    /// ([`sentences_for`]), at most `max_sentences`.
    pub fn for_text(&self, text: &str) -> SummaryOptions {
        SummaryOptions {
            max_sentences: sentences_for(
                words_at_most(text, words_for_most(self.max_sentences)),
                self.max_sentences,
            ),
            ..*self
        }
    }
}

/// Sentences a summary of a text of `words` words has: 3 up to 1,000 words (a news article),
/// one more each time the text doubles past that (8 at 32,000 words, about 100 pages), and
/// never more than `most`.
pub fn sentences_for(words: usize, most: usize) -> usize {
    let mut sentences = 3;
    let mut length = 1_000;
    while words > length * 2 - 1 && sentences < most {
        sentences += 1;
        length *= 2;
    }
    sentences.min(most)
}

/// The fewest words for which [`sentences_for`] gives `most` sentences: counting further
/// changes nothing.
fn words_for_most(most: usize) -> usize {
    let (mut sentences, mut length) = (3, 1_000usize);
    while sentences < most {
        sentences += 1;
        length = length.saturating_mul(2);
    }
    if most <= 3 { 0 } else { length }
}

/// Words of `text`: what whitespace separates, and each ideograph or kana (those scripts
/// have no spaces).
pub fn words_in(text: &str) -> usize {
    words_at_most(text, usize::MAX)
}

/// [`words_in`], counting no further than `enough` (a long text's count is only compared
/// with a bound). Byte by byte: ASCII, most of most texts, is not decoded.
fn words_at_most(text: &str, enough: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut words, mut in_token, mut ideographs) = (0usize, false, 0usize);
    let mut at = 0;
    while words < enough
        && let Some(&b) = bytes.get(at)
    {
        let (space, ideograph, len) = if b.is_ascii() {
            // `char::is_whitespace` on ASCII: space, and tab through carriage return.
            (matches!(b, b' ' | b'\t'..=b'\r'), false, 1)
        } else {
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            (
                c.is_whitespace(),
                extractive::is_ideographic(c),
                c.len_utf8(),
            )
        };
        if space {
            if in_token {
                words += ideographs.max(1);
            }
            (in_token, ideographs) = (false, 0);
        } else {
            in_token = true;
            ideographs += usize::from(ideograph);
        }
        at += len;
    }
    if in_token {
        words += ideographs.max(1);
    }
    words
}

/// A summary and what produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub text: String,
    /// The backend, as recorded in `summaries.backend`: `extractive`, `workers-ai`, `openai`.
    pub backend: String,
    /// The model, when the backend has one.
    pub model: Option<String>,
}

/// What model calls one summary took, as the models reported it (or, where a model reports no
/// usage, as estimated from the text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// The model called, when one was.
    pub model: Option<String>,
    /// Calls made, failed ones included.
    pub calls: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// From the model's published price; `None` when it has none.
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Adds `other` (a later attempt's usage) to this one.
    pub fn add(&mut self, other: &Usage) {
        if self.model.is_none() {
            self.model.clone_from(&other.model);
        }
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// Why a summarizer produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummarizeError {
    /// The text has nothing to summarize (no sentences).
    #[error("text has no sentences to summarize")]
    NothingToSummarize,
    /// Worth retrying later: capacity, rate limits, timeouts.
    #[error("{backend} is unavailable for now: {reason}")]
    Unavailable { backend: String, reason: String },
    /// Will not work on retry: bad request, bad credentials, unexpected response.
    #[error("{backend} failed: {reason}")]
    Failed { backend: String, reason: String },
}

impl SummarizeError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SummarizeError::Unavailable { .. })
    }

    /// The backend that failed, when a backend failed.
    pub fn backend(&self) -> Option<&str> {
        match self {
            SummarizeError::NothingToSummarize => None,
            SummarizeError::Unavailable { backend, .. }
            | SummarizeError::Failed { backend, .. } => Some(backend),
        }
    }
}

/// Turns text into a summary, counting the model calls it makes into `usage` (also when it
/// fails: the calls were made, and paid for).
pub trait Summarizer {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
        usage: &mut Usage,
    ) -> Result<Summary, SummarizeError>;
}

/// The configured summarization backend.
#[derive(Debug, Clone)]
pub enum Backend<A, H> {
    Extractive(ExtractiveSummarizer),
    WorkersAi(MapReduce<WorkersAi<A>>),
    OpenAi(MapReduce<OpenAiChat<H>>),
}

impl<A: AiRunner, H: HttpClient> Summarizer for Backend<A, H> {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
        usage: &mut Usage,
    ) -> Result<Summary, SummarizeError> {
        match self {
            Backend::Extractive(s) => s.summarize(text, options, usage).await,
            Backend::WorkersAi(s) => s.summarize(text, options, usage).await,
            Backend::OpenAi(s) => s.summarize(text, options, usage).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_grows_a_sentence_each_time_the_text_doubles_past_a_thousand_words() {
        assert_eq!(sentences_for(200, 8), 3);
        assert_eq!(sentences_for(1_999, 8), 3);
        assert_eq!(sentences_for(2_000, 8), 4);
        assert_eq!(sentences_for(4_000, 8), 5);
        assert_eq!(sentences_for(16_000, 8), 7);
        assert_eq!(sentences_for(50_000, 8), 8);
        assert_eq!(sentences_for(1_000_000, 8), 8, "capped");
        assert_eq!(sentences_for(50_000, 2), 2, "the configured most wins");
        assert_eq!(words_in("東京 大学 is here"), 6);
    }

    /// The count as whitespace splitting gives it, the reference for the byte scan.
    fn words_by_splitting(text: &str) -> usize {
        text.split_whitespace()
            .map(|token| {
                let ideographs = token
                    .chars()
                    .filter(|&c| extractive::is_ideographic(c))
                    .count();
                ideographs.max(1)
            })
            .sum()
    }

    #[test]
    fn words_are_counted_as_whitespace_splits_them() {
        for text in [
            "",
            "   ",
            "one",
            " two  words ",
            "tab\tnew\nline\x0Bvertical\x0Cfeed\rreturn",
            "no\u{A0}break\u{2003}em\u{3000}ideographic\u{85}next",
            "東京大学 is 東京",
            "日本語のテキスト、句読点。",
            "mixed東京text and ünïcödé wörds",
            "\u{1F600} emoji\u{1F600}",
        ] {
            assert_eq!(words_in(text), words_by_splitting(text), "{text:?}");
        }
    }

    #[test]
    fn counting_stops_where_more_words_change_nothing() {
        let text = "word ".repeat(70_000) + "東京大学";
        for most in [1, 3, 4, 5, 8, 12] {
            let enough = words_for_most(most);
            assert!(words_at_most(&text, enough) >= enough.min(words_in(&text)));
            assert_eq!(
                sentences_for(words_at_most(&text, enough), most),
                sentences_for(words_in(&text), most),
                "most {most}"
            );
            assert!(enough == 0 || sentences_for(enough - 1, most) < most);
            assert_eq!(sentences_for(enough, most), most);
        }
    }
}

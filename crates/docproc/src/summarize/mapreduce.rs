//! Summarizing text longer than a model's input window: split it into overlapping chunks at
//! sentence boundaries, summarize each chunk (map), then summarize the joined chunk summaries
//! (reduce), repeating until one call's worth remains.
//!
//! The number of model calls per document is bounded. When a text would need more chunks
//! than the bound allows, the extractive summarizer first condenses it to what the bound
//! can cover, so cost stays bounded however long the document is.

use super::extractive::ExtractiveSummarizer;
use super::{SummarizeError, Summarizer, Summary, SummaryOptions};
use crate::sentences::split_sentences;

/// Why one model call failed, as the map-reduce needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Capacity, rate limit, timeout: the job should be retried later.
    #[error("{0}")]
    Unavailable(String),
    /// The input was too large for the model: retry with a smaller chunk.
    #[error("{0}")]
    TooLarge(String),
    /// Anything else: bad request, bad credentials, unexpected answer.
    #[error("{0}")]
    Failed(String),
}

/// One summarization call to a model.
pub trait Model {
    /// The backend, as recorded in `summaries.backend`.
    fn backend(&self) -> &str;
    /// The model name, as recorded in `summaries.model`.
    fn model(&self) -> &str;
    /// How many tokens of input one call may carry, prompt included.
    fn window_tokens(&self) -> usize;
    /// Summarizes `text` in about `target_words` words.
    async fn summarize(&self, text: &str, target_words: usize) -> Result<String, ModelError>;
}

/// Estimates tokens for subword tokenizers (BPE, SentencePiece): about one token per short
/// word, more for long words, numbers and punctuation. Errs on the high side, so chunks fit.
pub fn estimate_tokens(text: &str) -> usize {
    let mut tokens = 0;
    for word in text.split_whitespace() {
        let chars = word.chars().count();
        let punctuation = word.chars().filter(|c| !c.is_alphanumeric()).count();
        tokens += 1 + chars / 5 + punctuation;
    }
    tokens
}

/// Sentences grouped into chunks of at most `max_tokens`, each chunk starting with the last
/// `overlap` sentences of the one before, so no statement loses its context at a cut.
pub fn chunk_sentences(sentences: &[String], max_tokens: usize, overlap: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < sentences.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < sentences.len() {
            let cost = estimate_tokens(&sentences[end]);
            if end > start && tokens + cost > max_tokens {
                break;
            }
            tokens += cost;
            end += 1;
        }
        chunks.push(sentences[start..end].join(" "));
        if end >= sentences.len() {
            break;
        }
        // Step back for the overlap, but always make progress.
        start = end.saturating_sub(overlap).max(start + 1);
    }
    chunks
}

/// Map-reduce summarization over a [`Model`].
#[derive(Debug, Clone)]
pub struct MapReduce<M> {
    pub model: M,
    /// At most this many model calls per document.
    pub max_calls: usize,
    /// Sentences repeated at the start of each chunk.
    pub overlap_sentences: usize,
}

/// Tokens kept free in each call for the prompt and instructions.
const PROMPT_TOKENS: usize = 64;

impl<M: Model> MapReduce<M> {
    pub fn new(model: M) -> Self {
        Self {
            model,
            max_calls: 16,
            overlap_sentences: 1,
        }
    }

    fn target_words(options: &SummaryOptions) -> usize {
        // A sentence is about 20 words; stay within the byte budget (~6 bytes a word).
        (options.max_sentences * 20)
            .min(options.max_bytes / 6)
            .max(10)
    }

    fn error(&self, e: ModelError) -> SummarizeError {
        let backend = self.model.backend().to_owned();
        match e {
            ModelError::Unavailable(reason) => SummarizeError::Unavailable { backend, reason },
            ModelError::TooLarge(reason) | ModelError::Failed(reason) => {
                SummarizeError::Failed { backend, reason }
            }
        }
    }

    /// One call, halving the chunk while the model says it is too large.
    async fn call(
        &self,
        text: &str,
        target_words: usize,
        calls: &mut usize,
    ) -> Result<String, SummarizeError> {
        let mut text = text.to_owned();
        loop {
            if *calls >= self.max_calls {
                return Err(SummarizeError::Failed {
                    backend: self.model.backend().to_owned(),
                    reason: format!("needs more than {} model calls", self.max_calls),
                });
            }
            *calls += 1;
            match self.model.summarize(&text, target_words).await {
                Ok(summary) if summary.trim().is_empty() => {
                    return Err(self.error(ModelError::Failed("empty summary".into())));
                }
                Ok(summary) => return Ok(summary.trim().to_owned()),
                Err(ModelError::TooLarge(reason)) => {
                    let half = text.len() / 2;
                    if half < 200 {
                        return Err(self.error(ModelError::TooLarge(reason)));
                    }
                    let mut cut = half;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }
}

impl<M: Model> Summarizer for MapReduce<M> {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
    ) -> Result<Summary, SummarizeError> {
        let window = self
            .model
            .window_tokens()
            .saturating_sub(PROMPT_TOKENS)
            .max(64);
        let target = Self::target_words(options);
        let mut sentences = split_sentences(text);
        if sentences.is_empty() {
            return Err(SummarizeError::NothingToSummarize);
        }

        // Keep the map step within the call budget: one call is reserved for the reduce.
        let map_budget = self.max_calls.saturating_sub(1).max(1);
        let total: usize = sentences.iter().map(|s| estimate_tokens(s)).sum();
        if total > window * map_budget {
            let keep = (window * map_budget) / 30; // ~30 tokens a sentence
            let condensed = ExtractiveSummarizer.summarize_text(
                text,
                &SummaryOptions {
                    max_sentences: keep.max(1),
                    max_bytes: window * map_budget * 4,
                },
            )?;
            sentences = split_sentences(&condensed);
        }

        let mut calls = 0;
        let mut chunks = chunk_sentences(&sentences, window, self.overlap_sentences);
        loop {
            if chunks.len() == 1 {
                let summary = self.call(&chunks[0], target, &mut calls).await?;
                return Ok(Summary {
                    text: summary,
                    backend: self.model.backend().to_owned(),
                    model: Some(self.model.model().to_owned()),
                });
            }
            let mut partials = Vec::with_capacity(chunks.len());
            for chunk in &chunks {
                partials.push(self.call(chunk, target, &mut calls).await?);
            }
            let joined: Vec<String> = partials.iter().flat_map(|p| split_sentences(p)).collect();
            chunks = chunk_sentences(&joined, window, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use pollster::block_on;

    use super::*;

    /// A model that "summarizes" by keeping the first sentence, and records its inputs.
    struct FirstSentence {
        window: usize,
        calls: Cell<usize>,
        inputs: RefCell<Vec<String>>,
        too_large_above: usize,
        fail: Option<ModelError>,
    }

    impl FirstSentence {
        fn new(window: usize) -> Self {
            Self {
                window,
                calls: Cell::new(0),
                inputs: RefCell::new(Vec::new()),
                too_large_above: usize::MAX,
                fail: None,
            }
        }
    }

    impl Model for &FirstSentence {
        fn backend(&self) -> &str {
            "test"
        }
        fn model(&self) -> &str {
            "first-sentence"
        }
        fn window_tokens(&self) -> usize {
            self.window
        }
        async fn summarize(&self, text: &str, _target: usize) -> Result<String, ModelError> {
            self.calls.set(self.calls.get() + 1);
            self.inputs.borrow_mut().push(text.to_owned());
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            if text.len() > self.too_large_above {
                return Err(ModelError::TooLarge("input too long".into()));
            }
            Ok(split_sentences(text).into_iter().next().unwrap_or_default())
        }
    }

    fn sentences(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("Sentence number {i} talks about the topic at some length here."))
            .collect()
    }

    #[test]
    fn token_estimate_grows_with_words_and_punctuation() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a b c"), 3);
        assert!(estimate_tokens("internationalization,") > estimate_tokens("cat"));
    }

    #[test]
    fn chunks_respect_the_window_and_overlap_by_a_sentence() {
        let s = sentences(20);
        let per = estimate_tokens(&s[0]);
        let chunks = chunk_sentences(&s, per * 5, 1);
        assert!(chunks.len() > 4);
        for chunk in &chunks {
            assert!(estimate_tokens(chunk) <= per * 5, "{chunk}");
        }
        // Each chunk after the first starts with the previous chunk's last sentence.
        for pair in chunks.windows(2) {
            let last = split_sentences(&pair[0]).pop().unwrap();
            assert!(pair[1].starts_with(&last), "{} / {}", pair[0], pair[1]);
        }
        // Every sentence is in some chunk.
        for sentence in &s {
            assert!(chunks.iter().any(|c| c.contains(sentence.as_str())));
        }
    }

    #[test]
    fn an_oversized_sentence_still_gets_its_own_chunk() {
        let s = vec![
            "short one.".to_owned(),
            "word ".repeat(500),
            "end.".to_owned(),
        ];
        let chunks = chunk_sentences(&s, 50, 0);
        assert_eq!(chunks.len(), 3);
    }

    #[test]
    fn short_text_takes_one_call() {
        let model = FirstSentence::new(1_000);
        let summary = block_on(MapReduce::new(&model).summarize(
            "Alpha is first. Beta is second.",
            &SummaryOptions::default(),
        ))
        .unwrap();
        assert_eq!(summary.text, "Alpha is first.");
        assert_eq!(summary.backend, "test");
        assert_eq!(summary.model.as_deref(), Some("first-sentence"));
        assert_eq!(model.calls.get(), 1);
    }

    #[test]
    fn long_text_is_mapped_then_reduced_within_the_window() {
        let model = FirstSentence::new(200);
        let text = sentences(60).join(" ");
        let summary =
            block_on(MapReduce::new(&model).summarize(&text, &SummaryOptions::default())).unwrap();
        assert!(model.calls.get() > 2, "map calls plus a reduce");
        for input in model.inputs.borrow().iter() {
            assert!(
                estimate_tokens(input) <= 200,
                "input over the window: {input}"
            );
        }
        assert!(
            summary.text.starts_with("Sentence number 0 "),
            "{}",
            summary.text
        );
    }

    #[test]
    fn calls_stay_within_the_bound_for_huge_text() {
        let model = FirstSentence::new(200);
        let text = sentences(5_000).join(" ");
        let mapreduce = MapReduce {
            max_calls: 8,
            ..MapReduce::new(&model)
        };
        block_on(mapreduce.summarize(&text, &SummaryOptions::default())).unwrap();
        assert!(model.calls.get() <= 8, "{} calls", model.calls.get());
    }

    #[test]
    fn too_large_input_is_retried_smaller() {
        let mut model = FirstSentence::new(10_000);
        model.too_large_above = 1_000;
        let text = sentences(40).join(" ");
        let summary =
            block_on(MapReduce::new(&model).summarize(&text, &SummaryOptions::default())).unwrap();
        assert!(!summary.text.is_empty());
        let inputs = model.inputs.borrow();
        assert!(inputs.len() >= 2 && inputs.last().unwrap().len() <= 1_000);
    }

    #[test]
    fn errors_keep_their_kind() {
        let mut model = FirstSentence::new(1_000);
        model.fail = Some(ModelError::Unavailable("3040: out of capacity".into()));
        let err = block_on(
            MapReduce::new(&model).summarize("Some text here.", &SummaryOptions::default()),
        )
        .unwrap_err();
        assert!(err.is_transient());
        model.fail = Some(ModelError::Failed("401 unauthorized".into()));
        let err = block_on(
            MapReduce::new(&model).summarize("Some text here.", &SummaryOptions::default()),
        )
        .unwrap_err();
        assert_eq!(
            err,
            SummarizeError::Failed {
                backend: "test".into(),
                reason: "401 unauthorized".into()
            }
        );
    }
}

//! Summarizing text longer than a model's input window: split it into overlapping chunks at
//! sentence boundaries, summarize each chunk (map), then summarize the joined chunk summaries
//! (reduce), repeating until one call's worth remains.
//!
//! The number of model calls per document is bounded. Every round (the map, each reduce) is
//! planned within the calls left, keeping one for the round after; when a text would need more
//! chunks than that, the extractive summarizer first condenses it until it fits, so cost stays
//! bounded however long the document is.

use super::extractive::ExtractiveSummarizer;
use super::models::Price;
use super::reply::{ModelReply, TokenUsage};
use super::{SummarizeError, Summarizer, Summary, SummaryOptions, Usage};
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
    /// The model's published price, for the cost of its calls.
    fn price(&self) -> Option<Price> {
        None
    }
    /// Summarizes `text` in about `target_words` words.
    async fn summarize(&self, text: &str, target_words: usize) -> Result<ModelReply, ModelError>;
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

    /// Counts one call into `usage`: the tokens the model reported, or an estimate from the
    /// text when it reported none.
    fn count(&self, usage: &mut Usage, input: &str, reply: Option<&ModelReply>) {
        if usage.model.is_none() {
            usage.model = Some(self.model.model().to_owned());
        }
        usage.calls += 1;
        let Some(reply) = reply else {
            return;
        };
        let tokens = reply.usage.unwrap_or_else(|| TokenUsage {
            input_tokens: (estimate_tokens(input) + PROMPT_TOKENS) as u64,
            output_tokens: estimate_tokens(&reply.text) as u64,
        });
        usage.input_tokens += tokens.input_tokens;
        usage.output_tokens += tokens.output_tokens;
        if let Some(price) = self.model.price() {
            let cost = price.cost_usd(tokens.input_tokens, tokens.output_tokens);
            usage.cost_usd = Some(usage.cost_usd.unwrap_or(0.0) + cost);
        }
    }

    /// One call, halving the chunk while the model says it is too large.
    async fn call(
        &self,
        text: &str,
        target_words: usize,
        calls: &mut usize,
        usage: &mut Usage,
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
            let result = self.model.summarize(&text, target_words).await;
            self.count(usage, &text, result.as_ref().ok());
            match result {
                Ok(reply) if reply.text.trim().is_empty() => {
                    return Err(self.error(ModelError::Failed("empty summary".into())));
                }
                Ok(reply) => return Ok(reply.text.trim().to_owned()),
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

/// Chunks of `sentences` for at most `allowed` calls. When they need more, the extractive
/// summarizer condenses them, more each round, until they fit: however long the text, the
/// calls stay within the budget.
fn fit_chunks(
    sentences: &[String],
    window: usize,
    overlap: usize,
    allowed: usize,
) -> Result<Vec<String>, SummarizeError> {
    let mut chunks = chunk_sentences(sentences, window, overlap);
    if chunks.len() <= allowed {
        return Ok(chunks);
    }
    let text = sentences.join(" ");
    let total: usize = sentences.iter().map(|s| estimate_tokens(s)).sum();
    let per_sentence = (total / sentences.len().max(1)).max(1);
    let mut budget = window * allowed;
    loop {
        let keep = (budget / per_sentence).max(1);
        let condensed = ExtractiveSummarizer.summarize_text(
            &text,
            &SummaryOptions {
                max_sentences: keep,
                max_bytes: budget * 4,
            },
        )?;
        chunks = chunk_sentences(&split_sentences(&condensed), window, overlap);
        if chunks.len() <= allowed || keep == 1 {
            chunks.truncate(allowed.max(1));
            return Ok(chunks);
        }
        budget = budget * 3 / 4;
    }
}

impl<M: Model> Summarizer for MapReduce<M> {
    async fn summarize(
        &self,
        text: &str,
        options: &SummaryOptions,
        usage: &mut Usage,
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

        let mut calls = 0;
        let mut overlap = self.overlap_sentences;
        loop {
            // Each round leaves at least one call for the reduce after it; with one call left,
            // everything must fit in it.
            let remaining = self.max_calls.saturating_sub(calls);
            let allowed = remaining.saturating_sub(1).max(1);
            let chunks = fit_chunks(&sentences, window, overlap, allowed)?;
            if chunks.len() == 1 {
                let summary = self.call(&chunks[0], target, &mut calls, usage).await?;
                return Ok(Summary {
                    text: summary,
                    backend: self.model.backend().to_owned(),
                    model: Some(self.model.model().to_owned()),
                });
            }
            let mut partials = Vec::with_capacity(chunks.len());
            for chunk in &chunks {
                partials.push(self.call(chunk, target, &mut calls, usage).await?);
            }
            sentences = partials.iter().flat_map(|p| split_sentences(p)).collect();
            overlap = 0;
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
        fn price(&self) -> Option<Price> {
            Some(Price {
                input_per_million: 1.0,
                output_per_million: 10.0,
            })
        }
        /// Reports 100 input and 10 output tokens per call.
        async fn summarize(&self, text: &str, _target: usize) -> Result<ModelReply, ModelError> {
            self.calls.set(self.calls.get() + 1);
            self.inputs.borrow_mut().push(text.to_owned());
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            if text.len() > self.too_large_above {
                return Err(ModelError::TooLarge("input too long".into()));
            }
            Ok(ModelReply {
                text: split_sentences(text).into_iter().next().unwrap_or_default(),
                usage: Some(TokenUsage {
                    input_tokens: 100,
                    output_tokens: 10,
                }),
            })
        }
    }

    fn run<M: Model>(
        mapreduce: &MapReduce<M>,
        text: &str,
    ) -> (Result<Summary, SummarizeError>, Usage) {
        let mut usage = Usage::default();
        let result = block_on(mapreduce.summarize(text, &SummaryOptions::default(), &mut usage));
        (result, usage)
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
        let (summary, usage) = run(&MapReduce::new(&model), "Alpha is first. Beta is second.");
        let summary = summary.unwrap();
        assert_eq!(summary.text, "Alpha is first.");
        assert_eq!(summary.backend, "test");
        assert_eq!(summary.model.as_deref(), Some("first-sentence"));
        assert_eq!(model.calls.get(), 1);
        assert_eq!(
            usage,
            Usage {
                model: Some("first-sentence".into()),
                calls: 1,
                input_tokens: 100,
                output_tokens: 10,
                cost_usd: Some(0.000_2),
            }
        );
    }

    #[test]
    fn a_model_that_reports_no_usage_is_counted_by_estimate_and_unpriced_models_cost_nothing() {
        struct Silent;
        impl Model for Silent {
            fn backend(&self) -> &str {
                "test"
            }
            fn model(&self) -> &str {
                "silent"
            }
            fn window_tokens(&self) -> usize {
                1_000
            }
            async fn summarize(&self, _: &str, _: usize) -> Result<ModelReply, ModelError> {
                Ok(ModelReply {
                    text: "Two words.".into(),
                    usage: None,
                })
            }
        }
        let (summary, usage) = run(&MapReduce::new(Silent), "Alpha is first. Beta is second.");
        assert_eq!(summary.unwrap().text, "Two words.");
        assert_eq!(usage.calls, 1);
        assert_eq!(usage.output_tokens, estimate_tokens("Two words.") as u64);
        assert_eq!(
            usage.input_tokens,
            (estimate_tokens("Alpha is first. Beta is second.") + PROMPT_TOKENS) as u64
        );
        assert_eq!(usage.cost_usd, None);
    }

    #[test]
    fn long_text_is_mapped_then_reduced_within_the_window() {
        let model = FirstSentence::new(200);
        let text = sentences(60).join(" ");
        let (summary, usage) = run(&MapReduce::new(&model), &text);
        let summary = summary.unwrap();
        assert!(model.calls.get() > 2, "map calls plus a reduce");
        assert_eq!(
            usage.calls as usize,
            model.calls.get(),
            "every call is counted"
        );
        assert_eq!(usage.input_tokens, 100 * model.calls.get() as u64);
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
        run(&mapreduce, &text).0.unwrap();
        assert!(model.calls.get() <= 8, "{} calls", model.calls.get());
    }

    #[test]
    fn every_call_budget_is_kept_and_still_ends_in_a_summary() {
        // Sentences of ~28 estimated tokens in a small window: chunk overlap and reduce rounds
        // would overrun a budget planned from token counts alone.
        let text = (0..300)
            .map(|i| {
                format!("Section {i} of the survey describes shelf {i} of the archive in detail.")
            })
            .collect::<Vec<_>>()
            .join(" ");
        for max_calls in 1..=12 {
            let model = FirstSentence::new(336);
            let mapreduce = MapReduce {
                max_calls,
                ..MapReduce::new(&model)
            };
            let (summary, usage) = run(&mapreduce, &text);
            assert!(summary.is_ok(), "max_calls {max_calls}: {summary:?}");
            assert!(
                model.calls.get() <= max_calls,
                "max_calls {max_calls}: {} calls",
                model.calls.get()
            );
            assert_eq!(usage.calls as usize, model.calls.get());
            if max_calls >= 3 {
                assert!(
                    model.calls.get() >= 3,
                    "the budget is used to read more of the text"
                );
            }
        }
    }

    #[test]
    fn too_large_input_is_retried_smaller() {
        let mut model = FirstSentence::new(10_000);
        model.too_large_above = 1_000;
        let text = sentences(40).join(" ");
        let (summary, usage) = run(&MapReduce::new(&model), &text);
        assert!(!summary.unwrap().text.is_empty());
        assert_eq!(
            (usage.calls, usage.input_tokens),
            (model.calls.get() as u32, 100),
            "refused calls count as calls, with no tokens"
        );
        let inputs = model.inputs.borrow();
        assert!(inputs.len() >= 2 && inputs.last().unwrap().len() <= 1_000);
    }

    #[test]
    fn errors_keep_their_kind() {
        let mut model = FirstSentence::new(1_000);
        model.fail = Some(ModelError::Unavailable("3040: out of capacity".into()));
        let (result, usage) = run(&MapReduce::new(&model), "Some text here.");
        assert!(result.unwrap_err().is_transient());
        assert_eq!((usage.calls, usage.cost_usd), (1, None));
        model.fail = Some(ModelError::Failed("401 unauthorized".into()));
        let err = run(&MapReduce::new(&model), "Some text here.")
            .0
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

//! What docpipe knows about Workers AI text models, in one table: context window, how to ask
//! for a bounded answer, what the answer looks like, whether and how reasoning is turned off,
//! and the price. Any model not in the table still works with [`ModelSpec::fallback`]'s safe
//! defaults; a retired model is refused by name, with its replacement.
//!
//! Source: Cloudflare's Workers AI model catalog and changelog, read 2026-11 (prices in USD per
//! million tokens). Re-check them when a model changes.

/// The model production uses unless `AI_MODEL` names another: current, on the Free plan, a
/// 131,072-token window, and cheap ($0.0605 / $0.40 per million tokens).
pub const DEFAULT_MODEL: &str = "@cf/zai-org/glm-4.7-flash";

/// The date the prices and windows below were read from Cloudflare's catalog.
pub const CATALOG_DATE: &str = "2026-11";

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Price {
    /// The cost of one call.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_million
            + output_tokens as f64 * self.output_per_million)
            / 1_000_000.0
    }
}

/// The input field that bounds the answer's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthField {
    /// Current models: `max_completion_tokens` (`max_tokens` is deprecated there).
    MaxCompletionTokens,
    /// Older models: `max_tokens`.
    MaxTokens,
}

/// The documented shape of a model's answer. Every answer is read by
/// [`super::reply::parse_output`], which accepts all of them; the shape is kept for the stand-in
/// and for people reading the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// OpenAI chat completion: `choices[].message.content`, `usage.prompt_tokens`.
    ChatCompletion,
    /// `{response, usage}`.
    Response,
}

/// Whether a model reasons before answering, and how docpipe keeps that from eating the
/// answer's token budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// The model answers directly.
    None,
    /// Reasons by default; `chat_template_kwargs: {enable_thinking: false}` turns it off.
    ThinkingSwitch,
    /// Reasons by default; `reasoning_effort: "none"` turns it off.
    EffortNone,
    /// Always reasons. The answer budget gets room for it, and the lowest effort is asked for
    /// where the model takes one.
    Always { lowest_effort: Option<&'static str> },
}

/// One model, as docpipe calls it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSpec {
    pub name: &'static str,
    /// Input and output tokens of one call together.
    pub context_tokens: u32,
    pub length_field: LengthField,
    pub answer: Answer,
    pub reasoning: Reasoning,
    /// `None` when the price is not published.
    pub price: Option<Price>,
    /// Only on the Workers Paid plan (the Free plan gets `403`, internal error 5035).
    pub paid_only: bool,
}

const fn price(input_per_million: f64, output_per_million: f64) -> Option<Price> {
    Some(Price {
        input_per_million,
        output_per_million,
    })
}

const fn chat(
    name: &'static str,
    context_tokens: u32,
    reasoning: Reasoning,
    price: Option<Price>,
    paid_only: bool,
) -> ModelSpec {
    ModelSpec {
        name,
        context_tokens,
        length_field: LengthField::MaxCompletionTokens,
        answer: Answer::ChatCompletion,
        reasoning,
        price,
        paid_only,
    }
}

const fn legacy(
    name: &'static str,
    context_tokens: u32,
    answer: Answer,
    reasoning: Reasoning,
    price: Option<Price>,
) -> ModelSpec {
    ModelSpec {
        name,
        context_tokens,
        length_field: LengthField::MaxTokens,
        answer,
        reasoning,
        price,
        paid_only: false,
    }
}

use Reasoning::{Always, EffortNone, ThinkingSwitch};

/// The text models docpipe knows, from Cloudflare's catalog.
pub const CATALOG: &[ModelSpec] = &[
    chat(
        DEFAULT_MODEL,
        131_072,
        ThinkingSwitch,
        price(0.0605, 0.40),
        false,
    ),
    chat(
        "@cf/google/gemma-4-26b-a4b-it",
        256_000,
        ThinkingSwitch,
        price(0.10, 0.30),
        false,
    ),
    chat(
        "@cf/nvidia/nemotron-3-120b-a12b",
        256_000,
        ThinkingSwitch,
        price(0.50, 1.50),
        false,
    ),
    chat(
        "@cf/qwen/qwen3.8-27b",
        262_144,
        ThinkingSwitch,
        price(0.45, 3.20),
        false,
    ),
    chat(
        "@cf/moonshotai/kimi-k2.6",
        262_144,
        ThinkingSwitch,
        price(0.95, 4.00),
        true,
    ),
    chat(
        "@cf/moonshotai/kimi-k2.7-code",
        262_144,
        Always {
            lowest_effort: None,
        },
        price(0.95, 4.00),
        true,
    ),
    chat(
        "@cf/zai-org/glm-5.2",
        262_144,
        ThinkingSwitch,
        price(1.40, 4.40),
        true,
    ),
    chat(
        "@cf/zai-org/glm-5.3",
        1_310_720,
        ThinkingSwitch,
        price(1.40, 4.40),
        true,
    ),
    chat(
        "@cf/zai-org/glm-5.3-flash",
        1_310_720,
        Always {
            lowest_effort: Some("low"),
        },
        price(0.15, 0.50),
        true,
    ),
    chat(
        "@cf/deepseek-ai/deepseek-v4-flash-0731",
        1_048_576,
        EffortNone,
        price(0.44, 1.32),
        true,
    ),
    legacy(
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        24_000,
        Answer::Response,
        Reasoning::None,
        price(0.29, 2.25),
    ),
    legacy(
        "@cf/meta/llama-4-scout-17b-16e-instruct",
        131_000,
        Answer::Response,
        Reasoning::None,
        price(0.27, 0.85),
    ),
    legacy(
        "@cf/mistralai/mistral-small-3.1-24b-instruct",
        128_000,
        Answer::Response,
        Reasoning::None,
        price(0.35, 0.56),
    ),
    legacy(
        "@cf/openai/gpt-oss-120b",
        128_000,
        Answer::ChatCompletion,
        Always {
            lowest_effort: None,
        },
        price(0.35, 0.75),
    ),
    legacy(
        "@cf/openai/gpt-oss-20b",
        128_000,
        Answer::ChatCompletion,
        Always {
            lowest_effort: None,
        },
        price(0.20, 0.30),
    ),
    legacy(
        "@cf/qwen/qwen3-30b-a3b-fp8",
        32_768,
        Answer::ChatCompletion,
        Always {
            lowest_effort: None,
        },
        price(0.051, 0.34),
    ),
    legacy(
        "@cf/ibm-granite/granite-4.0-h-micro",
        131_000,
        Answer::ChatCompletion,
        Reasoning::None,
        price(0.017, 0.11),
    ),
    legacy(
        "@cf/aisingapore/gemma-sea-lion-v4-27b-it",
        128_000,
        Answer::ChatCompletion,
        Reasoning::None,
        price(0.35, 0.56),
    ),
];

/// Models Workers AI no longer serves, with what to use instead. The 18 of the 2026-05-30
/// deprecation (changelog "Planned model deprecations", 2026-05-08).
pub const RETIRED: &[(&str, &str)] = &[
    ("@cf/moonshotai/kimi-k2.5", "@cf/moonshotai/kimi-k2.6"),
    ("@hf/meta-llama/meta-llama-3-8b-instruct", DEFAULT_MODEL),
    ("@cf/meta/llama-3-8b-instruct", DEFAULT_MODEL),
    ("@cf/meta/llama-3-8b-instruct-awq", DEFAULT_MODEL),
    ("@cf/meta/llama-3.1-8b-instruct", DEFAULT_MODEL),
    ("@cf/meta/llama-3.1-8b-instruct-awq", DEFAULT_MODEL),
    ("@cf/meta/llama-3.1-70b-instruct", DEFAULT_MODEL),
    ("@cf/meta/llama-2-7b-chat-int8", DEFAULT_MODEL),
    ("@cf/meta/llama-2-7b-chat-fp16", DEFAULT_MODEL),
    ("@cf/mistral/mistral-7b-instruct-v0.1", DEFAULT_MODEL),
    ("@hf/mistral/mistral-7b-instruct-v0.2", DEFAULT_MODEL),
    ("@hf/google/gemma-7b-it", "@cf/google/gemma-4-26b-a4b-it"),
    ("@cf/google/gemma-3-12b-it", "@cf/google/gemma-4-26b-a4b-it"),
    ("@hf/nousresearch/hermes-2-pro-mistral-7b", DEFAULT_MODEL),
    ("@cf/microsoft/phi-2", DEFAULT_MODEL),
    ("@cf/defog/sqlcoder-7b-2", DEFAULT_MODEL),
    (
        "@cf/unum/uform-gen2-qwen-500m",
        "@cf/google/gemma-4-26b-a4b-it",
    ),
    ("@cf/facebook/bart-large-cnn", DEFAULT_MODEL),
];

/// Why a model name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{model} was retired from Workers AI on 2026-05-30; use {replacement} instead")]
pub struct RetiredModel {
    pub model: String,
    pub replacement: &'static str,
}

impl ModelSpec {
    /// Tokens reserved for a reasoning model's thinking when it cannot be turned off.
    pub const REASONING_ALLOWANCE_TOKENS: u32 = 2_048;

    /// For a model docpipe does not know: a chat model with a modest window, `max_tokens`
    /// (which every Workers AI text model accepts), room for reasoning it may do, no price.
    pub fn fallback() -> ModelSpec {
        ModelSpec {
            name: "(not in the catalog)",
            context_tokens: 8_192,
            length_field: LengthField::MaxTokens,
            answer: Answer::ChatCompletion,
            reasoning: Always {
                lowest_effort: None,
            },
            price: None,
            paid_only: false,
        }
    }

    /// The answer budget for a summary of `target_tokens`, with room for reasoning that cannot
    /// be turned off.
    pub fn answer_tokens(&self, target_tokens: u32) -> u32 {
        match self.reasoning {
            Always { .. } => target_tokens + Self::REASONING_ALLOWANCE_TOKENS,
            _ => target_tokens,
        }
    }
}

/// The catalog entry of `model`, if docpipe knows it.
pub fn lookup(model: &str) -> Option<&'static ModelSpec> {
    CATALOG.iter().find(|spec| spec.name == model)
}

/// What docpipe assumes about `model`: its catalog entry, or [`ModelSpec::fallback`].
pub fn spec_for(model: &str) -> ModelSpec {
    lookup(model).copied().unwrap_or_else(ModelSpec::fallback)
}

/// Refuses a retired model, naming its replacement.
pub fn check_not_retired(model: &str) -> Result<(), RetiredModel> {
    match RETIRED.iter().find(|(name, _)| *name == model) {
        Some((_, replacement)) => Err(RetiredModel {
            model: model.to_owned(),
            replacement,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_default_is_a_current_free_model_with_a_large_window() {
        let spec = lookup(DEFAULT_MODEL).unwrap();
        assert!(!spec.paid_only);
        assert_eq!(spec.context_tokens, 131_072);
        assert_eq!(spec.reasoning, Reasoning::ThinkingSwitch);
        assert!(check_not_retired(DEFAULT_MODEL).is_ok());
    }

    #[test]
    fn all_eighteen_retired_models_are_refused_with_a_current_replacement() {
        assert_eq!(RETIRED.len(), 18);
        for (model, replacement) in RETIRED {
            let err = check_not_retired(model).unwrap_err();
            assert!(err.to_string().contains(replacement), "{err}");
            assert!(
                lookup(replacement).is_some(),
                "{replacement} is not in the catalog"
            );
            assert!(
                lookup(model).is_none(),
                "{model} is both retired and current"
            );
        }
        let bart = check_not_retired("@cf/facebook/bart-large-cnn").unwrap_err();
        assert_eq!(
            bart.to_string(),
            "@cf/facebook/bart-large-cnn was retired from Workers AI on 2026-05-30; \
             use @cf/zai-org/glm-4.7-flash instead"
        );
    }

    #[test]
    fn catalog_names_are_unique_and_every_entry_is_sane() {
        let names: HashSet<_> = CATALOG.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), CATALOG.len());
        for spec in CATALOG {
            assert!(spec.name.starts_with("@cf/"), "{}", spec.name);
            assert!(spec.context_tokens >= 8_192, "{}", spec.name);
            assert!(spec.price.is_some(), "{} has a published price", spec.name);
        }
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = lookup(DEFAULT_MODEL).unwrap().price.unwrap();
        let cost = price.cost_usd(1_000_000, 100_000);
        assert!((cost - (0.0605 + 0.04)).abs() < 1e-12, "{cost}");
        assert_eq!(price.cost_usd(0, 0), 0.0);
    }

    #[test]
    fn models_that_always_reason_get_room_for_it() {
        let always = lookup("@cf/openai/gpt-oss-20b").unwrap();
        assert_eq!(always.answer_tokens(200), 200 + 2_048);
        let switchable = lookup(DEFAULT_MODEL).unwrap();
        assert_eq!(switchable.answer_tokens(200), 200);
    }

    #[test]
    fn unknown_models_get_safe_defaults() {
        let spec = spec_for("@cf/someone/new-model");
        assert_eq!(spec.length_field, LengthField::MaxTokens);
        assert_eq!(spec.price, None);
        assert!(spec.answer_tokens(100) > 100);
    }
}

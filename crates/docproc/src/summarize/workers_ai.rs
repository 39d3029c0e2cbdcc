//! Workers AI (`env.AI.run(model, inputs, options)`): the input for a model as the catalog
//! describes it, the options (AI Gateway, `rejectIfBusy`), and the classification of its
//! errors by internal code. The binding call comes in through [`AiRunner`].

use serde_json::{Value, json};

use super::mapreduce::{Model, ModelError};
use super::models::{LengthField, ModelSpec, Price, Reasoning, spec_for};
use super::openai::system_prompt;
use super::reply::{ModelReply, parse_output};

pub const BACKEND: &str = "workers-ai";
pub use super::models::DEFAULT_MODEL;

/// Runs a model. Implemented with the AI binding in the Worker; `Err` carries the binding's
/// error message (which starts with Workers AI's internal error code).
pub trait AiRunner {
    async fn run(&self, model: &str, input: Value, options: Value) -> Result<Value, String>;
}

/// AI Gateway in front of every call: caching, rate limits, retries, logs, cost per route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub id: String,
    pub skip_cache: bool,
    /// Seconds a cached answer is served; `None` leaves the gateway's own setting.
    pub cache_ttl_seconds: Option<u32>,
}

/// The binding's third argument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    pub gateway: Option<Gateway>,
    /// Fail at once with 3040 when the model is out of capacity, instead of waiting in a
    /// queue while holding the consumer: the job is retried through the queue instead.
    pub reject_if_busy: bool,
}

impl RunOptions {
    pub fn to_json(&self) -> Value {
        let mut options = json!({});
        if let Some(gateway) = &self.gateway {
            let mut value = json!({ "id": gateway.id, "skipCache": gateway.skip_cache });
            if let Some(ttl) = gateway.cache_ttl_seconds {
                value["cacheTtl"] = json!(ttl);
            }
            options["gateway"] = value;
        }
        if self.reject_if_busy {
            options["rejectIfBusy"] = json!(true);
        }
        options
    }
}

/// The summarization call to a Workers AI model.
#[derive(Debug, Clone)]
pub struct WorkersAi<R> {
    pub runner: R,
    pub model: String,
    pub spec: ModelSpec,
    pub options: RunOptions,
    /// An operator's cap on the input tokens of one call, below the model's window.
    pub max_input_tokens: Option<usize>,
}

impl<R> WorkersAi<R> {
    pub fn new(runner: R, model: String, options: RunOptions) -> Self {
        Self {
            spec: spec_for(&model),
            runner,
            model,
            options,
            max_input_tokens: None,
        }
    }
}

/// Tokens of answer a summary of `target_words` needs (about 1.5 tokens a word, with room so
/// it is not cut off).
fn target_tokens(target_words: usize) -> u32 {
    u32::try_from(target_words * 2 + 16).unwrap_or(u32::MAX)
}

/// Answer tokens kept out of the window when chunking, whatever the summary length.
const ANSWER_RESERVE_TOKENS: u32 = 4_096;

/// The model's input for one call.
pub fn input(spec: &ModelSpec, text: &str, target_words: usize) -> Value {
    let mut input = json!({
        "messages": [
            { "role": "system", "content": system_prompt(target_words) },
            { "role": "user", "content": text },
        ],
    });
    let budget = spec.answer_tokens(target_tokens(target_words));
    let field = match spec.length_field {
        LengthField::MaxCompletionTokens => "max_completion_tokens",
        LengthField::MaxTokens => "max_tokens",
    };
    input[field] = json!(budget);
    match spec.reasoning {
        Reasoning::ThinkingSwitch => {
            input["chat_template_kwargs"] = json!({ "enable_thinking": false });
        }
        Reasoning::EffortNone => input["reasoning_effort"] = json!("none"),
        Reasoning::Always {
            lowest_effort: Some(effort),
        } => input["reasoning_effort"] = json!(effort),
        Reasoning::Always {
            lowest_effort: None,
        }
        | Reasoning::None => {}
    }
    input
}

/// The internal error code a Workers AI error message starts with (`3040: …`,
/// `AiError: 3040: …`, `InferenceUpstreamError: 3007: …`).
pub fn error_code(message: &str) -> Option<u16> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 4)
        .and_then(|part| part.parse().ok())
}

/// Workers AI's internal codes: 3040 (out of capacity, also what `rejectIfBusy` answers), 3036
/// (daily allocation used), 3007 (timeout) and 3008 (aborted) pass; 3006 (request too large)
/// needs a smaller input; 5035 (model needs the Paid plan), 5007 / 3042 (no such model) and
/// anything else will not change on retry. The code stays in the reason, so a job's error or a
/// fallback's reason names it.
pub fn classify(message: &str) -> ModelError {
    let code = error_code(message);
    let meaning = match code {
        Some(3040) => "out of capacity",
        Some(3036) => "daily allocation used",
        Some(3007) => "timeout",
        Some(3008) => "aborted",
        Some(3006) => "request too large",
        Some(5035) => "model needs the Workers Paid plan",
        Some(5007 | 3042) => "no such model",
        _ => "error",
    };
    let message: String = message.chars().take(300).collect();
    let reason = match code {
        Some(code) => format!("Workers AI {code} ({meaning}): {message}"),
        None => format!("Workers AI error: {message}"),
    };
    match code {
        Some(3040 | 3036 | 3007 | 3008) => ModelError::Unavailable(reason),
        Some(3006) => ModelError::TooLarge(reason),
        _ => ModelError::Failed(reason),
    }
}

impl<R: AiRunner> Model for WorkersAi<R> {
    fn backend(&self) -> &str {
        BACKEND
    }

    fn model(&self) -> &str {
        &self.model
    }

    /// The model's context window less the answer's share, or the operator's cap if lower.
    fn window_tokens(&self) -> usize {
        let window = self
            .spec
            .context_tokens
            .saturating_sub(self.spec.answer_tokens(ANSWER_RESERVE_TOKENS));
        let window = usize::try_from(window).unwrap_or(usize::MAX);
        self.max_input_tokens.map_or(window, |cap| window.min(cap))
    }

    fn price(&self) -> Option<Price> {
        self.spec.price
    }

    async fn summarize(&self, text: &str, target_words: usize) -> Result<ModelReply, ModelError> {
        let result = self
            .runner
            .run(
                &self.model,
                input(&self.spec, text, target_words),
                self.options.to_json(),
            )
            .await
            .map_err(|message| classify(&message))?;
        parse_output(&result)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use pollster::block_on;

    use super::*;
    use crate::summarize::models::lookup;

    #[test]
    fn current_models_get_messages_max_completion_tokens_and_no_thinking() {
        let spec = lookup(DEFAULT_MODEL).unwrap();
        let value = input(spec, "Text.", 50);
        assert_eq!(value["messages"][0]["role"], "system");
        assert_eq!(
            value["messages"][1],
            json!({"role": "user", "content": "Text."})
        );
        assert_eq!(value["max_completion_tokens"], 116);
        assert_eq!(value.get("max_tokens"), None);
        assert_eq!(
            value["chat_template_kwargs"],
            json!({"enable_thinking": false})
        );
    }

    #[test]
    fn older_models_get_max_tokens_and_reasoning_models_room_or_low_effort() {
        let llama = input(
            lookup("@cf/meta/llama-3.3-70b-instruct-fp8-fast").unwrap(),
            "Text.",
            50,
        );
        assert_eq!(llama["max_tokens"], 116);
        assert_eq!(llama.get("chat_template_kwargs"), None);
        let gpt_oss = input(lookup("@cf/openai/gpt-oss-120b").unwrap(), "Text.", 50);
        assert_eq!(gpt_oss["max_tokens"], 116 + 2_048);
        let flash = input(lookup("@cf/zai-org/glm-5.3-flash").unwrap(), "Text.", 50);
        assert_eq!(flash["reasoning_effort"], "low");
        let deepseek = input(
            lookup("@cf/deepseek-ai/deepseek-v4-flash-0731").unwrap(),
            "Text.",
            50,
        );
        assert_eq!(deepseek["reasoning_effort"], "none");
    }

    #[test]
    fn options_carry_the_gateway_and_reject_if_busy() {
        assert_eq!(RunOptions::default().to_json(), json!({}));
        let options = RunOptions {
            gateway: Some(Gateway {
                id: "docpipe".into(),
                skip_cache: false,
                cache_ttl_seconds: Some(3_600),
            }),
            reject_if_busy: true,
        };
        assert_eq!(
            options.to_json(),
            json!({"gateway": {"id": "docpipe", "skipCache": false, "cacheTtl": 3600},
                   "rejectIfBusy": true})
        );
    }

    #[test]
    fn classifies_by_internal_code_and_keeps_it_in_the_reason() {
        let busy = classify("3040: Capacity temporarily exceeded, please try again.");
        assert_eq!(
            busy,
            ModelError::Unavailable(
                "Workers AI 3040 (out of capacity): 3040: Capacity temporarily exceeded, \
                 please try again."
                    .into()
            )
        );
        for message in [
            "AiError: 3036: You have used up your daily free allocation of 10,000 neurons",
            "InferenceUpstreamError: 3007: Request timeout",
            "3008: Request was aborted",
        ] {
            assert!(
                matches!(classify(message), ModelError::Unavailable(_)),
                "{message}"
            );
        }
        assert!(matches!(
            classify("3006: Request is too large"),
            ModelError::TooLarge(_)
        ));
        for message in [
            "5007: No such model @cf/x/y or task",
            "3042: The model name is invalid",
            "5035: This model requires the Workers Paid plan",
            "something odd",
        ] {
            let error = classify(message);
            assert!(matches!(error, ModelError::Failed(_)), "{message}");
        }
        assert!(
            classify("5035: upgrade")
                .to_string()
                .contains("5035 (model needs the Workers Paid plan)")
        );
    }

    #[test]
    fn the_window_is_the_models_less_the_answer_or_the_operators_cap() {
        struct Never;
        impl AiRunner for Never {
            async fn run(&self, _: &str, _: Value, _: Value) -> Result<Value, String> {
                Err("unused".into())
            }
        }
        let mut ai = WorkersAi::new(Never, DEFAULT_MODEL.into(), RunOptions::default());
        assert_eq!(ai.window_tokens(), 131_072 - 4_096);
        ai.max_input_tokens = Some(2_000);
        assert_eq!(ai.window_tokens(), 2_000);
        let unknown = WorkersAi::new(Never, "@cf/new/model".into(), RunOptions::default());
        assert_eq!(unknown.window_tokens(), 8_192 - 4_096 - 2_048);
    }

    /// A binding that answers like glm-4.7-flash and records what it was given.
    struct Recording(RefCell<Vec<(String, Value, Value)>>);

    impl AiRunner for &Recording {
        async fn run(&self, model: &str, input: Value, options: Value) -> Result<Value, String> {
            self.0.borrow_mut().push((model.into(), input, options));
            Ok(
                json!({"choices": [{"message": {"role": "assistant", "content": "Short."},
                "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32}}),
            )
        }
    }

    #[test]
    fn a_call_passes_model_input_and_options_and_reads_the_answer() {
        let binding = Recording(RefCell::new(Vec::new()));
        let options = RunOptions {
            gateway: None,
            reject_if_busy: true,
        };
        let ai = WorkersAi::new(&binding, DEFAULT_MODEL.into(), options);
        let reply = block_on(ai.summarize("Long text.", 20)).unwrap();
        assert_eq!(reply.text, "Short.");
        assert_eq!(reply.usage.unwrap().input_tokens, 30);
        let calls = binding.0.borrow();
        assert_eq!(calls[0].0, DEFAULT_MODEL);
        assert_eq!(calls[0].1["messages"][1]["content"], "Long text.");
        assert_eq!(calls[0].2, json!({"rejectIfBusy": true}));
    }
}

//! Workers AI (`env.AI.run(model, input)`): the input and output shapes of summarization and
//! instruct models, and the classification of its errors. The binding call comes in through
//! [`AiRunner`].

use serde_json::{Value, json};

use super::mapreduce::{Model, ModelError};
use super::openai::system_prompt;

pub const BACKEND: &str = "workers-ai";
pub const DEFAULT_MODEL: &str = "@cf/facebook/bart-large-cnn";

/// Runs a model. Implemented with the AI binding in the Worker; `Err` carries the binding's
/// error message (which starts with Workers AI's internal error code).
pub trait AiRunner {
    async fn run(&self, model: &str, input: Value) -> Result<Value, String>;
}

#[derive(Debug, Clone)]
pub struct WorkersAi<R> {
    pub runner: R,
    pub model: String,
}

/// Summarization models (BART and kin) take `input_text`; everything else is prompted as an
/// instruct model with chat messages.
fn is_summarization_model(model: &str) -> bool {
    model.contains("bart")
}

/// The model's input for one call.
pub fn input(model: &str, text: &str, target_words: usize) -> Value {
    if is_summarization_model(model) {
        json!({ "input_text": text, "max_length": target_words * 2 })
    } else {
        json!({
            "messages": [
                { "role": "system", "content": system_prompt(target_words) },
                { "role": "user", "content": text },
            ],
            "max_tokens": target_words * 2 + 16,
        })
    }
}

/// The summary in a model's output: `{summary}` for summarization models, `{response}` for
/// instruct models.
pub fn output(value: &Value) -> Result<String, ModelError> {
    ["summary", "response"]
        .iter()
        .find_map(|field| value.get(field).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            let shown: String = value.to_string().chars().take(200).collect();
            ModelError::Failed(format!("no summary in the model's output: {shown}"))
        })
}

/// Workers AI errors carry an internal code: 3040 (out of capacity), 3036 (daily allocation
/// used), 3007 (timeout) and 3008 (aborted) pass; 3006 (request too large) needs a smaller
/// input; the rest will not change on retry.
pub fn classify(message: &str) -> ModelError {
    let code = message
        .split(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 4)
        .and_then(|part| part.parse::<u16>().ok());
    let reason = message.chars().take(300).collect();
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

    /// BART's encoder sees 1024 tokens; instruct models on Workers AI take several thousand,
    /// of which a conservative share is used.
    fn window_tokens(&self) -> usize {
        if is_summarization_model(&self.model) {
            1_024
        } else {
            6_000
        }
    }

    async fn summarize(&self, text: &str, target_words: usize) -> Result<String, ModelError> {
        let result = self
            .runner
            .run(&self.model, input(&self.model, text, target_words))
            .await
            .map_err(|message| classify(&message))?;
        output(&result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bart_gets_input_text_and_max_length() {
        assert_eq!(
            input(DEFAULT_MODEL, "Text.", 50),
            json!({"input_text": "Text.", "max_length": 100})
        );
    }

    #[test]
    fn instruct_models_get_chat_messages() {
        let value = input("@cf/meta/llama-3.1-8b-instruct", "Text.", 50);
        assert_eq!(value["messages"][1]["content"], "Text.");
        assert_eq!(value["messages"][0]["role"], "system");
        assert_eq!(value["max_tokens"], 116);
    }

    #[test]
    fn reads_summary_or_response() {
        assert_eq!(output(&json!({"summary": " A. "})), Ok("A.".into()));
        assert_eq!(output(&json!({"response": "B."})), Ok("B.".into()));
        assert!(matches!(
            output(&json!({"usage": {}})),
            Err(ModelError::Failed(_))
        ));
        assert!(matches!(
            output(&json!({"response": ""})),
            Err(ModelError::Failed(_))
        ));
    }

    #[test]
    fn classifies_by_internal_code() {
        assert!(matches!(
            classify("AiError: 3040: No more data centers to forward the request to"),
            ModelError::Unavailable(_)
        ));
        assert!(matches!(
            classify("3036: You have used up your daily free allocation"),
            ModelError::Unavailable(_)
        ));
        assert!(matches!(
            classify("InferenceUpstreamError: 3007: Request timeout"),
            ModelError::Unavailable(_)
        ));
        assert!(matches!(
            classify("3006: Request is too large"),
            ModelError::TooLarge(_)
        ));
        assert!(matches!(
            classify("5007: No such model @cf/x or task"),
            ModelError::Failed(_)
        ));
        assert!(matches!(classify("something odd"), ModelError::Failed(_)));
    }
}

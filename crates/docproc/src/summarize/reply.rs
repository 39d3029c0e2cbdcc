//! Reading a text model's answer, whatever shape it comes in, and the tokens it reports.
//!
//! Workers AI answers in several shapes, by model generation, and OpenAI-compatible servers in
//! one of them:
//! - chat completion: `{choices: [{message: {content, reasoning_content?}, finish_reason}],
//!   usage: {prompt_tokens, completion_tokens}}` (current models, OpenAI-compatible servers);
//! - text completion: `{choices: [{text}], usage}`;
//! - Responses API: `{output: [{type: "reasoning"…}, {type: "message", content: [{type:
//!   "output_text", text}]}], usage: {input_tokens, output_tokens}}` (gpt-oss);
//! - `{response, usage?}` (older instruct models);
//! - `{summary}` (summarization models).
//!
//! Reasoning is never taken for the answer: `reasoning_content`, `reasoning` items and
//! `<think>…</think>` blocks are dropped.

use serde_json::Value;

use super::mapreduce::ModelError;

/// Tokens one call consumed, as the model reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A model's answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReply {
    pub text: String,
    /// `None` when the model reported no usage.
    pub usage: Option<TokenUsage>,
}

fn usage(value: &Value) -> Option<TokenUsage> {
    let usage = value.get("usage")?;
    let field = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| usage.get(*name).and_then(Value::as_u64))
    };
    let input = field(["prompt_tokens", "input_tokens"]);
    let output = field(["completion_tokens", "output_tokens"]);
    (input.is_some() || output.is_some()).then(|| TokenUsage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
    })
}

/// Text content that is a string, or an array of parts with `text`.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|part| {
                    part.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|kind| matches!(kind, "text" | "output_text"))
                })
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

/// The answer text of a Responses API `output` list: its `message` items' text parts.
fn responses_text(output: &[Value]) -> Option<String> {
    let texts: Vec<String> = output
        .iter()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
        .filter_map(|item| item.get("content").and_then(content_text))
        .collect();
    (!texts.is_empty()).then(|| texts.concat())
}

/// Removes `<think>…</think>` blocks some models write into their content. An unclosed block
/// means the answer never came.
pub fn strip_thinking(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

fn unexpected(value: &Value) -> ModelError {
    let shown: String = value.to_string().chars().take(200).collect();
    ModelError::Failed(format!("no answer in the model's output: {shown}"))
}

/// The answer and usage in a model's output.
pub fn parse_output(value: &Value) -> Result<ModelReply, ModelError> {
    let (raw, finish_reason) = if let Some(choice) = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        let text = choice
            .get("message")
            .and_then(|m| m.get("content"))
            .and_then(content_text)
            .or_else(|| {
                choice
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let finish = choice.get("finish_reason").and_then(Value::as_str);
        (text, finish)
    } else if let Some(output) = value.get("output").and_then(Value::as_array) {
        (responses_text(output), None)
    } else {
        let text = ["response", "summary"]
            .iter()
            .find_map(|field| value.get(*field).and_then(Value::as_str))
            .map(str::to_owned);
        (text, None)
    };
    let usage = usage(value);
    let text = raw.as_deref().map(strip_thinking).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        if finish_reason == Some("length") {
            let spent = usage.map_or(0, |u| u.output_tokens);
            return Err(ModelError::Failed(format!(
                "the model used its whole answer budget ({spent} tokens) without answering"
            )));
        }
        return Err(unexpected(value));
    }
    Ok(ModelReply {
        text: text.to_owned(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // Answers in the shapes of Cloudflare's model schemas (glm-4.7-flash, llama-3.3-70b,
    // gpt-oss-20b, qwen3-30b, bart-large-cnn) and of OpenAI's API.

    #[test]
    fn reads_a_chat_completion_and_its_usage() {
        let glm = json!({
            "id": "chatcmpl-8c1f", "object": "chat.completion", "created": 1_795_381_560,
            "model": "@cf/zai-org/glm-4.7-flash",
            "choices": [{"index": 0, "message": {"role": "assistant",
                "content": "The harbour reopened.", "refusal": null, "tool_calls": []},
                "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 412, "completion_tokens": 9, "total_tokens": 421,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}},
            "system_fingerprint": null
        });
        assert_eq!(
            parse_output(&glm),
            Ok(ModelReply {
                text: "The harbour reopened.".into(),
                usage: Some(TokenUsage {
                    input_tokens: 412,
                    output_tokens: 9
                })
            })
        );
    }

    #[test]
    fn never_takes_reasoning_for_the_answer() {
        let qwen = json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant",
                "reasoning_content": "The user wants a summary. Let me think.",
                "content": "<think>Still thinking.</think>\n\nShips returned."},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 30, "total_tokens": 80}
        });
        assert_eq!(parse_output(&qwen).unwrap().text, "Ships returned.");

        let only_thinking = json!({
            "choices": [{"message": {"role": "assistant", "content": null,
                "reasoning_content": "Thinking until the budget runs out"},
                "finish_reason": "length"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 216}
        });
        assert_eq!(
            parse_output(&only_thinking),
            Err(ModelError::Failed(
                "the model used its whole answer budget (216 tokens) without answering".into()
            ))
        );
        let unclosed = json!({"choices": [{"message": {"content": "<think>and on and on"}}]});
        assert!(parse_output(&unclosed).is_err());
    }

    #[test]
    fn reads_response_with_or_without_usage() {
        let llama = json!({"response": " Ships returned. ", "tool_calls": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24}});
        let reply = parse_output(&llama).unwrap();
        assert_eq!(reply.text, "Ships returned.");
        assert_eq!(reply.usage.unwrap().output_tokens, 4);
        let bare = json!({"response": "A fascinating question!"});
        assert_eq!(parse_output(&bare).unwrap().usage, None);
    }

    #[test]
    fn reads_a_summarization_models_summary() {
        let bart = json!({"summary": "The harbour reopened after repairs."});
        assert_eq!(
            parse_output(&bart).unwrap().text,
            "The harbour reopened after repairs."
        );
    }

    #[test]
    fn reads_the_responses_api_skipping_reasoning_items() {
        let gpt_oss = json!({
            "id": "resp_1", "object": "response", "created_at": 1_795_381_560,
            "model": "@cf/openai/gpt-oss-20b",
            "output": [
                {"type": "reasoning", "id": "rs_1",
                 "content": [{"type": "reasoning_text", "text": "Need a short summary."}]},
                {"type": "message", "id": "msg_1", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Ships returned.", "annotations": []}]}
            ],
            "usage": {"input_tokens": 80, "output_tokens": 40, "total_tokens": 120}
        });
        assert_eq!(
            parse_output(&gpt_oss),
            Ok(ModelReply {
                text: "Ships returned.".into(),
                usage: Some(TokenUsage {
                    input_tokens: 80,
                    output_tokens: 40
                })
            })
        );
    }

    #[test]
    fn reads_a_text_completion_and_content_parts() {
        let text = json!({"object": "text_completion",
            "choices": [{"index": 0, "text": "Ships returned.", "finish_reason": "stop"}]});
        assert_eq!(parse_output(&text).unwrap().text, "Ships returned.");
        let parts = json!({"choices": [{"message": {"content": [
            {"type": "text", "text": "Ships "}, {"type": "text", "text": "returned."}]}}]});
        assert_eq!(parse_output(&parts).unwrap().text, "Ships returned.");
    }

    #[test]
    fn anything_else_is_a_readable_failure() {
        for value in [
            json!({}),
            json!({"usage": {"prompt_tokens": 1}}),
            json!({"response": ""}),
            json!({"choices": []}),
            json!({"response": {"json": "mode"}}),
        ] {
            assert!(
                matches!(parse_output(&value), Err(ModelError::Failed(_))),
                "{value}"
            );
        }
    }

    #[test]
    fn think_blocks_are_removed_wherever_they_are() {
        assert_eq!(strip_thinking("a<think>x</think>b<think>y</think>c"), "abc");
        assert_eq!(strip_thinking("plain"), "plain");
        assert_eq!(strip_thinking("kept<think>cut off"), "kept");
    }
}

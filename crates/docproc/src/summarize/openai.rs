//! An OpenAI-compatible chat-completions backend (`POST {base}/chat/completions`), for AI
//! Gateway or a self-hosted model server. The request and response mapping and the error
//! classification are here; the HTTP call itself comes in through [`HttpClient`].

use serde::{Deserialize, Serialize};

use super::mapreduce::{Model, ModelError};
use super::reply::{ModelReply, parse_output};

/// An HTTP response, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

/// POSTs JSON. Implemented with `fetch` in the Worker.
pub trait HttpClient {
    /// `Err` means no response arrived (connection refused, reset, timed out).
    async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<HttpReply, String>;
}

#[derive(Debug, Clone)]
pub struct OpenAiChat<H> {
    pub http: H,
    /// e.g. `https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/openai`
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub window_tokens: usize,
}

pub const BACKEND: &str = "openai";

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    max_tokens: usize,
    temperature: f32,
}

#[derive(Serialize, Deserialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    code: Option<serde_json::Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The instruction every call carries.
pub fn system_prompt(target_words: usize) -> String {
    format!(
        "Summarize the user's text in at most {target_words} words. Use only facts stated in \
         the text. Answer with the summary alone, in the text's language."
    )
}

/// The request body for one call.
pub fn request_body(model: &str, text: &str, target_words: usize) -> String {
    let system = system_prompt(target_words);
    let request = ChatRequest {
        model,
        messages: [
            Message {
                role: "system",
                content: &system,
            },
            Message {
                role: "user",
                content: text,
            },
        ],
        // Tokens run about 1.5 per word; leave room so the summary is not cut off.
        max_tokens: target_words * 2 + 16,
        temperature: 0.0,
    };
    serde_json::to_string(&request).unwrap_or_default()
}

/// Reads a response: the summary and its usage, or the error classified for the map-reduce.
pub fn parse_reply(reply: &HttpReply) -> Result<ModelReply, ModelError> {
    if (200..300).contains(&reply.status) {
        let value: serde_json::Value = serde_json::from_str(&reply.body)
            .map_err(|e| ModelError::Failed(format!("unexpected response: {e}")))?;
        return parse_output(&value);
    }
    let detail = serde_json::from_str::<ErrorBody>(&reply.body)
        .ok()
        .map(|b| b.error);
    let code = detail
        .as_ref()
        .and_then(|d| d.code.as_ref())
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
        .unwrap_or_default();
    let kind = detail
        .as_ref()
        .and_then(|d| d.kind.clone())
        .unwrap_or_default();
    let message = detail
        .and_then(|d| d.message)
        .unwrap_or_else(|| reply.body.chars().take(200).collect());
    let reason = format!("HTTP {}: {message}", reply.status);
    match reply.status {
        400 | 413 if code == "context_length_exceeded" || reply.status == 413 => {
            Err(ModelError::TooLarge(reason))
        }
        408 | 409 | 425 | 429 | 500..=599 => Err(ModelError::Unavailable(reason)),
        _ if kind == "server_error" => Err(ModelError::Unavailable(reason)),
        _ => Err(ModelError::Failed(reason)),
    }
}

impl<H: HttpClient> Model for OpenAiChat<H> {
    fn backend(&self) -> &str {
        BACKEND
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn window_tokens(&self) -> usize {
        self.window_tokens
    }

    async fn summarize(&self, text: &str, target_words: usize) -> Result<ModelReply, ModelError> {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let authorization = self.api_key.as_ref().map(|key| format!("Bearer {key}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        let reply = self
            .http
            .post_json(
                &url,
                &headers,
                request_body(&self.model, text, target_words),
            )
            .await
            .map_err(|e| ModelError::Unavailable(format!("no response from {url}: {e}")))?;
        parse_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use pollster::block_on;

    use super::*;

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status,
            body: body.into(),
        }
    }

    #[test]
    fn request_is_a_chat_completion_with_system_and_user_messages() {
        let body: serde_json::Value =
            serde_json::from_str(&request_body("llama", "The text.", 50)).unwrap();
        assert_eq!(body["model"], "llama");
        assert_eq!(body["messages"][0]["role"], "system");
        assert!(
            body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("50 words")
        );
        assert_eq!(
            body["messages"][1],
            serde_json::json!({"role": "user", "content": "The text."})
        );
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["max_tokens"], 116);
    }

    #[test]
    fn reads_the_first_choice() {
        let ok = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,
            "message":{"role":"assistant","content":"A short summary."},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}"#;
        let parsed = parse_reply(&reply(200, ok)).unwrap();
        assert_eq!(parsed.text, "A short summary.");
        assert_eq!(parsed.usage.unwrap().output_tokens, 4);
    }

    #[test]
    fn empty_or_malformed_success_is_a_failure() {
        for body in [
            r#"{"choices":[]}"#,
            r#"{"choices":[{"message":{"content":"  "}}]}"#,
            "<html>",
        ] {
            assert!(
                matches!(parse_reply(&reply(200, body)), Err(ModelError::Failed(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn classifies_errors_by_status_and_code() {
        let rate = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            parse_reply(&reply(429, rate)),
            Err(ModelError::Unavailable(
                "HTTP 429: Rate limit reached".into()
            ))
        );
        let context = r#"{"error":{"message":"maximum context length is 4096 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert!(matches!(
            parse_reply(&reply(400, context)),
            Err(ModelError::TooLarge(_))
        ));
        let auth = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert!(matches!(
            parse_reply(&reply(401, auth)),
            Err(ModelError::Failed(_))
        ));
        assert!(matches!(
            parse_reply(&reply(503, "upstream down")),
            Err(ModelError::Unavailable(_))
        ));
        assert!(matches!(
            parse_reply(&reply(404, "{}")),
            Err(ModelError::Failed(_))
        ));
    }

    /// One request as sent: URL, headers, body.
    type Sent = (String, Vec<(String, String)>, String);

    /// Records each request and answers every one with `answer` (`Err`: no response).
    struct Recording(RefCell<Vec<Sent>>, Result<HttpReply, String>);

    impl HttpClient for &Recording {
        async fn post_json(
            &self,
            url: &str,
            headers: &[(&str, &str)],
            body: String,
        ) -> Result<HttpReply, String> {
            let headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            self.0.borrow_mut().push((url.into(), headers, body));
            self.1.clone()
        }
    }

    fn model<'a>(http: &'a Recording, api_key: Option<&str>) -> OpenAiChat<&'a Recording> {
        OpenAiChat {
            http,
            base_url: "http://127.0.0.1:9/v1/".into(),
            model: "m".into(),
            api_key: api_key.map(str::to_owned),
            window_tokens: 4_096,
        }
    }

    #[test]
    fn posts_to_chat_completions_with_bearer_key() {
        let ok = r#"{"choices":[{"message":{"role":"assistant","content":"Done."}}]}"#;
        let http = Recording(RefCell::new(Vec::new()), Ok(reply(200, ok)));
        let model = model(&http, Some("sk-test"));
        assert_eq!(
            block_on(model.summarize("Text.", 20)).unwrap().text,
            "Done."
        );
        let calls = http.0.borrow();
        assert_eq!(calls[0].0, "http://127.0.0.1:9/v1/chat/completions");
        assert!(
            calls[0]
                .1
                .contains(&("Authorization".into(), "Bearer sk-test".into()))
        );
    }

    #[test]
    fn no_response_is_transient() {
        let http = Recording(RefCell::new(Vec::new()), Err("connection refused".into()));
        assert!(matches!(
            block_on(model(&http, None).summarize("Text.", 20)),
            Err(ModelError::Unavailable(_))
        ));
    }
}

//! The model backends' I/O: the Workers AI binding as an [`AiRunner`], and `fetch` as an
//! [`HttpClient`] for OpenAI-compatible servers.

use std::time::Duration;

use docpipe_docproc::summarize::openai::{HttpClient, HttpReply};
use docpipe_docproc::summarize::workers_ai::AiRunner;
use docpipe_pipeline::ports::{ConvertError, Converted, Converter};
use futures_util::future::{Either, select};
use js_sys::{Promise, Reflect};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::js::error_message;
use worker::{Delay, Env, Headers, Method, Request, RequestInit};

#[wasm_bindgen]
extern "C" {
    /// Whatever the `AI` binding is: Workers AI itself, or (locally) a service binding to a
    /// stand-in exporting the same `run`. workers-rs's `Ai` insists on the constructor name
    /// `Ai`, which a service binding does not have, and its `run` takes no options.
    #[derive(Debug, Clone)]
    type AiService;

    #[wasm_bindgen(method, catch)]
    fn run(
        this: &AiService,
        model: &str,
        inputs: &JsValue,
        options: &JsValue,
    ) -> Result<Promise, JsValue>;

    /// `toMarkdown({name, blob})`: one document's `{name, mimeType, format, tokens, data}`
    /// (`format: "error"` with `error` when it could not be read).
    #[wasm_bindgen(method, catch, js_name = toMarkdown)]
    fn to_markdown(this: &AiService, document: &JsValue) -> Result<Promise, JsValue>;
}

fn js_json(value: &Value) -> Result<JsValue, String> {
    js_sys::JSON::parse(&value.to_string()).map_err(|e| error_message(&e))
}

/// The `AI` binding, with a deadline per call. Inputs and outputs cross as JSON text, so
/// objects stay plain objects.
#[derive(Debug)]
pub struct AiBinding {
    service: AiService,
    timeout: Duration,
}

impl AiBinding {
    /// The binding named `name`: any object with a `run` method.
    pub fn from_env(env: &Env, name: &str, timeout: Duration) -> Result<Self, String> {
        let binding =
            Reflect::get(env.as_ref(), &JsValue::from_str(name)).map_err(|e| error_message(&e))?;
        if binding.is_undefined() || binding.is_null() {
            return Err(format!("there is no binding named {name}"));
        }
        let run =
            Reflect::get(&binding, &JsValue::from_str("run")).map_err(|e| error_message(&e))?;
        if !run.is_function() {
            return Err(format!("binding {name} has no run method"));
        }
        Ok(Self {
            service: binding.unchecked_into(),
            timeout,
        })
    }
}

impl AiBinding {
    /// Whether the binding converts documents (`toMarkdown`): Workers AI does, and so does
    /// the local stand-in.
    pub fn converts(&self) -> bool {
        Reflect::get(self.service.as_ref(), &JsValue::from_str("toMarkdown"))
            .is_ok_and(|method| method.is_function())
    }

    /// Awaits `promise` within the binding's deadline; a late answer reads as Workers AI's
    /// own timeout (3007), so the job is retried later.
    async fn within_deadline(&self, promise: Promise) -> Result<JsValue, String> {
        let call = JsFuture::from(promise);
        let deadline = Delay::from(self.timeout);
        match select(call, deadline).await {
            Either::Left((output, _)) => output.map_err(|e| error_message(&e)),
            Either::Right(((), _)) => Err(format!(
                "3007: no answer within {} s (AI_TIMEOUT_SECONDS)",
                self.timeout.as_secs()
            )),
        }
    }
}

/// What `toMarkdown` answers for one document.
#[derive(Debug, serde::Deserialize)]
struct ConversionResult {
    format: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    tokens: Option<Value>,
}

impl Converter for AiBinding {
    async fn to_markdown(&self, name: &str, bytes: &[u8]) -> Result<Converted, ConvertError> {
        // Errors that pass (out of capacity, timeouts, daily allocation) are worth another
        // attempt; anything else is the document's.
        let failed = |message: String| ConvertError {
            transient: ["3040", "3036", "3007", "3008"]
                .iter()
                .any(|code| message.starts_with(code)),
            message,
        };
        let document = js_sys::Object::new();
        let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/octet-stream");
        let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
            .map_err(|e| failed(error_message(&e)))?;
        Reflect::set(&document, &"name".into(), &name.into())
            .and_then(|_| Reflect::set(&document, &"blob".into(), &blob))
            .map_err(|e| failed(error_message(&e)))?;
        let promise = self
            .service
            .to_markdown(&document)
            .map_err(|e| failed(error_message(&e)))?;
        let output = self.within_deadline(promise).await.map_err(failed)?;
        // One document in, one result out (an array of one, for some runtimes).
        let output = if js_sys::Array::is_array(&output) {
            js_sys::Array::from(&output).get(0)
        } else {
            output
        };
        let result: ConversionResult =
            serde_wasm_bindgen::from_value(output).map_err(|e| failed(e.to_string()))?;
        match (result.format.as_str(), result.data) {
            ("markdown" | "text", Some(markdown)) => Ok(Converted {
                markdown,
                tokens: result.tokens.as_ref().and_then(token_count).unwrap_or(0),
            }),
            _ => Err(failed(result.error.unwrap_or_else(|| {
                format!("answered in format `{}`", result.format)
            }))),
        }
    }
}

/// A token count, sent as a number or as a numeric string.
fn token_count(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl AiRunner for AiBinding {
    async fn run(&self, model: &str, input: Value, options: Value) -> Result<Value, String> {
        let promise = self
            .service
            .run(model, &js_json(&input)?, &js_json(&options)?)
            .map_err(|e| error_message(&e))?;
        let output = self.within_deadline(promise).await?;
        let text = js_sys::JSON::stringify(&output)
            .map_err(|e| error_message(&e))?
            .as_string()
            .unwrap_or_default();
        serde_json::from_str(&text).map_err(|e| format!("model output is not JSON: {e}"))
    }
}

/// `fetch`, with a deadline per request.
#[derive(Debug, Clone, Copy)]
pub struct FetchClient {
    pub timeout: Duration,
}

impl HttpClient for FetchClient {
    async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<HttpReply, String> {
        let request_headers = Headers::new();
        for (name, value) in headers {
            request_headers
                .set(name, value)
                .map_err(|e| format!("header {name}: {e}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(request_headers)
            .with_body(Some(JsValue::from_str(&body)));
        let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
        let mut response = crate::runtime::fetch_within(request, self.timeout).await?;
        let status = response.status_code();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(HttpReply { status, body })
    }
}

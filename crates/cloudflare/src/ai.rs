//! The model backends' I/O: the Workers AI binding as an [`AiRunner`], and `fetch` as an
//! [`HttpClient`] for OpenAI-compatible servers.

use std::time::Duration;

use docpipe_docproc::summarize::openai::{HttpClient, HttpReply};
use docpipe_docproc::summarize::workers_ai::AiRunner;
use futures_util::future::{Either, select};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Ai, Delay, Fetch, Headers, Method, Request, RequestInit};

fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The `AI` binding. Inputs and outputs cross as JSON text, so objects stay plain objects.
#[derive(Debug)]
pub struct AiBinding(pub Ai);

impl AiRunner for AiBinding {
    async fn run(&self, model: &str, input: Value) -> Result<Value, String> {
        let input = js_sys::JSON::parse(&input.to_string()).map_err(|e| js_message(&e))?;
        let binding: &worker::worker_sys::Ai = self.0.as_ref().unchecked_ref();
        let output = JsFuture::from(binding.run(model, input))
            .await
            .map_err(|e| js_message(&e))?;
        let text = js_sys::JSON::stringify(&output)
            .map_err(|e| js_message(&e))?
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
        let controller = AbortController::default();
        let signal = controller.signal();
        let fetch = Fetch::Request(request);
        let sent = Box::pin(fetch.send_with_signal(&signal));
        let deadline = Delay::from(self.timeout);
        let mut response = match select(sent, deadline).await {
            Either::Left((response, _)) => response.map_err(|e| e.to_string())?,
            Either::Right(((), _)) => {
                controller.abort();
                return Err(format!("no response within {:?}", self.timeout));
            }
        };
        let status = response.status_code();
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(HttpReply { status, body })
    }
}

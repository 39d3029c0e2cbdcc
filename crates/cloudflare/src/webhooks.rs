//! Webhook delivery: the webhooks queue as a [`DeliveryQueue`], and `fetch` as the
//! [`WebhookSender`] (a POST whose redirects are not followed, aborted at its deadline).

use std::time::Duration;

use docpipe_jobs::DeliveryMessage;
use docpipe_pipeline::ports::{DeliveryQueue, OriginError, QueueError, WebhookSender};
use wasm_bindgen::JsValue;
use worker::{Headers, Method, Queue, Request, RequestInit, RequestRedirect};

#[derive(Debug)]
pub struct WebhooksQueue(pub Queue);

impl DeliveryQueue for WebhooksQueue {
    async fn send_batch(&self, messages: &[DeliveryMessage]) -> Result<(), QueueError> {
        crate::usage::queue_messages(messages.len() as u64);
        self.0
            .send_batch(messages.iter().copied())
            .await
            .map_err(|e| QueueError(e.to_string()))
    }
}

/// Posts events with the Worker's `fetch`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchSender;

impl WebhookSender for FetchSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
        timeout_ms: u64,
    ) -> Result<u16, OriginError> {
        let error = |e: worker::Error| OriginError(e.to_string());
        let request_headers = Headers::new();
        for (name, value) in headers {
            request_headers.set(name, value).map_err(error)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(request_headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(JsValue::from_str(&body)));
        let request = Request::new_with_init(url, &init).map_err(error)?;
        let response = crate::runtime::fetch_within(request, Duration::from_millis(timeout_ms))
            .await
            .map_err(OriginError)?;
        let status = response.status_code();
        // The body is not read: cancelling it frees the connection.
        if let Some(body) = web_sys::Response::from(response).body() {
            let _ = body.cancel();
        }
        Ok(status)
    }
}

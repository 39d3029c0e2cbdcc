//! The Workers runtime's clock, randomness, vars, this Worker's WebAssembly memory, and
//! `fetch` with a deadline.

use docpipe_pipeline::ports::Clock;
use docpipe_pipeline::time::Millis;
use worker::Env;

/// `Date.now()` and `Math.random()`. Workers advance the clock only across I/O, so a span of
/// pure computation measures as zero: stage timings taken here are I/O waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> Millis {
        js_sys::Date::now() as Millis
    }

    fn random_unit(&self) -> f64 {
        js_sys::Math::random()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

/// Looks up a var (or secret) by name, for `Config::from_vars`.
pub fn vars(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        env.var(name)
            .ok()
            .map(|v| v.to_string())
            .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
    }
}

/// The size of this Worker's WebAssembly memory, in bytes: what its Rust heap has grown to
/// (it never shrinks), the part of the isolate's 128 MB that docpipe's own code holds.
pub fn wasm_memory_bytes() -> u64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|memory| memory.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0, |buffer| u64::from(buffer.byte_length()))
}

/// The isolate's used JavaScript heap in bytes, where the runtime reports one
/// (`performance.memory.usedJSHeapSize`); `None` where it does not, as workerd today.
pub fn js_heap_bytes() -> Option<u64> {
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &"performance".into()).ok()?;
    let memory = js_sys::Reflect::get(&performance, &"memory".into()).ok()?;
    js_sys::Reflect::get(&memory, &"usedJSHeapSize".into())
        .ok()?
        .as_f64()
        .map(|bytes| bytes as u64)
}

/// Sends `request` with `fetch`, aborting it when no response has come within `timeout`.
pub async fn fetch_within(
    request: worker::Request,
    timeout: std::time::Duration,
) -> Result<worker::Response, String> {
    use futures_util::future::{Either, select};
    let controller = worker::AbortController::default();
    let signal = controller.signal();
    let fetch = worker::Fetch::Request(request);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    match select(sent, worker::Delay::from(timeout)).await {
        Either::Left((response, _)) => response.map_err(|e| e.to_string()),
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("no response within {} s", timeout.as_secs_f32()))
        }
    }
}
